/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_hcm.c — envoy.extensions.filters.network.http_connection_manager.v3.
 * HttpConnectionManager → struct cfg_hcm: codec, stat prefix, the inline route table
 * (translate_route.c), the HTTP filter chain (resolved through the filter registry by
 * typed_config type, then by name, and ending with the router), timeouts, XFF / request-id /
 * server-header behaviour, HTTP/1 and common protocol options, access logs. Every field of
 * the message is in the table. Main thread only. */
#include "config/translate_http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/err.h"
#include "config/local_reply.h"
#include "filters/filter.h"
#include "filters/network/http_connection_manager.h"
#include "proxy/err.h"

#define HCM_TYPE "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

#define DEFAULT_MAX_REQUEST_HEADERS_KB 60u
#define MAX_REQUEST_HEADERS_KB 8192u
#define DEFAULT_MAX_HEADERS_COUNT 100u
#define DEFAULT_IDLE_TIMEOUT_MS (3600u * 1000u)
#define DEFAULT_STREAM_IDLE_TIMEOUT_MS (300u * 1000u)
#define DEFAULT_DRAIN_TIMEOUT_MS 5000u
#define DEFAULT_DELAYED_CLOSE_TIMEOUT_MS 1000u

static const struct cfg_field hcm_fields[] = {
    {"codec_type", CFG_SUPPORTED, NULL, NULL},
    {"stat_prefix", CFG_SUPPORTED, NULL, NULL},
    {"rds", CFG_UNSUPPORTED, NULL, "use an inline route_config"},
    {"route_config", CFG_SUPPORTED, NULL, NULL},
    {"scoped_routes", CFG_UNSUPPORTED, NULL, "use an inline route_config"},
    {"http_filters", CFG_SUPPORTED, NULL, NULL},
    {"add_user_agent", CFG_UNSUPPORTED, "false", NULL},
    /* An empty Tracing message without a provider traces nothing. */
    {"tracing", CFG_UNSUPPORTED, "{}", "tracing is not implemented"},
    {"common_http_protocol_options", CFG_SUPPORTED, NULL, NULL},
    {"http1_safe_max_connection_duration", CFG_UNSUPPORTED, "false", NULL},
    {"http_protocol_options", CFG_SUPPORTED, NULL, NULL},
    {"http2_protocol_options", CFG_SUPPORTED, NULL, NULL},
    {"http3_protocol_options", CFG_UNSUPPORTED, "{}", "HTTP/3 is not implemented"},
    {"server_name", CFG_SUPPORTED, NULL, NULL},
    {"server_header_transformation", CFG_SUPPORTED, NULL, NULL},
    {"scheme_header_transformation", CFG_UNSUPPORTED, "{}", NULL},
    {"max_request_headers_kb", CFG_SUPPORTED, NULL, NULL},
    {"stream_idle_timeout", CFG_SUPPORTED, NULL, NULL},
    {"stream_flush_timeout", CFG_UNSUPPORTED, NULL, NULL},
    {"request_timeout", CFG_SUPPORTED, NULL, NULL},
    {"request_headers_timeout", CFG_SUPPORTED, NULL, NULL},
    {"drain_timeout", CFG_SUPPORTED, NULL, NULL},
    {"drain_timeout_jitter", CFG_UNSUPPORTED, NULL, NULL},
    {"delayed_close_timeout", CFG_SUPPORTED, NULL, NULL},
    {"access_log", CFG_SUPPORTED, NULL, NULL},
    {"access_log_flush_interval", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; periodic access logs are not implemented"},
    {"flush_access_log_on_new_request", CFG_UNSUPPORTED, "false", "deprecated in Envoy"},
    {"access_log_options", CFG_UNSUPPORTED, "{}", NULL},
    {"use_remote_address", CFG_SUPPORTED, NULL, NULL},
    {"xff_num_trusted_hops", CFG_SUPPORTED, NULL, NULL},
    {"original_ip_detection_extensions", CFG_UNSUPPORTED, "[]", NULL},
    {"early_header_mutation_extensions", CFG_UNSUPPORTED, "[]", NULL},
    /* {} is Envoy's default: RFC 1918 / RFC 4193 addresses are internal. */
    {"internal_address_config", CFG_UNSUPPORTED, "{}", NULL},
    {"skip_xff_append", CFG_SUPPORTED, NULL, NULL},
    {"via", CFG_UNSUPPORTED, "", NULL},
    {"generate_request_id", CFG_SUPPORTED, NULL, NULL},
    {"preserve_external_request_id", CFG_SUPPORTED, NULL, NULL},
    {"always_set_request_id_in_response", CFG_SUPPORTED, NULL, NULL},
    {"forward_client_cert_details", CFG_UNSUPPORTED, "SANITIZE",
     "only SANITIZE (the default) is implemented"},
    /* Only read with APPEND_FORWARD / SANITIZE_SET, which are refused above. */
    {"set_current_client_cert_details", CFG_NOOP, NULL, NULL},
    {"forward_client_cert_matcher", CFG_UNSUPPORTED, NULL, NULL},
    {"proxy_100_continue", CFG_UNSUPPORTED, "false", NULL},
    {"represent_ipv4_remote_address_as_ipv4_mapped_ipv6", CFG_UNSUPPORTED, "false", NULL},
    {"upgrade_configs", CFG_SUPPORTED, NULL, NULL},
    {"normalize_path", CFG_SUPPORTED, NULL, NULL},
    {"merge_slashes", CFG_SUPPORTED, NULL, NULL},
    {"path_with_escaped_slashes_action", CFG_SUPPORTED, NULL, NULL},
    {"request_id_extension", CFG_UNSUPPORTED, "{}", NULL},
    {"local_reply_config", CFG_SUPPORTED, NULL, NULL},
    {"strip_matching_host_port", CFG_UNSUPPORTED, "false", NULL},
    {"strip_any_host_port", CFG_UNSUPPORTED, "false", NULL},
    {"stream_error_on_invalid_http_message", CFG_UNSUPPORTED, "false", NULL},
    /* [#not-implemented-hide:] in Envoy: accepted there without effect. */
    {"path_normalization_options", CFG_NOOP, NULL, NULL},
    {"strip_trailing_host_dot", CFG_UNSUPPORTED, "false", NULL},
    {"proxy_status_config", CFG_UNSUPPORTED, NULL, NULL},
    {"typed_header_validation_config", CFG_UNSUPPORTED, NULL, NULL},
    {"append_x_forwarded_port", CFG_UNSUPPORTED, "false", NULL},
    {"append_local_overload", CFG_UNSUPPORTED, "false", NULL},
    /* Filter state for the PROXY protocol, which is not implemented: nothing to add. */
    {"add_proxy_protocol_connection_state", CFG_NOOP, NULL, NULL},
    {"forward_proto_config", CFG_UNSUPPORTED, "{}", NULL},
    {"idle_timeout", CFG_REMOVED, NULL,
     "removed in the v3 API: use common_http_protocol_options.idle_timeout"},
};
CFG_TYPE(hcm_msg, HCM_TYPE, hcm_fields);

static const struct cfg_field http_filter_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"typed_config", CFG_SUPPORTED, NULL, NULL},
    {"config_discovery", CFG_UNSUPPORTED, NULL, "use typed_config"},
    {"is_optional", CFG_SUPPORTED, NULL, NULL},
    {"disabled", CFG_UNSUPPORTED, "false", "per-route filter enabling is not implemented"},
    {"config", CFG_REMOVED, NULL, "removed in the v3 API: use typed_config"},
};
CFG_TYPE(http_filter_msg, "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
         http_filter_fields);

