/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/route_test.c — proxy/route: virtual host selection (exact, suffix and
 * prefix wildcards, "*", case, ports), path matchers (prefix, path, path_separated_prefix,
 * safe_regex, case_sensitive, query stripping), header matchers (every kind, invert, ranges,
 * missing headers, repeated headers, pseudo-headers), query parameters, runtime fractions
 * with fixed random values, weighted picks at their boundaries (with runtime overrides),
 * path rewrites and redirect Locations. Route tables come from YAML through the translator,
 * so the tests read like Envoy configs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/err.h"
#include "config/translate_http.h"
#include "config/value.h"
#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/http_msg.h"
#include "proxy/route.h"

/* ---- fixture: a route table from YAML, a request --------------------------------------------- */

struct fx {
    struct arena model; /* translated config */
    struct arena req_arena;
    struct vt_doc *doc;
    struct cfg_err err;
    const struct cfg_route_config *rc;
    struct http_msg req;
};

static struct fx *fx_new(const char *yaml)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    arena_init(&f->model, 0);
    arena_init(&f->req_arena, 0);
    cfg_err_init(&f->err);
    assert_int_equal(vt_parse_string("rc.yaml", yaml, strlen(yaml), &f->doc, &f->err), 0);
    struct cfg_ctx ctx;
    cfg_ctx_init(&ctx, &f->model, &f->err, NULL);
    struct cfg_route_config *rc = NULL;
    int rc_ = cfg_translate_route_config(&ctx, f->doc->root, "route_config", &rc, NULL, NULL);
    cfg_ctx_fini(&ctx);
    if (rc_ != 0 || f->err.n) {
        cfg_err_print(&f->err, stderr);
        fail_msg("route config did not translate cleanly");
    }
    f->rc = rc;
    http_msg_init(&f->req, &f->req_arena, true);
    return f;
}

static void fx_free(struct fx *f)
{
    vt_doc_free(f->doc);
    cfg_err_fini(&f->err);
    arena_fini(&f->req_arena);
    arena_fini(&f->model);
    free(f);
}

/* Resets the request to |method| |path| with Host |host| (NULL: none). */
static struct http_msg *req(struct fx *f, const char *method, const char *host, const char *path)
{
    http_msg_reset(&f->req);
    assert_int_equal(http_msg_set_method(&f->req, method, strlen(method)), 0);
    if (host)
        assert_int_equal(http_msg_set_authority(&f->req, host, strlen(host)), 0);
    if (path)
        assert_int_equal(http_msg_set_path(&f->req, path, strlen(path)), 0);
    assert_int_equal(http_msg_set_scheme(&f->req, "http", 4), 0);
    return &f->req;
}

static const char *vhost_name(const struct fx *f, const char *host)
{
    const struct cfg_vhost *vh = route_find_vhost(f->rc, host, host ? strlen(host) : 0);
    return vh ? vh->name : "(none)";
}

/* The name of the route |path| (with |f->req|'s other fields) matches in the first vhost. */
static const char *route_name(struct fx *f, const char *path, uint64_t rnd,
                              const struct route_runtime *rt)
{
    if (path)
        assert_int_equal(http_msg_set_path(&f->req, path, strlen(path)), 0);
    else
        f->req.path.n = 0;
    const struct cfg_route *r = route_match(&f->rc->vhosts[0], &f->req, rnd, rt);
    return r ? r->name : "(none)";
}

/* ---- virtual hosts --------------------------------------------------------------------------- */

static const char DOMAINS[] = "name: rc1\n"
                              "virtual_hosts:\n"
                              "- { name: exact, domains: [www.foo.com, \"api.foo.com:8443\"] }\n"
                              "- { name: star-dot, domains: [\"*.foo.com\"] }\n"
                              "- { name: star-dash, domains: [\"*-bar.foo.com\"] }\n"
                              "- { name: prefix, domains: [\"foo.*\"] }\n"
                              "- { name: prefix-long, domains: [\"foo.bar.*\"] }\n"
                              "- { name: upper, domains: [Mixed.Example.ORG] }\n"
                              "- { name: any, domains: [\"*\"] }\n";

