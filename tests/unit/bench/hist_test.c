/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/bench/hist_test.c — remora-load's HDR-style histogram: 3 significant digits over
 * 1 µs .. 60 s, percentile math, merging across threads, clamping. Includes the .c under test
 * (bench objects are not part of libremora.a). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bench/load/hist.c"

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Every value shares its bucket only with values within 0.1% of it (3 significant digits), and
 * values below 2048 are exact. */
static void test_precision(void **state)
{
    struct hist h;
    assert_int_equal(hist_init_default(&h), 0);
    for (uint64_t v = 1; v < 5000; v++) {
        uint64_t lo = hist_lowest_equiv(&h, v), hi = hist_highest_equiv(&h, v);
        assert_true(lo <= v && v <= hi);
        if (v < 2048)
            assert_int_equal(lo, hi);
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t v = 1 + rnd() % 60000000ULL;
        uint64_t lo = hist_lowest_equiv(&h, v), hi = hist_highest_equiv(&h, v);
        assert_true(lo <= v && v <= hi);
        assert_true((double)(hi - lo + 1) <= (double)v / 1000.0 + 1);
    }
    /* The top of the range is trackable. */
    hist_record(&h, 60000000ULL);
    assert_int_equal(h.clamped, 0);
    assert_int_equal(hist_percentile(&h, 100), 60000000ULL);
    hist_fini(&h);
}

static void test_percentiles_uniform(void **state)
{
    struct hist h;
    assert_int_equal(hist_init_default(&h), 0);
    for (uint64_t v = 1; v <= 10000; v++)
        hist_record(&h, v);
    const double ps[] = {50, 90, 99, 99.9, 99.99};
    const uint64_t exact[] = {5000, 9000, 9900, 9990, 9999};
    for (int i = 0; i < 5; i++) {
        uint64_t got = hist_percentile(&h, ps[i]);
        assert_true(got >= exact[i]);
        assert_true((double)(got - exact[i]) <= (double)exact[i] / 1000.0);
    }
    assert_int_equal(hist_percentile(&h, 100), 10000);
    assert_int_equal(h.min, 1);
    assert_int_equal(h.max, 10000);
    assert_true(fabs(hist_mean(&h) - 5000.5) < 1e-9);
    /* population stdev of 1..N = sqrt((N^2 - 1) / 12) */
    assert_true(fabs(hist_stdev(&h) - sqrt((1e8 - 1) / 12.0)) < 1e-6);
    hist_fini(&h);
}

static void test_percentiles_outlier(void **state)
{
    struct hist h;
    assert_int_equal(hist_init_default(&h), 0);
    for (int i = 0; i < 9999; i++)
        hist_record(&h, 1000);
    hist_record(&h, 1000000);
    /* ceil(0.9999 * 10000) = 9999 values reach 1000 µs: the outlier is only the max. */
    assert_int_equal(hist_percentile(&h, 50), 1000);
    assert_int_equal(hist_percentile(&h, 99.99), 1000);
    assert_int_equal(hist_percentile(&h, 100), 1000000);
    assert_int_equal(h.total, 10000);
    hist_fini(&h);
}

static void test_empty_and_clamp(void **state)
{
    struct hist h;
    assert_int_equal(hist_init_default(&h), 0);
    assert_int_equal(hist_percentile(&h, 99), 0);
    assert_true(hist_mean(&h) == 0);
    hist_record(&h, 0); /* counts in the lowest bucket */
    hist_record(&h, 120ULL * 1000 * 1000);
    assert_int_equal(h.total, 2);
    assert_int_equal(h.clamped, 1);
    assert_int_equal(h.max, 60000000ULL);
    assert_int_equal(hist_percentile(&h, 100), 60000000ULL);
    hist_reset(&h);
    assert_int_equal(h.total, 0);
    assert_int_equal(hist_percentile(&h, 50), 0);
    hist_fini(&h);
}

static void test_merge(void **state)
{
    struct hist a, b, all;
    assert_int_equal(hist_init_default(&a), 0);
    assert_int_equal(hist_init_default(&b), 0);
    assert_int_equal(hist_init_default(&all), 0);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = 1 + rnd() % 2000000;
        hist_record(i % 3 ? &a : &b, v);
        hist_record(&all, v);
    }
    assert_int_equal(hist_merge(&a, &b), 0);
    assert_int_equal(a.total, all.total);
    assert_int_equal(a.min, all.min);
    assert_int_equal(a.max, all.max);
    assert_memory_equal(a.counts, all.counts, all.n_counts * sizeof(uint64_t));
    const double ps[] = {50, 90, 99, 99.9, 99.99, 100};
    for (int i = 0; i < 6; i++)
        assert_int_equal(hist_percentile(&a, ps[i]), hist_percentile(&all, ps[i]));
    assert_true(fabs(hist_mean(&a) - hist_mean(&all)) < 1e-6);

    struct hist other;
    assert_int_equal(hist_init(&other, 1000, 2), 0);
    assert_int_equal(hist_merge(&a, &other), -RM_EINVAL); /* different layouts */
    hist_fini(&other);
    hist_fini(&a);
    hist_fini(&b);
    hist_fini(&all);
}

static void test_other_precisions(void **state)
{
    struct hist h;
    assert_int_equal(hist_init(&h, 1, 3), -RM_EINVAL);
    assert_int_equal(hist_init(&h, 1000, 0), -RM_EINVAL);
    for (int sig = 1; sig <= 5; sig++) {
        double tol = 1;
        for (int i = 0; i < sig; i++)
            tol /= 10;
        assert_int_equal(hist_init(&h, 3600ULL * 1000 * 1000, sig), 0);
        for (int i = 0; i < 20000; i++) {
            uint64_t v = 1 + rnd() % (3600ULL * 1000 * 1000);
            uint64_t lo = hist_lowest_equiv(&h, v), hi = hist_highest_equiv(&h, v);
            assert_true(lo <= v && v <= hi);
            assert_true((double)(hi - lo + 1) <= (double)v * tol + 1);
        }
        hist_fini(&h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precision),
        cmocka_unit_test(test_percentiles_uniform),
        cmocka_unit_test(test_percentiles_outlier),
        cmocka_unit_test(test_empty_and_clamp),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_other_precisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
