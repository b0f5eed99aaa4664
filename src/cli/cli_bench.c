/* eisnet bench: the seed's measurements on this machine, against PyTorch in
 * the same run when it is installed (bench/pytorch_reference.py). */
#define _DEFAULT_SOURCE 1 /* wait4 */
#include "cli.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/backend.h"
#include "eisnet/model.h"
#include "eisnet/npy.h"
#include "eisnet/optim.h"
#include "eisnet/progress.h"
#include "eisnet/rng.h"
#include "eisnet/train.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    int i = (int)(q * (n - 1) + 0.5);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

typedef struct {
    int n_in;
    double train_sps[3]; /* by thread count 1, 2 (index = threads) */
    double predict1_us, batch256_sps, update_ms, update_p99_ms;
} nn_figures;

static void random_batch(eisnet_rng *r, int B, int n_in, float *x, int32_t *t, uint8_t *miss, float *rt)
{
    for (int i = 0; i < B * n_in; i++) x[i] = (float)(eisnet_rng_uniform(r) * 2 - 1);
    for (int b = 0; b < B; b++) {
        for (int p = 0; p < 5; p++) {
            t[b * 5 + p] = (int32_t)eisnet_rng_below(r, 12);
            miss[b * 5 + p] = 0;
        }
        int a = (int)eisnet_rng_below(r, 5), c = (int)((a + 1 + eisnet_rng_below(r, 4)) % 5);
        miss[b * 5 + a] = miss[b * 5 + c] = 1;
        rt[b] = (float)(eisnet_rng_uniform(r) * 2 - 1);
    }
}

/* n_epochs of eisnet_train on the bench dataset (mode 0: the reference's
 * input and rows; 1: eisnet's spectrum input; 2: training by simulation,
 * epochs of as many fresh simulations as the dataset has rows, the simulator
 * included, products at the default precision; 3: the same in float32);
 * *best = max(*best, the best epoch's samples/s). */
static int train_epochs(const char *dir, int n_gt, int K, int mode, int n_epochs, int threads, const char *backend,
                        double *best)
{
    eisnet_train_options t;
    eisnet_train_options_default(&t);
    t.data_dir = dir;
    char mp[160];
    snprintf(mp, sizeof mp, "%s/bench_model_%d.safetensors", dir, mode);
    t.model_path = mp;
    t.n_epochs = n_epochs;
    t.samples_per_gt = K;
    t.val_fraction = 0;
    t.features = mode;
    t.uniform = !mode;
    t.simulate = mode >= 2;
    if (mode == 3) t.matmul = "fp32";
    t.features = mode != 0;
    t.samples_per_epoch = n_gt * K;
    t.val_samples = 0;
    t.quiet = 1;
    t.threads = threads;
    t.backend = backend;
    eisnet_train_result r;
    if (eisnet_train(&t, &r) != 0) return -1;
    for (int e = 0; e < r.n_history; e++)
        if (r.history[e].samples_per_s > *best) *best = r.history[e].samples_per_s;
    eisnet_train_result_free(&r);
    return 0;
}

/* The network alone, timed like bench/pytorch_reference.py: the median of
 * timed calls after warm-up, on one fixed batch. */
/* a backend NAME with T threads for the model; 0 / -1 */
static int use_backend(eisnet_model *m, eisnet_backend **be, const char *name, int T)
{
    const eisnet_backend_options bo = {.threads = T};
    eisnet_backend *nb = eisnet_backend_new(name, &bo);
    if (!nb || eisnet_model_set_backend(m, nb) != 0) {
        eisnet_backend_free(nb);
        return -1;
    }
    eisnet_backend_free(*be);
    *be = nb;
    return 0;
}

