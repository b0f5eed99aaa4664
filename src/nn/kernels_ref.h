/* kernels_ref.h (private): the reference layer kernels (src/nn/kernels_ref.c),
 * plain loops from which the reference backend composes its operations.
 * All tensors float32, row-major, B rows. Every *_forward overwrites its
 * outputs; every *_backward ACCUMULATES (+=) into its gradient outputs
 * (din, dweight, dbias), a NULL one is skipped. */
#ifndef EISNET_KERNELS_REF_H
#define EISNET_KERNELS_REF_H

#include <stddef.h>
#include <stdint.h>

#include "eisnet/kernels.h"

/* Linear, PyTorch layout: weight (OC, C), bias (OC) or NULL.
 *   out (B, OC) = in (B, C) @ weight^T + bias */
void eisnet_ref_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                               int B, int C, int OC);
/*   din (B, C) += dout (B, OC) @ weight; dweight (OC, C) += dout^T @ in;
 *   dbias (OC) += column sums of dout */
void eisnet_ref_linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                                const float *in, const float *weight, int B, int C, int OC);
/* LayerNorm over the last dimension, eps EISNET_LN_EPS, affine:
 *   out (B, C), mean (B), rstd (B) = 1/sqrt(var + eps), biased variance */
void eisnet_ref_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                                  const float *weight, const float *bias, int B, int C);
/*   din (B, C) += ..., dweight (C) += ..., dbias (C) += ... */
void eisnet_ref_layernorm_backward(float *din, float *dweight, float *dbias, const float *dout,
                                   const float *in, const float *weight, const float *mean,
                                   const float *rstd, int B, int C);
/* ReLU then inverted dropout with drop probability p on n elements: element
 * i is dropped when eisnet_dropout_drop(key, idx0 + i, threshold(p)), kept
 * ones are scaled by 1/(1-p); p 0 is a plain ReLU. */
void eisnet_ref_relu_dropout_forward(float *out, const float *in, size_t n, float p, uint64_t key,
                                     uint64_t idx0);
/* From the forward OUTPUT: din (n) += dout * (out > 0 ? scale : 0) */
void eisnet_ref_relu_dropout_backward(float *din, const float *dout, const float *out, size_t n,
                                      float scale);

#endif
