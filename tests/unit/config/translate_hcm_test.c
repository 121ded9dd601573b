/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/config/translate_hcm_test.c — the HTTP connection manager's config: hcm_config_new()
 * on YAML typed_configs (config/translate_hcm.c, config/translate_route.c, the router's
 * parser) and hcm_config_check() against a bootstrap with clusters c1, c2 and shadow. The happy
 * path is a typical front-proxy config with every supported field, checked value by value,
 * then Envoy's defaults; every error test asserts the complete list of messages with
 * file:line:col and field path. Fixtures carry their line numbers as comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/err.h"
#include "config/model_http.h"
#include "config/snapshot.h"
#include "config/translate.h"
#include "config/value.h"
#include "filters/filter.h"
#include "filters/network/http_connection_manager.h"
#include "proxy/err.h"
#include "proxy/regex.h"

#define HCM_URL                                                                                    \
    "type.googleapis.com/"                                                                         \
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#define ROUTER_URL "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"

/* ---- harness --------------------------------------------------------------------------------- */

struct run {
    struct arena arena; /* the "snapshot" arena: model objects */
    struct vt_doc *doc;
    struct cfg_err err;
    struct cfg_bootstrap bs;
    struct cfg_cluster clusters[3];
    const struct cfg_hcm *hcm;
    int rc;
};

/* Translates |yaml| as an HttpConnectionManager typed_config at path "typed_config", then
 * runs the deferred cluster check when the translation succeeded (as a listener load does). */
static struct run *run(const char *yaml)
{
    struct run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    arena_init(&r->arena, 0);
    cfg_err_init(&r->err);
    r->clusters[0].name = "c1";
    r->clusters[1].name = "c2";
    r->clusters[2].name = "shadow";
    r->bs.clusters = r->clusters;
    r->bs.n_clusters = 3;
    assert_int_equal(vt_parse_string("hcm.yaml", yaml, strlen(yaml), &r->doc, &r->err), 0);
    struct cfg_ctx ctx;
    cfg_ctx_init(&ctx, &r->arena, &r->err, &r->bs);
    const void *out = NULL;
    r->rc = hcm_config_new(&ctx, r->doc->root, "typed_config", &out);
    if (r->rc == 0) {
        ctx.check_node = r->doc->root;
        hcm_config_check(&ctx, out, "typed_config");
        if (r->err.n_errors)
            r->rc = -RM_ECONFIG;
    }
    cfg_ctx_fini(&ctx);
    r->hcm = out;
    return r;
}

static void run_free(struct run *r)
{
    vt_doc_free(r->doc);
    cfg_err_fini(&r->err);
    arena_fini(&r->arena);
    free(r);
}

static void dump(const struct cfg_err *err)
{
    fprintf(stderr, "---- %zu error(s), %zu warning(s):\n", err->n_errors, err->n_warnings);
    cfg_err_print(err, stderr);
}

/* Asserts that the messages of severity |sev| are exactly |want| (in order). */
static void assert_msgs(const struct cfg_err *err, enum cfg_sev sev, const char *const *want,
                        size_t n_want)
{
    size_t k = 0;
    bool ok = true;
    for (size_t i = 0; i < err->n; i++) {
        if (err->msgs[i].sev != sev)
            continue;
        if (k >= n_want || strcmp(err->msgs[i].text, want[k]) != 0) {
            fprintf(stderr, "message %zu:\n  got:  %s\n  want: %s\n", k, err->msgs[i].text,
                    k < n_want ? want[k] : "(nothing)");
            ok = false;
        }
        k++;
    }
    if (k != n_want) {
        fprintf(stderr, "got %zu message(s), want %zu\n", k, n_want);
        ok = false;
    }
    if (!ok)
        dump(err);
    assert_true(ok);
}

/* Translates |yaml| and asserts success without errors or warnings. */
static struct run *ok(const char *yaml)
{
    struct run *r = run(yaml);
    if (r->rc != 0 || r->err.n)
        dump(&r->err);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->err.n, 0);
    assert_non_null(r->hcm);
    return r;
}

static void expect_errors_n(const char *yaml, const char *const *want, size_t n)
{
    struct run *r = run(yaml);
    if (r->rc != -RM_ECONFIG)
        dump(&r->err);
    assert_int_equal(r->rc, -RM_ECONFIG);
    assert_msgs(&r->err, CFG_ERROR, want, n);
    run_free(r);
}

#define expect_errors(yaml, ...)                                                                   \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        expect_errors_n((yaml), want_, sizeof(want_) / sizeof(want_[0]));                          \
    } while (0)

static void expect_warnings_n(const char *yaml, const char *const *want, size_t n)
{
    struct run *r = run(yaml);
    if (r->rc != 0)
        dump(&r->err);
    assert_int_equal(r->rc, 0);
    assert_msgs(&r->err, CFG_WARNING, want, n);
    run_free(r);
}

#define expect_warnings(yaml, ...)                                                                 \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        expect_warnings_n((yaml), want_, sizeof(want_) / sizeof(want_[0]));                        \
    } while (0)

/* The first 8 lines of most fixtures: a connection manager with the router and one vhost
 * whose routes start on line 9. */
#define HEAD                                                                                       \
    /* 1 */ "\"@type\": " HCM_URL "\n" /* 2 */ "stat_prefix: s\n"                  /* 3 */         \
            "http_filters: [ { name: envoy.filters.http.router } ]\n"              /* 4 */         \
            "route_config:\n" /* 5 */ "  virtual_hosts:\n" /* 6 */ "  - name: v\n" /* 7 */         \
            "    domains: [\"*\"]\n" /* 8 */ "    routes:\n"

#define R0 "typed_config.route_config.virtual_hosts[0].routes[0]"

/* ---- happy path: a front proxy with every supported field ------------------------------------ */

/* clang-format off */
static const char FRONT[] =
    /*  1 */ "\"@type\": " HCM_URL "\n"
    /*  2 */ "stat_prefix: ingress_http\n"
    /*  3 */ "codec_type: HTTP1\n"
    /*  4 */ "use_remote_address: true\n"
    /*  5 */ "xff_num_trusted_hops: 2\n"
    /*  6 */ "skip_xff_append: true\n"
    /*  7 */ "generate_request_id: false\n"
    /*  8 */ "preserve_external_request_id: true\n"
    /*  9 */ "always_set_request_id_in_response: true\n"
    /* 10 */ "server_name: edge\n"
    /* 11 */ "server_header_transformation: APPEND_IF_ABSENT\n"
    /* 12 */ "maxRequestHeadersKb: 96\n"
    /* 13 */ "normalize_path: true\n"
    /* 14 */ "merge_slashes: true\n"
    /* 15 */ "path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT\n"
    /* 16 */ "stream_idle_timeout: 60s\n"
    /* 17 */ "request_timeout: 30s\n"
    /* 18 */ "request_headers_timeout: 5s\n"
    /* 19 */ "drain_timeout: 2s\n"
    /* 20 */ "delayed_close_timeout: 0.5s\n"
    /* 21 */ "common_http_protocol_options:\n"
    /* 22 */ "  idle_timeout: 120s\n"
    /* 23 */ "  max_connection_duration: 600s\n"
    /* 24 */ "  max_headers_count: 64\n"
    /* 25 */ "  max_requests_per_connection: 1000\n"
    /* 26 */ "  headers_with_underscores_action: REJECT_REQUEST\n"
    /* 27 */ "http_protocol_options:\n"
    /* 28 */ "  accept_http_10: true\n"
    /* 29 */ "  default_host_for_http_10: legacy.local\n"
    /* 30 */ "  allow_absolute_url: false\n"
    /* 31 */ "access_log:\n"
    /* 32 */ "- name: envoy.access_loggers.stdout\n"
    /* 33 */ "  typed_config:\n"
    /* 34 */ "    \"@type\":"
             " type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog\n"
    /* 35 */ "http_filters:\n"
    /* 36 */ "- name: envoy.filters.http.router\n"
    /* 37 */ "  typed_config:\n"
    /* 38 */ "    \"@type\": " ROUTER_URL "\n"
    /* 39 */ "    suppress_envoy_headers: true\n"
    /* 40 */ "    respect_expected_rq_timeout: true\n"
    /* 41 */ "    dynamic_stats: false\n"
    /* 42 */ "route_config:\n"
    /* 43 */ "  name: local_route\n"
    /* 44 */ "  most_specific_header_mutations_wins: true\n"
    /* 45 */ "  request_headers_to_add:\n"
    /* 46 */ "  - header: { key: X-Client, value: \"%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%\" }\n"
    /* 47 */ "    append_action: OVERWRITE_IF_EXISTS_OR_ADD\n"
    /* 48 */ "  - header: { key: x-static, value: \"100%% done\" }\n"
    /* 49 */ "    append_action: OVERWRITE_IF_EXISTS\n"
    /* 50 */ "    keep_empty_value: true\n"
    /* 51 */ "  response_headers_to_remove: [X-Internal]\n"
    /* 52 */ "  request_mirror_policies: [ { cluster: shadow } ]\n"
    /* 53 */ "  virtual_hosts:\n"
    /* 54 */ "  - name: backend\n"
    /* 55 */ "    domains: [Example.com, \"*.example.com\", \"example.com:8080\"]\n"
    /* 56 */ "    retry_policy: { retry_on: \"5xx,reset\", num_retries: 3 }\n"
    /* 57 */ "    response_headers_to_add: [ { header: { key: x-vh, value: \"1\" },"
             " append_action: ADD_IF_ABSENT } ]\n"
    /* 58 */ "    routes:\n"
    /* 59 */ "    - name: api\n"
    /* 60 */ "      match:\n"
    /* 61 */ "        prefix: /api/\n"
    /* 62 */ "        case_sensitive: false\n"
    /* 63 */ "        headers: [ { name: X-Tenant, string_match: { prefix: t- } } ]\n"
    /* 64 */ "        query_parameters: [ { name: v, string_match: { exact: \"2\" } } ]\n"
    /* 65 */ "      route:\n"
    /* 66 */ "        cluster: c1\n"
    /* 67 */ "        prefix_rewrite: /\n"
    /* 68 */ "        timeout: 5s\n"
    /* 69 */ "        idle_timeout: 30s\n"
    /* 70 */ "        host_rewrite_literal: api.internal\n"
    /* 71 */ "        retry_policy:\n"
    /* 72 */ "          retry_on: \"gateway-error, connect-failure,retriable-status-codes,\"\n"
    /* 73 */ "          num_retries: 2\n"
    /* 74 */ "          per_try_timeout: 1s\n"
    /* 75 */ "          per_try_idle_timeout: 0.5s\n"
    /* 76 */ "          retry_back_off: { base_interval: 0.1s, max_interval: 2s }\n"
    /* 77 */ "          retriable_status_codes: [503, 429]\n"
    /* 78 */ "          retry_host_predicate:\n"
    /* 79 */ "          - name: envoy.retry_host_predicates.previous_hosts\n"
    /* 80 */ "            typed_config: { \"@type\":"
             " type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3."
             "PreviousHostsPredicate }\n"
    /* 81 */ "          host_selection_retry_max_attempts: 3\n"
    /* 82 */ "          retriable_headers: [ { name: x-retry, present_match: true } ]\n"
    /* 83 */ "        request_mirror_policies:\n"
    /* 84 */ "        - cluster: shadow\n"
    /* 85 */ "          runtime_fraction: { default_value: { numerator: 10, denominator:"
             " TEN_THOUSAND }, runtime_key: mirror.api }\n"
    /* 86 */ "      request_headers_to_remove: [x-debug]\n"
    /* 87 */ "    - name: canary\n"
    /* 88 */ "      match:\n"
    /* 89 */ "        prefix: /\n"
    /* 90 */ "        runtime_fraction: { default_value: { numerator: 5 }, runtime_key:"
             " canary.on }\n"
    /* 91 */ "      route:\n"
    /* 92 */ "        weighted_clusters:\n"
    /* 93 */ "          runtime_key_prefix: canary\n"
    /* 94 */ "          clusters:\n"
    /* 95 */ "          - name: c1\n"
    /* 96 */ "            weight: 90\n"
    /* 97 */ "            request_headers_to_add: [ { header: { key: x-version, value: v1 } } ]\n"
    /* 98 */ "          - { name: c2, weight: 10, response_headers_to_remove: [x-v2] }\n"
    /* 99 */ "    - name: legacy\n"
    /* 100 */ "      match: { path: /old }\n"
    /* 101 */ "      redirect: { https_redirect: true, host_redirect: new.example.com,"
              " port_redirect: 8443, path_redirect: /new, response_code: FOUND, strip_query:"
              " true }\n"
    /* 102 */ "    - name: health\n"
    /* 103 */ "      match: { path: /healthz }\n"
    /* 104 */ "      direct_response: { status: 200, body: { inline_string: \"ok\\n\" } }\n"
    /* 105 */ "    - name: users\n"
    /* 106 */ "      match: { safe_regex: { regex: \"/users/[0-9]+\" } }\n"
    /* 107 */ "      route:\n"
    /* 108 */ "        cluster_header: X-Target-Cluster\n"
    /* 109 */ "        regex_rewrite: { pattern: { regex: \"^/users/([0-9]+)$\" }, substitution:"
              " \"/u/\\\\1\" }\n"
    /* 110 */ "        auto_host_rewrite: true\n"
    /* 111 */ "        timeout: 0s\n"
    /* 112 */ "    - name: sep\n"
    /* 113 */ "      match: { path_separated_prefix: /v2/items }\n"
    /* 114 */ "      direct_response: { status: 503, body: { inline_bytes: \"b3Zlcg==\" } }\n"
    /* 115 */ "  - name: fallback\n"
    /* 116 */ "    domains: [\"*\"]\n"
    /* 117 */ "    routes: [ { match: { prefix: / }, direct_response: { status: 404 } } ]\n";
