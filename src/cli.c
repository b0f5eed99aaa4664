/* eisnet: command line front end.
 *
 *   eisnet generate|train|infer|full|bench|update [options]
 *   eisnet --mode generate|train|inference|full [the reference's flags]
 */
#include "cli.h"
#include "cli_lock.h"
#include "cli_validate.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/train.h"
#include "eisnet/tmpfile.h"

#include <signal.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EISNET_VERSION "0.1.0"

typedef enum { ARG_NONE, ARG_INT, ARG_U64, ARG_DOUBLE, ARG_STR, ARG_RANGE, ARG_SPECTRUM } arg_kind;

typedef struct {
    const char *name;
    arg_kind kind;
    int commands;
    size_t offset;
    const char *meta;
    const char *help;
} option_spec;

#define OFF(f) offsetof(cli_options, f)
#define ALL (CMD_GENERATE | CMD_TRAIN | CMD_INFER | CMD_FULL | CMD_BENCH | CMD_UPDATE | CMD_REFERENCE)
#define GEN (CMD_GENERATE | CMD_FULL | CMD_REFERENCE)
#define TRN (CMD_TRAIN | CMD_FULL | CMD_REFERENCE)

static const option_spec options[] = {
    {"data_dir", ARG_STR, ALL & ~CMD_BENCH, OFF(data_dir), "DIR", "dataset directory (./eis_training_data)"},
    {"seed", ARG_U64, ALL, OFF(seed), "N", "seed of every random choice (42)"},
    {"quiet", ARG_NONE, ALL, OFF(quiet), NULL, "no progress output on stderr"},
    {"n_workers", ARG_INT, GEN | CMD_BENCH, OFF(n_workers), "N", "worker threads (all cores)"},
    {"backend", ARG_STR, ALL, OFF(backend), "NAME", "cpu, cuda or auto (auto)"},
    {"n_ground_truths", ARG_INT, GEN | CMD_BENCH, OFF(n_ground_truths), "N", "ground truths to draw (100)"},
    {"circuit", ARG_STR, GEN, OFF(circuit), "C", "series, parallel or a circuit string (series)"},
    {"range", ARG_RANGE, GEN, 0, "NAME=MIN:MAX", "parameter range (repeatable; required for custom circuits)"},
    {"grid_points", ARG_INT, GEN, OFF(grid_points), "N", "grid points per parameter (12)"},
    {"n_freq", ARG_INT, GEN, OFF(n_freq), "N", "number of frequencies (50)"},
    {"f_min", ARG_DOUBLE, GEN, OFF(f_min), "HZ", "lowest frequency (1)"},
    {"f_max", ARG_DOUBLE, GEN, OFF(f_max), "HZ", "highest frequency (1e6)"},
    {"csv", ARG_NONE, GEN, OFF(csv), NULL, "also write the reference's combined_dataset_{N}gt.csv"},
    {"ground_truths", ARG_STR, GEN, OFF(ground_truths_file), "FILE", "use these ground truths (reference JSON) instead of drawing"},
    {"force", ARG_NONE, GEN, OFF(force), NULL, "allow a dataset over 50 M grid models per ground truth or 2 GB"},
    {"n_epochs", ARG_INT, TRN | CMD_BENCH, OFF(n_epochs), "N", "training epochs (100)"},
    {"batch_size", ARG_INT, TRN | CMD_BENCH | CMD_UPDATE, OFF(batch_size), "N", "batch size (512)"},
    {"model_path", ARG_STR, TRN | CMD_INFER | CMD_UPDATE, OFF(model_path), "FILE", "checkpoint path (DATA_DIR/model.safetensors)"},
    {"samples_per_gt", ARG_INT, TRN | CMD_BENCH | CMD_UPDATE, OFF(samples_per_gt), "K", "rows per ground truth: its K best grid models (5000)"},
    {"known", ARG_STR, TRN | CMD_INFER, OFF(known), "K", "train: parameters known per row (3); infer: NAME=VALUE,..."},
    {"model", ARG_STR, CMD_INFER | CMD_UPDATE, OFF(model_path), "FILE", "model checkpoint (.safetensors or .npz)"},
    {"spectrum", ARG_SPECTRUM, CMD_INFER, 0, "FILE", "measured spectrum CSV freq,Re,Im (repeatable; a directory: every *.csv)"},
    {"ground_truth", ARG_STR, CMD_INFER | CMD_REFERENCE, OFF(ground_truth), "ID", "use a ground truth of --data_dir as the spectrum"},
    {"top_k", ARG_INT, CMD_INFER | CMD_REFERENCE | CMD_FULL, OFF(top_k), "K", "completions to list (10)"},
    {"json", ARG_NONE, CMD_INFER, OFF(json), NULL, "JSON output (the reference's keys; one line per spectrum for several)"},
    {"exact", ARG_NONE, CMD_INFER, OFF(exact), NULL, "also the exact grid distribution for this spectrum, and KL"},
    {"exact_k", ARG_INT, CMD_INFER, OFF(exact_k), "K", "best grid models the exact distribution uses (5000)"},
    {"plots", ARG_STR, CMD_INFER | CMD_FULL | CMD_REFERENCE, OFF(plots), "DIR", "write SVG plots there"},
    {"input", ARG_STR, CMD_UPDATE, OFF(input), "FILE", "new labelled examples, JSON lines ('-' = stdin, the default)"},
    {"replay", ARG_INT, CMD_UPDATE, OFF(replay), "N", "mix N original training rows into each update (needs --data_dir)"},
    {"checkpoint_every", ARG_DOUBLE, CMD_UPDATE, OFF(checkpoint_every), "S", "checkpoint every S seconds (30)"},
    {"eval", ARG_NONE, CMD_UPDATE, OFF(eval_before_after), NULL, "report held-out accuracy before and after (needs --data_dir)"},
    {"quick", ARG_NONE, CMD_BENCH, OFF(quick), NULL, "a one-minute version"},
    {"out", ARG_STR, CMD_BENCH, OFF(bench_out), "FILE", "also write the Markdown table there"},
    {"extrapolate", ARG_NONE, CMD_INFER, OFF(extrapolate), NULL, "allow a spectrum that does not cover the model's frequencies"},
    {"val_fraction", ARG_DOUBLE, TRN | CMD_UPDATE, OFF(val_fraction), "F", "share of ground truths held out for validation (0.15)"},
    {"hidden_dim", ARG_INT, TRN | CMD_BENCH, OFF(hidden_dim), "H", "hidden width of the encoder (512)"},
    {"lr", ARG_DOUBLE, TRN | CMD_UPDATE, OFF(lr), "LR", "learning rate (1e-3)"},
    {"features", ARG_STR, TRN, OFF(features), "KIND", "spectrum (default) or params (the reference's input)"},
    {"sampling", ARG_STR, TRN, OFF(sampling), "KIND", "topk (default) or uniform (the reference's rows)"},
    {"noise", ARG_DOUBLE, TRN, OFF(noise), "SIGMA", "relative spectrum noise added in training (0)"},
    {"resume", ARG_NONE, TRN, OFF(resume), NULL, "continue the last run (weights and optimizer state)"},
    {"threads", ARG_INT, TRN | CMD_INFER | CMD_BENCH | CMD_UPDATE, OFF(threads), "N", "CPU threads (all cores)"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

static const struct {
    const char *name;
    int bit;
    const char *summary;
} commands[] = {
    {"generate", CMD_GENERATE, "build the synthetic dataset: ground truths and the resnorm of every grid model"},
    {"train", CMD_TRAIN, "train the probabilistic predictor on a generated dataset"},
    {"infer", CMD_INFER, "predict the missing parameters of a measured spectrum"},
    {"full", CMD_FULL, "generate, train and infer on a small default"},
    {"bench", CMD_BENCH, "measure speed against the seed's scenarios"},
    {"update", CMD_UPDATE, "continue training from a stream of new measurements"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage_main(FILE *fp)
{
    fprintf(fp, "eisnet %s: impedance spectroscopy datasets and a probabilistic parameter predictor\n\n"
                "usage: eisnet COMMAND [options]      (eisnet COMMAND --help for its options)\n"
                "       eisnet --mode generate|train|inference|full [the reference's flags]\n\ncommands:\n",
            EISNET_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

static void usage_command(FILE *fp, const char *name, int bit)
{
    fprintf(fp, "usage: eisnet %s [options]\n\noptions:\n", name);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!(options[i].commands & bit)) continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", options[i].name, options[i].meta ? " " : "",
                 options[i].meta ? options[i].meta : "");
        fprintf(fp, "  %-28s %s\n", left, options[i].help);
    }
    fprintf(fp, "  %-28s %s\n", "--help", "this text");
}

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

static int parse_args(cli_options *o, int bit, int argc, char **argv, int *help)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "eisnet %s: unexpected argument '%s'\n", o->name, a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const option_spec *spec = NULL;
        for (size_t k = 0; k < N_OPTIONS; k++)
            if (strlen(options[k].name) == nlen && strncmp(options[k].name, name, nlen) == 0) spec = &options[k];
        if (!spec || !(spec->commands & bit)) {
            fprintf(stderr, "eisnet %s: unknown option '--%.*s' (see eisnet %s --help)\n", o->name, (int)nlen, name,
                    o->name);
            return -1;
        }
        const char *val = NULL;
        if (spec->kind != ARG_NONE) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else {
                fprintf(stderr, "eisnet %s: --%s needs a value (%s)\n", o->name, spec->name, spec->meta);
                return -1;
            }
        } else if (eq) {
            fprintf(stderr, "eisnet %s: --%s takes no value\n", o->name, spec->name);
            return -1;
        }
        char *field = (char *)o + spec->offset;
        if (spec->offset == OFF(n_ground_truths)) o->n_ground_truths_given = 1;
        if (spec->offset == OFF(n_epochs)) o->n_epochs_given = 1;
        if (spec->offset == OFF(samples_per_gt)) o->samples_per_gt_given = 1;
        switch (spec->kind) {
        case ARG_NONE: *(int *)field = 1; break;
        case ARG_INT:
            if (cli_parse_int(spec->name, val, (int *)field) != 0) return -1;
            break;
        case ARG_U64: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(val, &end, 10);
            if (*val == '\0' || *val == '-' || *end != '\0' || errno == ERANGE) {
                fprintf(stderr, "eisnet: --%s expects a non-negative integer, got '%s'\n", spec->name, val);
                return -1;
            }
            *(uint64_t *)field = v;
            break;
        }
        case ARG_DOUBLE: {
            char *end;
            errno = 0;
            double v = strtod(val, &end);
            if (*val == '\0' || *end != '\0' || errno == ERANGE) {
                fprintf(stderr, "eisnet: --%s expects a number, got '%s'\n", spec->name, val);
                return -1;
            }
            *(double *)field = v;
            break;
        }
        case ARG_STR: *(const char **)field = val; break;
        case ARG_SPECTRUM:
            if (o->n_spectra >= CLI_MAX_RANGES) {
                fprintf(stderr, "eisnet: too many --spectrum options (use a directory)\n");
                return -1;
            }
            o->spectra[o->n_spectra++] = val;
            break;
        case ARG_RANGE:
            if (o->n_ranges >= CLI_MAX_RANGES) {
                fprintf(stderr, "eisnet: too many --range options\n");
                return -1;
            }
            o->ranges[o->n_ranges++] = val;
            break;
        }
    }
    return 0;
}