static const struct cfg_field common_opts_fields[] = {
    {"idle_timeout", CFG_SUPPORTED, NULL, NULL},
    {"max_connection_duration", CFG_SUPPORTED, NULL, NULL},
    {"max_headers_count", CFG_SUPPORTED, NULL, NULL},
    {"max_stream_duration", CFG_UNSUPPORTED, NULL, NULL},
    {"headers_with_underscores_action", CFG_SUPPORTED, NULL, NULL},
    {"max_requests_per_connection", CFG_SUPPORTED, NULL, NULL},
    {"max_connection_duration_jitter", CFG_UNSUPPORTED, NULL, NULL},
    {"max_response_headers_kb", CFG_UNSUPPORTED, NULL,
     "Envoy only honours it on clusters, not on the connection manager"},
};
CFG_TYPE(common_opts_msg, "envoy.config.core.v3.HttpProtocolOptions", common_opts_fields);

static const struct cfg_field http1_opts_fields[] = {
    {"allow_absolute_url", CFG_SUPPORTED, NULL, NULL},
    {"accept_http_10", CFG_SUPPORTED, NULL, NULL},
    {"default_host_for_http_10", CFG_SUPPORTED, NULL, NULL},
    {"header_key_format", CFG_UNSUPPORTED, NULL, "header names are always sent in lowercase"},
    {"enable_trailers", CFG_UNSUPPORTED, "false", NULL},
    {"allow_chunked_length", CFG_UNSUPPORTED, "false", NULL},
    {"override_stream_error_on_invalid_http_message", CFG_UNSUPPORTED, "false", NULL},
    {"send_fully_qualified_url", CFG_UNSUPPORTED, "false", NULL},
    {"use_balsa_parser", CFG_DEPR_IGNORED, NULL, "Remora has one HTTP/1 parser"},
    {"allow_custom_methods", CFG_UNSUPPORTED, "false", NULL},
    {"ignore_http_11_upgrade", CFG_UNSUPPORTED, "[]", NULL},
};
CFG_TYPE(http1_opts_msg, "envoy.config.core.v3.Http1ProtocolOptions", http1_opts_fields);

