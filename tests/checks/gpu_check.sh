#!/usr/bin/env bash
# bench/gpu-check.sh's logic on a machine without GPU: without one it does
# nothing and exits 0; DSQ_GPU_CHECK_FORCE=1 runs its cli stage with the
# CPU on both sides (every check PASS, the summary says FORCED); the cli
# check against a device that is not there FAILs every check (the real
# mode never passes without a GPU); with a deliberate difference on the
# device side (DSQ_CLI_PERTURB=1) every comparison FAILs.  Short runs
# (DSQ_CLI_STEPS=3).  The NCCL stage (bench/gpu/nccl-check.sh) skips with one
# line below 2 GPUs.  Skipped parts where a GPU is present.
set -u
cd "$(dirname "$0")/../.."
export DSQ_BIN="${DSQ_BIN:-$PWD/tools}" OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive DSQ_CLI_STEPS=3 \
  DSQ_CLI_BF16_STEPS=2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export DSQ_GPU_CHECK_WORK=$tmp/work
check() {  # name cond [detail]
  if [ "$2" = 0 ]; then echo "PASS gpu_check_$1"; else echo "FAIL gpu_check_$1${3:+: $3}"; fi
}
count() { grep -c "^$1" "$2"; }

if nvidia-smi -L >/dev/null 2>&1 || [ -e /dev/nvidia0 ]; then
  echo "gpu_check.sh: a GPU is present; the no-GPU checks do not apply" >&2
  exit 0
fi

OUT=$tmp/plain bench/gpu-check.sh >"$tmp/plain.out" 2>"$tmp/plain.err"
r=$?
grep -q 'no NVIDIA GPU here' "$tmp/plain.err"
check no_gpu_exits_0 $((r + $?)) "exit $r: $(tail -n 2 "$tmp/plain.err")"
check no_gpu_runs_nothing "$(cat "$tmp/plain.out" | wc -c)" "printed on stdout"

DSQ_GPU_CHECK_FORCE=1 OUT=$tmp/forced bench/gpu-check.sh >"$tmp/forced.out" 2>"$tmp/forced.err"
r=$?
p=$(grep -c '^  PASS' "$tmp/forced.err"); f=$(grep -c '^  FAIL' "$tmp/forced.err")
check forced_cli_stage_passes $(( r != 0 || p != 5 || f != 0 )) \
  "exit $r, $p PASS, $f FAIL: $(grep -E 'FAIL|cli:' "$tmp/forced.err" | head -n 5)"
grep -q '^MODE: *FORCED without a GPU' "$tmp/forced.err"
check forced_says_so $? "no FORCED line in the summary"
grep -q '^stages: *cli$' "$tmp/forced.err"
check forced_runs_only_cli $?
grep -q 'PASS train: 3 steps, loss cpu vs cpu: 3 steps of 3' "$tmp/forced.err"
check forced_train_compares_every_step $?
# what the device tool brings back: at most 8 files, the summary among them
n=$(find "$tmp/forced" -type f | wc -l)
diff <(grep -v '^$' "$tmp/forced/summary.txt") \
  <(sed -n '/== gpu-check summary ==/,$p' "$tmp/forced.err") >/dev/null
check out_summary_and_at_most_8_files $(( $? != 0 || n > 8 )) "$n files: $(ls "$tmp/forced")"
grep -q '^dev1 {"step":2,' "$tmp/forced/cli-losses.txt"
check out_has_the_runs_losses $? "$(head -c 300 "$tmp/forced/cli-losses.txt")"

bench/gpu/cli-check.sh "$tmp/cuda" >"$tmp/cuda.out" 2>"$tmp/cuda.err"
r=$?
check real_mode_without_gpu_fails $(( r == 0 || $(count PASS "$tmp/cuda.out") != 0 ||
                                      $(count FAIL "$tmp/cuda.out") != 5 )) \
  "exit $r: $(cat "$tmp/cuda.out")"

DSQ_CLI_DEVICE=cpu DSQ_CLI_PERTURB=1 bench/gpu/cli-check.sh "$tmp/pert" >"$tmp/pert.out" 2>"$tmp/pert.err"
r=$?
check differences_fail $(( r == 0 || $(count PASS "$tmp/pert.out") != 0 ||
                           $(count FAIL "$tmp/pert.out") != 5 )) "exit $r: $(cat "$tmp/pert.out")"
