#!/usr/bin/env bash
# The reference's own checkpoints: a run directory as the official
# train.py leaves it (tests/oracles/reference_run.py: ema_0.9999_050000.pt
# in the zip and the legacy container, the official EMA layout with the
# raw lm_head.weight, training_args.json with a local config_name
# directory and a word vocabulary), built from the tiny sampling fixture.
#   - dsq-sample --model RUN/ema_0.9999_050000.pt decodes with nothing
#     else, tokens identical to the safetensors of the weights the official
#     decoder runs with, for both containers, and says on stderr that
#     lm_head.weight was taken; the EMA embedding instead decodes otherwise;
#   - dsq-convert .pt -> safetensors (configuration from training_args.json)
#     decodes identically; safetensors -> .pt loads into the reference
#     network strictly (reference_run.py --load-strict);
#   - dsq-train --init from a .pt starts from its weights (lr 0: the
#     model file after one update holds them unchanged), and refuses
#     another shape naming the tensor.
set -u
cd "$(dirname "$0")/../.."
bin="${DSQ_BIN:-$PWD/tools}"
py="${DSQ_PYTHON:-$PWD/build/venv/bin/python}"
for t in dsq-sample dsq-tokenize dsq-convert dsq-train; do
  if [ ! -x "$bin/$t" ]; then echo "FAIL reference_run: $bin/$t is not built"; exit 1; fi
done
if ! "$py" -c 'import safetensors, torch' 2>/dev/null; then
  echo "FAIL reference_run: $py lacks safetensors/torch (make test-deps)"; exit 1
fi
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fix=tests/fixtures/sample/tiny
voc=$fix/vocab.txt
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if ! "$py" tests/oracles/reference_run.py $fix/ema_0.9999_000000.safetensors $voc "$tmp/run" 2>"$tmp/err"; then
  fail reference_run_oracle "$(tail -n 3 "$tmp/err")"; exit 1
fi
for i in 0 1 2 3 4 5 6 7 8 9; do
  printf '{"src": "w0%d w1%d w2%d", "trg": "w3%d w1%d w2%d w0%d"}\n' \
    $((i % 6 + 4)) $i $((i % 7)) $((i % 9)) $((i % 5)) $i $((9 - i % 6))
done > "$tmp/in.jsonl"
"$bin/dsq-tokenize" -q --vocab $voc --vocab-kind word --seq-len 12 "$tmp/in.jsonl" > "$tmp/in.dsq"
s() { "$bin/dsq-sample" -j 1 --seed 7 "$@" "$tmp/in.dsq"; }

s -q -m "$tmp/run/decoded.safetensors" -v $voc > "$tmp/want.jsonl"
for fmt in zip legacy; do
  if s -m "$tmp/run/$fmt/ema_0.9999_050000.pt" > "$tmp/$fmt.jsonl" 2>"$tmp/$fmt.err" &&
     cmp -s "$tmp/want.jsonl" "$tmp/$fmt.jsonl"; then
    pass "reference_run_decode_$fmt"
  else
    fail "reference_run_decode_$fmt" "$(tail -n 2 "$tmp/$fmt.err"; diff "$tmp/want.jsonl" "$tmp/$fmt.jsonl" | head -4)"
  fi
  n=$(grep -c 'lm_head.weight differs from word_embedding.weight.*decoding with lm_head.weight for both' "$tmp/$fmt.err")
  [ "$n" = 1 ] && pass "reference_run_says_lm_head_$fmt" || fail "reference_run_says_lm_head_$fmt" "$n lines"
done
s -q -m "$tmp/run/ema_embedding.safetensors" -v $voc > "$tmp/wrong.jsonl"
cmp -s "$tmp/want.jsonl" "$tmp/wrong.jsonl" && fail reference_run_ema_embedding_differs "same tokens" \
  || pass reference_run_ema_embedding_differs

# bert vocabulary: the run's vocab.txt, else the shipped one (digest checked)
sed -e 's/"vocab": ".*"/"vocab": "bert"/' "$tmp/run/zip/training_args.json" > "$tmp/ta.json"
mv "$tmp/ta.json" "$tmp/run/zip/training_args.json"
out=$(s -m "$tmp/run/zip/ema_0.9999_050000.pt" 2>&1 >/dev/null); rc=$?
[ $rc = 65 ] && [[ $out == *"bert-base-uncased.txt: 30522 tokens, but the model"*"has a vocabulary of 40"* ]] \
  && pass reference_run_bert_vocab_shipped || fail reference_run_bert_vocab_shipped "rc $rc: $out"