/* Only the settings the codec applies are supported; the flood limits keep nghttp2's own. */
static const struct cfg_field http2_opts_fields[] = {
    {"hpack_table_size", CFG_SUPPORTED, NULL, NULL},
    {"max_concurrent_streams", CFG_SUPPORTED, NULL, NULL},
    {"initial_stream_window_size", CFG_SUPPORTED, NULL, NULL},
    {"initial_connection_window_size", CFG_SUPPORTED, NULL, NULL},
    {"allow_connect", CFG_UNSUPPORTED, "false", "CONNECT over HTTP/2 is not implemented"},
    {"allow_metadata", CFG_UNSUPPORTED, "false", "METADATA frames are not implemented"},
    {"max_outbound_frames", CFG_UNSUPPORTED, NULL, NULL},
    {"max_outbound_control_frames", CFG_UNSUPPORTED, NULL, NULL},
    {"max_consecutive_inbound_frames_with_empty_payload", CFG_UNSUPPORTED, NULL, NULL},
    {"max_inbound_priority_frames_per_stream", CFG_UNSUPPORTED, NULL, NULL},
    {"max_inbound_window_update_frames_per_data_frame_sent", CFG_UNSUPPORTED, NULL, NULL},
    {"stream_error_on_invalid_http_messaging", CFG_UNSUPPORTED, "false",
     "invalid HTTP/2 messaging always ends the connection"},
    {"override_stream_error_on_invalid_http_message", CFG_UNSUPPORTED, "false",
     "invalid HTTP/2 messaging always ends the connection"},
    {"custom_settings_parameters", CFG_UNSUPPORTED, "[]", NULL},
    {"connection_keepalive", CFG_UNSUPPORTED, NULL, "HTTP/2 PING keepalive is not implemented"},
    {"use_oghttp2_codec", CFG_NOOP, NULL, NULL},
    {"max_metadata_size", CFG_UNSUPPORTED, NULL, NULL},
    {"enable_huffman_encoding", CFG_UNSUPPORTED, NULL, NULL},
};
CFG_TYPE(http2_opts_msg, "envoy.config.core.v3.Http2ProtocolOptions", http2_opts_fields);

static const struct cfg_enum_val codec_vals[] = {
    {"AUTO", CODEC_AUTO, true},
    {"HTTP1", CODEC_HTTP1, true},
    {"HTTP2", CODEC_HTTP2, true},
    {"HTTP3", 3, false},
};
CFG_ENUM(codec_enum, HCM_TYPE ".CodecType", codec_vals);

