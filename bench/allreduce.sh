#!/usr/bin/env bash
# The host-MPI gradient sum at bert-base size (91M floats, DiffuSeq's
# model) between 2 local ranks: bench/allreduce_bench.c under mpirun, one
# JSON line with its median time against a memcpy of the same buffer
# (doc/multi-gpu.md quotes it).  Needs mpicc and mpirun (one line on
# stderr and exit 0 without them); 1.1 GB of memory.
#   bench/allreduce.sh [N [REPS]]
set -uo pipefail
cd "$(dirname "$0")/.."
for t in mpicc mpirun; do
  command -v $t >/dev/null || { echo "bench/allreduce.sh: no $t: nothing measured" >&2; exit 0; }
done
. tests/lib/mpi-build.sh
mpi_build allreduce >/dev/null
incs=(); for d in include/dsq lib/base; do incs+=("-I$d"); done
mpicc -O2 -std=c11 -D_GNU_SOURCE -DDSQ_HAVE_MPI "${incs[@]}" -o "$mpi_out/allreduce_bench" \
  bench/allreduce_bench.c "$mpi_out/libdsq.a" -fopenmp -ljansson -lzstd -lutf8proc -lnettle -lopenblas -lm ||
  { echo "bench/allreduce.sh: build failed" >&2; exit 1; }
OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 "$mpi_out/allreduce_bench" "${1:-91000000}" "${2:-5}"
