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

/* One run of eisnet_generate: the grid, the ground truths and their
 * spectra, the output files being staged, the workers. */
typedef struct {
    const eisnet_generate_options *o;
    eisnet_grid g;
    int n;
    eisnet_ground_truth *gt;
    double complex *spectra;
    eisnet_resnorm_plan *plan;
    eisnet_npy_writer *npy;
    eisnet_atomic_file csv;
    size_t csv_cap; /* bytes of one ground truth's CSV rows */
    eisnet_csv_cells cells;
    pipeline pl;
    pthread_t *threads;
    int n_threads, sync_ready;
    eisnet_stats_acc stats;
    char *staging, *p_resnorm, *p_npz, *p_json, *p_meta, *p_summary, *p_csv;
} generation;

/* The staging directory inside data_dir and the paths of the files staged
 * there (registered for removal on a signal). The new dataset is built there
 * and moved in only once complete: until then the old dataset stays whole
 * and usable, and a failure or a kill leaves it untouched. */
static int gen_stage(generation *G)
{
    if (eisnet_ensure_dir(G->o->data_dir) != 0) return -1;
    G->staging = eisnet_tmp_mkdir(G->o->data_dir, "eisnet-staging");
    if (!G->staging) return -1;
    G->p_resnorm = eisnet_path_join(G->staging, "resnorm.npy");
    G->p_npz = eisnet_path_join(G->staging, "dataset.npz");
    G->p_json = eisnet_path_join(G->staging, "dataset.json");
    G->p_meta = eisnet_path_join(G->staging, "ground_truth_metadata.json");
    G->p_summary = eisnet_path_join(G->staging, "dataset_summary.txt");
    if (!G->p_resnorm || !G->p_npz || !G->p_json || !G->p_meta || !G->p_summary) return eisnet_set_error("out of memory");
    const char *staged[5] = {G->p_resnorm, G->p_npz, G->p_json, G->p_meta, G->p_summary};
    for (int k = 0; k < 5; k++) eisnet_tmp_register(staged[k], 0);
    return 0;
}

/* The ground truths (read from the file or drawn), their spectra and the
 * resnorm plan. */
static int gen_truths(generation *G)
{
    const eisnet_generate_options *o = G->o;
    eisnet_grid *g = &G->g;
    if (o->ground_truths_file) {
        if (eisnet_ground_truths_load(g, o->ground_truths_file, &G->gt, &G->n) != 0) return -1;
        if (eisnet_generate_check_size(g, G->n, o) != 0) return -1;
    } else {
        G->n = o->n_ground_truths;
        G->gt = calloc((size_t)G->n, sizeof *G->gt);
        if (!G->gt) return eisnet_set_error("out of memory");
        if (eisnet_ground_truths_make(g, G->n, o->seed, G->gt) != 0) return -1;
    }
    size_t F = (size_t)g->n_freq;
    G->spectra = malloc(sizeof(double complex) * F * (size_t)G->n);
    G->plan = eisnet_resnorm_plan_new(g);
    if (!G->spectra || !G->plan) return eisnet_set_error("out of memory");
    for (int i = 0; i < G->n; i++) eisnet_grid_spectrum(g, G->gt[i].values, G->spectra + (size_t)i * F);
    return 0;
}

/* With --csv: the staged CSV with its header, and every grid value
 * formatted once. */
static int gen_csv_open(generation *G)
{
    const eisnet_grid *g = &G->g;
    char name[64];
    snprintf(name, sizeof name, "combined_dataset_%dgt.csv", G->n);
    G->p_csv = eisnet_path_join(G->staging, name);
    if (!G->p_csv) return -1;
    eisnet_tmp_register(G->p_csv, 0);
    if (eisnet_atomic_open(&G->csv, G->p_csv) != 0) return -1;
    char *h = eisnet_dataset_csv_header(g);
    if (!h || eisnet_atomic_write(&G->csv, h, strlen(h)) != 0) {
        free(h);
        return -1;
    }
    free(h);
    eisnet_csv_cells *cells = &G->cells;
    cells->stride = EISNET_FMT_BUFSIZE + 2;
    cells->cells = malloc((size_t)g->n_params * g->n_grid * cells->stride);
    cells->cell_len = malloc(sizeof(size_t) * (size_t)g->n_params * g->n_grid);
    if (!cells->cells || !cells->cell_len) return eisnet_set_error("out of memory");
    for (int p = 0; p < g->n_params; p++)
        for (int k = 0; k < g->n_grid; k++) {
            char *c = cells->cells + ((size_t)p * g->n_grid + k) * cells->stride;
            c[0] = ',';
            cells->cell_len[(size_t)p * g->n_grid + k] =
                1 + (size_t)eisnet_fmt_double(c + 1, g->values[(size_t)p * g->n_grid + k]);
        }
    /* id + resnorm + P values + gt id + separators, per row */
    G->csv_cap = (g->n_models + 1) *
                 (size_t)(8 + 3 * g->n_params + 2 * EISNET_FMT_BUFSIZE + g->n_params * (EISNET_FMT_BUFSIZE + 1) + 24);
    return 0;
}

