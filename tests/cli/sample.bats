#!/usr/bin/env bats
# dsq-sample command line: output form and order, invariance of the output
# across --batch and --threads, every sampler, id streams, failure modes.
# Model: tests/fixtures/sample/tiny (the parity fixture's network as a dsq
# checkpoint, T = 20, word vocabulary of 40, seq_len 12; written by
# tests/oracles/sampler_ref.py --checkpoint).

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
bats_require_minimum_version 1.5.0
DATA="$BATS_TEST_DIRNAME/../../data"   # the shipped data sets (data/README.md)

setup() {
  # libgomp's spinning waits cost 20-50x on a loaded machine (tests run
  # next to each other); passive waits keep these runs in seconds.
  export OMP_WAIT_POLICY=passive
  FIX="$BATS_TEST_DIRNAME/../fixtures/sample/tiny"
  CKPT="$FIX/ema_0.9999_000000.safetensors"
  T="$BATS_TEST_TMPDIR"
  for i in 0 1 2 3 4 5 6 7 8 9; do
    printf '{"src": "w0%d w1%d w2%d", "trg": "w3%d w1%d w2%d w0%d"}\n' \
      $((i % 6 + 4)) $i $((i % 7)) $((i % 9)) $((i % 5)) $i $((9 - i % 6))
  done > "$T/in.jsonl"
  dsq-tokenize -q --vocab "$FIX/vocab.txt" --vocab-kind word --seq-len 12 \
    --rows-per-record 4 "$T/in.jsonl" > "$T/in.dsq"
}

@test "--help lists the samplers and options; --version" {
  run dsq-sample --help
  assert_success
  assert_output --partial "Usage: dsq-sample"
  for s in ddpm ddim-gap ddim 'dpm++' 'dpm++v2' --clamp-step --top-p --seed --batch --ids; do
    assert_output --partial -- "$s"
  done
  run dsq-sample --version
  assert_success
  assert_line --index 0 --regexp '^dsq-sample [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "bad usage exits 2 before reading input" {
  run dsq-sample "$T/in.dsq"; assert_failure 2
  assert_output --partial "--model FILE is required"
  run dsq-sample -m "$CKPT" --sampler euler "$T/in.dsq"; assert_failure 2
  run dsq-sample -m "$CKPT" --sampler ddim "$T/in.dsq"; assert_failure 2
  assert_output --partial "ddim needs --steps"
  run dsq-sample -m "$CKPT" --steps 21 "$T/in.dsq"; assert_failure 2
  run dsq-sample -m "$CKPT" --top-p 0.01 "$T/in.dsq"; assert_failure 2
  run dsq-sample -m "$CKPT" --order 3 -s 'dpm++' "$T/in.dsq"; assert_failure 2
  run dsq-sample -m "$CKPT" a.dsq b.dsq; assert_failure 2
}

@test "JSONL in input order: reference and source are dsq-tokenize --decode's strings" {
  run -0 dsq-sample -q -m "$CKPT" -j 1 "$T/in.dsq"
  assert_equal "${#lines[@]}" 10
  printf '%s\n' "${lines[@]}" > "$T/out.jsonl"
  run -0 jq -e -s 'all(keys == ["recover", "reference", "source"])' "$T/out.jsonl"
  dsq-tokenize -q -d --vocab "$FIX/vocab.txt" -k word "$T/in.dsq" > "$T/dec.jsonl"
  diff <(jq -c '{reference, source}' "$T/out.jsonl") <(jq -c '{reference, source}' "$T/dec.jsonl")
  run jq -r .reference "$T/out.jsonl"
  assert_line --index 3 "[START] w33 w13 w23 w06 [END]"
  # the generated region has the target's length (trailing [PAD] stripped)
  run -0 jq -e -s 'all(.recover | split(" ") | length <= 7)' "$T/out.jsonl"
}

