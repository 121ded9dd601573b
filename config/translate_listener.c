/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_listener.c — envoy.config.listener.v3.Listener → struct cfg_listener:
 * address, buffer limits, the filter chain (one chain without filter_chain_match, and/or a
 * default_filter_chain) and its network filters, resolved through the filter registry by
 * typed_config type first, then by name, as Envoy does. Also the checks across listeners
 * (duplicate names and addresses). Main thread only. */
#include "config/translate.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "config/err.h"
#include "filters/filter.h"
#include "proxy/err.h"

#define LISTENER_TYPE "envoy.config.listener.v3.Listener"
#define DEFAULT_BUFFER_LIMIT (1024u * 1024u)

static const struct cfg_field listener_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"address", CFG_SUPPORTED, NULL, NULL},
    {"additional_addresses", CFG_UNSUPPORTED, "[]", NULL},
    {"stat_prefix", CFG_SUPPORTED, NULL, NULL},
    {"filter_chains", CFG_SUPPORTED, NULL, NULL},
    {"fcds_config", CFG_UNSUPPORTED, NULL, NULL},
    {"filter_chain_matcher", CFG_UNSUPPORTED, NULL, NULL},
    {"use_original_dst", CFG_UNSUPPORTED, "false", NULL},
    {"default_filter_chain", CFG_SUPPORTED, NULL, NULL},
    {"per_connection_buffer_limit_bytes", CFG_SUPPORTED, NULL, NULL},
    {"metadata", CFG_NOOP, NULL, NULL},
    {"deprecated_v1", CFG_UNSUPPORTED, "{}", "deprecated in Envoy: use bind_to_port"},
    {"drain_type", CFG_UNSUPPORTED, "DEFAULT", NULL},
    {"listener_filters", CFG_UNSUPPORTED, "[]", "listener filters are not implemented"},
    /* Both only act on listener filters, which are refused above. */
    {"listener_filters_timeout", CFG_NOOP, NULL, NULL},
    {"continue_on_listener_filters_timeout", CFG_NOOP, NULL, NULL},
    {"transparent", CFG_UNSUPPORTED, "false", NULL},
    {"freebind", CFG_UNSUPPORTED, "false", NULL},
    {"socket_options", CFG_UNSUPPORTED, "[]", NULL},
    {"tcp_fast_open_queue_length", CFG_UNSUPPORTED, "0", NULL},
    {"traffic_direction", CFG_NOOP, NULL, NULL}, /* informational */
    {"udp_listener_config", CFG_UNSUPPORTED, NULL, "UDP listeners are not implemented"},
    {"api_listener", CFG_UNSUPPORTED, NULL, NULL},
    {"connection_balance_config", CFG_UNSUPPORTED, NULL, NULL},
    {"reuse_port", CFG_DEPR_IGNORED, NULL, "use enable_reuse_port (which defaults to true)"},
    {"enable_reuse_port", CFG_SUPPORTED, NULL, NULL},
    {"access_log", CFG_UNSUPPORTED, "[]",
     "listener access logs are not implemented; "
     "tcp_proxy has its own access_log"},
    {"tcp_backlog_size", CFG_UNSUPPORTED, NULL, NULL},
    {"max_connections_to_accept_per_socket_event", CFG_UNSUPPORTED, NULL, NULL},
    {"bind_to_port", CFG_UNSUPPORTED, "true", NULL},
    {"internal_listener", CFG_UNSUPPORTED, NULL, "internal listeners are not implemented"},
    {"enable_mptcp", CFG_UNSUPPORTED, "false", NULL},
    /* No global connection limit and no overload manager exist, so these change nothing. */
    {"ignore_global_conn_limit", CFG_NOOP, NULL, NULL},
    {"bypass_overload_manager", CFG_NOOP, NULL, NULL},
};
CFG_TYPE(listener_msg, LISTENER_TYPE, listener_fields);

