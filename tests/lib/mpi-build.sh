# Sourced by the MPI checks: compiles an MPI build of libdsq and the named
# tools with mpicc into $mpi_out (default $DSQ_BUILD/mpi), so that they
# test MPI even when the regular build was made before mpicc was installed.
# Reuses up-to-date objects.  Prints "FAIL <check>: ..." and exits when
# mpicc/mpirun are missing or the build fails.
#   mpi_build CHECK-NAME TOOL...
mpi_build() {
  local check=$1 tool f o ok=1; shift
  mpi_out="${DSQ_BUILD:-$PWD/build}/mpi"
  for tool in mpicc mpirun; do
    if ! command -v $tool >/dev/null; then
      echo "FAIL $check: $tool not found (Debian: libopenmpi-dev openmpi-bin)"; exit 1
    fi
  done
  local cflags=(-O2 -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp -Ilib -DDSQ_HAVE_MPI)
  mkdir -p "$mpi_out/obj"
  local pids=()
  for f in lib/*.c; do
    o="$mpi_out/obj/$(basename "$f" .c).o"
    if [ ! "$o" -nt "$f" ] || [ -n "$(find lib -name '*.h' -newer "$o" | head -n 1)" ]; then
      mpicc "${cflags[@]}" -c "$f" -o "$o" &
      pids+=($!)
    fi
  done
  for f in "${pids[@]}"; do wait "$f" || ok=0; done
  if [ $ok = 1 ]; then
    # the archive again only when an object changed (checks share it)
    if [ ${#pids[@]} -gt 0 ] || [ ! -f "$mpi_out/libdsq.a" ]; then
      rm -f "$mpi_out/libdsq.a" && ar rcs "$mpi_out/libdsq.a" "$mpi_out"/obj/*.o || ok=0
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
