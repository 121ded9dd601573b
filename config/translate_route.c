/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_route.c — envoy.config.route.v3.RouteConfiguration → struct
 * cfg_route_config: virtual hosts (domains, Envoy's uniqueness rules), routes (match, route /
 * redirect / direct_response), route actions (cluster specifiers, rewrites, timeouts, retry
 * and mirror policies), and the pieces other HTTP filters reuse: StringMatcher, HeaderMatcher,
 * RegexMatcher, FractionalPercent, HeaderValueOption, DataSource. Every field of every message
 * is in a table (supported / not supported yet / deprecated / no effect). Main thread only. */
#include "config/translate_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/err.h"
#include "proxy/access_log.h"
#include "proxy/err.h"
#include "proxy/http_msg.h"
#include "proxy/regex.h"

#define ROUTE_PKG "envoy.config.route.v3."
#define DEFAULT_ROUTE_TIMEOUT_MS 15000u
#define DEFAULT_RETRY_BASE_MS 25u
#define MAX_HEADERS_TO_ADD 1000u
#define DEFAULT_MAX_DIRECT_BODY 4096u
#define DATA_SOURCE_MAX (1024u * 1024u)
#define QUERY_NAME_MAX 1024u

/* ---- field tables ---------------------------------------------------------------------------- */

static const struct cfg_field route_config_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"virtual_hosts", CFG_SUPPORTED, NULL, NULL},
    {"vhds", CFG_UNSUPPORTED, NULL, "on-demand virtual hosts (VHDS) are not implemented"},
    {"internal_only_headers", CFG_UNSUPPORTED, "[]", NULL},
    {"response_headers_to_add", CFG_SUPPORTED, NULL, NULL},
    {"response_headers_to_remove", CFG_SUPPORTED, NULL, NULL},
    {"request_headers_to_add", CFG_SUPPORTED, NULL, NULL},
    {"request_headers_to_remove", CFG_SUPPORTED, NULL, NULL},
    {"most_specific_header_mutations_wins", CFG_SUPPORTED, NULL, NULL},
    {"validate_clusters", CFG_SUPPORTED, NULL, NULL},
    {"max_direct_response_body_size_bytes", CFG_SUPPORTED, NULL, NULL},
    {"cluster_specifier_plugins", CFG_UNSUPPORTED, "[]", NULL},
    {"request_mirror_policies", CFG_SUPPORTED, NULL, NULL},
    {"ignore_port_in_host_matching", CFG_SUPPORTED, NULL, NULL},
    {"alternate_header_for_host_matching", CFG_UNSUPPORTED, "", NULL},
    {"ignore_path_parameters_in_path_matching", CFG_UNSUPPORTED, "false", NULL},
    {"typed_per_filter_config", CFG_UNSUPPORTED, "{}",
     "per-route filter configs are not implemented"},
    {"metadata", CFG_NOOP, NULL, NULL},
};
CFG_TYPE(route_config_msg, ROUTE_PKG "RouteConfiguration", route_config_fields);

static const struct cfg_field vhost_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"domains", CFG_SUPPORTED, NULL, NULL},
    {"routes", CFG_SUPPORTED, NULL, NULL},
    {"matcher", CFG_UNSUPPORTED, NULL, "use routes"},
    {"require_tls", CFG_UNSUPPORTED, "NONE", NULL},
    {"virtual_clusters", CFG_UNSUPPORTED, "[]", NULL},
    {"rate_limits", CFG_UNSUPPORTED, "[]", NULL},
    {"request_headers_to_add", CFG_SUPPORTED, NULL, NULL},
    {"request_headers_to_remove", CFG_SUPPORTED, NULL, NULL},
    {"response_headers_to_add", CFG_SUPPORTED, NULL, NULL},
    {"response_headers_to_remove", CFG_SUPPORTED, NULL, NULL},
    {"cors", CFG_UNSUPPORTED, "{}", "deprecated in Envoy; the CORS filter is not implemented"},
    {"typed_per_filter_config", CFG_UNSUPPORTED, "{}",
     "per-route filter configs are not implemented"},
    {"include_request_attempt_count", CFG_SUPPORTED, NULL, NULL},
    {"include_attempt_count_in_response", CFG_SUPPORTED, NULL, NULL},
    {"retry_policy", CFG_SUPPORTED, NULL, NULL},
    {"retry_policy_typed_config", CFG_UNSUPPORTED, NULL, "use retry_policy"},
    {"hedge_policy", CFG_UNSUPPORTED, "{}", NULL},
    {"include_is_timeout_retry_header", CFG_UNSUPPORTED, "false", NULL},
    {"per_request_buffer_limit_bytes", CFG_UNSUPPORTED, NULL, NULL},
    {"request_mirror_policies", CFG_SUPPORTED, NULL, NULL},
    {"metadata", CFG_NOOP, NULL, NULL},
    {"per_filter_config", CFG_REMOVED, NULL, "removed in the v3 API: use typed_per_filter_config"},
};
CFG_TYPE(vhost_msg, ROUTE_PKG "VirtualHost", vhost_fields);

static const struct cfg_field route_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"match", CFG_SUPPORTED, NULL, NULL},
    {"route", CFG_SUPPORTED, NULL, NULL},
    {"redirect", CFG_SUPPORTED, NULL, NULL},
    {"direct_response", CFG_SUPPORTED, NULL, NULL},
    {"filter_action", CFG_UNSUPPORTED, NULL, NULL},
    {"non_forwarding_action", CFG_UNSUPPORTED, NULL, NULL},
    {"metadata", CFG_NOOP, NULL, NULL},
    /* Decorators and route tracing only act on trace spans; tracing is refused in the HCM. */
    {"decorator", CFG_NOOP, NULL, NULL},
    {"typed_per_filter_config", CFG_UNSUPPORTED, "{}",
     "per-route filter configs are not implemented"},
    {"request_headers_to_add", CFG_SUPPORTED, NULL, NULL},
    {"request_headers_to_remove", CFG_SUPPORTED, NULL, NULL},
    {"response_headers_to_add", CFG_SUPPORTED, NULL, NULL},
    {"response_headers_to_remove", CFG_SUPPORTED, NULL, NULL},
    {"tracing", CFG_NOOP, NULL, NULL},
    {"per_request_buffer_limit_bytes", CFG_UNSUPPORTED, NULL, NULL},
    {"stat_prefix", CFG_IGNORED, NULL, "per-route statistics are not generated"},
    {"per_filter_config", CFG_REMOVED, NULL, "removed in the v3 API: use typed_per_filter_config"},
};
CFG_TYPE(route_msg, ROUTE_PKG "Route", route_fields);

static const struct cfg_field route_match_fields[] = {
    {"prefix", CFG_SUPPORTED, NULL, NULL},
    {"path", CFG_SUPPORTED, NULL, NULL},
    {"safe_regex", CFG_SUPPORTED, NULL, NULL},
    {"connect_matcher", CFG_SUPPORTED, NULL, NULL},
    {"path_separated_prefix", CFG_SUPPORTED, NULL, NULL},
    {"path_match_policy", CFG_UNSUPPORTED, NULL, "path templates are not implemented"},
    {"case_sensitive", CFG_SUPPORTED, NULL, NULL},
    {"runtime_fraction", CFG_SUPPORTED, NULL, NULL},
    {"headers", CFG_SUPPORTED, NULL, NULL},
    {"query_parameters", CFG_SUPPORTED, NULL, NULL},
    {"grpc", CFG_UNSUPPORTED, NULL, "match content-type with a header matcher instead"},
    {"tls_context", CFG_UNSUPPORTED, "{}", NULL},
    {"dynamic_metadata", CFG_UNSUPPORTED, "[]", NULL},
    {"filter_state", CFG_UNSUPPORTED, "[]", NULL},
    {"cookies", CFG_UNSUPPORTED, "[]", NULL},
    {"regex", CFG_REMOVED, NULL, "removed in the v3 API: use safe_regex"},
};
CFG_TYPE(route_match_msg, ROUTE_PKG "RouteMatch", route_match_fields);

static const struct cfg_field route_action_fields[] = {
    {"cluster", CFG_SUPPORTED, NULL, NULL},
    {"cluster_header", CFG_SUPPORTED, NULL, NULL},
    {"weighted_clusters", CFG_SUPPORTED, NULL, NULL},
    {"cluster_specifier_plugin", CFG_UNSUPPORTED, NULL, NULL},
    {"inline_cluster_specifier_plugin", CFG_UNSUPPORTED, NULL, NULL},
    {"cluster_not_found_response_code", CFG_UNSUPPORTED, "SERVICE_UNAVAILABLE", NULL},
    {"metadata_match", CFG_UNSUPPORTED, "{}", "subset load balancing is not implemented"},
    {"prefix_rewrite", CFG_SUPPORTED, NULL, NULL},
    {"regex_rewrite", CFG_SUPPORTED, NULL, NULL},
    {"path_rewrite_policy", CFG_UNSUPPORTED, NULL, "path templates are not implemented"},
    {"host_rewrite_literal", CFG_SUPPORTED, NULL, NULL},
    {"auto_host_rewrite", CFG_SUPPORTED, NULL, NULL},
    {"host_rewrite_header", CFG_UNSUPPORTED, "", NULL},
    {"host_rewrite_path_regex", CFG_UNSUPPORTED, NULL, NULL},
    {"append_x_forwarded_host", CFG_UNSUPPORTED, "false", NULL},
    {"timeout", CFG_SUPPORTED, NULL, NULL},
    {"idle_timeout", CFG_SUPPORTED, NULL, NULL},
    {"early_data_policy", CFG_UNSUPPORTED, "{}", NULL},
    {"retry_policy", CFG_SUPPORTED, NULL, NULL},
    {"retry_policy_typed_config", CFG_UNSUPPORTED, NULL, "use retry_policy"},
    {"request_mirror_policies", CFG_SUPPORTED, NULL, NULL},
    {"priority", CFG_UNSUPPORTED, "DEFAULT", NULL},
    {"rate_limits", CFG_UNSUPPORTED, "[]", NULL},
    {"include_vh_rate_limits", CFG_DEPR_IGNORED, NULL, "rate limiting is not implemented"},
    /* Only RING_HASH and MAGLEV read a hash, and neither is implemented. */
    {"hash_policy", CFG_IGNORED, NULL,
     "no hashing load balancer (RING_HASH, MAGLEV) is implemented"},
    {"cors", CFG_UNSUPPORTED, "{}", "deprecated in Envoy; the CORS filter is not implemented"},
    {"max_grpc_timeout", CFG_UNSUPPORTED, NULL, "deprecated in Envoy"},
    {"grpc_timeout_offset", CFG_UNSUPPORTED, NULL, "deprecated in Envoy"},
    {"upgrade_configs", CFG_SUPPORTED, NULL, NULL},
    {"internal_redirect_policy", CFG_UNSUPPORTED, NULL, NULL},
    {"internal_redirect_action", CFG_UNSUPPORTED, "PASS_THROUGH_INTERNAL_REDIRECT",
     "deprecated in Envoy"},
    {"max_internal_redirects", CFG_UNSUPPORTED, NULL, "deprecated in Envoy"},
    {"hedge_policy", CFG_UNSUPPORTED, "{}", NULL},
    {"max_stream_duration", CFG_UNSUPPORTED, NULL, NULL},
    {"request_mirror_policy", CFG_REMOVED, NULL,
     "removed in the v3 API: use request_mirror_policies"},
};
CFG_TYPE(route_action_msg, ROUTE_PKG "RouteAction", route_action_fields);

