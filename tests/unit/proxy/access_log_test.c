/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/access_log_test.c — response flags, format compilation and every operator,
 * Envoy's default format, START_TIME sub-formats, json_format typing and omit_empty_values,
 * error texts, and the asynchronous writer (two threads, reopen, timer flush, drops). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config/model.h"
#include "config/value.h"
#include "proxy/access_log.h"
#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/response_flags.h"
#include "proxy/strbuf.h"

/* ---- helpers ------------------------------------------------------------------------------ */

#define START_SEC 1700000000 /* 2023-11-14T22:13:20Z, a Tuesday */
#define MONO0 INT64_C(5000000000)
#define MS(x) (MONO0 + (int64_t)((x)*1000000.0))

struct fake_hdrs {
    const char *const *req; /* name, value, ..., NULL; names lower-case */
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

static const char *fake_req(const void *stream, const char *lname, size_t *len)
{
    return lookup(((const struct fake_hdrs *)stream)->req, lname, len);
}

static const char *fake_resp(const void *stream, const char *lname, size_t *len)
{
    return lookup(((const struct fake_hdrs *)stream)->resp, lname, len);
}

static const char *fake_trailer(const void *stream, const char *lname, size_t *len)
{
    return lookup(((const struct fake_hdrs *)stream)->trailers, lname, len);
}

static const char *const REQ_HDRS[] = {
    ":method",
    "GET",
    ":path",
    "/rewritten",
    ":authority",
    "example.com",
    "x-envoy-original-path",
    "/orig",
    "user-agent",
    "curl/8.0",
    "x-request-id",
    "req-1",
    "x-forwarded-for",
    "1.2.3.4",
    "x-quote",
    "a\"b\\c\n\x01",
    "x-bad-utf8",
    "ok\xff",
    NULL,
};
static const char *const RESP_HDRS[] = {"x-envoy-upstream-service-time", "7", "server", "envoy",
                                        NULL};
static const char *const TRAILERS[] = {"grpc-status", "0", NULL};
static const struct fake_hdrs HDRS = {REQ_HDRS, RESP_HDRS, TRAILERS};

static void set_v4(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

static void set_v6(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
}

/* A TCP-like context: no headers, no protocol, no response. */
static void tcp_ctx(struct alog_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->start_time.tv_sec = START_SEC;
    c->start_time.tv_nsec = 123456789;
    c->start_mono_ns = MONO0;
    c->complete_ns = MS(16.9);
    c->bytes_received = 123;
    c->bytes_sent = 4567;
    c->connection_id = 42;
    set_v4(&c->upstream_host, "10.0.0.2", 8080);
    set_v4(&c->downstream_remote, "192.168.1.5", 40000);
    set_v4(&c->downstream_direct_remote, "10.1.1.1", 40001);
    set_v4(&c->downstream_local, "10.0.0.1", 10000);
    set_v6(&c->upstream_local, "::1", 45678);
    c->upstream_cluster = "backend";
}

/* Everything set. */
static void http_ctx(struct alog_ctx *c)
{
    tcp_ctx(c);
    c->last_downstream_rx_ns = MS(2.5);
    c->last_upstream_tx_ns = MS(3);
    c->first_upstream_rx_ns = MS(10);
    c->last_downstream_tx_ns = MS(15.9);
    c->downstream_handshake_ns = MS(1);
    c->response_code = 200;
    c->response_flags = RF_UPSTREAM_RETRY_LIMIT_EXCEEDED | RF_UPSTREAM_CONNECTION_FAILURE;
    c->attempt_count = 2;
    c->response_code_details = "via_upstream";
    c->connection_termination_details = "idle timeout";
    c->protocol = "HTTP/1.1";
    c->upstream_transport_failure_reason = "connection refused by peer";
    c->route_name = "r1";
    c->requested_server_name = "sni.example.com";
    c->downstream_peer_uri_san = "spiffe://td/ns/a,spiffe://td/ns/b";
    c->downstream_peer_subject = "CN=client";
    c->downstream_tls_version = "TLSv1.3";
    c->stream = &HDRS;
    c->req_header = fake_req;
    c->resp_header = fake_resp;
    c->resp_trailer = fake_trailer;
}

/* Compiles |fmt| (text), formats |c| and compares with |want|. */
static void expect_text(const char *fmt, bool omit, const struct alog_ctx *c, const char *want)
{
    struct arena a;
    struct alog_format *f = NULL;
    struct strbuf sb;
    char err[256];

    arena_init(&a, 0);
    sb_init(&sb);
    int rc = alog_format_compile(fmt, NULL, omit, &a, &f, err, sizeof(err));
    if (rc)
        fail_msg("compile '%s': %s", fmt, err);
    assert_false(alog_format_is_json(f));
    assert_int_equal(alog_format_write(f, c, &sb), 0);
    if (strcmp(sb.data, want))
        fail_msg("format '%s'\n got: '%s'\nwant: '%s'", fmt, sb.data, want);
    sb_fini(&sb);
    arena_fini(&a);
}

static void expect_error(const char *fmt, const char *want)
{
    struct arena a;
    struct alog_format *f = NULL;
    char err[256];

    arena_init(&a, 0);
    assert_int_equal(alog_format_compile(fmt, NULL, false, &a, &f, err, sizeof(err)), -RM_ECONFIG);
    if (strcmp(err, want))
        fail_msg("format '%s'\n got error: '%s'\nwant error: '%s'", fmt, err, want);
    arena_fini(&a);
}

/* ---- value-tree builders for json_format ---------------------------------------------------- */

static struct vt_node *n_scalar(struct arena *a, const char *s, bool quoted)
{
    struct vt_node *n = arena_zalloc(a, sizeof(*n));
    assert_non_null(n);
    n->kind = VT_SCALAR;
    n->scalar.s = s;
    n->scalar.len = strlen(s);
    n->scalar.quoted = quoted;
    return n;
}

static struct vt_node *n_str(struct arena *a, const char *s)
{
    return n_scalar(a, s, true);
}

static struct vt_node *n_plain(struct arena *a, const char *s)
{
    return n_scalar(a, s, false);
}

static struct vt_node *n_null(struct arena *a)
{
    struct vt_node *n = arena_zalloc(a, sizeof(*n));
    assert_non_null(n);
    n->kind = VT_NULL;
    return n;
}

/* n_map(a, count, key1, val1, key2, val2, ...) */
static struct vt_node *n_map(struct arena *a, size_t count, ...)
{
    struct vt_node *n = arena_zalloc(a, sizeof(*n));
    struct vt_pair *items = arena_zalloc(a, sizeof(*items) * (count ? count : 1));
    va_list ap;
    assert_non_null(n);
    assert_non_null(items);
    va_start(ap, count);
    for (size_t i = 0; i < count; i++) {
        items[i].key = va_arg(ap, const char *);
        items[i].val = va_arg(ap, struct vt_node *);
    }
    va_end(ap);
    n->kind = VT_MAP;
    n->map.items = items;
    n->map.n = count;
    return n;
}

static struct vt_node *n_list(struct arena *a, size_t count, ...)
{
    struct vt_node *n = arena_zalloc(a, sizeof(*n));
    struct vt_node **items = arena_zalloc(a, sizeof(*items) * (count ? count : 1));
    va_list ap;
    assert_non_null(n);
    assert_non_null(items);
    va_start(ap, count);
    for (size_t i = 0; i < count; i++)
        items[i] = va_arg(ap, struct vt_node *);
    va_end(ap);
    n->kind = VT_LIST;
    n->list.items = items;
    n->list.n = count;
    return n;
}

static void expect_json(const struct vt_node *jf, bool omit, const struct alog_ctx *c,
                        const char *want)
{
    struct arena a;
    struct alog_format *f = NULL;
    struct strbuf sb;
    char err[256];

    arena_init(&a, 0);
    sb_init(&sb);
    int rc = alog_format_compile("ignored %FOO%", jf, omit, &a, &f, err, sizeof(err));
    if (rc)
        fail_msg("compile json: %s", err);
    assert_true(alog_format_is_json(f));
    assert_int_equal(alog_format_write(f, c, &sb), 0);
    if (strcmp(sb.data, want))
        fail_msg("json\n got: '%s'\nwant: '%s'", sb.data, want);
    sb_fini(&sb);
    arena_fini(&a);
}

/* ---- response flags ----------------------------------------------------------------------- */

static void test_rf_short(void **state)
{
    (void)state;
    char buf[RF_SHORT_MAX];

    assert_int_equal(rf_format_short(0, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "-");
    /* Envoy's order, whatever order the bits were set in. */
    rf_format_short(RF_UPSTREAM_RETRY_LIMIT_EXCEEDED | RF_UPSTREAM_CONNECTION_FAILURE, buf,
                    sizeof(buf));
    assert_string_equal(buf, "UF,URX");
    rf_format_short(RF_DOWNSTREAM_REMOTE_RESET | RF_FAILED_LOCAL_HEALTH_CHECK, buf, sizeof(buf));
    assert_string_equal(buf, "LH,DR");
    size_t n = rf_format_short(RF_ALL, buf, sizeof(buf));
    assert_string_equal(buf, "LH,UH,UT,LR,UR,UF,UC,UO,NR,DI,FI,RL,UAEX,RLSE,DC,URX,SI,IH,DPE,"
                             "UMSDR,RFCF,NFCF,DT,UPE,NC,OM,DF,DO,DR");
    assert_int_equal(n, strlen(buf));
    /* Unknown bits are ignored. */
    rf_format_short(UINT32_C(1) << 30, buf, sizeof(buf));
    assert_string_equal(buf, "-");
    assert_int_equal(RF_COUNT, 29);
}

static void test_rf_long(void **state)
{
    (void)state;
    char buf[RF_LONG_MAX];

    rf_format_long(RF_UPSTREAM_CONNECTION_FAILURE | RF_UPSTREAM_RETRY_LIMIT_EXCEEDED, buf,
                   sizeof(buf));
    assert_string_equal(buf, "UpstreamConnectionFailure,UpstreamRetryLimitExceeded");
    rf_format_long(0, buf, sizeof(buf));
    assert_string_equal(buf, "-");
    rf_format_long(RF_OVERLOAD_MANAGER | RF_DNS_RESOLUTION_FAILED, buf, sizeof(buf));
    assert_string_equal(buf, "OverloadManagerTerminated,DnsResolutionFailed");
    size_t n = rf_format_long(RF_ALL, buf, sizeof(buf));
    assert_true(n < RF_LONG_MAX);
    assert_int_equal(n, strlen(buf));
    assert_string_equal(rf_long_name(0), "FailedLocalHealthCheck");
    assert_string_equal(rf_long_name(28), "DownstreamRemoteReset");
    assert_null(rf_long_name(RF_COUNT));
    assert_string_equal(rf_short_name(15), "URX");
    assert_null(rf_short_name(99));
}

static void test_rf_truncate_and_parse(void **state)
{
    (void)state;
    char buf[5];

    /* snprintf convention: full length returned, output cut and NUL-terminated. */
    size_t n = rf_format_short(RF_NO_HEALTHY_UPSTREAM | RF_UPSTREAM_OVERFLOW | RF_NO_ROUTE_FOUND,
                               buf, sizeof(buf));
    assert_int_equal(n, strlen("UH,UO,NR"));
    assert_string_equal(buf, "UH,U");
    assert_int_equal(rf_format_short(RF_NO_HEALTHY_UPSTREAM, NULL, 0), 2);

    assert_int_equal(rf_from_short("UH", 2), RF_NO_HEALTHY_UPSTREAM);
    assert_int_equal(rf_from_short("UAEX", 4), RF_UNAUTHORIZED_EXTERNAL_SERVICE);
    assert_int_equal(rf_from_short("DR", 2), RF_DOWNSTREAM_REMOTE_RESET);
    assert_int_equal(rf_from_short("URXY", 3), RF_UPSTREAM_RETRY_LIMIT_EXCEEDED);
    assert_int_equal(rf_from_short("uh", 2), 0);
    assert_int_equal(rf_from_short("XX", 2), 0);
}

/* ---- text formats ------------------------------------------------------------------------- */

static void test_default_format_tcp(void **state)
{
    (void)state;
    struct alog_ctx c;
    tcp_ctx(&c);
    expect_text(NULL, false, &c,
                "[2023-11-14T22:13:20.123Z] \"- - -\" 0 - 123 4567 16 - \"-\" \"-\" \"-\" \"-\" "
                "\"10.0.0.2:8080\"\n");
    /* The macro is Envoy's DEFAULT_FORMAT byte for byte. */
    assert_string_equal(ALOG_DEFAULT_FORMAT,
                        "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% "
                        "%PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% "
                        "%BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "
                        "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" "
                        "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n");
}

static void test_default_format_http(void **state)
{
    (void)state;
    struct alog_ctx c;
    http_ctx(&c);
    expect_text(NULL, false, &c,
                "[2023-11-14T22:13:20.123Z] \"GET /orig HTTP/1.1\" 200 UF,URX 123 4567 16 7 "
                "\"1.2.3.4\" \"curl/8.0\" \"req-1\" \"example.com\" \"10.0.0.2:8080\"\n");
}

struct op_case {
    const char *fmt;
    const char *full;  /* with http_ctx() */
    const char *empty; /* with a zeroed context */
};

static void test_every_operator(void **state)
{
    (void)state;
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host)), 0);

