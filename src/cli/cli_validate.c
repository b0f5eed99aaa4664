/* Every flag checked once, for every command, before any work starts: a bad
 * value gets one line naming the flag, and nothing is generated, trained,
 * measured or written first (src/cli/cli_validate.h). */
#include "cli_validate.h"
#include "eisnet/model.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Was --NAME given on the command line (as "--NAME V" or "--NAME=V")? Flags
 * whose default is "unset" (0) need this to tell "--threads 0" from no flag. */
int cli_flag_given(const cli_options *o, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < o->argc; i++) {
        const char *a = o->argv[i];
        if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, name, n) == 0 && (a[2 + n] == '\0' || a[2 + n] == '='))
            return 1;
    }
    return 0;
}

static int bad_int(const cli_options *o, const char *flag, int v, int lo, int hi)
{
    if (v >= lo && v <= hi) return 0;
    if (v < lo) fprintf(stderr, "eisnet %s: --%s must be at least %d (got %d)\n", o->name, flag, lo, v);
    else fprintf(stderr, "eisnet %s: --%s must be at most %d (got %d)\n", o->name, flag, hi, v);
    return -1;
}

/* The directory that will hold `path`: "." for a bare name. */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, cap, ".");
    else if (slash == path) snprintf(out, cap, "/");
    else snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* The nearest existing ancestor of `dir` must be a writable directory (the
 * missing rest is created later), so that a missing parent or a read-only
 * disk is reported now, not after an hour of work. */
int cli_check_writable_dir(const char *cmd, const char *flag, const char *dir)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", dir);
    for (;;) {
        struct stat st;
        if (stat(d, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                fprintf(stderr, "eisnet %s: %s: %s is not a directory\n", cmd, flag, d);
                return -1;
            }
            if (access(d, W_OK | X_OK) != 0) {
                fprintf(stderr, "eisnet %s: %s: cannot write in %s: %s\n", cmd, flag, d, strerror(errno));
                return -1;
            }
            return 0;
        }
        if (errno != ENOENT) {
            fprintf(stderr, "eisnet %s: %s: cannot create directory %s: %s\n", cmd, flag, dir, strerror(errno));
            return -1;
        }
        char up[4096];
        dir_of(d, up, sizeof up);
        if (strcmp(up, d) == 0) return 0;
        snprintf(d, sizeof d, "%s", up);
    }
}

static int check_output_file(const cli_options *o, const char *flag, const char *path)
{
    char d[4096];
    dir_of(path, d, sizeof d);
    struct stat st;
    if (stat(d, &st) != 0) {
        fprintf(stderr, "eisnet %s: %s %s: directory %s: %s\n", o->name, flag, path, d, strerror(errno));
        return -1;
    }
    return cli_check_writable_dir(o->name, flag, d);
}

static int check_threads(const cli_options *o)
{
    /* 0 is the default "all cores" inside, but given explicitly it is a
     * mistake like any other out-of-range value. */
    if (cli_flag_given(o, "threads") && bad_int(o, "threads", o->threads, 1, CLI_MAX_THREADS) != 0) return -1;
    if (cli_flag_given(o, "n_workers") && bad_int(o, "n_workers", o->n_workers, 1, CLI_MAX_THREADS) != 0) return -1;
    return 0;
}

static int check_generate(const cli_options *o)
{
    /* counts, grid and frequencies are checked by eisnet_generate before it
     * writes anything; the directory is checked here */
    return cli_check_writable_dir(o->name, "--data_dir", o->data_dir);
}

static int check_train(const cli_options *o)
{
    if (bad_int(o, "n_epochs", o->n_epochs, 1, 1000000) != 0) return -1;
    /* -1: not given, the training mode's own default */
    if (o->batch_size != -1 && bad_int(o, "batch_size", o->batch_size, 1, 1 << 20) != 0) return -1;
    if (bad_int(o, "samples_per_gt", o->samples_per_gt, 1, INT_MAX) != 0) return -1;
    if (o->hidden_dim < 2 || o->hidden_dim % 2 || o->hidden_dim > EISNET_MODEL_MAX_HIDDEN) {
        fprintf(stderr, "eisnet %s: --hidden_dim must be an even number from 2 to %d (got %d)\n", o->name,
                EISNET_MODEL_MAX_HIDDEN, o->hidden_dim);
        return -1;
    }
    if (!(o->noise >= 0 && isfinite(o->noise))) {
        fprintf(stderr, "eisnet %s: --noise must be >= 0 (got %g)\n", o->name, o->noise);
        return -1;
    }
    return 0;
}

static int check_fraction_lr(const cli_options *o)
{
    if (!(o->val_fraction >= 0 && o->val_fraction < 1)) {
        fprintf(stderr, "eisnet %s: --val_fraction must be in [0, 1) (got %g)\n", o->name, o->val_fraction);
        return -1;
    }
    if (!(o->lr > 0 && isfinite(o->lr))) {
        fprintf(stderr, "eisnet %s: --lr must be positive (got %g)\n", o->name, o->lr);
        return -1;
    }
    return 0;
}

/* The checkpoint's directory: the model is saved there after every epoch or
 * checkpoint, so it must be writable before the first one. */
static int check_model_dir(const cli_options *o)
{
    if (o->model_path) return check_output_file(o, o->command == CMD_UPDATE ? "--model" : "--model_path", o->model_path);
    return cli_check_writable_dir(o->name, "--data_dir", o->data_dir);
}

int cli_validate(const cli_options *o)
{
    if (check_threads(o) != 0) return -1;
    int c = o->command;
    if (c & (CMD_INFER | CMD_FULL | CMD_REFERENCE)) {
        if (bad_int(o, "top_k", o->top_k, 1, 1000000) != 0) return -1;
    }
    if ((c & (CMD_TRAIN | CMD_FULL)) && !(o->sigma > 0 && o->sigma < 1)) {
        fprintf(stderr, "eisnet %s: --sigma must be in (0, 1) (got %g)\n", o->name, o->sigma);
        return -1;
    }
    if ((c & CMD_INFER) && !(o->sigma > 0 && isfinite(o->sigma))) {
        fprintf(stderr, "eisnet %s: --sigma must be positive (got %g)\n", o->name, o->sigma);
        return -1;
    }
    if (c & (CMD_GENERATE | CMD_FULL)) {
        if (check_generate(o) != 0) return -1;
    }
    if (c & (CMD_TRAIN | CMD_FULL)) {
        if (check_train(o) != 0 || check_fraction_lr(o) != 0 || check_model_dir(o) != 0) return -1;
    }
    if (c & CMD_UPDATE) {
        if (check_fraction_lr(o) != 0) return -1;
        if (!(o->checkpoint_every >= 0 && isfinite(o->checkpoint_every))) {
            fprintf(stderr, "eisnet %s: --checkpoint_every must be a number of seconds >= 0 (got %g)\n", o->name,
                    o->checkpoint_every);
            return -1;
        }
        if (o->model_path && check_model_dir(o) != 0) return -1;
    }
    if ((c & CMD_BENCH) && o->bench_out && check_output_file(o, "--out", o->bench_out) != 0) return -1;
    if ((c & CMD_FULL) && o->plots && cli_check_writable_dir(o->name, "--plots", o->plots) != 0) return -1;
    return 0;
}