static const struct cfg_field chain_fields[] = {
    {"filter_chain_match", CFG_SUPPORTED, NULL, NULL},
    {"filters", CFG_SUPPORTED, NULL, NULL},
    {"use_proxy_proto", CFG_UNSUPPORTED, "false",
     "deprecated in Envoy; PROXY protocol is not "
     "implemented"},
    {"metadata", CFG_NOOP, NULL, NULL},
    {"transport_socket", CFG_SUPPORTED, NULL, NULL},
    /* Plaintext connections are established at once; the timeout cannot fire. */
    {"transport_socket_connect_timeout", CFG_UNSUPPORTED, NULL,
     "a TLS handshake is bounded by the connection manager's idle_timeout for now"},
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"on_demand_configuration", CFG_UNSUPPORTED, NULL, NULL},
    {"tls_context", CFG_REMOVED, NULL, "removed in the v3 API: use transport_socket"},
};
CFG_TYPE(chain_msg, "envoy.config.listener.v3.FilterChain", chain_fields);

#define FCM_NOTE "a listener takes one filter chain without match criteria"
static const struct cfg_field chain_match_fields[] = {
    {"destination_port", CFG_UNSUPPORTED, NULL, FCM_NOTE},
    {"prefix_ranges", CFG_UNSUPPORTED, "[]", FCM_NOTE},
    {"address_suffix", CFG_UNSUPPORTED, "", FCM_NOTE},
    {"suffix_len", CFG_UNSUPPORTED, NULL, FCM_NOTE},
    {"direct_source_prefix_ranges", CFG_UNSUPPORTED, "[]", FCM_NOTE},
    {"source_type", CFG_UNSUPPORTED, "ANY", FCM_NOTE},
    {"source_prefix_ranges", CFG_UNSUPPORTED, "[]", FCM_NOTE},
    {"source_ports", CFG_UNSUPPORTED, "[]", FCM_NOTE},
    {"server_names", CFG_UNSUPPORTED, "[]", FCM_NOTE},
    {"transport_protocol", CFG_UNSUPPORTED, "", FCM_NOTE},
    {"application_protocols", CFG_UNSUPPORTED, "[]", FCM_NOTE},
};
CFG_TYPE(chain_match_msg, "envoy.config.listener.v3.FilterChainMatch", chain_match_fields);

static const struct cfg_field filter_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"typed_config", CFG_SUPPORTED, NULL, NULL},
    {"config_discovery", CFG_UNSUPPORTED, NULL, "use typed_config"},
    {"config", CFG_REMOVED, NULL, "removed in the v3 API: use typed_config"},
};
CFG_TYPE(filter_msg, "envoy.config.listener.v3.Filter", filter_fields);

