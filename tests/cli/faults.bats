#!/usr/bin/env bats
# Hostile and mistaken inputs (issue 14): numbers in checkpoint and state
# metadata outside the command line's limits, non-finite weights, preset
# overrides of 0, a state past --learning-steps, a microbatch larger than
# the batch.  Tools that could allocate from a hostile number run under
# `ulimit -v` so that a regression fails the test instead of exhausting
# the machine.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
bats_require_minimum_version 1.5.0

load tiny   # TINY, word_streams

setup_file() { word_streams "$BATS_FILE_TMPDIR"; }

# A process a test started in the background ($bg) does not outlive it.
teardown() { if [ -n "${bg:-}" ]; then kill -9 "$bg" 2>/dev/null || true; fi; }

setup() {
  export OMP_WAIT_POLICY=passive
  D="$BATS_FILE_TMPDIR"
  T="$BATS_TEST_TMPDIR"
  W="$D/words.txt"
  # the sampling fixture (sample.bats): T = 20, word vocabulary of 40, seq_len 12
  FIX="$BATS_TEST_DIRNAME/../fixtures/sample/tiny"
  CKPT="$FIX/ema_0.9999_000000.safetensors"
  printf '{"src": "w04 w11 w22", "trg": "w33 w14 w21 w09"}\n' > "$T/in.jsonl"
  dsq-tokenize -q --vocab "$FIX/vocab.txt" --vocab-kind word --seq-len 12 \
    "$T/in.jsonl" > "$T/in.dsq"
  cp "$FIX/vocab.txt" "$T/vocab.txt"
}

# rewrite SRC DST [CONFIG-JSON [METADATA-JSON [NAN-TENSOR]]]: a copy of a
# safetensors file with keys of its "config" metadata and of __metadata__
# replaced, and element 3 of a tensor set to NaN.
rewrite() {
  "${DSQ_PYTHON:-python3}" - "$@" <<'PY'
import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
cfg = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
meta = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
nan = sys.argv[5] if len(sys.argv) > 5 else None
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = bytearray(b[8 + n:])
m = h.setdefault("__metadata__", {})
if cfg:
    c = json.loads(m["config"]); c.update(cfg); m["config"] = json.dumps(c)
m.update(meta)
if nan:
    off = h[nan]["data_offsets"][0] + 3 * 4
    data[off:off + 4] = struct.pack("<f", float("nan"))
hb = json.dumps(h).encode()
hb += b" " * (-len(hb) % 8)
open(dst, "wb").write(struct.pack("<Q", len(hb)) + hb + bytes(data))
PY
}

# dsq-sample on a checkpoint within 4 GB of address space.
sample_small() {
  run bash -c 'ulimit -v 4000000; dsq-sample -q -m "$1" "$2"' _ "$@"
}

@test "checkpoint config: diffusion_steps 2147483647 is refused (65) before allocating" {
  rewrite "$CKPT" "$T/m.safetensors" '{"diffusion_steps": 2147483647}'
  sample_small "$T/m.safetensors" "$T/in.dsq"
  assert_failure 65
  assert_output --partial "$T/m.safetensors"
  assert_output --partial "diffusion_steps = 2147483647"
  assert_output --partial "[2, 16777216]"
}

