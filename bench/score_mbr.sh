#!/usr/bin/env bash
# Scoring and MBR: dsq-mbr + dsq-score (per-file figures, diversity, the MBR
# selection's figures) against the Python re-statement of the DiffuSeq
# evaluation script (tests/oracles/eval_script.py --mode both: nltk + numpy,
# the script's own code path, BERTScore left out on both sides), on the
# paper's MBR setting: k = 10 decode files x 2,500 lines built from real QQP
# text with seeded perturbations. Same machine, same run.
# Prints JSON lines: {"bench":"score_mbr", ..., "ratio": python_s/dsq_s,
# "identical": every figure and every MBR choice the same double / index}.
# Env: DSQ_BIN, DSQ_PYTHON; BENCH_K, BENCH_N to change the size.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_BIN:=$PWD/tools}" "${DSQ_PYTHON:=$PWD/build/venv/bin/python}"
K=${BENCH_K:-10} N=${BENCH_N:-2500}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
now() { date +%s.%N; }

"$DSQ_PYTHON" tests/oracles/make_decodes.py --data "data/qqp/dev.jsonl" \
  --data "data/qqp/train.jsonl" --k "$K" --n "$N" --seed 2023 --out "$T/in"

echo "bench score_mbr: python re-statement of the evaluation script (k=$K, n=$N)..." >&2
t0=$(now)
"$DSQ_PYTHON" tests/oracles/eval_script.py --folder "$T/in" --mode both > "$T/oracle.json"
t1=$(now)
python_s=$(awk "BEGIN{print $t1 - $t0}")

threads_all=$("$DSQ_PYTHON" -c 'import os; print(len(os.sched_getaffinity(0)))')
# work=script: the script's figures only (dsq-score --no-sacrebleu), the same
# work as the Python side; work=default: plus sacreBLEU BLEU and chrF per file.
run_dsq() {
  local work=$1 j=$2 extra=()
  [ "$work" = script ] && extra=(--no-sacrebleu)
  echo "bench score_mbr: dsq, work=$work, $j thread(s)..." >&2
  local t0 t1 dsq_s identical
  t0=$(now)
  "$DSQ_BIN/dsq-score" -j "$j" "${extra[@]}" "$T/in" > "$T/score.json"
  "$DSQ_BIN/dsq-mbr" -q -j "$j" "$T/in" > "$T/mbr.jsonl"
  "$DSQ_BIN/dsq-score" -j "$j" "${extra[@]}" "$T/mbr.jsonl" > "$T/mbr_score.json"
  t1=$(now)
  dsq_s=$(awk "BEGIN{print $t1 - $t0}")
  if "$DSQ_PYTHON" tests/oracles/compare_scores.py bench "$T/oracle.json" "$T/score.json" \
       "$T/mbr.jsonl" "$T/mbr_score.json" > "$T/cmp" 2>&1; then
    identical=true
  else
    identical=false; grep FAIL "$T/cmp" | head -n 5 >&2 || true
  fi
  printf '{"bench":"score_mbr","work":"%s","k":%d,"n":%d,"threads":%d,"dsq_s":%.4f,"python_s":%.3f,"ratio":%.1f,"identical":%s}\n' \
    "$work" "$K" "$N" "$j" "$dsq_s" "$python_s" "$(awk "BEGIN{print $python_s / $dsq_s}")" "$identical"
}
run_dsq script "$threads_all"
run_dsq script 1
run_dsq default "$threads_all"