/* Envoy names unnamed listeners with a random UUID (listener_manager_impl.cc). */
static const char *uuid_name(struct cfg_ctx *ctx)
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* No entropy: a unique-enough name beats failing the load. */
        static unsigned seq;
        return arena_sprintf(ctx->arena, "listener_%u", seq++);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return arena_sprintf(ctx->arena,
                         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

/* One envoy.config.listener.v3.Filter. Returns 0 with |nf| filled, or an error code. */
static int network_filter(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                          struct cfg_net_filter *nf, const struct vt_node **name_node)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *name = NULL;
    if (!cfg_obj_init(ctx, &o, &filter_msg, n, path, 0))
        return -RM_ECONFIG;
    if (!o.node) {
        cfg_err_add(ctx->err, n, path, "a filter needs a name and a typed_config");
        return -RM_ECONFIG;
    }
    cfg_f_str(ctx, &o, "name", &name);
    const struct vt_node *tc = cfg_obj_get(&o, "typed_config");
    const char *tpath = cfg_obj_path(ctx, &o, "typed_config");
    *name_node = cfg_obj_get(&o, "name");
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    if (!name || !name[0]) {
        /* PGV min_len 1 on Filter.name. */
        cfg_obj_error(ctx, &o, "name", "name is required (a non-empty string)");
        return -RM_ECONFIG;
    }

    const struct net_filter_def *def;
    const struct vt_node *cfg;
    if (tc) {
        struct cfg_any any;
        if (!cfg_val_any(ctx, tc, tpath, &any))
            return -RM_ECONFIG;
        def = filter_find_network(any.type_url, name);
        if (!def) {
            if (filter_is_known_unsupported(any.type_url, name))
                cfg_err_add(ctx->err, tc, tpath,
                            "network filter %s (%s) is not supported by Remora yet", name,
                            any.type_name);
            else
                cfg_err_add(ctx->err, tc, tpath,
                            "Didn't find a registered implementation for '%s' with type URL: "
                            "'%s'",
                            name, any.type_name);
            return -RM_ECONFIG;
        }
        cfg = any.msg;
        tpath = any.path;
    } else {
        def = filter_find_network(NULL, name);
        if (!def) {
            if (filter_is_known_unsupported(NULL, name))
                cfg_obj_error(ctx, &o, "name", "network filter %s is not supported by Remora yet",
                              name);
            else
                cfg_obj_error(ctx, &o, "name",
                              "Didn't find a registered implementation for name: '%s'", name);
            return -RM_ECONFIG;
        }
        /* Envoy then builds the filter from its default (empty) config message; errors
         * about it point at the filter entry. */
        struct vt_node *empty = arena_zalloc(&ctx->scratch, sizeof(*empty));
        if (!empty) {
            cfg_oom(ctx);
            return -RM_ENOMEM;
        }
        empty->kind = VT_MAP;
        empty->pos = o.node->pos;
        cfg = empty;
    }
    nf->name = cfg_strdup(ctx, name);
    nf->def = def;
    const void *config = NULL;
    int rc = def->config_new(ctx, cfg, tpath, &config);
    if (rc == 0 && cfg_errors(ctx) != mark)
        rc = -RM_ECONFIG;
    if (rc)
        return rc;
    nf->config = config;
    if (def->config_check)
        cfg_defer_check(ctx, def, config, cfg, tpath);
    return nf->name ? 0 : -RM_ENOMEM;
}

/* One FilterChain. |is_default|: default_filter_chain, whose match Envoy ignores. */
static int filter_chain(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                        bool is_default, struct cfg_filter_chain *fc, bool *has_match)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    size_t count;
    memset(fc, 0, sizeof(*fc)); /* the slot may hold a chain that failed before */
    fc->name = "";
    *has_match = false;
    if (!cfg_obj_init(ctx, &o, &chain_msg, n, path, 0))
        return -RM_ECONFIG;
    cfg_f_str(ctx, &o, "name", &fc->name);
    const struct vt_node *m = cfg_obj_get(&o, "filter_chain_match");
    if (m && !is_default) {
        struct cfg_obj mo;
        size_t before = cfg_errors(ctx);
        cfg_obj_init(ctx, &mo, &chain_match_msg, m, cfg_obj_path(ctx, &o, "filter_chain_match"), 0);
        *has_match = cfg_errors(ctx) != before;
    }
    const struct vt_node *ts = cfg_obj_get(&o, "transport_socket");
    if (ts)
        cfg_val_transport_socket(ctx, ts, cfg_obj_path(ctx, &o, "transport_socket"), &fc->tls);

    if (!cfg_f_list(ctx, &o, "filters", &count))
        return -RM_ECONFIG;
    const char *fpath = cfg_obj_path(ctx, &o, "filters");
    if (count == 0) {
        /* Envoy accepts an empty chain and closes every connection; that is never what a
         * config means, so Remora refuses it. */
        cfg_err_add(ctx->err, cfg_obj_get(&o, "filters") ? cfg_obj_get(&o, "filters") : n, fpath,
                    "a filter chain needs at least one network filter, ending with a terminal "
                    "one such as envoy.filters.network.tcp_proxy");
        return -RM_ECONFIG;
    }
    fc->filters = cfg_alloc(ctx, count * sizeof(*fc->filters));
    if (!fc->filters)
        return -RM_ENOMEM;
    const struct vt_node *list = cfg_obj_get(&o, "filters");
    for (size_t i = 0; i < count; i++) {
        const char *ipath = cfg_path_idx(ctx, fpath, i);
        const struct vt_node *name_node = NULL;
        struct cfg_net_filter *nf = &fc->filters[fc->n_filters];
        int rc = network_filter(ctx, list->list.items[i], ipath, nf, &name_node);
        if (rc == -RM_ENOMEM)
            return rc;
        if (rc) {
            memset(nf, 0, sizeof(*nf));
            continue;
        }
        /* Config::Utility::validateTerminalFilters(), with Envoy's wording. */
        if (nf->def->terminal && i + 1 < count)
            cfg_err_add(ctx->err, name_node ? name_node : list->list.items[i], ipath,
                        "terminal filter named %s of type %s must be the last filter in a "
                        "network filter chain",
                        nf->name, nf->def->name);
        if (!nf->def->terminal && i + 1 == count)
            cfg_err_add(ctx->err, name_node ? name_node : list->list.items[i], ipath,
                        "non-terminal filter named %s of type %s is the last filter in a "
                        "network filter chain",
                        nf->name, nf->def->name);
        fc->n_filters++;
    }
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}

