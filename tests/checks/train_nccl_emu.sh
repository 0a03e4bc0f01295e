#!/usr/bin/env bash
# Data-parallel dsq-train on CUDA with NCCL, without a GPU: the tools built
# against the host CUDA emulation, whose NCCL is emulated over MPI
# (tests/cuda/emu/nccl_emu.cpp), so that `mpirun -np 2 dsq-train --device
# cuda` runs the backend's NCCL path (comm_id, comm_init, comm_sum).
# 3 steps of train_mpi's model (a 200-word vocabulary, 16 tokens, global
# batch 8: the emulation runs a GPU thread as a fiber, about 2 s a
# microbatch), for fp32 and bf16:
#   - config.json says gradient_sum "nccl ..." (fp32: "mpi" with DSQ_NCCL=0);
#   - the NCCL run's logged losses within rel. 1e-5 of one process's and
#     its grad_norm halved within 1e-5 (train_mpi's criteria) in fp32; in
#     bf16 within 5e-4 (measured 5e-5 to 1.1e-4: the sums' other order
#     moves the parameters in their last bits, which flips some roundings
#     of the GEMM operands to bf16, 2^-8 each);
#   - fp32: the NCCL and host-MPI runs identical, every logged number and
#     every parameter: the emulated NCCL sums the same floats in the same
#     order (a GPU's NCCL need not; train_mpi's tolerances hold there);
#   - a rank failing in its 2nd all-reduce (DSQ_EMU_NCCL_FAIL=1:2): both
#     ranks stop with exit status 1 within the timeout (no hang), each
#     naming its rank and the failure, and no checkpoint of the failed step.
# The NCCL path sums once after the backward pass (no overlap to test).
set -u
cd "$(dirname "$0")/../.."
py="${DSQ_PYTHON:-$PWD/build/venv/bin/python}"
bin="${DSQ_BIN:-$PWD/tools}"
for t in mpicc mpirun g++ perl; do
  command -v $t >/dev/null || { echo "FAIL train_nccl_emu: $t not found (Debian: libopenmpi-dev openmpi-bin g++ perl)"; exit 1; }
done
emu="${DSQ_BUILD:-$PWD/build}/emu-nccl"
if ! DSQ_EMU_OUT="$emu" OMP_NUM_THREADS=1 tests/cuda/emu/run.sh tools >"$emu.log" 2>&1; then
  echo "FAIL train_nccl_emu: building the emulated tools: $(tail -n 5 "$emu.log")"; exit 1
fi
nm "$emu/tools/dsq-train" | grep -q ' T ncclAllReduce$' ||
  { echo "FAIL train_nccl_emu: the emulated dsq-train has no NCCL"; exit 1; }
"$emu/tools/dsq-train" --version | grep -q '^data parallel: mpi; gradients summed with nccl 2\.' &&
  echo "PASS train_nccl_emu_version" || echo "FAIL train_nccl_emu_version: $("$emu/tools/dsq-train" --version | tail -n 1)"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$bin/dsq-tokenize" --build-vocab --min-count 20 "data/qqp/train.jsonl" > "$tmp/w.txt" 2>/dev/null
"$bin/dsq-tokenize" --vocab "$tmp/w.txt" --vocab-kind word --seq-len 16 \
  "data/qqp/train.jsonl" > "$tmp/t.dsq" 2>/dev/null
args=(--layers 2 --hidden 32 --heads 2 --intermediate 64 --hidden-dim 8 --hidden-t-dim 8
      --diff-steps 100 --bsz 8 --microbatch 4 --lr 1e-3 --dropout 0.1 --learning-steps 3
      --log-interval 1 --save-interval 3 -q --data "$tmp/t.dsq" --vocab "$tmp/w.txt"
      --device cuda:0)  # the emulation has one device, which both ranks share
export OMP_NUM_THREADS=1
mpi=(timeout 600 mpirun --allow-run-as-root --oversubscribe -np 2 -x DSQ_NCCL -x DSQ_EMU_NCCL_FAIL)
for prec in fp32 bf16; do
  "$emu/tools/dsq-train" "${args[@]}" --precision $prec --out "$tmp/one-$prec" 2>"$tmp/err" ||
    { echo "FAIL train_nccl_emu_$prec: one process: $(tail -n 3 "$tmp/err")"; continue; }
  DSQ_NCCL=1 "${mpi[@]}" "$emu/tools/dsq-train" "${args[@]}" --precision $prec \
    --out "$tmp/nccl-$prec" >"$tmp/err" 2>&1 ||
    { echo "FAIL train_nccl_emu_$prec: mpirun -np 2: $(tail -n 5 "$tmp/err")"; continue; }
  if [ $prec = fp32 ]; then
    DSQ_NCCL=0 "${mpi[@]}" "$emu/tools/dsq-train" "${args[@]}" --precision $prec \
      --out "$tmp/mpi-$prec" >"$tmp/err" 2>&1 ||
      { echo "FAIL train_nccl_emu_$prec: DSQ_NCCL=0 mpirun -np 2: $(tail -n 5 "$tmp/err")"; continue; }
  fi
  "$py" - "$tmp" $prec <<'PY'
