/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/stats.c — see stats.h. The registry is touched only by the main thread. */
#include "proxy/stats.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/err.h"
#include "proxy/hist.h"
#include "proxy/strbuf.h"

unsigned stats_n_slots = 1;
__thread unsigned stats_slot;

#define DEF_C(n) {#n, STAT_COUNTER},
#define DEF_G(n) {#n, STAT_GAUGE},
static const struct stat_def server_defs[] = {SERVER_STATS(DEF_C, DEF_G)};
static const struct stat_def cluster_defs[] = {CLUSTER_STATS(DEF_C, DEF_G)};
static const struct stat_def listener_defs[] = {LISTENER_STATS(DEF_C, DEF_G)};
static const struct stat_def tcp_defs[] = {TCP_STATS(DEF_C, DEF_G)};
#define DEF_SSL_C(n) {"ssl." #n, STAT_COUNTER},
static const struct stat_def ssl_defs[] = {LISTENER_SSL_STATS(DEF_SSL_C, DEF_G)};
#undef DEF_SSL_C
static const struct stat_def cm_defs[] = {CLUSTER_MANAGER_STATS(DEF_C, DEF_G)};
static const struct stat_def lm_defs[] = {LISTENER_MANAGER_STATS(DEF_C, DEF_G)};
static const struct stat_def host_defs[] = {HOST_STATS(DEF_C, DEF_G)};
static const struct stat_def http_defs[] = {HTTP_STATS(DEF_C, DEF_G)};
static const struct stat_def runtime_defs[] = {RUNTIME_STATS(DEF_C, DEF_G)};
#undef DEF_C
#undef DEF_G

#define COUNT(a) (uint32_t)(sizeof(a) / sizeof((a)[0]))

/* Per kind: stat list, Envoy prefix, Prometheus tag name (NULL for singletons). */
static const struct {
    const struct stat_def *defs;
    uint32_t n;
    const char *prefix;
    const char *tag;
} kinds[] = {
    [STATS_SERVER] = {server_defs, COUNT(server_defs), "server", NULL},
    [STATS_CLUSTER] = {cluster_defs, COUNT(cluster_defs), "cluster", "envoy_cluster_name"},
    [STATS_LISTENER] = {listener_defs, COUNT(listener_defs), "listener", "envoy_listener_address"},
    [STATS_TCP] = {tcp_defs, COUNT(tcp_defs), "tcp", "envoy_tcp_prefix"},
    [STATS_CLUSTER_MANAGER] = {cm_defs, COUNT(cm_defs), "cluster_manager", NULL},
    [STATS_LISTENER_MANAGER] = {lm_defs, COUNT(lm_defs), "listener_manager", NULL},
    [STATS_HOST] = {host_defs, COUNT(host_defs), "host", NULL},
    [STATS_HTTP] = {http_defs, COUNT(http_defs), "http", "envoy_http_conn_manager_prefix"},
    [STATS_RUNTIME] = {runtime_defs, COUNT(runtime_defs), "runtime", NULL},
    [STATS_LISTENER_SSL] = {ssl_defs, COUNT(ssl_defs), "listener", "envoy_listener_address"},
};

static struct stats_block *registry;

void stats_init(unsigned n_workers)
{
    stats_n_slots = n_workers + 1;
}

void stats_fini(void)
{
    hist_fini_all();
    while (registry) {
        struct stats_block *b = registry;
        registry = b->next;
        stats_block_free(b);
    }
}

static struct stats_block *block_new(enum stats_kind kind, const char *name)
{
    size_t nvals = (size_t)stats_n_slots * kinds[kind].n;
    struct stats_block *b = calloc(1, sizeof(*b) + nvals * sizeof(uint64_t));
    if (!b)
        return NULL;
    b->name = strdup(name ? name : "");
    if (!b->name) {
        free(b);
        return NULL;
    }
    b->kind = kind;
    b->defs = kinds[kind].defs;
    b->n = kinds[kind].n;
    return b;
}

struct stats_block *stats_block_get(enum stats_kind kind, const char *name)
{
    if (!name)
        name = "";
    for (struct stats_block *b = registry; b; b = b->next)
        if (b->kind == kind && strcmp(b->name, name) == 0)
            return b;
    struct stats_block *b = block_new(kind, name);
    if (!b)
        return NULL;
    b->next = registry;
    registry = b;
    return b;
}

struct stats_block *stats_host_block_new(void)
{
    return block_new(STATS_HOST, "");
}

void stats_block_free(struct stats_block *b)
{
    if (!b)
        return;
    free(b->name);
    free(b);
}

void stats_gauge_set(struct stats_block *b, unsigned id, int64_t v)
{
    int64_t others =
        stats_value(b, id) - (int64_t)__atomic_load_n(stats_cell(b, 0, id), __ATOMIC_RELAXED);
    __atomic_store_n(stats_cell(b, 0, id), (uint64_t)(v - others), __ATOMIC_RELAXED);
}

