/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/route.h — the per-request side of Envoy's route table (config/model_http.h): virtual
 * host selection by :authority, route matching (path, headers, query parameters, runtime
 * fractions), weighted cluster picks, path rewrites and redirect Location headers. Everything
 * reads the immutable config and the codec-neutral request (proxy/http_msg.h); nothing here
 * allocates except where a function says so (into the caller's arena). Any worker thread. */
#ifndef RM_ROUTE_H
#define RM_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/model_http.h"
#include "proxy/http_msg.h"

struct arena;

/* Runtime overrides (Envoy's layered runtime), consulted for runtime_fraction keys and
 * weighted_clusters.runtime_key_prefix. |get_uint| returns the integer value of |key|, or
 * |dflt| when the key is not set. The whole struct may be NULL (no runtime). */
struct route_runtime {
    uint64_t (*get_uint)(void *ctx, const char *key, uint64_t dflt);
    void *ctx;
};

/*
 * Picks the virtual host for the request host |host| (|n| bytes, the :authority as received,
 * compared case-insensitively) in Envoy's order: an exact domain, then the longest suffix
 * wildcard ("*.foo.com", "*-bar.foo.com"), then the longest prefix wildcard ("foo.*"), then
 * "*". A wildcard never matches an empty remainder ("*.foo.com" does not match ".foo.com").
 *
 * Ports, as in Envoy (RouteConfiguration.ignore_port_in_host_matching defaults to false, and
 * Remora does not implement it yet): the port is part of the host. "foo.com:8080" matches
 * the domain "foo.com:8080", a prefix wildcard "foo.*" and "*", but not "foo.com" or
 * "*.com"; configs list both forms when clients send ports (Istio does).
 *
 * With |n| == 0 (no :authority) only a route table whose sole domain is "*" matches.
 * Returns NULL when nothing matches (the caller answers 404, flag NR). O(domains).
 */
const struct cfg_vhost *route_find_vhost(const struct cfg_route_config *rc, const char *host,
                                         size_t n);

/*
 * Returns the first route of |vh| whose match accepts |req|, or NULL (404, flag NR):
 *  - path: prefix / path / path_separated_prefix / safe_regex against :path without the query
 *    and fragment (case_sensitive applies to the first three; safe_regex is a full match);
 *    a request without a path (CONNECT) matches no route;
 *  - headers: all must match (Envoy's HeaderUtility::matchHeaders, see route_header_matches());
 *  - query_parameters: all must match, against the first occurrence of each name in the
 *    query string, compared as received (Envoy does not percent-decode here either);
 *  - runtime_fraction: route_fraction_enabled() with |random_value|.
 * Allocates only when a matched header name appears more than once (the values are joined
 * with ',' in req->arena, as Envoy does); never mallocs.
 */
const struct cfg_route *route_match(const struct cfg_vhost *vh, const struct http_msg *req,
                                    uint64_t random_value, const struct route_runtime *rt);

/*
 * Envoy's featureEnabled(runtime_key, default FractionalPercent, random): the runtime value,
 * when |rt| has the key, is a percentage out of 100 (values above 100 always pass);
 * otherwise the configured numerator/denominator. True when random % denominator <
 * numerator. Also for request_mirror_policies[].runtime_fraction.
 */
bool route_fraction_enabled(const struct cfg_fraction *f, uint64_t random_value,
                            const struct route_runtime *rt);

/*
 * One header matcher against |msg| (request or response). Pseudo-headers read the message:
 * ":path", ":method", ":authority", ":scheme" (requests), ":status" (responses). Several
 * fields of one name are joined with ','. A missing header fails every matcher but
 * present_match: false, unless treat_missing_header_as_empty (then it is ""). invert_match
 * flips the result of a present header. May allocate the joined value in msg->arena.
 */
bool route_header_matches(const struct cfg_header_matcher *m, const struct http_msg *msg);

/* All of |n| matchers (true when n == 0). */
bool route_headers_match(const struct cfg_header_matcher *m, size_t n, const struct http_msg *msg);

/* A StringMatcher against |s| (|n| bytes). */
bool route_string_matches(const struct cfg_string_matcher *m, const char *s, size_t n);

/*
 * The weighted cluster for |random_value| (Envoy's v3 semantics): weights are relative (they
 * need not sum to 100); with runtime_key_prefix and |rt|, cluster i's weight is the runtime
 * value of "<prefix>.<name>" (the configured weight when unset). Cluster i is chosen when
 * random_value % total falls in [sum of weights before i, that + weight i). Returns NULL
 * when |a| has no weighted clusters or every weight is 0.
 */
const struct cfg_weighted_cluster_http *route_pick_weighted(const struct cfg_route_action *a,
                                                            uint64_t random_value,
                                                            const struct route_runtime *rt);

/*
 * The path to send upstream (forward routes: prefix_rewrite / regex_rewrite) or to redirect
 * to (redirect routes: prefix_rewrite) for the request path |path| (|n| bytes, query
 * included) that matched |r|:
 *  - prefix_rewrite replaces the matched part: the configured prefix / path length, or the
 *    whole path without the query for safe_regex routes; the rest (query included) stays;
 *  - regex_rewrite replaces every match in the path without the query (RE2::GlobalReplace),
 *    the query stays.
 * Returns 0 with the new path in |*out| (NUL-terminated, in |a|), or 0 with out->p == NULL
 * when |r| rewrites nothing; -RM_ELIMIT when the regex hit its match limit (keep the path);
 * -RM_ENOMEM.
 */
int route_path_rewrite(const struct cfg_route *r, const char *path, size_t n, struct arena *a,
                       struct http_slice *out);

/*
 * The Location of a redirect route |r| for |req|, as Envoy builds it:
 * scheme (scheme_redirect / https_redirect / else the request's x-forwarded-proto, else
 * :scheme, else "http") "://" host (host_redirect, else the request authority; its port is
 * dropped when port_redirect is set, or when the scheme changes and the port is the old
 * scheme's default 80/443) [":" port_redirect] path (path_redirect, keeping the request
 * query unless path_redirect has its own; else the request path after prefix_rewrite; a
 * leading '/' is added when missing; strip_query cuts the query unless path_redirect carries
 * one). Returns 0 with the value in |*out| (NUL-terminated, in |a|), -RM_EINVAL when |r| is
 * not a redirect, -RM_ELIMIT (see route_path_rewrite()) or -RM_ENOMEM.
 */
int route_redirect_location(const struct cfg_route *r, const struct http_msg *req, struct arena *a,
                            struct http_slice *out);

#endif
