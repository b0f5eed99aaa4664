/* `eisnet generate`: streamed, parallel, deterministic dataset generation. */
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/fmt.h"
#include "eisnet/npy.h"
#include "eisnet/progress.h"
#include "eisnet/tmpfile.h"
#include "eisnet/resnorm.h"
#include "eisnet/rng.h"
#include "dataset_internal.h"
#include "grid_json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void eisnet_generate_options_default(eisnet_generate_options *o)
{
    memset(o, 0, sizeof *o);
    eisnet_grid_options_default(&o->grid);
    o->n_ground_truths = EISNET_GENERATE_N_GT;
    o->data_dir = EISNET_DEFAULT_DATA_DIR;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o->n_workers = n > 0 ? (int)n : 1;
    o->seed = EISNET_DEFAULT_SEED;
}

static void thousands(char *buf, size_t n, uint64_t v)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%llu", (unsigned long long)v), k = 0;
    for (int i = 0; i < len && (size_t)k + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = '\0';
}

static int write_summary(const char *path, const eisnet_grid *g, const eisnet_ground_truth *gt, int n,
                         const eisnet_resnorm_stats *st)
{
    char buf[8192], a[32], b[32], c[32];
    size_t k = 0;
    const char *rule = "======================================================================";
    thousands(a, sizeof a, (uint64_t)n);
    thousands(b, sizeof b, (uint64_t)n * (g->n_models + 1));
    thousands(c, sizeof c, g->n_models + 1);
    k += (size_t)snprintf(buf + k, sizeof buf - k,
                          "%s\nDATASET SUMMARY REPORT\n%s\n\nTotal Ground Truths: %s\nTotal Models: %s\n"
                          "Models per Ground Truth: %s\n\nParameter Ranges:\n",
                          rule, rule, a, b, c);
    for (int p = 0; p < g->n_params && k < sizeof buf; p++) {
        double lo = g->values[(size_t)p * g->n_grid], hi = g->values[(size_t)p * g->n_grid + g->n_grid - 1];
        for (int i = 0; i < n; i++) {
            if (gt[i].values[p] < lo) lo = gt[i].values[p];
            if (gt[i].values[p] > hi) hi = gt[i].values[p];
        }
        char label[64];
        eisnet_dataset_column_label(g, p, label, sizeof label);
        k += (size_t)snprintf(buf + k, sizeof buf - k, "  %s: %.2e to %.2e\n", label, lo, hi);
    }
    if (k < sizeof buf)
        k += (size_t)snprintf(buf + k, sizeof buf - k,
                              "\nResnorm Statistics:\n  Min: %.4f\n  25th percentile: %.4f\n  Median: %.4f\n"
                              "  75th percentile: %.4f\n  90th percentile: %.4f\n  Max: %.4f\n",
                              st->min, st->p25, st->median, st->p75, st->p90, st->max);
    if (k >= sizeof buf) return eisnet_set_error("summary too long");
    return eisnet_write_file_atomic(path, buf, k);
}

/* ---- the parallel, ordered pipeline -------------------------------------- */

typedef struct {
    double *res;
    char *csv;
    size_t csv_len;
    int gt;    /* index of the ground truth in this slot, -1 = free */
    int ready;
} slot;

