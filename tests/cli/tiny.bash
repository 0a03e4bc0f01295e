# Loaded by the bats files that train small models (`load tiny`).

# A tiny encoder on a word vocabulary: fast enough for many runs.
TINY=(--layers 2 --hidden 32 --heads 2 --intermediate 64 --hidden-dim 8 --hidden-t-dim 8
      --diff-steps 100 --bsz 8 --microbatch 4 --lr 1e-3 --dropout 0.1)

# word_streams DIR: DIR/words.txt (the QQP sample's word list), DIR/dev.dsq
# (seq_len 24) and DIR/train.dsq (seq_len 32) from the shipped data.
word_streams() {
  local d=$1 data="$BATS_TEST_DIRNAME/../../data/qqp"
  dsq-tokenize --build-vocab "$data/train.jsonl" > "$d/words.txt" 2>/dev/null
  dsq-tokenize --vocab "$d/words.txt" --vocab-kind word --seq-len 24 \
    "$data/dev.jsonl" > "$d/dev.dsq" 2>/dev/null
  dsq-tokenize --vocab "$d/words.txt" --vocab-kind word --seq-len 32 \
    "$data/train.jsonl" > "$d/train.dsq" 2>/dev/null
}
