/* SPDX-License-Identifier: Apache-2.0 */
/* config/model.h — the typed, immutable config model. Translators (translate_*.c) build it
 * from a value tree with every Envoy default applied, so the runtime never looks at the
 * tree and never re-derives a default. Every object lives in its snapshot's arena and is
 * read-only once published; strings are NUL-terminated. Durations are in milliseconds,
 * sizes in bytes. "0 = disabled" is stated per field where Envoy gives 0 that meaning. */
#ifndef RM_CONFIG_MODEL_H
#define RM_CONFIG_MODEL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct vt_node;
struct net_filter_def;
struct cfg_tls_server;

/* A resolved socket address (IP literal + port). */
struct cfg_addr {
    struct sockaddr_storage ss; /* AF_INET or AF_INET6, port set */
    socklen_t len;
    const char *ip;        /* "127.0.0.1" / "::1" as written-normalised (inet_ntop) */
    uint32_t port;         /* 0..65535; 0 only where Envoy allows it (listeners bind any) */
    const char *str;       /* "127.0.0.1:10000" / "[::1]:10000" */
    const char *stat_name; /* Envoy's listener stat name: "127.0.0.1_10000", "[::1]_10000" */
};

/* ---- access logs ---------------------------------------------------------------------- */

enum cfg_alog_sink {
    ALOG_SINK_FILE,   /* envoy.access_loggers.file */
    ALOG_SINK_STDOUT, /* envoy.access_loggers.stdout */
    ALOG_SINK_STDERR, /* envoy.access_loggers.stderr */
};

struct cfg_header_matcher; /* config/model_http.h */

/* envoy.config.accesslog.v3.AccessLogFilter (proxy/alog_filter.h evaluates it). */
enum cfg_alog_filter_kind {
    ALOGF_STATUS_CODE,      /* status_code_filter: comparison on the response code */
    ALOGF_DURATION,         /* duration_filter: comparison on the duration in ms */
    ALOGF_NOT_HEALTH_CHECK, /* not_health_check_filter: always true (no health_check filter) */
    ALOGF_RUNTIME,          /* runtime_filter */
    ALOGF_AND,              /* and_filter */
    ALOGF_OR,               /* or_filter */
    ALOGF_HEADER,           /* header_filter: one request header matcher */
    ALOGF_RESPONSE_FLAG,    /* response_flag_filter */
    ALOGF_GRPC_STATUS,      /* grpc_status_filter */
};

/* ComparisonFilter.Op: Envoy's enum has exactly these three values. */
enum cfg_alog_cmp_op { ALOG_CMP_EQ, ALOG_CMP_GE, ALOG_CMP_LE };

struct cfg_alog_filter {
    enum cfg_alog_filter_kind kind;
    union {
        struct { /* STATUS_CODE, DURATION: ComparisonFilter */
            enum cfg_alog_cmp_op op;
            uint32_t value;          /* value.default_value, default 0 */
            const char *runtime_key; /* value.runtime_key; NULL = none */
        } cmp;
        struct {                     /* RUNTIME */
            const char *runtime_key; /* required; its value replaces |numerator| */
            uint32_t numerator;      /* percent_sampled; default 0 */
            uint32_t denominator;    /* 100, 10000 or 1000000; default 100 */
            bool independent;        /* use_independent_randomness */
        } runtime;
        struct { /* AND, OR */
            const struct cfg_alog_filter *filters;
            size_t n; /* >= 2 */
        } list;
        const struct cfg_header_matcher *header; /* HEADER */
        uint32_t response_flags;                 /* RESPONSE_FLAG: RF_* bits; 0 = any flag */
        struct {                                 /* GRPC_STATUS */
            uint32_t statuses;                   /* bit n = gRPC status n (0..16) */
            bool exclude;
        } grpc;
    } u;
};

struct cfg_access_log {
    const struct cfg_alog_filter *filter; /* AccessLog.filter; NULL = log every entry */
    enum cfg_alog_sink sink;
    const char *path;   /* ALOG_SINK_FILE only */
    const char *format; /* text format with %OPERATORS%; NULL = Envoy's default format */
    const struct vt_node *json_format; /* json_format Struct, or NULL (then |format| used) */
    bool omit_empty_values;
};

/* ---- bootstrap: node, admin ------------------------------------------------------------ */

struct cfg_node {
    const char *id;      /* "" when unset (then --service-node may fill it) */
    const char *cluster; /* "" when unset (--service-cluster) */
    const char *zone;    /* locality.zone, "" when unset (--service-zone) */
    const char *region;
    const char *sub_zone;
    const struct vt_node *metadata; /* Struct as written, or NULL */
};

struct cfg_admin {
    bool enabled;         /* false when bootstrap has no admin.address */
    struct cfg_addr addr; /* valid when enabled */
    struct cfg_access_log *access_logs;
    size_t n_access_logs;
};

/* ---- clusters -------------------------------------------------------------------------- */

enum cfg_cluster_type { CLUSTER_STATIC, CLUSTER_STRICT_DNS, CLUSTER_LOGICAL_DNS };
enum cfg_lb_policy { LB_ROUND_ROBIN, LB_LEAST_REQUEST, LB_RANDOM };
enum cfg_dns_family {
    DNS_AUTO, /* Envoy: v6 first, v4 fallback */
    DNS_V4_ONLY,
    DNS_V6_ONLY,
    DNS_V4_PREFERRED, /* v4 first, v6 fallback */
    DNS_ALL,          /* both families */
};

struct cfg_endpoint {
    const char *host; /* IP literal (STATIC) or DNS name (*_DNS), as written */
    uint32_t port;
    uint32_t weight;      /* load_balancing_weight, default 1 */
    struct cfg_addr addr; /* valid for STATIC (host is an IP literal) */
};

