#!/usr/bin/env bash
# Tokenizer throughput: dsq's WordPiece encoder (library, via
# bench/tokenize_bench.c with 1 and 2 OpenMP threads) against the
# HuggingFace fast tokenizer single-threaded (bench/tokenize_hf.py), on the
# same corpus: src and trg of iwslt14 + qqp, repeated to ~BENCH_TOK_MB MB.
# Prints JSON lines: one per measurement, then a summary with the ratios
# (HF seconds / dsq seconds) and whether all ids are identical.
# Also the dsq-tokenize tool end to end on the JSONL pairs (tokenize_tool).
# Env: DSQ_PYTHON, DSQ_BIN, BENCH_TOK_MB (20), BENCH_TOK_REPEATS (3).

set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_PYTHON:=$PWD/build/venv/bin/python}"
MB=${BENCH_TOK_MB:-20} REPS=${BENCH_TOK_REPEATS:-3}
VOCAB=data/vocab/bert-base-uncased.txt
FILES=("data/iwslt14/train.jsonl" "data/qqp/train.jsonl" "data/qqp/dev.jsonl")
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

make -s lib/libdsq.a >&2
mkdir -p build/bench
${CC:-cc} -O2 -g -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp $(make -s --no-print-directory print-includes | tail -n 1) -o build/bench/tokenize_bench \
  bench/tokenize_bench.c lib/libdsq.a $(make -s --no-print-directory print-link | tail -n 1)

echo "bench tokenize: HF tokenizers, 1 thread, ${MB} MB..." >&2
"$DSQ_PYTHON" bench/tokenize_hf.py "$VOCAB" "$MB" "$REPS" "${FILES[@]}" | tee "$T/hf"
for j in 1 2; do
  echo "bench tokenize: dsq, $j thread(s)..." >&2
  build/bench/tokenize_bench "$VOCAB" "$j" "$MB" "$REPS" "${FILES[@]}" | tee "$T/dsq$j"
done
# The tool end to end (JSONL parsing, tokenising, packing to L=128, zstd
# stream) on the same pairs, repeated to about the same size.
: "${DSQ_BIN:=$PWD/tools}"
make -s tools/dsq-tokenize >&2
while [ "$(stat -c %s "$T/pairs.jsonl" 2>/dev/null || echo 0)" -lt $((MB * 1000000)) ]; do
  sed -e '$a\' "${FILES[@]}" >> "$T/pairs.jsonl"  # (dev.jsonl lacks its last newline)
done
for j in 1 2; do
  echo "bench tokenize: dsq-tokenize tool, $j thread(s)..." >&2
  best=
  for r in $(seq "$REPS"); do
    t0=$(date +%s.%N)
    "$DSQ_BIN/dsq-tokenize" -q -j "$j" -v "$VOCAB" -L 128 "$T/pairs.jsonl" > "$T/out.dsq"
    t1=$(date +%s.%N)
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')
    best=$(awk -v a="${best:-1e9}" -v b="$s" 'BEGIN{print (b < a) ? b : a}')
  done
  printf '{"bench":"tokenize_tool","threads":%d,"bytes":%d,"examples":%d,"seconds":%.4f}\n' \
    "$j" "$(stat -c %s "$T/pairs.jsonl")" "$(wc -l < "$T/pairs.jsonl")" "$best" | tee "$T/tool$j"
done

"$DSQ_PYTHON" - "$T/hf" "$T/dsq1" "$T/dsq2" "$T/tool1" "$T/tool2" <<'PY'
import json, sys
hf = [json.loads(l) for l in open(sys.argv[1])]
d1, d2 = (json.loads(open(p).read()) for p in sys.argv[2:4])
t1, t2 = (json.loads(open(p).read()) for p in sys.argv[4:6])
base = min(hf, key=lambda r: r["seconds"])
same = all(r["ids_sha256"] == d1["ids_sha256"] for r in hf) and d1["ids_sha256"] == d2["ids_sha256"]
print(json.dumps({"bench": "tokenize", "summary": True, "hf_api": base["api"], "mb": round(base["bytes"] / 1e6, 2),
                  "ratio_dsq1_vs_hf1": round(base["seconds"] / d1["seconds"], 2),
                  "ratio_dsq2_vs_hf1": round(base["seconds"] / d2["seconds"], 2),
                  # The whole tool (JSON, packing, zstd) against HF's encoding alone, per MB.
                  "tool_mb_per_s_1": round(t1["bytes"] / 1e6 / t1["seconds"], 2),
                  "tool_mb_per_s_2": round(t2["bytes"] / 1e6 / t2["seconds"], 2),
                  "ratio_tool1_vs_hf1": round((base["seconds"] / base["bytes"]) / (t1["seconds"] / t1["bytes"]), 2),
                  "ratio_tool2_vs_hf1": round((base["seconds"] / base["bytes"]) / (t2["seconds"] / t2["bytes"]), 2),
                  "ids_identical": same}))
sys.exit(0 if same else 1)
PY