/* clang-format on */

static void test_front_proxy(void **state)
{
    (void)state;
    struct run *r = ok(FRONT);
    const struct cfg_hcm *h = r->hcm;
    assert_string_equal(h->stat_prefix, "ingress_http");
    assert_int_equal(h->codec_type, CODEC_HTTP1);
    assert_true(h->use_remote_address);
    assert_int_equal(h->xff_num_trusted_hops, 2);
    assert_true(h->skip_xff_append);
    assert_false(h->generate_request_id);
    assert_true(h->preserve_external_request_id);
    assert_true(h->always_set_request_id_in_response);
    assert_string_equal(h->server_name, "edge");
    assert_int_equal(h->server_header_transformation, SERVER_HDR_APPEND_IF_ABSENT);
    assert_int_equal(h->max_request_headers_kb, 96);
    assert_true(h->normalize_path);
    assert_true(h->merge_slashes);
    assert_int_equal(h->path_with_escaped_slashes_action, ESC_SLASHES_UNESCAPE_AND_REDIRECT);
    assert_int_equal(h->stream_idle_timeout_ms, 60000);
    assert_int_equal(h->request_timeout_ms, 30000);
    assert_int_equal(h->request_headers_timeout_ms, 5000);
    assert_int_equal(h->drain_timeout_ms, 2000);
    assert_int_equal(h->delayed_close_timeout_ms, 500);
    assert_int_equal(h->idle_timeout_ms, 120000);
    assert_int_equal(h->max_connection_duration_ms, 600000);
    assert_int_equal(h->max_headers_count, 64);
    assert_int_equal(h->max_requests_per_connection, 1000);
    assert_int_equal(h->headers_with_underscores_action, UNDERSCORES_REJECT_REQUEST);
    assert_true(h->accept_http_10);
    assert_string_equal(h->default_host_for_http_10, "legacy.local");
    assert_false(h->allow_absolute_url);
    assert_int_equal(h->n_access_logs, 1);
    assert_int_equal(h->access_logs[0].sink, ALOG_SINK_STDOUT);

    /* filters: the router, found by type, with its config */
    assert_int_equal(h->n_filters, 1);
    assert_string_equal(h->filters[0].name, "envoy.filters.http.router");
    assert_ptr_equal(h->filters[0].def, filter_find_http(ROUTER_URL, NULL));
    assert_ptr_equal(h->router, h->filters[0].config);
    assert_true(h->router->suppress_envoy_headers);
    assert_true(h->router->respect_expected_rq_timeout);

    /* route configuration */
    const struct cfg_route_config *rc = h->route_config;
    assert_string_equal(rc->name, "local_route");
    assert_true(rc->most_specific_header_mutations_wins);
    assert_int_equal(rc->mut.n_req_add, 2);
    assert_string_equal(rc->mut.req_add[0].key, "x-client");
    assert_string_equal(rc->mut.req_add[0].value, "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%");
    assert_non_null(rc->mut.req_add[0].fmt);
    assert_int_equal(rc->mut.req_add[0].action, OVERWRITE_IF_EXISTS_OR_ADD);
    assert_false(rc->mut.req_add[0].keep_empty_value);
    assert_string_equal(rc->mut.req_add[1].key, "x-static");
    assert_non_null(rc->mut.req_add[1].fmt); /* "%%" is an escape: compiled too */
    assert_int_equal(rc->mut.req_add[1].action, OVERWRITE_IF_EXISTS);
    assert_true(rc->mut.req_add[1].keep_empty_value);
    assert_int_equal(rc->mut.n_resp_remove, 1);
    assert_string_equal(rc->mut.resp_remove[0], "x-internal");
    assert_int_equal(rc->n_vhosts, 2);

    const struct cfg_vhost *vh = &rc->vhosts[0];
    assert_string_equal(vh->name, "backend");
    assert_int_equal(vh->n_domains, 3);
    assert_string_equal(vh->domains[0], "example.com");
    assert_string_equal(vh->domains[1], "*.example.com");
    assert_string_equal(vh->domains[2], "example.com:8080");
    assert_non_null(vh->retry);
    assert_int_equal(vh->retry->retry_on, RETRY_ON_5XX | RETRY_ON_RESET);
    assert_int_equal(vh->retry->num_retries, 3);
    assert_int_equal(vh->retry->base_interval_ms, 25);
    assert_int_equal(vh->retry->max_interval_ms, 250);
    assert_int_equal(vh->mut.n_resp_add, 1);
    assert_int_equal(vh->mut.resp_add[0].action, ADD_IF_ABSENT);
    assert_null(vh->mut.resp_add[0].fmt);
    assert_int_equal(vh->n_routes, 6);

    /* api: prefix, case-insensitive, header + query matchers, every RouteAction field */
    const struct cfg_route *api = &vh->routes[0];
    assert_string_equal(api->name, "api");
    assert_int_equal(api->kind, ROUTE_FORWARD);
    assert_int_equal(api->match.kind, PATHM_PREFIX);
    assert_string_equal(api->match.value, "/api/");
    assert_int_equal(api->match.len, 5);
    assert_false(api->match.case_sensitive);
    assert_int_equal(api->match.n_headers, 1);
    assert_string_equal(api->match.headers[0].name, "x-tenant");
    assert_int_equal(api->match.headers[0].kind, HDRM_STRING);
    assert_int_equal(api->match.headers[0].str.kind, STRM_PREFIX);
    assert_string_equal(api->match.headers[0].str.value, "t-");
    assert_int_equal(api->match.n_query, 1);
    assert_string_equal(api->match.query[0].name, "v");
    assert_false(api->match.query[0].present_match);
    assert_int_equal(api->match.query[0].str.kind, STRM_EXACT);
    assert_false(api->match.has_runtime_fraction);
    const struct cfg_route_action *a = &api->action;
    assert_int_equal(a->spec, CSPEC_CLUSTER);
    assert_string_equal(a->cluster, "c1");
    assert_string_equal(a->prefix_rewrite, "/");
    assert_null(a->regex_rewrite);
    assert_string_equal(a->host_rewrite_literal, "api.internal");
    assert_false(a->auto_host_rewrite);
    assert_int_equal(a->timeout_ms, 5000);
    assert_true(a->has_idle_timeout);
    assert_int_equal(a->idle_timeout_ms, 30000);
    const struct cfg_retry_policy *rp = a->retry;
    assert_non_null(rp);
    assert_ptr_not_equal(rp, vh->retry); /* the route's own policy replaces the vhost's */
    assert_int_equal(rp->retry_on, RETRY_ON_GATEWAY_ERROR | RETRY_ON_CONNECT_FAILURE |
                                       RETRY_ON_RETRIABLE_STATUS_CODES);
    assert_int_equal(rp->num_retries, 2);
    assert_int_equal(rp->per_try_timeout_ms, 1000);
    assert_int_equal(rp->per_try_idle_timeout_ms, 500);
    assert_int_equal(rp->base_interval_ms, 100);
    assert_int_equal(rp->max_interval_ms, 2000);
    assert_int_equal(rp->n_retriable_status_codes, 2);
    assert_int_equal(rp->retriable_status_codes[0], 503);
    assert_int_equal(rp->retriable_status_codes[1], 429);
    assert_int_equal(rp->n_retriable_headers, 1);
    assert_string_equal(rp->retriable_headers[0].name, "x-retry");
    assert_true(rp->previous_hosts);
    assert_int_equal(rp->host_selection_retry_max_attempts, 3);
    assert_int_equal(a->n_mirrors, 1);
    assert_string_equal(a->mirrors[0].cluster, "shadow");
    assert_true(a->mirrors[0].has_fraction);
    assert_int_equal(a->mirrors[0].fraction.numerator, 10);
    assert_int_equal(a->mirrors[0].fraction.denominator, 10000);
    assert_string_equal(a->mirrors[0].fraction.runtime_key, "mirror.api");
    assert_int_equal(api->mut.n_req_remove, 1);
    assert_string_equal(api->mut.req_remove[0], "x-debug");

    /* canary: runtime fraction, weighted clusters, inherited retry and mirror policies */
    const struct cfg_route *canary = &vh->routes[1];
    assert_true(canary->match.has_runtime_fraction);
    assert_int_equal(canary->match.runtime_fraction.numerator, 5);
    assert_int_equal(canary->match.runtime_fraction.denominator, 100);
    assert_string_equal(canary->match.runtime_fraction.runtime_key, "canary.on");
    a = &canary->action;
    assert_int_equal(a->spec, CSPEC_WEIGHTED);
    assert_int_equal(a->n_weighted, 2);
    assert_int_equal(a->total_weight, 100);
    assert_string_equal(a->runtime_key_prefix, "canary");
    assert_string_equal(a->weighted[0].name, "c1");
    assert_int_equal(a->weighted[0].weight, 90);
    assert_int_equal(a->weighted[0].mut.n_req_add, 1);
    assert_string_equal(a->weighted[0].mut.req_add[0].key, "x-version");
    assert_string_equal(a->weighted[1].name, "c2");
    assert_int_equal(a->weighted[1].mut.n_resp_remove, 1);
    assert_ptr_equal(a->retry, vh->retry);
    assert_int_equal(a->timeout_ms, 15000);
    assert_false(a->has_idle_timeout);
    assert_int_equal(a->n_mirrors, 1); /* from the route configuration */
    assert_string_equal(a->mirrors[0].cluster, "shadow");
    assert_false(a->mirrors[0].has_fraction);

    /* legacy: a redirect */
    const struct cfg_route *legacy = &vh->routes[2];
    assert_int_equal(legacy->kind, ROUTE_REDIRECT);
    assert_int_equal(legacy->match.kind, PATHM_PATH);
    assert_string_equal(legacy->redirect.scheme, "https");
    assert_string_equal(legacy->redirect.host, "new.example.com");
    assert_int_equal(legacy->redirect.port, 8443);
    assert_string_equal(legacy->redirect.path, "/new");
    assert_null(legacy->redirect.prefix_rewrite);
    assert_int_equal(legacy->redirect.response_code, 302);
    assert_true(legacy->redirect.strip_query);

    /* health: a direct response with a body */
    const struct cfg_route *health = &vh->routes[3];
    assert_int_equal(health->kind, ROUTE_DIRECT);
    assert_int_equal(health->direct.status, 200);
    assert_int_equal(health->direct.body_len, 3);
    assert_memory_equal(health->direct.body, "ok\n", 3);

    /* users: safe_regex match, cluster_header, regex_rewrite, auto_host_rewrite, no timeout */
    const struct cfg_route *users = &vh->routes[4];
    assert_int_equal(users->match.kind, PATHM_SAFE_REGEX);
    assert_true(rm_regex_full_match(users->match.regex, "/users/42", 9));
    assert_false(rm_regex_full_match(users->match.regex, "/users/42/x", 11));
    a = &users->action;
    assert_int_equal(a->spec, CSPEC_HEADER);
    assert_string_equal(a->cluster_header, "x-target-cluster");
    assert_non_null(a->regex_rewrite);
    assert_string_equal(rm_regex_pattern(a->regex_rewrite), "^/users/([0-9]+)$");
    assert_string_equal(a->regex_rewrite_substitution, "/u/\\1");
    assert_true(a->auto_host_rewrite);
    assert_null(a->host_rewrite_literal);
    assert_int_equal(a->timeout_ms, 0);

    /* sep: path_separated_prefix, base64 body */
    const struct cfg_route *sep = &vh->routes[5];
    assert_int_equal(sep->match.kind, PATHM_PATH_SEPARATED_PREFIX);
    assert_string_equal(sep->match.value, "/v2/items");
    assert_int_equal(sep->direct.status, 503);
    assert_int_equal(sep->direct.body_len, 4);
    assert_memory_equal(sep->direct.body, "over", 4);

    assert_string_equal(rc->vhosts[1].name, "fallback");
    assert_string_equal(rc->vhosts[1].routes[0].name, "");
    run_free(r);
}