/* Each worker computes one ground truth at a time into a slot; the calling
 * thread writes the slots in order, so the files do not depend on the number
 * of workers. */
static int gen_start_workers(generation *G)
{
    const eisnet_grid *g = &G->g;
    pipeline *pl = &G->pl;
    int W = G->o->n_workers < G->n ? G->o->n_workers : G->n;
    pl->g = g;
    pl->plan = G->plan;
    pl->gt = G->gt;
    pl->spectra = G->spectra;
    pl->cells = &G->cells;
    pl->n = G->n;
    pl->n_slots = W + 1;
    pl->slots = calloc((size_t)pl->n_slots, sizeof(slot));
    if (!pl->slots) return eisnet_set_error("out of memory");
    for (int s = 0; s < pl->n_slots; s++) {
        pl->slots[s].gt = -1;
        pl->slots[s].res = malloc(sizeof(double) * g->n_models);
        if (G->o->csv) pl->slots[s].csv = malloc(G->csv_cap);
        if (!pl->slots[s].res || (G->o->csv && !pl->slots[s].csv)) return eisnet_set_error("out of memory");
    }
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->cv, NULL);
    G->sync_ready = 1;
    G->threads = calloc((size_t)W, sizeof(pthread_t));
    if (!G->threads) return eisnet_set_error("out of memory");
    for (; G->n_threads < W; G->n_threads++)
        if (pthread_create(&G->threads[G->n_threads], NULL, worker, pl) != 0)
            return eisnet_set_error("cannot start worker threads");
    return 0;
}

/* Waits until slot s holds ground truth i; rows of over a million models
 * update the progress line in models while they wait. */
static void gen_wait_slot(generation *G, slot *s, int i, int by_model, eisnet_progress *prog)
{
    pipeline *pl = &G->pl;
    pthread_mutex_lock(&pl->mu);
    while (!(s->ready && s->gt == i)) {
        if (!by_model) {
            pthread_cond_wait(&pl->cv, &pl->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pl->cv, &pl->mu, &ts);
        pthread_mutex_unlock(&pl->mu);
        eisnet_progress_update(prog, atomic_load(&pl->models_done));
        pthread_mutex_lock(&pl->mu);
    }
    pthread_mutex_unlock(&pl->mu);
}

/* resnorm.npy (and the CSV) in ground-truth order, as the workers finish. */
static int gen_write_rows(generation *G)
{
    const eisnet_grid *g = &G->g;
    pipeline *pl = &G->pl;
    int n = G->n;
    if (eisnet_stats_acc_init(&G->stats) != 0) return -1;
    eisnet_progress prog;
    /* Rows of over a million models report progress in models, from inside
     * each row; smaller ones in ground truths. */
    int by_model = g->n_models >= (1u << 20);
    eisnet_progress_begin(&prog, "generate", by_model ? "models" : "gt", by_model ? (uint64_t)n * g->n_models : (uint64_t)n,
                          G->o->quiet);
    for (int i = 0; i < n; i++) {
        slot *s = &pl->slots[i % pl->n_slots];
        gen_wait_slot(G, s, i, by_model, &prog);
        int bad = 0;
        for (uint64_t m = 0; m < g->n_models; m++)
            if (!isfinite(s->res[m])) bad = 1;
        if (bad)
            return eisnet_set_error("ground truth %s: resnorm is not finite (out of memory or a circuit that diverges)",
                                    G->gt[i].id);
        eisnet_stats_acc_add(&G->stats, s->res, (size_t)g->n_models);
        if (eisnet_npy_writer_append(G->npy, s->res, sizeof(double) * g->n_models) != 0) return -1;
        if (G->o->csv && eisnet_atomic_write(&G->csv, s->csv, s->csv_len) != 0) return -1;
        pthread_mutex_lock(&pl->mu);
        s->ready = 0;
        s->gt = -1;
        pl->written = i + 1;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
        eisnet_progress_update(&prog, by_model ? (uint64_t)(i + 1) * g->n_models : (uint64_t)i + 1);
    }
    eisnet_progress_end(&prog);
    int close_rc = eisnet_npy_writer_close(G->npy);
    G->npy = NULL;
    if (close_rc != 0) return -1;
    if (G->o->csv && eisnet_atomic_commit(&G->csv) != 0) return -1;
    return 0;
}

/* dataset.npz: frequencies, omega, grid, gt_params, gt_spectra. */
static int gen_write_npz(generation *G)
{
    const eisnet_grid *g = &G->g;
    int n = G->n;
    size_t F = (size_t)g->n_freq;
    double *params = malloc(sizeof(double) * (size_t)n * g->n_params);
    double *spec = malloc(sizeof(double) * (size_t)n * F * 2);
    if (!params || !spec) {
        free(params);
        free(spec);
        return eisnet_set_error("out of memory");
    }
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < g->n_params; p++) params[(size_t)i * g->n_params + p] = G->gt[i].values[p];
        for (size_t f = 0; f < F; f++) {
            spec[((size_t)i * F + f) * 2] = creal(G->spectra[(size_t)i * F + f]);
            spec[((size_t)i * F + f) * 2 + 1] = cimag(G->spectra[(size_t)i * F + f]);
        }
    }
    eisnet_array arr[5];
    memset(arr, 0, sizeof arr);
    const char *names[5] = {"frequencies", "omega", "grid", "gt_params", "gt_spectra"};
    void *data[5] = {g->freq, g->omega, g->values, params, spec};
    int ndims[5] = {1, 1, 2, 2, 3};
    int64_t shapes[5][3] = {{(int64_t)F}, {(int64_t)F}, {g->n_params, g->n_grid}, {n, g->n_params}, {n, (int64_t)F, 2}};
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
    int r = eisnet_npz_write(G->p_npz, arr, 5, 0);
    free(params);
    free(spec);
    return r;
}

