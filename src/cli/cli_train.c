/* eisnet train. */
#include "cli.h"
#include "eisnet/error.h"
#include "eisnet/train.h"

#include <stdio.h>

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
    if (t.simulate)
        printf("trained by simulation on %.0f fresh spectra (sigma %g), validated on %d held-out simulations\n",
               (double)r.n_history * t.samples_per_epoch, t.sigma, r.n_val_rows);
    else
        printf("trained on %d ground truths (%d rows), validated on %d (%d rows)\n", r.n_train_gt, r.n_train_rows,
               r.n_val_gt, r.n_val_rows);
    if (r.n_history > 0) {
        const eisnet_epoch_record *e = &r.history[r.n_history - 1];
        printf("last epoch %d: train loss %.4f, %.0f samples/s", e->epoch, e->train_loss, e->samples_per_s);
        if (t.simulate) printf(" (simulating: %.0f%% of the epoch)", 100 * r.sim_share);
        printf("\n");
    }
    if ((r.n_val_gt > 0 || (t.simulate && r.n_val_rows > 0)) && r.best_epoch > 0) {
        printf("best epoch %d: validation loss %.4f\n", r.best_epoch, r.best_val_loss);
        printf("held-out accuracy per missing parameter: top-1 %.3f (uniform %.3f), top-3 %.3f (uniform %.3f)\n", r.top1,
               r.uniform_top1, r.top3, r.uniform_top3);
        if (r.mean_kl == r.mean_kl) printf("mean KL(exact grid distribution || predicted marginal): %.3f nats\n", r.mean_kl);
        if (t.simulate) {
            printf("held-out top-1 by number of missing parameters:");
            for (int m = 1; m <= EISNET_MAX_PARAMS; m++)
                if (r.top1_by_missing[m] == r.top1_by_missing[m]) printf(" %d: %.3f", m, r.top1_by_missing[m]);
            printf("\n");
        }
    }
    printf("model: %s (and .npz), last: %s\n", r.best_path, r.last_path);
    int erc = t.simulate ? cli_closing_evaluation(o, &t, r.best_path, CLI_TRAIN_EVAL_N) : 0;
    eisnet_train_result_free(&r);
    return erc ? 1 : 0;
}
