#!/usr/bin/env bash
# The CUDA backend on a machine with an NVIDIA GPU, in one go, within a
# global time budget (DSQ_GPU_CHECK_BUDGET seconds, default 560: the
# device tool allows 600 per command), stage by stage, each with its own
# time limit, cut to what is left of the budget:
#   build  make -j$(nproc): the tools, check_ops, cuda_bench, cuda_paper (240 s)
#   ops    tests/cuda/check_ops: every backend operation and the whole
#          model, CPU vs CUDA (120 s)
#   cli    bench/gpu/cli-check.sh: dsq-train 200 steps cpu vs cuda (losses
#          within 1e-3), cuda determinism, dsq-sample ddpm and dpm++ cpu vs
#          cuda on the tiny fixture; bf16 training cpu vs cuda (200 s)
#   nccl   bench/gpu/nccl-check.sh: dsq-train on 2 GPUs with NCCL against 1
#          (losses within 1e-3, config says nccl; tokens/s of both as a JSON
#          line); one SKIP line with fewer than 2 GPUs (150 s)
#   bench  bench/cuda_bench (per-operation timings at the bert-base training
#          shape, model steps) (100 s), then bench/gpu/bench-cuda.sh (make
#          bench-cuda: training throughput and MFU at the paper's shape,
#          decoding rates, the PyTorch reference on the GPU) (rest, <= 200 s)
# JSON lines of the benchmarks go to stdout (as bench/run expects);
# progress and, last, a summary table with a PASS / FAIL line per check to
# stderr.  Exit 0 when every stage that ran passed.
#
# Without a GPU it says so and exits 0 (bench/run runs every bench/*.sh),
# unless DSQ_GPU_CHECK_FORCE=1: then only the cli stage runs (and the
# build stage if --stages names it), with the CPU on both sides (--device
# cpu against --device cpu), to check the script's plumbing on a machine
# without GPU; its summary says FORCED and that it tells nothing about a
# GPU.
# Where the build dependencies are missing (an image with CUDA but without
# jansson, zstd, utf8proc or OpenBLAS), it falls back to the binaries of
# `make gpu-prebuilt`, if they came along (device tool: carry
# build/gpu-prebuilt.tgz, unpacked here, or the folder build/gpu-prebuilt).
# Logs go to build/gpu-check (DSQ_GPU_CHECK_WORK); with $OUT set (the
# device tool brings that folder back, 8 files at most), summary.txt, the
# check logs, the benchmarks' JSON, the training runs' losses and the
# stderr tails are copied there.
#   bench/gpu-check.sh [--no-build] [--stages LIST] [B L]
#     LIST: comma-separated among build,ops,cli,nccl,bench (default all);
#     B L: cuda_bench's batch shape (64 128)
set -uo pipefail
cd "$(dirname "$0")/.."
# Logs and runs in a work folder; when $OUT is set (the device tool brings
# back at most 8 files from it), the 8 that matter are copied there at the end.
out=${DSQ_GPU_CHECK_WORK:-build/gpu-check}
ret=${OUT:-}
mkdir -p "$out"
rm -rf "$out/cli"  # nothing stale from an earlier run
rm -f "$out"/{build.log,check_ops.log,check_ops.err,cli.txt,cli.err,nccl.txt,nccl.err,bench.jsonl,bench.err} \
  "$out"/{bench-cuda.jsonl,bench-cuda.err,nvidia-smi.txt,summary.txt}
t0=$(date +%s)
budget=${DSQ_GPU_CHECK_BUDGET:-560}
deadline=$((t0 + budget))
say() { echo "gpu-check: $*" >&2; }
secs() { echo $(($(date +%s) - t0)); }
# limit N: N seconds, or what is left of the budget less 10 s for the summary
limit() {
  local l=$1 r=$((deadline - $(date +%s) - 10))
  [ "$r" -lt "$l" ] && l=$r
  echo $((l < 0 ? 0 : l))
}
stages=build,ops,cli,nccl,bench
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) stages=${stages//build/}; shift ;;
    --stages) stages=$2; shift 2 ;;
    *) break ;;
  esac
done
B=${1:-64} L=${2:-128}
want() { case ",$stages," in *",$1,"*) return 0 ;; esac; return 1; }

forced=0
if ! nvidia-smi -L >/dev/null 2>&1 && [ ! -e /dev/nvidia0 ]; then
  if [ "${DSQ_GPU_CHECK_FORCE:-0}" != 1 ]; then
    echo "gpu-check: no NVIDIA GPU here (nvidia-smi lists none, no /dev/nvidia0): nothing to check" >&2
    exit 0
  fi
  forced=1
  case ",$stages," in *,build,*) [ "$stages" = build,ops,cli,nccl,bench ] && stages=cli || stages=build,cli ;;
                      *) stages=cli ;; esac
  say "FORCED without a GPU (DSQ_GPU_CHECK_FORCE=1): stages $stages, cpu against cpu"
