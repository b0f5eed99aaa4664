/* The device side of the CUDA backend: finding a usable GPU, the context
 * (stream, cuBLAS handle, error), device memory, the matrix products through
 * cuBLAS, and the operation table of cuda_ops.h. */
#include "cuda_ctx.cuh"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "eisnet/cuda.h"
#include "eisnet/error.h"

/* ---- finding a device ------------------------------------------------------- */

/* a do-nothing kernel: loading it tells whether this build's code runs on
 * the device (its architecture is among CMAKE_CUDA_ARCHITECTURES, or PTX
 * that the driver can compile) */
__global__ void k_probe(void) {}

/* 1 when device `device` is usable (and then current); else 0 with the
 * reason in why */
static int probe_device(int device, char *why, size_t n)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, n, "no CUDA device (%s)", cudaGetErrorString(e));
        cudaGetLastError(); /* clear the sticky-free error state */
        return 0;
    }
    if (count < 1) {
        snprintf(why, n, "no CUDA device (the driver reports none)");
        return 0;
    }
    if (device < 0 || device >= count) {
        snprintf(why, n, "no CUDA device %d (%d present)", device, count);
        return 0;
    }
    e = cudaSetDevice(device);
    if (e != cudaSuccess) {
        snprintf(why, n, "CUDA device %d cannot be used (%s)", device, cudaGetErrorString(e));
        cudaGetLastError();
        return 0;
    }
    cudaFuncAttributes attr;
    e = cudaFuncGetAttributes(&attr, k_probe);
    if (e != cudaSuccess) {
        cudaDeviceProp prop;
        int major = 0, minor = 0;
        if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
            major = prop.major;
            minor = prop.minor;
        }
        snprintf(why, n,
                 "no usable CUDA device (compute %d.%d: %s; rebuild with "
                 "-DCMAKE_CUDA_ARCHITECTURES=%d%d)",
                 major, minor, cudaGetErrorString(e), major, minor);
        cudaGetLastError();
        return 0;
    }
    return 1;
}

static int probe(char *why, size_t n) { return probe_device(0, why, n); }

extern "C" int eisnet_cuda_built(void) { return 1; }

extern "C" int eisnet_cuda_available(char *why, size_t n)
{
    char buf[256];
    int ok = probe(buf, sizeof buf);
    if (!ok && why && n) snprintf(why, n, "%s", buf);
    return ok;
}

extern "C" void eisnet_cuda_describe(char *buf, size_t n)
{
    if (!buf || !n) return;
    if (!probe(buf, n)) return;
    int dev = 0;
    cudaDeviceProp prop;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
        snprintf(buf, n, "CUDA device %d (no properties)", dev);
        return;
    }
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    snprintf(buf, n, "%s, %.0f GiB, compute %d.%d, %d SMs, runtime %d.%d, driver %d.%d", prop.name,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor,
             prop.multiProcessorCount, rt / 1000, rt % 1000 / 10, drv / 1000, drv % 1000 / 10);
}

/* ---- cuBLAS, loaded when the first context is made --------------------------------
 * Linking libcublas (and the libcublasLt it pulls in, several hundred MB)
 * into every program would cost each eisnet command about a second and
 * 200 MB at start, GPU or not; it is opened only when a device context is
 * made. */

#define STR2(x) #x
#define STR(x) STR2(x)

static struct {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetMathMode) set_math_mode;
    decltype(&cublasSetWorkspace_v2) set_workspace;
    decltype(&cublasSgemm_v2) sgemm;
    decltype(&cublasGetStatusString) status_string;
} blas;
static int blas_ok;
static char blas_why[256];
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_load(void)
{
    const char *names[] = {"libcublas.so." STR(CUBLAS_VER_MAJOR),
#ifdef EISNET_CUBLAS_DIR
                           EISNET_CUBLAS_DIR "/libcublas.so." STR(CUBLAS_VER_MAJOR),
#endif
                           "libcublas.so"};
    void *h = NULL;
    for (size_t i = 0; !h && i < sizeof names / sizeof names[0]; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(blas_why, sizeof blas_why, "cannot load cuBLAS (%s)", dlerror());
        return;
    }
#define SYM(field, name)                                                                           \
    if (!(blas.field = (decltype(blas.field))dlsym(h, name))) {                                   \
        snprintf(blas_why, sizeof blas_why, "cuBLAS lacks %s", name);                              \
        return;                                                                                    \
    }
    SYM(create, "cublasCreate_v2");
    SYM(destroy, "cublasDestroy_v2");
    SYM(set_stream, "cublasSetStream_v2");
    SYM(set_math_mode, "cublasSetMathMode");
    SYM(set_workspace, "cublasSetWorkspace_v2");
    SYM(sgemm, "cublasSgemm_v2");
    SYM(status_string, "cublasGetStatusString");
#undef SYM
    blas_ok = 1; /* the library stays open for the life of the process */
}

