/* SPDX-License-Identifier: Apache-2.0 */
/* bench/origin/h1.c — remora-origin's HTTP/1.1 server codec: a strict request parser (RFC 9112:
 * keep-alive, pipelining, Content-Length and chunked bodies, Expect: 100-continue) and the
 * response writer. Requests on a connection are answered strictly in order; while one waits
 * out its latency, later pipelined requests stay buffered (bounded by IN_MAX). */
#include "bench/origin/origin.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define CHUNK_LINE_MAX 4096 /* chunk-size line or trailer line */

void h1_start(struct conn *c)
{
    memset(&c->h1, 0, sizeof(c->h1));
    c->h1.st = H1_HEAD;
    req_init(&c->h1.req);
}

void h1_fini(struct conn *c)
{
    req_fini(&c->h1.req);
}

bool h1_has_more(const struct conn *c)
{
    return c->h1.resp_left > 0 || c->h1.out_stalled;
}

static bool is_tchar(unsigned char ch)
{
    /* RFC 9110 §5.6.2 token characters */
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr(extra, ch));
}

static bool token_in_list(const char *v, size_t vl, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < vl) {
        while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vl && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return true;
    }
    return false;
}

static void end_of_response(struct conn *c)
{
    struct h1_sess *h = &c->h1;
    if (h->reset_after_resp && h->cut_fin)
        c->flags |= CONN_F_CLOSE_AFTER_FLUSH; /* cut short by a FIN: content-length unmet */
    else if (h->reset_after_resp)
        c->flags |= CONN_F_RESET_AFTER_FLUSH;
    else if (h->close_after_resp)
        c->flags |= CONN_F_CLOSE_AFTER_FLUSH;
    h->reset_after_resp = h->close_after_resp = h->cut_fin = false;
}

static void queue_body(struct conn *c)
{
    struct h1_sess *h = &c->h1;
    while (h->resp_left > 0 && evbuffer_get_length(c->out) < OUT_HIGH) {
        size_t n = h->resp_left < BODY_CHUNK ? (size_t)h->resp_left : BODY_CHUNK;
        if (n < 4096)
            evbuffer_add(c->out, origin_body_block, n);
        else
            evbuffer_add_reference(c->out, origin_body_block, n, NULL, NULL);
        h->resp_left -= n;
    }
    if (h->resp_left == 0)
        end_of_response(c);
}

static void respond_error(struct conn *c, int status)
{
    evbuffer_add_printf(c->out,
                        "HTTP/1.1 %d %s\r\nx-origin-name: %s\r\ncontent-length: 0\r\n"
                        "connection: close\r\n\r\n",
                        status, req_reason(status), origin_opts.name);
    c->flags |= CONN_F_CLOSE_AFTER_FLUSH;
}

/* Writes the response for the completed request and resets for the next one. */
static void respond(struct conn *c)
{
    struct h1_sess *h = &c->h1;
    struct req *r = &h->req;
    struct evbuffer *json = NULL;
    uint64_t clen = 0;
    bool nobody = req_status_has_no_body(r->status);

    c->w->requests++;
    if (r->reset == RESET_BEFORE_HEADERS) {
        c->flags |= CONN_F_RESET_AFTER_FLUSH;
        goto next;
    }
    if (r->echo && !nobody) {
        json = evbuffer_new();
        if (!json) {
            respond_error(c, 500);
            goto next;
        }
        req_echo_json(r, json);
        clen = evbuffer_get_length(json);
    } else if (!nobody) {
        clen = r->size;
    }
    char head[512];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nx-origin-name: %s\r\n", r->status,
                     req_reason(r->status), origin_opts.name);
    evbuffer_add(c->out, head, (size_t)n);
    if (!nobody)
        evbuffer_add_printf(c->out, "content-length: %llu\r\n", (unsigned long long)clen);
    if (json)
        evbuffer_add(c->out, "content-type: application/json\r\n", 32);
    if (r->close)
        evbuffer_add(c->out, "connection: close\r\n", 19);
    evbuffer_add(c->out, "\r\n", 2);

    h->close_after_resp = r->close;
    h->cut_fin = r->cut_fin;
    if (r->reset == RESET_AFTER_HEADERS) {
        h->reset_after_resp = true;
        clen = 0;
    } else if (r->reset == RESET_BODY) {
        h->reset_after_resp = true;
        if (clen > r->reset_after)
            clen = r->reset_after;
    }
    if (r->head || nobody)
        clen = 0;
    if (json) {
        evbuffer_remove_buffer(json, c->out, (size_t)clen);
        evbuffer_free(json);
        clen = 0;
    }
    h->resp_left = clen;
    queue_body(c);
