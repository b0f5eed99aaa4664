/* Circuit strings: parser, element formulas (impedance.py 1.7 conventions),
 * evaluation of the tree. */
#include "eisnet/circuit.h"
#include "eisnet/error.h"

#include <ctype.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { NODE_ELEMENT, NODE_SERIES, NODE_PARALLEL } node_type;

typedef struct node {
    node_type type;
    eisnet_element_kind kind; /* NODE_ELEMENT */
    int first_param;          /* NODE_ELEMENT: index of its first parameter */
    int n_children;
    struct node **children;
} node;

struct eisnet_circuit {
    char *text;
    char *shape;
    node *root;
    int n_params;
    char *param_names[EISNET_MAX_PARAMS];
    char *element_names[EISNET_MAX_PARAMS];
    int n_elements;
};

static const struct {
    const char *letters;
    eisnet_element_kind kind;
    int n_params;
} element_table[] = {
    {"R", EISNET_EL_R, 1},     {"C", EISNET_EL_C, 1},   {"L", EISNET_EL_L, 1},
    {"W", EISNET_EL_W, 1},     {"Wo", EISNET_EL_WO, 2}, {"Ws", EISNET_EL_WS, 2},
    {"CPE", EISNET_EL_CPE, 2}, {"La", EISNET_EL_LA, 2}, {"G", EISNET_EL_G, 2},
    {"K", EISNET_EL_K, 2},     {"Zarc", EISNET_EL_ZARC, 3},
};

int eisnet_element_lookup(const char *letters, size_t len, eisnet_element_kind *kind)
{
    for (size_t i = 0; i < sizeof element_table / sizeof element_table[0]; i++) {
        if (strlen(element_table[i].letters) == len && memcmp(element_table[i].letters, letters, len) == 0) {
            *kind = element_table[i].kind;
            return element_table[i].n_params;
        }
    }
    return -1;
}

double complex eisnet_element_z(eisnet_element_kind kind, const double *p, double w)
{
    const double complex jw = I * w;
    switch (kind) {
    case EISNET_EL_R: return p[0];
    case EISNET_EL_C: return 1.0 / (jw * p[0]);
    case EISNET_EL_L: return jw * p[0];
    case EISNET_EL_W: return p[0] * (1.0 - I) / sqrt(w);
    case EISNET_EL_WO: {
        double complex s = csqrt(jw * p[1]);
        return p[0] / (s * ctanh(s));
    }
    case EISNET_EL_WS: {
        double complex s = csqrt(jw * p[1]);
        return p[0] * ctanh(s) / s;
    }
    case EISNET_EL_CPE: return 1.0 / (p[0] * cpow(jw, p[1]));
    case EISNET_EL_LA: return cpow(p[0] * jw, p[1]);
    case EISNET_EL_G: return p[0] / csqrt(1.0 + jw * p[1]);
    case EISNET_EL_K: return p[0] / (1.0 + jw * p[1]);
    case EISNET_EL_ZARC: return p[0] / (1.0 + cpow(jw * p[1], p[2]));
    }
    return NAN;
}

/* ---- parser ------------------------------------------------------------- */

typedef struct {
    const char *text;
    size_t pos;
    eisnet_circuit *c;
    int failed;
    size_t shape_len, shape_cap;
} parser;

static int fail(parser *ps, size_t pos, const char *what)
{
    if (!ps->failed)
        eisnet_set_error("circuit '%s' at position %zu: %s", ps->text, pos + 1, what);
    ps->failed = 1;
    return -1;
}

static void shape_put(parser *ps, const char *s, size_t n)
{
    if (ps->shape_len + n + 1 > ps->shape_cap) {
        size_t cap = (ps->shape_cap + n + 1) * 2;
        char *ns = realloc(ps->c->shape, cap);
        if (!ns) {
            fail(ps, ps->pos, "out of memory");
            return;
        }
        ps->c->shape = ns;
        ps->shape_cap = cap;
    }
    memcpy(ps->c->shape + ps->shape_len, s, n);
    ps->shape_len += n;
    ps->c->shape[ps->shape_len] = '\0';
}

static void node_free(node *n)
{
    if (!n) return;
    for (int i = 0; i < n->n_children; i++) node_free(n->children[i]);
    free(n->children);
    free(n);
}

