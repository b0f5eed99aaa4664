#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/fuzz_*.c) with clang, ASan and UBSan
# in build-fuzz/ and runs each for SECONDS (default 10) from its seeds
# (fuzz/seeds/NAME), on JOBS harnesses at a time (default 1). New inputs go
# to build-fuzz/corpus/NAME, crashes to build-fuzz/crashes/. Prints the
# executions of each harness. Usage: tools/fuzz.sh [SECONDS] [NAME...]
#   EISNET_FUZZ_BUILD=DIR  build directory (default build-fuzz)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}; shift || true
B=${EISNET_FUZZ_BUILD:-build-fuzz}
command -v clang >/dev/null || { echo "fuzz: clang not found; the harnesses need libFuzzer (apt-get install clang)"; exit 77; }
CC=clang cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEISNET_FUZZ=ON -DEISNET_TESTS=OFF \
  -DEISNET_USE_OPENMP=OFF >/dev/null
names=("$@")
if [ ${#names[@]} -eq 0 ]; then for f in fuzz/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done; fi
targets=(); for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$B" -j2 --target "${targets[@]}" >/dev/null
mkdir -p "$B/crashes"
fail=0
for n in "${names[@]}"; do
  mkdir -p "$B/corpus/$n"
  log="$B/fuzz_$n.log"
  # leaks are found too (ASan's leak check at the end of each input batch)
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$B/fuzz_$n" -max_total_time="$secs" -rss_limit_mb=2048 \
      -max_len=65536 -timeout=10 -artifact_prefix="$B/crashes/$n-" -print_final_stats=1 \
      "$B/corpus/$n" "fuzz/seeds/$n" >"$log" 2>&1; then
    echo "fuzz $n: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") executions, no crash"
  else
    echo "fuzz $n: FAILED (see $log and $B/crashes/)"; tail -30 "$log"; fail=1
  fi
done
exit $fail
