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
# Results go under $OUT (default ./cuda_check_out): summary.txt (one line
# per stage: PASS, FAIL or SKIP), a log per stage, bench_cuda.md.
# Usage: bash bench/cuda_check.sh [--quick]
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/cuda_check_out}
mkdir -p "$OUT"
QUICK=""
[ "${1:-}" = "--quick" ] && QUICK="--quick"
JOBS=$(nproc 2>/dev/null || echo 4)
BUILD=${CUDA_CHECK_BUILD:-build-cuda-check}
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
T0=$(date +%s)

# stage NAME LIMIT_S COMMAND...: runs it with a time limit, logs to
# $OUT/NAME.log, records PASS / FAIL (rc) / SKIP (rc 77) / TIMEOUT
stage() {
  local name=$1 limit=$2; shift 2
  local t=$(date +%s)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local what=PASS
  [ $rc -eq 77 ] && what=SKIP
  [ $rc -eq 124 ] && what=TIMEOUT
  [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ $rc -ne 124 ] && what="FAIL (rc $rc)"
  printf '%-22s %-14s %4ds\n' "$name" "$what" $(( $(date +%s) - t )) | tee -a "$SUMMARY"
  return $rc
}

{
  echo "date: $(date -u)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(git status --porcelain 2>/dev/null | wc -l) changed files"
  nvidia-smi -L 2>&1 || echo "nvidia-smi: not available"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -2
  echo "cores: $JOBS"
} >"$OUT/device.txt"
cat "$OUT/device.txt"

build() {
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEISNET_CUDA=ON ${CUDA_ARCH:+-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH} &&
    cmake --build "$BUILD" -j"$JOBS" --target eisnet_cli test_cuda_gpu test_cuda_net test_cuda_backend bench_cuda &&
    { cmake --build "$BUILD" -j"$JOBS" --target test_backend_ops 2>/dev/null || true; }
}
if ! stage build 300 build; then
  echo "the build failed: see $OUT/build.log"; exit 1
fi

stage test_cuda_gpu 180 "$BUILD/test_cuda_gpu"
stage test_cuda_net 60 "$BUILD/test_cuda_net"
stage test_cuda_backend 60 "$BUILD/test_cuda_backend"
if [ -x "$BUILD/test_backend_ops" ]; then stage test_backend_ops 120 "$BUILD/test_backend_ops"; fi
stage cli_cuda 60 bash tests/cli_cuda.sh "$BUILD/eisnet"
if command -v compute-sanitizer >/dev/null; then
  EISNET_CUDA_TEST_FILTER=test_every_op_on_gpu stage memcheck 180 \
    compute-sanitizer --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_gpu"
else
  echo "memcheck               SKIP (no compute-sanitizer)" | tee -a "$SUMMARY"
fi

# end to end through the command line, when the commands take --backend
# cuda: the same training (data, seed, epochs) on the CPU and on the GPU,
# then inference on each model; the logs hold both runs' losses side by side
e2e() {
  local E="$BUILD/eisnet" D="$OUT/e2e"
  rm -rf "$D"; mkdir -p "$D"
  if ! "$E" train --help 2>&1 | grep -q -- "--backend"; then echo "train takes no --backend"; return 77; fi
  "$E" generate --n_ground_truths 6 --data_dir "$D/data" --quiet || return 1
  for be in cpu cuda; do
    cp -r "$D/data" "$D/$be"
    echo "== train --backend $be"
    "$E" train --backend "$be" --data_dir "$D/$be" --n_epochs 3 --samples_per_epoch 50000 --val_samples 2000 \
      --evaluate 0 --seed 1 || return 1
    echo "== infer --backend $be"
    "$E" infer --backend "$be" --model "$D/$be/model.safetensors" --ground_truth lhs_0000 --data_dir "$D/$be" \
      --known Rsh=460,Ra=4820 --json >"$D/infer_$be.json" || return 1
    head -c 600 "$D/infer_$be.json"; echo
    echo "== update --backend $be (an empty stream: loads the model onto the backend)"
    "$E" update --backend "$be" --model "$D/$be/model.safetensors" --input /dev/null || return 1
  done
}
stage e2e 240 e2e

stage bench_cuda 300 "$BUILD/bench_cuda" $QUICK --out "$OUT/bench_cuda.md"
if "$BUILD/eisnet" bench --help 2>&1 | grep -q -- "--backend"; then
  stage eisnet_bench_cuda 240 "$BUILD/eisnet" bench --backend cuda $QUICK --out "$OUT/eisnet_bench_cuda.md"
fi
echo "total $(( $(date +%s) - T0 ))s" | tee -a "$SUMMARY"