static void test_defaults(void **state)
{
    (void)state;
    /* The smallest config Remora takes: Envoy's defaults everywhere else. */
    struct run *r = ok("\"@type\": " HCM_URL "\n"
                       "stat_prefix: s\n"
                       "http_filters: [ { name: envoy.filters.http.router } ]\n"
                       "route_config: { virtual_hosts: [ { name: v, domains: [\"*\"],"
                       " routes: [ { match: { prefix: / }, route: { cluster: c1 } } ] } ] }\n");
    const struct cfg_hcm *h = r->hcm;
    assert_int_equal(h->codec_type, CODEC_AUTO);
    assert_false(h->use_remote_address);
    assert_int_equal(h->xff_num_trusted_hops, 0);
    assert_false(h->skip_xff_append);
    assert_true(h->generate_request_id);
    assert_false(h->preserve_external_request_id);
    assert_false(h->always_set_request_id_in_response);
    assert_string_equal(h->server_name, "envoy");
    assert_int_equal(h->server_header_transformation, SERVER_HDR_OVERWRITE);
    assert_int_equal(h->max_request_headers_kb, 60);
    assert_int_equal(h->max_headers_count, 100);
    assert_false(h->normalize_path);
    assert_false(h->merge_slashes);
    assert_int_equal(h->path_with_escaped_slashes_action, ESC_SLASHES_KEEP_UNCHANGED);
    assert_int_equal(h->headers_with_underscores_action, UNDERSCORES_ALLOW);
    assert_int_equal(h->idle_timeout_ms, 3600000);
    assert_int_equal(h->max_connection_duration_ms, 0);
    assert_int_equal(h->max_requests_per_connection, 0);
    assert_int_equal(h->stream_idle_timeout_ms, 300000);
    assert_int_equal(h->request_timeout_ms, 0);
    assert_int_equal(h->request_headers_timeout_ms, 0);
    assert_int_equal(h->drain_timeout_ms, 5000);
    assert_int_equal(h->delayed_close_timeout_ms, 1000);
    assert_false(h->accept_http_10);
    assert_null(h->default_host_for_http_10);
    assert_true(h->allow_absolute_url);
    assert_int_equal(h->n_access_logs, 0);
    /* the router by name, with its default (empty) config */
    assert_int_equal(h->n_filters, 1);
    assert_non_null(h->router);
    assert_false(h->router->suppress_envoy_headers);
    assert_false(h->router->respect_expected_rq_timeout);
    const struct cfg_route_config *rc = h->route_config;
    assert_string_equal(rc->name, "");
    assert_false(rc->most_specific_header_mutations_wins);
    const struct cfg_route *rt = &rc->vhosts[0].routes[0];
    assert_true(rt->match.case_sensitive);
    assert_int_equal(rt->action.timeout_ms, 15000);
    assert_null(rt->action.retry);
    assert_int_equal(rt->action.n_mirrors, 0);
    assert_null(rt->action.prefix_rewrite);
    run_free(r);

    /* Explicit zeros: 0 disables the timeouts that take it; empty server_name = "envoy". */
    r = ok("\"@type\": " HCM_URL "\n"
           "stat_prefix: s\n"
           "server_name: \"\"\n"
           "stream_idle_timeout: 0s\n"
           "common_http_protocol_options: { idle_timeout: 0s }\n"
           "http_filters: [ { name: envoy.filters.http.router } ]\n"
           "route_config: { virtual_hosts: [ { name: v, domains: [\"*\"],"
           " retry_policy: { retry_back_off: { base_interval: 0.0005s } } } ] }\n");
    assert_string_equal(r->hcm->server_name, "envoy");
    assert_int_equal(r->hcm->stream_idle_timeout_ms, 0);
    assert_int_equal(r->hcm->idle_timeout_ms, 0);
    const struct cfg_retry_policy *rp = r->hcm->route_config->vhosts[0].retry;
    assert_int_equal(rp->retry_on, 0);
    assert_int_equal(rp->num_retries, 1);
    assert_int_equal(rp->base_interval_ms, 1); /* below 1 ms rounds up to 1 ms */
    assert_int_equal(rp->max_interval_ms, 10);
    assert_int_equal(rp->host_selection_retry_max_attempts, 1);
    assert_false(rp->previous_hosts);
    run_free(r);
}

/* ---- the connection manager's own errors ----------------------------------------------------- */