    const struct op_case cases[] = {
        {"%START_TIME%", "2023-11-14T22:13:20.123Z", "-"},
        {"%REQ(:METHOD)%", "GET", "-"},
        {"%RESP(SERVER)%", "envoy", "-"},
        {"%TRAILER(GRPC-STATUS)%", "0", "-"},
        {"%RESPONSE_CODE%", "200", "0"},
        {"%RESPONSE_CODE_DETAILS%", "via_upstream", "-"},
        {"%RESPONSE_FLAGS%", "UF,URX", "-"},
        {"%RESPONSE_FLAGS_LONG%", "UpstreamConnectionFailure,UpstreamRetryLimitExceeded", "-"},
        {"%DURATION%", "16", "-"},
        {"%REQUEST_DURATION%", "2", "-"},
        {"%REQUEST_TX_DURATION%", "3", "-"},
        {"%RESPONSE_DURATION%", "10", "-"},
        {"%RESPONSE_TX_DURATION%", "5", "-"},
        {"%DOWNSTREAM_HANDSHAKE_DURATION%", "1", "-"},
        {"%BYTES_RECEIVED%", "123", "0"},
        {"%BYTES_SENT%", "4567", "0"},
        {"%PROTOCOL%", "HTTP/1.1", "-"},
        {"%UPSTREAM_HOST%", "10.0.0.2:8080", "-"},
        {"%UPSTREAM_CLUSTER%", "backend", "-"},
        {"%UPSTREAM_LOCAL_ADDRESS%", "[::1]:45678", "-"},
        {"%UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "::1", "-"},
        {"%UPSTREAM_REMOTE_ADDRESS%", "10.0.0.2:8080", "-"},
        {"%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "10.0.0.2", "-"},
        {"%UPSTREAM_TRANSPORT_FAILURE_REASON%", "connection_refused_by_peer", "-"},
        {"%DOWNSTREAM_REMOTE_ADDRESS%", "192.168.1.5:40000", "-"},
        {"%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "192.168.1.5", "-"},
        {"%DOWNSTREAM_LOCAL_ADDRESS%", "10.0.0.1:10000", "-"},
        {"%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "10.0.0.1", "-"},
        {"%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%", "10.1.1.1:40001", "-"},
        {"%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%", "10.1.1.1", "-"},
        {"%DOWNSTREAM_PEER_URI_SAN%", "spiffe://td/ns/a,spiffe://td/ns/b", "-"},
        {"%DOWNSTREAM_PEER_SUBJECT%", "CN=client", "-"},
        {"%DOWNSTREAM_TLS_VERSION%", "TLSv1.3", "-"},
        {"%REQUESTED_SERVER_NAME%", "sni.example.com", "-"},
        {"%ROUTE_NAME%", "r1", "-"},
        {"%CONNECTION_TERMINATION_DETAILS%", "idle timeout", "-"},
        {"%UPSTREAM_REQUEST_ATTEMPT_COUNT%", "2", "0"},
        {"%HOSTNAME%", host, host},
        {"%CONNECTION_ID%", "42", "0"},
        {"100%%", "100%", "100%"},
        {"", "", ""},
        {"%PROTOCOL()%", "HTTP/1.1", "-"},
    };
    struct alog_ctx full, empty;
    http_ctx(&full);
    memset(&empty, 0, sizeof(empty));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_text(cases[i].fmt, false, &full, cases[i].full);
        expect_text(cases[i].fmt, false, &empty, cases[i].empty);
    }
}

static void test_addresses_other_families(void **state)
{
    (void)state;
    struct alog_ctx c;
    memset(&c, 0, sizeof(c));
    set_v6(&c.downstream_remote, "2001:db8::1", 443);
    set_v6(&c.downstream_local, "::ffff:10.0.0.1", 80);
    expect_text("%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% "
                "%DOWNSTREAM_LOCAL_ADDRESS%",
                false, &c, "[2001:db8::1]:443 2001:db8::1 [::ffff:10.0.0.1]:80");

    struct sockaddr_un *sun = (struct sockaddr_un *)&c.downstream_local;
    memset(&c.downstream_local, 0, sizeof(c.downstream_local));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, "/run/remora.sock", sizeof("/run/remora.sock"));
    expect_text("%DOWNSTREAM_LOCAL_ADDRESS%|%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", false, &c,
                "/run/remora.sock|/run/remora.sock");
    memset(sun->sun_path, 0, sizeof(sun->sun_path));
    memcpy(sun->sun_path + 1, "abstract", 8);
    expect_text("%DOWNSTREAM_LOCAL_ADDRESS%", false, &c, "@abstract");
}

static void test_header_fallback_and_truncation(void **state)
{
    (void)state;
    struct alog_ctx c;
    http_ctx(&c);

    /* Main header present: it wins; absent: the alternative is used. */
    expect_text("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", false, &c, "/orig");
    expect_text("%REQ(X-NOPE?:PATH)%", false, &c, "/rewritten");
    expect_text("%REQ(X-NOPE?X-NOPE2)%", false, &c, "-");
    expect_text("%REQ(X-NOPE?)%", false, &c, "-"); /* empty alternative: none */
    /* Case-insensitive names, looked up in lower case. */
    expect_text("%REQ(:Authority)%|%REQ(x-ENVOY-original-PATH?:path)%", false, &c,
                "example.com|/orig");
}

static void test_header_truncation(void **state)
{
    (void)state;
    struct alog_ctx c;
    http_ctx(&c);
    expect_text("%REQ(User-Agent)%", false, &c, "curl/8.0");
    expect_text("%REQ(USER-AGENT):4%", false, &c, "curl");
    expect_text("%REQ(USER-AGENT):0%", false, &c, "");
    expect_text("%REQ(USER-AGENT):100%", false, &c, "curl/8.0");
    expect_text("%REQ(X-NOPE?USER-AGENT):2%", false, &c, "cu");
    expect_text("%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME):1%", false, &c, "7");
    expect_text("%TRAILER(GRPC-STATUS):1%", false, &c, "0");
    /* A literal ')' inside the sub-command, as Envoy's non-greedy regex allows. */
    expect_text("%REQ(X)Y)%", false, &c, "-");
}

static void test_start_time_formats(void **state)
{
    (void)state;
    struct alog_ctx c;
    tcp_ctx(&c);

    expect_text("%START_TIME()%", false, &c, "2023-11-14T22:13:20.123Z");
    expect_text("%START_TIME(%Y/%m/%dT%H:%M:%S%z)%", false, &c, "2023/11/14T22:13:20+0000");
    expect_text("%START_TIME(%s)%", false, &c, "1700000000");
    expect_text("%START_TIME(%f)%", false, &c, "123456789");
    expect_text("%START_TIME(%1f|%3f|%6f|%9f)%", false, &c, "1|123|123456|123456789");
    expect_text("%START_TIME(%s.%3f)%", false, &c, "1700000000.123");
    expect_text("%START_TIME(%E3S|%E6S|%E*S)%", false, &c, "20.123|20.123456|20.123456789");
    expect_text("%START_TIME(%E3f|%E*f)%", false, &c, "123|123456789");
    expect_text("%START_TIME(%Ez|%E*z|%Z|%E4Y|%%)%", false, &c, "+00:00|+00:00:00|UTC|2023|%");
    expect_text("%START_TIME(%a, %d %b %Y %H:%M:%S GMT)%", false, &c,
                "Tue, 14 Nov 2023 22:13:20 GMT");
    expect_text("%START_TIME(%-d/%-m day %j)%", false, &c, "14/11 day 318");
    expect_text("[%START_TIME(%H)%:%START_TIME(%M)%]", false, &c, "[22:13]");

    /* Dynamic widths drop trailing zeros; %E*S drops the dot when there is no fraction. */
    c.start_time.tv_nsec = 120000000;
    expect_text("%START_TIME(%*f|%E*S|%E*f)%", false, &c, "12|20.12|12");
    c.start_time.tv_nsec = 0;
    expect_text("%START_TIME(%*f|%E*S|%E3S|%3f)%", false, &c, "0|20|20.000|000");
    expect_text("%START_TIME%", false, &c, "2023-11-14T22:13:20.000Z");
}

static void test_literals_and_omit_text(void **state)
{
    (void)state;
    struct alog_ctx c;
    http_ctx(&c);
    expect_text("100%% %RESPONSE_CODE% %%%PROTOCOL%%%", false, &c, "100% 200 %HTTP/1.1%");
    expect_text("%REQ(X-NOPE)%|%PROTOCOL%|%ROUTE_NAME%", false, &c, "-|HTTP/1.1|r1");
    expect_text("%REQ(X-NOPE)%|%PROTOCOL%|%ROUTE_NAME%", true, &c, "|HTTP/1.1|r1");
    /* Empty strings that Envoy treats as absent. */
    c.route_name = "";
    c.upstream_cluster = "";
    expect_text("%ROUTE_NAME% %UPSTREAM_CLUSTER%", false, &c, "- -");
    /* Raw header bytes go to text logs unchanged, as in Envoy. */
    expect_text("%REQ(X-QUOTE)%", false, &c, "a\"b\\c\n\x01");
}

static void test_compile_errors(void **state)
{
    (void)state;
    expect_error("%FOO%", "Not supported field in StreamInfo: FOO");
    expect_error("x %UPSTREAM_SERVICE_TIME% y",
                 "Not supported field in StreamInfo: UPSTREAM_SERVICE_TIME");
    expect_error("%REQ%", "REQ requires parameters");
    expect_error("%RESP()%", "RESP requires parameters");
    expect_error("%PROTOCOL(x)%", "PROTOCOL does not take any parameters or length");
    expect_error("%BYTES_SENT:3%", "BYTES_SENT does not take any parameters or length");
    expect_error("%START_TIME:3%", "START_TIME does not allow length to be specified.");
    expect_error("%REQ(A?B?C)%", "More than 1 alternative header specified in token: A?B?C");
    expect_error("abc %REQ(X", "Incorrect configuration: abc %REQ(X. Couldn't find valid "
                               "command at position 4");
    expect_error("%lower%", "Incorrect configuration: %lower%. Couldn't find valid command at "
                            "position 0");
    expect_error("50%", "Incorrect configuration: 50%. Couldn't find valid command at "
                        "position 2");
    expect_error("%REQ(X):%", "Incorrect configuration: %REQ(X):%. Couldn't find valid "
                              "command at position 0");
    expect_error("%START_TIME(%H%n)%",
                 "Invalid header configuration. Format string contains newline.");
    expect_error("%START_TIME(%-5En)%",
                 "Invalid header configuration. Format string contains newline.");
}

static void test_write_limit(void **state)
{
    (void)state;
    struct arena a;
    struct alog_format *f = NULL;
    struct strbuf sb;
    struct alog_ctx c;
    char err[128];

    http_ctx(&c);
    arena_init(&a, 0);
    sb_init(&sb);
    sb.limit = 10;
    assert_int_equal(alog_format_compile(NULL, NULL, false, &a, &f, err, sizeof(err)), 0);
    assert_int_equal(alog_format_write(f, &c, &sb), -RM_ELIMIT);
    assert_int_equal(sb.len, 0);
    sb_fini(&sb);
    arena_fini(&a);
}

static void test_ctx_init(void **state)
{
    (void)state;
    struct alog_ctx c;
    struct timespec now;
    int64_t m0 = alog_mono_ns();

    alog_ctx_init(&c);
    clock_gettime(CLOCK_REALTIME, &now);
    assert_true(c.start_mono_ns >= m0);
    assert_true(c.start_time.tv_sec <= now.tv_sec && c.start_time.tv_sec >= now.tv_sec - 5);
    assert_int_equal(c.response_code, 0);
    assert_null(c.req_header);
    c.complete_ns = c.start_mono_ns + 2500000;
    expect_text("%DURATION% %REQ(:PATH)%", false, &c, "2 -");
}

/* ---- json_format -------------------------------------------------------------------------- */

static struct vt_node *sample_json(struct arena *a)
{
    /* One key/value pair per line. */
    /* clang-format off */
    return n_map(a, 19,
                 "method", n_str(a, "%REQ(:METHOD)%"),
                 "code", n_str(a, "%RESPONSE_CODE%"),
                 "missing", n_str(a, "%REQ(X-NOPE)%"),
                 "dur", n_str(a, "%DURATION%"),
                 "mixed", n_str(a, "%REQ(:METHOD)% %REQ(X-NOPE)%"),
                 "const_s", n_str(a, "hello"),
                 "const_n", n_plain(a, "7"),
                 "const_f", n_plain(a, "1.5"),
                 "const_b", n_plain(a, "true"),
                 "const_null", n_null(a),
                 "quoted_num", n_str(a, "7"),
                 "nested", n_map(a, 1, "a", n_str(a, "%REQ(X-NOPE)%")),
                 "nested2", n_map(a, 2, "flags", n_str(a, "%RESPONSE_FLAGS%"),
                                        "gone", n_str(a, "%ROUTE_NAME%")),
                 "list", n_list(a, 3, n_str(a, "%BYTES_SENT%"), n_str(a, "%REQ(X-NOPE)%"),
                                n_str(a, "x")),
                 "quote", n_str(a, "%REQ(X-QUOTE)%"),
                 "pct", n_str(a, "100%%"),
                 "dup", n_str(a, "first"),
                 "dup", n_str(a, "second"),
                 "start", n_str(a, "%START_TIME(%s)%"));
    /* clang-format on */
}

static void test_json_types(void **state)
{
    (void)state;
    struct arena a;
    struct alog_ctx c;

    arena_init(&a, 0);
    http_ctx(&c);
    c.route_name = NULL;
    const struct vt_node *jf = sample_json(&a);
    expect_json(jf, false, &c,
                "{\"code\":200,\"const_b\":true,\"const_f\":1.5,\"const_n\":7,\"const_null\":null,"
                "\"const_s\":\"hello\",\"dup\":\"second\",\"dur\":16,\"list\":[4567,null,\"x\"],"
                "\"method\":\"GET\",\"missing\":null,\"mixed\":\"GET -\",\"nested\":{\"a\":null},"
                "\"nested2\":{\"flags\":\"UF,URX\",\"gone\":null},\"pct\":\"100%\","
                "\"quote\":\"a\\\"b\\\\c\\n\\u0001\",\"quoted_num\":\"7\","
                "\"start\":\"1700000000\"}\n");
    arena_fini(&a);
}

static void test_json_omit_empty(void **state)
{
    (void)state;
    struct arena a;
    struct alog_ctx c;

    arena_init(&a, 0);
    http_ctx(&c);
    c.route_name = NULL;
    const struct vt_node *jf = sample_json(&a);
    expect_json(jf, true, &c,
                "{\"code\":200,\"const_b\":true,\"const_f\":1.5,\"const_n\":7,"
                "\"const_s\":\"hello\",\"dup\":\"second\",\"dur\":16,\"list\":[4567,\"x\"],"
                "\"method\":\"GET\",\"mixed\":\"GET \","
                "\"nested2\":{\"flags\":\"UF,URX\"},\"pct\":\"100%\","
                "\"quote\":\"a\\\"b\\\\c\\n\\u0001\",\"quoted_num\":\"7\","
                "\"start\":\"1700000000\"}\n");

    /* Everything missing: the root object is still written. */
    struct alog_ctx empty;
    memset(&empty, 0, sizeof(empty));
    expect_json(n_map(&a, 2, "a", n_str(&a, "%ROUTE_NAME%"), "b", n_str(&a, "%DURATION%")), true,
                &empty, "{}\n");
    expect_json(n_map(&a, 2, "a", n_str(&a, "%ROUTE_NAME%"), "b", n_str(&a, "%DURATION%")), false,
                &empty, "{\"a\":null,\"b\":null}\n");
    expect_json(n_map(&a, 0), false, &empty, "{}\n");
    /* Numbers that are 0 are values, not empty. */
    expect_json(n_map(&a, 1, "code", n_str(&a, "%RESPONSE_CODE%")), true, &empty, "{\"code\":0}\n");
    arena_fini(&a);
}

static void test_json_escaping_and_numbers(void **state)
{
    (void)state;
    struct arena a;
    struct alog_ctx c;

    arena_init(&a, 0);
    http_ctx(&c);
    expect_json(n_map(&a, 6, "k\"ey", n_str(&a, "v\\al"), "bad", n_str(&a, "%REQ(X-BAD-UTF8)%"),
                      "neg", n_plain(&a, "-3"), "big", n_plain(&a, "1e300"), "f",
                      n_plain(&a, "0.1"), "word", n_plain(&a, "hello")),
                false, &c,
                "{\"bad\":\"ok\\ufffd\",\"big\":1e+300,\"f\":0.1,\"k\\\"ey\":\"v\\\\al\","
                "\"neg\":-3,\"word\":\"hello\"}\n");
    arena_fini(&a);
}

static void test_json_errors(void **state)
{
    (void)state;
    struct arena a;
    struct alog_format *f = NULL;
    char err[256];

    arena_init(&a, 0);
    assert_int_equal(alog_format_compile(NULL, n_map(&a, 1, "x", n_str(&a, "%NOPE%")), false, &a,
                                         &f, err, sizeof(err)),
                     -RM_ECONFIG);
    assert_string_equal(err, "Not supported field in StreamInfo: NOPE");
    assert_int_equal(alog_format_compile(
                         NULL,
                         n_map(&a, 1, "l", n_list(&a, 1, n_map(&a, 1, "y", n_str(&a, "%REQ()%")))),
                         false, &a, &f, err, sizeof(err)),
                     -RM_ECONFIG);
    assert_string_equal(err, "REQ requires parameters");
    assert_int_equal(alog_format_compile(NULL, n_list(&a, 0), false, &a, &f, err, sizeof(err)),
                     -RM_ECONFIG);
    assert_string_equal(err, "json_format: expected a map (a protobuf Struct)");

    /* Too deep. */
    struct vt_node *deep = n_str(&a, "x");
    for (int i = 0; i < 40; i++)
        deep = n_map(&a, 1, "d", deep);
    assert_int_equal(alog_format_compile(NULL, deep, false, &a, &f, err, sizeof(err)), -RM_ECONFIG);
    assert_non_null(strstr(err, "nested deeper"));
    arena_fini(&a);
}

/* ---- sinks and loggers -------------------------------------------------------------------- */

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/alog_test.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmpdir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    struct strbuf sb;
    char buf[65536];
    size_t n;
    sb_init(&sb);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        sb_append(&sb, buf, n);
    fclose(fp);
    *len = sb.len;
    char *s = malloc(sb.len + 1);
    assert_non_null(s);
    memcpy(s, sb.data, sb.len);
    s[sb.len] = '\0';
    sb_fini(&sb);
    return s;
}

#define LINES_PER_THREAD 5000
#define PAD "................................................................"

struct writer_arg {
    const struct alog_logger *l;
    const char *name;
};

static void *writer_main(void *p)
{
    const struct writer_arg *w = p;
    struct alog_ctx c;
    memset(&c, 0, sizeof(c));
    c.upstream_cluster = w->name;
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        c.connection_id = (uint64_t)i;
        alog_logger_log(w->l, &c);
    }
    return NULL;
}