static const struct cfg_enum_val server_header_vals[] = {
    {"OVERWRITE", SERVER_HDR_OVERWRITE, true},
    {"APPEND_IF_ABSENT", SERVER_HDR_APPEND_IF_ABSENT, true},
    {"PASS_THROUGH", SERVER_HDR_PASS_THROUGH, true},
};
CFG_ENUM(server_header_enum, HCM_TYPE ".ServerHeaderTransformation", server_header_vals);

static const struct cfg_enum_val escaped_slashes_vals[] = {
    {"IMPLEMENTATION_SPECIFIC_DEFAULT", 0, true}, /* Envoy: KEEP_UNCHANGED */
    {"KEEP_UNCHANGED", 1, true},
    {"REJECT_REQUEST", 2, true},
    {"UNESCAPE_AND_REDIRECT", 3, true},
    {"UNESCAPE_AND_FORWARD", 4, true},
};
CFG_ENUM(escaped_slashes_enum, HCM_TYPE ".PathWithEscapedSlashesAction", escaped_slashes_vals);
static const enum cfg_escaped_slashes escaped_slashes_of[] = {
    ESC_SLASHES_KEEP_UNCHANGED, ESC_SLASHES_KEEP_UNCHANGED, ESC_SLASHES_REJECT_REQUEST,
    ESC_SLASHES_UNESCAPE_AND_REDIRECT, ESC_SLASHES_UNESCAPE_AND_FORWARD};

static const struct cfg_enum_val underscores_vals[] = {
    {"ALLOW", UNDERSCORES_ALLOW, true},
    {"REJECT_REQUEST", UNDERSCORES_REJECT_REQUEST, true},
    {"DROP_HEADER", UNDERSCORES_DROP_HEADER, true},
};
CFG_ENUM(underscores_enum, "envoy.config.core.v3.HttpProtocolOptions.HeadersWithUnderscoresAction",
         underscores_vals);

static const struct cfg_field upgrade_fields[] = {
    {"upgrade_type", CFG_SUPPORTED, NULL, NULL},
    {"filters", CFG_UNSUPPORTED, "[]",
     "per-upgrade filter chains are not implemented: upgrades use the connection manager's "
     "http_filters"},
    {"enabled", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(upgrade_msg, HCM_TYPE ".UpgradeConfig", upgrade_fields);

/* ---- protocol options ------------------------------------------------------------------------ */

static void common_options(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           struct cfg_hcm *h)
{
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &common_opts_msg, n, path, 0))
        return;
    /* 0 disables the idle timeout (Envoy: "To disable idle timeouts explicitly set this
     * to 0"). */
    cfg_f_duration_ms(ctx, &o, "idle_timeout", &h->idle_timeout_ms);
    cfg_f_duration_ms(ctx, &o, "max_connection_duration", &h->max_connection_duration_ms);
    if (cfg_f_u32(ctx, &o, "max_headers_count", &h->max_headers_count) && h->max_headers_count < 1)
        cfg_obj_error(ctx, &o, "max_headers_count", "max_headers_count must be at least 1");
    int u = UNDERSCORES_ALLOW;
    if (cfg_f_enum(ctx, &o, "headers_with_underscores_action", &underscores_enum, &u))
        h->headers_with_underscores_action = (enum cfg_underscores)u;
    cfg_f_u32(ctx, &o, "max_requests_per_connection", &h->max_requests_per_connection);
}

static void http1_options(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                          struct cfg_hcm *h)
{
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &http1_opts_msg, n, path, 0))
        return;
    cfg_f_bool(ctx, &o, "allow_absolute_url", &h->allow_absolute_url);
    cfg_f_bool(ctx, &o, "accept_http_10", &h->accept_http_10);
    const char *host = NULL;
    if (cfg_f_str(ctx, &o, "default_host_for_http_10", &host) && host && host[0]) {
        if (strpbrk(host, "\r\n /?#") != NULL)
            cfg_obj_error(ctx, &o, "default_host_for_http_10", "invalid host \"%.200s\"", host);
        else
            h->default_host_for_http_10 = host;
    }
}