static void test_http2_options(void **state)
{
    (void)state;
    struct run *r = ok("\"@type\": " HCM_URL "\n"
                       "stat_prefix: s\n"
                       "codec_type: HTTP2\n"
                       "http2_protocol_options: { max_concurrent_streams: 5, hpack_table_size: 0,\n"
                       "  initial_stream_window_size: 65535, initial_connection_window_size: "
                       "1048576 }\n"
                       "route_config: { virtual_hosts: [] }\n"
                       "http_filters: [ { name: envoy.filters.http.router } ]\n");
    const struct cfg_hcm *h = r->hcm;
    assert_int_equal(h->codec_type, CODEC_HTTP2);
    assert_int_equal(h->h2.max_concurrent_streams, 5);
    assert_int_equal(h->h2.hpack_table_size, 0);
    assert_int_equal(h->h2.initial_stream_window_size, 65535);
    assert_int_equal(h->h2.initial_connection_window_size, 1048576);
    run_free(r);

    /* Envoy's defaults */
    r = ok("\"@type\": " HCM_URL "\n"
           "stat_prefix: s\n"
           "route_config: { virtual_hosts: [] }\n"
           "http_filters: [ { name: envoy.filters.http.router } ]\n");
    h = r->hcm;
    assert_int_equal(h->codec_type, CODEC_AUTO);
    assert_int_equal(h->h2.max_concurrent_streams, 2147483647u);
    assert_int_equal(h->h2.hpack_table_size, 4096);
    assert_int_equal(h->h2.initial_stream_window_size, 268435456u);
    assert_int_equal(h->h2.initial_connection_window_size, 268435456u);
    run_free(r);

    /* clang-format off */
    expect_errors(
        /* 1 */ "\"@type\": " HCM_URL "\n"
        /* 2 */ "stat_prefix: s\n"
        /* 3 */ "http2_protocol_options: { allow_metadata: true, initial_stream_window_size: 100,\n"
        /* 4 */ "  max_concurrent_streams: 0, max_concurent_streams: 3 }\n"
        /* 5 */ "route_config: { virtual_hosts: [] }\n"
        /* 6 */ "http_filters: [ { name: envoy.filters.http.router } ]\n",
        "hcm.yaml:4:30: typed_config.http2_protocol_options.max_concurent_streams: unknown field "
        "\"max_concurent_streams\" in envoy.config.core.v3.Http2ProtocolOptions",
        "hcm.yaml:3:27: typed_config.http2_protocol_options.allow_metadata: allow_metadata is not "
        "supported by Remora yet: METADATA frames are not implemented",
        "hcm.yaml:4:27: typed_config.http2_protocol_options.max_concurrent_streams: "
        "max_concurrent_streams must be in [1, 2147483647]",
        "hcm.yaml:3:77: typed_config.http2_protocol_options.initial_stream_window_size: "
        "initial_stream_window_size must be in [65535, 2147483647]");
    /* clang-format on */
}

static void test_hcm_errors(void **state)
{
    (void)state;
    /* clang-format off */
    expect_errors(
        /* 1 */ "\"@type\": " HCM_URL "\n"
        /* 2 */ "codec_type: HTTP3\n"
        /* 3 */ "rds: { route_config_name: r }\n"
        /* 4 */ "max_request_headers_kb: 8193\n"
        /* 5 */ "server_name: \"a\\r\\nb\"\n"
        /* 6 */ "common_http_protocol_options: { max_headers_count: 0, max_stream_duration: 1s }\n"
        /* 7 */ "upgrade_configs: [ { upgrade_type: x, filters: [ { name: f } ] } ]\n"
        /* 8 */ "forward_client_cert_details: APPEND_FORWARD\n"
        /* 9 */ "idle_timeout: 1s\n"
        /* 10 */ "stat_prefx: x\n"
        /* 11 */ "http_protocol_options: { header_key_format: { proper_case_words: {} } }\n"
        /* 12 */ "http_filters: [ { name: envoy.filters.http.router } ]\n",
        "hcm.yaml:9:1: typed_config.idle_timeout: unknown field \"idle_timeout\" in "
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager "
        "(removed in the v3 API: use common_http_protocol_options.idle_timeout)",
        "hcm.yaml:10:1: typed_config.stat_prefx: unknown field \"stat_prefx\" in "
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "hcm.yaml:3:1: typed_config.rds: rds is not supported by Remora yet: use an inline "
        "route_config",
        "hcm.yaml:8:1: typed_config.forward_client_cert_details: forward_client_cert_details is "
        "not supported by Remora yet: only SANITIZE (the default) is implemented",
        "hcm.yaml:1:1: typed_config.stat_prefix: stat_prefix is required (a non-empty string; "
        "stats are rooted at http.<stat_prefix>.)",
        "hcm.yaml:2:13: typed_config.codec_type: HTTP3 is not supported by Remora yet",
        "hcm.yaml:5:14: typed_config.server_name: server_name must not contain CR or LF",
        "hcm.yaml:4:25: typed_config.max_request_headers_kb: max_request_headers_kb must be "
        "within 1..8192 (got 8193)",
        "hcm.yaml:6:55: typed_config.common_http_protocol_options.max_stream_duration: "
        "max_stream_duration is not supported by Remora yet",
        "hcm.yaml:6:52: typed_config.common_http_protocol_options.max_headers_count: "
        "max_headers_count must be at least 1",
        "hcm.yaml:11:26: typed_config.http_protocol_options.header_key_format: header_key_format "
        "is not supported by Remora yet: header names are always sent in lowercase",
        "hcm.yaml:7:39: typed_config.upgrade_configs[0].filters: filters is not supported by "
        "Remora yet: per-upgrade filter chains are not implemented: upgrades use the connection "
        "manager's http_filters");
    /* clang-format on */

    /* no route table at all, and a typed_config that is not a map */
    expect_errors("\"@type\": " HCM_URL "\n"
                  "stat_prefix: s\n"
                  "http_filters: [ { name: envoy.filters.http.router } ]\n",
                  "hcm.yaml:1:1: typed_config.route_config: one of route_config or rds is "
                  "required (oneof route_specifier)");
    expect_errors("[1]\n", "hcm.yaml:1:1: typed_config: expected a map "
                           "(envoy.extensions.filters.network.http_connection_manager.v3."
                           "HttpConnectionManager), got a list");

    /* Fields set to Envoy's default value are accepted (inert), others refused. */
    struct run *r = ok("\"@type\": " HCM_URL "\n"
                       "stat_prefix: s\n"
                       "forward_client_cert_details: SANITIZE\n"
                       "add_user_agent: false\n"
                       "tracing: {}\n"
                       "upgrade_configs: []\n"
                       "via: \"\"\n"
                       "http2_protocol_options: {}\n"
                       "local_reply_config: {}\n"
                       "path_normalization_options: { forwarding_transformation: {} }\n"
                       "http_filters: [ { name: envoy.filters.http.router } ]\n"
                       "route_config: {}\n");
    assert_int_equal(r->hcm->route_config->n_vhosts, 0);
    run_free(r);
}

static void test_upgrade_configs(void **state)
{
    (void)state;
    /* Envoy semantics: types compared case-insensitively, enabled defaults to true, route
     * entries override per type, connect_config only on CONNECT (it terminates CONNECT). */
    struct run *r = ok("\"@type\": " HCM_URL "\n"
                       "stat_prefix: s\n"
                       "upgrade_configs: [ { upgrade_type: websocket }, "
                       "{ upgrade_type: CONNECT, enabled: false } ]\n"
                       "http_filters: [ { name: envoy.filters.http.router } ]\n"
                       "route_config:\n"
                       "  validate_clusters: false\n"
                       "  virtual_hosts:\n"
                       "  - name: v\n"
                       "    domains: ['*']\n"
                       "    routes:\n"
                       "    - match: { connect_matcher: {} }\n"
                       "      route: { cluster: c, upgrade_configs: [ { upgrade_type: CONNECT, "
                       "connect_config: {} } ] }\n"
                       "    - match: { prefix: / }\n"
                       "      route: { cluster: c, upgrade_configs: [ { upgrade_type: websocket, "
                       "enabled: false } ] }\n");
    assert_int_equal(r->hcm->n_upgrades, 2);
    assert_string_equal(r->hcm->upgrades[0].type, "websocket");
    assert_true(r->hcm->upgrades[0].enabled);
    assert_false(r->hcm->upgrades[1].enabled);
    const struct cfg_route *rt = r->hcm->route_config->vhosts[0].routes;
    assert_int_equal(rt[0].match.kind, PATHM_CONNECT);
    assert_int_equal(rt[0].action.n_upgrades, 1);
    assert_true(rt[0].action.upgrades[0].enabled);
    assert_true(rt[0].action.upgrades[0].connect_terminate);
    assert_int_equal(rt[1].match.kind, PATHM_PREFIX);
    assert_false(rt[1].action.upgrades[0].enabled);
    assert_false(rt[1].action.upgrades[0].connect_terminate);
    run_free(r);

    /* clang-format off */
    expect_errors(
        /* 1 */ "\"@type\": " HCM_URL "\n"
        /* 2 */ "stat_prefix: s\n"
        /* 3 */ "upgrade_configs:\n"
        /* 4 */ "- upgrade_type: websocket\n"
        /* 5 */ "- upgrade_type: WebSocket\n"
        /* 6 */ "- { enabled: true }\n"
        /* 7 */ "http_filters: [ { name: envoy.filters.http.router } ]\n"
        /* 8 */ "route_config:\n"
        /* 9 */ "  validate_clusters: false\n"
        /* 10 */ "  virtual_hosts:\n"
        /* 11 */ "  - name: v\n"
        /* 12 */ "    domains: ['*']\n"
        /* 13 */ "    routes:\n"
        /* 14 */ "    - match: { connect_matcher: {}, prefix: / }\n"
        /* 15 */ "      route: { cluster: c }\n"
        /* 16 */ "    - match: { connect_matcher: { x: 1 } }\n"
        /* 17 */ "      route:\n"
        /* 18 */ "        cluster: c\n"
        /* 19 */ "        upgrade_configs:\n"
        /* 20 */ "        - { upgrade_type: CONNECT, connect_config: { allow_post: true } }\n"
        /* 21 */ "        - { upgrade_type: connect }\n"
        /* 22 */ "        - { upgrade_type: websocket, connect_config: {} }\n",
        "hcm.yaml:14:14: typed_config.route_config.virtual_hosts[0].routes[0].match: only one of "
        "prefix, path, safe_regex, path_separated_prefix, connect_matcher and path_match_policy "
        "may be set (oneof path_specifier)",
        "hcm.yaml:16:35: typed_config.route_config.virtual_hosts[0].routes[1].match."
        "connect_matcher.x: unknown field \"x\" in envoy.config.route.v3.RouteMatch."
        "ConnectMatcher",
        "hcm.yaml:20:54: typed_config.route_config.virtual_hosts[0].routes[1].route."
        "upgrade_configs[0].connect_config.allow_post: allow_post is not supported by Remora "
        "yet: POST tunnels are not implemented",
        "hcm.yaml:21:27: typed_config.route_config.virtual_hosts[0].routes[1].route."
        "upgrade_configs[1].upgrade_type: Duplicate upgrade connect",
        "hcm.yaml:22:54: typed_config.route_config.virtual_hosts[0].routes[1].route."
        "upgrade_configs[2].connect_config: Non-CONNECT upgrade type websocket has ConnectConfig",
        "hcm.yaml:5:17: typed_config.upgrade_configs[1].upgrade_type: Error: multiple upgrade "
        "configs with the same name: 'WebSocket'",
        "hcm.yaml:6:3: typed_config.upgrade_configs[2].upgrade_type: upgrade_type is required (a "
        "header value such as \"websocket\", or \"CONNECT\")");
    /* clang-format on */
}