static void test_vhost_order(void **state)
{
    (void)state;
    struct fx *f = fx_new(DOMAINS);
    /* exact first, case-insensitively on both sides */
    assert_string_equal(vhost_name(f, "www.foo.com"), "exact");
    assert_string_equal(vhost_name(f, "WWW.Foo.COM"), "exact");
    assert_string_equal(vhost_name(f, "mixed.example.org"), "upper");
    /* then the longest suffix wildcard */
    assert_string_equal(vhost_name(f, "baz-bar.foo.com"), "star-dash");
    assert_string_equal(vhost_name(f, "x.foo.com"), "star-dot");
    assert_string_equal(vhost_name(f, "x.bar.foo.com"), "star-dot");
    /* a wildcard never matches an empty remainder */
    assert_string_equal(vhost_name(f, "-bar.foo.com"), "star-dot");
    assert_string_equal(vhost_name(f, ".foo.com"), "any");
    /* then the longest prefix wildcard */
    assert_string_equal(vhost_name(f, "foo.bar.baz"), "prefix-long");
    assert_string_equal(vhost_name(f, "foo.x"), "prefix");
    assert_string_equal(vhost_name(f, "foo."), "any");
    /* then "*" */
    assert_string_equal(vhost_name(f, "other.org"), "any");
    assert_string_equal(vhost_name(f, "foo"), "any");
    fx_free(f);
}

static void test_vhost_ports(void **state)
{
    (void)state;
    struct fx *f = fx_new(DOMAINS);
    /* The port is part of the host, as in Envoy by default. */
    assert_string_equal(vhost_name(f, "api.foo.com:8443"), "exact");
    assert_string_equal(vhost_name(f, "api.foo.com"), "star-dot");
    assert_string_equal(vhost_name(f, "www.foo.com:8080"), "any");
    assert_string_equal(vhost_name(f, "x.foo.com:80"), "any");
    assert_string_equal(vhost_name(f, "foo.com:80"), "prefix");
    fx_free(f);

    f = fx_new("virtual_hosts:\n"
               "- { name: a, domains: [a.com, \"a.com:80\"] }\n"
               "- { name: b, domains: [\"*.b.com\"] }\n");
    assert_string_equal(vhost_name(f, "a.com:80"), "a");
    assert_string_equal(vhost_name(f, "a.com"), "a");
    /* no "*": nothing matches, and no Host matches nothing */
    assert_string_equal(vhost_name(f, "a.com:81"), "(none)");
    assert_string_equal(vhost_name(f, "c.com"), "(none)");
    assert_string_equal(vhost_name(f, NULL), "(none)");
    fx_free(f);

    /* A lone "*" also serves requests without a Host (Envoy's fast path). */
    f = fx_new("virtual_hosts: [ { name: only, domains: [\"*\"] } ]\n");
    assert_string_equal(vhost_name(f, NULL), "only");
    assert_string_equal(vhost_name(f, "x"), "only");
    fx_free(f);
    f = fx_new(DOMAINS);
    assert_string_equal(vhost_name(f, NULL), "(none)");
    assert_null(route_find_vhost(NULL, "x", 1));
    fx_free(f);
}

/* ---- path matchers --------------------------------------------------------------------------- */

static void test_path_matchers(void **state)
{
    (void)state;
    struct fx *f =
        fx_new("virtual_hosts:\n"
               "- name: v\n"
               "  domains: [\"*\"]\n"
               "  routes:\n"
               "  - { name: exact, match: { path: /exact }, direct_response: { status: 200 } }\n"
               "  - { name: exact-ci, match: { path: /Exact-CI, case_sensitive: false },"
               " direct_response: { status: 200 } }\n"
               "  - { name: sep, match: { path_separated_prefix: /api/dev },"
               " direct_response: { status: 200 } }\n"
               "  - { name: regex, match: { safe_regex: { regex: \"/v[0-9]+/.*\" } },"
               " direct_response: { status: 200 } }\n"
               "  - { name: api, match: { prefix: /api }, direct_response: { status: 200 } }\n"
               "  - { name: ci, match: { prefix: /CI/, case_sensitive: false },"
               " direct_response: { status: 200 } }\n"
               "  - { name: root, match: { prefix: / }, direct_response: { status: 200 } }\n");
    req(f, "GET", "h", "/");
    assert_string_equal(route_name(f, "/exact", 0, NULL), "exact");
    assert_string_equal(route_name(f, "/exact?q=1", 0, NULL), "exact");
    assert_string_equal(route_name(f, "/exact#frag", 0, NULL), "exact");
    assert_string_equal(route_name(f, "/exact/", 0, NULL), "root");
    assert_string_equal(route_name(f, "/EXACT", 0, NULL), "root");
    assert_string_equal(route_name(f, "/exact-ci", 0, NULL), "exact-ci");
    assert_string_equal(route_name(f, "/EXACT-ci?x", 0, NULL), "exact-ci");
    /* path_separated_prefix: the prefix, then the end or '/' */
    assert_string_equal(route_name(f, "/api/dev", 0, NULL), "sep");
    assert_string_equal(route_name(f, "/api/dev/", 0, NULL), "sep");
    assert_string_equal(route_name(f, "/api/dev/v1", 0, NULL), "sep");
    assert_string_equal(route_name(f, "/api/dev?param=true", 0, NULL), "sep");
    assert_string_equal(route_name(f, "/api/developer", 0, NULL), "api");
    /* safe_regex: a full match on the path without the query */
    assert_string_equal(route_name(f, "/v1/x", 0, NULL), "regex");
    assert_string_equal(route_name(f, "/v12/x?y=/v1/", 0, NULL), "regex");
    assert_string_equal(route_name(f, "/v1", 0, NULL), "root");
    assert_string_equal(route_name(f, "/x/v1/x", 0, NULL), "root");
    /* prefix: a string prefix (not segment-aware), case-sensitive by default */
    assert_string_equal(route_name(f, "/api", 0, NULL), "api");
    assert_string_equal(route_name(f, "/apix", 0, NULL), "api");
    assert_string_equal(route_name(f, "/API", 0, NULL), "root");
    assert_string_equal(route_name(f, "/ci/x", 0, NULL), "ci");
    assert_string_equal(route_name(f, "/Ci/x", 0, NULL), "ci");
    /* the query is not part of what a prefix sees */
    assert_string_equal(route_name(f, "/ap?i", 0, NULL), "root");
    /* no path (CONNECT): no route */
    assert_string_equal(route_name(f, NULL, 0, NULL), "(none)");
    assert_null(route_match(NULL, &f->req, 0, NULL));
    fx_free(f);
}

