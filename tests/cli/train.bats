#!/usr/bin/env bats
# dsq-train command line: the run directory, checkpoints loading in PyTorch,
# determinism, exact resume, signals, NaN stop, full disk, bad inputs, and a
# 300-step learning test on the QQP sample.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
bats_require_minimum_version 1.5.0
DATA="$BATS_TEST_DIRNAME/../../data"   # the shipped data sets (data/README.md)

load tiny   # TINY, word_streams

setup_file() { word_streams "$BATS_FILE_TMPDIR"; }

setup() {
  D="$BATS_FILE_TMPDIR"
  T="$BATS_TEST_TMPDIR"
  W="$D/words.txt"
}

# log.jsonl without the timing fields
losses() { jq -c 'del(.tokens_per_s, .elapsed_s)' "$1"; }

@test "--help lists the options, --version names the tool" {
  run dsq-train --help
  assert_success
  assert_output --partial "--schedule-sampler"
  assert_output --partial "--learned-mean-embed"
  run dsq-train --version
  assert_success
  assert_line --index 0 --regexp '^dsq-train [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "bad usage exits 2" {
  run dsq-train --vocab "$W" --out "$T/r"; assert_failure 2
  assert_output --partial "--data FILE is required"
  run dsq-train --data "$D/dev.dsq" --out "$T/r"; assert_failure 2
  run dsq-train --data "$D/dev.dsq" --vocab "$W"; assert_failure 2
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --bsz 10 --microbatch 4
  assert_failure 2; assert_output --partial "not a multiple of --microbatch"
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --denoise
  assert_failure 2; assert_output --partial "--learned-mean-embed"
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --noise-schedule nope; assert_failure 2
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --schedule-sampler nope; assert_failure 2
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --hidden 48 --heads 5; assert_failure 2
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --config bert-huge; assert_failure 2
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --lr abc; assert_failure 2
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/r" stray; assert_failure 2
}

@test "--device: cpu is the default; cuda without a usable GPU fails with the reason, nothing written" {
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --device gpu
  assert_failure 2; assert_output --partial "--device: 'gpu' is not cpu, cuda or cuda:N"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --device cuda:x
  assert_failure 2
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/a" --learning-steps 2 -q
  assert_success
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/b" --learning-steps 2 -q \
    --device cpu
  assert_success
  diff <(losses "$T/a/log.jsonl") <(losses "$T/b/log.jsonl")
  if ! nvidia-smi -L >/dev/null 2>&1; then
    run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/c" --learning-steps 2 \
      --device cuda:0
    assert_failure 1; assert_output --partial "CUDA"
    [ ! -e "$T/c/model_000002.safetensors" ]
  fi
}

@test "--precision: bf16 and fp16 train close to fp32; fp16 logs lg_loss_scale and resumes it exactly" {
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/x" --precision tf32
  assert_failure 2; assert_output --partial "--precision: 'tf32' is not fp32, bf16 or fp16"
  for p in fp32 bf16 fp16; do
    dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/$p" --learning-steps 6 \
      --log-interval 1 --save-interval 3 --precision $p -q
    run jq -r '[.precision, .use_fp16] | @tsv' "$T/$p/config.json"
    assert_output "$(printf '%s\t%s' $p "$([ $p = fp16 ] && echo true || echo false)")"
  done
  # every step's loss within 1e-2 of fp32's, and not all equal to it
  for p in bf16 fp16; do
    run jq -n -r --slurpfile a "$T/fp32/log.jsonl" --slurpfile b "$T/$p/log.jsonl" \
      '[range(6) | (($a[.].loss - $b[.].loss) / $a[.].loss | fabs)] | [max < 1e-2, max > 0] | @tsv'
    assert_output "$(printf 'true\ttrue')"
  done
  # lg_loss_scale only with fp16: 20 + 0.001 per applied step
  run jq -s -r '[.[].lg_loss_scale] | map(. * 1000 | round) | @tsv' "$T/fp16/log.jsonl"
  assert_output "$(printf '20001\t20002\t20003\t20004\t20005\t20006')"
  run jq -s '[.[] | has("lg_loss_scale")] | any' "$T/bf16/log.jsonl"
  assert_output false
  # resume: the state keeps the scale; the same log and model as in one go
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --learning-steps 6 \
    --log-interval 1 --save-interval 3 --precision fp16 --stop-at 3 -q
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --learning-steps 6 \
    --log-interval 1 --save-interval 3 --precision fp16 --resume "$T/r" -q
  [ "$(losses "$T/fp16/log.jsonl")" = "$(losses "$T/r/log.jsonl")" ]
  cmp "$T/fp16/model_000006.safetensors" "$T/r/model_000006.safetensors"
  # the reference's spelling
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/u" --learning-steps 1 \
    --use_fp16 True -q
  run jq -r .precision "$T/u/config.json"
  assert_output fp16
}

