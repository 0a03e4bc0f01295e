#!/usr/bin/env bash
# dsq-train side by side with the official DiffuSeq code (a local checkout
# of github Shark-NLP/DiffuSeq, branch main), on this CPU:
#   1. the parity fixtures regenerated from that checkout
#      (tests/oracles/official_ref.py) and checked by test_official;
#   2. training side by side: the QQP sample, L 128, BERT vocabulary,
#      bsz = microbatch = 16, lr 1e-4 (learning_steps 50000), T 2000, sqrt,
#      loss-aware sampler, dropout 0.1, the same seeds each side, BENCH_STEPS
#      steps; "shared" starts both sides from dsq's initial parameters for
#      the seed (they then differ only in their random draws), "own" lets
#      the official model initialise itself (the comparison as first made);
#   3. the expected step-0 loss (before any update) over BENCH_STEP0_SEEDS
#      seeds each side, each initialising itself.
# One JSON line per result: loss means over the step windows 0, 1-5, 6-11,
# 14-23 and 14-29 per side, their ratio dsq / official, the per-seed
# spread of the late window (14-29), and whether the late means are within
# it.  Without a checkout it prints one line saying so and exits 0.
#   bench/official.sh [CHECKOUT [V2_CHECKOUT]]   (or DSQ_OFFICIAL, DSQ_OFFICIAL_V2)
# V2_CHECKOUT, a checkout of the diffuseq-v2 branch, regenerates the v2
# fixture too; without it the committed one is checked.
# Env: BENCH_SHAPES ("tiny bert-base"), BENCH_SEEDS ("102 103 104"),
#      BENCH_STEPS (30), BENCH_INITS ("shared own"), BENCH_STEP0_SEEDS (12;
#      0 skips), BENCH_PARITY (1; 0 skips part 1), BENCH_THREADS (all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
OFFICIAL=${1:-${DSQ_OFFICIAL:-}}
OFFICIAL_V2=${2:-${DSQ_OFFICIAL_V2:-}}
if [ -z "$OFFICIAL" ] || [ ! -f "$OFFICIAL/diffuseq/gaussian_diffusion.py" ]; then
  echo '{"bench": "official", "skipped": "no official DiffuSeq checkout: bench/official.sh DIR (git clone https://github.com/Shark-NLP/DiffuSeq)"}'
  exit 0
fi
: "${DSQ_BIN:=$PWD/tools}" "${DSQ_PYTHON_OFFICIAL:=$PWD/build/venv-bertscore/bin/python}"
TB=${DSQ_TESTBIN:-$PWD/build/tests}/test_official
SHAPES=${BENCH_SHAPES:-tiny bert-base}
SEEDS=${BENCH_SEEDS:-102 103 104}
STEPS=${BENCH_STEPS:-30}
INITS=${BENCH_INITS:-shared own}
N0=${BENCH_STEP0_SEEDS:-12}
TH=${BENCH_THREADS:-$("$DSQ_PYTHON_OFFICIAL" -c 'import os; print(len(os.sched_getaffinity(0)))')}
export OMP_NUM_THREADS=$TH
VOCAB=data/vocab/bert-base-uncased.txt
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
py() { "$DSQ_PYTHON_OFFICIAL" "$@" 2> >(grep -v -i warn >&2); }

# 1. parity fixtures from this checkout
[ "${BENCH_PARITY:-1}" = 0 ] || {
for c in tiny bert-base dropout init sampler; do
  py tests/oracles/official_ref.py --official "$OFFICIAL" --config "$c" "$T/official-$c.safetensors" >/dev/null
done
if [ -n "$OFFICIAL_V2" ]; then
  py tests/oracles/official_ref.py --official "$OFFICIAL_V2" --config tiny-v2 "$T/official-tiny-v2.safetensors" >/dev/null
else
  cp tests/fixtures/model/official-tiny-v2.safetensors "$T/"
fi
mkdir -p "$T/fx/tests/fixtures/model"
cp "$T"/official-*.safetensors "$T/fx/tests/fixtures/model/"
if (cd "$T/fx" && "$TB") >"$T/parity.txt" 2>&1; then ok=true; else ok=false; fi
jq -c -n --argjson ok "$ok" --arg tail "$(grep -c '^PASS' "$T/parity.txt") PASS, $(grep -c '^FAIL' "$T/parity.txt") FAIL" \
  '{bench: "official", what: "parity fixtures regenerated from the checkout", pass: $ok, result: $tail}'
[ "$ok" = true ] || sed 's/^/    /' "$T/parity.txt" >&2
}

shape_opts() {
  case $1 in
    tiny) echo "--layers 2 --hidden 128 --heads 2 --intermediate 512" ;;
    bert-base) echo "--config bert-base" ;;
  esac
}

