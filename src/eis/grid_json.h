/* A grid's description in JSON (dataset.json, a checkpoint's configuration):
 * circuit, preset, param_names, units, ranges, n_grid, n_freq, f_min, f_max. */
#ifndef EISNET_GRID_JSON_H
#define EISNET_GRID_JSON_H

#include "eisnet/grid.h"

#include <cjson/cJSON.h>

void eisnet_grid_json_write(const eisnet_grid *g, cJSON *j);
/* Rebuilds the grid from those keys; `what` names the file in errors. */
int eisnet_grid_json_read(eisnet_grid *g, const cJSON *j, const char *what);

#endif
