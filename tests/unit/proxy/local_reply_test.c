/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/local_reply_test.c — HCM local_reply_config: translation
 * (config/translate_local_reply.c, with its error messages) and LocalReply::rewrite()
 * (proxy/local_reply.c) on a real response http_msg: first matching mapper, the order body →
 * headers → status, body formats with %LOCAL_REPLY_BODY%, content-type rules, and the
 * %LOCAL_REPLY_BODY% operator outside local replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/err.h"
#include "config/local_reply.h"
#include "config/translate.h"
#include "config/value.h"
#include "proxy/access_log.h"
#include "tests/unit/cfg_test_util.h"
#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/http_msg.h"
#include "proxy/local_reply.h"
#include "proxy/response_flags.h"
#include "proxy/strbuf.h"

/* ---- harness ---------------------------------------------------------------------------- */

struct run {
    struct cfg_doc d;
    const struct cfg_local_reply *lr;
    int rc;
};

static struct run *run(const char *yaml)
{
    struct run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    struct cfg_ctx ctx;
    cfg_doc_open(&r->d, "lr.yaml", yaml, &ctx);
    r->rc = cfg_translate_local_reply(&ctx, r->d.doc->root, "local_reply_config", &r->lr);
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
    if (r->rc || r->d.err.n)
        cfg_err_print(&r->d.err, stderr);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->d.err.n, 0);
    return r;
}

static void expect_error(const char *yaml, const char *want)
{
    struct run *r = run(yaml);
    const char *got = NULL;
    for (size_t i = 0; i < r->d.err.n && !got; i++)
        if (r->d.err.msgs[i].sev == CFG_ERROR)
            got = r->d.err.msgs[i].text;
    if (r->d.err.n_errors != 1 || !got || strcmp(got, want) != 0) {
        fprintf(stderr, "want: %s\n", want);
        cfg_err_print(&r->d.err, stderr);
    }
    assert_int_equal(r->rc, -RM_ECONFIG);
    assert_int_equal(r->d.err.n_errors, 1);
    assert_string_equal(got, want);
    run_free(r);
}

static const char *const REQ[] = {":path", "/api", "x-tenant", "a", NULL};

static const char *req_header(const void *stream, const char *lname, size_t *len)
{
    const char *const *kv = stream;
    for (size_t i = 0; kv[i]; i += 2) {
        if (!strcmp(kv[i], lname)) {
            *len = strlen(kv[i + 1]);
            return kv[i + 1];
        }
    }
    return NULL;
}

/* One local reply being rewritten, as proxy/hcm.c hcm_local_reply() sets it up. */
struct reply {
    struct arena a;
    struct http_msg resp;
    struct alog_ctx ctx;
    int status;
    const char *body;
    size_t blen;
    const char *ctype;
};

static void reply_init(struct reply *rp, int status, uint32_t rf, const char *body)
{
    arena_init(&rp->a, 0);
    http_msg_init(&rp->resp, &rp->a, false);
    alog_ctx_init(&rp->ctx);
    rp->ctx.response_code = (uint32_t)status;
    rp->ctx.response_flags = rf;
    rp->ctx.stream = REQ;
    rp->ctx.req_header = req_header;
    rp->status = status;
    rp->body = body;
    rp->blen = strlen(body);
    rp->ctype = NULL;
}

static void rewrite(const struct run *r, struct reply *rp)
{
    local_reply_rewrite(r->lr, &rp->ctx, &rp->resp, &rp->a, &rp->status, &rp->body, &rp->blen,
                        &rp->ctype);
}

static const char *hdr(const struct reply *rp, const char *name)
{
    const struct http_slice *s = http_msg_get(&rp->resp, name);
    return s ? s->p : NULL;
}

/* ---- tests ------------------------------------------------------------------------------ */

static const char CFG[] =
    "mappers:\n"
    "- filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 503}}}}\n"
    "  status_code: 502\n"
    "  body: {inline_string: mapped}\n"
    "  headers_to_add:\n"
    "  - header: {key: x-code, value: '%RESPONSE_CODE%'}\n"
    "  - header: {key: x-tenant, value: '%REQ(x-tenant)%'}\n"
    "  - header: {key: x-empty, value: ''}\n"
    "- filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 502}}}}\n"
    "  body: {inline_string: never}\n"
    "- filter: {response_flag_filter: {flags: [NR]}}\n"
    "  body_format_override:\n"
    "    json_format: {code: '%RESPONSE_CODE%', body: '%LOCAL_REPLY_BODY%', x: 1}\n"
    "- filter: {header_filter: {header: {name: x-tenant, present_match: true}}}\n"
    "  headers_to_add: [{header: {key: content-type, value: text/html}}]\n"
    "body_format:\n"
    "  text_format_source: {inline_string: '%RESPONSE_CODE% %LOCAL_REPLY_BODY% "
    "%RESP(x-code)% %RESP(:status)%'}\n";

