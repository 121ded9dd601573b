/* SPDX-License-Identifier: Apache-2.0 */
/* config/model_http.h — the typed model of Envoy's HTTP connection manager, route
 * configuration and router (envoy.filters.network.http_connection_manager,
 * envoy.config.route.v3.RouteConfiguration, envoy.filters.http.router). Built by
 * translate_hcm.c / translate_route.c with every Envoy default applied; immutable once the
 * snapshot is published; everything lives in the snapshot arena. Durations in ms. */
#ifndef RM_CONFIG_MODEL_HTTP_H
#define RM_CONFIG_MODEL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/model.h"

struct http_filter_def;
struct cfg_local_reply; /* config/local_reply.h */
struct rm_regex;        /* compiled PCRE2 pattern with match limits (proxy/regex.h) */

/* ---- matchers ------------------------------------------------------------------------ */

enum cfg_str_match_kind {
    STRM_EXACT,
    STRM_PREFIX,
    STRM_SUFFIX,
    STRM_CONTAINS,
    STRM_REGEX,
};

/* envoy.type.matcher.v3.StringMatcher */
struct cfg_string_matcher {
    enum cfg_str_match_kind kind;
    const char *value; /* not for REGEX */
    size_t len;
    bool ignore_case;
    const struct rm_regex *regex; /* REGEX only */
};

enum cfg_hdr_match_kind {
    HDRM_PRESENT, /* present_match (value: present_match bool in |present|) */
    HDRM_STRING,  /* string_match, or the deprecated exact/prefix/suffix/contains/safe_regex */
    HDRM_RANGE,   /* range_match [start, end) on an integer value */
};

/* envoy.config.route.v3.HeaderMatcher. Pseudo-headers (":path", ":method", ":authority",
 * ":scheme") match the message fields. */
struct cfg_header_matcher {
    const char *name; /* lowercase */
    enum cfg_hdr_match_kind kind;
    struct cfg_string_matcher str;
    bool present;        /* HDRM_PRESENT: true = must be present, false = must be absent */
    int64_t range_start; /* HDRM_RANGE */
    int64_t range_end;
    bool invert_match;
    bool treat_missing_header_as_empty;
};

/* envoy.config.route.v3.QueryParameterMatcher */
struct cfg_query_matcher {
    const char *name;
    bool present_match;            /* true: only presence is checked */
    struct cfg_string_matcher str; /* when !present_match */
};

/* envoy.type.v3.FractionalPercent possibly overridden by a runtime key
 * (core.v3.RuntimeFractionalPercent). */
struct cfg_fraction {
    uint32_t numerator;
    uint32_t denominator;    /* 100, 10000 or 1000000 */
    const char *runtime_key; /* NULL = not runtime-overridable */
};

/* ---- header mutation ----------------------------------------------------------------- */

enum cfg_append_action {
    APPEND_IF_EXISTS_OR_ADD, /* Envoy's default */
    ADD_IF_ABSENT,
    OVERWRITE_IF_EXISTS_OR_ADD,
    OVERWRITE_IF_EXISTS,
};

struct cfg_header_add {
    const char *key; /* lowercase */
    const char
        *value; /* may hold %OPERATOR% (access-log operators, e.g. %DOWNSTREAM_REMOTE_ADDRESS%) */
    const struct alog_format *fmt; /* compiled |value| when it holds operators, else NULL */
    enum cfg_append_action action;
    bool keep_empty_value;
};

struct cfg_header_mutations {
    struct cfg_header_add *req_add;
    size_t n_req_add;
    const char **req_remove; /* lowercase names */
    size_t n_req_remove;
    struct cfg_header_add *resp_add;
    size_t n_resp_add;
    const char **resp_remove;
    size_t n_resp_remove;
};

/* ---- retry policy -------------------------------------------------------------------- */

#define RETRY_ON_5XX 0x0001u
#define RETRY_ON_GATEWAY_ERROR 0x0002u
#define RETRY_ON_RESET 0x0004u
#define RETRY_ON_CONNECT_FAILURE 0x0008u
#define RETRY_ON_RETRIABLE_4XX 0x0010u /* 409 only */
#define RETRY_ON_REFUSED_STREAM 0x0020u
#define RETRY_ON_RETRIABLE_STATUS_CODES 0x0040u
#define RETRY_ON_RETRIABLE_HEADERS 0x0080u
#define RETRY_ON_RESET_BEFORE_REQUEST 0x0100u
#define RETRY_ON_ENVOY_RATELIMITED 0x0200u

