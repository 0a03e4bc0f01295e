#!/usr/bin/env bats
# dsq-mbr command line: selection, output form, options, exit codes.
# Expected choices come from tests/fixtures/score/expected.json (the
# re-stated evaluation script's selectBest on a.jsonl b.jsonl c.jsonl).

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
bats_require_minimum_version 1.5.0

setup() {
  F="$BATS_TEST_DIRNAME/../fixtures/score"
  E="$F/expected.json"
  T="$BATS_TEST_TMPDIR"
}

choices() { jq -c '.mbr_index' "$1" | paste -sd' '; }
expected_choices() { jq -r ".$1.mbr.choices | map(tostring) | join(\" \")" "$E"; }

@test "--help lists the options and exits 0" {
  run dsq-mbr --help
  assert_success
  assert_output --partial "Usage: dsq-mbr"
  assert_output --partial "--utility"
}

@test "--version prints dsq-mbr and the version" {
  run dsq-mbr --version
  assert_success
  assert_line --index 0 --regexp '^dsq-mbr [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "bad usage exits 2" {
  run dsq-mbr; assert_failure 2
  assert_output --partial "give the decode files"
  run dsq-mbr --no-such-option "$F/a.jsonl"; assert_failure 2
  run dsq-mbr -u meteor "$F/a.jsonl"; assert_failure 2
  assert_output --partial "--utility must be bleu or rougeL"
  run dsq-mbr -j 0 "$F/a.jsonl"; assert_failure 2
  run dsq-mbr --index-field '' "$F/a.jsonl"; assert_failure 2
  run dsq-mbr - - < "$F/a.jsonl"; assert_failure 2
}

@test "picks the script's selectBest choice on every line" {
  dsq-mbr -q "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/m.jsonl"
  [ "$(wc -l < "$T/m.jsonl")" -eq 6 ]
  [ "$(choices "$T/m.jsonl")" = "$(expected_choices abc)" ]
}

@test "each output line is the chosen file's line plus mbr_index" {
  dsq-mbr -q "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/m.jsonl"
  files=("$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl")
  i=0
  while IFS= read -r line; do
    i=$((i + 1))
    idx=$(jq -r .mbr_index <<<"$line")
    want=$(sed -n "${i}p" "${files[$idx]}" | jq -c .)
    got=$(jq -c 'del(.mbr_index)' <<<"$line")
    [ "$want" = "$got" ] || { echo "line $i: $got != $want"; return 1; }
    # mbr_index is the last key
    [ "$(jq -r 'keys_unsorted[-1]' <<<"$line")" = mbr_index ]
  done < "$T/m.jsonl"
}

@test "dsq-mbr | dsq-score gives the script's MBR figures" {
  dsq-mbr -q "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" | dsq-score > "$T/s.json"
  for k in n bleu rougeL dist1 avg_len; do
    jq -e --slurpfile e "$E" ".$k == \$e[0].abc.mbr.$k" "$T/s.json"
  done
}

@test "two files: choices and figures as the script" {
  dsq-mbr -q "$F/b.jsonl" "$F/a.jsonl" > "$T/m.jsonl"
  [ "$(choices "$T/m.jsonl")" = "$(expected_choices ab)" ]
}

@test "files are sorted by name, mbr_index counts in that order; --keep-order keeps the given one" {
  dsq-mbr -q "$F/c.jsonl" "$F/a.jsonl" "$F/b.jsonl" > "$T/sorted.jsonl"
  [ "$(choices "$T/sorted.jsonl")" = "$(expected_choices abc)" ]
  dsq-mbr -q --keep-order "$F/c.jsonl" "$F/a.jsonl" "$F/b.jsonl" > "$T/kept.jsonl"
  # Same texts chosen? Not necessarily (ties go to the first); but every
  # index must point at the line it copied, in the given order.
  files=("$F/c.jsonl" "$F/a.jsonl" "$F/b.jsonl")
  i=0
  while IFS= read -r line; do
    i=$((i + 1)); idx=$(jq -r .mbr_index <<<"$line")
    [ "$(sed -n "${i}p" "${files[$idx]}" | jq -c .)" = "$(jq -c 'del(.mbr_index)' <<<"$line")" ]
  done < "$T/kept.jsonl"
  ! cmp -s "$T/sorted.jsonl" "$T/kept.jsonl"
}