static void test_http_filter_errors(void **state)
{
    (void)state;
    /* clang-format off */
    expect_errors(
        /* 1 */ "\"@type\": " HCM_URL "\n"
        /* 2 */ "stat_prefix: s\n"
        /* 3 */ "route_config: {}\n"
        /* 4 */ "http_filters:\n"
        /* 5 */ "- name: envoy.filters.http.rbac\n"
        /* 6 */ "  typed_config: { \"@type\":"
                " type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC }\n"
        /* 7 */ "- name: envoy.filters.http.fault\n"
        /* 8 */ "- name: my.filter\n"
        /* 9 */ "  typed_config: { \"@type\": type.googleapis.com/my.company.Filter }\n"
        /* 10 */ "- name: my.other\n"
        /* 11 */ "- name: first-router\n"
        /* 12 */ "  typed_config: { \"@type\": " ROUTER_URL " }\n"
        /* 13 */ "- name: \"\"\n"
        /* 14 */ "- { name: r, config_discovery: { config_source: { ads: {} } } }\n"
        /* 15 */ "- name: envoy.filters.http.router\n"
        /* 16 */ "  typed_config: { \"@type\": " ROUTER_URL ", upstream_log: [ {} ], flag: 1 }\n",
        "hcm.yaml:6:17: typed_config.http_filters[0].typed_config: http filter "
        "envoy.filters.http.rbac (envoy.extensions.filters.http.rbac.v3.RBAC) is not supported "
        "by Remora yet",
        "hcm.yaml:7:9: typed_config.http_filters[1].name: http filter envoy.filters.http.fault "
        "is not supported by Remora yet",
        "hcm.yaml:9:17: typed_config.http_filters[2].typed_config: Didn't find a registered "
        "implementation for 'my.filter' with type URL: 'my.company.Filter'",
        "hcm.yaml:10:9: typed_config.http_filters[3].name: Didn't find a registered implementation "
        "for name: 'my.other'",
        "hcm.yaml:11:9: typed_config.http_filters[4]: terminal filter named first-router of "
        "type envoy.filters.http.router must be the last filter in a http filter chain",
        "hcm.yaml:13:9: typed_config.http_filters[5].name: name is required (a non-empty "
        "string)",
        "hcm.yaml:14:14: typed_config.http_filters[6].config_discovery: config_discovery is not "
        "supported by Remora yet: use typed_config",
        "hcm.yaml:16:118: typed_config.http_filters[7].typed_config.flag: unknown field \"flag\" "
        "in envoy.extensions.filters.http.router.v3.Router",
        "hcm.yaml:16:96: typed_config.http_filters[7].typed_config.upstream_log: upstream_log is "
        "not supported by Remora yet: upstream access logs are not implemented");
    /* clang-format on */

    /* an empty chain; a chain without the router at its end */
    expect_errors("\"@type\": " HCM_URL "\n"
                  "stat_prefix: s\n"
                  "route_config: {}\n"
                  "http_filters: []\n",
                  "hcm.yaml:4:15: typed_config.http_filters: http_filters is empty: the chain "
                  "must end with the router filter (envoy.filters.http.router), or no request is "
                  "ever forwarded");
    expect_errors("\"@type\": " HCM_URL "\n"
                  "stat_prefix: s\n"
                  "route_config: {}\n",
                  "hcm.yaml:1:1: typed_config.http_filters: http_filters is empty: the chain "
                  "must end with the router filter (envoy.filters.http.router), or no request is "
                  "ever forwarded");

    /* is_optional: an unknown or unsupported filter is skipped with a warning */
    /* clang-format off */
    expect_warnings(
        /* 1 */ "\"@type\": " HCM_URL "\n"
        /* 2 */ "stat_prefix: s\n"
        /* 3 */ "route_config: {}\n"
        /* 4 */ "http_filters:\n"
        /* 5 */ "- name: envoy.filters.http.cors\n"
        /* 6 */ "  is_optional: true\n"
        /* 7 */ "- name: x\n"
        /* 8 */ "  is_optional: true\n"
        /* 9 */ "  typed_config: { \"@type\": type.googleapis.com/x.Y }\n"
        /* 10 */ "- name: envoy.filters.http.router\n",
        "hcm.yaml:5:9: typed_config.http_filters[0].name: http filter envoy.filters.http.cors "
        "is not supported by Remora yet: the filter is optional (is_optional: true) and is "
        "skipped",
        "hcm.yaml:9:17: typed_config.http_filters[1].typed_config: Didn't find a registered "
        "implementation for 'x' with type URL: 'x.Y': the filter is optional (is_optional: true) "
        "and is skipped");
    /* clang-format on */
}

/* ---- routes ---------------------------------------------------------------------------------- */

static void test_route_actions(void **state)
{
    (void)state;
    /* clang-format off */
    expect_errors(
        HEAD
        /* 9 */ "    - match: { prefix: / }\n"
        /* 10 */ "    - match: { prefix: / }\n"
        /* 11 */ "      route: { cluster: c1 }\n"
        /* 12 */ "      direct_response: { status: 200 }\n"
        /* 13 */ "    - route: { cluster: c1 }\n"
        /* 14 */ "    - match: { prefix: /, path: /x }\n"
        /* 15 */ "      route: { cluster: c1, cluster_header: x }\n"
        /* 16 */ "    - match: {}\n"
        /* 17 */ "      route: {}\n"
        /* 18 */ "    - match: { prefx: / }\n"
        /* 19 */ "      route: { cluster: \"\" }\n",
        "hcm.yaml:9:7: " R0 ": a route needs an action: one of route, redirect or "
        "direct_response is required (oneof action)",
        "hcm.yaml:10:7: typed_config.route_config.virtual_hosts[0].routes[1]: only one of route, "
        "redirect and direct_response may be set (oneof action)",
        "hcm.yaml:13:7: typed_config.route_config.virtual_hosts[0].routes[2].match: match is "
        "required",
        "hcm.yaml:14:14: typed_config.route_config.virtual_hosts[0].routes[3].match: only one of "
        "prefix, path, safe_regex, path_separated_prefix, connect_matcher and path_match_policy "
        "may be set (oneof path_specifier)",
        "hcm.yaml:15:14: typed_config.route_config.virtual_hosts[0].routes[3].route: only one of "
        "cluster, cluster_header and weighted_clusters may be set (oneof cluster_specifier)",
        "hcm.yaml:16:14: typed_config.route_config.virtual_hosts[0].routes[4].match: one of "
        "prefix, path, safe_regex, path_separated_prefix or connect_matcher is required (oneof "
        "path_specifier)",
        "hcm.yaml:17:14: typed_config.route_config.virtual_hosts[0].routes[4].route: one of "
        "cluster, cluster_header or weighted_clusters is required (oneof cluster_specifier)",
        "hcm.yaml:18:16: typed_config.route_config.virtual_hosts[0].routes[5].match.prefx: "
        "unknown field \"prefx\" in envoy.config.route.v3.RouteMatch",
        "hcm.yaml:18:14: typed_config.route_config.virtual_hosts[0].routes[5].match: one of "
        "prefix, path, safe_regex, path_separated_prefix or connect_matcher is required (oneof "
        "path_specifier)",
        "hcm.yaml:19:25: typed_config.route_config.virtual_hosts[0].routes[5].route.cluster: "
        "cluster must not be empty");

    expect_errors(
        HEAD
        /* 9 */ "    - match: { prefix: /a, headers: [ {name: x, exact_match: y, present_match:"
                " true} ] }\n"
        /* 10 */ "      direct_response: { status: 600 }\n"
        /* 11 */ "    - match: { path_separated_prefix: /a/ }\n"
        /* 12 */ "      direct_response: { status: 199, body: { inline_string: \"12345\" } }\n"
        /* 13 */ "    - match: { prefix: /, query_parameters: [ { name: q, present_match: false"
                 " } ] }\n"
        /* 14 */ "      direct_response: { status: 200, body: { inline_bytes: \"!!\" } }\n"
        /* 15 */ "    - match: { prefix: /, grpc: {} }\n"
        /* 16 */ "      redirect: { https_redirect: true, scheme_redirect: ftp, path_redirect:"
                 " /x, prefix_rewrite: /y }\n"
        /* 17 */ "    - match: { prefix: / }\n"
        /* 18 */ "      route: { cluster: c1, prefix_rewrite: /a, regex_rewrite: { pattern: {"
                 " regex: a }, substitution: b } }\n"
        /* 19 */ "    - match: { prefix: / }\n"
        /* 20 */ "      route: { cluster: c1, host_rewrite_literal: h, auto_host_rewrite: true,"
                 " hash_policy: [] }\n"
        /* 21 */ "  max_direct_response_body_size_bytes: 4\n",
        "hcm.yaml:9:39: " R0 ".match.headers[0]: only one of string_match, present_match, "
        "range_match and the deprecated exact_match, safe_regex_match, prefix_match, "
        "suffix_match, contains_match may be set (oneof header_match_specifier)",
        "hcm.yaml:10:34: " R0 ".direct_response.status: status 600 is out of range: must be "
        "within [200, 600)",
        "hcm.yaml:11:39: typed_config.route_config.virtual_hosts[0].routes[1].match."
        "path_separated_prefix: path_separated_prefix \"/a/\" must not contain '?' or '#' and "
        "must not end with '/'",
        "hcm.yaml:12:34: typed_config.route_config.virtual_hosts[0].routes[1].direct_response."
        "status: status 199 is out of range: must be within [200, 600)",
        "hcm.yaml:12:62: typed_config.route_config.virtual_hosts[0].routes[1].direct_response."
        "body.inline_string: response body size is 5 bytes; maximum is 4",
        "hcm.yaml:13:73: typed_config.route_config.virtual_hosts[0].routes[2].match."
        "query_parameters[0].present_match: present_match: false (match when the parameter is "
        "absent) is not supported by Remora yet",
        "hcm.yaml:14:61: typed_config.route_config.virtual_hosts[0].routes[2].direct_response."
        "body.inline_bytes: inline_bytes is not valid base64",
        "hcm.yaml:15:27: typed_config.route_config.virtual_hosts[0].routes[3].match.grpc: grpc "
        "is not supported by Remora yet: match content-type with a header matcher instead",
        "hcm.yaml:16:17: typed_config.route_config.virtual_hosts[0].routes[3].redirect: only "
        "one of https_redirect and scheme_redirect may be set (oneof scheme_rewrite_specifier)",
        "hcm.yaml:16:17: typed_config.route_config.virtual_hosts[0].routes[3].redirect: only "
        "one of path_redirect, prefix_rewrite and regex_rewrite may be set (oneof "
        "path_rewrite_specifier)",
        "hcm.yaml:18:64: typed_config.route_config.virtual_hosts[0].routes[4].route: Specify "
        "only one of prefix_rewrite, regex_rewrite or path_rewrite_policy",
        "hcm.yaml:20:14: typed_config.route_config.virtual_hosts[0].routes[5].route: only one of "
        "host_rewrite_literal, auto_host_rewrite, host_rewrite_header and "
        "host_rewrite_path_regex may be set (oneof host_rewrite_specifier)");
    /* clang-format on */
}