# dsq-train's per-step losses: shape seed steps [extra options...]
dsq_losses() {
  local shape=$1 seed=$2 steps=$3; shift 3
  rm -rf "$T/run"
  # shellcheck disable=SC2046
  "$DSQ_BIN/dsq-train" -q --data "$T/qqp.dsq" --vocab "$VOCAB" --out "$T/run" $(shape_opts "$shape") \
    --hidden-dim 128 --bsz 16 --microbatch 16 --seed "$seed" --log-interval 1 \
    --save-interval 1000000 --eval-interval 1000000 "$@" --stop-at "$steps" >/dev/null 2>&1
  jq -s -c '{side: "dsq", seed: '"$seed"', loss: map(.loss)}' "$T/run/log.jsonl"
  rm -rf "$T/run"
}

"$DSQ_BIN/dsq-tokenize" -q --vocab "$VOCAB" --seq-len 128 data/qqp/train.jsonl > "$T/qqp.dsq"
for shape in $SHAPES; do
  for init in $INITS; do
    : > "$T/runs.jsonl"
    for s in $SEEDS; do
      echo "bench official ($shape, $init init): seed $s, $STEPS steps each side..." >&2
      dsq_losses "$shape" "$s" "$STEPS" --learning-steps 50000 >> "$T/runs.jsonl"
      if [ "$init" = shared ]; then i="dsq:$s"; else i=official; fi
      py tests/oracles/official_train.py --official "$OFFICIAL" --shape "$shape" --seed "$s" \
        --steps "$STEPS" --init "$i" --check-stream "$T/qqp.dsq" --dsq-test "$TB" >> "$T/runs.jsonl"
    done
    py - "$T/runs.jsonl" "$shape" "$init" "$TH" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
windows = {"0": (0, 0), "1-5": (1, 5), "6-11": (6, 11), "14-23": (14, 23), "14-29": (14, 29)}
def wmean(loss, lo, hi):
    v = loss[lo:hi + 1]
    return sum(v) / len(v) if v else None
out = {"bench": "official", "shape": sys.argv[2], "init": sys.argv[3], "threads": int(sys.argv[4]),
       "seeds": sorted({r["seed"] for r in runs}), "steps": len(runs[0]["loss"]), "windows": {}}
late = {}
for name, (lo, hi) in windows.items():
    row = {}
    for side in ("dsq", "official"):
        per_seed = [wmean(r["loss"], lo, hi) for r in runs if r["side"] == side]
        per_seed = [x for x in per_seed if x is not None]
        if per_seed:
            row[side] = round(sum(per_seed) / len(per_seed), 4)
            row[side + "_seeds"] = [round(x, 4) for x in per_seed]
            if name == "14-29":
                late[side] = per_seed
    if "dsq" in row and "official" in row:
        row["ratio"] = round(row["dsq"] / row["official"], 4)
    out["windows"][name] = row
if len(late) == 2:
    spread = max(max(v) - min(v) for v in late.values())
    diff = abs(sum(late["dsq"]) / len(late["dsq"]) - sum(late["official"]) / len(late["official"]))
    out["late_seed_spread"] = round(spread, 4)
    out["late_mean_difference"] = round(diff, 4)
    out["late_within_spread"] = diff <= spread
print(json.dumps(out))
PY
  done
done

# 3. the expected step-0 loss, each side initialising itself
if [ "$N0" -gt 0 ]; then
  for shape in $SHAPES; do
    : > "$T/step0.jsonl"
    for k in $(seq 1 "$N0"); do
      echo "bench official ($shape): step-0 loss, seed $k of $N0..." >&2
      dsq_losses "$shape" "$k" 1 --learning-steps 1 --lr 0 >> "$T/step0.jsonl"
      py tests/oracles/official_train.py --official "$OFFICIAL" --shape "$shape" --seed "$k" \
        --steps 1 --dsq-test "$TB" >> "$T/step0.jsonl"
    done
    py - "$T/step0.jsonl" "$shape" <<'PY'
import json, math, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
out = {"bench": "official", "shape": sys.argv[2], "what": "step-0 loss, own initialisation"}
for side in ("dsq", "official"):
    v = [r["loss"][0] for r in runs if r["side"] == side]
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    out[side] = {"seeds": len(v), "mean": round(m, 4), "sd": round(sd, 4),
                 "se": round(sd / math.sqrt(len(v)), 4)}
d, o = out["dsq"], out["official"]
out["ratio"] = round(d["mean"] / o["mean"], 4)
out["difference_in_se"] = round((d["mean"] - o["mean"]) / math.hypot(d["se"], o["se"]), 2)
print(json.dumps(out))
PY
  done
fi