static const struct cfg_field route_upgrade_fields[] = {
    {"upgrade_type", CFG_SUPPORTED, NULL, NULL},
    {"enabled", CFG_SUPPORTED, NULL, NULL},
    {"connect_config", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(route_upgrade_msg, ROUTE_PKG "RouteAction.UpgradeConfig", route_upgrade_fields);

static const struct cfg_field connect_config_fields[] = {
    {"proxy_protocol_config", CFG_UNSUPPORTED, NULL, "the PROXY protocol is not implemented"},
    {"allow_post", CFG_UNSUPPORTED, "false", "POST tunnels are not implemented"},
};
CFG_TYPE(connect_config_msg, ROUTE_PKG "RouteAction.UpgradeConfig.ConnectConfig",
         connect_config_fields);

/* ConnectMatcher has no fields (see raw_buffer_fields in translate.c). */
static const struct cfg_field connect_matcher_fields[] = {{"-", CFG_REMOVED, NULL, NULL}};
CFG_TYPE(connect_matcher_msg, ROUTE_PKG "RouteMatch.ConnectMatcher", connect_matcher_fields);

static const struct cfg_field weighted_fields[] = {
    {"clusters", CFG_SUPPORTED, NULL, NULL},
    {"total_weight", CFG_DEPR_IGNORED, NULL, "Envoy uses the sum of the cluster weights"},
    {"runtime_key_prefix", CFG_SUPPORTED, NULL, NULL},
    {"header_name", CFG_UNSUPPORTED, "", NULL},
};
CFG_TYPE(weighted_msg, ROUTE_PKG "WeightedCluster", weighted_fields);

static const struct cfg_field cluster_weight_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"cluster_header", CFG_UNSUPPORTED, "", NULL},
    {"weight", CFG_SUPPORTED, NULL, NULL},
    {"metadata_match", CFG_UNSUPPORTED, "{}", "subset load balancing is not implemented"},
    {"request_headers_to_add", CFG_SUPPORTED, NULL, NULL},
    {"request_headers_to_remove", CFG_SUPPORTED, NULL, NULL},
    {"response_headers_to_add", CFG_SUPPORTED, NULL, NULL},
    {"response_headers_to_remove", CFG_SUPPORTED, NULL, NULL},
    {"typed_per_filter_config", CFG_UNSUPPORTED, "{}",
     "per-route filter configs are not implemented"},
    {"host_rewrite_literal", CFG_UNSUPPORTED, "", "use the route's host_rewrite_literal"},
    {"per_filter_config", CFG_REMOVED, NULL, "removed in the v3 API: use typed_per_filter_config"},
};
CFG_TYPE(cluster_weight_msg, ROUTE_PKG "WeightedCluster.ClusterWeight", cluster_weight_fields);

static const struct cfg_field retry_fields[] = {
    {"retry_on", CFG_SUPPORTED, NULL, NULL},
    {"num_retries", CFG_SUPPORTED, NULL, NULL},
    {"per_try_timeout", CFG_SUPPORTED, NULL, NULL},
    {"per_try_idle_timeout", CFG_SUPPORTED, NULL, NULL},
    {"retry_priority", CFG_UNSUPPORTED, NULL, NULL},
    {"retry_host_predicate", CFG_SUPPORTED, NULL, NULL},
    {"retry_options_predicates", CFG_UNSUPPORTED, "[]", NULL},
    {"host_selection_retry_max_attempts", CFG_SUPPORTED, NULL, NULL},
    {"retriable_status_codes", CFG_SUPPORTED, NULL, NULL},
    {"retry_back_off", CFG_SUPPORTED, NULL, NULL},
    {"rate_limited_retry_back_off", CFG_UNSUPPORTED, NULL, NULL},
    {"retriable_headers", CFG_SUPPORTED, NULL, NULL},
    {"retriable_request_headers", CFG_UNSUPPORTED, "[]", NULL},
};
CFG_TYPE(retry_msg, ROUTE_PKG "RetryPolicy", retry_fields);

static const struct cfg_field back_off_fields[] = {
    {"base_interval", CFG_SUPPORTED, NULL, NULL},
    {"max_interval", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(back_off_msg, ROUTE_PKG "RetryPolicy.RetryBackOff", back_off_fields);

static const struct cfg_field host_predicate_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"typed_config", CFG_SUPPORTED, NULL, NULL},
    {"config", CFG_REMOVED, NULL, "removed in the v3 API: use typed_config"},
};
CFG_TYPE(host_predicate_msg, ROUTE_PKG "RetryPolicy.RetryHostPredicate", host_predicate_fields);

/* PreviousHostsPredicate has no fields (a removed placeholder keeps C's table non-empty). */
static const struct cfg_field previous_hosts_fields[] = {{"-", CFG_REMOVED, NULL, NULL}};
#define PREVIOUS_HOSTS_NAME "envoy.retry_host_predicates.previous_hosts"
#define PREVIOUS_HOSTS_TYPE "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
CFG_TYPE(previous_hosts_msg, PREVIOUS_HOSTS_TYPE, previous_hosts_fields);

static const struct cfg_field mirror_fields[] = {
    {"cluster", CFG_SUPPORTED, NULL, NULL},
    {"cluster_header", CFG_UNSUPPORTED, "", NULL},
    {"runtime_fraction", CFG_SUPPORTED, NULL, NULL},
    {"trace_sampled", CFG_NOOP, NULL, NULL}, /* tracing is not implemented */
    {"disable_shadow_host_suffix_append", CFG_UNSUPPORTED, "false", NULL},
    {"runtime_key", CFG_REMOVED, NULL, "removed in the v3 API: use runtime_fraction"},
};
CFG_TYPE(mirror_msg, ROUTE_PKG "RouteAction.RequestMirrorPolicy", mirror_fields);

static const struct cfg_field redirect_fields[] = {
    {"https_redirect", CFG_SUPPORTED, NULL, NULL},
    {"scheme_redirect", CFG_SUPPORTED, NULL, NULL},
    {"host_redirect", CFG_SUPPORTED, NULL, NULL},
    {"port_redirect", CFG_SUPPORTED, NULL, NULL},
    {"path_redirect", CFG_SUPPORTED, NULL, NULL},
    {"prefix_rewrite", CFG_SUPPORTED, NULL, NULL},
    {"regex_rewrite", CFG_UNSUPPORTED, NULL, "use path_redirect or prefix_rewrite"},
    {"response_code", CFG_SUPPORTED, NULL, NULL},
    {"strip_query", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(redirect_msg, ROUTE_PKG "RedirectAction", redirect_fields);

static const struct cfg_field direct_fields[] = {
    {"status", CFG_SUPPORTED, NULL, NULL},
    {"body", CFG_SUPPORTED, NULL, NULL},
    {"body_format", CFG_UNSUPPORTED, NULL, "use body"},
};
CFG_TYPE(direct_msg, ROUTE_PKG "DirectResponseAction", direct_fields);

static const struct cfg_field header_matcher_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"exact_match", CFG_DEPRECATED, NULL, "use string_match"},
    {"safe_regex_match", CFG_DEPRECATED, NULL, "use string_match"},
    {"range_match", CFG_SUPPORTED, NULL, NULL},
    {"present_match", CFG_SUPPORTED, NULL, NULL},
    {"prefix_match", CFG_DEPRECATED, NULL, "use string_match"},
    {"suffix_match", CFG_DEPRECATED, NULL, "use string_match"},
    {"contains_match", CFG_DEPRECATED, NULL, "use string_match"},
    {"string_match", CFG_SUPPORTED, NULL, NULL},
    {"invert_match", CFG_SUPPORTED, NULL, NULL},
    {"treat_missing_header_as_empty", CFG_SUPPORTED, NULL, NULL},
    {"regex_match", CFG_REMOVED, NULL, "removed in the v3 API: use string_match.safe_regex"},
};
CFG_TYPE(header_matcher_msg, ROUTE_PKG "HeaderMatcher", header_matcher_fields);

static const struct cfg_field range_fields[] = {
    {"start", CFG_SUPPORTED, NULL, NULL},
    {"end", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(range_msg, "envoy.type.v3.Int64Range", range_fields);

static const struct cfg_field query_matcher_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"string_match", CFG_SUPPORTED, NULL, NULL},
    {"present_match", CFG_SUPPORTED, NULL, NULL},
    {"value", CFG_REMOVED, NULL, "removed in the v3 API: use string_match"},
    {"regex", CFG_REMOVED, NULL, "removed in the v3 API: use string_match"},
};
CFG_TYPE(query_matcher_msg, ROUTE_PKG "QueryParameterMatcher", query_matcher_fields);

static const struct cfg_field string_matcher_fields[] = {
    {"exact", CFG_SUPPORTED, NULL, NULL},
    {"prefix", CFG_SUPPORTED, NULL, NULL},
    {"suffix", CFG_SUPPORTED, NULL, NULL},
    {"safe_regex", CFG_SUPPORTED, NULL, NULL},
    {"contains", CFG_SUPPORTED, NULL, NULL},
    {"custom", CFG_UNSUPPORTED, NULL, "string matcher extensions are not implemented"},
    {"ignore_case", CFG_SUPPORTED, NULL, NULL},
    {"regex", CFG_REMOVED, NULL, "removed in the v3 API: use safe_regex"},
};
CFG_TYPE(string_matcher_msg, "envoy.type.matcher.v3.StringMatcher", string_matcher_fields);

