#!/usr/bin/env bash
# dsq-train --init-plm DIR (the reference's --use_plm_init bert), against a
# tiny random BERT that tests/oracles/gen_plm.py builds with transformers
# from a fixed seed (build/venv-bertscore: make test-deps):
#   - after initialisation (lr 0, one update), the word embedding (tied
#     lm_head.weight), position embeddings, embedding LayerNorm and encoder
#     are exactly BertModel.from_pretrained(DIR)'s, and every other tensor
#     exactly a from-scratch run's of the same seed (gen_plm.py --check);
#     --use_plm_init bert --config_name DIR writes the same file, and so
#     does pipelines/diffuseq.mk INIT_PLM=DIR;
#   - the first three training steps from such weights match the PyTorch
#     re-statement (diffuseq_ref.py --config loss-plm, whose weights come
#     from the same generator; build/tests/test_diffusion: loss terms,
#     gradients, parameters, Adam moments, EMA);
#   - the CUDA backend in the host emulation (tests/cuda/emu) writes the
#     CPU's file;
#   - --resume reads only DIR/config.json (weights removed from a copy of
#     DIR: the resumed run still equals an uninterrupted one);
#   - refusals: --hidden-dim not the width, another vocabulary, a shape
#     option beside it, --use_plm_init bert without --config_name;
#   - with DSQ_OFFICIAL=CHECKOUT (a DiffuSeq checkout; not needed otherwise):
#     the official TransformerNetModel built with init_pretrained='bert'
#     from the same directory has the checkpoint's names and shapes and its
#     pretrained tensors (gen_plm.py --official).
set -u
cd "$(dirname "$0")/../.."
bin="${DSQ_BIN:-$PWD/tools}"
py="${DSQ_BERT_PYTHON:-$PWD/build/venv-bertscore/bin/python}"
dbin="${DSQ_TESTBIN:-$PWD/build/tests}/test_diffusion"
for t in "$bin/dsq-train" "$bin/dsq-tokenize" "$dbin"; do
  if [ ! -x "$t" ]; then echo "FAIL plm_init: $t is not built (make check-build)"; exit 1; fi
done
if ! "$py" -c 'import safetensors, torch, transformers' 2>/dev/null; then
  echo "FAIL plm_init: $py lacks torch/transformers/safetensors (make test-deps)"; exit 1
fi
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
plm=$tmp/plm
if ! "$py" tests/oracles/gen_plm.py "$plm" 2>"$tmp/err"; then
  fail plm_init_oracle "$(tail -n 3 "$tmp/err")"; exit 1
fi
cat > "$tmp/in.jsonl" <<'J'
{"src": "how do i learn the best way?", "trg": "what is the best way to learn?"}
{"src": "why do people make money", "trg": "how can i get money"}
{"src": "what is india", "trg": "what is the india"}
{"src": "can you get good time", "trg": "do you get the time"}
J
"$bin/dsq-tokenize" -q -v "$plm/vocab.txt" -L 16 -o "$tmp/in.dsq" "$tmp/in.jsonl"
tiny=(--data "$tmp/in.dsq" --vocab "$plm/vocab.txt" --hidden-t-dim 8 --diff-steps 20 --bsz 2
      --microbatch 2 --seed 7 -q)
zero=("${tiny[@]}" --hidden-dim 32 --learning-steps 1 --lr 0)
"$bin/dsq-train" "${zero[@]}" --init-plm "$plm" --out "$tmp/plm1" 2>"$tmp/err" ||
  fail plm_init_train "$(cat "$tmp/err")"
"$bin/dsq-train" "${zero[@]}" --layers 2 --hidden 32 --heads 4 --intermediate 64 \
  --out "$tmp/scratch" 2>"$tmp/err" || fail plm_init_train_scratch "$(cat "$tmp/err")"
"$py" tests/oracles/gen_plm.py "$plm" --check "$tmp/plm1/model_000001.safetensors" \
  "$tmp/scratch/model_000001.safetensors"
"$bin/dsq-train" "${zero[@]}" --use_plm_init bert --config_name "$plm" --out "$tmp/plm2" 2>"$tmp/err" &&
  cmp -s "$tmp/plm1/model_000001.safetensors" "$tmp/plm2/model_000001.safetensors" &&
  pass plm_init_reference_spelling || fail plm_init_reference_spelling "$(cat "$tmp/err")"
# pipelines/diffuseq.mk INIT_PLM=DIR: the same run (shape, width and
# vocabulary from DIR)
if make -s -f pipelines/diffuseq.mk DSQ_BIN="$bin" INIT_PLM="$plm" TRAIN_JSONL="$tmp/in.jsonl" \
     TEST_JSONL="$tmp/in.jsonl" VALID_JSONL= OUT="$tmp/pipe" SEQ_LEN=16 DIFF_STEPS=20 \
     LEARNING_STEPS=1 LR=0 BSZ=2 MICROBATCH=2 TRAIN_SEED=7 TRAIN_OPTS="--hidden-t-dim 8 -q" \
     train >"$tmp/err" 2>&1 &&
   cmp -s "$tmp/plm1/model_000001.safetensors" "$tmp/pipe/run/model_000001.safetensors"; then
  pass plm_init_pipeline
