/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/h1_codec_test.c — proxy/h1_codec: the rejection table (smuggling and
 * malformed input, each with its exact status), framing and keep-alive rules, pipelining,
 * byte-at-a-time equivalence, upgrades/tunnels and serializer round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/h1_codec.h"
#include "proxy/http_msg.h"
#include "tests/unit/proxy/h1_test_util.h"

/* Config variants used by the tables. */
enum {
    C_DEFAULT = 0,
    C_HTTP10 = 1 << 0,         /* accept_http_10 */
    C_CONNECT = 1 << 1,        /* allow_connect */
    C_NO_ABSOLUTE = 1 << 2,    /* allow_absolute_url = false */
    C_US_REJECT = 1 << 3,      /* underscores: REJECT_REQUEST */
    C_US_DROP = 1 << 4,        /* underscores: DROP_HEADER */
    C_SMALL = 1 << 5,          /* 1 KiB heads, 5 fields, 64-byte URIs, 100-byte bodies */
    C_CHUNKED_LENGTH = 1 << 6, /* allow_chunked_length */
};

static struct h1_config make_cfg(enum h1_role role, unsigned c)
{
    struct h1_config cfg;
    h1_config_init(&cfg, role);
    if (c & C_HTTP10)
        cfg.accept_http_10 = true;
    if (c & C_CONNECT)
        cfg.allow_connect = true;
    if (c & C_NO_ABSOLUTE)
        cfg.allow_absolute_url = false;
    if (c & C_US_REJECT)
        cfg.underscores = H1_UNDERSCORES_REJECT_REQUEST;
    if (c & C_US_DROP)
        cfg.underscores = H1_UNDERSCORES_DROP_HEADER;
    if (c & C_SMALL) {
        cfg.max_headers_kb = 1;
        cfg.max_headers_count = 5;
        cfg.max_uri_len = 64;
        cfg.max_body_len = 100;
    }
    if (c & C_CHUNKED_LENGTH)
        cfg.allow_chunked_length = true;
    return cfg;
}

static void run_req(struct h1t_out *o, unsigned c, const char *in, size_t len, size_t step)
{
    struct h1_config cfg = make_cfg(H1_ROLE_SERVER, c);
    struct h1t_opts opt = {.step = step};
    h1t_run(o, H1_ROLE_SERVER, &cfg, in, len, &opt);
}

/* ---- the rejection table ---------------------------------------------------------------- */

struct reject_case {
    const char *name;
    const char *in;
    size_t len; /* 0 = strlen (cases with NUL give it) */
    unsigned cfg;
    int status;
    const char *detail; /* NULL = not checked */
};

#define H "Host: a.example\r\n"
#define RL "GET / HTTP/1.1\r\n"

