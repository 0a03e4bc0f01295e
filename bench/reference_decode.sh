#!/usr/bin/env bash
# Decoding one official DiffuSeq checkpoint both ways, on this CPU, one
# thread each side (OMP_NUM_THREADS=1, torch.set_num_threads(1)):
#   official: the checkout's own decoding loop as sample_seq2seq.py runs it
#             with --step S (ddim_sample_loop, gap T/S, denoised_fn_round,
#             clip_denoised off), driven by tests/oracles/reference_decode.py,
#             which also writes the model it decodes as an official run
#             directory (ema_0.9999_050000.pt + training_args.json; random
#             weights: the time does not depend on training);
#   dsq:      dsq-sample --model RUN/ema_0.9999_050000.pt --sampler ddim-gap
#             --steps S -j 1 on the same rows (dsq-tokenize'd), the whole
#             process timed (reading the .pt included; the official side's
#             timer, like sample_seq2seq.py's, starts after loading), and
#             its start alone (the same command on no rows: dsq_start_s;
#             ratio_without_dsq_start leaves it out).
# Both decode all rows of a shape in one batch.  One JSON line per shape:
# sentences, model calls, seconds per sentence each side, the ratio
# official / dsq, the CPU, threads and the load average before and after.
#   bench/reference_decode.sh [CHECKOUT]   (or DSQ_OFFICIAL)
# Env: BENCH_SHAPES ("tiny bert-base"), BENCH_SENTENCES_TINY (4),
#      BENCH_SENTENCES_BERT (1), BENCH_STEP (100; --step / --steps),
#      BENCH_STEP_BERT (BENCH_STEP; fewer to keep a loaded machine's run
#      short: the line then says so and gives per_sentence_at_step_100,
#      scaled by model calls), DSQ_PYTHON_OFFICIAL (a Python with torch and
#      transformers; build/venv-bertscore/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
OFFICIAL=${1:-${DSQ_OFFICIAL:-}}
if [ -z "$OFFICIAL" ] || [ ! -f "$OFFICIAL/diffuseq/gaussian_diffusion.py" ]; then
  echo '{"bench": "reference_decode", "skipped": "no official DiffuSeq checkout: bench/reference_decode.sh DIR (git clone https://github.com/Shark-NLP/DiffuSeq)"}'
  exit 0
fi
: "${DSQ_BIN:=$PWD/tools}"
# the official code needs transformers: the bertscore venv has it, build/venv not
PY=${DSQ_PYTHON_OFFICIAL:-$PWD/build/venv-bertscore/bin/python}
SHAPES=${BENCH_SHAPES:-tiny bert-base}
STEP=${BENCH_STEP:-100}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }

for shape in $SHAPES; do
  case $shape in
    tiny) n=${BENCH_SENTENCES_TINY:-4}; step=$STEP ;;
    bert-base) n=${BENCH_SENTENCES_BERT:-1}; step=${BENCH_STEP_BERT:-$STEP} ;;
    *) echo "reference_decode.sh: unknown shape $shape (tiny, bert-base)" >&2; exit 2 ;;
  esac
  run=$T/$shape; l0=$(load)
  head -n "$n" data/qqp/dev.jsonl > "$T/rows.jsonl"
  "$PY" tests/oracles/reference_decode.py --official "$OFFICIAL" --shape "$shape" \
    --run "$run" --data "$T/rows.jsonl" --sentences "$n" --step "$step" \
    2> >(grep -v -i warn >&2) > "$T/official.json"
  "$DSQ_BIN/dsq-tokenize" -q --vocab "$run/vocab.txt" --seq-len 128 "$T/rows.jsonl" > "$T/rows.dsq"
  # dsq-sample's start (reading the .pt) alone: the same command on no rows
  : > "$T/none.jsonl"
  "$DSQ_BIN/dsq-tokenize" -q --vocab "$run/vocab.txt" --seq-len 128 "$T/none.jsonl" > "$T/none.dsq"
  s0=$(date +%s.%N)
  "$DSQ_BIN/dsq-sample" -q -m "$run/ema_0.9999_050000.pt" --vocab "$run/vocab.txt" \
    --sampler ddim-gap --steps "$step" --seed 105 -j 1 -o "$T/none.out" "$T/none.dsq" 2>/dev/null
  s1=$(date +%s.%N)
  t0=$(date +%s.%N)
  "$DSQ_BIN/dsq-sample" -q -m "$run/ema_0.9999_050000.pt" --vocab "$run/vocab.txt" \
    --sampler ddim-gap --steps "$step" --seed 105 -j 1 -b "$n" -o "$T/dsq.jsonl" "$T/rows.dsq" 2>/dev/null
  t1=$(date +%s.%N)
  [ "$(wc -l < "$T/dsq.jsonl")" = "$n" ] || { echo "reference_decode.sh: dsq-sample wrote $(wc -l < "$T/dsq.jsonl") of $n rows" >&2; exit 1; }
  jq -c -n --slurpfile o "$T/official.json" --arg shape "$shape" --argjson n "$n" \
    --argjson step "$step" --argjson dsq "$(echo "$t1 - $t0" | bc -l)" \
    --argjson start "$(echo "$s1 - $s0" | bc -l)" --arg cpu "$CPU" \
    --argjson l0 "$l0" --argjson l1 "$(load)" --argjson cores "$(getconf _NPROCESSORS_ONLN)" '
    ($o[0].per_sentence) as $po | ($dsq / $n) as $pd | (100 / $step) as $scale |
    {bench: "reference_decode", config: $shape, sentences: $n, step: $step,
     model_calls: $o[0].model_calls,
     official_s_per_sentence: $po, dsq_s_per_sentence: ($pd * 1000 | round / 1000),
     ratio: ($po / $pd * 100 | round / 100),
     dsq_start_s: ($start * 1000 | round / 1000),
     ratio_without_dsq_start: ($po / (($dsq - $start) / $n) * 100 | round / 100),
     cpu: $cpu, threads: 1, official_torch_threads: $o[0].threads, cores: $cores,
     loadavg_before: $l0, loadavg_after: $l1}
    + (if $step == 100 then {} else
       {extrapolated: "to --step 100 by model calls (x\($scale))",
        official_s_per_sentence_at_step_100: ($po * $scale * 100 | round / 100),
        dsq_s_per_sentence_at_step_100: ((($dsq - $start) * $scale + $start) / $n * 100 | round / 100)} end)'
done
