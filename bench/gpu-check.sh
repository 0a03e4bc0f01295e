#!/usr/bin/env bash
# The CUDA backend on a machine with an NVIDIA GPU, in one go (about 3
# minutes; the time limits of its three stages add up to 8): build
# (make -j$(nproc)), the CPU-vs-CUDA parity checks of every backend
# operation and of the whole model
# (tests/cuda/check_ops), then a short GPU benchmark (bench/cuda_bench.c:
# per-operation timings at the bert-base training shape, a training step,
# a forward and a sampling step).  The benchmark's JSON lines go to stdout
# (as bench/run expects); progress and, last, a summary table to stderr.
#
# Without a GPU it says so and exits 0 (bench/run runs every bench/*.sh).
# Where the build dependencies are missing (an image with CUDA but without
# jansson, zstd, utf8proc or OpenBLAS), it falls back to the binaries of
# `make gpu-prebuilt`, if they came along (device tool: carry
# build/gpu-prebuilt).  Logs go to $OUT when set (the device tool brings
# that folder back), else build/gpu-check.
#   bench/gpu-check.sh [--no-build] [B L]   (bench batch shape, 64 128)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-check}
mkdir -p "$out"
t0=$(date +%s)
say() { echo "gpu-check: $*" >&2; }
secs() { echo $(($(date +%s) - t0)); }
build=1
[ "${1:-}" = --no-build ] && { build=0; shift; }
B=${1:-64} L=${2:-128}

if ! nvidia-smi -L >/dev/null 2>&1 && [ ! -e /dev/nvidia0 ]; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi lists none, no /dev/nvidia0): nothing to check" >&2
  exit 0
fi
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
      head -n 1)
gpu=${gpu:-"(nvidia-smi did not answer; /dev/nvidia0 exists)"}
say "GPU: $gpu"
command -v nvcc >/dev/null 2>&1 || export PATH="/usr/local/cuda/bin:$PATH"
say "$(nvcc --version 2>/dev/null | tail -n 1)"
# cuBLAS where the loader may not look for it
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
nproc=$(nproc)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$nproc}

# ---- 1. build ------------------------------------------------------------
check_ops=build/tests/check_ops
bench=build/bench/cuda_bench
build_status="skipped (--no-build)"
if [ "$build" = 1 ]; then
  say "building: make -j$nproc (log: $out/build.log) ..."
  if timeout 240 make -j"$nproc" all "$check_ops" "$bench" >"$out/build.log" 2>&1; then
    build_status="ok in $(secs) s"
  elif timeout 60 make -j"$nproc" "$check_ops" "$bench" >>"$out/build.log" 2>&1; then
    build_status="tools FAILED, check_ops and cuda_bench ok, in $(secs) s (build.log)"
  else
    build_status="FAILED after $(secs) s (build.log)"
    grep -E 'error|fatal|No such file' "$out/build.log" | head -n 15 >&2
    if [ -x build/gpu-prebuilt/check_ops ]; then
      check_ops=build/gpu-prebuilt/check_ops
      bench=build/gpu-prebuilt/cuda_bench
      build_status="$build_status; using build/gpu-prebuilt"
    fi
  fi
fi
say "build: $build_status"
for b in "$check_ops" "$bench"; do
  if [ ! -x "$b" ]; then
    echo "gpu-check: $b missing: nothing to run (build: $build_status)"
    exit 1
  fi
  if ldd "$b" | grep -q 'libcublas.*not found'; then  # e.g. only the pip wheel's copy
    d=$(find /usr /opt -name 'libcublas.so.1[0-9]' 2>/dev/null | head -n 1)
    [ -n "$d" ] && export LD_LIBRARY_PATH="$(dirname "$d"):$LD_LIBRARY_PATH"
  fi
  if ldd "$b" | grep -q 'not found'; then
    say "$b: missing shared libraries:"; ldd "$b" | grep 'not found' >&2
  fi
done

# ---- 2. CPU-vs-CUDA parity ---------------------------------------------------
say "check_ops: every operation and the model, CPU vs CUDA (log: $out/check_ops.log) ..."
t1=$(date +%s)
DSQ_CUDA_SYNC=1 timeout 120 "$check_ops" >"$out/check_ops.log" 2>"$out/check_ops.err"
crc=$?
npass=$(grep -c '^PASS' "$out/check_ops.log")
nfail=$(grep -c '^FAIL' "$out/check_ops.log")
check_status="$npass passed, $nfail failed, exit $crc, $(($(date +%s) - t1)) s"
[ $crc -eq 124 ] && check_status="$check_status (TIMED OUT)"
grep -E '^(FAIL|SKIP)' "$out/check_ops.log" >&2
[ $crc -ne 0 ] && tail -n 15 "$out/check_ops.err" >&2
say "check_ops: $check_status"

# ---- 3. benchmark --------------------------------------------------------------
say "cuda_bench B $B L $L (log: $out/bench.jsonl) ..."
t2=$(date +%s)
env -u DSQ_CUDA_SYNC timeout 120 "$bench" all "$B" "$L" >"$out/bench.jsonl" 2>"$out/bench.err"
brc=$?
bench_status="exit $brc, $(($(date +%s) - t2)) s"
[ $brc -eq 124 ] && bench_status="$bench_status (TIMED OUT)"
[ $brc -ne 0 ] && tail -n 15 "$out/bench.err" >&2
nvidia-smi >"$out/nvidia-smi.txt" 2>&1

# ---- summary (stderr, last) -------------------------------------------------------
grep '^{' "$out/bench.jsonl"
{
  echo
  echo "== gpu-check summary =="
  echo "GPU:       $gpu"
  echo "build:     $build_status"
  echo "check_ops: $check_status"
  grep -E '^FAIL' "$out/check_ops.log" | head -n 20 | sed 's/^/  /'
  echo "bench:     $bench_status"
  sed -n '/^cuda_bench (fp32)/,$p' "$out/bench.jsonl"
  echo "total:     $(secs) s; logs in $out"
} >&2
[ $crc -eq 0 ] && [ $brc -eq 0 ]