else
  fail plm_init_pipeline "$(tail -n 5 "$tmp/err")"
fi
if [ -n "${DSQ_OFFICIAL:-}" ]; then
  "$py" tests/oracles/gen_plm.py "$plm" --official "$DSQ_OFFICIAL" "$tmp/plm1/model_000001.safetensors" \
    2>"$tmp/err" | grep -E '^(PASS|FAIL)' || fail plm_init_official "$(tail -n 3 "$tmp/err")"
fi
grep -q '"use_plm_init": "bert"' "$tmp/plm1/config.json" && pass plm_init_config_json \
  || fail plm_init_config_json "no use_plm_init in config.json"

# the first steps from PLM weights, against the re-statement
if "$py" tests/oracles/diffuseq_ref.py "$tmp/loss-plm.safetensors" --config loss-plm 2>"$tmp/err" &&
   "$dbin" "$tmp/loss-plm.safetensors" >"$tmp/out" 2>&1 && grep -q '^PASS test_oracle_parity' "$tmp/out"; then
  pass plm_init_steps_oracle
else
  fail plm_init_steps_oracle "$(tail -n 3 "$tmp/err"; sed 's/^/    /' "$tmp/out")"
fi
grep 'rel error' "$tmp/out" 2>/dev/null | sed 's/^ */  /' >&2

# the CUDA backend, emulated on the host
if command -v g++ >/dev/null && command -v perl >/dev/null; then
  if tests/cuda/emu/run.sh tools >"$tmp/emu.log" 2>&1 &&
     OMP_NUM_THREADS=1 build/emu/tools/dsq-train "${zero[@]}" --device cuda --init-plm "$plm" \
       --out "$tmp/emu" 2>"$tmp/err" &&
     cmp -s "$tmp/plm1/model_000001.safetensors" "$tmp/emu/model_000001.safetensors"; then
    pass plm_init_cuda_emu
  else
    fail plm_init_cuda_emu "$(tail -n 3 "$tmp/emu.log"; cat "$tmp/err")"
  fi
else
  fail plm_init_cuda_emu "g++ or perl not found (Debian: g++ perl)"
fi

# --resume: DIR's weights are not read again
two=("${tiny[@]}" --hidden-dim 32 --learning-steps 2 --lr 1e-3)
cp -r "$plm" "$tmp/plm-noweights"
"$bin/dsq-train" "${two[@]}" --init-plm "$tmp/plm-noweights" --out "$tmp/straight" 2>"$tmp/err" &&
  "$bin/dsq-train" "${two[@]}" --init-plm "$tmp/plm-noweights" --stop-at 1 --out "$tmp/cut" 2>>"$tmp/err" &&
  rm "$tmp/plm-noweights/model.safetensors" &&
  "$bin/dsq-train" "${two[@]}" --init-plm "$tmp/plm-noweights" --resume "$tmp/cut" 2>"$tmp/resume.err" &&
  cmp -s "$tmp/straight/model_000002.safetensors" "$tmp/cut/model_000002.safetensors" &&
  pass plm_init_resume_reads_config_only || fail plm_init_resume_reads_config_only "$(cat "$tmp/err" "$tmp/resume.err")"
"$bin/dsq-train" "${two[@]}" --init-plm "$tmp/plm-noweights" --out "$tmp/nw" 2>/dev/null \
  && fail plm_init_weights_needed_at_step0 "ran without model.safetensors" \
  || pass plm_init_weights_needed_at_step0

# refusals
refuse() {  # name, exit status, message part, dsq-train options...
  local name=$1 want=$2 msg=$3; shift 3
  out=$("$bin/dsq-train" "$@" --out "$tmp/refused" 2>&1); rc=$?
  if [ $rc = "$want" ] && [[ $out == *"$msg"* ]] && [ ! -e "$tmp/refused" ]; then pass "$name"
  else fail "$name" "rc $rc: $out"; fi
}
refuse plm_init_refuses_width 2 "set --hidden-dim 32" "${tiny[@]}" --init-plm "$plm"
refuse plm_init_refuses_shape_option 2 "leave out --config, --layers" "${zero[@]}" --init-plm "$plm" --layers 3
refuse plm_init_refuses_no_dir 2 "--use_plm_init bert needs --config_name DIR" "${zero[@]}" --use_plm_init bert
refuse plm_init_refuses_with_init 2 "--init and --init-plm exclude each other" "${zero[@]}" --init-plm "$plm" \
  --init "$tmp/plm1/model_000001.safetensors"
"$bin/dsq-tokenize" -q -v data/vocab/bert-base-uncased.txt -L 16 -o "$tmp/bert.dsq" "$tmp/in.jsonl"
refuse plm_init_refuses_vocabulary 65 "is not the run's" --data "$tmp/bert.dsq" \
  --vocab data/vocab/bert-base-uncased.txt --hidden-dim 32 --hidden-t-dim 8 --diff-steps 20 --bsz 2 \
  --microbatch 2 --learning-steps 1 -q --init-plm "$plm"
exit 0
