/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_bootstrap.c — envoy.config.bootstrap.v3.Bootstrap → struct
 * cfg_bootstrap: node, admin, static_resources, and a decision for every other bootstrap
 * field. The rule for fields Remora does not implement: refused ("not supported yet") when
 * they would change traffic or silently drop something an operator relies on (xDS, stats
 * sinks, tracing, runtime overrides); accepted with a warning when they only tune Envoy's
 * own internals (watchdogs, dispatcher stats, allocator). Main thread only. */
#include "config/translate.h"

#include <stdint.h>
#include <string.h>

#include "config/err.h"
#include "proxy/err.h"

#define BOOTSTRAP_TYPE "envoy.config.bootstrap.v3.Bootstrap"

static const struct cfg_field bootstrap_fields[] = {
    {"node", CFG_SUPPORTED, NULL, NULL},
    {"node_context_params", CFG_NOOP, NULL, NULL}, /* xdstp only; not implemented in Envoy */
    {"static_resources", CFG_SUPPORTED, NULL, NULL},
    {"dynamic_resources", CFG_UNSUPPORTED, "{}", "xDS is not implemented yet"},
    {"cluster_manager", CFG_SUPPORTED, NULL, NULL},
    {"hds_config", CFG_UNSUPPORTED, NULL, NULL},
    {"flags_path", CFG_UNSUPPORTED, "", NULL},
    {"stats_sinks", CFG_UNSUPPORTED, "[]", "stats are served on the admin interface only"},
    {"deferred_stat_options", CFG_IGNORED, NULL, "stats are created lazily anyway"},
    {"stats_config", CFG_IGNORED, NULL, "custom stat tags and stats matchers are not applied"},
    {"stats_flush_interval", CFG_SUPPORTED, NULL, NULL},
    {"stats_flush_on_admin", CFG_SUPPORTED, NULL, NULL},
    {"watchdog", CFG_DEPR_IGNORED, NULL, NULL},
    {"watchdogs", CFG_IGNORED, NULL, "there is no watchdog"},
    {"tracing", CFG_UNSUPPORTED, "{}", "deprecated in Envoy; tracing is not implemented"},
    {"layered_runtime", CFG_SUPPORTED, NULL, NULL},
    {"admin", CFG_SUPPORTED, NULL, NULL},
    {"overload_manager", CFG_UNSUPPORTED, "{}", NULL},
    {"enable_dispatcher_stats", CFG_IGNORED, NULL, NULL},
    {"header_prefix", CFG_UNSUPPORTED, "", NULL},
    {"stats_server_version_override", CFG_IGNORED, NULL, NULL},
    {"use_tcp_for_dns_lookups", CFG_UNSUPPORTED, "false", "deprecated in Envoy"},
    {"dns_resolution_config", CFG_UNSUPPORTED, NULL,
     "deprecated in Envoy; Remora uses the "
     "system resolver (/etc/resolv.conf)"},
    {"typed_dns_resolver_config", CFG_UNSUPPORTED, NULL,
     "Remora uses the system resolver "
     "(/etc/resolv.conf)"},
    {"bootstrap_extensions", CFG_UNSUPPORTED, "[]", NULL},
    {"fatal_actions", CFG_IGNORED, NULL, NULL},
    {"config_sources", CFG_UNSUPPORTED, "[]", NULL},
    {"default_config_source", CFG_UNSUPPORTED, NULL, NULL},
    {"default_socket_interface", CFG_UNSUPPORTED, "", NULL},
    {"certificate_provider_instances", CFG_UNSUPPORTED, "{}", NULL},
    {"inline_headers", CFG_IGNORED, NULL, "it tunes Envoy's header maps"},
    {"perf_tracing_file_path", CFG_IGNORED, NULL, NULL},
    {"default_regex_engine", CFG_UNSUPPORTED, NULL, NULL},
    {"xds_delegate_extension", CFG_UNSUPPORTED, NULL, NULL},
    {"xds_config_tracker_extension", CFG_UNSUPPORTED, NULL, NULL},
    {"listener_manager", CFG_UNSUPPORTED, NULL, NULL},
    {"application_log_config", CFG_IGNORED, NULL, "use --log-level/--component-log-level"},
    {"grpc_async_client_manager_config", CFG_IGNORED, NULL, NULL},
    {"memory_allocator_manager", CFG_IGNORED, NULL, NULL},
    {"cel_extension_options", CFG_IGNORED, NULL, NULL},
    {"runtime", CFG_REMOVED, NULL, "removed in the v3 API: use layered_runtime"},
};
CFG_TYPE(bootstrap_msg, BOOTSTRAP_TYPE, bootstrap_fields);