grep -q '^FAIL train: 3 steps, loss cpu vs cpu: 3 steps of 3, max rel diff [1-9]' "$tmp/pert.out"
check loss_difference_reported $? "$(head -n 1 "$tmp/pert.out")"
grep -q '^FAIL sample ddpm cpu vs cpu: [0-9]*/384 tokens equal' "$tmp/pert.out"
check token_fraction_reported $? "$(grep sample "$tmp/pert.out" | head -n 1)"

# make bench-cuda's script: without a GPU one "skipped" line, exit 0; the
# PyTorch comparison from a cuda_train line (a stand-in for cuda_paper),
# with a python without torch, and with one whose torch "has CUDA" (the
# CPU standing in for it, tiny shape)
bench/gpu/bench-cuda.sh >"$tmp/bc.out" 2>"$tmp/bc.err"
r=$?
check bench_cuda_no_gpu $(( r != 0 || $(wc -l <"$tmp/bc.out") != 1 )) "exit $r: $(cat "$tmp/bc.out")"
grep -q '"skipped": "no NVIDIA GPU here"' "$tmp/bc.out"
check bench_cuda_says_no_gpu $?
cat >"$tmp/paper" <<'P'
#!/bin/sh
echo '{"bench": "cuda_gemm", "precision": "fp32", "shape": "64x64x64", "TFLOP_per_s": 0.03}'
echo '{"bench": "cuda_train", "config": "bert-base d128 V30522", "layers": 2, "precision": "bf16", "batch": 64, "microbatch": 64, "seq_len": 32, "tokens_per_s": 9999}'
echo '{"bench": "cuda_train", "config": "bert-base d128 V30522", "layers": 1, "precision": "fp32", "batch": 4, "microbatch": 2, "seq_len": 16, "timed_steps": 3, "s_per_step": 0.1, "tokens_per_s": 640, "mfu_vs_fp32_gemm": 0.5}'
P
printf '#!/bin/sh\nexit 1\n' >"$tmp/notorch"
printf '#!/bin/sh\n[ "$1" = -c ] && exit 0\nexec "%s" "$@" --device cpu\n' "$DSQ_PYTHON" >"$tmp/fakecuda"
chmod +x "$tmp/paper" "$tmp/notorch" "$tmp/fakecuda"
DSQ_BENCH_CUDA_FORCE=1 DSQ_CUDA_PAPER=$tmp/paper DSQ_PYTHON=$tmp/notorch \
  bench/gpu/bench-cuda.sh >"$tmp/bc.out" 2>"$tmp/bc.err"
r=$?
grep -q '^{"bench": "torch_train", "skipped": "torch is not importable' "$tmp/bc.out"
check bench_cuda_without_torch_says_so $(( r + $? )) "exit $r: $(tail -n 1 "$tmp/bc.out")"
if [ -x "$DSQ_PYTHON" ] && "$DSQ_PYTHON" -c 'import torch' 2>/dev/null; then
  DSQ_BENCH_CUDA_FORCE=1 DSQ_CUDA_PAPER=$tmp/paper DSQ_PYTHON=$tmp/fakecuda \
    bench/gpu/bench-cuda.sh >"$tmp/bc.out" 2>"$tmp/bc.err"
  r=$?
  grep -Eq '^\{"bench": "torch_train", "device": "cuda", .*"layers": 1, "batch": 4, "microbatch": 2, "seq_len": 16, "dsq_tokens_per_s": 640, "torch_tokens_per_s": [0-9]+, "ratio": [0-9.]+,' "$tmp/bc.out"
  check bench_cuda_torch_ratio $(( r + $? )) "exit $r: $(tail -n 2 "$tmp/bc.out") $(tail -n 2 "$tmp/bc.err")"
else
  echo "gpu_check.sh: no torch in $DSQ_PYTHON: the ratio line is not checked" >&2
fi

# the NCCL stage's script: fewer than 2 GPUs (none here) is one SKIP line
# and exit 0, before it builds or runs anything
bench/gpu/nccl-check.sh "$tmp/nccl" >"$tmp/nccl.out" 2>"$tmp/nccl.err"
r=$?
[ $r = 0 ] && [ "$(cat "$tmp/nccl.out")" = "SKIP nccl: 0 GPU here, the NCCL stage needs 2" ] && [ ! -e "$tmp/nccl" ]
check nccl_stage_skips_below_2_gpus $? "exit $r: $(head -c 300 "$tmp/nccl.out")"