#define H2_DEFAULT_WINDOW (256u * 1024u * 1024u)
#define H2_MAX_WINDOW 2147483647u

static void http2_options(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                          struct cfg_hcm *h)
{
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &http2_opts_msg, n, path, 0))
        return;
    struct cfg_h2_options *x = &h->h2;
    cfg_f_u32(ctx, &o, "hpack_table_size", &x->hpack_table_size);
    if (cfg_f_u32(ctx, &o, "max_concurrent_streams", &x->max_concurrent_streams) &&
        (x->max_concurrent_streams < 1 || x->max_concurrent_streams > H2_MAX_WINDOW))
        cfg_obj_error(ctx, &o, "max_concurrent_streams",
                      "max_concurrent_streams must be in [1, 2147483647]");
    /* Envoy's range: [65535, 2147483647]. */
    if (cfg_f_u32(ctx, &o, "initial_stream_window_size", &x->initial_stream_window_size) &&
        (x->initial_stream_window_size < 65535 || x->initial_stream_window_size > H2_MAX_WINDOW))
        cfg_obj_error(ctx, &o, "initial_stream_window_size",
                      "initial_stream_window_size must be in [65535, 2147483647]");
    if (cfg_f_u32(ctx, &o, "initial_connection_window_size", &x->initial_connection_window_size) &&
        (x->initial_connection_window_size < 65535 ||
         x->initial_connection_window_size > H2_MAX_WINDOW))
        cfg_obj_error(ctx, &o, "initial_connection_window_size",
                      "initial_connection_window_size must be in [65535, 2147483647]");
}

/* ---- upgrades -------------------------------------------------------------------------------- */

static void upgrade_configs(struct cfg_ctx *ctx, const struct cfg_obj *o, struct cfg_hcm *h)
{
    size_t count;
    if (!cfg_f_list(ctx, o, "upgrade_configs", &count) || !count)
        return;
    const struct vt_node *list = cfg_obj_get(o, "upgrade_configs");
    const char *lpath = cfg_obj_path(ctx, o, "upgrade_configs");
    h->upgrades = cfg_alloc(ctx, count * sizeof(*h->upgrades));
    if (!h->upgrades)
        return;
    for (size_t i = 0; i < count; i++) {
        struct cfg_obj u;
        const char *ipath = cfg_path_idx(ctx, lpath, i);
        if (!cfg_obj_init(ctx, &u, &upgrade_msg, list->list.items[i], ipath, 0))
            continue;
        struct cfg_upgrade *up = &h->upgrades[h->n_upgrades];
        up->type = NULL;
        up->enabled = true;
        cfg_f_str(ctx, &u, "upgrade_type", &up->type);
        cfg_f_bool(ctx, &u, "enabled", &up->enabled);
        if (!up->type || !up->type[0] || strpbrk(up->type, "\r\n")) {
            cfg_err_add(ctx->err, list->list.items[i], cfg_obj_path(ctx, &u, "upgrade_type"),
                        "upgrade_type is required (a header value such as \"websocket\", or "
                        "\"CONNECT\")");
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < h->n_upgrades; k++)
            dup |= strcasecmp(h->upgrades[k].type, up->type) == 0;
        if (dup) {
            /* Envoy's HttpConnectionManagerConfig wording. */
            cfg_obj_error(ctx, &u, "upgrade_type",
                          "Error: multiple upgrade configs with the same name: '%s'", up->type);
            continue;
        }
        h->n_upgrades++;
    }
}

/* ---- HTTP filters ---------------------------------------------------------------------------- */

static const struct vt_node empty_map = {.kind = VT_MAP};

/* One HttpFilter. Returns 1 with |f| filled, 0 when an optional filter is skipped, or an
 * error code. */