/* ---- header matchers ------------------------------------------------------------------------- */

/* Translates one HeaderMatcher written in YAML into |m| (in |a|). */
static void hm(struct arena *a, const char *yaml, struct cfg_header_matcher *m)
{
    struct cfg_err err;
    struct vt_doc *doc;
    cfg_err_init(&err);
    assert_int_equal(vt_parse_string("hm.yaml", yaml, strlen(yaml), &doc, &err), 0);
    struct cfg_ctx ctx;
    cfg_ctx_init(&ctx, a, &err, NULL);
    bool ok = cfg_translate_header_matcher(&ctx, doc->root, "m", m);
    cfg_ctx_fini(&ctx);
    if (!ok || err.n_errors) {
        cfg_err_print(&err, stderr);
        fail_msg("%s", yaml);
    }
    /* the translator copied every string into |a|: the document can go */
    cfg_err_fini(&err);
    vt_doc_free(doc);
}

static bool hmatch(struct arena *a, const char *yaml, const struct http_msg *msg)
{
    struct cfg_header_matcher m;
    hm(a, yaml, &m);
    return route_header_matches(&m, msg);
}

static void test_header_matchers(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 0);
    struct http_msg m;
    http_msg_init(&m, &a, true);
    http_msg_set_method(&m, "POST", 4);
    http_msg_set_authority(&m, "Example.com:8080", 16);
    http_msg_set_path(&m, "/p/q?x=1", 8);
    http_msg_set_scheme(&m, "https", 5);
    http_msg_add(&m, "x-env", "prod-eu");
    http_msg_add(&m, "x-num", "15");
    http_msg_add(&m, "x-neg", "-3");
    http_msg_add(&m, "x-multi", "a");
    http_msg_add(&m, "x-other", "z");
    http_msg_add(&m, "X-Multi", "b");
    http_msg_add(&m, "x-empty", "");

    /* string_match kinds */
    assert_true(hmatch(&a, "{name: x-env, string_match: {exact: prod-eu}}", &m));
    assert_false(hmatch(&a, "{name: x-env, string_match: {exact: PROD-EU}}", &m));
    assert_true(hmatch(&a, "{name: X-Env, string_match: {exact: PROD-EU, ignore_case: true}}", &m));
    assert_true(hmatch(&a, "{name: x-env, string_match: {prefix: prod}}", &m));
    assert_true(hmatch(&a, "{name: x-env, string_match: {suffix: -eu}}", &m));
    assert_false(hmatch(&a, "{name: x-env, string_match: {suffix: -EU}}", &m));
    assert_true(hmatch(&a, "{name: x-env, string_match: {suffix: -EU, ignore_case: true}}", &m));
    assert_true(hmatch(&a, "{name: x-env, string_match: {contains: d-e}}", &m));
    assert_true(hmatch(&a, "{name: x-env, string_match: {contains: D-E, ignore_case: true}}", &m));
    assert_false(hmatch(&a, "{name: x-env, string_match: {contains: x}}", &m));
    assert_true(
        hmatch(&a, "{name: x-env, string_match: {safe_regex: {regex: \"prod-[a-z]+\"}}}", &m));
    assert_false(hmatch(&a, "{name: x-env, string_match: {safe_regex: {regex: prod}}}", &m));
    /* the deprecated direct forms */
    assert_true(hmatch(&a, "{name: x-env, exact_match: prod-eu}", &m));
    assert_true(hmatch(&a, "{name: x-env, exact_match: \"\"}", &m)); /* legacy: any value */
    assert_true(hmatch(&a, "{name: x-env, prefix_match: pro}", &m));
    assert_true(hmatch(&a, "{name: x-env, suffix_match: eu}", &m));
    assert_true(hmatch(&a, "{name: x-env, contains_match: od}", &m));
    assert_true(hmatch(&a, "{name: x-env, safe_regex_match: {regex: \".*-eu\"}}", &m));
    /* presence */
    assert_true(hmatch(&a, "{name: x-env}", &m)); /* no specifier: present */
    assert_true(hmatch(&a, "{name: x-env, present_match: true}", &m));
    assert_false(hmatch(&a, "{name: x-env, present_match: false}", &m));
    assert_true(hmatch(&a, "{name: x-nope, present_match: false}", &m));
    assert_false(hmatch(&a, "{name: x-nope, present_match: true}", &m));
    assert_true(hmatch(&a, "{name: x-empty, present_match: true}", &m));
    /* ranges: [start, end) on a base-10 integer */
    assert_true(hmatch(&a, "{name: x-num, range_match: {start: 10, end: 20}}", &m));
    assert_true(hmatch(&a, "{name: x-num, range_match: {start: 15, end: 16}}", &m));
    assert_false(hmatch(&a, "{name: x-num, range_match: {start: 10, end: 15}}", &m));
    assert_false(hmatch(&a, "{name: x-num, range_match: {start: 16, end: 20}}", &m));
    assert_true(hmatch(&a, "{name: x-neg, range_match: {start: -10, end: 0}}", &m));
    assert_false(hmatch(&a, "{name: x-env, range_match: {start: 0, end: 100}}", &m));
    assert_false(hmatch(&a, "{name: x-empty, range_match: {start: -1, end: 1}}", &m));
    /* invert_match flips a present header; a missing one fails either way */
    assert_false(
        hmatch(&a, "{name: x-env, string_match: {exact: prod-eu}, invert_match: true}", &m));
    assert_true(hmatch(&a, "{name: x-env, string_match: {exact: dev}, invert_match: true}", &m));
    assert_true(
        hmatch(&a, "{name: x-num, range_match: {start: 0, end: 10}, invert_match: true}", &m));
    assert_false(hmatch(&a, "{name: x-nope, string_match: {exact: a}, invert_match: true}", &m));
    assert_true(hmatch(&a, "{name: x-nope, present_match: true, invert_match: true}", &m));
    assert_false(hmatch(&a, "{name: x-env, present_match: true, invert_match: true}", &m));
    /* treat_missing_header_as_empty */
    assert_false(hmatch(&a, "{name: x-nope, string_match: {safe_regex: {regex: \"^$\"}}}", &m));
    assert_true(hmatch(&a,
                       "{name: x-nope, string_match: {safe_regex: {regex: \"^$\"}},"
                       " treat_missing_header_as_empty: true}",
                       &m));
    assert_true(hmatch(&a,
                       "{name: x-nope, range_match: {start: 0, end: 10}, invert_match: true,"
                       " treat_missing_header_as_empty: true}",
                       &m));
    /* repeated headers are joined with ',' */
    assert_true(hmatch(&a, "{name: x-multi, string_match: {exact: \"a,b\"}}", &m));
    assert_false(hmatch(&a, "{name: x-multi, string_match: {exact: a}}", &m));
    /* pseudo-headers */
    assert_true(hmatch(&a, "{name: \":method\", string_match: {exact: POST}}", &m));
    assert_true(hmatch(&a, "{name: \":authority\", string_match: {exact: Example.com:8080}}", &m));
    assert_true(hmatch(&a, "{name: \":path\", string_match: {exact: \"/p/q?x=1\"}}", &m));
    assert_true(hmatch(&a, "{name: \":scheme\", string_match: {exact: https}}", &m));
    assert_false(hmatch(&a, "{name: host, present_match: true}", &m)); /* Host is :authority */
    /* responses: :status */
    struct http_msg resp;
    http_msg_init(&resp, &a, false);
    resp.status = 503;
    assert_true(hmatch(&a, "{name: \":status\", string_match: {exact: \"503\"}}", &resp));
    assert_true(hmatch(&a, "{name: \":status\", range_match: {start: 500, end: 600}}", &resp));
    assert_false(hmatch(&a, "{name: \":method\", present_match: true}", &resp));
    arena_fini(&a);
}

