/* eisnet update: continuous learning from new measurements (being written). */
#include "cli.h"

#include <stdio.h>

int cli_update(cli_options *o)
{
    fprintf(stderr, "eisnet %s: not available in this build yet\n", o->name);
    return 2;
}