int cfg_translate_listener(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           struct cfg_listener *l)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    size_t count;

    memset(l, 0, sizeof(*l));
    l->per_connection_buffer_limit_bytes = DEFAULT_BUFFER_LIMIT;
    l->enable_reuse_port = true;
    l->src = n;
    l->name = "";
    l->stat_prefix = "";
    if (!cfg_obj_init(ctx, &o, &listener_msg, n, path, 0))
        return -RM_ECONFIG;
    if (!o.node) {
        cfg_err_add(ctx->err, n, path, "a listener needs at least an address and a filter chain");
        return -RM_ECONFIG;
    }
    cfg_f_str(ctx, &o, "name", &l->name);
    if (!l->name[0])
        l->name = uuid_name(ctx);
    if (!l->name) {
        cfg_oom(ctx);
        return -RM_ENOMEM;
    }

    const struct vt_node *addr = cfg_obj_get(&o, "address");
    if (!addr) {
        cfg_err_add(ctx->err, n, cfg_obj_path(ctx, &o, "address"),
                    "address is required (error adding listener named '%s': address is "
                    "necessary)",
                    l->name);
    } else {
        const char *host;
        uint32_t port;
        cfg_val_address(ctx, addr, cfg_obj_path(ctx, &o, "address"), CFG_ADDR_BIND, &l->addr, &host,
                        &port);
    }
    cfg_f_str(ctx, &o, "stat_prefix", &l->stat_prefix);
    if (!l->stat_prefix[0] && l->addr.stat_name)
        l->stat_prefix = l->addr.stat_name;
    cfg_f_u32(ctx, &o, "per_connection_buffer_limit_bytes", &l->per_connection_buffer_limit_bytes);
    cfg_f_bool(ctx, &o, "enable_reuse_port", &l->enable_reuse_port);

    /* Filter chains. */
    int rc = 0;
    bool chains_ok = cfg_f_list(ctx, &o, "filter_chains", &count);
    if (chains_ok && count) {
        const struct vt_node *list = cfg_obj_get(&o, "filter_chains");
        const char *cpath = cfg_obj_path(ctx, &o, "filter_chains");
        l->chains = cfg_alloc(ctx, count * sizeof(*l->chains));
        if (!l->chains)
            return -RM_ENOMEM;
        size_t plain = 0; /* chains without match criteria */
        for (size_t i = 0; i < count; i++) {
            bool has_match;
            struct cfg_filter_chain *fc = &l->chains[l->n_chains];
            rc = filter_chain(ctx, list->list.items[i], cfg_path_idx(ctx, cpath, i), false, fc,
                              &has_match);
            if (rc == -RM_ENOMEM)
                return rc;
            if (!has_match && ++plain == 2)
                cfg_err_add(ctx->err, list->list.items[i], cfg_path_idx(ctx, cpath, i),
                            "error adding listener '%s': multiple filter chains with the same "
                            "matching rules are defined",
                            l->addr.str ? l->addr.str : l->name);
            if (rc == 0)
                l->n_chains++;
        }
    }
    const struct vt_node *dfc = cfg_obj_get(&o, "default_filter_chain");
    if (dfc) {
        bool has_match;
        l->default_chain = cfg_alloc(ctx, sizeof(*l->default_chain));
        if (!l->default_chain)
            return -RM_ENOMEM;
        rc = filter_chain(ctx, dfc, cfg_obj_path(ctx, &o, "default_filter_chain"), true,
                          l->default_chain, &has_match);
        if (rc == -RM_ENOMEM)
            return rc;
        if (rc)
            l->default_chain = NULL;
    }
    if (chains_ok && count == 0 && !dfc)
        cfg_err_add(ctx->err, n, cfg_obj_path(ctx, &o, "filter_chains"),
                    "error adding listener '%s': no filter chains specified",
                    l->addr.str ? l->addr.str : l->name);
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}

