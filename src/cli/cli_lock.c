/* The locks each command holds for its whole run (eisnet/lock.h):
 * generate and full lock the data directory exclusively, train shares it;
 * train, full and update lock their model exclusively. Two runs that would
 * write the same files cannot overlap: the second is refused at once with a
 * message naming the first. */
#include "cli_lock.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The data directory this run created for its lock (removed again when the
 * run fails, so that a refused run leaves nothing behind). */
static const char *created_dir;
static char created_model_lock[4200];

static int take(eisnet_lock *l, char *path, int exclusive, const char *what, const cli_options *o)
{
    if (!path) return eisnet_set_error("out of memory");
    char w[4200];
    snprintf(w, sizeof w, "%s", what);
    int rc = eisnet_lock_take(l, path, exclusive, 0, w, o->name);
    free(path);
    return rc;
}

int cli_lock_take(const cli_options *o, eisnet_lock locks[2])
{
    locks[0].fd = locks[1].fd = -1;
    int c = o->command;
    char what[4200];
    if (c & (CMD_GENERATE | CMD_FULL | CMD_TRAIN)) {
        struct stat st;
        int writer = (c & (CMD_GENERATE | CMD_FULL)) != 0;
        if (writer && stat(o->data_dir, &st) != 0) created_dir = o->data_dir;
        if (writer && eisnet_ensure_dir(o->data_dir) != 0) goto fail;
        if (writer || (stat(o->data_dir, &st) == 0 && S_ISDIR(st.st_mode))) {
            snprintf(what, sizeof what, "data directory %s", o->data_dir);
            if (take(&locks[0], eisnet_lock_path_dir(o->data_dir), writer, what, o) != 0) goto fail;
        }
    }
    if (c & (CMD_TRAIN | CMD_FULL | CMD_UPDATE)) {
        char *def = o->model_path ? NULL : eisnet_path_join(o->data_dir, "model.safetensors");
        const char *m = o->model_path ? o->model_path : def;
        struct stat st;
        char dir[4096];
        const char *slash = m ? strrchr(m, '/') : NULL;
        if (!slash) snprintf(dir, sizeof dir, ".");
        else snprintf(dir, sizeof dir, "%.*s", slash == m ? 1 : (int)(slash - m), m);
        /* no lock file where the model's directory is missing: the command
         * itself then reports the missing model or directory */
        int have_dir = m && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
        if (m && have_dir) {
            snprintf(what, sizeof what, "model %s", m);
            char *lp = eisnet_lock_path_model(m);
            if (created_dir && lp) snprintf(created_model_lock, sizeof created_model_lock, "%s", lp);
            free(lp);
            if (take(&locks[1], eisnet_lock_path_model(m), 1, what, o) != 0) {
                free(def);
                goto fail;
            }
        }
        free(def);
    }
    return 0;
fail:
    fprintf(stderr, "eisnet %s: %s\n", o->name, eisnet_last_error());
    cli_lock_release(locks, 1);
    return -1;
}

void cli_lock_release(eisnet_lock locks[2], int failed)
{
    eisnet_lock_release(&locks[0]);
    eisnet_lock_release(&locks[1]);
    if (failed && created_dir) {
        /* a run refused before writing anything leaves no directory behind
         * (rmdir fails, as it should, when anything else is in it) */
        char *lp = eisnet_lock_path_dir(created_dir);
        if (lp) unlink(lp);
        free(lp);
        if (created_model_lock[0]) unlink(created_model_lock);
        rmdir(created_dir);
    }
    created_dir = NULL;
    created_model_lock[0] = '\0';
}
