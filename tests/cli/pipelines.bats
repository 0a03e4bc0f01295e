#!/usr/bin/env bats
# pipelines/: diffuseq.mk end to end on a tiny configuration (every
# artefact checked, incremental re-runs, make -j), the paper's recipes as
# dry runs against the tools' options, the plot script, and the demo.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
bats_require_minimum_version 1.5.0

# A tiny experiment: 200 QQP pairs, 20 test lines, 30 updates, 2 seeds.
tiny() {
  make --no-print-directory -f "$ROOT/pipelines/diffuseq.mk" DSQ_BIN="$DSQ_BIN" \
    DATA="$D/data" OUT="$D/out" VOCAB_KIND=word SEQ_LEN=32 CONFIG=bert-tiny \
    HIDDEN_DIM=16 DIFF_STEPS=100 LEARNING_STEPS=30 BSZ=16 MICROBATCH=8 \
    SAVE_INTERVAL=30 LOG_INTERVAL=10 LR=1e-3 EMA_RATE=0.99 SEEDS="1 2" STEPS=4 \
    THREADS=1 TRAIN_OPTS="--hidden 32 --heads 2 --intermediate 64 --hidden-t-dim 16" "$@"
}

setup_file() {
  ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd); export ROOT
  D=$BATS_FILE_TMPDIR; export D
  mkdir -p "$D/data"
  head -n 200 "$ROOT/data/qqp/train.jsonl" > "$D/data/train.jsonl"
  head -n 20 "$ROOT/data/qqp/dev.jsonl" > "$D/data/test.jsonl"
  sed -n '21,36p' "$ROOT/data/qqp/dev.jsonl" > "$D/data/valid.jsonl"
  tiny streams train > "$D/train.log" 2>&1
  tiny -j2 all > "$D/all.log" 2>&1
}

setup() {
  O="$D/out"
  DEC="$O/decode/dpm++-4"
}

@test "diffuseq.mk: streams decode back to one line per input, with the word vocabulary" {
  cat "$D/train.log"
  for s in train valid test; do
    run dsq-tokenize -q -d -k word -v "$O/vocab.txt" "$O/$s.dsq"
    assert_success
    [ "${#lines[@]}" -eq "$(wc -l < "$D/data/$s.jsonl")" ]
  done
  [ "$(wc -l < "$O/vocab.txt")" -gt 100 ]
}

@test "diffuseq.mk: the run directory holds a loadable checkpoint and the log" {
  for f in config.json vocab.txt log.jsonl ema_0.99_000030.safetensors model_000030.safetensors; do
    [ -s "$O/run/$f" ] || { echo "missing $f"; false; }
  done
  jq -e '.learning_steps == 30 and .batch_size == 16 and .seq_len == 32 and .vocab_kind == "word"
         and .diffusion_steps == 100' "$O/run/config.json"
  jq -s -e 'map(select(has("lr"))) | .[-1].step == 29' "$O/run/log.jsonl"
  jq -s -e 'map(select(has("eval_loss"))) | length >= 1' "$O/run/log.jsonl"   # valid.jsonl used
  run "$DSQ_PYTHON" -c 'import sys, json; from safetensors import safe_open
f = safe_open(sys.argv[1], "np")
json.loads(f.metadata()["config"])
print(f.get_tensor("word_embedding.weight").shape)' "$O/run/ema_0.99_000030.safetensors"
  assert_success
  assert_output --regexp '^\([0-9]+, 16\)$'
}

