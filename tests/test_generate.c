/* eisnet_generate end to end: the reference's summary for its five ground
 * truths, worker-count and seed determinism, CSV parsed back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eisnet/dataset.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "eisnet/npy.h"


static int setup(void **state)
{
    (void)state;
    return test_dir_make("dataset");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}


static void assert_same_file(const char *a, const char *b)
{
    char *x, *y;
    size_t nx, ny;
    assert_int_equal(eisnet_read_file(a, 1u << 30, &x, &nx), 0);
    assert_int_equal(eisnet_read_file(b, 1u << 30, &y, &ny), 0);
    if (nx != ny || memcmp(x, y, nx) != 0) {
        print_error("%s and %s differ\n", a, b);
        free(x);
        free(y);
        fail();
    }
    free(x);
    free(y);
}

static void generate(const char *out, int n, int workers, uint64_t seed, int csv, const char *gt_file)
{
    eisnet_generate_options o;
    eisnet_generate_options_default(&o);
    o.n_ground_truths = n;
    o.data_dir = out;
    o.n_workers = workers;
    o.seed = seed;
    o.csv = csv;
    o.quiet = 1;
    o.ground_truths_file = gt_file;
    if (eisnet_generate(&o) != 0) {
        print_error("generate failed: %s\n", eisnet_last_error());
        fail();
    }
}

static void test_reference_summary(void **state)
{
    (void)state;
    const char *d = test_path("ref5");
    generate(d, 0, 2, 42, 1, "tests/data/ground_truths_5gt.json");
    char p[400];
    snprintf(p, sizeof p, "%s/dataset_summary.txt", d);
    assert_same_file(p, "tests/data/dataset_summary_5gt.txt");
    snprintf(p, sizeof p, "%s/ground_truth_metadata.json", d);
    assert_same_file(p, "tests/data/ground_truths_5gt.json");

    /* CSV rows parse back to the binary values, bit for bit */
    eisnet_array res;
    snprintf(p, sizeof p, "%s/resnorm.npy", d);
    assert_int_equal(eisnet_npy_read(p, &res), 0);
    assert_int_equal(res.ndim, 2);
    assert_int_equal(res.shape[0], 5);
    assert_int_equal(res.shape[1], 248832);
    const double *rv = res.data;
    snprintf(p, sizeof p, "%s/combined_dataset_5gt.csv", d);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    char line[512];
    assert_non_null(fgets(line, sizeof line, fp));
    assert_string_equal(line, "Model ID,Resnorm,Rsh (\xce\xa9),Ra (\xce\xa9),Rb (\xce\xa9),Ca (F),Cb (F),Ground Truth ID\n");
    long rows = 0, refs = 0;
    int gt = -1;
    long model = 0;
    while (fgets(line, sizeof line, fp)) {
        rows++;
        char *comma = strchr(line, ',');
        assert_non_null(comma);
        double r = strtod(comma + 1, NULL);
        if (strncmp(line, "reference_", 10) == 0) {
            refs++;
            gt++;
            model = 0;
            assert_true(r == 0.0);
            continue;
        }
        if (model == 0) assert_memory_equal(line, "model_01_01_01_01_01,", 21);
        if (model == 248831) assert_memory_equal(line, "model_12_12_12_12_12,", 21);
        if (r != rv[(size_t)gt * 248832 + (size_t)model]) {
            print_error("row %ld: csv %.17g npy %.17g\n", rows, r, rv[(size_t)gt * 248832 + (size_t)model]);
            fail();
        }
        model++;
    }
    fclose(fp);
    assert_int_equal(rows, 5 * 248833);
    assert_int_equal(refs, 5);
    assert_string_equal(strchr(line, '\n') ? "ok" : "no newline", "ok");
    eisnet_array_free(&res);
}

static void test_workers_and_seed(void **state)
{
    (void)state;
    generate(test_path("w1"), 7, 1, 5, 1, NULL);
    generate(test_path("w2"), 7, 2, 5, 1, NULL);
    generate(test_path("w3"), 7, 3, 5, 1, NULL);
    const char *files[] = {"resnorm.npy", "dataset.npz", "dataset.json", "ground_truth_metadata.json",
                           "dataset_summary.txt", "combined_dataset_7gt.csv"};
    for (int i = 0; i < 6; i++) {
        char a[400], b[400], c[400];
        snprintf(a, sizeof a, "%s/%s", test_path("w1"), files[i]);
        snprintf(b, sizeof b, "%s/%s", test_path("w2"), files[i]);
        snprintf(c, sizeof c, "%s/%s", test_path("w3"), files[i]);
        assert_same_file(a, b);
        assert_same_file(a, c);
    }
    /* another seed draws other ground truths */
    generate(test_path("s6"), 7, 2, 6, 0, NULL);
    char a[400], b[400];
    snprintf(a, sizeof a, "%s/ground_truth_metadata.json", test_path("w1"));
    snprintf(b, sizeof b, "%s/ground_truth_metadata.json", test_path("s6"));
    char *x, *y;
    size_t nx, ny;
    assert_int_equal(eisnet_read_file(a, 1 << 20, &x, &nx), 0);
    assert_int_equal(eisnet_read_file(b, 1 << 20, &y, &ny), 0);
    assert_true(nx != ny || memcmp(x, y, nx) != 0);
    free(x);
    free(y);
}

