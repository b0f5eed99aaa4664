/* Helpers the command files share: integer flags, the train options of the
 * command line, interrupts during training, the closing evaluation, and the
 * --spectrum list. The command files call these; nothing here calls a
 * command. */
#include "cli.h"
#include "cli_backend.h"
#include "eisnet/backend.h"
#include "eisnet/error.h"
#include "eisnet/evaluate.h"
#include "eisnet/fileio.h"
#include "eisnet/posterior.h"
#include "eisnet/train.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int cli_parse_int(const char *flag, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE || v < INT_MIN || v > INT_MAX) {
        fprintf(stderr, "eisnet: --%s expects an integer, got '%s'\n", flag, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void on_interrupt(int sig)
{
    (void)sig;
    eisnet_train_request_stop();
}

int cli_train_options(cli_options *o, eisnet_train_options *t)
{
    eisnet_train_options_default(t);
    t->data_dir = o->data_dir;
    t->model_path = o->model_path;
    t->n_epochs = o->n_epochs;
    t->n_epochs_default = !o->n_epochs_given;
    t->batch_size = o->batch_size;
    t->samples_per_gt = o->samples_per_gt;
    if (o->known && cli_parse_int("known", o->known, &t->known) != 0) return -1;
    t->hidden = o->hidden_dim;
    t->val_fraction = o->val_fraction;
    t->lr = o->lr;
    t->noise = o->noise;
    t->seed = o->seed;
    t->threads = o->threads;
    t->backend = o->backend;
    t->resume = o->resume;
    t->quiet = o->quiet;
    if (o->n_ground_truths_given && o->command == CMD_TRAIN) t->expect_n_gt = o->n_ground_truths;
    if (strcmp(o->features, "spectrum") == 0) t->features = 1;
    else if (strcmp(o->features, "params") == 0) t->features = 0;
    else {
        fprintf(stderr, "eisnet %s: --features must be spectrum or params (got '%s')\n", o->name, o->features);
        return -1;
    }
    if (strcmp(o->sampling, "simulate") == 0) t->simulate = 1;
    else if (strcmp(o->sampling, "topk") == 0) t->simulate = 0, t->uniform = 0;
    else if (strcmp(o->sampling, "uniform") == 0) t->simulate = 0, t->uniform = 1;
    else {
        fprintf(stderr, "eisnet %s: --sampling must be simulate, topk or uniform (got '%s')\n", o->name, o->sampling);
        return -1;
    }
    t->sigma = o->sigma;
    t->samples_per_epoch = o->samples_per_epoch;
    t->val_samples = o->val_samples;
    t->dropout = o->dropout;
    t->lr_decay = o->lr_decay;
    t->weight_decay = o->weight_decay;
    t->many_missing_weight = o->many_missing_weight;
    t->matmul = o->matmul;
    /* checked here, before any work (full generates a dataset first) */
    eisnet_matmul asked;
    if (eisnet_matmul_parse(o->matmul ? o->matmul : t->simulate ? EISNET_TRAIN_MATMUL_SIM : EISNET_TRAIN_MATMUL_ROWS,
                            "--matmul", &asked) != 0) {
        fprintf(stderr, "eisnet %s: %s\n", o->name, eisnet_last_error());
        return -1;
    }
    if (t->simulate) {
        if (!t->features) {
            fprintf(stderr, "eisnet %s: --features params needs --sampling uniform or topk (training by simulation "
                            "learns from the spectrum)\n", o->name);
            return -1;
        }
        if (o->known) {
            fprintf(stderr, "eisnet %s: --known applies to --sampling topk or uniform; training by simulation "
                            "learns every subset of known parameters\n", o->name);
            return -1;
        }
        /* full trains on the grid it generates; train on the one asked for, if any */
        if (o->grid_given || o->command == CMD_FULL) {
            eisnet_grid_options_default(&o->train_grid);
            o->train_grid.circuit = o->circuit;
            o->train_grid.ranges = o->ranges;
            o->train_grid.n_ranges = o->n_ranges;
            o->train_grid.n_grid = o->grid_points;
            o->train_grid.n_freq = o->n_freq;
            o->train_grid.f_min = o->f_min;
            o->train_grid.f_max = o->f_max;
            t->grid = &o->train_grid;
        }
        /* the default run takes about as long with faster products, and
         * learns from more simulations */
        if (!o->n_epochs_given &&
            eisnet_backend_matmul_for(o->backend ? o->backend : "auto", asked) == EISNET_MATMUL_BF16)
            t->n_epochs = (int)(t->n_epochs * EISNET_TRAIN_EPOCHS_BF16_FACTOR + 0.5);
    }
    return 0;
}

void cli_catch_interrupts(int on)
{
    static struct sigaction old_int, old_term;
    if (on) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_interrupt;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    } else {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
}

int cli_closing_evaluation(const cli_options *o, const eisnet_train_options *t, const char *model, int default_n)
{
    int n = o->eval_n >= 0 ? o->eval_n : default_n;
    if (n <= 0) return 0;
    eisnet_predictor p;
    if (eisnet_predictor_load(&p, model) != 0) {
        fprintf(stderr, "eisnet %s: %s\n", o->name, eisnet_last_error());
        return -1;
    }
    eisnet_backend *be = cli_backend_attach(o->name, o->backend, t->threads, &p);
    if (!be) {
        eisnet_predictor_free(&p);
        return -1;
    }
    printf("\n== evaluation on %d fresh simulations per mask (exact posterior on %d of them; eisnet evaluate --model %s) ==\n",
           n, (n + 9) / 10, model);
    fflush(stdout);
    int rc = eisnet_evaluate_summary(&p, stdout, n, (n + 9) / 10, t->sigma, t->seed, t->quiet);
    if (rc != 0) fprintf(stderr, "eisnet %s: %s\n", o->name, eisnet_last_error());
    eisnet_predictor_free(&p);
    eisnet_backend_free(be);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }


/* A file name the readers take from a directory: CSV or an instrument
 * export (.txt .dta .mpt .z .par), by extension, any case. */
static int spectrum_name(const char *name)
{
    static const char *const ext[] = {".csv", ".txt", ".dta", ".mpt", ".z", ".par"};
    size_t L = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (L > e && strcasecmp(name + L - e, ext[i]) == 0) return 1;
    }
    return 0;
}