static const struct reject_case reject_cases[] = {
    /* Content-Length / Transfer-Encoding smuggling */
    {"CL+TE", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     0, 400, "http1.content_length_and_chunked_not_allowed"},
    {"TE+CL", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 0,
     0, 400, "http1.content_length_and_chunked_not_allowed"},
    {"CL+TE gzip", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n",
     0, 0, 400, "http1.content_length_and_chunked_not_allowed"},
    {"duplicate CL same", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
     0, 0, 400, "http1.invalid_content_length"},
    {"duplicate CL differ",
     "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, 0, 400,
     "http1.invalid_content_length"},
    {"CL list 1,1", "POST / HTTP/1.1\r\n" H "Content-Length: 1,1\r\n\r\n", 0, 0, 400,
     "http1.invalid_content_length"},
    {"CL plus sign", "POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n", 0, 0, 400,
     "http1.invalid_content_length"},
    {"CL negative", "POST / HTTP/1.1\r\n" H "Content-Length: -5\r\n\r\n", 0, 0, 400,
     "http1.invalid_content_length"},
    {"CL inner space", "POST / HTTP/1.1\r\n" H "Content-Length: 5 5\r\n\r\n", 0, 0, 400,
     "http1.invalid_content_length"},
    {"CL empty", "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 0, 0, 400,
     "http1.invalid_content_length"},
    {"CL hex", "POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n", 0, 0, 400,
     "http1.invalid_content_length"},
    {"CL overflow", "POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n\r\n", 0, 0,
     400, "http1.invalid_content_length"},
    {"TE chunked, gzip", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n", 0, 0,
     400, "http1.invalid_transfer_encoding"},
    {"TE gzip", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 0, 0, 501,
     "http1.invalid_transfer_encoding"},
    {"TE identity", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n", 0, 0, 501,
     "http1.invalid_transfer_encoding"},
    {"TE xchunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n", 0, 0, 501,
     "http1.invalid_transfer_encoding"},
    {"TE gzip, chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n", 0, 0,
     501, "http1.invalid_transfer_encoding"},
    {"TE chunked, chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n",
     0, 0, 400, "http1.invalid_transfer_encoding"},
    {"TE twice",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     0, 400, "http1.invalid_transfer_encoding"},
    {"TE with params", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;q=1\r\n\r\n", 0, 0, 400,
     "http1.invalid_transfer_encoding"},
    {"TE empty", "POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n", 0, 0, 400,
     "http1.invalid_transfer_encoding"},
    {"TE trailing comma", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked,\r\n\r\n", 0, 0, 400,
     "http1.invalid_transfer_encoding"},
    {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, C_HTTP10, 400,
     "http1.transfer_encoding_not_allowed"},
    /* line structure */
    {"obs-fold", RL H "X-A: one\r\n two\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"obs-fold tab", RL H "X-A: one\r\n\ttwo\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", 0, 0, 400, "http1.codec_error"},
    {"bare LF in field line", RL H "X-A: b\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"bare LF ends head", RL H "\n", 0, 0, 400, "http1.codec_error"},
    {"bare CR in value", RL H "X-A: a\rb\r\n\r\n", 0, 0, 400, "http1.invalid_characters"},
    {"bare CR in request line", "GET /\r HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.invalid_url"},
    {"NUL in value", NULL, 0, 0, 0, NULL}, /* placeholder replaced below */
    {"header without colon", RL H "X-A\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"space before colon", RL H "X-A : b\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"tab before colon", RL H "X-A\t: b\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"Host space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, 0, 400,
     "http1.codec_error"},
    {"empty header name", RL H ": b\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"invalid header name char", RL H "X(A): b\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"high byte in name", RL H "X-\xc3\xa9: b\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"CTL in value",
     RL H "X-A: a\x01"
          "b\r\n\r\n",
     0, 0, 400, "http1.invalid_characters"},
    {"DEL in value",
     RL H "X-A: a\x7f"
          "b\r\n\r\n",
     0, 0, 400, "http1.invalid_characters"},
    {"ESC in value", RL H "X-A: \x1b[31m\r\n\r\n", 0, 0, 400, "http1.invalid_characters"},
    /* request line */
    {"invalid method chars", "GE(T / HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.invalid_method"},
    {"method with NUL-free junk", "G@T / HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.invalid_method"},
    {"leading space", " GET / HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.invalid_method"},
    {"tab separator", "GET\t/ HTTP/1.1\r\n" H "\r\n", 0, 0, 400, NULL},
    {"two spaces", "GET  / HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.codec_error"},
    {"two spaces before version", "GET /  HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.codec_error"},
    {"lowercase version", "GET / http/1.1\r\n" H "\r\n", 0, 0, 400, "http1.codec_error"},
    {"trailing space after version", "GET / HTTP/1.1 \r\n" H "\r\n", 0, 0, 400,
     "http1.codec_error"},
    {"HTTP/0.9", "GET /\r\n\r\n", 0, 0, 400, "http1.codec_error"},
    {"version 1.10", "GET / HTTP/1.10\r\n" H "\r\n", 0, 0, 400, "http1.codec_error"},
    {"version missing minor", "GET / HTTP/1\r\n" H "\r\n", 0, 0, 400, "http1.codec_error"},
    {"HTTP/2.0 request line", "GET / HTTP/2.0\r\n" H "\r\n", 0, 0, 505,
     "http1.unsupported_version"},
    {"HTTP/1.2", "GET / HTTP/1.2\r\n" H "\r\n", 0, 0, 505, "http1.unsupported_version"},
    {"HTTP/1.0 not accepted", "GET / HTTP/1.0\r\n\r\n", 0, 0, 426, "low_version"},
    {"method too long", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ / HTTP/1.1\r\n" H "\r\n", 0, 0, 501,
     "http1.method_not_implemented"},
    /* request-target */
    {"NUL in URI", NULL, 0, 0, 0, NULL}, /* placeholder replaced below */
    {"fragment in target", "GET /a#b HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.invalid_url"},
    {"raw UTF-8 in target", "GET /\xc3\xa9 HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.invalid_url"},
    {"relative target", "GET a/b HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.invalid_url"},
    {"asterisk with GET", "GET * HTTP/1.1\r\n" H "\r\n", 0, 0, 400, "http1.invalid_url"},
    {"absolute-form userinfo", "GET http://u:p@a.example/ HTTP/1.1\r\n" H "\r\n", 0, 0, 400,
     "http1.invalid_url"},
    {"absolute-form scheme", "GET ftp://a.example/ HTTP/1.1\r\n" H "\r\n", 0, 0, 400,
     "http1.invalid_scheme"},
    {"absolute-form empty host", "GET http:///x HTTP/1.1\r\n" H "\r\n", 0, 0, 400,
     "http1.invalid_url"},
    {"absolute-form other Host", "GET http://b.example/x HTTP/1.1\r\n" H "\r\n", 0, 0, 400,
     "http1.invalid_host"},
    {"absolute-form no Host", "GET http://a.example/x HTTP/1.1\r\n\r\n", 0, 0, 400,
     "missing_host_header"},
    {"absolute-form disabled", "GET http://a.example/x HTTP/1.1\r\n" H "\r\n", 0, C_NO_ABSOLUTE,
     400, "http1.invalid_url"},
    /* Host */
    {"missing Host in 1.1", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 0, 0, 400, "missing_host_header"},
    {"two Host", RL H H "\r\n", 0, 0, 400, "http1.invalid_host"},
    {"two Host differ", RL H "host: b.example\r\n\r\n", 0, 0, 400, "http1.invalid_host"},
    {"Host with slash", RL "Host: a.example/x\r\n\r\n", 0, 0, 400, "http1.invalid_host"},
    {"Host with space", RL "Host: a b\r\n\r\n", 0, 0, 400, "http1.invalid_host"},
    {"Host with userinfo", RL "Host: u@a\r\n\r\n", 0, 0, 400, "http1.invalid_host"},
    /* CONNECT */
    {"CONNECT not allowed", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 0, 0,
     405, "http1.connect_not_allowed"},
    {"CONNECT with body",
     "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n"
     "Content-Length: 5\r\n\r\n",
     0, C_CONNECT, 400, "http1.body_disallowed"},
    {"CONNECT with TE",
     "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     0, C_CONNECT, 501, "http1.invalid_transfer_encoding"},
    {"CONNECT origin-form", "CONNECT /x HTTP/1.1\r\n" H "\r\n", 0, C_CONNECT, 400,
     "http1.invalid_url"},
    {"CONNECT no port", "CONNECT a.example HTTP/1.1\r\n" H "\r\n", 0, C_CONNECT, 400,
     "http1.invalid_url"},
    {"CONNECT port 0", "CONNECT a.example:0 HTTP/1.1\r\n" H "\r\n", 0, C_CONNECT, 400,
     "http1.invalid_url"},
    {"CONNECT Host mismatch", "CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n", 0,
     C_CONNECT, 400, "http1.invalid_host"},
    /* chunked framing */
    {"chunk size overflow",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 0, 0, 400,
     "http1.invalid_chunk"},
    {"chunk size 2^63",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\n", 0, 0, 400,
     "http1.invalid_chunk"},
    {"chunk size invalid char", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5x\r\n",
     0, 0, 400, "http1.invalid_chunk"},
    {"negative chunk", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n-5\r\n", 0, 0,
     400, "http1.invalid_chunk"},
    {"chunk size 0x prefix", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0x5\r\n", 0,
     0, 400, "http1.invalid_chunk"},
    {"empty chunk size", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n\r\n", 0, 0,
     400, "http1.invalid_chunk"},
    {"chunk size trailing space",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n", 0, 0, 400,
     "http1.invalid_chunk"},
    {"chunk size leading space", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n 5\r\n",
     0, 0, 400, "http1.invalid_chunk"},
    {"chunk line bare LF", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n",
     0, 0, 400, "http1.invalid_chunk"},
    {"missing CRLF after data",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n", 0, 0, 400,
     "http1.invalid_chunk"},
    {"bare LF after data",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 0, 0, 400,
     "http1.invalid_chunk"},
    {"chunk ext empty name",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n", 0, 0, 400,
     "http1.invalid_chunk"},
    {"chunk ext bad char", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a@b\r\n", 0,
     0, 400, "http1.invalid_chunk"},
    {"chunk ext open quote",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n", 0, 0, 400,
     "http1.invalid_chunk"},
    {"chunk ext bare LF",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a=b\nhello\r\n", 0, 0, 400,
     "http1.invalid_chunk"},
    {"chunk ext trailing BWS", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a \r\n",
     0, 0, 400, "http1.invalid_chunk"},
    {"trailer with content-length",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
     "0\r\nContent-Length: 5\r\n\r\n",
     0, 0, 400, "http1.invalid_trailers"},
    {"trailer obs-fold",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
     "0\r\nX-T: a\r\n b\r\n\r\n",
     0, 0, 400, "http1.codec_error"},
    /* limits */
    {"too many headers", RL H "a:1\r\nb:1\r\nc:1\r\nd:1\r\ne:1\r\n\r\n", 0, C_SMALL, 431,
     "http1.too_many_headers"},
    {"URI too long (max_uri_len)",
     "GET /0123456789012345678901234567890123456789012345678901234567890123456789 HTTP/1.1\r\n" H
     "\r\n",
     0, C_SMALL, 414, "http1.uri_too_long"},
    {"body too large", "POST / HTTP/1.1\r\n" H "Content-Length: 101\r\n\r\n", 0, C_SMALL, 413,
     "request_payload_too_large"},
    {"chunked body too large",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
     "32\r\n01234567890123456789012345678901234567890123456789\r\n33\r\n",
     0, C_SMALL, 413, "request_payload_too_large"},
    /* underscores, Connection */
    {"underscore rejected", RL H "X_A: b\r\n\r\n", 0, C_US_REJECT, 400,
     "http1.unexpected_underscore"},
    {"Connection bad token", RL H "Connection: keep alive\r\n\r\n", 0, 0, 400,
     "http1.connection_header_rejected"},
    {"Connection quoted", RL H "Connection: \"close\"\r\n\r\n", 0, 0, 400,
     "http1.connection_header_rejected"},
};

static const char nul_value[] = RL H "X-A: a\0b\r\n\r\n";
static const char nul_uri[] = "GET /a\0b HTTP/1.1\r\n" H "\r\n";

static void check_reject(const struct reject_case *rc, const char *in, size_t len)
{
    struct h1t_out o;
    run_req(&o, rc->cfg, in, len, 0);
    if (o.rc >= 0 || o.status != rc->status ||
        (rc->detail && (!o.detail || strcmp(o.detail, rc->detail) != 0)))
        print_error("case '%s': want %d %s, got rc=%d status=%d %s\n  trace: %s\n", rc->name,
                    rc->status, rc->detail ? rc->detail : "*", o.rc, o.status,
                    o.detail ? o.detail : "-", o.s ? o.s : "");
    assert_true(o.rc < 0);
    assert_int_equal(o.status, rc->status);
    if (rc->detail)
        assert_string_equal(o.detail, rc->detail);
    /* The same verdict when the bytes arrive one at a time. */
    struct h1t_out o1;
    run_req(&o1, rc->cfg, in, len, 1);
    if (strcmp(o.s, o1.s) != 0)
        print_error("case '%s' differs byte-at-a-time:\n%s---\n%s", rc->name, o.s, o1.s);
    assert_string_equal(o.s, o1.s);
    h1t_free(&o);
    h1t_free(&o1);
}

static void test_reject_table(void **state)
{
    (void)state;
    size_t n = sizeof(reject_cases) / sizeof(reject_cases[0]);
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        struct reject_case rc = reject_cases[i];
        if (rc.status == 0) { /* the NUL placeholders */
            if (!strcmp(rc.name, "NUL in value")) {
                rc = (struct reject_case){"NUL in value",
                                          nul_value,
                                          sizeof(nul_value) - 1,
                                          0,
                                          400,
                                          "http1.invalid_characters"};
            } else {
                rc = (struct reject_case){"NUL in URI",       nul_uri, sizeof(nul_uri) - 1, 0, 400,
                                          "http1.invalid_url"};
            }
        }
        check_reject(&rc, rc.in, rc.len ? rc.len : strlen(rc.in));
        checked++;
    }
    assert_true(checked >= 40);
}

/* Big inputs built at run time. */
static char *repeat(const char *prefix, char c, size_t n, const char *suffix, size_t *len)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + n + sl + 1);
    assert_non_null(s);
    memcpy(s, prefix, pl);
    memset(s + pl, c, n);
    memcpy(s + pl + n, suffix, sl + 1);
    *len = pl + n + sl;
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    size_t len;
    struct h1t_out o;

    /* One 61 KiB field: over max_request_headers_kb 60 → 431. */
    char *big = repeat(RL H "X-Big: ", 'a', 61 * 1024, "\r\n\r\n", &len);
    run_req(&o, 0, big, len, 0);
    assert_int_equal(o.status, 431);
    assert_string_equal(o.detail, "http1.headers_too_large");
    h1t_free(&o);
    run_req(&o, 0, big, len, 4096);
    assert_int_equal(o.status, 431);
    h1t_free(&o);
    free(big);

    /* Just under: 59 KiB passes. */
    big = repeat(RL H "X-Big: ", 'a', 59 * 1024, "\r\n\r\n", &len);
    run_req(&o, 0, big, len, 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.n_msgs, 1);
    h1t_free(&o);
    free(big);

    /* A 70 KiB URI with the default limits → 414, whole or in pieces. */
    big = repeat("GET /", 'u', 70 * 1024, " HTTP/1.1\r\n" H "\r\n", &len);
    run_req(&o, 0, big, len, 0);
    assert_int_equal(o.status, 414);
    assert_string_equal(o.detail, "http1.uri_too_long");
    h1t_free(&o);
    run_req(&o, 0, big, len, 1000);
    assert_int_equal(o.status, 414);
    h1t_free(&o);
    free(big);

    /* A request line of 70 KiB without any space → the "method" is too long: 501. */
    big = repeat("", 'G', 70 * 1024, " / HTTP/1.1\r\n" H "\r\n", &len);
    run_req(&o, 0, big, len, 0);
    assert_int_equal(o.status, 501);
    h1t_free(&o);
    free(big);

    /* 100 fields pass (Host counts), 101 fail with 431. */
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof(buf), RL H);
    for (int i = 0; i < 99; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "x%d: v\r\n", i);
    memcpy(buf + n, "\r\n", 3);
    run_req(&o, 0, buf, n + 2, 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.msgs[0].headers.n, 99);
    h1t_free(&o);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "x99: v\r\n\r\n");
    run_req(&o, 0, buf, n, 0);
    assert_int_equal(o.status, 431);
    assert_string_equal(o.detail, "http1.too_many_headers");
    h1t_free(&o);

    /* Trailers have their own count, same limit. */
    n = (size_t)snprintf(buf, sizeof(buf),
                         "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "t%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    run_req(&o, 0, buf, n, 0);
    assert_int_equal(o.status, 431);
    h1t_free(&o);

    /* Chunk line cap. */
    big = repeat("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a=", 'x', 5000,
                 "\r\nhello\r\n0\r\n\r\n", &len);
    run_req(&o, 0, big, len, 0);
    assert_int_equal(o.status, 400);
    assert_string_equal(o.detail, "http1.invalid_chunk");
    h1t_free(&o);
    free(big);

    /* Leading zeros in a chunk size are fine as long as the line fits. */
    const char *z = "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
                    "00000000000000000000000005\r\nhello\r\n0\r\n\r\n";
    run_req(&o, 0, z, strlen(z), 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.body_len[0], 5);
    h1t_free(&o);
}

