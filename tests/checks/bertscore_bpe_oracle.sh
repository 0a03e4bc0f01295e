#!/usr/bin/env bash
# BERTScore parity with bert_score 0.3.13 (transformers 4.30.2, Debian torch)
# on RoBERTa and DeBERTa (v1) encoders: tiny random models that
# tests/oracles/bertscore_ref.py tiny builds from seed 0 in
# build/venv-bertscore (4 layers x 32, the byte-level BPE vocabulary of
# tests/fixtures/bpe/, model_max_length 64 so that many texts are
# truncated), regenerated on every run:
#   roberta      learned positions from padding_idx + 1, one token type
#   deberta      c2p|p2c, max_relative_positions 16 (distances clamp),
#                no absolute positions (the deberta-*-mnli layout)
#   deberta-abs  c2p only, absolute positions, two token types
# On the committed pairs plus pairs that write the special tokens
# (tests/fixtures/bertscore/pairs.jsonl + bpe_pairs.jsonl):
#   - every layer's hidden states equal transformers' (1e-5);
#   - token ids equal bert_score's sent_encode; P/R/F per pair within
#     1e-5, the mean F1 within 1e-6: idf off at the last layer on all
#     pairs, idf on and layers 0 and 2 on a subset;
#   - the same rescaled with a baseline file of the package
#     (--bertscore-rescale: rescale_baseline/en/roberta-large.tsv);
#   - dsq-score's bertscore_f1 equals the oracle's mean (1e-6).
# A missing oracle is a FAIL, never a skip.
set -u
cd "$(dirname "$0")/../.."
bin="${DSQ_TESTBIN:-$PWD/build/tests}/test_bert"
py="${DSQ_BERT_PYTHON:-$PWD/build/venv-bertscore/bin/python}"
score="${DSQ_BIN:-$PWD/tools}/dsq-score"
oracle=tests/oracles/bertscore_ref.py
if [ ! -x "$bin" ]; then echo "FAIL bertscore_bpe_oracle: $bin is not built (make check-build)"; exit 1; fi
if [ ! -x "$py" ]; then echo "FAIL bertscore_bpe_oracle: $py missing (make test-deps)"; exit 1; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
baseline=$("$py" -c 'import importlib.util as u, os; print(os.path.join(u.find_spec("bert_score").submodule_search_locations[0], "rescale_baseline/en/roberta-large.tsv"))' 2>/dev/null)
if [ ! -f "$baseline" ]; then echo "FAIL bertscore_bpe_oracle: bert_score's baseline files not found"; exit 1; fi
export DSQ_TOL_HIDDEN=1e-5 DSQ_TOL_PAIR=1e-5 DSQ_TOL_MEAN=1e-6
if "$py" "$oracle" bpe-pairs "$tmp/bpe_pairs.jsonl" &&
   cmp -s "$tmp/bpe_pairs.jsonl" tests/fixtures/bertscore/bpe_pairs.jsonl; then
  echo "PASS bertscore_bpe_pairs_reproduce"
else
  echo "FAIL bertscore_bpe_pairs_reproduce: $oracle bpe-pairs differs from the fixture"
fi
cat tests/fixtures/bertscore/pairs.jsonl tests/fixtures/bertscore/bpe_pairs.jsonl >"$tmp/pairs.jsonl"
{ head -n 100 "$tmp/pairs.jsonl"; sed -n '561,578p' "$tmp/pairs.jsonl"; \
  cat tests/fixtures/bertscore/bpe_pairs.jsonl; } >"$tmp/sub.jsonl"

# runs ARCH LAYER IDF PAIRS [BASELINE]
runs() {
  local flag=() base=(); [ "$3" = 1 ] && flag=(--idf)
  [ -n "${5:-}" ] && { flag+=(--baseline "$5"); base=("$5"); }
  if "$py" "$oracle" score "$4" "$tmp/exp.jsonl" --layer "$2" "${flag[@]}" --model "$tmp/$1" \
       >/dev/null 2>"$tmp/err"; then
    DSQ_TEST_TAG="$1_" "$bin" --scores "$tmp/$1" "$4" "$tmp/exp.jsonl" "$2" "$3" "${base[@]}"
  else
    echo "FAIL $1_bertscore_scores_layer$2_idf$3: oracle failed: $(tail -n 3 "$tmp/err")"
  fi
}

for arch in roberta deberta deberta-abs; do
  if ! "$py" "$oracle" tiny "$arch" "$tmp/$arch" >/dev/null 2>"$tmp/err"; then
    echo "FAIL ${arch}_tiny_model: oracle failed: $(tail -n 3 "$tmp/err")"
    continue
  fi
  if "$py" "$oracle" hidden "$tmp/pairs.jsonl" "$tmp/hidden.safetensors" --model "$tmp/$arch" \
       >/dev/null 2>"$tmp/err"; then
    DSQ_TEST_TAG="${arch}_" "$bin" --hidden "$tmp/$arch" "$tmp/hidden.safetensors"
  else
    echo "FAIL ${arch}_hidden: oracle failed: $(tail -n 3 "$tmp/err")"
  fi
  if [ "$arch" != deberta-abs ]; then
    runs "$arch" 4 0 "$tmp/pairs.jsonl"
    runs "$arch" 0 0 "$tmp/sub.jsonl"
  fi
  # idf and rescaling with a baseline file the package ships (any file of
  # that format: the numbers are not this model's)
  runs "$arch" 2 1 "$tmp/sub.jsonl" "$baseline"
  # The tool end to end on the last run's pairs (no cleaning: plain text).
  if out=$("$score" --no-clean --no-sacrebleu --no-diversity --bertscore "$tmp/$arch" \
             --bertscore-layer 2 --bertscore-idf --bertscore-rescale "$baseline" \
             "$tmp/sub.jsonl" 2>"$tmp/err"); then
    got=$(jq -r .bertscore_f1 <<<"$out"); want=$(head -n 1 "$tmp/exp.jsonl" | jq -r .mean_f1)
    if jq -en --argjson a "$got" --argjson b "$want" '($a - $b) | fabs <= 1e-6' >/dev/null; then
      echo "PASS ${arch}_dsq_score_idf_mean_f1: $got vs bert_score $want"
    else
      echo "FAIL ${arch}_dsq_score_idf_mean_f1: $got vs bert_score $want"
    fi
  else
    echo "FAIL ${arch}_dsq_score_idf_mean_f1: dsq-score failed: $(tail -n 3 "$tmp/err")"
  fi
done
