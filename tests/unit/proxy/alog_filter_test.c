/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/alog_filter_test.c — access log filters: translation from YAML
 * (config/translate_alog_filter.c: every kind, Envoy's validation messages with positions)
 * and evaluation (proxy/alog_filter.c) against fake contexts, with a hand-built runtime
 * snapshot and a scripted random source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/alog_filter.h"
#include "config/err.h"
#include "config/model.h"
#include "config/translate.h"
#include "config/value.h"
#include "proxy/access_log.h"
#include "tests/unit/cfg_test_util.h"
#include "proxy/alog_filter.h"
#include "proxy/arena.h"
#include "proxy/http_msg.h"
#include "proxy/response_flags.h"
#include "proxy/runtime.h"

/* ---- harness ---------------------------------------------------------------------------- */

struct run {
    struct cfg_doc d;
    const struct cfg_alog_filter *f;
    bool ok;
};

static struct run *run(const char *yaml)
{
    struct run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    struct cfg_ctx ctx;
    cfg_doc_open(&r->d, "f.yaml", yaml, &ctx);
    r->ok = cfg_translate_alog_filter(&ctx, r->d.doc->root, "filter", &r->f);
    cfg_ctx_fini(&ctx);
    return r;
}

static void run_free(struct run *r)
{
    cfg_doc_close(&r->d);
    free(r);
}

static struct run *ok(const char *yaml)
{
    struct run *r = run(yaml);
    if (!r->ok || r->d.err.n)
        cfg_err_print(&r->d.err, stderr);
    assert_true(r->ok);
    assert_int_equal(r->d.err.n, 0);
    return r;
}

/* Asserts the translation fails with exactly one error, |want|. */
static void expect_error(const char *yaml, const char *want)
{
    struct run *r = run(yaml);
    if (r->d.err.n_errors != 1 || strcmp(r->d.err.msgs[0].text, want) != 0) {
        fprintf(stderr, "want: %s\n", want);
        cfg_err_print(&r->d.err, stderr);
    }
    assert_false(r->ok);
    assert_int_equal(r->d.err.n_errors, 1);
    assert_string_equal(r->d.err.msgs[0].text, want);
    run_free(r);
}

/* Request headers as name, value, ..., NULL (lower-case names, pseudo-headers included). */
struct fake {
    const char *const *req;
    const char *const *resp;
    const char *const *trailers;
};

static const char *lookup(const char *const *kv, const char *lname, size_t *len)
{
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (!strcmp(kv[i], lname)) {
            *len = strlen(kv[i + 1]);
            return kv[i + 1];
        }
    }
    return NULL;
}

static const char *f_req(const void *s, const char *n, size_t *l)
{
    return lookup(((const struct fake *)s)->req, n, l);
}
static const char *f_resp(const void *s, const char *n, size_t *l)
{
    return lookup(((const struct fake *)s)->resp, n, l);
}
static const char *f_trailer(const void *s, const char *n, size_t *l)
{
    return lookup(((const struct fake *)s)->trailers, n, l);
}

static void ctx_for(struct alog_ctx *c, const struct fake *fk, uint32_t code)
{
    memset(c, 0, sizeof(*c));
    c->start_mono_ns = INT64_C(1000000000);
    c->complete_ns = c->start_mono_ns + INT64_C(250) * 1000000; /* 250 ms */
    c->response_code = code;
    if (fk) {
        c->stream = fk;
        c->req_header = f_req;
        c->resp_header = f_resp;
        c->resp_trailer = f_trailer;
    }
}

/* A scripted random source that counts its calls. */
struct rnd {
    uint64_t value;
    int calls;
};
static uint64_t rnd_next(void *arg)
{
    struct rnd *r = arg;
    r->calls++;
    return r->value;
}

/* A runtime snapshot with sorted keys. */
static char *RT_KEYS[] = {"alog.min", "alog.sample", "alog.text"};
static char *RT_VALS[] = {"500", "7", "abc"};
static struct runtime_snap RT = {1, 3, RT_KEYS, RT_VALS};

static bool eval(const struct run *r, const struct alog_ctx *c, struct rnd *rnd)
{
    struct alog_filter_env env = {&RT, rnd ? rnd_next : NULL, rnd};
    return alog_filter_eval(r->f, c, &env);
}

/* ---- translation -------------------------------------------------------------------------- */

