/* A circuit compiled for the fit: impedance and its derivatives with respect
 * to the logarithm of every parameter, and the circuit's exact symmetries.
 *
 * The tree is rebuilt from the circuit's shape string ("R-p(R,C)-p(R,C)"),
 * whose elements appear in parameter order, so a subtree always owns a
 * contiguous range of parameters. That lets the derivative pass work in
 * place: a parallel node multiplies the derivatives of child i by
 * (Z / Z_i)^2, since dZ/dZ_i = Z^2 / Z_i^2 for Z = 1 / sum(1 / Z_i). */
#include "eisnet/fit.h"
#include "eisnet/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES (4 * EISNET_MAX_PARAMS)
#define HALF_PI 1.57079632679489661923

enum { N_ELEMENT, N_SERIES, N_PARALLEL };

typedef struct {
    int type;
    eisnet_element_kind kind;
    int p0, p1;           /* parameter range [p0, p1) */
    int first_child, n_children;   /* into the child list */
    char shape[256];       /* canonical text of the subtree (for symmetries) */
} fnode;

struct eisnet_fit_model {
    int n_params, n_nodes, root;
    fnode nodes[MAX_NODES];
    int children[MAX_NODES];
    int n_child_slots;
    char names[EISNET_MAX_PARAMS][EISNET_FIT_NAME_MAX];
};

typedef struct {
    eisnet_fit_model *m;
    const char *s;
    size_t pos;
    int next_param;
    int failed;
} sparser;

static int new_node(sparser *ps, int type)
{
    if (ps->m->n_nodes >= MAX_NODES) {
        ps->failed = 1;
        return -1;
    }
    int id = ps->m->n_nodes++;
    memset(&ps->m->nodes[id], 0, sizeof(fnode));
    ps->m->nodes[id].type = type;
    return id;
}

static int parse_series_s(sparser *ps);

/* Children are parsed into a temporary list first: nested nodes also append
 * to the shared child list, so each node's children must be copied in one
 * block once all of them are known. */
static int finish_children(sparser *ps, int id, const int *kids, int nk)
{
    eisnet_fit_model *m = ps->m;
    if (m->n_child_slots + nk > MAX_NODES) {
        ps->failed = 1;
        return -1;
    }
    fnode *n = &m->nodes[id];
    n->first_child = m->n_child_slots;
    n->n_children = nk;
    memcpy(m->children + m->n_child_slots, kids, sizeof(int) * (size_t)nk);
    m->n_child_slots += nk;
    n->p0 = m->nodes[kids[0]].p0;
    n->p1 = m->nodes[kids[nk - 1]].p1;
    char buf[sizeof n->shape];
    size_t len = 0;
    const char *open = n->type == N_PARALLEL ? "p(" : "", *sep = n->type == N_PARALLEL ? "," : "-";
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s", open);
    for (int i = 0; i < nk && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? sep : "", m->nodes[kids[i]].shape);
    if (len < sizeof buf && n->type == N_PARALLEL) snprintf(buf + len, sizeof buf - len, ")");
    memcpy(n->shape, buf, sizeof buf);
    return id;
}

static int parse_term_s(sparser *ps)
{
    const char *s = ps->s;
    if (s[ps->pos] == 'p' && s[ps->pos + 1] == '(') {
        ps->pos += 2;
        int kids[MAX_NODES], nk = 0;
        for (;;) {
            int c = parse_series_s(ps);
            if (c < 0 || nk >= MAX_NODES) {
                ps->failed = 1;
                return -1;
            }
            kids[nk++] = c;
            if (s[ps->pos] == ',') {
                ps->pos++;
                continue;
            }
            if (s[ps->pos] == ')') {
                ps->pos++;
                break;
            }
            ps->failed = 1;
            return -1;
        }
        int id = new_node(ps, N_PARALLEL);
        if (id < 0) return -1;
        return finish_children(ps, id, kids, nk);
    }
    size_t start = ps->pos;
    while ((s[ps->pos] >= 'A' && s[ps->pos] <= 'Z') || (s[ps->pos] >= 'a' && s[ps->pos] <= 'z')) ps->pos++;
    eisnet_element_kind kind;
    int np = eisnet_element_lookup(s + start, ps->pos - start, &kind);
    if (np < 0 || ps->next_param + np > EISNET_MAX_PARAMS) {
        ps->failed = 1;
        return -1;
    }
    int id = new_node(ps, N_ELEMENT);
    if (id < 0) return -1;
    fnode *n = &ps->m->nodes[id];
    n->kind = kind;
    n->p0 = ps->next_param;
    n->p1 = ps->next_param + np;
    ps->next_param += np;
    snprintf(n->shape, sizeof n->shape, "%.*s", (int)(ps->pos - start), s + start);
    return id;
}

