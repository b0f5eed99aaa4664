/* Generation speed: the resnorm kernel per ground truth per core, the whole
 * `generate` on all cores, CSV writing rate, and numpy on the same machine.
 *
 *   build/bench_generate [n_ground_truths=100] [workers=all]
 */
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/progress.h"
#include "eisnet/resnorm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static double file_mb(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = argc > 2 ? atoi(argv[2]) : (int)(cores > 0 ? cores : 1);
    if (n < 1 || workers < 1) {
        fprintf(stderr, "usage: bench_generate [n_ground_truths] [workers]\n");
        return 2;
    }
    const char *presets[2] = {"series", "parallel"};
    printf("| what | figure |\n|---|---|\n");
    for (int c = 0; c < 2; c++) {
        eisnet_grid g;
        eisnet_grid_options go;
        eisnet_grid_options_default(&go);
        go.circuit = presets[c];
        if (eisnet_grid_init(&g, &go) != 0) return 1;
        eisnet_ground_truth *gt = calloc((size_t)n, sizeof *gt);
        double *out = malloc(sizeof(double) * g.n_models);
        double complex z[50];
        eisnet_resnorm_plan *p = eisnet_resnorm_plan_new(&g);
        eisnet_ground_truths_make(&g, n, 42, gt);
        int reps = c == 0 ? n : (n < 20 ? n : 20);
        double t0 = eisnet_now();
        for (int i = 0; i < reps; i++) {
            eisnet_grid_spectrum(&g, gt[i].values, z);
            eisnet_resnorm_all(p, z, out);
        }
        double ms = 1000 * (eisnet_now() - t0) / reps;
        printf("| resnorm kernel, %s circuit, 1 core | %.2f ms per ground truth (%.0f M models/s) |\n", presets[c], ms,
               (double)g.n_models / ms / 1000);
        eisnet_resnorm_plan_free(p);
        free(out);
        free(gt);
        eisnet_grid_free(&g);
    }

    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/eisnet_bench_generate_%ld", (long)getpid());
    eisnet_generate_options o;
    eisnet_generate_options_default(&o);
    o.n_ground_truths = n;
    o.data_dir = dir;
    o.n_workers = workers;
    o.quiet = 1;
    double t0 = eisnet_now();
    if (eisnet_generate(&o) != 0) {
        fprintf(stderr, "bench_generate: %s\n", eisnet_last_error());
        return 1;
    }
    double s = eisnet_now() - t0;
    printf("| eisnet generate, %d ground truths (%.1fM models), %d workers | %.2f s (%.2f ms per ground truth per core) |\n",
           n, n * 248832 / 1e6, workers, s, 1000 * s * workers / n);

    int n_csv = n < 10 ? n : 10;
    o.n_ground_truths = n_csv;
    o.csv = 1;
    t0 = eisnet_now();
    if (eisnet_generate(&o) != 0) {
        fprintf(stderr, "bench_generate: %s\n", eisnet_last_error());
        return 1;
    }
    s = eisnet_now() - t0;
    char csv[256];
    snprintf(csv, sizeof csv, "%s/combined_dataset_%dgt.csv", dir, n_csv);
    double mb = file_mb(csv);
    printf("| generate --csv, %d ground truths, %d workers | %.2f s, %.0f MB CSV, %.0f MB/s |\n", n_csv, workers, s, mb,
           mb / s);

    FILE *py = popen("/usr/bin/python3 -c 'import numpy' 2>/dev/null && /usr/bin/python3 bench/numpy_resnorm.py 3 2>/dev/null", "r");
    double np_ms = 0;
    if (py) {
        if (fscanf(py, "%lf", &np_ms) != 1) np_ms = 0;
        pclose(py);
    }
    if (np_ms > 0) printf("| numpy, vectorised, same formula (series), 1 ground truth | %.0f ms |\n", np_ms);
    else printf("| numpy | not available (/usr/bin/python3 with numpy; run from the project root) |\n");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return 0;
}