static int http_filter(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                       struct cfg_http_filter *f, const struct vt_node **name_node)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *name = NULL;
    bool optional = false;
    if (!cfg_obj_init(ctx, &o, &http_filter_msg, n, path, 0))
        return -RM_ECONFIG;
    if (!o.node) {
        cfg_err_add(ctx->err, n, path, "an HTTP filter needs a name and a typed_config");
        return -RM_ECONFIG;
    }
    cfg_f_str(ctx, &o, "name", &name);
    cfg_f_bool(ctx, &o, "is_optional", &optional);
    const struct vt_node *tc = cfg_obj_get(&o, "typed_config");
    const char *tpath = cfg_obj_path(ctx, &o, "typed_config");
    *name_node = cfg_obj_get(&o, "name");
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    if (!name || !name[0]) {
        /* PGV min_len 1 on HttpFilter.name. */
        cfg_obj_error(ctx, &o, "name", "name is required (a non-empty string)");
        return -RM_ECONFIG;
    }

    const struct http_filter_def *def;
    const struct vt_node *cfg = &empty_map;
    const struct vt_node *at = tc;
    char why[512];
    why[0] = '\0';
    if (tc) {
        struct cfg_any any;
        if (!cfg_val_any(ctx, tc, tpath, &any))
            return -RM_ECONFIG;
        def = filter_find_http(any.type_url, name);
        if (!def && filter_is_known_unsupported_http(any.type_url, name))
            snprintf(why, sizeof(why), "http filter %s (%s) is not supported by Remora yet", name,
                     any.type_name);
        else if (!def)
            snprintf(why, sizeof(why),
                     "Didn't find a registered implementation for '%s' with type URL: '%s'", name,
                     any.type_name);
        cfg = any.msg;
        tpath = any.path;
    } else {
        def = filter_find_http(NULL, name);
        at = *name_node;
        if (!def && filter_is_known_unsupported_http(NULL, name))
            snprintf(why, sizeof(why), "http filter %s is not supported by Remora yet", name);
        else if (!def)
            snprintf(why, sizeof(why), "Didn't find a registered implementation for name: '%s'",
                     name);
        /* Envoy then builds the filter from its default (empty) config message. */
    }
    if (!def) {
        if (optional) {
            /* HttpFilter.is_optional: "clients that do not support this filter may ignore
             * the filter but otherwise accept the config". */
            cfg_warn_add(ctx->err, at ? at : n, cfg_obj_path(ctx, &o, tc ? "typed_config" : "name"),
                         "%s: the filter is optional (is_optional: true) and is skipped", why);
            return 0;
        }
        cfg_err_add(ctx->err, at ? at : n, cfg_obj_path(ctx, &o, tc ? "typed_config" : "name"),
                    "%s", why);
        return -RM_ECONFIG;
    }
    f->name = name;
    f->def = def;
    const void *config = NULL;
    int rc = def->config_new ? def->config_new(ctx, cfg, tpath, &config) : 0;
    if (rc == 0 && cfg_errors(ctx) != mark)
        rc = -RM_ECONFIG;
    if (rc)
        return rc;
    f->config = config;
    return 1;
}

static void http_filters(struct cfg_ctx *ctx, const struct cfg_obj *o, struct cfg_hcm *h)
{
    size_t count;
    const struct vt_node *list = cfg_obj_get(o, "http_filters");
    const char *lpath = cfg_obj_path(ctx, o, "http_filters");
    if (!cfg_f_list(ctx, o, "http_filters", &count))
        return;
    if (count == 0) {
        /* Envoy accepts an empty chain and then forwards nothing; that is never what a
         * config means, so Remora refuses it. */
        cfg_err_add(ctx->err, list ? list : o->node, lpath,
                    "http_filters is empty: the chain must end with the router filter "
                    "(" ROUTER_NAME "), or no request is ever forwarded");
        return;
    }
    h->filters = cfg_alloc(ctx, count * sizeof(*h->filters));
    if (!h->filters)
        return;
    for (size_t i = 0; i < count; i++) {
        const char *ipath = cfg_path_idx(ctx, lpath, i);
        const struct vt_node *name_node = NULL;
        struct cfg_http_filter *f = &h->filters[h->n_filters];
        int rc = http_filter(ctx, list->list.items[i], ipath, f, &name_node);
        if (rc <= 0) {
            memset(f, 0, sizeof(*f));
            if (rc == -RM_ENOMEM)
                return;
            continue;
        }
        const struct vt_node *at = name_node ? name_node : list->list.items[i];
        /* Config::Utility::validateTerminalFilters(), with Envoy's wording. */
        if (f->def->terminal && i + 1 < count)
            cfg_err_add(ctx->err, at, ipath,
                        "terminal filter named %s of type %s must be the last filter in a http "
                        "filter chain",
                        f->name, f->def->name);
        if (!f->def->terminal && i + 1 == count)
            cfg_err_add(ctx->err, at, ipath,
                        "non-terminal filter named %s of type %s is the last filter in a http "
                        "filter chain (end the chain with " ROUTER_NAME ")",
                        f->name, f->def->name);
        h->n_filters++;
    }
    if (h->n_filters && strcmp(h->filters[h->n_filters - 1].def->name, ROUTER_NAME) == 0)
        h->router = h->filters[h->n_filters - 1].config;
}

