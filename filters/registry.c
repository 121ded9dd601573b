/* SPDX-License-Identifier: Apache-2.0 */
/* filters/registry.c — filter lookup by type URL and name, built from filter_list.h. */
#include "filters/filter.h"

#include <stddef.h>
#include <string.h>

#define NETWORK_FILTER(sym) extern const struct net_filter_def sym;
#include "filters/filter_list.h"
#undef NETWORK_FILTER

static const struct net_filter_def *const network_filters[] = {
#define NETWORK_FILTER(sym) &sym,
#include "filters/filter_list.h"
#undef NETWORK_FILTER
};

#define N_NETWORK_FILTERS (sizeof(network_filters) / sizeof(network_filters[0]))

/* Envoy network filters that change traffic and that we refuse until they are built. */
static const char *const known_unsupported[] = {
    "envoy.filters.network.http_connection_manager",
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    "envoy.filters.network.rbac",
    "envoy.extensions.filters.network.rbac.v3.RBAC",
    "envoy.filters.network.ext_authz",
    "envoy.extensions.filters.network.ext_authz.v3.ExtAuthz",
    "envoy.filters.network.local_ratelimit",
    "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit",
    "envoy.filters.network.ratelimit",
    "envoy.extensions.filters.network.ratelimit.v3.RateLimit",
    "envoy.filters.network.redis_proxy",
    "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy",
    "envoy.filters.network.mongo_proxy",
    "envoy.filters.network.sni_cluster",
    "envoy.filters.network.sni_dynamic_forward_proxy",
    "envoy.filters.network.connection_limit",
    "envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit",
    "envoy.filters.network.direct_response",
    "envoy.extensions.filters.network.direct_response.v3.Config",
    "envoy.filters.network.echo",
    "envoy.extensions.filters.network.echo.v3.Echo",
    "envoy.filters.network.wasm",
    "envoy.filters.network.thrift_proxy",
    "envoy.filters.network.dubbo_proxy",
    "envoy.filters.network.zookeeper_proxy",
    "envoy.filters.network.mysql_proxy",
    "envoy.filters.network.postgres_proxy",
    "envoy.filters.network.kafka_broker",
};

static const char *type_name(const char *type_url)
{
    const char *slash = type_url ? strrchr(type_url, '/') : NULL;
    return slash ? slash + 1 : type_url;
}

const struct net_filter_def *filter_find_network(const char *type_url, const char *name)
{
    if (type_url) {
        const char *tn = type_name(type_url);
        for (size_t i = 0; i < N_NETWORK_FILTERS; i++)
            if (strcmp(type_name(network_filters[i]->type_url), tn) == 0)
                return network_filters[i];
        return NULL; /* Envoy: a typed_config type decides; the name is not consulted */
    }
    if (name)
        for (size_t i = 0; i < N_NETWORK_FILTERS; i++)
            if (strcmp(network_filters[i]->name, name) == 0)
                return network_filters[i];
    return NULL;
}

bool filter_is_known_unsupported(const char *type_url, const char *name)
{
    const char *tn = type_url ? type_name(type_url) : NULL;
    for (size_t i = 0; i < sizeof(known_unsupported) / sizeof(known_unsupported[0]); i++) {
        if (tn && strcmp(known_unsupported[i], tn) == 0)
            return true;
        if (!tn && name && strcmp(known_unsupported[i], name) == 0)
            return true;
    }
    return false;
}
