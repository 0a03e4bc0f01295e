#!/usr/bin/env bash
# The CUDA backend without a GPU: kernels/cuda/*.cu compiled for the host
# through the CUDA emulation (tests/cuda/emu/run.sh) and checked against the
# CPU backend by tests/cuda/check_ops, every operation and the whole model,
# with device memory unreadable from the host outside kernels and copies.
# Its PASS/FAIL lines are this check's.  On a GPU, `make check-cuda` runs
# the same checks on the device.
set -u
cd "$(dirname "$0")/../.."
for t in g++ perl; do
  command -v $t >/dev/null || { echo "FAIL cuda_emu: $t not found (Debian: g++ perl)"; exit 1; }
done
OMP_NUM_THREADS=1 tests/cuda/emu/run.sh
