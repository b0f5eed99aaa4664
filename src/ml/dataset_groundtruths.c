/* Ground truths as JSON: the --ground_truths file that generate reads, and
 * ground_truth_metadata.json that it writes. */
#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/fmt.h"
#include "eisnet/npy.h"
#include "eisnet/resnorm.h"
#include "dataset_internal.h"
#include "grid_json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int key_matches(const char *key, const char *name)
{
    for (; *key && *name; key++, name++)
        if (tolower((unsigned char)*key) != tolower((unsigned char)*name)) return 0;
    return *key == *name;
}

int eisnet_ground_truths_load(const eisnet_grid *g, const char *path, eisnet_ground_truth **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    char *text;
    size_t len;
    if (eisnet_read_regular_file(path, EISNET_GROUND_TRUTHS_MAX_BYTES, &text, &len) != 0) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return eisnet_set_error("%s: not valid JSON", path);
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        return eisnet_set_error("%s: expected a non-empty JSON list of ground truths", path);
    }
    int n = cJSON_GetArraySize(root);
    eisnet_ground_truth *gt = calloc((size_t)n, sizeof *gt);
    if (!gt) {
        cJSON_Delete(root);
        return eisnet_set_error("out of memory");
    }
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (!cJSON_IsObject(item)) goto bad;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (cJSON_IsString(id) && strlen(id->valuestring) < sizeof gt[i].id)
            snprintf(gt[i].id, sizeof gt[i].id, "%s", id->valuestring);
        else
            snprintf(gt[i].id, sizeof gt[i].id, "gt_%04d", i);
        for (int p = 0; p < g->n_params; p++) {
            const cJSON *v = NULL, *f;
            cJSON_ArrayForEach(f, item)
            {
                if (f->string && key_matches(f->string, g->names[p])) v = f;
            }
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !(v->valuedouble > 0)) {
                eisnet_set_error("%s: ground truth %d: missing or non-positive value for '%s'", path, i, g->names[p]);
                free(gt);
                cJSON_Delete(root);
                return -1;
            }
            gt[i].values[p] = v->valuedouble;
        }
        i++;
    }
    cJSON_Delete(root);
    *out = gt;
    *n_out = n;
    return 0;
bad:
    eisnet_set_error("%s: item %d is not an object", path, i);
    free(gt);
    cJSON_Delete(root);
    return -1;
}

int eisnet_dataset_write_metadata_json(const char *path, const eisnet_grid *g, const eisnet_ground_truth *gt, int n)
{
    /* json.dump(..., indent=2) layout, floats as Python's repr. */
    size_t cap = (size_t)n * (64 + (size_t)g->n_params * 64) + 16;
    char *buf = malloc(cap), num[EISNET_FMT_BUFSIZE];
    if (!buf) return eisnet_set_error("out of memory");
    size_t k = (size_t)snprintf(buf, cap, "[\n");
    for (int i = 0; i < n; i++) {
        k += (size_t)snprintf(buf + k, cap - k, "  {\n    \"id\": \"%s\"", gt[i].id);
        for (int p = 0; p < g->n_params; p++) {
            char key[EISNET_NAME_MAX];
            snprintf(key, sizeof key, "%s", g->names[p]);
            if (g->preset[0])
                for (char *c = key; *c; c++) *c = (char)tolower((unsigned char)*c);
            eisnet_fmt_double(num, gt[i].values[p]);
            k += (size_t)snprintf(buf + k, cap - k, ",\n    \"%s\": %s", key, num);
        }
        k += (size_t)snprintf(buf + k, cap - k, "\n  }%s\n", i + 1 < n ? "," : "");
    }
    k += (size_t)snprintf(buf + k, cap - k, "]\n");
    int rc = eisnet_write_file_atomic(path, buf, k);
    free(buf);
    return rc;
}
