#!/usr/bin/env bash
# README "Set-up: two commands", checked: the repository's files are copied
# into an empty temporary directory (tests/lib/copy-repo.sh: what a clone
# holds, nothing beside it), and there
#   - `make QUICK=1 demo` builds everything from scratch and runs the demo
#     (its package step is a no-op once `make check` has installed them);
#   - a subset of `make check` (`make check-build`, then tests/run on the
#     tests that read the shipped data and the repository's own files) passes.
# No network is used: the package steps find everything installed, and the
# subset needs no Python venv.  DSQ_SETUP_KEEP=1 keeps the directory.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/copy-repo.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dsq-setup.XXXXXX")
[ "${DSQ_SETUP_KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/dsq"
copy_repo "$PWD" "$tmp/dsq"
ls "$tmp" | grep -qvx dsq && { echo "FAIL setup_copy: $tmp holds more than the copy"; exit 1; }
if [ -e "$tmp/dsq/build" ] || [ -e "$tmp/dsq/lib/libdsq.a" ] || [ -e "$tmp/dsq/tools/dsq-train" ]; then
  echo "FAIL setup_copy: build outputs were copied"; exit 1
fi
echo "PASS setup_copy"

# The environment of a new shell: none of the test driver's paths.
clean_env=(env -u DSQ_BIN -u DSQ_TESTBIN -u DSQ_PYTHON -u DSQ_BUILD -u MAKEFLAGS -u MFLAGS -u MAKELEVEL)
jobs=-j$(nproc)
# One CUDA architecture in the copy: what is checked here is the set-up,
# not the GPUs the library runs on (tests/checks/cuda_arch.sh checks the
# main build's); four cost 35 s more of nvcc on 2 cores.
arch=(CUDA_ARCH=90)
start=$SECONDS
if (cd "$tmp/dsq" && "${clean_env[@]}" make $jobs "${arch[@]}" QUICK=1 demo) >"$tmp/demo.log" 2>&1; then
  out=$tmp/dsq/demo-out
  if grep -q '^dsq demo (QUICK=1' "$tmp/demo.log" && [ -s "$out/Makefile" ] &&
     [ "$(find "$out" -name '*.safetensors' | head -n 1)" ] &&
     grep -q 'BLEU' "$tmp/demo.log"; then
    echo "PASS setup_make_quick_demo ($((SECONDS - start)) s, build included)"
  else
    echo "FAIL setup_make_quick_demo: it exited 0 without its outputs:"; tail -n 20 "$tmp/demo.log" | sed 's/^/    /'
  fi
else
  echo "FAIL setup_make_quick_demo:"; tail -n 30 "$tmp/demo.log" | sed 's/^/    /'
fi

subset=(test_tokenizer test_metrics_sacrebleu test_jsonl data_digests citations tokenize.bats)
start=$SECONDS
if (cd "$tmp/dsq" && "${clean_env[@]}" make $jobs "${arch[@]}" check-build && "${clean_env[@]}" tests/run "${subset[@]}") \
     >"$tmp/check.log" 2>&1; then
  echo "PASS setup_check_subset ($(tail -n 1 "$tmp/check.log"), $((SECONDS - start)) s)"
else
  echo "FAIL setup_check_subset: $(tail -n 1 "$tmp/check.log")"
  grep -E 'FAIL|not ok|failed|rror' "$tmp/check.log" | head -n 30 | sed 's/^/    /'
fi