static void test_async_two_threads(void **state)
{
    (void)state;
    char path[256], err[256];
    struct arena a;
    struct alog_logger *l = NULL;
    struct alog_stats before, after;

    snprintf(path, sizeof(path), "%s/two_threads.log", tmpdir);
    struct cfg_access_log cfg = {
        .sink = ALOG_SINK_FILE,
        .path = path,
        .format = "%UPSTREAM_CLUSTER% %CONNECTION_ID% " PAD "\n",
    };
    alog_stats_get(&before);
    arena_init(&a, 0);
    assert_int_equal(alog_logger_new(&cfg, &a, &l, err, sizeof(err)), 0);

    pthread_t t[2];
    struct writer_arg args[2] = {{l, "t0"}, {l, "t1"}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    alog_shutdown(); /* flushes and closes; the logger still holds its (now dead) sink */
    assert_int_equal(alog_sink_dropped(l->sink), 0);
    arena_fini(&a); /* last unref frees the sink */

    size_t len;
    char *data = slurp(path, &len);
    assert_non_null(data);
    int next[2] = {0, 0};
    size_t lines = 0;
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl); /* no torn last line */
        *nl = '\0';
        int who, seq, consumed = 0;
        if (sscanf(line, "t%d %d %n", &who, &seq, &consumed) != 2 || who < 0 || who > 1)
            fail_msg("torn line %zu: '%s'", lines, line);
        assert_string_equal(line + consumed, PAD);
        assert_int_equal(seq, next[who]); /* each thread's lines in its order, none lost */
        next[who]++;
        lines++;
        line = nl + 1;
    }
    assert_int_equal(lines, 2 * LINES_PER_THREAD);
    assert_int_equal(next[0], LINES_PER_THREAD);
    assert_int_equal(next[1], LINES_PER_THREAD);
    free(data);

    alog_stats_get(&after);
    assert_int_equal(after.write_buffered - before.write_buffered, 2 * LINES_PER_THREAD);
    assert_int_equal(after.dropped, before.dropped);
    assert_int_equal(after.total_buffered, 0);
}