@test "output identical across --batch and --threads, for every sampler" {
  for s in "ddpm --top-p 1.5" "ddim-gap -n 5" "ddim -n 4" "dpm++ -n 6" "dpm++v2"; do
    dsq-sample -q -m "$CKPT" -s $s -b 10 -j 1 "$T/in.dsq" > "$T/ref.jsonl"
    for b in 1 3; do
      for j in 1 2; do
        dsq-sample -q -m "$CKPT" -s $s -b $b -j $j "$T/in.dsq" > "$T/got.jsonl"
        cmp "$T/ref.jsonl" "$T/got.jsonl" || { echo "$s -b $b -j $j differs"; false; }
      done
    done
  done
}

@test "the seed changes the ddpm output; samplers differ" {
  dsq-sample -q -m "$CKPT" -j 1 --seed 1 "$T/in.dsq" > "$T/a"
  dsq-sample -q -m "$CKPT" -j 1 --seed 2 "$T/in.dsq" > "$T/b"
  dsq-sample -q -m "$CKPT" -j 1 --seed 1 "$T/in.dsq" > "$T/c"
  ! cmp -s "$T/a" "$T/b"
  cmp "$T/a" "$T/c"
  dsq-sample -q -m "$CKPT" -j 1 -s ddim-gap -n 5 "$T/in.dsq" > "$T/g"
  dsq-sample -q -m "$CKPT" -j 1 -s ddim -n 5 "$T/in.dsq" > "$T/d"
  ! cmp -s "$T/g" "$T/d"
}

@test "--ids writes an ids stream that dsq-tokenize --decode turns into the same recover strings" {
  run -0 dsq-sample -q -m "$CKPT" -j 1 --ids -o "$T/ids.dsq" "$T/in.dsq"
  dsq-sample -q -m "$CKPT" -j 1 "$T/in.dsq" > "$T/out.jsonl"
  dsq-tokenize -q -d --vocab "$FIX/vocab.txt" -k word "$T/ids.dsq" > "$T/rec.jsonl"
  diff <(jq -c '{recover}' "$T/out.jsonl") <(jq -c . "$T/rec.jsonl")
}

@test "--device: cpu is the default; cuda without a usable GPU fails with the reason" {
  run -0 dsq-sample -q -m "$CKPT" -j 1 "$T/in.dsq"
  a=$output
  run -0 dsq-sample -q -m "$CKPT" -j 1 --device cpu "$T/in.dsq"
  assert_equal "$output" "$a"
  run dsq-sample -q -m "$CKPT" --device tpu "$T/in.dsq"
  assert_failure 2; assert_output --partial "--device: 'tpu' is not cpu, cuda or cuda:N"
  if ! nvidia-smi -L >/dev/null 2>&1; then
    run dsq-sample -q -m "$CKPT" --device cuda -o "$T/o.jsonl" "$T/in.dsq"
    assert_failure 1; assert_output --partial "CUDA"
    [ ! -e "$T/o.jsonl" ] && [ ! -e "$T/o.jsonl.partial" ]
  fi
}

@test "--precision: bf16 and fp16 decode mostly the fp32 tokens, not all; a bad value exits 2" {
  run dsq-sample -q -m "$CKPT" --precision fp8 "$T/in.dsq"
  assert_failure 2; assert_output --partial "--precision: 'fp8' is not fp32, bf16 or fp16"
  for i in $(seq 0 63); do
    printf '{"src": "w0%d w1%d w2%d", "trg": "w3%d w1%d w2%d w0%d"}\n' \
      $((i % 6 + 4)) $((i % 10)) $((i % 7)) $((i % 9)) $((i % 5)) $((i / 7 % 10)) $((9 - i % 6))
  done > "$T/in64.jsonl"
  dsq-tokenize -q --vocab "$FIX/vocab.txt" --vocab-kind word --seq-len 12 "$T/in64.jsonl" \
    > "$T/in64.dsq"
  for p in fp32 bf16 fp16; do
    dsq-sample -q -m "$CKPT" --precision $p -o "$T/$p.jsonl" "$T/in64.dsq"
  done
  run -0 dsq-sample -q -m "$CKPT" "$T/in64.dsq"
  assert_equal "$output" "$(cat "$T/fp32.jsonl")"
  # per token at least 80% as in fp32 (a tiny model: close candidates), and
  # not every one (the setting is in effect)
  for p in bf16 fp16; do
    run jq -n -r --slurpfile a "$T/fp32.jsonl" --slurpfile b "$T/$p.jsonl" '
      [range($a | length) as $i | ($a[$i].recover | split(" ")) as $x
       | ($b[$i].recover | split(" ")) as $y | range($x | length) | $x[.] == $y[.]]
      | (map(select(.)) | length) / length | [. >= 0.8, . < 1] | @tsv'
    assert_output "$(printf 'true\ttrue')"
  done
}