@test "bad inputs: missing, corrupt, other vocabulary, seq_len, too few examples" {
  run dsq-train "${TINY[@]}" --data "$T/none.dsq" --vocab "$W" --out "$T/r"
  assert_failure 74; assert_output --partial "none.dsq"
  head -c 300 "$D/dev.dsq" > "$T/cut.dsq"
  run dsq-train "${TINY[@]}" --data "$T/cut.dsq" --vocab "$W" --out "$T/r"
  assert_failure 65; assert_output --partial "cut.dsq"
  head -n 100 "$W" > "$T/other.txt"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$T/other.txt" --out "$T/r"
  assert_failure 65; assert_output --partial "another vocabulary"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --seq-len 32
  assert_failure 65; assert_output --partial "seq_len 24"
  dsq-tokenize --vocab "$W" --vocab-kind word --seq-len 600 "$DATA/qqp/dev.jsonl" \
    > "$T/long.dsq" 2>/dev/null
  run dsq-train "${TINY[@]}" --data "$T/long.dsq" --vocab "$W" --out "$T/r"
  assert_failure 2; assert_output --partial "exceeds the 512 position embeddings"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --bsz 400 --microbatch 400
  assert_failure 65; assert_output --partial "fewer than one batch"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --learning-steps 2 \
    --resume "$T/nowhere"
  assert_failure 74
  [ ! -e "$T/r/model_000002.safetensors" ]
}

@test "run directory: config, vocabulary, checkpoints that load in PyTorch, log" {
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --valid "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 6 --save-interval 3 --log-interval 2 --eval-interval 3 --ema-rate 0.9999,0.99
  assert_success
  dsq_n=$(grep -o '[0-9]* parameters' <<<"$output" | cut -d' ' -f1)
  for f in config.json vocab.txt model_000003.safetensors model_000006.safetensors \
           ema_0.9999_000006.safetensors ema_0.99_000006.safetensors ema_0.99_000003.safetensors \
           state_000006.safetensors log.jsonl; do
    [ -s "$T/r/$f" ] || fail "missing $f"
  done
  [ ! -e "$T/r/state_000003.safetensors" ]      # only the newest state is kept
  cmp "$W" "$T/r/vocab.txt"
  run jq -r '[.hidden_size, .num_hidden_layers, .diffusion_steps, .batch_size, .ema_rate,
              .vocab_kind, .schedule_sampler] | @tsv' "$T/r/config.json"
  assert_output "$(printf '32\t2\t100\t8\t0.9999,0.99\tword\tlossaware')"
  run jq -s 'map(select(.loss)) | map(.step) | join(",")' "$T/r/log.jsonl"
  assert_output '"0,2,4,5"'
  run jq -s 'map(select(.eval_loss)) | map(.step) | join(",")' "$T/r/log.jsonl"
  assert_output '"0,3"'
  run jq -e -s 'map(select(.step == 0 and .loss)) | .[0] | .nll and .tT and .mse and .decoder_nll and
             .loss_q0 != null and .grad_norm and .lr > 0.00099 and .lr < 0.00101 and .samples == 8' "$T/r/log.jsonl"
  assert_success
  run "$DSQ_PYTHON" tests/oracles/diffuseq_ref.py "$T/r/ema_0.99_000006.safetensors" --load-ckpt
  assert_success
  assert_output --partial "parameters"
  n=$(grep -o '[0-9]* parameters' <<<"$output" | cut -d' ' -f1)
  [ -n "$n" ] && [ "$n" = "$dsq_n" ]           # PyTorch counts what dsq counted
}

