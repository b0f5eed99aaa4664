/* The simulator: cells, the prior, the noise model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "eisnet/simulate.h"

static eisnet_grid grid;

static int setup(void **state)
{
    (void)state;
    eisnet_grid_options o;
    eisnet_grid_options_default(&o);
    return eisnet_grid_init(&grid, &o);
}

static int teardown(void **state)
{
    (void)state;
    eisnet_grid_free(&grid);
    return 0;
}

/* Every grid value lies in its own cell; the cell edges are the geometric
 * midpoints between neighbours, and the end cells stop at the range. */
static void test_cells(void **state)
{
    (void)state;
    for (int p = 0; p < grid.n_params; p++) {
        for (int c = 0; c < grid.n_grid; c++) {
            double v = grid.values[(size_t)p * grid.n_grid + c];
            assert_int_equal(eisnet_grid_cell(&grid, p, v), c);
            double lo, hi;
            eisnet_grid_cell_bounds(&grid, p, c, &lo, &hi);
            assert_true(lo <= v && v <= hi);
            if (c > 0) {
                double mid = sqrt(v * grid.values[(size_t)p * grid.n_grid + c - 1]);
                assert_true(fabs(lo - mid) <= 1e-9 * mid);
                assert_int_equal(eisnet_grid_cell(&grid, p, lo * (1 - 1e-9)), c - 1);
                assert_int_equal(eisnet_grid_cell(&grid, p, lo * (1 + 1e-9)), c);
            }
        }
        double lo, hi;
        eisnet_grid_cell_bounds(&grid, p, 0, &lo, &hi);
        assert_true(lo == grid.lo[p]);
        eisnet_grid_cell_bounds(&grid, p, grid.n_grid - 1, &lo, &hi);
        assert_true(hi == grid.hi[p]);
        assert_int_equal(eisnet_grid_cell(&grid, p, grid.lo[p] * 0.5), 0);
        assert_int_equal(eisnet_grid_cell(&grid, p, grid.hi[p] * 2), grid.n_grid - 1);
        assert_int_equal(eisnet_grid_cell(&grid, p, NAN), 0);
    }
}

/* Truths are log-uniform: each of the 11 inner cells gets a full share of
 * draws, the two half-width end cells half a share. */
static void test_prior(void **state)
{
    (void)state;
    eisnet_rng r;
    eisnet_rng_seed(&r, 7, 0);
    enum { N = 110000 };
    int count[12] = {0};
    for (int i = 0; i < N; i++) {
        double v[EISNET_MAX_PARAMS];
        eisnet_sim_draw_truth(&grid, &r, v);
        for (int p = 0; p < grid.n_params; p++) assert_true(v[p] >= grid.lo[p] && v[p] <= grid.hi[p]);
        count[eisnet_grid_cell(&grid, 1, v[1])]++;
    }
    for (int c = 0; c < 12; c++) {
        double want = (c == 0 || c == 11) ? N / 22.0 : N / 11.0;
        assert_true(fabs(count[c] - want) < 5 * sqrt(want));
    }
}

/* The relative error (Z_meas - Z) / Z has mean 0 and standard deviation
 * sigma in both parts, uncorrelated; the same seed gives the same draw. */
static void test_noise(void **state)
{
    (void)state;
    enum { N = 20000 };
    double complex *z = malloc(sizeof *z * N), *out = malloc(sizeof *out * N);
    for (int k = 0; k < N; k++) z[k] = (1.0 + k % 7) * cexp(I * 0.1 * (k % 13));
    eisnet_rng r;
    eisnet_rng_seed(&r, 3, 1);
    eisnet_sim_add_noise(&r, 0.02, z, N, out);
    double m1 = 0, m2 = 0, s1 = 0, s2 = 0, c12 = 0;
    for (int k = 0; k < N; k++) {
        double complex e = (out[k] - z[k]) / z[k];
        m1 += creal(e); m2 += cimag(e);
        s1 += creal(e) * creal(e); s2 += cimag(e) * cimag(e); c12 += creal(e) * cimag(e);
    }
    m1 /= N; m2 /= N;
    assert_true(fabs(m1) < 5 * 0.02 / sqrt(N) && fabs(m2) < 5 * 0.02 / sqrt(N));
    assert_true(fabs(sqrt(s1 / N) - 0.02) < 0.001 && fabs(sqrt(s2 / N) - 0.02) < 0.001);
    assert_true(fabs(c12 / N) < 5 * 0.0004 / sqrt(N));
    eisnet_rng_seed(&r, 3, 1);
    eisnet_sim_add_noise(&r, 0.02, z, N, z);
    for (int k = 0; k < N; k++) assert_true(z[k] == out[k]);
    free(z);
    free(out);
}

/* A noiseless simulation is the circuit's spectrum of the drawn truth. */
static void test_simulate(void **state)
{
    (void)state;
    eisnet_rng r;
    eisnet_rng_seed(&r, 11, 2);
    double v[EISNET_MAX_PARAMS];
    int cells[EISNET_MAX_PARAMS];
    double complex z[50], want[50];
    eisnet_simulate(&grid, &r, 0.0, v, cells, z);
    eisnet_grid_spectrum(&grid, v, want);
    for (int k = 0; k < 50; k++) assert_true(z[k] == want[k]);
    for (int p = 0; p < grid.n_params; p++) assert_int_equal(cells[p], eisnet_grid_cell(&grid, p, v[p]));
}

/* Masks: weight 1 is one uniform draw over the subsets with a parameter
 * missing; a smaller weight thins the masks with many missing to that
 * share, the others staying uniform among themselves. */
static void test_masks(void **state)
{
    (void)state;
    eisnet_rng a, b;
    eisnet_rng_seed(&a, 9, 4);
    eisnet_rng_seed(&b, 9, 4);
    for (int i = 0; i < 1000; i++) {
        uint64_t m = eisnet_sim_draw_mask(&a, 5, 3, 1.0);
        assert_true(m == eisnet_rng_below(&b, 31));
    }
    int n = 200000;
    double count[6] = {0};
    for (int i = 0; i < n; i++) {
        uint64_t m = eisnet_sim_draw_mask(&a, 5, 3, 0.25);
        assert_true(m < 31); /* never all five known */
        int missing = 5 - __builtin_popcountll(m);
        count[missing]++;
    }
    /* masks by missing count: 5, 10, 10 with weight 1; 5, 1 with weight 0.25 */
    double total = 25 + 0.25 * 6, expect[6] = {0, 5 / total, 10 / total, 10 / total, 1.25 / total, 0.25 / total};
    for (int k = 1; k <= 5; k++) {
        double share = count[k] / n, sd = sqrt(expect[k] * (1 - expect[k]) / n);
        assert_true(fabs(share - expect[k]) < 5 * sd);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_prior),
        cmocka_unit_test(test_noise),
        cmocka_unit_test(test_simulate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