import json, sys
import numpy as np
from safetensors.numpy import load_file
tmp, prec = sys.argv[1], sys.argv[2]
def log(d): return [json.loads(l) for l in open("%s/%s-%s/log.jsonl" % (tmp, d, prec))]
def cfg(d): return json.load(open("%s/%s-%s/config.json" % (tmp, d, prec)))
name = "train_nccl_emu_%s" % prec
fp32 = prec == "fp32"
c1, cn = cfg("one"), cfg("nccl")
cm = cfg("mpi") if fp32 else {"gradient_sum": "mpi", "ranks": 2}
ok = (c1["gradient_sum"] == "none" and cn["gradient_sum"].startswith("nccl 2.")
      and cm["gradient_sum"] == "mpi" and cn["ranks"] == cm["ranks"] == 2)
print("%s %s_config%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": gradient_sum %s / %s / %s"
      % (c1.get("gradient_sum"), cn.get("gradient_sum"), cm.get("gradient_sum"))))
tol = 1e-5 if fp32 else 5e-4
a, b = log("one"), log("nccl")
worst, gworst = 0.0, 0.0
for x, y in zip(a, b):
    for k in ("loss", "mse", "nll", "tT", "decoder_nll"):
        worst = max(worst, abs(x[k] - y[k]) / abs(x[k]))
    gworst = max(gworst, abs(y["grad_norm"] * 2 - x["grad_norm"]) / x["grad_norm"])
ok = len(a) == len(b) == 3 and worst <= tol and gworst <= tol
print("%s %s_losses%s" % ("PASS" if ok else "FAIL", name, "" if ok else
      ": max rel error %.2e against one process, of grad_norm halved %.2e (tolerance %g)"
      % (worst, gworst, tol)))
sys.stderr.write("  %s: losses max rel error %.2e, grad_norm halved %.2e, against one process "
                 "over 3 steps\n" % (name, worst, gworst))
if not fp32: sys.exit(0)
c = log("mpi")
strip = lambda l: [{k: v for k, v in x.items() if k not in ("tokens_per_s", "elapsed_s")} for x in l]
same = strip(b) == strip(c)
mn, mm = load_file("%s/nccl-%s/model_000003.safetensors" % (tmp, prec)), \
         load_file("%s/mpi-%s/model_000003.safetensors" % (tmp, prec))
same &= mn.keys() == mm.keys() and all(np.array_equal(mn[k], mm[k]) for k in mn)
print("%s %s_same_as_host_mpi%s" % ("PASS" if same else "FAIL", name, "" if same else
      ": the NCCL and host-MPI runs differ"))
PY
done

# a rank fails mid-run
start=$SECONDS
DSQ_EMU_NCCL_FAIL=1:2 "${mpi[@]}" "$emu/tools/dsq-train" "${args[@]}" --out "$tmp/fail" >"$tmp/err" 2>&1
rc=$?
msg0=$(grep -c 'rank 0 of 2: NCCL all-reduce of the gradients failed: remote process exited' "$tmp/err")
msg1=$(grep -c 'rank 1 of 2: NCCL all-reduce of the gradients failed: unhandled system error' "$tmp/err")
if [ $rc != 0 ] && [ $rc != 124 ] && [ "$msg0" = 1 ] && [ "$msg1" = 1 ] &&
   [ -s "$tmp/fail/log.jsonl" ] && [ ! -e "$tmp/fail/model_000003.safetensors" ] && [ -z "$(ls "$tmp/fail" | grep tmp)" ]; then
  echo "PASS train_nccl_emu_rank_fails (exit $rc after $((SECONDS - start)) s, a message from each rank)"
else
  echo "FAIL train_nccl_emu_rank_fails: exit $rc, messages rank 0: $msg0, rank 1: $msg1:"
  tail -n 8 "$tmp/err" | sed 's/^/    /'
fi