/* The value check runs 8 bytes at a time with an overlapping tail: a bad byte at every
 * position of every length around the word size must still be caught. */
static void test_value_bytes_every_position(void **state)
{
    (void)state;
    static const char bad_bytes[] = {'\0', '\r', '\n', 0x01, 0x1f, 0x7f};
    char in[256];
    for (size_t len = 1; len <= 40; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t b = 0; b < sizeof(bad_bytes); b++) {
                char v[64];
                memset(v, 'a', len);
                v[pos] = bad_bytes[b];
                size_t n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
                memcpy(in + n, v, len);
                n += len;
                memcpy(in + n, "\r\n\r\n", 4);
                n += 4;
                struct h1t_out o;
                run_req(&o, 0, in, n, 0);
                assert_int_equal(o.status, 400);
                h1t_free(&o);
            }
            /* HTAB and obs-text inside a value are fine (edges are OWS and trimmed) */
            char v[64];
            memset(v, 'a', len);
            v[pos] = pos % 2 ? '\t' : (char)0xe9;
            size_t n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
            memcpy(in + n, v, len);
            n += len;
            memcpy(in + n, "\r\n\r\n", 4);
            n += 4;
            struct h1t_out o;
            run_req(&o, 0, in, n, 0);
            assert_int_equal(o.rc, 0);
            h1t_free(&o);
        }
    }
}