static void test_reopen_after_rename(void **state)
{
    (void)state;
    char path[256], rotated[300], err[256];
    struct arena a;
    struct alog_logger *l = NULL;
    struct alog_ctx c;

    snprintf(path, sizeof(path), "%s/rotate.log", tmpdir);
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    struct cfg_access_log cfg = {.sink = ALOG_SINK_FILE, .path = path, .format = "%ROUTE_NAME%\n"};
    arena_init(&a, 0);
    assert_int_equal(alog_logger_new(&cfg, &a, &l, err, sizeof(err)), 0);
    memset(&c, 0, sizeof(c));

    c.route_name = "before";
    alog_logger_log(l, &c);
    alog_logger_log(l, &c);
    alog_flush_all();
    assert_int_equal(rename(path, rotated), 0);
    /* Still open on the old inode: lines keep going to the rotated file until the reopen. */
    c.route_name = "late";
    alog_logger_log(l, &c);
    alog_flush_all();

    alog_reopen_all();
    c.route_name = "after";
    alog_logger_log(l, &c);
    alog_flush_all();

    size_t len;
    char *old = slurp(rotated, &len);
    char *cur = slurp(path, &len);
    assert_non_null(old);
    assert_non_null(cur); /* the reopen created a new file */
    assert_string_equal(old, "before\nbefore\nlate\n");
    assert_string_equal(cur, "after\n");
    free(old);
    free(cur);

    struct stat sb;
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644 & ~mask);
    arena_fini(&a);
    alog_shutdown();
}

