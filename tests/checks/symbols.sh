#!/usr/bin/env bash
# libdsq.a, the library make install installs and the tools link, defines
# no global symbol outside the API's names: dsq_* and DSQ_* (and the
# names tools derive from them: .gomp_critical_user_dsq_*, GCC's for an
# OpenMP critical section the code names dsq_..., and, in a SAN=1 build,
# AddressSanitizer's __odr_asan.dsq_* beside each global variable).  A
# file's helpers are static; the backends' cpu_* and cu_* are made local
# to their member of the archive (the Makefile: ld -r, then objcopy); the
# unit tests link the internal archive, build/libdsq-internal.a.  On
# failure the offenders are listed.  A self-test plants an offender (and
# an API-named symbol) in a copy.
set -u
cd "$(dirname "$0")/../.."
lib=lib/libdsq.a
[ -n "${DSQ_BUILD:-}" ] && [ -f "$DSQ_BUILD/lib/libdsq.a" ] && lib=$DSQ_BUILD/lib/libdsq.a  # SAN=1
for t in nm ar "${CC:-cc}"; do
  command -v "$t" >/dev/null || { echo "FAIL symbols: $t not found (Debian: binutils gcc)"; exit 1; }
done
[ -f "$lib" ] || { echo "FAIL symbols: $lib not built (make)"; exit 1; }

# offenders ARCHIVE: the global symbols it defines outside the API's names
offenders() {
  nm -g --defined-only "$1" | awk 'NF == 3 { print $3 }' |
    grep -Ev '^((__odr_asan\.)?(dsq_|DSQ_)|\.gomp_critical_user_dsq_)' | sort -u
}

bad=$(offenders "$lib")
n=$(nm -g --defined-only "$lib" | awk 'NF == 3' | wc -l)
if [ -z "$bad" ] && [ "$n" -gt 0 ]; then
  echo "PASS symbols: $lib defines only dsq_* / DSQ_* globals ($n)"
else
  echo "FAIL symbols: $lib defines $(printf '%s\n' "$bad" | grep -c .) global symbols outside dsq_* / DSQ_*:"\
    "$(printf '%s\n' "$bad" | head -n 40 | tr '\n' ' ')"
fi

# ---- self-test: a copy of the archive with a planted offender ---------------
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
printf 'int planted_offender(void) { return 1; }\nint dsq_planted_api(void) { return 2; }\n' > "$t/p.c"
cp "$lib" "$t/lib.a"
if "${CC:-cc}" -c -o "$t/planted.o" "$t/p.c" && ar rcs "$t/lib.a" "$t/planted.o"; then
  got=$(offenders "$t/lib.a" | grep -vxF -f <(printf '%s\n' "$bad"))
  if [ "$got" = planted_offender ]; then
    echo "PASS symbols self-test: a planted planted_offender is found, dsq_planted_api is not"
  else
    echo "FAIL symbols self-test: found '$(echo $got)' instead of planted_offender"
  fi
else
  echo "FAIL symbols self-test: could not build the planted object"
fi
