/* Reference layer kernels: plain loops, written to be read. The reference
 * backend (src/nn/backend_ref.c) composes its operations from these, and
 * tests/test_kernels.c checks them against finite differences. Shapes and
 * semantics are in src/nn/kernels_ref.h; backward functions accumulate (+=). */
#include "kernels_ref.h"

#include <math.h>

/* out (B, OC) = in (B, C) @ weight^T (OC, C) + bias (OC) */
void eisnet_ref_linear_forward(float *out, const float *in, const float *weight,
                           const float *bias, int B, int C, int OC)
{
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * C;
        for (int o = 0; o < OC; o++) {
            const float *w = weight + (size_t)o * C;
            float acc = bias ? bias[o] : 0.0f;
            for (int i = 0; i < C; i++) acc += x[i] * w[i];
            out[(size_t)b * OC + o] = acc;
        }
    }
}

/* din (B, C) += dout @ weight; dweight (OC, C) += dout^T @ in; dbias += sum_b dout */
void eisnet_ref_linear_backward(float *din, float *dweight, float *dbias,
                            const float *dout, const float *in,
                            const float *weight, int B, int C, int OC)
{
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * OC;
        const float *x = in + (size_t)b * C;
        for (int o = 0; o < OC; o++) {
            const float *w = weight + (size_t)o * C;
            if (din) {
                float *dx = din + (size_t)b * C;
                for (int i = 0; i < C; i++) dx[i] += g[o] * w[i];
            }
            if (dweight) {
                float *dw = dweight + (size_t)o * C;
                for (int i = 0; i < C; i++) dw[i] += g[o] * x[i];
            }
            if (dbias) dbias[o] += g[o];
        }
    }
}

/* out (B, C) = (in - mean) * rstd * weight + bias, per row */
void eisnet_ref_layernorm_forward(float *out, float *mean, float *rstd,
                              const float *in, const float *weight,
                              const float *bias, int B, int C)
{
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * C;
        float m = 0.0f;
        for (int i = 0; i < C; i++) m += x[i];
        m /= (float)C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
        v /= (float)C;
        float s = 1.0f / sqrtf(v + EISNET_LN_EPS);
        float *y = out + (size_t)b * C;
        for (int i = 0; i < C; i++) y[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[b] = m;
        rstd[b] = s;
    }
}

/* With xhat = (x - mean) * rstd and g = dout * weight:
 *   din   += rstd * (g - mean(g) - xhat * mean(g * xhat))
 *   dweight += dout * xhat, dbias += dout */
void eisnet_ref_layernorm_backward(float *din, float *dweight, float *dbias,
                               const float *dout, const float *in,
                               const float *weight, const float *mean,
                               const float *rstd, int B, int C)
{
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * C;
        const float *dy = dout + (size_t)b * C;
        float mg = 0.0f, mgx = 0.0f;
        for (int i = 0; i < C; i++) {
            float xhat = (x[i] - mean[b]) * rstd[b];
            float g = dy[i] * weight[i];
            mg += g;
            mgx += g * xhat;
        }
        mg /= (float)C;
        mgx /= (float)C;
        for (int i = 0; i < C; i++) {
            float xhat = (x[i] - mean[b]) * rstd[b];
            float g = dy[i] * weight[i];
            if (din) din[(size_t)b * C + i] += rstd[b] * (g - mg - xhat * mgx);
            if (dweight) dweight[i] += dy[i] * xhat;
            if (dbias) dbias[i] += dy[i];
        }
    }
}

/* out = relu(in), then inverted dropout with probability p */
void eisnet_ref_relu_dropout_forward(float *out, const float *in, size_t n,
                                 float p, uint64_t key, uint64_t idx0)
{
    uint64_t thr = eisnet_dropout_threshold(p);
    float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    for (size_t i = 0; i < n; i++) {
        float y = in[i] > 0.0f ? in[i] : 0.0f;
        if (thr && eisnet_dropout_drop(key, idx0 + i, thr)) y = 0.0f;
        out[i] = y * scale;
    }
}

/* din += dout * scale where the element passed (out > 0) */
void eisnet_ref_relu_dropout_backward(float *din, const float *dout,
                                  const float *out, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        if (out[i] > 0.0f) din[i] += dout[i] * scale;
}