static int nn_bench(int n_in, int max_threads, int quick, const char *backend, nn_figures *f, const char *save_batch)
{
    memset(f, 0, sizeof *f);
    f->n_in = n_in;
    eisnet_backend *be = NULL;
    int rc = -1;
    eisnet_model_config cfg = eisnet_model_config_default(n_in, 5, 12);
    eisnet_model *m = eisnet_model_new(&cfg, 1);
    eisnet_workspace *ws = eisnet_workspace_new(m, 512);
    eisnet_adamw opt;
    float *x = malloc(sizeof(float) * 512 * (size_t)n_in), *rt = malloc(sizeof(float) * 512);
    int32_t *t = malloc(sizeof(int32_t) * 512 * 5);
    uint8_t *miss = malloc(512 * 5);
    float *probs = malloc(sizeof(float) * 256 * 60), *res = malloc(sizeof(float) * 256);
    int n_times = 2000;
    double *ts = malloc(sizeof(double) * (size_t)n_times);
    if (!m || !ws || !x || !rt || !t || !miss || !probs || !res || !ts || eisnet_adamw_init(&opt, eisnet_model_n_params(m), NULL)) {
        eisnet_model_free(m);
        return eisnet_set_error("out of memory");
    }
    eisnet_rng r;
    eisnet_rng_seed(&r, 0, 99);
    random_batch(&r, 512, n_in, x, t, miss, rt);
    if (save_batch) {
        /* PyTorch trains on exactly these rows (bench/pytorch_reference.py --data) */
        eisnet_array a[4];
        memset(a, 0, sizeof a);
        const char *names[4] = {"x", "target", "missing", "rt"};
        eisnet_dtype types[4] = {EISNET_F32, EISNET_I32, EISNET_U8, EISNET_F32};
        void *data[4] = {x, t, miss, rt};
        int64_t cols[4] = {n_in, 5, 5, 0};
        size_t esz[4] = {4, 4, 1, 4};
        for (int i = 0; i < 4; i++) {
            snprintf(a[i].name, sizeof a[i].name, "%s", names[i]);
            a[i].dtype = types[i];
            a[i].ndim = cols[i] ? 2 : 1;
            a[i].shape[0] = 512;
            a[i].shape[1] = cols[i];
            a[i].data = data[i];
            a[i].nbytes = 512 * (size_t)(cols[i] ? cols[i] : 1) * esz[i];
        }
        if (eisnet_npz_write(save_batch, a, 4, 0) != 0) return -1;
    }
    uint64_t drop = 7;
    int steps = quick ? 15 : 40;
    for (int th = 1; th <= max_threads && th <= 2; th++) {
        if (use_backend(m, &be, backend, th) != 0) goto fail;
        for (int i = 0; i < 5 + steps; i++) {
            double t0 = eisnet_now();
            eisnet_model_train_step(m, ws, &opt, x, 512, t, miss, rt, 0.5f, 1.0f, &drop, NULL, NULL, NULL, NULL);
            if (i >= 5) ts[i - 5] = eisnet_now() - t0;
        }
        f->train_sps[th] = 512.0 / quantile(ts, steps, 0.5);
    }
    /* three windows of each measurement, interleaved, and the best median
     * of each: a shared machine's bursts then spoil at most some windows
     * (PyTorch's figures are likewise its best over three thread settings) */
    int nu = quick ? 300 : 1000;
    f->predict1_us = f->update_ms = f->update_p99_ms = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        if (use_backend(m, &be, backend, 1) != 0) goto fail;
        for (int i = 0; i < 200 + n_times; i++) {
            double t0 = eisnet_now();
            eisnet_model_predict_one(m, ws, x, miss, probs, res);
            if (i >= 200) ts[i - 200] = eisnet_now() - t0;
        }
        f->predict1_us = fmin(f->predict1_us, 1e6 * quantile(ts, n_times, 0.5));
        if (use_backend(m, &be, backend, max_threads) != 0) goto fail;
        for (int i = 0; i < 10 + 100; i++) {
            double t0 = eisnet_now();
            eisnet_model_predict_masked(m, ws, x, 256, miss, probs, res);
            if (i >= 10) ts[i - 10] = eisnet_now() - t0;
        }
        f->batch256_sps = fmax(f->batch256_sps, 256.0 / quantile(ts, 100, 0.5));
        if (use_backend(m, &be, backend, 1) != 0) goto fail;
        for (int i = 0; i < 30 + nu; i++) {
            double t0 = eisnet_now();
            eisnet_model_train_step(m, ws, &opt, x, 1, t, miss, rt, 0.5f, 1.0f, &drop, NULL, NULL, NULL, NULL);
            if (i >= 30) ts[i - 30] = eisnet_now() - t0;
        }
        const double med = 1e3 * quantile(ts, nu, 0.5);
        if (med < f->update_ms) {
            f->update_ms = med;
            f->update_p99_ms = 1e3 * quantile(ts, nu, 0.99);
        }
    }
    rc = 0;