static void test_translate_every_kind(void **state)
{
    (void)state;
    struct run *r = ok("or_filter:\n"
                       "  filters:\n"
                       "  - status_code_filter: {comparison: {op: GE, value: {default_value: 400,"
                       " runtime_key: alog.min}}}\n"
                       "  - duration_filter: {comparison: {op: le, value: {default_value: 10}}}\n"
                       "  - not_health_check_filter: {}\n"
                       "  - runtime_filter: {runtime_key: k, percent_sampled: {numerator: 5,"
                       " denominator: TEN_THOUSAND}, use_independent_randomness: true}\n"
                       "  - and_filter: {filters: [{not_health_check_filter: {}},"
                       " {header_filter: {header: {name: X-A, present_match: true}}}]}\n"
                       "  - response_flag_filter: {flags: [UH, URX, DR]}\n"
                       "  - grpc_status_filter: {statuses: [OK, CANCELED, UNAUTHENTICATED],"
                       " exclude: true}\n");
    const struct cfg_alog_filter *f = r->f;
    assert_int_equal(f->kind, ALOGF_OR);
    assert_int_equal(f->u.list.n, 7);
    const struct cfg_alog_filter *l = f->u.list.filters;
    assert_int_equal(l[0].kind, ALOGF_STATUS_CODE);
    assert_int_equal(l[0].u.cmp.op, ALOG_CMP_GE);
    assert_int_equal(l[0].u.cmp.value, 400);
    assert_string_equal(l[0].u.cmp.runtime_key, "alog.min");
    assert_int_equal(l[1].kind, ALOGF_DURATION);
    assert_int_equal(l[1].u.cmp.op, ALOG_CMP_LE);
    assert_null(l[1].u.cmp.runtime_key);
    assert_int_equal(l[2].kind, ALOGF_NOT_HEALTH_CHECK);
    assert_int_equal(l[3].kind, ALOGF_RUNTIME);
    assert_string_equal(l[3].u.runtime.runtime_key, "k");
    assert_int_equal(l[3].u.runtime.numerator, 5);
    assert_int_equal(l[3].u.runtime.denominator, 10000);
    assert_true(l[3].u.runtime.independent);
    assert_int_equal(l[4].kind, ALOGF_AND);
    assert_int_equal(l[4].u.list.filters[1].kind, ALOGF_HEADER);
    assert_int_equal(l[5].kind, ALOGF_RESPONSE_FLAG);
    assert_int_equal(l[5].u.response_flags, RF_NO_HEALTHY_UPSTREAM |
                                                RF_UPSTREAM_RETRY_LIMIT_EXCEEDED |
                                                RF_DOWNSTREAM_REMOTE_RESET);
    assert_int_equal(l[6].kind, ALOGF_GRPC_STATUS);
    assert_int_equal(l[6].u.grpc.statuses, (1u << 0) | (1u << 1) | (1u << 16));
    assert_true(l[6].u.grpc.exclude);
    run_free(r);

    /* Defaults: op EQ, value 0; runtime_filter 0/100, not independent; empty flag list. */
    r = ok("status_code_filter: {comparison: {}}\n");
    assert_int_equal(r->f->u.cmp.op, ALOG_CMP_EQ);
    assert_int_equal(r->f->u.cmp.value, 0);
    run_free(r);
    r = ok("runtime_filter: {runtime_key: k}\n");
    assert_int_equal(r->f->u.runtime.numerator, 0);
    assert_int_equal(r->f->u.runtime.denominator, 100);
    assert_false(r->f->u.runtime.independent);
    run_free(r);
    r = ok("response_flag_filter: {}\n");
    assert_int_equal(r->f->u.response_flags, 0);
    run_free(r);
}