static void test_retry_policy_errors(void **state)
{
    (void)state;
    /* clang-format off */
    expect_errors(
        HEAD
        /* 9 */ "    - match: { prefix: / }\n"
        /* 10 */ "      route:\n"
        /* 11 */ "        cluster: c1\n"
        /* 12 */ "        retry_policy:\n"
        /* 13 */ "          retry_on: \"5xx, 5xxx,unavailable,,connect-failure\"\n"
        /* 14 */ "          retry_back_off: { base_interval: 2s, max_interval: 1s }\n"
        /* 15 */ "          retry_host_predicate: [ { name:"
                 " envoy.retry_host_predicates.omit_canary_hosts } ]\n"
        /* 16 */ "          host_selection_retry_max_attempts: -1\n"
        /* 17 */ "          retry_priority: { name: envoy.retry_priorities.previous_priorities }\n"
        /* 18 */ "    - match: { prefix: / }\n"
        /* 19 */ "      route:\n"
        /* 20 */ "        cluster: c1\n"
        /* 21 */ "        retry_policy: { retry_back_off: { max_interval: 1s } }\n"
        /* 22 */ "    - match: { prefix: / }\n"
        /* 23 */ "      route:\n"
        /* 24 */ "        cluster: c1\n"
        /* 25 */ "        retry_policy: { retry_back_off: { base_interval: 0s }, num_retries: -2"
                 " }\n",
        "hcm.yaml:17:11: " R0 ".route.retry_policy.retry_priority: retry_priority is not "
        "supported by Remora yet",
        "hcm.yaml:13:21: " R0 ".route.retry_policy.retry_on: unknown retry_on value \"5xxx\" "
        "(expected a comma-separated list of 5xx, gateway-error, reset, reset-before-request, "
        "connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, "
        "retriable-status-codes, retriable-headers)",
        "hcm.yaml:13:21: " R0 ".route.retry_policy.retry_on: retry_on \"unavailable\" (a gRPC "
        "retry condition) is not supported by Remora yet",
        "hcm.yaml:16:46: " R0 ".route.retry_policy.host_selection_retry_max_attempts: "
        "host_selection_retry_max_attempts must be within 0..4294967295",
        "hcm.yaml:14:62: " R0 ".route.retry_policy.retry_back_off.max_interval: max_interval "
        "must be greater than or equal to the base_interval",
        "hcm.yaml:15:43: " R0 ".route.retry_policy.retry_host_predicate[0].name: retry host "
        "predicate envoy.retry_host_predicates.omit_canary_hosts is not supported by Remora yet "
        "(only envoy.retry_host_predicates.previous_hosts)",
        "hcm.yaml:21:41: typed_config.route_config.virtual_hosts[0].routes[1].route."
        "retry_policy.retry_back_off.base_interval: base_interval is required",
        "hcm.yaml:25:77: typed_config.route_config.virtual_hosts[0].routes[2].route."
        "retry_policy.num_retries: \"-2\" is out of range for an unsigned 32-bit integer",
        "hcm.yaml:25:58: typed_config.route_config.virtual_hosts[0].routes[2].route."
        "retry_policy.retry_back_off.base_interval: base_interval must be greater than 0s");
    /* clang-format on */
}

static void test_weighted_and_rewrite_errors(void **state)
{
    (void)state;
    /* clang-format off */
    expect_errors(
        HEAD
        /* 9 */ "    - match: { prefix: / }\n"
        /* 10 */ "      route: { weighted_clusters: { clusters: [ { name: c1, weight: 0 }, {"
                 " name: c2 } ] } }\n"
        /* 11 */ "    - match: { prefix: / }\n"
        /* 12 */ "      route: { weighted_clusters: { clusters: [] } }\n"
        /* 13 */ "    - match: { prefix: / }\n"
        /* 14 */ "      route: { weighted_clusters: { clusters: [ { weight: 1 } ] } }\n"
        /* 15 */ "    - match: { prefix: / }\n"
        /* 16 */ "      route:\n"
        /* 17 */ "        cluster: c1\n"
        /* 18 */ "        regex_rewrite: { pattern: { regex: \"^/(a)$\" }, substitution:"
                 " \"/\\\\2\" }\n"
        /* 19 */ "    - match: { safe_regex: { regex: \"(\" } }\n"
        /* 20 */ "      route:\n"
        /* 21 */ "        cluster: c1\n"
        /* 22 */ "        regex_rewrite: { pattern: { regex: \"/x(?=y)\" }, substitution: \"\" }\n"
        /* 23 */ "    - match: { safe_regex: { regex: \"\", google_re2: {} } }\n"
        /* 24 */ "      route: { cluster: c1, regex_rewrite: { substitution: x } }\n",
        "hcm.yaml:10:47: " R0 ".route.weighted_clusters.clusters: Sum of weights in the "
        "weighted_cluster must be greater than 0.",
        "hcm.yaml:12:47: typed_config.route_config.virtual_hosts[0].routes[1].route."
        "weighted_clusters.clusters: clusters must have at least one entry",
        "hcm.yaml:14:49: typed_config.route_config.virtual_hosts[0].routes[2].route."
        "weighted_clusters.clusters[0].name: name is required (a cluster name)",
        "hcm.yaml:18:70: typed_config.route_config.virtual_hosts[0].routes[3].route."
        "regex_rewrite.substitution: Rewrite schema requests 2 matches, but the regexp only "
        "has 1 parenthesized subexpressions.",
        "hcm.yaml:19:37: typed_config.route_config.virtual_hosts[0].routes[4].match.safe_regex."
        "regex: invalid regex \"(\": missing closing parenthesis at offset 1",
        "hcm.yaml:22:44: typed_config.route_config.virtual_hosts[0].routes[4].route."
        "regex_rewrite.pattern.regex: invalid regex \"/x(?=y)\": lookahead assertions (?= and "
        "(?! are not supported (RE2 syntax)",
        "hcm.yaml:23:37: typed_config.route_config.virtual_hosts[0].routes[5].match.safe_regex."
        "regex: regex is required (a non-empty RE2 pattern)",
        "hcm.yaml:24:44: typed_config.route_config.virtual_hosts[0].routes[5].route."
        "regex_rewrite.pattern: pattern is required");
    /* clang-format on */
}

static void test_matcher_errors(void **state)
{
    (void)state;
    /* clang-format off */
    expect_errors(
        HEAD
        /* 9 */ "    - match:\n"
        /* 10 */ "        prefix: /\n"
        /* 11 */ "        headers:\n"
        /* 12 */ "        - { name: x, string_match: { safe_regex: { regex: a }, ignore_case:"
                 " true } }\n"
        /* 13 */ "        - { name: x, string_match: { ignore_case: true } }\n"
        /* 14 */ "        - { name: x, string_match: { prefix: \"\" } }\n"
        /* 15 */ "        - { name: x, string_match: { exact: a, suffix: b } }\n"
        /* 16 */ "        - { name: \"bad name\" }\n"
        /* 17 */ "        - { present_match: true }\n"
        /* 18 */ "        - { name: x, string_match: { safe_regex: { regex: \"a(?<=b)\" } } }\n"
        /* 19 */ "        - { name: x, regex_match: a }\n"
        /* 20 */ "        - { name: x, range_match: { start: a } }\n"
        /* 21 */ "        query_parameters: [ { string_match: { exact: a } }, { name: q,"
                 " present_match: true, string_match: { exact: b } } ]\n"
        /* 22 */ "        runtime_fraction: { runtime_key: k }\n"
        /* 23 */ "      direct_response: { status: 200 }\n",
        "hcm.yaml:22:27: " R0 ".match.runtime_fraction.default_value: default_value is required",
        "hcm.yaml:12:77: " R0 ".match.headers[0].string_match.ignore_case: ignore_case has no "
        "effect for safe_regex.",
        "hcm.yaml:13:36: " R0 ".match.headers[1].string_match: one of exact, prefix, suffix, "
        "contains or safe_regex is required (oneof match_pattern)",
        "hcm.yaml:14:46: " R0 ".match.headers[2].string_match.prefix: prefix must not be empty",
        "hcm.yaml:15:36: " R0 ".match.headers[3].string_match: only one of exact, prefix, "
        "suffix, contains, safe_regex and custom may be set (oneof match_pattern)",
        "hcm.yaml:16:19: " R0 ".match.headers[4].name: invalid header name \"bad name\"",
        "hcm.yaml:17:11: " R0 ".match.headers[5].name: name is required (a header name)",
        "hcm.yaml:18:59: " R0 ".match.headers[6].string_match.safe_regex.regex: invalid regex "
        "\"a(?<=b)\": lookbehind assertions (?<= and (?<! are not supported (RE2 syntax)",
        "hcm.yaml:19:22: " R0 ".match.headers[7].regex_match: unknown field \"regex_match\" in "
        "envoy.config.route.v3.HeaderMatcher (removed in the v3 API: use "
        "string_match.safe_regex)",
        "hcm.yaml:20:44: " R0 ".match.headers[8].range_match.start: expected a 64-bit integer, "
        "got \"a\"",
        "hcm.yaml:21:29: " R0 ".match.query_parameters[0].name: name is required (a query "
        "parameter name)",
        "hcm.yaml:21:61: " R0 ".match.query_parameters[1]: only one of string_match and "
        "present_match may be set (oneof query_parameter_match_specifier)");
    /* clang-format on */
}