fail:
    eisnet_adamw_free(&opt);
    eisnet_workspace_free(ws);
    eisnet_model_free(m);
    eisnet_backend_free(be);
    free(x);
    free(rt);
    free(t);
    free(miss);
    free(probs);
    free(res);
    free(ts);
    return rc;
}

/* Runs this program with arguments; returns its wall time, peak RSS (MB). */
static int run_child(char *const argv[], double *seconds, double *peak_mb)
{
    double t0 = eisnet_now();
    pid_t pid = fork();
    if (pid < 0) return eisnet_set_error("cannot start a child process");
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) dup2(nul, 1); /* its report is not ours */
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) return eisnet_set_error("wait failed");
    *seconds = eisnet_now() - t0;
    *peak_mb = (double)ru.ru_maxrss / 1024.0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return eisnet_set_error("`eisnet %s` failed (status %d)", argv[1], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

static const char *find_script(const char *name, char *buf, size_t n)
{
    const char *dirs[3] = {getenv("EISNET_SOURCE_DIR"), ".", NULL};
    char exe[1024];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            strncat(exe, "/..", sizeof exe - strlen(exe) - 1);
            dirs[2] = exe;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (!dirs[i]) continue;
        snprintf(buf, n, "%s/bench/%s", dirs[i], name);
        if (access(buf, R_OK) == 0) return buf;
    }
    return NULL;
}

static cJSON *pytorch_figures(int quick, const char *data, char *why, size_t why_n)
{
    char script[1200], cmd[1400];
    if (getenv("EISNET_BENCH_NO_PYTORCH")) {
        snprintf(why, why_n, "skipped (EISNET_BENCH_NO_PYTORCH is set)");
        return NULL;
    }
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        snprintf(why, why_n, "PyTorch not importable by /usr/bin/python3 (Debian: apt-get install python3-torch)");
        return NULL;
    }
    if (!find_script("pytorch_reference.py", script, sizeof script)) {
        snprintf(why, why_n, "bench/pytorch_reference.py not found (run from the source tree or set EISNET_SOURCE_DIR)");
        return NULL;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s --n_in 10 --threads 1,2,torch1 --steps %d --data '%s' 2>/dev/null",
             script, quick ? 15 : 30, data);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, p) : 0;
    pclose(p);
    if (!buf) return NULL;
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) snprintf(why, why_n, "bench/pytorch_reference.py gave no result");
    return j;
}

static double jnum(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(j, a);
    if (b) x = cJSON_GetObjectItem(x, b);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* The best value of j[a] over the thread settings PyTorch was measured at
 * (largest, or smallest when lower is better); *which = that setting. */
static double jbest(const cJSON *j, const char *a, int lower_is_better, const char **which)
{
    double best = NAN;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(j, a))
    {
        if (!cJSON_IsNumber(x)) continue;
        if (isnan(best) || (lower_is_better ? x->valuedouble < best : x->valuedouble > best)) {
            best = x->valuedouble;
            if (which) *which = x->string;
        }
    }
    return best;
}

/* One table cell: fmt with v, or "n/a" when v is not a number (a side that
 * was not measured). Returns buf. */
static const char *cell(char *buf, size_t n, const char *fmt, double v)
{
    if (!isfinite(v)) snprintf(buf, n, "n/a");
    else snprintf(buf, n, fmt, v);
    return buf;
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s)) snprintf(buf, n, "n/a");
    else if (s < 120) snprintf(buf, n, "%.1f s", s);
    else if (s < 7200) snprintf(buf, n, "%.1f min", s / 60);
    else snprintf(buf, n, "%.1f h", s / 3600);
}

/* Everything one bench run measures. */
typedef struct {
    int quick, threads, n_gt, K;
    double gen_s, gen_mb, full_s, full_mb;
    double epoch_sps[4]; /* reference input, spectrum input, by simulation (default, float32 products) */
    const char *sim_matmul; /* the precision training by simulation ran its products at by default */
    nn_figures f10, f110;
    cJSON *pt; /* PyTorch's figures, NULL when not measured */
    char why[256];
    double np_ms;
} bench_run;

/* generate and full in child processes (time and peak memory), the
 * training epochs, the network alone, PyTorch and numpy. */