/* --spectrum arguments: files, or directories of spectrum files (sorted). */
int cli_collect_spectra(const cli_options *o, char ***out, int *n)
{
    int cap = 16, k = 0;
    char **list = malloc(sizeof(char *) * (size_t)cap);
    if (!list) return eisnet_set_error("out of memory");
    for (int i = 0; i < o->n_spectra; i++) {
        struct stat st;
        if (stat(o->spectra[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(o->spectra[i]);
            if (!d) {
                for (int j = 0; j < k; j++) free(list[j]);
                free(list);
                return eisnet_set_error("cannot read directory %s", o->spectra[i]);
            }
            int first = k;
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.' || !spectrum_name(e->d_name)) continue;
                if (k == cap) {
                    cap *= 2;
                    char **nl = realloc(list, sizeof(char *) * (size_t)cap);
                    if (!nl) break;
                    list = nl;
                }
                list[k++] = eisnet_path_join(o->spectra[i], e->d_name);
            }
            closedir(d);
            qsort(list + first, (size_t)(k - first), sizeof(char *), cmp_str);
            if (k == first) {
                for (int j = 0; j < k; j++) free(list[j]);
                free(list);
                return eisnet_set_error("no spectrum files (*.csv, *.txt, *.dta, *.mpt, *.z, *.par) in directory %s",
                                        o->spectra[i]);
            }
        } else {
            if (k == cap) {
                cap *= 2;
                char **nl = realloc(list, sizeof(char *) * (size_t)cap);
                if (!nl) break;
                list = nl;
            }
            list[k] = malloc(strlen(o->spectra[i]) + 1);
            if (list[k]) strcpy(list[k], o->spectra[i]);
            k++;
        }
    }
    *out = list;
    *n = k;
    return 0;
}
