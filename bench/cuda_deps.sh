#!/usr/bin/env bash
# Fetches the Debian packages eisnet builds against (cJSON, cmocka, zlib,
# OpenBLAS, GSL) into .cuda-deps/, for a GPU machine whose image lacks them
# and cannot fetch anything: bench/cuda_check.sh unpacks them there (under
# /tmp, never over /) when it finds the folder. Run here, once, from the
# repository root; then carry .cuda-deps with the check (about 15 MB).
set -eu
cd "$(dirname "$0")/.."
mkdir -p .cuda-deps
# keep the folder out of git without touching .gitignore
ex=$(git rev-parse --git-path info/exclude)
grep -qx '/.cuda-deps/' "$ex" 2>/dev/null || echo '/.cuda-deps/' >>"$ex"
cd .cuda-deps
apt-get download libcjson-dev libcjson1 libcmocka-dev libcmocka0 zlib1g-dev \
  zlib1g libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0 libgsl-dev libgsl27 \
  libgslcblas0
ls -la