@test "checkpoint config: layer, width, head, vocabulary and position counts out of range are refused (65)" {
  for kv in num_hidden_layers:1000000 num_hidden_layers:0 hidden_size:2147483647 \
            num_attention_heads:0 intermediate_size:99999999999 hidden_dim:-1 \
            hidden_t_dim:1 vocab_size:4000000000 max_position_embeddings:1000000000 \
            seq_len:100000; do
    k=${kv%%:*} v=${kv#*:}
    rewrite "$CKPT" "$T/m.safetensors" "{\"$k\": $v}"
    sample_small "$T/m.safetensors" "$T/in.dsq"
    assert_failure 65
    assert_output --partial "$k = $v"
    assert_output --partial "allowed range"
  done
  # seq_len within its range but beyond the position embeddings
  rewrite "$CKPT" "$T/m.safetensors" '{"seq_len": 600}'
  sample_small "$T/m.safetensors" "$T/in.dsq"
  assert_failure 65; assert_output --partial "exceeds max_position_embeddings = 16"
  # a width in range that the model cannot take (not a multiple of 16)
  rewrite "$CKPT" "$T/m.safetensors" '{"hidden_size": 24, "num_attention_heads": 4}'
  sample_small "$T/m.safetensors" "$T/in.dsq"
  assert_failure 65; assert_output --partial "multiple of 16"
  # a non-integer size
  rewrite "$CKPT" "$T/m.safetensors" '{"diffusion_steps": "many"}'
  sample_small "$T/m.safetensors" "$T/in.dsq"
  assert_failure 65; assert_output --partial "diffusion_steps is not an integer"
}

@test "checkpoint config: sizes in range that the file's weights cannot hold are refused (65)" {
  rewrite "$CKPT" "$T/m.safetensors" '{"hidden_size": 65536, "num_attention_heads": 1, "intermediate_size": 1048576, "num_hidden_layers": 1000}'
  sample_small "$T/m.safetensors" "$T/in.dsq"
  assert_failure 65
  assert_output --partial "configuration and weights disagree"
}

@test "config.json beside a checkpoint is range-checked the same way (65)" {
  rewrite "$CKPT" "$T/m.safetensors" '{}' '{"config": ""}'
  "${DSQ_PYTHON:-python3}" -c '
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
c = json.loads(json.loads(b[8:8 + n])["__metadata__"]["config"])
c["diffusion_steps"] = 2147483647
json.dump(c, open(sys.argv[2], "w"))' "$CKPT" "$T/config.json"
  # no config metadata at all: the file beside it is read
  "${DSQ_PYTHON:-python3}" -c '
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); del h["__metadata__"]
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])' "$T/m.safetensors"
  sample_small "$T/m.safetensors" "$T/in.dsq"
  assert_failure 65
  assert_output --partial "$T/config.json: diffusion_steps = 2147483647"
}

@test "non-finite weights in a checkpoint are refused (65), naming the tensor and the index" {
  rewrite "$CKPT" "$T/m.safetensors" '{}' '{}' input_up_proj.0.weight
  run dsq-sample -q -m "$T/m.safetensors" "$T/in.dsq"
  assert_failure 65
  assert_output --partial "tensor input_up_proj.0.weight holds a non-finite weight"
  assert_output --partial "index 3"
}

@test "--layers 0 and every preset override at 0 are usage errors (2)" {
  for o in --layers --hidden --heads --intermediate --hidden-dim --hidden-t-dim; do
    run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" $o 0 -q \
      --learning-steps 1
    assert_failure 2
    assert_output --partial -- "$o: '0' is not an integer in ["
    [ ! -e "$T/r" ]
  done
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --layers 1001 -q
  assert_failure 2
}

@test "--microbatch larger than --bsz is a usage error (2)" {
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" --bsz 8 \
    --microbatch 16 -q
  assert_failure 2
  assert_output --partial "--microbatch 16 is larger than --bsz 8"
  [ ! -e "$T/r" ]
}

@test "a state past --learning-steps is refused (65): the run is already complete" {
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 4 -q
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 2 --resume "$T/r" -q
  assert_failure 65
  assert_output --partial "$T/r/state_000004.safetensors: step 4 is past --learning-steps 2"
  assert_output --partial "already complete"
  [ ! -e "$T/r/model_000002.safetensors" ]
}