/* ---- positive parsing ------------------------------------------------------------------- */

static void test_simple_get(void **state)
{
    (void)state;
    const char *in = "GET /p?q=1 HTTP/1.1\r\nHost: A.example:8080\r\nUser-Agent:  curl/8 \r\n"
                     "X-Obs: caf\xc3\xa9\t\r\nX-Empty:\r\nACCEPT: */*\r\n\r\n";
    struct h1t_out o;
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.n_msgs, 1);
    struct http_msg *m = &o.msgs[0];
    assert_int_equal(m->method, HTTP_METHOD_GET);
    assert_string_equal(m->method_name.p, "GET");
    assert_string_equal(m->path.p, "/p?q=1");
    assert_string_equal(m->authority.p, "A.example:8080");
    assert_int_equal(m->scheme.n, 0);
    assert_int_equal(m->version, HTTP_VERSION_1_1);
    assert_int_equal(m->body, HTTP_BODY_NONE);
    assert_true(m->end_stream);
    /* Host became the authority, not a field. */
    assert_null(http_msg_get(m, "host"));
    assert_int_equal(m->headers.n, 4);
    assert_string_equal(m->headers.v[0].name.p, "user-agent");
    assert_string_equal(m->headers.v[0].value.p, "curl/8");
    assert_string_equal(http_msg_get(m, "x-obs")->p, "caf\xc3\xa9");
    assert_int_equal(http_msg_get(m, "X-EMPTY")->n, 0);
    assert_string_equal(m->headers.v[3].name.p, "accept");
    assert_true(o.flags[0] & H1_MF_KEEP_ALIVE);
    assert_false(o.flags[0] & H1_MF_CONNECTION);
    h1t_free(&o);
}

static void test_pipelined(void **state)
{
    (void)state;
    const char *in = "\r\n" /* a stray empty line before the first request is ignored */
                     "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                     "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                     "PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                     "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n"
                     "DELETE /4 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
                     "BREW /5 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    struct h1t_out o;
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.n_msgs, 5);
    assert_string_equal(o.msgs[0].path.p, "/1");
    assert_string_equal(o.msgs[1].path.p, "/2");
    assert_int_equal(o.msgs[1].body, HTTP_BODY_LENGTH);
    assert_int_equal(o.body_len[1], 5);
    assert_memory_equal(o.body[1], "hello", 5);
    assert_string_equal(o.msgs[2].path.p, "/3");
    assert_int_equal(o.msgs[2].body, HTTP_BODY_CHUNKED);
    assert_int_equal(o.body_len[2], 7);
    assert_memory_equal(o.body[2], "abcdefg", 7);
    assert_int_equal(o.msgs[3].method, HTTP_METHOD_DELETE);
    assert_int_equal(o.msgs[3].body, HTTP_BODY_NONE);
    assert_true(o.msgs[3].end_stream);
    assert_int_equal(o.msgs[4].method, HTTP_METHOD_OTHER);
    assert_string_equal(o.msgs[4].method_name.p, "BREW");
    assert_false(o.flags[4] & H1_MF_KEEP_ALIVE);
    assert_true(o.flags[4] & H1_MF_CONN_CLOSE);
    for (int i = 0; i < 4; i++)
        assert_true(o.flags[i] & H1_MF_KEEP_ALIVE);
    h1t_free(&o);
}