@test "the reference's underscore options and the v2 flags" {
  run dsq-train --layers 1 --hidden 32 --heads 2 --intermediate 64 --hidden_dim 8 \
    --hidden_t_dim 8 --diff_steps 50 --batch_size 4 --microbatch 4 --learning_steps 2 \
    --noise_schedule trunc_cos --schedule_sampler uniform --learned_mean_embed True \
    --denoise True --denoise_rate 0.5 --reg_rate 0.1 --ema_rate 0.5 --seed 7 \
    --data_dir "$D/dev.dsq" --vocab "$W" --checkpoint_path "$T/r" --use_fp16 False -q
  assert_success
  run jq -r '[.learned_mean_embed, .denoise, .denoise_rate, .noise_schedule, .seed] | @tsv' "$T/r/config.json"
  assert_output "$(printf 'true\ttrue\t0.5\ttrunc_cos\t7')"
  run "$DSQ_PYTHON" -c 'import sys; from safetensors import safe_open
f = safe_open(sys.argv[1], "np"); print(f.get_tensor("mean_embed").shape)' "$T/r/ema_0.5_000002.safetensors"
  assert_output "(8,)"
}

@test "-q prints nothing on success" {
  run dsq-train "${TINY[@]}" -q --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --learning-steps 2
  assert_success
  assert_output ""
}

@test "--data - reads standard input; the same run as from the file" {
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/a" --learning-steps 3 --log-interval 1
  dsq-train "${TINY[@]}" --data - --vocab "$W" --out "$T/b" --learning-steps 3 --log-interval 1 < "$D/dev.dsq"
  [ "$(losses "$T/a/log.jsonl")" = "$(losses "$T/b/log.jsonl")" ]
  run dsq-train "${TINY[@]}" --data - --valid - --vocab "$W" --out "$T/c" < "$D/dev.dsq"
  assert_failure 2
}

@test "on a terminal: one progress line rewritten in place, with ETA" {
  command -v script >/dev/null || skip "script(1) not installed"
  script -qec "dsq-train ${TINY[*]} --data '$D/dev.dsq' --vocab '$W' --out '$T/r' --learning-steps 3" \
    /dev/null > "$T/tty"
  grep -q $'\rdsq-train: step 3/3 loss [0-9.]* [0-9]* tokens/s ETA 0:00:00' "$T/tty"
}

@test "same seed, same losses; another seed differs" {
  for r in a b c; do
    s=5; [ $r = c ] && s=6
    dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/$r" --learning-steps 5 \
      --log-interval 1 --seed $s
  done
  [ "$(losses "$T/a/log.jsonl")" = "$(losses "$T/b/log.jsonl")" ]
  [ "$(losses "$T/a/log.jsonl")" != "$(losses "$T/c/log.jsonl")" ]
  cmp "$T/a/model_000005.safetensors" "$T/b/model_000005.safetensors"
}

