/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/h1_codec.c — HTTP/1.1 parser and serializer; see h1_codec.h and
 * docs/internals/h1_codec.md. Heads are parsed a line at a time: a line wholly inside the
 * caller's slice is parsed in place (memchr for LF), a line split across feeds is gathered in
 * the parser's line buffer first. Field names and values are copied once into the message's
 * arena. Chunk framing is a byte-at-a-time state machine that never buffers; body bytes are
 * only counted. */
#include "proxy/h1_codec.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/strbuf.h"

enum h1_state {
    H1_S_START = 0,     /* before a start line (empty lines are skipped, RFC 9112 §2.2) */
    H1_S_HEADERS,       /* field lines of the head */
    H1_S_BODY_LENGTH,   /* Content-Length body: |remaining| bytes */
    H1_S_CHUNK_SIZE,    /* chunk-size hex digits */
    H1_S_CHUNK_EXT,     /* chunk-ext, sub-state in |cx| */
    H1_S_CHUNK_LF,      /* CR seen at the end of the chunk line */
    H1_S_CHUNK_DATA,    /* chunk-data: |remaining| bytes */
    H1_S_CHUNK_DATA_CR, /* CRLF after chunk-data */
    H1_S_CHUNK_DATA_LF,
    H1_S_TRAILERS,    /* trailer section lines after the last chunk */
    H1_S_UNTIL_CLOSE, /* response body delimited by EOF */
    H1_S_TUNNEL,      /* CONNECT / 101: raw bytes until EOF */
    H1_S_PAUSED,      /* upgrade request done, waiting for h1_parser_resume() */
    H1_S_ERROR,
};

/* chunk-ext sub-states (RFC 9112 §7.1.1):
 * chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) */
enum {
    CX_NONE = 0, /* no size digit yet */
    CX_DIGITS,   /* in chunk-size */
    CX_BWS_SEMI, /* BWS, expecting ";" */
    CX_BWS_NAME, /* after ";", BWS then name */
    CX_NAME,     /* in chunk-ext-name */
    CX_BWS_EQ,   /* BWS after the name, expecting "=" or ";" */
    CX_BWS_VAL,  /* after "=", BWS then value */
    CX_TOKEN,    /* in a token value */
    CX_QSTR,     /* in a quoted-string value */
    CX_QPAIR,    /* after a backslash in a quoted-string */
    CX_QEND,     /* after the closing quote */
};

/* p->mf: fields seen in the current head */
#define MF_HOST 0x0001
#define MF_CL 0x0002
#define MF_TE 0x0004
#define MF_UPGRADE_HDR 0x0008
#define MF_CONN_UPGRADE 0x0010
#define MF_CONN_KEEPALIVE 0x0020
#define MF_EXPECT_100 0x0040

/* p->te_state: what the Transfer-Encoding list held, in order */
#define TE_CHUNKED 0x01       /* "chunked" seen */
#define TE_MULTI_CHUNKED 0x02 /* "chunked" seen more than once */
#define TE_LAST_CHUNKED 0x04  /* the last coding is "chunked" */
#define TE_OTHER 0x08         /* another coding (gzip, identity, xchunked...) */
#define TE_BAD 0x10           /* an empty or malformed element */
#define TE_ANY 0x20           /* at least one element */

/* p->target_form */
enum { TF_ORIGIN = 0, TF_ABSOLUTE, TF_AUTHORITY, TF_ASTERISK };

/* Details, Envoy's where Envoy has one (source/common/http/http1/codec_impl.cc,
 * response_code_details.rst); the rest follow the same "http1." naming. */
#define D_CODEC "http1.codec_error"
#define D_CHARS "http1.invalid_characters"
#define D_URL "http1.invalid_url"
#define D_SCHEME "http1.invalid_scheme"
#define D_METHOD "http1.invalid_method"
#define D_METHOD_LONG "http1.method_not_implemented"
#define D_VERSION "http1.unsupported_version"
#define D_LOW_VERSION "low_version"
#define D_CL_TE "http1.content_length_and_chunked_not_allowed"
#define D_CL "http1.invalid_content_length"
#define D_TE "http1.invalid_transfer_encoding"
#define D_TE_NOT_ALLOWED "http1.transfer_encoding_not_allowed"
#define D_CL_NOT_ALLOWED "http1.content_length_not_allowed"
#define D_BODY_DISALLOWED "http1.body_disallowed"
#define D_NO_HOST "missing_host_header"
#define D_HOST "http1.invalid_host"
#define D_UNDERSCORE "http1.unexpected_underscore"
#define D_CONNECTION "http1.connection_header_rejected"
#define D_CHUNK "http1.invalid_chunk"
#define D_TRAILERS "http1.invalid_trailers"
#define D_HEADERS_TOO_LARGE "http1.headers_too_large"
#define D_TOO_MANY "http1.too_many_headers"
#define D_URI_TOO_LONG "http1.uri_too_long"
#define D_BODY_TOO_LARGE "request_payload_too_large"
#define D_CONNECT "http1.connect_not_allowed"
#define D_PREMATURE "http1.premature_close"
#define D_NOMEM "http1.out_of_memory"

static const struct h1_config default_server_cfg = {
    .max_headers_kb = H1_DEFAULT_MAX_REQUEST_HEADERS_KB,
    .max_headers_count = H1_DEFAULT_MAX_HEADERS_COUNT,
    .underscores = H1_UNDERSCORES_ALLOW,
    .allow_absolute_url = true,
};

static const struct h1_config default_client_cfg = {
    .max_headers_kb = H1_DEFAULT_MAX_RESPONSE_HEADERS_KB,
    .max_headers_count = H1_DEFAULT_MAX_HEADERS_COUNT,
    .underscores = H1_UNDERSCORES_ALLOW,
    .allow_absolute_url = true,
};

void h1_config_init(struct h1_config *cfg, enum h1_role role)
{
    *cfg = role == H1_ROLE_CLIENT ? default_client_cfg : default_server_cfg;
}

/* ---- parser lifecycle --------------------------------------------------------------------- */

static void section_reset(struct h1_parser *p)
{
    p->head_bytes = 0;
    p->n_fields = 0;
}

/* Per-message state, cleared when a start line begins. */
static void message_reset(struct h1_parser *p)
{
    p->flags = 0;
    p->mf = 0;
    p->te_state = 0;
    p->target_form = TF_ORIGIN;
    p->content_length = 0;
    p->target_authority.p = NULL;
    p->target_authority.n = 0;
    p->host.p = NULL;
    p->host.n = 0;
    p->remaining = 0;
    p->body_total = 0;
    p->chunk_size = 0;
    p->chunk_line = 0;
    p->cx = CX_NONE;
}

void h1_parser_init(struct h1_parser *p, enum h1_role role, const struct h1_config *cfg)
{
    memset(p, 0, sizeof(*p));
    p->role = role;
    p->cfg = cfg ? cfg : (role == H1_ROLE_CLIENT ? &default_client_cfg : &default_server_cfg);
    uint64_t max = (uint64_t)p->cfg->max_headers_kb * 1024u;
    if (max == 0)
        max = 1024;
    if (max > (64u << 20))
        max = 64u << 20;
    p->max_head = (uint32_t)max;
    p->state = H1_S_START;
    p->req_method = HTTP_METHOD_GET;
    message_reset(p);
}