int stats_cluster_code_id(int status)
{
    switch (status) {
#define X(c)                                                                                       \
    case c:                                                                                        \
        return CLUSTER_upstream_rq_##c;
        STATS_RESPONSE_CODES(X)
#undef X
    default:
        return -1;
    }
}

/* upstream_rq_<3 digits>: created lazily in Envoy, so shown only once non-zero. */
static bool is_lazy_code_stat(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && name[n - 4] == '_' && name[n - 3] >= '1' && name[n - 3] <= '5' &&
           name[n - 2] >= '0' && name[n - 2] <= '9' && name[n - 1] >= '0' && name[n - 1] <= '9';
}

int64_t stats_value(const struct stats_block *b, unsigned id)
{
    uint64_t sum = 0;
    for (unsigned s = 0; s < stats_n_slots; s++)
        sum += __atomic_load_n(&b->vals[(size_t)s * b->n + id], __ATOMIC_RELAXED);
    return (int64_t)sum;
}

void stats_full_name(const struct stats_block *b, unsigned id, char *out, size_t cap)
{
    if (b->name[0])
        snprintf(out, cap, "%s.%s.%s", kinds[b->kind].prefix, b->name, b->defs[id].name);
    else
        snprintf(out, cap, "%s.%s", kinds[b->kind].prefix, b->defs[id].name);
}

/* ---- rendering ------------------------------------------------------------------------- */

struct stat_row {
    const struct stats_block *b;
    unsigned id;
    char *name; /* full Envoy name (text/json) or Prometheus metric name */
    int64_t val;
    char code_class; /* Prometheus: '1'..'5' for *_Nxx stats (envoy_response_code_class) */
    char code[4];    /* Prometheus: "200" for *_rq_200 stats (envoy_response_code) */
};

static int cmp_rows(const void *a, const void *b)
{
    const struct stat_row *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return strcmp(x->b->name, y->b->name);
}

/* Collects the rows that pass |filter| (matched against the full Envoy name, as Envoy does
 * even for Prometheus output). Returns the number of rows, or -1 (message in |out|). */
/* The ?filter= regex comes from whoever reaches the admin port: PCRE2 with match and depth
 * limits, so no pattern can blow the stack or spin (glibc's regexec can do both). */
struct stat_filter {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mc;
};

static void filter_free(struct stat_filter *f)
{
    pcre2_match_data_free(f->md);
    pcre2_match_context_free(f->mc);
    pcre2_code_free(f->code);
}

static int filter_compile(struct stat_filter *f, const char *re, struct strbuf *out)
{
    int err;
    PCRE2_SIZE off;
    memset(f, 0, sizeof(*f));
    f->code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!f->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        sb_printf(out, "Invalid regex: \"%s\": %s at offset %zu\n", re, (const char *)msg,
                  (size_t)off);
        return -1;
    }
    f->md = pcre2_match_data_create_from_pattern(f->code, NULL);
    f->mc = pcre2_match_context_create(NULL);
    if (!f->md || !f->mc) {
        filter_free(f);
        sb_puts(out, "out of memory\n");
        return -1;
    }
    pcre2_set_match_limit(f->mc, 100000);
    pcre2_set_depth_limit(f->mc, 1000);
    return 0;
}

static bool filter_match(struct stat_filter *f, const char *s)
{
    /* Partial match, as Envoy's std::regex_search; a limit hit counts as no match. */
    return pcre2_match(f->code, (PCRE2_SPTR)s, strlen(s), 0, 0, f->md, f->mc) >= 0;
}

static bool hist_filter_cb(void *ctx, const char *name)
{
    return !ctx || filter_match(ctx, name);
}

/* Histograms after the counters and gauges, through the same ?filter=. */
static void render_hists(struct strbuf *out, const char *filter, bool used_only, int fmt)
{
    struct stat_filter re;
    bool have = filter && *filter;
    if (have && filter_compile(&re, filter, out) < 0)
        return;
    if (fmt == 0)
        hist_render_text(out, hist_filter_cb, have ? &re : NULL, used_only);
    else if (fmt == 1)
        hist_render_json(out, hist_filter_cb, have ? &re : NULL, used_only);
    else
        hist_render_prometheus(out, hist_filter_cb, have ? &re : NULL, used_only);
    if (have)
        filter_free(&re);
}