static void test_headers_and_query_in_routes(void **state)
{
    (void)state;
    struct fx *f =
        fx_new("virtual_hosts:\n"
               "- name: v\n"
               "  domains: [\"*\"]\n"
               "  routes:\n"
               "  - name: both\n"
               "    match:\n"
               "      prefix: /\n"
               "      headers:\n"
               "      - { name: x-a, string_match: { exact: \"1\" } }\n"
               "      - { name: \":method\", string_match: { exact: GET } }\n"
               "    direct_response: { status: 200 }\n"
               "  - name: query\n"
               "    match:\n"
               "      prefix: /\n"
               "      query_parameters:\n"
               "      - { name: debug }\n"
               "      - { name: v, string_match: { exact: \"a%20b\" } }\n"
               "    direct_response: { status: 200 }\n"
               "  - name: query-present\n"
               "    match:\n"
               "      prefix: /\n"
               "      query_parameters: [ { name: Flag, present_match: true } ]\n"
               "    direct_response: { status: 200 }\n"
               "  - name: query-regex\n"
               "    match:\n"
               "      prefix: /\n"
               "      query_parameters:\n"
               "      - { name: id, string_match: { safe_regex: { regex: \"[0-9]+\" } } }\n"
               "    direct_response: { status: 200 }\n"
               "  - { name: fallback, match: { prefix: / }, direct_response: { status: 404 } }\n");
    req(f, "GET", "h", "/");
    http_msg_add(&f->req, "x-a", "1");
    assert_string_equal(route_name(f, "/", 0, NULL), "both");
    req(f, "POST", "h", "/");
    http_msg_add(&f->req, "x-a", "1");
    assert_string_equal(route_name(f, "/", 0, NULL), "fallback"); /* all headers must match */

    req(f, "GET", "h", "/");
    /* query: every matcher, first occurrence, names case-sensitive, values as received */
    assert_string_equal(route_name(f, "/x?debug&v=a%20b", 0, NULL), "query");
    assert_string_equal(route_name(f, "/x?v=a%20b&debug=0", 0, NULL), "query");
    assert_string_equal(route_name(f, "/x?debug&v=a b", 0, NULL), "fallback");
    assert_string_equal(route_name(f, "/x?debug&v=a%20b2", 0, NULL), "fallback");
    assert_string_equal(route_name(f, "/x?debug&v=x&v=a%20b", 0, NULL), "fallback");
    assert_string_equal(route_name(f, "/x?v=a%20b", 0, NULL), "fallback");
    assert_string_equal(route_name(f, "/x?Flag", 0, NULL), "query-present");
    assert_string_equal(route_name(f, "/x?flag", 0, NULL), "fallback");
    assert_string_equal(route_name(f, "/x?a=1&Flag=&b", 0, NULL), "query-present");
    assert_string_equal(route_name(f, "/x?id=123", 0, NULL), "query-regex");
    assert_string_equal(route_name(f, "/x?id=123a", 0, NULL), "fallback");
    assert_string_equal(route_name(f, "/x?ids=1", 0, NULL), "fallback");
    assert_string_equal(route_name(f, "/x", 0, NULL), "fallback");
    fx_free(f);
}