@test "config and vocabulary found beside the checkpoint, or given" {
  mkdir "$T/run"
  cp "$CKPT" "$T/run/m.safetensors"
  run dsq-sample -q -m "$T/run/m.safetensors" "$T/in.dsq"
  assert_failure 74
  assert_output --partial "vocab.txt"
  run -0 dsq-sample -q -m "$T/run/m.safetensors" -v "$FIX/vocab.txt" -j 1 "$T/in.dsq"
  assert_equal "${#lines[@]}" 10
  run dsq-sample -q -m "$T/run/none.safetensors" "$T/in.dsq"
  assert_failure 74
  assert_output --partial "none.safetensors: cannot open"
}

@test "a stream of another vocabulary or seq_len, a model of another shape, bad streams: exit 65" {
  dsq-tokenize -q --vocab "$FIX/vocab.txt" --vocab-kind word --seq-len 10 "$T/in.jsonl" > "$T/l10.dsq"
  run dsq-sample -q -m "$CKPT" "$T/l10.dsq"
  assert_failure 65
  assert_output --partial "seq_len 10, but the model"
  dsq-tokenize -q --vocab "$DATA/vocab/bert-base-uncased.txt" --seq-len 12 \
    "$T/in.jsonl" > "$T/bert.dsq"
  run dsq-sample -q -m "$CKPT" "$T/bert.dsq"
  assert_failure 65
  assert_output --partial "another vocabulary"
  # the checkpoint's config says hidden_dim 16: its tensors have 8 columns
  "$DSQ_PYTHON" - "$CKPT" "$T/cfg.json" <<'PY'
import json, sys
from safetensors import safe_open
with safe_open(sys.argv[1], "np") as f:
    c = json.loads(f.metadata()["config"])
c["hidden_dim"] = 16
json.dump(c, open(sys.argv[2], "w"))
PY
  run dsq-sample -q -m "$CKPT" --config "$T/cfg.json" -v "$FIX/vocab.txt" "$T/in.dsq"
  assert_failure 65
  assert_output --partial "word_embedding.weight"
  head -c 200 "$T/in.dsq" > "$T/cut.dsq"
  run dsq-sample -q -m "$CKPT" -o "$T/x.jsonl" "$T/cut.dsq"
  assert_failure 65
  assert_output --partial "truncated"
  [ ! -e "$T/x.jsonl" ] && [ ! -e "$T/x.jsonl.partial" ]
}

@test "an interrupted run exits 1; only complete lines are kept, under FILE.partial" {
  for k in $(seq 60); do cat "$T/in.jsonl"; done > "$T/big.jsonl"
  dsq-tokenize -q --vocab "$FIX/vocab.txt" --vocab-kind word --seq-len 12 \
    "$T/big.jsonl" > "$T/big.dsq"
  dsq-sample -q -m "$CKPT" -b 1 -j 1 -o "$T/x.jsonl" "$T/big.dsq" 2> "$T/err" &
  pid=$!
  # the output's temporary exists once the handlers are in place (a
  # background job starts with SIGINT ignored until then): a busy machine
  # can take longer than any fixed sleep
  for _ in $(seq 400); do compgen -G "$T/.x.jsonl.tmp.*" > /dev/null && break; sleep 0.05; done
  sleep 0.3
  kill -INT $pid
  rc=0; wait $pid || rc=$?
  [ "$rc" -eq 1 ] || { cat "$T/err"; echo "exit $rc"; false; }
  [ ! -e "$T/x.jsonl" ]
  grep -q "interrupted" "$T/err"
  if [ -e "$T/x.jsonl.partial" ]; then
    n=$(wc -l < "$T/x.jsonl.partial")
    grep -q "$n examples written to $T/x.jsonl.partial" "$T/err"
    dsq-sample -q -m "$CKPT" -j 1 "$T/big.dsq" | head -n "$n" | cmp - "$T/x.jsonl.partial"
  fi
}