static const struct cfg_field regex_matcher_fields[] = {
    {"google_re2", CFG_DEPR_IGNORED, NULL, "RE2 syntax is always used"},
    {"regex", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(regex_matcher_msg, "envoy.type.matcher.v3.RegexMatcher", regex_matcher_fields);

static const struct cfg_field regex_subst_fields[] = {
    {"pattern", CFG_SUPPORTED, NULL, NULL},
    {"substitution", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(regex_subst_msg, "envoy.type.matcher.v3.RegexMatchAndSubstitute", regex_subst_fields);

static const struct cfg_field fraction_fields[] = {
    {"numerator", CFG_SUPPORTED, NULL, NULL},
    {"denominator", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(fraction_msg, "envoy.type.v3.FractionalPercent", fraction_fields);

static const struct cfg_field runtime_fraction_fields[] = {
    {"default_value", CFG_SUPPORTED, NULL, NULL},
    {"runtime_key", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(runtime_fraction_msg, "envoy.config.core.v3.RuntimeFractionalPercent",
         runtime_fraction_fields);

static const struct cfg_field hvo_fields[] = {
    {"header", CFG_SUPPORTED, NULL, NULL},
    {"append", CFG_DEPRECATED, NULL, "use append_action"},
    {"append_action", CFG_SUPPORTED, NULL, NULL},
    {"keep_empty_value", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(hvo_msg, "envoy.config.core.v3.HeaderValueOption", hvo_fields);

static const struct cfg_field header_value_fields[] = {
    {"key", CFG_SUPPORTED, NULL, NULL},
    {"value", CFG_SUPPORTED, NULL, NULL},
    {"raw_value", CFG_UNSUPPORTED, NULL, "use value"},
};
CFG_TYPE(header_value_msg, "envoy.config.core.v3.HeaderValue", header_value_fields);

static const struct cfg_field data_source_fields[] = {
    {"filename", CFG_SUPPORTED, NULL, NULL},
    {"inline_bytes", CFG_SUPPORTED, NULL, NULL},
    {"inline_string", CFG_SUPPORTED, NULL, NULL},
    {"environment_variable", CFG_SUPPORTED, NULL, NULL},
    {"watched_directory", CFG_UNSUPPORTED, NULL, NULL},
};
CFG_TYPE(data_source_msg, "envoy.config.core.v3.DataSource", data_source_fields);

/* ---- enums ----------------------------------------------------------------------------------- */

static const struct cfg_enum_val denominator_vals[] = {
    {"HUNDRED", 0, true},
    {"TEN_THOUSAND", 1, true},
    {"MILLION", 2, true},
};
CFG_ENUM(denominator_enum, "envoy.type.v3.FractionalPercent.DenominatorType", denominator_vals);

static const struct cfg_enum_val append_action_vals[] = {
    {"APPEND_IF_EXISTS_OR_ADD", APPEND_IF_EXISTS_OR_ADD, true},
    {"ADD_IF_ABSENT", ADD_IF_ABSENT, true},
    {"OVERWRITE_IF_EXISTS_OR_ADD", OVERWRITE_IF_EXISTS_OR_ADD, true},
    {"OVERWRITE_IF_EXISTS", OVERWRITE_IF_EXISTS, true},
};
CFG_ENUM(append_action_enum, "envoy.config.core.v3.HeaderValueOption.HeaderAppendAction",
         append_action_vals);

static const struct cfg_enum_val redirect_code_vals[] = {
    {"MOVED_PERMANENTLY", 0, true},  {"FOUND", 1, true},
    {"SEE_OTHER", 2, true},          {"TEMPORARY_REDIRECT", 3, true},
    {"PERMANENT_REDIRECT", 4, true},
};
CFG_ENUM(redirect_code_enum, ROUTE_PKG "RedirectAction.RedirectResponseCode", redirect_code_vals);
static const int redirect_status[] = {301, 302, 303, 307, 308};

/* ---- small helpers --------------------------------------------------------------------------- */

/* True when |field| is written in |o|'s map with a value, whatever its table use (for oneof
 * checks that also count members Remora does not support). */
static bool raw_has(const struct cfg_obj *o, const char *field)
{
    const struct vt_node *v = o->node ? vt_map_get(o->node, field) : NULL;
    return v && v->kind != VT_NULL;
}

static const char *lower_dup(struct cfg_ctx *ctx, const char *s)
{
    char *p = arena_strdup(ctx->arena, s);
    if (!p) {
        cfg_oom(ctx);
        return NULL;
    }
    for (char *q = p; *q; q++)
        *q = (char)http_lower[(unsigned char)*q];
    return p;
}

/* Envoy's HTTP_HEADER_VALUE (non-strict) rule: no NUL, CR or LF. */
static bool value_ok(const char *s)
{
    return !strpbrk(s, "\r\n");
}

/* A header name: an RFC 9110 token, or ':' + token for pseudo-headers when |pseudo_ok|. */
static bool header_name_ok(const char *s, bool pseudo_ok)
{
    if (pseudo_ok && s[0] == ':')
        s++;
    return http_is_token(s, strlen(s));
}

static void add_ref(struct cfg_ctx *ctx, struct cfg_cluster_refs *refs, const char *name,
                    enum cfg_cluster_ref_kind kind, const struct vt_node *node, const char *path)
{
    if (!refs)
        return;
    struct cfg_cluster_ref *r = arena_zalloc(&ctx->scratch, sizeof(*r));
    if (!r) {
        cfg_oom(ctx);
        return;
    }
    r->name = name;
    r->kind = kind;
    r->node = node;
    r->path = path;
    if (refs->tail)
        refs->tail->next = r;
    else
        refs->head = r;
    refs->tail = r;
}

void cfg_check_cluster_refs(struct cfg_ctx *ctx, const struct cfg_cluster_refs *refs)
{
    for (const struct cfg_cluster_ref *r = refs ? refs->head : NULL; r; r = r->next) {
        if (cfg_find_cluster(ctx->bs, r->name))
            continue;
        const char *what = r->kind == CREF_WEIGHTED ? "weighted cluster"
                           : r->kind == CREF_MIRROR ? "shadow cluster"
                                                    : "cluster";
        cfg_err_add(ctx->err, r->node, r->path, "route: unknown %s '%s'", what, r->name);
    }
}

/* Reads string |field| of |o| that must be non-empty; *out stays NULL when absent. Returns
 * false (error added) for a present but empty value. */
static bool nonempty_str(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field,
                         const char **out)
{
    *out = NULL;
    if (!cfg_f_str(ctx, o, field, out))
        return false;
    if (*out && !(*out)[0]) {
        cfg_obj_error(ctx, o, field, "%s must not be empty", field);
        *out = NULL;
        return false;
    }
    return true;
}

/* ---- regex, string and header matchers ------------------------------------------------------- */

bool cfg_translate_regex(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                         unsigned flags, const struct rm_regex **out)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *pattern = NULL;
    if (!cfg_obj_init(ctx, &o, &regex_matcher_msg, n, path, 0))
        return false;
    cfg_f_str(ctx, &o, "regex", &pattern);
    if (cfg_errors(ctx) != mark)
        return false;
    if (!pattern || !pattern[0]) {
        cfg_obj_error(ctx, &o, "regex", "regex is required (a non-empty RE2 pattern)");
        return false;
    }
    char err[256];
    struct rm_regex *re;
    int rc = rm_regex_compile(pattern, strlen(pattern), flags, ctx->arena, &re, err, sizeof(err));
    if (rc == -RM_ENOMEM) {
        cfg_oom(ctx);
        return false;
    }
    if (rc) {
        cfg_obj_error(ctx, &o, "regex", "invalid regex \"%.200s\": %s", pattern, err);
        return false;
    }
    *out = re;
    return true;
}

bool cfg_translate_string_matcher(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                  struct cfg_string_matcher *out)
{
    static const char *const kinds[] = {"exact", "prefix", "suffix", "contains", "safe_regex"};
    static const enum cfg_str_match_kind kind_of[] = {STRM_EXACT, STRM_PREFIX, STRM_SUFFIX,
                                                      STRM_CONTAINS, STRM_REGEX};
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    memset(out, 0, sizeof(*out));
    if (!cfg_obj_init(ctx, &o, &string_matcher_msg, n, path, 0))
        return false;
    cfg_f_bool(ctx, &o, "ignore_case", &out->ignore_case);
    int set = 0, which = -1;
    for (int i = 0; i < 5; i++) {
        if (cfg_obj_get(&o, kinds[i])) {
            set++;
            which = i;
        }
    }
    if (raw_has(&o, "custom"))
        set++;
    if (cfg_errors(ctx) != mark)
        return false;
    if (set == 0) {
        cfg_err_add(ctx->err, n, path,
                    "one of exact, prefix, suffix, contains or safe_regex is required (oneof "
                    "match_pattern)");
        return false;
    }
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of exact, prefix, suffix, contains, safe_regex and custom may be "
                    "set (oneof match_pattern)");
        return false;
    }
    if (which < 0)
        return false; /* only custom, reported as not supported */
    out->kind = kind_of[which];
    if (out->kind == STRM_REGEX) {
        if (out->ignore_case) {
            /* Envoy's StringMatcherImpl refuses the combination. */
            cfg_obj_error(ctx, &o, "ignore_case", "ignore_case has no effect for safe_regex.");
            return false;
        }
        return cfg_translate_regex(ctx, cfg_obj_get(&o, "safe_regex"),
                                   cfg_obj_path(ctx, &o, "safe_regex"), RM_REGEX_FULL, &out->regex);
    }
    const char *v = "";
    if (!cfg_f_str(ctx, &o, kinds[which], &v))
        return false;
    if (out->kind != STRM_EXACT && !v[0]) {
        /* PGV min_len 1 on prefix, suffix and contains. */
        cfg_obj_error(ctx, &o, kinds[which], "%s must not be empty", kinds[which]);
        return false;
    }
    /* Matching folds case on the request side; keep the configured side folded already. */
    out->value = out->ignore_case ? lower_dup(ctx, v) : v;
    out->len = strlen(v);
    return out->value != NULL;
}

bool cfg_translate_header_matcher(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                  struct cfg_header_matcher *out)
{
    static const char *const specs[] = {"exact_match",    "safe_regex_match", "range_match",
                                        "present_match",  "prefix_match",     "suffix_match",
                                        "contains_match", "string_match"};
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    memset(out, 0, sizeof(*out));
    if (!cfg_obj_init(ctx, &o, &header_matcher_msg, n, path, 0))
        return false;
    const char *name = NULL;
    cfg_f_str(ctx, &o, "name", &name);
    cfg_f_bool(ctx, &o, "invert_match", &out->invert_match);
    cfg_f_bool(ctx, &o, "treat_missing_header_as_empty", &out->treat_missing_header_as_empty);
    if (cfg_errors(ctx) != mark)
        return false;
    if (!name || !name[0]) {
        cfg_obj_error(ctx, &o, "name", "name is required (a header name)");
        return false;
    }
    if (!header_name_ok(name, true)) {
        cfg_obj_error(ctx, &o, "name", "invalid header name \"%.200s\"", name);
        return false;
    }
    out->name = lower_dup(ctx, name);
    if (!out->name)
        return false;
    int set = 0;
    const char *spec = NULL;
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (cfg_obj_get(&o, specs[i])) {
            set++;
            spec = specs[i];
        }
    }
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of string_match, present_match, range_match and the deprecated "
                    "exact_match, safe_regex_match, prefix_match, suffix_match, contains_match "
                    "may be set (oneof header_match_specifier)");
        return false;
    }
    /* No specifier: a presence match (Envoy's default). */
    out->kind = HDRM_PRESENT;
    out->present = true;
    if (!spec)
        return true;
    const struct vt_node *v = cfg_obj_get(&o, spec);
    const char *vpath = cfg_obj_path(ctx, &o, spec);
    if (strcmp(spec, "present_match") == 0)
        return cfg_val_bool(ctx, v, vpath, &out->present);
    if (strcmp(spec, "string_match") == 0) {
        out->kind = HDRM_STRING;
        return cfg_translate_string_matcher(ctx, v, vpath, &out->str);
    }
    if (strcmp(spec, "safe_regex_match") == 0) {
        out->kind = HDRM_STRING;
        out->str.kind = STRM_REGEX;
        return cfg_translate_regex(ctx, v, vpath, RM_REGEX_FULL, &out->str.regex);
    }
    if (strcmp(spec, "range_match") == 0) {
        struct cfg_obj r;
        out->kind = HDRM_RANGE;
        if (!cfg_obj_init(ctx, &r, &range_msg, v, vpath, 0))
            return false;
        cfg_val_i64(ctx, cfg_obj_get(&r, "start"), cfg_obj_path(ctx, &r, "start"),
                    &out->range_start);
        cfg_val_i64(ctx, cfg_obj_get(&r, "end"), cfg_obj_path(ctx, &r, "end"), &out->range_end);
        return cfg_errors(ctx) == mark;
    }
    /* The deprecated string forms. */
    const char *s = "";
    if (!cfg_val_str(ctx, v, vpath, &s))
        return false;
    out->kind = HDRM_STRING;
    if (strcmp(spec, "exact_match") == 0) {
        if (!s[0]) {
            /* Envoy's legacy value match: an empty value matches any value. */
            out->kind = HDRM_PRESENT;
            return true;
        }
        out->str.kind = STRM_EXACT;
    } else {
        if (!s[0]) {
            cfg_err_add(ctx->err, v, vpath, "%s must not be empty", spec);
            return false;
        }
        out->str.kind = strcmp(spec, "prefix_match") == 0   ? STRM_PREFIX
                        : strcmp(spec, "suffix_match") == 0 ? STRM_SUFFIX
                                                            : STRM_CONTAINS;
    }
    out->str.value = s;
    out->str.len = strlen(s);
    return true;
}

int cfg_translate_header_matchers(struct cfg_ctx *ctx, const struct vt_node *list, const char *path,
                                  struct cfg_header_matcher **out, size_t *n)
{
    size_t count;
    *out = NULL;
    *n = 0;
    if (!cfg_val_list(ctx, list, path, &count))
        return -RM_ECONFIG;
    if (count == 0)
        return 0;
    struct cfg_header_matcher *arr = cfg_alloc(ctx, count * sizeof(*arr));
    if (!arr)
        return -RM_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        if (!cfg_translate_header_matcher(ctx, list->list.items[i], cfg_path_idx(ctx, path, i),
                                          &arr[i]))
            rc = -RM_ECONFIG;
    }
    *out = arr;
    *n = count;
    return ctx->oom ? -RM_ENOMEM : rc;
}

static bool query_matcher(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                          struct cfg_query_matcher *out)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    memset(out, 0, sizeof(*out));
    if (!cfg_obj_init(ctx, &o, &query_matcher_msg, n, path, 0))
        return false;
    const char *name = NULL;
    bool present = true;
    cfg_f_str(ctx, &o, "name", &name);
    cfg_f_bool(ctx, &o, "present_match", &present);
    if (cfg_errors(ctx) != mark)
        return false;
    if (!name || !name[0]) {
        cfg_obj_error(ctx, &o, "name", "name is required (a query parameter name)");
        return false;
    }
    if (strlen(name) > QUERY_NAME_MAX) {
        cfg_obj_error(ctx, &o, "name", "name is longer than %u bytes", QUERY_NAME_MAX);
        return false;
    }
    out->name = name;
    const struct vt_node *sm = cfg_obj_get(&o, "string_match");
    const struct vt_node *pm = cfg_obj_get(&o, "present_match");
    if (sm && pm) {
        cfg_err_add(ctx->err, n, path,
                    "only one of string_match and present_match may be set (oneof "
                    "query_parameter_match_specifier)");
        return false;
    }
    if (pm && !present) {
        cfg_obj_error(ctx, &o, "present_match",
                      "present_match: false (match when the parameter is absent) is not "
                      "supported by Remora yet");
        return false;
    }
    if (!sm) {
        out->present_match = true; /* present_match: true, or nothing: a presence check */
        return true;
    }
    return cfg_translate_string_matcher(ctx, sm, cfg_obj_path(ctx, &o, "string_match"), &out->str);
}

/* ---- fractions ------------------------------------------------------------------------------- */

bool cfg_translate_fractional_percent(struct cfg_ctx *ctx, const struct vt_node *n,
                                      const char *path, struct cfg_fraction *out)
{
    static const uint32_t denoms[] = {100, 10000, 1000000};
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    int denom = 0;
    memset(out, 0, sizeof(*out));
    if (!cfg_obj_init(ctx, &o, &fraction_msg, n, path, 0))
        return false;
    cfg_f_u32(ctx, &o, "numerator", &out->numerator);
    cfg_f_enum(ctx, &o, "denominator", &denominator_enum, &denom);
    out->denominator = denoms[denom];
    return cfg_errors(ctx) == mark;
}

bool cfg_translate_runtime_fraction(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                    struct cfg_fraction *out)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    memset(out, 0, sizeof(*out));
    if (!cfg_obj_init(ctx, &o, &runtime_fraction_msg, n, path, 0))
        return false;
    const char *key = NULL;
    cfg_f_str(ctx, &o, "runtime_key", &key);
    const struct vt_node *dv = cfg_obj_get(&o, "default_value");
    if (cfg_errors(ctx) != mark)
        return false;
    if (!dv) {
        /* PGV: default_value is required. */
        cfg_obj_error(ctx, &o, "default_value", "default_value is required");
        return false;
    }
    if (!cfg_translate_fractional_percent(ctx, dv, cfg_obj_path(ctx, &o, "default_value"), out))
        return false;
    out->runtime_key = key && key[0] ? key : NULL;
    return true;
}

/* ---- header mutations ------------------------------------------------------------------------ */

static bool header_value_option(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                struct cfg_header_add *out)
{
    struct cfg_obj o, h;
    size_t mark = cfg_errors(ctx);
    memset(out, 0, sizeof(*out));
    if (!cfg_obj_init(ctx, &o, &hvo_msg, n, path, 0))
        return false;
    int action = APPEND_IF_EXISTS_OR_ADD;
    bool append = true;
    cfg_f_enum(ctx, &o, "append_action", &append_action_enum, &action);
    cfg_f_bool(ctx, &o, "append", &append);
    cfg_f_bool(ctx, &o, "keep_empty_value", &out->keep_empty_value);
    const struct vt_node *hn = cfg_obj_get(&o, "header");
    if (cfg_errors(ctx) != mark)
        return false;
    if (!hn) {
        cfg_err_add(ctx->err, n, cfg_obj_path(ctx, &o, "header"), "header is required");
        return false;
    }
    if (cfg_obj_get(&o, "append")) {
        /* Envoy: the deprecated bool may only go with the default append_action. */
        if (action != APPEND_IF_EXISTS_OR_ADD) {
            cfg_err_add(ctx->err, n, path,
                        "Both append and append_action are set and it's not allowed");
            return false;
        }
        action = append ? APPEND_IF_EXISTS_OR_ADD : OVERWRITE_IF_EXISTS_OR_ADD;
    }
    out->action = (enum cfg_append_action)action;

    const char *hpath = cfg_obj_path(ctx, &o, "header");
    if (!cfg_obj_init(ctx, &h, &header_value_msg, hn, hpath, 0))
        return false;
    const char *key = NULL, *value = "";
    cfg_f_str(ctx, &h, "key", &key);
    cfg_f_str(ctx, &h, "value", &value);
    if (cfg_errors(ctx) != mark)
        return false;
    if (!key || !key[0]) {
        cfg_err_add(ctx->err, cfg_obj_get(&h, "key") ? cfg_obj_get(&h, "key") : hn,
                    cfg_obj_path(ctx, &h, "key"), "key is required (a header name)");
        return false;
    }
    if (key[0] == ':' || strcasecmp(key, "host") == 0) {
        cfg_obj_error(ctx, &h, "key", ":-prefixed or host headers may not be modified");
        return false;
    }
    if (!header_name_ok(key, false)) {
        cfg_obj_error(ctx, &h, "key", "invalid header name \"%.200s\"", key);
        return false;
    }
    if (!value_ok(value)) {
        cfg_obj_error(ctx, &h, "value", "a header value must not contain CR or LF");
        return false;
    }
    out->key = lower_dup(ctx, key);
    out->value = value;
    if (!out->key)
        return false;
    if (strchr(value, '%')) {
        char err[512];
        struct alog_format *fmt = NULL;
        /* Envoy formats header values with omit_empty_values: a missing value is "" and the
         * header is then not added (unless keep_empty_value). */
        int rc = alog_format_compile(value, NULL, true, ctx->arena, &fmt, err, sizeof(err));
        if (rc == -RM_ENOMEM) {
            cfg_oom(ctx);
            return false;
        }
        if (rc) {
            cfg_obj_error(ctx, &h, "value", "%s", err);
            return false;
        }
        out->fmt = fmt;
    }
    return true;
}

int cfg_translate_headers_to_add(struct cfg_ctx *ctx, const struct vt_node *list, const char *path,
                                 struct cfg_header_add **out, size_t *n)
{
    size_t count;
    *out = NULL;
    *n = 0;
    if (!cfg_val_list(ctx, list, path, &count))
        return -RM_ECONFIG;
    if (count == 0)
        return 0;
    if (count > MAX_HEADERS_TO_ADD) {
        cfg_err_add(ctx->err, list, path, "at most %u headers may be added (got %zu)",
                    MAX_HEADERS_TO_ADD, count);
        return -RM_ECONFIG;
    }
    struct cfg_header_add *arr = cfg_alloc(ctx, count * sizeof(*arr));
    if (!arr)
        return -RM_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < count; i++)
        if (!header_value_option(ctx, list->list.items[i], cfg_path_idx(ctx, path, i), &arr[i]))
            rc = -RM_ECONFIG;
    *out = arr;
    *n = count;
    return ctx->oom ? -RM_ENOMEM : rc;
}

