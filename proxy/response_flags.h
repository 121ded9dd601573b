/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/response_flags.h — Envoy's response flags (%RESPONSE_FLAGS%): one bit per flag, the
 * short ("UF") and long ("UpstreamConnectionFailure") names, printers and a parser for
 * response_flag_filter. Bit positions and print order are Envoy's CoreResponseFlag order
 * (source/common/stream_info/utility.h), so "UF,URX" prints exactly as Envoy prints it.
 * Pure functions and constant tables: safe from any thread. */
#ifndef RM_RESPONSE_FLAGS_H
#define RM_RESPONSE_FLAGS_H

#include <stddef.h>
#include <stdint.h>

/*
 * X(bit, NAME, "short", "Long") in Envoy's order; NAME gives RF_<NAME>. Usual statuses: UH UF UO
 * NC LR UR UC LH OM DO 503, NR 404, UT 504, RL 429, SI 408, IH DPE 400, UPE 502, NFCF 500.
 * Adding a flag: append here (bit = next number) and to docs/internals/access_log.md.
 */
#define RF_LIST(X)                                                                                 \
    X(0, FAILED_LOCAL_HEALTH_CHECK, "LH", "FailedLocalHealthCheck")                                \
    X(1, NO_HEALTHY_UPSTREAM, "UH", "NoHealthyUpstream")                                           \
    X(2, UPSTREAM_REQUEST_TIMEOUT, "UT", "UpstreamRequestTimeout")                                 \
    X(3, LOCAL_RESET, "LR", "LocalReset")                                                          \
    X(4, UPSTREAM_REMOTE_RESET, "UR", "UpstreamRemoteReset")                                       \
    X(5, UPSTREAM_CONNECTION_FAILURE, "UF", "UpstreamConnectionFailure")                           \
    X(6, UPSTREAM_CONNECTION_TERMINATION, "UC", "UpstreamConnectionTermination")                   \
    X(7, UPSTREAM_OVERFLOW, "UO", "UpstreamOverflow")                                              \
    X(8, NO_ROUTE_FOUND, "NR", "NoRouteFound")                                                     \
    X(9, DELAY_INJECTED, "DI", "DelayInjected")                                                    \
    X(10, FAULT_INJECTED, "FI", "FaultInjected")                                                   \
    X(11, RATE_LIMITED, "RL", "RateLimited")                                                       \
    X(12, UNAUTHORIZED_EXTERNAL_SERVICE, "UAEX", "UnauthorizedExternalService")                    \
    X(13, RATELIMIT_SERVICE_ERROR, "RLSE", "RateLimitServiceError")                                \
    X(14, DOWNSTREAM_CONNECTION_TERMINATION, "DC", "DownstreamConnectionTermination")              \
    X(15, UPSTREAM_RETRY_LIMIT_EXCEEDED, "URX", "UpstreamRetryLimitExceeded")                      \
    X(16, STREAM_IDLE_TIMEOUT, "SI", "StreamIdleTimeout")                                          \
    X(17, INVALID_ENVOY_REQUEST_HEADERS, "IH", "InvalidEnvoyRequestHeaders")                       \
    X(18, DOWNSTREAM_PROTOCOL_ERROR, "DPE", "DownstreamProtocolError")                             \
    X(19, UPSTREAM_MAX_STREAM_DURATION_REACHED, "UMSDR", "UpstreamMaxStreamDurationReached")       \
    X(20, RESPONSE_FROM_CACHE_FILTER, "RFCF", "ResponseFromCacheFilter")                           \
    X(21, NO_FILTER_CONFIG_FOUND, "NFCF", "NoFilterConfigFound")                                   \
    X(22, DURATION_TIMEOUT, "DT", "DurationTimeout")                                               \
    X(23, UPSTREAM_PROTOCOL_ERROR, "UPE", "UpstreamProtocolError")                                 \
    X(24, NO_CLUSTER_FOUND, "NC", "NoClusterFound")                                                \
    X(25, OVERLOAD_MANAGER, "OM", "OverloadManagerTerminated")                                     \
    X(26, DNS_RESOLUTION_FAILED, "DF", "DnsResolutionFailed")                                      \
    X(27, DROP_OVERLOAD, "DO", "DropOverload")                                                     \
    X(28, DOWNSTREAM_REMOTE_RESET, "DR", "DownstreamRemoteReset")

#define RF_DEFINE_BIT(bit, name, s, l) RF_##name = (UINT32_C(1) << (bit)),
enum { RF_NONE = 0, RF_LIST(RF_DEFINE_BIT) };
#undef RF_DEFINE_BIT

#define RF_COUNT_ONE(bit, name, s, l) +1
enum { RF_COUNT = 0 RF_LIST(RF_COUNT_ONE) }; /* number of known flags */
#undef RF_COUNT_ONE

#define RF_ALL ((uint32_t)((UINT64_C(1) << RF_COUNT) - 1)) /* every known flag */

/* Buffer sizes that always fit rf_format_short() / rf_format_long() of any flag set (NUL
 * included). */
#define RF_SHORT_MAX 128
#define RF_LONG_MAX 800

/* Short ("UF") and long ("UpstreamConnectionFailure") name of bit number |bit| (0-based, Envoy
 * order). Returns NULL when |bit| >= RF_COUNT. */
const char *rf_short_name(unsigned bit);
const char *rf_long_name(unsigned bit);

/*
 * Writes |flags| as Envoy's %RESPONSE_FLAGS% ("UF,URX"; "-" when no known flag is set) into
 * |buf| (|cap| bytes, NUL-terminated when |cap| > 0; truncated when too small). Unknown bits
 * are ignored. Returns the length the full text has (snprintf convention).
 */
size_t rf_format_short(uint32_t flags, char *buf, size_t cap);
/* Same for %RESPONSE_FLAGS_LONG%: "UpstreamConnectionFailure,UpstreamRetryLimitExceeded". */
size_t rf_format_long(uint32_t flags, char *buf, size_t cap);

/*
 * Looks up one short name ("UH"; case-sensitive, as Envoy's response_flag_filter) of |len|
 * bytes. Returns its RF_* bit, or 0 when the name is unknown.
 */
uint32_t rf_from_short(const char *name, size_t len);

#endif
