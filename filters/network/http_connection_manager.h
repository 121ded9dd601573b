/* SPDX-License-Identifier: Apache-2.0 */
/* filters/network/http_connection_manager.h — envoy.filters.network.http_connection_manager
 * and its terminal HTTP filter envoy.filters.http.router: config parsing (hcm_config.c,
 * config/translate_hcm.c, config/translate_route.c, filters/http/router_config.c; main
 * thread). The connection manager itself lives in proxy/hcm.c. */
#ifndef RM_FILTERS_HTTP_CONNECTION_MANAGER_H
#define RM_FILTERS_HTTP_CONNECTION_MANAGER_H

#include "filters/filter.h"

#define HCM_NAME "envoy.filters.network.http_connection_manager"
#define HCM_TYPE_URL                                                                               \
    "type.googleapis.com/"                                                                         \
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

#define ROUTER_NAME "envoy.filters.http.router"
#define ROUTER_TYPE_URL "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"

/*
 * net_filter_def.config_new for the connection manager: parses the HttpConnectionManager at
 * |cfg| (the typed_config map; "@type" is skipped) into a struct cfg_hcm (config/model_http.h)
 * in ctx->arena, with every HTTP filter's config. |*out| points at that struct cfg_hcm.
 * Returns 0, -RM_ECONFIG (errors in ctx->err, each with file:line:col and field path) or
 * -RM_ENOMEM.
 */
int hcm_config_new(struct cfg_ctx *ctx, const struct vt_node *cfg, const char *path,
                   const void **out);

/*
 * net_filter_def.config_check: every cluster the routes name (cluster, weighted_clusters,
 * request_mirror_policies) exists in the bootstrap, unless route_config.validate_clusters is
 * false. cluster_header routes are resolved per request. |config| must come from
 * hcm_config_new() of the same load (the check reads bookkeeping that lives until the end of
 * the load).
 */
void hcm_config_check(struct cfg_ctx *ctx, const void *config, const char *path);

/* http_filter_def.config_new for the router: envoy.extensions.filters.http.router.v3.Router
 * → struct cfg_router in ctx->arena. */
int router_config_new(struct cfg_ctx *ctx, const struct vt_node *cfg, const char *path,
                      const void **out);

#endif