static int add_child(node *parent, node *child)
{
    node **nc = realloc(parent->children, (size_t)(parent->n_children + 1) * sizeof *nc);
    if (!nc) return -1;
    parent->children = nc;
    parent->children[parent->n_children++] = child;
    return 0;
}

static node *parse_series(parser *ps, int depth);

static void skip_space(parser *ps)
{
    while (ps->text[ps->pos] == ' ') ps->pos++;
}

static node *parse_term(parser *ps, int depth)
{
    skip_space(ps);
    const char *t = ps->text;
    size_t start = ps->pos;
    if (depth > 64) {
        fail(ps, start, "nesting too deep");
        return NULL;
    }
    if (t[start] == 'p' && t[start + 1] == '(') {
        ps->pos += 2;
        shape_put(ps, "p(", 2);
        node *n = calloc(1, sizeof *n);
        if (!n) {
            fail(ps, start, "out of memory");
            return NULL;
        }
        n->type = NODE_PARALLEL;
        for (;;) {
            node *child = parse_series(ps, depth + 1);
            if (!child || add_child(n, child) != 0) {
                node_free(child);
                node_free(n);
                fail(ps, ps->pos, "out of memory");
                return NULL;
            }
            skip_space(ps);
            if (t[ps->pos] == ',') {
                ps->pos++;
                shape_put(ps, ",", 1);
                continue;
            }
            if (t[ps->pos] == ')') {
                ps->pos++;
                shape_put(ps, ")", 1);
                break;
            }
            fail(ps, ps->pos, t[ps->pos] ? "expected ',' or ')'" : "missing ')'");
            node_free(n);
            return NULL;
        }
        if (n->n_children < 2) {
            fail(ps, start, "p(...) needs at least two branches");
            node_free(n);
            return NULL;
        }
        return n;
    }
    size_t p = start;
    while (isalpha((unsigned char)t[p])) p++;
    size_t letters_end = p;
    if (letters_end == start) {
        fail(ps, start, t[start] ? "expected an element such as R0 or p(" : "expected an element, found the end");
        return NULL;
    }
    if (t[p] == '_') p++;
    size_t digits = p;
    while (isdigit((unsigned char)t[p])) p++;
    if (p == digits) {
        fail(ps, letters_end, "element name must end in a number (e.g. R0, CPE1, Wo_2)");
        return NULL;
    }
    eisnet_element_kind kind;
    int np = eisnet_element_lookup(t + start, letters_end - start, &kind);
    if (np < 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "unknown element '%.*s' (known: R C L W Wo Ws CPE La G K Zarc)",
                 (int)(letters_end - start > 20 ? 20 : letters_end - start), t + start);
        fail(ps, start, msg);
        return NULL;
    }
    eisnet_circuit *c = ps->c;
    if (c->n_params + np > EISNET_MAX_PARAMS) {
        fail(ps, start, "too many parameters");
        return NULL;
    }
    /* duplicate element names would make parameter names ambiguous */
    size_t name_len = p - start;
    for (int i = 0; i < c->n_elements; i++) {
        if (strlen(c->element_names[i]) == name_len && memcmp(c->element_names[i], t + start, name_len) == 0) {
            fail(ps, start, "element name used twice");
            return NULL;
        }
    }
    char *ename = malloc(name_len + 1);
    if (!ename) {
        fail(ps, start, "out of memory");
        return NULL;
    }
    memcpy(ename, t + start, name_len);
    ename[name_len] = '\0';
    c->element_names[c->n_elements++] = ename;
    node *n = calloc(1, sizeof *n);
    if (!n) {
        fail(ps, start, "out of memory");
        return NULL;
    }
    n->type = NODE_ELEMENT;
    n->kind = kind;
    n->first_param = c->n_params;
    for (int k = 0; k < np; k++) {
        char *nm = malloc(name_len + 8);
        if (!nm) {
            node_free(n);
            fail(ps, start, "out of memory");
            return NULL;
        }
        if (np == 1)
            snprintf(nm, name_len + 8, "%.*s", (int)name_len, t + start);
        else
            snprintf(nm, name_len + 8, "%.*s_%d", (int)name_len, t + start, k);
        c->param_names[c->n_params++] = nm;
    }
    shape_put(ps, t + start, letters_end - start);
    ps->pos = p;
    return n;
}

