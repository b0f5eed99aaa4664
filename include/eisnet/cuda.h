/* eisnet/cuda.h: the network on an NVIDIA GPU.
 *
 * Built when CMake finds the CUDA toolkit (-DEISNET_CUDA=ON|OFF|AUTO, see
 * docs/cuda.md); in other builds every function here exists and reports
 * "not built into this eisnet".
 *
 * An eisnet_cuda_net is a device copy of an eisnet_model: its parameters,
 * gradients, AdamW moments and the activations of up to max_batch rows live
 * in GPU memory. A training step uploads the batch (inputs, targets, mask,
 * resnorm targets), runs forward, loss, backward, the gradient norm and the
 * clipped AdamW update on the device, and downloads only the loss sums.
 * Results equal eisnet_model_train_step's up to float summation order; the
 * dropout masks are the same bits (the same hash of the same element
 * indices).
 *
 * Functions returning int return 0 on success, -1 with eisnet_last_error(). */
#ifndef EISNET_CUDA_H
#define EISNET_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "eisnet/model.h"
#include "eisnet/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this eisnet was built with the CUDA backend. */
int eisnet_cuda_built(void);

/* 1 when a usable CUDA device is present (a device, a driver, and this
 * build's kernels load on it). Else 0 with the reason in why[n], e.g. "not
 * built into this eisnet" or "no CUDA device (CUDA driver version is
 * insufficient for CUDA runtime version)". why may be NULL. */
int eisnet_cuda_available(char *why, size_t n);

/* "NVIDIA H200, 139 GiB, compute 9.0" of the current device, or the reason
 * there is none (as eisnet_cuda_available). */
void eisnet_cuda_describe(char *buf, size_t n);

typedef struct eisnet_cuda_net eisnet_cuda_net;

/* A device copy of m's parameters (gradients and AdamW moments zero) with
 * room for max_batch rows. NULL with eisnet_last_error() when there is no
 * usable device or not enough device memory. m is not kept. */
eisnet_cuda_net *eisnet_cuda_net_new(const eisnet_model *m, int max_batch);
void eisnet_cuda_net_free(eisnet_cuda_net *net);

/* Parameters host -> device (m) and device -> host (m); with opt also the
 * AdamW moments (opt->n must equal the model's parameter count; opt->step is
 * the host's and is not copied). */
int eisnet_cuda_net_upload(eisnet_cuda_net *net, const eisnet_model *m, const eisnet_adamw *opt);
int eisnet_cuda_net_download(eisnet_cuda_net *net, eisnet_model *m, eisnet_adamw *opt);
/* the gradients of the last step, device -> host (n_params floats) */
int eisnet_cuda_net_download_grads(eisnet_cuda_net *net, float *grads);

/* eisnet_model_train_step on the device: the same arguments, the same
 * meaning. opt supplies the configuration and step count (advanced here, as
 * on the CPU); its moments are the device's (opt->m, opt->v untouched until
 * eisnet_cuda_net_download). rng is advanced once (the dropout key). Every
 * parameter head runs on every row; known parameters' heads get zero
 * gradients, as on the CPU. */
int eisnet_cuda_net_train_step(eisnet_cuda_net *net, eisnet_adamw *opt, const float *x, int B,
                               const int32_t *target, const uint8_t *missing,
                               const float *resnorm_target, float resnorm_weight,
                               float max_grad_norm, uint64_t *rng, eisnet_loss *out,
                               float *grad_norm, int64_t *correct, int64_t *counted);

/* CUDA graphs for training steps: on by default (EISNET_CUDA_GRAPHS=0 in the
 * environment turns them off for new networks). A step is then queued as one
 * recorded graph instead of about 60 separate launches, with the same
 * results bit for bit. The first step of a batch size runs directly, the
 * second is recorded; later steps of that size replay it. 0 / -1 (no graph
 * support in this table). */
int eisnet_cuda_net_set_graphs(eisnet_cuda_net *net, int on);
int eisnet_cuda_net_graphs(const eisnet_cuda_net *net);

/* eisnet_model_predict_masked on the device (dropout off), in chunks of
 * max_batch rows: probs_out (B, n_params, n_grid), heads not selected by
 * missing are 0 (missing may be NULL: all heads); resnorm_out (B). Either
 * output may be NULL. */
int eisnet_cuda_net_predict(eisnet_cuda_net *net, const float *x, int B, const uint8_t *missing,
                            float *probs_out, float *resnorm_out);

#ifdef __cplusplus
}
#endif
#endif