int cfg_translate_headers_to_remove(struct cfg_ctx *ctx, const struct vt_node *list,
                                    const char *path, const char ***out, size_t *n)
{
    size_t count;
    *out = NULL;
    *n = 0;
    if (!cfg_val_list(ctx, list, path, &count))
        return -RM_ECONFIG;
    if (count == 0)
        return 0;
    const char **arr = cfg_alloc(ctx, count * sizeof(*arr));
    if (!arr)
        return -RM_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        const struct vt_node *item = list->list.items[i];
        const char *ipath = cfg_path_idx(ctx, path, i);
        const char *name = NULL;
        if (!cfg_val_str(ctx, item, ipath, &name) || !name) {
            if (!name)
                cfg_err_add(ctx->err, item, ipath, "expected a header name, got null");
            rc = -RM_ECONFIG;
            continue;
        }
        if (!name[0]) {
            cfg_err_add(ctx->err, item, ipath, "a header name must not be empty");
            rc = -RM_ECONFIG;
        } else if (name[0] == ':' || strcasecmp(name, "host") == 0) {
            cfg_err_add(ctx->err, item, ipath, ":-prefixed or host headers may not be removed");
            rc = -RM_ECONFIG;
        } else if (!header_name_ok(name, false)) {
            cfg_err_add(ctx->err, item, ipath, "invalid header name \"%.200s\"", name);
            rc = -RM_ECONFIG;
        } else if (!(arr[i] = lower_dup(ctx, name))) {
            return -RM_ENOMEM;
        }
    }
    *out = arr;
    *n = count;
    return rc;
}

/* request/response_headers_to_add/remove of |o| into |m|. */
static int mutations(struct cfg_ctx *ctx, const struct cfg_obj *o, struct cfg_header_mutations *m)
{
    int rc = 0, r;
    r = cfg_translate_headers_to_add(ctx, cfg_obj_get(o, "request_headers_to_add"),
                                     cfg_obj_path(ctx, o, "request_headers_to_add"), &m->req_add,
                                     &m->n_req_add);
    rc = r && !rc ? r : rc;
    r = cfg_translate_headers_to_remove(ctx, cfg_obj_get(o, "request_headers_to_remove"),
                                        cfg_obj_path(ctx, o, "request_headers_to_remove"),
                                        &m->req_remove, &m->n_req_remove);
    rc = r && !rc ? r : rc;
    r = cfg_translate_headers_to_add(ctx, cfg_obj_get(o, "response_headers_to_add"),
                                     cfg_obj_path(ctx, o, "response_headers_to_add"), &m->resp_add,
                                     &m->n_resp_add);
    rc = r && !rc ? r : rc;
    r = cfg_translate_headers_to_remove(ctx, cfg_obj_get(o, "response_headers_to_remove"),
                                        cfg_obj_path(ctx, o, "response_headers_to_remove"),
                                        &m->resp_remove, &m->n_resp_remove);
    rc = r && !rc ? r : rc;
    return ctx->oom ? -RM_ENOMEM : rc;
}