@test "a directory stands for its *.json and *.jsonl files, sorted" {
  mkdir "$T/d"
  cp "$F/b.jsonl" "$T/d/b.json"; cp "$F/a.jsonl" "$F/c.jsonl" "$T/d/"
  echo x > "$T/d/README"
  dsq-mbr -q "$T/d" > "$T/dir.jsonl"
  dsq-mbr -q "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/files.jsonl"
  cmp "$T/dir.jsonl" "$T/files.jsonl"
  mkdir "$T/empty"
  run dsq-mbr "$T/empty"
  assert_failure 65
}

@test "k = 1 is the identity plus mbr_index 0" {
  dsq-mbr -q "$F/a.jsonl" > "$T/one.jsonl"
  diff <(jq -c . "$F/a.jsonl") <(jq -c 'del(.mbr_index)' "$T/one.jsonl")
  [ "$(jq -r .mbr_index "$T/one.jsonl" | sort -u)" = 0 ]
}

@test "standard input is one of the files" {
  dsq-mbr -q --keep-order "$F/a.jsonl" - "$F/c.jsonl" < "$F/b.jsonl" > "$T/s.jsonl"
  dsq-mbr -q "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/f.jsonl"
  cmp "$T/s.jsonl" "$T/f.jsonl"
}

@test "an existing mbr_index is replaced in place; --index-field names another field" {
  dsq-mbr -q "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/m.jsonl"
  dsq-mbr -q "$T/m.jsonl" > "$T/mm.jsonl"
  [ "$(jq -r .mbr_index "$T/mm.jsonl" | sort -u)" = 0 ]
  [ "$(jq -c 'keys_unsorted' "$T/mm.jsonl" | sort -u)" = '["recover","reference","source","mbr_index"]' ]
  dsq-mbr -q --index-field seed_pick "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/i.jsonl"
  [ "$(jq -c .seed_pick "$T/i.jsonl" | paste -sd' ')" = "$(expected_choices abc)" ]
  [ "$(jq 'has("mbr_index")' "$T/i.jsonl" | sort -u)" = false ]
}

@test "--utility rougeL selects by ROUGE-L as the script's selectBest would" {
  dsq-mbr -q -u rougeL "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/r.jsonl"
  [ "$(choices "$T/r.jsonl")" = "$(expected_choices abc_rouge)" ]
  dsq-mbr -q --utility bleu "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/b.jsonl"
  [ "$(choices "$T/b.jsonl")" = "$(expected_choices abc)" ]
}

@test "--hyp-field --ref-field --src-field read renamed fields" {
  dsq-mbr -q --hyp-field hyp --ref-field tgt --src-field src "$F"/renamed_{a,b,c}.jsonl > "$T/r.jsonl"
  [ "$(choices "$T/r.jsonl")" = "$(expected_choices abc)" ]
  jq -e 'has("hyp") and has("tgt") and has("src")' "$T/r.jsonl" > /dev/null
  run dsq-mbr "$F"/renamed_{a,b}.jsonl
  assert_failure 65
  assert_output --partial "field 'recover': missing"
}

@test "--sos --eos --sep --pad and --no-clean" {
  dsq-mbr -q --sos '<s>' --eos '</s>' --sep '</s>' --pad '<pad>' "$F"/markers_{a,b,c}.jsonl > "$T/m.jsonl"
  [ "$(choices "$T/m.jsonl")" = "$(expected_choices abc)" ]
  # Left in, the markers are shared tokens: line 2 (a empty, b and c
  # without '?') then picks a candidate that has them.
  dsq-mbr -q --no-clean "$F"/{a,b,c}.jsonl > "$T/n.jsonl"
  [ "$(wc -l < "$T/n.jsonl")" -eq 6 ]
  [ "$(choices "$T/n.jsonl")" != "$(expected_choices abc)" ]
}

@test "control characters, quotes, non-ASCII and other fields survive" {
  dsq-mbr -q "$F/control.jsonl" > "$T/c.jsonl"
  diff <(jq -c . "$F/control.jsonl") <(jq -c 'del(.mbr_index)' "$T/c.jsonl")
  grep -q '\\u0001' "$T/c.jsonl"
  grep -q '東京' "$T/c.jsonl"
}