typedef struct {
    const eisnet_grid *g;
    const eisnet_resnorm_plan *plan;
    const eisnet_ground_truth *gt;
    const double complex *spectra;
    const eisnet_csv_cells *cells;
    int n, n_slots, next, written, stop;
    /* grid models computed so far, for progress inside long rows */
    _Atomic uint64_t models_done;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pipeline;

static void *worker(void *arg)
{
    pipeline *pl = arg;
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        while (!pl->stop && pl->next < pl->n && pl->next >= pl->written + pl->n_slots)
            pthread_cond_wait(&pl->cv, &pl->mu);
        if (pl->stop || pl->next >= pl->n) {
            pthread_mutex_unlock(&pl->mu);
            return NULL;
        }
        int i = pl->next++;
        slot *s = &pl->slots[i % pl->n_slots];
        pthread_mutex_unlock(&pl->mu);

        const double complex *zref = pl->spectra + (size_t)i * pl->g->n_freq;
        if (pl->g->kernel == EISNET_KERNEL_GENERIC) {
            /* the slow generic kernel in chunks, each one counted for the progress line */
            const uint64_t chunk = 1 << 14;
            for (uint64_t m0 = 0; m0 < pl->g->n_models && !pl->stop; m0 += chunk) {
                uint64_t m1 = m0 + chunk < pl->g->n_models ? m0 + chunk : pl->g->n_models;
                eisnet_resnorm_range(pl->plan, zref, m0, m1, s->res + m0);
                atomic_fetch_add(&pl->models_done, m1 - m0);
            }
        } else {
            eisnet_resnorm_all(pl->plan, zref, s->res);
            atomic_fetch_add(&pl->models_done, pl->g->n_models);
        }
        if (s->csv) s->csv_len = eisnet_dataset_csv_rows(pl->g, pl->cells, &pl->gt[i], s->res, s->csv);

        pthread_mutex_lock(&pl->mu);
        s->gt = i;
        s->ready = 1;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
    }
}

static int write_dataset_json(const char *path, const eisnet_generate_options *o, const eisnet_grid *g, int n)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "eisnet-dataset");
    cJSON_AddNumberToObject(j, "version", 1);
    eisnet_grid_json_write(g, j);
    cJSON_AddNumberToObject(j, "n_ground_truths", n);
    cJSON_AddNumberToObject(j, "n_models", (double)g->n_models);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return eisnet_set_error("out of memory");
    size_t len = strlen(text);
    char *withnl = malloc(len + 2);
    int rc = -1;
    if (withnl) {
        memcpy(withnl, text, len);
        withnl[len] = '\n';
        rc = eisnet_write_file_atomic(path, withnl, len + 1);
    } else
        eisnet_set_error("out of memory");
    free(withnl);
    free(text);
    return rc;
}

/* Moves a complete staged dataset into data_dir. dataset.json goes away
 * first and comes back last, so that no moment shows the old dataset.json
 * beside new arrays; a crash in between leaves a directory without
 * dataset.json, which every reader calls incomplete. */
