#!/usr/bin/env bash
# PyTorch checkpoint interop: files torch.save writes (zip and legacy
# containers, every dtype dsq reads, views) read by dsq, and dsq-written
# .pt files read by torch.load (tests/oracles/pt_interop.py; the dsq side
# is build/tests/test_ptfile's convert mode).
set -u
cd "$(dirname "$0")/../.."
helper="${DSQ_TESTBIN:-$PWD/build/tests}/test_ptfile"
py="${DSQ_PYTHON:-$PWD/build/venv/bin/python}"
if [ ! -x "$helper" ]; then echo "FAIL pt_interop: $helper is not built (make check-build)"; exit 1; fi
if ! "$py" -c 'import safetensors, torch' 2>/dev/null; then
  echo "FAIL pt_interop: $py lacks safetensors/torch (make test-deps)"; exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$py" tests/oracles/pt_interop.py "$helper" "$tmp"
