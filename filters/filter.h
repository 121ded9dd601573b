/* SPDX-License-Identifier: Apache-2.0 */
/* filters/filter.h — the filter API. A filter is one file plus one line in filter_list.h.
 *
 * Network filters: a definition (name, type URL, config parser, runtime hooks). The config
 * parser runs on the main thread while a snapshot is built and returns an immutable config
 * object allocated in the snapshot's arena. The runtime hooks run on the worker that owns
 * the connection. For now every chain ends in a terminal filter that takes the connection
 * over (tcp_proxy; http_connection_manager next); read/write filters before it (rbac) will
 * get on_data hooks when the first one arrives. */
#ifndef RM_FILTERS_FILTER_H
#define RM_FILTERS_FILTER_H

#include <stdbool.h>

struct vt_node;
struct cfg_ctx;
struct conn;
struct worker;
struct snapshot;
struct cfg_listener;

struct net_filter_def {
    const char *name;     /* canonical Envoy name: "envoy.filters.network.tcp_proxy" */
    const char *type_url; /* "type.googleapis.com/envoy.extensions.filters.network...." */
    bool terminal;        /* must be the last filter of a chain */
    /* Parses the typed_config message fields (|cfg| is the map holding "@type"; the parser
     * ignores that key). |path| is the field path of |cfg| for errors. Returns 0 with the
     * config in |*out| (allocated from ctx->arena), or -RM_ECONFIG with errors in ctx->err.
     * Runs on the main thread. */
    int (*config_new)(struct cfg_ctx *ctx, const struct vt_node *cfg, const char *path,
                      const void **out);
    /* Cross-reference checks after the whole bootstrap is translated (e.g. the clusters a
     * tcp_proxy names exist). Optional. */
    void (*config_check)(struct cfg_ctx *ctx, const void *config, const char *path);
    /* Main thread, when the snapshot is installed: creates the process-wide runtime state
     * of this filter instance (stats blocks, access-log sinks), shared read-only by the
     * workers. Optional. Returns 0 or -RM_E*. */
    int (*rt_new)(const void *config, void **out);
    void (*rt_free)(void *rt);
    /* A new downstream connection reached this (terminal) filter on worker |w|. The filter
     * takes ownership of |c|. |rt| is what rt_new made. */
    void (*on_accept)(struct worker *w, struct conn *c, const struct cfg_listener *l,
                      const void *config, void *rt);
};

/* HTTP filters (inside envoy.filters.network.http_connection_manager). The config parser
 * runs on the main thread like a network filter's. |ops| holds the per-stream hooks; the
 * router is the terminal filter and is driven by the connection manager directly. */
struct http_filter_ops;

struct http_filter_def {
    const char *name;     /* "envoy.filters.http.router" */
    const char *type_url; /* "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" */
    bool terminal;
    int (*config_new)(struct cfg_ctx *ctx, const struct vt_node *cfg, const char *path,
                      const void **out);
    const struct http_filter_ops *ops; /* NULL for the router */
};

/* Same lookup rules as filter_find_network(). */
const struct http_filter_def *filter_find_http(const char *type_url, const char *name);
/* Known Envoy HTTP filters that Remora does not implement yet. */
bool filter_is_known_unsupported_http(const char *type_url, const char *name);

/* Finds a network filter by typed_config type URL first, then by name (Envoy's order).
 * Either argument may be NULL. Returns NULL when unknown. */
const struct net_filter_def *filter_find_network(const char *type_url, const char *name);

/* True when |type_url|/|name| is an Envoy filter Remora knows of but does not implement yet
 * (so the error can say "not supported yet" rather than "unknown"). */
bool filter_is_known_unsupported(const char *type_url, const char *name);

#endif
