/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/report.c — remora-load's output: the human summary, the --json document (schema
 * "remora-load/1", documented in bench/README.md; fields are only ever added) and the live
 * progress line. Main thread only, after the workers were joined (progress: while running). */
#include "bench/load/load.h"

#include <stdio.h>
#include <string.h>

static const double pcts[] = {50, 90, 99, 99.9, 99.99};
static const char *const pct_keys[] = {"p50", "p90", "p99", "p99_9", "p99_99"};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9", "p99.99"};
#define N_PCTS 5

static const char *fmt_us(double us, char *buf, size_t n)
{
    if (us < 1000)
        snprintf(buf, n, "%.0fus", us);
    else if (us < 1e6)
        snprintf(buf, n, "%.2fms", us / 1e3);
    else
        snprintf(buf, n, "%.2fs", us / 1e6);
    return buf;
}

static const char *fmt_bytes(double b, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, n, u ? "%.2f %s" : "%.0f %s", b, units[u]);
    return buf;
}

static const char *mode_name(void)
{
    if (lopt.tcp)
        return "tcp";
    return lopt.h2 ? "http2" : "http1";
}

static void human_hist(const char *title, const struct hist *h)
{
    char a[32], b[32], c[32], d[32];
    if (h->total == 0)
        return;
    printf("  %-14s count %llu  min %s  mean %s  stdev %s  max %s\n", title,
           (unsigned long long)h->total, fmt_us((double)h->min, a, sizeof(a)),
           fmt_us(hist_mean(h), b, sizeof(b)), fmt_us(hist_stdev(h), c, sizeof(c)),
           fmt_us((double)h->max, d, sizeof(d)));
    printf("  %-14s", "");
    for (int i = 0; i < N_PCTS; i++)
        printf(" %s %s ", pct_names[i], fmt_us((double)hist_percentile(h, pcts[i]), a, sizeof(a)));
    printf("\n");
}

