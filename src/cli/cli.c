/* eisnet: command line front end.
 *
 *   eisnet generate|train|infer|full|bench|update|evaluate|fit|kk [options]
 *   eisnet --mode generate|train|inference|full [the reference's flags]
 */
#include "cli.h"
#include "cli_backend.h"
#include "cli_lock.h"
#include "cli_validate.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/evaluate.h"
#include "eisnet/fit.h"
#include "eisnet/kk.h"
#include "eisnet/update.h"
#include "eisnet/posterior.h"
#include "eisnet/rng.h"
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
#define CLI_STR_(x) #x
#define CLI_STR(x) CLI_STR_(x)
#define ALL (CMD_GENERATE | CMD_TRAIN | CMD_INFER | CMD_FULL | CMD_BENCH | CMD_UPDATE | CMD_REFERENCE)
#define GEN (CMD_GENERATE | CMD_FULL | CMD_REFERENCE)
#define TRN (CMD_TRAIN | CMD_FULL | CMD_REFERENCE)
#define GRD (GEN | CMD_TRAIN) /* the grid: generate's, and train's when training by simulation */

static const option_spec options[] = {
    {"data_dir", ARG_STR, ALL & ~CMD_BENCH, OFF(data_dir), "DIR", "dataset directory (" EISNET_DEFAULT_DATA_DIR ")"},
    {"seed", ARG_U64, ALL | CMD_FIT, OFF(seed), "N", "seed of every random choice (" CLI_STR(EISNET_DEFAULT_SEED) ")"},
    {"quiet", ARG_NONE, ALL | CMD_FIT | CMD_KK, OFF(quiet), NULL, "no progress output on stderr"},
    {"n_workers", ARG_INT, GEN | CMD_BENCH, OFF(n_workers), "N", "worker threads (all cores)"},
    {"backend", ARG_STR, ALL, OFF(backend), "NAME", "cpu, ref (plain loops), cuda where built, or auto (auto)"},
    {"n_ground_truths", ARG_INT, GEN | CMD_BENCH, OFF(n_ground_truths), "N", "ground truths to draw (" CLI_STR(EISNET_GENERATE_N_GT) ")"},
    {"circuit", ARG_STR, GRD | CMD_FIT, OFF(circuit), "C", "series, parallel or a circuit string (" EISNET_GRID_CIRCUIT ")"},
    {"range", ARG_RANGE, GRD | CMD_FIT, 0, "NAME=MIN:MAX", "parameter range (repeatable; generate: required for custom circuits; fit: replaces the derived box)"},
    {"grid_points", ARG_INT, GRD, OFF(grid_points), "N", "grid points per parameter (" CLI_STR(EISNET_GRID_POINTS) ")"},
    {"n_freq", ARG_INT, GRD, OFF(n_freq), "N", "number of frequencies (" CLI_STR(EISNET_GRID_N_FREQ) ")"},
    {"f_min", ARG_DOUBLE, GRD, OFF(f_min), "HZ", "lowest frequency (" CLI_STR(EISNET_GRID_F_MIN) ")"},
    {"f_max", ARG_DOUBLE, GRD, OFF(f_max), "HZ", "highest frequency (" CLI_STR(EISNET_GRID_F_MAX) ")"},
    {"csv", ARG_NONE, GEN, OFF(csv), NULL, "also write the reference's combined_dataset_{N}gt.csv"},
    {"ground_truths", ARG_STR, GEN, OFF(ground_truths_file), "FILE", "use these ground truths (reference JSON) instead of drawing"},
    {"force", ARG_NONE, GEN, OFF(force), NULL, "allow a dataset over 50 M grid models per ground truth or 2 GB"},
    {"n_epochs", ARG_INT, TRN, OFF(n_epochs), "N", "training epochs (" CLI_STR(EISNET_TRAIN_EPOCHS) "; by simulation with bfloat16 products " CLI_STR(EISNET_TRAIN_EPOCHS_BF16_FACTOR) "x that)"},
    {"batch_size", ARG_INT, TRN | CMD_UPDATE, OFF(batch_size), "N", "batch size (" CLI_STR(EISNET_TRAIN_BATCH_SIM) " by simulation, " CLI_STR(EISNET_TRAIN_BATCH_ROWS) " for rows of a dataset)"},
    {"model_path", ARG_STR, TRN, OFF(model_path), "FILE", "checkpoint path (DATA_DIR/model.safetensors)"},
    /* infer and update document --model; --model_path stays accepted there */
    {"model_path", ARG_STR, CMD_INFER | CMD_UPDATE, OFF(model_path), "FILE", NULL},
    {"samples_per_gt", ARG_INT, TRN | CMD_BENCH | CMD_UPDATE, OFF(samples_per_gt), "K", "topk/uniform: rows per ground truth: its K best grid models (" CLI_STR(EISNET_TRAIN_SAMPLES_PER_GT) ")"},
    {"known", ARG_STR, TRN | CMD_INFER | CMD_FIT, OFF(known), "K", "train (topk/uniform): parameters known per row (" CLI_STR(EISNET_TRAIN_KNOWN) "); infer, fit: NAME=VALUE,..."},
    {"model", ARG_STR, CMD_INFER | CMD_UPDATE | CMD_FIT, OFF(model_path), "FILE", "model checkpoint, .safetensors or .npz (DATA_DIR/model.safetensors; alias --model_path); fit: start from its best completions"},
    {"spectrum", ARG_SPECTRUM, CMD_INFER | CMD_KK | CMD_FIT, 0, "FILE", "measured spectrum: CSV or an instrument file (repeatable; a directory: its .csv .txt .dta .mpt .z .par files)"},
    {"format", ARG_STR, CMD_INFER | CMD_KK | CMD_FIT, OFF(format), "NAME", "spectrum format (auto: by content; csv, gamry, biologic, autolab, parstat, zplot, versastudio, powersuite, chinstruments)"},
    {"f_min", ARG_DOUBLE, CMD_INFER | CMD_KK | CMD_FIT, OFF(data_f_min), "HZ", "drop measured points below HZ (none)"},
    {"f_max", ARG_DOUBLE, CMD_INFER | CMD_KK | CMD_FIT, OFF(data_f_max), "HZ", "drop measured points above HZ (none)"},
    {"drop_inductive", ARG_NONE, CMD_INFER | CMD_KK | CMD_FIT, OFF(drop_inductive), NULL, "drop points with Im(Z) >= 0"},
    {"im_sign", ARG_STR, CMD_INFER | CMD_KK | CMD_FIT, OFF(im_sign), "S", "CSV Im(Z) column: auto (detected), as_is or negate (auto)"},
    {"c", ARG_DOUBLE, CMD_KK, OFF(kk_c), "C", "mu cutoff: RC elements are added until mu <= C (" CLI_STR(EISNET_KK_C) ")"},
    {"max_M", ARG_INT, CMD_KK, OFF(kk_max_m), "M", "most RC elements (" CLI_STR(EISNET_KK_MAX_M) ")"},
    {"fit", ARG_STR, CMD_KK, OFF(kk_fit), "KIND", "real (fit Re(Z), then L from Im), complex or imag (real)"},
    {"add_cap", ARG_NONE, CMD_KK, OFF(kk_add_cap), NULL, "add a series capacitance (data with no low-frequency intercept)"},
    {"threshold", ARG_DOUBLE, CMD_KK, OFF(kk_threshold), "R", "largest |residual| relative to |Z| that passes (" CLI_STR(EISNET_KK_THRESHOLD) ")"},
    {"scale", ARG_STR, CMD_INFER, OFF(scale), "K", "impedance scale: auto (when the data lie outside the model's box), off, or a factor (auto)"},
    {"ground_truth", ARG_STR, CMD_INFER | CMD_REFERENCE, OFF(ground_truth), "ID", "use a ground truth of --data_dir as the spectrum"},
    {"top_k", ARG_INT, CMD_INFER | CMD_REFERENCE | CMD_FULL, OFF(top_k), "K", "completions to list (10)"},
    {"json", ARG_NONE, CMD_INFER | CMD_KK | CMD_FIT, OFF(json), NULL, "JSON output (the reference's keys; one line per spectrum for several)"},
    {"exact", ARG_NONE, CMD_INFER, OFF(exact), NULL, "also the exact Bayes cell posterior for this spectrum, and KL"},
    {"sigma", ARG_DOUBLE, CMD_INFER | TRN, OFF(sigma), "S", "relative noise (" CLI_STR(EISNET_POSTERIOR_SIGMA) "); train: of the simulated spectra, stored in the model; infer: for --exact and the checks (default: the model's)"},
    {"plots", ARG_STR, CMD_INFER | CMD_FULL | CMD_REFERENCE | CMD_KK | CMD_FIT, OFF(plots), "DIR", "write SVG plots there"},
    {"input", ARG_STR, CMD_UPDATE, OFF(input), "FILE", "new labelled examples, JSON lines ('-' = stdin, the default)"},
    {"replay", ARG_INT, CMD_UPDATE, OFF(replay), "N", "mix N original training rows into each update (needs --data_dir)"},
    {"checkpoint_every", ARG_DOUBLE, CMD_UPDATE, OFF(checkpoint_every), "S", "checkpoint every S seconds (" CLI_STR(EISNET_UPDATE_CHECKPOINT_EVERY) ")"},
    {"eval", ARG_NONE, CMD_UPDATE, OFF(eval_before_after), NULL, "report held-out accuracy before and after (needs --data_dir)"},
    {"quick", ARG_NONE, CMD_BENCH, OFF(quick), NULL, "a shorter run (about 15 s instead of about 40 s on an idle 2-core machine)"},
    {"out", ARG_STR, CMD_BENCH, OFF(bench_out), "FILE", "also write the Markdown table there"},
    {"extrapolate", ARG_NONE, CMD_INFER, OFF(extrapolate), NULL, "allow a spectrum that does not cover the model's frequencies"},
    {"val_fraction", ARG_DOUBLE, TRN | CMD_UPDATE, OFF(val_fraction), "F", "topk/uniform: share of ground truths held out for validation (" CLI_STR(EISNET_TRAIN_VAL_FRACTION) ")"},
    {"hidden_dim", ARG_INT, TRN, OFF(hidden_dim), "H", "hidden width of the encoder (" CLI_STR(EISNET_TRAIN_HIDDEN) ")"},
    {"lr", ARG_DOUBLE, TRN | CMD_UPDATE, OFF(lr), "LR", "learning rate (" CLI_STR(EISNET_TRAIN_LR) ")"},
    {"features", ARG_STR, TRN, OFF(features), "KIND", "spectrum (default) or params (the reference's input)"},
    {"sampling", ARG_STR, TRN, OFF(sampling), "KIND", "simulate (default: fresh simulations), topk or uniform (rows of a dataset; uniform: the reference's)"},
    {"samples_per_epoch", ARG_INT, TRN, OFF(samples_per_epoch), "N", "simulate: fresh simulations per epoch (" CLI_STR(EISNET_TRAIN_SAMPLES_PER_EPOCH) ")"},
    {"val_samples", ARG_INT, TRN, OFF(val_samples), "N", "simulate: held-out simulations for validation (" CLI_STR(EISNET_TRAIN_VAL_SAMPLES) ")"},
    {"dropout", ARG_DOUBLE, TRN, OFF(dropout), "P", "dropout of every layer (simulate: 0; topk/uniform: the reference's 0.3/0.2/0.1)"},
    {"evaluate", ARG_INT, TRN, OFF(eval_n), "N", "simulate: spectra per mask in the closing evaluation, a tenth also against the exact posterior (train: " CLI_STR(CLI_TRAIN_EVAL_N) ", full: " CLI_STR(CLI_FULL_EVAL_N) "; 0: none)"},
    {"lr_decay", ARG_DOUBLE, TRN, OFF(lr_decay), "F", "simulate: cosine decay of the rate to 0 over this last share of the steps (" CLI_STR(EISNET_TRAIN_LR_DECAY) ")"},
    {"weight_decay", ARG_DOUBLE, TRN, OFF(weight_decay), "WD", "AdamW weight decay (simulate: " CLI_STR(EISNET_TRAIN_WEIGHT_DECAY_SIM) "; topk/uniform: " CLI_STR(EISNET_TRAIN_WEIGHT_DECAY_ROWS) ")"},
    {"many_missing_weight", ARG_DOUBLE, TRN, OFF(many_missing_weight), "F", "simulate: how often masks with more than " CLI_STR(EISNET_TRAIN_MANY_MISSING) " parameters missing are drawn, relative to the others (" CLI_STR(EISNET_TRAIN_MANY_MISSING_WEIGHT) ")"},
    {"matmul", ARG_STR, TRN, OFF(matmul), "P", "precision of the training's matrix products: bf16 (bfloat16 operands, float32 sums, on AMX tiles; float32 where the CPU has none) or fp32 (simulate: " EISNET_TRAIN_MATMUL_SIM "; topk/uniform: " EISNET_TRAIN_MATMUL_ROWS ")"},
    {"noise", ARG_DOUBLE, TRN, OFF(noise), "SIGMA", "topk/uniform: relative spectrum noise added to the rows (0)"},
    {"resume", ARG_NONE, TRN, OFF(resume), NULL, "continue the last run (weights and optimizer state)"},
    {"sigma", ARG_DOUBLE, CMD_FIT, OFF(fit_sigma), "S", "fit: noise level of the weighted residuals; 0 = estimate it (0)"},
    {"weighting", ARG_STR, CMD_FIT, OFF(fit_weighting), "W", "fit: modulus, unit or proportional (modulus)"},
    {"starts", ARG_INT, CMD_FIT, OFF(fit_starts), "K", "fit: scan points refined by least squares (" CLI_STR(EISNET_FIT_STARTS) ")"},
    {"threads", ARG_INT, TRN | CMD_INFER | CMD_BENCH | CMD_UPDATE | CMD_FIT, OFF(threads), "N", "CPU threads (all cores)"},
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
    {"fit", CMD_FIT, "least-squares fit of a circuit to a spectrum, no initial guess needed"},
    {"kk", CMD_KK, "linear Kramers-Kronig test of a measured spectrum"},
    {"evaluate", 0, "score a model on fresh simulations against the exact posterior"}, /* own parser */
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

/* Defaults that differ by command, so that each command's help shows what
 * it runs; the commands read the same constants. */
#define STR_(x) #x
#define STR(x) STR_(x)
static const struct {
    int commands;
    const char *name, *dflt;
} command_defaults[] = {
    {CMD_FULL, "n_epochs", STR(CLI_FULL_EPOCHS) "; by simulation with bfloat16 products " STR(EISNET_TRAIN_EPOCHS_BF16_FACTOR) "x that"},
    {CMD_UPDATE, "batch_size", STR(EISNET_UPDATE_BATCH)},
    {CMD_UPDATE, "threads", "1"},
    {CMD_INFER, "threads", "all cores"},
    {CMD_BENCH, "n_ground_truths", "100; with --quick 20"},
    {CMD_BENCH, "samples_per_gt", "5000"},
};

/* The help text of an option for a command: its "(default)" replaced where
 * the command has its own. */
static void option_help(const option_spec *o, int bit, char *out, size_t n)
{
    snprintf(out, n, "%s", o->help);
    for (size_t k = 0; k < sizeof command_defaults / sizeof command_defaults[0]; k++) {
        if (!(command_defaults[k].commands & bit) || strcmp(command_defaults[k].name, o->name) != 0) continue;
        char *open = strrchr(out, '(');
        size_t len = strlen(out);
        if (open && len > 0 && out[len - 1] == ')') *open = '\0';
        else if (len + 1 < n) strcat(out, " ");
        size_t L = strlen(out);
        snprintf(out + L, n - L, "(%s)", command_defaults[k].dflt);
    }
}

static void usage_command(FILE *fp, const char *name, int bit)
{
    fprintf(fp, "usage: eisnet %s [options]\n\noptions:\n", name);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!(options[i].commands & bit) || !options[i].help) continue;
        char left[64], help[256];
        snprintf(left, sizeof left, "--%s%s%s", options[i].name, options[i].meta ? " " : "",
                 options[i].meta ? options[i].meta : "");
        option_help(&options[i], bit, help, sizeof help);
        fprintf(fp, "  %-28s %s\n", left, help);
    }
    fprintf(fp, "  %-28s %s\n", "--help", "this text");
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
        /* a name may be listed twice for different commands (--f_min: the
         * generated band, or a crop of the measured data); this command's wins */
        const option_spec *spec = NULL;
        for (size_t k = 0; k < N_OPTIONS; k++)
            if (strlen(options[k].name) == nlen && strncmp(options[k].name, name, nlen) == 0 &&
                (!spec || (options[k].commands & bit)))
                spec = &options[k];
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
        if (spec->offset == OFF(sigma)) o->sigma_given = 1;
        if (spec->offset == OFF(circuit) || spec->kind == ARG_RANGE || spec->offset == OFF(grid_points) ||
            spec->offset == OFF(n_freq) || spec->offset == OFF(f_min) || spec->offset == OFF(f_max))
            o->grid_given = 1;
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

