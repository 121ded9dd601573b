/* SPDX-License-Identifier: Apache-2.0 */
/* filters/network/tcp_proxy.h — envoy.filters.network.tcp_proxy: config parsing
 * (tcp_proxy_config.c, main thread) and the proxying session (tcp_proxy.c, workers). */
#ifndef RM_FILTERS_TCP_PROXY_H
#define RM_FILTERS_TCP_PROXY_H

#include "filters/filter.h"

#define TCP_PROXY_NAME "envoy.filters.network.tcp_proxy"
#define TCP_PROXY_TYPE_URL                                                                         \
    "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

/* net_filter_def.config_new for tcp_proxy: builds a struct cfg_tcp_proxy (config/model.h). */
int tcp_proxy_config_new(struct cfg_ctx *ctx, const struct vt_node *cfg, const char *path,
                         const void **out);
/* net_filter_def.config_check: every cluster named (cluster / weighted_clusters) exists. */
void tcp_proxy_config_check(struct cfg_ctx *ctx, const void *config, const char *path);

#endif