static void test_translate_errors(void **state)
{
    (void)state;
    expect_error("traceable_filter: {}\n",
                 "f.yaml:1:1: filter.traceable_filter: traceable_filter is not supported by "
                 "Remora yet: Remora has no tracing");
    expect_error("log_type_filter: {types: [1]}\n",
                 "f.yaml:1:1: filter.log_type_filter: log_type_filter is not supported by Remora "
                 "yet");
    expect_error("{}\n", "f.yaml:1:1: filter: one of status_code_filter, duration_filter, "
                         "not_health_check_filter, runtime_filter, and_filter, or_filter, "
                         "header_filter, response_flag_filter or grpc_status_filter is required "
                         "(oneof filter_specifier)");
    expect_error("status_code_filter: {comparison: {op: NE}}\n",
                 "f.yaml:1:39: filter.status_code_filter.comparison.op: invalid value \"NE\" for "
                 "enum envoy.config.accesslog.v3.ComparisonFilter.Op (expected one of EQ, GE, "
                 "LE)");
    expect_error("duration_filter: {}\n",
                 "f.yaml:1:18: filter.duration_filter.comparison: comparison is required");
    expect_error("and_filter: {filters: [{not_health_check_filter: {}}]}\n",
                 "f.yaml:1:23: filter.and_filter.filters: filters must have at least 2 items, "
                 "got 1");
    expect_error("or_filter: {filters: [{not_health_check_filter: {x: 1}}, "
                 "{not_health_check_filter: {}}]}\n",
                 "f.yaml:1:50: filter.or_filter.filters[0].not_health_check_filter.x: unknown "
                 "field \"x\" in envoy.config.accesslog.v3.NotHealthCheckFilter");
    expect_error("runtime_filter: {percent_sampled: {numerator: 1}}\n",
                 "f.yaml:1:17: filter.runtime_filter.runtime_key: runtime_key must not be empty");
    expect_error("header_filter: {}\n",
                 "f.yaml:1:16: filter.header_filter.header: header is required");
    expect_error("response_flag_filter: {flags: [UF, uf]}\n",
                 "f.yaml:1:36: filter.response_flag_filter.flags[1]: \"uf\" is not a response "
                 "flag (expected one of Envoy's short names: UH, UF, UO, NR, URX, ...)");
    expect_error("grpc_status_filter: {statuses: [CANCELLED]}\n",
                 "f.yaml:1:33: filter.grpc_status_filter.statuses[0]: invalid value "
                 "\"CANCELLED\" for enum envoy.config.accesslog.v3.GrpcStatusFilter.Status "
                 "(expected one of OK, CANCELED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, "
                 "NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, "
                 "FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL, "
                 "UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED)");
    expect_error("not_health_check_filter: {}\nresponse_flag_filter: {}\n",
                 "f.yaml:1:1: filter: only one access log filter may be set per AccessLogFilter "
                 "(oneof filter_specifier); combine them with and_filter or or_filter");
}

/* ---- evaluation ------------------------------------------------------------------------- */

static void test_status_and_duration(void **state)
{
    (void)state;
    struct alog_ctx c;
    struct run *r = ok("status_code_filter: {comparison: {op: GE, value: {default_value: 400}}}");
    ctx_for(&c, NULL, 399);
    assert_false(eval(r, &c, NULL));
    c.response_code = 400;
    assert_true(eval(r, &c, NULL));
    c.response_code = 0; /* no response: compared as 0 */
    assert_false(eval(r, &c, NULL));
    run_free(r);

    /* The runtime value (500) replaces default_value; a non-integer value keeps the default;
     * a missing key keeps the default. */
    r = ok("status_code_filter: {comparison: {op: LE, value: {default_value: 600, "
           "runtime_key: alog.min}}}");
    ctx_for(&c, NULL, 500);
    assert_true(eval(r, &c, NULL));
    c.response_code = 501;
    assert_false(eval(r, &c, NULL));
    struct alog_filter_env no_rt = {NULL, NULL, NULL};
    assert_true(alog_filter_eval(r->f, &c, &no_rt));
    run_free(r);
    r = ok("status_code_filter: {comparison: {op: EQ, value: {default_value: 404, "
           "runtime_key: alog.text}}}");
    ctx_for(&c, NULL, 404);
    assert_true(eval(r, &c, NULL));
    run_free(r);

    r = ok("duration_filter: {comparison: {op: GE, value: {default_value: 250}}}");
    ctx_for(&c, NULL, 200);
    assert_true(eval(r, &c, NULL)); /* exactly 250 ms */
    c.complete_ns -= 1;             /* 249.999999 ms truncates to 249 */
    assert_false(eval(r, &c, NULL));
    c.complete_ns = 0; /* not complete: measured to now, which is far later */
    c.start_mono_ns = alog_mono_ns() - INT64_C(300) * 1000000;
    assert_true(eval(r, &c, NULL));
    c.start_mono_ns = 0; /* unknown start: Envoy's currentDuration() is empty → false */
    assert_false(eval(r, &c, NULL));
    run_free(r);
}

