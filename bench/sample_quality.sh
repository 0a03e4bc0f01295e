#!/usr/bin/env bash
# Speed/quality of the samplers on a trained model: decode the first N
# examples of QQP dev with ddpm (the full T-step chain, when
# BENCH_QUALITY_FULL=1: hours on a CPU), and with respaced ddim, dpm++ and
# dpm++v2 at 10 / 20 / 50 / 100 model calls; score each with dsq-score;
# one JSON line per (sampler, steps): BLEU, ROUGE-L, dist-1, sentences/s.
# The curve a user needs to pick a sampler.
#
# The model: BENCH_SAMPLE_MODEL=run/ema_0.9999_050000.safetensors (with its
# config and vocabulary beside it, as dsq-train writes them), e.g. a
# pipeline's.  Without one the bench trains its own through
# pipelines/diffuseq.mk on data/qqp/train.jsonl (the demo's
# settings, BENCH_QUALITY_TRAIN_STEPS updates, default 3000: ~40 minutes on
# 2 cores) into $DSQ_BUILD/bench-quality and reuses it on later runs;
# BENCH_QUALITY_V2=1 trains a DiffuSeq-v2 model instead (--learned-mean-embed
# --denoise, into bench-quality-v2), the kind the dpm++v2 script was made for.
# Env: BENCH_QUALITY_N (200), BENCH_QUALITY_STEPS ("10 20 50 100"),
# BENCH_THREADS, BENCH_QUALITY_SEED (101), BENCH_QUALITY_DATA (qqp dev).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_BIN:=$PWD/tools}" "${DSQ_PYTHON:=$PWD/build/venv/bin/python}"
MODEL=${BENCH_SAMPLE_MODEL:-}
if [ -n "$MODEL" ] && [ ! -f "$MODEL" ]; then
  echo "bench sample_quality: $MODEL: no such checkpoint" >&2; exit 1
fi
if [ -z "$MODEL" ]; then
  steps=${BENCH_QUALITY_TRAIN_STEPS:-3000}
  mdir="${DSQ_BUILD:-$PWD/build}/bench-quality"
  topts=
  if [ "${BENCH_QUALITY_V2:-0}" = 1 ]; then mdir=$mdir-v2 topts="--learned-mean-embed --denoise"; fi
  mkdir -p "$mdir"
  cat > "$mdir/Makefile.new" <<MAKE
# Written by bench/sample_quality.sh: the model its table decodes with.
DSQ_BIN := $DSQ_BIN
OUT := $mdir
TRAIN_JSONL := $PWD/data/qqp/train.jsonl
TEST_JSONL := $PWD/data/qqp/dev.jsonl
VALID_JSONL :=
VOCAB_KIND := word
MIN_COUNT := 2
SEQ_LEN := 48
CONFIG := bert-tiny
HIDDEN_DIM := 128
DIFF_STEPS := 2000
NOISE_SCHEDULE := sqrt
SCHEDULE_SAMPLER := lossaware
LR := 1e-3
LEARNING_STEPS := $steps
BSZ := 64
MICROBATCH := 64
SAVE_INTERVAL := $steps
LOG_INTERVAL := 100
EMA_RATE := 0.999
TRAIN_OPTS := $topts
include $PWD/pipelines/diffuseq.mk
MAKE
  # other settings: start again
  cmp -s "$mdir/Makefile.new" "$mdir/Makefile" || { rm -rf "$mdir/run"; mv "$mdir/Makefile.new" "$mdir/Makefile"; }
  rm -f "$mdir/Makefile.new"
  echo "bench sample_quality: training the bench model ($steps updates) in $mdir unless done..." >&2
  (unset MAKEFLAGS MFLAGS MAKELEVEL; make -s --no-print-directory -C "$mdir" train) >&2
  MODEL=$(ls "$mdir"/run/ema_0.999_*.safetensors | tail -n 1)
