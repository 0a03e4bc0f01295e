#!/usr/bin/env bash
# Man pages render without warnings, every tool has one, and every long
# option a tool's --help lists appears in its man page.
set -u
cd "$(dirname "$0")/../.."
for m in man/*.[157]; do
  out=$(groff -man -ww -z "$m" 2>&1)
  if [ -z "$out" ]; then echo "PASS groff $m"; else echo "FAIL groff $m: $out"; fi
done
for src in tools/dsq-*.c; do
  t=$(basename "$src" .c)
  page=man/$t.1
  if [ ! -f "$page" ]; then echo "FAIL man $t: no $page"; continue; fi
  help=$("$DSQ_BIN/$t" --help 2>&1) || { echo "FAIL help $t: --help exited non-zero"; continue; }
  # The page's text with roff escapes for hyphens removed.
  text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$page")
  missing=()
  for opt in $(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u); do
    grep -qE -- "(^|[^a-z-])$opt([^a-z0-9-]|$)" <<<"$text" || missing+=("$opt")
  done
  if [ ${#missing[@]} -eq 0 ]; then echo "PASS options $t"; else echo "FAIL options $t: not in $page: ${missing[*]}"; fi
done