struct cfg_locality_endpoints {
    uint32_t priority; /* 0 = highest */
    uint32_t weight;   /* locality load_balancing_weight, 0 = unset */
    const char *region, *zone, *sub_zone;
    struct cfg_endpoint *endpoints;
    size_t n_endpoints;
};

struct cfg_circuit_breakers {
    uint32_t max_connections;      /* default 1024 */
    uint32_t max_pending_requests; /* default 1024 */
    uint32_t max_requests;         /* default 1024 */
    uint32_t max_retries;          /* default 3 */
};

/* Upstream HTTP protocol options of a cluster (typed_extension_protocol_options
 * envoy.extensions.upstreams.http.v3.HttpProtocolOptions; HTTP/1.1 upstreams for now). */
struct cfg_upstream_http {
    uint64_t idle_timeout_ms;             /* common_http_protocol_options.idle_timeout; 1h */
    uint32_t max_requests_per_connection; /* 0 = unlimited */
    uint64_t max_connection_duration_ms;  /* 0 = unlimited */
};

struct cfg_cluster {
    const char *name;
    const char *alt_stat_name;                  /* "" = use name */
    enum cfg_cluster_type type;                 /* default STATIC */
    enum cfg_lb_policy lb_policy;               /* default ROUND_ROBIN */
    uint64_t connect_timeout_ms;                /* default 5000 */
    uint32_t per_connection_buffer_limit_bytes; /* default 1 MiB */
    enum cfg_dns_family dns_lookup_family;      /* default AUTO */
    uint64_t dns_refresh_rate_ms;               /* default 5000 */
    bool respect_dns_ttl;                       /* default false */
    uint32_t least_request_choice_count;        /* default 2 */
    struct cfg_locality_endpoints *localities;  /* load_assignment.endpoints[] */
    size_t n_localities;
    struct cfg_circuit_breakers cb;
    struct cfg_upstream_http upstream_http;
    const struct vt_node *src; /* the cluster's node, for errors and config_dump */
};

/* ---- listeners ------------------------------------------------------------------------- */

/* One network filter instance of a filter chain: the registry entry plus its parsed config. */
struct cfg_net_filter {
    const char *name;                 /* "name" as written */
    const struct net_filter_def *def; /* registry entry (filters/registry.h) */
    const void *config;               /* def->config_new() result, lives in the snapshot */
};

struct cfg_filter_chain {
    const char *name; /* may be "" */
    /* transport_socket: NULL = plaintext (raw_buffer), else DownstreamTlsContext
     * (config/model_tls.h). */
    const struct cfg_tls_server *tls;
    struct cfg_net_filter *filters;
    size_t n_filters; /* >= 1; the last one is terminal */
};

struct cfg_listener {
    const char *name; /* generated when absent, like Envoy */
    struct cfg_addr addr;
    const char *stat_prefix; /* listener stat_prefix, or addr.stat_name when unset */
    uint32_t per_connection_buffer_limit_bytes; /* default 1 MiB */
    bool enable_reuse_port;                     /* default true */
    struct cfg_filter_chain *chains; /* filter_chains without filter_chain_match: exactly one */
    size_t n_chains;
    struct cfg_filter_chain *default_chain; /* default_filter_chain or NULL */
    const struct vt_node *src;
};

/* ---- network filter configs ------------------------------------------------------------ */

struct cfg_weighted_cluster {
    const char *name;
    uint32_t weight;
};

/* envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy */
struct cfg_tcp_proxy {
    const char *stat_prefix;               /* required, min_len 1 */
    const char *cluster;                   /* NULL when weighted_clusters is used */
    struct cfg_weighted_cluster *weighted; /* weighted_clusters.clusters */
    size_t n_weighted;
    uint64_t total_weight;                          /* sum of weights (> 0) */
    uint64_t idle_timeout_ms;                       /* default 1h; 0 = disabled */
    uint32_t max_connect_attempts;                  /* default 1, >= 1 */
    uint64_t max_downstream_connection_duration_ms; /* 0 = unlimited */
    struct cfg_access_log *access_logs;
    size_t n_access_logs;
};

/* ---- layered runtime ------------------------------------------------------------------- */

enum cfg_runtime_layer_kind { RUNTIME_STATIC, RUNTIME_DISK, RUNTIME_ADMIN };

struct cfg_runtime_layer {
    const char *name;
    enum cfg_runtime_layer_kind kind;
    const struct vt_node *values; /* RUNTIME_STATIC: the static_layer Struct (nested maps
                                   * flatten to dotted keys), or NULL */
    /* RUNTIME_DISK (disk_layer): the tree read is symlink_root/subdirectory, plus
     * /<node.cluster> with append_service_cluster (Envoy joins them with '/' as given).
     * symlink_root always holds a '/': its directory is watched for the symlink swap. */
    const char *symlink_root;
    const char *subdirectory; /* "" when unset */
    bool append_service_cluster;
};

/* ---- the whole bootstrap --------------------------------------------------------------- */

struct cfg_bootstrap {
    struct cfg_node node;
    struct cfg_admin admin;
    struct cfg_listener *listeners;
    size_t n_listeners;
    struct cfg_cluster *clusters;
    size_t n_clusters;
    struct cfg_runtime_layer *runtime_layers; /* layered_runtime.layers, in order */
    size_t n_runtime_layers;
    const struct vt_node *src; /* the merged bootstrap tree (for /config_dump) */
};

/* Finds a cluster by name (linear; callers cache). NULL when absent. */
const struct cfg_cluster *cfg_find_cluster(const struct cfg_bootstrap *bs, const char *name);

#endif