static int publish_staged(const char *staging, const char *data_dir, const char *p_csv)
{
    const char *names[5] = {"resnorm.npy", "dataset.npz", "ground_truth_metadata.json", "dataset_summary.txt",
                            "dataset.json"};
    char *old_json = eisnet_path_join(data_dir, "dataset.json");
    if (!old_json) return eisnet_set_error("out of memory");
    int rc = 0;
    if (unlink(old_json) != 0 && errno != ENOENT) rc = eisnet_set_error("cannot replace %s: %s", old_json, strerror(errno));
    free(old_json);
    if (rc == 0 && p_csv) {
        const char *b = strrchr(p_csv, '/');
        char *to = eisnet_path_join(data_dir, b ? b + 1 : p_csv);
        if (!to || rename(p_csv, to) != 0) rc = eisnet_set_error("cannot move %s into %s: %s", p_csv, data_dir, strerror(errno));
        free(to);
    }
    for (int k = 0; k < 5 && rc == 0; k++) {
        char *from = eisnet_path_join(staging, names[k]), *to = eisnet_path_join(data_dir, names[k]);
        if (!from || !to) rc = eisnet_set_error("out of memory");
        else if (rename(from, to) != 0) rc = eisnet_set_error("cannot move %s into %s: %s", from, data_dir, strerror(errno));
        free(from);
        free(to);
    }
    int fd = open(data_dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return rc;
}

int eisnet_generate(const eisnet_generate_options *o)
{
    if (o->n_workers < 1) return eisnet_set_error("--n_workers must be at least 1 (got %d)", o->n_workers);
    if (!o->ground_truths_file && o->n_ground_truths < 1)
        return eisnet_set_error("--n_ground_truths must be at least 1 (got %d)", o->n_ground_truths);
    if (o->n_ground_truths > 1000000) return eisnet_set_error("--n_ground_truths is too large (at most 1000000)");
    eisnet_grid g;
    if (eisnet_grid_init(&g, &o->grid) != 0) return -1;
    if (!o->ground_truths_file) {
        struct stat dst;
        eisnet_generate_options oo = *o;
        /* the free space is checked where the directory exists already */
        if (stat(o->data_dir, &dst) != 0) oo.data_dir = NULL;
        if (eisnet_generate_check_size(&g, o->n_ground_truths, &oo) != 0) {
            eisnet_grid_free(&g);
            return -1;
        }
    }
    int rc = -1, n = 0;
    eisnet_ground_truth *gt = NULL;
    double complex *spectra = NULL;
    eisnet_resnorm_plan *plan = NULL;
    eisnet_npy_writer *npy = NULL;
    eisnet_atomic_file csv = {0};
    pipeline pl;
    memset(&pl, 0, sizeof pl);
    eisnet_csv_cells cells = {0};
    pthread_t *threads = NULL;
    int n_threads = 0, sync_ready = 0;
    eisnet_stats_acc stats = {0};
    char *p_resnorm = NULL, *p_npz = NULL, *p_json = NULL, *p_meta = NULL, *p_summary = NULL, *p_csv = NULL;
    char *staging = NULL;

    if (eisnet_ensure_dir(o->data_dir) != 0) goto out;
    /* The new dataset is built in a staging directory inside data_dir and
     * moved in only once complete: until then the old dataset stays whole
     * and usable, and a failure or a kill leaves it untouched. */
    staging = eisnet_tmp_mkdir(o->data_dir, "eisnet-staging");
    if (!staging) goto out;
    p_resnorm = eisnet_path_join(staging, "resnorm.npy");
    p_npz = eisnet_path_join(staging, "dataset.npz");
    p_json = eisnet_path_join(staging, "dataset.json");
    p_meta = eisnet_path_join(staging, "ground_truth_metadata.json");
    p_summary = eisnet_path_join(staging, "dataset_summary.txt");
    if (!p_resnorm || !p_npz || !p_json || !p_meta || !p_summary) {
        eisnet_set_error("out of memory");
        goto out;
    }
    {
        const char *staged[5] = {p_resnorm, p_npz, p_json, p_meta, p_summary};
        for (int k = 0; k < 5; k++) eisnet_tmp_register(staged[k], 0);
    }

    if (o->ground_truths_file) {
        if (eisnet_ground_truths_load(&g, o->ground_truths_file, &gt, &n) != 0) goto out;
        if (eisnet_generate_check_size(&g, n, o) != 0) goto out;
    } else {
        n = o->n_ground_truths;
        gt = calloc((size_t)n, sizeof *gt);
        if (!gt) {
            eisnet_set_error("out of memory");
            goto out;
        }
        if (eisnet_ground_truths_make(&g, n, o->seed, gt) != 0) goto out;
    }
    size_t F = (size_t)g.n_freq;
    spectra = malloc(sizeof(double complex) * F * (size_t)n);
    plan = eisnet_resnorm_plan_new(&g);
    if (!spectra || !plan) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) eisnet_grid_spectrum(&g, gt[i].values, spectra + (size_t)i * F);

    int64_t shape[2] = {n, (int64_t)g.n_models};
    npy = eisnet_npy_writer_open(p_resnorm, EISNET_F64, 2, shape);
    if (!npy) goto out;
    size_t csv_cap = 0;
    if (o->csv) {
        char name[64];
        snprintf(name, sizeof name, "combined_dataset_%dgt.csv", n);
        p_csv = eisnet_path_join(staging, name);
        if (!p_csv) goto out;
        eisnet_tmp_register(p_csv, 0);
        if (eisnet_atomic_open(&csv, p_csv) != 0) goto out;
        char *h = eisnet_dataset_csv_header(&g);
        if (!h || eisnet_atomic_write(&csv, h, strlen(h)) != 0) {
            free(h);
            goto out;
        }
        free(h);
        cells.stride = EISNET_FMT_BUFSIZE + 2;
        cells.cells = malloc((size_t)g.n_params * g.n_grid * cells.stride);
        cells.cell_len = malloc(sizeof(size_t) * (size_t)g.n_params * g.n_grid);
        if (!cells.cells || !cells.cell_len) {
            eisnet_set_error("out of memory");
            goto out;
        }
        for (int p = 0; p < g.n_params; p++)
            for (int k = 0; k < g.n_grid; k++) {
                char *c = cells.cells + ((size_t)p * g.n_grid + k) * cells.stride;
                c[0] = ',';
                cells.cell_len[(size_t)p * g.n_grid + k] = 1 + (size_t)eisnet_fmt_double(c + 1, g.values[(size_t)p * g.n_grid + k]);
            }
        /* id + resnorm + P values + gt id + separators, per row */
        csv_cap = (g.n_models + 1) * (size_t)(8 + 3 * g.n_params + 2 * EISNET_FMT_BUFSIZE + g.n_params * (EISNET_FMT_BUFSIZE + 1) + 24);
    }

    /* Each worker computes one ground truth at a time into a slot; this
     * thread writes the slots in order, so the files do not depend on the
     * number of workers. */
    int W = o->n_workers < n ? o->n_workers : n;
    pl.g = &g;
    pl.plan = plan;
    pl.gt = gt;
    pl.spectra = spectra;
    pl.cells = &cells;
    pl.n = n;
    pl.n_slots = W + 1;
    pl.slots = calloc((size_t)pl.n_slots, sizeof(slot));
    if (!pl.slots) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (int s = 0; s < pl.n_slots; s++) {
        pl.slots[s].gt = -1;
        pl.slots[s].res = malloc(sizeof(double) * g.n_models);
        if (o->csv) pl.slots[s].csv = malloc(csv_cap);
        if (!pl.slots[s].res || (o->csv && !pl.slots[s].csv)) {
            eisnet_set_error("out of memory");
            goto out;
        }
    }
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.cv, NULL);
    sync_ready = 1;
    threads = calloc((size_t)W, sizeof(pthread_t));
    if (!threads) {
        eisnet_set_error("out of memory");
        goto out;
    }
    for (; n_threads < W; n_threads++)
        if (pthread_create(&threads[n_threads], NULL, worker, &pl) != 0) {
            eisnet_set_error("cannot start worker threads");
            goto out;
        }

    if (eisnet_stats_acc_init(&stats) != 0) goto out;
    eisnet_progress prog;
    /* Rows of over a million models report progress in models, from inside
     * each row; smaller ones in ground truths. */
    int by_model = g.n_models >= (1u << 20);
    eisnet_progress_begin(&prog, "generate", by_model ? "models" : "gt", by_model ? (uint64_t)n * g.n_models : (uint64_t)n,
                          o->quiet);
    for (int i = 0; i < n; i++) {
        slot *s = &pl.slots[i % pl.n_slots];
        pthread_mutex_lock(&pl.mu);
        while (!(s->ready && s->gt == i)) {
            if (!by_model) {
                pthread_cond_wait(&pl.cv, &pl.mu);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 500000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&pl.cv, &pl.mu, &ts);
            pthread_mutex_unlock(&pl.mu);
            eisnet_progress_update(&prog, atomic_load(&pl.models_done));
            pthread_mutex_lock(&pl.mu);
        }
        pthread_mutex_unlock(&pl.mu);
        int bad = 0;
        for (uint64_t m = 0; m < g.n_models; m++)
            if (!isfinite(s->res[m])) bad = 1;
        if (bad) {
            eisnet_set_error("ground truth %s: resnorm is not finite (out of memory or a circuit that diverges)", gt[i].id);
            goto out;
        }
        eisnet_stats_acc_add(&stats, s->res, (size_t)g.n_models);
        if (eisnet_npy_writer_append(npy, s->res, sizeof(double) * g.n_models) != 0) goto out;
        if (o->csv && eisnet_atomic_write(&csv, s->csv, s->csv_len) != 0) goto out;
        pthread_mutex_lock(&pl.mu);
        s->ready = 0;
        s->gt = -1;
        pl.written = i + 1;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
        eisnet_progress_update(&prog, by_model ? (uint64_t)(i + 1) * g.n_models : (uint64_t)i + 1);
    }
    eisnet_progress_end(&prog);
    int close_rc = eisnet_npy_writer_close(npy);
    npy = NULL;
    if (close_rc != 0) goto out;
    if (o->csv && eisnet_atomic_commit(&csv) != 0) goto out;

    {
        double *params = malloc(sizeof(double) * (size_t)n * g.n_params);
        double *spec = malloc(sizeof(double) * (size_t)n * F * 2);
        if (!params || !spec) {
            free(params);
            free(spec);
            eisnet_set_error("out of memory");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < g.n_params; p++) params[(size_t)i * g.n_params + p] = gt[i].values[p];
            for (size_t f = 0; f < F; f++) {
                spec[((size_t)i * F + f) * 2] = creal(spectra[(size_t)i * F + f]);
                spec[((size_t)i * F + f) * 2 + 1] = cimag(spectra[(size_t)i * F + f]);
            }
        }
        eisnet_array arr[5];
        memset(arr, 0, sizeof arr);
        const char *names[5] = {"frequencies", "omega", "grid", "gt_params", "gt_spectra"};
        void *data[5] = {g.freq, g.omega, g.values, params, spec};
        int ndims[5] = {1, 1, 2, 2, 3};
        int64_t shapes[5][3] = {{(int64_t)F}, {(int64_t)F}, {g.n_params, g.n_grid}, {n, g.n_params}, {n, (int64_t)F, 2}};
        for (int a = 0; a < 5; a++) {
            snprintf(arr[a].name, sizeof arr[a].name, "%s", names[a]);
            arr[a].dtype = EISNET_F64;
            arr[a].ndim = ndims[a];
            memcpy(arr[a].shape, shapes[a], sizeof shapes[a]);
            arr[a].data = data[a];
            size_t cnt = 1;
            for (int d = 0; d < ndims[a]; d++) cnt *= (size_t)shapes[a][d];
            arr[a].nbytes = cnt * 8;
        }
        int r = eisnet_npz_write(p_npz, arr, 5, 0);
        free(params);
        free(spec);
        if (r != 0) goto out;
    }
    if (eisnet_dataset_write_metadata_json(p_meta, &g, gt, n) != 0) goto out;
    eisnet_resnorm_stats st;
    if (eisnet_stats_finish(p_resnorm, &stats, (uint64_t)n, &st) != 0) goto out;
    if (write_summary(p_summary, &g, gt, n, &st) != 0) goto out;
    if (write_dataset_json(p_json, o, &g, n) != 0) goto out;
    if (publish_staged(staging, o->data_dir, p_csv) != 0) goto out;
    if (!o->quiet) fprintf(stderr, "generate: %d ground truths x %llu grid models written to %s\n", n,
                           (unsigned long long)g.n_models, o->data_dir);
    rc = 0;