@test "a state with a hostile step is refused (65) within a small address space" {
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 4 -q
  rewrite "$T/r/state_000004.safetensors" "$T/r/state_000005.safetensors" '{}' \
    '{"step": "99999999999999"}'
  rm "$T/r/state_000004.safetensors"
  run bash -c 'ulimit -v 4000000; dsq-train "$@"' _ "${TINY[@]}" --data "$D/dev.dsq" \
    --vocab "$W" --out "$T/r" --learning-steps 8 --resume "$T/r" -q
  assert_failure 65
  assert_output --partial "step = 99999999999999 is outside the allowed range"
  [ -z "$(ls "$T/r" | grep 99999999999999)" ]
}

# wait_lock DIR: until a dsq-train holds DIR's lock (its pid written in
# it); bounded, so a run that never starts fails the test.
wait_lock() {
  for _ in $(seq 600); do
    [ -s "$1/.dsq-train.lock" ] && return 0
    sleep 0.05
  done
  return 1
}

@test "a run directory has one owner: a second dsq-train on it fails at once naming the holder's pid" {
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 100000 --seed 1 -q 3>&- &
  pid=$! bg=$!
  wait_lock "$T/r"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 2 --seed 2 -q
  kill -TERM "$pid"; wait "$pid" || true
  assert_failure 1
  assert_output --partial "--out $T/r is in use by another dsq-train (pid $pid"
  # what the first run left is one run: every log line parses and every
  # checkpoint has its seed
  "${DSQ_PYTHON:-python3}" -c '
import json, struct, sys, glob
for l in open(sys.argv[1] + "/log.jsonl"): json.loads(l)
for f in glob.glob(sys.argv[1] + "/*.safetensors"):
    b = open(f, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    assert json.loads(json.loads(b[8:8 + n])["__metadata__"]["config"])["seed"] == 1, f' "$T/r"
}

@test "--out onto an existing run is refused (2) without --resume or --overwrite; --overwrite starts it again" {
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 4 --save-interval 2 -q
  cp -r "$T/r" "$T/before"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 2 --seed 7 -q
  assert_failure 2
  assert_output --partial "--out $T/r already holds a run"
  assert_output --partial "--resume $T/r"
  assert_output --partial "--overwrite"
  diff -r -x .dsq-train.lock "$T/before" "$T/r"   # nothing touched
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 2 --overwrite --resume "$T/r" -q
  assert_failure 2
  assert_output --partial "exclude each other"
  # a directory of other files is not a run
  mkdir "$T/mine"; echo notes > "$T/mine/notes.txt"
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/mine" \
    --learning-steps 2 -q
  [ -e "$T/mine/notes.txt" ]
  # --overwrite: the old run's files are gone, only the new run's remain
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 2 --seed 7 --overwrite -q
  run ls "$T/r"
  assert_output "config.json
ema_0.9999_000002.safetensors
log.jsonl
model_000002.safetensors
state_000002.safetensors
vocab.txt"
  [ "$(wc -l < "$T/r/log.jsonl")" -eq 2 ]
  # a run that fails before writing leaves no directory it created
  run dsq-train "${TINY[@]}" --data "$T/none.dsq" --vocab "$W" --out "$T/new" -q
  assert_failure 74
  [ ! -e "$T/new" ]
}

@test "--top-p: a tiny value is a usage error (2); <= 0 is off as in the reference; 0.05 ends" {
  run timeout -s KILL 60 dsq-sample -q -m "$CKPT" --top-p 1e-9 "$T/in.dsq"
  assert_failure 2
  assert_output --partial "--top-p: 1e-9 is below 0.05"
  dsq-sample -q -m "$CKPT" "$T/in.dsq" > "$T/off.jsonl"
  dsq-sample -q -m "$CKPT" --top-p -1 "$T/in.dsq" > "$T/m1.jsonl"
  cmp "$T/off.jsonl" "$T/m1.jsonl"
  run -0 timeout 120 dsq-sample -q -m "$CKPT" --top-p 0.05 "$T/in.dsq"
  [ "${#lines[@]}" -eq 1 ]
}

# wait_file GLOB: until a file matching GLOB exists (bounded).
wait_file() {
  for _ in $(seq 1200); do
    compgen -G "$1" > /dev/null && return 0
    sleep 0.05
  done
  return 1
}

@test "SIGTERM and SIGINT stop dsq-sample inside its loops: exit 1, no output under the final name" {
  for i in $(seq 3000); do
    printf '{"src": "w04 w11 w22", "trg": "w33 w14 w21 w09"}\n'
  done > "$T/big.jsonl"
  dsq-tokenize -q --vocab "$T/vocab.txt" --vocab-kind word --seq-len 12 "$T/big.jsonl" \
    > "$T/big.dsq"
  for sig in TERM INT; do
    rm -f "$T/out.jsonl"*
    # slow steps: top-p redraws at the smallest value
    timeout -s KILL 300 dsq-sample -q -m "$CKPT" --top-p 0.05 -o "$T/out.jsonl" "$T/big.dsq" \
      2> "$T/err" &
    pid=$! bg=$!
    wait_file "$T/.out.jsonl.tmp.*"
    kill -$sig $pid
    rc=0; wait $pid || rc=$?
    [ "$rc" -eq 1 ]      # not 124 (timeout): the signal was seen
    [ ! -e "$T/out.jsonl" ]
    [ -z "$(compgen -G "$T/.out.jsonl.tmp.*")" ]
    # what was complete is kept under a name that says so, whole lines only
    if [ -e "$T/out.jsonl.partial" ]; then
      "${DSQ_PYTHON:-python3}" -c '
import json, sys
for l in open(sys.argv[1]): json.loads(l)' "$T/out.jsonl.partial"
    fi
  done
}

@test "dsq-tokenize -o leaves no temporary when a signal ends it (TERM, HUP, USR1)" {
  mkfifo "$T/fifo"
  for sig in TERM HUP USR1; do
    dsq-tokenize -q --vocab "$T/vocab.txt" --vocab-kind word --seq-len 12 -o "$T/out.dsq" \
      "$T/fifo" &
    pid=$! bg=$!
    exec 7> "$T/fifo"      # the writer stays open: dsq-tokenize waits for input
    printf '{"src": "w04", "trg": "w33"}\n' >&7
    wait_file "$T/.out.dsq.tmp.*"
    kill -$sig $pid
    rc=0; wait $pid || rc=$?
    exec 7>&-
    [ "$rc" -gt 128 ]      # died of the signal, as before
    [ -z "$(compgen -G "$T/.out.dsq.tmp.*")" ]
    [ ! -e "$T/out.dsq" ]
  done
}

@test "dsq-train removes stale temporaries of dead processes from its run directory; a live one's stays" {
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 2 -q
  bash -c 'exit 0' & dead=$!; wait $dead
  ! kill -0 $dead 2>/dev/null
  head -c 1000 /dev/zero > "$T/r/.state_000003.safetensors.tmp.$dead.0"
  head -c 1000 /dev/zero > "$T/r/.config.json.tmp.$dead"
  head -c 1000 /dev/zero > "$T/r/.out.jsonl.tmp.$$"        # this shell is alive
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 4 --resume "$T/r" -q
  [ ! -e "$T/r/.state_000003.safetensors.tmp.$dead.0" ]
  [ ! -e "$T/r/.config.json.tmp.$dead" ]
  [ -e "$T/r/.out.jsonl.tmp.$$" ]
}

@test "kill -9 during saves, then --resume: the checkpoints equal an uninterrupted run's, no temporary is left" {
  export OMP_NUM_THREADS=1
  args=("${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --learning-steps 30 --save-interval 1 -q)
  dsq-train "${args[@]}" --out "$T/a"
  kills=0
  for delay in 0.3 0.05 0.5 0.2 0.4 0.1; do
    if compgen -G "$T/b/state_*.safetensors" > /dev/null; then more=(--resume "$T/b")
    else more=(--overwrite); fi
    dsq-train "${args[@]}" --out "$T/b" "${more[@]}" &
    pid=$! bg=$!
    sleep $delay
    kill -9 $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid || true
  done
  [ "$kills" -gt 0 ]
  if compgen -G "$T/b/state_*.safetensors" > /dev/null; then more=(--resume "$T/b")
  else more=(--overwrite); fi
  dsq-train "${args[@]}" --out "$T/b" "${more[@]}"
  for f in model_000030 ema_0.9999_000030 state_000030; do
    cmp "$T/a/$f.safetensors" "$T/b/$f.safetensors"
  done
  [ -z "$(ls -a "$T/b" | grep '\.tmp\.')" ]
}

@test "-o naming an input (same device and inode, any spelling or a hard link) is refused (2) by every tool, the input intact" {
  S="$BATS_TEST_DIRNAME/../fixtures/score"
  cp "$S/a.jsonl" "$S/b.jsonl" "$T/"
  ln "$T/b.jsonl" "$T/b.link"
  cp "$T/in.dsq" "$T/same.dsq"
  cp "$T/vocab.txt" "$T/v.txt"
  sums() { sha256sum "$T/a.jsonl" "$T/b.jsonl" "$T/same.dsq" "$T/v.txt" "$T/in.jsonl"; }
  before=$(sums)
  check() {  # command...: usage error naming the input
    run "$@"
    assert_failure 2
    assert_output --partial "the same file"
  }
  check dsq-tokenize -q -d -v "$T/v.txt" -k word -o "$T/same.dsq" "$T/same.dsq"
  check dsq-tokenize -q -v "$T/v.txt" -k word --seq-len 12 -o "$T/./in.jsonl" "$T/in.jsonl"
  check dsq-tokenize -q -v "$T/v.txt" -k word --seq-len 12 -o "$T/v.txt" "$T/in.jsonl"
  check dsq-tokenize -q --build-vocab -o "$T/a.jsonl" "$T/b.jsonl" "$T/a.jsonl"
  check dsq-score -o "$T/a.jsonl" "$T/a.jsonl"
  check dsq-score --no-diversity -o "$T/b.link" "$T/a.jsonl" "$T/b.jsonl"
  check dsq-score -o "$T/a.jsonl" --hyp "$T/a.jsonl" --ref "$T/b.jsonl"
  check dsq-mbr -q -o "$T/a.jsonl" "$T/a.jsonl" "$T/b.jsonl"
  check dsq-mbr -q -o "$T/b.link" "$T"
  check dsq-sample -q -m "$CKPT" -o "$T/same.dsq" "$T/same.dsq"
  check dsq-sample -q -m "$CKPT" --vocab "$T/v.txt" -o "$T/v.txt" "$T/in.dsq"
  [ "$(sums)" = "$before" ]
  # a fresh output, and /dev/null, are fine
  run -0 dsq-score -o /dev/null "$T/a.jsonl"
}

@test "dsq-mbr and dsq-score share one rule: an empty input is refused (65) by both, a file without sources is accepted by both" {
  S="$BATS_TEST_DIRNAME/../fixtures/score"
  : > "$T/empty.jsonl"
  for tool in dsq-score dsq-mbr; do
    run $tool "$T/empty.jsonl"
    assert_failure 65
    assert_output --partial "$T/empty.jsonl: no lines (an empty decode file"
    run $tool "$T/empty.jsonl" "$T/empty.jsonl"
    assert_failure 65
    run $tool < /dev/null   # dsq-mbr takes files only (MBR needs candidates)
    if [ $tool = dsq-mbr ]; then assert_failure 2; else assert_failure 65; fi
    run $tool "$S/a.jsonl" "$S/no_source.jsonl"
    assert_success
    run $tool "$S/a.jsonl" "$S/src_mismatch.jsonl"
    assert_failure 65
    assert_output --partial "src_mismatch.jsonl:2: source differs from"
  done
  # -o of a refused run is not created
  run dsq-mbr -o "$T/out.jsonl" "$T/empty.jsonl"
  assert_failure 65
  [ ! -e "$T/out.jsonl" ]
}

@test "a frame checksum mismatch: no row reaches the output from a file; from a pipe the message names the records read" {
  # the last 4 bytes of a frame are its checksum: the data decodes, the check fails
  flip_last() { "${DSQ_PYTHON:-python3}" -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 0x55
open(sys.argv[2], "wb").write(b)' "$1" "$2"; }
  flip_last "$T/in.dsq" "$T/bad.dsq"
  run --separate-stderr dsq-tokenize -q -d -v "$T/vocab.txt" -k word "$T/bad.dsq"
  assert_failure 65
  [ -z "$output" ]
  [[ $stderr == *"bad.dsq: corrupt zstd data: the checksum of the frame"*"checked before any record was used"* ]]
  run --separate-stderr dsq-sample -q -m "$CKPT" "$T/bad.dsq"
  assert_failure 65
  [ -z "$output" ]
  run -0 dsq-tokenize -q -d -v "$T/vocab.txt" -k word -o "$T/x.jsonl" "$T/in.dsq"
  # standard input from the file is checked too; a pipe cannot be
  run --separate-stderr dsq-tokenize -q -d -v "$T/vocab.txt" -k word - < "$T/bad.dsq"
  assert_failure 65
  [ -z "$output" ]
  run --separate-stderr bash -c 'cat "$1" | dsq-tokenize -q -d -v "$2" -k word' _ "$T/bad.dsq" \
    "$T/vocab.txt"
  assert_failure 65
  [[ $stderr == *"record 1 came from it and was read before the check"* ]]
  [[ $stderr != *"record 2"* ]]
}

@test "SIGHUP stops dsq-train like SIGTERM: the step finished, a state saved, exit 1 naming it" {
  dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 100000 --save-interval 100000 3>&- 2> "$T/err" &
  pid=$! bg=$!
  wait_lock "$T/r"
  # past setup: the first progress line
  for _ in $(seq 600); do grep -q "step 1/100000" "$T/err" && break; sleep 0.05; done
  kill -HUP $pid
  rc=0; wait $pid || rc=$?
  [ "$rc" -eq 1 ]
  run grep -o "stopped by signal 1 after step [0-9]*; resume with --resume .*" "$T/err"
  assert_success
  n=$(sed 's/.*after step \([0-9]*\);.*/\1/' <<< "$output")
  [ -e "$T/r/state_$(printf %06d "$n").safetensors" ]
}

@test "step numbers agree: progress lines, the end and file names count updates from 1; config_name says custom when overridden" {
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 4 --log-interval 2
  assert_line --partial "steps 1..4"
  assert_line --partial "dsq-train: step 1/4 loss"
  assert_line --partial "dsq-train: step 4/4 loss"
  assert_line --partial "done: 4 steps, $T/r/model_000004.safetensors"
  [ "$(jq -s 'map(.step) | join(",")' "$T/r/log.jsonl")" = '"0,2,3"' ]
  [ "$(jq -r .config_name "$T/r/config.json")" = custom ]
  run -0 dsq-train --config bert-tiny --hidden-dim 8 --hidden-t-dim 8 --diff-steps 100 \
    --bsz 8 --microbatch 4 --data "$D/dev.dsq" --vocab "$W" --out "$T/t" --learning-steps 1 -q
  [ "$(jq -r .config_name "$T/t/config.json")" = bert-tiny ]
}

@test "documentation: dsq-score and dsq-mbr --help list the exit status; the man page keeps its quotes" {
  for t in dsq-score dsq-mbr dsq-sample dsq-tokenize dsq-train; do
    run -0 $t --help
    assert_output --partial "Exit status: 0 ok, 2 usage, 65 bad input data, 74 I/O error, 1 other"
  done
  run -0 bash -c "MANWIDTH=200 man -l '$BATS_TEST_DIRNAME/../../man/dsq-score.1' 2>/dev/null | col -b"
  assert_output --partial '{"recover": ..., "reference": ..., "source": ...}'
}

@test "messages say what to do: run directory and training cases" {
  # a full disk (a file-size limit reads the same) names the state to resume from
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 2 -q
  run bash -c 'ulimit -f 1000; dsq-train "$@"' _ "${TINY[@]}" --data "$D/dev.dsq" \
    --vocab "$W" --out "$T/r" --learning-steps 4 --resume "$T/r" -q
  assert_failure 74
  assert_output --partial "continue with --resume $T/r/state_000002.safetensors"
  [ -e "$T/r/state_000002.safetensors" ]
  [ -z "$(ls -a "$T/r" | grep '\.tmp\.')" ]
  # a NaN stop after a resume names the resumed checkpoint, not "none"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 8 --resume "$T/r" --lr 1e30 -q
  assert_failure 1
  assert_output --partial "The last good checkpoint is $T/r/model_000002.safetensors"
  # --resume of a path that does not exist: said so, nothing created
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --resume "$T/none" -q
  assert_failure 74
  assert_output --partial "--resume $T/none: No such file or directory (give a state_*.safetensors"
  [ ! -e "$T/none" ]
  mkdir "$T/empty"
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --resume "$T/empty" -q
  assert_failure 65
  assert_output --partial "nothing to resume"
  # a word-vocabulary stream with the BERT vocabulary
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" -q --out "$T/b" \
    --vocab "$BATS_TEST_DIRNAME/../../data/vocab/bert-base-uncased.txt"
  assert_failure 65
  assert_output --partial "$D/dev.dsq was tokenized with another vocabulary, a word one"
  assert_output --partial "give the vocabulary the stream was made with"
  # --seq-len beyond the positions: no suggestion to tokenize with it
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/s" --seq-len 600 -q
  assert_failure 2
  assert_output --partial "--seq-len 600 exceeds the model's 512 position embeddings (at most 512)"
  refute_output --partial "tokenize with --seq-len 600"
  # the default batch on a small data set suggests one that fits
  run dsq-train --data "$D/dev.dsq" --vocab "$W" --out "$T/d" -q
  assert_failure 65
  assert_output --partial "201 examples, fewer than one batch (--bsz 2048): give --bsz 192 or less"
}

@test "messages say what to do: sampling, decoding and JSONL cases" {
  # not a checkpoint
  run dsq-sample -q -m "$T/vocab.txt" "$T/in.dsq"
  assert_failure 65
  assert_output --partial "--model takes a model_*.safetensors or ema_*.safetensors file"
  # a checkpoint copied out of its run directory
  mkdir "$T/c"; cp "$CKPT" "$T/c/"
  run dsq-sample -q -m "$T/c/$(basename "$CKPT")" "$T/in.dsq"
  assert_failure 74
  assert_output --partial "give the run's vocab.txt with --vocab"
  run -0 dsq-sample -q -m "$T/c/$(basename "$CKPT")" --vocab "$T/vocab.txt" "$T/in.dsq"
  # dsq-tokenize -d takes the vocabulary kind from the stream, as dsq-train does
  run -0 dsq-tokenize -q -d -v "$T/vocab.txt" "$T/in.dsq"
  assert_output --partial '"source": "[START] w04 w11 w22 [END]'
  run bash -c 'cat "$1" | dsq-tokenize -q -d -v "$2"' _ "$T/in.dsq" "$T/vocab.txt"
  assert_failure 65
  assert_output --partial "then it is read with --vocab-kind word"
  # a byte-order mark, a JSON array, a pretty-printed object
  printf '\xef\xbb\xbf{"src": "w04", "trg": "w33"}\n' > "$T/bom.jsonl"
  printf '[{"src": "w04", "trg": "w33"}]\n' > "$T/arr.jsonl"
  printf '{\n  "src": "w04",\n  "trg": "w33"\n}\n' > "$T/pretty.jsonl"
  for f in bom arr pretty; do
    run dsq-tokenize -q -v "$T/vocab.txt" -k word --seq-len 12 "$T/$f.jsonl"
    assert_failure 65
    case $f in
      bom) assert_output --partial "byte-order mark: remove it" ;;
      arr) assert_output --partial "a JSON array: JSONL holds one object per line; convert with jq -c '.[]'" ;;
      pretty) assert_output --partial "spread over several lines? JSONL holds one per line" ;;
    esac
    run dsq-score "$T/$f.jsonl"
    assert_failure 65
    case $f in
      bom) assert_output --partial "byte-order mark" ;;
      arr) assert_output --partial "a JSON array" ;;
    esac
  done
}

