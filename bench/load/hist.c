/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/hist.c — see hist.h. The bucket layout is HdrHistogram's (Gil Tene): bucket 0 holds
 * sub_bucket_count values at unit resolution; each later bucket doubles the range and the step,
 * and only its upper half is stored. A value's relative error is below 1 / sub_half_count,
 * which for 3 digits (sub_bucket_count 2048) is < 0.05% — inside 3 significant digits. */
#include "bench/load/hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/err.h"

static int bucket_of(const struct hist *h, uint64_t v)
{
    /* Position of the highest set bit of (v | mask), minus the bits the first bucket covers. */
    int pow2ceil = 64 - __builtin_clzll(v | h->sub_mask);
    return pow2ceil - (h->sub_half_mag + 1);
}

static uint32_t index_of(const struct hist *h, uint64_t v)
{
    int b = bucket_of(h, v);
    uint32_t sub = (uint32_t)(v >> b);
    return ((uint32_t)(b + 1) << h->sub_half_mag) + (sub - h->sub_half_count);
}

static uint64_t value_at(const struct hist *h, uint32_t idx)
{
    int b = (int)(idx >> h->sub_half_mag) - 1;
    uint32_t sub = (idx & (h->sub_half_count - 1)) + h->sub_half_count;
    if (b < 0) {
        sub -= h->sub_half_count;
        b = 0;
    }
    return (uint64_t)sub << b;
}

int hist_init(struct hist *h, uint64_t highest, int sig)
{
    memset(h, 0, sizeof(*h));
    if (sig < 1 || sig > 5 || highest < 2)
        return -RM_EINVAL;
    /* Enough sub-buckets to tell apart values one unit of the last digit apart:
     * 2 * 10^sig, rounded up to a power of two (HdrHistogram's rule). */
    uint64_t largest_single_unit = 2;
    for (int i = 0; i < sig; i++)
        largest_single_unit *= 10;
    int mag = 0;
    while ((1ULL << mag) < largest_single_unit)
        mag++;
    h->sub_half_mag = mag - 1;
    h->sub_half_count = 1u << (mag - 1);
    h->sub_mask = (1ULL << mag) - 1;
    /* Buckets needed until the range covers |highest|. */
    int buckets = 1;
    uint64_t smallest_untrackable = 1ULL << mag;
    while (smallest_untrackable <= highest) {
        if (smallest_untrackable > (UINT64_MAX >> 1)) {
            buckets++;
            break;
        }
        smallest_untrackable <<= 1;
        buckets++;
    }
    h->n_counts = (uint32_t)(buckets + 1) * h->sub_half_count;
    h->highest = highest;
    h->counts = calloc(h->n_counts, sizeof(uint64_t));
    if (!h->counts)
        return -RM_ENOMEM;
    h->min = UINT64_MAX;
    return 0;
}

int hist_init_default(struct hist *h)
{
    return hist_init(h, 60ULL * 1000 * 1000, 3);
}

void hist_fini(struct hist *h)
{
    free(h->counts);
    memset(h, 0, sizeof(*h));
}

void hist_reset(struct hist *h)
{
    memset(h->counts, 0, h->n_counts * sizeof(uint64_t));
    h->total = h->clamped = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum = h->sumsq = 0;
}

void hist_record(struct hist *h, uint64_t v)
{
    if (v > h->highest) {
        v = h->highest;
        h->clamped++;
    }
    uint32_t i = index_of(h, v);
    if (i >= h->n_counts)
        i = h->n_counts - 1;
    h->counts[i]++;
    h->total++;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->sum += (double)v;
    h->sumsq += (double)v * (double)v;
}

int hist_merge(struct hist *dst, const struct hist *src)
{
    if (dst->n_counts != src->n_counts || dst->sub_half_mag != src->sub_half_mag)
        return -RM_EINVAL;
    for (uint32_t i = 0; i < src->n_counts; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->clamped += src->clamped;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->sum += src->sum;
    dst->sumsq += src->sumsq;
    return 0;
}

uint64_t hist_lowest_equiv(const struct hist *h, uint64_t v)
{
    return value_at(h, index_of(h, v));
}

uint64_t hist_highest_equiv(const struct hist *h, uint64_t v)
{
    int b = bucket_of(h, v);
    /* Values in the first bucket are exact; later ones share a 2^b-wide step. */
    uint64_t size = 1ULL << b;
    return hist_lowest_equiv(h, v) + size - 1;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p > 100)
        p = 100;
    double want_d = ceil(p / 100.0 * (double)h->total);
    uint64_t want = want_d < 1 ? 1 : (uint64_t)want_d;
    if (want > h->total)
        want = h->total;
    uint64_t acc = 0;
    for (uint32_t i = 0; i < h->n_counts; i++) {
        acc += h->counts[i];
        if (acc >= want) {
            uint64_t v = hist_highest_equiv(h, value_at(h, i));
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->total ? h->sum / (double)h->total : 0;
}

double hist_stdev(const struct hist *h)
{
    if (h->total < 2)
        return 0;
    double m = hist_mean(h);
    double var = h->sumsq / (double)h->total - m * m;
    return var > 0 ? sqrt(var) : 0;
}
