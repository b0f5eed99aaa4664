/* backend_internal.h (private): pieces the built-in backends share. */
#ifndef EISNET_BACKEND_INTERNAL_H
#define EISNET_BACKEND_INTERNAL_H

#include "eisnet/backend.h"

/* The loss of eisnet_xent_args on host-addressable memory, rows split over
 * `threads` OpenMP threads (1: a plain loop). Targets must be in range
 * (eisnet_xent_check_targets). */
void eisnet_xent_host(const eisnet_xent_args *a, eisnet_xent_result *r, int threads);

/* 0, or -1 with eisnet_last_error() naming the first target outside
 * 0 .. G-1 where missing is set (host arrays). */
int eisnet_xent_check_targets(const int32_t *target, const uint8_t *missing, int B, int P, int G);

#endif