@test "dsq-sample progress: done/total, rate and ETA on a terminal; a line per tenth (or 30 s) otherwise" {
  for i in 1 2 3 4; do
    printf '{"src": "w04 w11 w22", "trg": "w33 w14 w21 w09"}\n'
  done > "$T/four.jsonl"
  dsq-tokenize -q --vocab "$T/vocab.txt" --vocab-kind word --seq-len 12 "$T/four.jsonl" \
    > "$T/four.dsq"
  dsq-sample -m "$CKPT" -b 1 "$T/four.dsq" 2> "$T/err" > /dev/null
  for k in 1 2 3 4; do
    grep -q "^dsq-sample: $k/4 examples ($((k * 25))%); [0-9.]* examples/s; ETA [0-9]*:[0-9][0-9]:[0-9][0-9]$" "$T/err"
  done
  # a pipe: the total is unknown, so no total and no ETA
  dsq-sample -m "$CKPT" -b 1 < <(cat "$T/four.dsq") 2> "$T/err2" > /dev/null
  ! grep -q "ETA" "$T/err2"
  # a terminal: one line rewritten in place
  script -qec "dsq-sample -m '$CKPT' -b 2 -o '$T/o.jsonl' '$T/four.dsq'" /dev/null > "$T/tty"
  grep -q $'\rdsq-sample: 4/4 examples (100%); [0-9.]* examples/s; ETA 0:00:00' "$T/tty"
}

