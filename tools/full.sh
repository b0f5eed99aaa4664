#!/usr/bin/env bash
# Builds eisnet (installing what is missing) and runs the main job:
# generate -> train -> infer on a small default. Extra arguments go to `eisnet full`.
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec build/eisnet full "$@"
