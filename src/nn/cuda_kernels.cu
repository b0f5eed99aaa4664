/* The network's element-wise, normalisation, loss and optimizer kernels on
 * the GPU. Each computes what the CPU helper named in src/nn/cuda_ops.h
 * computes, with the same expressions in the same order per element (this
 * file is compiled without FMA contraction and with IEEE division and square
 * root, as the CPU code is), so that only the order of the sums over rows and
 * columns differs. Dropout uses the CPU's hash of the same global element
 * index: the masks are the same bits.
 *
 * Column sums (gradients of weights and biases of the element-wise layers)
 * are reduced in a fixed order by blocks of 32 columns x 8 row slices, not
 * with atomics: results are the same from run to run. */
#include "cuda_ctx.cuh"

#include <string.h>

#include "eisnet/kernels.h"

#define WARP 32
#define FULL_MASK 0xffffffffu
/* threads per block of the row kernels (a multiple of WARP) */
#define ROW_THREADS 256
#define ELEM_THREADS 256
/* the column reductions: 32 columns x COL_SLICES row slices per block */
#define COL_SLICES 8

/* ---- helpers ---------------------------------------------------------------- */

template <typename T> __device__ T warp_sum(T v)
{
    for (int off = WARP / 2; off; off >>= 1) v += __shfl_xor_sync(FULL_MASK, v, off);
    return v;
}

__device__ float warp_max(float v)
{
    for (int off = WARP / 2; off; off >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, off));
    return v;
}

/* the sum of v over the block, returned to every thread; sh holds WARP
 * values */
template <typename T> __device__ T block_sum(T v, T *sh)
{
    const int lane = threadIdx.x % WARP, w = threadIdx.x / WARP, nw = blockDim.x / WARP;
    v = warp_sum(v);
    __syncthreads(); /* sh may still be read from a previous call */
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : T(0);
    return warp_sum(v);
}

static unsigned blocks_for(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b);
}

static eisnet_cu_ctx *ctx_of(void *ctx) { return (eisnet_cu_ctx *)ctx; }

/* the dropout key of a kernel (see cuda_ops.h); thr 0: unused */
__device__ uint64_t dropout_key(uint64_t key, const uint64_t *key_dev, uint64_t thr)
{
    if (!thr) return 0;
    return key_dev ? eisnet_hash64(*key_dev, key) : key;
}

#define LAUNCHED(c, name) eisnet_cu_note((c), cudaGetLastError(), name)

/* ---- LayerNorm + ReLU + dropout ---------------------------------------------- */

__global__ void k_ln_relu_dropout_fwd(float *out, float *mean, float *rstd, const float *in,
                                      const float *in_bias, const float *weight,
                                      const float *bias, int C, float scale, uint64_t thr,
                                      uint64_t key_arg, const uint64_t *key_dev, uint64_t idx0)
{
    __shared__ float sh[WARP];
    const uint64_t key = dropout_key(key_arg, key_dev, thr);
    const size_t row = blockIdx.x;
    const float *x = in + row * C;
    float *y = out + row * C;
    float s = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) s += in_bias ? x[i] + in_bias[i] : x[i];
    const float m = block_sum(s, sh) / (float)C;
    float v = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        const float d = (in_bias ? x[i] + in_bias[i] : x[i]) - m;
        v += d * d;
    }
    v = block_sum(v, sh);
    const float r = 1.0f / sqrtf(v / (float)C + EISNET_LN_EPS);
    if (threadIdx.x == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
    const uint64_t base = idx0 + (uint64_t)row * (uint64_t)C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        const float xv = in_bias ? x[i] + in_bias[i] : x[i];
        const float l = (xv - m) * r * weight[i] + bias[i];
        float z = l > 0.0f ? l * scale : 0.0f;
        if (thr && eisnet_dropout_drop(key, base + (uint64_t)i, thr)) z = 0.0f;
        y[i] = z;
    }
}