next:
    req_fini(r);
    req_init(r);
    h->st = H1_HEAD;
}

/* Completed request: answer now or after its latency. */
static void finish_request(struct conn *c)
{
    struct h1_sess *h = &c->h1;
    uint32_t ms = req_decide(&h->req, c->w);
    if (ms > 0) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        h->st = H1_WAIT;
        evtimer_add(c->ev_timer, &tv);
        return;
    }
    respond(c);
}

void h1_on_timer(struct conn *c)
{
    if (c->h1.st == H1_WAIT)
        respond(c);
}

/* Parses one request head. Returns 1 when parsed (and consumed), 0 when more bytes are needed,
 * or -status for a request to refuse. */
static int parse_head(struct conn *c)
{
    struct h1_sess *h = &c->h1;
    struct req *r = &h->req;
    char *p = lbuf_head(&c->in);
    size_t n = lbuf_used(&c->in);

    /* RFC 9112 §2.2: ignore at least one empty line before the request-line. */
    while (n >= 2 && p[0] == '\r' && p[1] == '\n') {
        lbuf_consume(&c->in, 2);
        p += 2;
        n -= 2;
        h->scan = 0;
    }
    size_t from = h->scan > 3 ? h->scan - 3 : 0;
    char *end = from < n ? memmem(p + from, n - from, "\r\n\r\n", 4) : NULL;
    if (!end) {
        h->scan = n;
        return n > HEAD_MAX ? -431 : 0;
    }
    size_t hlen = (size_t)(end - p) + 4;
    h->scan = 0;
    if (hlen > HEAD_MAX)
        return -431;

    /* request-line = method SP request-target SP HTTP-version CRLF */
    char *le = memchr(p, '\r', hlen);
    if (le[1] != '\n')
        return -400;
    char *sp1 = memchr(p, ' ', (size_t)(le - p));
    if (!sp1 || sp1 == p)
        return -400;
    for (char *q = p; q < sp1; q++)
        if (!is_tchar((unsigned char)*q))
            return -400;
    char *tgt = sp1 + 1;
    char *sp2 = memchr(tgt, ' ', (size_t)(le - tgt));
    if (!sp2 || sp2 == tgt || le - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return -400;
    for (char *q = tgt; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return -400;
    int minor = sp2[8] - '0';
    if (minor != 0 && minor != 1)
        return -505;
    if (req_set_line(r, p, (size_t)(sp1 - p), tgt, (size_t)(sp2 - tgt),
                     minor ? "HTTP/1.1" : "HTTP/1.0") < 0)
        return -500;

    bool has_cl = false, has_te = false, chunked = false, close = false, ka = false;
    bool expect = false;
    uint64_t cl = 0;
    unsigned count = 0;
    char *line = le + 2;
    char *head_end = p + hlen - 2; /* the final CRLF */
    while (line < head_end) {
        char *eol = memchr(line, '\r', (size_t)(head_end - line) + 1);
        if (!eol || eol[1] != '\n')
            return -400;
        if (++count > MAX_HEADERS)
            return -431;
        if (*line == ' ' || *line == '\t')
            return -400; /* obs-fold (RFC 9112 §5.2) */
        char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon || colon == line)
            return -400;
        for (char *q = line; q < colon; q++)
            if (!is_tchar((unsigned char)*q))
                return -400; /* includes whitespace before the colon (§5.1) */
        char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (char *q = v; q < ve; q++)
            if (*q == '\n' || *q == '\0' || *q == '\r')
                return -400;
        size_t nl = (size_t)(colon - line), vl = (size_t)(ve - v);
        if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
            uint64_t x = 0;
            if (vl == 0 || vl > 18)
                return -400;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -400;
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (has_cl && x != cl)
                return -400; /* conflicting lengths (RFC 9112 §6.3 item 5) */
            has_cl = true;
            cl = x;
        } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            has_te = true;
            /* Only "chunked" alone is supported; the final coding must be chunked. */
            chunked = vl == 7 && strncasecmp(v, "chunked", 7) == 0;
            if (!chunked)
                return -501;
        } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
            close |= token_in_list(v, vl, "close");
            ka |= token_in_list(v, vl, "keep-alive");
        } else if (nl == 6 && strncasecmp(line, "expect", 6) == 0) {
            expect = vl == 12 && strncasecmp(v, "100-continue", 12) == 0;
        }
        if (req_add_header(r, line, nl, v, vl) < 0)
            return -500;
        line = eol + 2;
    }
    if (has_te && has_cl)
        return -400; /* request smuggling guard (RFC 9112 §6.3 item 3) */
    h->keep_alive = minor == 1 ? !close : ka && !close;
    if (!h->keep_alive)
        r->close = true;
    lbuf_consume(&c->in, hlen);

    if (expect && minor == 1 && (chunked || cl > 0))
        evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    if (chunked) {
        h->st = H1_CHUNK_SIZE;
    } else if (cl > 0) {
        h->st = H1_BODY_CL;
        h->body_left = cl;
    } else {
        finish_request(c);
    }
    return 1;
}

