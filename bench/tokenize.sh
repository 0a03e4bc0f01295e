#!/usr/bin/env bash
# Tokenizer throughput: dsq's WordPiece encoder (library, via
# bench/tokenize_bench.c with 1 and 2 OpenMP threads) against the
# HuggingFace fast tokenizer single-threaded (bench/tokenize_hf.py), on the
# same corpus: src and trg of iwslt14 + qqp, repeated to ~BENCH_TOK_MB MB.
# Prints JSON lines: one per measurement, then a summary with the ratios
# (HF seconds / dsq seconds) and whether all ids are identical.
# Env: DSQ_PYTHON, DSQ_SHARED, BENCH_TOK_MB (20), BENCH_TOK_REPEATS (3).
# (DSQ_BIN is not needed: the bench program calls the library directly.)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DSQ_PYTHON:=$PWD/build/venv/bin/python}" "${DSQ_SHARED:=$(cd .. && pwd)/shared}"
MB=${BENCH_TOK_MB:-20} REPS=${BENCH_TOK_REPEATS:-3}
VOCAB=$DSQ_SHARED/data/vocab/bert-base-uncased.txt
FILES=("$DSQ_SHARED/data/iwslt14/train.jsonl" "$DSQ_SHARED/data/qqp/train.jsonl" "$DSQ_SHARED/data/qqp/dev.jsonl")
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

make -s lib/libdsq.a >&2
mkdir -p build/bench
${CC:-cc} -O2 -g -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp -Ilib -o build/bench/tokenize_bench \
  bench/tokenize_bench.c lib/libdsq.a -ljansson -lzstd -lutf8proc -lopenblas -lm

echo "bench tokenize: HF tokenizers, 1 thread, ${MB} MB..." >&2
"$DSQ_PYTHON" bench/tokenize_hf.py "$VOCAB" "$MB" "$REPS" "${FILES[@]}" | tee "$T/hf"
for j in 1 2; do
  echo "bench tokenize: dsq, $j thread(s)..." >&2
  build/bench/tokenize_bench "$VOCAB" "$j" "$MB" "$REPS" "${FILES[@]}" | tee "$T/dsq$j"
done
"$DSQ_PYTHON" - "$T/hf" "$T/dsq1" "$T/dsq2" <<'PY'
import json, sys
hf = [json.loads(l) for l in open(sys.argv[1])]
d1, d2 = (json.loads(open(p).read()) for p in sys.argv[2:4])
base = min(hf, key=lambda r: r["seconds"])
same = all(r["ids_sha256"] == d1["ids_sha256"] for r in hf) and d1["ids_sha256"] == d2["ids_sha256"]
print(json.dumps({"bench": "tokenize", "summary": True, "hf_api": base["api"], "mb": round(base["bytes"] / 1e6, 2),
                  "ratio_dsq1_vs_hf1": round(base["seconds"] / d1["seconds"], 2),
                  "ratio_dsq2_vs_hf1": round(base["seconds"] / d2["seconds"], 2),
                  "ids_identical": same}))
sys.exit(0 if same else 1)
PY