static void test_timer_flush_and_sharing(void **state)
{
    (void)state;
    char path[256], err[256];
    struct arena a1, a2;
    struct alog_logger *l1 = NULL, *l2 = NULL;
    struct alog_ctx c;
    struct alog_stats before, after;

    snprintf(path, sizeof(path), "%s/shared.log", tmpdir);
    struct cfg_access_log cfg1 = {
        .sink = ALOG_SINK_FILE, .path = path, .format = "one %RESPONSE_CODE%\n"};
    struct cfg_access_log cfg2 = {
        .sink = ALOG_SINK_FILE, .path = path, .json_format = NULL, .format = NULL};
    arena_init(&a1, 0);
    arena_init(&a2, 0);
    alog_set_flush_interval_ms(20);
    alog_stats_get(&before);
    assert_int_equal(alog_logger_new(&cfg1, &a1, &l1, err, sizeof(err)), 0);
    assert_int_equal(alog_logger_new(&cfg2, &a2, &l2, err, sizeof(err)), 0);
    assert_ptr_equal(l1->sink, l2->sink); /* same path, one sink */

    memset(&c, 0, sizeof(c));
    c.response_code = 204;
    alog_logger_log(l1, &c);
    /* No explicit flush: the interval timer must write it. */
    size_t len = 0;
    char *data = NULL;
    for (int i = 0; i < 200; i++) {
        free(data);
        data = slurp(path, &len);
        if (data && len > 0)
            break;
        usleep(10000);
    }
    assert_non_null(data);
    assert_string_equal(data, "one 204\n");
    free(data);
    alog_stats_get(&after);
    assert_true(after.flushed_by_timer > before.flushed_by_timer);

    /* Dropping one logger keeps the shared sink alive for the other. */
    arena_fini(&a1);
    c.response_code = 0;
    alog_logger_log(l2, &c);
    alog_flush_all();
    data = slurp(path, &len);
    assert_non_null(data);
    assert_non_null(strstr(data, "one 204\n[-] \"- - -\" 0 - 0 0 - - \"-\" \"-\" \"-\" \"-\" "
                                 "\"-\"\n"));
    free(data);
    arena_fini(&a2); /* last reference: the flusher frees the sink */
    alog_flush_all();
    alog_set_flush_interval_ms(0);
    alog_shutdown();
}