@test "--resume continues exactly: 8 steps = 4 + resume + 4" {
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/a" --learning-steps 8 \
    --log-interval 1 --save-interval 4
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/b" --learning-steps 8 \
    --log-interval 1 --save-interval 4 --stop-at 4
  [ -e "$T/b/state_000004.safetensors" ] && [ ! -e "$T/b/model_000008.safetensors" ]
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --learning-steps 8 \
    --log-interval 1 --save-interval 4 --resume "$T/b"
  assert_success
  [ "$(losses "$T/a/log.jsonl")" = "$(losses "$T/b/log.jsonl")" ]
  cmp "$T/a/model_000008.safetensors" "$T/b/model_000008.safetensors"
  cmp "$T/a/ema_0.9999_000008.safetensors" "$T/b/ema_0.9999_000008.safetensors"
  # a shape mismatch is refused, naming the setting
  run dsq-train "${TINY[@]}" --hidden 64 --data "$D/dev.dsq" --vocab "$W" --learning-steps 9 \
    --resume "$T/b/state_000008.safetensors"
  assert_failure 2; assert_output --partial "hidden_size"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --learning-steps 9 \
    --resume "$T/b/model_000008.safetensors"
  assert_failure 65; assert_output --partial "not a dsq training state"
}

@test "SIGTERM finishes the step, writes a resumable state and exits 1" {
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --learning-steps 100000 \
    --log-interval 1 --save-interval 100000 2>"$T/err" &
  pid=$!
  for i in $(seq 100); do [ -s "$T/r/log.jsonl" ] && break; sleep 0.1; done
  kill -TERM $pid
  rc=0; wait $pid || rc=$?
  [ "$rc" -eq 1 ] || fail "exit $rc: $(cat "$T/err")"
  grep -q "resume with --resume" "$T/err"
  st=$(ls "$T/r"/state_*.safetensors)
  [ -n "$st" ]
  n=$(basename "$st" .safetensors); n=$((10#${n#state_}))
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --learning-steps 100000 \
    --log-interval 1 --save-interval 100000 --stop-at $((n + 2)) --resume "$T/r"
  assert_success
  [ -e "$T/r/state_$(printf %06d $((n + 2))).safetensors" ]
}

@test "a non-finite loss stops with the last good checkpoint named and intact" {
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --learning-steps 50 \
    --save-interval 1 --lr 1e30
  assert_failure 1
  assert_output --partial "not finite"
  assert_output --partial "model_0000"
  last=$(ls "$T/r"/model_*.safetensors | tail -n 1)
  run "$DSQ_PYTHON" tests/oracles/diffuseq_ref.py "$last" --load-ckpt
  assert_success
}

@test "a failed save (file size limit) keeps the previous state and leaves no temporaries" {
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --learning-steps 4 \
    --save-interval 2 --stop-at 2
  model=$(stat -c %s "$T/r/model_000002.safetensors")
  state=$(stat -c %s "$T/r/state_000002.safetensors")
  [ "$state" -gt $((model * 2)) ]
  cp "$T/r/state_000002.safetensors" "$T/saved"
  # room for a model file, not for a state file (ulimit -f counts 1 KiB blocks)
  run bash -c "ulimit -f $(( (model + state) / 2048 )); exec dsq-train ${TINY[*]} --data '$D/dev.dsq' \
    --vocab '$W' --learning-steps 4 --save-interval 2 --resume '$T/r'"
  assert_failure 74
  assert_output --partial "state_000004.safetensors"
  [ ! -e "$T/r/state_000004.safetensors" ]
  cmp "$T/saved" "$T/r/state_000002.safetensors"
  [ -z "$(ls -A "$T/r" | grep tmp)" ]
}

@test "learning: 300 steps on the QQP sample cut the loss by more than half" {
  run dsq-train --data "$D/train.dsq" --vocab "$W" --out "$T/r" --layers 2 --hidden 64 \
    --heads 4 --intermediate 128 --hidden-dim 16 --hidden-t-dim 16 --bsz 32 --microbatch 32 \
    --learning-steps 300 --save-interval 1000 --log-interval 50 --lr 1e-3 --diff-steps 200 -q
  assert_success
  first=$(jq -s '.[0]' "$T/r/log.jsonl"); last=$(jq -s '.[-1]' "$T/r/log.jsonl")
  echo "first: $first"; echo "last: $last"
  jq -e -n --argjson a "$first" --argjson b "$last" \
    '$b.step == 299 and $b.loss < 0.5 * $a.loss and $b.mse < 0.5 * $a.mse and $b.nll < 0.6 * $a.nll'
}