@test "diffuseq.mk: one decode per seed, MBR, scores with every key, report" {
  cat "$D/all.log"
  for s in 1 2; do
    [ "$(wc -l < "$DEC/seed$s.jsonl")" -eq 20 ]
    jq -e 'has("recover") and has("reference") and has("source")' "$DEC/seed$s.jsonl" > /dev/null
  done
  [ "$(wc -l < "$DEC/mbr.jsonl")" -eq 20 ]
  jq -e '.mbr_index == 0 or .mbr_index == 1' "$DEC/mbr.jsonl" > /dev/null
  jq -e '.n == 20 and ([.bleu, .rougeL, .dist1, .avg_len, .sacrebleu, .chrf] | all(type == "number"))' \
    "$DEC/scores.json"
  jq -e '.diversity.k == 2 and .diversity.n == 20 and (.diversity.self_bleu | type == "number")
         and (.diversity.div4 | type == "number") and (.files | length == 2)' "$DEC/diversity.json"
  [ -z "$(find "$O" -name "*.tmp" -o -name "*.partial")" ]
  run tiny report
  assert_success
  assert_output --partial "mbr.jsonl"
  assert_output --regexp "diversity over 2 seeds: self-BLEU [0-9.]+ +div-4 [0-9.]+"
}

@test "diffuseq.mk: a new test set re-decodes and re-scores, without retraining" {
  run tiny -q all; assert_success               # everything up to date
  sleep 1; touch "$D/data/test.jsonl"
  run tiny -n all
  assert_success
  refute_output --partial "dsq-train"
  assert_output --partial "dsq-tokenize"
  [ "$(grep -c 'dsq-sample' <<<"$output")" -eq 2 ]
  assert_output --partial "dsq-mbr"
  assert_output --partial "dsq-score"
  # A new training set retrains.
  sleep 1; touch "$D/data/train.jsonl"
  run tiny -n train
  assert_output --partial "dsq-train"
}

@test "diffuseq.mk: the plot target draws the curves" {
  run tiny plot
  assert_success
  [ "$(head -c 4 "$O/run/curves.png" | od -An -tx1 | tr -d ' ')" = 89504e47 ]
}

@test "plot-log.sh: a PNG from a run directory or a log; bad inputs" {
  T=$BATS_TEST_TMPDIR
  run "$ROOT/pipelines/plot-log.sh" "$O/run/log.jsonl" "$T/c.png"
  assert_success
  assert_output "$T/c.png"
  [ "$(head -c 4 "$T/c.png" | od -An -tx1 | tr -d ' ')" = 89504e47 ]
  run "$ROOT/pipelines/plot-log.sh"; assert_failure 2
  run "$ROOT/pipelines/plot-log.sh" "$T/none"; assert_failure 74
  echo '{"a":1}' > "$T/log.jsonl"
  run "$ROOT/pipelines/plot-log.sh" "$T/log.jsonl" "$T/d.png"; assert_failure 65
  [ ! -e "$T/d.png" ]
}