static int bench_measure(const cli_options *o, const char *dir, bench_run *b)
{
    char ngt[16], th[16];
    snprintf(ngt, sizeof ngt, "%d", b->n_gt);
    snprintf(th, sizeof th, "%d", b->threads);
    if (!o->quiet) fprintf(stderr, "bench: generate %d ground truths...\n", b->n_gt);
    char *gen_argv[] = {"eisnet", "generate", "--n_ground_truths", ngt, "--data_dir", (char *)dir, "--n_workers", th, "--quiet", NULL};
    if (run_child(gen_argv, &b->gen_s, &b->gen_mb) != 0) return -1;
    if (!o->quiet) fprintf(stderr, "bench: eisnet full (1 epoch) for its peak memory...\n");
    char fdir[64];
    snprintf(fdir, sizeof fdir, "%s/full", dir);
    char spe[24];
    snprintf(spe, sizeof spe, "%d", b->n_gt * b->K);
    char *full_argv[] = {"eisnet", "full", "--n_ground_truths", ngt, "--samples_per_epoch", spe, "--n_epochs", "1",
                         "--data_dir", fdir, "--threads", th, "--evaluate", "0", "--quiet", NULL};
    if (run_child(full_argv, &b->full_s, &b->full_mb) != 0) return -1;

    /* training end to end on the dataset: the reference's input (like for like) and eisnet's */
    eisnet_matmul asked;
    if (eisnet_matmul_parse(EISNET_TRAIN_MATMUL_SIM, "--matmul", &asked) != 0) return -1;
    b->sim_matmul = eisnet_matmul_name(eisnet_backend_matmul_for(o->backend ? o->backend : "auto", asked));
    for (int mode = 0; mode < 4; mode++) {
        if (mode == 3 && strcmp(b->sim_matmul, "float32") == 0) continue; /* mode 2 ran in float32 */
        static const char *what[] = {"reference input", "spectrum input", "by simulation",
                                     "by simulation, float32 products"};
        if (!o->quiet) fprintf(stderr, "bench: training epochs, %s...\n", what[mode]);
        if (train_epochs(dir, b->n_gt, b->K, mode, b->quick ? 1 : 2, b->threads, o->backend, &b->epoch_sps[mode]) != 0)
            return -1;
    }
    if (!o->quiet) fprintf(stderr, "bench: network kernels...\n");
    char batch_file[96];
    snprintf(batch_file, sizeof batch_file, "%s/batch.npz", dir);
    if (nn_bench(10, b->threads, b->quick, o->backend, &b->f10, batch_file) != 0 ||
        nn_bench(110, b->threads, b->quick, o->backend, &b->f110, NULL) != 0)
        return -1;
    if (!o->quiet) fprintf(stderr, "bench: PyTorch...\n");
    b->pt = pytorch_figures(b->quick, batch_file, b->why, sizeof b->why);
    if (!b->quick) {
        /* one more epoch after PyTorch's runs: on a shared machine both sides
         * then get their best over several periods of the run */
        if (!o->quiet) fprintf(stderr, "bench: training epoch, reference input, again...\n");
        if (train_epochs(dir, b->n_gt, b->K, 0, 1, b->threads, o->backend, &b->epoch_sps[0]) != 0) return -1;
    }
    b->np_ms = NAN;
    char script[1200], cmd[1400];
    if (find_script("numpy_resnorm.py", script, sizeof script) &&
        system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s 2 2>/dev/null", script);
        FILE *p = popen(cmd, "r");
        if (p) {
            if (fscanf(p, "%lf", &b->np_ms) != 1) b->np_ms = NAN;
            pclose(p);
        }
    }
    return 0;
}

/* The CPU's model name from /proc/cpuinfo. */
static void cpu_name(char *cpu, size_t n)
{
    snprintf(cpu, n, "unknown CPU");
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (!ci) return;
    char line[256];
    while (fgets(line, sizeof line, ci))
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) snprintf(cpu, n, "%s", c + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    fclose(ci);
}

/* The Markdown report (malloc'ed; its length in *len), NULL when out of
 * memory. */
