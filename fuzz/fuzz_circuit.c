/* libFuzzer: circuit strings, --range strings and --known lists. The input is
 * split at newlines: circuit, then ranges, then a --known text. */
#include "eisnet/circuit.h"
#include "eisnet/grid.h"
#include "eisnet/infer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    const char *parts[8] = {0};
    int np = 0;
    char *p = s;
    while (np < 8) {
        parts[np++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    eisnet_circuit *c = eisnet_circuit_parse(parts[0]);
    if (c) eisnet_circuit_free(c);
    eisnet_grid_options go;
    eisnet_grid_options_default(&go);
    go.circuit = parts[0];
    go.ranges = np > 2 ? parts + 1 : NULL;
    go.n_ranges = np > 2 ? np - 2 : 0;
    go.n_grid = 3;
    go.n_freq = 4;
    eisnet_grid g;
    if (eisnet_grid_init(&g, &go) == 0) {
        double values[EISNET_MAX_PARAMS];
        uint8_t known[EISNET_MAX_PARAMS];
        eisnet_parse_known(&g, parts[np - 1], values, known);
        eisnet_grid_free(&g);
    }
    free(s);
    return 0;
}