fi
N=${BENCH_QUALITY_N:-200}
SEED=${BENCH_QUALITY_SEED:-101}
DATA=${BENCH_QUALITY_DATA:-$PWD/data/qqp/dev.jsonl}
TH=${BENCH_THREADS:-$("$DSQ_PYTHON" -c 'import os; print(len(os.sched_getaffinity(0)))')}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
dir=$(dirname "$MODEL")
cfg="$dir/config.json"
[ -f "$cfg" ] || { echo "bench sample_quality: $cfg missing" >&2; exit 1; }
L=$(jq .seq_len "$cfg")
kind=$(jq -r '.vocab_kind // "wordpiece"' "$cfg")
vocab="$dir/$(jq -r '.vocab // "vocab.txt"' "$cfg")"
TT=$(jq .diffusion_steps "$cfg")
# word vocabularies mark sentences as [START] ... [END] (pipelines/diffuseq.mk)
clean=(); [ "$kind" = word ] && clean=(--sos '[START]' --eos '[END]' --sep '[END]')
head -n "$N" "$DATA" | "$DSQ_BIN/dsq-tokenize" -q --vocab "$vocab" --vocab-kind "$kind" \
  --seq-len "$L" > "$T/in.dsq"

one() {  # sampler steps
  local s=$1 n=$2 t0 t1
  t0=$(date +%s.%N)
  "$DSQ_BIN/dsq-sample" -q -m "$MODEL" -s "$s" ${n:+-n "$n"} --seed "$SEED" -j "$TH" \
    "$T/in.dsq" > "$T/out.jsonl"
  t1=$(date +%s.%N)
  "$DSQ_BIN/dsq-score" "${clean[@]}" "$T/out.jsonl" > "$T/score.json"
  jq -c --arg s "$s" --argjson n "${n:-$TT}" --argjson t0 "$t0" --argjson t1 "$t1" \
    --argjson N "$N" --argjson th "$TH" '{bench: "sample_quality", sampler: $s, steps: $n,
      examples: $N, threads: $th, bleu, rougeL, dist1, avg_len,
      sentences_per_s: ($N / ($t1 - $t0))}' "$T/score.json"
}

# the full chain by default only for the bench's own (tiny) model
if [ "${BENCH_QUALITY_FULL:-$([ -z "${BENCH_SAMPLE_MODEL:-}" ] && echo 1 || echo 0)}" = 1 ]; then
  echo "bench sample_quality: ddpm, $TT steps..." >&2
  one ddpm "" | tee -a "$T/lines.jsonl"
fi
for n in ${BENCH_QUALITY_STEPS:-10 20 50 100}; do
  [ "$n" -le "$TT" ] || continue
  for s in ddim 'dpm++' 'dpm++v2'; do
    echo "bench sample_quality: $s, $n steps..." >&2
    one "$s" "$n" | tee -a "$T/lines.jsonl"
  done
done
[ -s "$T/lines.jsonl" ] || exit 0

# The goal: fast samplers at 20 steps within 1 BLEU point (0.01) of the
# full chain.
jq -c -s --argjson T "$TT" '(map(select(.sampler == "ddpm" and .steps == $T)) | first) as $full
  | select($full != null) | .[] | select(.steps == 20) | {bench: "sample_quality_goal",
    sampler, steps, bleu, full_chain_bleu: $full.bleu, bleu_points_below: (($full.bleu - .bleu) * 100),
    within_1_bleu: (($full.bleu - .bleu) <= 0.01), speedup: (.sentences_per_s / $full.sentences_per_s)}' \
  "$T/lines.jsonl"
{
  echo "sampler    steps    BLEU  ROUGE-L  dist-1  sentences/s"
  jq -r '[.sampler, .steps, .bleu * 100, .rougeL * 100, .dist1, .sentences_per_s]
    | "\(.[0])\t\(.[1])\t\(.[2])\t\(.[3])\t\(.[4])\t\(.[5])"' "$T/lines.jsonl" |
    awk -F'\t' '{printf "%-9s %6d %7.2f %8.2f %7.4f %12.2f\n", $1, $2, $3, $4, $5, $6}'
  echo "(BLEU and ROUGE-L x 100; $N examples of $(basename "$DATA"); model $MODEL)"
} >&2
