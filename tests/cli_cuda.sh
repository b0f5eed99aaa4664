#!/usr/bin/env bash
# The CUDA backend in the build and on the command line, without a GPU:
#  - in a build with CUDA (CMakeCache: a CUDA compiler and EISNET_CUDA not
#    OFF), the libraries hold the device code (the operation table and the
#    kernels) and the programs' shared libraries all resolve;
#  - `eisnet bench --backend cuda` where no usable device is present (or the
#    backend is not built) prints one line naming --backend and cuda, and
#    exits non-zero before any work.
# On a machine with a GPU the second part is skipped here (bench/cuda_check.sh
# measures there).
. "$(dirname "$0")/lib.sh"
BUILD=$(dirname "$BIN")
CACHE="$BUILD/CMakeCache.txt"
cuda_built=0
if [ -f "$CACHE" ] && grep -q '^CMAKE_CUDA_COMPILER:[A-Z]*=/' "$CACHE" && ! grep -qi '^EISNET_CUDA:[A-Z]*=OFF' "$CACHE"; then
  cuda_built=1
fi
if [ $cuda_built = 1 ] && command -v nm >/dev/null; then
  for lib in "$BUILD/libeisnet.a" "$BUILD/libeisnet_nn.a"; do
    [ -f "$lib" ] || { bad "missing $lib"; continue; }
    nm -g --defined-only "$lib" 2>/dev/null | grep -qw eisnet_cu_ops_cuda && ok || bad "$lib lacks the CUDA operation table"
    nm "$lib" 2>/dev/null | grep -q 'k_ln_relu_dropout_fwd' && ok || bad "$lib lacks the CUDA kernels"
  done
  # cuBLAS is opened at run time: the library the build names must exist and
  # export what src/nn/cuda_device.cu looks up, and no program links it
  dir=$(sed -n 's/.*EISNET_CUBLAS_DIR=\\"\([^\\]*\)\\".*/\1/p' "$BUILD"/CMakeFiles/eisnet_cuda_obj.dir/flags.make 2>/dev/null | head -1)
  lib=$(ls "$dir"/libcublas.so.[0-9]* 2>/dev/null | head -1)
  if [ -n "$lib" ]; then
    for sym in cublasCreate_v2 cublasDestroy_v2 cublasSetStream_v2 cublasSetMathMode cublasSetWorkspace_v2 cublasSgemm_v2 cublasGetStatusString; do
      nm -D --defined-only "$lib" | grep -qw "$sym" && ok || bad "$lib lacks $sym"
    done
  else
    bad "no libcublas.so.N in the toolkit directory '$dir' the build recorded"
  fi
  ldd "$BIN" | grep -q libcublas && bad "eisnet links cuBLAS (it should open it at run time)" || ok
  if [ -f "$BUILD/libeisnet.so" ]; then
    nm -D --defined-only "$BUILD/libeisnet.so" | grep -qw eisnet_cuda_net_train_step && ok || bad "libeisnet.so lacks the CUDA network"
    ldd "$BUILD/libeisnet.so" | grep -q 'not found' && bad "libeisnet.so: $(ldd "$BUILD/libeisnet.so" | grep 'not found')" || ok
  fi
fi
ldd "$BIN" | grep -q 'not found' && bad "eisnet: $(ldd "$BIN" | grep 'not found')" || ok
"$BIN" --help >/dev/null 2>&1 && ok || bad "eisnet --help fails"

# the device test program decides whether a device is usable here
GPU_TEST="$BUILD/test_cuda_gpu"
if [ -x "$GPU_TEST" ] && EISNET_CUDA_PROBE_ONLY=1 "$GPU_TEST" >"$T/gpu" 2>&1; then
  echo "cli_cuda: a CUDA device is present; the no-device answer is not checked here"
else
  expect_error "--backend" bench --backend cuda --quick --n_ground_truths 3 --samples_per_gt 200 --out "$T/bench.md"
  grep -qi cuda "$T/err" && ok || bad "the --backend cuda message does not name cuda: $(cat "$T/err")"
  [ ! -e "$T/bench.md" ] && ok || bad "bench wrote its table although the backend was refused"
  [ -s "$T/out" ] && bad "stdout not empty: $(head -c 200 "$T/out")" || ok
fi
finish
