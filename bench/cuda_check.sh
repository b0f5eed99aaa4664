#!/usr/bin/env bash
# The CUDA backend's verification on a machine with an NVIDIA GPU, in one run
# (about 5 minutes on an H200 with 16 cores; every stage has its own time
# limit, and a failing stage does not stop the others):
#   1. build with -DEISNET_CUDA=ON (only the programs used below)
#   2. the CUDA tests: every backend op against the CPU helpers, a 10-step
#      training trajectory against the CPU (small and reference-sized
#      networks, losses to 1e-4 relative), predictions; the host-table tests;
#      the command-line check
#   3. the op test under compute-sanitizer memcheck, when it is installed
#   4. train / infer / update end to end with --backend cuda against the CPU,
#      when the commands accept --backend cuda
#   5. bench_cuda: training throughput at batch 512 .. 8192, the products
#      against cuBLAS's rate, inference by batch size, single-prediction and
#      update latency; and `eisnet bench --backend cuda` when it exists
# Results go under $OUT (default /tmp/cuda_check_out), seven files at most:
# summary.txt (the device, one line per stage: PASS, FAIL, SKIP or TIMEOUT,
# and the end of each failing stage's log), tests.log, build.log, e2e.log,
# bench.log, bench_cuda.md, eisnet_bench_cuda.md.
# Libraries the image may lack (cJSON, cmocka, zlib, OpenBLAS, GSL): when
# .cuda-deps/ holds their Debian packages (bench/cuda_deps.sh fetches them;
# carry the folder), they are unpacked under /tmp and used from there.
# Usage: bash bench/cuda_check.sh [--quick]
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/cuda_check_out}
mkdir -p "$OUT"
QUICK=""
[ "${1:-}" = "--quick" ] && QUICK="--quick"
JOBS=$(nproc 2>/dev/null || echo 4)
BUILD=${CUDA_CHECK_BUILD:-build-cuda-check}
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
LOGS=$(mktemp -d /tmp/cuda_check.XXXXXX)
T0=$(date +%s)

# stage NAME LIMIT_S COMMAND...: runs it with a time limit, logs to
# $LOGS/NAME.log, records PASS / FAIL (rc) / SKIP (rc 77) / TIMEOUT
stage() {
  local name=$1 limit=$2; shift 2
  local t=$(date +%s)
  if declare -F "$1" >/dev/null; then
    # a function of this script: timeout cannot run it; its commands carry
    # their own limits
    ( "$@" ) >"$LOGS/$name.log" 2>&1
  else
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
  fi
  local rc=$?
  local what=PASS
  [ $rc -eq 77 ] && what=SKIP
  [ $rc -eq 124 ] && what=TIMEOUT
  [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ $rc -ne 124 ] && what="FAIL (rc $rc)"
  printf '%-22s %-14s %4ds\n' "$name" "$what" $(( $(date +%s) - t )) | tee -a "$SUMMARY"
  [ "$what" = PASS ] || [ "$what" = SKIP ] || failed+=("$name")
  return $rc
}

{
  echo "date: $(date -u)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(git status --porcelain 2>/dev/null | wc -l) changed files"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi -L
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  else
    echo "nvidia-smi: not available"
  fi
  nvcc --version 2>&1 | tail -2
  echo "cores: $JOBS"
} >>"$SUMMARY"
cat "$SUMMARY"
failed=()

