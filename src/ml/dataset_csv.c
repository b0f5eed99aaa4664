/* The reference's combined CSV: header, column labels and the rows of one
 * ground truth. */
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/fmt.h"
#include "eisnet/npy.h"
#include "eisnet/resnorm.h"
#include "dataset_internal.h"
#include "grid_json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eisnet_dataset_column_label(const eisnet_grid *g, int p, char *buf, size_t n)
{
    if (g->units[p][0]) snprintf(buf, n, "%s (%s)", g->names[p], g->units[p]);
    else snprintf(buf, n, "%s", g->names[p]);
}

size_t eisnet_dataset_csv_rows(const eisnet_grid *g, const eisnet_csv_cells *cells, const eisnet_ground_truth *gt,
                               const double *res, char *out)
{
    char *o = out;
    int P = g->n_params, n = g->n_grid;
    size_t idlen = strlen(gt->id);
    /* reference row */
    char rid[20];
    eisnet_reference_id(gt->values, P, rid);
    o += sprintf(o, "%s,0.0", rid);
    for (int p = 0; p < P; p++) {
        *o++ = ',';
        o += eisnet_fmt_double(o, gt->values[p]);
    }
    *o++ = ',';
    memcpy(o, gt->id, idlen);
    o += idlen;
    *o++ = '\n';
    int idx[EISNET_MAX_PARAMS] = {0};
    for (uint64_t m = 0; m < g->n_models; m++) {
        memcpy(o, "model", 5);
        o += 5;
        for (int p = 0; p < P; p++) {
            int v = idx[p] + 1;
            o[0] = '_';
            o[1] = (char)('0' + v / 10);
            o[2] = (char)('0' + v % 10);
            o += 3;
        }
        *o++ = ',';
        o += eisnet_fmt_double(o, res[m]);
        for (int p = 0; p < P; p++) {
            const char *cell = cells->cells + ((size_t)p * n + idx[p]) * cells->stride;
            size_t cl = cells->cell_len[(size_t)p * n + idx[p]];
            memcpy(o, cell, cl);
            o += cl;
        }
        *o++ = ',';
        memcpy(o, gt->id, idlen);
        o += idlen;
        *o++ = '\n';
        for (int p = P - 1; p >= 0; p--) {
            if (++idx[p] < n) break;
            idx[p] = 0;
        }
    }
    return (size_t)(o - out);
}

char *eisnet_dataset_csv_header(const eisnet_grid *g)
{
    size_t cap = 64 + (size_t)g->n_params * 64;
    char *h = malloc(cap);
    if (!h) return NULL;
    size_t k = (size_t)snprintf(h, cap, "Model ID,Resnorm");
    for (int p = 0; p < g->n_params; p++) {
        char label[64];
        eisnet_dataset_column_label(g, p, label, sizeof label);
        k += (size_t)snprintf(h + k, cap - k, ",%s", label);
    }
    snprintf(h + k, cap - k, ",Ground Truth ID\n");
    return h;
}
