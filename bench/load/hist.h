/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/hist.h — HDR-style latency histogram: log-linear buckets that keep |sig| significant
 * decimal digits over [1, highest] (unit: µs in remora-load, so 1 µs .. 60 s). Each worker
 * thread records into its own histogram; the main thread merges them at the end. Memory is
 * fixed at init (about 140 KiB for 3 digits and 60 s); recording never allocates. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdbool.h>
#include <stdint.h>

struct hist {
    uint64_t *counts; /* n_counts buckets */
    uint32_t n_counts;
    uint64_t highest;        /* largest trackable value; larger values are clamped to it */
    int sub_half_mag;        /* log2(sub_bucket_count / 2) */
    uint32_t sub_half_count; /* sub_bucket_count / 2 */
    uint64_t sub_mask;       /* sub_bucket_count - 1 */
    uint64_t total;          /* values recorded */
    uint64_t clamped;        /* values above |highest| (recorded as |highest|) */
    uint64_t min, max;       /* exact extremes of the recorded (clamped) values; min = UINT64_MAX
                                when empty */
    double sum, sumsq;       /* exact moments for mean and stdev */
};

/* Sets up an empty histogram for values 1..|highest| with |sig| (1..5) significant digits.
 * Returns 0, -RM_EINVAL or -RM_ENOMEM. */
int hist_init(struct hist *h, uint64_t highest, int sig);
/* The remora-load default: 1 µs .. 60 s, 3 significant digits. */
int hist_init_default(struct hist *h);
void hist_fini(struct hist *h);
void hist_reset(struct hist *h);
/* Records |v| (0 counts as the lowest bucket; above highest is clamped). */
void hist_record(struct hist *h, uint64_t v);
/* Adds |src| into |dst|; both must have been initialised with the same parameters. Returns 0 or
 * -RM_EINVAL. */
int hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile |p| (0..100]: the smallest recorded bucket whose cumulative count
 * reaches ceil(p/100 * total), reported as the bucket's highest equivalent value but never above
 * the exact max. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);
double hist_stdev(const struct hist *h);
/* Bucket bounds of |v|: every value in [lowest, highest] is recorded in the same bucket. */
uint64_t hist_lowest_equiv(const struct hist *h, uint64_t v);
uint64_t hist_highest_equiv(const struct hist *h, uint64_t v);

#endif
