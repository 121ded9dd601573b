/* SPDX-License-Identifier: Apache-2.0 */
/* filters/network/tcp_proxy_config.c — config parsing for envoy.filters.network.tcp_proxy:
 * envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy → struct cfg_tcp_proxy (in the
 * snapshot arena), plus the cross-check that every cluster it names exists. Runs on the
 * main thread while a snapshot is built; the proxying itself is tcp_proxy.c. */
#include "filters/network/tcp_proxy.h"

#include <string.h>

#include "config/err.h"
#include "config/model.h"
#include "config/translate.h"
#include "proxy/err.h"

#define TCP_PROXY_TYPE "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
#define DEFAULT_IDLE_TIMEOUT_MS (3600u * 1000u)

static const struct cfg_field tcp_proxy_fields[] = {
    {"stat_prefix", CFG_SUPPORTED, NULL, NULL},
    {"cluster", CFG_SUPPORTED, NULL, NULL},
    {"weighted_clusters", CFG_SUPPORTED, NULL, NULL},
    {"on_demand", CFG_UNSUPPORTED, NULL, "on-demand cluster discovery is not implemented"},
    {"metadata_match", CFG_UNSUPPORTED, "{}", "subset load balancing is not implemented"},
    {"idle_timeout", CFG_SUPPORTED, NULL, NULL},
    /* Both are [#not-implemented-hide:] in Envoy: accepted there without effect. */
    {"downstream_idle_timeout", CFG_NOOP, NULL, NULL},
    {"upstream_idle_timeout", CFG_NOOP, NULL, NULL},
    {"access_log", CFG_SUPPORTED, NULL, NULL},
    {"max_connect_attempts", CFG_SUPPORTED, NULL, NULL},
    {"backoff_options", CFG_UNSUPPORTED, NULL, NULL},
    {"hash_policy", CFG_UNSUPPORTED, "[]", NULL},
    {"tunneling_config", CFG_UNSUPPORTED, NULL, "tunneling over HTTP is not implemented"},
    {"max_downstream_connection_duration", CFG_SUPPORTED, NULL, NULL},
    {"max_downstream_connection_duration_jitter_percentage", CFG_UNSUPPORTED, NULL, NULL},
    {"access_log_flush_interval", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; periodic access "
     "logs are not implemented"},
    {"flush_access_log_on_connected", CFG_UNSUPPORTED, "false", "deprecated in Envoy"},
    {"access_log_options", CFG_UNSUPPORTED, "{}", NULL},
    {"proxy_protocol_tlvs", CFG_UNSUPPORTED, "[]", NULL},
    {"deprecated_v1", CFG_REMOVED, NULL, "removed in the v3 API"},
};
CFG_TYPE(tcp_proxy_msg, TCP_PROXY_TYPE, tcp_proxy_fields);

static const struct cfg_field weighted_fields[] = {
    {"clusters", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(weighted_msg, TCP_PROXY_TYPE ".WeightedCluster", weighted_fields);

static const struct cfg_field cluster_weight_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"weight", CFG_SUPPORTED, NULL, NULL},
    {"metadata_match", CFG_UNSUPPORTED, "{}", "subset load balancing is not implemented"},
};
CFG_TYPE(cluster_weight_msg, TCP_PROXY_TYPE ".WeightedCluster.ClusterWeight",
         cluster_weight_fields);

static void weighted_clusters(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              struct cfg_tcp_proxy *tp)
{
    struct cfg_obj o;
    size_t count;
    if (!cfg_obj_init(ctx, &o, &weighted_msg, n, path, 0) ||
        !cfg_f_list(ctx, &o, "clusters", &count))
        return;
    const struct vt_node *list = cfg_obj_get(&o, "clusters");
    const char *lpath = cfg_obj_path(ctx, &o, "clusters");
    if (count == 0) {
        cfg_err_add(ctx->err, list ? list : n, lpath,
                    "weighted_clusters needs at least one cluster");
        return;
    }
    tp->weighted = cfg_alloc(ctx, count * sizeof(*tp->weighted));
    if (!tp->weighted)
        return;
    for (size_t i = 0; i < count; i++) {
        struct cfg_obj w;
        struct cfg_weighted_cluster *wc = &tp->weighted[i];
        const char *ipath = cfg_path_idx(ctx, lpath, i);
        wc->name = "";
        if (!cfg_obj_init(ctx, &w, &cluster_weight_msg, list->list.items[i], ipath, 0))
            continue;
        if (cfg_f_str(ctx, &w, "name", &wc->name) && !wc->name[0])
            cfg_obj_error(ctx, &w, "name", "name is required (a non-empty cluster name)");
        /* PGV gte 1; an absent weight is 0 in proto3, so it fails the same way. */
        if (cfg_f_u32(ctx, &w, "weight", &wc->weight) && wc->weight < 1)
            cfg_obj_error(ctx, &w, "weight", "weight must be at least 1");
        tp->total_weight += wc->weight;
    }
    tp->n_weighted = count;
}