# The recipes: dry runs with stand-in data, every option the tools accept,
# and the paper's values in the commands.
recipe() {
  local T=$BATS_TEST_TMPDIR
  mkdir -p "$T/data"; for s in train valid test; do echo '{"src":"a","trg":"b"}' > "$T/data/$s.jsonl"; done
  make --no-print-directory -n -f "$ROOT/pipelines/$1" DSQ_BIN="$DSQ_BIN" DATA="$T/data" OUT="$T/out" "${@:2}" all
}
options_ok() {  # every --option of the dry run's TOOL lines is in TOOL --help
  local tool=$1 help opt bad=()
  help=$("$DSQ_BIN/$tool" --help 2>&1)
  for opt in $(grep -F "$tool" <<<"$output" | grep -oE -- '--[a-z][a-z0-9_-]*' | sort -u); do
    grep -qE -- "(^|[^a-z-])$opt([^a-z0-9_-]|$)" <<<"$help" || bad+=("$opt")
  done
  [ ${#bad[@]} -eq 0 ] || { echo "$tool does not know: ${bad[*]}"; false; }
}
check_recipe() {
  assert_success
  for t in dsq-tokenize dsq-train dsq-sample dsq-mbr dsq-score; do options_ok $t; done
  [ "$(grep -c 'dsq-sample' <<<"$output")" -eq 10 ]     # 10 seeds for MBR
  assert_output --partial "bert-base-uncased.txt"
  assert_output --regexp "--diff-steps 2000 --noise-schedule sqrt"
  assert_output --regexp "--schedule-sampler lossaware --lr 1e-4"
  assert_output --partial "--seq-len 128 --config bert-base --hidden-dim 128"
}

@test "qqp.mk: the paper's QQP recipe" {
  run recipe qqp.mk
  check_recipe
  assert_output --partial "--learning-steps 50000"
  assert_output --partial "--bsz 8192 --microbatch 64 --save-interval 10000"
  assert_output --partial "--sampler ddpm "
  assert_output --partial "--seed 101 "
  assert_output --partial "/decode/ddpm/seed110.jsonl"
  refute_output --partial "--learned-mean-embed"
}

@test "qqp.mk V2=1: the DiffuSeq-v2 variant" {
  run recipe qqp.mk V2=1
  check_recipe
  assert_output --partial "--bsz 850 --microbatch 425 --save-interval 5000"
  assert_output --partial "--learned-mean-embed --denoise --denoise-rate 0.5"
  assert_output --partial "--sampler dpm++v2 --steps 10"
  assert_output --partial "/decode/dpm++v2-10/seed110.jsonl"
}

@test "qg.mk, wiki.mk, dialogue.mk: the other recipes" {
  run recipe qg.mk
  check_recipe
  assert_output --partial "--learning-steps 40000"
  assert_output --partial "--bsz 8192 --microbatch 64 --save-interval 2000"
  run recipe wiki.mk
  check_recipe
  assert_output --partial "--learning-steps 80000"
  assert_output --partial "--bsz 16384 --microbatch 64 --save-interval 20000"
  run recipe dialogue.mk
  check_recipe
  assert_output --partial "--learning-steps 140000"
  assert_output --partial "--bsz 14336 --microbatch 64 --save-interval 20000"
  run recipe qqp.mk MPI="mpirun -np 4" THREADS=8
  assert_output --regexp "OMP_NUM_THREADS=8 +mpirun -np 4 .*dsq-train"
  assert_output --regexp "OMP_NUM_THREADS=8 +mpirun -np 4 .*dsq-sample"
  run recipe qqp.mk MPI="mpirun -np 4" SAMPLE_MPI=
  assert_output --regexp "mpirun -np 4 .*dsq-train"
  refute_output --regexp "mpirun[^\n]*dsq-sample"   # decoding in one process
}

@test "demo.sh QUICK=1 runs every stage and prints the table, examples and timing" {
  T=$BATS_TEST_TMPDIR
  run env QUICK=1 DEMO_STEPS=10 DEMO_OUT="$T/demo" DSQ_BIN="$DSQ_BIN" "$ROOT/pipelines/demo.sh"
  assert_success
  assert_output --partial "QUICK=1"
  assert_output --regexp "Done in [0-9]+ s"
  [ -s "$T/demo/run/ema_0.99_000010.safetensors" ]
  [ -s "$T/demo/run/curves.png" ]
  make --no-print-directory -C "$T/demo" -q all          # its Makefile knows the run
  assert_output --regexp "copy the source \(baseline\) +0\.[0-9]{4} +0\.[0-9]{4}"
  assert_output --regexp "dsq, MBR over 3 seeds +0\.[0-9]{4} .* 0\.[0-9]{4} +[01]\.[0-9]{4}"
  # the examples are the first five dev lines, not chosen ones
  for i in 1 2 3 4 5; do
    assert_output --partial "$i. source:    $(sed -n "${i}p" "$ROOT/data/qqp/dev.jsonl" | jq -r .src)"
  done
  [ "$(wc -l < "$T/demo/decode/dpm++-10/mbr.jsonl")" -eq 40 ]
  jq -e '.bleu | type == "number"' "$T/demo/copy-source.score.json"
}