void h1_parser_fini(struct h1_parser *p)
{
    free(p->lbuf);
    p->lbuf = NULL;
    p->llen = 0;
    p->lcap = 0;
}

void h1_parser_expect_response(struct h1_parser *p, enum http_method method, bool upgrade)
{
    p->req_method = method;
    p->req_upgrade = upgrade;
}

void h1_parser_resume(struct h1_parser *p, bool tunnel)
{
    if (p->state != H1_S_PAUSED) {
        if (!tunnel)
            p->flags &= ~(unsigned)H1_MF_UPGRADE; /* declined early: no pause at the end */
        return;
    }
    p->state = tunnel ? H1_S_TUNNEL : H1_S_START;
}

bool h1_parser_idle(const struct h1_parser *p)
{
    return (p->state == H1_S_START && p->llen == 0) || p->state == H1_S_PAUSED;
}

/* Records an error; every later call returns the same code. Responses are the upstream's
 * fault: whatever the rule, the proxy answers 502 (Envoy's upstream protocol error). */
static int fail(struct h1_parser *p, int code, int status, const char *detail)
{
    p->state = H1_S_ERROR;
    p->err_code = code;
    p->err_detail = detail;
    if (code == -RM_ENOMEM)
        p->err_status = 500;
    else
        p->err_status = p->role == H1_ROLE_CLIENT ? 502 : status;
    return code;
}

static int bad(struct h1_parser *p, const char *detail)
{
    return fail(p, -RM_EPROTO, 400, detail);
}

/* A message is complete: count it and get ready for the next one. A completed upgrade
 * request pauses the parser until the caller knows whether the protocol switched. */
static void message_done(struct h1_parser *p)
{
    p->messages++;
    section_reset(p);
    if (p->role == H1_ROLE_SERVER && (p->flags & H1_MF_UPGRADE))
        p->state = H1_S_PAUSED;
    else
        p->state = H1_S_START;
}

/* ---- small helpers ------------------------------------------------------------------------ */

static bool ieq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (http_lower[(uint8_t)a[i]] != http_lower[(uint8_t)b[i]])
            return false;
    return true;
}

static bool all_of(const char *s, size_t n, uint8_t cls)
{
    for (size_t i = 0; i < n; i++)
        if (!(http_ctype[(uint8_t)s[i]] & cls))
            return false;
    return true;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int hexval(uint8_t c)
{
    if (c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/* ---- request line (RFC 9112 §3) ----------------------------------------------------------- */

/* "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3). Returns 10 or 11, 0 when
 * malformed, -1 when well-formed but not 1.0/1.1. */
static int parse_version(const char *v, size_t n)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return 0;
    if (v[5] == '1' && v[7] == '1')
        return 11;
    if (v[5] == '1' && v[7] == '0')
        return 10;
    return -1;
}

/* authority-form of CONNECT (RFC 9112 §3.2.3): uri-host ":" port, port 1..65535. */
static bool valid_connect_target(const char *t, size_t n)
{
    if (!all_of(t, n, HTTP_CT_HOST))
        return false;
    size_t colon = n;
    while (colon > 0 && t[colon - 1] != ':')
        colon--;
    if (colon < 2) /* no ':' or empty host */
        return false;
    size_t plen = n - colon;
    if (plen == 0 || plen > 5)
        return false;
    unsigned port = 0;
    for (size_t i = colon; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return false;
        port = port * 10 + (unsigned)(t[i] - '0');
    }
    return port > 0 && port <= 65535;
}

static int parse_target(struct h1_parser *p, struct http_msg *msg, const char *t, size_t n)
{
    if (msg->method == HTTP_METHOD_CONNECT && !p->cfg->allow_connect)
        return fail(p, -RM_EPROTO, 405, D_CONNECT);
    /* RFC 9112 §3.2: the target is visible ASCII with no whitespace; a fragment is never
     * part of it. Raw UTF-8 (obs-text) is refused too: clients percent-encode. */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)t[i];
        if (!(http_ctype[c] & HTTP_CT_TARGET) || c == '#')
            return bad(p, D_URL);
    }
    if (msg->method == HTTP_METHOD_CONNECT) {
        if (!valid_connect_target(t, n))
            return bad(p, D_URL);
        p->target_form = TF_AUTHORITY;
        if (http_msg_set_authority(msg, t, n) < 0)
            return fail(p, -RM_ENOMEM, 500, D_NOMEM);
        p->target_authority = msg->authority;
        return 0;
    }
    if (t[0] == '/') {
        p->target_form = TF_ORIGIN;
        if (http_msg_set_path(msg, t, n) < 0)
            return fail(p, -RM_ENOMEM, 500, D_NOMEM);
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        /* asterisk-form is only for server-wide OPTIONS (RFC 9112 §3.2.4). */
        if (msg->method != HTTP_METHOD_OPTIONS)
            return bad(p, D_URL);
        p->target_form = TF_ASTERISK;
        msg->path.p = "*";
        msg->path.n = 1;
        return 0;
    }
    /* absolute-form (RFC 9112 §3.2.2): scheme "://" authority path-abempty [ "?" query ] */
    if (!p->cfg->allow_absolute_url)
        return bad(p, D_URL);
    size_t i = 0;
    while (i < n && t[i] != ':')
        i++;
    if (i == n || n - i < 3 || t[i + 1] != '/' || t[i + 2] != '/')
        return bad(p, D_URL);
    if (ieq(t, i, "http", 4)) {
        msg->scheme.p = "http";
        msg->scheme.n = 4;
    } else if (ieq(t, i, "https", 5)) {
        msg->scheme.p = "https";
        msg->scheme.n = 5;
    } else {
        return bad(p, D_SCHEME);
    }
    size_t a = i + 3, e = a;
    while (e < n && t[e] != '/' && t[e] != '?')
        e++;
    /* No userinfo (RFC 9110 §4.2.4: treat as an error): '@' is not an authority byte. */
    if (e == a || !all_of(t + a, e - a, HTTP_CT_HOST))
        return bad(p, D_URL);
    if (http_msg_set_authority(msg, t + a, e - a) < 0)
        return fail(p, -RM_ENOMEM, 500, D_NOMEM);
    p->target_authority = msg->authority;
    p->target_form = TF_ABSOLUTE;
    p->flags |= H1_MF_ABSOLUTE_FORM;
    if (e == n) {
        msg->path.p = "/";
        msg->path.n = 1;
        return 0;
    }
    if (t[e] == '?') {
        /* "http://h?q" → origin-form "/?q" (RFC 9112 §3.2.1: empty path is "/"). */
        char *path = arena_alloc(msg->arena, n - e + 2);
        if (!path)
            return fail(p, -RM_ENOMEM, 500, D_NOMEM);
        path[0] = '/';
        memcpy(path + 1, t + e, n - e);
        path[n - e + 1] = '\0';
        msg->path.p = path;
        msg->path.n = n - e + 1;
        return 0;
    }
    if (http_msg_set_path(msg, t + e, n - e) < 0)
        return fail(p, -RM_ENOMEM, 500, D_NOMEM);
    return 0;
}