# the build's libraries from .cuda-deps when present
DEPS_ARGS=()
if ls .cuda-deps/*.deb >/dev/null 2>&1; then
  D=/tmp/eisnet-deps
  rm -rf "$D"; mkdir -p "$D"
  for f in .cuda-deps/*.deb; do dpkg -x "$f" "$D"; done
  # absolute links (libz.so -> /lib/...) point into the unpacked tree instead
  find "$D" -type l | while read -r l; do
    t=$(readlink "$l")
    case $t in /*) [ -e "$D$t" ] && ln -sfn "$D$t" "$l" ;; esac
  done
  A=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
  DEPS_ARGS=(-DCMAKE_PREFIX_PATH="$D/usr"
             -DCBLAS_INCLUDE_DIR="$D/usr/include/$A/openblas-pthread"
             -DCBLAS_LIBRARY="$D/usr/lib/$A/openblas-pthread/libopenblas.so")
  export LD_LIBRARY_PATH="$D/usr/lib/$A:$D/lib/$A:$D/usr/lib/$A/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "libraries from .cuda-deps, unpacked in $D" | tee -a "$SUMMARY"
fi

build() {
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEISNET_CUDA=ON "${DEPS_ARGS[@]}" \
    ${CUDA_ARCH:+-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH} &&
    cmake --build "$BUILD" -j"$JOBS" --target eisnet_cli test_cuda_gpu test_cuda_net test_cuda_backend \
      test_backend_ops bench_cuda
}
if ! stage build 300 build; then
  cp "$LOGS/build.log" "$OUT/build.log"
  tail -40 "$LOGS/build.log" >>"$SUMMARY"
  echo "the build failed: see build.log"; exit 1
fi
cp "$LOGS/build.log" "$OUT/build.log"

# whether this build's code runs on the device here (driver, architecture)
EISNET_CUDA_PROBE_ONLY=1 "$BUILD/test_cuda_gpu" 2>&1 | tee -a "$SUMMARY"

stage test_cuda_gpu 180 "$BUILD/test_cuda_gpu"
stage test_cuda_net 60 "$BUILD/test_cuda_net"
stage test_cuda_backend 60 "$BUILD/test_cuda_backend"
if [ -x "$BUILD/test_backend_ops" ]; then stage test_backend_ops 120 "$BUILD/test_backend_ops"; fi
stage cli_cuda 60 bash tests/cli_cuda.sh "$BUILD/eisnet"
# memcheck where the runtime lets compute-sanitizer attach (gVisor machines
# answer "Device not supported": reported as SKIP)
memcheck() {
  EISNET_CUDA_TEST_FILTER=test_every_op_on_gpu timeout 180 \
    compute-sanitizer --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_gpu" 2>&1 | tee "$LOGS/memcheck.out"
  local rc=${PIPESTATUS[0]}
  if grep -q "Device not supported" "$LOGS/memcheck.out"; then return 77; fi
  return "$rc"
}
if command -v compute-sanitizer >/dev/null; then
  stage memcheck 200 memcheck
else
  echo "memcheck               SKIP (no compute-sanitizer)" | tee -a "$SUMMARY"
fi

# end to end through the command line, when the commands take --backend
# cuda: the same training (data, seed, epochs) on the CPU and on the GPU,
# then inference on each model; the logs hold both runs' losses side by side
e2e() {
  local E="$BUILD/eisnet" D="$LOGS/e2e"
  rm -rf "$D"; mkdir -p "$D"
  if ! "$E" train --help 2>&1 | grep -q -- "--backend"; then echo "train takes no --backend"; return 77; fi
  "$E" generate --n_ground_truths 6 --data_dir "$D/data" --quiet || return 1
  for be in cpu cuda; do
    cp -r "$D/data" "$D/$be"
    echo "== train --backend $be"
    timeout 150 "$E" train --backend "$be" --data_dir "$D/$be" --n_epochs 2 --samples_per_epoch 20000 --val_samples 1000 \
      --evaluate 0 --seed 1 || return 1
    echo "== infer --backend $be"
    timeout 60 "$E" infer --backend "$be" --model "$D/$be/model.safetensors" --ground_truth lhs_0000 --data_dir "$D/$be" \
      --known Rsh=460,Ra=4820 --json >"$D/infer_$be.json" || return 1
    head -c 600 "$D/infer_$be.json"; echo
    echo "== update --backend $be (an empty stream: loads the model onto the backend)"
    timeout 60 "$E" update --backend "$be" --model "$D/$be/model.safetensors" --input /dev/null || return 1
  done
}
stage e2e 240 e2e

stage bench_cuda 300 "$BUILD/bench_cuda" $QUICK --out "$OUT/bench_cuda.md"
if "$BUILD/eisnet" bench --help 2>&1 | grep -q -- "--backend"; then
  stage eisnet_bench_cuda 240 "$BUILD/eisnet" bench --backend cuda $QUICK --out "$OUT/eisnet_bench_cuda.md"
fi
# the logs, in few files
for t in test_cuda_gpu test_cuda_net test_cuda_backend test_backend_ops cli_cuda memcheck; do
  [ -f "$LOGS/$t.log" ] && { echo "===== $t"; cat "$LOGS/$t.log"; }
done >"$OUT/tests.log"
[ -f "$LOGS/e2e.log" ] && cp "$LOGS/e2e.log" "$OUT/e2e.log"
for t in bench_cuda eisnet_bench_cuda; do
  [ -f "$LOGS/$t.log" ] && { echo "===== $t"; cat "$LOGS/$t.log"; }
done >"$OUT/bench.log"
for f in "${failed[@]}"; do
  { echo; echo "===== end of $f.log"; tail -30 "$LOGS/$f.log"; } >>"$SUMMARY"
done
echo "total $(( $(date +%s) - T0 ))s" | tee -a "$SUMMARY"