extern "C" void eisnet_cu_ln_relu_dropout_fwd(void *ctx, float *out, float *mean, float *rstd,
                                              const float *in, const float *in_bias,
                                              const float *weight, const float *bias, int B,
                                              int C, float p, uint64_t key,
                                              const uint64_t *key_dev, uint64_t idx0)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    const uint64_t thr = eisnet_dropout_threshold(p);
    const float scale = thr ? 1.0f / (1.0f - p) : 1.0f;
    if (B < 1) return;
    k_ln_relu_dropout_fwd<<<B, ROW_THREADS, 0, c->stream>>>(out, mean, rstd, in, in_bias, weight,
                                                            bias, C, scale, thr, key, key_dev,
                                                            idx0);
    LAUNCHED(c, "layernorm forward");
}

/* per row: din = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight,
 * dy = the ReLU/dropout backward of dout */
__global__ void k_ln_bwd_rows(float *din, const float *dout, const float *out, float scale,
                              const float *in, const float *in_bias, const float *weight,
                              const float *mean, const float *rstd, int C)
{
    __shared__ float sh[WARP];
    const size_t row = blockIdx.x;
    const float *h = in + row * C, *da = dout + row * C, *a = out + row * C;
    float *dx = din + row * C;
    const float m = mean[row], r = rstd[row];
    float mg = 0.0f, mgx = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        const float xhat = ((in_bias ? h[i] + in_bias[i] : h[i]) - m) * r;
        const float dy = a[i] > 0.0f ? da[i] * scale : 0.0f;
        const float g = dy * weight[i];
        mg += g;
        mgx += g * xhat;
    }
    mg = block_sum(mg, sh) / (float)C;
    mgx = block_sum(mgx, sh) / (float)C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        const float xhat = ((in_bias ? h[i] + in_bias[i] : h[i]) - m) * r;
        const float dy = a[i] > 0.0f ? da[i] * scale : 0.0f;
        dx[i] = r * (dy * weight[i] - mg - xhat * mgx);
    }
}

/* the sum over the 8 row slices of a (COL_SLICES, WARP) tile, by row 0 */
__device__ float slices_sum(float v, float (*sh)[WARP + 1])
{
    sh[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    float s = 0.0f;
    if (threadIdx.y == 0)
        for (int j = 0; j < COL_SLICES; j++) s += sh[j][threadIdx.x];
    __syncthreads();
    return s;
}

/* dweight += sum_b dy * xhat, dbias += sum_b dy, din_colsum += sum_b din */
__global__ void k_ln_bwd_cols(float *dweight, float *dbias, float *din_colsum, const float *din,
                              const float *dout, const float *out, float scale, const float *in,
                              const float *in_bias, const float *mean, const float *rstd, int B,
                              int C)
{
    __shared__ float sh[COL_SLICES][WARP + 1];
    const int col = blockIdx.x * WARP + threadIdx.x;
    float sw = 0.0f, sb = 0.0f, sc = 0.0f;
    if (col < C) {
        const float ib = in_bias ? in_bias[col] : 0.0f;
        for (int b = threadIdx.y; b < B; b += COL_SLICES) {
            const size_t i = (size_t)b * C + col;
            const float xhat = ((in_bias ? in[i] + ib : in[i]) - mean[b]) * rstd[b];
            const float dy = out[i] > 0.0f ? dout[i] * scale : 0.0f;
            sw += dy * xhat;
            sb += dy;
            sc += din[i];
        }
    }
    sw = slices_sum(sw, sh);
    sb = slices_sum(sb, sh);
    sc = slices_sum(sc, sh);
    if (threadIdx.y == 0 && col < C) {
        if (dweight) dweight[col] += sw;
        if (dbias) dbias[col] += sb;
        if (din_colsum) din_colsum[col] += sc;
    }
}

extern "C" void eisnet_cu_relu_dropout_ln_bwd(void *ctx, float *din, float *dweight, float *dbias,
                                              const float *dout, const float *out, float scale,
                                              const float *in, const float *in_bias,
                                              const float *weight, const float *mean,
                                              const float *rstd, int B, int C, float *din_colsum)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    if (B < 1) return;
    k_ln_bwd_rows<<<B, ROW_THREADS, 0, c->stream>>>(din, dout, out, scale, in, in_bias, weight,
                                                    mean, rstd, C);
    LAUNCHED(c, "layernorm backward (rows)");
    k_ln_bwd_cols<<<blocks_for((size_t)C, WARP), dim3(WARP, COL_SLICES), 0, c->stream>>>(
        dweight, dbias, din_colsum, din, dout, out, scale, in, in_bias, mean, rstd, B, C);
    LAUNCHED(c, "layernorm backward (columns)");
}

