#!/usr/bin/env bash
# make install puts binaries, library, headers and man pages under PREFIX
# (and DESTDIR), and the installed tools run.  The headers are the public
# ones, include/dsq/*.h, and no private header of lib/ or kernels/; a
# program that includes every one of them compiles against the installed
# tree alone and links with the installed library.
set -u
cd "$(dirname "$0")/../.."
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
if make -s install PREFIX=/usr/local DESTDIR="$t/root" >"$t/log" 2>&1; then
  echo "PASS make install"
else
  echo "FAIL make install: $(tail -n 3 "$t/log")"; exit 1
fi
p=$t/root/usr/local
for src in tools/dsq-*.c; do
  n=$(basename "$src" .c)
  if "$p/bin/$n" --version >/dev/null 2>&1; then echo "PASS installed $n runs"; else echo "FAIL installed $n: missing or does not run"; fi
  [ -f "$p/share/man/man1/$n.1" ] && echo "PASS man1/$n.1" || echo "FAIL man1/$n.1 not installed"
done
for m in man5/dsq-stream.5 man7/dsq.7; do
  [ -f "$p/share/man/$m" ] && echo "PASS $m" || echo "FAIL $m not installed"
done
[ -f "$p/lib/libdsq.a" ] && [ -f "$p/include/dsq/stream.h" ] && echo "PASS library and headers" || echo "FAIL library or headers not installed"
# Exactly the public headers: each of include/dsq/, none of lib/ or kernels/.
want=$(cd include/dsq && ls *.h)
have=$(cd "$p/include/dsq" 2>/dev/null && ls)
if [ "$have" = "$want" ]; then
  echo "PASS installed headers are include/dsq/*.h ($(wc -w <<<"$want"))"
else
  echo "FAIL installed headers differ from include/dsq/*.h: $(diff <(echo "$want") <(echo "$have") | grep '^[<>]' | tr '\n' ' ')"
fi
private=$(find lib kernels -name '*.h' -printf '%f\n' | sort)
leaked=$(comm -12 <(echo "$private") <(echo "$have"))
[ -n "$private" ] && [ -z "$leaked" ] && echo "PASS no private header installed ($(wc -w <<<"$private") kept in lib/ and kernels/)" ||
  echo "FAIL private headers installed: $leaked"
# Each public header stands alone (it includes what it uses).
bad=
for h in $have; do
  printf '#include <dsq/%s>\n' "$h" |
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -I"$p/include" -fsyntax-only -x c - 2>/dev/null || bad="$bad $h"
done
[ -z "$bad" ] && echo "PASS every installed header compiles on its own" ||
  echo "FAIL installed headers that do not compile on their own:$bad"
# A program using every public header, built against the installed tree
# only (-I PREFIX/include, nothing of the source tree), runs an operation
# of the CPU backend through the public backend table.
{ for h in $have; do echo "#include <dsq/$h>"; done
  cat <<'END'
#include <stdio.h>
int main(void) {
    dsq_backend *be = dsq_backend_cpu();
    float x[4] = {1, 2, 3, 4}, s = 0;
    float *d = be->alloc(be, sizeof x), *o = be->alloc(be, sizeof s);
    be->upload(be, d, x, sizeof x);
    be->sumsq(be, o, d, 4);
    be->download(be, &s, o, sizeof s);
    be->free(be, d);
    be->free(be, o);
    be->destroy(be);
    printf("%g\n", s);
    return s == 30.0f ? 0 : 1;
}
END
} > "$t/api.c"
link=$(make -s --no-print-directory print-link 2>/dev/null | tail -n 1)
if ${CC:-cc} -std=c11 -Wall -Wextra -Werror -I"$p/include" -o "$t/api" "$t/api.c" "$p/lib/libdsq.a" \
     $link >"$t/cc.log" 2>&1 && [ "$("$t/api")" = 30 ]; then
  echo "PASS a program using every public header builds against the installed tree and runs"
else
  echo "FAIL a program using the public headers: $(grep -m 3 -E 'error|undefined' "$t/cc.log" | tr '\n' ' ')"
fi
# Every installed page renders with man -l (the way a user reads it before
# MANPATH knows it), names itself, and none is missing.
n=0
for f in "$p"/share/man/man[157]/*; do
  [ -f "$f" ] || continue; n=$((n + 1))
  name=$(basename "$f"); name=${name%.*}
  out=$(MANWIDTH=80 man -l "$f" 2>"$t/err"); rc=$?
  if [ $rc -eq 0 ] && [ ! -s "$t/err" ] && grep -q '^NAME' <<<"$out" && grep -qi "^ *$name " <<<"$out"; then
    echo "PASS man -l $(basename "$f")"
  else
    echo "FAIL man -l $(basename "$f"): exit $rc $(head -c 200 "$t/err")"
  fi
done
want=$(ls man/*.[157] | wc -l)
[ "$n" -eq "$want" ] && echo "PASS all $want man pages installed" || echo "FAIL $n of $want man pages installed"