fi
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
      head -n 1)
gpu=${gpu:-"(nvidia-smi did not answer; /dev/nvidia0 exists)"}
[ $forced = 1 ] && gpu="NONE (forced mode)"
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
paper=build/bench/cuda_paper
tools=tools
build_status="skipped"
if want build; then
  say "building: make -j$nproc (log: $out/build.log) ..."
  if timeout "$(limit 240)" make -j"$nproc" all "$check_ops" "$bench" "$paper" >"$out/build.log" 2>&1; then
    build_status="ok in $(secs) s"
  elif timeout "$(limit 60)" make -j"$nproc" "$check_ops" "$bench" "$paper" >>"$out/build.log" 2>&1; then
    build_status="tools FAILED, check_ops, cuda_bench and cuda_paper ok, in $(secs) s (build.log)"
  else
    build_status="FAILED after $(secs) s (build.log)"
    grep -E 'error|fatal|No such file' "$out/build.log" | head -n 15 >&2
    if [ ! -x build/gpu-prebuilt/check_ops ] && [ -f build/gpu-prebuilt.tgz ]; then
      tar -C build -xzf build/gpu-prebuilt.tgz || say "build/gpu-prebuilt.tgz: cannot unpack"
    fi
    if [ -x build/gpu-prebuilt/check_ops ]; then
      check_ops=build/gpu-prebuilt/check_ops
      bench=build/gpu-prebuilt/cuda_bench
      paper=build/gpu-prebuilt/cuda_paper
      [ -x build/gpu-prebuilt/tools/dsq-train ] && tools=build/gpu-prebuilt/tools
      build_status="$build_status; using build/gpu-prebuilt"
    fi
  fi
fi
say "build: $build_status"
for b in "$check_ops" "$bench" "$paper" "$tools/dsq-train" "$tools/dsq-sample"; do
  [ -x "$b" ] || continue
  if ldd "$b" | grep -q 'libcublas.*not found'; then  # e.g. only the pip wheel's copy
    d=$(find /usr /opt -name 'libcublas.so.1[0-9]' 2>/dev/null | head -n 1)
    [ -n "$d" ] && export LD_LIBRARY_PATH="$(dirname "$d"):$LD_LIBRARY_PATH"
  fi
  if ldd "$b" | grep -q 'not found'; then
    say "$b: missing shared libraries:"; ldd "$b" | grep 'not found' >&2
  fi
done
# run_stage NAME LIMIT CMD...: runs CMD under the stage's limit; sets st_rc
# (124 timed out, 125 not run: missing binary or no time left) and st_s
run_stage() {
  local name=$1 lim t1; lim=$(limit "$2"); shift 2
  st_s=0
  if [ ! -x "$1" ]; then st_rc=125; say "$name: $1 missing"; return; fi
  if [ "$lim" -lt 5 ]; then st_rc=125; say "$name: no time left"; return; fi
  t1=$(date +%s)
  timeout "$lim" "$@"
  st_rc=$?
  st_s=$(($(date +%s) - t1))
}
status_of() {  # rc seconds
  case $1 in
    0) echo "ok, $2 s" ;;
    124) echo "TIMED OUT after $2 s" ;;
    125) echo "NOT RUN (missing binary or no time left)" ;;
    *) echo "FAILED (exit $1), $2 s" ;;
  esac
}
overall=0

# ---- 2. CPU-vs-CUDA parity ---------------------------------------------------
check_status="skipped"
if want ops; then
  say "check_ops: every operation and the model, CPU vs CUDA (log: $out/check_ops.log) ..."
  DSQ_CUDA_SYNC=1 run_stage check_ops 120 "$check_ops" >"$out/check_ops.log" 2>"$out/check_ops.err"
  npass=$(grep -c '^PASS' "$out/check_ops.log")
  nfail=$(grep -c '^FAIL' "$out/check_ops.log")
  check_status="$npass passed, $nfail failed; $(status_of $st_rc $st_s)"
  grep -E '^(FAIL|SKIP)' "$out/check_ops.log" >&2
  [ $st_rc -ne 0 ] && { tail -n 15 "$out/check_ops.err" >&2; overall=1; }
  say "check_ops: $check_status"
fi

# ---- 3. the tools: training and decoding, cpu vs cuda -------------------------------
cli_status="skipped"
if want cli; then
  dev=cuda
  [ $forced = 1 ] && dev=cpu
  say "cli: dsq-train and dsq-sample, cpu vs $dev (log: $out/cli.txt, runs in $out/cli) ..."
  DSQ_BIN=$PWD/$tools DSQ_CLI_DEVICE=$dev run_stage cli 200 bench/gpu/cli-check.sh "$out/cli" \
    >"$out/cli.txt" 2>"$out/cli.err"
  cli_status="$(grep -c '^PASS' "$out/cli.txt") passed, $(grep -c '^FAIL' "$out/cli.txt") failed; $(status_of $st_rc $st_s)"
  [ $st_rc -ne 0 ] && { tail -n 10 "$out/cli.err" >&2; overall=1; }
  say "cli: $cli_status"