struct cfg_retry_policy {
    uint32_t retry_on;                /* RETRY_ON_* bits */
    uint32_t num_retries;             /* default 1 */
    uint64_t per_try_timeout_ms;      /* 0 = none (the route timeout still bounds all tries) */
    uint64_t per_try_idle_timeout_ms; /* 0 = none */
    uint64_t base_interval_ms;        /* retry_back_off.base_interval, default 25 */
    uint64_t max_interval_ms;         /* default 10 × base */
    uint32_t *retriable_status_codes;
    size_t n_retriable_status_codes;
    struct cfg_header_matcher *retriable_headers;
    size_t n_retriable_headers;
    bool previous_hosts;                        /* retry_host_predicate previous_hosts */
    uint32_t host_selection_retry_max_attempts; /* default 1 */
};

/* ---- routes -------------------------------------------------------------------------- */

enum cfg_path_match_kind {
    PATHM_PREFIX,
    PATHM_PATH,
    PATHM_SAFE_REGEX,
    PATHM_PATH_SEPARATED_PREFIX,
    PATHM_CONNECT, /* connect_matcher: CONNECT requests only (they have no path) */
};

struct cfg_route_match {
    enum cfg_path_match_kind kind;
    const char *value; /* prefix / path / path_separated_prefix */
    size_t len;
    const struct rm_regex *regex; /* PATHM_SAFE_REGEX: matches the path without the query */
    bool case_sensitive;          /* default true */
    struct cfg_header_matcher *headers;
    size_t n_headers;
    struct cfg_query_matcher *query;
    size_t n_query;
    bool has_runtime_fraction;
    struct cfg_fraction runtime_fraction;
};

struct cfg_weighted_cluster_http {
    const char *name;
    uint32_t weight;
    struct cfg_header_mutations mut; /* request/response headers to add/remove */
};

struct cfg_mirror_policy {
    const char *cluster;
    bool has_fraction;
    struct cfg_fraction fraction; /* runtime_fraction; absent = 100% */
};

enum cfg_cluster_spec { CSPEC_CLUSTER, CSPEC_WEIGHTED, CSPEC_HEADER };

/* RouteAction.UpgradeConfig. */
struct cfg_route_upgrade {
    const char *type; /* upgrade_type as written ("websocket", "CONNECT"); compared case-blind */
    bool enabled;     /* default true */
    bool connect_terminate; /* CONNECT with connect_config: Remora ends the CONNECT and
                             * relays the payload as raw TCP to the cluster */
};

struct cfg_route_action {
    enum cfg_cluster_spec spec;
    const char *cluster;        /* CSPEC_CLUSTER */
    const char *cluster_header; /* CSPEC_HEADER: lowercase header naming the cluster */
    struct cfg_weighted_cluster_http *weighted; /* CSPEC_WEIGHTED */
    size_t n_weighted;
    uint64_t total_weight;                /* sum of weights (v3: need not be 100) */
    const char *runtime_key_prefix;       /* weighted_clusters.runtime_key_prefix or NULL */
    const char *prefix_rewrite;           /* NULL = none */
    const struct rm_regex *regex_rewrite; /* NULL = none */
    const char *regex_rewrite_substitution;
    const char *host_rewrite_literal; /* NULL = none */
    bool auto_host_rewrite;
    uint64_t timeout_ms; /* default 15000; 0 = disabled */
    bool has_idle_timeout;
    uint64_t idle_timeout_ms;             /* overrides the HCM stream_idle_timeout; 0 = disabled */
    const struct cfg_retry_policy *retry; /* route's, else the vhost's, else NULL */
    struct cfg_mirror_policy *mirrors;
    size_t n_mirrors;
    struct cfg_route_upgrade *upgrades; /* upgrade_configs: override the HCM's per type */
    size_t n_upgrades;
};

struct cfg_redirect {
    const char *scheme;         /* scheme_redirect, or "https" for https_redirect; NULL = keep */
    const char *host;           /* host_redirect; NULL = keep */
    uint32_t port;              /* port_redirect; 0 = keep */
    const char *path;           /* path_redirect; NULL = keep */
    const char *prefix_rewrite; /* prefix_rewrite; NULL = none */
    int response_code;          /* 301 (MOVED_PERMANENTLY, default), 302, 303, 307, 308 */
    bool strip_query;
};

struct cfg_direct_response {
    int status;
    const char *body; /* NULL = no body */
    size_t body_len;
};

enum cfg_route_kind { ROUTE_FORWARD, ROUTE_REDIRECT, ROUTE_DIRECT };

struct cfg_route {
    const char *name; /* "" when unset */
    struct cfg_route_match match;
    enum cfg_route_kind kind;
    struct cfg_route_action action;    /* ROUTE_FORWARD */
    struct cfg_redirect redirect;      /* ROUTE_REDIRECT */
    struct cfg_direct_response direct; /* ROUTE_DIRECT */
    struct cfg_header_mutations mut;
    bool mut_any; /* this route, its vhost or the route config mutates headers */
};

