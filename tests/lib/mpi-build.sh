# Sourced by the MPI checks: compiles an MPI build of libdsq and the named
# tools with mpicc into $mpi_out (default $DSQ_BUILD/mpi), so that they
# test MPI even when the regular build was made before mpicc was installed.
# The library's C sources are the Makefile's without CUDA: every .c under
# lib/ and kernels/ (the CPU backend, and the CUDA stand-in that says the
# build has no CUDA); every folder that holds headers is on the include
# path.  Reuses up-to-date objects.  Prints "FAIL <check>: ..." and exits
# when mpicc/mpirun are missing or the build fails.
#   mpi_build CHECK-NAME TOOL...
mpi_build() {
  local check=$1 tool f o d ok=1 rebuild=0; shift
  mpi_out="${DSQ_BUILD:-$PWD/build}/mpi"
  for tool in mpicc mpirun; do
    if ! command -v $tool >/dev/null; then
      echo "FAIL $check: $tool not found (Debian: libopenmpi-dev openmpi-bin)"; exit 1
    fi
  done
  local incs=() srcs=() objs=()
  for d in include/dsq kernels lib/*/ kernels/*/; do
    [ -d "$d" ] && incs+=("-I${d%/}")
  done
  for f in lib/*/*.c kernels/*/*.c; do [ -f "$f" ] && srcs+=("$f"); done
  local cflags=(-O2 -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp "${incs[@]}" -DDSQ_HAVE_MPI)
  local pids=()
  for f in "${srcs[@]}"; do
    o="$mpi_out/obj/${f%.c}.o"
    objs+=("$o")
    if [ ! "$o" -nt "$f" ] || [ -n "$(find include lib kernels -name '*.h' -newer "$o" | head -n 1)" ]; then
      mkdir -p "$(dirname "$o")"
      mpicc "${cflags[@]}" -c "$f" -o "$o" &
      pids+=($!)
    fi
  done
  for f in "${pids[@]}"; do wait "$f" || ok=0; done
  if [ $ok = 1 ]; then
    # the archive again only when an object or the list of sources changed
    # (checks share it)
    [ ${#pids[@]} -gt 0 ] || [ ! -f "$mpi_out/libdsq.a" ] && rebuild=1
    [ "$(printf '%s\n' "${objs[@]}")" = "$(cat "$mpi_out/objs.txt" 2>/dev/null)" ] || rebuild=1
    if [ $rebuild = 1 ]; then
      { rm -f "$mpi_out/libdsq.a" && ar rcs "$mpi_out/libdsq.a" "${objs[@]}" &&
        printf '%s\n' "${objs[@]}" > "$mpi_out/objs.txt"; } || ok=0
    fi
    for tool in "$@"; do
      [ $ok = 1 ] || break
      if [ ! "$mpi_out/$tool" -nt "$mpi_out/libdsq.a" ] || [ ! "$mpi_out/$tool" -nt "tools/$tool.c" ]; then
        mpicc "${cflags[@]}" -o "$mpi_out/$tool" "tools/$tool.c" "$mpi_out/libdsq.a" \
          -ljansson -lzstd -lutf8proc -lnettle -lopenblas -lm || ok=0
      fi
    done
  fi
  if [ $ok = 0 ]; then echo "FAIL $check: the MPI build failed"; exit 1; fi
  echo "PASS ${check}_build"
}