/* ---- element-wise passes ------------------------------------------------------ */

__global__ void k_bias_relu_dropout_fwd(float *out, const float *in, const float *bias, int n,
                                        int ld, size_t total, float scale, uint64_t thr,
                                        uint64_t key_arg, const uint64_t *key_dev, uint64_t idx0)
{
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    const uint64_t key = dropout_key(key_arg, key_dev, thr);
    const size_t b = e / (size_t)n, i = e % (size_t)n;
    const float v = in[b * ld + i] + bias[i];
    float z = v > 0.0f ? v * scale : 0.0f;
    if (thr && eisnet_dropout_drop(key, idx0 + e, thr)) z = 0.0f;
    out[b * ld + i] = z;
}

extern "C" void eisnet_cu_bias_relu_dropout_fwd(void *ctx, float *out, const float *in,
                                                const float *bias, int B, int n, int ld, float p,
                                                uint64_t key, const uint64_t *key_dev, uint64_t idx0)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    const uint64_t thr = eisnet_dropout_threshold(p);
    const float scale = thr ? 1.0f / (1.0f - p) : 1.0f;
    const size_t total = (size_t)B * (size_t)n;
    if (!total) return;
    k_bias_relu_dropout_fwd<<<blocks_for(total, ELEM_THREADS), ELEM_THREADS, 0, c->stream>>>(
        out, in, bias, n, ld, total, scale, thr, key, key_dev, idx0);
    LAUNCHED(c, "bias+relu+dropout forward");
}

__global__ void k_relu_dropout_bwd_inplace(float *d, const float *out, int n, int ld,
                                           size_t total, float scale)
{
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    const size_t j = (e / (size_t)n) * ld + e % (size_t)n;
    const float v = d[j] * scale;
    d[j] = out[j] > 0.0f ? v : 0.0f;
}

extern "C" void eisnet_cu_relu_dropout_bwd_inplace(void *ctx, float *d, const float *out, int B,
                                                   int n, int ld, float scale)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    const size_t total = (size_t)B * (size_t)n;
    if (!total) return;
    k_relu_dropout_bwd_inplace<<<blocks_for(total, ELEM_THREADS), ELEM_THREADS, 0, c->stream>>>(
        d, out, n, ld, total, scale);
    LAUNCHED(c, "relu+dropout backward");
}

__global__ void k_broadcast_rows(float *out, const float *v, int n, int ld, size_t total)
{
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    out[(e / (size_t)n) * ld + e % (size_t)n] = v[e % (size_t)n];
}

extern "C" void eisnet_cu_broadcast_rows(void *ctx, float *out, const float *v, int nb, int n,
                                         int ld)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    const size_t total = (size_t)nb * (size_t)n;
    if (!total) return;
    k_broadcast_rows<<<blocks_for(total, ELEM_THREADS), ELEM_THREADS, 0, c->stream>>>(out, v, n, ld,
                                                                                      total);
    LAUNCHED(c, "broadcast rows");
}

/* ---- row-wise passes: one warp per row ------------------------------------------ */

__global__ void k_rows_dot(float *out, const float *A, int lda, const float *w, const float *bias,
                           int B, int K)
{
    const int row = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / WARP);
    const int lane = threadIdx.x % WARP;
    if (row >= B) return; /* whole warps leave together: rows are per warp */
    const float *a = A + (size_t)row * lda;
    float s = 0.0f;
    for (int i = lane; i < K; i += WARP) s += a[i] * w[i];
    s = warp_sum(s);
    if (lane == 0) out[row] = *bias + s;
}

