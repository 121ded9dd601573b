/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/stats.h — counters and gauges with Envoy's names, stored compactly.
 *
 * A stats block holds the values of one entity (a cluster, a listener, a tcp_proxy prefix,
 * the server) for a fixed, compile-time list of stats (X-macro lists below). Names are not
 * stored per stat: "<prefix>.<stat name>" is formed when /stats is read. Values live in one
 * array with a row per thread ("slot": 0 = main, 1..N = workers), so a worker increments
 * its own row without atomics or locks; the admin server sums the rows on read. A gauge's
 * rows hold signed deltas whose sum is the gauge. An extra cluster therefore costs
 * (n_workers + 1) × n_stats × 8 bytes plus one block header.
 *
 * Blocks are created on the main thread and live until exit (stats survive config
 * updates, as in Envoy); stats_block_get() returns the existing block for a name. */
#ifndef RM_STATS_H
#define RM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

enum stat_type { STAT_COUNTER, STAT_GAUGE };

struct stat_def {
    const char *name;
    enum stat_type type;
};

/* The kinds of block, each with Envoy's stat prefix and Prometheus tag. */
enum stats_kind {
    STATS_SERVER,           /* server.*                                   */
    STATS_CLUSTER,          /* cluster.<name>.*  {envoy_cluster_name}       */
    STATS_LISTENER,         /* listener.<addr>.* {envoy_listener_address}   */
    STATS_TCP,              /* tcp.<prefix>.*    {envoy_tcp_prefix}         */
    STATS_CLUSTER_MANAGER,  /* cluster_manager.*                          */
    STATS_LISTENER_MANAGER, /* listener_manager.*                         */
    STATS_HOST,             /* per-host stats: /clusters only, not /stats   */
    STATS_HTTP,             /* http.<prefix>.*   {envoy_http_conn_manager_prefix} */
    STATS_RUNTIME,          /* runtime.*                                  */
    STATS_LISTENER_SSL,     /* listener.<addr>.ssl.* (TLS filter chains)  */
};

struct stats_block {
    struct stats_block *next; /* registry list (main thread) */
    enum stats_kind kind;
    const struct stat_def *defs;
    uint32_t n;      /* number of stats in defs */
    char *name;      /* tag value ("admin", "127.0.0.1_10000"); "" for singletons */
    uint64_t vals[]; /* stats_n_slots rows of n values */
};

/* ---- the stat lists (Envoy's names; only stats Remora can actually move) ------------------ */
/* clang-format off */
#define SERVER_STATS(C, G)                      \
    G(concurrency)                              \
    G(live)                                     \
    G(state)                                    \
    G(uptime)                                   \
    G(memory_allocated)                         \
    G(memory_heap_size)                         \
    G(memory_physical_size)                     \
    G(total_connections)

/* Envoy's ALL_RUNTIME_STATS less deprecated_feature_use / deprecated_feature_seen_since_process_start
 * (nothing counts deprecated feature use yet). */
#define RUNTIME_STATS(C, G)                     \
    C(load_error)                               \
    C(load_success)                             \
    C(override_dir_exists)                      \
    C(override_dir_not_exists)                  \
    G(admin_overrides_active)                   \
    G(num_keys)                                 \
    G(num_layers)

