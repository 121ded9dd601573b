/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_cluster.c — envoy.config.cluster.v3.Cluster (with its inline
 * ClusterLoadAssignment and circuit breakers) → struct cfg_cluster, and the cross-cluster
 * checks of static_resources.clusters. Every field Envoy's Cluster has is in the table
 * below with what Remora does with it. Main thread only. */
#include "config/translate.h"

#include <string.h>

#include "config/err.h"
#include "proxy/err.h"

#define CLUSTER_TYPE "envoy.config.cluster.v3.Cluster"
#define DEFAULT_BUFFER_LIMIT (1024u * 1024u)

/* Fields that only matter for HTTP upstreams are refused rather than ignored: the HTTP
 * connection manager is next, and a silently dropped HTTP/2 option would change traffic
 * the day it lands. */
static const struct cfg_field cluster_fields[] = {
    {"transport_socket_matches", CFG_UNSUPPORTED, "[]", NULL},
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"alt_stat_name", CFG_SUPPORTED, NULL, NULL},
    {"type", CFG_SUPPORTED, NULL, NULL},
    {"cluster_type", CFG_UNSUPPORTED, NULL, "custom cluster types are not implemented"},
    {"eds_cluster_config", CFG_UNSUPPORTED, NULL, "EDS clusters are not implemented"},
    {"connect_timeout", CFG_SUPPORTED, NULL, NULL},
    {"per_connection_buffer_limit_bytes", CFG_SUPPORTED, NULL, NULL},
    {"lb_policy", CFG_SUPPORTED, NULL, NULL},
    {"load_assignment", CFG_SUPPORTED, NULL, NULL},
    {"health_checks", CFG_UNSUPPORTED, "[]", "active health checking is not implemented"},
    {"max_requests_per_connection", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; HTTP upstream options are not implemented"},
    {"circuit_breakers", CFG_SUPPORTED, NULL, NULL},
    {"upstream_http_protocol_options", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; HTTP upstream options are not implemented"},
    {"common_http_protocol_options", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; HTTP upstream options are not implemented"},
    {"http_protocol_options", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; HTTP upstream options are not implemented"},
    {"http2_protocol_options", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; upstream HTTP/2 is not implemented"},
    {"typed_extension_protocol_options", CFG_UNSUPPORTED, "{}",
     "upstream protocol options are not implemented"},
    {"dns_refresh_rate", CFG_SUPPORTED, NULL, NULL},
    {"dns_jitter", CFG_UNSUPPORTED, NULL, NULL},
    {"dns_failure_refresh_rate", CFG_UNSUPPORTED, NULL, NULL},
    {"respect_dns_ttl", CFG_SUPPORTED, NULL, NULL},
    {"dns_lookup_family", CFG_SUPPORTED, NULL, NULL},
    {"dns_resolvers", CFG_UNSUPPORTED, "[]",
     "deprecated in Envoy; Remora uses the system "
     "resolver (/etc/resolv.conf)"},
    {"use_tcp_for_dns_lookups", CFG_UNSUPPORTED, "false", "deprecated in Envoy"},
    {"dns_resolution_config", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; Remora uses the "
     "system resolver (/etc/resolv.conf)"},
    {"typed_dns_resolver_config", CFG_UNSUPPORTED, NULL,
     "Remora uses the system resolver "
     "(/etc/resolv.conf)"},
    {"wait_for_warm_on_init", CFG_UNSUPPORTED, "true", NULL},
    {"outlier_detection", CFG_UNSUPPORTED, NULL, "outlier detection is not implemented"},
    {"cleanup_interval", CFG_NOOP, NULL, NULL}, /* ORIGINAL_DST only, ignored by Envoy too */
    {"upstream_bind_config", CFG_UNSUPPORTED, NULL, NULL},
    {"lb_subset_config", CFG_UNSUPPORTED, NULL, NULL},
    {"ring_hash_lb_config", CFG_UNSUPPORTED, NULL, NULL},
    {"maglev_lb_config", CFG_UNSUPPORTED, NULL, NULL},
    {"original_dst_lb_config", CFG_UNSUPPORTED, NULL, NULL},
    {"least_request_lb_config", CFG_SUPPORTED, NULL, NULL},
    {"round_robin_lb_config", CFG_UNSUPPORTED, "{}", "slow start is not implemented"},
    {"common_lb_config", CFG_UNSUPPORTED, "{}", NULL},
    {"transport_socket", CFG_SUPPORTED, NULL, NULL},
    {"metadata", CFG_NOOP, NULL, NULL},
    {"protocol_selection", CFG_UNSUPPORTED, "USE_CONFIGURED_PROTOCOL", "deprecated in Envoy"},
    {"upstream_connection_options", CFG_UNSUPPORTED, "{}", NULL},
    {"close_connections_on_host_health_failure", CFG_UNSUPPORTED, "false", NULL},
    {"ignore_health_on_host_removal", CFG_UNSUPPORTED, "false", NULL},
    {"filters", CFG_UNSUPPORTED, "[]", "upstream network filters are not implemented"},
    {"load_balancing_policy", CFG_UNSUPPORTED, NULL, "use lb_policy"},
    {"lrs_server", CFG_UNSUPPORTED, NULL, NULL},
    {"lrs_report_endpoint_metrics", CFG_UNSUPPORTED, "[]", NULL},
    {"track_timeout_budgets", CFG_DEPR_IGNORED, NULL, NULL},
    {"upstream_config", CFG_UNSUPPORTED, NULL, NULL},
    {"track_cluster_stats", CFG_IGNORED, NULL, "optional cluster stats are not collected"},
    {"preconnect_policy", CFG_UNSUPPORTED, NULL, NULL},
    {"connection_pool_per_downstream_connection", CFG_UNSUPPORTED, "false", NULL},
    {"hosts", CFG_REMOVED, NULL, "removed in the v3 API: use load_assignment"},
    {"tls_context", CFG_REMOVED, NULL, "removed in the v3 API: use transport_socket"},
    {"extension_protocol_options", CFG_REMOVED, NULL,
     "removed in the v3 API: use typed_extension_protocol_options"},
};
CFG_TYPE(cluster_msg, CLUSTER_TYPE, cluster_fields);

static const struct cfg_field least_request_fields[] = {
    {"choice_count", CFG_SUPPORTED, NULL, NULL},
    {"active_request_bias", CFG_UNSUPPORTED, NULL, NULL},
    {"slow_start_config", CFG_UNSUPPORTED, NULL, "slow start is not implemented"},
    {"selection_method", CFG_UNSUPPORTED, "N_CHOICES", NULL},
};
CFG_TYPE(least_request_msg, CLUSTER_TYPE ".LeastRequestLbConfig", least_request_fields);

static const struct cfg_field circuit_breakers_fields[] = {
    {"thresholds", CFG_SUPPORTED, NULL, NULL},
    {"per_host_thresholds", CFG_UNSUPPORTED, "[]", NULL},
};
CFG_TYPE(circuit_breakers_msg, "envoy.config.cluster.v3.CircuitBreakers", circuit_breakers_fields);

static const struct cfg_field thresholds_fields[] = {
    {"priority", CFG_SUPPORTED, NULL, NULL},
    {"max_connections", CFG_SUPPORTED, NULL, NULL},
    {"max_pending_requests", CFG_SUPPORTED, NULL, NULL},
    {"max_requests", CFG_SUPPORTED, NULL, NULL},
    {"max_retries", CFG_SUPPORTED, NULL, NULL},
    {"retry_budget", CFG_UNSUPPORTED, NULL, NULL},
    {"track_remaining", CFG_IGNORED, NULL, "remaining_* gauges are not published"},
    {"max_connection_pools", CFG_UNSUPPORTED, NULL, NULL},
};
CFG_TYPE(thresholds_msg, "envoy.config.cluster.v3.CircuitBreakers.Thresholds", thresholds_fields);

static const struct cfg_field cla_fields[] = {
    {"cluster_name", CFG_SUPPORTED, NULL, NULL},
    {"endpoints", CFG_SUPPORTED, NULL, NULL},
    {"named_endpoints", CFG_UNSUPPORTED, "{}", NULL},
    {"policy", CFG_UNSUPPORTED, "{}", NULL},
};
CFG_TYPE(cla_msg, "envoy.config.endpoint.v3.ClusterLoadAssignment", cla_fields);

static const struct cfg_field locality_lb_fields[] = {
    {"locality", CFG_SUPPORTED, NULL, NULL},
    {"lb_endpoints", CFG_SUPPORTED, NULL, NULL},
    {"load_balancer_endpoints", CFG_UNSUPPORTED, NULL, "use lb_endpoints"},
    {"leds_cluster_locality_config", CFG_UNSUPPORTED, NULL, NULL},
    {"load_balancing_weight", CFG_SUPPORTED, NULL, NULL},
    {"priority", CFG_SUPPORTED, NULL, NULL},
    {"proximity", CFG_NOOP, NULL, NULL}, /* not implemented in Envoy either */
    {"metadata", CFG_NOOP, NULL, NULL},
};
CFG_TYPE(locality_lb_msg, "envoy.config.endpoint.v3.LocalityLbEndpoints", locality_lb_fields);

static const struct cfg_field locality_fields[] = {
    {"region", CFG_SUPPORTED, NULL, NULL},
    {"zone", CFG_SUPPORTED, NULL, NULL},
    {"sub_zone", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(locality_msg, "envoy.config.core.v3.Locality", locality_fields);

static const struct cfg_field lb_endpoint_fields[] = {
    {"endpoint", CFG_SUPPORTED, NULL, NULL},
    {"endpoint_name", CFG_UNSUPPORTED, "", "use endpoint"},
    {"health_status", CFG_SUPPORTED, NULL, NULL},
    {"metadata", CFG_NOOP, NULL, NULL},
    {"load_balancing_weight", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(lb_endpoint_msg, "envoy.config.endpoint.v3.LbEndpoint", lb_endpoint_fields);

static const struct cfg_field endpoint_fields[] = {
    {"address", CFG_SUPPORTED, NULL, NULL},
    {"health_check_config", CFG_NOOP, NULL, NULL}, /* only read by health checkers */
    {"hostname", CFG_NOOP, NULL, NULL},            /* informational (auto_host_rewrite) */
    {"additional_addresses", CFG_UNSUPPORTED, "[]", NULL},
};
CFG_TYPE(endpoint_msg, "envoy.config.endpoint.v3.Endpoint", endpoint_fields);

static const struct cfg_enum_val type_vals[] = {
    {"STATIC", CLUSTER_STATIC, true},
    {"STRICT_DNS", CLUSTER_STRICT_DNS, true},
    {"LOGICAL_DNS", CLUSTER_LOGICAL_DNS, true},
    {"EDS", 3, false},
    {"ORIGINAL_DST", 4, false},
};
CFG_ENUM(type_enum, CLUSTER_TYPE ".DiscoveryType", type_vals);

/* Proto numbers; mapped to enum cfg_lb_policy below. */
static const struct cfg_enum_val lb_vals[] = {
    {"ROUND_ROBIN", 0, true},
    {"LEAST_REQUEST", 1, true},
    {"RING_HASH", 2, false},
    {"RANDOM", 3, true},
    {"MAGLEV", 5, false},
    {"CLUSTER_PROVIDED", 6, false},
    {"LOAD_BALANCING_POLICY_CONFIG", 7, false},
};
CFG_ENUM(lb_enum, CLUSTER_TYPE ".LbPolicy", lb_vals);

static const struct cfg_enum_val dns_family_vals[] = {
    {"AUTO", DNS_AUTO, true},       {"V4_ONLY", DNS_V4_ONLY, true},
    {"V6_ONLY", DNS_V6_ONLY, true}, {"V4_PREFERRED", DNS_V4_PREFERRED, true},
    {"ALL", DNS_ALL, true},
};
CFG_ENUM(dns_family_enum, CLUSTER_TYPE ".DnsLookupFamily", dns_family_vals);

/* Hosts marked unhealthy/draining by the config are excluded from balancing in Envoy;
 * the model has no per-endpoint health yet, so those values are refused, not ignored. */
static const struct cfg_enum_val health_vals[] = {
    {"UNKNOWN", 0, true},   {"HEALTHY", 1, true},  {"UNHEALTHY", 2, false},
    {"DRAINING", 3, false}, {"TIMEOUT", 4, false}, {"DEGRADED", 5, false},
};
CFG_ENUM(health_enum, "envoy.config.core.v3.HealthStatus", health_vals);

static const struct cfg_enum_val priority_vals[] = {
    {"DEFAULT", 0, true},
    {"HIGH", 1, true},
};
CFG_ENUM(priority_enum, "envoy.config.core.v3.RoutingPriority", priority_vals);

/* ---- load_assignment --------------------------------------------------------------------- */

static int lb_endpoint(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                       enum cfg_cluster_type type, struct cfg_endpoint *ep)
{
    struct cfg_obj o, e;
    size_t mark = cfg_errors(ctx);
    int health = 0;
    ep->weight = 1;
    if (!cfg_obj_init(ctx, &o, &lb_endpoint_msg, n, path, 0))
        return -RM_ECONFIG;
    cfg_f_enum(ctx, &o, "health_status", &health_enum, &health);
    if (cfg_f_u32(ctx, &o, "load_balancing_weight", &ep->weight) && ep->weight < 1)
        cfg_obj_error(ctx, &o, "load_balancing_weight", "load_balancing_weight must be at least 1");
    const struct vt_node *en = cfg_obj_get(&o, "endpoint");
    const char *epath = cfg_obj_path(ctx, &o, "endpoint");
    if (!en) {
        cfg_err_add(ctx->err, n, epath, "endpoint is required");
        return -RM_ECONFIG;
    }
    if (!cfg_obj_init(ctx, &e, &endpoint_msg, en, epath, 0))
        return -RM_ECONFIG;
    const struct vt_node *addr = cfg_obj_get(&e, "address");
    if (!addr) {
        cfg_err_add(ctx->err, en, cfg_obj_path(ctx, &e, "address"), "address is required");
        return -RM_ECONFIG;
    }
    enum cfg_addr_use use = type == CLUSTER_STATIC ? CFG_ADDR_STATIC : CFG_ADDR_DNS_NAME;
    const char *host = NULL;
    if (!cfg_val_address(ctx, addr, cfg_obj_path(ctx, &e, "address"), use, &ep->addr, &host,
                         &ep->port))
        return -RM_ECONFIG;
    ep->host = host;
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}

static int locality_endpoints(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              enum cfg_cluster_type type, struct cfg_locality_endpoints *le)
{
    struct cfg_obj o, loc;
    size_t mark = cfg_errors(ctx);
    size_t count;
    le->region = le->zone = le->sub_zone = "";
    if (!cfg_obj_init(ctx, &o, &locality_lb_msg, n, path, 0))
        return -RM_ECONFIG;
    if (cfg_obj_init(ctx, &loc, &locality_msg, cfg_obj_get(&o, "locality"),
                     cfg_obj_path(ctx, &o, "locality"), 0)) {
        cfg_f_str(ctx, &loc, "region", &le->region);
        cfg_f_str(ctx, &loc, "zone", &le->zone);
        cfg_f_str(ctx, &loc, "sub_zone", &le->sub_zone);
    }
    if (cfg_f_u32(ctx, &o, "priority", &le->priority) && le->priority > 128)
        cfg_obj_error(ctx, &o, "priority", "priority %u is out of range (0..128)",
                      (unsigned)le->priority);
    if (cfg_f_u32(ctx, &o, "load_balancing_weight", &le->weight) &&
        cfg_obj_get(&o, "load_balancing_weight") && le->weight < 1)
        cfg_obj_error(ctx, &o, "load_balancing_weight", "load_balancing_weight must be at least 1");
    if (!cfg_f_list(ctx, &o, "lb_endpoints", &count))
        return -RM_ECONFIG;
    if (count) {
        le->endpoints = cfg_alloc(ctx, count * sizeof(*le->endpoints));
        if (!le->endpoints)
            return -RM_ENOMEM;
    }
    const struct vt_node *list = cfg_obj_get(&o, "lb_endpoints");
    const char *lpath = cfg_obj_path(ctx, &o, "lb_endpoints");
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        struct cfg_endpoint *ep = &le->endpoints[le->n_endpoints];
        if (lb_endpoint(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), type, ep) == 0) {
            sum += ep->weight;
            le->n_endpoints++;
        } else {
            memset(ep, 0, sizeof(*ep));
        }
    }
    if (sum > UINT32_MAX)
        cfg_err_add(ctx->err, list, lpath,
                    "The sum of weights of all upstream hosts in a "
                    "locality exceeds 4294967295");
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}

static int load_assignment(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           struct cfg_cluster *c)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    size_t count;
    const char *cname = NULL;
    if (!cfg_obj_init(ctx, &o, &cla_msg, n, path, 0))
        return -RM_ECONFIG;
    /* PGV min_len 1: Envoy insists on it even for static clusters. */
    if (cfg_f_str(ctx, &o, "cluster_name", &cname) && (!cname || !cname[0]))
        cfg_obj_error(ctx, &o, "cluster_name",
                      "cluster_name is required (a non-empty string; usually the cluster's "
                      "name)");
    if (!cfg_f_list(ctx, &o, "endpoints", &count))
        return -RM_ECONFIG;
    if (count) {
        c->localities = cfg_alloc(ctx, count * sizeof(*c->localities));
        if (!c->localities)
            return -RM_ENOMEM;
    }
    const struct vt_node *list = cfg_obj_get(&o, "endpoints");
    const char *lpath = cfg_obj_path(ctx, &o, "endpoints");
    for (size_t i = 0; i < count; i++) {
        struct cfg_locality_endpoints *le = &c->localities[c->n_localities];
        if (locality_endpoints(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), c->type,
                               le) == 0)
            c->n_localities++;
        else
            memset(le, 0, sizeof(*le));
    }
    /* Locality weights add up per priority level (Envoy checks the same bound). */
    for (size_t i = 0; i < c->n_localities; i++) {
        uint32_t prio = c->localities[i].priority;
        bool seen = false;
        uint64_t sum = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = c->localities[j].priority == prio;
        for (size_t j = i; j < c->n_localities && !seen; j++)
            if (c->localities[j].priority == prio)
                sum += c->localities[j].weight;
        if (!seen && sum > UINT32_MAX)
            cfg_err_add(ctx->err, list, lpath,
                        "The sum of weights of all localities at priority %u exceeds "
                        "4294967295",
                        (unsigned)prio);
    }
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}

/* ---- circuit breakers -------------------------------------------------------------------- */

static void circuit_breakers(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                             struct cfg_circuit_breakers *cb)
{
    struct cfg_obj o;
    size_t count;
    bool have_default = false;
    if (!cfg_obj_init(ctx, &o, &circuit_breakers_msg, n, path, 0) ||
        !cfg_f_list(ctx, &o, "thresholds", &count))
        return;
    const struct vt_node *list = cfg_obj_get(&o, "thresholds");
    const char *lpath = cfg_obj_path(ctx, &o, "thresholds");
    for (size_t i = 0; i < count; i++) {
        struct cfg_obj t;
        const char *tpath = cfg_path_idx(ctx, lpath, i);
        int prio = 0;
        struct cfg_circuit_breakers v = *cb;
        if (!cfg_obj_init(ctx, &t, &thresholds_msg, list->list.items[i], tpath, 0))
            continue;
        cfg_f_enum(ctx, &t, "priority", &priority_enum, &prio);
        cfg_f_u32(ctx, &t, "max_connections", &v.max_connections);
        cfg_f_u32(ctx, &t, "max_pending_requests", &v.max_pending_requests);
        cfg_f_u32(ctx, &t, "max_requests", &v.max_requests);
        cfg_f_u32(ctx, &t, "max_retries", &v.max_retries);
        if (prio != 0) {
            /* Only routes pick HIGH priority; tcp_proxy always runs at DEFAULT. */
            cfg_warn_add(ctx->err, list->list.items[i], tpath,
                         "HIGH priority thresholds have no effect in Remora yet: all traffic "
                         "runs at DEFAULT priority");
            continue;
        }
        if (have_default) {
            cfg_warn_add(ctx->err, list->list.items[i], tpath,
                         "duplicate DEFAULT priority thresholds: only the first one applies "
                         "(as in Envoy)");
            continue;
        }
        have_default = true;
        *cb = v;
    }
}

/* ---- cluster ----------------------------------------------------------------------------- */

int cfg_translate_cluster(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                          struct cfg_cluster *c)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    int type = CLUSTER_STATIC, lb = 0, family = DNS_AUTO;
    uint64_t refresh_ms = 5000;

    memset(c, 0, sizeof(*c));
    c->name = "";
    c->alt_stat_name = "";
    c->type = CLUSTER_STATIC;
    c->lb_policy = LB_ROUND_ROBIN;
    c->connect_timeout_ms = 5000;
    c->per_connection_buffer_limit_bytes = DEFAULT_BUFFER_LIMIT;
    c->dns_lookup_family = DNS_AUTO;
    c->dns_refresh_rate_ms = 5000;
    c->least_request_choice_count = 2;
    c->cb.max_connections = 1024;
    c->upstream_http.idle_timeout_ms = 3600000; /* Envoy: upstream idle timeout 1h */
    c->cb.max_pending_requests = 1024;
    c->cb.max_requests = 1024;
    c->cb.max_retries = 3;
    c->src = n;

    if (!cfg_obj_init(ctx, &o, &cluster_msg, n, path, 0))
        return -RM_ECONFIG;
    if (!o.node) {
        cfg_err_add(ctx->err, n, path, "a cluster needs at least a name");
        return -RM_ECONFIG;
    }
    if (cfg_f_str(ctx, &o, "name", &c->name) && !c->name[0])
        cfg_obj_error(ctx, &o, "name", "name is required (a non-empty string)");
    cfg_f_str(ctx, &o, "alt_stat_name", &c->alt_stat_name);

    if (cfg_f_enum(ctx, &o, "type", &type_enum, &type))
        c->type = (enum cfg_cluster_type)type;
    if (cfg_f_enum(ctx, &o, "lb_policy", &lb_enum, &lb))
        c->lb_policy = lb == 1 ? LB_LEAST_REQUEST : lb == 3 ? LB_RANDOM : LB_ROUND_ROBIN;

    const struct vt_node *ct = cfg_obj_get(&o, "connect_timeout");
    struct cfg_duration d;
    if (ct && cfg_val_duration(ctx, ct, cfg_obj_path(ctx, &o, "connect_timeout"), &d)) {
        if (d.seconds == 0 && d.nanos == 0) {
            cfg_obj_error(ctx, &o, "connect_timeout", "connect_timeout must be greater than 0s");
        } else {
            c->connect_timeout_ms = cfg_duration_to_ms(&d);
            if (c->connect_timeout_ms == 0)
                c->connect_timeout_ms = 1; /* under 1ms: round up rather than disable */
        }
    }
    cfg_f_u32(ctx, &o, "per_connection_buffer_limit_bytes", &c->per_connection_buffer_limit_bytes);

    if (cfg_f_enum(ctx, &o, "dns_lookup_family", &dns_family_enum, &family))
        c->dns_lookup_family = (enum cfg_dns_family)family;
    const struct vt_node *rr = cfg_obj_get(&o, "dns_refresh_rate");
    if (rr && cfg_val_duration(ctx, rr, cfg_obj_path(ctx, &o, "dns_refresh_rate"), &d)) {
        /* PGV: gt {nanos: 1000000}. */
        if (d.seconds == 0 && d.nanos <= 1000000)
            cfg_obj_error(ctx, &o, "dns_refresh_rate", "dns_refresh_rate must be greater than 1ms");
        else
            refresh_ms = cfg_duration_to_ms(&d);
    }
    c->dns_refresh_rate_ms = refresh_ms;
    cfg_f_bool(ctx, &o, "respect_dns_ttl", &c->respect_dns_ttl);

    struct cfg_obj lr;
    if (cfg_obj_init(ctx, &lr, &least_request_msg, cfg_obj_get(&o, "least_request_lb_config"),
                     cfg_obj_path(ctx, &o, "least_request_lb_config"), 0) &&
        lr.node) {
        if (cfg_f_u32(ctx, &lr, "choice_count", &c->least_request_choice_count) &&
            c->least_request_choice_count < 2)
            cfg_obj_error(ctx, &lr, "choice_count", "choice_count must be at least 2");
        if (c->lb_policy != LB_LEAST_REQUEST)
            cfg_warn_add(ctx->err, lr.node, lr.path,
                         "least_request_lb_config has no effect unless lb_policy is "
                         "LEAST_REQUEST");
    }

    circuit_breakers(ctx, cfg_obj_get(&o, "circuit_breakers"),
                     cfg_obj_path(ctx, &o, "circuit_breakers"), &c->cb);

    const struct vt_node *ts = cfg_obj_get(&o, "transport_socket");
    if (ts)
        cfg_val_transport_socket(ctx, ts, cfg_obj_path(ctx, &o, "transport_socket"), NULL);

    /* Endpoints last: their address rules depend on the type read above. */
    const struct vt_node *la = cfg_obj_get(&o, "load_assignment");
    const char *la_path = cfg_obj_path(ctx, &o, "load_assignment");
    int rc = la ? load_assignment(ctx, la, la_path, c) : 0;
    if (rc == -RM_ENOMEM)
        return rc;
    if (rc == 0 && c->type == CLUSTER_LOGICAL_DNS &&
        (c->n_localities != 1 || c->localities[0].n_endpoints != 1))
        cfg_err_add(ctx->err, la ? la : o.node, la_path,
                    "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single "
                    "lb_endpoint");
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}

int cfg_translate_clusters(struct cfg_ctx *ctx, const struct vt_node *list, const char *path)
{
    struct cfg_bootstrap *bs = ctx->bs;
    size_t count;
    size_t mark = cfg_errors(ctx);
    if (!cfg_val_list(ctx, list, path, &count))
        return -RM_ECONFIG;
    if (count == 0)
        return 0;
    bs->clusters = cfg_alloc(ctx, count * sizeof(*bs->clusters));
    const char **paths = arena_zalloc(&ctx->scratch, count * sizeof(*paths));
    if (!bs->clusters || !paths) {
        cfg_oom(ctx);
        return -RM_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        struct cfg_cluster *c = &bs->clusters[bs->n_clusters];
        const char *cpath = cfg_path_idx(ctx, path, i);
        if (cfg_translate_cluster(ctx, list->list.items[i], cpath, c) == -RM_ENOMEM)
            return -RM_ENOMEM;
        /* Keep every named cluster, even a broken one: references to it then resolve and the
         * operator sees only the real problem. */
        if (!c->name[0])
            continue;
        size_t dup = SIZE_MAX;
        for (size_t j = 0; j < bs->n_clusters && dup == SIZE_MAX; j++)
            if (strcmp(bs->clusters[j].name, c->name) == 0)
                dup = j;
        if (dup != SIZE_MAX) {
            const struct vt_node *nn = vt_map_get(list->list.items[i], "name");
            cfg_err_add(ctx->err, nn ? nn : list->list.items[i], cfg_path(ctx, cpath, "name"),
                        "duplicate cluster '%s' (first defined at %s)", c->name, paths[dup]);
            continue;
        }
        paths[bs->n_clusters] = cpath;
        bs->n_clusters++;
    }
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}
