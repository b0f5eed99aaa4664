/* The backend registry: lookup by name, "auto", the shared default backend
 * and the op names. The backends themselves are in src/nn/backend_*.c. */
#include "eisnet/backend.h"

#include <stdio.h>
#include <string.h>

#include "eisnet/error.h"

#ifdef EISNET_HAVE_OPENMP
#include <omp.h>
#endif

#define EISNET_BACKEND(n) extern const eisnet_backend_reg eisnet_backend_reg_##n;
#include "backend_list.h"
#undef EISNET_BACKEND

static const eisnet_backend_reg *const registry[] = {
#define EISNET_BACKEND(n) &eisnet_backend_reg_##n,
#include "backend_list.h"
#undef EISNET_BACKEND
};

#define N_REG ((int)(sizeof registry / sizeof registry[0]))

static const char *const op_names[EISNET_OP_COUNT] = {
    [EISNET_OP_GEMM] = "gemm",
    [EISNET_OP_BIAS_ROWS] = "bias_rows",
    [EISNET_OP_COLSUM_ADD] = "colsum_add",
    [EISNET_OP_LN_RELU_DROPOUT_FWD] = "ln_relu_dropout_fwd",
    [EISNET_OP_LN_RELU_DROPOUT_BWD] = "ln_relu_dropout_bwd",
    [EISNET_OP_BIAS_RELU_DROPOUT_FWD] = "bias_relu_dropout_fwd",
    [EISNET_OP_RELU_DROPOUT_BWD_INPLACE] = "relu_dropout_bwd_inplace",
    [EISNET_OP_ROWS_DOT] = "rows_dot",
    [EISNET_OP_ROWS_DOT_BWD] = "rows_dot_bwd",
    [EISNET_OP_SOFTMAX_ROWS] = "softmax_rows",
    [EISNET_OP_XENT] = "xent",
    [EISNET_OP_CLIP_ADAMW] = "clip_adamw",
    [EISNET_OP_RUN_ROWS] = "run_rows",
    [EISNET_OP_GATHER_ROWS] = "gather_rows",
    [EISNET_OP_SCATTER_ROWS] = "scatter_rows",
};

const char *eisnet_op_name(eisnet_op op)
{
    return (int)op >= 0 && op < EISNET_OP_COUNT ? op_names[op] : NULL;
}

int eisnet_backend_reg_count(void) { return N_REG; }

const eisnet_backend_reg *eisnet_backend_reg_get(int i)
{
    return i >= 0 && i < N_REG ? registry[i] : NULL;
}

const eisnet_backend_reg *eisnet_backend_reg_find(const char *name)
{
    for (int i = 0; name && i < N_REG; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

/* the available entry with the highest auto_priority */
/* The available backend of highest priority. Backends are asked in order of
 * priority and the first available one wins, so a lower one (a GPU whose
 * runtime is slow to start) is never probed when a higher one is there. */
static const eisnet_backend_reg *pick_auto(void)
{
    int asked[64] = {0};
    for (int round = 0; round < N_REG && round < 64; round++) {
        int top = -1;
        for (int i = 0; i < N_REG && i < 64; i++)
            if (!asked[i] && (top < 0 || registry[i]->auto_priority > registry[top]->auto_priority)) top = i;
        if (top < 0) break;
        asked[top] = 1;
        if (registry[top]->available(NULL, 0)) return registry[top];
    }
    return NULL;
}

eisnet_backend *eisnet_backend_new(const char *name, const eisnet_backend_options *opt)
{
    const eisnet_backend_options defaults = {.threads = 0};
    if (!opt) opt = &defaults;
    const eisnet_backend_reg *r = name && strcmp(name, "auto") == 0 ? pick_auto()
                                                                   : eisnet_backend_reg_find(name);
    if (!r) {
        char list[256] = "";
        for (int i = 0; i < N_REG; i++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s, ", registry[i]->name);
        }
        eisnet_set_error("unknown backend '%s' (%sor auto)", name ? name : "(null)", list);
        return NULL;
    }
    char why[160] = "";
    if (!r->available(why, sizeof why)) {
        eisnet_set_error("backend %s is not available here%s%s", r->name, why[0] ? ": " : "", why);
        return NULL;
    }
    eisnet_backend *be = r->create(opt);
    if (be) be->refs = 1;
    return be;
}

void eisnet_backend_free(eisnet_backend *be)
{
    if (!be || be == eisnet_backend_default()) return;
    if (__atomic_sub_fetch(&be->refs, 1, __ATOMIC_ACQ_REL) <= 0) be->ops->free(be);
}

eisnet_backend *eisnet_backend_retain(eisnet_backend *be)
{
    if (be && be != eisnet_backend_default()) __atomic_add_fetch(&be->refs, 1, __ATOMIC_RELAXED);
    return be;
}

const char *eisnet_backend_name(const eisnet_backend *be) { return be->name; }
int eisnet_backend_threads(const eisnet_backend *be) { return be->threads; }

int eisnet_backend_supports(const eisnet_backend *be, eisnet_op op)
{
    return (int)op >= 0 && op < EISNET_OP_COUNT && be->ops->supports_op(be, op);
}

int eisnet_cpu_threads(int requested)
{
#ifdef EISNET_HAVE_OPENMP
    return requested > 0 ? requested : omp_get_max_threads();
#else
    (void)requested;
    return 1;
#endif
}

eisnet_matmul eisnet_backend_matmul(const eisnet_backend *be) { return be->matmul; }

eisnet_matmul eisnet_backend_matmul_for(const char *name, eisnet_matmul asked)
{
    const eisnet_backend_reg *r = name && strcmp(name, "auto") == 0 ? pick_auto() : eisnet_backend_reg_find(name);
    if (asked == EISNET_MATMUL_FP32 || !r || !r->supports_matmul || !r->supports_matmul(asked))
        return EISNET_MATMUL_FP32;
    return asked;
}

const char *eisnet_matmul_name(eisnet_matmul m)
{
    return m == EISNET_MATMUL_BF16 ? "bfloat16 (AMX)" : "float32";
}

int eisnet_matmul_parse(const char *s, const char *flag, eisnet_matmul *out)
{
    if (s && strcmp(s, "bf16") == 0) *out = EISNET_MATMUL_BF16;
    else if (s && strcmp(s, "fp32") == 0) *out = EISNET_MATMUL_FP32;
    else return eisnet_set_error("%s must be bf16 or fp32 (got '%s')", flag, s ? s : "(null)");
    return 0;
}