#define CLUSTER_STATS(C, G)                     \
    C(upstream_cx_total)                        \
    G(upstream_cx_active)                       \
    C(upstream_cx_connect_fail)                 \
    C(upstream_cx_connect_timeout)              \
    C(upstream_cx_connect_attempts_exceeded)    \
    C(upstream_cx_none_healthy)                 \
    C(upstream_cx_destroy)                      \
    C(upstream_cx_destroy_local)                \
    C(upstream_cx_destroy_remote)               \
    C(upstream_cx_rx_bytes_total)               \
    C(upstream_cx_tx_bytes_total)               \
    C(upstream_flow_control_paused_reading_total)  \
    C(upstream_flow_control_resumed_reading_total) \
    G(membership_healthy)                       \
    G(membership_total)                         \
    C(membership_change)                        \
    C(update_attempt)                           \
    C(update_success)                           \
    C(update_failure)                           \
    C(update_empty)                             \
    C(update_no_rebuild)                        \
    G(max_host_weight)                          \
    C(upstream_cx_http1_total)                  \
    C(upstream_cx_idle_timeout)                 \
    C(upstream_cx_max_requests)                 \
    C(upstream_cx_protocol_error)               \
    C(upstream_cx_overflow)                     \
    C(upstream_rq_total)                        \
    G(upstream_rq_active)                       \
    C(upstream_rq_completed)                    \
    C(upstream_rq_1xx)                          \
    C(upstream_rq_2xx)                          \
    C(upstream_rq_3xx)                          \
    C(upstream_rq_4xx)                          \
    C(upstream_rq_5xx)                          \
    C(upstream_rq_timeout)                      \
    C(upstream_rq_per_try_timeout)              \
    C(upstream_rq_per_try_idle_timeout)         \
    C(upstream_rq_retry)                        \
    C(upstream_rq_retry_success)                \
    C(upstream_rq_retry_overflow)               \
    C(upstream_rq_retry_limit_exceeded)         \
    C(upstream_rq_retry_backoff_exponential)    \
    C(upstream_rq_pending_total)                \
    G(upstream_rq_pending_active)               \
    C(upstream_rq_pending_overflow)             \
    C(upstream_rq_rx_reset)                     \
    C(upstream_rq_tx_reset)                     \
    C(upstream_rq_200)                        \
    C(upstream_rq_201)                        \
    C(upstream_rq_202)                        \
    C(upstream_rq_204)                        \
    C(upstream_rq_206)                        \
    C(upstream_rq_301)                        \
    C(upstream_rq_302)                        \
    C(upstream_rq_303)                        \
    C(upstream_rq_304)                        \
    C(upstream_rq_307)                        \
    C(upstream_rq_308)                        \
    C(upstream_rq_400)                        \
    C(upstream_rq_401)                        \
    C(upstream_rq_403)                        \
    C(upstream_rq_404)                        \
    C(upstream_rq_405)                        \
    C(upstream_rq_408)                        \
    C(upstream_rq_409)                        \
    C(upstream_rq_413)                        \
    C(upstream_rq_429)                        \
    C(upstream_rq_500)                        \
    C(upstream_rq_501)                        \
    C(upstream_rq_502)                        \
    C(upstream_rq_503)                        \
    C(upstream_rq_504)

#define LISTENER_STATS(C, G)                    \
    C(downstream_cx_total)                      \
    G(downstream_cx_active)                     \
    C(downstream_cx_destroy)

/* Named "ssl.<stat>" (Envoy's listener.<addr>.ssl.* for TLS chains). */
#define LISTENER_SSL_STATS(C, G)                \
    C(connection_error)                         \
    C(handshake)                                \
    C(session_reused)                           \
    C(no_certificate)                           \
    C(fail_verify_no_cert)                      \
    C(fail_verify_error)                        \
    C(fail_verify_san)                          \
    C(fail_verify_cert_hash)

#define TCP_STATS(C, G)                         \
    C(downstream_cx_total)                      \
    C(downstream_cx_no_route)                   \
    C(downstream_cx_rx_bytes_total)             \
    C(downstream_cx_tx_bytes_total)             \
    C(downstream_flow_control_paused_reading_total)  \
    C(downstream_flow_control_resumed_reading_total) \
    C(idle_timeout)                             \
    C(max_downstream_connection_duration)

