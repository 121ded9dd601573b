/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/config/translate_test.c — config_load() end to end on inline YAML: the
 * translators (config/translate*.c), tcp_proxy's config parser, snapshots. Every error test
 * asserts the complete list of error texts, file:line:col and field path included; the
 * fixtures carry their line numbers so the positions can be checked by eye. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/err.h"
#include "config/model.h"
#include "config/snapshot.h"
#include "config/translate.h"
#include "filters/filter.h"
#include "filters/network/tcp_proxy.h"
#include "proxy/err.h"

/* The real definition lives in filters/network/tcp_proxy.c with the runtime; this weak one
 * keeps the test linkable without pulling the data path in (the strong one wins if linked). */
__attribute__((weak)) const struct net_filter_def tcp_proxy_filter_def = {
    .name = TCP_PROXY_NAME,
    .type_url = TCP_PROXY_TYPE_URL,
    .terminal = true,
    .config_new = tcp_proxy_config_new,
    .config_check = tcp_proxy_config_check,
};

/* ---- helpers ----------------------------------------------------------------------------- */

static void dump(const struct cfg_err *err)
{
    fprintf(stderr, "---- %zu error(s), %zu warning(s):\n", err->n_errors, err->n_warnings);
    cfg_err_print(err, stderr);
}

/* Loads |yaml| as --config-yaml; asserts success and no warnings unless |warnings| is set. */
static struct snapshot *load_ok_opts(const struct cfg_load_opts *opts, struct cfg_err *err)
{
    struct snapshot *s = NULL;
    int rc = config_load(opts, &s, err);
    if (rc != 0)
        dump(err);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    assert_int_equal(err->n_errors, 0);
    return s;
}

static struct snapshot *load_ok(const char *yaml)
{
    struct cfg_err err;
    struct cfg_load_opts opts = {.config_yaml = yaml};
    cfg_err_init(&err);
    struct snapshot *s = load_ok_opts(&opts, &err);
    if (err.n_warnings)
        dump(&err);
    assert_int_equal(err.n_warnings, 0);
    cfg_err_fini(&err);
    return s;
}

/* Loads |yaml| as --config-yaml, accepting warnings (checked by expect_warnings()). */
static struct snapshot *load_ok_warned(const char *yaml)
{
    struct cfg_err err;
    struct cfg_load_opts opts = {.config_yaml = yaml};
    cfg_err_init(&err);
    struct snapshot *s = load_ok_opts(&opts, &err);
    cfg_err_fini(&err);
    return s;
}

/* Asserts that the messages of severity |sev| in |err| are exactly |want| (in order). */
static void assert_msgs(const struct cfg_err *err, enum cfg_sev sev, const char *const *want,
                        size_t n_want)
{
    size_t k = 0;
    bool ok = true;
    for (size_t i = 0; i < err->n; i++) {
        if (err->msgs[i].sev != sev)
            continue;
        if (k >= n_want || strcmp(err->msgs[i].text, want[k]) != 0) {
            fprintf(stderr, "message %zu:\n  got:  %s\n  want: %s\n", k, err->msgs[i].text,
                    k < n_want ? want[k] : "(nothing)");
            ok = false;
        }
        k++;
    }
    if (k != n_want) {
        fprintf(stderr, "got %zu message(s), want %zu\n", k, n_want);
        ok = false;
    }
    if (!ok)
        dump(err);
    assert_true(ok);
}

/* Loads |yaml|, asserts failure with exactly the errors |want|; returns the warnings count. */
static void expect_errors_n(const char *yaml, const char *const *want, size_t n)
{
    struct cfg_err err;
    struct snapshot *s = NULL;
    struct cfg_load_opts opts = {.config_yaml = yaml};
    cfg_err_init(&err);
    int rc = config_load(&opts, &s, &err);
    assert_int_equal(rc, -RM_ECONFIG);
    assert_null(s);
    assert_msgs(&err, CFG_ERROR, want, n);
    cfg_err_fini(&err);
}

#define expect_errors(yaml, ...)                                                                   \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        expect_errors_n((yaml), want_, sizeof(want_) / sizeof(want_[0]));                          \
    } while (0)

static void expect_warnings_n(const char *yaml, const char *const *want, size_t n)
{
    struct cfg_err err;
    struct cfg_load_opts opts = {.config_yaml = yaml};
    cfg_err_init(&err);
    struct snapshot *s = load_ok_opts(&opts, &err);
    assert_msgs(&err, CFG_WARNING, want, n);
    cfg_err_fini(&err);
    snap_unref(s);
}

#define expect_warnings(yaml, ...)                                                                 \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        expect_warnings_n((yaml), want_, sizeof(want_) / sizeof(want_[0]));                        \
    } while (0)

static const struct cfg_listener *listener(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->bs->n_listeners; i++)
        if (strcmp(s->bs->listeners[i].name, name) == 0)
            return &s->bs->listeners[i];
    fail_msg("no listener %s", name);
    return NULL;
}

static const struct cfg_cluster *cluster(const struct snapshot *s, const char *name)
{
    const struct cfg_cluster *c = cfg_find_cluster(s->bs, name);
    if (!c)
        fail_msg("no cluster %s", name);
    return c;
}

static const struct cfg_tcp_proxy *tcp_proxy_of(const struct cfg_listener *l)
{
    assert_int_equal(l->n_chains, 1);
    assert_int_equal(l->chains[0].n_filters, 1);
    assert_ptr_equal(l->chains[0].filters[0].def, &tcp_proxy_filter_def);
    return l->chains[0].filters[0].config;
}

static void assert_ep(const struct cfg_endpoint *ep, const char *host, uint32_t port,
                      uint32_t weight)
{
    assert_string_equal(ep->host, host);
    assert_int_equal(ep->port, port);
    assert_int_equal(ep->weight, weight);
}

#define TCP_URL "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
/* A network filter Envoy has and Remora refuses for now. */
#define RBAC_URL "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
#define FILE_URL "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
#define STDOUT_URL "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
#define STDERR_URL "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog"
#define RAW_URL "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"

/* A listener on 127.0.0.1:|port| proxying to cluster c1, and cluster c1 itself. */
#define L_TCP(port)                                                                                \
    "  - address: { socket_address: { address: 127.0.0.1, port_value: " #port " } }\n"             \
    "    filter_chains:\n"                                                                         \
    "    - filters:\n"                                                                             \
    "      - name: envoy.filters.network.tcp_proxy\n"                                              \
    "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: p, cluster: c1 }\n"

/* ---- fixtures: numbered lines, to check the positions in the expected errors by eye ---- */
/* clang-format off */
static const char FX_FULL[] =
    /*  1 */ "node:\n"
    /*  2 */ "  id: node-1\n"
    /*  3 */ "  cluster: svc\n"
    /*  4 */ "  locality: { region: eu, zone: eu-1a, sub_zone: rack7 }\n"
    /*  5 */ "  metadata: { team: edge, replicas: 3 }\n"
    /*  6 */ "  user_agent_name: envoy\n"
    /*  7 */ "admin:\n"
    /*  8 */ "  address:\n"
    /*  9 */ "    socket_address: { address: 127.0.0.1, port_value: 9901 }\n"
    /* 10 */ "  access_log:\n"
    /* 11 */ "  - name: envoy.access_loggers.stdout\n"
    /* 12 */ "    typed_config:\n"
    /* 13 */ "      \"@type\": " STDOUT_URL "\n"
    /* 14 */ "static_resources:\n"
    /* 15 */ "  listeners:\n"
    /* 16 */ "  - name: tcp_admin\n"
    /* 17 */ "    address:\n"
    /* 18 */ "      socket_address: { address: 127.0.0.1, port_value: 10000 }\n"
    /* 19 */ "    filter_chains:\n"
    /* 20 */ "    - filters:\n"
    /* 21 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 22 */ "        typed_config:\n"
    /* 23 */ "          \"@type\": " TCP_URL "\n"
    /* 24 */ "          stat_prefix: admin_passthrough\n"
    /* 25 */ "          cluster: static_c\n"
    /* 26 */ "          access_log:\n"
    /* 27 */ "          - name: envoy.access_loggers.file\n"
    /* 28 */ "            typed_config:\n"
    /* 29 */ "              \"@type\": " FILE_URL "\n"
    /* 30 */ "              path: /tmp/remora-access.log\n"
    /* 31 */ "              log_format:\n"
    /* 32 */ "                text_format_source:\n"
    /* 33 */ "                  inline_string: \"%START_TIME% %BYTES_RECEIVED%\\n\"\n"
    /* 34 */ "                omit_empty_values: true\n"
    /* 35 */ "  - name: split\n"
    /* 36 */ "    address:\n"
    /* 37 */ "      socket_address: { address: \"::1\", port_value: 10001 }\n"
    /* 38 */ "    stat_prefix: split_listener\n"
    /* 39 */ "    per_connection_buffer_limit_bytes: 32768\n"
    /* 40 */ "    enable_reuse_port: false\n"
    /* 41 */ "    traffic_direction: OUTBOUND\n"
    /* 42 */ "    filter_chains:\n"
    /* 43 */ "    - name: only\n"
    /* 44 */ "      transport_socket:\n"
    /* 45 */ "        name: envoy.transport_sockets.raw_buffer\n"
    /* 46 */ "        typed_config:\n"
    /* 47 */ "          \"@type\": " RAW_URL "\n"
    /* 48 */ "      filters:\n"
    /* 49 */ "      - name: tcp\n"
    /* 50 */ "        typed_config:\n"
    /* 51 */ "          \"@type\": " TCP_URL "\n"
    /* 52 */ "          stat_prefix: split\n"
    /* 53 */ "          weighted_clusters:\n"
    /* 54 */ "            clusters:\n"
    /* 55 */ "            - { name: dns_c, weight: 30 }\n"
    /* 56 */ "            - { name: logical_c, weight: 70 }\n"
    /* 57 */ "          idle_timeout: 0s\n"
    /* 58 */ "          max_connect_attempts: 3\n"
    /* 59 */ "          max_downstream_connection_duration: 1.5s\n"
    /* 60 */ "          access_log:\n"
    /* 61 */ "          - name: envoy.access_loggers.stderr\n"
    /* 62 */ "            typed_config:\n"
    /* 63 */ "              \"@type\": " STDERR_URL "\n"
    /* 64 */ "              log_format:\n"
    /* 65 */ "                json_format: { start: \"%START_TIME%\", bytes: \"%BYTES_SENT%\" }\n"
    /* 66 */ "  clusters:\n"
    /* 67 */ "  - name: static_c\n"
    /* 68 */ "    alt_stat_name: static_alt\n"
    /* 69 */ "    type: STATIC\n"
    /* 70 */ "    connect_timeout: 0.25s\n"
    /* 71 */ "    per_connection_buffer_limit_bytes: 65536\n"
    /* 72 */ "    circuit_breakers:\n"
    /* 73 */ "      thresholds:\n"
    /* 74 */ "      - priority: DEFAULT\n"
    /* 75 */ "        max_connections: 100\n"
    /* 76 */ "        max_pending_requests: 200\n"
    /* 77 */ "        max_requests: 300\n"
    /* 78 */ "        max_retries: 4\n"
    /* 79 */ "    load_assignment:\n"
    /* 80 */ "      cluster_name: static_c\n"
    /* 81 */ "      endpoints:\n"
    /* 82 */ "      - locality: { region: eu, zone: eu-1a, sub_zone: r1 }\n"
    /* 83 */ "        priority: 0\n"
    /* 84 */ "        load_balancing_weight: 10\n"
    /* 85 */ "        lb_endpoints:\n"
    /* 86 */ "        - endpoint:\n"
    /* 87 */ "            address:\n"
    /* 88 */ "              socket_address: { address: 127.0.0.1, port_value: 9901 }\n"
    /* 89 */ "        - endpoint:\n"
    /* 90 */ "            address:\n"
    /* 91 */ "              socket_address: { address: \"::1\", port_value: 9902 }\n"
    /* 92 */ "          load_balancing_weight: 5\n"
    /* 93 */ "          health_status: HEALTHY\n"
    /* 94 */ "      - priority: 1\n"
    /* 95 */ "        lb_endpoints:\n"
    /* 96 */ "        - endpoint:\n"
    /* 97 */ "            address:\n"
    /* 98 */ "              socket_address: { address: 10.0.0.1, port_value: 80 }\n"
    /* 99 */ "  - name: dns_c\n"
    /* 100 */ "    type: STRICT_DNS\n"
    /* 101 */ "    lb_policy: LEAST_REQUEST\n"
    /* 102 */ "    least_request_lb_config: { choice_count: 3 }\n"
    /* 103 */ "    dns_lookup_family: V4_PREFERRED\n"
    /* 104 */ "    dns_refresh_rate: 10s\n"
    /* 105 */ "    respect_dns_ttl: true\n"
    /* 106 */ "    load_assignment:\n"
    /* 107 */ "      cluster_name: dns_c\n"
    /* 108 */ "      endpoints:\n"
    /* 109 */ "      - lb_endpoints:\n"
    /* 110 */ "        - endpoint: { address: { socket_address: { address: backend.example.com, "
              "port_value: 443 } } }\n"
    /* 111 */ "        - endpoint: { address: { socket_address: { address: 192.0.2.7, "
              "port_value: 444 } } }\n"
    /* 112 */ "  - name: logical_c\n"
    /* 113 */ "    type: LOGICAL_DNS\n"
    /* 114 */ "    lb_policy: RANDOM\n"
    /* 115 */ "    dns_lookup_family: ALL\n"
    /* 116 */ "    load_assignment:\n"
    /* 117 */ "      cluster_name: logical_c\n"
    /* 118 */ "      endpoints:\n"
    /* 119 */ "      - lb_endpoints:\n"
    /* 120 */ "        - endpoint: { address: { socket_address: { address: www.example.com, "
              "port_value: 80 } } }\n";