static void test_first_mapper_body_headers_status(void **state)
{
    (void)state;
    struct run *r = ok(CFG);
    assert_int_equal(r->lr->n_mappers, 4);
    struct reply rp;
    reply_init(&rp, 503, RF_UPSTREAM_CONNECTION_FAILURE, "upstream connect error");
    const void *stream = rp.ctx.stream;
    rewrite(r, &rp);
    /* The first mapper only (the second one would match the rewritten 502). Headers were
     * evaluated before the status changed, as in Envoy; an empty value is skipped. */
    assert_int_equal(rp.status, 502);
    assert_string_equal(hdr(&rp, "x-code"), "503");
    assert_string_equal(hdr(&rp, "x-tenant"), "a");
    assert_null(hdr(&rp, "x-empty"));
    /* body_format: the mapper's body, the new code, the response headers with :status. */
    assert_int_equal(rp.blen, strlen("502 mapped 503 502"));
    assert_memory_equal(rp.body, "502 mapped 503 502", rp.blen);
    assert_string_equal(rp.ctype, "text/plain");
    assert_int_equal(rp.ctx.response_code, 502);
    /* The caller's callbacks are back in place. */
    assert_ptr_equal(rp.ctx.stream, stream);
    assert_ptr_equal(rp.ctx.req_header, req_header);
    assert_null(rp.ctx.resp_header);
    assert_null(rp.ctx.local_reply_body);
    arena_fini(&rp.a);
    run_free(r);
}

static void test_override_json_and_content_types(void **state)
{
    (void)state;
    struct run *r = ok(CFG);
    struct reply rp;
    reply_init(&rp, 404, RF_NO_ROUTE_FOUND, "");
    rewrite(r, &rp);
    assert_int_equal(rp.status, 404);
    const char *want = "{\"body\":\"\",\"code\":404,\"x\":1}\n";
    assert_int_equal(rp.blen, strlen(want));
    assert_memory_equal(rp.body, want, rp.blen);
    assert_string_equal(rp.ctype, "application/json");
    arena_fini(&rp.a);

    /* A content-type added by a mapper is the one the reply gets. */
    reply_init(&rp, 400, RF_NONE, "bad");
    rewrite(r, &rp);
    assert_string_equal(rp.ctype, "text/html");
    assert_memory_equal(rp.body, "400 bad - 400", rp.blen);
    arena_fini(&rp.a);
    run_free(r);

    /* No body at all: no content-type, even a mapper's. Without body_format the body and
     * content type are left alone. */
    r = ok("mappers:\n"
           "- filter: {not_health_check_filter: {}}\n"
           "  body: {inline_string: ''}\n"
           "  headers_to_add: [{header: {key: content-type, value: text/html}}]\n");
    reply_init(&rp, 503, RF_NONE, "something");
    rewrite(r, &rp);
    assert_int_equal(rp.blen, 0);
    assert_null(hdr(&rp, "content-type"));
    assert_null(rp.ctype);
    assert_int_equal(rp.status, 503);
    arena_fini(&rp.a);
    run_free(r);

    /* No mapper matches and no body_format: nothing changes. */
    r = ok("mappers: [{filter: {status_code_filter: {comparison: {value: {default_value: 1}}}},"
           " status_code: 200}]\n");
    reply_init(&rp, 503, RF_NONE, "orig");
    const char *orig = rp.body;
    rewrite(r, &rp);
    assert_int_equal(rp.status, 503);
    assert_ptr_equal(rp.body, orig);
    assert_null(rp.ctype);
    assert_int_equal(rp.resp.headers.n, 0);
    arena_fini(&rp.a);
    run_free(r);

    /* An explicit content_type wins over the format's default. */
    r = ok("body_format: {text_format_source: {inline_string: '%LOCAL_REPLY_BODY%!'}, "
           "content_type: 'text/x; a=b'}\n");
    reply_init(&rp, 500, RF_NONE, "x");
    rewrite(r, &rp);
    assert_memory_equal(rp.body, "x!", 2);
    assert_string_equal(rp.ctype, "text/x; a=b");
    arena_fini(&rp.a);
    run_free(r);
}

static void test_body_from_file_and_empty_config(void **state)
{
    (void)state;
    char path[] = "/tmp/remora-lr-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from file\n", 10), 10);
    close(fd);
    char yaml[256];
    snprintf(yaml, sizeof(yaml),
             "mappers: [{filter: {not_health_check_filter: {}}, body: {filename: %s}}]\n", path);
    struct run *r = ok(yaml);
    unlink(path);
    struct reply rp;
    reply_init(&rp, 503, RF_NONE, "x");
    rewrite(r, &rp);
    assert_int_equal(rp.blen, 10);
    assert_memory_equal(rp.body, "from file\n", 10);
    arena_fini(&rp.a);
    run_free(r);

    r = ok("{}\n");
    assert_null(r->lr);
    run_free(r);
    r = ok("mappers: []\n");
    assert_null(r->lr);
    run_free(r);
}