@test "the output is byte-identical for 1 and 2 threads, across read chunks" {
  for f in a b c; do for i in $(seq 1 200); do cat "$F/$f.jsonl"; done > "$T/$f.jsonl"; done
  dsq-mbr -q -j 1 "$T"/{a,b,c}.jsonl > "$T/1.jsonl"
  dsq-mbr -q --threads 2 "$T"/{a,b,c}.jsonl > "$T/2.jsonl"
  cmp "$T/1.jsonl" "$T/2.jsonl"
  [ "$(wc -l < "$T/1.jsonl")" -eq 1200 ]
  # 1200 lines span two 1024-line chunks: the choices repeat every 6 lines.
  [ "$(jq -c .mbr_index "$T/1.jsonl" | paste -sd' ' | tr ' ' '\n' | sed -n 1021,1026p | paste -sd' ')" = "$(expected_choices abc)" ]
}

@test "-o writes a file; a failed run leaves none; -q silences the summary" {
  run --separate-stderr dsq-mbr -o "$T/o.jsonl" "$F/a.jsonl" "$F/b.jsonl"
  assert_success
  [[ "$stderr" == *"6 examples, 2 candidates each, written to $T/o.jsonl"* ]]
  [ "$(wc -l < "$T/o.jsonl")" -eq 6 ]
  run --separate-stderr dsq-mbr -q -o "$T/q.jsonl" "$F/a.jsonl" "$F/b.jsonl"
  [ -z "$stderr" ]
  run dsq-mbr -o "$T/bad.jsonl" "$F/a.jsonl" "$F/short.jsonl"
  assert_failure 65
  [ ! -e "$T/bad.jsonl" ]
}

@test "files of unequal length exit 65 and name both" {
  run dsq-mbr -q "$F/a.jsonl" "$F/short.jsonl"
  assert_failure 65
  assert_output --partial "short.jsonl has 4 lines but"
  assert_output --partial "a.jsonl has more"
}

@test "a reference or source that differs exits 65 naming the line" {
  run dsq-mbr -q "$F/a.jsonl" "$F/ref_mismatch.jsonl"
  assert_failure 65
  assert_output --partial "ref_mismatch.jsonl:4: reference differs from"
  run dsq-mbr -q "$F/a.jsonl" "$F/src_mismatch.jsonl"
  assert_failure 65
  assert_output --partial "src_mismatch.jsonl:2: source differs from"
  # a file without sources is compared on references only (dsq-score's rule)
  run dsq-mbr -q "$F/a.jsonl" "$F/no_source.jsonl"
  assert_success
}

@test "malformed JSON, a missing or non-string field exit 65 with file and line" {
  run dsq-mbr -q "$F/bad_json.jsonl"
  assert_failure 65
  assert_output --partial "bad_json.jsonl:3: invalid JSON"
  run dsq-mbr -q "$F/missing_field.jsonl"
  assert_failure 65
  assert_output --partial "missing_field.jsonl:2: field 'recover': missing"
  run dsq-mbr -q "$F/nonstring_field.jsonl"
  assert_failure 65
  assert_output --partial "nonstring_field.jsonl:3: field 'reference': not a string"
}

@test "errors name the same line for any thread count, in any chunk" {
  for f in a b; do for i in $(seq 1 300); do cat "$F/$f.jsonl"; done > "$T/$f.jsonl"; done
  # line 1498 is b.jsonl's line 4, whose reference is "[CLS] why ? [SEP]"
  sed -i '1498s/"reference": "\[CLS\] why/"reference": "[CLS] why not/' "$T/b.jsonl"
  sed -n 1498p "$T/b.jsonl" | grep -q '"reference": "\[CLS\] why not'
  sed -i '1700s/.*/{"recover": "x", "reference": }/' "$T/b.jsonl"
  for j in 1 2; do
    run dsq-mbr -q -j $j "$T/a.jsonl" "$T/b.jsonl"
    assert_failure 65
    assert_output --partial "b.jsonl:1498: reference differs from"
  done
}

@test "an unreadable file exits 74" {
  run dsq-mbr -q "$F/a.jsonl" "$T/nope.jsonl"
  assert_failure 74
  assert_output --partial "nope.jsonl: cannot open"
}

@test "the man page documents every long option and renders cleanly" {
  page="$BATS_TEST_DIRNAME/../../man/dsq-mbr.1"
  run groff -man -ww -z "$page"
  assert_success
  assert_output ""
  text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$page")
  for opt in $(dsq-mbr --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
    grep -qE -- "(^|[^a-z-])$opt([^a-z0-9-]|$)" <<<"$text" || { echo "missing $opt"; return 1; }
  done
}