extern "C" void eisnet_cu_rows_dot(void *ctx, float *out, const float *A, int lda, const float *w,
                                   const float *bias, int B, int K)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    if (B < 1) return;
    k_rows_dot<<<blocks_for((size_t)B * WARP, ROW_THREADS), ROW_THREADS, 0, c->stream>>>(
        out, A, lda, w, bias, B, K);
    LAUNCHED(c, "rows dot");
}

__global__ void k_softmax_rows(float *probs, const float *logits, long rows, int G,
                               const uint8_t *sel)
{
    const long row = (long)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / WARP);
    const int lane = threadIdx.x % WARP;
    if (row >= rows) return;
    const float *lg = logits + (size_t)row * G;
    float *pr = probs + (size_t)row * G;
    if (sel && !sel[row]) {
        for (int g = lane; g < G; g += WARP) pr[g] = 0.0f;
        return;
    }
    float mx = -INFINITY;
    for (int g = lane; g < G; g += WARP) mx = fmaxf(mx, lg[g]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int g = lane; g < G; g += WARP) {
        const float e = expf(lg[g] - mx);
        pr[g] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    const float inv = 1.0f / sum;
    for (int g = lane; g < G; g += WARP) pr[g] *= inv;
}

extern "C" void eisnet_cu_softmax_rows(void *ctx, float *probs, const float *logits, long rows,
                                       int G, const uint8_t *sel)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    if (rows < 1) return;
    k_softmax_rows<<<blocks_for((size_t)rows * WARP, ROW_THREADS), ROW_THREADS, 0, c->stream>>>(
        probs, logits, rows, G, sel);
    LAUNCHED(c, "softmax");
}

/* ---- column sums ------------------------------------------------------------------ */

__global__ void k_colsum_add(float *db, const float *g, int nb, int n, int ld)
{
    __shared__ float sh[COL_SLICES][WARP + 1];
    const int col = blockIdx.x * WARP + threadIdx.x;
    float s = 0.0f;
    if (col < n)
        for (int b = threadIdx.y; b < nb; b += COL_SLICES) s += g[(size_t)b * ld + col];
    s = slices_sum(s, sh);
    if (threadIdx.y == 0 && col < n) db[col] += s;
}

extern "C" void eisnet_cu_colsum_add(void *ctx, float *db, const float *g, int nb, int n, int ld)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    if (nb < 1 || n < 1) return;
    k_colsum_add<<<blocks_for((size_t)n, WARP), dim3(WARP, COL_SLICES), 0, c->stream>>>(db, g, nb,
                                                                                       n, ld);
    LAUNCHED(c, "column sums");
}

__global__ void k_resnorm_da(float *da, int ld, const float *w2, const float *drout, int K,
                             size_t total)
{
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    const size_t b = e / (size_t)K, j = e % (size_t)K;
    da[b * ld + j] = drout[b] * w2[j];
}

/* columns 0..K-1: dw2 += sum_b drout[b] * a[b][j]; column K: db2 += sum_b drout[b] */
__global__ void k_resnorm_cols(float *dw2, float *db2, const float *a, int ld, const float *drout,
                               int nb, int K)
{
    __shared__ float sh[COL_SLICES][WARP + 1];
    const int col = blockIdx.x * WARP + threadIdx.x;
    float s = 0.0f;
    if (col <= K)
        for (int b = threadIdx.y; b < nb; b += COL_SLICES)
            s += col < K ? drout[b] * a[(size_t)b * ld + col] : drout[b];
    s = slices_sum(s, sh);
    if (threadIdx.y == 0 && col < K) dw2[col] += s;
    if (threadIdx.y == 0 && col == K) *db2 += s;
}