static const char *blas_status(cublasStatus_t s)
{
    return blas.status_string ? blas.status_string(s) : "cuBLAS error";
}

/* ---- context and errors --------------------------------------------------------- */

void eisnet_cu_note(eisnet_cu_ctx *c, cudaError_t e, const char *what)
{
    if (e != cudaSuccess && c->err == cudaSuccess && c->blas_err == CUBLAS_STATUS_SUCCESS) {
        c->err = e;
        c->what = what;
    }
}

static void note_blas(eisnet_cu_ctx *c, cublasStatus_t s, const char *what)
{
    if (s != CUBLAS_STATUS_SUCCESS && c->err == cudaSuccess &&
        c->blas_err == CUBLAS_STATUS_SUCCESS) {
        c->blas_err = s;
        c->what = what;
    }
}

/* cuBLAS's workspace: its documentation asks for 32 MiB on Hopper */
#define BLAS_WORKSPACE ((size_t)32 << 20)

static void *ctx_new(int device, char *why, size_t n)
{
    if (!probe_device(device, why, n)) return NULL;
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, n, "out of host memory");
        return NULL;
    }
    cudaError_t e = cudaGetDevice(&c->device);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        snprintf(why, n, "cannot start a CUDA stream (%s)", cudaGetErrorString(e));
        free(c);
        return NULL;
    }
    pthread_once(&blas_once, blas_load);
    if (!blas_ok) {
        snprintf(why, n, "%s", blas_why);
        cudaStreamDestroy(c->stream);
        free(c);
        return NULL;
    }
    cublasStatus_t s = blas.create(&c->blas);
    if (s == CUBLAS_STATUS_SUCCESS) s = blas.set_stream(c->blas, c->stream);
    /* float products in float: the default mode uses no TF32 tensor cores
     * for sgemm (TF32 would round the inputs to 10 mantissa bits, beyond the
     * tolerance against the CPU); said explicitly, as other programs in the
     * process may change their own handles */
    if (s == CUBLAS_STATUS_SUCCESS) s = blas.set_math_mode(c->blas, CUBLAS_DEFAULT_MATH);
    if (s == CUBLAS_STATUS_SUCCESS) {
        if (cudaMalloc(&c->blas_ws, BLAS_WORKSPACE) != cudaSuccess) {
            cudaGetLastError();
            s = CUBLAS_STATUS_ALLOC_FAILED;
        } else {
            s = blas.set_workspace(c->blas, c->blas_ws, BLAS_WORKSPACE);
        }
    }
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, n, "cannot start cuBLAS (%s)", blas_status(s));
        cudaFree(c->blas_ws);
        if (c->blas) blas.destroy(c->blas);
        cudaStreamDestroy(c->stream);
        free(c);
        return NULL;
    }
    return c;
}

static void ctx_free(void *ctx)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    if (!c) return;
    cudaStreamSynchronize(c->stream);
    cudaFree(c->scratch);
    blas.destroy(c->blas);
    cudaFree(c->blas_ws);
    cudaStreamDestroy(c->stream);
    free(c);
}

static int check(void *ctx)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    eisnet_cu_note(c, cudaStreamSynchronize(c->stream), "synchronize");
    int rc = 0;
    if (c->err != cudaSuccess)
        rc = eisnet_set_error("cuda: %s: %s", c->what ? c->what : "?", cudaGetErrorString(c->err));
    else if (c->blas_err != CUBLAS_STATUS_SUCCESS)
        rc = eisnet_set_error("cuda: %s: %s", c->what ? c->what : "?",
                              blas_status(c->blas_err));
    c->err = cudaSuccess;
    c->blas_err = CUBLAS_STATUS_SUCCESS;
    c->what = NULL;
    return rc;
}

void *eisnet_cu_scratch(eisnet_cu_ctx *c, size_t bytes)
{
    if (bytes <= c->scratch_bytes) return c->scratch;
    /* the old scratch may still be read by queued kernels */
    eisnet_cu_note(c, cudaStreamSynchronize(c->stream), "scratch");
    cudaFree(c->scratch);
    c->scratch = NULL;
    c->scratch_bytes = 0;
    cudaError_t e = cudaMalloc(&c->scratch, bytes);
    eisnet_cu_note(c, e, "scratch allocation");
    if (e != cudaSuccess) return NULL;
    c->scratch_bytes = bytes;
    return c->scratch;
}

