#!/usr/bin/env bash
# dsq-score and dsq-mbr against a Python re-statement of the DiffuSeq
# evaluation script (tests/oracles/eval_script.py, nltk 3.8 + numpy) on
# decode files built from real QQP text with seeded perturbations
# (tests/oracles/make_decodes.py): the script's figures and the MBR choices
# must be the same doubles; sacreBLEU / chrF within 1e-9, same signatures.
set -u
cd "$(dirname "$0")/../.."
: "${DSQ_BIN:=$PWD/tools}" "${DSQ_PYTHON:=$PWD/build/venv/bin/python}"
QQP=data/qqp
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
py() { "$DSQ_PYTHON" "$@"; }

# label k n seed [extra eval_script / dsq-mbr args]
run_case() {
  local label=$1 k=$2 n=$3 seed=$4 util=${5:-bleu}
  local d="$T/$label"
  if ! py tests/oracles/make_decodes.py --data "$QQP/dev.jsonl" --data "$QQP/train.jsonl" \
        --k "$k" --n "$n" --seed "$seed" --out "$d/in" 2>"$T/err"; then
    echo "FAIL $label generate: $(tail -n 3 "$T/err")"; return
  fi
  if ! py tests/oracles/eval_script.py --folder "$d/in" --mode both --utility "$util" --sacrebleu \
        > "$d/oracle.json" 2>"$T/err"; then
    echo "FAIL $label oracle: $(tail -n 3 "$T/err")"; return
  fi
  if ! "$DSQ_BIN/dsq-score" "$d/in" > "$d/score.json" 2>"$T/err" ||
     ! "$DSQ_BIN/dsq-mbr" -q -u "$util" "$d/in" > "$d/mbr.jsonl" 2>>"$T/err" ||
     ! "$DSQ_BIN/dsq-score" "$d/mbr.jsonl" > "$d/mbr_score.json" 2>>"$T/err"; then
    echo "FAIL $label dsq: $(tail -n 3 "$T/err")"; return
  fi
  py tests/oracles/compare_scores.py "$label" "$d/oracle.json" "$d/score.json" \
     "$d/mbr.jsonl" "$d/mbr_score.json"
}

run_case k3 3 400 11          # the paper's diversity setting
run_case k10 10 250 12        # the paper's MBR setting: 8-lane row sums
run_case k2 2 300 13
run_case k5rouge 5 200 14 rougeL