/* Finds CRLF within the first CHUNK_LINE_MAX buffered bytes. Returns the line length, -1 when
 * more bytes are needed, -2 when the line is too long. */
static long find_line(struct conn *c)
{
    char *p = lbuf_head(&c->in);
    size_t n = lbuf_used(&c->in);
    size_t lim = n < CHUNK_LINE_MAX ? n : CHUNK_LINE_MAX;
    char *e = lim ? memmem(p, lim, "\r\n", 2) : NULL;
    if (e)
        return (long)(e - p);
    return n >= CHUNK_LINE_MAX ? -2 : -1;
}

/* Consumes body bytes into the request. Returns true when the current run is complete. */
static bool take_body(struct conn *c)
{
    struct h1_sess *h = &c->h1;
    size_t n = lbuf_used(&c->in);
    if (n > h->body_left)
        n = (size_t)h->body_left;
    req_body(&h->req, lbuf_head(&c->in), n);
    lbuf_consume(&c->in, n);
    h->body_left -= n;
    return h->body_left == 0;
}

/* One parsing step. Returns 1 to continue, 0 when more input is needed, -1 to stop. */
static int step(struct conn *c)
{
    struct h1_sess *h = &c->h1;
    long ll;
    int rc;

    switch (h->st) {
    case H1_WAIT:
        return -1;
    case H1_HEAD:
        rc = parse_head(c);
        if (rc < 0) {
            respond_error(c, -rc);
            return -1;
        }
        return rc;
    case H1_BODY_CL:
        if (!take_body(c))
            return 0;
        finish_request(c);
        return 1;
    case H1_CHUNK_SIZE: {
        ll = find_line(c);
        if (ll == -1)
            return 0;
        char *p = lbuf_head(&c->in);
        uint64_t sz = 0;
        long i = 0;
        for (; i < ll; i++) {
            int d = p[i] >= '0' && p[i] <= '9'   ? p[i] - '0'
                    : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
                    : p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10
                                                 : -1;
            if (d < 0)
                break;
            if (sz >> 56)
                break; /* overflow: reject below */
            sz = sz * 16 + (uint64_t)d;
        }
        /* chunk-size [ chunk-ext ] CRLF; extensions (";...") are ignored. */
        if (ll < 0 || i == 0 || (i < ll && p[i] != ';' && p[i] != ' ' && p[i] != '\t')) {
            respond_error(c, 400);
            return -1;
        }
        lbuf_consume(&c->in, (size_t)ll + 2);
        h->body_left = sz;
        h->st = sz ? H1_CHUNK_DATA : H1_TRAILER;
        return 1;
    }
    case H1_CHUNK_DATA:
        if (!take_body(c))
            return 0;
        h->st = H1_CHUNK_CRLF;
        return 1;
    case H1_CHUNK_CRLF:
        if (lbuf_used(&c->in) < 2)
            return 0;
        if (memcmp(lbuf_head(&c->in), "\r\n", 2) != 0) {
            respond_error(c, 400);
            return -1;
        }
        lbuf_consume(&c->in, 2);
        h->st = H1_CHUNK_SIZE;
        return 1;
    case H1_TRAILER:
        ll = find_line(c);
        if (ll == -1)
            return 0;
        if (ll < 0) {
            respond_error(c, 431);
            return -1;
        }
        lbuf_consume(&c->in, (size_t)ll + 2);
        if (ll == 0)
            finish_request(c);
        return 1;
    }
    return -1;
}

void h1_pump(struct conn *c)
{
    struct h1_sess *h = &c->h1;
    h->out_stalled = false;
    for (;;) {
        if (c->flags & (CONN_F_CLOSE_AFTER_FLUSH | CONN_F_RESET_AFTER_FLUSH))
            return;
        if (evbuffer_get_length(c->out) >= OUT_HIGH) {
            h->out_stalled = h->resp_left > 0 || lbuf_used(&c->in) > 0;
            return;
        }
        if (h->resp_left > 0) {
            queue_body(c);
            continue;
        }
        int rc = step(c);
        if (rc < 0)
            return;
        if (rc == 0) {
            if (c->flags & CONN_F_PEER_EOF) {
                /* The peer half-closed: answer what is complete, then close. */
                c->flags |= CONN_F_CLOSE_AFTER_FLUSH;
            }
            return;
        }
    }
}