/* ---- runtime fractions ----------------------------------------------------------------------- */

struct fake_runtime {
    const char *key[4];
    uint64_t val[4];
    int calls;
};

static uint64_t fake_get(void *ctx, const char *key, uint64_t dflt)
{
    struct fake_runtime *r = ctx;
    r->calls++;
    for (int i = 0; i < 4 && r->key[i]; i++)
        if (strcmp(r->key[i], key) == 0)
            return r->val[i];
    return dflt;
}

static void test_runtime_fraction(void **state)
{
    (void)state;
    struct fx *f =
        fx_new("virtual_hosts:\n"
               "- name: v\n"
               "  domains: [\"*\"]\n"
               "  routes:\n"
               "  - name: canary\n"
               "    match:\n"
               "      prefix: /\n"
               "      runtime_fraction:\n"
               "        default_value: { numerator: 25 }\n"
               "        runtime_key: routing.canary\n"
               "    direct_response: { status: 200 }\n"
               "  - name: fine\n"
               "    match:\n"
               "      prefix: /\n"
               "      runtime_fraction:\n"
               "        default_value: { numerator: 5, denominator: TEN_THOUSAND }\n"
               "    direct_response: { status: 200 }\n"
               "  - { name: stable, match: { prefix: / }, direct_response: { status: 200 } }\n");
    req(f, "GET", "h", "/");
    /* random % 100 < 25 */
    assert_string_equal(route_name(f, "/", 0, NULL), "canary");
    assert_string_equal(route_name(f, "/", 24, NULL), "canary");
    assert_string_equal(route_name(f, "/", 25, NULL), "stable");
    assert_string_equal(route_name(f, "/", 124, NULL), "canary");
    assert_string_equal(route_name(f, "/", 125, NULL), "stable");
    struct fake_runtime fr = {{"routing.canary"}, {50}, 0};
    struct route_runtime rt = {fake_get, &fr};
    /* runtime override: an integer percentage */
    assert_string_equal(route_name(f, "/", 49, &rt), "canary");
    assert_string_equal(route_name(f, "/", 50, &rt), "stable");
    assert_true(fr.calls > 0);
    fr.val[0] = 0;
    assert_string_equal(route_name(f, "/", 30, &rt), "stable");
    fr.val[0] = 150; /* above 100: always */
    assert_string_equal(route_name(f, "/", 99, &rt), "canary");
    fr.key[0] = "other"; /* key unset: the configured default */
    assert_string_equal(route_name(f, "/", 24, &rt), "canary");
    assert_string_equal(route_name(f, "/", 25, &rt), "stable");
    /* canary off at runtime: the second route, random % 10000 < 5 */
    fr.key[0] = "routing.canary";
    fr.val[0] = 0;
    assert_string_equal(route_name(f, "/", 4, &rt), "fine");
    assert_string_equal(route_name(f, "/", 5, &rt), "stable");
    assert_string_equal(route_name(f, "/", 10004, &rt), "fine");
    assert_string_equal(route_name(f, "/", 10005, &rt), "stable");
    fx_free(f);

    /* route_fraction_enabled() directly, with the "fine" fraction at its boundaries */
    struct cfg_fraction fine = {5, 10000, NULL};
    assert_true(route_fraction_enabled(&fine, 4, NULL));
    assert_false(route_fraction_enabled(&fine, 5, NULL));
    assert_true(route_fraction_enabled(&fine, 10004, NULL));
    assert_false(route_fraction_enabled(&fine, 9999, NULL));
    struct cfg_fraction million = {1, 1000000, NULL};
    assert_true(route_fraction_enabled(&million, 3000000, NULL));
    assert_false(route_fraction_enabled(&million, 3000001, NULL));
    struct cfg_fraction none = {0, 100, NULL};
    assert_false(route_fraction_enabled(&none, 0, NULL));
    struct cfg_fraction all = {100, 100, NULL};
    assert_true(route_fraction_enabled(&all, 99, NULL));
}

