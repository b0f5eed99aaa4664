/* Command line: options shared by the subcommands. */
#ifndef EISNET_CLI_H
#define EISNET_CLI_H

#include <stdint.h>

#include "eisnet/train.h"

enum {
    CMD_GENERATE = 1 << 0,
    CMD_TRAIN = 1 << 1,
    CMD_INFER = 1 << 2,
    CMD_FULL = 1 << 3,
    CMD_BENCH = 1 << 4,
    CMD_UPDATE = 1 << 5,
    CMD_REFERENCE = 1 << 6 /* the reference's --mode form accepts all of its flags */
};

#define CLI_MAX_RANGES 64

typedef struct {
    int command;
    const char *name; /* "generate", ... */
    /* shared */
    const char *data_dir;
    uint64_t seed;
    int quiet;
    int n_workers;
    const char *backend;
    /* generate */
    int n_ground_truths;
    const char *circuit;
    const char *ranges[CLI_MAX_RANGES];
    int n_ranges;
    int grid_points, n_freq;
    double f_min, f_max;
    int csv;
    const char *ground_truths_file;
    int force; /* generate: allow a dataset over the size limits */
    /* train */
    int n_epochs, batch_size;
    const char *model_path;
    int samples_per_gt, hidden_dim, threads, resume;
    const char *known; /* train: a count; infer: NAME=VALUE,... */
    /* infer */
    const char *spectra[CLI_MAX_RANGES];
    int n_spectra;
    const char *ground_truth, *plots;
    int top_k, json, exact, exact_k, extrapolate;
    int n_epochs_given, samples_per_gt_given;
    /* update */
    const char *input;
    int replay;
    double checkpoint_every;
    int eval_before_after;
    /* bench */
    int quick;
    const char *bench_out;
    double val_fraction, lr, noise;
    const char *features, *sampling;
    int n_ground_truths_given;
    /* the raw rest for commands that parse more themselves */
    int argc;
    char **argv;
} cli_options;

int cli_generate(cli_options *o);
int cli_train(cli_options *o);
/* The train options of the command line (also used by full); -1 after printing an error. */
int cli_train_options(const cli_options *o, eisnet_train_options *t);
/* Ctrl-C / SIGTERM ask a running training to stop and save (on = 1), or restore the defaults. */
void cli_catch_interrupts(int on);
int cli_infer(cli_options *o);
int cli_full(cli_options *o);
int cli_update(cli_options *o); /* src/cli_update.c */
int cli_bench(cli_options *o);  /* src/cli_bench.c */
int cli_parse_int(const char *flag, const char *s, int *out);

#endif