fi

# ---- 4. two GPUs, NCCL ----------------------------------------------------------
nccl_status="skipped"
: >"$out/nccl.txt"
if want nccl; then
  say "nccl: dsq-train on 2 GPUs with NCCL vs 1 (log: $out/nccl.txt, runs in $out/nccl) ..."
  DSQ_BIN=$PWD/$tools run_stage nccl 150 bench/gpu/nccl-check.sh "$out/nccl" \
    >"$out/nccl.txt" 2>"$out/nccl.err"
  if grep -q '^SKIP' "$out/nccl.txt"; then nccl_status=$(grep -m 1 '^SKIP' "$out/nccl.txt")
  else
    nccl_status="$(grep -c '^PASS' "$out/nccl.txt") passed, $(grep -c '^FAIL' "$out/nccl.txt") failed; $(status_of $st_rc $st_s)"
    [ $st_rc -ne 0 ] && { tail -n 10 "$out/nccl.err" >&2; overall=1; }
  fi
  say "nccl: $nccl_status"
fi

# ---- 5. benchmarks --------------------------------------------------------------
bench_status="skipped" paper_status="skipped"
: >"$out/bench.jsonl"
: >"$out/bench-cuda.jsonl"
if want bench; then
  say "cuda_bench B $B L $L (log: $out/bench.jsonl) ..."
  unset DSQ_CUDA_SYNC  # timings without a sync after each operation
  run_stage cuda_bench 100 "$bench" all "$B" "$L" >"$out/bench.jsonl" \
    2>"$out/bench.err"
  bench_status=$(status_of $st_rc $st_s)
  [ $st_rc -ne 0 ] && { tail -n 15 "$out/bench.err" >&2; overall=1; }
  say "bench-cuda: the paper's shape (log: $out/bench-cuda.jsonl) ..."
  DSQ_CUDA_PAPER=$paper run_stage bench-cuda 200 bench/gpu/bench-cuda.sh \
    >"$out/bench-cuda.jsonl" 2>"$out/bench-cuda.err"
  paper_status=$(status_of $st_rc $st_s)
  [ $st_rc -ne 0 ] && { tail -n 15 "$out/bench-cuda.err" >&2; overall=1; }
fi
nvidia-smi >"$out/nvidia-smi.txt" 2>&1

# ---- summary (stderr, last) -------------------------------------------------------
grep -h '^{' "$out/nccl.txt" "$out/bench.jsonl" "$out/bench-cuda.jsonl"
{
  echo
  echo "== gpu-check summary =="
  [ $forced = 1 ] && echo "MODE:      FORCED without a GPU: cpu compared with cpu; says NOTHING about CUDA"
  echo "GPU:       $gpu"
  echo "stages:    $stages"
  echo "build:     $build_status"
  echo "check_ops: $check_status"
  grep -E '^FAIL' "$out/check_ops.log" 2>/dev/null | head -n 20 | sed 's/^/  /'
  echo "cli:       $cli_status"
  grep -E '^(PASS|FAIL)' "$out/cli.txt" 2>/dev/null | sed 's/^/  /'
  echo "nccl:      $nccl_status"
  grep -E '^(PASS|FAIL|\{)' "$out/nccl.txt" 2>/dev/null | sed 's/^/  /'
  echo "bench:     $bench_status"
  sed -n '/^cuda_bench (fp32)/,$p' "$out/bench.jsonl"
  echo "bench-cuda: $paper_status"
  sed 's/^/  /' "$out/bench-cuda.jsonl"
  echo "total:     $(secs) s of a $budget s budget; logs in $out"
} >"$out/summary.txt"
cat "$out/summary.txt" >&2
if [ -n "$ret" ]; then
  mkdir -p "$ret"
  for f in summary.txt check_ops.log cli.txt bench.jsonl bench-cuda.jsonl nvidia-smi.txt; do
    [ -f "$out/$f" ] && cp "$out/$f" "$ret/"
  done
  for f in "$out"/cli/*/log.jsonl; do  # every run's log, one file
    [ -f "$f" ] && sed "s|^|$(basename "$(dirname "$f")") |" "$f"
  done >"$ret/cli-losses.txt"
  for f in build.log check_ops.err cli.err nccl.err bench.err bench-cuda.err; do
    [ -s "$out/$f" ] && { echo "== $f (last 40 lines)"; tail -n 40 "$out/$f"; }
  done >"$ret/stderr.txt"
fi
exit $overall
