/* Command line: options shared by the subcommands. */
#ifndef EISNET_CLI_H
#define EISNET_CLI_H

#include <stdint.h>

#include "eisnet/readers.h"
#include "eisnet/train.h"

enum {
    CMD_GENERATE = 1 << 0,
    CMD_TRAIN = 1 << 1,
    CMD_INFER = 1 << 2,
    CMD_FULL = 1 << 3,
    CMD_BENCH = 1 << 4,
    CMD_UPDATE = 1 << 5,
    CMD_REFERENCE = 1 << 6, /* the reference's --mode form accepts all of its flags */
    CMD_FIT = 1 << 7,
    CMD_KK = 1 << 8
};

#define CLI_MAX_RANGES 64
/* epochs of `eisnet full` unless --n_epochs is given */
#define CLI_FULL_EPOCHS 16
/* spectra per mask of the evaluation that ends `train` and `full` */
#define CLI_TRAIN_EVAL_N 300
#define CLI_FULL_EVAL_N 50

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
    int top_k, json, exact, extrapolate;
    double sigma;
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
    double dropout, lr_decay, weight_decay, many_missing_weight;
    const char *matmul; /* NULL: the mode's default */
    int samples_per_epoch, val_samples, grid_given, sigma_given, eval_n;
    eisnet_grid_options train_grid; /* filled by cli_train_options when training by simulation */
    int n_ground_truths_given;
    /* fit */
    double fit_sigma;
    const char *fit_weighting;
    int fit_starts;
    /* reading a spectrum (infer, kk) */
    const char *format, *im_sign;
    double data_f_min, data_f_max;
    int drop_inductive;
    /* kk */
    double kk_c, kk_threshold;
    int kk_max_m, kk_add_cap;
    const char *kk_fit;
    /* infer: impedance scale ("auto", "off" or a factor) */
    const char *scale;
    /* the raw rest for commands that parse more themselves */
    int argc;
    char **argv;
} cli_options;

int cli_generate(cli_options *o);
int cli_train(cli_options *o);
/* The train options of the command line (also used by full); -1 after printing an error. */
int cli_train_options(cli_options *o, eisnet_train_options *t);
/* Ctrl-C / SIGTERM ask a running training to stop and save (on = 1), or restore the defaults. */
void cli_catch_interrupts(int on);
/* The evaluation that ends training by simulation: --evaluate N spectra per
 * mask with 1 to 3 missing (default_n when not given; 0: none). 0 / -1. */
int cli_closing_evaluation(const cli_options *o, const eisnet_train_options *t, const char *model, int default_n);
int cli_infer(cli_options *o);
int cli_full(cli_options *o);
int cli_update(cli_options *o); /* src/cli/cli_update.c */
int cli_bench(cli_options *o);  /* src/cli/cli_bench.c */
int cli_fit(cli_options *o);    /* src/cli/cli_fit.c */
int cli_evaluate_main(int argc, char **argv); /* src/cli/cli_evaluate.c: parses its own flags */
int cli_parse_int(const char *flag, const char *s, int *out);
int cli_kk(cli_options *o); /* src/cli/cli_kk.c */

/* Reading a spectrum with the command's --format/--f_min/--f_max/
 * --drop_inductive/--im_sign (src/cli/cli_spectrum.c): 0, or -1 with the error
 * set; prints what was detected or dropped on stderr unless --quiet. */
int cli_read_spectrum(const cli_options *o, const char *path, eisnet_spectrum *s, eisnet_read_info *info);
/* A warning on stderr, "eisnet COMMAND: warning: ...", when the measured points
 * fail the linear Kramers-Kronig test in every variant (src/cli/cli_spectrum.c). */
void cli_kk_warning(const char *command, const eisnet_spectrum *raw, const char *source);
/* The --spectrum arguments with directories expanded to their spectrum files
 * (sorted; src/cli/cli_common.c). 0 or -1 with the error set; free each and the list. */
int cli_collect_spectra(const cli_options *o, char ***out, int *n);

#endif