void report_human(const struct stats *s, double elapsed)
{
    char a[32], b[32], c[32];
    double el = elapsed > 0 ? elapsed : 1e-9;

    printf("remora-load: %s, %d connection%s, %d thread%s", mode_name(), lopt.conns,
           lopt.conns == 1 ? "" : "s", lopt.threads, lopt.threads == 1 ? "" : "s");
    if (lopt.h2)
        printf(", %d stream%s/conn", lopt.streams, lopt.streams == 1 ? "" : "s");
    if (!lopt.h2 && lopt.pipeline > 1)
        printf(", pipeline %d", lopt.pipeline);
    if (lopt.new_conn)
        printf(", new connection per request");
    if (lopt.rate > 0)
        printf(", open loop at %.0f req/s", lopt.rate);
    else if (!lopt.tcp)
        printf(", closed loop");
    printf("\n  measured %.3f s", elapsed);
    if (lopt.warmup > 0)
        printf(" after %.3f s warm-up", lopt.warmup);
    printf("\n");
    if (lopt.tcp) {
        printf("  sent          %s (%s/s)\n", fmt_bytes((double)s->tx_bytes, a, sizeof(a)),
               fmt_bytes((double)s->tx_bytes / el, b, sizeof(b)));
        printf("  received      %s (%s/s)\n", fmt_bytes((double)s->rx_bytes, a, sizeof(a)),
               fmt_bytes((double)s->rx_bytes / el, b, sizeof(b)));
        printf("  connections   %llu\n", (unsigned long long)s->conns);
    } else {
        printf("  requests      %llu responses, %.2f req/s, %llu failed\n",
               (unsigned long long)s->responses, (double)s->responses / el,
               (unsigned long long)s->req_errors);
        if (s->late)
            printf("  late          %llu requests due in the window were never sent (the target "
                   "is slower than -R)\n",
                   (unsigned long long)s->late);
        printf("  transfer      %s read (%s/s), %s written\n",
               fmt_bytes((double)s->rx_bytes, a, sizeof(a)),
               fmt_bytes((double)s->rx_bytes / el, b, sizeof(b)),
               fmt_bytes((double)s->tx_bytes, c, sizeof(c)));
        human_hist(lopt.rate > 0 ? "latency (CO-corrected)" : "latency", &s->lat);
        printf("  status       ");
        static const char *const cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
        for (int i = 1; i < 6; i++)
            if (s->status[i])
                printf(" %s %llu", cls[i], (unsigned long long)s->status[i]);
        if (s->status[0])
            printf(" other %llu", (unsigned long long)s->status[0]);
        printf("\n");
        if (lopt.check_status)
            printf("  check         status %d: %llu mismatch%s\n", lopt.check_status,
                   (unsigned long long)s->mismatches, s->mismatches == 1 ? "" : "es");
    }
    human_hist("connect", &s->connect);
    human_hist("tls handshake", &s->tls);
    if (lopt.tls && !lopt.insecure)
        printf("  tls verify    %llu chains in full, %llu from the cache, %llu failed\n",
               (unsigned long long)s->verify.full, (unsigned long long)s->verify.cached,
               (unsigned long long)s->verify.failed);
    uint64_t total = stats_errors(s);
    printf("  errors        %llu", (unsigned long long)total);
    for (int i = 0; i < ERR__N; i++)
        if (s->errors[i])
            printf("  %s %llu", err_kind_names[i], (unsigned long long)s->errors[i]);
    printf("\n");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_hist(const char *key, const struct hist *h)
{
    printf("\"%s\":{\"count\":%llu,\"min\":%llu,\"mean\":%.1f,\"stdev\":%.1f,\"max\":%llu", key,
           (unsigned long long)h->total, (unsigned long long)(h->total ? h->min : 0), hist_mean(h),
           hist_stdev(h), (unsigned long long)h->max);
    for (int i = 0; i < N_PCTS; i++)
        printf(",\"%s\":%llu", pct_keys[i], (unsigned long long)hist_percentile(h, pcts[i]));
    printf("}");
}

void report_json(const struct stats *s, double elapsed)
{
    double el = elapsed > 0 ? elapsed : 1e-9;
    uint64_t total = stats_errors(s);

    printf("{\"schema\":\"remora-load/1\",\"mode\":\"%s\",\"urls\":[", mode_name());
    for (unsigned i = 0; i < lopt.n_targets; i++) {
        if (i)
            putchar(',');
        printf("{\"url\":");
        json_str(lopt.targets[i].url);
        printf(",\"weight\":%u}", lopt.targets[i].weight);
    }
    printf("],\"connections\":%d,\"threads\":%d,\"streams\":%d,\"pipeline\":%d,"
           "\"new_conn\":%s,\"rate\":%.3f,\"warmup_s\":%.3f,\"duration_s\":%.6f,",
           lopt.conns, lopt.threads, lopt.h2 ? lopt.streams : 1, lopt.h2 ? 1 : lopt.pipeline,
           lopt.new_conn ? "true" : "false", lopt.rate, lopt.warmup, elapsed);
    printf("\"requests\":%llu,\"responses\":%llu,\"rps\":%.3f,",
           (unsigned long long)(s->responses + s->req_errors), (unsigned long long)s->responses,
           (double)s->responses / el);
    printf("\"rx_bytes\":%llu,\"tx_bytes\":%llu,\"rx_bytes_per_s\":%.1f,\"tx_bytes_per_s\":%.1f,",
           (unsigned long long)s->rx_bytes, (unsigned long long)s->tx_bytes,
           (double)s->rx_bytes / el, (double)s->tx_bytes / el);
    printf("\"late\":%llu,", (unsigned long long)s->late);
    printf("\"connections_opened\":%llu,", (unsigned long long)s->conns);
    json_hist("latency_us", &s->lat);
    putchar(',');
    json_hist("connect_us", &s->connect);
    putchar(',');
    json_hist("tls_handshake_us", &s->tls);
    printf(",\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu,"
           "\"other\":%llu}",
           (unsigned long long)s->status[1], (unsigned long long)s->status[2],
           (unsigned long long)s->status[3], (unsigned long long)s->status[4],
           (unsigned long long)s->status[5], (unsigned long long)s->status[0]);
    printf(",\"errors\":{\"total\":%llu,\"requests\":%llu", (unsigned long long)total,
           (unsigned long long)s->req_errors);
    for (int i = 0; i < ERR__N; i++)
        printf(",\"%s\":%llu", err_kind_names[i], (unsigned long long)s->errors[i]);
    printf("},\"check\":{\"status\":");
    if (lopt.check_status)
        printf("%d", lopt.check_status);
    else
        printf("null");
    printf(",\"mismatches\":%llu}", (unsigned long long)s->mismatches);
    printf(",\"tls_verify\":{\"full\":%llu,\"cached\":%llu,\"failed\":%llu}}\n",
           (unsigned long long)s->verify.full, (unsigned long long)s->verify.cached,
           (unsigned long long)s->verify.failed);
}

void report_progress(double t, uint64_t responses, uint64_t errors, double rps)
{
    fprintf(stderr, "\r[%6.1fs] %llu responses  %.0f req/s  %llu errors\x1b[K", t,
            (unsigned long long)responses, rps, (unsigned long long)errors);
    fflush(stderr);
}