static void test_runtime_filter(void **state)
{
    (void)state;
    struct alog_ctx c;
    struct rnd rnd = {.value = 12345};
    static const char *const id_low[] = {"x-request-id", "0000000a-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
                                         NULL};
    static const char *const id_high[] = {"x-request-id", "00000063-0000-4000-8000-000000000000",
                                          NULL};
    static const char *const id_bad[] = {"x-request-id", "zz", NULL};
    struct fake low = {id_low, NULL, NULL}, high = {id_high, NULL, NULL},
                bad = {id_bad, NULL, NULL};

    /* 50/100 from x-request-id: 0x0a = 10 < 50, 0x63 = 99 >= 50; no random drawn. */
    struct run *r = ok("runtime_filter: {runtime_key: missing.key, percent_sampled: "
                       "{numerator: 50}}");
    ctx_for(&c, &low, 200);
    assert_true(eval(r, &c, &rnd));
    ctx_for(&c, &high, 200);
    assert_false(eval(r, &c, &rnd));
    assert_int_equal(rnd.calls, 0);
    /* A bad id or none (TCP): the random source decides (12345 % 100 = 45 < 50). */
    ctx_for(&c, &bad, 200);
    assert_true(eval(r, &c, &rnd));
    ctx_for(&c, NULL, 0);
    assert_true(eval(r, &c, &rnd));
    assert_int_equal(rnd.calls, 2);
    run_free(r);

    /* The runtime value replaces the numerator, in percent_sampled's denominator: 7/10000. */
    r = ok("runtime_filter: {runtime_key: alog.sample, percent_sampled: {numerator: 9000, "
           "denominator: TEN_THOUSAND}, use_independent_randomness: true}");
    rnd.calls = 0;
    rnd.value = 6;
    ctx_for(&c, &low, 200);
    assert_true(eval(r, &c, &rnd));
    rnd.value = 10007; /* 10007 % 10000 = 7: not below 7 */
    assert_false(eval(r, &c, &rnd));
    assert_int_equal(rnd.calls, 2); /* independent: the id is ignored */
    run_free(r);
}

static void test_header_filter(void **state)
{
    (void)state;
    struct alog_ctx c;
    static const char *const hdrs[] = {":method", "POST", ":path", "/api/v1?x=1",
                                       "x-env",   "prod", NULL};
    struct fake fk = {hdrs, NULL, NULL};
    struct run *r = ok("header_filter: {header: {name: x-env, string_match: {exact: PROD, "
                       "ignore_case: true}}}");
    ctx_for(&c, &fk, 200);
    assert_true(eval(r, &c, NULL));
    run_free(r);
    r = ok("header_filter: {header: {name: X-Missing, present_match: false}}");
    assert_true(eval(r, &c, NULL));
    run_free(r);
    r = ok("header_filter: {header: {name: x-missing, string_match: {exact: a}}}");
    assert_false(eval(r, &c, NULL));
    run_free(r);
    r = ok(
        "header_filter: {header: {name: x-env, string_match: {exact: prod}, invert_match: true}}");
    assert_false(eval(r, &c, NULL));
    run_free(r);
    r = ok("header_filter: {header: {name: ':path', string_match: {prefix: /api/}}}");
    assert_true(eval(r, &c, NULL));
    run_free(r);
    r = ok("header_filter: {header: {name: ':method', string_match: {exact: POST}}}");
    assert_true(eval(r, &c, NULL));
    ctx_for(&c, NULL, 0); /* TCP: no request headers */
    assert_false(eval(r, &c, NULL));
    run_free(r);

    /* With the request message, repeated fields are joined with ',' (Envoy's
     * getAllOfHeaderAsString), as route matching does. */
    struct arena a;
    arena_init(&a, 0);
    struct http_msg req;
    http_msg_init(&req, &a, true);
    assert_int_equal(http_msg_add(&req, "x-tag", "a"), 0);
    assert_int_equal(http_msg_add(&req, "x-tag", "b"), 0);
    r = ok("header_filter: {header: {name: x-tag, string_match: {exact: 'a,b'}}}");
    ctx_for(&c, &fk, 200);
    assert_false(eval(r, &c, NULL)); /* through req_header: no x-tag in the fake */
    c.request = &req;
    assert_true(eval(r, &c, NULL));
    run_free(r);
    arena_fini(&a);
}

