#!/usr/bin/env bash
# Training speed: dsq-train against the PyTorch re-statement
# (tests/oracles/diffuseq_ref.py --bench: float32 TrainLoop steps, the
# logged nll every step as the reference computes it), same config, same
# batch, same thread count (torch.set_num_threads = OMP_NUM_THREADS), in one
# run; plus the fraction of the backend's sgemm rate (bench/sgemm_rate.c)
# that dsq's model FLOPs reach, and peak RSS of both.
#   (a) tiny: 2 layers, H=128, 2 heads, I=512, d=128, V=30,522, L=64, B=64
#   (b) bert-base: 12x768, I=3072, d=128, V=30,522, L=128, B=16
# Model FLOPs per token = 3 x forward GEMM FLOPs (projections, attention
# products, the decoder_nll vocabulary product); dsq computes the logged
# nll (over target positions) only on logged steps, of which the timed
# steps 1.. hold one, the last (it closes the log line read here).
# Prints one JSON line per config.  Env: BENCH_THREADS (default: all
# cores), BENCH_STEPS_A (6), BENCH_STEPS_B (3), BENCH_RSS_MB64=1 to also
# compare peak RSS of (b) at microbatch 64 (slow).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_BIN:=$PWD/tools}" "${DSQ_PYTHON:=$PWD/build/venv/bin/python}"
TH=${BENCH_THREADS:-$("$DSQ_PYTHON" -c 'import os; print(len(os.sched_getaffinity(0)))')}
export OMP_NUM_THREADS=$TH
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
VOCAB="data/vocab/bert-base-uncased.txt"
mkdir -p build/bench
${CC:-cc} -O2 -g -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp $(make -s --no-print-directory print-includes | tail -n 1) -o build/bench/sgemm_rate \
  bench/sgemm_rate.c lib/libdsq.a $(make -s --no-print-directory print-link | tail -n 1)
sgemm=$(build/bench/sgemm_rate 1536 5)
echo "bench train: sgemm $sgemm GFLOP/s on $TH thread(s)" >&2

# flops per token of one training step: layers H I d V L
flops() {
  awk -v nl="$1" -v H="$2" -v I="$3" -v d="$4" -v V="$5" -v L="$6" 'BEGIN {
    f = nl * (2*3*H*H + 2*H*H + 2*2*H*I + 2*2*L*H) + 2*V*d
    if (d != H) f += 2*(d*H + H*H) + 2*(H*H + H*d)
    printf "%.0f", 3 * f }'
}

run() {  # name layers H heads I d L B micro steps
  local name=$1 nl=$2 H=$3 nh=$4 I=$5 d=$6 L=$7 B=$8 mb=$9 steps=${10}
  "$DSQ_BIN/dsq-tokenize" --vocab "$VOCAB" --seq-len "$L" "data/qqp/train.jsonl" \
    > "$T/$L.dsq" 2>/dev/null
  echo "bench train ($name): dsq-train, $steps steps..." >&2
  /usr/bin/time -f %M -o "$T/rss" "$DSQ_BIN/dsq-train" --data "$T/$L.dsq" --vocab "$VOCAB" \
    --out "$T/run_$name" --layers "$nl" --hidden "$H" --heads "$nh" --intermediate "$I" \
    --hidden-dim "$d" --bsz "$B" --microbatch "$mb" --learning-steps "$steps" \
    --log-interval 1000000 --save-interval 1000000 -q
  local dsq_tps dsq_rss
  dsq_tps=$(jq -s '.[-1].tokens_per_s' "$T/run_$name/log.jsonl")  # steps 1.. (0 is warm-up)
  dsq_rss=$(cat "$T/rss")
  rm -rf "$T/run_$name"
  echo "bench train ($name): PyTorch, $steps steps..." >&2
  local spec="{\"vocab\":30522,\"d\":$d,\"dt\":128,\"H\":$H,\"nh\":$nh,\"I\":$I,\"n_layers\":$nl,"
  spec+="\"max_pos\":512,\"T\":2000,\"B\":$B,\"microbatch\":$mb,\"L\":$L,\"steps\":$steps,\"threads\":$TH}"
  "$DSQ_PYTHON" tests/oracles/diffuseq_ref.py --bench "$spec" > "$T/torch.json"
  local fpt
  fpt=$(flops "$nl" "$H" "$I" "$d" 30522 "$L")
  jq -c -n --arg name "$name" --argjson th "$TH" --argjson dsq "$dsq_tps" --argjson rss "$dsq_rss" \
    --argjson sg "$sgemm" --argjson fpt "$fpt" --argjson B "$B" --argjson mb "$mb" \
    --argjson L "$L" --slurpfile t "$T/torch.json" '{bench: "train", config: $name,
      threads: $th, batch: $B, microbatch: $mb, seq_len: $L,
      dsq_tokens_per_s: $dsq, torch_tokens_per_s: $t[0].tokens_per_s,
      ratio: ($dsq / $t[0].tokens_per_s),
      model_gflop_per_token: ($fpt / 1e9), dsq_gflops: ($dsq * $fpt / 1e9),
      sgemm_gflops: $sg, sgemm_fraction: ($dsq * $fpt / 1e9 / $sg),
      dsq_peak_rss_kb: $rss, torch_peak_rss_kb: $t[0].peak_rss_kb}'
}

run tiny 2 128 2 512 128 64 64 64 "${BENCH_STEPS_A:-6}"
run bert-base 12 768 12 3072 128 128 16 16 "${BENCH_STEPS_B:-3}"
if [ "${BENCH_RSS_MB64:-0}" = 1 ]; then
  run bert-base-mb64 12 768 12 3072 128 128 64 64 2
fi