/* clang-format on */

/* clang-format off */
static const char FX_UNKNOWN[] =
    /*  1 */ "static_resource: {}\n"
    /*  2 */ "static_resources:\n"
    /*  3 */ "  clusters:\n"
    /*  4 */ "  - name: c1\n"
    /*  5 */ "    connect_timout: 1s\n"
    /*  6 */ "    hosts: []\n"
    /*  7 */ "    load_assignment:\n"
    /*  8 */ "      cluster_name: c1\n"
    /*  9 */ "      endpoints:\n"
    /* 10 */ "      - lb_endpoints:\n"
    /* 11 */ "        - endpoint:\n"
    /* 12 */ "            address:\n"
    /* 13 */ "              socket_address: { address: 127.0.0.1, port_value: 80, Port_value: "
             "81 }\n"
    /* 14 */ "  listeners:\n"
    /* 15 */ "  - address: { socket_address: { address: 0.0.0.0, port_value: 80 } }\n"
    /* 16 */ "    filter_chains:\n"
    /* 17 */ "    - filters:\n"
    /* 18 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 19 */ "        typed_config:\n"
    /* 20 */ "          \"@type\": " TCP_URL "\n"
    /* 21 */ "          stat_prefix: p\n"
    /* 22 */ "          cluster: c1\n"
    /* 23 */ "          idleTimeout: 5s\n"
    /* 24 */ "          bogus: 1\n";
/* clang-format on */