int tcp_proxy_config_new(struct cfg_ctx *ctx, const struct vt_node *cfg, const char *path,
                         const void **out)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    static const struct vt_node empty_map = {.kind = VT_MAP};

    if (!cfg)
        cfg = &empty_map;
    if (!cfg_obj_init(ctx, &o, &tcp_proxy_msg, cfg, path, CFG_OBJ_ANY))
        return -RM_ECONFIG;
    struct cfg_tcp_proxy *tp = cfg_alloc(ctx, sizeof(*tp));
    if (!tp)
        return -RM_ENOMEM;
    tp->stat_prefix = "";
    tp->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    tp->max_connect_attempts = 1;

    cfg_f_str(ctx, &o, "stat_prefix", &tp->stat_prefix);
    if (!tp->stat_prefix[0])
        cfg_obj_error(ctx, &o, "stat_prefix",
                      "stat_prefix is required (a non-empty string; stats are rooted at "
                      "tcp.<stat_prefix>.)");

    const struct vt_node *cl = cfg_obj_get(&o, "cluster");
    const struct vt_node *wc = cfg_obj_get(&o, "weighted_clusters");
    if (cl && wc) {
        cfg_obj_error(ctx, &o, "weighted_clusters",
                      "only one of cluster and weighted_clusters may be set (oneof "
                      "cluster_specifier)");
    } else if (cl) {
        const char *name = "";
        if (cfg_f_str(ctx, &o, "cluster", &name) && !name[0])
            cfg_obj_error(ctx, &o, "cluster", "cluster must not be empty");
        tp->cluster = name;
    } else if (wc) {
        weighted_clusters(ctx, wc, cfg_obj_path(ctx, &o, "weighted_clusters"), tp);
    } else {
        cfg_err_add(ctx->err, cfg, path,
                    "one of cluster or weighted_clusters is required (oneof cluster_specifier)");
    }

    /* 0s disables the idle timeout (Envoy: "If set to 0s, the timeout is disabled"). */
    cfg_f_duration_ms(ctx, &o, "idle_timeout", &tp->idle_timeout_ms);

    if (cfg_f_u32(ctx, &o, "max_connect_attempts", &tp->max_connect_attempts) &&
        tp->max_connect_attempts < 1)
        cfg_obj_error(ctx, &o, "max_connect_attempts", "max_connect_attempts must be at least 1");

    const struct vt_node *md = cfg_obj_get(&o, "max_downstream_connection_duration");
    struct cfg_duration d;
    if (md && cfg_val_duration(ctx, md, cfg_obj_path(ctx, &o, "max_downstream_connection_duration"),
                               &d)) {
        if (d.seconds == 0 && d.nanos < 1000000)
            cfg_obj_error(ctx, &o, "max_downstream_connection_duration",
                          "max_downstream_connection_duration must be at least 1ms");
        else
            tp->max_downstream_connection_duration_ms = cfg_duration_to_ms(&d);
    }

    int rc = cfg_translate_access_logs(ctx, cfg_obj_get(&o, "access_log"),
                                       cfg_obj_path(ctx, &o, "access_log"), &tp->access_logs,
                                       &tp->n_access_logs);
    if (rc == -RM_ENOMEM || ctx->oom)
        return -RM_ENOMEM;
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    *out = tp;
    return 0;
}

/* The node of |field| under |map|, for error positions. */
static const struct vt_node *at(const struct vt_node *map, const char *field)
{
    const struct vt_node *n = vt_map_get(map, field);
    return n ? n : map;
}

void tcp_proxy_config_check(struct cfg_ctx *ctx, const void *config, const char *path)
{
    const struct cfg_tcp_proxy *tp = config;
    const struct vt_node *node = ctx->check_node;
    if (tp->cluster) {
        if (!cfg_find_cluster(ctx->bs, tp->cluster))
            cfg_err_add(ctx->err, at(node, "cluster"), cfg_path(ctx, path, "cluster"),
                        "unknown cluster '%s'", tp->cluster);
        return;
    }
    const struct vt_node *wc = vt_map_get(node, "weighted_clusters");
    const struct vt_node *list = vt_map_get(wc, "clusters");
    const char *lpath = cfg_path(ctx, cfg_path(ctx, path, "weighted_clusters"), "clusters");
    for (size_t i = 0; i < tp->n_weighted; i++) {
        const char *name = tp->weighted[i].name;
        if (cfg_find_cluster(ctx->bs, name))
            continue;
        const struct vt_node *item =
            list && list->kind == VT_LIST && i < list->list.n ? list->list.items[i] : node;
        cfg_err_add(ctx->err, at(item, "name"), cfg_path(ctx, cfg_path_idx(ctx, lpath, i), "name"),
                    "unknown cluster '%s'", name);
    }
}