/* ---- memory ------------------------------------------------------------------------ */

static void *alloc(void *ctx, size_t bytes)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaSuccess) e = cudaMemsetAsync(p, 0, bytes, c->stream);
    if (e != cudaSuccess) {
        cudaFree(p);
        cudaGetLastError();
        eisnet_set_error("cuda: cannot allocate %zu bytes of device memory (%s)", bytes,
                         cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

static void release(void *ctx, void *p)
{
    (void)ctx;
    if (p) cudaFree(p); /* cudaFree waits for the work queued on p */
}

/* a failed copy: recorded for check() as well, so that callers that look
 * only at check() see it */
static int copy_result(eisnet_cu_ctx *c, cudaError_t e, const char *what, size_t bytes)
{
    if (e == cudaSuccess) return 0;
    eisnet_cu_note(c, e, what);
    return eisnet_set_error("cuda: %s of %zu bytes: %s", what, bytes, cudaGetErrorString(e));
}

static int upload(void *ctx, void *dst, const void *src, size_t bytes)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    if (!bytes) return 0;
    /* from pageable memory the call returns once the source has been copied
     * out, so the caller may reuse it */
    return copy_result(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream),
                       "upload", bytes);
}

static int download(void *ctx, void *dst, const void *src, size_t bytes)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    if (!bytes) return 0;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    return copy_result(c, e, "download", bytes);
}

static int zero(void *ctx, void *p, size_t bytes)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    if (!bytes) return 0;
    return copy_result(c, cudaMemsetAsync(p, 0, bytes, c->stream), "zero", bytes);
}

static int copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    if (!bytes) return 0;
    return copy_result(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream),
                       "copy", bytes);
}

/* ---- graphs ------------------------------------------------------------------------ */

static int graph_begin(void *ctx)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
    eisnet_cu_note(c, e, "graph capture");
    return e == cudaSuccess ? 0 : -1;
}

static void *graph_end(void *ctx)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    cudaGraph_t g = NULL;
    cudaGraphExec_t x = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (e == cudaSuccess) e = cudaGraphInstantiate(&x, g, 0);
    if (g) cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        eisnet_cu_note(c, e, "graph capture");
        return NULL;
    }
    return (void *)x;
}

static int graph_launch(void *ctx, void *graph)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    cudaError_t e = cudaGraphLaunch((cudaGraphExec_t)graph, c->stream);
    eisnet_cu_note(c, e, "graph launch");
    return e == cudaSuccess ? 0 : -1;
}

static void graph_free(void *ctx, void *graph)
{
    (void)ctx;
    if (graph) cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

/* ---- products ------------------------------------------------------------------------ */

/* Row-major C = beta C + op(A) op(B) is, read column-major, C^T = beta C^T +
 * op(B)^T op(A)^T: cuBLAS gets the operands swapped, each with its own
 * transpose flag, and the dimensions N, M, K. */
static void gemm(void *ctx, int ta, int tb, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc)
{
    eisnet_cu_ctx *c = (eisnet_cu_ctx *)ctx;
    if (M < 1 || N < 1) return;
    if (K < 1) { /* an empty sum: C = beta C */
        if (beta == 0.0f)
            for (int i = 0; i < M; i++)
                eisnet_cu_note(c, cudaMemsetAsync(C + (size_t)i * ldc, 0, (size_t)N * sizeof(float),
                                                  c->stream),
                               "gemm (empty)");
        return;
    }
    const float alpha = 1.0f;
    note_blas(c,
              blas.sgemm(c->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N,
                          M, K, &alpha, B, ldb, A, lda, &beta, C, ldc),
              "cublasSgemm");
}

extern "C" const eisnet_cu_ops eisnet_cu_ops_cuda = {
    "cuda",
    ctx_new,
    ctx_free,
    alloc,
    release,
    upload,
    download,
    zero,
    copy,
    check,
    gemm,
    eisnet_cu_ln_relu_dropout_fwd,
    eisnet_cu_relu_dropout_ln_bwd,
    eisnet_cu_bias_relu_dropout_fwd,
    eisnet_cu_relu_dropout_bwd_inplace,
    eisnet_cu_rows_dot,
    eisnet_cu_softmax_rows,
    eisnet_cu_colsum_add,
    eisnet_cu_broadcast_rows,
    eisnet_cu_resnorm_out_bwd,
    eisnet_cu_loss,
    eisnet_cu_grad_sumsq,
    eisnet_cu_adamw,
    graph_begin,
    graph_end,
    graph_launch,
    graph_free,
};