static int parse_series_s(sparser *ps)
{
    int kids[MAX_NODES], nk = 0;
    for (;;) {
        int c = parse_term_s(ps);
        if (c < 0 || nk >= MAX_NODES) {
            ps->failed = 1;
            return -1;
        }
        kids[nk++] = c;
        if (ps->s[ps->pos] != '-') break;
        ps->pos++;
    }
    if (nk == 1) return kids[0];
    int id = new_node(ps, N_SERIES);
    if (id < 0) return -1;
    return finish_children(ps, id, kids, nk);
}

eisnet_fit_model *eisnet_fit_model_new(const eisnet_circuit *c)
{
    eisnet_fit_model *m = calloc(1, sizeof *m);
    if (!m) {
        eisnet_set_error("out of memory");
        return NULL;
    }
    sparser ps = {.m = m, .s = eisnet_circuit_shape(c)};
    m->root = parse_series_s(&ps);
    m->n_params = ps.next_param;
    if (ps.failed || m->root < 0 || ps.s[ps.pos] != '\0' || m->n_params != eisnet_circuit_n_params(c)) {
        free(m);
        eisnet_set_error("circuit '%s' cannot be compiled for fitting", eisnet_circuit_text(c));
        return NULL;
    }
    for (int j = 0; j < m->n_params; j++)
        snprintf(m->names[j], sizeof m->names[j], "%s", eisnet_circuit_param_name(c, j));
    return m;
}

void eisnet_fit_model_free(eisnet_fit_model *m) { free(m); }

/* ---- evaluation ----------------------------------------------------------- */

/* exp(a * (ln x + i pi/2)) = (i x)^a for x > 0, the principal power. */
static inline double complex jpow(double x, double a)
{
    double mag = exp(a * log(x)), ph = a * HALF_PI;
    return mag * (cos(ph) + I * sin(ph));
}

/* Z of one element and, when g is not NULL, p_j dZ/dp_j into g[0..np). */
static double complex element(eisnet_element_kind kind, const double *p, double w, double complex *g)
{
    double complex z;
    switch (kind) {
    case EISNET_EL_R:
        z = p[0];
        if (g) g[0] = z;
        return z;
    case EISNET_EL_C:
        z = 1.0 / (I * w * p[0]);
        if (g) g[0] = -z;
        return z;
    case EISNET_EL_L:
        z = I * w * p[0];
        if (g) g[0] = z;
        return z;
    case EISNET_EL_W:
        z = p[0] * (1.0 - I) / sqrt(w);
        if (g) g[0] = z;
        return z;
    case EISNET_EL_WO: {
        double complex s = csqrt(I * w * p[1]), t = ctanh(s);
        z = p[0] / (s * t);
        if (g) {
            g[0] = z;
            g[1] = -0.5 * z * (1.0 + s * (1.0 - t * t) / t);
        }
        return z;
    }
    case EISNET_EL_WS: {
        double complex s = csqrt(I * w * p[1]), t = ctanh(s);
        z = p[0] * t / s;
        if (g) {
            g[0] = z;
            g[1] = 0.5 * p[0] * ((1.0 - t * t) - t / s);
        }
        return z;
    }
    case EISNET_EL_CPE: {
        z = 1.0 / (p[0] * jpow(w, p[1]));
        if (g) {
            g[0] = -z;
            g[1] = -p[1] * z * (log(w) + I * HALF_PI);
        }
        return z;
    }
    case EISNET_EL_LA: {
        z = jpow(p[0] * w, p[1]);
        if (g) {
            g[0] = p[1] * z;
            g[1] = p[1] * z * (log(p[0] * w) + I * HALF_PI);
        }
        return z;
    }
    case EISNET_EL_G: {
        double complex q = 1.0 + I * w * p[1];
        z = p[0] / csqrt(q);
        if (g) {
            g[0] = z;
            g[1] = -z * (I * w * p[1]) / (2.0 * q);
        }
        return z;
    }
    case EISNET_EL_K: {
        double complex q = 1.0 + I * w * p[1];
        z = p[0] / q;
        if (g) {
            g[0] = z;
            g[1] = -z * (I * w * p[1]) / q;
        }
        return z;
    }
    case EISNET_EL_ZARC: {
        double complex u = jpow(w * p[1], p[2]);
        z = p[0] / (1.0 + u);
        if (g) {
            double complex f = -z * u / (1.0 + u);
            g[0] = z;
            g[1] = p[2] * f;
            g[2] = p[2] * f * (log(w * p[1]) + I * HALF_PI);
        }
        return z;
    }
    }
    return NAN;
}

