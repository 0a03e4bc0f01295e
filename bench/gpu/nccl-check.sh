#!/usr/bin/env bash
# Data-parallel training with NCCL on 2 GPUs (the nccl stage of
# bench/gpu-check.sh): a small model STEPS fp32 steps on the QQP sample,
# global batch 64, with 1 rank and with `mpirun -np 2` (--device cuda, each
# rank its local GPU):
#   config   the 2-rank run says gradient_sum "nccl ..." in config.json;
#   losses   every step's loss within 1e-3 relative of the 1-rank run's;
#   rate     one JSON line: tokens/s of both and their ratio (measured, not
#            asserted).
# Fewer than 2 GPUs, no mpirun, or a dsq-train without NCCL: one "SKIP"
# line, exit 0.  One "PASS name: ..." / "FAIL name: ..." line per check on
# stdout; the runs in OUTDIR.
#   bench/gpu/nccl-check.sh OUTDIR
# Environment: DSQ_BIN (default tools), DSQ_NCCL_STEPS (default 100).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: bench/gpu/nccl-check.sh OUTDIR}
bin=${DSQ_BIN:-$PWD/tools}
steps=${DSQ_NCCL_STEPS:-100}
n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "$n" -lt 2 ]; then echo "SKIP nccl: $n GPU here, the NCCL stage needs 2"; exit 0; fi
command -v mpirun >/dev/null || { echo "SKIP nccl: no mpirun"; exit 0; }
"$bin/dsq-train" --version | grep -q 'summed with nccl' ||
  { echo "SKIP nccl: this dsq-train was built without NCCL ($("$bin/dsq-train" --version | tail -n 1))"; exit 0; }
mkdir -p "$out"
rm -rf "$out/r1" "$out/r2"
"$bin/dsq-tokenize" --build-vocab data/qqp/train.jsonl > "$out/w.txt" 2>/dev/null
"$bin/dsq-tokenize" --vocab "$out/w.txt" --vocab-kind word --seq-len 64 data/qqp/train.jsonl \
  > "$out/t.dsq" 2>/dev/null
args=(--layers 4 --hidden 256 --heads 4 --intermediate 1024 --hidden-dim 64 --hidden-t-dim 64
      --diff-steps 100 --bsz 64 --microbatch 32 --lr 1e-4 --dropout 0.1 --learning-steps "$steps"
      --log-interval 1 --save-interval "$steps" -q --data "$out/t.dsq" --vocab "$out/w.txt"
      --device cuda)
rc=0
"$bin/dsq-train" "${args[@]}" --out "$out/r1" 2>"$out/r1.err" ||
  { echo "FAIL nccl: 1 rank: $(tail -n 3 "$out/r1.err")"; exit 1; }
mpirun --allow-run-as-root -np 2 "$bin/dsq-train" "${args[@]}" --out "$out/r2" >"$out/r2.err" 2>&1 ||
  { echo "FAIL nccl: 2 ranks: $(tail -n 5 "$out/r2.err")"; exit 1; }
python3 - "$out" "$steps" <<'PY' || rc=1
import json, sys
out, steps = sys.argv[1], int(sys.argv[2])
cfg = json.load(open(out + "/r2/config.json"))
ok = str(cfg.get("gradient_sum", "")).startswith("nccl")
print("%s nccl config: gradient_sum %s" % ("PASS" if ok else "FAIL", cfg.get("gradient_sum")))
a = [json.loads(l) for l in open(out + "/r1/log.jsonl")]
b = [json.loads(l) for l in open(out + "/r2/log.jsonl")]
worst = max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(a, b))
good = len(a) == len(b) == steps and worst <= 1e-3
print("%s nccl losses: %d steps of %d, 2 ranks vs 1, max rel diff %.2e" %
      ("PASS" if good else "FAIL", min(len(a), len(b)), steps, worst))
# the rate: the second half's steps (set-up and warm-up left out)
rate = lambda l: sum(x["tokens_per_s"] for x in l[len(l) // 2:]) / max(len(l) - len(l) // 2, 1)
r1, r2 = rate(a), rate(b)
print(json.dumps({"bench": "nccl", "shape": "L4 H256 B64 S64 fp32", "steps": steps,
                  "tokens_per_s_1rank": round(r1), "tokens_per_s_2ranks": round(r2),
                  "speedup": round(r2 / r1, 3) if r1 else None}))
sys.exit(0 if ok and good else 1)
PY
exit $rc