/* ---- DataSource ------------------------------------------------------------------------------ */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* proto3 JSON bytes: standard or URL-safe base64, padding optional. Returns the decoded
 * length, or -1 when |s| is not base64. |dst| holds at least (n / 4 + 1) * 3 bytes. */
long cfg_b64_decode(const char *s, size_t n, unsigned char *dst)
{
    while (n && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

static const char *read_file(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                             const char *fname, size_t max, const char *what, size_t *len)
{
    FILE *f = fopen(fname, "rb");
    if (!f) {
        cfg_err_add(ctx->err, n, path, "%s file %s cannot be read: %s", what, fname,
                    strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t got = buf ? fread(buf, 1, max + 1, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    const char *text = NULL;
    if (!buf)
        cfg_oom(ctx);
    else if (bad)
        cfg_err_add(ctx->err, n, path, "%s file %s cannot be read", what, fname);
    else if (got > max)
        cfg_err_add(ctx->err, n, path, "%s file %s size is more than %zu bytes; maximum is %zu",
                    what, fname, max, max);
    else if (!(text = arena_strndup(ctx->arena, buf, got)))
        cfg_oom(ctx);
    else
        *len = got;
    free(buf);
    return text;
}

bool cfg_translate_data_source(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                               size_t max, const char *what, const char **out, size_t *len)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *fname = NULL, *inl = NULL, *bytes = NULL, *env = NULL;
    if (!max)
        max = DATA_SOURCE_MAX;
    if (!cfg_obj_init(ctx, &o, &data_source_msg, n, path, 0))
        return false;
    cfg_f_str(ctx, &o, "filename", &fname);
    cfg_f_str(ctx, &o, "inline_string", &inl);
    cfg_f_str(ctx, &o, "inline_bytes", &bytes);
    cfg_f_str(ctx, &o, "environment_variable", &env);
    if (cfg_errors(ctx) != mark)
        return false;
    int set = (fname != NULL) + (inl != NULL) + (bytes != NULL) + (env != NULL) +
              raw_has(&o, "watched_directory");
    if (set == 0) {
        cfg_err_add(ctx->err, n, path,
                    "one of inline_string, inline_bytes, filename or environment_variable is "
                    "required (oneof specifier)");
        return false;
    }
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of inline_string, inline_bytes, filename and environment_variable "
                    "may be set (oneof specifier)");
        return false;
    }
    const char *data = NULL;
    size_t dlen = 0;
    const char *field = NULL;
    if (fname) {
        if (!fname[0]) {
            cfg_obj_error(ctx, &o, "filename", "filename must not be empty");
            return false;
        }
        data = read_file(ctx, cfg_obj_get(&o, "filename"), cfg_obj_path(ctx, &o, "filename"), fname,
                         max, what, &dlen);
        if (!data)
            return false;
        *out = data;
        *len = dlen;
        return true;
    }
    if (inl) {
        data = inl;
        dlen = strlen(inl);
        field = "inline_string";
    } else if (bytes) {
        unsigned char *buf = arena_alloc(ctx->arena, strlen(bytes) / 4 * 3 + 4);
        if (!buf) {
            cfg_oom(ctx);
            return false;
        }
        long got = cfg_b64_decode(bytes, strlen(bytes), buf);
        if (got < 0) {
            cfg_obj_error(ctx, &o, "inline_bytes", "inline_bytes is not valid base64");
            return false;
        }
        buf[got] = '\0';
        data = (const char *)buf;
        dlen = (size_t)got;
        field = "inline_bytes";
    } else {
        const char *v = env[0] ? getenv(env) : NULL;
        if (!v) {
            cfg_obj_error(ctx, &o, "environment_variable", "environment variable %s is not set",
                          env[0] ? env : "\"\"");
            return false;
        }
        data = cfg_strdup(ctx, v);
        if (!data)
            return false;
        dlen = strlen(v);
        field = "environment_variable";
    }
    if (dlen > max) {
        cfg_obj_error(ctx, &o, field, "%s size is %zu bytes; maximum is %zu", what, dlen, max);
        return false;
    }
    *out = data;
    *len = dlen;
    return true;
}

/* ---- retry policy ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t bit;
} retry_on_tokens[] = {
    {"5xx", RETRY_ON_5XX},
    {"gateway-error", RETRY_ON_GATEWAY_ERROR},
    {"reset", RETRY_ON_RESET},
    {"reset-before-request", RETRY_ON_RESET_BEFORE_REQUEST},
    {"connect-failure", RETRY_ON_CONNECT_FAILURE},
    {"envoy-ratelimited", RETRY_ON_ENVOY_RATELIMITED},
    {"retriable-4xx", RETRY_ON_RETRIABLE_4XX},
    {"refused-stream", RETRY_ON_REFUSED_STREAM},
    {"retriable-status-codes", RETRY_ON_RETRIABLE_STATUS_CODES},
    {"retriable-headers", RETRY_ON_RETRIABLE_HEADERS},
    /* Only HTTP/3 upstreams can fail that way, and Remora has none: no effect. */
    {"http3-post-connect-failure", 0},
};

static const char *const grpc_retry_on[] = {"cancelled", "deadline-exceeded", "internal",
                                            "resource-exhausted", "unavailable"};

/* Envoy's RetryStateImpl::parseRetryOn: a comma list, whitespace trimmed, empty items skipped.
 * Envoy ignores words it does not know; Remora refuses them (a typo would silently disable
 * retries). */
static bool parse_retry_on(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           const char *s, uint32_t *bits)
{
    bool ok = true;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        size_t tl = len;
        while (tl && (s[tl - 1] == ' ' || s[tl - 1] == '\t'))
            tl--;
        if (tl) {
            bool known = false;
            for (size_t i = 0; i < sizeof(retry_on_tokens) / sizeof(retry_on_tokens[0]); i++) {
                if (strlen(retry_on_tokens[i].name) == tl &&
                    memcmp(retry_on_tokens[i].name, s, tl) == 0) {
                    *bits |= retry_on_tokens[i].bit;
                    known = true;
                }
            }
            for (size_t i = 0; !known && i < sizeof(grpc_retry_on) / sizeof(grpc_retry_on[0]);
                 i++) {
                if (strlen(grpc_retry_on[i]) == tl && memcmp(grpc_retry_on[i], s, tl) == 0) {
                    cfg_err_add(ctx->err, n, path,
                                "retry_on \"%.*s\" (a gRPC retry condition) is not supported by "
                                "Remora yet",
                                (int)tl, s);
                    known = true;
                    ok = false;
                }
            }
            if (!known) {
                cfg_err_add(ctx->err, n, path,
                            "unknown retry_on value \"%.*s\" (expected a comma-separated list "
                            "of 5xx, gateway-error, reset, reset-before-request, "
                            "connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, "
                            "retriable-status-codes, retriable-headers)",
                            (int)(tl > 100 ? 100 : tl), s);
                ok = false;
            }
        }
        s += len;
        if (*s == ',')
            s++;
    }
    return ok;
}

static bool host_predicate(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           struct cfg_retry_policy *rp)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *name = NULL;
    if (!cfg_obj_init(ctx, &o, &host_predicate_msg, n, path, 0))
        return false;
    cfg_f_str(ctx, &o, "name", &name);
    const struct vt_node *tc = cfg_obj_get(&o, "typed_config");
    if (cfg_errors(ctx) != mark)
        return false;
    if (tc) {
        struct cfg_any any;
        if (!cfg_val_any(ctx, tc, cfg_obj_path(ctx, &o, "typed_config"), &any))
            return false;
        if (strcmp(any.type_name, PREVIOUS_HOSTS_TYPE) != 0) {
            cfg_err_add(
                ctx->err, tc, cfg_obj_path(ctx, &o, "typed_config"),
                "retry host predicate %s is not supported by Remora yet (only " PREVIOUS_HOSTS_NAME
                ")",
                any.type_name);
            return false;
        }
        struct cfg_obj ph;
        cfg_obj_init(ctx, &ph, &previous_hosts_msg, any.msg, any.path, CFG_OBJ_ANY);
        if (cfg_errors(ctx) != mark)
            return false;
    } else if (!name || strcmp(name, PREVIOUS_HOSTS_NAME) != 0) {
        if (!name || !name[0])
            cfg_obj_error(ctx, &o, "name", "name is required");
        else
            cfg_obj_error(
                ctx, &o, "name",
                "retry host predicate %s is not supported by Remora yet (only " PREVIOUS_HOSTS_NAME
                ")",
                name);
        return false;
    }
    rp->previous_hosts = true;
    return true;
}

static const struct cfg_retry_policy *retry_policy(struct cfg_ctx *ctx, const struct vt_node *n,
                                                   const char *path)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    if (!cfg_obj_init(ctx, &o, &retry_msg, n, path, 0))
        return NULL;
    struct cfg_retry_policy *rp = cfg_alloc(ctx, sizeof(*rp));
    if (!rp)
        return NULL;
    rp->num_retries = 1;
    rp->base_interval_ms = DEFAULT_RETRY_BASE_MS;
    rp->host_selection_retry_max_attempts = 1;

    const char *retry_on = NULL;
    if (cfg_f_str(ctx, &o, "retry_on", &retry_on) && retry_on)
        parse_retry_on(ctx, cfg_obj_get(&o, "retry_on"), cfg_obj_path(ctx, &o, "retry_on"),
                       retry_on, &rp->retry_on);
    cfg_f_u32(ctx, &o, "num_retries", &rp->num_retries);
    cfg_f_duration_ms(ctx, &o, "per_try_timeout", &rp->per_try_timeout_ms);
    cfg_f_duration_ms(ctx, &o, "per_try_idle_timeout", &rp->per_try_idle_timeout_ms);

    const struct vt_node *hs = cfg_obj_get(&o, "host_selection_retry_max_attempts");
    int64_t attempts = 1;
    if (hs && cfg_val_i64(ctx, hs, cfg_obj_path(ctx, &o, "host_selection_retry_max_attempts"),
                          &attempts)) {
        if (attempts < 0 || attempts > UINT32_MAX)
            cfg_obj_error(ctx, &o, "host_selection_retry_max_attempts",
                          "host_selection_retry_max_attempts must be within 0..4294967295");
        else
            rp->host_selection_retry_max_attempts = (uint32_t)attempts;
    }

    const struct vt_node *bo = cfg_obj_get(&o, "retry_back_off");
    if (bo) {
        struct cfg_obj b;
        const char *bpath = cfg_obj_path(ctx, &o, "retry_back_off");
        if (cfg_obj_init(ctx, &b, &back_off_msg, bo, bpath, 0)) {
            struct cfg_duration base = {0, 0}, max = {0, 0};
            const struct vt_node *bn = cfg_obj_get(&b, "base_interval");
            const struct vt_node *mn = cfg_obj_get(&b, "max_interval");
            bool ok = cfg_val_duration(ctx, bn, cfg_obj_path(ctx, &b, "base_interval"), &base) &&
                      cfg_val_duration(ctx, mn, cfg_obj_path(ctx, &b, "max_interval"), &max);
            if (ok && !bn) {
                cfg_err_add(ctx->err, bo, cfg_obj_path(ctx, &b, "base_interval"),
                            "base_interval is required");
            } else if (ok && base.seconds == 0 && base.nanos == 0) {
                cfg_obj_error(ctx, &b, "base_interval", "base_interval must be greater than 0s");
            } else if (ok && mn && max.seconds == 0 && max.nanos == 0) {
                cfg_obj_error(ctx, &b, "max_interval", "max_interval must be greater than 0s");
            } else if (ok) {
                /* Envoy: values below 1 ms are rounded up to 1 ms. */
                uint64_t bms = cfg_duration_to_ms(&base);
                rp->base_interval_ms = bms ? bms : 1;
                rp->max_interval_ms = mn ? cfg_duration_to_ms(&max) : rp->base_interval_ms * 10;
                if (mn && rp->max_interval_ms == 0)
                    rp->max_interval_ms = 1;
                if (rp->max_interval_ms < rp->base_interval_ms)
                    cfg_obj_error(ctx, &b, "max_interval",
                                  "max_interval must be greater than or equal to the "
                                  "base_interval");
            }
        }
    }
    if (!rp->max_interval_ms)
        rp->max_interval_ms = rp->base_interval_ms * 10;

    size_t count;
    if (cfg_f_list(ctx, &o, "retriable_status_codes", &count) && count) {
        const struct vt_node *list = cfg_obj_get(&o, "retriable_status_codes");
        const char *lpath = cfg_obj_path(ctx, &o, "retriable_status_codes");
        rp->retriable_status_codes = cfg_alloc(ctx, count * sizeof(uint32_t));
        if (!rp->retriable_status_codes)
            return NULL;
        for (size_t i = 0; i < count; i++)
            cfg_val_u32(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i),
                        &rp->retriable_status_codes[i]);
        rp->n_retriable_status_codes = count;
    }
    if (cfg_translate_header_matchers(
            ctx, cfg_obj_get(&o, "retriable_headers"), cfg_obj_path(ctx, &o, "retriable_headers"),
            &rp->retriable_headers, &rp->n_retriable_headers) == -RM_ENOMEM)
        return NULL;
    if (cfg_f_list(ctx, &o, "retry_host_predicate", &count) && count) {
        const struct vt_node *list = cfg_obj_get(&o, "retry_host_predicate");
        const char *lpath = cfg_obj_path(ctx, &o, "retry_host_predicate");
        for (size_t i = 0; i < count; i++)
            host_predicate(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), rp);
    }
    return cfg_errors(ctx) == mark ? rp : NULL;
}

