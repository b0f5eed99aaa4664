/* eisnet update: continuous learning from new measurements (docs/update.md). */
#include "cli.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/update.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig)
{
    (void)sig;
    eisnet_update_request_stop();
}

static void print_eval(const char *when, const eisnet_update_eval *e)
{
    fprintf(stderr, "update: held-out accuracy %s: top-1 %.4f, top-3 %.4f, loss %.4f (%ld rows of %d ground truths)\n",
            when, e->top1, e->top3, e->loss, e->rows, e->n_gt);
}

int cli_update(cli_options *o)
{
    eisnet_update_options u;
    eisnet_update_options_default(&u);
    char *default_model = NULL;
    if (!o->model_path) default_model = eisnet_path_join(o->data_dir, "model.safetensors");
    u.model_path = o->model_path ? o->model_path : default_model;
    u.data_dir = o->data_dir;
    u.lr = o->lr;
    /* not given (-1): update steps on each example */
    u.batch_size = o->batch_size == -1 ? CLI_UPDATE_BATCH : o->batch_size;
    u.replay = o->replay;
    u.samples_per_gt = o->samples_per_gt;
    u.val_fraction = o->val_fraction;
    u.eval = o->eval_before_after;
    u.checkpoint_every = o->checkpoint_every;
    u.seed = o->seed;
    u.threads = o->threads;
    u.backend = o->backend;
    u.quiet = o->quiet;
    const char *input = o->input ? o->input : "-";
    int fd = 0, rc = 1;
    const char *name = "stdin";
    if (strcmp(input, "-") != 0) {
        fd = open(input, O_RDONLY);
        if (fd < 0) {
            fprintf(stderr, "eisnet update: cannot open %s: %s\n", input, strerror(errno));
            free(default_model);
            return 1;
        }
        name = input;
    }
    eisnet_updater *up = eisnet_updater_open(&u);
    if (!up) {
        fprintf(stderr, "eisnet update: %s\n", eisnet_last_error());
        goto out;
    }
    if (!o->quiet)
        fprintf(stderr, "update: %s (%s optimizer state, %lld earlier updates), lr %g, batch %d, replay %d; reading %s\n",
                u.model_path, eisnet_updater_state_loaded(up) ? "loaded" : "fresh",
                (long long)eisnet_updater_count(up), u.lr, u.batch_size, u.replay, name);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read returns at once */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    eisnet_update_eval before = {0}, after = {0};
    if (u.eval && eisnet_updater_evaluate(up, &before) != 0) {
        fprintf(stderr, "eisnet update: %s\n", eisnet_last_error());
        goto restore;
    }
    eisnet_update_stats st;
    int r = eisnet_update_stream(up, fd, name, stdout, stderr, &st);
    if (r < 0) {
        fprintf(stderr, "eisnet update: %s\n", eisnet_last_error());
        goto restore;
    }
    fprintf(stderr,
            "update: %ld lines: %ld accepted, %ld rejected; %ld updates (%lld in all), %d checkpoints%s\n"
            "update: latency per update median %.4f ms, p99 %.4f ms, %.0f updates/s\n",
            st.lines, st.accepted, st.rejected, st.updates, (long long)eisnet_updater_count(up), st.checkpoints,
            st.stopped ? " (interrupted)" : "", st.median_ms, st.p99_ms, st.updates_per_s);
    if (u.eval) {
        if (eisnet_updater_evaluate(up, &after) != 0) {
            fprintf(stderr, "eisnet update: %s\n", eisnet_last_error());
            goto restore;
        }
        print_eval("before", &before);
        print_eval("after", &after);
    }
    rc = r == 1 ? 130 : 0;
restore:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    eisnet_updater_close(up);
    if (fd > 0) close(fd);
    free(default_model);
    return rc;
}