static void test_drops_and_errors(void **state)
{
    (void)state;
    char path[256], err[256];
    struct alog_sink *s = NULL, *s2 = NULL;
    struct alog_stats before, after;

    alog_stats_get(&before);
    snprintf(path, sizeof(path), "%s/drops.log", tmpdir);
    assert_int_equal(alog_sink_open(path, &s, err, sizeof(err)), 0);
    assert_int_equal(alog_sink_open(path, &s2, err, sizeof(err)), 0);
    assert_ptr_equal(s, s2);
    assert_ptr_equal(alog_sink_ref(s), s);
    alog_sink_unref(s);
    alog_sink_unref(s2);

    size_t big = ALOG_SINK_BUFFER_MAX + 1;
    char *line = malloc(big);
    assert_non_null(line);
    memset(line, 'x', big);
    assert_int_equal(alog_sink_write(s, line, big), -RM_ELIMIT);
    assert_int_equal(alog_sink_dropped(s), 1);
    assert_int_equal(alog_sink_write(s, "ok\n", 3), 0);
    assert_int_equal(alog_sink_write(s, "", 0), 0);
    free(line);
    alog_stats_get(&after);
    assert_int_equal(after.dropped - before.dropped, 1);

    /* Lines after shutdown are dropped, not written to a closed fd. */
    alog_shutdown();
    assert_int_equal(alog_sink_write(s, "late\n", 5), -RM_ELIMIT);
    assert_int_equal(alog_sink_dropped(s), 2);
    alog_sink_unref(s);

    size_t len;
    char *data = slurp(path, &len);
    assert_non_null(data);
    assert_string_equal(data, "ok\n");
    free(data);

    /* Open errors carry the path and errno text. */
    assert_int_equal(alog_sink_open("/nonexistent-dir/x.log", &s, err, sizeof(err)), -RM_EIO);
    assert_string_equal(err,
                        "cannot open access log file '/nonexistent-dir/x.log': No such file or "
                        "directory");

    struct arena a;
    struct alog_logger *l = NULL;
    struct cfg_access_log bad_path = {.sink = ALOG_SINK_FILE, .path = ""};
    struct cfg_access_log bad_fmt = {.sink = ALOG_SINK_STDOUT, .format = "%NOPE%"};
    arena_init(&a, 0);
    assert_int_equal(alog_logger_new(&bad_path, &a, &l, err, sizeof(err)), -RM_ECONFIG);
    assert_string_equal(err, "access log path must not be empty");
    assert_int_equal(alog_logger_new(&bad_fmt, &a, &l, err, sizeof(err)), -RM_ECONFIG);
    assert_string_equal(err, "Not supported field in StreamInfo: NOPE");
    arena_fini(&a);
}