/* Stops and joins the workers, removes what is staged (after a failure: the
 * files; after success: the empty directory), frees everything. */
static void gen_free(generation *G)
{
    pipeline *pl = &G->pl;
    if (G->sync_ready) {
        pthread_mutex_lock(&pl->mu);
        pl->stop = 1;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
    }
    for (int t = 0; t < G->n_threads; t++) pthread_join(G->threads[t], NULL);
    free(G->threads);
    if (G->sync_ready) {
        pthread_mutex_destroy(&pl->mu);
        pthread_cond_destroy(&pl->cv);
    }
    if (pl->slots)
        for (int s = 0; s < pl->n_slots; s++) {
            free(pl->slots[s].res);
            free(pl->slots[s].csv);
        }
    free(pl->slots);
    eisnet_npy_writer_abort(G->npy);
    if (G->csv.fp) eisnet_atomic_abort(&G->csv);
    free(G->stats.hist);
    free(G->cells.cells);
    free(G->cells.cell_len);
    eisnet_resnorm_plan_free(G->plan);
    free(G->spectra);
    free(G->gt);
    const char *staged[6] = {G->p_resnorm, G->p_npz, G->p_json, G->p_meta, G->p_summary, G->p_csv};
    if (G->staging) {
        for (int k = 0; k < 6; k++)
            if (staged[k]) {
                unlink(staged[k]);
                eisnet_tmp_forget_path(staged[k]);
            }
        rmdir(G->staging);
        eisnet_tmp_forget_path(G->staging);
        free(G->staging);
    }
    for (int k = 0; k < 6; k++) free((char *)staged[k]);
    eisnet_grid_free(&G->g);
}

/* The options that need no work, the grid, and (when drawing) the size. */
static int gen_check(const eisnet_generate_options *o, eisnet_grid *g)
{
    if (o->n_workers < 1) return eisnet_set_error("--n_workers must be at least 1 (got %d)", o->n_workers);
    if (!o->ground_truths_file && o->n_ground_truths < 1)
        return eisnet_set_error("--n_ground_truths must be at least 1 (got %d)", o->n_ground_truths);
    if (o->n_ground_truths > 1000000) return eisnet_set_error("--n_ground_truths is too large (at most 1000000)");
    if (eisnet_grid_init(g, &o->grid) != 0) return -1;
    if (!o->ground_truths_file) {
        struct stat dst;
        eisnet_generate_options oo = *o;
        /* the free space is checked where the directory exists already */
        if (stat(o->data_dir, &dst) != 0) oo.data_dir = NULL;
        if (eisnet_generate_check_size(g, o->n_ground_truths, &oo) != 0) {
            eisnet_grid_free(g);
            return -1;
        }
    }
    return 0;
}

int eisnet_generate(const eisnet_generate_options *o)
{
    generation G;
    memset(&G, 0, sizeof G);
    G.o = o;
    if (gen_check(o, &G.g) != 0) return -1;
    int rc = -1;
    if (gen_stage(&G) != 0 || gen_truths(&G) != 0) goto out;
    int64_t shape[2] = {G.n, (int64_t)G.g.n_models};
    G.npy = eisnet_npy_writer_open(G.p_resnorm, EISNET_F64, 2, shape);
    if (!G.npy) goto out;
    if ((o->csv && gen_csv_open(&G) != 0) || gen_start_workers(&G) != 0 || gen_write_rows(&G) != 0 ||
        gen_write_npz(&G) != 0)
        goto out;
    if (eisnet_dataset_write_metadata_json(G.p_meta, &G.g, G.gt, G.n) != 0) goto out;
    eisnet_resnorm_stats st;
    if (eisnet_stats_finish(G.p_resnorm, &G.stats, (uint64_t)G.n, &st) != 0) goto out;
    if (write_summary(G.p_summary, &G.g, G.gt, G.n, &st) != 0) goto out;
    if (write_dataset_json(G.p_json, o, &G.g, G.n) != 0) goto out;
    if (publish_staged(G.staging, o->data_dir, G.p_csv) != 0) goto out;
    if (!o->quiet) fprintf(stderr, "generate: %d ground truths x %llu grid models written to %s\n", G.n,
                           (unsigned long long)G.g.n_models, o->data_dir);
    rc = 0;
out:
    gen_free(&G);
    return rc;
}
