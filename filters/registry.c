/* SPDX-License-Identifier: Apache-2.0 */
/* filters/registry.c — filter lookup by type URL and name, built from filter_list.h. */
#include "filters/filter.h"

#include <stddef.h>
#include <string.h>

#define NETWORK_FILTER(sym) extern const struct net_filter_def sym;
#define HTTP_FILTER(sym) extern const struct http_filter_def sym;
#include "filters/filter_list.h"
#undef NETWORK_FILTER
#undef HTTP_FILTER

static const struct net_filter_def *const network_filters[] = {
#define NETWORK_FILTER(sym) &sym,
#define HTTP_FILTER(sym)
#include "filters/filter_list.h"
#undef NETWORK_FILTER
#undef HTTP_FILTER
};

static const struct http_filter_def *const http_filters[] = {
#define NETWORK_FILTER(sym)
#define HTTP_FILTER(sym) &sym,
#include "filters/filter_list.h"
#undef NETWORK_FILTER
#undef HTTP_FILTER
};

#define N_NETWORK_FILTERS (sizeof(network_filters) / sizeof(network_filters[0]))
#define N_HTTP_FILTERS (sizeof(http_filters) / sizeof(http_filters[0]))

/* Envoy network filters that change traffic and that we refuse until they are built. */
static const char *const known_unsupported[] = {
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

/* Envoy HTTP filters that change traffic and that we refuse until they are built:
 * "envoy.filters.http.<short>" with typed_config type
 * "envoy.extensions.filters.http.<short>.v3.<message>". */
static const char *const known_unsupported_http[][2] = {
    {"adaptive_concurrency", "AdaptiveConcurrency"},
    {"admission_control", "AdmissionControl"},
    {"alternate_protocols_cache", "FilterConfig"},
    {"api_key_auth", "ApiKeyAuth"},
    {"aws_lambda", "Config"},
    {"aws_request_signing", "AwsRequestSigning"},
    {"bandwidth_limit", "BandwidthLimit"},
    {"basic_auth", "BasicAuth"},
    {"buffer", "Buffer"},
    {"cache", "CacheConfig"},
    {"cdn_loop", "CdnLoopConfig"},
    {"composite", "Composite"},
    {"compressor", "Compressor"},
    {"connect_grpc_bridge", "FilterConfig"},
    {"cors", "Cors"},
    {"credential_injector", "CredentialInjector"},
    {"csrf", "CsrfPolicy"},
    {"custom_response", "CustomResponse"},
    {"decompressor", "Decompressor"},
    {"dynamic_forward_proxy", "FilterConfig"},
    {"ext_authz", "ExtAuthz"},
    {"ext_proc", "ExternalProcessor"},
    {"fault", "HTTPFault"},
    {"file_system_buffer", "FileSystemBufferFilterConfig"},
    {"gcp_authn", "GcpAuthnFilterConfig"},
    {"geoip", "Geoip"},
    {"grpc_field_extraction", "GrpcFieldExtractionConfig"},
    {"grpc_http1_bridge", "Config"},
    {"grpc_http1_reverse_bridge", "FilterConfig"},
    {"grpc_json_transcoder", "GrpcJsonTranscoder"},
    {"grpc_stats", "FilterConfig"},
    {"grpc_web", "GrpcWeb"},
    {"header_mutation", "HeaderMutation"},
    {"header_to_metadata", "Config"},
    {"health_check", "HealthCheck"},
    {"ip_tagging", "IPTagging"},
    {"json_to_metadata", "JsonToMetadata"},
    {"jwt_authn", "JwtAuthentication"},
    {"kill_request", "KillRequest"},
    {"local_ratelimit", "LocalRateLimit"},
    {"lua", "Lua"},
    {"oauth2", "OAuth2"},
    {"on_demand", "OnDemand"},
    {"original_src", "OriginalSrc"},
    {"proto_message_extraction", "ProtoMessageExtractionConfig"},
    {"rate_limit_quota", "RateLimitQuotaFilterConfig"},
    {"ratelimit", "RateLimit"},
    {"rbac", "RBAC"},
    {"set_filter_state", "Config"},
    {"set_metadata", "Config"},
    {"stateful_session", "StatefulSession"},
    {"tap", "Tap"},
    {"thrift_to_metadata", "ThriftToMetadata"},
    {"upstream_codec", "UpstreamCodec"},
    {"wasm", "Wasm"},
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

const struct http_filter_def *filter_find_http(const char *type_url, const char *name)
{
    if (type_url) {
        const char *tn = type_name(type_url);
        for (size_t i = 0; i < N_HTTP_FILTERS; i++)
            if (strcmp(type_name(http_filters[i]->type_url), tn) == 0)
                return http_filters[i];
        return NULL; /* Envoy: a typed_config type decides; the name is not consulted */
    }
    if (name)
        for (size_t i = 0; i < N_HTTP_FILTERS; i++)
            if (strcmp(http_filters[i]->name, name) == 0)
                return http_filters[i];
    return NULL;
}

/* True when |s| is |prefix| + |mid| + |suffix|. */
static bool spells3(const char *s, const char *prefix, const char *mid, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(mid);
    return strncmp(s, prefix, a) == 0 && strncmp(s + a, mid, b) == 0 &&
           strcmp(s + a + b, suffix) == 0;
}

bool filter_is_known_unsupported_http(const char *type_url, const char *name)
{
    static const char pkg[] = "envoy.extensions.filters.http.";
    const char *tn = type_url ? type_name(type_url) : NULL;
    for (size_t i = 0; i < sizeof(known_unsupported_http) / sizeof(known_unsupported_http[0]);
         i++) {
        const char *short_name = known_unsupported_http[i][0];
        if (tn) {
            if (strncmp(tn, pkg, sizeof(pkg) - 1) == 0 &&
                spells3(tn + sizeof(pkg) - 1, short_name, ".v3.", known_unsupported_http[i][1]))
                return true;
        } else if (name && spells3(name, "envoy.filters.http.", short_name, "")) {
            return true;
        }
    }
    return false;
}
