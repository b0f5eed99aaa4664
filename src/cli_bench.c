/* eisnet bench (being written). */
#include "cli.h"

#include <stdio.h>

int cli_bench(cli_options *o)
{
    fprintf(stderr, "eisnet %s: not available in this build yet\n", o->name);
    return 2;
}