/* ---- the connection manager ------------------------------------------------------------------ */

int cfg_translate_hcm(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                      struct cfg_hcm *h, bool *validate_clusters, struct cfg_cluster_refs *refs)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);

    memset(h, 0, sizeof(*h));
    h->stat_prefix = "";
    h->codec_type = CODEC_AUTO;
    h->h2.hpack_table_size = 4096;
    h->h2.max_concurrent_streams = 2147483647u;
    h->h2.initial_stream_window_size = H2_DEFAULT_WINDOW;
    h->h2.initial_connection_window_size = H2_DEFAULT_WINDOW;
    h->generate_request_id = true;
    h->server_name = "envoy";
    h->server_header_transformation = SERVER_HDR_OVERWRITE;
    h->max_request_headers_kb = DEFAULT_MAX_REQUEST_HEADERS_KB;
    h->max_headers_count = DEFAULT_MAX_HEADERS_COUNT;
    h->path_with_escaped_slashes_action = ESC_SLASHES_KEEP_UNCHANGED;
    h->headers_with_underscores_action = UNDERSCORES_ALLOW;
    h->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    h->stream_idle_timeout_ms = DEFAULT_STREAM_IDLE_TIMEOUT_MS;
    h->drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT_MS;
    h->delayed_close_timeout_ms = DEFAULT_DELAYED_CLOSE_TIMEOUT_MS;
    h->allow_absolute_url = true;
    if (validate_clusters)
        *validate_clusters = true;

    if (!n)
        n = &empty_map;
    if (!cfg_obj_init(ctx, &o, &hcm_msg, n, path, CFG_OBJ_ANY))
        return -RM_ECONFIG;

    cfg_f_str(ctx, &o, "stat_prefix", &h->stat_prefix);
    if (!h->stat_prefix[0])
        cfg_obj_error(ctx, &o, "stat_prefix",
                      "stat_prefix is required (a non-empty string; stats are rooted at "
                      "http.<stat_prefix>.)");
    int codec = CODEC_AUTO;
    if (cfg_f_enum(ctx, &o, "codec_type", &codec_enum, &codec))
        h->codec_type = (enum cfg_codec_type)codec;

    /* oneof route_specifier (rds and scoped_routes are refused by the table). */
    const struct vt_node *rc_node = cfg_obj_get(&o, "route_config");
    const struct vt_node *rds = vt_map_get(n, "rds");
    const struct vt_node *srt = vt_map_get(n, "scoped_routes");
    int set = (rc_node != NULL) + (rds && rds->kind != VT_NULL) + (srt && srt->kind != VT_NULL);
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of route_config, rds and scoped_routes may be set (oneof "
                    "route_specifier)");
    } else if (set == 0) {
        cfg_err_add(ctx->err, n, cfg_obj_path(ctx, &o, "route_config"),
                    "one of route_config or rds is required (oneof route_specifier)");
    } else if (rc_node) {
        struct cfg_route_config *rc = NULL;
        int r = cfg_translate_route_config(ctx, rc_node, cfg_obj_path(ctx, &o, "route_config"), &rc,
                                           validate_clusters, refs);
        if (r == -RM_ENOMEM)
            return r;
        h->route_config = rc;
    }

    http_filters(ctx, &o, h);
    if (ctx->oom)
        return -RM_ENOMEM;

    cfg_f_bool(ctx, &o, "use_remote_address", &h->use_remote_address);
    cfg_f_u32(ctx, &o, "xff_num_trusted_hops", &h->xff_num_trusted_hops);
    cfg_f_bool(ctx, &o, "skip_xff_append", &h->skip_xff_append);
    cfg_f_bool(ctx, &o, "generate_request_id", &h->generate_request_id);
    cfg_f_bool(ctx, &o, "preserve_external_request_id", &h->preserve_external_request_id);
    cfg_f_bool(ctx, &o, "always_set_request_id_in_response", &h->always_set_request_id_in_response);

    const char *server = NULL;
    if (cfg_f_str(ctx, &o, "server_name", &server) && server && server[0]) {
        /* Envoy: HTTP_HEADER_VALUE; an empty server_name means the default "envoy". */
        if (strpbrk(server, "\r\n"))
            cfg_obj_error(ctx, &o, "server_name", "server_name must not contain CR or LF");
        else
            h->server_name = server;
    }
    int sht = SERVER_HDR_OVERWRITE;
    if (cfg_f_enum(ctx, &o, "server_header_transformation", &server_header_enum, &sht))
        h->server_header_transformation = (enum cfg_server_header)sht;

    if (cfg_f_u32(ctx, &o, "max_request_headers_kb", &h->max_request_headers_kb) &&
        (h->max_request_headers_kb < 1 || h->max_request_headers_kb > MAX_REQUEST_HEADERS_KB))
        cfg_obj_error(ctx, &o, "max_request_headers_kb",
                      "max_request_headers_kb must be within 1..%u (got %u)",
                      MAX_REQUEST_HEADERS_KB, h->max_request_headers_kb);

    cfg_f_bool(ctx, &o, "normalize_path", &h->normalize_path);
    cfg_f_bool(ctx, &o, "merge_slashes", &h->merge_slashes);
    int esc = 0;
    if (cfg_f_enum(ctx, &o, "path_with_escaped_slashes_action", &escaped_slashes_enum, &esc))
        h->path_with_escaped_slashes_action = escaped_slashes_of[esc];

    cfg_f_duration_ms(ctx, &o, "stream_idle_timeout", &h->stream_idle_timeout_ms);
    cfg_f_duration_ms(ctx, &o, "request_timeout", &h->request_timeout_ms);
    cfg_f_duration_ms(ctx, &o, "request_headers_timeout", &h->request_headers_timeout_ms);
    cfg_f_duration_ms(ctx, &o, "drain_timeout", &h->drain_timeout_ms);
    cfg_f_duration_ms(ctx, &o, "delayed_close_timeout", &h->delayed_close_timeout_ms);

    const struct vt_node *co = cfg_obj_get(&o, "common_http_protocol_options");
    if (co)
        common_options(ctx, co, cfg_obj_path(ctx, &o, "common_http_protocol_options"), h);
    const struct vt_node *h1 = cfg_obj_get(&o, "http_protocol_options");
    if (h1)
        http1_options(ctx, h1, cfg_obj_path(ctx, &o, "http_protocol_options"), h);
    const struct vt_node *h2 = cfg_obj_get(&o, "http2_protocol_options");
    if (h2)
        http2_options(ctx, h2, cfg_obj_path(ctx, &o, "http2_protocol_options"), h);

    upgrade_configs(ctx, &o, h);

    const struct vt_node *lr = cfg_obj_get(&o, "local_reply_config");
    if (lr && cfg_translate_local_reply(ctx, lr, cfg_obj_path(ctx, &o, "local_reply_config"),
                                        &h->local_reply) == -RM_ENOMEM)
        return -RM_ENOMEM;

    int rc = cfg_translate_access_logs(ctx, cfg_obj_get(&o, "access_log"),
                                       cfg_obj_path(ctx, &o, "access_log"), &h->access_logs,
                                       &h->n_access_logs);
    if (rc == -RM_ENOMEM || ctx->oom)
        return -RM_ENOMEM;
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}