static const struct cfg_field static_resources_fields[] = {
    {"listeners", CFG_SUPPORTED, NULL, NULL},
    {"clusters", CFG_SUPPORTED, NULL, NULL},
    {"secrets", CFG_UNSUPPORTED, "[]", "TLS is not implemented yet"},
};
CFG_TYPE(static_resources_msg, BOOTSTRAP_TYPE ".StaticResources", static_resources_fields);

static const struct cfg_field node_fields[] = {
    {"id", CFG_SUPPORTED, NULL, NULL},
    {"cluster", CFG_SUPPORTED, NULL, NULL},
    {"metadata", CFG_SUPPORTED, NULL, NULL},
    {"dynamic_parameters", CFG_NOOP, NULL, NULL},
    {"locality", CFG_SUPPORTED, NULL, NULL},
    {"user_agent_name", CFG_NOOP, NULL, NULL},
    {"user_agent_version", CFG_NOOP, NULL, NULL},
    {"user_agent_build_version", CFG_NOOP, NULL, NULL},
    {"extensions", CFG_NOOP, NULL, NULL},
    {"client_features", CFG_NOOP, NULL, NULL},
    {"listening_addresses", CFG_DEPR_IGNORED, NULL, NULL},
    {"build_version", CFG_REMOVED, NULL, "removed in the v3 API: use user_agent_build_version"},
};
CFG_TYPE(node_msg, "envoy.config.core.v3.Node", node_fields);

