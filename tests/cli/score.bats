#!/usr/bin/env bats
# dsq-score command line: inputs, options, output, exit codes, failure modes.
# Expected numbers come from tests/fixtures/score/expected.json, written by
# tests/oracles/score_fixtures.py with the re-stated evaluation script.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

setup() {
  F="$BATS_TEST_DIRNAME/../fixtures/score"
  E="$F/expected.json"
  T="$BATS_TEST_TMPDIR"
}

# jq -e on dsq-score's output with $e bound to expected.json.
check() { jq -e --slurpfile e "$E" "$1" "$2" >/dev/null; }

@test "--help lists the options and exits 0" {
  run dsq-score --help
  assert_success
  assert_output --partial "Usage: dsq-score"
  assert_output --partial "--hyp-field"
  assert_output --partial "--no-diversity"
}

@test "--version prints dsq-score and the version" {
  run dsq-score --version
  assert_success
  assert_line --index 0 --regexp '^dsq-score [0-9]+\.[0-9]+\.[0-9]+$'
  v=$(sed -n 's/^#define DSQ_VERSION "\(.*\)"/\1/p' "$BATS_TEST_DIRNAME/../../lib/base/version.h")
  assert_line --index 0 "dsq-score $v"
}

@test "bad usage exits 2" {
  run dsq-score --no-such-option "$F/a.jsonl"; assert_failure 2
  run dsq-score --format xml "$F/a.jsonl"; assert_failure 2
  assert_output --partial "--format must be json or table"
  run dsq-score -j 0 "$F/a.jsonl"; assert_failure 2
  run dsq-score -j two "$F/a.jsonl"; assert_failure 2
  run dsq-score --hyp "$F/hyp_a.txt"; assert_failure 2
  assert_output --partial "--hyp and --ref go together"
  run dsq-score --ref "$F/ref.txt"; assert_failure 2
  run dsq-score --ref "$F/ref.txt" --hyp "$F/hyp_a.txt" "$F/a.jsonl"; assert_failure 2
  run dsq-score --ref - --hyp - < "$F/ref.txt"; assert_failure 2
}

@test "one file: the script's figures, bit for bit, at the top level and in files[0]" {
  dsq-score "$F/a.jsonl" > "$T/s.json"
  for k in n bleu rougeL dist1 avg_len; do
    check ".$k == \$e[0].a.files[0].$k and .files[0].$k == \$e[0].a.files[0].$k" "$T/s.json"
  done
  check '.diversity == null and (.files|length) == 1 and .files[0].index == 0' "$T/s.json"
  check '.version|test("^[0-9]+\\.[0-9]+\\.[0-9]+$")' "$T/s.json"
}

@test "sacreBLEU and chrF with their signatures" {
  dsq-score "$F/a.jsonl" > "$T/s.json"
  check '.sacrebleu_signature == $e[0].a.files[0].sacrebleu_signature' "$T/s.json"
  check '.chrf_signature == $e[0].a.files[0].chrf_signature' "$T/s.json"
  check '(.sacrebleu - $e[0].a.files[0].sacrebleu | fabs) < 1e-9' "$T/s.json"
  check '(.chrf - $e[0].a.files[0].chrf | fabs) < 1e-9' "$T/s.json"
  check '.sacrebleu_sys_len == $e[0].a.files[0].sacrebleu_sys_len and .sacrebleu_ref_len == $e[0].a.files[0].sacrebleu_ref_len' "$T/s.json"
  check '(.sacrebleu_precisions|length) == 4 and (.sacrebleu_bp|type) == "number" and (.sacrebleu_ratio|type) == "number"' "$T/s.json"
}

@test "numbers are printed with 17 significant digits" {
  dsq-score "$F/a.jsonl" > "$T/s.json"
  run grep -oE '"bleu":[0-9.e-]+' "$T/s.json"
  assert_output --regexp '"bleu":0\.[0-9]{16,17}'
}

@test "a one-line file of two identical 2-token sentences scores 0.2213885886251307" {
  run dsq-score "$F/one.jsonl"
  assert_success
  echo "$output" | jq -e '.bleu == 0.2213885886251307 and .rougeL == 1 and .avg_len == 4 and .n == 1'
}