static void test_header_mutation_errors(void **state)
{
    (void)state;
    /* clang-format off */
    expect_errors(
        HEAD
        /* 9 */ "    - match: { prefix: / }\n"
        /* 10 */ "      direct_response: { status: 200 }\n"
        /* 11 */ "      request_headers_to_add:\n"
        /* 12 */ "      - header: { key: \"bad key\", value: v }\n"
        /* 13 */ "      - header: { key: \":path\", value: /x }\n"
        /* 14 */ "      - header: { key: Host, value: h }\n"
        /* 15 */ "      - header: { key: x-a, value: \"%NOT_AN_OPERATOR%\" }\n"
        /* 16 */ "      - header: { key: x-b, value: \"%REQ(x-c)\" }\n"
        /* 17 */ "      - header: { key: x-d, value: v }\n"
        /* 18 */ "        append: true\n"
        /* 19 */ "        append_action: ADD_IF_ABSENT\n"
        /* 20 */ "      - { append_action: OVERWRITE_IF_EXISTS }\n"
        /* 21 */ "      - header: { value: v }\n"
        /* 22 */ "      response_headers_to_remove: [\":status\", host, \"\", \"a b\"]\n",
        "hcm.yaml:12:24: " R0 ".request_headers_to_add[0].header.key: invalid header name "
        "\"bad key\"",
        "hcm.yaml:13:24: " R0 ".request_headers_to_add[1].header.key: :-prefixed or host "
        "headers may not be modified",
        "hcm.yaml:14:24: " R0 ".request_headers_to_add[2].header.key: :-prefixed or host "
        "headers may not be modified",
        "hcm.yaml:15:36: " R0 ".request_headers_to_add[3].header.value: Not supported field in "
        "StreamInfo: NOT_AN_OPERATOR",
        "hcm.yaml:16:36: " R0 ".request_headers_to_add[4].header.value: Incorrect "
        "configuration: %REQ(x-c). Couldn't find valid command at position 0",
        "hcm.yaml:17:9: " R0 ".request_headers_to_add[5]: Both append and append_action are set "
        "and it's not allowed",
        "hcm.yaml:20:9: " R0 ".request_headers_to_add[6].header: header is required",
        "hcm.yaml:21:17: " R0 ".request_headers_to_add[7].header.key: key is required (a header "
        "name)",
        "hcm.yaml:22:36: " R0 ".response_headers_to_remove[0]: :-prefixed or host headers may "
        "not be removed",
        "hcm.yaml:22:47: " R0 ".response_headers_to_remove[1]: :-prefixed or host headers may "
        "not be removed",
        "hcm.yaml:22:53: " R0 ".response_headers_to_remove[2]: a header name must not be empty",
        "hcm.yaml:22:57: " R0 ".response_headers_to_remove[3]: invalid header name \"a b\"");
    /* clang-format on */
}

/* ---- virtual hosts and domains --------------------------------------------------------------- */

static void test_domain_errors(void **state)
{
    (void)state;
    /* clang-format off */
    expect_errors(
        /* 1 */ "\"@type\": " HCM_URL "\n"
        /* 2 */ "stat_prefix: s\n"
        /* 3 */ "http_filters: [ { name: envoy.filters.http.router } ]\n"
        /* 4 */ "route_config:\n"
        /* 5 */ "  name: rt\n"
        /* 6 */ "  virtual_hosts:\n"
        /* 7 */ "  - { name: a, domains: [\"*\", foo.com, \"*.bar.com\", \"baz.*\"] }\n"
        /* 8 */ "  - { name: b, domains: [FOO.com, \"*\", \"*.bar.com\", \"baz.*\","
                " \"*.bar.co\"] }\n"
        /* 9 */ "  - { name: \"\", domains: [] }\n"
        /* 10 */ "  - { name: c, domains: [\"a\\tb\"], require_tls: ALL }\n"
        /* 11 */ "  - { name: d }\n",
        "hcm.yaml:9:13: typed_config.route_config.virtual_hosts[2].name: name is required (a "
        "non-empty string)",
        "hcm.yaml:9:26: typed_config.route_config.virtual_hosts[2].domains: domains must have at "
        "least one entry (use \"*\" to match any host)",
        "hcm.yaml:10:35: typed_config.route_config.virtual_hosts[3].require_tls: require_tls is "
        "not supported by Remora yet",
        "hcm.yaml:10:26: typed_config.route_config.virtual_hosts[3].domains[0]: domains cannot "
        "contain control characters",
        "hcm.yaml:11:5: typed_config.route_config.virtual_hosts[4].domains: domains must have at "
        "least one entry (use \"*\" to match any host)",
        "hcm.yaml:8:26: typed_config.route_config.virtual_hosts[1].domains[0]: Only unique "
        "values for domains are permitted. Duplicate entry of domain foo.com in route rt",
        "hcm.yaml:8:35: typed_config.route_config.virtual_hosts[1].domains[1]: Only a single "
        "wildcard domain is permitted in route rt",
        "hcm.yaml:8:40: typed_config.route_config.virtual_hosts[1].domains[2]: Only unique "
        "values for domains are permitted. Duplicate entry of domain *.bar.com in route rt",
        "hcm.yaml:8:53: typed_config.route_config.virtual_hosts[1].domains[3]: Only unique "
        "values for domains are permitted. Duplicate entry of domain baz.* in route rt");
    /* clang-format on */
}

/* ---- clusters named by routes ---------------------------------------------------------------- */

/* clang-format off */
static const char UNKNOWN_CLUSTERS[] =
    /* 1 */ "\"@type\": " HCM_URL "\n"
    /* 2 */ "stat_prefix: s\n"
    /* 3 */ "http_filters: [ { name: envoy.filters.http.router } ]\n"
    /* 4 */ "route_config:\n"
    /* 5 */ "  request_mirror_policies: [ { cluster: gone-mirror } ]\n"
    /* 6 */ "  virtual_hosts:\n"
    /* 7 */ "  - name: v\n"
    /* 8 */ "    domains: [\"*\"]\n"
    /* 9 */ "    routes:\n"
    /* 10 */ "    - match: { prefix: /a }\n"
    /* 11 */ "      route: { cluster: nope }\n"
    /* 12 */ "    - match: { prefix: /b }\n"
    /* 13 */ "      route:\n"
    /* 14 */ "        weighted_clusters: { clusters: [ { name: c1, weight: 1 }, { name: missing,"
             " weight: 1 } ] }\n"
    /* 15 */ "        request_mirror_policies: [ { cluster: shadow }, { cluster: no-shadow } ]\n"
    /* 16 */ "    - match: { prefix: /c }\n"
    /* 17 */ "      route: { cluster_header: x-cluster }\n";
/* clang-format on */

static void test_unknown_clusters(void **state)
{
    (void)state;
    expect_errors(UNKNOWN_CLUSTERS,
                  "hcm.yaml:5:41: typed_config.route_config.request_mirror_policies[0].cluster: "
                  "route: unknown shadow cluster 'gone-mirror'",
                  "hcm.yaml:11:25: typed_config.route_config.virtual_hosts[0].routes[0].route."
                  "cluster: route: unknown cluster 'nope'",
                  "hcm.yaml:14:75: typed_config.route_config.virtual_hosts[0].routes[1].route."
                  "weighted_clusters.clusters[1].name: route: unknown weighted cluster 'missing'",
                  "hcm.yaml:15:68: typed_config.route_config.virtual_hosts[0].routes[1].route."
                  "request_mirror_policies[1].cluster: route: unknown shadow cluster "
                  "'no-shadow'");

    /* validate_clusters: false leaves them to request time (CDS may bring them later). */
    char *yaml = malloc(strlen(UNKNOWN_CLUSTERS) + 64);
    assert_non_null(yaml);
    const char *at = strstr(UNKNOWN_CLUSTERS, "route_config:\n") + strlen("route_config:\n");
    snprintf(yaml, strlen(UNKNOWN_CLUSTERS) + 64, "%.*s  validate_clusters: false\n%s",
             (int)(at - UNKNOWN_CLUSTERS), UNKNOWN_CLUSTERS, at);
    struct run *r = ok(yaml);
    assert_int_equal(r->hcm->route_config->vhosts[0].n_routes, 3);
    /* vhost-level mirrors are inherited only where a route has none of its own */
    assert_string_equal(r->hcm->route_config->vhosts[0].routes[0].action.mirrors[0].cluster,
                        "gone-mirror");
    assert_int_equal(r->hcm->route_config->vhosts[0].routes[1].action.n_mirrors, 2);
    run_free(r);
    free(yaml);
}

/* ---- warnings: deprecated and no-effect fields ----------------------------------------------- */