static double complex node_eval(const eisnet_fit_model *m, int id, const double *p, double w, double complex *g)
{
    const fnode *n = &m->nodes[id];
    if (n->type == N_ELEMENT) return element(n->kind, p + n->p0, w, g ? g + n->p0 : NULL);
    const int *kids = m->children + n->first_child;
    if (n->type == N_SERIES) {
        double complex z = 0;
        for (int i = 0; i < n->n_children; i++) z += node_eval(m, kids[i], p, w, g);
        return z;
    }
    double complex zi[MAX_NODES], y = 0;
    for (int i = 0; i < n->n_children; i++) {
        zi[i] = node_eval(m, kids[i], p, w, g);
        y += 1.0 / zi[i];
    }
    double complex z = 1.0 / y;
    if (g)
        for (int i = 0; i < n->n_children; i++) {
            double complex f = z / zi[i];
            f *= f;
            const fnode *c = &m->nodes[kids[i]];
            for (int j = c->p0; j < c->p1; j++) g[j] *= f;
        }
    return z;
}

void eisnet_fit_model_eval(const eisnet_fit_model *m, const double *params, const double *omega, int n,
                           double complex *z, double complex *dz)
{
    for (int k = 0; k < n; k++)
        z[k] = node_eval(m, m->root, params, omega[k], dz ? dz + (size_t)k * (size_t)m->n_params : NULL);
}

/* ---- symmetries ----------------------------------------------------------- */

static void range_text(const eisnet_fit_model *m, const fnode *n, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "(");
    for (int j = n->p0; j < n->p1 && len < cap; j++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", j > n->p0 ? "," : "", m->names[j]);
    if (len < cap) snprintf(out + len, cap - len, ")");
}

int eisnet_fit_model_symmetries(const eisnet_fit_model *m, int max, int (*perm)[EISNET_MAX_PARAMS],
                                char (*text)[128])
{
    int ns = 0;
    for (int id = 0; id < m->n_nodes; id++) {
        const fnode *n = &m->nodes[id];
        if (n->type == N_ELEMENT) continue;
        const int *kids = m->children + n->first_child;
        for (int a = 0; a < n->n_children; a++)
            for (int b = a + 1; b < n->n_children; b++) {
                const fnode *A = &m->nodes[kids[a]], *B = &m->nodes[kids[b]];
                if (strcmp(A->shape, B->shape) != 0 || A->p1 - A->p0 != B->p1 - B->p0) continue;
                if (ns >= max) return ns;
                for (int j = 0; j < m->n_params; j++) perm[ns][j] = j;
                for (int j = 0; j < A->p1 - A->p0; j++) {
                    perm[ns][A->p0 + j] = B->p0 + j;
                    perm[ns][B->p0 + j] = A->p0 + j;
                }
                char ta[60], tb[60];
                range_text(m, A, ta, sizeof ta);
                range_text(m, B, tb, sizeof tb);
                snprintf(text[ns], 128, "%s<->%s", ta, tb);
                ns++;
            }
    }
    return ns;
}
