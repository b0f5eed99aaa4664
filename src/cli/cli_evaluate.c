/* eisnet evaluate: a model's answers on fresh simulations against the grid
 * brute force and the exact Bayes cell posterior. Parses its own flags. */
#include "cli.h"
#include "eisnet/error.h"
#include "eisnet/evaluate.h"
#include "eisnet/fileio.h"
#include "cli_backend.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MODEL "./eis_training_data/model.safetensors"

static void usage(FILE *fp)
{
    eisnet_evaluate_options d;
    eisnet_evaluate_options_default(&d);
    fprintf(fp,
            "usage: eisnet evaluate [options]\n\n"
            "Simulates fresh spectra (truths log-uniform in the model's ranges, relative complex Gaussian noise),\n"
            "and per mask of known parameters compares the network, the grid brute force and the exact posterior.\n\n"
            "options:\n"
            "  --model FILE                 model checkpoint (%s)\n"
            "  --n N                        spectra per mask (%d)\n"
            "  --n_exact N                  of them, how many also get the exact posterior (%d; 0 = none)\n"
            "  --no_exact                   same as --n_exact 0\n"
            "  --sigma S                    relative noise of the simulations and the posterior (%g)\n"
            "  --known NAMES                one mask: these parameters known, e.g. Rsh,Ra,Rb\n"
            "  --all_masks                  every mask with 1 to all parameters missing\n"
            "                               (default: every mask with 1 to 3 missing)\n"
            "  --seed N                     seed of the simulations (%llu)\n"
            "  --json                       JSON output\n"
            "  --plots DIR                  write DIR/reliability.svg\n"
            "  --threads N                  CPU threads (all cores)\n"
            "  --backend NAME               cpu, ref (plain loops), cuda where built, or auto (auto)\n"
            "  --quiet                      no progress output on stderr\n"
            "  --help                       this text\n",
            DEFAULT_MODEL, d.n, d.n_exact, d.sigma, (unsigned long long)d.seed);
}