/* ---- weighted clusters ----------------------------------------------------------------------- */

static const char *pick(const struct cfg_route_action *a, uint64_t rnd,
                        const struct route_runtime *rt)
{
    const struct cfg_weighted_cluster_http *w = route_pick_weighted(a, rnd, rt);
    return w ? w->name : "(none)";
}

static void test_weighted_picks(void **state)
{
    (void)state;
    struct fx *f = fx_new("virtual_hosts:\n"
                          "- name: v\n"
                          "  domains: [\"*\"]\n"
                          "  routes:\n"
                          "  - match: { prefix: / }\n"
                          "    route:\n"
                          "      weighted_clusters:\n"
                          "        runtime_key_prefix: rt\n"
                          "        clusters:\n"
                          "        - { name: a, weight: 1 }\n"
                          "        - { name: b, weight: 2 }\n"
                          "        - { name: c, weight: 0 }\n"
                          "        - { name: d, weight: 3 }\n");
    const struct cfg_route_action *a = &f->rc->vhosts[0].routes[0].action;
    assert_int_equal(a->spec, CSPEC_WEIGHTED);
    assert_int_equal(a->total_weight, 6);
    /* [0,1) a, [1,3) b, c never, [3,6) d; the random value wraps modulo the total */
    assert_string_equal(pick(a, 0, NULL), "a");
    assert_string_equal(pick(a, 1, NULL), "b");
    assert_string_equal(pick(a, 2, NULL), "b");
    assert_string_equal(pick(a, 3, NULL), "d");
    assert_string_equal(pick(a, 5, NULL), "d");
    assert_string_equal(pick(a, 6, NULL), "a");
    assert_string_equal(pick(a, 6 * 1000003 + 2, NULL), "b");
    assert_string_equal(pick(a, UINT64_MAX, NULL), "d"); /* 2^64-1 % 6 == 3 */

    /* runtime weights "<prefix>.<name>": a=0, b=10, c unset (0), d unset (3): total 13 */
    struct fake_runtime fr = {{"rt.a", "rt.b"}, {0, 10}, 0};
    struct route_runtime rt = {fake_get, &fr};
    assert_string_equal(pick(a, 0, &rt), "b");
    assert_string_equal(pick(a, 9, &rt), "b");
    assert_string_equal(pick(a, 10, &rt), "d");
    assert_string_equal(pick(a, 12, &rt), "d");
    assert_string_equal(pick(a, 13, &rt), "b");
    /* every weight 0 at runtime: no cluster */
    struct fake_runtime zero = {{"rt.a", "rt.b", "rt.c", "rt.d"}, {0, 0, 0, 0}, 0};
    rt.ctx = &zero;
    assert_string_equal(pick(a, 1, &rt), "(none)");
    /* a route without weighted clusters */
    struct cfg_route_action empty = {0};
    assert_string_equal(pick(&empty, 1, NULL), "(none)");
    fx_free(f);
}