/* clang-format off */
static const char FX_UNSUP[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: c1\n"
    /*  4 */ "    outlier_detection: {}\n"
    /*  5 */ "    health_checks:\n"
    /*  6 */ "    - timeout: 1s\n"
    /*  7 */ "    use_tcp_for_dns_lookups: false\n"
    /*  8 */ "    upstream_connection_options: {}\n"
    /*  9 */ "    wait_for_warm_on_init: true\n"
    /* 10 */ "    typed_extension_protocol_options: {}\n"
    /* 11 */ "    type: EDS\n"
    /* 12 */ "    lb_policy: ring_hash\n"
    /* 13 */ "  listeners:\n"
    /* 14 */ "  - address: { socket_address: { address: 0.0.0.0, port_value: 80 } }\n"
    /* 15 */ "    use_original_dst: false\n"
    /* 16 */ "    listener_filters: []\n"
    /* 17 */ "    drain_type: default\n"
    /* 18 */ "    transparent: true\n"
    /* 19 */ "    filter_chains:\n"
    /* 20 */ "    - filters:\n"
    /* 21 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 22 */ "        typed_config:\n"
    /* 23 */ "          \"@type\": " TCP_URL "\n"
    /* 24 */ "          stat_prefix: p\n"
    /* 25 */ "          cluster: c1\n"
    /* 26 */ "          hash_policy: []\n"
    /* 27 */ "          tunneling_config: { hostname: h }\n";
/* clang-format on */

/* clang-format off */
static const char FX_TYPES[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  listeners: {}\n"
    /*  3 */ "  clusters:\n"
    /*  4 */ "  - name: c1\n"
    /*  5 */ "    connect_timeout: [1]\n"
    /*  6 */ "    per_connection_buffer_limit_bytes: lots\n"
    /*  7 */ "    respect_dns_ttl: maybe\n"
    /*  8 */ "    dns_lookup_family: V5_ONLY\n"
    /*  9 */ "    circuit_breakers: [ ]\n"
    /* 10 */ "  - just a string\n";
/* clang-format on */

/* clang-format off */
static const char FX_DURATIONS[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: a\n"
    /*  4 */ "    connect_timeout: 5\n"
    /*  5 */ "  - name: b\n"
    /*  6 */ "    connect_timeout: -1s\n"
    /*  7 */ "  - name: c\n"
    /*  8 */ "    connect_timeout: 0s\n"
    /*  9 */ "  - name: d\n"
    /* 10 */ "    connect_timeout: 1.5\n"
    /* 11 */ "  - name: e\n"
    /* 12 */ "    dns_refresh_rate: 0.001s\n"
    /* 13 */ "  - name: f\n"
    /* 14 */ "    connect_timeout: 0.0000000001s\n"
    /* 15 */ "  - name: g\n"
    /* 16 */ "    connect_timeout: 5m\n";
/* clang-format on */

/* clang-format off */
static const char FX_PORTS[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: a\n"
    /*  4 */ "    load_assignment:\n"
    /*  5 */ "      cluster_name: a\n"
    /*  6 */ "      endpoints:\n"
    /*  7 */ "      - lb_endpoints:\n"
    /*  8 */ "        - endpoint: { address: { socket_address: { address: 127.0.0.1, "
             "port_value: 70000 } } }\n"
    /*  9 */ "        - endpoint: { address: { socket_address: { address: 127.0.0.1 } } }\n"
    /* 10 */ "        - endpoint: { address: { socket_address: { address: 127.0.0.1, "
             "port_value: 0 } } }\n"
    /* 11 */ "        - endpoint: { address: { socket_address: { address: 127.0.0.1, "
             "port_value: -5 } } }\n"
    /* 12 */ "        - endpoint: { address: { socket_address: { address: 127.0.0.1, "
             "port_value: 80, protocol: UDP } } }\n"
    /* 13 */ "        - endpoint: { address: { pipe: { path: /tmp/s } } }\n"
    /* 14 */ "        - endpoint: {}\n"
    /* 15 */ "  listeners:\n"
    /* 16 */ "  - address: { socket_address: { address: 0.0.0.0, port_value: 65536 } }\n"
    /* 17 */ "    filter_chains:\n"
    /* 18 */ "    - filters:\n"
    /* 19 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 20 */ "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: p, cluster: a }\n";
/* clang-format on */

/* clang-format off */
static const char FX_STATICIP[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: a\n"
    /*  4 */ "    load_assignment:\n"
    /*  5 */ "      cluster_name: a\n"
    /*  6 */ "      endpoints:\n"
    /*  7 */ "      - lb_endpoints:\n"
    /*  8 */ "        - endpoint: { address: { socket_address: { address: backend.local, "
             "port_value: 80 } } }\n"
    /*  9 */ "        - endpoint: { address: { socket_address: { address: \"[::1]\", "
             "port_value: 80 } } }\n"
    /* 10 */ "  - name: b\n"
    /* 11 */ "    type: LOGICAL_DNS\n"
    /* 12 */ "    load_assignment:\n"
    /* 13 */ "      cluster_name: b\n"
    /* 14 */ "      endpoints:\n"
    /* 15 */ "      - lb_endpoints:\n"
    /* 16 */ "        - endpoint: { address: { socket_address: { address: a.example, "
             "port_value: 80 } } }\n"
    /* 17 */ "        - endpoint: { address: { socket_address: { address: b.example, "
             "port_value: 80 } } }\n"
    /* 18 */ "  - name: c\n"
    /* 19 */ "    type: LOGICAL_DNS\n"
    /* 20 */ "  - name: d\n"
    /* 21 */ "    load_assignment:\n"
    /* 22 */ "      endpoints: []\n"
    /* 23 */ "  listeners:\n"
    /* 24 */ "  - address: { socket_address: { address: localhost, port_value: 80 } }\n"
    /* 25 */ "    filter_chains:\n"
    /* 26 */ "    - filters:\n"
    /* 27 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 28 */ "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: p, cluster: a }\n";
/* clang-format on */

/* clang-format off */
static const char FX_DUPS[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: c1\n"
    /*  4 */ "  - name: c1\n"
    /*  5 */ "  - name: \"\"\n"
    /*  6 */ "  - alt_stat_name: x\n"
    /*  7 */ "  listeners:\n"
    /*  8 */ "  - name: l1\n"
    /*  9 */ "    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }\n"
    /* 10 */ "    filter_chains: &fc\n"
    /* 11 */ "    - filters:\n"
    /* 12 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 13 */ "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: p, cluster: c1 }\n"
    /* 14 */ "  - name: l1\n"
    /* 15 */ "    address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }\n"
    /* 16 */ "    filter_chains: *fc\n"
    /* 17 */ "  - name: l3\n"
    /* 18 */ "    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }\n"
    /* 19 */ "    filter_chains: *fc\n"
    /* 20 */ "  - name: l4\n"
    /* 21 */ "    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
    /* 22 */ "    filter_chains: *fc\n"
    /* 23 */ "  - name: l5\n"
    /* 24 */ "    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n"
    /* 25 */ "    filter_chains: *fc\n";
/* clang-format on */

/* clang-format off */
static const char FX_REFS[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: c1\n"
    /*  4 */ "  listeners:\n"
    /*  5 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }\n"
    /*  6 */ "    filter_chains:\n"
    /*  7 */ "    - filters:\n"
    /*  8 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /*  9 */ "        typed_config:\n"
    /* 10 */ "          \"@type\": " TCP_URL "\n"
    /* 11 */ "          stat_prefix: p\n"
    /* 12 */ "          cluster: nope\n"
    /* 13 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }\n"
    /* 14 */ "    filter_chains:\n"
    /* 15 */ "    - filters:\n"
    /* 16 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 17 */ "        typed_config:\n"
    /* 18 */ "          \"@type\": " TCP_URL "\n"
    /* 19 */ "          stat_prefix: p\n"
    /* 20 */ "          weighted_clusters:\n"
    /* 21 */ "            clusters:\n"
    /* 22 */ "            - name: c1\n"
    /* 23 */ "              weight: 1\n"
    /* 24 */ "            - name: ghost\n"
    /* 25 */ "              weight: 2\n";
/* clang-format on */

/* clang-format off */
static const char FX_TCPBAD[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: c1\n"
    /*  4 */ "  listeners:\n"
    /*  5 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }\n"
    /*  6 */ "    filter_chains:\n"
    /*  7 */ "    - filters:\n"
    /*  8 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /*  9 */ "        typed_config:\n"
    /* 10 */ "          \"@type\": " TCP_URL "\n"
    /* 11 */ "          stat_prefix: \"\"\n"
    /* 12 */ "          weighted_clusters:\n"
    /* 13 */ "            clusters:\n"
    /* 14 */ "            - { name: c1, weight: 0 }\n"
    /* 15 */ "            - { name: c1 }\n"
    /* 16 */ "          max_connect_attempts: 0\n"
    /* 17 */ "          idle_timeout: -5s\n"
    /* 18 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }\n"
    /* 19 */ "    filter_chains:\n"
    /* 20 */ "    - filters:\n"
    /* 21 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 22 */ "        typed_config:\n"
    /* 23 */ "          \"@type\": " TCP_URL "\n"
    /* 24 */ "          stat_prefix: p\n"
    /* 25 */ "          cluster: c1\n"
    /* 26 */ "          weighted_clusters: { clusters: [ { name: c1, weight: 1 } ] }\n"
    /* 27 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10002 } }\n"
    /* 28 */ "    filter_chains:\n"
    /* 29 */ "    - filters:\n"
    /* 30 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 31 */ "        typed_config:\n"
    /* 32 */ "          \"@type\": " TCP_URL "\n"
    /* 33 */ "          stat_prefix: p\n"
    /* 34 */ "          weighted_clusters: { clusters: [] }\n"
    /* 35 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10003 } }\n"
    /* 36 */ "    filter_chains:\n"
    /* 37 */ "    - filters:\n"
    /* 38 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 39 */ "        typed_config:\n"
    /* 40 */ "          \"@type\": " TCP_URL "\n"
    /* 41 */ "          stat_prefix: p\n";
/* clang-format on */

/* clang-format off */
static const char FX_FILTERS[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: c1\n"
    /*  4 */ "  listeners:\n"
    /*  5 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }\n"
    /*  6 */ "    filter_chains:\n"
    /*  7 */ "    - filters:\n"
    /*  8 */ "      - name: envoy.filters.network.not_a_filter\n"
    /*  9 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }\n"
    /* 10 */ "    filter_chains:\n"
    /* 11 */ "    - filters:\n"
    /* 12 */ "      - name: hcm\n"
    /* 13 */ "        typed_config:\n"
    /* 14 */ "          \"@type\": " RBAC_URL "\n"
    /* 15 */ "          stat_prefix: ingress\n"
    /* 16 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10002 } }\n"
    /* 17 */ "    filter_chains:\n"
    /* 18 */ "    - filters:\n"
    /* 19 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 20 */ "        typed_config:\n"
    /* 21 */ "          \"@type\": " FILE_URL "\n"
    /* 22 */ "          path: /dev/stdout\n"
    /* 23 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10003 } }\n"
    /* 24 */ "    filter_chains:\n"
    /* 25 */ "    - filters:\n"
    /* 26 */ "      - name: envoy.filters.network.rbac\n"
    /* 27 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10004 } }\n"
    /* 28 */ "    filter_chains:\n"
    /* 29 */ "    - filters:\n"
    /* 30 */ "      - name: first\n"
    /* 31 */ "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: a, cluster: c1 }\n"
    /* 32 */ "      - name: second\n"
    /* 33 */ "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: b, cluster: c1 }\n"
    /* 34 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10005 } }\n"
    /* 35 */ "    filter_chains:\n"
    /* 36 */ "    - filters: []\n"
    /* 37 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10006 } }\n"
    /* 38 */ "    filter_chains:\n"
    /* 39 */ "    - filters:\n"
    /* 40 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 41 */ "        typed_config: { stat_prefix: p, cluster: c1 }\n"
    /* 42 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10007 } }\n"
    /* 43 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10008 } }\n"
    /* 44 */ "    filter_chains:\n"
    /* 45 */ "    - filters:\n"
    /* 46 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 47 */ "    - filter_chain_match: { server_names: [a.example] }\n"
    /* 48 */ "      filters:\n"
    /* 49 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 50 */ "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: b, cluster: c1 }\n"
    /* 51 */ "    - transport_socket: { name: envoy.transport_sockets.tls }\n"
    /* 52 */ "      filters:\n"
    /* 53 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 54 */ "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: b, cluster: c1 }\n";
/* clang-format on */

/* clang-format off */
static const char FX_ALOG[] =
    /*  1 */ "admin:\n"
    /*  2 */ "  access_log:\n"
    /*  3 */ "  - name: envoy.access_loggers.file\n"
    /*  4 */ "  - name: envoy.access_loggers.http_grpc\n"
    /*  5 */ "  - name: x\n"
    /*  6 */ "    typed_config:\n"
    /*  7 */ "      \"@type\": " FILE_URL "\n"
    /*  8 */ "      path: /tmp/b.log\n"
    /*  9 */ "      format: a\n"
    /* 10 */ "      log_format: { text_format_source: { inline_string: b } }\n"
    /* 11 */ "  - name: y\n"
    /* 12 */ "    filter: { status_code_filter: {} }\n"
    /* 13 */ "    typed_config: { \"@type\": " STDOUT_URL " }\n"
    /* 14 */ "  - name: z\n"
    /* 15 */ "    typed_config: { \"@type\": " STDERR_URL ", log_format: {} }\n"
    /* 16 */ "  - name: w\n"
    /* 17 */ "    typed_config:\n"
    /* 18 */ "      \"@type\": " FILE_URL "\n"
    /* 19 */ "      path: /tmp/c.log\n"
    /* 20 */ "      log_format: { text_format_source: { environment_variable: "
             "REMORA_TEST_SURELY_UNSET } }\n";
/* clang-format on */

/* clang-format off */
static const char FX_BOOT[] =
    /*  1 */ "runtime: { symlink_root: /srv/runtime }\n"
    /*  2 */ "node: { id: n1, metadata: [a, b] }\n"
    /*  3 */ "dynamic_resources: { lds_config: { ads: {} } }\n"
    /*  4 */ "stats_sinks: [ { name: envoy.stat_sinks.statsd } ]\n"
    /*  5 */ "stats_flush_interval: 0.0001s\n"
    /*  6 */ "stats_flush_on_admin: true\n"
    /*  7 */ "cluster_manager: { local_cluster_name: web }\n"
    /*  8 */ "layered_runtime:\n"
    /*  9 */ "  layers:\n"
    /* 10 */ "  - name: static\n"
    /* 11 */ "    static_layer: { overload: { global_downstream_max_connections: 100 } }\n"
    /* 12 */ "  - name: \"\"\n"
    /* 13 */ "    disk_layer: { symlink_root: current }\n"
    /* 14 */ "admin:\n"
    /* 15 */ "  address: { pipe: { path: /tmp/admin.sock } }\n";
/* clang-format on */

/* clang-format off */
static const char FX_REQUIRED[] =
    /*  1 */ "static_resources:\n"
    /*  2 */ "  clusters:\n"
    /*  3 */ "  - name: c1\n"
    /*  4 */ "  listeners:\n"
    /*  5 */ "  - name: noaddr\n"
    /*  6 */ "    filter_chains:\n"
    /*  7 */ "    - filters:\n"
    /*  8 */ "      - name: \"\"\n"
    /*  9 */ "      - just-a-string\n"
    /* 10 */ "      - name: envoy.filters.network.tcp_proxy\n"
    /* 11 */ "        typed_config: { \"@type\": " TCP_URL ", stat_prefix: p, cluster: \"\" }\n";
/* clang-format on */

/* ---- happy paths --------------------------------------------------------------------------- */

static void test_full_bootstrap(void **state)
{
    (void)state;
    struct snapshot *s = load_ok(FX_FULL);
    const struct cfg_bootstrap *bs = s->bs;
    assert_int_equal(s->version, 1);
    assert_int_equal(s->refs, 1);
    assert_non_null(s->doc);
    assert_ptr_equal(bs->src, s->doc->root);

    /* node */
    assert_string_equal(bs->node.id, "node-1");
    assert_string_equal(bs->node.cluster, "svc");
    assert_string_equal(bs->node.region, "eu");
    assert_string_equal(bs->node.zone, "eu-1a");
    assert_string_equal(bs->node.sub_zone, "rack7");
    assert_non_null(bs->node.metadata);
    assert_int_equal(bs->node.metadata->kind, VT_MAP);
    assert_true(vt_scalar_is(vt_map_get(bs->node.metadata, "team"), "edge"));

    /* admin */
    assert_true(bs->admin.enabled);
    assert_string_equal(bs->admin.addr.str, "127.0.0.1:9901");
    assert_int_equal(bs->admin.n_access_logs, 1);
    assert_int_equal(bs->admin.access_logs[0].sink, ALOG_SINK_STDOUT);
    assert_null(bs->admin.access_logs[0].format);
    assert_null(bs->admin.access_logs[0].json_format);

    /* listener 1: defaults, tcp_proxy to one cluster, file access log */
    assert_int_equal(bs->n_listeners, 2);
    const struct cfg_listener *l = listener(s, "tcp_admin");
    assert_ptr_equal(l, &bs->listeners[0]);
    assert_string_equal(l->addr.ip, "127.0.0.1");
    assert_int_equal(l->addr.port, 10000);
    assert_string_equal(l->addr.str, "127.0.0.1:10000");
    assert_string_equal(l->addr.stat_name, "127.0.0.1_10000");
    assert_int_equal(l->addr.ss.ss_family, AF_INET);
    assert_int_equal(l->addr.len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((const struct sockaddr_in *)&l->addr.ss)->sin_port), 10000);
    assert_string_equal(l->stat_prefix, "127.0.0.1_10000");
    assert_int_equal(l->per_connection_buffer_limit_bytes, 1048576);
    assert_true(l->enable_reuse_port);
    assert_null(l->default_chain);
    assert_string_equal(l->chains[0].name, "");
    assert_string_equal(l->chains[0].filters[0].name, "envoy.filters.network.tcp_proxy");
    const struct cfg_tcp_proxy *tp = tcp_proxy_of(l);
    assert_string_equal(tp->stat_prefix, "admin_passthrough");
    assert_string_equal(tp->cluster, "static_c");
    assert_int_equal(tp->n_weighted, 0);
    assert_int_equal(tp->idle_timeout_ms, 3600000);
    assert_int_equal(tp->max_connect_attempts, 1);
    assert_int_equal(tp->max_downstream_connection_duration_ms, 0);
    assert_int_equal(tp->n_access_logs, 1);
    assert_int_equal(tp->access_logs[0].sink, ALOG_SINK_FILE);
    assert_string_equal(tp->access_logs[0].path, "/tmp/remora-access.log");
    assert_string_equal(tp->access_logs[0].format, "%START_TIME% %BYTES_RECEIVED%\n");
    assert_true(tp->access_logs[0].omit_empty_values);

    /* listener 2: IPv6, every listener field set, weighted clusters, stderr JSON log */
    l = listener(s, "split");
    assert_string_equal(l->addr.ip, "::1");
    assert_string_equal(l->addr.str, "[::1]:10001");
    assert_string_equal(l->addr.stat_name, "[__1]_10001");
    assert_int_equal(l->addr.ss.ss_family, AF_INET6);
    assert_string_equal(l->stat_prefix, "split_listener");
    assert_int_equal(l->per_connection_buffer_limit_bytes, 32768);
    assert_false(l->enable_reuse_port);
    assert_string_equal(l->chains[0].name, "only");
    assert_string_equal(l->chains[0].filters[0].name, "tcp");
    tp = tcp_proxy_of(l);
    assert_string_equal(tp->stat_prefix, "split");
    assert_null(tp->cluster);
    assert_int_equal(tp->n_weighted, 2);
    assert_string_equal(tp->weighted[0].name, "dns_c");
    assert_int_equal(tp->weighted[0].weight, 30);
    assert_string_equal(tp->weighted[1].name, "logical_c");
    assert_int_equal(tp->weighted[1].weight, 70);
    assert_int_equal(tp->total_weight, 100);
    assert_int_equal(tp->idle_timeout_ms, 0);
    assert_int_equal(tp->max_connect_attempts, 3);
    assert_int_equal(tp->max_downstream_connection_duration_ms, 1500);
    assert_int_equal(tp->n_access_logs, 1);
    assert_int_equal(tp->access_logs[0].sink, ALOG_SINK_STDERR);
    assert_null(tp->access_logs[0].format);
    assert_non_null(tp->access_logs[0].json_format);
    assert_true(vt_scalar_is(vt_map_get(tp->access_logs[0].json_format, "bytes"), "%BYTES_SENT%"));
    assert_false(tp->access_logs[0].omit_empty_values);

    /* STATIC cluster: every field, two localities */
    assert_int_equal(bs->n_clusters, 3);
    const struct cfg_cluster *c = cluster(s, "static_c");
    assert_ptr_equal(c, &bs->clusters[0]);
    assert_string_equal(c->alt_stat_name, "static_alt");
    assert_int_equal(c->type, CLUSTER_STATIC);
    assert_int_equal(c->lb_policy, LB_ROUND_ROBIN);
    assert_int_equal(c->connect_timeout_ms, 250);
    assert_int_equal(c->per_connection_buffer_limit_bytes, 65536);
    assert_int_equal(c->cb.max_connections, 100);
    assert_int_equal(c->cb.max_pending_requests, 200);
    assert_int_equal(c->cb.max_requests, 300);
    assert_int_equal(c->cb.max_retries, 4);
    assert_non_null(c->src);
    assert_int_equal(c->n_localities, 2);
    const struct cfg_locality_endpoints *le = &c->localities[0];
    assert_string_equal(le->region, "eu");
    assert_string_equal(le->zone, "eu-1a");
    assert_string_equal(le->sub_zone, "r1");
    assert_int_equal(le->priority, 0);
    assert_int_equal(le->weight, 10);
    assert_int_equal(le->n_endpoints, 2);
    assert_ep(&le->endpoints[0], "127.0.0.1", 9901, 1);
    assert_string_equal(le->endpoints[0].addr.str, "127.0.0.1:9901");
    assert_ep(&le->endpoints[1], "::1", 9902, 5);
    assert_string_equal(le->endpoints[1].addr.str, "[::1]:9902");
    le = &c->localities[1];
    assert_int_equal(le->priority, 1);
    assert_int_equal(le->weight, 0);
    assert_string_equal(le->region, "");
    assert_int_equal(le->n_endpoints, 1);
    assert_ep(&le->endpoints[0], "10.0.0.1", 80, 1);

    /* STRICT_DNS */
    c = cluster(s, "dns_c");
    assert_int_equal(c->type, CLUSTER_STRICT_DNS);
    assert_int_equal(c->lb_policy, LB_LEAST_REQUEST);
    assert_int_equal(c->least_request_choice_count, 3);
    assert_int_equal(c->dns_lookup_family, DNS_V4_PREFERRED);
    assert_int_equal(c->dns_refresh_rate_ms, 10000);
    assert_true(c->respect_dns_ttl);
    assert_int_equal(c->connect_timeout_ms, 5000);
    assert_int_equal(c->localities[0].n_endpoints, 2);
    assert_ep(&c->localities[0].endpoints[0], "backend.example.com", 443, 1);
    assert_null(c->localities[0].endpoints[0].addr.str); /* a name: no address yet */
    assert_ep(&c->localities[0].endpoints[1], "192.0.2.7", 444, 1);
    assert_string_equal(c->localities[0].endpoints[1].addr.str, "192.0.2.7:444");

    /* LOGICAL_DNS */
    c = cluster(s, "logical_c");
    assert_int_equal(c->type, CLUSTER_LOGICAL_DNS);
    assert_int_equal(c->lb_policy, LB_RANDOM);
    assert_int_equal(c->dns_lookup_family, DNS_ALL);
    assert_ep(&c->localities[0].endpoints[0], "www.example.com", 80, 1);
    assert_null(cfg_find_cluster(bs, "nope"));
    snap_unref(s);
}

/* The smallest bootstrap with a listener: every Envoy default appears in the model. */
static void test_defaults(void **state)
{
    (void)state;
    struct snapshot *s = load_ok("static_resources:\n"
                                 "  clusters:\n"
                                 "  - name: c1\n"
                                 "  listeners:\n" L_TCP(10000));
    const struct cfg_bootstrap *bs = s->bs;
    assert_string_equal(bs->node.id, "");
    assert_string_equal(bs->node.cluster, "");
    assert_string_equal(bs->node.zone, "");
    assert_string_equal(bs->node.region, "");
    assert_string_equal(bs->node.sub_zone, "");
    assert_null(bs->node.metadata);
    assert_false(bs->admin.enabled);
    assert_int_equal(bs->admin.n_access_logs, 0);

    const struct cfg_cluster *c = cluster(s, "c1");
    assert_string_equal(c->alt_stat_name, "");
    assert_int_equal(c->type, CLUSTER_STATIC);
    assert_int_equal(c->lb_policy, LB_ROUND_ROBIN);
    assert_int_equal(c->connect_timeout_ms, 5000);
    assert_int_equal(c->per_connection_buffer_limit_bytes, 1048576);
    assert_int_equal(c->dns_lookup_family, DNS_AUTO);
    assert_int_equal(c->dns_refresh_rate_ms, 5000);
    assert_false(c->respect_dns_ttl);
    assert_int_equal(c->least_request_choice_count, 2);
    assert_int_equal(c->n_localities, 0);
    assert_int_equal(c->cb.max_connections, 1024);
    assert_int_equal(c->cb.max_pending_requests, 1024);
    assert_int_equal(c->cb.max_requests, 1024);
    assert_int_equal(c->cb.max_retries, 3);

    assert_int_equal(bs->n_listeners, 1);
    const struct cfg_listener *l = &bs->listeners[0];
    /* Envoy names an unnamed listener with a random (v4) UUID. */
    assert_int_equal(strlen(l->name), 36);
    assert_int_equal(l->name[8], '-');
    assert_int_equal(l->name[13], '-');
    assert_int_equal(l->name[14], '4');
    assert_int_equal(l->name[18], '-');
    assert_int_equal(l->name[23], '-');
    assert_string_equal(l->stat_prefix, "127.0.0.1_10000");
    assert_int_equal(l->per_connection_buffer_limit_bytes, 1048576);
    assert_true(l->enable_reuse_port);
    const struct cfg_tcp_proxy *tp = tcp_proxy_of(l);
    assert_int_equal(tp->idle_timeout_ms, 3600000);
    assert_int_equal(tp->max_connect_attempts, 1);
    assert_int_equal(tp->max_downstream_connection_duration_ms, 0);
    assert_int_equal(tp->n_access_logs, 0);
    assert_int_equal(tp->total_weight, 0);
    snap_unref(s);
}

static void test_default_example_config(void **state)
{
    (void)state;
    struct cfg_err err;
    struct cfg_load_opts opts = {.config_path = "config/examples/default.yaml"};
    if (access(opts.config_path, R_OK) != 0)
        fail_msg("run the unit tests from the repository root (%s not found)", opts.config_path);
    cfg_err_init(&err);
    struct snapshot *s = load_ok_opts(&opts, &err);
    assert_int_equal(err.n_warnings, 0);
    assert_string_equal(listener(s, "ingress")->addr.str, "127.0.0.1:10000");
    const struct cfg_listener *l = listener(s, "tcp_admin");
    assert_string_equal(l->addr.str, "127.0.0.1:10003");
    const struct cfg_tcp_proxy *tp = tcp_proxy_of(l);
    assert_string_equal(tp->stat_prefix, "admin_passthrough");
    assert_string_equal(tp->cluster, "admin");
    const struct cfg_cluster *c = cluster(s, "admin");
    assert_int_equal(c->type, CLUSTER_STATIC);
    assert_string_equal(c->localities[0].endpoints[0].addr.str, "127.0.0.1:9901");
    assert_true(s->bs->admin.enabled);
    assert_string_equal(s->bs->admin.addr.str, "127.0.0.1:9901");
    snap_unref(s);
    cfg_err_fini(&err);
}

/* proto3 JSON: lowerCamelCase keys, string-encoded integers, JSON text. */
static void test_json_and_camel_case(void **state)
{
    (void)state;
    struct snapshot *s = load_ok(
        "{\"staticResources\": {\"clusters\": [{\"name\": \"j\", \"connectTimeout\": \"2s\", "
        "\"type\": \"STRICT_DNS\", \"lbPolicy\": \"LEAST_REQUEST\", "
        "\"leastRequestLbConfig\": {\"choiceCount\": 4}, \"dnsRefreshRate\": \"0.5s\", "
        "\"perConnectionBufferLimitBytes\": \"4096\", \"respectDnsTtl\": true, "
        "\"circuitBreakers\": {\"thresholds\": [{\"maxRetries\": 9}]}, "
        "\"loadAssignment\": {\"clusterName\": \"j\", \"endpoints\": [{\"lbEndpoints\": "
        "[{\"endpoint\": {\"address\": {\"socketAddress\": {\"address\": \"example.com\", "
        "\"portValue\": \"443\"}}}, \"loadBalancingWeight\": 7}]}]}}],"
        " \"listeners\": [{\"name\": \"jl\", \"address\": {\"socketAddress\": {\"address\": "
        "\"0.0.0.0\", \"portValue\": 8443}}, \"statPrefix\": \"jsp\", \"enableReusePort\": "
        "false, \"filterChains\": [{\"filters\": [{\"name\": \"x\", \"typedConfig\": "
        "{\"@type\": \"" TCP_URL "\", \"statPrefix\": \"t\", \"cluster\": \"j\", "
        "\"idleTimeout\": \"30s\", \"maxConnectAttempts\": 2}}]}]}]}}");
    const struct cfg_cluster *c = cluster(s, "j");
    assert_int_equal(c->connect_timeout_ms, 2000);
    assert_int_equal(c->type, CLUSTER_STRICT_DNS);
    assert_int_equal(c->lb_policy, LB_LEAST_REQUEST);
    assert_int_equal(c->least_request_choice_count, 4);
    assert_int_equal(c->dns_refresh_rate_ms, 500);
    assert_int_equal(c->per_connection_buffer_limit_bytes, 4096);
    assert_true(c->respect_dns_ttl);
    assert_int_equal(c->cb.max_retries, 9);
    assert_int_equal(c->cb.max_connections, 1024);
    assert_ep(&c->localities[0].endpoints[0], "example.com", 443, 7);
    const struct cfg_listener *l = listener(s, "jl");
    assert_string_equal(l->addr.str, "0.0.0.0:8443");
    assert_string_equal(l->stat_prefix, "jsp");
    assert_false(l->enable_reuse_port);
    const struct cfg_tcp_proxy *tp = tcp_proxy_of(l);
    assert_int_equal(tp->idle_timeout_ms, 30000);
    assert_int_equal(tp->max_connect_attempts, 2);
    snap_unref(s);
}

/* Mixed spellings are neither snake_case nor protobuf's JSON name: unknown, as in Envoy. */
static void test_mixed_case_key_is_unknown(void **state)
{
    (void)state;
    expect_errors("static_resources:\n"
                  "  clusters:\n"
                  "  - name: c1\n"
                  "    Connect_Timeout: 1s\n"
                  "    connectTimeOut: 1s\n",
                  "--config-yaml:4:5: static_resources.clusters[0].Connect_Timeout: unknown field "
                  "\"Connect_Timeout\" in envoy.config.cluster.v3.Cluster",
                  "--config-yaml:5:5: static_resources.clusters[0].connectTimeOut: unknown field "
                  "\"connectTimeOut\" in envoy.config.cluster.v3.Cluster");
}

static void test_enums_case_insensitive_and_numeric(void **state)
{
    (void)state;
    struct snapshot *s = load_ok("static_resources:\n"
                                 "  clusters:\n"
                                 "  - name: a\n"
                                 "    type: strict_dns\n"
                                 "    lb_policy: Least_Request\n"
                                 "    dns_lookup_family: v6_only\n"
                                 "  - name: b\n"
                                 "    type: 2\n"
                                 "    lb_policy: 3\n"
                                 "    dns_lookup_family: \"1\"\n"
                                 "    load_assignment:\n"
                                 "      cluster_name: b\n"
                                 "      endpoints:\n"
                                 "      - lb_endpoints:\n"
                                 "        - endpoint: { address: { socket_address: "
                                 "{ address: b.example, port_value: 80, protocol: tcp } } }\n");
    const struct cfg_cluster *c = cluster(s, "a");
    assert_int_equal(c->type, CLUSTER_STRICT_DNS);
    assert_int_equal(c->lb_policy, LB_LEAST_REQUEST);
    assert_int_equal(c->dns_lookup_family, DNS_V6_ONLY);
    c = cluster(s, "b");
    assert_int_equal(c->type, CLUSTER_LOGICAL_DNS);
    assert_int_equal(c->lb_policy, LB_RANDOM);
    assert_int_equal(c->dns_lookup_family, DNS_V4_ONLY);
    snap_unref(s);
    expect_errors("static_resources:\n"
                  "  clusters:\n"
                  "  - name: a\n"
                  "    type: 9\n",
                  "--config-yaml:4:11: static_resources.clusters[0].type: invalid value \"9\" for "
                  "enum envoy.config.cluster.v3.Cluster.DiscoveryType (expected one of STATIC, "
                  "STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST)");
}

/* YAML duplicate keys: the last one wins, whatever the spelling; null means unset. */
static void test_duplicate_keys_and_nulls(void **state)
{
    (void)state;
    struct snapshot *s = load_ok("static_resources:\n"
                                 "  clusters:\n"
                                 "  - name: a\n"
                                 "    connect_timeout: 1s\n"
                                 "    connectTimeout: 2s\n"
                                 "    connect_timeout: 3s\n"
                                 "    lb_policy: RANDOM\n"
                                 "    lb_policy: ~\n"
                                 "    per_connection_buffer_limit_bytes: null\n"
                                 "    circuit_breakers:\n"
                                 "    health_checks: ~\n"
                                 "    load_assignment:\n"
                                 "  - name: b\n"
                                 "    name: b2\n"
                                 "    dns_refresh_rate: 2s\n"
                                 "    dns_refresh_rate:\n"
                                 "  listeners: ~\n"
                                 "admin: ~\n"
                                 "node:\n");
    const struct cfg_cluster *c = cluster(s, "a");
    assert_int_equal(c->connect_timeout_ms, 3000);
    assert_int_equal(c->lb_policy, LB_ROUND_ROBIN);
    assert_int_equal(c->per_connection_buffer_limit_bytes, 1048576);
    assert_int_equal(c->cb.max_connections, 1024);
    assert_int_equal(c->n_localities, 0);
    assert_null(cfg_find_cluster(s->bs, "b"));
    c = cluster(s, "b2");
    assert_int_equal(c->dns_refresh_rate_ms, 5000);
    assert_int_equal(s->bs->n_listeners, 0);
    assert_false(s->bs->admin.enabled);
    snap_unref(s);
}

/* YAML integers as yaml-cpp reads them for Envoy (hex, octal), integral floats, strings. */
static void test_integer_forms(void **state)
{
    (void)state;
    struct snapshot *s = load_ok("static_resources:\n"
                                 "  clusters:\n"
                                 "  - name: a\n"
                                 "    per_connection_buffer_limit_bytes: 0x1000\n"
                                 "    circuit_breakers:\n"
                                 "      thresholds:\n"
                                 "      - max_connections: 010\n"
                                 "        max_requests: 1e3\n"
                                 "        max_retries: \"7\"\n"
                                 "        max_pending_requests: +5\n"
                                 "    load_assignment:\n"
                                 "      cluster_name: a\n"
                                 "      endpoints:\n"
                                 "      - lb_endpoints:\n"
                                 "        - endpoint: { address: { socket_address: "
                                 "{ address: 127.0.0.1, port_value: 0x1F90 } } }\n");
    const struct cfg_cluster *c = cluster(s, "a");
    assert_int_equal(c->per_connection_buffer_limit_bytes, 4096);
    assert_int_equal(c->cb.max_connections, 8);
    assert_int_equal(c->cb.max_requests, 1000);
    assert_int_equal(c->cb.max_retries, 7);
    assert_int_equal(c->cb.max_pending_requests, 5);
    assert_int_equal(c->localities[0].endpoints[0].port, 8080);
    snap_unref(s);
    expect_errors("static_resources:\n"
                  "  clusters:\n"
                  "  - name: a\n"
                  "    per_connection_buffer_limit_bytes: 4294967296\n"
                  "    circuit_breakers: { thresholds: [ { max_retries: 1.5 }, "
                  "{ max_requests: \"0x10\" }, { max_connections: -1 } ] }\n",
                  "--config-yaml:4:40: static_resources.clusters[0]."
                  "per_connection_buffer_limit_bytes: \"4294967296\" is out of range for an "
                  "unsigned 32-bit integer",
                  "--config-yaml:5:54: static_resources.clusters[0].circuit_breakers.thresholds[0]"
                  ".max_retries: expected an unsigned 32-bit integer, got \"1.5\"",
                  "--config-yaml:5:77: static_resources.clusters[0].circuit_breakers.thresholds[1]"
                  ".max_requests: expected an unsigned 32-bit integer, got \"0x10\"",
                  "--config-yaml:5:106: static_resources.clusters[0].circuit_breakers.thresholds[2]"
                  ".max_connections: \"-1\" is out of range for an unsigned 32-bit integer");
}

static void test_duration_forms(void **state)
{
    (void)state;
    struct snapshot *s = load_ok("static_resources:\n"
                                 "  clusters:\n"
                                 "  - name: a\n"
                                 "    connect_timeout: { seconds: 2, nanos: 500000000 }\n"
                                 "  - name: b\n"
                                 "    connect_timeout: \"0.000000001s\"\n"
                                 "  - name: c\n"
                                 "    connect_timeout: 86400s\n"
                                 "    dns_refresh_rate: 0.0011s\n");
    assert_int_equal(cluster(s, "a")->connect_timeout_ms, 2500);
    assert_int_equal(cluster(s, "b")->connect_timeout_ms, 1); /* 1ns: rounded up, not off */
    assert_int_equal(cluster(s, "c")->connect_timeout_ms, 86400000);
    assert_int_equal(cluster(s, "c")->dns_refresh_rate_ms, 1);
    snap_unref(s);
}

static void test_ipv6_and_port_zero_listeners(void **state)
{
    (void)state;
    struct snapshot *s =
        load_ok("static_resources:\n"
                "  clusters:\n"
                "  - name: c1\n"
                "  listeners:\n"
                "  - name: a\n"
                "    address: { socket_address: { address: \"::\", port_value: 0 } }\n"
                "    filter_chains: [ { filters: [ { name: envoy.filters.network.tcp_proxy, "
                "typed_config: { \"@type\": " TCP_URL ", stat_prefix: a, cluster: c1 } } ] } ]\n"
                "  - name: b\n"
                "    address: { socket_address: { address: \"::\", port_value: 0 } }\n"
                "    default_filter_chain: { filter_chain_match: { server_names: [x] }, filters: "
                "[ { name: envoy.filters.network.tcp_proxy, "
                "typed_config: { \"@type\": " TCP_URL ", stat_prefix: b, cluster: c1 } } ] }\n"
                "  - name: c\n"
                "    address: { socket_address: { address: \"0:0::0:1\", port_value: 1 } }\n"
                "    filter_chains: [ { filter_chain_match: {}, filters: [ { name: "
                "envoy.filters.network.tcp_proxy, typed_config: { \"@type\": " TCP_URL
                ", stat_prefix: c, cluster: c1 } } ] } ]\n");
    const struct cfg_listener *l = listener(s, "a");
    assert_string_equal(l->addr.str, "[::]:0");
    assert_string_equal(l->addr.stat_name, "[__]_0");
    l = listener(s, "b");
    assert_int_equal(l->n_chains, 0);
    assert_non_null(l->default_chain);
    assert_int_equal(l->default_chain->n_filters, 1);
    l = listener(s, "c");
    assert_string_equal(l->addr.ip, "::1"); /* normalised */
    assert_string_equal(l->addr.str, "[::1]:1");
    snap_unref(s);
}

/* Envoy's TypedStruct wrapper around an extension config. */
static void test_typed_struct(void **state)
{
    (void)state;
    struct snapshot *s =
        load_ok("static_resources:\n"
                "  clusters:\n"
                "  - name: c1\n"
                "  listeners:\n"
                "  - name: ts\n"
                "    address: { socket_address: { address: 127.0.0.1, port_value: 1 } }\n"
                "    filter_chains:\n"
                "    - filters:\n"
                "      - name: proxy\n"
                "        typed_config:\n"
                "          \"@type\": type.googleapis.com/xds.type.v3.TypedStruct\n"
                "          type_url: " TCP_URL "\n"
                "          value: { stat_prefix: ts, cluster: c1, idle_timeout: 10s }\n");
    const struct cfg_tcp_proxy *tp = tcp_proxy_of(listener(s, "ts"));
    assert_string_equal(tp->stat_prefix, "ts");
    assert_int_equal(tp->idle_timeout_ms, 10000);
    snap_unref(s);
}

/* ---- --config-path, --config-yaml, --service-* ---------------------------------------------- */

static char *write_temp(const char *text)
{
    char tmpl[] = "/tmp/remora-translate-XXXXXX.yaml";
    int fd = mkstemps(tmpl, 5);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    char *path = strdup(tmpl);
    assert_non_null(path);
    return path;
}

static void test_config_yaml_merges_over_file(void **state)
{
    (void)state;
    char *path =
        write_temp("node: { id: from-file, cluster: file-cluster }\n"
                   "admin:\n"
                   "  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }\n"
                   "static_resources:\n"
                   "  clusters:\n"
                   "  - name: c1\n"
                   "    connect_timeout: 1s\n");
    struct cfg_err err;
    struct cfg_load_opts opts = {
        .config_path = path,
        .config_yaml = "node: { id: from-yaml }\n"
                       "admin: { address: { socket_address: { port_value: 9902 } } }\n"
                       "static_resources:\n"
                       "  clusters:\n"
                       "  - name: c2\n",
    };
    cfg_err_init(&err);
    struct snapshot *s = load_ok_opts(&opts, &err);
    assert_string_equal(s->bs->node.id, "from-yaml");         /* scalar replaced */
    assert_string_equal(s->bs->node.cluster, "file-cluster"); /* map merged */
    assert_string_equal(s->bs->admin.addr.str, "127.0.0.1:9902");
    assert_int_equal(s->bs->n_clusters, 2); /* list appended */
    assert_string_equal(s->bs->clusters[0].name, "c1");
    assert_int_equal(s->bs->clusters[0].connect_timeout_ms, 1000);
    assert_string_equal(s->bs->clusters[1].name, "c2");
    snap_unref(s);
    cfg_err_fini(&err);

    /* Errors name the source each value came from. */
    opts.config_yaml = "static_resources:\n"
                       "  clusters:\n"
                       "  - name: c3\n"
                       "    connect_timeout: soon\n";
    cfg_err_init(&err);
    s = NULL;
    assert_int_equal(config_load(&opts, &s, &err), -RM_ECONFIG);
    static const char *const want_yaml[] = {
        "--config-yaml:4:22: static_resources.clusters[1].connect_timeout: invalid duration "
        "\"soon\": a duration is a number of seconds ending in \"s\", like \"5s\" or \"0.25s\""};
    assert_msgs(&err, CFG_ERROR, want_yaml, 1);
    cfg_err_fini(&err);

    unlink(path);
    free(path);
}

static void test_error_in_file_names_the_file(void **state)
{
    (void)state;
    char *path = write_temp("static_resources:\n"
                            "  clusters:\n"
                            "  - name: c1\n"
                            "    lb_policy: MAGLEV\n");
    struct cfg_err err;
    struct snapshot *s = NULL;
    struct cfg_load_opts opts = {.config_path = path};
    cfg_err_init(&err);
    assert_int_equal(config_load(&opts, &s, &err), -RM_ECONFIG);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:4:16: static_resources.clusters[0].lb_policy: MAGLEV is not supported by "
             "Remora yet",
             path);
    const char *const wants[] = {want};
    assert_msgs(&err, CFG_ERROR, wants, 1);
    cfg_err_fini(&err);
    unlink(path);

    /* A missing file is an I/O error, reported once. */
    cfg_err_init(&err);
    assert_int_equal(config_load(&opts, &s, &err), -RM_EIO);
    assert_null(s);
    assert_int_equal(err.n_errors, 1);
    cfg_err_fini(&err);
    free(path);
}

static void test_service_overrides(void **state)
{
    (void)state;
    struct cfg_err err;
    struct cfg_load_opts opts = {
        .config_yaml = "node: { id: n, cluster: c, locality: { region: r, zone: z } }\n",
        .service_node = "svc-node",
        .service_cluster = "svc-cluster",
        .service_zone = "svc-zone",
    };
    cfg_err_init(&err);
    struct snapshot *s = load_ok_opts(&opts, &err);
    assert_string_equal(s->bs->node.id, "svc-node");
    assert_string_equal(s->bs->node.cluster, "svc-cluster");
    assert_string_equal(s->bs->node.zone, "svc-zone");
    assert_string_equal(s->bs->node.region, "r");
    /* The merged tree (what /config_dump shows) carries the overrides too. */
    assert_true(vt_scalar_is(vt_map_get(vt_map_get(s->bs->src, "node"), "id"), "svc-node"));
    snap_unref(s);
    cfg_err_fini(&err);

    /* Without a node in the config at all. */
    struct cfg_load_opts only = {.config_yaml = "admin: {}\n", .service_zone = "z1"};
    cfg_err_init(&err);
    s = load_ok_opts(&only, &err);
    assert_string_equal(s->bs->node.zone, "z1");
    assert_string_equal(s->bs->node.id, "");
    snap_unref(s);
    cfg_err_fini(&err);
}

static void test_no_config(void **state)
{
    (void)state;
    struct cfg_err err;
    struct snapshot *s = NULL;
    struct cfg_load_opts opts = {0};
    cfg_err_init(&err);
    assert_int_equal(config_load(&opts, &s, &err), -RM_ECONFIG);
    static const char *const want[] = {"no configuration: give a bootstrap file with "
                                       "--config-path (-c) and/or inline YAML with --config-yaml"};
    assert_msgs(&err, CFG_ERROR, want, 1);
    cfg_err_fini(&err);

    /* A --config-yaml that is not a map (Envoy once crashed on this). */
    expect_errors("just text", "--config-yaml:1:1: expected a map "
                               "(envoy.config.bootstrap.v3.Bootstrap), got \"just text\"");
}

/* ---- warnings ------------------------------------------------------------------------------ */

static void test_deprecated_admin_access_log_path(void **state)
{
    (void)state;
    const char *yaml = "admin:\n"
                       "  access_log_path: /tmp/admin_access.log\n"
                       "  profile_path: /tmp/envoy.prof\n"
                       "  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }\n"
                       "  access_log: [ { name: envoy.access_loggers.stderr } ]\n";
    expect_warnings(yaml,
                    "--config-yaml:2:3: admin.access_log_path: Using deprecated option "
                    "'envoy.config.bootstrap.v3.Admin.access_log_path': use access_log",
                    "--config-yaml:3:3: admin.profile_path: profile_path has no effect in Remora: "
                    "there is no CPU profiler");
    struct cfg_err err;
    struct cfg_load_opts opts = {.config_yaml = yaml};
    cfg_err_init(&err);
    struct snapshot *s = load_ok_opts(&opts, &err);
    const struct cfg_admin *a = &s->bs->admin;
    assert_int_equal(a->n_access_logs, 2);
    assert_int_equal(a->access_logs[0].sink, ALOG_SINK_FILE);
    assert_string_equal(a->access_logs[0].path, "/tmp/admin_access.log");
    assert_null(a->access_logs[0].format); /* Envoy's default format */
    assert_int_equal(a->access_logs[1].sink, ALOG_SINK_STDERR);
    snap_unref(s);
    cfg_err_fini(&err);

    /* "/dev/null" is how Envoy's docs say "no admin log". */
    cfg_err_init(&err);
    opts.config_yaml = "admin: { access_log_path: /dev/null }\n";
    s = load_ok_opts(&opts, &err);
    assert_int_equal(s->bs->admin.n_access_logs, 0);
    assert_false(s->bs->admin.enabled);
    snap_unref(s);
    cfg_err_fini(&err);
}

static void test_deprecated_and_ignored_fields(void **state)
{
    (void)state;
    const char *yaml =
        "watchdog: { miss_timeout: 1s }\n"                     /* 1 */
        "static_resources:\n"                                  /* 2 */
        "  clusters:\n"                                        /* 3 */
        "  - name: c1\n"                                       /* 4 */
        "    track_cluster_stats: { timeout_budgets: true }\n" /* 5 */
        "    circuit_breakers:\n"                              /* 6 */
        "      thresholds:\n"                                  /* 7 */
        "      - { priority: HIGH, max_connections: 5 }\n"     /* 8 */
        "      - { max_connections: 6 }\n"                     /* 9 */
        "      - { max_connections: 7 }\n"                     /* 10 */
        "  listeners:\n"                                       /* 11 */
        "  - name: l\n"                                        /* 12 */
        "    reuse_port: true\n"                               /* 13 */
        "    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }\n"
        "    filter_chains: [ { filters: [ { name: envoy.filters.network.tcp_proxy, "
        "typed_config: { \"@type\": " TCP_URL ", stat_prefix: p, cluster: c1 } } ] } ]\n";
    expect_warnings(yaml,
                    "--config-yaml:1:1: watchdog: Using deprecated option "
                    "'envoy.config.bootstrap.v3.Bootstrap.watchdog'; it has no effect in Remora",
                    "--config-yaml:5:5: static_resources.clusters[0].track_cluster_stats: "
                    "track_cluster_stats has no effect in Remora: optional cluster stats are not "
                    "collected",
                    "--config-yaml:8:9: static_resources.clusters[0].circuit_breakers.thresholds[0]"
                    ": HIGH priority thresholds have no effect in Remora yet: all traffic runs at "
                    "DEFAULT priority",
                    "--config-yaml:10:9: static_resources.clusters[0].circuit_breakers.thresholds"
                    "[2]: duplicate DEFAULT priority thresholds: only the first one applies (as in "
                    "Envoy)",
                    "--config-yaml:13:5: static_resources.listeners[0].reuse_port: Using "
                    "deprecated option 'envoy.config.listener.v3.Listener.reuse_port'; it has no "
                    "effect in Remora: use enable_reuse_port (which defaults to true)");
    struct snapshot *s = load_ok_warned(yaml);
    assert_int_equal(cluster(s, "c1")->cb.max_connections, 6);
    snap_unref(s);
}

/* Unsupported fields set to the value that means Envoy's default behaviour are accepted. */
static void test_inert_values_accepted(void **state)
{
    (void)state;
    struct snapshot *s = load_ok(
        "dynamic_resources: {}\n"
        "stats_sinks: []\n"
        "layered_runtime:\n"
        "  layers:\n"
        "  - { name: static, static_layer: {} }\n"
        "  - { name: admin, admin_layer: {} }\n"
        "cluster_manager: { local_cluster_name: \"\" }\n"
        "static_resources:\n"
        "  secrets: []\n"
        "  clusters:\n"
        "  - name: c1\n"
        "    health_checks: []\n"
        "    use_tcp_for_dns_lookups: false\n"
        "    wait_for_warm_on_init: true\n"
        "    protocol_selection: use_configured_protocol\n"
        "    typed_extension_protocol_options: {}\n"
        "    common_lb_config: {}\n"
        "    metadata: { filter_metadata: { x: { y: z } } }\n"
        "    cleanup_interval: 5s\n"
        "    transport_socket: { name: envoy.transport_sockets.raw_buffer }\n"
        "  listeners:\n"
        "  - name: l\n"
        "    use_original_dst: false\n"
        "    listener_filters: []\n"
        "    drain_type: DEFAULT\n"
        "    bind_to_port: true\n"
        "    tcp_fast_open_queue_length: 0\n"
        "    traffic_direction: INBOUND\n"
        "    listener_filters_timeout: 1s\n"
        "    address: { socket_address: { address: 127.0.0.1, port_value: 1, ipv4_compat: false, "
        "resolver_name: \"\" } }\n"
        "    filter_chains:\n"
        "    - filter_chain_match: { transport_protocol: \"\", server_names: [], source_type: ANY "
        "}\n"
        "      use_proxy_proto: false\n"
        "      filters:\n"
        "      - name: envoy.filters.network.tcp_proxy\n"
        "        typed_config:\n"
        "          \"@type\": " TCP_URL "\n"
        "          stat_prefix: p\n"
        "          cluster: c1\n"
        "          hash_policy: []\n"
        "          metadata_match: {}\n"
        "          flush_access_log_on_connected: false\n");
    assert_int_equal(s->bs->n_listeners, 1);
    assert_int_equal(s->bs->listeners[0].n_chains, 1);
    snap_unref(s);
}

/* ---- errors: each fixture asserts the complete error list --------------------------------- */

static void test_unknown_fields(void **state)
{
    (void)state;
    expect_errors(FX_UNKNOWN,
                  "--config-yaml:1:1: static_resource: unknown field \"static_resource\" in "
                  "envoy.config.bootstrap.v3.Bootstrap",
                  "--config-yaml:5:5: static_resources.clusters[0].connect_timout: unknown field "
                  "\"connect_timout\" in envoy.config.cluster.v3.Cluster",
                  "--config-yaml:6:5: static_resources.clusters[0].hosts: unknown field \"hosts\" "
                  "in envoy.config.cluster.v3.Cluster (removed in the v3 API: use "
                  "load_assignment)",
                  "--config-yaml:13:69: static_resources.clusters[0].load_assignment.endpoints[0]"
                  ".lb_endpoints[0].endpoint.address.socket_address.Port_value: unknown field "
                  "\"Port_value\" in envoy.config.core.v3.SocketAddress",
                  "--config-yaml:24:11: static_resources.listeners[0].filter_chains[0].filters[0]"
                  ".typed_config.bogus: unknown field \"bogus\" in "
                  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy");
}

static void test_unsupported_fields(void **state)
{
    (void)state;
    expect_errors(FX_UNSUP,
                  "--config-yaml:5:5: static_resources.clusters[0].health_checks: health_checks "
                  "is not supported by Remora yet: active health checking is not implemented",
                  "--config-yaml:4:5: static_resources.clusters[0].outlier_detection: "
                  "outlier_detection is not supported by Remora yet: outlier detection is not "
                  "implemented",
                  "--config-yaml:11:11: static_resources.clusters[0].type: EDS is not supported "
                  "by Remora yet",
                  "--config-yaml:12:16: static_resources.clusters[0].lb_policy: RING_HASH is not "
                  "supported by Remora yet",
                  "--config-yaml:18:5: static_resources.listeners[0].transparent: transparent is "
                  "not supported by Remora yet",
                  "--config-yaml:27:11: static_resources.listeners[0].filter_chains[0].filters[0]"
                  ".typed_config.tunneling_config: tunneling_config is not supported by Remora "
                  "yet: tunneling over HTTP is not implemented");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_errors(FX_TYPES,
                  "--config-yaml:5:22: static_resources.clusters[0].connect_timeout: expected a "
                  "duration like \"5s\", got a list",
                  "--config-yaml:6:40: static_resources.clusters[0]."
                  "per_connection_buffer_limit_bytes: expected an unsigned 32-bit integer, got "
                  "\"lots\"",
                  "--config-yaml:8:24: static_resources.clusters[0].dns_lookup_family: invalid "
                  "value \"V5_ONLY\" for enum envoy.config.cluster.v3.Cluster.DnsLookupFamily "
                  "(expected one of AUTO, V4_ONLY, V6_ONLY, V4_PREFERRED, ALL)",
                  "--config-yaml:7:22: static_resources.clusters[0].respect_dns_ttl: expected a "
                  "boolean (true or false), got \"maybe\"",
                  "--config-yaml:9:23: static_resources.clusters[0].circuit_breakers: expected a "
                  "map (envoy.config.cluster.v3.CircuitBreakers), got a list",
                  "--config-yaml:10:5: static_resources.clusters[1]: expected a map "
                  "(envoy.config.cluster.v3.Cluster), got \"just a string\"",
                  "--config-yaml:2:14: static_resources.listeners: expected a list, got a map");
}

#define DURATION_FORM "a duration is a number of seconds ending in \"s\", like \"5s\" or \"0.25s\""

static void test_bad_durations(void **state)
{
    (void)state;
    expect_errors(FX_DURATIONS,
                  "--config-yaml:4:22: static_resources.clusters[0].connect_timeout: invalid "
                  "duration \"5\": " DURATION_FORM,
                  "--config-yaml:6:22: static_resources.clusters[1].connect_timeout: invalid "
                  "duration \"-1s\": must not be negative",
                  "--config-yaml:8:22: static_resources.clusters[2].connect_timeout: "
                  "connect_timeout must be greater than 0s",
                  "--config-yaml:10:22: static_resources.clusters[3].connect_timeout: invalid "
                  "duration \"1.5\": " DURATION_FORM,
                  "--config-yaml:12:23: static_resources.clusters[4].dns_refresh_rate: "
                  "dns_refresh_rate must be greater than 1ms",
                  "--config-yaml:14:22: static_resources.clusters[5].connect_timeout: invalid "
                  "duration \"0.0000000001s\": at most 9 fraction digits (nanoseconds)",
                  "--config-yaml:16:22: static_resources.clusters[6].connect_timeout: invalid "
                  "duration \"5m\": " DURATION_FORM);
}

#define LBE "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints"

static void test_bad_ports_and_addresses(void **state)
{
    (void)state;
    expect_errors(FX_PORTS,
                  "--config-yaml:8:84: " LBE "[0].endpoint.address.socket_address.port_value: "
                  "port_value 70000 is out of range (0..65535)",
                  "--config-yaml:9:50: " LBE "[1].endpoint.address.socket_address.port_value: "
                  "port_value is required",
                  "--config-yaml:10:84: " LBE "[2].endpoint.address.socket_address.port_value: "
                  "port_value 0 is not a valid upstream port (1..65535)",
                  "--config-yaml:11:84: " LBE "[3].endpoint.address.socket_address.port_value: "
                  "expected a port number (0..65535), got \"-5\"",
                  "--config-yaml:12:98: " LBE "[4].endpoint.address.socket_address.protocol: UDP "
                  "is not supported by Remora yet",
                  "--config-yaml:13:34: " LBE "[5].endpoint.address.pipe: pipe is not supported "
                  "by Remora yet: Unix domain sockets are not implemented",
                  "--config-yaml:14:21: " LBE "[6].endpoint.address: address is required",
                  "--config-yaml:16:64: static_resources.listeners[0].address.socket_address."
                  "port_value: port_value 65536 is out of range (0..65535)");
}

static void test_static_needs_ip_and_logical_dns_one_host(void **state)
{
    (void)state;
    expect_errors(FX_STATICIP,
                  "--config-yaml:8:61: " LBE "[0].endpoint.address.socket_address.address: "
                  "malformed IP address: backend.local. Consider setting resolver_name or "
                  "setting cluster type to 'STRICT_DNS' or 'LOGICAL_DNS'",
                  "--config-yaml:9:61: " LBE "[1].endpoint.address.socket_address.address: "
                  "malformed IP address: [::1]. Consider setting resolver_name or setting "
                  "cluster type to 'STRICT_DNS' or 'LOGICAL_DNS'",
                  "--config-yaml:13:7: static_resources.clusters[1].load_assignment: LOGICAL_DNS "
                  "clusters must have a single locality_lb_endpoint and a single lb_endpoint",
                  "--config-yaml:18:5: static_resources.clusters[2].load_assignment: LOGICAL_DNS "
                  "clusters must have a single locality_lb_endpoint and a single lb_endpoint",
                  "--config-yaml:22:7: static_resources.clusters[3].load_assignment.cluster_name: "
                  "cluster_name is required (a non-empty string; usually the cluster's name)",
                  "--config-yaml:24:43: static_resources.listeners[0].address.socket_address."
                  "address: malformed IP address: localhost (a bind address is an IP literal "
                  "such as 127.0.0.1, 0.0.0.0 or ::)");
}

static void test_duplicates_and_names(void **state)
{
    (void)state;
    expect_errors(FX_DUPS,
                  "--config-yaml:4:11: static_resources.clusters[1].name: duplicate cluster 'c1' "
                  "(first defined at static_resources.clusters[0])",
                  "--config-yaml:5:11: static_resources.clusters[2].name: name is required (a "
                  "non-empty string)",
                  "--config-yaml:6:5: static_resources.clusters[3].name: name is required (a "
                  "non-empty string)",
                  "--config-yaml:14:11: static_resources.listeners[1].name: duplicate listener "
                  "name 'l1' (first defined at static_resources.listeners[0])",
                  "--config-yaml:18:14: static_resources.listeners[2].address: error adding "
                  "listener: 'l3' has duplicate address '127.0.0.1:10000' as existing listener "
                  "'l1' (static_resources.listeners[0])");
}

static void test_unknown_clusters(void **state)
{
    (void)state;
    expect_errors(FX_REFS,
                  "--config-yaml:12:20: static_resources.listeners[0].filter_chains[0].filters[0]"
                  ".typed_config.cluster: unknown cluster 'nope'",
                  "--config-yaml:24:21: static_resources.listeners[1].filter_chains[0].filters[0]"
                  ".typed_config.weighted_clusters.clusters[1].name: unknown cluster 'ghost'");
}

#define TPC(i) "static_resources.listeners[" #i "].filter_chains[0].filters[0].typed_config"

static void test_tcp_proxy_validation(void **state)
{
    (void)state;
    expect_errors(
        FX_TCPBAD,
        "--config-yaml:11:24: " TPC(0) ".stat_prefix: stat_prefix is required (a "
                                       "non-empty string; stats are rooted at tcp.<stat_prefix>.)",
        "--config-yaml:14:35: " TPC(0) ".weighted_clusters.clusters[0].weight: weight "
                                       "must be at least 1",
        "--config-yaml:15:15: " TPC(0) ".weighted_clusters.clusters[1].weight: weight "
                                       "must be at least 1",
        "--config-yaml:17:25: " TPC(0) ".idle_timeout: invalid duration \"-5s\": must "
                                       "not be negative",
        "--config-yaml:16:33: " TPC(0) ".max_connect_attempts: max_connect_attempts "
                                       "must be at least 1",
        "--config-yaml:26:30: " TPC(1) ".weighted_clusters: only one of cluster and "
                                       "weighted_clusters may be set (oneof cluster_specifier)",
        "--config-yaml:34:42: " TPC(2) ".weighted_clusters.clusters: weighted_clusters "
                                       "needs at least one cluster",
        "--config-yaml:40:11: " TPC(3) ": one of cluster or weighted_clusters is "
                                       "required (oneof cluster_specifier)");
}

#define LF(i) "static_resources.listeners[" #i "].filter_chains"

static void test_filters_and_chains(void **state)
{
    (void)state;
    expect_errors(
        FX_FILTERS,
        "--config-yaml:8:15: " LF(
            0) "[0].filters[0].name: Didn't find a registered "
               "implementation for name: 'envoy.filters.network.not_a_filter'",
        "--config-yaml:14:11: " LF(1) "[0].filters[0].typed_config: network filter hcm "
                                      "(envoy.extensions.filters.network.rbac.v3.RBAC) is "
                                      "not supported by Remora yet",
        "--config-yaml:21:11: " LF(
            2) "[0].filters[0].typed_config: Didn't find a registered "
               "implementation for 'envoy.filters.network.tcp_proxy' with type URL: "
               "'envoy.extensions.access_loggers.file.v3.FileAccessLog'",
        "--config-yaml:26:15: " LF(3) "[0].filters[0].name: network filter "
                                      "envoy.filters.network.rbac is not supported by Remora yet",
        "--config-yaml:30:15: " LF(
            4) "[0].filters[0]: terminal filter named first of type "
               "envoy.filters.network.tcp_proxy must be the last filter in a network filter chain",
        "--config-yaml:36:16: " LF(
            5) "[0].filters: a filter chain needs at least one network "
               "filter, ending with a terminal one such as envoy.filters.network.tcp_proxy",
        "--config-yaml:41:23: " LF(
            6) "[0].filters[0].typed_config: missing \"@type\": a "
               "typed_config names its message type, e.g. \"@type\": "
               "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "--config-yaml:42:5: " LF(7) ": error adding listener '127.0.0.1:10007': no filter "
                                     "chains specified",
        "--config-yaml:46:9: " LF(
            8) "[0].filters[0].typed_config.stat_prefix: stat_prefix is "
               "required (a non-empty string; stats are rooted at tcp.<stat_prefix>.)",
        "--config-yaml:46:9: " LF(8) "[0].filters[0].typed_config: one of cluster or "
                                     "weighted_clusters is required (oneof cluster_specifier)",
        "--config-yaml:47:29: " LF(
            8) "[1].filter_chain_match.server_names: server_names is not "
               "supported by Remora yet: a listener takes one filter chain without match criteria",
        "--config-yaml:51:33: " LF(
            8) "[2].transport_socket.name: No TLS certificates found for server context: "
               "transport socket envoy.transport_sockets.tls needs a typed_config "
               "(DownstreamTlsContext) with common_tls_context.tls_certificates",
        "--config-yaml:51:7: " LF(8) "[2]: error adding listener '127.0.0.1:10008': multiple "
                                     "filter chains with the same matching rules are defined");
}

static void test_required_fields(void **state)
{
    (void)state;
    expect_errors(
        FX_REQUIRED,
        "--config-yaml:5:5: static_resources.listeners[0].address: address is required "
        "(error adding listener named 'noaddr': address is necessary)",
        "--config-yaml:8:15: " LF(0) "[0].filters[0].name: name is required (a "
                                     "non-empty string)",
        "--config-yaml:9:9: " LF(0) "[0].filters[1]: expected a map "
                                    "(envoy.config.listener.v3.Filter), got \"just-a-string\"",
        "--config-yaml:11:135: " LF(0) "[0].filters[2].typed_config.cluster: cluster "
                                       "must not be empty");
}

static void test_access_log_errors(void **state)
{
    (void)state;
    unsetenv("REMORA_TEST_SURELY_UNSET");
    expect_errors(FX_ALOG,
                  "--config-yaml:3:5: admin.access_log[0].typed_config.path: path is required: "
                  "the file access logger needs a file to write to",
                  "--config-yaml:4:11: admin.access_log[1].name: access logger "
                  "envoy.access_loggers.http_grpc is not supported by Remora yet",
                  "--config-yaml:7:7: admin.access_log[2].typed_config: only one of log_format, "
                  "format, json_format and typed_json_format may be set (oneof "
                  "access_log_format)",
                  "--config-yaml:12:35: admin.access_log[3].filter.status_code_filter."
                  "comparison: comparison is required",
                  "--config-yaml:15:121: admin.access_log[4].typed_config.log_format: one of "
                  "text_format_source, json_format or text_format is required",
                  "--config-yaml:20:65: admin.access_log[5].typed_config.log_format."
                  "text_format_source.environment_variable: environment variable "
                  "REMORA_TEST_SURELY_UNSET is not set");
}

static void test_access_log_formats(void **state)
{
    (void)state;
    setenv("REMORA_TEST_FORMAT", "[%START_TIME%]\n", 1);
    char *path = write_temp("%BYTES_SENT% from-file\n");
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "admin:\n"
             "  access_log:\n"
             "  - name: envoy.access_loggers.file\n"
             "    typed_config:\n"
             "      \"@type\": type.googleapis.com/"
             "envoy.extensions.access_loggers.file.v3.FileAccessLog\n"
             "      path: /tmp/a.log\n"
             "      format: \"%%PROTOCOL%%\\n\"\n"
             "  - name: f2\n"
             "    typed_config:\n"
             "      \"@type\": type.googleapis.com/"
             "envoy.extensions.access_loggers.file.v3.FileAccessLog\n"
             "      path: /tmp/b.log\n"
             "      json_format: { p: \"%%PROTOCOL%%\" }\n"
             "  - name: f3\n"
             "    typed_config:\n"
             "      \"@type\": type.googleapis.com/"
             "envoy.extensions.access_loggers.file.v3.FileAccessLog\n"
             "      path: /tmp/c.log\n"
             "      log_format: { text_format_source: { filename: %s } }\n"
             "  - name: s\n"
             "    typed_config:\n"
             "      \"@type\": type.googleapis.com/"
             "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog\n"
             "      log_format: { text_format_source: { environment_variable: "
             "REMORA_TEST_FORMAT } }\n"
             "  - name: e\n"
             "    typed_config:\n"
             "      \"@type\": type.googleapis.com/"
             "envoy.extensions.access_loggers.stream.v3.StderrAccessLog\n"
             "      log_format: { text_format: \"x\", omit_empty_values: true }\n",
             path);
    expect_warnings(yaml,
                    "--config-yaml:7:7: admin.access_log[0].typed_config.format: Using deprecated "
                    "option 'envoy.extensions.access_loggers.file.v3.FileAccessLog.format': use "
                    "log_format.text_format_source.inline_string",
                    "--config-yaml:12:7: admin.access_log[1].typed_config.json_format: Using "
                    "deprecated option "
                    "'envoy.extensions.access_loggers.file.v3.FileAccessLog.json_format': use "
                    "log_format.json_format",
                    "--config-yaml:25:21: admin.access_log[4].typed_config.log_format.text_format: "
                    "Using deprecated option "
                    "'envoy.config.core.v3.SubstitutionFormatString.text_format': use "
                    "text_format_source.inline_string");
    struct snapshot *s = load_ok_warned(yaml);
    const struct cfg_admin *a = &s->bs->admin;
    assert_int_equal(a->n_access_logs, 5);
    assert_string_equal(a->access_logs[0].format, "%PROTOCOL%\n");
    assert_string_equal(a->access_logs[1].path, "/tmp/b.log");
    assert_null(a->access_logs[1].format);
    assert_true(vt_scalar_is(vt_map_get(a->access_logs[1].json_format, "p"), "%PROTOCOL%"));
    assert_string_equal(a->access_logs[2].format, "%BYTES_SENT% from-file\n");
    assert_int_equal(a->access_logs[3].sink, ALOG_SINK_STDOUT);
    assert_string_equal(a->access_logs[3].format, "[%START_TIME%]\n");
    assert_int_equal(a->access_logs[4].sink, ALOG_SINK_STDERR);
    assert_string_equal(a->access_logs[4].format, "x");
    assert_true(a->access_logs[4].omit_empty_values);
    snap_unref(s);
    unlink(path);
    free(path);
}

/* One bad config, problems everywhere: every one of them is reported in one load. */
static void test_multiple_errors_together(void **state)
{
    (void)state;
    expect_errors("admin: { address: { socket_address: { address: 127.0.0.1, port_value: x } } }\n"
                  "static_resources:\n"
                  "  clusters:\n"
                  "  - { name: a, connect_timeout: 1 }\n"
                  "  - { name: a, lb_policy: MAGLEV }\n"
                  "  listeners:\n"
                  "  - address: { socket_address: { address: 127.0.0.1, port_value: 1 } }\n"
                  "    filter_chains: [ { filters: [ { name: envoy.filters.network.tcp_proxy, "
                  "typed_config: { \"@type\": " TCP_URL ", stat_prefix: p, cluster: b } } ] } ]\n",
                  "--config-yaml:4:33: static_resources.clusters[0].connect_timeout: invalid "
                  "duration \"1\": " DURATION_FORM,
                  "--config-yaml:5:27: static_resources.clusters[1].lb_policy: MAGLEV is not "
                  "supported by Remora yet",
                  "--config-yaml:5:13: static_resources.clusters[1].name: duplicate cluster 'a' "
                  "(first defined at static_resources.clusters[0])",
                  "--config-yaml:1:71: admin.address.socket_address.port_value: expected a port "
                  "number (0..65535), got \"x\"",
                  "--config-yaml:8:202: " LF(0) "[0].filters[0].typed_config.cluster: unknown "
                                                "cluster 'b'");
}

/* layered_runtime: disk_layer's fields in the model, and Envoy's loader checks (the
 * layer_specifier oneof, unique names, one admin layer, AdminLayer has no fields). */
static void test_runtime_layers(void **state)
{
    (void)state;
    struct snapshot *s = load_ok("layered_runtime:\n"
                                 "  layers:\n"
                                 "  - { name: base, static_layer: { a: 1 } }\n"
                                 "  - name: disk\n"
                                 "    disk_layer: { symlink_root: /srv/runtime/current,\n"
                                 "                  subdirectory: envoy }\n"
                                 "  - name: per_cluster\n"
                                 "    disk_layer: { symlink_root: /srv/runtime/current,\n"
                                 "                  subdirectory: envoy_override,\n"
                                 "                  append_service_cluster: true }\n"
                                 "  - { name: bare, disk_layer: { symlink_root: /rt } }\n"
                                 "  - { name: admin, admin_layer: {} }\n");
    const struct cfg_bootstrap *bs = s->bs;
    assert_int_equal(bs->n_runtime_layers, 5);
    assert_int_equal(bs->runtime_layers[0].kind, RUNTIME_STATIC);
    const struct cfg_runtime_layer *d = &bs->runtime_layers[1];
    assert_int_equal(d->kind, RUNTIME_DISK);
    assert_string_equal(d->name, "disk");
    assert_string_equal(d->symlink_root, "/srv/runtime/current");
    assert_string_equal(d->subdirectory, "envoy");
    assert_false(d->append_service_cluster);
    d = &bs->runtime_layers[2];
    assert_string_equal(d->subdirectory, "envoy_override");
    assert_true(d->append_service_cluster);
    d = &bs->runtime_layers[3];
    assert_int_equal(d->kind, RUNTIME_DISK);
    assert_string_equal(d->subdirectory, "");
    assert_int_equal(bs->runtime_layers[4].kind, RUNTIME_ADMIN);
    snap_unref(s);

    /* clang-format off */
    expect_errors(
        /* 1 */ "layered_runtime:\n"
        /* 2 */ "  layers:\n"
        /* 3 */ "  - { name: a, static_layer: {}, disk_layer: { symlink_root: /x } }\n"
        /* 4 */ "  - { name: a, admin_layer: { x: 1 } }\n"
        /* 5 */ "  - { name: c, admin_layer: {} }\n"
        /* 6 */ "  - { name: d, rtds_layer: { name: r } }\n"
        /* 7 */ "  - { name: e }\n"
        /* 8 */ "  - { name: f, disk_layer: { symlink_root: /x, subdir: y } }\n",
        "--config-yaml:3:46: layered_runtime.layers[0].disk_layer: only one of static_layer, "
        "disk_layer, admin_layer and rtds_layer may be set (static_layer is set too)",
        "--config-yaml:4:31: layered_runtime.layers[1].admin_layer.x: unknown field \"x\" in "
        "envoy.config.bootstrap.v3.RuntimeLayer.AdminLayer",
        "--config-yaml:4:13: layered_runtime.layers[1].name: duplicate layer name 'a' (first "
        "used by layered_runtime.layers[0])",
        "--config-yaml:5:29: layered_runtime.layers[2].admin_layer: at most one admin_layer may "
        "be specified (layered_runtime.layers[1] is one)",
        "--config-yaml:6:16: layered_runtime.layers[3].rtds_layer: rtds_layer is not supported "
        "by Remora yet: xDS (RTDS) is not implemented yet",
        "--config-yaml:7:5: layered_runtime.layers[4]: a runtime layer needs one of "
        "static_layer, disk_layer or admin_layer",
        "--config-yaml:8:48: layered_runtime.layers[5].disk_layer.subdir: unknown field "
        "\"subdir\" in envoy.config.bootstrap.v3.RuntimeLayer.DiskLayer");
    /* clang-format on */
}

static void test_bootstrap_fields(void **state)
{
    (void)state;
    expect_errors(FX_BOOT,
                  "--config-yaml:1:1: runtime: unknown field \"runtime\" in "
                  "envoy.config.bootstrap.v3.Bootstrap (removed in the v3 API: use "
                  "layered_runtime)",
                  "--config-yaml:3:1: dynamic_resources: dynamic_resources is not supported by "
                  "Remora yet: xDS is not implemented yet",
                  "--config-yaml:4:1: stats_sinks: stats_sinks is not supported by Remora yet: "
                  "stats are served on the admin interface only",
                  "--config-yaml:2:27: node.metadata: expected a map (google.protobuf.Struct), "
                  "got a list",
                  "--config-yaml:15:14: admin.address.pipe: pipe is not supported by Remora yet: "
                  "Unix domain sockets are not implemented",
                  "--config-yaml:7:20: cluster_manager.local_cluster_name: local_cluster_name is "
                  "not supported by Remora yet: zone-aware routing is not implemented",
                  "--config-yaml:12:11: layered_runtime.layers[1].name: name is required (a "
                  "non-empty string)",
                  "--config-yaml:13:33: layered_runtime.layers[1].disk_layer.symlink_root: "
                  "symlink_root must be a path with a '/' (its directory is watched for the "
                  "symlink swap), got \"current\"",
                  "--config-yaml:5:23: stats_flush_interval: stats_flush_interval must be at "
                  "least 1ms and less than 300s",
                  "--config-yaml:6:23: stats_flush_on_admin: only one of stats_flush_interval and "
                  "stats_flush_on_admin may be set");
}

/* ---- snapshots ----------------------------------------------------------------------------- */

static void test_snapshot_refcount(void **state)
{
    (void)state;
    struct snapshot *s = load_ok("static_resources: { clusters: [ { name: c1 } ] }\n");
    assert_int_equal(s->refs, 1);
    assert_ptr_equal(snap_ref(s), s);
    assert_ptr_equal(snap_ref(s), s);
    assert_int_equal(s->refs, 3);
    snap_unref(s);
    snap_unref(s);
    assert_int_equal(s->refs, 1);
    assert_string_equal(cluster(s, "c1")->name, "c1"); /* still alive */
    snap_unref(s);                                     /* frees; ASan checks the rest */
    assert_null(snap_ref(NULL));
    snap_unref(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_bootstrap),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_default_example_config),
        cmocka_unit_test(test_json_and_camel_case),
        cmocka_unit_test(test_mixed_case_key_is_unknown),
        cmocka_unit_test(test_enums_case_insensitive_and_numeric),
        cmocka_unit_test(test_duplicate_keys_and_nulls),
        cmocka_unit_test(test_integer_forms),
        cmocka_unit_test(test_duration_forms),
        cmocka_unit_test(test_ipv6_and_port_zero_listeners),
        cmocka_unit_test(test_typed_struct),
        cmocka_unit_test(test_config_yaml_merges_over_file),
        cmocka_unit_test(test_error_in_file_names_the_file),
        cmocka_unit_test(test_service_overrides),
        cmocka_unit_test(test_no_config),
        cmocka_unit_test(test_deprecated_admin_access_log_path),
        cmocka_unit_test(test_deprecated_and_ignored_fields),
        cmocka_unit_test(test_inert_values_accepted),
        cmocka_unit_test(test_bootstrap_fields),
        cmocka_unit_test(test_runtime_layers),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_unsupported_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_bad_durations),
        cmocka_unit_test(test_bad_ports_and_addresses),
        cmocka_unit_test(test_static_needs_ip_and_logical_dns_one_host),
        cmocka_unit_test(test_duplicates_and_names),
        cmocka_unit_test(test_unknown_clusters),
        cmocka_unit_test(test_tcp_proxy_validation),
        cmocka_unit_test(test_filters_and_chains),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_access_log_errors),
        cmocka_unit_test(test_access_log_formats),
        cmocka_unit_test(test_multiple_errors_together),
        cmocka_unit_test(test_snapshot_refcount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