@test "three files: per-file figures and diversity as the script computes them" {
  dsq-score "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/s.json"
  for i in 0 1 2; do for k in bleu rougeL dist1 avg_len; do
    check ".files[$i].$k == \$e[0].abc.files[$i].$k" "$T/s.json"
  done; done
  check '.diversity == {k: 3, n: 6, self_bleu: $e[0].abc.diversity.self_bleu, div4: $e[0].abc.diversity.div4}' "$T/s.json"
  check 'has("bleu") | not' "$T/s.json"
}

@test "files are taken in sorted name order, as the script does; --keep-order keeps the given order" {
  dsq-score "$F/c.jsonl" "$F/a.jsonl" "$F/b.jsonl" > "$T/sorted.json"
  check '[.files[].file|split("/")[-1]] == ["a.jsonl","b.jsonl","c.jsonl"]' "$T/sorted.json"
  check '.diversity.self_bleu == $e[0].abc.diversity.self_bleu' "$T/sorted.json"
  dsq-score --keep-order "$F/c.jsonl" "$F/a.jsonl" "$F/b.jsonl" > "$T/kept.json"
  check '[.files[].file|split("/")[-1]] == ["c.jsonl","a.jsonl","b.jsonl"]' "$T/kept.json"
  # self-BLEU is not symmetric in the file order (nltk's hypothesis is the later file)
  check '.diversity.self_bleu != $e[0].abc.diversity.self_bleu' "$T/kept.json"
}

@test "a directory stands for its *.json and *.jsonl files" {
  mkdir "$T/d"
  cp "$F/a.jsonl" "$F/b.jsonl" "$T/d/"
  cp "$F/c.jsonl" "$T/d/c.json"
  echo junk > "$T/d/notes.txt"
  dsq-score "$T/d" > "$T/dir.json"
  dsq-score "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl" > "$T/files.json"
  check '[.files[].file] == ["'"$T"'/d/a.jsonl","'"$T"'/d/b.jsonl","'"$T"'/d/c.json"]' "$T/dir.json"
  diff <(jq -c 'del(.files[].file)' "$T/dir.json") <(jq -c 'del(.files[].file)' "$T/files.json")
  mkdir "$T/empty"
  run dsq-score "$T/empty"
  assert_failure 65
  assert_output --partial "no *.json or *.jsonl files"
}

@test "standard input, '-' and a file argument give the same figures" {
  dsq-score "$F/a.jsonl" | jq -c 'del(.file, .files[].file)' > "$T/1"
  dsq-score < "$F/a.jsonl" | jq -c 'del(.file, .files[].file)' > "$T/2"
  dsq-score - < "$F/a.jsonl" | jq -c 'del(.file, .files[].file)' > "$T/3"
  cmp "$T/1" "$T/2"
  cmp "$T/1" "$T/3"
  run bash -c "dsq-score < '$F/a.jsonl' | jq -r .file"
  assert_output "<stdin>"
}

@test "--hyp-field --ref-field --src-field read renamed fields" {
  dsq-score --hyp-field hyp --ref-field tgt --src-field src "$F"/renamed_{a,b,c}.jsonl > "$T/r.json"
  check '.diversity.self_bleu == $e[0].abc.diversity.self_bleu and .diversity.div4 == $e[0].abc.diversity.div4' "$T/r.json"
  check '.files[2].bleu == $e[0].abc.files[2].bleu' "$T/r.json"
  run dsq-score "$F/renamed_a.jsonl"
  assert_failure 65
  assert_output --partial "renamed_a.jsonl:1: field 'recover': missing"
}