static node *parse_series(parser *ps, int depth)
{
    node *first = parse_term(ps, depth);
    if (!first) return NULL;
    skip_space(ps);
    if (ps->text[ps->pos] != '-') return first;
    node *s = calloc(1, sizeof *s);
    if (!s || add_child(s, first) != 0) {
        free(s);
        node_free(first);
        fail(ps, ps->pos, "out of memory");
        return NULL;
    }
    s->type = NODE_SERIES;
    while (ps->text[ps->pos] == '-') {
        ps->pos++;
        shape_put(ps, "-", 1);
        node *n = parse_term(ps, depth);
        if (!n || add_child(s, n) != 0) {
            node_free(n);
            node_free(s);
            fail(ps, ps->pos, "out of memory");
            return NULL;
        }
        skip_space(ps);
    }
    return s;
}

eisnet_circuit *eisnet_circuit_parse(const char *text)
{
    if (!text) {
        eisnet_set_error("no circuit given");
        return NULL;
    }
    eisnet_circuit *c = calloc(1, sizeof *c);
    if (!c) {
        eisnet_set_error("out of memory");
        return NULL;
    }
    size_t n = strlen(text);
    c->text = malloc(n + 1);
    if (!c->text) {
        free(c);
        eisnet_set_error("out of memory");
        return NULL;
    }
    memcpy(c->text, text, n + 1);
    parser ps = {.text = c->text, .c = c};
    if (n == 0) {
        fail(&ps, 0, "empty circuit");
        eisnet_circuit_free(c);
        return NULL;
    }
    c->root = parse_series(&ps, 0);
    skip_space(&ps);
    if (c->root && !ps.failed && c->text[ps.pos] != '\0')
        fail(&ps, ps.pos, c->text[ps.pos] == ')' ? "unmatched ')'" : "unexpected character");
    if (!c->root || ps.failed) {
        eisnet_circuit_free(c);
        return NULL;
    }
    return c;
}

void eisnet_circuit_free(eisnet_circuit *c)
{
    if (!c) return;
    node_free(c->root);
    for (int i = 0; i < c->n_params; i++) free(c->param_names[i]);
    for (int i = 0; i < c->n_elements; i++) free(c->element_names[i]);
    free(c->text);
    free(c->shape);
    free(c);
}

const char *eisnet_circuit_text(const eisnet_circuit *c) { return c->text; }
int eisnet_circuit_n_params(const eisnet_circuit *c) { return c->n_params; }
const char *eisnet_circuit_param_name(const eisnet_circuit *c, int i)
{
    return (i >= 0 && i < c->n_params) ? c->param_names[i] : NULL;
}
const char *eisnet_circuit_shape(const eisnet_circuit *c) { return c->shape ? c->shape : ""; }

static double complex node_z(const node *n, const double *params, double w)
{
    switch (n->type) {
    case NODE_ELEMENT: return eisnet_element_z(n->kind, params + n->first_param, w);
    case NODE_SERIES: {
        double complex z = 0;
        for (int i = 0; i < n->n_children; i++) z += node_z(n->children[i], params, w);
        return z;
    }
    case NODE_PARALLEL: {
        double complex y = 0;
        for (int i = 0; i < n->n_children; i++) y += 1.0 / node_z(n->children[i], params, w);
        return 1.0 / y;
    }
    }
    return NAN;
}

void eisnet_circuit_eval(const eisnet_circuit *c, const double *params, const double *omega, size_t n,
                         double complex *z)
{
    for (size_t k = 0; k < n; k++) z[k] = node_z(c->root, params, omega[k]);
}

static int find_param(const node *nd, int i, eisnet_element_kind *kind, int *slot)
{
    if (nd->type == NODE_ELEMENT) {
        int np = -1;
        for (size_t t = 0; t < sizeof element_table / sizeof element_table[0]; t++)
            if (element_table[t].kind == nd->kind) np = element_table[t].n_params;
        if (i >= nd->first_param && i < nd->first_param + np) {
            *kind = nd->kind;
            *slot = i - nd->first_param;
            return 1;
        }
        return 0;
    }
    for (int c = 0; c < nd->n_children; c++)
        if (find_param(nd->children[c], i, kind, slot)) return 1;
    return 0;
}

int eisnet_circuit_param_kind(const eisnet_circuit *c, int i, eisnet_element_kind *kind, int *slot)
{
    if (!c || i < 0 || i >= c->n_params) return eisnet_set_error("parameter index %d out of range", i);
    if (!find_param(c->root, i, kind, slot)) return eisnet_set_error("parameter %d belongs to no element", i);
    return 0;
}
