#!/usr/bin/env bash
# safetensors interop: dsq files and streams read by the Python safetensors
# library, and Python-written ones read by dsq (tests/oracles/safetensors_interop.py;
# the dsq side is build/tests/test_tensor_stream's helper modes).
set -u
cd "$(dirname "$0")/../.."
helper="${DSQ_TESTBIN:-$PWD/build/tests}/test_tensor_stream"
py="${DSQ_PYTHON:-$PWD/build/venv/bin/python}"
if [ ! -x "$helper" ]; then echo "FAIL safetensors_interop: $helper is not built (make check-build)"; exit 1; fi
if ! command -v zstd >/dev/null; then echo "FAIL safetensors_interop: the zstd command is missing"; exit 1; fi
if ! "$py" -c 'import safetensors, numpy, torch' 2>/dev/null; then
  echo "FAIL safetensors_interop: $py lacks safetensors/numpy/torch (make test-deps)"; exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$py" tests/oracles/safetensors_interop.py "$helper" "$tmp"