static uint32_t uri_cap(const struct h1_parser *p)
{
    return p->cfg->max_uri_len ? p->cfg->max_uri_len : p->max_head;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3), exactly. */
static int parse_request_line(struct h1_parser *p, struct http_msg *msg, const char *s, size_t n)
{
    const char *sp1 = memchr(s, ' ', n);
    if (!sp1) /* includes HTTP/0.9 "GET /" */
        return bad(p, D_CODEC);
    size_t mlen = (size_t)(sp1 - s);
    if (mlen == 0 || !http_is_token(s, mlen))
        return bad(p, D_METHOD);
    if (mlen > H1_MAX_METHOD_LEN)
        return fail(p, -RM_EPROTO, 501, D_METHOD_LONG);
    const char *t = sp1 + 1;
    size_t rest = n - mlen - 1;
    const char *sp2 = memchr(t, ' ', rest);
    if (!sp2)
        return bad(p, D_CODEC);
    size_t tlen = (size_t)(sp2 - t);
    if (tlen == 0) /* two spaces */
        return bad(p, D_CODEC);
    if (tlen > uri_cap(p))
        return fail(p, -RM_ELIMIT, 414, D_URI_TOO_LONG);
    const char *v = sp2 + 1;
    int ver = parse_version(v, n - (size_t)(v - s));
    if (ver == 0)
        return bad(p, D_CODEC);
    if (ver < 0) /* RFC 9110 §15.6.6 */
        return fail(p, -RM_EPROTO, 505, D_VERSION);
    if (ver == 10 && !p->cfg->accept_http_10) /* Envoy: 426 unless accept_http_10 */
        return fail(p, -RM_EPROTO, 426, D_LOW_VERSION);
    msg->version = ver == 11 ? HTTP_VERSION_1_1 : HTTP_VERSION_1_0;
    if (http_msg_set_method(msg, s, mlen) < 0)
        return fail(p, -RM_ENOMEM, 500, D_NOMEM);
    return parse_target(p, msg, t, tlen);
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4). A missing
 * "SP reason" is tolerated: it cannot change how the message is framed. */
static int parse_status_line(struct h1_parser *p, struct http_msg *msg, const char *s, size_t n)
{
    if (n < 12 || s[8] != ' ')
        return bad(p, D_CODEC);
    int ver = parse_version(s, 8);
    if (ver <= 0)
        return fail(p, -RM_EPROTO, 502, ver == 0 ? D_CODEC : D_VERSION);
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9')
            return bad(p, D_CODEC);
        status = status * 10 + (s[i] - '0');
    }
    if (status < 100 || status > 599)
        return bad(p, D_CODEC);
    if (n > 12) {
        if (s[12] != ' ')
            return bad(p, D_CODEC);
        const char *r = s + 13;
        size_t rn = n - 13;
        if (!all_of(r, rn, HTTP_CT_FVAL))
            return bad(p, D_CHARS);
        if (rn && http_msg_set_reason(msg, r, rn) < 0)
            return fail(p, -RM_ENOMEM, 500, D_NOMEM);
    }
    msg->version = ver == 11 ? HTTP_VERSION_1_1 : HTTP_VERSION_1_0;
    msg->status = status;
    return 0;
}

/* ---- field lines (RFC 9112 §5, RFC 9110 §5) ----------------------------------------------- */

/* Folds one Transfer-Encoding field value into p->te_state (fields combine in order). */
static void te_fold(struct h1_parser *p, const char *v, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        const char *e = v + i;
        size_t en = j - i;
        while (en && is_ows(e[0])) {
            e++;
            en--;
        }
        while (en && is_ows(e[en - 1]))
            en--;
        p->te_state |= TE_ANY;
        if (en == 0 || !http_is_token(e, en)) {
            /* empty element or a coding with parameters: nothing we implement */
            p->te_state |= TE_BAD;
            p->te_state &= (uint8_t)~TE_LAST_CHUNKED;
        } else if (ieq(e, en, "chunked", 7)) {
            if (p->te_state & TE_CHUNKED)
                p->te_state |= TE_MULTI_CHUNKED;
            p->te_state |= TE_CHUNKED | TE_LAST_CHUNKED;
        } else {
            p->te_state |= TE_OTHER;
            p->te_state &= (uint8_t)~TE_LAST_CHUNKED;
        }
        i = j + 1;
    }
}

/* Connection = #connection-option (RFC 9110 §7.6.1); options are tokens. */
static int connection_fold(struct h1_parser *p, const char *v, size_t n)
{
    size_t i = 0;
    p->flags |= H1_MF_CONNECTION;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        const char *e = v + i;
        size_t en = j - i;
        while (en && is_ows(e[0])) {
            e++;
            en--;
        }
        while (en && is_ows(e[en - 1]))
            en--;
        if (en) {
            if (!http_is_token(e, en))
                return bad(p, D_CONNECTION);
            if (ieq(e, en, "close", 5))
                p->flags |= H1_MF_CONN_CLOSE;
            else if (ieq(e, en, "keep-alive", 10))
                p->mf |= MF_CONN_KEEPALIVE;
            else if (ieq(e, en, "upgrade", 7))
                p->mf |= MF_CONN_UPGRADE;
        }
        i = j + 1;
    }
    return 0;
}

/* Head fields with a meaning for the codec. |name| is lowercase. Returns 1 when the field
 * must not go into the map (Host: it becomes the authority), 0 to add it, <0 on error. */
static int special_field(struct h1_parser *p, struct http_slice name, struct http_slice value)
{
    const char *nm = name.p;
    switch (name.n) {
    case 4:
        if (p->role == H1_ROLE_SERVER && !memcmp(nm, "host", 4)) {
            /* RFC 9112 §3.2: more than one Host → 400. Host is an authority (RFC 9110 §7.2). */
            if (p->mf & MF_HOST)
                return bad(p, D_HOST);
            if (!all_of(value.p, value.n, HTTP_CT_HOST))
                return bad(p, D_HOST);
            p->mf |= MF_HOST;
            p->host = value;
            return 1;
        }
        break;
    case 6:
        if (p->role == H1_ROLE_SERVER && !memcmp(nm, "expect", 6) &&
            ieq(value.p, value.n, "100-continue", 12))
            p->mf |= MF_EXPECT_100;
        break;
    case 7:
        if (!memcmp(nm, "upgrade", 7) && value.n)
            p->mf |= MF_UPGRADE_HDR;
        break;
    case 10:
        if (!memcmp(nm, "connection", 10))
            return connection_fold(p, value.p, value.n);
        break;
    case 14:
        if (!memcmp(nm, "content-length", 14)) {
            /* RFC 9112 §6.3 rule 5: differing or invalid values are unrecoverable; a
             * repeated one is refused too rather than reconciled. */
            if (p->mf & MF_CL)
                return bad(p, D_CL);
            if (!http_parse_content_length(value.p, value.n, &p->content_length))
                return bad(p, D_CL);
            p->mf |= MF_CL;
        }
        break;
    case 17:
        if (!memcmp(nm, "transfer-encoding", 17)) {
            p->mf |= MF_TE;
            te_fold(p, value.p, value.n);
        }
        break;
    case 23:
        if (!memcmp(nm, "x-forwarded-client-cert", 23))
            p->flags |= H1_MF_XFCC;
        break;
    default:
        break;
    }
    return 0;
}

