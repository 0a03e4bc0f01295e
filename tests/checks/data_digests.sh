#!/usr/bin/env bash
# The shipped data (data/) is what data/README.md describes: every file in
# its table exists with the md5 and byte count given there, and every file
# under data/ (but the README) is in the table.  The committed tokenizer and
# metric fixtures were generated from these bytes.
set -u
cd "$(dirname "$0")/../.."
readme=data/README.md
rows=$(grep -E '^\| `[^`]+` \|' "$readme")
[ -n "$rows" ] || { echo "FAIL data_digests: no table rows in $readme"; exit 1; }
listed=()
while IFS='|' read -r _ file _ bytes md5 _; do
  file=$(echo "$file" | tr -d ' `'); md5=$(echo "$md5" | tr -d ' `'); bytes=$(echo "$bytes" | tr -d ' ,')
  listed+=("data/$file")
  if [ ! -f "data/$file" ]; then echo "FAIL data_digests: data/$file is in $readme but missing"; continue; fi
  got=$(md5sum < "data/$file" | cut -c1-32); size=$(wc -c < "data/$file")
  if [ "$got" = "$md5" ] && [ "$size" = "$bytes" ]; then
    echo "PASS data_digest $file"
  else
    echo "FAIL data_digest $file: md5 $got, $size bytes; $readme says $md5, $bytes bytes"
  fi
done <<< "$rows"
unlisted=$(find data -type f ! -name README.md | sort | while read -r f; do
  printf '%s\n' "${listed[@]}" | grep -qxF "$f" || echo "$f"; done)
if [ -z "$unlisted" ]; then echo "PASS data_all_listed"
else echo "FAIL data_all_listed: not in $readme: $unlisted"; fi