/* ---- rewrites and redirects ------------------------------------------------------------------ */

static const char REWRITES[] =
    "virtual_hosts:\n"
    "- name: v\n"
    "  domains: [\"*\"]\n"
    "  routes:\n"
    "  - { name: pfx, match: { prefix: /api/ }, route: { cluster: c, prefix_rewrite: / } }\n"
    "  - { name: path, match: { path: /old }, route: { cluster: c, prefix_rewrite: /new } }\n"
    "  - { name: re, match: { safe_regex: { regex: \"/v[0-9]/.*\" } },"
    " route: { cluster: c, prefix_rewrite: /x } }\n"
    "  - name: sub\n"
    "    match: { prefix: /service/ }\n"
    "    route:\n"
    "      cluster: c\n"
    "      regex_rewrite:\n"
    "        pattern: { regex: \"^/service/([^/]+)(/.*)$\" }\n"
    "        substitution: \"\\\\2/instance/\\\\1\"\n"
    "  - { name: sep, match: { path_separated_prefix: /api2/dev },"
    " route: { cluster: c, prefix_rewrite: /dev } }\n"
    "  - { name: ci, match: { prefix: /CI, case_sensitive: false },"
    " route: { cluster: c, prefix_rewrite: /new } }\n"
    "  - { name: none, match: { prefix: /none }, route: { cluster: c } }\n"
    "  - { name: direct, match: { prefix: /direct }, direct_response: { status: 204 } }\n";

/* The rewritten path of the route |path| matches ("(unchanged)" when none). */
static const char *rewritten(struct fx *f, const char *path, const char *want_route)
{
    req(f, "GET", "h", path);
    const struct cfg_route *r = route_match(&f->rc->vhosts[0], &f->req, 0, NULL);
    assert_non_null(r);
    assert_string_equal(r->name, want_route);
    struct http_slice out;
    assert_int_equal(route_path_rewrite(r, f->req.path.p, f->req.path.n, &f->req_arena, &out), 0);
    if (!out.p)
        return "(unchanged)";
    assert_int_equal(strlen(out.p), out.n);
    return out.p;
}

static void test_path_rewrites(void **state)
{
    (void)state;
    struct fx *f = fx_new(REWRITES);
    assert_string_equal(rewritten(f, "/api/v1?x=1", "pfx"), "/v1?x=1");
    assert_string_equal(rewritten(f, "/api/", "pfx"), "/");
    assert_string_equal(rewritten(f, "/old?q", "path"), "/new?q");
    assert_string_equal(rewritten(f, "/old", "path"), "/new");
    /* safe_regex routes: prefix_rewrite replaces the whole path, the query stays */
    assert_string_equal(rewritten(f, "/v1/y?q=2", "re"), "/x?q=2");
    /* regex_rewrite: the path part only */
    assert_string_equal(rewritten(f, "/service/foo/v1/api?x=/service/a/b", "sub"),
                        "/v1/api/instance/foo?x=/service/a/b");
    assert_string_equal(rewritten(f, "/service/foo", "sub"), "/service/foo"); /* no match */
    assert_string_equal(rewritten(f, "/api2/dev/v1", "sep"), "/dev/v1");
    assert_string_equal(rewritten(f, "/api2/dev", "sep"), "/dev");
    /* case-insensitive prefix: the request's bytes of that length are replaced */
    assert_string_equal(rewritten(f, "/ci/rest", "ci"), "/new/rest");
    assert_string_equal(rewritten(f, "/none/x", "none"), "(unchanged)");
    assert_string_equal(rewritten(f, "/direct", "direct"), "(unchanged)");
    fx_free(f);
}

