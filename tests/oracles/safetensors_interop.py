#!/usr/bin/env python3
"""dsq <-> the Python safetensors library (0.8.0), both directions, files
and tensor streams.  Prints PASS/FAIL lines (run by
tests/checks/safetensors_interop.sh).

    safetensors_interop.py HELPER TMPDIR

HELPER is build/tests/test_tensor_stream, whose mode arguments are the dsq
side (dump-file, dump-stream, copy-file, files-to-stream, write-examples).
Streams are (de)compressed with the zstd command-line tool, so the test
also shows that dsq streams are plain zstd.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load as np_load
from safetensors.numpy import load_file as np_load_file
from safetensors.numpy import save_file as np_save_file
from safetensors.torch import load as torch_load
from safetensors.torch import load_file as torch_load_file
from safetensors.torch import save_file as torch_save_file

HELPER, TMP = sys.argv[1], sys.argv[2]
failures = 0

ST_NAMES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "uint16": "U16", "int16": "I16",
            "float16": "F16", "uint32": "U32", "int32": "I32", "float32": "F32",
            "uint64": "U64", "int64": "I64", "float64": "F64"}


def report(name, ok, why=""):
    global failures
    if ok:
        print(f"PASS {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}"[:2000])
    sys.stdout.flush()


def path(name):
    return os.path.join(TMP, name)


def canon_np(arrays, metadata):
    """The helper's dump format for numpy arrays (little-endian bytes)."""
    ts = {}
    for k, a in arrays.items():
        a = np.asarray(a, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        ts[k] = {"dtype": ST_NAMES[a.dtype.name], "shape": list(a.shape),
                 "hex": a.astype(a.dtype.newbyteorder("<")).tobytes().hex()}
    return {"metadata": dict(metadata or {}), "tensors": ts}


def canon_torch(tensors, metadata):
    ts = {}
    for k, t in tensors.items():
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            ts[k] = {"dtype": "BF16", "shape": list(t.shape),
                     "hex": t.view(torch.int16).numpy().astype("<i2").tobytes().hex()}
        else:
            ts[k] = canon_np({k: t.numpy()}, None)["tensors"][k]
    return {"metadata": dict(metadata or {}), "tensors": ts}


def helper(*args, check=True):
    p = subprocess.run([HELPER, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def dump(mode, f):
    return [json.loads(line) for line in helper(mode, f).stdout.splitlines()]


def zstd(*args, stdin=None):
    return subprocess.run(["zstd", "-q", *args], input=stdin, capture_output=True, check=True).stdout


def records(raw):
    """Splits decompressed stream bytes into safetensors blobs, as
    man 5 dsq-stream shows."""
    pos = 0
    while pos < len(raw):
        n = struct.unpack_from("<Q", raw, pos)[0]
        header = json.loads(raw[pos + 8:pos + 8 + n])
        size = max([v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"],
                   default=0)
        yield raw[pos:pos + 8 + n + size]
        pos += 8 + n + size


def diff(got, want):
    """A short description of the first difference between two dumps."""
    if got == want:
        return ""
    if got.get("metadata") != want.get("metadata"):
        return f"metadata {got.get('metadata')} != {want.get('metadata')}"
    g, w = got.get("tensors", {}), want.get("tensors", {})
    if set(g) != set(w):
        return f"tensor names {sorted(g)} != {sorted(w)}"
    for k in w:
        if g[k] != w[k]:
            return f"tensor {k!r}: {g[k]} != {w[k]}"
    return "differs"


def same_arrays(got, want):
    if set(got) != set(want):
        return f"names {sorted(got)} != {sorted(want)}"
    for k in want:
        g, w = got[k], want[k]
        if g.dtype != w.dtype or g.shape != w.shape or g.tobytes() != w.tobytes():
            return f"tensor {k!r}: {g.dtype}{g.shape} != {w.dtype}{w.shape}"
    return ""


# ---- what Python writes ----------------------------------------------------

rng = np.random.default_rng(7)
NP_ARRAYS = {
    "f32": rng.standard_normal((3, 4)).astype(np.float32),
    "f64": np.array([np.inf, -0.0, np.nan, 1e-300, -1.5], dtype=np.float64),
    "f16": rng.standard_normal(7).astype(np.float16),
    "i64": np.array([-2**63, 2**63 - 1, 0, 12345678901], dtype=np.int64),
    "u64": np.array([2**64 - 1, 1], dtype=np.uint64),
    "i32": rng.integers(-2**31, 2**31 - 1, size=(2, 3), dtype=np.int32),
    "u32": np.array([[4000000000]], dtype=np.uint32),
    "i16": np.array([-32768, 32767], dtype=np.int16),
    "u16": np.array([65535, 7, 9], dtype=np.uint16),
    "i8": np.array([-128, 127, 0], dtype=np.int8),
    "u8": np.arange(10, dtype=np.uint8).reshape(2, 5),
    "bool": np.array([[True, False], [False, True]]),
    "scalar": np.array(3.5, dtype=np.float32),
    "scalar_i64": np.array(-9, dtype=np.int64),
    "empty": np.zeros((0,), dtype=np.int64),
    "empty3": np.zeros((2, 0, 3), dtype=np.float32),
    "名前/ü.weight": np.array([1.0, 2.0], dtype=np.float64),
    'q"\\\n': np.array([1], dtype=np.uint8),
}
NP_META = {"dsq_kind": "examples", "note": 'ünïcode "quoted"\nline', "empty": ""}

TORCH_TENSORS = {
    "bf16": torch.tensor([1.5, -2.25, 3e38, 0.0, -0.0, float("inf")], dtype=torch.bfloat16),
    "bf16_2d": torch.arange(12, dtype=torch.float32).reshape(3, 4).to(torch.bfloat16),
    "f16": torch.tensor([0.1, 65504.0], dtype=torch.float16),
    "i64": torch.tensor([[1, 2], [3, 4]], dtype=torch.int64),
    "scalar": torch.tensor(7, dtype=torch.int32),
    "empty": torch.zeros((0, 4), dtype=torch.bfloat16),
}
TORCH_META = {"format": "pt"}

np_save_file(NP_ARRAYS, path("py.safetensors"), metadata=NP_META)
torch_save_file(TORCH_TENSORS, path("py_bf16.safetensors"), metadata=TORCH_META)
np_save_file({"a": NP_ARRAYS["f32"], "b": NP_ARRAYS["u8"], "c": NP_ARRAYS["i64"],
              "d": NP_ARRAYS["scalar"], "e": NP_ARRAYS["empty"]},
             path("py_one_meta.safetensors"), metadata={"only": "one key"})
WANT_NP = canon_np(NP_ARRAYS, NP_META)
WANT_TORCH = canon_torch(TORCH_TENSORS, TORCH_META)


def check(name, fn):
    try:
        why = fn()
        report(name, not why, why)
    except Exception as ex:  # a crash of the check is a failure with its reason
        report(name, False, f"{type(ex).__name__}: {ex}")


# ---- Python writes, dsq reads ---------------------------------------------

def dsq_reads_python_file():
    return diff(dump("dump-file", path("py.safetensors"))[0], WANT_NP)


def dsq_reads_python_bf16_file():
    return diff(dump("dump-file", path("py_bf16.safetensors"))[0], WANT_TORCH)


def dsq_reads_python_streams():
    a, b = path("py.safetensors"), path("py_bf16.safetensors")
    blobs = open(a, "rb").read() + open(b, "rb").read()
    variants = {
        "one frame": zstd("-c", stdin=blobs),
        "a frame per record": zstd("-c", a, b),
        "cat of two streams": zstd("-c", a) + zstd("-c", b),
        "level 19, checksum off": zstd("-19", "--no-check", "-c", stdin=blobs),
    }
    for what, data in variants.items():
        f = path("in.dsq")
        open(f, "wb").write(data)
        got = dump("dump-stream", f)
        if len(got) != 2:
            return f"{what}: {len(got)} records"
        why = diff(got[0], WANT_NP) or diff(got[1], WANT_TORCH)
        if why:
            return f"{what}: {why}"
    return ""


# ---- dsq writes, Python reads ---------------------------------------------

def python_reads_dsq_file():
    out = path("dsq.safetensors")
    helper("copy-file", path("py.safetensors"), out)
    why = same_arrays(np_load_file(out), NP_ARRAYS)
    with safe_open(out, framework="np") as f:
        if f.metadata() != NP_META:
            why = why or f"metadata {f.metadata()} != {NP_META}"
    return why


def python_reads_dsq_bf16_file():
    out = path("dsq_bf16.safetensors")
    helper("copy-file", path("py_bf16.safetensors"), out)
    got = torch_load_file(out)
    with safe_open(out, framework="pt") as f:
        meta = f.metadata()
    return diff(canon_torch(got, meta), WANT_TORCH)


def dsq_file_bytes_identical():
    """With at most one metadata key (Python orders several by hash), dsq
    writes exactly the bytes the Python library writes."""
    src, out = path("py_one_meta.safetensors"), path("dsq_one_meta.safetensors")
    helper("copy-file", src, out)
    a, b = open(src, "rb").read(), open(out, "rb").read()
    return "" if a == b else f"{len(b)} bytes vs Python's {len(a)}; first header {b[:120]!r}"


def python_reads_dsq_stream():
    out = path("dsq.dsq")
    helper("files-to-stream", out, path("py.safetensors"), path("py_bf16.safetensors"))
    blobs = list(records(zstd("-dc", out)))
    if len(blobs) != 2:
        return f"{len(blobs)} records"
    why = same_arrays(np_load(blobs[0]), NP_ARRAYS)
    if not why:
        why = diff(canon_torch(torch_load(blobs[1]), TORCH_META), WANT_TORCH)
    subprocess.run(["zstd", "-q", "-t", out], check=True)  # checksums verify
    return why


def first_record_as_in_man_page(path):
    """The five lines of man 5 dsq-stream, verbatim but for the file name."""
    import safetensors.numpy
    raw = subprocess.run(["zstd", "-dc", path], capture_output=True).stdout
    n = struct.unpack_from("<Q", raw)[0]
    size = 8 + n + max([t["data_offsets"][1] for k, t in json.loads(raw[8:8 + n]).items()
                        if k != "__metadata__"], default=0)
    record = safetensors.numpy.load(raw[:size])  # {"input_ids": array, ...}
    return record


def python_reads_dsq_examples():
    n, L = 3, 5
    out = path("ex.dsq")
    helper("write-examples", out, str(n), str(L))
    blobs = list(records(zstd("-dc", out)))
    if len(blobs) != 1:
        return f"{len(blobs)} records"
    record = first_record_as_in_man_page(out)
    t = np_load(blobs[0])
    if same_arrays(record, t):
        return "the man page's five lines: " + same_arrays(record, t)
    n_hdr = struct.unpack_from("<Q", blobs[0])[0]
    meta = json.loads(blobs[0][8:8 + n_hdr])["__metadata__"]
    ids = np.array([[i * 1000 + j for j in range(L)] for i in range(n)], dtype=np.int32)
    mask = np.array([[j >= L // 2 for j in range(L)] for i in range(n)], dtype=np.uint8)
    why = same_arrays(t, {"input_ids": ids, "input_mask": mask,
                          "index": np.arange(n, dtype=np.int64)})
    want_meta = {"dsq_kind": "examples", "seq_len": str(L), "tokenizer": "wordpiece",
                 "vocab_size": "30522"}
    return why or ("" if meta == want_meta else f"metadata {meta}")


def dsq_rejects_truncated_stream():
    data = open(path("dsq.dsq"), "rb").read()
    for cut in (len(data) - 1, len(data) // 2, 5):
        f = path("cut.dsq")
        open(f, "wb").write(data[:cut])
        p = helper("dump-stream", f, check=False)
        if p.returncode != 65 or "truncated" not in p.stderr:
            return f"cut at {cut}: exit {p.returncode}, stderr {p.stderr.strip()!r}"
    return ""


check("dsq_reads_python_file", dsq_reads_python_file)
check("dsq_reads_python_bf16_file", dsq_reads_python_bf16_file)
check("dsq_reads_python_streams", dsq_reads_python_streams)
check("python_reads_dsq_file", python_reads_dsq_file)
check("python_reads_dsq_bf16_file", python_reads_dsq_bf16_file)
check("dsq_file_bytes_identical", dsq_file_bytes_identical)
check("python_reads_dsq_stream", python_reads_dsq_stream)
check("python_reads_dsq_examples", python_reads_dsq_examples)
check("dsq_rejects_truncated_stream", dsq_rejects_truncated_stream)
sys.exit(1 if failures else 0)