/* ---- mirror policies ------------------------------------------------------------------------- */

struct mirror_set {
    struct cfg_mirror_policy *v;
    size_t n;
};

static int mirror_policies(struct cfg_ctx *ctx, const struct vt_node *list, const char *path,
                           struct cfg_cluster_refs *refs, struct mirror_set *out)
{
    size_t count;
    out->v = NULL;
    out->n = 0;
    if (!cfg_val_list(ctx, list, path, &count))
        return -RM_ECONFIG;
    if (!count)
        return 0;
    struct cfg_mirror_policy *arr = cfg_alloc(ctx, count * sizeof(*arr));
    if (!arr)
        return -RM_ENOMEM;
    size_t mark = cfg_errors(ctx);
    for (size_t i = 0; i < count; i++) {
        struct cfg_obj o;
        const char *ipath = cfg_path_idx(ctx, path, i);
        if (!cfg_obj_init(ctx, &o, &mirror_msg, list->list.items[i], ipath, 0))
            continue;
        const char *cluster = NULL;
        if (!nonempty_str(ctx, &o, "cluster", &cluster))
            continue;
        if (!cluster) {
            if (!raw_has(&o, "cluster_header"))
                cfg_err_add(ctx->err, list->list.items[i], cfg_obj_path(ctx, &o, "cluster"),
                            "cluster is required (the cluster requests are mirrored to)");
            continue;
        }
        arr[i].cluster = cluster;
        add_ref(ctx, refs, cluster, CREF_MIRROR, cfg_obj_get(&o, "cluster"),
                cfg_obj_path(ctx, &o, "cluster"));
        const struct vt_node *rf = cfg_obj_get(&o, "runtime_fraction");
        if (rf && cfg_translate_runtime_fraction(ctx, rf, cfg_obj_path(ctx, &o, "runtime_fraction"),
                                                 &arr[i].fraction))
            arr[i].has_fraction = true;
    }
    out->v = arr;
    out->n = count;
    if (ctx->oom)
        return -RM_ENOMEM;
    return cfg_errors(ctx) == mark ? 0 : -RM_ECONFIG;
}

/* ---- route action ---------------------------------------------------------------------------- */

struct vh_scope {
    struct cfg_cluster_refs *refs;
    const struct cfg_retry_policy *retry; /* the vhost's */
    struct mirror_set mirrors;            /* the vhost's, else the route config's */
    uint32_t max_body;
};

static void weighted_clusters(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              const struct vh_scope *vs, struct cfg_route_action *a)
{
    struct cfg_obj o;
    size_t count;
    if (!cfg_obj_init(ctx, &o, &weighted_msg, n, path, 0))
        return;
    const char *prefix = NULL;
    cfg_f_str(ctx, &o, "runtime_key_prefix", &prefix);
    a->runtime_key_prefix = prefix && prefix[0] ? prefix : NULL;
    if (!cfg_f_list(ctx, &o, "clusters", &count))
        return;
    const struct vt_node *list = cfg_obj_get(&o, "clusters");
    const char *lpath = cfg_obj_path(ctx, &o, "clusters");
    if (count == 0) {
        /* PGV min_items 1. */
        cfg_err_add(ctx->err, list ? list : n, lpath, "clusters must have at least one entry");
        return;
    }
    a->weighted = cfg_alloc(ctx, count * sizeof(*a->weighted));
    if (!a->weighted)
        return;
    size_t mark = cfg_errors(ctx);
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        struct cfg_obj w;
        struct cfg_weighted_cluster_http *wc = &a->weighted[i];
        const char *ipath = cfg_path_idx(ctx, lpath, i);
        wc->name = "";
        if (!cfg_obj_init(ctx, &w, &cluster_weight_msg, list->list.items[i], ipath, 0))
            continue;
        const char *name = NULL;
        if (nonempty_str(ctx, &w, "name", &name) && !name && !raw_has(&w, "cluster_header"))
            cfg_err_add(ctx->err, list->list.items[i], cfg_obj_path(ctx, &w, "name"),
                        "name is required (a cluster name)");
        if (name) {
            wc->name = name;
            add_ref(ctx, vs->refs, name, CREF_WEIGHTED, cfg_obj_get(&w, "name"),
                    cfg_obj_path(ctx, &w, "name"));
        }
        cfg_f_u32(ctx, &w, "weight", &wc->weight);
        total += wc->weight;
        mutations(ctx, &w, &wc->mut);
    }
    a->n_weighted = count;
    a->total_weight = total;
    if (cfg_errors(ctx) != mark)
        return;
    if (total == 0)
        cfg_err_add(ctx->err, list, lpath,
                    "Sum of weights in the weighted_cluster must be greater than 0.");
    else if (total > UINT32_MAX)
        cfg_err_add(ctx->err, list, lpath, "The sum of weights of all weighted clusters exceeds %u",
                    UINT32_MAX);
}

/* RegexMatchAndSubstitute for a path rewrite. */
static void regex_rewrite(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                          const struct rm_regex **re, const char **sub)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    if (!cfg_obj_init(ctx, &o, &regex_subst_msg, n, path, 0))
        return;
    const char *s = "";
    cfg_f_str(ctx, &o, "substitution", &s);
    const struct vt_node *pn = cfg_obj_get(&o, "pattern");
    if (cfg_errors(ctx) != mark)
        return;
    if (!pn) {
        cfg_err_add(ctx->err, n, cfg_obj_path(ctx, &o, "pattern"), "pattern is required");
        return;
    }
    const struct rm_regex *r = NULL;
    if (!cfg_translate_regex(ctx, pn, cfg_obj_path(ctx, &o, "pattern"), 0, &r))
        return;
    char err[256];
    if (!value_ok(s)) {
        cfg_obj_error(ctx, &o, "substitution", "substitution must not contain CR or LF");
        return;
    }
    if (rm_regex_check_substitution(r, s, err, sizeof(err)) != 0) {
        cfg_obj_error(ctx, &o, "substitution", "%s", err);
        return;
    }
    *re = r;
    *sub = s;
}

/* RouteAction.upgrade_configs: per-type overrides of the connection manager's list. */
static void route_upgrades(struct cfg_ctx *ctx, const struct cfg_obj *o, struct cfg_route_action *a)
{
    size_t count;
    if (!cfg_f_list(ctx, o, "upgrade_configs", &count) || !count)
        return;
    const struct vt_node *list = cfg_obj_get(o, "upgrade_configs");
    const char *lpath = cfg_obj_path(ctx, o, "upgrade_configs");
    a->upgrades = cfg_alloc(ctx, count * sizeof(*a->upgrades));
    if (!a->upgrades)
        return;
    for (size_t i = 0; i < count; i++) {
        struct cfg_obj u;
        const char *ipath = cfg_path_idx(ctx, lpath, i);
        if (!cfg_obj_init(ctx, &u, &route_upgrade_msg, list->list.items[i], ipath, 0))
            continue;
        struct cfg_route_upgrade *up = &a->upgrades[a->n_upgrades];
        up->type = NULL;
        up->enabled = true;
        up->connect_terminate = false;
        cfg_f_str(ctx, &u, "upgrade_type", &up->type);
        cfg_f_bool(ctx, &u, "enabled", &up->enabled);
        if (!up->type || !up->type[0] || !value_ok(up->type)) {
            cfg_err_add(ctx->err, list->list.items[i], cfg_obj_path(ctx, &u, "upgrade_type"),
                        "upgrade_type is required (a header value such as \"websocket\", or "
                        "\"CONNECT\")");
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < a->n_upgrades; k++)
            dup |= strcasecmp(a->upgrades[k].type, up->type) == 0;
        if (dup) {
            cfg_obj_error(ctx, &u, "upgrade_type", "Duplicate upgrade %s", up->type); /* Envoy */
            continue;
        }
        const struct vt_node *cc = cfg_obj_get(&u, "connect_config");
        if (cc) {
            if (strcmp(up->type, "CONNECT") != 0) {
                cfg_obj_error(ctx, &u, "connect_config",
                              "Non-CONNECT upgrade type %s has ConnectConfig", up->type);
                continue;
            }
            struct cfg_obj c;
            if (cfg_obj_init(ctx, &c, &connect_config_msg, cc,
                             cfg_obj_path(ctx, &u, "connect_config"), 0))
                up->connect_terminate = true;
        }
        a->n_upgrades++;
    }
}