#define HTTP_STATS(C, G)                        \
    C(downstream_cx_total)                      \
    G(downstream_cx_active)                     \
    C(downstream_cx_destroy)                    \
    C(downstream_cx_http1_total)                \
    C(downstream_cx_http2_total)                \
    G(downstream_cx_http2_active)               \
    C(downstream_cx_ssl_total)                  \
    G(downstream_cx_ssl_active)                 \
    C(downstream_cx_protocol_error)             \
    C(downstream_cx_idle_timeout)               \
    C(downstream_cx_max_duration_reached)       \
    C(downstream_cx_max_requests_reached)       \
    C(downstream_cx_drain_close)                \
    C(downstream_cx_rx_bytes_total)             \
    C(downstream_cx_tx_bytes_total)             \
    C(downstream_rq_total)                      \
    C(downstream_rq_http1_total)                \
    C(downstream_rq_http2_total)                \
    G(downstream_rq_active)                     \
    C(downstream_rq_completed)                  \
    C(downstream_rq_1xx)                        \
    C(downstream_rq_2xx)                        \
    C(downstream_rq_3xx)                        \
    C(downstream_rq_4xx)                        \
    C(downstream_rq_5xx)                        \
    C(downstream_rq_timeout)                    \
    C(downstream_rq_idle_timeout)               \
    C(downstream_rq_header_timeout)             \
    C(downstream_rq_too_large)                  \
    C(downstream_rq_rx_reset)                   \
    C(downstream_rq_tx_reset)                   \
    C(downstream_rq_ws_on_non_ws_route)         \
    C(downstream_cx_upgrades_total)             \
    G(downstream_cx_upgrades_active)            \
    C(no_route)                                 \
    C(no_cluster)                               \
    C(rq_direct_response)                       \
    C(rq_redirect)

#define CLUSTER_MANAGER_STATS(C, G)             \
    C(cluster_added)                            \
    G(active_clusters)

#define LISTENER_MANAGER_STATS(C, G)            \
    C(listener_added)                           \
    C(listener_create_success)                  \
    G(total_listeners_active)

/* Per-host stats as /clusters prints them. */
#define HOST_STATS(C, G)                        \
    C(cx_total)                                 \
    G(cx_active)                                \
    C(cx_connect_fail)                          \
    C(rq_total)                                 \
    G(rq_active)                                \
    C(rq_error)                                 \
    C(rq_success)
/* The exact response codes with a stat of their own (Envoy creates upstream_rq_<code> on first
 * use; Remora keeps the common ones and shows them once non-zero, like Envoy). */
#define STATS_RESPONSE_CODES(X)                                                                \
    X(200) X(201) X(202) X(204) X(206) X(301) X(302) X(303) X(304) X(307) X(308) X(400) X(401) X(403) X(404) X(405) X(408) X(409) X(413) X(429) X(500) X(501) X(502) X(503) X(504)
/* clang-format on */

