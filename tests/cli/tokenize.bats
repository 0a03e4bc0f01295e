#!/usr/bin/env bats
# dsq-tokenize command line: forms, options, exit codes, failure modes.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
bats_require_minimum_version 1.5.0
DATA="$BATS_TEST_DIRNAME/../../data"   # the shipped data sets (data/README.md)

setup() {
  VOCAB="$DATA/vocab/bert-base-uncased.txt"
  QQP="$DATA/qqp/dev.jsonl"
  IWSLT="$DATA/iwslt14/train.jsonl"
  T="$BATS_TEST_TMPDIR"
}

@test "--help lists the options and exits 0" {
  run dsq-tokenize --help
  assert_success
  assert_output --partial "Usage: dsq-tokenize"
  assert_output --partial "--seq-len"
}

@test "--version names the tool and the backends" {
  run dsq-tokenize --version
  assert_success
  assert_line --index 0 --regexp '^dsq-tokenize [0-9]+\.[0-9]+\.[0-9]+$'
  assert_output --partial "backends: cpu"
}

@test "bad usage exits 2" {
  run dsq-tokenize --no-such-option; assert_failure 2
  run dsq-tokenize < "$QQP"; assert_failure 2
  assert_output --partial "--vocab FILE is required"
  run dsq-tokenize -v "$VOCAB" --seq-len 2 < "$QQP"; assert_failure 2
  run dsq-tokenize -v "$VOCAB" --seq-len abc < "$QQP"; assert_failure 2
  run dsq-tokenize -v "$VOCAB" --vocab-kind bpe < "$QQP"; assert_failure 2
  run dsq-tokenize -v "$VOCAB" --join fancy -d < "$QQP"; assert_failure 2
  run dsq-tokenize -v "$VOCAB" a.jsonl b.jsonl; assert_failure 2
}

@test "stdin, file argument and -o give the same bytes" {
  dsq-tokenize -q -v "$VOCAB" < "$QQP" > "$T/a.dsq"
  dsq-tokenize -q -v "$VOCAB" "$QQP" > "$T/b.dsq"
  dsq-tokenize -q -v "$VOCAB" -o "$T/c.dsq" - < "$QQP"
  cmp "$T/a.dsq" "$T/b.dsq"
  cmp "$T/a.dsq" "$T/c.dsq"
  run zstd -t -q "$T/a.dsq"; assert_success
}

@test "summary line on stderr counts the examples" {
  run --separate-stderr dsq-tokenize -v "$VOCAB" -o "$T/a.dsq" "$QQP"
  assert_success
  [[ "$stderr" == *"201 examples encoded to $T/a.dsq"* ]]
}

@test "output is byte-identical for 1 and 2 threads and any record size" {
  dsq-tokenize -q -v "$VOCAB" -j 1 < "$IWSLT" > "$T/1.dsq"
  dsq-tokenize -q -v "$VOCAB" -j 2 < "$IWSLT" > "$T/2.dsq"
  cmp "$T/1.dsq" "$T/2.dsq"
  dsq-tokenize -q -v "$VOCAB" -j 2 --rows-per-record 7 --decode "$T/2.dsq" > "$T/a.jsonl"
  dsq-tokenize -q -v "$VOCAB" -j 2 --rows-per-record 7 < "$IWSLT" > "$T/7.dsq"
  dsq-tokenize -q -v "$VOCAB" --decode "$T/7.dsq" > "$T/b.jsonl"
  cmp "$T/a.jsonl" "$T/b.jsonl"
  [ "$(wc -l < "$T/a.jsonl")" -eq 7283 ]
}

@test "decode writes the sampler's source and reference strings" {
  head -n 1 "$QQP" > "$T/one.jsonl"
  dsq-tokenize -q -v "$VOCAB" < "$T/one.jsonl" | dsq-tokenize -q -d -v "$VOCAB" > "$T/out.jsonl"
  run jq -r .source "$T/out.jsonl"
  assert_output "[CLS] what would happen if the sun exploded? [SEP] [SEP]"
  run jq -r .reference "$T/out.jsonl"
  assert_output "[CLS] what would happen to earth if the sun exploded? [SEP]"
}