static void route_action(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                         const struct vh_scope *vs, struct cfg_route_action *a)
{
    struct cfg_obj o;
    a->timeout_ms = DEFAULT_ROUTE_TIMEOUT_MS;
    if (!cfg_obj_init(ctx, &o, &route_action_msg, n, path, 0))
        return;

    /* oneof cluster_specifier */
    const struct vt_node *cl = cfg_obj_get(&o, "cluster");
    const struct vt_node *ch = cfg_obj_get(&o, "cluster_header");
    const struct vt_node *wc = cfg_obj_get(&o, "weighted_clusters");
    int set = (cl != NULL) + (ch != NULL) + (wc != NULL) + raw_has(&o, "cluster_specifier_plugin") +
              raw_has(&o, "inline_cluster_specifier_plugin");
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of cluster, cluster_header and weighted_clusters may be set "
                    "(oneof cluster_specifier)");
    } else if (set == 0) {
        cfg_err_add(ctx->err, n, path,
                    "one of cluster, cluster_header or weighted_clusters is required (oneof "
                    "cluster_specifier)");
    } else if (cl) {
        const char *name = NULL;
        if (nonempty_str(ctx, &o, "cluster", &name) && name) {
            a->spec = CSPEC_CLUSTER;
            a->cluster = name;
            add_ref(ctx, vs->refs, name, CREF_ROUTE, cl, cfg_obj_path(ctx, &o, "cluster"));
        }
    } else if (ch) {
        const char *name = NULL;
        if (nonempty_str(ctx, &o, "cluster_header", &name) && name) {
            if (!header_name_ok(name, true))
                cfg_obj_error(ctx, &o, "cluster_header", "invalid header name \"%.200s\"", name);
            a->spec = CSPEC_HEADER;
            a->cluster_header = lower_dup(ctx, name);
        }
    } else if (wc) {
        a->spec = CSPEC_WEIGHTED;
        weighted_clusters(ctx, wc, cfg_obj_path(ctx, &o, "weighted_clusters"), vs, a);
    }

    /* Path rewrites: one of prefix_rewrite, regex_rewrite (path_rewrite_policy refused). */
    const struct vt_node *pr = cfg_obj_get(&o, "prefix_rewrite");
    const struct vt_node *rr = cfg_obj_get(&o, "regex_rewrite");
    if ((pr != NULL) + (rr != NULL) + raw_has(&o, "path_rewrite_policy") > 1) {
        cfg_err_add(ctx->err, rr ? rr : n, path,
                    "Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy");
    } else if (pr) {
        const char *s = NULL;
        if (cfg_f_str(ctx, &o, "prefix_rewrite", &s) && s) {
            if (!value_ok(s))
                cfg_obj_error(ctx, &o, "prefix_rewrite",
                              "prefix_rewrite must not contain CR or LF");
            else
                a->prefix_rewrite = s;
        }
    } else if (rr) {
        regex_rewrite(ctx, rr, cfg_obj_path(ctx, &o, "regex_rewrite"), &a->regex_rewrite,
                      &a->regex_rewrite_substitution);
    }

    /* oneof host_rewrite_specifier */
    const struct vt_node *hl = cfg_obj_get(&o, "host_rewrite_literal");
    const struct vt_node *ah = cfg_obj_get(&o, "auto_host_rewrite");
    if ((hl != NULL) + (ah != NULL) + raw_has(&o, "host_rewrite_header") +
            raw_has(&o, "host_rewrite_path_regex") >
        1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of host_rewrite_literal, auto_host_rewrite, host_rewrite_header and "
                    "host_rewrite_path_regex may be set (oneof host_rewrite_specifier)");
    } else if (hl) {
        const char *s = NULL;
        if (cfg_f_str(ctx, &o, "host_rewrite_literal", &s) && s) {
            if (!value_ok(s))
                cfg_obj_error(ctx, &o, "host_rewrite_literal",
                              "host_rewrite_literal must not contain CR or LF");
            else if (s[0])
                a->host_rewrite_literal = s;
        }
    } else if (ah) {
        cfg_f_bool(ctx, &o, "auto_host_rewrite", &a->auto_host_rewrite);
    }

    cfg_f_duration_ms(ctx, &o, "timeout", &a->timeout_ms);
    if (cfg_obj_get(&o, "idle_timeout") &&
        cfg_f_duration_ms(ctx, &o, "idle_timeout", &a->idle_timeout_ms))
        a->has_idle_timeout = true;

    /* A route retry policy replaces the vhost's entirely (Envoy: not merged). */
    const struct vt_node *rp = cfg_obj_get(&o, "retry_policy");
    a->retry = rp ? retry_policy(ctx, rp, cfg_obj_path(ctx, &o, "retry_policy")) : vs->retry;

    struct mirror_set ms;
    mirror_policies(ctx, cfg_obj_get(&o, "request_mirror_policies"),
                    cfg_obj_path(ctx, &o, "request_mirror_policies"), vs->refs, &ms);
    if (ms.n == 0)
        ms = vs->mirrors; /* the most specific non-empty list wins */
    a->mirrors = ms.v;
    a->n_mirrors = ms.n;
    route_upgrades(ctx, &o, a);
}

/* ---- redirect and direct response ------------------------------------------------------------ */

static void redirect_action(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                            struct cfg_redirect *r)
{
    struct cfg_obj o;
    r->response_code = 301;
    if (!cfg_obj_init(ctx, &o, &redirect_msg, n, path, 0))
        return;
    const struct vt_node *hr = cfg_obj_get(&o, "https_redirect");
    const struct vt_node *sr = cfg_obj_get(&o, "scheme_redirect");
    if (hr && sr) {
        cfg_err_add(ctx->err, n, path,
                    "only one of https_redirect and scheme_redirect may be set (oneof "
                    "scheme_rewrite_specifier)");
    } else if (hr) {
        bool https = false;
        if (cfg_f_bool(ctx, &o, "https_redirect", &https) && https)
            r->scheme = "https";
    } else if (sr) {
        const char *s = NULL;
        if (cfg_f_str(ctx, &o, "scheme_redirect", &s) && s && s[0]) {
            bool ok = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
            for (const char *p = s; *p && ok; p++)
                ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.';
            if (!ok)
                cfg_obj_error(ctx, &o, "scheme_redirect", "invalid scheme \"%.100s\"", s);
            else
                r->scheme = lower_dup(ctx, s); /* schemes are case-insensitive (RFC 3986) */
        }
    }
    const char *host = NULL;
    if (cfg_f_str(ctx, &o, "host_redirect", &host) && host && host[0]) {
        if (!value_ok(host) || strpbrk(host, " /?#"))
            cfg_obj_error(ctx, &o, "host_redirect", "invalid host \"%.200s\"", host);
        else
            r->host = host;
    }
    uint32_t port = 0;
    if (cfg_f_u32(ctx, &o, "port_redirect", &port)) {
        if (port > 65535)
            cfg_obj_error(ctx, &o, "port_redirect", "port_redirect %u is not a port (1..65535)",
                          port);
        else
            r->port = port;
    }
    const struct vt_node *pth = cfg_obj_get(&o, "path_redirect");
    const struct vt_node *pfx = cfg_obj_get(&o, "prefix_rewrite");
    if ((pth != NULL) + (pfx != NULL) + raw_has(&o, "regex_rewrite") > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of path_redirect, prefix_rewrite and regex_rewrite may be set "
                    "(oneof path_rewrite_specifier)");
    } else if (pth || pfx) {
        const char *field = pth ? "path_redirect" : "prefix_rewrite";
        const char *s = NULL;
        if (cfg_f_str(ctx, &o, field, &s) && s) {
            if (!value_ok(s) || strchr(s, ' '))
                cfg_obj_error(ctx, &o, field, "invalid %s \"%.200s\"", field, s);
            else if (pth && s[0])
                r->path = s;
            else if (pfx)
                r->prefix_rewrite = s;
        }
    }
    int code = 0;
    if (cfg_f_enum(ctx, &o, "response_code", &redirect_code_enum, &code))
        r->response_code = redirect_status[code];
    cfg_f_bool(ctx, &o, "strip_query", &r->strip_query);
}

static void direct_response(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                            uint32_t max_body, struct cfg_direct_response *d)
{
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &direct_msg, n, path, 0))
        return;
    uint32_t status = 0;
    const struct vt_node *sn = cfg_obj_get(&o, "status");
    if (cfg_f_u32(ctx, &o, "status", &status)) {
        if (status < 200 || status > 599)
            cfg_err_add(ctx->err, sn ? sn : n, cfg_obj_path(ctx, &o, "status"),
                        "status %u is out of range: must be within [200, 600)", status);
        else
            d->status = (int)status;
    }
    const struct vt_node *body = cfg_obj_get(&o, "body");
    if (body) {
        const char *b;
        size_t len;
        if (cfg_translate_data_source(ctx, body, cfg_obj_path(ctx, &o, "body"), max_body,
                                      "response body", &b, &len)) {
            d->body = b;
            d->body_len = len;
        }
    }
}

/* ---- route ----------------------------------------------------------------------------------- */

static void route_match(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                        struct cfg_route_match *m)
{
    static const char *const specs[] = {"prefix", "path", "safe_regex", "path_separated_prefix"};
    struct cfg_obj o;
    m->case_sensitive = true;
    if (!cfg_obj_init(ctx, &o, &route_match_msg, n, path, 0))
        return;
    int set = raw_has(&o, "connect_matcher") + raw_has(&o, "path_match_policy");
    const char *spec = NULL;
    for (size_t i = 0; i < 4; i++) {
        if (cfg_obj_get(&o, specs[i])) {
            set++;
            spec = specs[i];
        }
    }
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of prefix, path, safe_regex, path_separated_prefix, "
                    "connect_matcher and path_match_policy may be set (oneof path_specifier)");
    } else if (set == 0) {
        cfg_err_add(ctx->err, n, path,
                    "one of prefix, path, safe_regex, path_separated_prefix or connect_matcher is "
                    "required (oneof path_specifier)");
    } else if (!spec && raw_has(&o, "connect_matcher")) {
        struct cfg_obj cm;
        m->kind = PATHM_CONNECT;
        cfg_obj_init(ctx, &cm, &connect_matcher_msg, cfg_obj_get(&o, "connect_matcher"),
                     cfg_obj_path(ctx, &o, "connect_matcher"), 0);
    } else if (spec && strcmp(spec, "safe_regex") == 0) {
        m->kind = PATHM_SAFE_REGEX;
        cfg_translate_regex(ctx, cfg_obj_get(&o, "safe_regex"), cfg_obj_path(ctx, &o, "safe_regex"),
                            RM_REGEX_FULL, &m->regex);
    } else if (spec) {
        const char *v = NULL;
        m->kind = spec[0] == 'p' && spec[1] == 'r' ? PATHM_PREFIX
                  : strcmp(spec, "path") == 0      ? PATHM_PATH
                                                   : PATHM_PATH_SEPARATED_PREFIX;
        if (cfg_f_str(ctx, &o, spec, &v) && v) {
            m->value = v;
            m->len = strlen(v);
            if (!value_ok(v))
                cfg_obj_error(ctx, &o, spec, "%s must not contain CR or LF", spec);
            if (m->kind == PATHM_PATH_SEPARATED_PREFIX &&
                (m->len < 2 || strpbrk(v, "?#") || v[m->len - 1] == '/'))
                /* PGV pattern ^[^?#]+[^?#/]$ */
                cfg_obj_error(ctx, &o, spec,
                              "path_separated_prefix \"%.200s\" must not contain '?' or '#' "
                              "and must not end with '/'",
                              v);
        }
    }
    cfg_f_bool(ctx, &o, "case_sensitive", &m->case_sensitive);
    const struct vt_node *rf = cfg_obj_get(&o, "runtime_fraction");
    if (rf && cfg_translate_runtime_fraction(ctx, rf, cfg_obj_path(ctx, &o, "runtime_fraction"),
                                             &m->runtime_fraction))
        m->has_runtime_fraction = true;
    cfg_translate_header_matchers(ctx, cfg_obj_get(&o, "headers"), cfg_obj_path(ctx, &o, "headers"),
                                  &m->headers, &m->n_headers);
    size_t count;
    if (cfg_f_list(ctx, &o, "query_parameters", &count) && count) {
        const struct vt_node *list = cfg_obj_get(&o, "query_parameters");
        const char *lpath = cfg_obj_path(ctx, &o, "query_parameters");
        m->query = cfg_alloc(ctx, count * sizeof(*m->query));
        if (!m->query)
            return;
        for (size_t i = 0; i < count; i++)
            query_matcher(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), &m->query[i]);
        m->n_query = count;
    }
}