static void defaults(cli_options *o)
{
    memset(o, 0, sizeof *o);
    o->data_dir = "./eis_training_data";
    o->seed = 42;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o->n_workers = n > 0 ? (int)n : 1;
    o->backend = "auto";
    o->n_ground_truths = 100;
    o->circuit = "series";
    o->grid_points = 12;
    o->n_freq = 50;
    o->f_min = 1.0;
    o->f_max = 1e6;
    o->n_epochs = 100;
    o->batch_size = 512;
    o->samples_per_gt = 5000;
    o->known = NULL;
    o->top_k = 10;
    o->exact_k = 5000;
    o->checkpoint_every = 30;
    o->hidden_dim = 512;
    o->val_fraction = 0.15;
    o->lr = 1e-3;
    o->features = "spectrum";
    o->sampling = "topk";
}

static int check_backend(const char *b)
{
    if (strcmp(b, "cpu") == 0 || strcmp(b, "auto") == 0) return 0;
    if (strcmp(b, "cuda") == 0) {
        fprintf(stderr, "eisnet: the CUDA backend is not built into this eisnet; use --backend cpu or auto\n");
        return -1;
    }
    if (strcmp(b, "mlx") == 0 || strcmp(b, "pytorch") == 0) {
        fprintf(stderr, "eisnet: --backend %s belongs to the Python reference; eisnet's equivalent is --backend auto "
                        "(CUDA when present, else the CPU) or --backend cpu\n", b);
        return -1;
    }
    fprintf(stderr, "eisnet: unknown --backend '%s' (cpu, cuda or auto)\n", b);
    return -1;
}

