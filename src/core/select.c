/* Selection of the k smallest values (eisnet/select.h). */
#include "eisnet/select.h"
#include "eisnet/error.h"

#include <stdlib.h>
#include <string.h>

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* k-th smallest (0-based) of a[0..n-1], reordering a. */
static double kth_smallest(double *a, uint32_t n, uint32_t k)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo]) swap_d(&a[mid], &a[lo]);
        if (a[hi] < a[lo]) swap_d(&a[hi], &a[lo]);
        if (a[hi] < a[mid]) swap_d(&a[hi], &a[mid]);
        double pivot = a[mid];
        uint32_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                swap_d(&a[i], &a[j]);
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

static const double *sort_base;
static int cmp_by_value(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    double va = sort_base[a], vb = sort_base[b];
    if (va < vb) return -1;
    if (va > vb) return 1;
    return a < b ? -1 : a > b;
}

int eisnet_select_smallest(const double *v, uint32_t n, uint32_t k, uint32_t *out)
{
    if (k == 0 || k > n) return eisnet_set_error("cannot select %u of %u values", k, n);
    double *tmp = malloc(sizeof(double) * n);
    if (!tmp) return eisnet_set_error("out of memory");
    memcpy(tmp, v, sizeof(double) * n);
    double t = kth_smallest(tmp, n, k - 1);
    free(tmp);
    uint32_t c = 0;
    for (uint32_t i = 0; i < n && c < k; i++)
        if (v[i] < t) out[c++] = i;
    for (uint32_t i = 0; i < n && c < k; i++)
        if (v[i] == t) out[c++] = i;
    sort_base = v; /* single-threaded use */
    qsort(out, k, sizeof(uint32_t), cmp_by_value);
    return 0;
}
