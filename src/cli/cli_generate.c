/* eisnet generate. */
#include "cli.h"
#include "eisnet/dataset.h"
#include "eisnet/error.h"

#include <stdio.h>

int cli_generate(cli_options *o)
{
    eisnet_generate_options g;
    eisnet_generate_options_default(&g);
    g.grid.circuit = o->circuit;
    g.grid.ranges = o->ranges;
    g.grid.n_ranges = o->n_ranges;
    g.grid.n_grid = o->grid_points;
    g.grid.n_freq = o->n_freq;
    g.grid.f_min = o->f_min;
    g.grid.f_max = o->f_max;
    g.n_ground_truths = o->n_ground_truths;
    g.data_dir = o->data_dir;
    g.n_workers = o->n_workers;
    g.seed = o->seed;
    g.csv = o->csv;
    g.quiet = o->quiet;
    g.ground_truths_file = o->ground_truths_file;
    g.force = o->force;
    if (eisnet_generate(&g) != 0) {
        fprintf(stderr, "eisnet generate: %s\n", eisnet_last_error());
        return 1;
    }
    return 0;
}
