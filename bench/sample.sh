#!/usr/bin/env bash
# Decoding speed: seconds per DDPM denoising step of dsq's sampler
# (bench/sample_bench.c: model call, rounding to the nearest of V word
# embeddings, posterior update, noise, anchoring) against the PyTorch
# re-statement of the reference's step (tests/oracles/sampler_ref.py
# --bench: float32, no_grad, get_efficient_knn's full [V, N] distance
# matrix), same shape, same batch, same thread count, in one run.
#   (a) tiny: 2 layers, H=128, 2 heads, I=512, d=128, V=30,522
#   (b) bert-base: 12x768, 12 heads, I=3072, d=128, V=30,522
# both at B=64, L=128 (the issue's shape).  Model FLOPs per token of one
# step: the encoder GEMMs, the projections and the rounding product
# (2·V·d).  Prints one JSON line per config.
# Env: BENCH_THREADS (default: all cores), BENCH_SAMPLE_STEPS_A (4),
# BENCH_SAMPLE_STEPS_B (2), BENCH_SAMPLE_B (64), BENCH_SAMPLE_L (128).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_PYTHON:=$PWD/build/venv/bin/python}"
TH=${BENCH_THREADS:-$("$DSQ_PYTHON" -c 'import os; print(len(os.sched_getaffinity(0)))')}
export OMP_NUM_THREADS=$TH
B=${BENCH_SAMPLE_B:-64}
L=${BENCH_SAMPLE_L:-128}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p build/bench
${CC:-cc} -O2 -g -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp $(make -s --no-print-directory print-includes | tail -n 1) -o build/bench/sample_bench \
  bench/sample_bench.c lib/libdsq.a $(make -s --no-print-directory print-link | tail -n 1)

flops() {  # layers H I d V L -> model FLOPs per token of one decoding step
  awk -v nl="$1" -v H="$2" -v I="$3" -v d="$4" -v V="$5" -v L="$6" 'BEGIN {
    f = nl * (2*3*H*H + 2*H*H + 2*2*H*I + 2*2*L*H) + 2*V*d
    if (d != H) f += 2*(d*H + H*H) + 2*(H*H + H*d)
    printf "%.0f", f }'
}

run() {  # name layers H heads I d steps
  local name=$1 nl=$2 H=$3 nh=$4 I=$5 d=$6 S=$7 V=30522
  echo "bench sample ($name): dsq, $S steps at B=$B L=$L..." >&2
  local dsq torch rss
  dsq=$(/usr/bin/time -f %M -o "$T/rss" build/bench/sample_bench "$V" "$d" 128 "$H" "$nh" "$I" \
    "$nl" "$L" "$B" "$S" | jq .s_per_step)
  rss=$(cat "$T/rss")
  echo "bench sample ($name): PyTorch..." >&2
  "$DSQ_PYTHON" tests/oracles/sampler_ref.py --bench \
    "{\"vocab\":$V,\"d\":$d,\"dt\":128,\"H\":$H,\"nh\":$nh,\"I\":$I,\"n_layers\":$nl,\"L\":$L,\"B\":$B,\"S\":$S,\"threads\":$TH}" \
    > "$T/torch.json"
  torch=$(jq .s_per_step "$T/torch.json")
  local fpt
  fpt=$(flops "$nl" "$H" "$I" "$d" "$V" "$L")
  jq -c -n --arg name "$name" --argjson th "$TH" --argjson B "$B" --argjson L "$L" \
    --argjson dsq "$dsq" --argjson torch "$torch" --argjson fpt "$fpt" --argjson rss "$rss" \
    --slurpfile t "$T/torch.json" '{bench: "sample",
      config: $name, sampler: "ddpm (rounding every step)", threads: $th, batch: $B,
      seq_len: $L, dsq_s_per_step: $dsq, torch_s_per_step: $torch,
      ratio: ($torch / $dsq), dsq_gflops: ($B * $L * $fpt / $dsq / 1e9),
      dsq_sentences_per_s_2000_steps: ($B / ($dsq * 2000)),
      dsq_peak_rss_kb: $rss, torch_peak_rss_kb: $t[0].peak_rss_kb}'
}

run tiny 2 128 2 512 128 "${BENCH_SAMPLE_STEPS_A:-4}"
run bert-base 12 768 12 3072 128 "${BENCH_SAMPLE_STEPS_B:-2}"
