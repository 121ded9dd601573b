/* SPDX-License-Identifier: Apache-2.0 */
/* bench/origin/req.c — per-request behaviour for remora-origin: defaults from the flags,
 * overridden by x-origin-* request headers, and the /echo JSON document. Codec-neutral: both
 * h1.c and h2.c feed it. Runs on the connection's worker thread. */
#include "bench/origin/origin.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

void req_init(struct req *r)
{
    memset(r, 0, sizeof(*r));
    r->status = origin_opts.status;
    r->size = origin_opts.size;
    r->latency_ms = -1;
    r->fail = -1;
}

void req_fini(struct req *r)
{
    free(r->method);
    free(r->path);
    free(r->hdrs);
    memset(r, 0, sizeof(*r));
}

int req_set_line(struct req *r, const char *m, size_t ml, const char *p, size_t pl,
                 const char *version)
{
    snprintf(r->version, sizeof(r->version), "%s", version);
    r->head = ml == 4 && memcmp(m, "HEAD", 4) == 0;
    size_t plen = pl;
    const char *q = memchr(p, '?', pl);
    if (q)
        plen = (size_t)(q - p);
    r->echo = plen == 5 && memcmp(p, "/echo", 5) == 0;
    /* /status/NNN answers NNN: lets one run mix statuses by URL (weighted targets). */
    if (plen == 11 && memcmp(p, "/status/", 8) == 0 && p[8] >= '2' && p[8] <= '9' && p[9] >= '0' &&
        p[9] <= '9' && p[10] >= '0' && p[10] <= '9')
        r->status = (p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0');
    if (!r->echo)
        return 0;
    r->method = strndup(m, ml);
    r->path = strndup(p, pl);
    if (!r->method || !r->path)
        return -RM_ENOMEM;
    SHA256_Init(&r->sha);
    return 0;
}

static bool parse_u64(const char *v, size_t vl, uint64_t *out)
{
    uint64_t x = 0;
    if (vl == 0 || vl > 19)
        return false;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}

static bool parse_fraction(const char *v, size_t vl, double *out)
{
    char buf[32];
    char *end;
    if (vl == 0 || vl >= sizeof(buf))
        return false;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    errno = 0;
    double d = strtod(buf, &end);
    if (errno || *end || d < 0 || d > 1)
        return false;
    *out = d;
    return true;
}

/* True when the |nl| bytes at |n| are |lit|, ignoring case (header names and values). */
static bool eq_ci(const char *n, size_t nl, const char *lit)
{
    return strlen(lit) == nl && strncasecmp(n, lit, nl) == 0;
}

/* A point where x-origin-reset or x-origin-close cuts the response: after-headers, mid-body
 * (half the body), mid-body=N (N body bytes). Returns false for any other value. */
static bool parse_cut(struct req *r, const char *v, size_t vl)
{
    uint64_t u;
    if (eq_ci(v, vl, "after-headers")) {
        r->reset = RESET_AFTER_HEADERS;
    } else if (eq_ci(v, vl, "mid-body")) {
        r->reset = RESET_BODY;
        r->reset_after = UINT64_MAX; /* half the body, fixed in req_decide() */
    } else if (vl > 9 && strncasecmp(v, "mid-body=", 9) == 0 && parse_u64(v + 9, vl - 9, &u)) {
        r->reset = RESET_BODY;
        r->reset_after = u;
    } else {
        return false;
    }
    return true;
}

/* Applies an x-origin-* control header; malformed values are ignored (defaults stay). */
static void apply_control(struct req *r, const char *n, size_t nl, const char *v, size_t vl)
{
    uint64_t u;
    double d;

    if (eq_ci(n, nl, "x-origin-size")) {
        if (parse_u64(v, vl, &u))
            r->size = u;
    } else if (eq_ci(n, nl, "x-origin-status")) {
        if (parse_u64(v, vl, &u) && u >= 200 && u <= 999)
            r->status = (int)u;
    } else if (eq_ci(n, nl, "x-origin-latency-ms")) {
        if (parse_u64(v, vl, &u) && u <= 3600 * 1000)
            r->latency_ms = (int64_t)u;
    } else if (eq_ci(n, nl, "x-origin-fail")) {
        if (parse_fraction(v, vl, &d))
            r->fail = d;
    } else if (eq_ci(n, nl, "x-origin-reset")) {
        r->cut_fin = false;
        if (eq_ci(v, vl, "before-headers")) {
            r->reset = RESET_BEFORE_HEADERS;
        } else if (!parse_cut(r, v, vl) && parse_u64(v, vl, &u)) {
            r->reset = RESET_BODY;
            r->reset_after = u;
        }
    } else if (eq_ci(n, nl, "x-origin-close")) {
        /* A cut point: the response is cut short by a clean close (FIN; for HTTP/2 the
         * connection's FIN, without GOAWAY). Anything else but 0 or false: close after the
         * whole response. */
        if (parse_cut(r, v, vl))
            r->cut_fin = true;
        else
            r->close = !eq_ci(v, vl, "0") && !eq_ci(v, vl, "false");
    }
}

int req_add_header(struct req *r, const char *n, size_t nl, const char *v, size_t vl)
{
    if (nl > 9 && strncasecmp(n, "x-origin-", 9) == 0)
        apply_control(r, n, nl, v, vl);
    if (!r->echo)
        return 0;
    size_t need = r->hdrs_len + nl + vl + 2;
    if (need > r->hdrs_cap) {
        size_t cap = r->hdrs_cap ? r->hdrs_cap * 2 : 1024;
        while (cap < need)
            cap *= 2;
        char *p = realloc(r->hdrs, cap);
        if (!p)
            return -RM_ENOMEM;
        r->hdrs = p;
        r->hdrs_cap = cap;
    }
    char *d = r->hdrs + r->hdrs_len;
    for (size_t i = 0; i < nl; i++)
        d[i] = (char)tolower((unsigned char)n[i]);
    d[nl] = '\0';
    memcpy(d + nl + 1, v, vl);
    d[nl + 1 + vl] = '\0';
    r->hdrs_len = need;
    r->n_hdrs++;
    return 0;
}

void req_body(struct req *r, const void *p, size_t n)
{
    r->body_bytes += n;
    if (r->echo)
        SHA256_Update(&r->sha, p, n);
}

uint32_t req_decide(struct req *r, struct worker *w)
{
    double fail = r->fail >= 0 ? r->fail : origin_opts.fail_fraction;
    /* 53 random bits → uniform double in [0, 1) */
    if (fail > 0 && (double)(worker_rand(w) >> 11) * 0x1.0p-53 < fail)
        r->status = 503;
    if (r->reset == RESET_BODY && r->reset_after == UINT64_MAX)
        r->reset_after = r->size / 2;
    if (r->latency_ms >= 0)
        return (uint32_t)r->latency_ms;
    uint32_t lo = origin_opts.latency_ms, hi = origin_opts.latency_ms_max;
    if (hi > lo)
        return lo + (uint32_t)(worker_rand(w) % (uint64_t)(hi - lo + 1));
    return lo;
}

/* Appends |s| as JSON string contents (RFC 8259 §7), in quotes when |quoted|; bytes >= 0x80
 * are passed through. */
static void json_chars(struct evbuffer *out, const char *s, size_t n, bool quoted)
{
    static const char hex[] = "0123456789abcdef";
    char buf[512];
    size_t k = 0;

    if (quoted)
        buf[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (k + 8 > sizeof(buf)) {
            evbuffer_add(out, buf, k);
            k = 0;
        }
        if (ch == '"' || ch == '\\') {
            buf[k++] = '\\';
            buf[k++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            buf[k++] = '\\';
            buf[k++] = 'u';
            buf[k++] = '0';
            buf[k++] = '0';
            buf[k++] = hex[ch >> 4];
            buf[k++] = hex[ch & 15];
        } else {
            buf[k++] = (char)ch;
        }
    }
    if (quoted)
        buf[k++] = '"';
    evbuffer_add(out, buf, k);
}

static void json_str(struct evbuffer *out, const char *s, size_t n)
{
    json_chars(out, s, n, true);
}

static const char *hdr_next(const char *p)
{
    return p + strlen(p) + 1;
}

void req_echo_json(struct req *r, struct evbuffer *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    char mdhex[2 * SHA256_DIGEST_LENGTH + 1];
    const char *name = origin_opts.name;

    evbuffer_add(out, "{\"name\":", 8);
    json_str(out, name, strlen(name));
    evbuffer_add(out, ",\"method\":", 10);
    json_str(out, r->method ? r->method : "", r->method ? strlen(r->method) : 0);
    evbuffer_add(out, ",\"path\":", 8);
    json_str(out, r->path ? r->path : "", r->path ? strlen(r->path) : 0);
    evbuffer_add(out, ",\"version\":", 11);
    json_str(out, r->version, strlen(r->version));
    evbuffer_add(out, ",\"headers\":{", 12);
    /* Repeated fields are joined with ", " (RFC 9110 §5.3) so the object has unique keys. */
    bool first = true;
    const char *p = r->hdrs;
    for (unsigned i = 0; i < r->n_hdrs; i++) {
        const char *v = hdr_next(p), *next = hdr_next(v);
        bool seen = false;
        for (const char *q = r->hdrs; q < p; q = hdr_next(hdr_next(q)))
            if (strcmp(q, p) == 0) {
                seen = true;
                break;
            }
        if (!seen) {
            if (!first)
                evbuffer_add(out, ",", 1);
            first = false;
            json_str(out, p, strlen(p));
            evbuffer_add(out, ":\"", 2);
            bool vfirst = true;
            const char *q = p;
            for (unsigned j = i; j < r->n_hdrs; j++) {
                const char *qv = hdr_next(q);
                if (strcmp(q, p) == 0) {
                    if (!vfirst)
                        evbuffer_add(out, ", ", 2);
                    vfirst = false;
                    json_chars(out, qv, strlen(qv), false);
                }
                q = hdr_next(qv);
            }
            evbuffer_add(out, "\"", 1);
        }
        p = next;
    }
    SHA256_Final(md, &r->sha);
    SHA256_Init(&r->sha);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        mdhex[2 * i] = hex[md[i] >> 4];
        mdhex[2 * i + 1] = hex[md[i] & 15];
    }
    mdhex[2 * SHA256_DIGEST_LENGTH] = '\0';
    evbuffer_add_printf(out, "},\"body_bytes\":%llu,\"body_sha256\":\"%s\"}\n",
                        (unsigned long long)r->body_bytes, mdhex);
}

const char *req_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
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
    default:
        return "Status";
    }
}

bool req_status_has_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}