/* Every input of this list is parsed whole, one byte at a time, in 7-byte steps, and split
 * in two at every offset; all renderings must be identical. */
static const char *const split_inputs[] = {
    "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: "
    "5\r\n\r\nhello",
    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;a=b;c=\"q\\\"x\" ; d\r\nhello\r\n1\r\n!\r\n0;last\r\nX-T: 1\r\nX-U:  two \r\n\r\n"
    "GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive, X-Hop\r\n"
    "X-Hop: 1\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX",
    "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n",
    "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
};

static void test_split_equivalence(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(split_inputs) / sizeof(split_inputs[0]); k++) {
        const char *in = split_inputs[k];
        size_t len = strlen(in);
        struct h1t_out whole, part;
        run_req(&whole, 0, in, len, 0);
        assert_true(whole.n > 0);
        size_t steps[] = {1, 2, 7};
        for (size_t s = 0; s < 3; s++) {
            run_req(&part, 0, in, len, steps[s]);
            if (strcmp(whole.s, part.s))
                print_error("input %zu step %zu:\n%s---\n%s", k, steps[s], whole.s, part.s);
            assert_string_equal(whole.s, part.s);
            h1t_free(&part);
        }
        for (size_t cut = 1; cut < len; cut++) {
            struct h1_config cfg = make_cfg(H1_ROLE_SERVER, 0);
            struct h1t_opts opt = {.split = cut};
            h1t_run(&part, H1_ROLE_SERVER, &cfg, in, len, &opt);
            if (strcmp(whole.s, part.s))
                print_error("input %zu cut %zu:\n%s---\n%s", k, cut, whole.s, part.s);
            assert_string_equal(whole.s, part.s);
            h1t_free(&part);
        }
        h1t_free(&whole);
    }
}

static void test_chunked_ext_trailers(void **state)
{
    (void)state;
    const char *in = split_inputs[1];
    struct h1t_out o;
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.n_msgs, 2);
    assert_int_equal(o.body_len[0], 6);
    assert_memory_equal(o.body[0], "hello!", 6);
    assert_true(o.flags[0] & H1_MF_TRAILERS ? true : true);
    struct http_msg *m = &o.msgs[0];
    assert_int_equal(m->trailers.n, 2);
    assert_string_equal(m->trailers.v[0].name.p, "x-t");
    assert_string_equal(m->trailers.v[0].value.p, "1");
    assert_string_equal(m->trailers.v[1].value.p, "two");
    assert_string_equal(o.msgs[1].path.p, "/after");
    h1t_free(&o);
}

static void test_absolute_form_and_targets(void **state)
{
    (void)state;
    struct h1t_out o;
    const char *in = split_inputs[2];
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.msgs[0].scheme.p, "http");
    assert_string_equal(o.msgs[0].authority.p, "a.example");
    assert_string_equal(o.msgs[0].path.p, "/x?y");
    assert_true(o.flags[0] & H1_MF_ABSOLUTE_FORM);
    assert_true(o.flags[0] & H1_MF_CONNECTION);
    h1t_free(&o);

    /* Host compared case-insensitively; empty path → "/", query-only → "/?q"; HTTPS. */
    in = "GET HTTPS://A.Example HTTP/1.1\r\nHost: a.example\r\n\r\n"
         "GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n";
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.msgs[0].scheme.p, "https");
    assert_string_equal(o.msgs[0].authority.p, "A.Example");
    assert_string_equal(o.msgs[0].path.p, "/");
    assert_string_equal(o.msgs[1].path.p, "/?q");
    h1t_free(&o);

    /* HTTP/1.0 absolute-form without Host is fine; authority comes from the target. */
    in = "GET http://b.example:81/z HTTP/1.0\r\n\r\n";
    run_req(&o, C_HTTP10, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.msgs[0].authority.p, "b.example:81");
    assert_int_equal(o.msgs[0].version, HTTP_VERSION_1_0);
    h1t_free(&o);

    /* OPTIONS * */
    in = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.msgs[0].path.p, "*");
    h1t_free(&o);

    /* IPv6 literal authority */
    in = "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n";
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.msgs[0].authority.p, "[::1]:8080");
    h1t_free(&o);
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    struct {
        const char *in;
        bool keep;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct h1t_out o;
        run_req(&o, C_HTTP10, cases[i].in, strlen(cases[i].in), 0);
        assert_int_equal(o.rc, 0);
        assert_int_equal(!!(o.flags[0] & H1_MF_KEEP_ALIVE), cases[i].keep);
        h1t_free(&o);
    }
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct h1t_out o;
    const char *in = split_inputs[3];
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_true(o.flags[0] & H1_MF_EXPECT_CONTINUE);
    assert_int_equal(o.body_len[0], 3);
    h1t_free(&o);
    /* ignored in HTTP/1.0 (RFC 9110 §10.1.1) */
    in = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx";
    run_req(&o, C_HTTP10, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_false(o.flags[0] & H1_MF_EXPECT_CONTINUE);
    h1t_free(&o);

    struct evbuffer *b = evbuffer_new();
    assert_int_equal(h1_write_continue(b), 0);
    assert_int_equal(evbuffer_get_length(b), 25);
    assert_memory_equal(evbuffer_pullup(b, -1), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    evbuffer_free(b);
}

static void test_underscores_drop_and_chunked_length(void **state)
{
    (void)state;
    struct h1t_out o;
    const char *in = "GET / HTTP/1.1\r\nHost: a\r\nX_A: 1\r\nX-B: 2\r\nx_c: 3\r\n\r\n";
    run_req(&o, C_US_DROP, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.msgs[0].headers.n, 1);
    assert_string_equal(o.msgs[0].headers.v[0].name.p, "x-b");
    h1t_free(&o);
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.msgs[0].headers.n, 3);
    h1t_free(&o);

    in = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\nab\r\n0\r\n\r\n";
    run_req(&o, C_CHUNKED_LENGTH, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.msgs[0].body, HTTP_BODY_CHUNKED);
    assert_null(http_msg_get(&o.msgs[0], "content-length"));
    assert_int_equal(o.body_len[0], 2);
    h1t_free(&o);
}

