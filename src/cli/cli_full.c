/* eisnet full: generate, train, and inference on a held-out ground truth. */
#include "cli.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/train.h"

#include <complex.h>
#include <stdio.h>
#include <stdlib.h>

int cli_full(cli_options *o)
{
    /* a small default that finishes within three minutes on 2 cores */
    if (!o->n_ground_truths_given) o->n_ground_truths = 100;
    if (!o->n_epochs_given) o->n_epochs = CLI_FULL_EPOCHS;
    if (!o->samples_per_gt_given) o->samples_per_gt = 5000;
    if (o->n_ground_truths < 2) {
        fprintf(stderr, "eisnet full: --n_ground_truths must be at least 2 (one is held out for the demonstration)\n");
        return 2;
    }
    eisnet_train_options t;
    if (cli_train_options(o, &t) != 0) return 2; /* bad options are refused before any work */
    if (!o->quiet) fprintf(stderr, "== eisnet full: generate -> train -> infer in %s ==\n", o->data_dir);
    int rc = cli_generate(o);
    if (rc != 0) return rc;
    eisnet_train_result tr;
    cli_catch_interrupts(1);
    int trc = eisnet_train(&t, &tr);
    cli_catch_interrupts(0);
    if (trc == 0 && tr.interrupted) {
        fprintf(stderr, "eisnet full: interrupted; the last checkpoint is %s (continue with eisnet train --resume)\n",
                tr.last_path);
        eisnet_train_result_free(&tr);
        return 130;
    }
    if (trc != 0) {
        fprintf(stderr, "eisnet full: %s\n", eisnet_last_error());
        return 1;
    }
    printf("== trained%s: held-out top-1 %.3f, top-3 %.3f per missing parameter (uniform %.3f, %.3f)",
           t.simulate ? " by simulation" : "", tr.top1, tr.top3, tr.uniform_top1, tr.uniform_top3);
    if (tr.mean_kl == tr.mean_kl) printf(", mean KL to the exact grid distribution %.3f nats", tr.mean_kl);
    printf(" ==\n");
    if (t.simulate && cli_closing_evaluation(o, &t, tr.best_path, CLI_FULL_EVAL_N) != 0) {
        eisnet_train_result_free(&tr);
        return 1;
    }
    /* demonstration on a held-out ground truth, through a CSV as a user would */
    eisnet_dataset ds;
    if (eisnet_dataset_open(&ds, o->data_dir) != 0) {
        fprintf(stderr, "eisnet full: %s\n", eisnet_last_error());
        eisnet_train_result_free(&tr);
        return 1;
    }
    int g = tr.first_val_gt >= 0 ? tr.first_val_gt : 0;
    char *csv = eisnet_path_join(o->data_dir, "demo_spectrum.csv");
    char *plots = o->plots ? NULL : eisnet_path_join(o->data_dir, "plots");
    size_t cap = 64 + (size_t)ds.grid.n_freq * 80, k = 0;
    char *text = malloc(cap);
    rc = (!csv || !text) ? 1 : 0;
    if (rc == 0) {
        k += (size_t)snprintf(text, cap, "freq,Re(Z),Im(Z)\n");
        for (int f = 0; f < ds.grid.n_freq; f++)
            k += (size_t)snprintf(text + k, cap - k, "%.17g,%.17g,%.17g\n", ds.grid.freq[f],
                                  creal(ds.spectra[(size_t)g * ds.grid.n_freq + f]),
                                  cimag(ds.spectra[(size_t)g * ds.grid.n_freq + f]));
        if (eisnet_write_file_atomic(csv, text, k) != 0) {
            fprintf(stderr, "eisnet full: %s\n", eisnet_last_error());
            rc = 1;
        }
    }
    char known[1024];
    if (rc == 0) {
        size_t kk = 0;
        known[0] = '\0';
        for (int p = 0; p < ds.grid.n_params - 2; p++)
            kk += (size_t)snprintf(known + kk, sizeof known - kk, "%s%s=%.6g", kk ? "," : "", ds.grid.names[p],
                                   ds.gt[g].values[p]);
        printf("== inference on held-out ground truth %s (%s), knowing %s ==\n", ds.gt[g].id, csv, known);
        cli_options io = *o;
        io.command = CMD_INFER;
        io.name = "infer";
        io.spectra[0] = csv;
        io.n_spectra = 1;
        io.known = known;
        io.exact = 1;
        io.json = 0;
        io.plots = o->plots ? o->plots : plots;
        io.model_path = tr.best_path;
        rc = cli_infer(&io);
        if (rc == 0) {
            printf("\ntruth:");
            for (int p = 0; p < ds.grid.n_params; p++) printf(" %s=%.4g", ds.grid.names[p], ds.gt[g].values[p]);
            printf("\n\n== outputs ==\n  dataset:  %s (resnorm.npy, dataset.npz, dataset_summary.txt, ...)\n"
                   "  model:    %s (and .npz; last epoch: %s)\n  history:  %s/model.history.csv\n"
                   "  spectrum: %s\n  plots:    %s (joint.svg, marginal_*.svg, nyquist.svg, bode.svg)\n",
                   o->data_dir, tr.best_path, tr.last_path, o->data_dir, csv, io.plots);
        }
    }
    free(text);
    free(csv);
    free(plots);
    eisnet_dataset_close(&ds);
    eisnet_train_result_free(&tr);
    return rc;
}
