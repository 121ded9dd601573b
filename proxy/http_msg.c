/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/http_msg.c — codec-neutral HTTP message head and header map; see http_msg.h.
 * Pure memory work on one stream's arena: no I/O, no locks, no malloc of its own. */
#include "proxy/http_msg.h"

#include "proxy/arena.h"
#include "proxy/err.h"

/* ---- byte classes ----------------------------------------------------------------------------
 * Built at compile time from the RFC grammars so the tables can be read next to the rules. */
#define CT_ALNUM(c)                                                                                \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9'))
/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
 * "_" / "`" / "|" / "~" / DIGIT / ALPHA */
#define CT_IS_TCHAR(c)                                                                             \
    (CT_ALNUM(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' ||          \
     (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' ||          \
     (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define CT_IS_VCHAR(c) ((c) >= 0x21 && (c) <= 0x7e)
/* RFC 9110 §5.5: field-vchar = VCHAR / obs-text, plus SP / HTAB inside the value. */
#define CT_IS_FVAL(c) (CT_IS_VCHAR(c) || (c) == ' ' || (c) == '\t' || (c) >= 0x80)
/* RFC 3986 §3.2.2/§3.2.3: reg-name/IP-literal/port bytes: unreserved, sub-delims, ":", "[",
 * "]" and "%" of pct-encoded. */
#define CT_IS_HOST(c)                                                                              \
    (CT_ALNUM(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || (c) == '!' ||          \
     (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' ||          \
     (c) == '+' || (c) == ',' || (c) == ';' || (c) == '=' || (c) == ':' || (c) == '[' ||           \
     (c) == ']' || (c) == '%')
#define CT_IS_HEX(c)                                                                               \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
/* RFC 9110 §5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
#define CT_IS_QDTEXT(c)                                                                            \
    ((c) == '\t' || (c) == ' ' || (c) == 0x21 || ((c) >= 0x23 && (c) <= 0x5b) ||                   \
     ((c) >= 0x5d && (c) <= 0x7e) || (c) >= 0x80)
#define CT(c)                                                                                      \
    ((CT_IS_TCHAR(c) ? HTTP_CT_TCHAR : 0) | (CT_IS_FVAL(c) ? HTTP_CT_FVAL : 0) |                   \
     (CT_IS_VCHAR(c) ? HTTP_CT_TARGET : 0) | (CT_IS_HOST(c) ? HTTP_CT_HOST : 0) |                  \
     (CT_IS_HEX(c) ? HTTP_CT_HEX : 0) | (CT_IS_QDTEXT(c) ? HTTP_CT_QDTEXT : 0))
#define CT4(b) CT(b), CT((b) + 1), CT((b) + 2), CT((b) + 3)
#define CT16(b) CT4(b), CT4((b) + 4), CT4((b) + 8), CT4((b) + 12)
#define CT64(b) CT16(b), CT16((b) + 16), CT16((b) + 32), CT16((b) + 48)

const uint8_t http_ctype[256] = {CT64(0), CT64(64), CT64(128), CT64(192)};

#define LO(c) (((c) >= 'A' && (c) <= 'Z') ? ((c) | 0x20) : (c))
#define LO4(b) LO(b), LO((b) + 1), LO((b) + 2), LO((b) + 3)
#define LO16(b) LO4(b), LO4((b) + 4), LO4((b) + 8), LO4((b) + 12)
#define LO64(b) LO16(b), LO16((b) + 16), LO16((b) + 32), LO16((b) + 48)

const uint8_t http_lower[256] = {LO64(0), LO64(64), LO64(128), LO64(192)};

#define TL(c) (CT_IS_TCHAR(c) ? LO(c) : 0)
#define TL4(b) TL(b), TL((b) + 1), TL((b) + 2), TL((b) + 3)
#define TL16(b) TL4(b), TL4((b) + 4), TL4((b) + 8), TL4((b) + 12)
#define TL64(b) TL16(b), TL16((b) + 16), TL16((b) + 32), TL16((b) + 48)

const uint8_t http_tchar_lower[256] = {TL64(0), TL64(64), TL64(128), TL64(192)};

/* ---- message ----------------------------------------------------------------------------------
 */

void http_msg_init(struct http_msg *msg, struct arena *arena, bool is_request)
{
    memset(msg, 0, sizeof(*msg));
    msg->arena = arena;
    msg->is_request = is_request;
    http_hdrs_init(&msg->headers, arena);
    http_hdrs_init(&msg->trailers, arena);
}

void http_msg_reset(struct http_msg *msg)
{
    http_msg_init(msg, msg->arena, msg->is_request);
}

static int msg_copy(struct http_msg *msg, struct http_slice *dst, const char *s, size_t n)
{
    char *p = arena_strndup(msg->arena, s, n);
    if (!p)
        return -RM_ENOMEM;
    dst->p = p;
    dst->n = n;
    return 0;
}

static const char *const method_names[] = {
    [HTTP_METHOD_OTHER] = NULL,        [HTTP_METHOD_GET] = "GET",
    [HTTP_METHOD_HEAD] = "HEAD",       [HTTP_METHOD_POST] = "POST",
    [HTTP_METHOD_PUT] = "PUT",         [HTTP_METHOD_DELETE] = "DELETE",
    [HTTP_METHOD_CONNECT] = "CONNECT", [HTTP_METHOD_OPTIONS] = "OPTIONS",
    [HTTP_METHOD_TRACE] = "TRACE",     [HTTP_METHOD_PATCH] = "PATCH",
};

enum http_method http_method_from(const char *s, size_t n)
{
    /* Methods are case-sensitive (RFC 9110 §9.1): "get" is an extension method. */
    switch (n) {
    case 3:
        if (!memcmp(s, "GET", 3))
            return HTTP_METHOD_GET;
        if (!memcmp(s, "PUT", 3))
            return HTTP_METHOD_PUT;
        break;
    case 4:
        if (!memcmp(s, "POST", 4))
            return HTTP_METHOD_POST;
        if (!memcmp(s, "HEAD", 4))
            return HTTP_METHOD_HEAD;
        break;
    case 5:
        if (!memcmp(s, "PATCH", 5))
            return HTTP_METHOD_PATCH;
        if (!memcmp(s, "TRACE", 5))
            return HTTP_METHOD_TRACE;
        break;
    case 6:
        if (!memcmp(s, "DELETE", 6))
            return HTTP_METHOD_DELETE;
        break;
    case 7:
        if (!memcmp(s, "OPTIONS", 7))
            return HTTP_METHOD_OPTIONS;
        if (!memcmp(s, "CONNECT", 7))
            return HTTP_METHOD_CONNECT;
        break;
    default:
        break;
    }
    return HTTP_METHOD_OTHER;
}

const char *http_method_name(enum http_method m)
{
    if ((unsigned)m >= sizeof(method_names) / sizeof(method_names[0]))
        return NULL;
    return method_names[m];
}

int http_msg_set_method(struct http_msg *msg, const char *s, size_t n)
{
    enum http_method m = http_method_from(s, n);
    msg->method = m;
    if (m != HTTP_METHOD_OTHER) {
        msg->method_name.p = method_names[m];
        msg->method_name.n = n;
        return 0;
    }
    return msg_copy(msg, &msg->method_name, s, n);
}

int http_msg_set_scheme(struct http_msg *msg, const char *s, size_t n)
{
    if (n == 4 && !memcmp(s, "http", 4)) {
        msg->scheme.p = "http";
        msg->scheme.n = 4;
        return 0;
    }
    if (n == 5 && !memcmp(s, "https", 5)) {
        msg->scheme.p = "https";
        msg->scheme.n = 5;
        return 0;
    }
    return msg_copy(msg, &msg->scheme, s, n);
}

int http_msg_set_authority(struct http_msg *msg, const char *s, size_t n)
{
    return msg_copy(msg, &msg->authority, s, n);
}

int http_msg_set_path(struct http_msg *msg, const char *s, size_t n)
{
    return msg_copy(msg, &msg->path, s, n);
}

int http_msg_set_reason(struct http_msg *msg, const char *s, size_t n)
{
    return msg_copy(msg, &msg->reason, s, n);
}

const char *http_version_str(enum http_version v)
{
    switch (v) {
    case HTTP_VERSION_1_0:
        return "HTTP/1.0";
    case HTTP_VERSION_1_1:
        return "HTTP/1.1";
    case HTTP_VERSION_2:
        return "HTTP/2";
    case HTTP_VERSION_NONE:
        break;
    }
    return "-";
}

const char *http_reason_phrase(int status)
{
    /* RFC 9110 §15 (plus 103 from RFC 8297, 429/431 from RFC 6585). */
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* ---- validation -------------------------------------------------------------------------------
 */

bool http_parse_content_length(const char *v, size_t n, uint64_t *out)
{
    if (n == 0)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        unsigned d = (unsigned)(v[i] - '0');
        if (x > ((uint64_t)INT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

bool http_is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(http_ctype[(uint8_t)s[i]] & HTTP_CT_TCHAR))
            return false;
    return true;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool http_is_field_value(const char *s, size_t n)
{
    if (n > 0 && (is_ows(s[0]) || is_ows(s[n - 1])))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(http_ctype[(uint8_t)s[i]] & HTTP_CT_FVAL))
            return false;
    return true;
}

/* ---- header map -------------------------------------------------------------------------------
 */

void http_hdrs_init(struct http_hdrs *h, struct arena *arena)
{
    h->v = NULL;
    h->n = 0;
    h->cap = 0;
    h->arena = arena;
}

/* Stored names are lowercase, so only the query needs folding. */
static bool name_eq(const struct http_slice *stored, const char *name, size_t n)
{
    if (stored->n != n)
        return false;
    const uint8_t *a = (const uint8_t *)stored->p;
    const uint8_t *b = (const uint8_t *)name;
    for (size_t i = 0; i < n; i++)
        if (a[i] != http_lower[b[i]])
            return false;
    return true;
}

long http_hdrs_find(const struct http_hdrs *h, const char *name, size_t n, size_t from)
{
    for (size_t i = from; i < h->n; i++)
        if (name_eq(&h->v[i].name, name, n))
            return (long)i;
    return -1;
}

const struct http_slice *http_hdrs_get(const struct http_hdrs *h, const char *name, size_t n)
{
    long i = http_hdrs_find(h, name, n, 0);
    return i < 0 ? NULL : &h->v[i].value;
}

size_t http_hdrs_count(const struct http_hdrs *h, const char *name, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < h->n; i++)
        c += name_eq(&h->v[i].name, name, n);
    return c;
}

static int hdrs_grow(struct http_hdrs *h)
{
    /* 16 fields cover most requests in one allocation; the old array stays in the arena. */
    uint32_t ncap = h->cap ? h->cap * 2 : 16;
    if (ncap <= h->cap)
        return -RM_ENOMEM;
    struct http_field *nv = arena_alloc(h->arena, (size_t)ncap * sizeof(*nv));
    if (!nv)
        return -RM_ENOMEM;
    if (h->n)
        memcpy(nv, h->v, (size_t)h->n * sizeof(*nv));
    h->v = nv;
    h->cap = ncap;
    return 0;
}

int http_hdrs_add_ref(struct http_hdrs *h, struct http_slice name, struct http_slice value)
{
    if (h->n == h->cap) {
        int rc = hdrs_grow(h);
        if (rc < 0)
            return rc;
    }
    h->v[h->n].name = name;
    h->v[h->n].value = value;
    h->n++;
    return 0;
}

static void trim_ows(const char **s, size_t *n)
{
    while (*n > 0 && is_ows((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_ows((*s)[*n - 1]))
        (*n)--;
}

/* Validates and copies name (lowercased) and value into one arena block. */
static int field_copy(struct http_hdrs *h, const char *name, size_t nlen, const char *value,
                      size_t vlen, struct http_slice *oname, struct http_slice *ovalue)
{
    trim_ows(&value, &vlen);
    if (!http_is_token(name, nlen) || !http_is_field_value(value, vlen))
        return -RM_EINVAL;
    if (nlen > SIZE_MAX / 2 - vlen)
        return -RM_EINVAL;
    char *p = arena_alloc(h->arena, nlen + vlen + 2);
    if (!p)
        return -RM_ENOMEM;
    for (size_t i = 0; i < nlen; i++)
        p[i] = (char)http_lower[(uint8_t)name[i]];
    p[nlen] = '\0';
    memcpy(p + nlen + 1, value, vlen);
    p[nlen + 1 + vlen] = '\0';
    oname->p = p;
    oname->n = nlen;
    ovalue->p = p + nlen + 1;
    ovalue->n = vlen;
    return 0;
}

int http_hdrs_add(struct http_hdrs *h, const char *name, size_t nlen, const char *value,
                  size_t vlen)
{
    struct http_slice n, v;
    int rc = field_copy(h, name, nlen, value, vlen, &n, &v);
    if (rc < 0)
        return rc;
    return http_hdrs_add_ref(h, n, v);
}

int http_hdrs_set(struct http_hdrs *h, const char *name, size_t nlen, const char *value,
                  size_t vlen)
{
    struct http_slice n, v;
    int rc = field_copy(h, name, nlen, value, vlen, &n, &v);
    if (rc < 0)
        return rc;
    long i = http_hdrs_find(h, n.p, n.n, 0);
    if (i < 0)
        return http_hdrs_add_ref(h, n, v);
    h->v[i].value = v;
    for (long j = http_hdrs_find(h, n.p, n.n, (size_t)i + 1); j >= 0;
         j = http_hdrs_find(h, n.p, n.n, (size_t)j))
        http_hdrs_remove_at(h, (size_t)j);
    return 0;
}

int http_hdrs_set_own(struct http_hdrs *h, const char *name, size_t nlen, const char *value,
                      size_t vlen, bool copy)
{
    struct http_slice n = {name, nlen}, v = {value, vlen};
    if (copy) {
        char *p = arena_alloc(h->arena, vlen + 1);
        if (!p)
            return -RM_ENOMEM;
        memcpy(p, value, vlen);
        p[vlen] = '\0';
        v.p = p;
    }
    long i = http_hdrs_find(h, name, nlen, 0);
    if (i < 0)
        return http_hdrs_add_ref(h, n, v);
    h->v[i].value = v;
    for (long j = http_hdrs_find(h, name, nlen, (size_t)i + 1); j >= 0;
         j = http_hdrs_find(h, name, nlen, (size_t)j))
        http_hdrs_remove_at(h, (size_t)j);
    return 0;
}

void http_hdrs_remove_at(struct http_hdrs *h, size_t idx)
{
    if (idx >= h->n)
        return;
    memmove(&h->v[idx], &h->v[idx + 1], (h->n - idx - 1) * sizeof(h->v[0]));
    h->n--;
}

size_t http_hdrs_remove(struct http_hdrs *h, const char *name, size_t n)
{
    size_t w = 0, removed = 0;
    for (size_t r = 0; r < h->n; r++) {
        if (name_eq(&h->v[r].name, name, n)) {
            removed++;
            continue;
        }
        if (w != r)
            h->v[w] = h->v[r];
        w++;
    }
    h->n = (uint32_t)w;
    return removed;
}

/* Walks the comma-separated elements of |s| (RFC 9110 §5.6.1), calling |fn| with each
 * OWS-trimmed, non-empty element. Stops early when |fn| returns true; returns that. */
static bool list_each(const char *s, size_t n, bool (*fn)(const char *e, size_t en, void *arg),
                      void *arg)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        const char *e = s + i;
        size_t en = j - i;
        trim_ows(&e, &en);
        if (en > 0 && fn(e, en, arg))
            return true;
        i = j + 1;
    }
    return false;
}

struct tok_query {
    const char *tok;
    size_t n;
};

static bool tok_match(const char *e, size_t en, void *arg)
{
    const struct tok_query *q = arg;
    if (en != q->n)
        return false;
    for (size_t i = 0; i < en; i++)
        if (http_lower[(uint8_t)e[i]] != http_lower[(uint8_t)q->tok[i]])
            return false;
    return true;
}

bool http_hdrs_has_token(const struct http_hdrs *h, const char *name, size_t nlen, const char *tok,
                         size_t toklen)
{
    struct tok_query q = {tok, toklen};
    for (long i = http_hdrs_find(h, name, nlen, 0); i >= 0;
         i = http_hdrs_find(h, name, nlen, (size_t)i + 1))
        if (list_each(h->v[i].value.p, h->v[i].value.n, tok_match, &q))
            return true;
    return false;
}

struct strip_ctx {
    struct http_hdrs *h;
    bool keep_upgrade;
};

static bool strip_nominated(const char *e, size_t en, void *arg)
{
    struct strip_ctx *c = arg;
    struct tok_query up = {"upgrade", 7};
    if (c->keep_upgrade && tok_match(e, en, &up))
        return false;
    http_hdrs_remove(c->h, e, en);
    return false;
}

/* The fixed hop-by-hop fields (names are stored lowercase). */
static bool fixed_hop_by_hop(const struct http_slice *n, bool keep_upgrade)
{
    switch (n->n) {
    case 2:
        return !memcmp(n->p, "te", 2);
    case 7:
        return !keep_upgrade && !memcmp(n->p, "upgrade", 7);
    case 10:
        return !memcmp(n->p, "keep-alive", 10) || !memcmp(n->p, "connection", 10);
    case 16:
        return !memcmp(n->p, "proxy-connection", 16);
    case 17:
        return !memcmp(n->p, "transfer-encoding", 17);
    default:
        return false;
    }
}

int http_msg_strip_hop_by_hop(struct http_msg *msg, bool keep_upgrade)
{
    struct http_hdrs *h = &msg->headers;
    struct strip_ctx c = {h, keep_upgrade};
    bool te_trailers = false;

    /* One pass: fixed hop-by-hop fields dropped, Connection values kept aside (arena memory
     * is never reused, so the slices stay valid after the fields are gone); then every field
     * those values nominate is removed (RFC 9110 §7.6.1). */
    struct http_slice stack[8], *nominated = stack;
    size_t n_nominated = 0, cap = sizeof(stack) / sizeof(stack[0]);
    uint32_t w = 0;
    for (uint32_t r = 0; r < h->n; r++) {
        const struct http_field *f = &h->v[r];
        if (f->name.n == 2 && !memcmp(f->name.p, "te", 2)) {
            struct tok_query q = {"trailers", 8};
            te_trailers |= list_each(f->value.p, f->value.n, tok_match, &q);
        } else if (f->name.n == 10 && !memcmp(f->name.p, "connection", 10)) {
            if (n_nominated == cap) {
                /* More Connection fields than the stack holds: room for all of them. */
                struct http_slice *big = arena_alloc(h->arena, (size_t)h->n * sizeof(*big));
                if (!big)
                    return -RM_ENOMEM;
                memcpy(big, nominated, n_nominated * sizeof(*big));
                nominated = big;
                cap = h->n;
            }
            nominated[n_nominated++] = f->value;
        }
        if (fixed_hop_by_hop(&f->name, keep_upgrade))
            continue;
        if (w != r)
            h->v[w] = *f;
        w++;
    }
    h->n = w;
    for (size_t k = 0; k < n_nominated; k++)
        list_each(nominated[k].p, nominated[k].n, strip_nominated, &c);
    if (te_trailers) {
        struct http_slice n = {"te", 2}, v = {"trailers", 8};
        return http_hdrs_add_ref(h, n, v);
    }
    return 0;
}