static void route(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                  const struct vh_scope *vs, struct cfg_route *r)
{
    struct cfg_obj o;
    r->name = "";
    if (!cfg_obj_init(ctx, &o, &route_msg, n, path, 0))
        return;
    cfg_f_str(ctx, &o, "name", &r->name);
    const struct vt_node *m = cfg_obj_get(&o, "match");
    if (!m)
        cfg_err_add(ctx->err, n, cfg_obj_path(ctx, &o, "match"), "match is required");
    else
        route_match(ctx, m, cfg_obj_path(ctx, &o, "match"), &r->match);

    const struct vt_node *fw = cfg_obj_get(&o, "route");
    const struct vt_node *rd = cfg_obj_get(&o, "redirect");
    const struct vt_node *dr = cfg_obj_get(&o, "direct_response");
    int set = (fw != NULL) + (rd != NULL) + (dr != NULL) + raw_has(&o, "filter_action") +
              raw_has(&o, "non_forwarding_action");
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of route, redirect and direct_response may be set (oneof action)");
    } else if (set == 0) {
        cfg_err_add(ctx->err, n, path,
                    "a route needs an action: one of route, redirect or direct_response is "
                    "required (oneof action)");
    } else if (fw) {
        r->kind = ROUTE_FORWARD;
        route_action(ctx, fw, cfg_obj_path(ctx, &o, "route"), vs, &r->action);
    } else if (rd) {
        r->kind = ROUTE_REDIRECT;
        redirect_action(ctx, rd, cfg_obj_path(ctx, &o, "redirect"), &r->redirect);
    } else if (dr) {
        r->kind = ROUTE_DIRECT;
        direct_response(ctx, dr, cfg_obj_path(ctx, &o, "direct_response"), vs->max_body,
                        &r->direct);
    }
    mutations(ctx, &o, &r->mut);
}

/* ---- virtual hosts --------------------------------------------------------------------------- */

static void vhost(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                  const struct vh_scope *rc_scope, struct cfg_vhost *vh)
{
    struct cfg_obj o;
    vh->name = "";
    if (!cfg_obj_init(ctx, &o, &vhost_msg, n, path, 0))
        return;
    const char *name = NULL;
    cfg_f_str(ctx, &o, "name", &name);
    if (!name || !name[0])
        cfg_err_add(ctx->err, cfg_obj_get(&o, "name") ? cfg_obj_get(&o, "name") : n,
                    cfg_obj_path(ctx, &o, "name"), "name is required (a non-empty string)");
    else
        vh->name = name;
    cfg_f_bool(ctx, &o, "include_request_attempt_count", &vh->include_request_attempt_count);
    cfg_f_bool(ctx, &o, "include_attempt_count_in_response",
               &vh->include_attempt_count_in_response);

    size_t count;
    if (cfg_f_list(ctx, &o, "domains", &count)) {
        const struct vt_node *list = cfg_obj_get(&o, "domains");
        const char *lpath = cfg_obj_path(ctx, &o, "domains");
        if (count == 0) {
            /* PGV min_items 1. */
            cfg_err_add(ctx->err, list ? list : n, lpath,
                        "domains must have at least one entry (use \"*\" to match any host)");
        } else {
            vh->domains = cfg_alloc(ctx, count * sizeof(*vh->domains));
            if (!vh->domains)
                return;
            for (size_t i = 0; i < count; i++) {
                const struct vt_node *item = list->list.items[i];
                const char *ipath = cfg_path_idx(ctx, lpath, i);
                const char *d = NULL;
                /* Refused entries stay NULL until check_domains() has used the indexes
                 * for positions; compact_domains() then closes the gaps. */
                if (!cfg_val_str(ctx, item, ipath, &d))
                    continue;
                if (!d) {
                    cfg_err_add(ctx->err, item, ipath, "expected a domain, got null");
                    continue;
                }
                bool ctl = false;
                for (const char *p = d; *p; p++)
                    ctl |= (unsigned char)*p < 0x20 || *p == 0x7f;
                if (ctl) {
                    cfg_err_add(ctx->err, item, ipath, "domains cannot contain control characters");
                    continue;
                }
                vh->domains[i] = lower_dup(ctx, d);
            }
            vh->n_domains = count;
        }
    }

    struct vh_scope vs = *rc_scope;
    const struct vt_node *rp = cfg_obj_get(&o, "retry_policy");
    if (rp)
        vs.retry = vh->retry = retry_policy(ctx, rp, cfg_obj_path(ctx, &o, "retry_policy"));
    struct mirror_set ms;
    mirror_policies(ctx, cfg_obj_get(&o, "request_mirror_policies"),
                    cfg_obj_path(ctx, &o, "request_mirror_policies"), rc_scope->refs, &ms);
    if (ms.n)
        vs.mirrors = ms;

    if (cfg_f_list(ctx, &o, "routes", &count) && count) {
        const struct vt_node *list = cfg_obj_get(&o, "routes");
        const char *lpath = cfg_obj_path(ctx, &o, "routes");
        vh->routes = cfg_alloc(ctx, count * sizeof(*vh->routes));
        if (!vh->routes)
            return;
        for (size_t i = 0; i < count; i++)
            route(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), &vs, &vh->routes[i]);
        vh->n_routes = count;
    }
    mutations(ctx, &o, &vh->mut);
}

/* ---- domain uniqueness (Envoy's RouteMatcher constructor)
 * ---------------------------------------- */

struct dom_slot {
    const char *d; /* NULL = empty */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void check_domains(struct cfg_ctx *ctx, const struct vt_node *list, const char *path,
                          const struct cfg_route_config *rc)
{
    size_t total = 0;
    for (size_t i = 0; i < rc->n_vhosts; i++)
        total += rc->vhosts[i].n_domains;
    if (!total)
        return;
    size_t cap = 16;
    while (cap < total * 2)
        cap *= 2;
    struct dom_slot *tab = arena_zalloc(&ctx->scratch, cap * sizeof(*tab));
    if (!tab) {
        cfg_oom(ctx);
        return;
    }
    bool star = false;
    for (size_t i = 0; i < rc->n_vhosts; i++) {
        const struct cfg_vhost *vh = &rc->vhosts[i];
        const struct vt_node *vn = list->list.items[i];
        const struct vt_node *dl = vt_map_get(vn, "domains");
        const char *vpath = cfg_path(ctx, cfg_path_idx(ctx, path, i), "domains");
        for (size_t j = 0; j < vh->n_domains; j++) {
            const char *d = vh->domains[j];
            if (!d)
                continue;
            const struct vt_node *at =
                dl && dl->kind == VT_LIST && j < dl->list.n ? dl->list.items[j] : vn;
            if (strcmp(d, "*") == 0) {
                if (star)
                    cfg_err_add(ctx->err, at, cfg_path_idx(ctx, vpath, j),
                                "Only a single wildcard domain is permitted in route %s", rc->name);
                star = true;
                continue;
            }
            size_t k = (size_t)fnv1a(d) & (cap - 1);
            while (tab[k].d && strcmp(tab[k].d, d) != 0)
                k = (k + 1) & (cap - 1);
            if (tab[k].d) {
                cfg_err_add(ctx->err, at, cfg_path_idx(ctx, vpath, j),
                            "Only unique values for domains are permitted. Duplicate entry of "
                            "domain %s in route %s",
                            d, rc->name);
                continue;
            }
            tab[k].d = d;
        }
    }
}

static void compact_domains(struct cfg_route_config *rc)
{
    for (size_t i = 0; i < rc->n_vhosts; i++) {
        struct cfg_vhost *vh = &rc->vhosts[i];
        size_t k = 0;
        for (size_t j = 0; j < vh->n_domains; j++)
            if (vh->domains[j])
                vh->domains[k++] = vh->domains[j];
        vh->n_domains = k;
    }
}

/* ---- route configuration --------------------------------------------------------------------- */

static bool mut_nonempty(const struct cfg_header_mutations *m)
{
    return m->n_req_add || m->n_req_remove || m->n_resp_add || m->n_resp_remove;
}

int cfg_translate_route_config(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                               struct cfg_route_config **out, bool *validate_clusters,
                               struct cfg_cluster_refs *refs)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    *out = NULL;
    if (!cfg_obj_init(ctx, &o, &route_config_msg, n, path, 0))
        return -RM_ECONFIG;
    struct cfg_route_config *rc = cfg_alloc(ctx, sizeof(*rc));
    if (!rc)
        return -RM_ENOMEM;
    rc->name = "";
    cfg_f_str(ctx, &o, "name", &rc->name);
    cfg_f_bool(ctx, &o, "most_specific_header_mutations_wins",
               &rc->most_specific_header_mutations_wins);
    cfg_f_bool(ctx, &o, "ignore_port_in_host_matching", &rc->ignore_port_in_host_matching);
    bool validate = true; /* Envoy's default for a route table given inline */
    cfg_f_bool(ctx, &o, "validate_clusters", &validate);
    if (validate_clusters)
        *validate_clusters = validate;

    struct vh_scope scope = {.refs = refs, .max_body = DEFAULT_MAX_DIRECT_BODY};
    cfg_f_u32(ctx, &o, "max_direct_response_body_size_bytes", &scope.max_body);
    mirror_policies(ctx, cfg_obj_get(&o, "request_mirror_policies"),
                    cfg_obj_path(ctx, &o, "request_mirror_policies"), refs, &scope.mirrors);

    size_t count;
    if (cfg_f_list(ctx, &o, "virtual_hosts", &count) && count) {
        const struct vt_node *list = cfg_obj_get(&o, "virtual_hosts");
        const char *lpath = cfg_obj_path(ctx, &o, "virtual_hosts");
        rc->vhosts = cfg_alloc(ctx, count * sizeof(*rc->vhosts));
        if (!rc->vhosts)
            return -RM_ENOMEM;
        for (size_t i = 0; i < count; i++)
            vhost(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), &scope, &rc->vhosts[i]);
        rc->n_vhosts = count;
        if (!ctx->oom)
            check_domains(ctx, list, lpath, rc);
        compact_domains(rc);
    }
    mutations(ctx, &o, &rc->mut);
    if (ctx->oom)
        return -RM_ENOMEM;
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    /* Whether any level above the weighted cluster mutates headers, per route (the router
     * then skips the whole walk in the common case). */
    for (size_t v = 0; v < rc->n_vhosts; v++) {
        struct cfg_vhost *vh = &rc->vhosts[v];
        for (size_t r = 0; r < vh->n_routes; r++) {
            struct cfg_route *rt = &vh->routes[r];
            rt->mut_any =
                mut_nonempty(&rt->mut) || mut_nonempty(&vh->mut) || mut_nonempty(&rc->mut);
        }
    }
    *out = rc;
    return 0;
}