static char *bench_table(const bench_run *b, size_t *len)
{
    const nn_figures *f10 = &b->f10, *f110 = &b->f110;
    const cJSON *pt = b->pt;
    int quick = b->quick, threads = b->threads, n_gt = b->n_gt, K = b->K;
    const char *pt_best_setting = "1";
    double pt_sps1 = pt ? jnum(pt, "train_samples_per_s", "1") : NAN, pt_sps2 = pt ? jnum(pt, "train_samples_per_s", "2") : NAN;
    double pt_best = pt ? jbest(pt, "train_samples_per_s", 0, &pt_best_setting) : NAN;
    double pt_p1 = pt ? jbest(pt, "predict1_us", 1, NULL) : NAN;
    double pt_b256 = pt ? jbest(pt, "batch256_samples_per_s", 0, NULL) : NAN;
    double pt_upd = pt ? jnum(pt, "online_update_ms", "1") : NAN;
    char cpu[128];
    cpu_name(cpu, sizeof cpu);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t cap = 16384, k = 0;
    char *md = malloc(cap);
    if (!md) return NULL;
#define OUT(...) k += (size_t)snprintf(md + k, cap - k, __VA_ARGS__)
    OUT("## eisnet bench%s: %s, %ld cores, %d threads\n\n", quick ? " --quick" : "", cpu, cores, threads);
    OUT("The network of docs/model.md (hidden 512, batch 512). eisnet trains end to end (rows from the dataset, "
        "AdamW, clipping; %s) and evaluates each parameter head only for the rows "
        "whose parameter is missing (nothing else reaches the loss or the answer; the same function); PyTorch, like the "
        "reference, evaluates all five. Latency and throughput figures are the best median of three windows. ",
        quick ? "one epoch" : "its best of 3 epochs spread over the run");
    if (pt)
        OUT("PyTorch %s runs the same network and optimizer step on the fixed batch eisnet's network-only "
            "figures use (written by eisnet, read by bench/pytorch_reference.py --data); each "
            "PyTorch figure is its best over the thread settings measured (1 or 2 threads for torch and its OpenBLAS, "
            "or torch.set_num_threads(1) with OpenBLAS on every core; training was best at '%s').\n\n",
            cJSON_GetObjectItem(pt, "torch_version")->valuestring, pt_best_setting);
    else
        OUT("PyTorch was not measured (see below).\n\n");
    OUT("| scenario | PyTorch (CPU) | eisnet | eisnet / PyTorch |\n|---|---|---|---|\n");
    double e_sps = b->epoch_sps[0];
    struct {
        const char *what;
        double samples;
        int epochs;
    } sc[3] = {{"training, 500k samples × 50 epochs", 500000, 50},
               {"quick prototyping, 50k samples × 10 epochs", 50000, 10},
               {"production, 5M samples × 100 epochs (estimate from the measured epoch rate)", 5e6, 100}};
    char ta[32], tb[32];
    fmt_time(ta, sizeof ta, 500000 / pt_best);
    fmt_time(tb, sizeof tb, 500000 / e_sps);
    char r[48], p1[48], e1[64];
#define CELL(buf, fmt, v) cell(buf, sizeof buf, fmt, v)
    OUT("| time per 500k-sample epoch (reference input) | %s | %s | %s |\n", ta, tb,
        CELL(r, "%.1f× faster", e_sps / pt_best));
    for (int i = 0; i < 3; i++) {
        fmt_time(ta, sizeof ta, sc[i].samples * sc[i].epochs / pt_best);
        fmt_time(tb, sizeof tb, sc[i].samples * sc[i].epochs / e_sps);
        OUT("| %s | %s | %s | %s |\n", sc[i].what, ta, tb, CELL(r, "%.1f× faster", e_sps / pt_best));
    }
    fmt_time(tb, sizeof tb, 500000 / b->epoch_sps[1]);
    OUT("| time per 500k-sample epoch, eisnet's input (+100 spectrum features) | | %s (%.0fk samples/s) | |\n", tb,
        b->epoch_sps[1] / 1000);
    fmt_time(tb, sizeof tb, 500000 / b->epoch_sps[2]);
    OUT("| time per 500k-sample epoch, training by simulation (simulator included, products in %s) | | %s (%.0fk "
        "samples/s) | |\n",
        b->sim_matmul, tb, b->epoch_sps[2] / 1000);
    if (strcmp(b->sim_matmul, "float32") != 0) {
        fmt_time(tb, sizeof tb, 500000 / b->epoch_sps[3]);
        OUT("| the same with float32 products (`--matmul fp32`) | | %s (%.0fk samples/s) | |\n", tb,
            b->epoch_sps[3] / 1000);
    }
    OUT("| training samples/s, 1 thread (network only) | %s | %.0fk | %s |\n", CELL(p1, "%.0fk", pt_sps1 / 1000),
        f10->train_sps[1] / 1000, CELL(r, "%.1f×", f10->train_sps[1] / pt_sps1));
    if (threads >= 2)
        OUT("| training samples/s, 2 threads (network only) | %s | %.0fk | %s |\n", CELL(p1, "%.0fk", pt_sps2 / 1000),
            f10->train_sps[2] / 1000, CELL(r, "%.1f×", f10->train_sps[2] / pt_sps2));
    OUT("| peak memory, eisnet full (%d ground truths, %d samples each) | n/a | %.0f MB | |\n", n_gt, K, b->full_mb);
    OUT("| single prediction (batch 1, warm, median) | %s | %.1f µs | %s |\n", CELL(p1, "%.0f µs", pt_p1),
        f10->predict1_us, CELL(r, "%.0f× faster", pt_p1 / f10->predict1_us));
    OUT("| batch-256 inference throughput | %s | %.0fk samples/s | %s |\n", CELL(p1, "%.0fk samples/s", pt_b256 / 1000),
        f10->batch256_sps / 1000, CELL(r, "%.1f×", f10->batch256_sps / pt_b256));
    OUT("| online update (1 sample: forward, backward, clip, AdamW; 1 thread, median) | %s | %.3f ms (p99 %.3f) "
        "| %s |\n",
        CELL(p1, "%.2f ms", pt_upd), f10->update_ms, f10->update_p99_ms, CELL(r, "%.0f× faster", pt_upd / f10->update_ms));
    OUT("| online updates per second | %s | %.0f | |\n", CELL(p1, "%.0f", 1000 / pt_upd), 1000 / f10->update_ms);
    OUT("| dataset generation, %d ground truths × 248,832 models | %s | "
        "%.2f s (%.1f ms per ground truth, %.0f M models/s) | %s |\n",
        n_gt, CELL(e1, "numpy (vectorised): %.0f ms per ground truth", b->np_ms), b->gen_s, 1000 * b->gen_s / n_gt,
        n_gt * 0.248832 / b->gen_s, CELL(r, "%.0f×", b->np_ms / (1000 * b->gen_s / n_gt)));
#undef CELL
    OUT("| eisnet full, 1 epoch, %d ground truths | | %.1f s | |\n", n_gt, b->full_s);
    OUT("\nNetwork only, eisnet's input (n_in 110): training %.0fk samples/s (%d threads), single prediction %.1f µs, "
        "update %.3f ms.\n",
        f110->train_sps[threads >= 2 ? 2 : 1] / 1000, threads >= 2 ? 2 : 1, f110->predict1_us, f110->update_ms);
    if (!pt) OUT("\nPyTorch: not measured: %s.\n", b->why);
#undef OUT
    *len = k;
    return md;
}

