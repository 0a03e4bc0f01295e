#!/usr/bin/env bash
# Model parity at larger configurations than the committed fixtures
# (H=64, hidden_t_dim=128, 512 positions, V=1000; and the bert-base shape,
# forward only): the PyTorch
# re-statement (tests/oracles/diffuseq_ref.py --config medium) writes a
# fixture into a temporary directory and build/tests/test_model checks it
# (forward rel. 1e-4, gradients rel. 1e-3).  Also checks that the oracle
# still reproduces the committed fixtures' expected values, to rounding
# (tests/oracles/compare_fixture.py).
set -u
cd "$(dirname "$0")/../.."
bin="${DSQ_TESTBIN:-$PWD/build/tests}/test_model"
py="${DSQ_PYTHON:-$PWD/build/venv/bin/python}"
if [ ! -x "$bin" ]; then echo "FAIL model_oracle: $bin is not built (make check-build)"; exit 1; fi
if ! "$py" -c 'import safetensors, torch' 2>/dev/null; then
  echo "FAIL model_oracle: $py lacks safetensors/torch (make test-deps)"; exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! "$py" tests/oracles/diffuseq_ref.py "$tmp/medium.safetensors" --config medium 2>"$tmp/err"; then
  echo "FAIL model_oracle: oracle failed: $(tail -n 3 "$tmp/err")"; exit 1
fi
if "$bin" "$tmp/medium.safetensors" >"$tmp/out" 2>&1 && grep -q '^PASS test_oracle_parity' "$tmp/out"; then
  echo "PASS model_oracle_medium"
else
  echo "FAIL model_oracle_medium:"; sed 's/^/    /' "$tmp/out"
fi
grep 'rel error' "$tmp/out" | sed 's/^ */  /' >&2
# The paper's shape (bert-base encoder, V = 30,522, d = 128; B = 1, L = 16),
# forward only: ~365 MB of weights written and read once.
if "$py" tests/oracles/diffuseq_ref.py "$tmp/bert-base.safetensors" --config bert-base 2>"$tmp/err" &&
   "$bin" "$tmp/bert-base.safetensors" >"$tmp/out" 2>&1 && grep -q '^PASS test_oracle_parity' "$tmp/out"; then
  echo "PASS model_oracle_bert_base_forward"
else
  echo "FAIL model_oracle_bert_base_forward:"; tail -n 3 "$tmp/err"; sed 's/^/    /' "$tmp/out"
fi
grep 'rel error' "$tmp/out" | sed 's/^ */  /' >&2
rm -f "$tmp/bert-base.safetensors"
# The committed fixtures are still what the oracle writes, to the rounding
# of this CPU (tests/oracles/compare_fixture.py states the tolerance).
"$py" tests/oracles/diffuseq_ref.py "$tmp/small.safetensors" --config small
"$py" tests/oracles/compare_fixture.py "$tmp/small.safetensors" tests/fixtures/model/small.safetensors \
  model_oracle_reproduces_fixture

# The training loss and step (tests/unit/test_diffusion.c): the 1,000-word
# vocabulary and the full 30,522-entry BERT vocabulary, generated here;
# and the committed loss fixtures must still be what the oracle writes.
dbin="${DSQ_TESTBIN:-$PWD/build/tests}/test_diffusion"
for cfg in loss-medium loss-bertvocab; do
  if ! "$py" tests/oracles/diffuseq_ref.py "$tmp/$cfg.safetensors" --config $cfg 2>"$tmp/err"; then
    echo "FAIL model_oracle_$cfg: oracle failed: $(tail -n 3 "$tmp/err")"; continue
  fi
  if "$dbin" "$tmp/$cfg.safetensors" >"$tmp/out" 2>&1 && grep -q '^PASS test_oracle_parity' "$tmp/out"; then
    echo "PASS model_oracle_$cfg"
  else
    echo "FAIL model_oracle_$cfg:"; sed 's/^/    /' "$tmp/out"
  fi
  grep 'rel error' "$tmp/out" | sed 's/^ */  /' >&2
done
for cfg in loss loss-v2; do
  "$py" tests/oracles/diffuseq_ref.py "$tmp/$cfg.safetensors" --config $cfg
  "$py" tests/oracles/compare_fixture.py "$tmp/$cfg.safetensors" tests/fixtures/model/$cfg.safetensors \
    model_oracle_reproduces_$cfg
done

# compare_fixture.py can fail: a gradient moved by 1e-3 of its scale is
# caught; rounding noise in a zero-valued gradient (the key biases) is not.
"$py" - tests/fixtures/model/small.safetensors "$tmp" <<'PY'
import sys
from safetensors import safe_open
from safetensors.torch import load_file, save_file
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="pt") as f:
    meta = f.metadata()
moved, noise = dict(t), dict(t)
k = "grad.input_transformers.layer.0.attention.self.query.weight"
moved[k] = t[k] + 1e-3 * t[k].abs().max()
kb = "grad.input_transformers.layer.0.attention.self.key.bias"
noise[kb] = t[kb] + 1e-12 * max(float(v.abs().max()) for n, v in t.items() if n.startswith("grad."))
save_file(moved, sys.argv[2] + "/moved.safetensors", metadata=meta)
save_file(noise, sys.argv[2] + "/noise.safetensors", metadata=meta)
PY
if "$py" tests/oracles/compare_fixture.py "$tmp/moved.safetensors" tests/fixtures/model/small.safetensors x 2>/dev/null | grep -q '^FAIL x' &&
   "$py" tests/oracles/compare_fixture.py "$tmp/noise.safetensors" tests/fixtures/model/small.safetensors x 2>/dev/null | grep -q '^PASS x'; then
  echo "PASS compare_fixture_self_test"
else
  echo "FAIL compare_fixture_self_test: a moved gradient must fail and key-bias noise must pass"
fi