static int parse_count(const char *flag, const char *s, int min, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE || v < min || v > INT_MAX) {
        fprintf(stderr, "eisnet evaluate: --%s expects an integer >= %d, got '%s'\n", flag, min, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* "Rsh,Ra" -> mask; -1 after printing an error */
static int parse_mask(const eisnet_grid *g, const char *text, uint8_t *mask)
{
    memset(mask, 0, EISNET_MAX_PARAMS);
    const char *s = text;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char name[EISNET_NAME_MAX + 8];
        if (len == 0 || len >= sizeof name) {
            fprintf(stderr, "eisnet evaluate: --known: bad name list '%s' (expected names like Rsh,Ra,Rb)\n", text);
            return -1;
        }
        memcpy(name, s, len);
        name[len] = '\0';
        int p = eisnet_grid_find_param(g, name);
        for (int i = 0; i < g->n_params && p < 0; i++)
            if (strcasecmp(g->names[i], name) == 0) p = i;
        if (p < 0) {
            fprintf(stderr, "eisnet evaluate: --known: unknown parameter '%s' (the model's parameters:", name);
            for (int i = 0; i < g->n_params; i++) fprintf(stderr, " %s", g->names[i]);
            fprintf(stderr, ")\n");
            return -1;
        }
        mask[p] = 1;
        s += len;
        if (*s == ',') s++;
    }
    int nk = 0;
    for (int p = 0; p < g->n_params; p++) nk += mask[p];
    if (nk == g->n_params) {
        fprintf(stderr, "eisnet evaluate: --known names every parameter; leave out the ones to predict\n");
        return -1;
    }
    return 0;
}

int cli_evaluate_main(int argc, char **argv)
{
    eisnet_evaluate_options o;
    eisnet_evaluate_options_default(&o);
    const char *model = DEFAULT_MODEL, *known = NULL, *plots = NULL, *backend = "auto";
    int json = 0, all = 0, threads = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        static const char *no_value[] = {"--no_exact", "--all_masks", "--json", "--quiet"};
        int flag = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(a, no_value[k]) == 0) flag = k;
        if (flag == 0) o.n_exact = 0;
        else if (flag == 1) all = 1;
        else if (flag == 2) json = 1;
        else if (flag == 3) o.quiet = 1;
        if (flag >= 0) continue;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "eisnet evaluate: unexpected argument '%s'\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "eisnet evaluate: %s needs a value, or is unknown (see eisnet evaluate --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "--known") == 0) known = v;
        else if (strcmp(a, "--plots") == 0) plots = v;
        else if (strcmp(a, "--backend") == 0) backend = v;
        else if (strcmp(a, "--n") == 0) {
            if (parse_count("n", v, 1, &o.n) != 0) return 2;
        } else if (strcmp(a, "--n_exact") == 0) {
            if (parse_count("n_exact", v, 0, &o.n_exact) != 0) return 2;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_count("threads", v, 1, &threads) != 0) return 2;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (*v == '\0' || *v == '-' || *end != '\0' || errno == ERANGE) {
                fprintf(stderr, "eisnet evaluate: --seed expects a non-negative integer, got '%s'\n", v);
                return 2;
            }
            o.seed = s;
        } else if (strcmp(a, "--sigma") == 0) {
            char *end;
            errno = 0;
            double s = strtod(v, &end);
            if (*v == '\0' || *end != '\0' || errno == ERANGE || !(s > 0) || !isfinite(s)) {
                fprintf(stderr, "eisnet evaluate: --sigma expects a positive number, got '%s'\n", v);
                return 2;
            }
            o.sigma = s;
        } else {
            fprintf(stderr, "eisnet evaluate: unknown option '%s' (see eisnet evaluate --help)\n", a);
            return 2;
        }
    }
    if (known && all) {
        fprintf(stderr, "eisnet evaluate: give either --known or --all_masks, not both\n");
        return 2;
    }
    if (cli_check_backend(backend) != 0) return 2;
    o.threads = threads;
    eisnet_predictor pr;
    if (eisnet_predictor_load(&pr, model) != 0) {
        fprintf(stderr, "eisnet evaluate: %s\n", eisnet_last_error());
        return 1;
    }
    eisnet_backend *be = cli_backend_attach("evaluate", backend, threads, &pr);
    if (!be) {
        eisnet_predictor_free(&pr);
        return 1;
    }
    int P = pr.grid.n_params, rc = 1;
    uint8_t(*masks)[EISNET_MAX_PARAMS] = calloc((size_t)1 << (P <= 20 ? P : 0), sizeof *masks);
    if (!masks) goto out;
    if (known) {
        if (parse_mask(&pr.grid, known, masks[0]) != 0) {
            rc = 2;
            goto out;
        }
        o.n_masks = 1;
    } else {
        o.n_masks = eisnet_masks_by_missing(P, 1, all ? P : 3, masks);
    }
    o.masks = (const uint8_t(*)[EISNET_MAX_PARAMS])masks;
    if (plots && eisnet_ensure_dir(plots) != 0) {
        fprintf(stderr, "eisnet evaluate: --plots: %s\n", eisnet_last_error());
        goto out;
    }
    eisnet_evaluation e;
    if (eisnet_evaluate(&pr, &o, &e) != 0) {
        fprintf(stderr, "eisnet evaluate: %s\n", eisnet_last_error());
        goto out;
    }
    rc = 0;
    if (json) {
        char *s = eisnet_evaluation_json(&pr, &o, &e);
        if (s) puts(s);
        free(s);
    } else {
        eisnet_evaluation_print(stdout, &pr, &o, &e);
    }
    if (plots) {
        char *path = eisnet_path_join(plots, "reliability.svg");
        if (!path || eisnet_evaluation_reliability_svg(path, &e) != 0) {
            fprintf(stderr, "eisnet evaluate: %s\n", eisnet_last_error());
            rc = 1;
        }
        free(path);
    }
    eisnet_evaluation_free(&e);
out:
    free(masks);
    eisnet_predictor_free(&pr);
    eisnet_backend_free(be);
    return rc;
}