/* True when every byte of |s| is a field-value byte (RFC 9110 §5.5: HTAB, SP, VCHAR,
 * obs-text). Eight bytes at a time while none is below 0x20 or equal to 0x7f (the usual
 * case for long values like cookies), then the exact table for the rest. */
static bool field_value_ok(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (;;) {
        if (i + 8 > n) {
            if (n < 8 || i == n)
                break;
            i = n - 8; /* the tail as one overlapping word */
        }
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t y = x ^ (ones * 0x7f);
        if ((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & highs)
            break; /* some byte may be a CTL, HTAB or DEL: check exactly */
        i += 8;
        if (i == n)
            return true;
    }
    for (; i < n; i++)
        if (!(http_ctype[(uint8_t)s[i]] & HTTP_CT_FVAL))
            return false;
    return true;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). |s| excludes the CRLF. */
static int parse_field_line(struct h1_parser *p, struct http_msg *msg, const char *s, size_t n,
                            bool trailer)
{
    /* RFC 9112 §5.2: obs-fold in a request → 400; a proxy may also reject it in a response. */
    if (is_ows(s[0]))
        return bad(p, D_CODEC);
    /* One arena block for name and value, sized by the line, so the name is validated and
     * lowercased in the same pass that copies it. */
    char *copy = arena_alloc(msg->arena, n + 2);
    if (!copy)
        return fail(p, -RM_ENOMEM, 500, D_NOMEM);
    size_t i = 0;
    for (; i < n; i++) {
        uint8_t lc = http_tchar_lower[(uint8_t)s[i]];
        if (!lc)
            break;
        copy[i] = (char)lc;
    }
    /* RFC 9112 §5.1: no whitespace between name and colon; an empty name is no token. */
    if (i == 0 || i == n || s[i] != ':')
        return bad(p, D_CODEC);
    size_t nlen = i;
    size_t vb = i + 1, ve = n;
    while (vb < ve && is_ows(s[vb]))
        vb++;
    while (ve > vb && is_ows(s[ve - 1]))
        ve--;
    /* RFC 9110 §5.5: NUL, CR, LF and other CTLs are never valid in a value. */
    if (!field_value_ok(s + vb, ve - vb))
        return bad(p, D_CHARS);
    if (++p->n_fields > p->cfg->max_headers_count)
        return fail(p, -RM_ELIMIT, 431, D_TOO_MANY);
    if (p->role == H1_ROLE_SERVER && p->cfg->underscores != H1_UNDERSCORES_ALLOW &&
        memchr(s, '_', nlen)) {
        if (p->cfg->underscores == H1_UNDERSCORES_REJECT_REQUEST)
            return bad(p, D_UNDERSCORE);
        p->dropped_headers++;
        return 0;
    }
    size_t vlen = ve - vb;
    copy[nlen] = '\0';
    memcpy(copy + nlen + 1, s + vb, vlen);
    copy[nlen + 1 + vlen] = '\0';
    struct http_slice name = {copy, nlen}, value = {copy + nlen + 1, vlen};

    if (trailer) {
        /* RFC 9110 §6.5.1: framing and routing fields have no business in trailers. */
        if ((nlen == 14 && !memcmp(copy, "content-length", 14)) ||
            (nlen == 17 && !memcmp(copy, "transfer-encoding", 17)) ||
            (nlen == 4 && !memcmp(copy, "host", 4)))
            return bad(p, D_TRAILERS);
        p->flags |= H1_MF_TRAILERS;
        if (http_hdrs_add_ref(&msg->trailers, name, value) < 0)
            return fail(p, -RM_ENOMEM, 500, D_NOMEM);
        return 0;
    }
    int rc = special_field(p, name, value);
    if (rc < 0)
        return rc;
    if (rc == 0 && http_hdrs_add_ref(&msg->headers, name, value) < 0)
        return fail(p, -RM_ENOMEM, 500, D_NOMEM);
    return 0;
}

/* ---- end of head: framing decisions (RFC 9112 §6.3) ---------------------------------------- */

/* Verdict on the Transfer-Encoding list: 0 = exactly "chunked", else an error code (Envoy
 * answers 501 for a coding it does not implement; RFC 9112 §6.3 rule 4 makes a non-final or
 * repeated chunked a 400). */
static int te_verdict(struct h1_parser *p)
{
    uint8_t t = p->te_state;
    if ((t & TE_BAD) || !(t & TE_ANY))
        return bad(p, D_TE);
    if ((t & TE_CHUNKED) && ((t & TE_MULTI_CHUNKED) || !(t & TE_LAST_CHUNKED)))
        return bad(p, D_TE);
    if (t & TE_OTHER)
        return fail(p, -RM_EPROTO, 501, D_TE);
    return 0;
}

static bool keep_alive(const struct h1_parser *p, const struct http_msg *msg)
{
    if (p->flags & H1_MF_CONN_CLOSE)
        return false;
    if (msg->version == HTTP_VERSION_1_1)
        return true;
    return (p->mf & MF_CONN_KEEPALIVE) != 0; /* RFC 9112 §9.3 */
}

static void drop_content_length(struct h1_parser *p, struct http_msg *msg)
{
    http_hdrs_remove(&msg->headers, "content-length", 14);
    p->mf &= (uint16_t)~MF_CL;
    p->content_length = 0;
}

/* Applies TE/CL rules common to both roles. Sets msg->body. */
static int framing_from_fields(struct h1_parser *p, struct http_msg *msg)
{
    if (p->mf & MF_TE) {
        /* RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing. */
        if (msg->version == HTTP_VERSION_1_0)
            return bad(p, D_TE_NOT_ALLOWED);
        if (p->mf & MF_CL) {
            /* RFC 9112 §6.1/§6.3 rule 3: a smuggling signal; Envoy refuses it unless
             * allow_chunked_length, which drops the Content-Length instead. */
            if (!p->cfg->allow_chunked_length ||
                p->te_state != (TE_ANY | TE_CHUNKED | TE_LAST_CHUNKED))
                return bad(p, D_CL_TE);
            drop_content_length(p, msg);
        }
        int rc = te_verdict(p);
        if (rc < 0)
            return rc;
        msg->body = HTTP_BODY_CHUNKED;
        return 0;
    }
    if (p->mf & MF_CL) {
        msg->content_length = p->content_length;
        msg->body = p->content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
        return 0;
    }
    msg->body = HTTP_BODY_NONE;
    return 0;
}

static int finish_request_head(struct h1_parser *p, struct http_msg *msg)
{
    /* RFC 9112 §3.2: an HTTP/1.1 request without Host → 400. */
    if (msg->version == HTTP_VERSION_1_1 && !(p->mf & MF_HOST))
        return bad(p, D_NO_HOST);
    if (p->target_form == TF_ABSOLUTE || p->target_form == TF_AUTHORITY) {
        /* RFC 9112 §3.2.2 makes the target's authority win over Host; RFC 9112 §3.2 requires
         * the client to send them identical. A difference is ambiguity: refused. */
        if ((p->mf & MF_HOST) &&
            !ieq(p->host.p, p->host.n, p->target_authority.p, p->target_authority.n))
            return bad(p, D_HOST);
    } else if (p->mf & MF_HOST) {
        msg->authority = p->host;
    }

    if (msg->method == HTTP_METHOD_CONNECT) {
        /* RFC 9110 §9.3.6: a CONNECT body has no defined semantics. Envoy answers 501 for
         * Transfer-Encoding and 400 for a non-zero Content-Length; "0" is dropped. */
        if (p->mf & MF_TE)
            return fail(p, -RM_EPROTO, 501, D_TE);
        if (p->mf & MF_CL) {
            if (p->content_length)
                return bad(p, D_BODY_DISALLOWED);
            drop_content_length(p, msg);
        }
        msg->body = HTTP_BODY_TUNNEL;
    } else {
        int rc = framing_from_fields(p, msg);
        if (rc < 0)
            return rc;
        uint64_t max = p->cfg->max_body_len;
        if (max && msg->body == HTTP_BODY_LENGTH && msg->content_length > max)
            return fail(p, -RM_ELIMIT, 413, D_BODY_TOO_LARGE);
        /* RFC 9110 §7.8: Upgrade is only meaningful with the "upgrade" connection option. */
        if ((p->mf & (MF_UPGRADE_HDR | MF_CONN_UPGRADE)) == (MF_UPGRADE_HDR | MF_CONN_UPGRADE))
            p->flags |= H1_MF_UPGRADE;
    }
    /* RFC 9110 §10.1.1: 100-continue in an HTTP/1.0 request is ignored. */
    if ((p->mf & MF_EXPECT_100) && msg->version == HTTP_VERSION_1_1)
        p->flags |= H1_MF_EXPECT_CONTINUE;
    if (keep_alive(p, msg) && msg->body != HTTP_BODY_TUNNEL)
        p->flags |= H1_MF_KEEP_ALIVE;
    return 0;
}

static int finish_response_head(struct h1_parser *p, struct http_msg *msg)
{
    int status = msg->status;
    if (status < 200 || status == 204) {
        /* RFC 9110 §8.6, RFC 9112 §6.1: no CL/TE in 1xx/204. Envoy refuses TE and a
         * non-zero CL and papers over "0". */
        if (p->mf & MF_TE)
            return bad(p, D_TE_NOT_ALLOWED);
        if (p->mf & MF_CL) {
            if (p->content_length)
                return bad(p, D_CL_NOT_ALLOWED);
            drop_content_length(p, msg);
        }
        msg->body = HTTP_BODY_NONE;
        if (status == 101) {
            if (!p->req_upgrade)
                return bad(p, D_CODEC);
            msg->body = HTTP_BODY_TUNNEL;
            p->flags |= H1_MF_UPGRADE;
        } else if (status < 200) {
            p->flags |= H1_MF_INFORMATIONAL;
        }
    } else if (status == 304 || p->req_method == HTTP_METHOD_HEAD) {
        /* RFC 9112 §6.3 rule 1: never a body, whatever the fields say. */
        msg->body = HTTP_BODY_NONE;
        if (p->mf & MF_CL)
            msg->content_length = p->content_length;
    } else if (p->req_method == HTTP_METHOD_CONNECT && status < 300) {
        /* RFC 9112 §6.3 rule 2: a tunnel; CL/TE are ignored. */
        msg->body = HTTP_BODY_TUNNEL;
        p->flags |= H1_MF_UPGRADE;
    } else {
        int rc = framing_from_fields(p, msg);
        if (rc < 0)
            return rc;
        if (!(p->mf & (MF_TE | MF_CL)))
            msg->body = HTTP_BODY_UNTIL_CLOSE; /* RFC 9112 §6.3 rule 8 */
    }
    if (keep_alive(p, msg) && msg->body != HTTP_BODY_UNTIL_CLOSE && msg->body != HTTP_BODY_TUNNEL)
        p->flags |= H1_MF_KEEP_ALIVE;
    return 0;
}

/* The empty line ending a head: decide framing and report H1_EV_HEAD. */
static int finish_head(struct h1_parser *p, struct http_msg *msg, struct h1_result *res)
{
    int rc = p->role == H1_ROLE_SERVER ? finish_request_head(p, msg) : finish_response_head(p, msg);
    if (rc < 0)
        return rc;
    section_reset(p);
    switch (msg->body) {
    case HTTP_BODY_NONE:
        if (p->flags & H1_MF_INFORMATIONAL) {
            p->state = H1_S_START; /* the final response follows; not a message end */
            break;
        }
        msg->end_stream = true;
        res->end_stream = true;
        message_done(p);
        break;
    case HTTP_BODY_LENGTH:
        p->remaining = msg->content_length;
        p->state = H1_S_BODY_LENGTH;
        break;
    case HTTP_BODY_CHUNKED:
        p->state = H1_S_CHUNK_SIZE;
        p->cx = CX_NONE;
        p->chunk_size = 0;
        p->chunk_line = 0;
        break;
    case HTTP_BODY_UNTIL_CLOSE:
        p->state = H1_S_UNTIL_CLOSE;
        break;
    case HTTP_BODY_TUNNEL:
        p->state = H1_S_TUNNEL;
        break;
    }
    return H1_EV_HEAD;
}

/* One complete line (LF included). Returns 0 to continue, an event > 0, or < 0. */
static int process_line(struct h1_parser *p, struct http_msg *msg, const char *line, size_t n,
                        struct h1_result *res)
{
    /* RFC 9112 §2.2: lines end in CRLF; a bare LF is refused, not tolerated. */
    if (n < 2 || line[n - 2] != '\r')
        return bad(p, D_CODEC);
    n -= 2;
    switch (p->state) {
    case H1_S_START:
        if (n == 0) /* RFC 9112 §2.2: empty lines before a start line are ignored */
            return 0;
        message_reset(p);
        p->state = H1_S_HEADERS;
        return p->role == H1_ROLE_SERVER ? parse_request_line(p, msg, line, n)
                                         : parse_status_line(p, msg, line, n);
    case H1_S_HEADERS:
        if (n == 0)
            return finish_head(p, msg, res);
        return parse_field_line(p, msg, line, n, false);
    case H1_S_TRAILERS:
        if (n == 0) {
            res->end_stream = true;
            message_done(p);
            return H1_EV_DONE;
        }
        return parse_field_line(p, msg, line, n, true);
    default:
        return bad(p, D_CODEC);
    }
}

/* A line longer than the section allows. For a request line, 414 when the method has ended
 * (an SP within the first H1_MAX_METHOD_LEN + 1 bytes), else 501 (method too long). The
 * window is the same whether the line arrived whole or in pieces. */
static int over_limit(struct h1_parser *p, const char *s, size_t take, size_t cap)
{
    if (p->state != H1_S_START || p->role != H1_ROLE_SERVER)
        return fail(p, -RM_ELIMIT, 431, D_HEADERS_TOO_LARGE);
    size_t win = H1_MAX_METHOD_LEN + 1;
    if (win > cap + 1)
        win = cap + 1;
    size_t a = p->llen < win ? p->llen : win;
    if (memchr(p->lbuf ? p->lbuf : "", ' ', a) ||
        (a < win && memchr(s, ' ', win - a < take ? win - a : take)))
        return fail(p, -RM_ELIMIT, 414, D_URI_TOO_LONG);
    return fail(p, -RM_EPROTO, 501, D_METHOD_LONG);
}

static int lbuf_reserve(struct h1_parser *p, size_t need)
{
    if (need <= p->lcap)
        return 0;
    size_t ncap = p->lcap ? p->lcap : 256;
    while (ncap < need)
        ncap *= 2;
    char *nb = realloc(p->lbuf, ncap);
    if (!nb)
        return -RM_ENOMEM;
    p->lbuf = nb;
    p->lcap = (uint32_t)ncap;
    return 0;
}

/* Finds the next complete line. Returns 1 with |*line|/|*n| (LF included; in |data| or in
 * the line buffer), 0 when the input ended mid-line (the bytes are kept), < 0 on error. */
static int take_line(struct h1_parser *p, const char *data, size_t len, size_t *pos,
                     const char **line, size_t *n)
{
    const char *s = data + *pos;
    size_t avail = len - *pos;
    const char *nl = avail ? memchr(s, '\n', avail) : NULL;
    size_t take = nl ? (size_t)(nl - s) + 1 : avail;
    size_t cap = p->max_head - p->head_bytes;
    if (p->state == H1_S_START && p->role == H1_ROLE_SERVER) {
        /* A request line longer than the longest valid one is refused before it is
         * buffered whole (method, 2 SP, target, "HTTP/1.1", CRLF). */
        size_t rl = (size_t)uri_cap(p) + H1_MAX_METHOD_LEN + 12;
        if (rl < cap)
            cap = rl;
    }
    if ((size_t)p->llen + take > cap)
        return over_limit(p, s, take, cap);
    if (p->llen == 0 && nl) {
        *line = s;
        *n = take;
    } else {
        if (take) {
            if (lbuf_reserve(p, (size_t)p->llen + take) < 0)
                return fail(p, -RM_ENOMEM, 500, D_NOMEM);
            memcpy(p->lbuf + p->llen, s, take);
            p->llen += (uint32_t)take;
        }
        *pos += take;
        if (!nl)
            return 0;
        *line = p->lbuf;
        *n = p->llen;
        p->head_bytes += p->llen;
        return 1;
    }
    *pos += take;
    p->head_bytes += (uint32_t)take;
    return 1;
}

/* ---- chunked framing (RFC 9112 §7.1) -------------------------------------------------------- */

static int chunk_line_byte(struct h1_parser *p)
{
    if (++p->chunk_line > H1_MAX_CHUNK_LINE)
        return bad(p, D_CHUNK);
    return 0;
}

/* Consumes chunk framing bytes until chunk-data or the trailer section starts, or the input
 * ends. Returns 0 or < 0. */
static int chunk_framing(struct h1_parser *p, const char *data, size_t len, size_t *pos)
{
    while (*pos < len) {
        uint8_t c = (uint8_t)data[*pos];
        uint8_t ct = http_ctype[c];
        switch (p->state) {
        case H1_S_CHUNK_SIZE:
            if (chunk_line_byte(p) < 0)
                return p->err_code;
            if (ct & HTTP_CT_HEX) {
                if (p->chunk_size > ((uint64_t)INT64_MAX >> 4)) /* overflow */
                    return bad(p, D_CHUNK);
                p->chunk_size = (p->chunk_size << 4) | (uint64_t)hexval(c);
                p->cx = CX_DIGITS;
                break;
            }
            if (p->cx != CX_DIGITS) /* no digit: "-1", " 1", ";x", "\r" */
                return bad(p, D_CHUNK);
            if (c == '\r') {
                p->state = H1_S_CHUNK_LF;
            } else if (c == ';') {
                p->cx = CX_BWS_NAME;
                p->state = H1_S_CHUNK_EXT;
            } else if (is_ows((char)c)) {
                p->cx = CX_BWS_SEMI;
                p->state = H1_S_CHUNK_EXT;
            } else {
                return bad(p, D_CHUNK);
            }
            break;
        case H1_S_CHUNK_EXT:
            if (chunk_line_byte(p) < 0)
                return p->err_code;
            switch (p->cx) {
            case CX_BWS_SEMI:
                if (c == ';')
                    p->cx = CX_BWS_NAME;
                else if (!is_ows((char)c))
                    return bad(p, D_CHUNK);
                break;
            case CX_BWS_NAME:
                if (ct & HTTP_CT_TCHAR)
                    p->cx = CX_NAME;
                else if (!is_ows((char)c))
                    return bad(p, D_CHUNK);
                break;
            case CX_NAME:
            case CX_TOKEN:
                if (ct & HTTP_CT_TCHAR)
                    break;
                if (c == '\r')
                    p->state = H1_S_CHUNK_LF;
                else if (c == ';')
                    p->cx = CX_BWS_NAME;
                else if (c == '=' && p->cx == CX_NAME)
                    p->cx = CX_BWS_VAL;
                else if (is_ows((char)c))
                    p->cx = p->cx == CX_NAME ? CX_BWS_EQ : CX_BWS_SEMI;
                else
                    return bad(p, D_CHUNK);
                break;
            case CX_BWS_EQ:
                if (c == '=')
                    p->cx = CX_BWS_VAL;
                else if (c == ';')
                    p->cx = CX_BWS_NAME;
                else if (!is_ows((char)c))
                    return bad(p, D_CHUNK);
                break;
            case CX_BWS_VAL:
                if (c == '"')
                    p->cx = CX_QSTR;
                else if (ct & HTTP_CT_TCHAR)
                    p->cx = CX_TOKEN;
                else if (!is_ows((char)c))
                    return bad(p, D_CHUNK);
                break;
            case CX_QSTR:
                if (c == '"')
                    p->cx = CX_QEND;
                else if (c == '\\')
                    p->cx = CX_QPAIR;
                else if (!(ct & HTTP_CT_QDTEXT))
                    return bad(p, D_CHUNK);
                break;
            case CX_QPAIR:
                /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
                if (!(ct & HTTP_CT_FVAL))
                    return bad(p, D_CHUNK);
                p->cx = CX_QSTR;
                break;
            case CX_QEND:
                if (c == '\r')
                    p->state = H1_S_CHUNK_LF;
                else if (c == ';')
                    p->cx = CX_BWS_NAME;
                else if (is_ows((char)c))
                    p->cx = CX_BWS_SEMI;
                else
                    return bad(p, D_CHUNK);
                break;
            default:
                return bad(p, D_CHUNK);
            }
            break;
        case H1_S_CHUNK_LF:
            if (c != '\n')
                return bad(p, D_CHUNK);
            (*pos)++;
            if (p->chunk_size == 0) {
                p->state = H1_S_TRAILERS;
                section_reset(p);
                return 0;
            }
            if (p->chunk_size > UINT64_MAX - p->body_total)
                return bad(p, D_CHUNK);
            p->body_total += p->chunk_size;
            if (p->role == H1_ROLE_SERVER && p->cfg->max_body_len &&
                p->body_total > p->cfg->max_body_len)
                return fail(p, -RM_ELIMIT, 413, D_BODY_TOO_LARGE);
            p->remaining = p->chunk_size;
            p->state = H1_S_CHUNK_DATA;
            return 0;
        case H1_S_CHUNK_DATA_CR:
            if (c != '\r')
                return bad(p, D_CHUNK);
            p->state = H1_S_CHUNK_DATA_LF;
            break;
        case H1_S_CHUNK_DATA_LF:
            if (c != '\n')
                return bad(p, D_CHUNK);
            p->state = H1_S_CHUNK_SIZE;
            p->chunk_size = 0;
            p->chunk_line = 0;
            p->cx = CX_NONE;
            break;
        default:
            return 0;
        }
        (*pos)++;
    }
    return 0;
}

/* ---- driver ------------------------------------------------------------------------------- */

int h1_parse(struct h1_parser *p, struct http_msg *msg, const char *data, size_t len,
             struct h1_result *res)
{
    memset(res, 0, sizeof(*res));
    if (p->state == H1_S_ERROR)
        return p->err_code;
    if (!data) /* no arithmetic on NULL below */
        data = "";
    size_t pos = 0;
    for (;;) {
        switch (p->state) {
        case H1_S_START:
        case H1_S_HEADERS:
        case H1_S_TRAILERS: {
            const char *line;
            size_t n;
            int rc = take_line(p, data, len, &pos, &line, &n);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                res->consumed = pos;
                return H1_EV_NEED_MORE;
            }
            rc = process_line(p, msg, line, n, res);
            p->llen = 0;
            if (rc < 0)
                return rc;
            if (rc > 0) {
                res->consumed = pos;
                return rc;
            }
            break;
        }
        case H1_S_BODY_LENGTH:
        case H1_S_CHUNK_DATA:
        case H1_S_UNTIL_CLOSE:
        case H1_S_TUNNEL: {
            size_t n = len - pos;
            if (n == 0) {
                res->consumed = pos;
                return H1_EV_NEED_MORE;
            }
            bool counted = p->state == H1_S_BODY_LENGTH || p->state == H1_S_CHUNK_DATA;
            if (counted && n > p->remaining)
                n = (size_t)p->remaining;
            res->body_off = pos;
            res->body_len = n;
            pos += n;
            res->consumed = pos;
            if (counted) {
                p->remaining -= n;
                if (p->remaining == 0) {
                    if (p->state == H1_S_BODY_LENGTH) {
                        res->end_stream = true;
                        message_done(p);
                    } else {
                        p->state = H1_S_CHUNK_DATA_CR;
                    }
                }
            }
            return H1_EV_BODY;
        }
        case H1_S_CHUNK_SIZE:
        case H1_S_CHUNK_EXT:
        case H1_S_CHUNK_LF:
        case H1_S_CHUNK_DATA_CR:
        case H1_S_CHUNK_DATA_LF: {
            if (pos == len) {
                res->consumed = pos;
                return H1_EV_NEED_MORE;
            }
            int rc = chunk_framing(p, data, len, &pos);
            if (rc < 0)
                return rc;
            break;
        }
        case H1_S_PAUSED:
            res->consumed = pos;
            return H1_EV_PAUSED;
        default:
            return bad(p, D_CODEC);
        }
    }
}