static void test_upgrade_and_connect(void **state)
{
    (void)state;
    struct h1_config cfg = make_cfg(H1_ROLE_SERVER, C_CONNECT);
    const char *in = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "\r\n\x81\x05hello";
    struct h1t_out o;
    struct h1t_opts opt = {.resume = 2};
    h1t_run(&o, H1_ROLE_SERVER, &cfg, in, strlen(in), &opt);
    assert_int_equal(o.rc, 0);
    assert_true(o.flags[0] & H1_MF_UPGRADE);
    assert_non_null(strstr(o.s, "PAUSED"));
    /* After the switch, raw bytes are body of the second "message" (the tunnel). */
    assert_int_equal(o.body_len[1], 7);
    h1t_free(&o);

    /* Declined upgrade: the next request parses normally. */
    in = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
         "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    opt.resume = 1;
    h1t_run(&o, H1_ROLE_SERVER, &cfg, in, strlen(in), &opt);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.n_msgs, 2);
    assert_string_equal(o.msgs[1].path.p, "/next");
    h1t_free(&o);

    /* Upgrade without the connection option is not an upgrade. */
    in = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
    run_req(&o, 0, in, strlen(in), 0);
    assert_false(o.flags[0] & H1_MF_UPGRADE);
    h1t_free(&o);

    /* CONNECT: tunnel right after the head, ended by EOF. CL: 0 is dropped. */
    in = "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nContent-Length: 0\r\n\r\n"
         "\x16\x03\x01";
    opt = (struct h1t_opts){.eof = true};
    h1t_run(&o, H1_ROLE_SERVER, &cfg, in, strlen(in), &opt);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.n_msgs, 1);
    assert_int_equal(o.msgs[0].method, HTTP_METHOD_CONNECT);
    assert_string_equal(o.msgs[0].authority.p, "a.example:443");
    assert_int_equal(o.msgs[0].path.n, 0);
    assert_int_equal(o.msgs[0].body, HTTP_BODY_TUNNEL);
    assert_int_equal(o.msgs[0].headers.n, 0);
    assert_int_equal(o.body_len[0], 3);
    assert_false(o.flags[0] & H1_MF_KEEP_ALIVE);
    h1t_free(&o);
}

static void test_eof(void **state)
{
    (void)state;
    struct h1_config cfg = make_cfg(H1_ROLE_SERVER, 0);
    struct h1t_opts opt = {.eof = true};
    struct h1t_out o;
    const char *in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    h1t_run(&o, H1_ROLE_SERVER, &cfg, in, strlen(in), &opt);
    assert_int_equal(o.rc, 0);
    assert_non_null(strstr(o.s, "EOF-IDLE"));
    h1t_free(&o);
    in = "GET / HTTP/1.1\r\nHost: a\r\n";
    h1t_run(&o, H1_ROLE_SERVER, &cfg, in, strlen(in), &opt);
    assert_int_equal(o.rc, -RM_ECLOSED);
    assert_string_equal(o.detail, "http1.premature_close");
    h1t_free(&o);
    in = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
    h1t_run(&o, H1_ROLE_SERVER, &cfg, in, strlen(in), &opt);
    assert_int_equal(o.rc, -RM_ECLOSED);
    h1t_free(&o);

    /* Idle helper and sticky errors. */
    struct h1_parser p;
    struct arena a;
    struct http_msg m;
    struct h1_result r;
    arena_init(&a, 0);
    http_msg_init(&m, &a, true);
    h1_parser_init(&p, H1_ROLE_SERVER, NULL);
    assert_true(h1_parser_idle(&p));
    assert_int_equal(h1_parse(&p, &m, "GE", 2, &r), H1_EV_NEED_MORE);
    assert_int_equal(r.consumed, 2);
    assert_false(h1_parser_idle(&p));
    assert_int_equal(h1_parse(&p, &m, "T\x01", 2, &r), H1_EV_NEED_MORE);
    assert_int_equal(h1_parse(&p, &m, "\r\n", 2, &r), -RM_EPROTO);
    assert_int_equal(h1_parse(&p, &m, "GET", 3, &r), -RM_EPROTO);
    assert_int_equal(h1_parse(&p, &m, NULL, 0, &r), -RM_EPROTO);
    h1_parser_fini(&p);
    h1_parser_init(&p, H1_ROLE_SERVER, NULL);
    assert_int_equal(h1_parse(&p, &m, NULL, 0, &r), H1_EV_NEED_MORE);
    h1_parser_fini(&p);
    arena_fini(&a);
}

/* ---- responses ------------------------------------------------------------------------- */

static void run_resp(struct h1t_out *o, const char *in, size_t len, size_t step,
                     const enum http_method *methods, bool upgrade, bool eof)
{
    struct h1_config cfg = make_cfg(H1_ROLE_CLIENT, 0);
    struct h1t_opts opt = {.step = step, .methods = methods, .upgrade = upgrade, .eof = eof};
    h1t_run(o, H1_ROLE_CLIENT, &cfg, in, len, &opt);
}