static const struct cfg_field locality_fields[] = {
    {"region", CFG_SUPPORTED, NULL, NULL},
    {"zone", CFG_SUPPORTED, NULL, NULL},
    {"sub_zone", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(locality_msg, "envoy.config.core.v3.Locality", locality_fields);

static const struct cfg_field admin_fields[] = {
    {"access_log", CFG_SUPPORTED, NULL, NULL},
    {"access_log_path", CFG_DEPRECATED, NULL, "use access_log"},
    {"profile_path", CFG_IGNORED, NULL, "there is no CPU profiler"},
    {"address", CFG_SUPPORTED, NULL, NULL},
    {"socket_options", CFG_UNSUPPORTED, "[]", NULL},
    {"ignore_global_conn_limit", CFG_NOOP, NULL, NULL}, /* no global limit exists */
};
CFG_TYPE(admin_msg, "envoy.config.bootstrap.v3.Admin", admin_fields);

static const struct cfg_field cluster_manager_fields[] = {
    {"local_cluster_name", CFG_UNSUPPORTED, "", "zone-aware routing is not implemented"},
    {"outlier_detection", CFG_UNSUPPORTED, "{}", NULL},
    {"upstream_bind_config", CFG_UNSUPPORTED, NULL, NULL},
    {"load_stats_config", CFG_UNSUPPORTED, NULL, NULL},
    {"enable_deferred_cluster_creation", CFG_IGNORED, NULL, NULL},
};
CFG_TYPE(cluster_manager_msg, "envoy.config.bootstrap.v3.ClusterManager", cluster_manager_fields);

static const struct cfg_field layered_runtime_fields[] = {
    {"layers", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(layered_runtime_msg, "envoy.config.bootstrap.v3.LayeredRuntime", layered_runtime_fields);

static const struct cfg_field runtime_layer_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"static_layer", CFG_SUPPORTED, NULL, NULL},
    {"disk_layer", CFG_SUPPORTED, NULL, NULL},
    {"admin_layer", CFG_SUPPORTED, NULL, NULL}, /* enables POST /runtime_modify */
    {"rtds_layer", CFG_UNSUPPORTED, NULL, "xDS (RTDS) is not implemented yet"},
};
CFG_TYPE(runtime_layer_msg, "envoy.config.bootstrap.v3.RuntimeLayer", runtime_layer_fields);

static const struct cfg_field disk_layer_fields[] = {
    {"symlink_root", CFG_SUPPORTED, NULL, NULL},
    {"subdirectory", CFG_SUPPORTED, NULL, NULL},
    {"append_service_cluster", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(disk_layer_msg, "envoy.config.bootstrap.v3.RuntimeLayer.DiskLayer", disk_layer_fields);

/* AdminLayer has no fields: anything inside it is an unknown field. */
static const struct cfg_type admin_layer_msg = {"envoy.config.bootstrap.v3.RuntimeLayer.AdminLayer",
                                                NULL, 0};

/* The layer_specifier oneof, in field order. */
static const char *const layer_kinds[] = {"static_layer", "disk_layer", "admin_layer",
                                          "rtds_layer"};

static void translate_node(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           struct cfg_node *node)
{
    struct cfg_obj o, loc;
    if (!cfg_obj_init(ctx, &o, &node_msg, n, path, 0))
        return;
    cfg_f_str(ctx, &o, "id", &node->id);
    cfg_f_str(ctx, &o, "cluster", &node->cluster);
    cfg_val_struct(ctx, cfg_obj_get(&o, "metadata"), cfg_obj_path(ctx, &o, "metadata"),
                   &node->metadata);
    if (cfg_obj_init(ctx, &loc, &locality_msg, cfg_obj_get(&o, "locality"),
                     cfg_obj_path(ctx, &o, "locality"), 0)) {
        cfg_f_str(ctx, &loc, "region", &node->region);
        cfg_f_str(ctx, &loc, "zone", &node->zone);
        cfg_f_str(ctx, &loc, "sub_zone", &node->sub_zone);
    }
}

static int translate_admin(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           struct cfg_admin *admin)
{
    struct cfg_obj o;
    const char *log_path = NULL;
    if (!cfg_obj_init(ctx, &o, &admin_msg, n, path, 0))
        return -RM_ECONFIG;
    /* The deprecated access_log_path is a file access log with the default format, logged
     * before the access_log entries (as Envoy's server does). "/dev/null", which Envoy's
     * docs suggest for "no log", is simply no log. */
    if (cfg_f_str(ctx, &o, "access_log_path", &log_path) && log_path && log_path[0] &&
        strcmp(log_path, "/dev/null") != 0) {
        admin->access_logs = cfg_alloc(ctx, sizeof(*admin->access_logs));
        if (!admin->access_logs)
            return -RM_ENOMEM;
        admin->access_logs[0].sink = ALOG_SINK_FILE;
        admin->access_logs[0].path = log_path;
        admin->n_access_logs = 1;
    }
    int rc = cfg_translate_access_logs(ctx, cfg_obj_get(&o, "access_log"),
                                       cfg_obj_path(ctx, &o, "access_log"), &admin->access_logs,
                                       &admin->n_access_logs);
    if (rc == -RM_ENOMEM)
        return rc;
    const struct vt_node *addr = cfg_obj_get(&o, "address");
    if (addr) {
        const char *host;
        uint32_t port;
        admin->enabled = cfg_val_address(ctx, addr, cfg_obj_path(ctx, &o, "address"), CFG_ADDR_BIND,
                                         &admin->addr, &host, &port);
    }
    return 0;
}

static void translate_cluster_manager(struct cfg_ctx *ctx, const struct vt_node *n,
                                      const char *path)
{
    struct cfg_obj o;
    cfg_obj_init(ctx, &o, &cluster_manager_msg, n, path, 0);
}

static void translate_disk_layer(struct cfg_ctx *ctx, const struct cfg_obj *l,
                                 struct cfg_runtime_layer *layer)
{
    struct cfg_obj d;
    if (!cfg_obj_init(ctx, &d, &disk_layer_msg, cfg_obj_get(l, "disk_layer"),
                      cfg_obj_path(ctx, l, "disk_layer"), 0))
        return;
    layer->kind = RUNTIME_DISK;
    layer->symlink_root = layer->subdirectory = "";
    cfg_f_str(ctx, &d, "symlink_root", &layer->symlink_root);
    cfg_f_str(ctx, &d, "subdirectory", &layer->subdirectory);
    cfg_f_bool(ctx, &d, "append_service_cluster", &layer->append_service_cluster);
    if (!layer->symlink_root)
        layer->symlink_root = "";
    if (!layer->subdirectory)
        layer->subdirectory = "";
    /* Envoy watches the directory holding the symlink and refuses a path without one. */
    if (!strchr(layer->symlink_root, '/'))
        cfg_obj_error(ctx, &d, "symlink_root",
                      "symlink_root must be a path with a '/' (its directory is watched for the "
                      "symlink swap), got \"%s\"",
                      layer->symlink_root);
}

/* One runtime layer: its name and the layer_specifier oneof. */
static void translate_runtime_layer(struct cfg_ctx *ctx, const struct vt_node *n, const char *ipath,
                                    struct cfg_runtime_layer *layer)
{
    struct cfg_obj l;
    const char *name = NULL;
    layer->name = "";
    if (!cfg_obj_init(ctx, &l, &runtime_layer_msg, n, ipath, 0))
        return;
    if (cfg_f_str(ctx, &l, "name", &name) && (!name || !name[0]))
        cfg_obj_error(ctx, &l, "name", "name is required (a non-empty string)");
    layer->name = name ? name : "";
    const char *first = NULL;
    for (size_t k = 0; k < sizeof(layer_kinds) / sizeof(layer_kinds[0]); k++) {
        if (!vt_map_get(n, layer_kinds[k]))
            continue;
        if (first)
            cfg_obj_error(ctx, &l, layer_kinds[k],
                          "only one of static_layer, disk_layer, admin_layer and rtds_layer may "
                          "be set (%s is set too)",
                          first);
        else
            first = layer_kinds[k];
    }
    const struct vt_node *st = NULL;
    struct cfg_obj a;
    if (cfg_obj_get(&l, "static_layer")) {
        if (cfg_val_struct(ctx, cfg_obj_get(&l, "static_layer"),
                           cfg_obj_path(ctx, &l, "static_layer"), &st)) {
            layer->kind = RUNTIME_STATIC;
            layer->values = st;
        }
    } else if (cfg_obj_get(&l, "disk_layer")) {
        translate_disk_layer(ctx, &l, layer);
    } else if (cfg_obj_get(&l, "admin_layer")) {
        if (cfg_obj_init(ctx, &a, &admin_layer_msg, cfg_obj_get(&l, "admin_layer"),
                         cfg_obj_path(ctx, &l, "admin_layer"), 0))
            layer->kind = RUNTIME_ADMIN;
    } else if (!first) { /* rtds_layer is refused above */
        cfg_err_add(ctx->err, n, ipath,
                    "a runtime layer needs one of static_layer, disk_layer or admin_layer");
    }
}

static void translate_runtime(struct cfg_ctx *ctx, const struct vt_node *n, const char *path)
{
    struct cfg_obj o;
    size_t count;
    if (!cfg_obj_init(ctx, &o, &layered_runtime_msg, n, path, 0) ||
        !cfg_f_list(ctx, &o, "layers", &count))
        return;
    const struct vt_node *list = cfg_obj_get(&o, "layers");
    const char *lpath = cfg_obj_path(ctx, &o, "layers");
    struct cfg_runtime_layer *layers = cfg_alloc(ctx, (count ? count : 1) * sizeof(*layers));
    if (!layers)
        return;
    size_t admin = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        const struct vt_node *item = list->list.items[i];
        const char *ipath = cfg_path_idx(ctx, lpath, i);
        struct cfg_runtime_layer *layer = &layers[i];
        layer->kind = RUNTIME_STATIC; /* an empty one unless the specifier translates */
        translate_runtime_layer(ctx, item, ipath, layer);
        for (size_t j = 0; j < i && layer->name[0]; j++)
            if (strcmp(layers[j].name, layer->name) == 0) {
                const struct vt_node *nm = item->kind == VT_MAP ? vt_map_get(item, "name") : NULL;
                cfg_err_add(ctx->err, nm ? nm : item, cfg_path(ctx, ipath, "name"),
                            "duplicate layer name '%s' (first used by %s[%zu])", layer->name, lpath,
                            j);
                break;
            }
        if (layer->kind == RUNTIME_ADMIN) {
            if (admin != SIZE_MAX)
                cfg_err_add(
                    ctx->err, vt_map_get(item, "admin_layer"), cfg_path(ctx, ipath, "admin_layer"),
                    "at most one admin_layer may be specified (%s[%zu] is one)", lpath, admin);
            else
                admin = i;
        }
    }
    ctx->bs->runtime_layers = layers;
    ctx->bs->n_runtime_layers = count;
}

static void check_stats_flush(struct cfg_ctx *ctx, const struct cfg_obj *o)
{
    const struct vt_node *iv = cfg_obj_get(o, "stats_flush_interval");
    const struct vt_node *oa = cfg_obj_get(o, "stats_flush_on_admin");
    struct cfg_duration d;
    bool on_admin = false;
    if (iv && cfg_val_duration(ctx, iv, cfg_obj_path(ctx, o, "stats_flush_interval"), &d) &&
        (d.seconds >= 300 || (d.seconds == 0 && d.nanos < 1000000)))
        cfg_obj_error(ctx, o, "stats_flush_interval",
                      "stats_flush_interval must be at least 1ms and less than 300s");
    if (cfg_f_bool(ctx, o, "stats_flush_on_admin", &on_admin) && oa && !on_admin)
        cfg_obj_error(ctx, o, "stats_flush_on_admin", "stats_flush_on_admin must be true when set");
    if (iv && oa)
        cfg_obj_error(ctx, o, "stats_flush_on_admin",
                      "only one of stats_flush_interval and stats_flush_on_admin may be set");
}

int cfg_translate_bootstrap(struct cfg_ctx *ctx, const struct vt_node *root)
{
    struct cfg_bootstrap *bs = ctx->bs;
    struct cfg_obj o, sr;
    size_t mark = cfg_errors(ctx);
    int rc;

    bs->src = root;
    bs->node.id = bs->node.cluster = bs->node.zone = "";
    bs->node.region = bs->node.sub_zone = "";
    if (!cfg_obj_init(ctx, &o, &bootstrap_msg, root, "", 0))
        return -RM_ECONFIG;

    translate_node(ctx, cfg_obj_get(&o, "node"), "node", &bs->node);

    if (cfg_obj_init(ctx, &sr, &static_resources_msg, cfg_obj_get(&o, "static_resources"),
                     "static_resources", 0)) {
        /* Clusters first: nothing depends on the order (filter checks run at the end), but
         * errors then read in the order people think about a config. */
        rc = cfg_translate_clusters(ctx, cfg_obj_get(&sr, "clusters"),
                                    cfg_obj_path(ctx, &sr, "clusters"));
        if (rc == -RM_ENOMEM)
            return rc;
        rc = cfg_translate_listeners(ctx, cfg_obj_get(&sr, "listeners"),
                                     cfg_obj_path(ctx, &sr, "listeners"));
        if (rc == -RM_ENOMEM)
            return rc;
    }

    rc = translate_admin(ctx, cfg_obj_get(&o, "admin"), "admin", &bs->admin);
    if (rc == -RM_ENOMEM)
        return rc;
    translate_cluster_manager(ctx, cfg_obj_get(&o, "cluster_manager"), "cluster_manager");
    translate_runtime(ctx, cfg_obj_get(&o, "layered_runtime"), "layered_runtime");
    check_stats_flush(ctx, &o);
    if (ctx->oom)
        return -RM_ENOMEM;
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}