cp $voc "$tmp/run/zip/vocab.txt"
out=$(s -m "$tmp/run/zip/ema_0.9999_050000.pt" -k word 2>&1 > "$tmp/bv.jsonl"); rc=$?
[ $rc = 0 ] && cmp -s "$tmp/want.jsonl" "$tmp/bv.jsonl" && pass reference_run_bert_vocab_beside \
  || fail reference_run_bert_vocab_beside "rc $rc: $out"
sed -i -e 's/"learn_sigma": false/"learn_sigma": true/' "$tmp/run/legacy/training_args.json"
out=$(s -m "$tmp/run/legacy/ema_0.9999_050000.pt" 2>&1 >/dev/null); rc=$?
[ $rc = 65 ] && [[ $out == *"learn_sigma = true"* ]] && pass reference_run_refuses_learn_sigma \
  || fail reference_run_refuses_learn_sigma "rc $rc: $out"

# conversions, both ways
"$bin/dsq-convert" -q "$tmp/run/legacy/ema_0.9999_050000.pt" "$tmp/conv.safetensors" 2>"$tmp/err"
sed -i -e 's/"learn_sigma": true/"learn_sigma": false/' "$tmp/run/legacy/training_args.json"
"$bin/dsq-convert" -q "$tmp/run/legacy/ema_0.9999_050000.pt" "$tmp/conv.safetensors" 2>"$tmp/err" &&
  s -q -m "$tmp/conv.safetensors" > "$tmp/conv.jsonl" && cmp -s "$tmp/want.jsonl" "$tmp/conv.jsonl" \
  && pass reference_run_convert_to_safetensors \
  || fail reference_run_convert_to_safetensors "$(cat "$tmp/err")"
"$bin/dsq-convert" -q $fix/ema_0.9999_000000.safetensors "$tmp/back.pt" 2>"$tmp/err" \
  || fail reference_run_convert_to_pt "$(cat "$tmp/err")"
"$py" tests/oracles/reference_run.py --load-strict "$tmp/back.pt" $fix/ema_0.9999_000000.safetensors

# dsq-train --init: weights only, from either container
"$bin/dsq-tokenize" -q --build-vocab "$tmp/in.jsonl" > "$tmp/words.txt"
"$bin/dsq-tokenize" -q --vocab "$tmp/words.txt" --vocab-kind word --seq-len 12 "$tmp/in.jsonl" > "$tmp/w.dsq"
tiny=(--data "$tmp/w.dsq" --vocab "$tmp/words.txt" --layers 1 --hidden 16 --heads 2 --intermediate 32
      --hidden-dim 8 --hidden-t-dim 8 --diff-steps 20 --bsz 2 --microbatch 2 --learning-steps 1 -q)
"$bin/dsq-train" "${tiny[@]}" --out "$tmp/t0" 2>"$tmp/err" || fail reference_run_init "$(cat "$tmp/err")"
"$bin/dsq-convert" -q "$tmp/t0/model_000001.safetensors" "$tmp/t0.pt"
"$bin/dsq-train" "${tiny[@]}" --lr 0 --seed 5 --init "$tmp/t0.pt" --out "$tmp/t1" 2>"$tmp/err" &&
  "$py" - "$tmp/t0/model_000001.safetensors" "$tmp/t1/model_000001.safetensors" <<'PY' \
  && pass reference_run_train_init || fail reference_run_train_init "$(cat "$tmp/err")"
import sys, torch
from safetensors.torch import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
sys.exit(0 if a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) else 1)
PY
out=$("$bin/dsq-train" "${tiny[@]}" --hidden 32 --init "$tmp/t0.pt" --out "$tmp/t2" 2>&1); rc=$?
[ $rc = 65 ] && [[ $out == *"--init: "*"t0.pt: tensor "*"has shape"* ]] && pass reference_run_train_init_shape \
  || fail reference_run_train_init_shape "rc $rc: $out"
exit 0
