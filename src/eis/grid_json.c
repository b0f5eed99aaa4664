/* Grid <-> JSON, shared by datasets and checkpoints. */
#include "grid_json.h"
#include "eisnet/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void eisnet_grid_json_write(const eisnet_grid *g, cJSON *j)
{
    cJSON_AddStringToObject(j, "circuit", eisnet_circuit_text(g->circuit));
    cJSON_AddStringToObject(j, "preset", g->preset);
    cJSON *names = cJSON_AddArrayToObject(j, "param_names");
    cJSON *units = cJSON_AddArrayToObject(j, "units");
    cJSON *ranges = cJSON_AddArrayToObject(j, "ranges");
    for (int p = 0; p < g->n_params; p++) {
        cJSON_AddItemToArray(names, cJSON_CreateString(g->names[p]));
        cJSON_AddItemToArray(units, cJSON_CreateString(g->units[p]));
        double r[2] = {g->lo[p], g->hi[p]};
        cJSON_AddItemToArray(ranges, cJSON_CreateDoubleArray(r, 2));
    }
    cJSON_AddNumberToObject(j, "n_grid", g->n_grid);
    cJSON_AddNumberToObject(j, "n_freq", g->n_freq);
    cJSON_AddNumberToObject(j, "f_min", g->f_min);
    cJSON_AddNumberToObject(j, "f_max", g->f_max);
}

static int number(const cJSON *j, const char *k, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return -1;
    *out = v->valuedouble;
    return 0;
}

int eisnet_grid_json_read(eisnet_grid *g, const cJSON *j, const char *what)
{
    const cJSON *circ = cJSON_GetObjectItemCaseSensitive(j, "circuit");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "preset");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "param_names");
    const cJSON *ranges = cJSON_GetObjectItemCaseSensitive(j, "ranges");
    double n_grid, n_freq, f_min, f_max;
    if (!cJSON_IsString(circ) || !cJSON_IsString(pre) || !cJSON_IsArray(names) || !cJSON_IsArray(ranges) ||
        number(j, "n_grid", &n_grid) || number(j, "n_freq", &n_freq) || number(j, "f_min", &f_min) ||
        number(j, "f_max", &f_max) || n_grid != floor(n_grid) || n_freq != floor(n_freq) || fabs(n_grid) > 1e6 ||
        fabs(n_freq) > 1e7)
        return eisnet_set_error("%s: circuit or grid description missing or malformed", what);
    int P = cJSON_GetArraySize(names);
    if (P < 1 || P > EISNET_MAX_PARAMS || cJSON_GetArraySize(ranges) != P)
        return eisnet_set_error("%s: bad parameter list", what);
    eisnet_range_strings rs;
    for (int i = 0; i < P; i++) {
        const cJSON *nm = cJSON_GetArrayItem(names, i), *r = cJSON_GetArrayItem(ranges, i);
        if (!cJSON_IsString(nm) || strlen(nm->valuestring) >= EISNET_NAME_MAX || !cJSON_IsArray(r) ||
            cJSON_GetArraySize(r) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(r, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(r, 1)))
            return eisnet_set_error("%s: bad parameter %d", what, i);
        snprintf(rs.text[i], sizeof rs.text[i], "%s=%.17g:%.17g", nm->valuestring, cJSON_GetArrayItem(r, 0)->valuedouble,
                 cJSON_GetArrayItem(r, 1)->valuedouble);
        rs.ptr[i] = rs.text[i];
    }
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    o.circuit = pre->valuestring[0] ? pre->valuestring : circ->valuestring;
    o.ranges = rs.ptr;
    o.n_ranges = P;
    o.n_grid = (int)n_grid;
    o.n_freq = (int)n_freq;
    o.f_min = f_min;
    o.f_max = f_max;
    if (eisnet_grid_init(g, &o) != 0) return eisnet_prefix_error("%s: ", what);
    if (g->n_params != P) {
        eisnet_grid_free(g);
        return eisnet_set_error("%s: the circuit has %d parameters, the list %d", what, g->n_params, P);
    }
    for (int i = 0; i < P; i++)
        if (strcmp(g->names[i], cJSON_GetArrayItem(names, i)->valuestring) != 0) {
            eisnet_grid_free(g);
            return eisnet_set_error("%s: parameter %d is %s in the circuit, not %s", what, i, g->names[i],
                                    cJSON_GetArrayItem(names, i)->valuestring);
        }
    return 0;
}