static const char REDIRECTS[] =
    "virtual_hosts:\n"
    "- name: v\n"
    "  domains: [\"*\"]\n"
    "  routes:\n"
    "  - { name: https, match: { prefix: /https }, redirect: { https_redirect: true } }\n"
    "  - { name: host, match: { prefix: /host },"
    " redirect: { host_redirect: new.example.com, port_redirect: 8443 } }\n"
    "  - { name: hostport, match: { prefix: /hp },"
    " redirect: { host_redirect: \"new.example.com:1\", port_redirect: 2 } }\n"
    "  - { name: path, match: { prefix: /path }, redirect: { path_redirect: /new } }\n"
    "  - { name: strip, match: { prefix: /strip },"
    " redirect: { path_redirect: /new, strip_query: true } }\n"
    "  - { name: own, match: { prefix: /own },"
    " redirect: { path_redirect: \"/new?b=2\", strip_query: true } }\n"
    "  - { name: pfx, match: { prefix: /v1/ },"
    " redirect: { prefix_rewrite: /v2/, response_code: PERMANENT_REDIRECT } }\n"
    "  - { name: pfxstrip, match: { prefix: /v3/ },"
    " redirect: { prefix_rewrite: /v4/, strip_query: true } }\n"
    "  - { name: scheme, match: { prefix: /scheme },"
    " redirect: { scheme_redirect: HTTP } }\n"
    "  - { name: port, match: { prefix: /port }, redirect: { port_redirect: 9090 } }\n"
    "  - { name: rel, match: { prefix: /rel }, redirect: { path_redirect: rel } }\n"
    "  - { name: fwd, match: { prefix: / }, route: { cluster: c } }\n";

/* The Location for |path| with Host |host| and x-forwarded-proto |xfp| (NULL: none). */
static const char *location(struct fx *f, const char *host, const char *path, const char *xfp)
{
    req(f, "GET", host, path);
    if (xfp)
        http_msg_add(&f->req, "x-forwarded-proto", xfp);
    const struct cfg_route *r = route_match(&f->rc->vhosts[0], &f->req, 0, NULL);
    assert_non_null(r);
    struct http_slice out;
    int rc = route_redirect_location(r, &f->req, &f->req_arena, &out);
    if (rc == -RM_EINVAL)
        return "(not a redirect)";
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(out.p), out.n);
    return out.p;
}

static void test_redirect_location(void **state)
{
    (void)state;
    struct fx *f = fx_new(REDIRECTS);
    /* scheme change drops the old scheme's default port, keeps others */
    assert_string_equal(location(f, "foo.com:80", "/https/a?q=1", "http"),
                        "https://foo.com/https/a?q=1");
    assert_string_equal(location(f, "foo.com:8080", "/https", "http"),
                        "https://foo.com:8080/https");
    assert_string_equal(location(f, "foo.com", "/https", NULL), "https://foo.com/https");
    /* same scheme: :443 stays (nothing changes the scheme) */
    assert_string_equal(location(f, "foo.com:443", "/https", "https"), "https://foo.com:443/https");
    /* the request's scheme when nothing changes it; :scheme without x-forwarded-proto */
    assert_string_equal(location(f, "foo.com", "/path?a=1", NULL), "http://foo.com/new?a=1");
    assert_string_equal(location(f, "foo.com", "/path?a=1", "https"), "https://foo.com/new?a=1");
    /* host and port */
    assert_string_equal(location(f, "foo.com:81", "/host/x", NULL),
                        "http://new.example.com:8443/host/x");
    assert_string_equal(location(f, "foo.com", "/hp", NULL), "http://new.example.com:2/hp");
    assert_string_equal(location(f, "foo.com:81", "/port", NULL), "http://foo.com:9090/port");
    assert_string_equal(location(f, "[::1]:81", "/port", NULL), "http://[::1]:9090/port");
    /* strip_query, and a path_redirect's own query that strip_query leaves alone */
    assert_string_equal(location(f, "h", "/strip?a=1", NULL), "http://h/new");
    assert_string_equal(location(f, "h", "/own?a=1", NULL), "http://h/new?b=2");
    /* prefix_rewrite on the request path */
    assert_string_equal(location(f, "h", "/v1/x?q", NULL), "http://h/v2/x?q");
    assert_string_equal(location(f, "h", "/v3/x?q", NULL), "http://h/v4/x");
    assert_int_equal(f->rc->vhosts[0].routes[6].redirect.response_code, 308);
    assert_int_equal(f->rc->vhosts[0].routes[0].redirect.response_code, 301);
    /* scheme_redirect (lowercased) from https drops :443, IPv6 aware */
    assert_string_equal(location(f, "[::1]:443", "/scheme", "https"), "http://[::1]/scheme");
    assert_string_equal(location(f, "h:443", "/scheme", "https"), "http://h/scheme");
    /* a leading '/' is added */
    assert_string_equal(location(f, "h", "/rel", NULL), "http://h/rel");
    /* only redirect routes have a Location */
    assert_string_equal(location(f, "h", "/other", NULL), "(not a redirect)");
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vhost_order),
        cmocka_unit_test(test_vhost_ports),
        cmocka_unit_test(test_path_matchers),
        cmocka_unit_test(test_header_matchers),
        cmocka_unit_test(test_headers_and_query_in_routes),
        cmocka_unit_test(test_runtime_fraction),
        cmocka_unit_test(test_weighted_picks),
        cmocka_unit_test(test_path_rewrites),
        cmocka_unit_test(test_redirect_location),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