static void test_responses(void **state)
{
    (void)state;
    struct h1t_out o, o1;
    enum http_method methods[] = {HTTP_METHOD_HEAD, HTTP_METHOD_GET, HTTP_METHOD_GET,
                                  HTTP_METHOD_GET,  HTTP_METHOD_GET, HTTP_METHOD_GET};
    const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"       /* HEAD: no body */
                     "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n" /* CL 0 dropped */
                     "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"
                     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                     "HTTP/1.0 200\r\nContent-Length: 2\r\n\r\nok"
                     "HTTP/1.1 500 Server Error\r\n\r\nuntil close";
    run_resp(&o, in, strlen(in), 0, methods, false, true);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.n_msgs, 6);
    assert_int_equal(o.msgs[0].status, 200);
    assert_int_equal(o.msgs[0].body, HTTP_BODY_NONE);
    assert_int_equal(o.msgs[0].content_length, 100);
    assert_true(o.msgs[0].end_stream);
    assert_int_equal(o.msgs[1].status, 204);
    assert_null(http_msg_get(&o.msgs[1], "content-length"));
    assert_int_equal(o.msgs[2].status, 304);
    assert_int_equal(o.msgs[2].body, HTTP_BODY_NONE);
    /* The two 1xx were reported and reset; the final response is the chunked 200. */
    assert_int_equal(o.msgs[3].status, 200);
    assert_int_equal(o.msgs[3].body, HTTP_BODY_CHUNKED);
    assert_int_equal(o.body_len[3], 3);
    assert_int_equal(o.msgs[4].version, HTTP_VERSION_1_0);
    assert_int_equal(o.msgs[4].reason.n, 0);
    assert_false(o.flags[4] & H1_MF_KEEP_ALIVE);
    assert_int_equal(o.msgs[5].status, 500);
    assert_string_equal(o.msgs[5].reason.p, "Server Error");
    assert_int_equal(o.msgs[5].body, HTTP_BODY_UNTIL_CLOSE);
    assert_int_equal(o.body_len[5], 11);
    assert_false(o.flags[5] & H1_MF_KEEP_ALIVE);
    assert_int_equal(o.n_heads, 8);
    run_resp(&o1, in, strlen(in), 1, methods, false, true);
    assert_string_equal(o.s, o1.s);
    h1t_free(&o);
    h1t_free(&o1);

    /* CONNECT 200 and 101 start tunnels. */
    enum http_method connect[] = {HTTP_METHOD_CONNECT};
    in = "HTTP/1.1 200 Connection Established\r\n\r\nraw";
    run_resp(&o, in, strlen(in), 0, connect, false, true);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.msgs[0].body, HTTP_BODY_TUNNEL);
    assert_true(o.flags[0] & H1_MF_UPGRADE);
    assert_int_equal(o.body_len[0], 3);
    h1t_free(&o);
    in = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nraw";
    run_resp(&o, in, strlen(in), 0, NULL, true, true);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.msgs[0].body, HTTP_BODY_TUNNEL);
    h1t_free(&o);
}

