#!/usr/bin/env bash
# Sampler parity at a larger configuration than the committed fixture
# (V = 5000: two vocabulary search chunks; 128-wide time sinusoid; L = 40):
# tests/oracles/sampler_ref.py --config medium writes a fixture into a
# temporary directory and build/tests/test_sample checks every sampler on
# it (states rel. 1e-4, identical tokens).  Also checks that the oracle
# still writes the committed small fixture and tiny checkpoint, to this
# CPU's rounding (tests/oracles/compare_fixture.py) and tokens exactly.
set -u
cd "$(dirname "$0")/../.."
bin="${DSQ_TESTBIN:-$PWD/build/tests}/test_sample"
py="${DSQ_PYTHON:-$PWD/build/venv/bin/python}"
if [ ! -x "$bin" ]; then echo "FAIL sample_oracle: $bin is not built (make check-build)"; exit 1; fi
if ! "$py" -c 'import safetensors, torch' 2>/dev/null; then
  echo "FAIL sample_oracle: $py lacks safetensors/torch (make test-deps)"; exit 1
fi
# libgomp's spinning waits cost 20-50x on a loaded machine.
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! "$py" tests/oracles/sampler_ref.py "$tmp/medium.safetensors" --config medium 2>"$tmp/err"; then
  echo "FAIL sample_oracle_medium: oracle failed: $(tail -n 3 "$tmp/err")"; exit 1
fi
if "$bin" "$tmp/medium.safetensors" >"$tmp/out" 2>&1 && grep -q '^PASS test_oracle_parity' "$tmp/out"; then
  echo "PASS sample_oracle_medium"
else
  echo "FAIL sample_oracle_medium:"; sed 's/^/    /' "$tmp/out"
fi
grep 'rel error' "$tmp/out" | sed 's/^ */  /' >&2
"$py" tests/oracles/sampler_ref.py "$tmp/small.safetensors" --checkpoint "$tmp/tiny" 2>/dev/null
# To this CPU's rounding (tests/oracles/compare_fixture.py); tokens exactly.
"$py" tests/oracles/compare_fixture.py "$tmp/small.safetensors" tests/fixtures/sample/sampler.safetensors \
  sample_oracle_reproduces_fixture
"$py" tests/oracles/compare_fixture.py "$tmp/tiny/ema_0.9999_000000.safetensors" \
  tests/fixtures/sample/tiny/ema_0.9999_000000.safetensors sample_oracle_reproduces_checkpoint
if cmp -s "$tmp/tiny/vocab.txt" tests/fixtures/sample/tiny/vocab.txt; then
  echo "PASS sample_oracle_reproduces_vocab"
else
  echo "FAIL sample_oracle_reproduces_vocab: the tiny checkpoint's vocab.txt differs from the oracle's"
fi