out:
    if (sync_ready) {
        pthread_mutex_lock(&pl.mu);
        pl.stop = 1;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
    }
    for (int t = 0; t < n_threads; t++) pthread_join(threads[t], NULL);
    free(threads);
    if (sync_ready) {
        pthread_mutex_destroy(&pl.mu);
        pthread_cond_destroy(&pl.cv);
    }
    if (pl.slots)
        for (int s = 0; s < pl.n_slots; s++) {
            free(pl.slots[s].res);
            free(pl.slots[s].csv);
        }
    free(pl.slots);
    eisnet_npy_writer_abort(npy);
    if (csv.fp) eisnet_atomic_abort(&csv);
    free(stats.hist);
    free(cells.cells);
    free(cells.cell_len);
    eisnet_resnorm_plan_free(plan);
    free(spectra);
    free(gt);
    if (staging) {
        /* after a failure: the staged files (after success: the empty directory) */
        const char *staged[6] = {p_resnorm, p_npz, p_json, p_meta, p_summary, p_csv};
        for (int k = 0; k < 6; k++)
            if (staged[k]) {
                unlink(staged[k]);
                eisnet_tmp_forget_path(staged[k]);
            }
        rmdir(staging);
        eisnet_tmp_forget_path(staging);
        free(staging);
    }
    free(p_resnorm);
    free(p_npz);
    free(p_json);
    free(p_meta);
    free(p_summary);
    free(p_csv);
    eisnet_grid_free(&g);
    return rc;
}
