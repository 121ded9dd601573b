/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/stats_test.c — per-thread rows summed on read, names, renderings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "proxy/hist.h"
#include "proxy/stats.h"
#include "proxy/strbuf.h"

static int setup(void **state)
{
    (void)state;
    stats_init(2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stats_fini();
    return 0;
}

static void block_is_shared_by_name(void **state)
{
    (void)state;
    struct stats_block *a = stats_block_get(STATS_CLUSTER, "web");
    struct stats_block *b = stats_block_get(STATS_CLUSTER, "web");
    struct stats_block *c = stats_block_get(STATS_CLUSTER, "db");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    char name[128];
    stats_full_name(a, CLUSTER_upstream_cx_total, name, sizeof(name));
    assert_string_equal(name, "cluster.web.upstream_cx_total");
    struct stats_block *s = stats_block_get(STATS_SERVER, "");
    stats_full_name(s, SERVER_live, name, sizeof(name));
    assert_string_equal(name, "server.live");
}

static struct stats_block *shared;

static void *worker(void *arg)
{
    stats_slot = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 100000; i++) {
        stats_inc(shared, CLUSTER_upstream_cx_total);
        stats_inc(shared, CLUSTER_upstream_cx_active);
        stats_dec(shared, CLUSTER_upstream_cx_active);
    }
    stats_inc(shared, CLUSTER_upstream_cx_active);
    return NULL;
}

static void rows_sum_across_threads(void **state)
{
    (void)state;
    shared = stats_block_get(STATS_CLUSTER, "busy");
    pthread_t t1, t2;
    pthread_create(&t1, NULL, worker, (void *)1);
    pthread_create(&t2, NULL, worker, (void *)2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_int_equal(stats_value(shared, CLUSTER_upstream_cx_total), 200000);
    /* A gauge incremented on one thread and decremented on another still sums right. */
    assert_int_equal(stats_value(shared, CLUSTER_upstream_cx_active), 2);
    stats_slot = 0;
    stats_gauge_set(shared, CLUSTER_upstream_cx_active, 7);
    assert_int_equal(stats_value(shared, CLUSTER_upstream_cx_active), 7);
}

static void text_json_prometheus(void **state)
{
    (void)state;
    stats_slot = 0;
    struct stats_block *b = stats_block_get(STATS_CLUSTER, "x");
    stats_add(b, CLUSTER_upstream_cx_total, 3);
    struct stats_block *l = stats_block_get(STATS_LISTENER, "127.0.0.1_80");
    stats_inc(l, LISTENER_downstream_cx_total);
    struct strbuf sb;
    sb_init(&sb);
    assert_int_equal(stats_render_text(&sb, "^cluster\\.x\\.upstream_cx_total$", false), 0);
    assert_string_equal(sb.data, "cluster.x.upstream_cx_total: 3\n");
    sb_reset(&sb);
    assert_int_equal(stats_render_json(&sb, "cx_total$", true), 0);
    assert_string_equal(sb.data,
                        "{\"stats\":[{\"name\":\"cluster.x.upstream_cx_total\",\"value\":3},"
                        "{\"name\":\"listener.127.0.0.1_80.downstream_cx_total\","
                        "\"value\":1},{\"histograms\":{\"supported_quantiles\":"
                        "[0,25,50,75,90,95,99,99.5,99.9,100],\"computed_quantiles\":[]}}]}\n");
    sb_reset(&sb);
    assert_int_equal(stats_render_prometheus(&sb, "downstream_cx_total", false), 0);
    assert_string_equal(sb.data, "# TYPE envoy_listener_downstream_cx_total counter\n"
                                 "envoy_listener_downstream_cx_total{envoy_listener_address="
                                 "\"127.0.0.1_80\"} 1\n");
    sb_reset(&sb);
    assert_int_equal(stats_render_text(&sb, "([", false), -8 /* -RM_EINVAL */);
    assert_non_null(strstr(sb.data, "Invalid regex"));
    sb_fini(&sb);
}

static void histograms(void **state)
{
    (void)state;
    stats_slot = 0;
    struct hist *h = hist_get(STATS_CLUSTER, "web", "upstream_rq_time");
    assert_ptr_equal(h, hist_get(STATS_CLUSTER, "web", "upstream_rq_time"));
    for (int i = 0; i < 100; i++)
        hist_record(h, 3.0); /* bucket (1, 5] */
    struct strbuf sb;
    sb_init(&sb);
    assert_int_equal(stats_render_text(&sb, "upstream_rq_time", false), 0);
    /* 100 values in (1,5]: P0 at the bucket's start, P50 halfway, P100 at its end. */
    assert_string_equal(sb.data, "cluster.web.upstream_rq_time: P0(nan,1) P25(nan,2) P50(nan,3) "
                                 "P75(nan,4) P90(nan,4.6) P95(nan,4.8) P99(nan,4.96) "
                                 "P99.5(nan,4.98) P99.9(nan,4.996) P100(nan,5)\n");
    sb_reset(&sb);
    assert_int_equal(stats_render_prometheus(&sb, "upstream_rq_time", false), 0);
    assert_non_null(strstr(sb.data, "# TYPE envoy_cluster_upstream_rq_time histogram\n"));
    assert_non_null(strstr(sb.data, "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="
                                    "\"web\",le=\"1\"} 0\n"));
    assert_non_null(strstr(sb.data, "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="
                                    "\"web\",le=\"5\"} 100\n"));
    assert_non_null(strstr(sb.data, "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="
                                    "\"web\",le=\"+Inf\"} 100\n"));
    assert_non_null(strstr(sb.data, "envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="
                                    "\"web\"} 300\n"));
    assert_non_null(strstr(sb.data, "envoy_cluster_upstream_rq_time_count{envoy_cluster_name="
                                    "\"web\"} 100\n"));
    sb_fini(&sb);
}

static void text_is_sorted(void **state)
{
    (void)state;
    stats_block_get(STATS_CLUSTER, "b");
    stats_block_get(STATS_CLUSTER, "a");
    struct strbuf sb;
    sb_init(&sb);
    assert_int_equal(stats_render_text(&sb, NULL, false), 0);
    const char *prev = "";
    for (char *line = strtok(sb.data, "\n"); line; line = strtok(NULL, "\n")) {
        assert_true(strcmp(prev, line) <= 0);
        prev = line;
    }
    sb_fini(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(block_is_shared_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(rows_sum_across_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(text_json_prometheus, setup, teardown),
        cmocka_unit_test_setup_teardown(text_is_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(histograms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