int h1_parse_eof(struct h1_parser *p, struct http_msg *msg, struct h1_result *res)
{
    (void)msg;
    memset(res, 0, sizeof(*res));
    switch (p->state) {
    case H1_S_ERROR:
        return p->err_code;
    case H1_S_START:
        if (p->llen == 0)
            return H1_EV_NEED_MORE;
        break;
    case H1_S_PAUSED:
        return H1_EV_NEED_MORE;
    case H1_S_UNTIL_CLOSE:
    case H1_S_TUNNEL:
        res->end_stream = true;
        p->messages++;
        p->state = H1_S_START;
        return H1_EV_DONE;
    default:
        break;
    }
    return fail(p, -RM_ECLOSED, 400, D_PREMATURE);
}

/* ---- serializer ----------------------------------------------------------------------------- */

/* Fields the serializer writes itself (framing), or must not repeat. */
static bool skip_field(const struct http_slice *name, bool request, unsigned flags)
{
    switch (name->n) {
    case 4:
        return request && !memcmp(name->p, "host", 4);
    case 10:
        return (flags & (H1_WF_CONN_CLOSE | H1_WF_KEEP_ALIVE | H1_WF_UPGRADE)) &&
               !memcmp(name->p, "connection", 10);
    case 14:
        return !memcmp(name->p, "content-length", 14);
    case 17:
        return !memcmp(name->p, "transfer-encoding", 17);
    default:
        return false;
    }
}