static void test_flags_grpc_and_logic(void **state)
{
    (void)state;
    struct alog_ctx c;
    struct run *r = ok("response_flag_filter: {flags: [UF, NR]}");
    ctx_for(&c, NULL, 503);
    assert_false(eval(r, &c, NULL));
    c.response_flags = RF_UPSTREAM_OVERFLOW;
    assert_false(eval(r, &c, NULL));
    c.response_flags |= RF_NO_ROUTE_FOUND;
    assert_true(eval(r, &c, NULL));
    run_free(r);
    r = ok("response_flag_filter: {flags: []}");
    assert_true(eval(r, &c, NULL));
    c.response_flags = 0;
    assert_false(eval(r, &c, NULL));
    run_free(r);

    /* gRPC status: trailers, then headers, then the HTTP status, else UNKNOWN. */
    static const char *const t13[] = {"grpc-status", "13", NULL};
    static const char *const h0[] = {"grpc-status", " +0 ", NULL};
    static const char *const h99[] = {"grpc-status", "99", NULL};
    static const char *const hx[] = {"grpc-status", "1x", NULL};
    struct fake trailers13_headers0 = {NULL, h0, t13}, headers0 = {NULL, h0, NULL},
                headers99 = {NULL, h99, NULL}, headersx = {NULL, hx, NULL};
    r = ok("grpc_status_filter: {statuses: [INTERNAL, UNAVAILABLE, UNKNOWN]}");
    ctx_for(&c, &trailers13_headers0, 200);
    assert_true(eval(r, &c, NULL));
    ctx_for(&c, &headers0, 503);
    assert_false(eval(r, &c, NULL)); /* OK from the header beats the 503 */
    ctx_for(&c, &headers99, 200);
    assert_false(eval(r, &c, NULL)); /* out of range: matches nothing, not even UNKNOWN */
    ctx_for(&c, &headersx, 200);
    assert_false(eval(r, &c, NULL));
    ctx_for(&c, NULL, 503);
    assert_true(eval(r, &c, NULL)); /* UNAVAILABLE */
    c.response_code = 400;
    assert_true(eval(r, &c, NULL)); /* INTERNAL */
    c.response_code = 404;
    assert_false(eval(r, &c, NULL)); /* UNIMPLEMENTED */
    c.response_code = 0;
    assert_true(eval(r, &c, NULL)); /* nothing at all: UNKNOWN */
    run_free(r);
    r = ok("grpc_status_filter: {statuses: [UNKNOWN], exclude: true}");
    ctx_for(&c, NULL, 200);
    assert_false(eval(r, &c, NULL));
    c.response_code = 429;
    assert_true(eval(r, &c, NULL));
    run_free(r);
    assert_int_equal(alog_http_to_grpc_status(401), 16);
    assert_int_equal(alog_http_to_grpc_status(403), 7);
    assert_int_equal(alog_http_to_grpc_status(502), 14);
    assert_int_equal(alog_http_to_grpc_status(504), 14);
    assert_int_equal(alog_http_to_grpc_status(200), 2);

    /* and/or evaluate in order and stop early: the runtime filters draw one random each. */
    struct rnd rnd = {.value = 0};
    r = ok("and_filter: {filters: ["
           "{runtime_filter: {runtime_key: k, use_independent_randomness: true}},"
           "{runtime_filter: {runtime_key: k, use_independent_randomness: true}}]}");
    ctx_for(&c, NULL, 200);
    assert_false(eval(r, &c, &rnd)); /* 0 < 0 is false */
    assert_int_equal(rnd.calls, 1);
    run_free(r);
    rnd.calls = 0;
    r = ok("or_filter: {filters: [{not_health_check_filter: {}},"
           "{runtime_filter: {runtime_key: k, use_independent_randomness: true}}]}");
    assert_true(eval(r, &c, &rnd));
    assert_int_equal(rnd.calls, 0);
    run_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translate_every_kind), cmocka_unit_test(test_translate_errors),
        cmocka_unit_test(test_status_and_duration),  cmocka_unit_test(test_runtime_filter),
        cmocka_unit_test(test_header_filter),        cmocka_unit_test(test_flags_grpc_and_logic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
