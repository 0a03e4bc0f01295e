#!/usr/bin/env python3
"""dsq's PyTorch checkpoint reader and writer (lib/io/ptfile.c) against
torch.save / torch.load (Debian torch), both containers.  Prints PASS/FAIL
lines (run by tests/checks/pt_interop.sh).

    pt_interop.py HELPER TMPDIR

HELPER is build/tests/test_ptfile; `HELPER convert IN OUT` reads a .pt or
.safetensors IN and writes OUT (.pt: dsq's zip writer, else safetensors).
Each case saves a state dict with torch in the zip and the legacy format,
converts it with dsq to safetensors and compares every tensor with the
contiguous tensor torch.load returns (dtype, shape, bytes); then dsq writes
the safetensors back as .pt and torch.load (weights_only=True as well)
must return the same tensors again.
"""
import collections
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

HELPER, TMP = sys.argv[1], sys.argv[2]
failures = 0


def report(name, ok, why=""):
    global failures
    if ok:
        print(f"PASS {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")


def cases():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(6, 8, generator=g)
    lin = torch.nn.Linear(8, 5)
    sd = lin.state_dict()                      # OrderedDict with _metadata
    sd["tied"] = sd["weight"]                  # one storage, two names
    yield "linear_state_dict", sd
    yield "dtypes", {"f32": base, "f16": base.half(), "bf16": base.bfloat16(),
                     "i64": torch.arange(-5, 7, dtype=torch.int64) * (1 << 40),
                     "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 4)}
    yield "views", collections.OrderedDict([
        ("transpose", base.t()), ("slice_rows", base[2:5]), ("slice_cols", base[:, 3:7]),
        ("step", base[::2, 1::3]), ("expand", torch.arange(10).expand((1, -1))),
        ("broadcast", torch.ones(1, 4).expand(3, 4)), ("whole", base),
        ("narrow_half", base.half()[1:, 2:].t())])
    p = torch.nn.Parameter(torch.randn(3, 4, generator=g))
    yield "parameters", {"param": p, "param_bf16": torch.nn.Parameter(p.detach().bfloat16()),
                         "model_buffer": torch.arange(512).expand((1, -1))}


def compare(name, want, got):
    if set(want) != set(got):
        return f"{name}: names {sorted(set(want) ^ set(got))} differ"
    for k, w in want.items():
        g = got[k]
        w = w.detach().contiguous()
        if g.dtype != w.dtype or tuple(g.shape) != tuple(w.shape):
            return f"{name}: {k}: {g.dtype}{tuple(g.shape)} vs {w.dtype}{tuple(w.shape)}"
        if not torch.equal(g.view(-1).view(torch.uint8) if g.numel() else g,
                           w.reshape(-1).view(torch.uint8) if w.numel() else w):
            return f"{name}: {k}: values differ"
    return None


def run(args):
    r = subprocess.run([HELPER] + args, capture_output=True, text=True)
    return r.returncode, r.stderr.strip()


for name, sd in cases():
    want = {k: v.detach().clone() for k, v in sd.items()}
    for fmt, zipfmt in (("zip", True), ("legacy", False)):
        pt = os.path.join(TMP, f"{name}.{fmt}.pt")
        st = os.path.join(TMP, f"{name}.{fmt}.safetensors")
        torch.save(sd, pt, _use_new_zipfile_serialization=zipfmt)
        rc, err = run(["convert", pt, st])
        why = err if rc else compare(name, want, load_file(st))
        report(f"pt_read_{name}_{fmt}", why is None, why)
    back = os.path.join(TMP, f"{name}.back.pt")
    rc, err = run(["convert", os.path.join(TMP, f"{name}.zip.safetensors"), back])
    why = err if rc else compare(name, want, torch.load(back))
    if why is None:
        why = compare(name, want, torch.load(back, weights_only=True))
    report(f"pt_write_{name}_torch_loads", why is None, why)

# A .pt whose entries were re-compressed by another zip tool is refused by name.
import zipfile
src = os.path.join(TMP, "linear_state_dict.zip.pt")
dfl = os.path.join(TMP, "deflated.pt")
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dfl, "w", zipfile.ZIP_DEFLATED) as zo:
    for i in zi.infolist():
        zo.writestr(i.filename, zi.read(i.filename))
rc, err = run(["convert", dfl, os.path.join(TMP, "x.safetensors")])
report("pt_read_deflated_refused", rc == 65 and "is compressed (method 8)" in err, f"rc {rc}: {err}")
sys.exit(1 if failures else 0)