static bool same_addr(const struct cfg_addr *a, const struct cfg_addr *b)
{
    if (!a->str || !b->str || a->port == 0 || b->port == 0)
        return false; /* unknown, or port 0: every bind gets its own ephemeral port */
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

int cfg_translate_listeners(struct cfg_ctx *ctx, const struct vt_node *list, const char *path)
{
    struct cfg_bootstrap *bs = ctx->bs;
    size_t count;
    size_t mark = cfg_errors(ctx);
    if (!cfg_val_list(ctx, list, path, &count))
        return -RM_ECONFIG;
    if (count == 0)
        return 0;
    bs->listeners = cfg_alloc(ctx, count * sizeof(*bs->listeners));
    const char **paths = arena_zalloc(&ctx->scratch, count * sizeof(*paths));
    if (!bs->listeners || !paths) {
        cfg_oom(ctx);
        return -RM_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        struct cfg_listener *l = &bs->listeners[bs->n_listeners];
        const struct vt_node *ln = list->list.items[i];
        const char *lpath = cfg_path_idx(ctx, path, i);
        int rc = cfg_translate_listener(ctx, ln, lpath, l);
        if (rc == -RM_ENOMEM)
            return rc;
        if (!l->name[0])
            continue; /* not a listener at all (not a map): already reported */
        bool dup = false;
        for (size_t j = 0; j < bs->n_listeners && !dup; j++) {
            const struct cfg_listener *p = &bs->listeners[j];
            if (strcmp(p->name, l->name) == 0) {
                const struct vt_node *nn = vt_map_get(ln, "name");
                cfg_err_add(ctx->err, nn ? nn : ln, cfg_path(ctx, lpath, "name"),
                            "duplicate listener name '%s' (first defined at %s)", l->name,
                            paths[j]);
                dup = true;
            } else if (same_addr(&p->addr, &l->addr)) {
                const struct vt_node *an = vt_map_get(ln, "address");
                cfg_err_add(ctx->err, an ? an : ln, cfg_path(ctx, lpath, "address"),
                            "error adding listener: '%s' has duplicate address '%s' as existing "
                            "listener '%s' (%s)",
                            l->name, l->addr.str, p->name, paths[j]);
                dup = true;
            }
        }
        /* A listener with errors stays in the list (the load fails anyway) so that a later
         * duplicate of it is still reported. */
        if (!dup) {
            paths[bs->n_listeners] = lpath;
            bs->n_listeners++;
        }
    }
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}
