#!/usr/bin/env bash
# Installs everything inseq needs on Debian 12 and builds it: LibTorch (Debian's libtorch-dev) with the
# OpenMP OpenBLAS, the C++ toolchain, Chromium (headless, for the HTML visualisation tests), the npm
# dependencies, the native addon, the TypeScript. python3-sentencepiece and python3-torch (Debian's, 1.13,
# the same as libtorch-dev) are for the tests only: they train .spm models and write the ct2 TorchScript bundle.
# Safe to re-run: system packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libtorch-dev libopenblas0-openmp cmake ninja-build g++ binutils chromium python3-sentencepiece python3-torch)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null
fi
# Debian's LibTorch calls whatever libblas.so.3 points to; the reference BLAS is ~7x slower and the
# pthread OpenBLAS fights LibTorch's OpenMP pool. Pin the OpenMP OpenBLAS when we may.
openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if [[ -e $openblas && $(id -u) -eq 0 ]]; then
  update-alternatives --set libblas.so.3-x86_64-linux-gnu "$openblas" >/dev/null
fi

npm ci --no-audit --no-fund  # its install hook builds the native addon
npm run build