struct drain_arg {
    int fd;
    size_t bytes;
};

static void *drain_main(void *p)
{
    struct drain_arg *d = p;
    char buf[65536];
    ssize_t n;
    while ((n = read(d->fd, buf, sizeof(buf))) != 0) {
        if (n > 0)
            d->bytes += (size_t)n;
    }
    return NULL;
}

/* The flusher is stuck in write(2) on a FIFO nobody reads: workers keep appending without
 * blocking until the buffer is full, then drop and count; nothing accepted is lost. */
static void test_flusher_behind_drops(void **state)
{
    (void)state;
    char path[256], err[256], line[1024];
    struct alog_sink *s = NULL;

    snprintf(path, sizeof(path), "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(path, 0600), 0);
    int rfd = open(path, O_RDONLY | O_NONBLOCK); /* a reader, so the writer's open succeeds */
    assert_true(rfd >= 0);
    assert_int_equal(alog_sink_open(path, &s, err, sizeof(err)), 0);

    memset(line, 'y', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    size_t accepted = 0, dropped = 0;
    int64_t t0 = alog_mono_ns();
    for (int i = 0; i < 8192; i++) {
        if (alog_sink_write(s, line, sizeof(line)) == 0)
            accepted++;
        else
            dropped++;
    }
    int64_t elapsed_ms = (alog_mono_ns() - t0) / 1000000;
    assert_true(elapsed_ms < 2000); /* 8 MiB of appends never waited for the disk */
    assert_true(dropped > 0);
    assert_true(accepted * sizeof(line) <= 2 * ALOG_SINK_BUFFER_MAX + 1024 * 1024);
    assert_int_equal(alog_sink_dropped(s), dropped);

    /* Unblock the flusher: it writes everything accepted, then EOF at the last unref. */
    int fl = fcntl(rfd, F_GETFL);
    assert_int_equal(fcntl(rfd, F_SETFL, fl & ~O_NONBLOCK), 0);
    struct drain_arg d = {rfd, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, drain_main, &d), 0);
    alog_sink_unref(s);
    alog_shutdown();
    pthread_join(t, NULL);
    close(rfd);
    assert_int_equal(d.bytes, accepted * sizeof(line));
}

static void test_stdout_sink(void **state)
{
    (void)state;
    char err[256];
    struct arena a;
    struct alog_logger *lo = NULL, *le = NULL;
    struct cfg_access_log out = {.sink = ALOG_SINK_STDOUT, .format = ""};
    struct cfg_access_log errl = {.sink = ALOG_SINK_STDERR, .format = ""};
    struct alog_ctx c;

    arena_init(&a, 0);
    assert_int_equal(alog_logger_new(&out, &a, &lo, err, sizeof(err)), 0);
    assert_int_equal(alog_logger_new(&errl, &a, &le, err, sizeof(err)), 0);
    assert_ptr_not_equal(lo->sink, le->sink);
    memset(&c, 0, sizeof(c));
    alog_logger_log(lo, &c); /* empty format: nothing written, nothing dropped */
    alog_reopen_all();       /* ignored for stdout/stderr */
    alog_flush_all();
    assert_int_equal(alog_sink_dropped(lo->sink), 0);
    arena_fini(&a);
    alog_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rf_short),
        cmocka_unit_test(test_rf_long),
        cmocka_unit_test(test_rf_truncate_and_parse),
        cmocka_unit_test(test_default_format_tcp),
        cmocka_unit_test(test_default_format_http),
        cmocka_unit_test(test_every_operator),
        cmocka_unit_test(test_addresses_other_families),
        cmocka_unit_test(test_header_fallback_and_truncation),
        cmocka_unit_test(test_header_truncation),
        cmocka_unit_test(test_start_time_formats),
        cmocka_unit_test(test_literals_and_omit_text),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_write_limit),
        cmocka_unit_test(test_ctx_init),
        cmocka_unit_test(test_json_types),
        cmocka_unit_test(test_json_omit_empty),
        cmocka_unit_test(test_json_escaping_and_numbers),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test_setup_teardown(test_async_two_threads, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_timer_flush_and_sharing, setup_tmpdir,
                                        teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_drops_and_errors, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_flusher_behind_drops, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test(test_stdout_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