static long collect(struct stat_row **rows_out, const char *filter, bool used_only, bool prom,
                    struct strbuf *out)
{
    struct stat_filter re;
    if (filter && *filter && filter_compile(&re, filter, out) < 0)
        return -1;
    size_t cap = 64, n = 0;
    struct stat_row *rows = malloc(cap * sizeof(*rows));
    if (!rows)
        goto oom;
    for (struct stats_block *b = registry; b; b = b->next) {
        for (unsigned id = 0; id < b->n; id++) {
            char name[512];
            stats_full_name(b, id, name, sizeof(name));
            if (filter && *filter && !filter_match(&re, name))
                continue;
            int64_t v = stats_value(b, id);
            if ((used_only || is_lazy_code_stat(b->defs[id].name)) && v == 0)
                continue;
            char code_class = 0, code[4] = "";
            if (prom) {
                const char *p = kinds[b->kind].prefix;
                snprintf(name, sizeof(name), "envoy_%s_%s", p, b->defs[id].name);
                for (char *c = name; *c; c++)
                    if (*c == '.' || *c == '-')
                        *c = '_';
                /* Envoy's default tag extraction: upstream_rq_2xx →
                 * upstream_rq_xx{envoy_response_code_class="2"}. */
                size_t nl = strlen(name);
                if (nl > 4 && name[nl - 4] == '_' && name[nl - 3] >= '1' && name[nl - 3] <= '5' &&
                    name[nl - 2] == 'x' && name[nl - 1] == 'x') {
                    code_class = name[nl - 3];
                    memmove(name + nl - 3, name + nl - 2, 3);
                } else if (is_lazy_code_stat(name)) {
                    memcpy(code, name + nl - 3, 4); /* upstream_rq_200 → upstream_rq{code} */
                    name[nl - 4] = '\0';
                }
            }
            if (n == cap) {
                cap *= 2;
                struct stat_row *nr = realloc(rows, cap * sizeof(*rows));
                if (!nr)
                    goto oom;
                rows = nr;
            }
            rows[n].b = b;
            rows[n].id = id;
            rows[n].val = v;
            rows[n].code_class = code_class;
            memcpy(rows[n].code, code, sizeof(code));
            rows[n].name = strdup(name);
            if (!rows[n].name)
                goto oom;
            n++;
        }
    }
    if (filter && *filter)
        filter_free(&re);
    qsort(rows, n, sizeof(*rows), cmp_rows);
    *rows_out = rows;
    return (long)n;
oom:
    if (filter && *filter)
        filter_free(&re);
    for (size_t i = 0; i < n; i++)
        free(rows[i].name);
    free(rows);
    sb_puts(out, "out of memory\n");
    return -1;
}

static void free_rows(struct stat_row *rows, long n)
{
    for (long i = 0; i < n; i++)
        free(rows[i].name);
    free(rows);
}

int stats_render_text(struct strbuf *out, const char *filter, bool used_only)
{
    struct stat_row *rows;
    long n = collect(&rows, filter, used_only, false, out);
    if (n < 0)
        return -RM_EINVAL;
    for (long i = 0; i < n; i++)
        sb_printf(out, "%s: %lld\n", rows[i].name, (long long)rows[i].val);
    free_rows(rows, n);
    render_hists(out, filter, used_only, 0);
    return 0;
}

int stats_render_json(struct strbuf *out, const char *filter, bool used_only)
{
    struct stat_row *rows;
    long n = collect(&rows, filter, used_only, false, out);
    if (n < 0)
        return -RM_EINVAL;
    sb_puts(out, "{\"stats\":[");
    for (long i = 0; i < n; i++) {
        sb_puts(out, i ? ",{\"name\":" : "{\"name\":");
        sb_json_str(out, rows[i].name, strlen(rows[i].name));
        sb_printf(out, ",\"value\":%lld}", (long long)rows[i].val);
    }
    if (n)
        sb_putc(out, ',');
    render_hists(out, filter, used_only, 1); /* Envoy: the last element of "stats" */
    sb_puts(out, "]}\n");
    free_rows(rows, n);
    return 0;
}

/* Prometheus label values escape backslash, double quote and newline. */
static void prom_label_value(struct strbuf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sb_putc(out, '\\');
        if (*v == '\n') {
            sb_puts(out, "\\n");
            continue;
        }
        sb_putc(out, *v);
    }
}

int stats_render_prometheus(struct strbuf *out, const char *filter, bool used_only)
{
    struct stat_row *rows;
    long n = collect(&rows, filter, used_only, true, out);
    if (n < 0)
        return -RM_EINVAL;
    const char *last = "";
    for (long i = 0; i < n; i++) {
        const struct stats_block *b = rows[i].b;
        if (strcmp(last, rows[i].name) != 0) {
            sb_printf(out, "# TYPE %s %s\n", rows[i].name,
                      b->defs[rows[i].id].type == STAT_COUNTER ? "counter" : "gauge");
            last = rows[i].name;
        }
        sb_puts(out, rows[i].name);
        sb_putc(out, '{');
        if (rows[i].code_class)
            sb_printf(out, "envoy_response_code_class=\"%c\"%s", rows[i].code_class,
                      kinds[b->kind].tag ? "," : "");
        if (rows[i].code[0])
            sb_printf(out, "envoy_response_code=\"%s\"%s", rows[i].code,
                      kinds[b->kind].tag ? "," : "");
        if (kinds[b->kind].tag) {
            sb_printf(out, "%s=\"", kinds[b->kind].tag);
            prom_label_value(out, b->name);
            sb_putc(out, '"');
        }
        sb_putc(out, '}');
        sb_printf(out, " %lld\n", (long long)rows[i].val);
    }
    free_rows(rows, n);
    render_hists(out, filter, used_only, 2);
    return 0;
}
