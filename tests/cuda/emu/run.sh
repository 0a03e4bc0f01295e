#!/usr/bin/env bash
# Runs tests/cuda/check_ops against the CUDA backend compiled for the HOST
# through the emulation in cuda_emu.h: kernels/cuda/*.cu with each launch
# `k<<<cfg>>>(args)` rewritten to `emu_launch(k, cfg, args)` and
# `extern __shared__ T a[];` to a pointer to the block's dynamic shared
# memory.  Checks the backend's logic (indexing, reductions, launch shapes,
# the cuBLAS mapping) without a GPU; slow (one fiber per thread).
#   tests/cuda/emu/run.sh [ops|model]        check_ops (all by default)
#   tests/cuda/emu/run.sh bench ARGS...      bench/cuda_bench ARGS (a smoke
#                                            run: use small sizes)
#   tests/cuda/emu/run.sh paper ARGS...      bench/cuda_paper ARGS (smoke run:
#                                            paper 1 4 16 64 2)
#   tests/cuda/emu/run.sh tools              tools/dsq-* linked against the
#                                            emulation, in build/emu/tools
#                                            (their --device cuda runs here)
# Needs the normal build first (make): it links the library's C objects
# (build/obj/lib/ and build/obj/kernels/cpu/).  Needs no nvcc: the .cu
# files are compiled by g++.  With MPI (mpicc; not NO_MPI=1 or
# DSQ_EMU_NCCL=0) the backend is built with NCCL, emulated over MPI by
# nccl_emu.cpp: `mpirun -np 2 build/emu/tools/dsq-train --device cuda`
# sums its gradients through the NCCL calls.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${DSQ_EMU_OUT:-build/emu}  # DSQ_EMU_OUT: another folder (checks that run side by side)
mkdir -p "$out"
CXX=${CXX:-g++}
CC=${CC:-cc}
incs=()  # the Makefile's include path: include/dsq, kernels and every source folder
for d in include/dsq kernels lib/*/ kernels/*/; do [ -d "$d" ] && incs+=("-I${d%/}"); done
flags=(-O1 -g -std=c++17 -Wall -Wno-unused-function -D_GNU_SOURCE
       -Itests/cuda/emu/include -Itests/cuda/emu "${incs[@]}")
mpi=()  # MPI's compile flags when the emulation has NCCL
if command -v mpicc >/dev/null && [ "${NO_MPI:-}" != 1 ] && [ "${DSQ_EMU_NCCL:-1}" != 0 ]; then
  read -r -a mpi <<<"$(mpicc --showme:compile)"
  flags+=(-DDSQ_HAVE_NCCL)
fi
rewrite() {
  perl -0pe 's/(\b\w+(?:<[^<>;]*>)?)<<<(.*?)>>>\(/emu_launch($1, $2, /gs;
             s/extern __shared__ (\w+) (\w+)\[\];/$1 *$2 = ($1 *)emu_dynamic_smem;/g' "$1"
}
for h in kernels/cuda/*.h; do rewrite "$h" > "$out/$(basename "$h")"; done
objs=()
for f in kernels/cuda/*.cu; do
  b=$(basename "$f" .cu)
  rewrite "$f" > "$out/$b.cpp"
  "$CXX" "${flags[@]}" -include cuda_emu.h -c -o "$out/$b.o" "$out/$b.cpp"
  objs+=("$out/$b.o")
done
"$CXX" "${flags[@]}" -c -o "$out/cuda_emu.o" tests/cuda/emu/cuda_emu.cpp
if [ ${#mpi[@]} -gt 0 ]; then
  "$CXX" "${flags[@]}" "${mpi[@]}" -c -o "$out/nccl_emu.o" tests/cuda/emu/nccl_emu.cpp
  objs+=("$out/nccl_emu.o")
fi
# the library's C objects, less kernels/cuda/none.o (the stand-in of a
# build without the backend)
libobjs=()
for o in build/obj/lib/*/*.o build/obj/kernels/cpu/*.o; do [ -f "$o" ] && libobjs+=("$o"); done
link() {  # output, main sources...
  local o=$1; shift
  "$CC" -O2 -g -std=c11 -D_GNU_SOURCE -DDSQ_HAVE_CUDA -fopenmp "${incs[@]}" -Itests/cuda \
    -o "$o" "$@" "${objs[@]}" "$out/cuda_emu.o" "${libobjs[@]}" \
    -fopenmp -ljansson -lzstd -lutf8proc -lnettle -lopenblas -lm -lstdc++ \
    $(command -v mpicc >/dev/null && [ "${NO_MPI:-}" != 1 ] && mpicc --showme:link)
}
if [ "${1:-}" = bench ] || [ "${1:-}" = paper ]; then
  b=cuda_$1; shift
  link "$out/$b" "bench/$b.c"
  echo "emu: built $out/$b" >&2
  exec "$out/$b" "$@"
fi
if [ "${1:-}" = tools ]; then
  mkdir -p "$out/tools"
  for t in tools/dsq-*.c; do link "$out/tools/$(basename "$t" .c)" "$t"; done
  echo "emu: built $out/tools/dsq-*" >&2
  exit 0
fi
link "$out/check_ops" tests/cuda/*.c
echo "emu: built $out/check_ops" >&2
exec "$out/check_ops" "$@"