@test "a progress line on a terminal, lines per tenth and the summary otherwise, nothing with -q" {
  command -v script > /dev/null || skip "script(1) not installed"
  run -0 script -qec "dsq-sample -m '$CKPT' -j 1 -b 4 '$T/in.dsq' > '$T/tty.jsonl'" /dev/null
  assert_output --partial "10/10 examples (100%)"
  assert_output --partial "10 examples decoded (ddpm) to <stdout>"
  run -0 --separate-stderr dsq-sample -m "$CKPT" -j 1 "$T/in.dsq"
  [ "${#stderr_lines[@]}" -eq 2 ]   # one wave of 10: one progress line, the summary
  [[ ${stderr_lines[0]} == "dsq-sample: 10/10 examples (100%); "* ]]
  assert_equal "${stderr_lines[1]}" "dsq-sample: 10 examples decoded (ddpm) to <stdout>"
  run -0 --separate-stderr dsq-sample -q -m "$CKPT" -j 1 "$T/in.dsq"
  assert_equal "$stderr" ""
}

@test "v2 options: mean start and denoise on a v2 model; usage errors without a mean embedding" {
  # the fixture model has a mean embedding: --no-mean-start changes ddpm
  dsq-sample -q -m "$CKPT" -j 1 "$T/in.dsq" > "$T/mean.jsonl"
  dsq-sample -q -m "$CKPT" -j 1 --no-mean-start "$T/in.dsq" > "$T/nomean.jsonl"
  dsq-sample -q -m "$CKPT" -j 1 --denoise-rate 0.5 "$T/in.dsq" > "$T/den.jsonl"
  ! cmp -s "$T/mean.jsonl" "$T/nomean.jsonl"
  ! cmp -s "$T/mean.jsonl" "$T/den.jsonl"
  # the same model without it (a v1 checkpoint)
  mkdir "$T/v1"
  cp "$FIX/vocab.txt" "$T/v1/"
  "$DSQ_PYTHON" - "$CKPT" "$T/v1/m.safetensors" <<'PY'
import json, sys
from safetensors.torch import load_file, save_file
from safetensors import safe_open
with safe_open(sys.argv[1], "pt") as f:
    c = json.loads(f.metadata()["config"])
sd = load_file(sys.argv[1])
del sd["mean_embed"]
c["learned_mean_embed"] = False
save_file(sd, sys.argv[2], metadata={"config": json.dumps(c)})
PY
  run -0 dsq-sample -q -m "$T/v1/m.safetensors" -j 1 "$T/in.dsq"
  assert_equal "${#lines[@]}" 10
  run dsq-sample -q -m "$T/v1/m.safetensors" --mean-start "$T/in.dsq"
  assert_failure 2
  assert_output --partial "needs a model with a learned mean embedding"
  run dsq-sample -q -m "$T/v1/m.safetensors" --denoise-rate 0.2 "$T/in.dsq"
  assert_failure 2
  # a v2 checkpoint read with a v1 configuration: mean_embed is unexpected
  run dsq-sample -q -m "$CKPT" --config <(jq '.learned_mean_embed = false' \
    <("$DSQ_PYTHON" -c 'import sys, json; from safetensors import safe_open; print(safe_open(sys.argv[1], "np").metadata()["config"])' "$CKPT")) \
    -v "$FIX/vocab.txt" "$T/in.dsq"
  assert_failure 65
  assert_output --partial "mean_embed"
}
