#!/usr/bin/env bash
# Digests of what the tools write on fixed inputs and seeds, one
# "NAME sha256" line each: for refactorings that must not change any
# output.  Run it on the tree before and after and compare:
#   scripts/outputs-digest.sh [BIN_DIR] > before.txt   (default: tools/)
# Covers: tokenizing (BERT WordPiece and a word vocabulary, both decodes),
# training a tiny model (fp32 at 1 and 2 threads, bf16, v2 options; the
# checkpoints and resume state), decoding with every sampler (fp32 and
# bf16), MBR over seeds and scoring (with BERTScore where the test venv's
# all-MiniLM-L6-v2 is installed: build/venv-bertscore).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(cd "${1:-tools}" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export OMP_WAIT_POLICY=passive
d() { printf '%s %s\n' "$1" "$(sha256sum < "$2" | cut -c1-16)"; }

"$BIN/dsq-tokenize" -q --build-vocab data/qqp/train.jsonl > "$T/w.txt"
"$BIN/dsq-tokenize" -q -v "$T/w.txt" -k word --seq-len 32 data/qqp/train.jsonl > "$T/train.dsq"
"$BIN/dsq-tokenize" -q -v "$T/w.txt" -k word --seq-len 32 data/qqp/dev.jsonl > "$T/dev.dsq"
"$BIN/dsq-tokenize" -q -v data/vocab/bert-base-uncased.txt --seq-len 64 data/iwslt14/train.jsonl > "$T/iw.dsq"
d vocab.word "$T/w.txt"; d stream.word.train "$T/train.dsq"; d stream.bert.iwslt "$T/iw.dsq"
"$BIN/dsq-tokenize" -q -d -v data/vocab/bert-base-uncased.txt "$T/iw.dsq" > "$T/iw.jsonl"; d decode.bert "$T/iw.jsonl"
"$BIN/dsq-tokenize" -q -d --join legacy -v data/vocab/bert-base-uncased.txt "$T/iw.dsq" > "$T/iwl.jsonl"; d decode.bert.legacy "$T/iwl.jsonl"

tiny=(--layers 2 --hidden 32 --heads 2 --intermediate 64 --hidden-dim 16 --hidden-t-dim 16
      --diff-steps 100 --bsz 16 --microbatch 8 --lr 1e-3 --learning-steps 12
      --save-interval 6 --log-interval 4 -q --data "$T/train.dsq" --vocab "$T/w.txt")
train() {  # name threads [options]
  local name=$1 th=$2; shift 2
  OMP_NUM_THREADS=$th "$BIN/dsq-train" "${tiny[@]}" --out "$T/$name" "$@"
  local f
  for f in "$T/$name"/*.safetensors; do d "train.$name.$(basename "$f" .safetensors)" "$f"; done
}
train fp32 1
train fp32t2 2
train bf16 1 --precision bf16
train v2 1 --learned-mean-embed --denoise --noise-schedule linear --schedule-sampler uniform

m=$T/fp32/ema_0.9999_000012.safetensors
sample() {  # name [options]
  local name=$1; shift
  OMP_NUM_THREADS=2 "$BIN/dsq-sample" -q -m "$m" --batch 16 "$@" "$T/dev.dsq" > "$T/$name.jsonl"
  d "sample.$name" "$T/$name.jsonl"
}
sample ddpm --seed 1
sample ddpm2 --seed 2
sample ddpm_top_p --seed 1 --top-p 0.9 --clip-denoised
sample ddim --sampler ddim --steps 10 --seed 3
sample ddim_gap --sampler ddim-gap --steps 10 --seed 3
sample dpmpp --sampler dpm++ --steps 10 --seed 4
sample dpmpp1 --sampler dpm++ --order 1 --steps 10 --seed 4
sample dpmppv2 --sampler dpm++v2 --steps 10 --seed 4
sample bf16 --sampler dpm++ --steps 10 --seed 4 --precision bf16
m=$T/v2/ema_0.9999_000012.safetensors sample v2 --sampler ddpm --seed 5

mkdir "$T/dec"; cp "$T/ddpm.jsonl" "$T/ddpm2.jsonl" "$T/dpmpp.jsonl" "$T/dec/"
"$BIN/dsq-mbr" -q "$T/dec" > "$T/mbr.jsonl"; d mbr "$T/mbr.jsonl"
"$BIN/dsq-mbr" -q -u rougeL "$T/dec" > "$T/mbr_r.jsonl"; d mbr.rougeL "$T/mbr_r.jsonl"
# (the report names its inputs: relative paths keep it the same across runs)
(cd "$T" && "$BIN/dsq-score" dec > score.json && "$BIN/dsq-score" mbr.jsonl > score_mbr.json)
d score.files "$T/score.json"; d score.mbr "$T/score_mbr.json"
bs=build/venv-bertscore/bin/python
if [ -x "$bs" ] && model=$("$bs" tests/oracles/bertscore_ref.py model-dir 2>/dev/null); then
  (cd "$T" && "$BIN/dsq-score" --bertscore "$model" --bertscore-layer 6 --bertscore-idf mbr.jsonl > bs.json)
  d score.bertscore "$T/bs.json"
fi