struct wbuf {
    char *p;
};

static void put(struct wbuf *w, const char *s, size_t n)
{
    if (!n)
        return;
    memcpy(w->p, s, n);
    w->p += n;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

/* Length of the common tail: fields, framing, connection option, final CRLF. */
static size_t tail_len(const struct http_hdrs *h, enum http_body_kind framing, unsigned flags)
{
    /* An upper bound: the fields put_tail() skips are counted too (one test per field
     * saved; commit() records the length actually written). */
    size_t total = 2;
    for (uint32_t i = 0; i < h->n; i++)
        total += h->v[i].name.n + h->v[i].value.n + 4;
    if (framing == HTTP_BODY_LENGTH)
        total += sizeof("content-length: \r\n") - 1 + 20; /* 20: digits of UINT64_MAX */
    else if (framing == HTTP_BODY_CHUNKED)
        total += sizeof("transfer-encoding: chunked\r\n") - 1;
    if (flags & H1_WF_CONN_CLOSE)
        total += sizeof("connection: close\r\n") - 1;
    else if (flags & H1_WF_UPGRADE)
        total += sizeof("connection: upgrade\r\n") - 1;
    else if (flags & H1_WF_KEEP_ALIVE)
        total += sizeof("connection: keep-alive\r\n") - 1;
    return total;
}

static void put_tail(struct wbuf *w, const struct http_hdrs *h, bool request,
                     enum http_body_kind framing, uint64_t cl, unsigned flags)
{
    for (uint32_t i = 0; i < h->n; i++) {
        const struct http_field *f = &h->v[i];
        if (skip_field(&f->name, request, flags))
            continue;
        put(w, f->name.p, f->name.n);
        PUT_LIT(w, ": ");
        put(w, f->value.p, f->value.n);
        PUT_LIT(w, "\r\n");
    }
    if (framing == HTTP_BODY_LENGTH) {
        PUT_LIT(w, "content-length: ");
        w->p += rm_u64_dec(w->p, cl);
        PUT_LIT(w, "\r\n");
    } else if (framing == HTTP_BODY_CHUNKED) {
        PUT_LIT(w, "transfer-encoding: chunked\r\n");
    }
    if (flags & H1_WF_CONN_CLOSE)
        PUT_LIT(w, "connection: close\r\n");
    else if (flags & H1_WF_UPGRADE)
        PUT_LIT(w, "connection: upgrade\r\n");
    else if (flags & H1_WF_KEEP_ALIVE)
        PUT_LIT(w, "connection: keep-alive\r\n");
    PUT_LIT(w, "\r\n");
}

static int commit(struct evbuffer *out, size_t total, struct wbuf *w, struct evbuffer_iovec *v)
{
    v->iov_len = (size_t)(w->p - (char *)v->iov_base);
    if (v->iov_len > total || evbuffer_commit_space(out, v, 1) < 0) /* total: an upper bound */
        return -RM_ENOMEM;
    return 0;
}

static int reserve(struct evbuffer *out, size_t total, struct evbuffer_iovec *v, struct wbuf *w)
{
    if (evbuffer_reserve_space(out, (ev_ssize_t)total, v, 1) != 1 || v->iov_len < total)
        return -RM_ENOMEM;
    w->p = v->iov_base;
    return 0;
}

int h1_write_request_head(struct evbuffer *out, const struct http_msg *msg,
                          enum http_body_kind framing, uint64_t content_length, unsigned flags)
{
    struct http_slice method = msg->method_name;
    if (!method.n && msg->method != HTTP_METHOD_OTHER) {
        method.p = http_method_name(msg->method);
        method.n = strlen(method.p);
    }
    struct http_slice target = msg->method == HTTP_METHOD_CONNECT ? msg->authority : msg->path;
    if (!target.n && msg->method != HTTP_METHOD_CONNECT) {
        target.p = "/";
        target.n = 1;
    }
    /* Anything that could end the line or split the request is refused (RFC 9112 §3). */
    if (!http_is_token(method.p, method.n) || !target.n ||
        !all_of(target.p, target.n, HTTP_CT_TARGET) ||
        !all_of(msg->authority.p, msg->authority.n, HTTP_CT_HOST) ||
        framing == HTTP_BODY_UNTIL_CLOSE)
        return -RM_EINVAL;

    size_t total = method.n + 1 + target.n + sizeof(" HTTP/1.1\r\n") - 1 + sizeof("host: \r\n") -
                   1 + msg->authority.n + tail_len(&msg->headers, framing, flags);
    struct evbuffer_iovec v;
    struct wbuf w;
    if (reserve(out, total, &v, &w) < 0)
        return -RM_ENOMEM;
    put(&w, method.p, method.n);
    PUT_LIT(&w, " ");
    put(&w, target.p, target.n);
    if (flags & H1_WF_HTTP10)
        PUT_LIT(&w, " HTTP/1.0\r\n");
    else
        PUT_LIT(&w, " HTTP/1.1\r\n");
    PUT_LIT(&w, "host: ");
    put(&w, msg->authority.p, msg->authority.n);
    PUT_LIT(&w, "\r\n");
    put_tail(&w, &msg->headers, true, framing, content_length, flags);
    return commit(out, total, &w, &v);
}

int h1_write_response_head(struct evbuffer *out, const struct http_msg *msg,
                           enum http_body_kind framing, uint64_t content_length, unsigned flags)
{
    int status = msg->status;
    if (status < 100 || status > 599)
        return -RM_EINVAL;
    if ((status < 200 || status == 204) &&
        (framing == HTTP_BODY_LENGTH || framing == HTTP_BODY_CHUNKED))
        return -RM_EINVAL;
    struct http_slice reason = msg->reason;
    if (!reason.n) {
        reason.p = http_reason_phrase(status);
        reason.n = strlen(reason.p);
    } else if (!all_of(reason.p, reason.n, HTTP_CT_FVAL)) {
        return -RM_EINVAL;
    }
    size_t total =
        sizeof("HTTP/1.1 200 \r\n") - 1 + reason.n + tail_len(&msg->headers, framing, flags);
    struct evbuffer_iovec v;
    struct wbuf w;
    if (reserve(out, total, &v, &w) < 0)
        return -RM_ENOMEM;
    if (flags & H1_WF_HTTP10)
        PUT_LIT(&w, "HTTP/1.0 ");
    else
        PUT_LIT(&w, "HTTP/1.1 ");
    char code[3] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10)};
    put(&w, code, 3);
    PUT_LIT(&w, " ");
    put(&w, reason.p, reason.n);
    PUT_LIT(&w, "\r\n");
    put_tail(&w, &msg->headers, false, framing, content_length, flags);
    return commit(out, total, &w, &v);
}