#define STAT_ENUM_C(n) n,
#define STAT_ENUM_G(n) n,
#define DECLARE_STAT_ENUM(pfx, LIST)                                                               \
    enum pfx##_stat                                                                                \
    {                                                                                              \
        LIST(pfx##_ENUM_C, pfx##_ENUM_G) pfx##_N                                                   \
    }

#define SERVER_ENUM_C(n) SERVER_##n,
#define SERVER_ENUM_G(n) SERVER_##n,
#define CLUSTER_ENUM_C(n) CLUSTER_##n,
#define CLUSTER_ENUM_G(n) CLUSTER_##n,
#define LISTENER_ENUM_C(n) LISTENER_##n,
#define LISTENER_ENUM_G(n) LISTENER_##n,
#define SSLS_ENUM_C(n) SSLS_##n,
#define SSLS_ENUM_G(n) SSLS_##n,
#define TCP_ENUM_C(n) TCP_##n,
#define TCP_ENUM_G(n) TCP_##n,
#define CM_ENUM_C(n) CM_##n,
#define CM_ENUM_G(n) CM_##n,
#define LM_ENUM_C(n) LM_##n,
#define LM_ENUM_G(n) LM_##n,
#define HTTP_ENUM_C(n) HTTP_##n,
#define HTTP_ENUM_G(n) HTTP_##n,
#define RUNTIME_ENUM_C(n) RUNTIME_##n,
#define RUNTIME_ENUM_G(n) RUNTIME_##n,
#define HOST_ENUM_C(n) HOST_##n,
#define HOST_ENUM_G(n) HOST_##n,
DECLARE_STAT_ENUM(SERVER, SERVER_STATS);
DECLARE_STAT_ENUM(CLUSTER, CLUSTER_STATS);
DECLARE_STAT_ENUM(LISTENER, LISTENER_STATS);
DECLARE_STAT_ENUM(TCP, TCP_STATS);
DECLARE_STAT_ENUM(SSLS, LISTENER_SSL_STATS);
DECLARE_STAT_ENUM(CM, CLUSTER_MANAGER_STATS);
DECLARE_STAT_ENUM(LM, LISTENER_MANAGER_STATS);
DECLARE_STAT_ENUM(HOST, HOST_STATS);
DECLARE_STAT_ENUM(HTTP, HTTP_STATS);
DECLARE_STAT_ENUM(RUNTIME, RUNTIME_STATS);

/* ---- runtime ---------------------------------------------------------------------------- */

extern unsigned stats_n_slots;       /* n_workers + 1; set once by stats_init() */
extern __thread unsigned stats_slot; /* this thread's row: 0 main, 1..N workers */

/* Sets the number of rows (workers + 1). Call once before creating blocks. */
void stats_init(unsigned n_workers);
/* Frees every block (at exit). */
void stats_fini(void);

/* Returns the block of |kind| named |name| ("" for singletons), creating it zeroed on first
 * use. Main thread only. Returns NULL on allocation failure. Host blocks are not kept in
 * the registry: the caller owns them and frees them with stats_block_free(). */
struct stats_block *stats_block_get(enum stats_kind kind, const char *name);
struct stats_block *stats_host_block_new(void);
void stats_block_free(struct stats_block *b);

static inline uint64_t *stats_cell(struct stats_block *b, unsigned slot, unsigned id)
{
    return &b->vals[(size_t)slot * b->n + id];
}

/* Adds |v| to stat |id| in this thread's row. Single writer per row: no RMW atomics, but
 * relaxed atomic accesses so concurrent readers are well-defined. */
static inline void stats_add(struct stats_block *b, unsigned id, int64_t v)
{
    uint64_t *p = stats_cell(b, stats_slot, id);
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + (uint64_t)v, __ATOMIC_RELAXED);
}
static inline void stats_inc(struct stats_block *b, unsigned id)
{
    stats_add(b, id, 1);
}
static inline void stats_dec(struct stats_block *b, unsigned id)
{
    stats_add(b, id, -1);
}
/* Sets a gauge from the main thread (row 0 holds the value, others must be 0). */
void stats_gauge_set(struct stats_block *b, unsigned id, int64_t v);

/* The cluster stat id of upstream_rq_<status>, or -1 when the code has none. */
int stats_cluster_code_id(int status);

/* Sum over all rows (any thread; values read with relaxed atomics). */
int64_t stats_value(const struct stats_block *b, unsigned id);

/* Full Envoy name of stat |id| of |b| written into |out|: "cluster.admin.upstream_cx_total". */
void stats_full_name(const struct stats_block *b, unsigned id, char *out, size_t cap);

/* Admin renderings. |filter| is a POSIX extended regex or NULL; |used_only| skips zero
 * counters never touched (Envoy's ?usedonly approximated by value != 0). Each returns 0, or
 * -RM_EINVAL for a bad regex (message in |out|). */
int stats_render_text(struct strbuf *out, const char *filter, bool used_only);
int stats_render_json(struct strbuf *out, const char *filter, bool used_only);
int stats_render_prometheus(struct strbuf *out, const char *filter, bool used_only);

#endif