extern "C" void eisnet_cu_resnorm_out_bwd(void *ctx, float *da, int ld, const float *a,
                                          const float *w2, const float *drout, float *dw2,
                                          float *db2, int nb, int K)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    const size_t total = (size_t)nb * (size_t)K;
    if (!total) return;
    k_resnorm_da<<<blocks_for(total, ELEM_THREADS), ELEM_THREADS, 0, c->stream>>>(da, ld, w2, drout,
                                                                                  K, total);
    LAUNCHED(c, "resnorm backward");
    k_resnorm_cols<<<blocks_for((size_t)K + 1, WARP), dim3(WARP, COL_SLICES), 0, c->stream>>>(
        dw2, db2, a, ld, drout, nb, K);
    LAUNCHED(c, "resnorm backward (columns)");
}

/* ---- loss: cross-entropy of the missing heads + resnorm MSE ---------------------- */

/* one thread per row, the expressions of ce_head / eisnet_loss_compute in
 * model.c: row_ce[b] = (sum of the CE of the row's missing heads) / n_missing,
 * row_se[b] = (resnorm - target)^2, hit[b*P+k] = top-1 hit */
__global__ void k_loss_rows(const float *logits, const float *resnorm, int B, int P, int G,
                            const int32_t *target, const uint8_t *missing,
                            const float *resnorm_target, float resnorm_weight, float *dlogits,
                            float *dresnorm, double *row_ce, double *row_se, uint8_t *hit)
{
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    int n_miss = 0;
    for (int k = 0; k < P; k++) n_miss += missing[(size_t)b * P + k] != 0;
    const float gscale = 1.0f / ((float)n_miss * (float)B);
    double row = 0.0;
    for (int k = 0; k < P; k++) {
        const size_t i = (size_t)b * P + k;
        const float *lg = logits + i * G;
        float *dl = dlogits ? dlogits + i * G : NULL;
        hit[i] = 0;
        if (!missing[i]) {
            if (dl)
                for (int g = 0; g < G; g++) dl[g] = 0.0f;
            continue;
        }
        const int t = target[i];
        if (t < 0 || t >= G) { /* refused by the callers; never read out of range */
            row = NAN;
            continue;
        }
        float mx = lg[0];
        int arg = 0;
        for (int g = 1; g < G; g++)
            if (lg[g] > mx) {
                mx = lg[g];
                arg = g;
            }
        double sum = 0.0;
        for (int g = 0; g < G; g++) sum += exp((double)(lg[g] - mx));
        const double lse = (double)mx + log(sum);
        const double inv = 1.0 / sum;
        /* the CPU keeps e^(x - max) of up to 64 classes and recomputes from
         * the log-sum-exp beyond */
        for (int g = 0; dl && g < G; g++) {
            const double pg = G <= 64 ? exp((double)(lg[g] - mx)) * inv : exp((double)lg[g] - lse);
            dl[g] = (float)((pg - (g == t)) * gscale);
        }
        hit[i] = arg == t;
        row += lse - (double)lg[t];
    }
    row_ce[b] = n_miss ? row / n_miss : 0.0;
    const float d = resnorm[b] - resnorm_target[b];
    row_se[b] = (double)d * d;
    if (dresnorm) dresnorm[b] = resnorm_weight * 2.0f * d / (float)B;
}

/* one block: the sums over rows in a fixed order */
__global__ void k_loss_sums(const double *row_ce, const double *row_se, const uint8_t *hit,
                            const uint8_t *missing, int B, int P, eisnet_cu_sums *sums)
{
    __shared__ double sh[WARP];
    double ce = 0.0, se = 0.0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        ce += row_ce[b];
        se += row_se[b];
    }
    ce = block_sum(ce, sh);
    se = block_sum(se, sh);
    if (threadIdx.x == 0) {
        sums->ce_sum = ce;
        sums->se_sum = se;
    }
    for (int k = threadIdx.x; k < P; k += blockDim.x) {
        int64_t h = 0, n = 0;
        for (int b = 0; b < B; b++) {
            h += hit[(size_t)b * P + k];
            n += missing[(size_t)b * P + k] != 0;
        }
        sums->hc[k] = h;
        sums->hc[P + k] = n;
    }
}

