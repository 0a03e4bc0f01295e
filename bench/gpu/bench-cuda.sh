#!/usr/bin/env bash
# make bench-cuda: rates of the CUDA backend at the paper's shape (bert-base
# encoder, d 128, V 30,522, L 128, microbatch 64), JSON lines on stdout:
#   cuda_gemm    the device's GEMM rates: fp32 (cuBLAS SGEMM, no TF32) and
#                bf16 (tensor cores, fp32 accumulation)
#   cuda_train   training tokens/s and model FLOP utilisation (model FLOPs/s
#                over the GEMM rate of the same precision), fp32 and bf16
#   cuda_decode  sentences/s decoding 2,500 x L 128: ddpm over 2,000 steps
#                with rounding every step (timed over a few steps,
#                extrapolated), dpm++ 10 and 20 steps (one batch timed in
#                full, extrapolated to 2,500); each line says what it timed
#   torch_train  the PyTorch re-statement (tests/oracles/diffuseq_ref.py
#                --bench --device cuda) on the same shape and GPU, and the
#                ratio dsq / PyTorch; or why it was not run (no torch, no
#                CUDA in torch)
# (bench/cuda_paper.c measures the first three.)  Without a GPU it says so
# (one JSON line with "skipped") and exits 0.
# Environment: DSQ_CUDA_PAPER (the cuda_paper binary, default
# build/bench/cuda_paper), DSQ_CUDA_PAPER_ARGS (its arguments: layers
# train_batch L G D; smaller for a smoke run), DSQ_PYTHON (python3),
# DSQ_BENCH_CUDA_FORCE=1 (run without a GPU: the emulation's cuda_paper,
# tests/checks/gpu_check.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
paper=${DSQ_CUDA_PAPER:-build/bench/cuda_paper}
if [ "${DSQ_BENCH_CUDA_FORCE:-0}" != 1 ] && ! nvidia-smi -L >/dev/null 2>&1 &&
   [ ! -e /dev/nvidia0 ]; then
  echo '{"bench": "bench-cuda", "skipped": "no NVIDIA GPU here"}'
  echo "bench-cuda: no NVIDIA GPU here (nvidia-smi lists none, no /dev/nvidia0): nothing to measure" >&2
  exit 0
fi
if [ ! -x "$paper" ]; then
  echo "bench-cuda: $paper missing (make $paper)" >&2
  exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086  # the arguments are words
"$paper" ${DSQ_CUDA_PAPER_ARGS:-} | tee "$tmp/paper.jsonl"
rc=${PIPESTATUS[0]}
[ "$rc" -ne 0 ] && echo "bench-cuda: cuda_paper exited $rc" >&2

# field NAME: a numeric field of the fp32 cuda_train line
field() { awk -v k="\"$1\":" '/"bench": "cuda_train".*"precision": "fp32"/ { i = index($0, k); if (!i) next
  s = substr($0, i + length(k)); sub(/^ */, "", s); sub(/[,}].*/, "", s); print s; exit }' \
  "$tmp/paper.jsonl"; }
dsq_tps=$(field tokens_per_s)
layers=$(field layers) B=$(field batch) mb=$(field microbatch) L=$(field seq_len)
py=${DSQ_PYTHON:-python3}
command -v "$py" >/dev/null 2>&1 || py=python3
why=$("$py" -c 'import torch
print("" if torch.cuda.is_available() else "torch %s has no usable CUDA" % torch.__version__)' 2>&1)
[ $? -ne 0 ] && why="torch is not importable ($(echo "$why" | tail -n 1))"
if [ -z "$dsq_tps" ]; then
  echo "{\"bench\": \"torch_train\", \"skipped\": \"no dsq training measurement to compare with\"}"
elif [ -n "$why" ]; then
  why=${why//\"/\'}
  echo "{\"bench\": \"torch_train\", \"skipped\": \"$why\"}"
else
  spec="{\"vocab\":30522,\"d\":128,\"dt\":128,\"H\":768,\"nh\":12,\"I\":3072,\"n_layers\":$layers,"
  spec+="\"max_pos\":512,\"T\":2000,\"B\":$B,\"microbatch\":$mb,\"L\":$L,\"steps\":4,"
  spec+="\"threads\":$(nproc),\"device\":\"cuda\"}"
  echo "bench-cuda: PyTorch on the GPU: $spec ..." >&2
  if "$py" tests/oracles/diffuseq_ref.py --bench "$spec" >"$tmp/torch.json" 2>"$tmp/torch.err"; then
    t_tps=$(sed -E 's/.*"tokens_per_s": *([0-9.eE+-]+).*/\1/' "$tmp/torch.json")
    awk -v d="$dsq_tps" -v t="$t_tps" -v l="$layers" -v b="$B" -v m="$mb" -v L="$L" 'BEGIN {
      printf "{\"bench\": \"torch_train\", \"device\": \"cuda\", \"precision\": \"fp32\", "
      printf "\"layers\": %d, \"batch\": %d, \"microbatch\": %d, \"seq_len\": %d, ", l, b, m, L
      printf "\"dsq_tokens_per_s\": %.0f, \"torch_tokens_per_s\": %.0f, \"ratio\": %.3f, ", d, t, d / t
      printf "\"note\": \"the reference computes the logged nll (one more vocabulary product) "
      printf "every step, dsq only on logged steps\"}\n" }'
  else
    err=$(tail -n 1 "$tmp/torch.err"); err=${err//\"/\'}
    echo "{\"bench\": \"torch_train\", \"failed\": \"$err\"}"
    rc=1
  fi
fi
exit "$rc"
