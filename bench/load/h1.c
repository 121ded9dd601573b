/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/h1.c — remora-load's HTTP/1.1 client codec: writes the pre-built request and parses
 * responses in order (RFC 9112: status line, Content-Length, chunked, read-until-close, interim
 * 1xx, no body for HEAD/204/304). The parser is strict where it matters for accounting: a
 * response is complete only when its whole body has arrived. */
#include "bench/load/load.h"

#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#define LINE_MAX_LEN 4096 /* chunk-size and trailer lines */

void h1_send(struct lconn *c, struct lreq *rq)
{
    const struct target *t = &lopt.targets[rq->target];
    if (t->h1_len > 4096)
        evbuffer_add_reference(c->out, t->h1_req, t->h1_len, NULL, NULL);
    else
        evbuffer_add(c->out, t->h1_req, t->h1_len);
}

static void complete(struct lconn *c)
{
    struct lreq *rq = &c->q[c->q_head];
    c->q_head = (c->q_head + 1) % c->depth;
    c->rst = H1R_HEAD;
    if (lopt.new_conn)
        c->close_after = true;
    lconn_done(c, rq, c->status, now_ns());
}

static bool has_token(const char *v, size_t vl, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= vl; i++)
        if (strncasecmp(v + i, tok, tl) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
            (i + tl == vl || v[i + tl] == ' ' || v[i + tl] == ',' || v[i + tl] == '\t'))
            return true;
    return false;
}

/* Parses a response head. Returns 1 when consumed, 0 when more bytes are needed, -1 on error. */
static int parse_head(struct lconn *c)
{
    char *p = lbuf_head(&c->in);
    size_t n = lbuf_used(&c->in);
    size_t from = c->scan > 3 ? c->scan - 3 : 0;
    char *end = from < n ? memmem(p + from, n - from, "\r\n\r\n", 4) : NULL;
    if (!end) {
        c->scan = n;
        return n > LOAD_HEAD_MAX ? -1 : 0;
    }
    size_t hlen = (size_t)(end - p) + 4;
    c->scan = 0;
    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] */
    if (hlen < 14 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || p[9] < '1' || p[9] > '9' ||
        p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' || (p[12] != ' ' && p[12] != '\r'))
        return -1;
    int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    bool has_cl = false, chunked = false, close = p[7] == '0';
    uint64_t cl = 0;
    char *line = (char *)memchr(p, '\n', hlen) + 1;
    char *head_end = p + hlen - 2;
    while (line < head_end) {
        char *eol = memchr(line, '\n', (size_t)(head_end - line) + 1);
        if (!eol || eol[-1] != '\r')
            return -1;
        char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon)
            return -1;
        size_t nl = (size_t)(colon - line);
        char *v = colon + 1, *ve = eol - 1;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
            uint64_t x = 0;
            if (vl == 0 || vl > 18)
                return -1;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -1;
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (has_cl && x != cl)
                return -1;
            has_cl = true;
            cl = x;
        } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            chunked = has_token(v, vl, "chunked");
        } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
            if (has_token(v, vl, "close"))
                close = true;
            else if (has_token(v, vl, "keep-alive"))
                close = false;
        }
        line = eol + 1;
    }
    lbuf_consume(&c->in, hlen);
    if (status < 200 && status != 101)
        return 1; /* interim response; the final one follows */
    c->status = status;
    if (close)
        c->close_after = true;
    bool head = strcmp(lopt.method, "HEAD") == 0;
    if (head || status == 204 || status == 304 || (status >= 100 && status < 200)) {
        complete(c);
    } else if (chunked) { /* RFC 9112 §6.3: chunked wins over Content-Length */
        c->rst = H1R_CHUNK_SIZE;
    } else if (has_cl) {
        c->left = cl;
        c->rst = H1R_BODY_CL;
        if (cl == 0)
            complete(c);
    } else {
        c->rst = H1R_BODY_EOF;
        c->close_after = true;
    }
    return 1;
}

/* Length of the CRLF-terminated line at the head, -1 if incomplete, -2 if too long. */
static long line_len(struct lconn *c)
{
    char *p = lbuf_head(&c->in);
    size_t n = lbuf_used(&c->in);
    size_t lim = n < LINE_MAX_LEN ? n : LINE_MAX_LEN;
    char *e = lim ? memmem(p, lim, "\r\n", 2) : NULL;
    if (e)
        return (long)(e - p);
    return n >= LINE_MAX_LEN ? -2 : -1;
}

int h1_input(struct lconn *c)
{
    for (;;) {
        size_t n = lbuf_used(&c->in);
        long ll;
        switch (c->rst) {
        case H1R_HEAD: {
            if (n == 0)
                return 0;
            if (c->inflight == 0 || c->close_after)
                return c->close_after ? 0 : -1; /* bytes nobody asked for */
            int rc = parse_head(c);
            if (rc <= 0)
                return rc;
            break;
        }
        case H1R_BODY_CL: {
            size_t take = n < c->left ? n : (size_t)c->left;
            lbuf_consume(&c->in, take);
            c->left -= take;
            if (c->left > 0)
                return 0;
            complete(c);
            break;
        }
        case H1R_CHUNK_SIZE: {
            ll = line_len(c);
            if (ll == -1)
                return 0;
            if (ll < 0)
                return -1;
            char *p = lbuf_head(&c->in);
            uint64_t sz = 0;
            long i = 0;
            for (; i < ll; i++) {
                char ch = p[i];
                int d = ch >= '0' && ch <= '9'   ? ch - '0'
                        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                                 : -1;
                if (d < 0 || (sz >> 56))
                    break;
                sz = sz * 16 + (uint64_t)d;
            }
            if (i == 0 || (i < ll && p[i] != ';' && p[i] != ' ' && p[i] != '\t'))
                return -1;
            lbuf_consume(&c->in, (size_t)ll + 2);
            c->left = sz;
            c->rst = sz ? H1R_CHUNK_DATA : H1R_TRAILER;
            break;
        }
        case H1R_CHUNK_DATA: {
            size_t take = n < c->left ? n : (size_t)c->left;
            lbuf_consume(&c->in, take);
            c->left -= take;
            if (c->left > 0)
                return 0;
            c->rst = H1R_CHUNK_CRLF;
            break;
        }
        case H1R_CHUNK_CRLF:
            if (n < 2)
                return 0;
            if (memcmp(lbuf_head(&c->in), "\r\n", 2) != 0)
                return -1;
            lbuf_consume(&c->in, 2);
            c->rst = H1R_CHUNK_SIZE;
            break;
        case H1R_TRAILER:
            ll = line_len(c);
            if (ll == -1)
                return 0;
            if (ll < 0)
                return -1;
            lbuf_consume(&c->in, (size_t)ll + 2);
            if (ll == 0)
                complete(c);
            break;
        case H1R_BODY_EOF:
            lbuf_consume(&c->in, n);
            return 0;
        }
    }
}

bool h1_on_eof(struct lconn *c)
{
    if (c->rst == H1R_BODY_EOF && c->inflight > 0) {
        complete(c);
        return true;
    }
    return false;
}
