#!/usr/bin/env bash
# Sets up a checkout of inseq on Debian 12 / Ubuntu and builds it:
#   1. the build toolchain (cmake, ninja, g++) when missing,
#   2. the npm dependencies and the TypeScript,
#   3. the pinned LibTorch with headers, the way a user gets it: `inseq setup-torch --dev` (PyPI's torch wheel,
#      unpacked into $INSEQ_HOME, default ~/.cache/inseq; no Python, no apt),
#   4. the native addon against it.
# `--tests` also installs what the test suite needs: from apt Chromium (HTML views), redis-server (the job-queue tests
# start their own on a free loopback port), python3-sentencepiece
# (trains .spm models), python3-torch (writes the ct2 TorchScript bundle), Debian's libtorch-dev with the OpenMP
# OpenBLAS (the Debian build-from-source path, scripts/check-debian-build.sh); and the CUDA flavour of the pinned
# LibTorch (`setup-torch --cuda`, ~2.9 GB of wheels) for the tests of one addon on CPU-only and CUDA installs.
# Safe to re-run: what is present is not reinstalled, a finished LibTorch install is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ binutils)
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(chromium redis-server python3-sentencepiece python3-torch libtorch-dev libopenblas0-openmp)
fi
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

npm ci --no-audit --no-fund --ignore-scripts  # the install hook would try to build before LibTorch is here
npm run build:ts
node dist/cli/index.js setup-torch --dev
if [[ "${1:-}" == "--tests" ]]; then
  node dist/cli/index.js setup-torch --cuda
fi
npm run build:native
