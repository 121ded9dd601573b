/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_http.h — the HTTP translators: HttpConnectionManager (translate_hcm.c),
 * RouteConfiguration and everything under it (translate_route.c), and the matcher / header
 * mutation pieces other HTTP filters reuse (StringMatcher, HeaderMatcher, RegexMatcher,
 * FractionalPercent, HeaderValueOption, DataSource). Same conventions as translate.h: every
 * error names file:line:col and the field path, translation goes on after an error, model
 * objects go to ctx->arena. Main thread only. */
#ifndef RM_CONFIG_TRANSLATE_HTTP_H
#define RM_CONFIG_TRANSLATE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/model_http.h"
#include "config/translate.h"

/* ---- cluster references (checked once every cluster is known) ------------------------- */

enum cfg_cluster_ref_kind {
    CREF_ROUTE,    /* route.cluster */
    CREF_WEIGHTED, /* route.weighted_clusters.clusters[].name */
    CREF_MIRROR,   /* request_mirror_policies[].cluster */
};

/* One cluster named by a route. Lives in ctx->scratch: valid until cfg_ctx_fini(), which is
 * after the deferred checks (cfg_run_checks()) have run. */
struct cfg_cluster_ref {
    struct cfg_cluster_ref *next;
    const char *name;
    enum cfg_cluster_ref_kind kind;
    const struct vt_node *node; /* the name's value, for the error position */
    const char *path;           /* its field path */
};

struct cfg_cluster_refs {
    struct cfg_cluster_ref *head, *tail;
};

/* Reports every reference of |refs| to a cluster missing from ctx->bs, with Envoy's wording
 * ("route: unknown cluster 'x'", "route: unknown weighted cluster 'x'", "route: unknown
 * shadow cluster 'x'"). */
void cfg_check_cluster_refs(struct cfg_ctx *ctx, const struct cfg_cluster_refs *refs);

/* ---- connection manager and routes ------------------------------------------------------ */

/*
 * envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager at |n|
 * (the typed_config map; "@type" is skipped) into |out|, with Envoy's defaults. Resolves the
 * HTTP filters through the registry (filter_find_http()) and runs their config parsers.
 * |*validate_clusters| receives route_config.validate_clusters (default true for an inline
 * route table); |refs| collects the clusters the routes name. Returns 0, -RM_ECONFIG (errors
 * in ctx->err) or -RM_ENOMEM.
 */
int cfg_translate_hcm(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                      struct cfg_hcm *out, bool *validate_clusters, struct cfg_cluster_refs *refs);

/*
 * envoy.config.route.v3.RouteConfiguration at |n| into a new object in ctx->arena. Checks
 * Envoy's cross-vhost rules (unique domains, a single "*"). Virtual-host and route-config
 * retry and mirror policies are resolved into each route (the most specific one wins, as in
 * Envoy), so the runtime reads one place. |refs| may be NULL. Returns 0 with |*out| set, or
 * -RM_ECONFIG / -RM_ENOMEM.
 */
int cfg_translate_route_config(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                               struct cfg_route_config **out, bool *validate_clusters,
                               struct cfg_cluster_refs *refs);

/* ---- reusable pieces (each: true on success; false with errors added) -------------------- */

/* envoy.type.matcher.v3.RegexMatcher → compiled regex (proxy/regex.h) owned by ctx->arena.
 * |flags| are RM_REGEX_* (RM_REGEX_FULL for matchers, 0 for rewrites). */
bool cfg_translate_regex(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                         unsigned flags, const struct rm_regex **out);

/* envoy.type.matcher.v3.StringMatcher. */
bool cfg_translate_string_matcher(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                  struct cfg_string_matcher *out);

/* envoy.config.route.v3.HeaderMatcher (deprecated direct fields accepted with a warning). */
bool cfg_translate_header_matcher(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                  struct cfg_header_matcher *out);

/* A repeated HeaderMatcher at |list| (may be unset: *n = 0). Returns 0 / -RM_ECONFIG /
 * -RM_ENOMEM; *out is allocated in ctx->arena. */
int cfg_translate_header_matchers(struct cfg_ctx *ctx, const struct vt_node *list, const char *path,
                                  struct cfg_header_matcher **out, size_t *n);

/* envoy.type.v3.FractionalPercent (runtime_key stays NULL). */
bool cfg_translate_fractional_percent(struct cfg_ctx *ctx, const struct vt_node *n,
                                      const char *path, struct cfg_fraction *out);

/* envoy.config.core.v3.RuntimeFractionalPercent (default_value is required). */
bool cfg_translate_runtime_fraction(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                    struct cfg_fraction *out);

/* repeated envoy.config.core.v3.HeaderValueOption (at most 1000): keys validated and
 * lowercased, values with %OPERATORS% compiled (alog_format_compile()). Returns 0 /
 * -RM_ECONFIG / -RM_ENOMEM. */
int cfg_translate_headers_to_add(struct cfg_ctx *ctx, const struct vt_node *list, const char *path,
                                 struct cfg_header_add **out, size_t *n);

/* repeated string of header names to remove: lowercased; pseudo-headers and host refused
 * (Envoy: ":-prefixed or host headers may not be removed"). */
int cfg_translate_headers_to_remove(struct cfg_ctx *ctx, const struct vt_node *list,
                                    const char *path, const char ***out, size_t *n);

/* proto3 JSON bytes: standard or URL-safe base64, padding optional. Returns the decoded
 * length, or -1 when |s| is not base64. |dst| holds at least (n / 4 + 1) * 3 bytes. */
long cfg_b64_decode(const char *s, size_t n, unsigned char *dst);

/* envoy.config.core.v3.DataSource: inline_string, inline_bytes (base64), filename (read now),
 * environment_variable. |max| bounds the size (0 = 1 MiB); |what| names the data in errors
 * ("response body"). The bytes go to ctx->arena, NUL-terminated; |*len| excludes the NUL. */
bool cfg_translate_data_source(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                               size_t max, const char *what, const char **out, size_t *len);

#endif
