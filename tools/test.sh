#!/usr/bin/env bash
# Builds eisnet and runs the whole test suite with ctest: once in a release
# build, once under AddressSanitizer + UndefinedBehaviorSanitizer with gcc,
# and once more with clang's (which sees undefined behaviour gcc's misses)
# when clang is installed.
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEISNET_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$jobs")
if command -v clang >/dev/null; then
  CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEISNET_SANITIZE=ON >/dev/null
  cmake --build build-clang -j"$jobs"
  # leaks are checked by the gcc run above; clang's LeakSanitizer cannot run
  # under the bench's child processes
  (cd build-clang && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$jobs")
else
  echo "test.sh: clang not found, the clang ASan + UBSan run is skipped"
fi