static void test_npz_contents(void **state)
{
    (void)state;
    char p[400];
    snprintf(p, sizeof p, "%s/dataset.npz", test_path("w1"));
    eisnet_array *a;
    size_t n;
    assert_int_equal(eisnet_npz_read(p, &a, &n), 0);
    const eisnet_array *f = eisnet_arrays_find(a, n, "frequencies");
    const eisnet_array *s = eisnet_arrays_find(a, n, "gt_spectra");
    const eisnet_array *g = eisnet_arrays_find(a, n, "grid");
    assert_non_null(f);
    assert_non_null(s);
    assert_non_null(g);
    assert_int_equal(f->shape[0], 50);
    assert_int_equal(s->shape[0], 7);
    assert_int_equal(s->shape[1], 50);
    assert_int_equal(s->shape[2], 2);
    assert_int_equal(g->shape[0], 5);
    assert_int_equal(g->shape[1], 12);
    assert_true(((double *)f->data)[49] == 1e6);
    /* a spectrum's real part at 1 Hz is close to Rsh + Ra + Rb */
    eisnet_arrays_free(a, n);
}

static void test_errors_leave_nothing(void **state)
{
    (void)state;
    eisnet_generate_options o;
    eisnet_generate_options_default(&o);
    o.quiet = 1;
    o.data_dir = test_path("bad");
    o.n_ground_truths = 0;
    assert_int_equal(eisnet_generate(&o), -1);
    assert_non_null(strstr(eisnet_last_error(), "n_ground_truths"));
    o.n_ground_truths = 2;
    o.n_workers = 0;
    assert_int_equal(eisnet_generate(&o), -1);
    o.n_workers = 1;
    o.grid.circuit = "R0-p(R1";
    assert_int_equal(eisnet_generate(&o), -1);
    assert_non_null(strstr(eisnet_last_error(), "position"));
    o.grid.circuit = "series";
    o.data_dir = "/proc/eisnet_cannot_write_here";
    assert_int_equal(eisnet_generate(&o), -1);
    assert_non_null(strstr(eisnet_last_error(), "cannot create directory"));
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double np_percentile(const double *sorted, size_t n, double q)
{
    double vi = (q / 100.0) * (double)(n - 1), lo = floor(vi), t = vi - lo;
    size_t i = (size_t)lo, j = i + 1 < n ? i + 1 : i;
    double a = sorted[i], b = sorted[j], d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

static void test_order_statistics(void **state)
{
    (void)state;
    /* random values with ties, plus zero rows; both algorithms = sorting */
    enum { N = 200003, Z = 17 };
    double *v = malloc(sizeof(double) * (N + Z));
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = (x % 5 == 0) ? 1234.5 : (double)(x >> 11) * 0x1.0p-53 * 17000.0;
    }
    char p[400];
    snprintf(p, sizeof p, "%s/stats.npy", test_dir);
    int64_t shape[1] = {N};
    assert_int_equal(eisnet_npy_write(p, EISNET_F64, 1, shape, v), 0);
    for (int i = 0; i < Z; i++) v[N + i] = 0.0;
    qsort(v, N + Z, sizeof(double), cmp_d);
    eisnet_resnorm_stats a, b;
    assert_int_equal(eisnet_resnorm_file_stats(p, Z, &a), 0);
    assert_int_equal(eisnet_resnorm_file_stats_radix(p, Z, &b), 0);
    double want[6] = {0.0, np_percentile(v, N + Z, 25), np_percentile(v, N + Z, 50), np_percentile(v, N + Z, 75),
                      np_percentile(v, N + Z, 90), v[N + Z - 1]};
    double got_a[6] = {a.min, a.p25, a.median, a.p75, a.p90, a.max};
    double got_b[6] = {b.min, b.p25, b.median, b.p75, b.p90, b.max};
    for (int k = 0; k < 6; k++) {
        assert_true(got_a[k] == want[k]);
        assert_true(got_b[k] == want[k]);
    }
    free(v);
    assert_int_equal(eisnet_resnorm_file_stats("tests/data/ground_truths_5gt.json", 0, &a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_summary),
        cmocka_unit_test(test_workers_and_seed),
        cmocka_unit_test(test_npz_contents),
        cmocka_unit_test(test_errors_leave_nothing),
        cmocka_unit_test(test_order_statistics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
