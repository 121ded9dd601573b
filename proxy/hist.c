/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/hist.c — see hist.h. */
#include "proxy/hist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/strbuf.h"

static const double bounds[HIST_NBOUNDS] = {0.5,   1,      5,      10,      25,     50,    100,
                                            250,   500,    1000,   2500,    5000,   10000, 30000,
                                            60000, 300000, 600000, 1800000, 3600000};
static const double quantiles[] = {0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1};
static const char *const quantile_names[] = {"P0",  "P25", "P50",   "P75",   "P90",
                                             "P95", "P99", "P99.5", "P99.9", "P100"};
#define NQ (sizeof(quantiles) / sizeof(quantiles[0]))
#define ROW (HIST_NBOUNDS + 2) /* counts (+Inf last), then the sum in µs */

static struct hist *all;

struct hist *hist_get(enum stats_kind kind, const char *name, const char *stat)
{
    for (struct hist *h = all; h; h = h->next)
        if (h->kind == kind && strcmp(h->name, name) == 0 && strcmp(h->stat, stat) == 0)
            return h;
    struct hist *h = calloc(1, sizeof(*h) + (size_t)stats_n_slots * ROW * sizeof(uint64_t));
    if (!h)
        return NULL;
    h->name = strdup(name ? name : "");
    if (!h->name) {
        free(h);
        return NULL;
    }
    h->kind = kind;
    h->stat = stat;
    h->next = all;
    all = h;
    return h;
}

void hist_fini_all(void)
{
    while (all) {
        struct hist *h = all;
        all = h->next;
        free(h->name);
        free(h);
    }
}