static void test_translate_errors(void **state)
{
    (void)state;
    expect_error("mappers: [{status_code: 503}]\n",
                 "lr.yaml:1:11: local_reply_config.mappers[0].filter: filter is required");
    expect_error("mappers: [{filter: {not_health_check_filter: {}}, status_code: 600}]\n",
                 "lr.yaml:1:64: local_reply_config.mappers[0].status_code: status_code must be "
                 "in [200, 600), got 600");
    expect_error("mappers: [{filter: {duration_filter: {}}}]\n",
                 "lr.yaml:1:38: local_reply_config.mappers[0].filter.duration_filter.comparison: "
                 "comparison is required");
    expect_error("body_format: {text_format: x, formatters: [{name: a}]}\n",
                 "lr.yaml:1:31: local_reply_config.body_format.formatters: formatters is not "
                 "supported by Remora yet: formatter extensions are not implemented");
    expect_error("body_format: {json_format: {a: '%NOPE%'}}\n",
                 "lr.yaml:1:28: local_reply_config.body_format.json_format: Not supported field "
                 "in StreamInfo: NOPE");
    expect_error("body_format: {text_format_source: {inline_string: a}, json_format: {a: b}}\n",
                 "lr.yaml:1:14: local_reply_config.body_format: only one of text_format_source, "
                 "json_format and text_format may be set (oneof format)");
    expect_error("body_format: {text_format: a, content_type: \"a\\nb\"}\n",
                 "lr.yaml:1:45: local_reply_config.body_format.content_type: content_type is not "
                 "a valid header value");
    expect_error("mappers: [{filter: {not_health_check_filter: {}}, body: {filename: "
                 "/nonexistent/remora-body}}]\n",
                 "lr.yaml:1:68: local_reply_config.mappers[0].body.filename: local reply body "
                 "file /nonexistent/remora-body cannot be read: No such file or directory");
    expect_error("mapperz: []\n",
                 "lr.yaml:1:1: local_reply_config.mapperz: unknown field \"mapperz\" in "
                 "envoy.extensions.filters.network.http_connection_manager.v3.LocalReplyConfig");
}

static void test_local_reply_body_operator(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 0);
    struct alog_format *text, *json;
    char err[128];
    assert_int_equal(
        alog_format_compile("[%LOCAL_REPLY_BODY%]", NULL, false, &a, &text, err, sizeof(err)), 0);
    struct vt_doc *doc;
    struct cfg_err e;
    cfg_err_init(&e);
    const char *j = "{b: '%LOCAL_REPLY_BODY%'}";
    assert_int_equal(vt_parse_string("j.yaml", j, strlen(j), &doc, &e), 0);
    assert_int_equal(alog_format_compile(NULL, doc->root, true, &a, &json, err, sizeof(err)), 0);
    assert_int_not_equal(
        alog_format_compile("%LOCAL_REPLY_BODY(x)%", NULL, false, &a, &text, err, sizeof(err)), 0);
    assert_string_equal(err, "LOCAL_REPLY_BODY does not take any parameters or length");
    assert_int_equal(
        alog_format_compile("[%LOCAL_REPLY_BODY%]", NULL, false, &a, &text, err, sizeof(err)), 0);

    struct alog_ctx c;
    alog_ctx_init(&c);
    const char *out;
    size_t len;
    /* Outside a local reply: an empty string, never "-" (nor null in JSON). */
    assert_int_equal(alog_format_to_arena(text, &c, &a, &out, &len), 0);
    assert_string_equal(out, "[]");
    assert_int_equal(alog_format_to_arena(json, &c, &a, &out, &len), 0);
    assert_string_equal(out, "{\"b\":\"\"}\n");
    c.local_reply_body = "a\"b";
    c.local_reply_body_len = 3;
    assert_int_equal(alog_format_to_arena(text, &c, &a, &out, &len), 0);
    assert_string_equal(out, "[a\"b]");
    assert_int_equal(len, 5);
    assert_int_equal(alog_format_to_arena(json, &c, &a, &out, &len), 0);
    assert_string_equal(out, "{\"b\":\"a\\\"b\"}\n");
    vt_doc_free(doc);
    cfg_err_fini(&e);
    arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_mapper_body_headers_status),
        cmocka_unit_test(test_override_json_and_content_types),
        cmocka_unit_test(test_body_from_file_and_empty_config),
        cmocka_unit_test(test_translate_errors),
        cmocka_unit_test(test_local_reply_body_operator),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    alog_shutdown();
    return rc;
}