@test "--sos --eos --sep --pad set the markers that are cleaned" {
  dsq-score --sos '<s>' --eos '</s>' --sep '</s>' --pad '<pad>' "$F"/markers_{a,b,c}.jsonl > "$T/m.json"
  for k in bleu rougeL dist1 avg_len; do
    check ".files[0].$k == \$e[0].abc.files[0].$k" "$T/m.json"
  done
  check '.diversity.self_bleu == $e[0].abc.diversity.self_bleu' "$T/m.json"
  # With the default markers <s> and </s> stay tokens and the figures change.
  dsq-score "$F/markers_a.jsonl" > "$T/d.json"
  check '.bleu != $e[0].a.files[0].bleu and .dist1 != $e[0].a.files[0].dist1' "$T/d.json"
}

@test "--no-clean scores the text as it is" {
  dsq-score --no-clean "$F/a.jsonl" > "$T/n.json"
  check '.bleu != $e[0].a.files[0].bleu and .avg_len > $e[0].a.files[0].avg_len' "$T/n.json"
}

@test "plain text: --hyp/--ref with --no-clean give the JSONL figures; several --hyp give diversity" {
  dsq-score --no-clean --ref "$F/ref.txt" --hyp "$F/hyp_a.txt" > "$T/p.json"
  for k in n bleu rougeL dist1 avg_len; do
    check ".$k == \$e[0].a.files[0].$k" "$T/p.json"
  done
  check '.file == "'"$F"'/hyp_a.txt" and .ref_file == "'"$F"'/ref.txt"' "$T/p.json"
  dsq-score --no-clean --ref "$F/ref.txt" --hyp "$F/hyp_c.txt" --hyp "$F/hyp_a.txt" --hyp "$F/hyp_b.txt" > "$T/p3.json"
  check '.diversity.self_bleu == $e[0].abc.diversity.self_bleu and .diversity.div4 == $e[0].abc.diversity.div4' "$T/p3.json"
  dsq-score --no-clean --ref "$F/ref.txt" --hyp - < "$F/hyp_a.txt" > "$T/p4.json"
  check '.bleu == $e[0].a.files[0].bleu' "$T/p4.json"
}

@test "plain text: unequal line counts exit 65" {
  run dsq-score --ref "$F/ref_short.txt" --hyp "$F/hyp_a.txt"
  assert_failure 65
  assert_output --partial "ref_short.txt has 3 lines but"
}

@test "--format table is for people" {
  run dsq-score -f table "$F/a.jsonl" "$F/b.jsonl"
  assert_success
  assert_line --index 0 --regexp '^file +n +BLEU +ROUGE-L +dist-1 +avg-len +sacreBLEU +chrF$'
  assert_output --partial "diversity over 2 files, 6 examples: self-BLEU"
  assert_output --partial "sacreBLEU: nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:"
  assert_output --regexp "a.jsonl +6 +0\.[0-9]{4} "
}

@test "--no-diversity skips the diversity section and its same-inputs check" {
  run dsq-score --no-diversity "$F/a.jsonl" "$F/ref_mismatch.jsonl"
  assert_success
  echo "$output" | jq -e '.diversity == null and (.files|length) == 2'
}

@test "--no-sacrebleu leaves out sacreBLEU and chrF, the script's figures unchanged" {
  dsq-score --no-sacrebleu "$F/a.jsonl" "$F/b.jsonl" > "$T/n.json"
  check '[.files[] | has("sacrebleu") or has("chrf") or has("chrf_signature")] == [false, false]' "$T/n.json"
  check '.files[1].bleu == $e[0].ab.files[1].bleu and .diversity.div4 == $e[0].ab.diversity.div4' "$T/n.json"
  run dsq-score --no-sacrebleu -f table "$F/a.jsonl"
  assert_success
  assert_output --regexp "a.jsonl +6 +0\.[0-9]{4} .* +- +-$"
  refute_output --partial "signature"
  refute_output --partial "sacreBLEU:"
}

@test "errors name the same line for any thread count" {
  for i in $(seq 1 300); do cat "$F/b.jsonl"; done > "$T/big.jsonl"
  sed -i '1500s/.*/{"recover": "x", "reference": }/' "$T/big.jsonl"
  for j in 1 2; do
    run dsq-score -j $j "$T/big.jsonl"
    assert_failure 65
    assert_output --partial "big.jsonl:1500: invalid JSON"
  done
}