@test "cat of two streams is one stream" {
  head -n 50 "$QQP" | dsq-tokenize -q -v "$VOCAB" > "$T/a.dsq"
  tail -n +51 "$QQP" | dsq-tokenize -q -v "$VOCAB" > "$T/b.dsq"
  dsq-tokenize -q -v "$VOCAB" < "$QQP" | dsq-tokenize -q -d -v "$VOCAB" > "$T/whole.jsonl"
  cat "$T/a.dsq" "$T/b.dsq" | dsq-tokenize -q -d -v "$VOCAB" > "$T/cat.jsonl"
  cmp "$T/whole.jsonl" "$T/cat.jsonl"
}

@test "encode, decode, encode is stable" {
  dsq-tokenize -q -v "$VOCAB" < "$QQP" | dsq-tokenize -q -d -v "$VOCAB" > "$T/d1.jsonl"
  # Re-encode the decoded texts without their markers.
  jq -c '{src: (.source | gsub("\\[CLS\\] |\\s*\\[SEP\\]"; "")),
          trg: (.reference | gsub("\\[CLS\\] |\\s*\\[SEP\\]"; ""))}' "$T/d1.jsonl" > "$T/re.jsonl"
  dsq-tokenize -q -v "$VOCAB" < "$T/re.jsonl" | dsq-tokenize -q -d -v "$VOCAB" > "$T/d2.jsonl"
  cmp "$T/d1.jsonl" "$T/d2.jsonl"
}

@test "source-only inputs: missing trg, null trg, --src-only text" {
  printf '{"src":"How do I learn C?"}\n{"src":"Why?","trg":null}\n' > "$T/s.jsonl"
  dsq-tokenize -q -v "$VOCAB" < "$T/s.jsonl" | dsq-tokenize -q -d -v "$VOCAB" > "$T/o.jsonl"
  run sh -c "jq -c .reference '$T/o.jsonl' | paste -sd ' '"
  assert_output '"" ""'
  run jq -r .source "$T/o.jsonl"
  assert_line --index 0 "[CLS] how do i learn c? [SEP] [SEP]"
  printf 'How do I learn C?\nWhy?\n' | dsq-tokenize -q -v "$VOCAB" --src-only | dsq-tokenize -q -d -v "$VOCAB" > "$T/p.jsonl"
  cmp "$T/o.jsonl" "$T/p.jsonl"
}

@test "--src-field and --trg-field read other field names" {
  jq -c '{question: .src, paraphrase: .trg}' "$QQP" > "$T/renamed.jsonl"
  dsq-tokenize -q -v "$VOCAB" --src-field question --trg-field paraphrase < "$T/renamed.jsonl" > "$T/a.dsq"
  dsq-tokenize -q -v "$VOCAB" < "$QQP" > "$T/b.dsq"
  cmp "$T/a.dsq" "$T/b.dsq"
}

@test "legacy join applies the 2022 clean-up" {
  printf '{"src":"I do not know, don'"'"'t you?","trg":"it'"'"'s fine."}\n' > "$T/j.jsonl"
  dsq-tokenize -q -v "$VOCAB" < "$T/j.jsonl" > "$T/j.dsq"
  run sh -c "dsq-tokenize -q -d -v '$VOCAB' --join legacy '$T/j.dsq' | jq -r .source"
  assert_output "[CLS] i don't know, don't you? [SEP] [SEP]"
  run sh -c "dsq-tokenize -q -d -v '$VOCAB' '$T/j.dsq' | jq -r .source"
  assert_output "[CLS] i do not know, don ' t you? [SEP] [SEP]"
}

@test "malformed JSON names file and line, exits 65, writes no file" {
  { head -n 2 "$QQP"; echo '{"src": oops}'; } > "$T/bad.jsonl"
  run dsq-tokenize -v "$VOCAB" -o "$T/out.dsq" "$T/bad.jsonl"
  assert_failure 65
  assert_output --partial "$T/bad.jsonl:3: invalid JSON"
  [ ! -e "$T/out.dsq" ]
  [ -z "$(ls -A "$T" | grep tmp)" ]
}