int cli_bench(cli_options *o)
{
    bench_run b;
    memset(&b, 0, sizeof b);
    b.threads = eisnet_cpu_threads(o->threads);
    b.quick = o->quick;
    b.n_gt = o->n_ground_truths_given ? o->n_ground_truths : (b.quick ? 20 : 100);
    b.K = o->samples_per_gt_given ? o->samples_per_gt : 5000;
    if (b.n_gt < 2 || b.K < 1) {
        fprintf(stderr, "eisnet bench: need --n_ground_truths >= 2 and --samples_per_gt >= 1\n");
        return 2;
    }
    char dir[] = "/tmp/eisnet_bench_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "eisnet bench: cannot create a temporary directory\n");
        return 1;
    }
    int rc = 1;
    size_t len = 0;
    char *md = NULL;
    if (bench_measure(o, dir, &b) != 0 || !(md = bench_table(&b, &len))) {
        fprintf(stderr, "eisnet bench: %s\n", eisnet_last_error());
    } else {
        fputs(md, stdout);
        if (o->bench_out && eisnet_write_file_atomic(o->bench_out, md, len) != 0)
            fprintf(stderr, "eisnet bench: %s\n", eisnet_last_error());
        else
            rc = 0;
    }
    free(md);
    cJSON_Delete(b.pt);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