static void test_response_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *detail;
    } cases[] = {
        {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "http1.codec_error"}, /* not asked */
        {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
         "http1.content_length_not_allowed"},
        {"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
         "http1.transfer_encoding_not_allowed"},
        {"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n", "http1.content_length_not_allowed"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         "http1.content_length_and_chunked_not_allowed"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "http1.invalid_transfer_encoding"},
        {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
         "http1.transfer_encoding_not_allowed"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
         "http1.invalid_content_length"},
        {"HTTP/1.1 20 OK\r\n\r\n", "http1.codec_error"},
        {"HTTP/1.1 600 X\r\n\r\n", "http1.codec_error"},
        {"HTTP/1.1 099 X\r\n\r\n", "http1.codec_error"},
        {"HTTP/1.1 2000 OK\r\n\r\n", "http1.codec_error"},
        {"HTTP/2.0 200 OK\r\n\r\n", "http1.unsupported_version"},
        {"http/1.1 200 OK\r\n\r\n", "http1.codec_error"},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", "http1.invalid_characters"},
        {"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "http1.codec_error"},
        {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "http1.codec_error"},
        {"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", "http1.codec_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct h1t_out o;
        run_resp(&o, cases[i].in, strlen(cases[i].in), 0, NULL, false, false);
        if (o.status != 502 || !o.detail || strcmp(o.detail, cases[i].detail))
            print_error("response case %zu: %s", i, o.s);
        assert_int_equal(o.status, 502);
        assert_string_equal(o.detail, cases[i].detail);
        h1t_free(&o);
    }
}

/* ---- serializer ---------------------------------------------------------------------------- */

static char *drain_str(struct evbuffer *b, size_t *len)
{
    *len = evbuffer_get_length(b);
    char *s = malloc(*len + 1);
    assert_non_null(s);
    evbuffer_remove(b, s, *len);
    s[*len] = '\0';
    return s;
}

static void test_serialize_request_roundtrip(void **state)
{
    (void)state;
    const char *in = "POST http://a.example/up?x=1 HTTP/1.1\r\nHost: a.example\r\n"
                     "Content-Type: text/plain\r\nX-Multi: 1\r\nx-multi: 2\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n";
    struct h1t_out o;
    run_req(&o, 0, in, strlen(in), 0);
    assert_int_equal(o.rc, 0);
    struct http_msg *m = &o.msgs[0];

    struct evbuffer *out = evbuffer_new();
    struct evbuffer *body = evbuffer_new();
    assert_int_equal(h1_write_request_head(out, m, HTTP_BODY_CHUNKED, 0, 0), 0);
    evbuffer_add(body, "abc", 3);
    assert_int_equal(h1_write_chunk(out, body, 3), 0);
    assert_int_equal(evbuffer_get_length(body), 0);
    assert_int_equal(h1_write_chunk(out, body, 0), 0);
    assert_int_equal(h1_write_chunk(out, body, 1), -RM_EINVAL);
    assert_int_equal(h1_write_last_chunk(out, &m->trailers), 0);
    size_t len;
    char *wire = drain_str(out, &len);
    assert_string_equal(wire, "POST /up?x=1 HTTP/1.1\r\nhost: a.example\r\n"
                              "content-type: text/plain\r\nx-multi: 1\r\nx-multi: 2\r\n"
                              "transfer-encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n0\r\nx-trailer: t\r\n\r\n");
    struct h1t_out o2;
    run_req(&o2, 0, wire, len, 0);
    assert_int_equal(o2.rc, 0);
    assert_int_equal(o2.n_msgs, 1);
    assert_string_equal(o2.msgs[0].path.p, "/up?x=1");
    assert_string_equal(o2.msgs[0].authority.p, "a.example");
    assert_int_equal(o2.msgs[0].headers.n, m->headers.n);
    for (uint32_t i = 0; i < m->headers.n; i++) {
        assert_string_equal(o2.msgs[0].headers.v[i].name.p, m->headers.v[i].name.p);
        assert_string_equal(o2.msgs[0].headers.v[i].value.p, m->headers.v[i].value.p);
    }
    assert_memory_equal(o2.body[0], "abc", 3);
    assert_string_equal(o2.msgs[0].trailers.v[0].value.p, "t");
    free(wire);
    h1t_free(&o2);

    /* Content-Length framing replaces whatever the map says; connection: close added. */
    assert_int_equal(http_msg_add(m, "Content-Length", "999"), 0);
    assert_int_equal(http_msg_add(m, "Connection", "keep-alive"), 0);
    assert_int_equal(h1_write_request_head(out, m, HTTP_BODY_LENGTH, 12, H1_WF_CONN_CLOSE), 0);
    wire = drain_str(out, &len);
    assert_non_null(strstr(wire, "\r\ncontent-length: 12\r\nconnection: close\r\n\r\n"));
    assert_null(strstr(wire, "999"));
    assert_null(strstr(wire, "keep-alive"));
    assert_null(strstr(wire, "transfer-encoding"));
    free(wire);

    /* A rewrite that would split the request is refused, nothing written. */
    assert_int_equal(http_msg_set_path(m, "/a\r\nX-Evil: 1", 14), 0);
    assert_int_equal(h1_write_request_head(out, m, HTTP_BODY_NONE, 0, 0), -RM_EINVAL);
    assert_int_equal(http_msg_set_path(m, "/a b", 4), 0);
    assert_int_equal(h1_write_request_head(out, m, HTTP_BODY_NONE, 0, 0), -RM_EINVAL);
    assert_int_equal(http_msg_set_path(m, "/ok", 3), 0);
    assert_int_equal(http_msg_set_authority(m, "a\r\n", 3), 0);
    assert_int_equal(h1_write_request_head(out, m, HTTP_BODY_NONE, 0, 0), -RM_EINVAL);
    assert_int_equal(http_msg_set_authority(m, "a.example", 9), 0);
    assert_int_equal(h1_write_request_head(out, m, HTTP_BODY_UNTIL_CLOSE, 0, 0), -RM_EINVAL);
    assert_int_equal(evbuffer_get_length(out), 0);

    /* CONNECT writes authority-form; HTTP/1.0 start line on request. */
    struct http_msg c;
    http_msg_init(&c, &o.arena, true);
    assert_int_equal(http_msg_set_method(&c, "CONNECT", 7), 0);
    assert_int_equal(http_msg_set_authority(&c, "h:443", 5), 0);
    assert_int_equal(h1_write_request_head(out, &c, HTTP_BODY_TUNNEL, 0, H1_WF_HTTP10), 0);
    wire = drain_str(out, &len);
    assert_string_equal(wire, "CONNECT h:443 HTTP/1.0\r\nhost: h:443\r\n\r\n");
    free(wire);

    evbuffer_free(out);
    evbuffer_free(body);
    h1t_free(&o);
}

static void test_serialize_response_roundtrip(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 0);
    struct http_msg m;
    http_msg_init(&m, &a, false);
    m.status = 404;
    assert_int_equal(http_msg_add(&m, "Server", "remora"), 0);
    assert_int_equal(http_msg_add(&m, "Set-Cookie", "a=1"), 0);
    assert_int_equal(http_msg_add(&m, "Set-Cookie", "b=2"), 0);
    struct evbuffer *out = evbuffer_new();
    assert_int_equal(h1_write_response_head(out, &m, HTTP_BODY_LENGTH, 9, 0), 0);
    evbuffer_add(out, "not found", 9);
    size_t len;
    char *wire = drain_str(out, &len);
    assert_string_equal(wire, "HTTP/1.1 404 Not Found\r\nserver: remora\r\nset-cookie: a=1\r\n"
                              "set-cookie: b=2\r\ncontent-length: 9\r\n\r\nnot found");
    struct h1t_out o;
    run_resp(&o, wire, len, 0, NULL, false, false);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.msgs[0].status, 404);
    assert_string_equal(o.msgs[0].reason.p, "Not Found");
    assert_int_equal(http_hdrs_count(&o.msgs[0].headers, "set-cookie", 10), 2);
    assert_int_equal(o.body_len[0], 9);
    free(wire);
    h1t_free(&o);

    /* Custom reason, 1xx/204 refuse framing headers, bad status/reason refused. */
    assert_int_equal(http_msg_set_reason(&m, "Nope", 4), 0);
    assert_int_equal(
        h1_write_response_head(out, &m, HTTP_BODY_CHUNKED, 0, H1_WF_KEEP_ALIVE | H1_WF_HTTP10), 0);
    wire = drain_str(out, &len);
    assert_non_null(strstr(wire, "HTTP/1.0 404 Nope\r\n"));
    assert_non_null(strstr(wire, "transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"));
    free(wire);
    m.status = 204;
    assert_int_equal(h1_write_response_head(out, &m, HTTP_BODY_LENGTH, 0, 0), -RM_EINVAL);
    assert_int_equal(h1_write_response_head(out, &m, HTTP_BODY_NONE, 0, 0), 0);
    m.status = 99;
    assert_int_equal(h1_write_response_head(out, &m, HTTP_BODY_NONE, 0, 0), -RM_EINVAL);
    m.status = 200;
    assert_int_equal(http_msg_set_reason(&m, "a\r\nb", 4), 0);
    assert_int_equal(h1_write_response_head(out, &m, HTTP_BODY_NONE, 0, 0), -RM_EINVAL);
    evbuffer_drain(out, evbuffer_get_length(out));

    /* Last chunk without trailers. */
    assert_int_equal(h1_write_last_chunk(out, NULL), 0);
    wire = drain_str(out, &len);
    assert_string_equal(wire, "0\r\n\r\n");
    free(wire);

    /* Big chunk header in hex. */
    struct evbuffer *body = evbuffer_new();
    char blob[300];
    memset(blob, 'z', sizeof(blob));
    evbuffer_add(body, blob, sizeof(blob));
    assert_int_equal(h1_write_chunk(out, body, 300), 0);
    wire = drain_str(out, &len);
    assert_memory_equal(wire, "12c\r\nzzz", 8);
    assert_int_equal(len, 5 + 300 + 2);
    free(wire);
    evbuffer_free(body);
    evbuffer_free(out);
    arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reject_table),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_value_bytes_every_position),
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_split_equivalence),
        cmocka_unit_test(test_chunked_ext_trailers),
        cmocka_unit_test(test_absolute_form_and_targets),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_underscores_drop_and_chunked_length),
        cmocka_unit_test(test_upgrade_and_connect),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_response_rejects),
        cmocka_unit_test(test_serialize_request_roundtrip),
        cmocka_unit_test(test_serialize_response_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