/* The library's defaults (each *_options_default), so that the command
 * line and the library cannot disagree; -1 where the command decides. */
static void defaults(cli_options *o)
{
    memset(o, 0, sizeof *o);
    eisnet_generate_options go;
    eisnet_generate_options_default(&go);
    o->data_dir = go.data_dir;
    o->seed = go.seed;
    o->n_workers = go.n_workers;
    o->backend = "auto";
    o->n_ground_truths = go.n_ground_truths;
    o->circuit = go.grid.circuit;
    o->grid_points = go.grid.n_grid;
    o->n_freq = go.grid.n_freq;
    o->f_min = go.grid.f_min;
    o->f_max = go.grid.f_max;
    eisnet_train_options td;
    eisnet_train_options_default(&td);
    o->n_epochs = td.n_epochs;
    o->batch_size = -1; /* the command's default */
    o->samples_per_gt = td.samples_per_gt;
    o->known = NULL;
    o->top_k = 10;
    o->sigma = td.sigma;
    eisnet_update_options uo;
    eisnet_update_options_default(&uo);
    o->checkpoint_every = uo.checkpoint_every;
    o->hidden_dim = td.hidden;
    o->val_fraction = td.val_fraction;
    o->lr = td.lr;
    o->features = td.features ? "spectrum" : "params";
    o->sampling = td.simulate ? "simulate" : "topk";
    o->samples_per_epoch = td.samples_per_epoch;
    o->val_samples = td.val_samples;
    o->dropout = td.dropout;
    o->lr_decay = td.lr_decay;
    o->weight_decay = td.weight_decay;
    o->many_missing_weight = td.many_missing_weight;
    o->eval_n = -1; /* the command's default */
    eisnet_fit_options fo;
    eisnet_fit_options_default(&fo);
    o->fit_sigma = fo.sigma;
    o->fit_weighting = eisnet_fit_weighting_name(fo.weighting);
    o->fit_starts = fo.starts;
    o->format = "auto";
    o->im_sign = "auto";
    eisnet_kk_options ko;
    eisnet_kk_options_default(&ko);
    o->kk_c = ko.c;
    o->kk_max_m = ko.max_M;
    o->kk_fit = "real";
    o->kk_threshold = ko.threshold;
    o->scale = "auto";
}

static int run(cli_options *o)
{
    if (cli_check_backend(o->backend) != 0) return 2;
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
    case CMD_FIT: rc = cli_fit(o); break;
    case CMD_KK: rc = cli_kk(o); break;
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
    if (strcmp(argv[1], "evaluate") == 0) return cli_evaluate_main(argc - 2, argv + 2);
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