static void test_warnings(void **state)
{
    (void)state;
    /* clang-format off */
    expect_warnings(
        HEAD
        /* 9 */ "    - match: { prefix: /, headers: [ { name: x, exact_match: y } ] }\n"
        /* 10 */ "      route:\n"
        /* 11 */ "        weighted_clusters: { total_weight: 100, clusters: [ { name: c1,"
                 " weight: 100 } ] }\n"
        /* 12 */ "        hash_policy: [ { header: { header_name: x-user } } ]\n"
        /* 13 */ "      stat_prefix: api\n"
        /* 14 */ "      decorator: { operation: op }\n"
        /* 15 */ "    - match: { safe_regex: { google_re2: {}, regex: \"/x\" } }\n"
        /* 16 */ "      direct_response: { status: 200 }\n"
        /* 17 */ "      request_headers_to_add: [ { header: { key: a, value: b }, append: true }"
                 " ]\n",
        "hcm.yaml:13:7: " R0 ".stat_prefix: stat_prefix has no effect in Remora: per-route "
        "statistics are not generated",
        "hcm.yaml:9:49: " R0 ".match.headers[0].exact_match: Using deprecated option "
        "'envoy.config.route.v3.HeaderMatcher.exact_match': use string_match",
        "hcm.yaml:12:9: " R0 ".route.hash_policy: hash_policy has no effect in Remora: no "
        "hashing load balancer (RING_HASH, MAGLEV) is implemented",
        "hcm.yaml:11:30: " R0 ".route.weighted_clusters.total_weight: Using deprecated option "
        "'envoy.config.route.v3.WeightedCluster.total_weight'; it has no effect in Remora: Envoy "
        "uses the sum of the cluster weights",
        "hcm.yaml:15:30: typed_config.route_config.virtual_hosts[0].routes[1].match.safe_regex."
        "google_re2: Using deprecated option 'envoy.type.matcher.v3.RegexMatcher.google_re2'; it "
        "has no effect in Remora: RE2 syntax is always used",
        "hcm.yaml:17:65: typed_config.route_config.virtual_hosts[0].routes[1]."
        "request_headers_to_add[0].append: Using deprecated option "
        "'envoy.config.core.v3.HeaderValueOption.append': use append_action");
    /* clang-format on */

    /* The deprecated append: false still means OVERWRITE_IF_EXISTS_OR_ADD (Envoy). */
    struct run *r = run(HEAD "    - match: { prefix: / }\n"
                             "      direct_response: { status: 200 }\n"
                             "      response_headers_to_add:\n"
                             "      - { header: { key: a, value: b }, append: false }\n"
                             "      - { header: { key: c, value: d }, append: true }\n");
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->err.n_warnings, 2);
    const struct cfg_header_mutations *m = &r->hcm->route_config->vhosts[0].routes[0].mut;
    assert_int_equal(m->n_resp_add, 2);
    assert_int_equal(m->resp_add[0].action, OVERWRITE_IF_EXISTS_OR_ADD);
    assert_int_equal(m->resp_add[1].action, APPEND_IF_EXISTS_OR_ADD);
    run_free(r);
}

/* ---- DataSource files ------------------------------------------------------------------------ */

static void test_direct_response_file(void **state)
{
    (void)state;
    char path[] = "/tmp/remora_body_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from\0file", 9), 9);
    close(fd);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             HEAD "    - match: { prefix: / }\n"
                  "      direct_response: { status: 500, body: { filename: %s } }\n",
             path);
    struct run *r = ok(yaml);
    const struct cfg_direct_response *d = &r->hcm->route_config->vhosts[0].routes[0].direct;
    assert_int_equal(d->status, 500);
    assert_int_equal(d->body_len, 9);
    assert_memory_equal(d->body, "from\0file", 9);
    run_free(r);

    /* too large for max_direct_response_body_size_bytes; then a missing file */
    snprintf(yaml, sizeof(yaml),
             HEAD "    - match: { prefix: / }\n"
                  "      direct_response: { status: 500, body: { filename: %s } }\n"
                  "  max_direct_response_body_size_bytes: 8\n",
             path);
    struct run *e = run(yaml);
    assert_int_equal(e->rc, -RM_ECONFIG);
    assert_int_equal(e->err.n_errors, 1);
    char want[512];
    snprintf(want, sizeof(want),
             "hcm.yaml:10:57: " R0 ".direct_response.body.filename: response body file %s size "
             "is more than 8 bytes; maximum is 8",
             path);
    assert_string_equal(e->err.msgs[0].text, want);
    run_free(e);

    /* environment_variable, read at load */
    setenv("REMORA_TEST_BODY", "maintenance", 1);
    r = ok(HEAD "    - match: { prefix: / }\n"
                "      direct_response: { status: 503, body: { environment_variable: "
                "REMORA_TEST_BODY } }\n");
    d = &r->hcm->route_config->vhosts[0].routes[0].direct;
    assert_int_equal(d->body_len, 11);
    assert_string_equal(d->body, "maintenance");
    run_free(r);
    unsetenv("REMORA_TEST_BODY");
    expect_errors(HEAD "    - match: { prefix: / }\n"
                       "      direct_response: { status: 503, body: { environment_variable: "
                       "REMORA_TEST_BODY, inline_string: x } }\n",
                  "hcm.yaml:10:45: " R0 ".direct_response.body: only one of inline_string, "
                  "inline_bytes, filename and environment_variable may be set (oneof specifier)");
    expect_errors(HEAD "    - match: { prefix: / }\n"
                       "      direct_response: { status: 503, body: { environment_variable: "
                       "REMORA_TEST_BODY } }\n",
                  "hcm.yaml:10:69: " R0 ".direct_response.body.environment_variable: "
                  "environment variable REMORA_TEST_BODY is not set");

    unlink(path);
    e = run(yaml);
    assert_int_equal(e->err.n_errors, 1);
    snprintf(want, sizeof(want),
             "hcm.yaml:10:57: " R0 ".direct_response.body.filename: response body file %s "
             "cannot be read: No such file or directory",
             path);
    assert_string_equal(e->err.msgs[0].text, want);
    run_free(e);
}

/* ---- through a whole bootstrap ------------------------------------------------------------ */

static void test_bootstrap(void **state)
{
    (void)state;
    /* clang-format off */
    static const char yaml[] =
        /* 1 */ "static_resources:\n"
        /* 2 */ "  listeners:\n"
        /* 3 */ "  - address: { socket_address: { address: 127.0.0.1, port_value: 10080 } }\n"
        /* 4 */ "    filter_chains:\n"
        /* 5 */ "    - filters:\n"
        /* 6 */ "      - name: envoy.filters.network.http_connection_manager\n"
        /* 7 */ "        typed_config:\n"
        /* 8 */ "          \"@type\": " HCM_URL "\n"
        /* 9 */ "          stat_prefix: ingress\n"
        /* 10 */ "          http_filters: [ { name: envoy.filters.http.router } ]\n"
        /* 11 */ "          route_config:\n"
        /* 12 */ "            virtual_hosts:\n"
        /* 13 */ "            - name: v\n"
        /* 14 */ "              domains: [\"*\"]\n"
        /* 15 */ "              routes:\n"
        /* 16 */ "              - { match: { prefix: /a }, route: { cluster: web } }\n"
        /* 17 */ "              - { match: { prefix: / }, route: { cluster: nope } }\n"
        /* 18 */ "  clusters:\n"
        /* 19 */ "  - name: web\n"
        /* 20 */ "    load_assignment:\n"
        /* 21 */ "      cluster_name: web\n"
        /* 22 */ "      endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address:"
                 " { address: 127.0.0.1, port_value: 8080 } } } } ] } ]\n";
    /* clang-format on */
    struct cfg_err err;
    struct snapshot *snap = NULL;
    struct cfg_load_opts opts = {.config_yaml = yaml};
    cfg_err_init(&err);
    assert_int_equal(config_load(&opts, &snap, &err), -RM_ECONFIG);
    assert_null(snap);
    static const char *const want[] = {
        "--config-yaml:17:59: static_resources.listeners[0].filter_chains[0].filters[0]."
        "typed_config.route_config.virtual_hosts[0].routes[1].route.cluster: route: unknown "
        "cluster 'nope'"};
    assert_msgs(&err, CFG_ERROR, want, 1);
    cfg_err_fini(&err);

    /* with the cluster fixed, the listener's filter config is the struct cfg_hcm */
    char *fixed = strdup(yaml);
    assert_non_null(fixed);
    memcpy(strstr(fixed, "cluster: nope"), "cluster: web ", 13);
    opts.config_yaml = fixed;
    cfg_err_init(&err);
    assert_int_equal(config_load(&opts, &snap, &err), 0);
    assert_int_equal(err.n, 0);
    const struct cfg_net_filter *nf = &snap->bs->listeners[0].chains[0].filters[0];
    assert_string_equal(nf->def->name, HCM_NAME);
    const struct cfg_hcm *h = nf->config;
    assert_string_equal(h->stat_prefix, "ingress");
    assert_string_equal(h->route_config->vhosts[0].routes[1].action.cluster, "web");
    snap_unref(snap);
    cfg_err_fini(&err);
    free(fixed);
}

/* ---- registry -------------------------------------------------------------------------------- */

static void test_registry(void **state)
{
    (void)state;
    const struct http_filter_def *d = filter_find_http(NULL, "envoy.filters.http.router");
    assert_non_null(d);
    assert_string_equal(d->name, ROUTER_NAME);
    assert_string_equal(d->type_url, ROUTER_URL);
    assert_true(d->terminal);
    assert_null(d->ops);
    assert_ptr_equal(filter_find_http(ROUTER_URL, "any-name"), d);
    /* the type decides when given; the name only without a type */
    assert_null(filter_find_http("type.googleapis.com/x.Y", "envoy.filters.http.router"));
    assert_null(filter_find_http(NULL, "router"));
    assert_true(filter_is_known_unsupported_http(
        "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        NULL));
    assert_true(filter_is_known_unsupported_http(NULL, "envoy.filters.http.ext_authz"));
    assert_true(filter_is_known_unsupported_http(NULL, "envoy.filters.http.health_check"));
    assert_true(filter_is_known_unsupported_http(
        "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb", "x"));
    assert_false(filter_is_known_unsupported_http(
        "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.NotRBAC", NULL));
    assert_false(filter_is_known_unsupported_http(NULL, "envoy.filters.http.routerx"));
    assert_false(filter_is_known_unsupported_http(NULL, "envoy.filters.http.router"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_front_proxy),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_hcm_errors),
        cmocka_unit_test(test_http2_options),
        cmocka_unit_test(test_upgrade_configs),
        cmocka_unit_test(test_http_filter_errors),
        cmocka_unit_test(test_route_actions),
        cmocka_unit_test(test_retry_policy_errors),
        cmocka_unit_test(test_weighted_and_rewrite_errors),
        cmocka_unit_test(test_matcher_errors),
        cmocka_unit_test(test_header_mutation_errors),
        cmocka_unit_test(test_domain_errors),
        cmocka_unit_test(test_unknown_clusters),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_direct_response_file),
        cmocka_unit_test(test_bootstrap),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
