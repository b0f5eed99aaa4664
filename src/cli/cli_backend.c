/* --backend: names checked against the registry of eisnet/backend.h before
 * any work, and the chosen backend put under a loaded model. */
#include "cli_backend.h"

#include <stdio.h>
#include <string.h>

#include "eisnet/error.h"
#include "eisnet/model.h"

int cli_check_backend(const char *b)
{
    if (strcmp(b, "mlx") == 0 || strcmp(b, "pytorch") == 0) {
        fprintf(stderr, "eisnet: --backend %s belongs to the Python reference; eisnet's equivalent is --backend auto "
                        "(CUDA when present, else the CPU) or --backend cpu\n", b);
        return -1;
    }
    if (strcmp(b, "auto") == 0) return 0;
    const eisnet_backend_reg *r = eisnet_backend_reg_find(b);
    if (!r && strcmp(b, "cuda") == 0) {
        fprintf(stderr, "eisnet: --backend cuda: the CUDA backend is not built into this eisnet; use --backend cpu or auto\n");
        return -1;
    }
    if (!r) {
        char list[256] = "";
        for (int i = 0; i < eisnet_backend_reg_count(); i++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s, ", eisnet_backend_reg_get(i)->name);
        }
        fprintf(stderr, "eisnet: unknown --backend '%s' (%sor auto)\n", b, list);
        return -1;
    }
    char why[160] = "";
    if (!r->available(why, sizeof why)) {
        fprintf(stderr, "eisnet: --backend %s is not available here%s%s\n", b, why[0] ? ": " : "", why);
        return -1;
    }
    return 0;
}

eisnet_backend *cli_backend_attach(const char *cmd, const char *name, int threads, eisnet_predictor *pr)
{
    const eisnet_backend_options bo = {.threads = threads};
    eisnet_backend *be = eisnet_backend_new(name ? name : "auto", &bo);
    if (!be || eisnet_model_set_backend(pr->model, be) != 0) {
        fprintf(stderr, "eisnet %s: --backend %s: %s\n", cmd, name ? name : "auto", eisnet_last_error());
        eisnet_backend_free(be);
        return NULL;
    }
    return be;
}
