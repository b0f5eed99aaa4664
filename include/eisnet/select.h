/* eisnet/select.h: the k smallest of n values. */
#ifndef EISNET_SELECT_H
#define EISNET_SELECT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Indices of the k smallest values (ties by index), ascending by value;
 * 0, or -1 with the error set when k is 0 or more than n. */
int eisnet_select_smallest(const double *v, uint32_t n, uint32_t k, uint32_t *out);

#ifdef __cplusplus
}
#endif

#endif