@test "NaN in a --resume state is refused (65), naming the tensor, the index and the parameter" {
  run -0 dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 2 -q
  cp "$T/r/state_000002.safetensors" "$T/good.safetensors"
  for t in params adam.exp_avg adam.exp_avg_sq ema.0; do
    rewrite "$T/good.safetensors" "$T/r/state_000002.safetensors" '{}' '{}' "$t"
    run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
      --learning-steps 4 --resume "$T/r" -q
    assert_failure 65
    assert_output --partial "$T/r/state_000002.safetensors: tensor $t holds a non-finite value (nan at flat index 3, in word_embedding.weight)"
    [ ! -e "$T/r/model_000004.safetensors" ]
  done
  # the loss-aware sampler's history (F64)
  "${DSQ_PYTHON:-python3}" - "$T/good.safetensors" "$T/r/state_000002.safetensors" <<'PY'
import json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read()); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); off = 8 + n + h["sampler.history"]["data_offsets"][0] + 8 * 21
b[off:off + 8] = struct.pack("<d", float("inf")); open(sys.argv[2], "wb").write(b)
PY
  run dsq-train "${TINY[@]}" --data "$D/dev.dsq" --vocab "$W" --out "$T/r" \
    --learning-steps 4 --resume "$T/r" -q
  assert_failure 65
  assert_output --partial "tensor sampler.history holds a non-finite loss (inf at [2, 1])"
}
