#!/usr/bin/env bash
# make install puts binaries, library, headers and man pages under PREFIX
# (and DESTDIR), and the installed tools run.
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