int cli_generate(cli_options *o)
{
    eisnet_generate_options g;
    eisnet_generate_options_default(&g);
    g.grid.circuit = o->circuit;
    g.grid.ranges = o->ranges;
    g.grid.n_ranges = o->n_ranges;
    g.grid.n_grid = o->grid_points;
    g.grid.n_freq = o->n_freq;
    g.grid.f_min = o->f_min;
    g.grid.f_max = o->f_max;
    g.n_ground_truths = o->n_ground_truths;
    g.data_dir = o->data_dir;
    g.n_workers = o->n_workers;
    g.seed = o->seed;
    g.csv = o->csv;
    g.quiet = o->quiet;
    g.ground_truths_file = o->ground_truths_file;
    g.force = o->force;
    if (eisnet_generate(&g) != 0) {
        fprintf(stderr, "eisnet generate: %s\n", eisnet_last_error());
        return 1;
    }
    return 0;
}

static void on_interrupt(int sig)
{
    (void)sig;
    eisnet_train_request_stop();
}

int cli_train_options(const cli_options *o, eisnet_train_options *t)
{
    eisnet_train_options_default(t);
    t->data_dir = o->data_dir;
    t->model_path = o->model_path;
    t->n_epochs = o->n_epochs;
    t->batch_size = o->batch_size;
    t->samples_per_gt = o->samples_per_gt;
    if (o->known && cli_parse_int("known", o->known, &t->known) != 0) return -1;
    t->hidden = o->hidden_dim;
    t->val_fraction = o->val_fraction;
    t->lr = o->lr;
    t->noise = o->noise;
    t->seed = o->seed;
    t->threads = o->threads;
    t->resume = o->resume;
    t->quiet = o->quiet;
    if (o->n_ground_truths_given && o->command == CMD_TRAIN) t->expect_n_gt = o->n_ground_truths;
    if (strcmp(o->features, "spectrum") == 0) t->features = 1;
    else if (strcmp(o->features, "params") == 0) t->features = 0;
    else {
        fprintf(stderr, "eisnet %s: --features must be spectrum or params (got '%s')\n", o->name, o->features);
        return -1;
    }
    if (strcmp(o->sampling, "topk") == 0) t->uniform = 0;
    else if (strcmp(o->sampling, "uniform") == 0) t->uniform = 1;
    else {
        fprintf(stderr, "eisnet %s: --sampling must be topk or uniform (got '%s')\n", o->name, o->sampling);
        return -1;
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

int cli_train(cli_options *o)
{
    eisnet_train_options t;
    if (cli_train_options(o, &t) != 0) return 2;
    eisnet_train_result r;
    cli_catch_interrupts(1);
    int rc = eisnet_train(&t, &r);
    cli_catch_interrupts(0);
    if (rc != 0) {
        fprintf(stderr, "eisnet train: %s\n", eisnet_last_error());
        return 1;
    }
    if (r.interrupted) {
        fprintf(stderr, "eisnet train: interrupted; the last checkpoint is %s (continue with --resume)\n", r.last_path);
        eisnet_train_result_free(&r);
        return 130;
    }
    printf("trained on %d ground truths (%d rows), validated on %d (%d rows)\n", r.n_train_gt, r.n_train_rows,
           r.n_val_gt, r.n_val_rows);
    if (r.n_history > 0) {
        const eisnet_epoch_record *e = &r.history[r.n_history - 1];
        printf("last epoch %d: train loss %.4f, %.0f samples/s\n", e->epoch, e->train_loss, e->samples_per_s);
    }
    if (r.n_val_gt > 0 && r.best_epoch > 0) {
        printf("best epoch %d: validation loss %.4f\n", r.best_epoch, r.best_val_loss);
        printf("held-out accuracy per missing parameter: top-1 %.3f (uniform %.3f), top-3 %.3f (uniform %.3f)\n", r.top1,
               r.uniform_top1, r.top3, r.uniform_top3);
        if (r.mean_kl == r.mean_kl) printf("mean KL(exact grid distribution || predicted marginal): %.3f nats\n", r.mean_kl);
    }
    printf("model: %s (and .npz), last: %s\n", r.best_path, r.last_path);
    eisnet_train_result_free(&r);
    return 0;
}

static int run(cli_options *o)
{
    if (check_backend(o->backend) != 0) return 2;
    if (cli_validate(o) != 0) return 2;
    eisnet_tmp_install_signal_cleanup(); /* Ctrl-C leaves no temporary file */
    eisnet_lock locks[2];
    if (cli_lock_take(o, locks) != 0) return 1;
    int rc = 2;
    switch (o->command) {
    case CMD_GENERATE: rc = cli_generate(o); break;
    case CMD_TRAIN: rc = cli_train(o); break;
    case CMD_INFER: rc = cli_infer(o); break;
    case CMD_FULL: rc = cli_full(o); break;
    case CMD_UPDATE: rc = cli_update(o); break;
    case CMD_BENCH: rc = cli_bench(o); break;
    default: break;
    }
    cli_lock_release(locks, rc != 0);
    return rc;
}

int main(int argc, char **argv)
{
    cli_options o;
    defaults(&o);
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("eisnet %s\n", EISNET_VERSION);
        return 0;
    }
    int help = 0;
    if (strncmp(argv[1], "--", 2) == 0) {
        /* the reference's form: --mode M anywhere among its flags */
        const char *mode = NULL;
        int rest_n = 0;
        char **rest = calloc((size_t)argc, sizeof *rest);
        if (!rest) return 1;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) mode = argv[++i];
            else if (strncmp(argv[i], "--mode=", 7) == 0) mode = argv[i] + 7;
            else rest[rest_n++] = argv[i];
        }
        if (!mode) {
            fprintf(stderr, "eisnet: --mode is required in the reference's form (generate, train, inference, full), "
                            "or use a command: eisnet generate ...\n");
            free(rest);
            return 2;
        }
        o.name = mode;
        if (strcmp(mode, "generate") == 0) o.command = CMD_GENERATE;
        else if (strcmp(mode, "train") == 0) o.command = CMD_TRAIN;
        else if (strcmp(mode, "inference") == 0 || strcmp(mode, "infer") == 0) o.command = CMD_INFER;
        else if (strcmp(mode, "full") == 0) o.command = CMD_FULL;
        else {
            fprintf(stderr, "eisnet: unknown --mode '%s' (generate, train, inference, full)\n", mode);
            free(rest);
            return 2;
        }
        int rc = parse_args(&o, CMD_REFERENCE, rest_n, rest, &help);
        o.argc = rest_n;
        o.argv = rest;
        if (rc == 0 && help) {
            usage_command(stdout, "--mode ...", CMD_REFERENCE);
            free(rest);
            return 0;
        }
        rc = rc != 0 ? 2 : run(&o);
        free(rest);
        return rc;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            o.command = commands[i].bit;
            o.name = commands[i].name;
        }
    if (!o.command) {
        fprintf(stderr, "eisnet: unknown command '%s' (see eisnet --help)\n", argv[1]);
        return 2;
    }
    o.argc = argc - 2;
    o.argv = argv + 2;
    if (parse_args(&o, o.command, argc - 2, argv + 2, &help) != 0) return 2;
    if (help) {
        usage_command(stdout, o.name, o.command);
        return 0;
    }
    return run(&o);
}