@test "-o writes the report to a file; a failed run leaves none" {
  dsq-score -o "$T/out.json" "$F/a.jsonl"
  check '.bleu == $e[0].a.files[0].bleu' "$T/out.json"
  run dsq-score -o "$T/bad.json" "$F/a.jsonl" "$F/short.jsonl"
  assert_failure 65
  [ ! -e "$T/bad.json" ]
}

@test "the output is byte-identical for 1 and 2 threads" {
  dsq-score -j 1 "$F"/{a,b,c}.jsonl > "$T/1.json"
  dsq-score --threads 2 "$F"/{a,b,c}.jsonl > "$T/2.json"
  cmp "$T/1.json" "$T/2.json"
}

@test "files of unequal length exit 65 and name both" {
  run dsq-score "$F/a.jsonl" "$F/short.jsonl"
  assert_failure 65
  assert_output --partial "short.jsonl has 4 lines but"
  assert_output --partial "a.jsonl has 6"
}

@test "a reference or source that differs between files exits 65 with the line" {
  run dsq-score "$F/a.jsonl" "$F/ref_mismatch.jsonl"
  assert_failure 65
  assert_output --partial "ref_mismatch.jsonl:4: reference differs from"
  run dsq-score "$F/a.jsonl" "$F/src_mismatch.jsonl"
  assert_failure 65
  assert_output --partial "src_mismatch.jsonl:2: source differs from"
  # A file without sources is compared on references only.
  run dsq-score "$F/a.jsonl" "$F/no_source.jsonl"
  assert_success
}

@test "malformed JSON exits 65 with file and line" {
  run dsq-score "$F/bad_json.jsonl"
  assert_failure 65
  assert_output --partial "bad_json.jsonl:3: invalid JSON"
}

@test "a missing or non-string field exits 65 with file, line and field" {
  run dsq-score "$F/missing_field.jsonl"
  assert_failure 65
  assert_output --partial "missing_field.jsonl:2: field 'recover': missing"
  run dsq-score "$F/nonstring_field.jsonl"
  assert_failure 65
  assert_output --partial "nonstring_field.jsonl:3: field 'reference': not a string"
}

@test "a blank line and an empty input exit 65" {
  printf '%s\n\n' "$(head -1 "$F/a.jsonl")" > "$T/blank.jsonl"
  run dsq-score "$T/blank.jsonl"
  assert_failure 65
  assert_output --partial "blank.jsonl:2: blank line"
  : > "$T/empty.jsonl"
  run dsq-score "$T/empty.jsonl"
  assert_failure 65
  assert_output --partial "empty.jsonl: no lines (an empty decode file"
}

@test "an unreadable file exits 74" {
  run dsq-score "$T/does-not-exist.jsonl"
  assert_failure 74
  assert_output --partial "does-not-exist.jsonl: cannot open"
  run dsq-score --ref "$F/ref.txt" --hyp "$T/nope.txt"
  assert_failure 74
}

@test "empty and whitespace-only texts, non-ASCII and 1-3 token sentences are scored" {
  # Lines 2 (empty), 3 (non-ASCII), 4 (1 token), 5 (whitespace only) of a.jsonl.
  sed -n 2,5p "$F/a.jsonl" > "$T/edge.jsonl"
  run dsq-score "$T/edge.jsonl"
  assert_success
  echo "$output" | jq -e '.n == 4 and (.bleu|type) == "number" and .bleu >= 0 and .rougeL >= 0'
  # An empty hypothesis scores 0 and counts 1 field in avg len.
  sed -n 2p "$F/a.jsonl" > "$T/empty_hyp.jsonl"
  dsq-score "$T/empty_hyp.jsonl" | jq -e '.bleu == 0 and .rougeL == 0 and .dist1 == 0 and .avg_len == 1'
}

