#!/usr/bin/env bash
# make demo: dsq on the shipped data, on the CPU, with what the tools can
# do today. It says what it did and where the outputs are.
#   QUICK=1  a smoke test on a slice of the data
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DSQ_BIN:-$PWD/tools}
export PATH="$BIN:$PATH"
OUT=${DEMO_OUT:-$PWD/demo-out}
VOCAB=data/vocab/bert-base-uncased.txt
start=$(date +%s.%N)
rm -rf "$OUT"; mkdir -p "$OUT"

train=data/qqp/train.jsonl dev=data/qqp/dev.jsonl
if [ "${QUICK:-0}" = 1 ]; then
  head -n 200 "$train" > "$OUT/train.jsonl"; train=$OUT/train.jsonl
  echo "QUICK=1: 200 training pairs"
fi

step() { printf '\n== %s\n' "$*"; }

step "1. Tokenize QQP with the BERT vocabulary (seq_len 128, packed as DiffuSeq does)"
dsq-tokenize -v "$VOCAB" -L 128 -o "$OUT/train.dsq" "$train"
dsq-tokenize -v "$VOCAB" -L 128 -o "$OUT/dev.dsq" "$dev"
ls -l "$OUT"/*.dsq | awk '{printf "   %s  %d bytes\n", $9, $5}'

step "2. Decode the dev stream back to text (what dsq-sample will write as source/reference)"
dsq-tokenize -q -d -v "$VOCAB" -o "$OUT/dev.decoded.jsonl" "$OUT/dev.dsq"
head -n 3 "$OUT/dev.decoded.jsonl" | sed 's/^/   /'

step "3. A word-level vocabulary (DiffuSeq's non-BERT mode) from the training pairs"
dsq-tokenize --build-vocab --min-count 2 -o "$OUT/words.txt" "$train"
echo "   $(wc -l < "$OUT/words.txt") words; most frequent: $(head -n 5 "$OUT/words.txt" | cut -d' ' -f1 | paste -sd' ')"

if command -v dsq-score >/dev/null && command -v dsq-mbr >/dev/null; then
  step "4. The copy-the-source baseline on QQP dev, scored as the DiffuSeq script does"
  # Each dev source, decoded, stands in for a generated paraphrase.
  jq -c '{recover: .source, reference: .reference, source: .source}' "$OUT/dev.decoded.jsonl" > "$OUT/copy-source.jsonl"
  dsq-score --format table "$OUT/copy-source.jsonl"
  dsq-score "$OUT/copy-source.jsonl" > "$OUT/copy-source.score.json"
fi

end=$(date +%s.%N)
step "Done in $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s. Outputs in $OUT"
cat <<'MSG'
   Training (dsq-train) and decoding (dsq-sample) are not built yet: this demo
   grows with the tools. Until then it shows tokenization, decoding and the
   scorer on the copy-the-source baseline that any paraphrase model must beat.
MSG
