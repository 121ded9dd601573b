/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/hist.h — Envoy-style histograms (cluster.<c>.upstream_rq_time,
 * http.<p>.downstream_rq_time, ...): fixed buckets with Envoy's default bounds in ms, one
 * row of counts per thread (no atomics on the data path, summed on read like stats.c).
 * /stats prints Envoy's quantile line P0..P100 (interpolated within buckets),
 * /stats?format=json the computed_quantiles, /stats/prometheus cumulative _bucket lines with
 * _sum and _count. Created on the main thread, live until exit. */
#ifndef RM_HIST_H
#define RM_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/stats.h"

struct strbuf;

/* Envoy's default histogram bucket bounds (ms): 0.5 1 5 10 25 50 100 250 500 1000 2500
 * 5000 10000 30000 60000 300000 600000 1800000 3600000, plus +Inf. */
#define HIST_NBOUNDS 19

struct hist {
    struct hist *next;
    enum stats_kind kind; /* for the prefix and the Prometheus tag */
    char *name;           /* tag value, as a stats block's name */
    const char *stat;     /* "upstream_rq_time" */
    uint64_t vals[];      /* stats_n_slots rows of (HIST_NBOUNDS + 1 counts, sum in µs) */
};

/* Returns the histogram |stat| of entity |kind|/|name|, creating it (main thread only).
 * NULL on allocation failure. */
struct hist *hist_get(enum stats_kind kind, const char *name, const char *stat);
void hist_fini_all(void);

/* Records |ms| (may be fractional) in this thread's row. */
void hist_record(struct hist *h, double ms);

/* Renderers used by stats.c: append every histogram matching |filter| (a PCRE2 match
 * callback over the full name) in the given format. */
typedef bool (*hist_filter_fn)(void *ctx, const char *full_name);
void hist_render_text(struct strbuf *out, hist_filter_fn f, void *ctx, bool used_only);
void hist_render_json(struct strbuf *out, hist_filter_fn f, void *ctx, bool used_only);
void hist_render_prometheus(struct strbuf *out, hist_filter_fn f, void *ctx, bool used_only);

#endif
