/* Weights and optimizer state as one consistent pair (eisnet/pair.h). */
#include "eisnet/pair.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Which of a stem's weights files a state belongs to: train pairs its state
 * with STEM.last.safetensors, update with the model it updates. The kind,
 * not the name, is stored, so that copies and renames keep their pairs. */
static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return strstr(s ? s + 1 : path, ".last.") ? "last" : "model";
}

static char *next_path(const char *state_path)
{
    size_t n = strlen(state_path) + 6;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.next", state_path);
    return p;
}

int eisnet_pair_save(eisnet_predictor *p, const char *weights_path, const char *state_path, eisnet_adamw *opt,
                     eisnet_train_run_state *rs, const eisnet_epoch_record *h, int nh, const char *extra_key,
                     const char *extra_json, int64_t generation)
{
    p->generation = rs->generation = generation;
    snprintf(rs->pair, sizeof rs->pair, "%s", base_of(weights_path));
    char *next = next_path(state_path);
    if (!next) return eisnet_set_error("out of memory");
    int rc = -1;
    if (eisnet_model_optimizer_to_host(p->model, opt) != 0) goto out;
    if (eisnet_train_state_save(next, opt, rs, h, nh, extra_key, extra_json) != 0) goto out;
    if (eisnet_predictor_save(p, weights_path) != 0) {
        unlink(next);
        goto out;
    }
    if (rename(next, state_path) != 0) {
        eisnet_set_error("cannot write %s: %s", state_path, strerror(errno));
        goto out;
    }
    eisnet_fsync_dir_of(state_path);
    rc = 0;
out:
    free(next);
    return rc;
}

/* The generation stored in a state file, or -1 when it cannot be read. */
static int64_t state_generation(const char *path)
{
    eisnet_array *a = NULL;
    size_t n = 0, nm = 0;
    char **mk = NULL, **mv = NULL;
    if (eisnet_safetensors_read(path, &a, &n, &mk, &mv, &nm) != 0) return -1;
    const char *text = eisnet_safetensors_meta_get(mk, mv, nm, "eisnet_train_state");
    int64_t g = -1;
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    const cJSON *x = cJSON_GetObjectItem(j, "generation");
    if (cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble < 9e15) g = (int64_t)x->valuedouble;
    cJSON_Delete(j);
    eisnet_arrays_free(a, n);
    eisnet_safetensors_free_meta(mk, mv, nm);
    return g;
}

int eisnet_pair_recover(const char *weights_path, const char *state_path, int64_t weights_generation)
{
    (void)weights_path;
    char *next = next_path(state_path);
    if (!next) return eisnet_set_error("out of memory");
    struct stat st;
    int rc = 0;
    if (stat(next, &st) == 0) {
        int64_t g = state_generation(next);
        if (g > 0 && g == weights_generation) {
            /* killed after the weights were renamed: finish the save */
            if (rename(next, state_path) != 0)
                rc = eisnet_set_error("cannot complete the interrupted save of %s: %s", state_path, strerror(errno));
            else eisnet_fsync_dir_of(state_path);
        } else {
            unlink(next); /* killed before: the old pair stands */
        }
    }
    free(next);
    return rc;
}

int eisnet_pair_check(const char *weights_path, int64_t weights_generation, const char *state_path,
                      const eisnet_train_run_state *rs)
{
    if (rs->generation == 0 || weights_generation == 0) return 0;
    if (strcmp(rs->pair, base_of(weights_path)) != 0) return 0;
    if (rs->generation == weights_generation) return 0;
    return eisnet_set_error("%s (generation %lld) and its optimizer state %s (generation %lld) were not saved "
                            "together; remove %s to continue with a fresh optimizer state",
                            weights_path, (long long)weights_generation, state_path, (long long)rs->generation,
                            state_path);
}
