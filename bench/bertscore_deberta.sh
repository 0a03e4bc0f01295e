#!/usr/bin/env bash
# BERTScore with the paper's model shape: dsq-score --bertscore against
# bert_score 0.3.13 (transformers 4.30.2, Debian torch;
# tests/oracles/bertscore_ref.py bench) on 1,000 QQP pairs (every (src,
# trg) of data/qqp, then swapped) with a random DeBERTa of
# microsoft/deberta-xlarge-mnli's shape (1024 wide, 16 heads, 4096
# intermediate, c2p|p2c over 512 relative positions; bertscore_ref.py
# xlarge) TRUNCATED to its first BENCH_LAYERS (default 6) of 48 layers so
# that both sides finish in minutes on a small machine, scored at its last
# layer, idf off; the fixture BPE vocabulary (random weights: the figures
# are timings, the mean F1s must agree).  Same machine, same run, the same
# thread count on both sides (BENCH_THREADS, default 2).
#   bert_score: bert_score.score() alone (model loading included; Python
#               start-up and imports not); peak RSS of the whole process;
#   dsq:        the whole dsq-score run with --no-sacrebleu --no-diversity
#               (reading, model loading, BERTScore); its peak RSS.
# Prints one JSON line {"bench":"bertscore_deberta","model_layers",
#   "layer","threads","pairs","dsq_s","bert_score_s","ratio": bert_score_s
#   / dsq_s,"dsq_peak_rss_mb","bert_score_peak_rss_mb","mean_f1_diff"}.
# Env: DSQ_BIN, DSQ_BERT_PYTHON, BENCH_N, BENCH_LAYERS, BENCH_THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_BIN:=$PWD/tools}"
py="${DSQ_BERT_PYTHON:-$PWD/build/venv-bertscore/bin/python}"
N=${BENCH_N:-1000}
NL=${BENCH_LAYERS:-6}
J=${BENCH_THREADS:-2}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
now() { date +%s.%N; }
oracle=tests/oracles/bertscore_ref.py
echo "bench bertscore_deberta: a random deberta-xlarge-mnli shape, $NL layers..." >&2
"$py" "$oracle" xlarge "$T/model" --layers "$NL" >/dev/null 2>&1
"$py" "$oracle" bench-pairs data/qqp "$N" "$T/pairs.jsonl"
echo "bench bertscore_deberta: bert_score, $J thread(s)..." >&2
OMP_NUM_THREADS=$J /usr/bin/time -f %M -o "$T/ref.rss" "$py" "$oracle" bench "$T/pairs.jsonl" \
  --layer "$NL" --threads "$J" --model "$T/model" 2>/dev/null > "$T/ref.json"
echo "bench bertscore_deberta: dsq-score, $J thread(s)..." >&2
t0=$(now)
OMP_NUM_THREADS=$J /usr/bin/time -f %M -o "$T/dsq.rss" "$DSQ_BIN/dsq-score" -j "$J" \
  --no-sacrebleu --no-diversity --no-clean --bertscore "$T/model" --bertscore-layer "$NL" \
  "$T/pairs.jsonl" > "$T/dsq.json"
t1=$(now)
jq -c -n --slurpfile r "$T/ref.json" --slurpfile d "$T/dsq.json" \
  --argjson s "$(awk "BEGIN{print $t1 - $t0}")" --argjson j "$J" --argjson n "$N" \
  --argjson nl "$NL" --argjson rr "$(tail -n 1 "$T/ref.rss")" \
  --argjson dr "$(tail -n 1 "$T/dsq.rss")" '
  {bench: "bertscore_deberta", model: "random deberta-xlarge-mnli shape", model_layers: $nl,
   layer: $nl, threads: $j, pairs: $n, dsq_s: $s, bert_score_s: $r[0].seconds,
   ratio: ($r[0].seconds / $s), dsq_peak_rss_mb: ($dr / 1024 | floor),
   bert_score_peak_rss_mb: ($rr / 1024 | floor),
   mean_f1_diff: ($d[0].bertscore_f1 - $r[0].mean_f1)}'