extern "C" void eisnet_cu_loss(void *ctx, const float *logits, const float *resnorm, int B, int P,
                               int G, const int32_t *target, const uint8_t *missing,
                               const float *resnorm_target, float resnorm_weight, float *dlogits,
                               float *dresnorm, eisnet_cu_sums *sums)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    if (B < 1) return;
    double *rows = (double *)eisnet_cu_scratch(c, (size_t)B * (2 * sizeof(double) + (size_t)P));
    if (!rows) return;
    uint8_t *hit = (uint8_t *)(rows + 2 * (size_t)B);
    k_loss_rows<<<blocks_for((size_t)B, 128), 128, 0, c->stream>>>(
        logits, resnorm, B, P, G, target, missing, resnorm_target, resnorm_weight, dlogits,
        dresnorm, rows, rows + B, hit);
    LAUNCHED(c, "loss (rows)");
    k_loss_sums<<<1, ROW_THREADS, 0, c->stream>>>(rows, rows + B, hit, missing, B, P, sums);
    LAUNCHED(c, "loss (sums)");
}

/* ---- gradient norm and the clipped AdamW step ------------------------------------ */

#define NORM_BLOCKS 256

__global__ void k_sumsq_partial(const float *g, size_t n, double *partial)
{
    __shared__ double sh[WARP];
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += (double)g[i] * (double)g[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void k_sumsq_final(const double *partial, int np, eisnet_cu_sums *sums)
{
    __shared__ double sh[WARP];
    double s = 0.0;
    for (int i = threadIdx.x; i < np; i += blockDim.x) s += partial[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) sums->sumsq = s;
}

extern "C" void eisnet_cu_grad_sumsq(void *ctx, const float *g, size_t n, eisnet_cu_sums *sums)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    double *partial = (double *)eisnet_cu_scratch(c, NORM_BLOCKS * sizeof(double));
    if (!partial) return;
    unsigned nb = blocks_for(n, ROW_THREADS);
    if (nb > NORM_BLOCKS) nb = NORM_BLOCKS;
    k_sumsq_partial<<<nb, ROW_THREADS, 0, c->stream>>>(g, n, partial);
    LAUNCHED(c, "gradient norm (partial)");
    k_sumsq_final<<<1, ROW_THREADS, 0, c->stream>>>(partial, (int)nb, sums);
    LAUNCHED(c, "gradient norm");
}

/* adamw_range of src/optim.c with grad_scale = the clip factor of
 * eisnet_clip_coef, computed here from the device's sum of squares */
__global__ void k_adamw(eisnet_adamw_consts k_arg, const eisnet_adamw_consts *k_dev,
                        float max_grad_norm, const eisnet_cu_sums *sums, float *params,
                        const float *grads, float *m, float *v, size_t n)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const eisnet_adamw_consts k = k_dev ? *k_dev : k_arg;
    float scale = 1.0f;
    if (max_grad_norm > 0.0f) {
        const float norm = (float)sqrt(sums->sumsq);
        const float coef = max_grad_norm / (norm + 1e-6f);
        scale = coef < 1.0f ? coef : 1.0f;
    }
    const float g = grads[i] * scale;
    const float p = params[i] * k.decay;
    const float mi = m[i] * k.b1 + g * k.omb1;
    const float vi = v[i] * k.b2 + g * g * k.omb2;
    m[i] = mi;
    v[i] = vi;
    params[i] = p - k.step_size * (mi / (sqrtf(vi) / k.bc2_sqrt + k.eps));
}

extern "C" void eisnet_cu_adamw(void *ctx, const eisnet_adamw_consts *k,
                                const eisnet_adamw_consts *k_dev, float max_grad_norm,
                                const eisnet_cu_sums *sums, float *params, const float *grads,
                                float *m, float *v, size_t n)
{
    eisnet_cu_ctx *c = ctx_of(ctx);
    if (!n) return;
    eisnet_adamw_consts kv;
    memset(&kv, 0, sizeof kv);
    if (k) kv = *k;
    k_adamw<<<blocks_for(n, ELEM_THREADS), ELEM_THREADS, 0, c->stream>>>(kv, k_dev, max_grad_norm,
                                                                         sums, params, grads, m, v,
                                                                         n);
    LAUNCHED(c, "adamw");
}