void hist_record(struct hist *h, double ms)
{
    if (!h)
        return;
    unsigned b = 0;
    while (b < HIST_NBOUNDS && ms > bounds[b])
        b++;
    uint64_t *row = &h->vals[(size_t)stats_slot * ROW];
    __atomic_store_n(&row[b], __atomic_load_n(&row[b], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    uint64_t us = ms > 0 ? (uint64_t)(ms * 1000.0) : 0;
    __atomic_store_n(&row[ROW - 1], __atomic_load_n(&row[ROW - 1], __ATOMIC_RELAXED) + us,
                     __ATOMIC_RELAXED);
}

/* Sums the rows: counts[HIST_NBOUNDS + 1], total count, sum in µs. */
static uint64_t merged(const struct hist *h, uint64_t *counts, uint64_t *sum_us)
{
    uint64_t total = 0;
    memset(counts, 0, (HIST_NBOUNDS + 1) * sizeof(*counts));
    *sum_us = 0;
    for (unsigned s = 0; s < stats_n_slots; s++) {
        const uint64_t *row = &h->vals[(size_t)s * ROW];
        for (unsigned b = 0; b <= HIST_NBOUNDS; b++) {
            uint64_t v = __atomic_load_n(&row[b], __ATOMIC_RELAXED);
            counts[b] += v;
            total += v;
        }
        *sum_us += __atomic_load_n(&row[ROW - 1], __ATOMIC_RELAXED);
    }
    return total;
}

/* The q-quantile, interpolated linearly inside its bucket (the +Inf bucket reports its lower
 * bound). */
static double quantile(const uint64_t *counts, uint64_t total, double q)
{
    double target = q * (double)total, seen = 0;
    for (unsigned b = 0; b <= HIST_NBOUNDS; b++) {
        if (counts[b] == 0)
            continue;
        if (seen + (double)counts[b] >= target) {
            double lo = b ? bounds[b - 1] : 0, hi = b < HIST_NBOUNDS ? bounds[b] : lo;
            double frac = counts[b] ? (target - seen) / (double)counts[b] : 0;
            return lo + (hi - lo) * frac;
        }
        seen += (double)counts[b];
    }
    return bounds[HIST_NBOUNDS - 1];
}

static const char *kind_prefix(enum stats_kind k)
{
    switch (k) {
    case STATS_CLUSTER:
        return "cluster";
    case STATS_LISTENER:
        return "listener";
    case STATS_HTTP:
        return "http";
    case STATS_TCP:
        return "tcp";
    default:
        return "server";
    }
}

static const char *kind_tag(enum stats_kind k)
{
    switch (k) {
    case STATS_CLUSTER:
        return "envoy_cluster_name";
    case STATS_LISTENER:
        return "envoy_listener_address";
    case STATS_HTTP:
        return "envoy_http_conn_manager_prefix";
    case STATS_TCP:
        return "envoy_tcp_prefix";
    default:
        return NULL;
    }
}

static void full_name(const struct hist *h, char *out, size_t cap)
{
    if (h->name[0])
        snprintf(out, cap, "%s.%s.%s", kind_prefix(h->kind), h->name, h->stat);
    else
        snprintf(out, cap, "%s.%s", kind_prefix(h->kind), h->stat);
}

/* Sorted list of the histograms passing the filter (a few dozen at most). */
static size_t select_sorted(struct hist **v, size_t cap, hist_filter_fn f, void *ctx,
                            bool used_only)
{
    size_t n = 0;
    for (struct hist *h = all; h && n < cap; h = h->next) {
        char name[512];
        full_name(h, name, sizeof(name));
        if (f && !f(ctx, name))
            continue;
        uint64_t counts[HIST_NBOUNDS + 1], sum;
        if (used_only && merged(h, counts, &sum) == 0)
            continue;
        v[n++] = h;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort by full name */
        for (size_t j = i; j > 0; j--) {
            char a[512], b[512];
            full_name(v[j - 1], a, sizeof(a));
            full_name(v[j], b, sizeof(b));
            if (strcmp(a, b) <= 0)
                break;
            struct hist *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n;
}

#define MAX_LIST 4096

static void fmt_q(struct strbuf *out, double v)
{
    if (v == floor(v))
        sb_printf(out, "%.0f", v);
    else
        sb_printf(out, "%.6g", v);
}

void hist_render_text(struct strbuf *out, hist_filter_fn f, void *ctx, bool used_only)
{
    struct hist **v = malloc(MAX_LIST * sizeof(*v));
    if (!v)
        return;
    size_t n = select_sorted(v, MAX_LIST, f, ctx, used_only);
    for (size_t i = 0; i < n; i++) {
        char name[512];
        full_name(v[i], name, sizeof(name));
        uint64_t counts[HIST_NBOUNDS + 1], sum;
        uint64_t total = merged(v[i], counts, &sum);
        sb_printf(out, "%s: ", name);
        if (total == 0) {
            sb_puts(out, "No recorded values\n");
            continue;
        }
        for (size_t q = 0; q < NQ; q++) {
            /* Envoy prints interval,cumulative; Remora keeps no flush interval: "nan". */
            sb_printf(out, "%s%s(nan,", q ? " " : "", quantile_names[q]);
            fmt_q(out, quantile(counts, total, quantiles[q]));
            sb_putc(out, ')');
        }
        sb_putc(out, '\n');
    }
    free(v);
}

void hist_render_json(struct strbuf *out, hist_filter_fn f, void *ctx, bool used_only)
{
    struct hist **v = malloc(MAX_LIST * sizeof(*v));
    if (!v)
        return;
    size_t n = select_sorted(v, MAX_LIST, f, ctx, used_only);
    sb_puts(out, "{\"histograms\":{\"supported_quantiles\":[0,25,50,75,90,95,99,99.5,99.9,100],"
                 "\"computed_quantiles\":[");
    for (size_t i = 0; i < n; i++) {
        char name[512];
        full_name(v[i], name, sizeof(name));
        uint64_t counts[HIST_NBOUNDS + 1], sum;
        uint64_t total = merged(v[i], counts, &sum);
        sb_puts(out, i ? ",{\"name\":" : "{\"name\":");
        sb_json_str(out, name, strlen(name));
        sb_puts(out, ",\"values\":[");
        for (size_t q = 0; q < NQ; q++) {
            sb_puts(out, q ? ",{\"interval\":null,\"cumulative\":"
                           : "{\"interval\":null,"
                             "\"cumulative\":");
            if (total)
                fmt_q(out, quantile(counts, total, quantiles[q]));
            else
                sb_puts(out, "null");
            sb_putc(out, '}');
        }
        sb_puts(out, "]}");
    }
    sb_puts(out, "]}}");
    free(v);
}

void hist_render_prometheus(struct strbuf *out, hist_filter_fn f, void *ctx, bool used_only)
{
    struct hist **v = malloc(MAX_LIST * sizeof(*v));
    if (!v)
        return;
    size_t n = select_sorted(v, MAX_LIST, f, ctx, used_only);
    const char *last = NULL;
    char metric[512];
    for (size_t i = 0; i < n; i++) {
        const struct hist *h = v[i];
        snprintf(metric, sizeof(metric), "envoy_%s_%s", kind_prefix(h->kind), h->stat);
        if (!last || strcmp(last, h->stat) != 0 || v[i - 1]->kind != h->kind)
            sb_printf(out, "# TYPE %s histogram\n", metric);
        last = h->stat;
        uint64_t counts[HIST_NBOUNDS + 1], sum;
        uint64_t total = merged(h, counts, &sum);
        const char *tag = kind_tag(h->kind);
        char label[600] = "";
        if (tag)
            snprintf(label, sizeof(label), "%s=\"%s\"", tag, h->name);
        uint64_t cum = 0;
        for (unsigned b = 0; b <= HIST_NBOUNDS; b++) {
            cum += counts[b];
            sb_printf(out, "%s_bucket{%s%sle=\"", metric, label, tag ? "," : "");
            if (b < HIST_NBOUNDS)
                fmt_q(out, bounds[b]);
            else
                sb_puts(out, "+Inf");
            sb_printf(out, "\"} %llu\n", (unsigned long long)cum);
        }
        sb_printf(out, "%s_sum{%s} ", metric, label);
        fmt_q(out, (double)sum / 1000.0);
        sb_printf(out, "\n%s_count{%s} %llu\n", metric, label, (unsigned long long)total);
    }
    free(v);
}