@test "the man page documents every long option and renders cleanly" {
  page="$BATS_TEST_DIRNAME/../../man/dsq-score.1"
  run groff -man -ww -z "$page"
  assert_success
  assert_output ""
  text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$page")
  for opt in $(dsq-score --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
    grep -qE -- "(^|[^a-z-])$opt([^a-z0-9-]|$)" <<<"$text" || { echo "missing $opt"; return 1; }
  done
}

# ---- BERTScore (the parity with bert_score is tests/checks/bertscore_oracle.sh;
# here a tiny random BERT that build/tests/test_bert writes) ----

tiny_bert() {
  unset DSQ_BERTSCORE_MODEL
  "${DSQ_TESTBIN:-$BATS_TEST_DIRNAME/../../build/tests}/test_bert" --write-tiny "$T/tiny"
}

@test "--bertscore adds bertscore_p/r/f1 per file, at the top level and in the table" {
  tiny_bert
  run dsq-score --bertscore "$T/tiny" --bertscore-layer 2 "$F/a.jsonl" "$F/b.jsonl"
  assert_success
  echo "$output" | jq -e '.files | length == 2 and all(.[]; (.bertscore_f1 | type) == "number"
    and .bertscore_p >= -1 and .bertscore_p <= 1 and .bertscore_r <= 1 and .bertscore_f1 <= 1)'
  # Keys sit between avg_len and sacrebleu.
  echo "$output" | jq -e '.files[0] | keys_unsorted | index("bertscore_p") == index("avg_len") + 1
    and index("sacrebleu") == index("bertscore_f1") + 1'
  run dsq-score --bertscore "$T/tiny" --bertscore-layer 2 "$F/a.jsonl"
  echo "$output" | jq -e '.bertscore_f1 == .files[0].bertscore_f1'
  run dsq-score -f table --bertscore "$T/tiny" --bertscore-layer 2 "$F/a.jsonl"
  assert_success
  assert_line --index 0 --partial "BERTScore"
  # Without a model the keys are absent.
  dsq-score "$F/a.jsonl" | jq -e 'has("bertscore_f1") | not'
}

@test "DSQ_BERTSCORE_MODEL is the default model; --no-bertscore skips it" {
  tiny_bert
  a=$(dsq-score --bertscore "$T/tiny" --bertscore-layer 1 "$F/a.jsonl")
  b=$(DSQ_BERTSCORE_MODEL="$T/tiny" dsq-score --bertscore-layer 1 "$F/a.jsonl")
  [ "$a" = "$b" ]
  DSQ_BERTSCORE_MODEL="$T/tiny" dsq-score --no-bertscore "$F/a.jsonl" | jq -e 'has("bertscore_f1") | not'
}

@test "BERTScore: same output for any thread count; idf and layers change it" {
  tiny_bert
  a=$(dsq-score -j 1 --bertscore "$T/tiny" --bertscore-layer 3 "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl")
  b=$(dsq-score -j 2 --bertscore "$T/tiny" --bertscore-layer 3 "$F/a.jsonl" "$F/b.jsonl" "$F/c.jsonl")
  [ "$a" = "$b" ]
  f3=$(jq .bertscore_f1 <<<"$(dsq-score --bertscore "$T/tiny" --bertscore-layer 3 "$F/a.jsonl")")
  f0=$(jq .bertscore_f1 <<<"$(dsq-score --bertscore "$T/tiny" --bertscore-layer 0 "$F/a.jsonl")")
  fi=$(jq .bertscore_f1 <<<"$(dsq-score --bertscore "$T/tiny" --bertscore-layer 3 --bertscore-idf "$F/a.jsonl")")
  [ "$f3" != "$f0" ] && [ "$f3" != "$fi" ]
  run dsq-score --bertscore "$T/tiny" --bertscore-layer 3 --bertscore-batch 1 "$F/a.jsonl"
  assert_success
}

@test "--bertscore-rescale: (x - b) / (1 - b) with the layer's row of a baseline file" {
  tiny_bert
  printf 'LAYER,P,R,F\n0,0.1,0.2,0.3\n1,0.25,0.5,0.75\n' > "$T/b.tsv"
  a=$(dsq-score --no-sacrebleu --bertscore "$T/tiny" --bertscore-layer 1 "$F/a.jsonl")
  b=$(dsq-score --no-sacrebleu --bertscore "$T/tiny" --bertscore-layer 1 --bertscore-rescale "$T/b.tsv" "$F/a.jsonl")
  jq -en --argjson a "$a" --argjson b "$b" '
    def near(x; y): (x - y) | fabs < 1e-6;
    near($b.bertscore_p; ($a.bertscore_p - 0.25) / 0.75) and near($b.bertscore_r; ($a.bertscore_r - 0.5) / 0.5)
    and near($b.bertscore_f1; ($a.bertscore_f1 - 0.75) / 0.25)'
}