int h1_write_chunk(struct evbuffer *out, struct evbuffer *data, size_t n)
{
    if (n == 0)
        return 0;
    if (evbuffer_get_length(data) < n)
        return -RM_EINVAL;
    char hdr[20];
    size_t hn = 0;
    static const char hex[] = "0123456789abcdef";
    for (int shift = (int)(sizeof(size_t) * 8) - 4; shift >= 0; shift -= 4) {
        unsigned d = (unsigned)((n >> shift) & 0xf);
        if (d || hn)
            hdr[hn++] = hex[d];
    }
    hdr[hn++] = '\r';
    hdr[hn++] = '\n';
    if (evbuffer_add(out, hdr, hn) < 0)
        return -RM_ENOMEM;
    if (evbuffer_remove_buffer(data, out, n) != (int)n)
        return -RM_ENOMEM;
    if (evbuffer_add(out, "\r\n", 2) < 0)
        return -RM_ENOMEM;
    return 0;
}

int h1_write_last_chunk(struct evbuffer *out, const struct http_hdrs *trailers)
{
    size_t total = 5;
    uint32_t n = trailers ? trailers->n : 0;
    for (uint32_t i = 0; i < n; i++)
        total += trailers->v[i].name.n + trailers->v[i].value.n + 4;
    struct evbuffer_iovec v;
    struct wbuf w;
    if (reserve(out, total, &v, &w) < 0)
        return -RM_ENOMEM;
    PUT_LIT(&w, "0\r\n");
    for (uint32_t i = 0; i < n; i++) {
        const struct http_field *f = &trailers->v[i];
        put(&w, f->name.p, f->name.n);
        PUT_LIT(&w, ": ");
        put(&w, f->value.p, f->value.n);
        PUT_LIT(&w, "\r\n");
    }
    PUT_LIT(&w, "\r\n");
    return commit(out, total, &w, &v);
}

int h1_write_continue(struct evbuffer *out)
{
    static const char s[] = "HTTP/1.1 100 Continue\r\n\r\n";
    return evbuffer_add(out, s, sizeof(s) - 1) < 0 ? -RM_ENOMEM : 0;
}