struct cfg_vhost {
    const char *name;
    const char **domains; /* lowercase; "*", "*.suffix", "prefix.*", exact, with optional port */
    size_t n_domains;
    struct cfg_route *routes;
    size_t n_routes;
    struct cfg_header_mutations mut;
    const struct cfg_retry_policy *retry;   /* vhost-level retry_policy or NULL */
    bool include_request_attempt_count;     /* x-envoy-attempt-count on upstream requests */
    bool include_attempt_count_in_response; /* ... and on the response downstream */
};

struct cfg_route_config {
    const char *name;
    struct cfg_vhost *vhosts;
    size_t n_vhosts;
    struct cfg_header_mutations mut;
    bool most_specific_header_mutations_wins;
    bool ignore_port_in_host_matching; /* strip ":port" from the host before vhost matching */
};

/* ---- connection manager -------------------------------------------------------------- */

enum cfg_codec_type { CODEC_AUTO, CODEC_HTTP1, CODEC_HTTP2 };
enum cfg_server_header {
    SERVER_HDR_OVERWRITE,
    SERVER_HDR_APPEND_IF_ABSENT,
    SERVER_HDR_PASS_THROUGH
};
enum cfg_underscores { UNDERSCORES_ALLOW, UNDERSCORES_REJECT_REQUEST, UNDERSCORES_DROP_HEADER };
enum cfg_escaped_slashes {
    ESC_SLASHES_KEEP_UNCHANGED, /* default (IMPLEMENTATION_SPECIFIC_DEFAULT) */
    ESC_SLASHES_REJECT_REQUEST,
    ESC_SLASHES_UNESCAPE_AND_REDIRECT,
    ESC_SLASHES_UNESCAPE_AND_FORWARD,
};

/* HttpConnectionManager.UpgradeConfig (custom filter chains are refused at load). */
struct cfg_upgrade {
    const char *type; /* upgrade_type; compared case-insensitively, "CONNECT" for CONNECT */
    bool enabled;     /* default true */
};

struct cfg_http_filter {
    const char *name;
    const struct http_filter_def *def;
    const void *config;
};

/* envoy.extensions.filters.http.router.v3.Router */
struct cfg_router {
    bool suppress_envoy_headers;
    bool respect_expected_rq_timeout;
};

/* envoy.config.core.v3.Http2ProtocolOptions (the downstream HTTP/2 codec's settings). */
struct cfg_h2_options {
    uint32_t hpack_table_size;               /* default 4096 */
    uint32_t max_concurrent_streams;         /* default 2^31 - 1 */
    uint32_t initial_stream_window_size;     /* default 256 MiB */
    uint32_t initial_connection_window_size; /* default 256 MiB */
};

struct cfg_hcm {
    const char *stat_prefix;        /* required */
    enum cfg_codec_type codec_type; /* default AUTO: HTTP/2 by ALPN h2 or the client preface */
    struct cfg_h2_options h2;       /* http2_protocol_options */
    const struct cfg_route_config *route_config;
    struct cfg_http_filter *filters; /* last one is envoy.filters.http.router */
    size_t n_filters;
    const struct cfg_router *router; /* the router's config (also filters[n-1].config) */
    bool use_remote_address;         /* default false */
    uint32_t xff_num_trusted_hops;   /* default 0 */
    bool skip_xff_append;
    bool generate_request_id; /* default true */
    bool preserve_external_request_id;
    bool always_set_request_id_in_response;
    const char *server_name; /* default "envoy" */
    enum cfg_server_header server_header_transformation;
    uint32_t max_request_headers_kb; /* default 60 */
    uint32_t max_headers_count;      /* common_http_protocol_options, default 100 */
    bool normalize_path;             /* default false */
    bool merge_slashes;              /* default false */
    enum cfg_escaped_slashes path_with_escaped_slashes_action;
    enum cfg_underscores headers_with_underscores_action; /* default ALLOW */
    uint64_t idle_timeout_ms; /* common_http_protocol_options.idle_timeout, 1h; 0 = off */
    uint64_t max_connection_duration_ms;  /* 0 = unlimited */
    uint32_t max_requests_per_connection; /* 0 = unlimited */
    uint64_t stream_idle_timeout_ms;      /* default 5 min; 0 = disabled */
    uint64_t request_timeout_ms;          /* default 0 = disabled */
    uint64_t request_headers_timeout_ms;  /* default 0 = disabled */
    uint64_t drain_timeout_ms;            /* default 5000 */
    uint64_t delayed_close_timeout_ms;    /* default 1000 */
    bool accept_http_10;                  /* http_protocol_options.accept_http_10, default false */
    const char *default_host_for_http_10;
    bool allow_absolute_url; /* http_protocol_options.allow_absolute_url, default true */
    struct cfg_access_log *access_logs;
    size_t n_access_logs;
    const struct cfg_local_reply *local_reply; /* local_reply_config, NULL = none */
    struct cfg_upgrade *upgrades;              /* upgrade_configs */
    size_t n_upgrades;
};

#endif
