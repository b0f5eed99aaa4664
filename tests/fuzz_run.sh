#!/usr/bin/env bash
# A short libFuzzer run of every parser harness (tools/fuzz.sh, 2 s each)
# when clang is present; skipped (77) otherwise. Set EISNET_FUZZ_SECONDS to
# change the time per harness. Usage: fuzz_run.sh (ctest runs it in the release build only)
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null; then echo "SKIP: clang not found, the fuzz harnesses were not run"; exit 77; fi
EISNET_FUZZ_BUILD=${EISNET_FUZZ_BUILD:-build-fuzz} exec tools/fuzz.sh "${EISNET_FUZZ_SECONDS:-2}"