@test "field errors: missing src, non-string trg, invalid UTF-8, blank line" {
  printf '{"src":"a","trg":"b"}\n{"trg":"b"}\n' > "$T/f1.jsonl"
  run dsq-tokenize -v "$VOCAB" "$T/f1.jsonl"; assert_failure 65
  assert_output --partial "f1.jsonl:2: field 'src': missing"
  printf '{"src":"a","trg":7}\n' > "$T/f2.jsonl"
  run dsq-tokenize -v "$VOCAB" "$T/f2.jsonl"; assert_failure 65
  assert_output --partial "f2.jsonl:1: field 'trg': not a string"
  printf '{"src":"a","trg":"b"}\n{"src":"a\xff","trg":"b"}\n' > "$T/f3.jsonl"
  run dsq-tokenize -v "$VOCAB" "$T/f3.jsonl"; assert_failure 65
  assert_output --partial "f3.jsonl:2: invalid UTF-8"
  printf '{"src":"a","trg":"b"}\n\n{"src":"a","trg":"b"}\n' > "$T/f4.jsonl"
  run dsq-tokenize -v "$VOCAB" "$T/f4.jsonl"; assert_failure 65
  assert_output --partial "f4.jsonl:2: blank line"
}

@test "a failed encode to stdout leaves a stream no reader accepts" {
  { cat "$IWSLT"; echo 'not json'; } > "$T/late.jsonl"
  run sh -c "dsq-tokenize -q -v '$VOCAB' --rows-per-record 100 '$T/late.jsonl' > '$T/partial.dsq'"
  assert_failure 65
  [ -s "$T/partial.dsq" ]
  run dsq-tokenize -q -d -v "$VOCAB" "$T/partial.dsq"
  assert_failure 65
  assert_output --partial "truncated"
}

@test "corrupt and truncated streams are refused with 65" {
  dsq-tokenize -q -v "$VOCAB" < "$QQP" > "$T/a.dsq"
  head -c $(( $(stat -c %s "$T/a.dsq") - 9 )) "$T/a.dsq" > "$T/cut.dsq"
  run dsq-tokenize -q -d -v "$VOCAB" "$T/cut.dsq"; assert_failure 65
  printf 'this is not zstd at all' > "$T/junk.dsq"
  run dsq-tokenize -q -d -v "$VOCAB" "$T/junk.dsq"; assert_failure 65
  assert_output --partial "junk.dsq"
}

@test "decoding with another vocabulary is refused" {
  dsq-tokenize -q --build-vocab "$QQP" > "$T/words.txt"
  dsq-tokenize -q -k word -v "$T/words.txt" < "$QQP" > "$T/w.dsq"
  run dsq-tokenize -q -d -v "$VOCAB" "$T/w.dsq"
  assert_failure 65
  assert_output --partial "another vocabulary"
  head -n 100 "$VOCAB" > "$T/short.txt"
  run dsq-tokenize -q -d -k word -v "$T/short.txt" "$T/w.dsq"
  assert_failure 65
}

@test "I/O errors exit 74" {
  run dsq-tokenize -v "$VOCAB" /nonexistent/in.jsonl; assert_failure 74
  assert_output --partial "/nonexistent/in.jsonl"
  run dsq-tokenize -v "$VOCAB" -o /nonexistent/dir/out.dsq "$QQP"; assert_failure 74
  run dsq-tokenize -v /nonexistent/vocab.txt "$QQP"; assert_failure 74
}

@test "--build-vocab counts words, most frequent first, --min-count filters" {
  printf '{"src":"b a c","trg":"a b"}\n{"src":"a","trg":"d d c"}\n' > "$T/v.jsonl"
  run dsq-tokenize -q --build-vocab "$T/v.jsonl"
  assert_success
  assert_output $'a 3\nb 2\nc 2\nd 2'
  run dsq-tokenize -q --build-vocab --min-count 3 "$T/v.jsonl"
  assert_output "a 3"
}

@test "word vocabulary: encode and decode IWSLT14" {
  dsq-tokenize -q --build-vocab "$IWSLT" > "$T/words.txt"
  dsq-tokenize -q -k word -v "$T/words.txt" -L 64 < "$IWSLT" > "$T/w.dsq"
  dsq-tokenize -q -d -k word -v "$T/words.txt" "$T/w.dsq" > "$T/w.jsonl"
  [ "$(wc -l < "$T/w.jsonl")" -eq 7283 ]
  run jq -r .source "$T/w.jsonl"
  assert_line --index 0 "[START] es ist diese pyramide . [END] [END]"
}
