/* Times eisnet_fmt_double against the snprintf+strtod oracle.
 * Usage: bench_fmt [count]   (default 5,000,000 values per set) */
#include "eisnet/fmt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double run(int (*f)(char *, double), const double *v, size_t n, size_t *sink)
{
    char buf[32];
    double t0 = now();
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += (size_t)f(buf, v[i]) + (unsigned char)buf[0];
    double t = now() - t0;
    *sink += s;
    return t * 1e9 / (double)n;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 5000000;
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        do u = next();
        while (((u >> 52) & 0x7ff) == 0x7ff);
        memcpy(&a[i], &u, 8);
        double x = (double)(next() >> 11) / 9007199254740992.0;
        b[i] = pow(10.0, -8.0 + 13.0 * x);             /* log-uniform in [1e-8, 1e5] */
        c[i] = floor(1e5 * (double)(next() >> 11) / 9007199254740992.0) / 1e3; /* short decimals */
    }
    size_t sink = 0;
    eisnet_fmt_double((char[32]){0}, 1.0); /* build tables */
    size_t ns = n / 10 ? n / 10 : 1;
    printf("set                      fast ns/call   slow ns/call\n");
    const char *names[3] = {"random bit patterns", "log-uniform [1e-8,1e5]", "short decimals (x.yyy)"};
    double *sets[3] = {a, b, c};
    for (int s = 0; s < 3; s++) {
        double tf = run(eisnet_fmt_double, sets[s], n, &sink);
        double ts = run(eisnet_fmt_double_slow, sets[s], ns, &sink);
        printf("%-24s %10.1f   %12.1f\n", names[s], tf, ts);
    }
    fprintf(stderr, "(checksum %zu)\n", sink);
    free(a);
    free(b);
    free(c);
    return 0;
}
