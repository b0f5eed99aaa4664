/* The size of a dataset before it is generated (eisnet/dataset.h): a grid
 * that would fill the disk or the memory is refused with the flags to
 * change, before anything is computed or written. */
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/npy.h"

#include <stdio.h>
#include <sys/statvfs.h>

/* "1.2 GB" style, decimal units as disks are sold. */
static void human(double bytes, char *out, size_t cap)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    int k = 0;
    while (bytes >= 1000 && k < 6) {
        bytes /= 1000;
        k++;
    }
    snprintf(out, cap, k ? "%.1f %s" : "%.0f %s", bytes, u[k]);
}

int eisnet_generate_check_size(const eisnet_grid *g, int n, const eisnet_generate_options *o)
{
    double models = (double)g->n_models, bytes = 8.0 * models * (double)n + 128;
    char hb[32], lim[32];
    human(bytes, hb, sizeof hb);
    double max_models = o->force ? 1e300 : (double)EISNET_GENERATE_MAX_MODELS;
    double max_bytes = o->force ? (double)EISNET_MAX_ARRAY_BYTES : (double)EISNET_GENERATE_MAX_BYTES;
    if (models > max_models)
        return eisnet_set_error("%.0f grid models per ground truth (--grid_points %d over %d parameters) is over the "
                                "limit of %.0f: lower --grid_points, or pass --force",
                                models, g->n_grid, g->n_params, max_models);
    if (bytes > max_bytes) {
        human(max_bytes, lim, sizeof lim);
        if (o->force || bytes > (double)EISNET_MAX_ARRAY_BYTES) {
            human((double)EISNET_MAX_ARRAY_BYTES, lim, sizeof lim);
            return eisnet_set_error("resnorm.npy would take %s (%d ground truths x %.0f grid models: --grid_points %d "
                                    "over %d parameters), over the largest array eisnet writes (%s): lower "
                                    "--grid_points or --n_ground_truths", hb, n, models, g->n_grid, g->n_params, lim);
        }
        return eisnet_set_error("resnorm.npy would take %s (%d ground truths x %.0f grid models: --grid_points %d over "
                                "%d parameters), over the limit of %s: lower --grid_points or --n_ground_truths, or "
                                "pass --force", hb, n, models, g->n_grid, g->n_params, lim);
    }
    struct statvfs vfs;
    if (o->data_dir && statvfs(o->data_dir, &vfs) == 0) {
        double free_b = (double)vfs.f_bavail * (double)vfs.f_frsize;
        if (bytes > free_b) {
            char fb[32];
            human(free_b, fb, sizeof fb);
            return eisnet_set_error("resnorm.npy would take %s but %s has only %s free: lower --grid_points or "
                                    "--n_ground_truths, or free some space", hb, o->data_dir, fb);
        }
    }
    if (!o->quiet)
        fprintf(stderr, "generate: %d ground truths x %.0f grid models (%d parameters x %d grid points) = %s in "
                        "resnorm.npy%s\n", n, models, g->n_params, g->n_grid, hb, o->csv ? " (and a larger CSV)" : "");
    return 0;
}