@test "BERTScore: the layer comes from bert_score's table for known model names" {
  tiny_bert
  # google/bert_uncased_L-2_H-128_A-2 is layer 1 in bert_score's table.
  sed -i 's|"_name_or_path": "tiny-bert"|"_name_or_path": "google/bert_uncased_L-2_H-128_A-2"|' "$T/tiny/config.json"
  a=$(dsq-score --bertscore "$T/tiny" "$F/a.jsonl")
  b=$(dsq-score --bertscore "$T/tiny" --bertscore-layer 1 "$F/a.jsonl")
  [ "$a" = "$b" ]
}

@test "BERTScore bad usage and bad model directories" {
  tiny_bert
  run dsq-score --bertscore-layer 3 "$F/a.jsonl"; assert_failure 2
  assert_output --partial "need --bertscore DIR"
  run dsq-score --bertscore "$T/tiny" "$F/a.jsonl"; assert_failure 2
  assert_output --partial "\"tiny-bert\""
  assert_output --partial "is not in bert_score's layer table: give --bertscore-layer N (0..3)"
  run dsq-score --bertscore "$T/tiny" --bertscore-layer 4 "$F/a.jsonl"; assert_failure 2
  run dsq-score --bertscore "$T/tiny" --bertscore-layer 1 --bertscore-batch 0 "$F/a.jsonl"; assert_failure 2
  run dsq-score --bertscore "$T/nothing" --bertscore-layer 1 "$F/a.jsonl"; assert_failure 74
  assert_output --partial "not a model directory"
  run dsq-score --bertscore-rescale "$T/b.tsv" "$F/a.jsonl"; assert_failure 2
  assert_output --partial "need --bertscore DIR"
  printf 'LAYER,P,R,F\n0,0.1,0.2,0.3\n' > "$T/b.tsv"
  run dsq-score --bertscore "$T/tiny" --bertscore-layer 1 --bertscore-rescale "$T/b.tsv" "$F/a.jsonl"
  assert_failure 65
  assert_output --partial "b.tsv: no row for layer 1"
  run dsq-score --bertscore "$T/tiny" --bertscore-layer 1 --bertscore-rescale "$T/none.tsv" "$F/a.jsonl"
  assert_failure 74
  cp -r "$T/tiny" "$T/xlnet"
  echo '{"model_type": "xlnet", "architectures": ["XLNetModel"]}' > "$T/xlnet/config.json"
  run dsq-score --bertscore "$T/xlnet" --bertscore-layer 1 "$F/a.jsonl"; assert_failure 65
  assert_output --partial 'unsupported architecture: model_type "xlnet", architectures ["XLNetModel", ...]'
  cp -r "$T/tiny" "$T/roberta"
  sed -i 's/"model_type": "bert"/"model_type": "roberta"/' "$T/roberta/config.json"
  run dsq-score --bertscore "$T/roberta" --bertscore-layer 1 "$F/a.jsonl"; assert_failure 74
  assert_output --partial "vocab.json: missing: a byte-level BPE tokenizer"
  cp -r "$T/tiny" "$T/bpe"
  echo '{"model": {"type": "BPE"}}' > "$T/bpe/tokenizer.json"
  run dsq-score --bertscore "$T/bpe" --bertscore-layer 1 "$F/a.jsonl"; assert_failure 65
  assert_output --partial "is not WordPiece"
  rm "$T/tiny/vocab.txt"
  run dsq-score --bertscore "$T/tiny" --bertscore-layer 1 "$F/a.jsonl"; assert_failure 74
  assert_output --partial "vocab.txt: missing"
}
