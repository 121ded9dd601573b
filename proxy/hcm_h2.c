/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/hcm_h2.c — the connection manager's downstream HTTP/2 codec, on nghttp2's server
 * session. Each request stream becomes a struct hstream with the same codec-neutral request
 * (http_msg) the HTTP/1.1 parser makes, so routing, the router and upstream HTTP/1.1 stay
 * as they are.
 *
 * Shape:
 * - Input: every byte of c->in goes to nghttp2_session_mem_recv(); its callbacks build the
 *   request heads, move DATA into the stream's body buffer and close streams.
 * - Output: nghttp2 writes frames into c->out through the send callbacks. A response body
 *   waits in the stream's h2_out buffer; DATA frames take it from there without a copy
 *   (NGHTTP2_DATA_FLAG_NO_COPY), one frame header in front of moved chains.
 * - nghttp2_session_send() runs only from the loop (resume_ev), after a read, or when
 *   c->out drained: never inside the router's or nghttp2's own callbacks. A response
 *   finishing on several streams in one loop pass leaves in one write.
 * - Flow control: request DATA is given back as window (nghttp2_session_consume) unless the
 *   stream is paused (the upstream is not there yet or is slow); then the window stays
 *   shut until hcm_pause_request(false). Response bodies pause the upstream when a
 *   stream's h2_out or c->out is over the buffer limit.
 * - A stream ends when nghttp2 closes it (on_stream_close): both ends done, or reset.
 * Worker thread only. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/arena.h"
#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/evmem.h"
#include "proxy/hcm.h"
#include "proxy/log.h"
#include "proxy/response_flags.h"
#include "proxy/stats.h"
#include "proxy/strbuf.h"

#define H2S_PAUSED 0x01u    /* request DATA is not given back as window */
#define H2S_EOF 0x02u       /* the response ends once h2_out is sent */
#define H2S_DEFERRED 0x04u  /* the data source waits for body bytes (NGHTTP2_ERR_DEFERRED) */
#define H2S_SUBMITTED 0x08u /* the response head is submitted */
#define H2S_OVERFLOW 0x10u  /* request headers over the limits: 431 at the end of the head */
#define H2S_FULL 0x20u      /* h2_out is over the buffer limit: the upstream was paused */
#define H2S_CL 0x40u        /* the request carries content-length */
#define H2S_BAD 0x80u       /* a request header refused (underscore): 400 */

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(PREFACE) - 1)

bool h2d_is_preface(const char *p, size_t n, bool *more)
{
    size_t k = n < PREFACE_LEN ? n : PREFACE_LEN;
    *more = false;
    if (memcmp(p, PREFACE, k) != 0)
        return false;
    if (n < PREFACE_LEN) {
        *more = true;
        return false;
    }
    return true;
}

static struct hstream *stream_of(struct hcm_conn *hc, int32_t id)
{
    struct hstream *s = nghttp2_session_get_stream_user_data(hc->h2, id);
    return s && !(s->flags & HS_DONE) ? s : NULL;
}

static void schedule(struct hcm_conn *hc)
{
    if (hc->h2_send_pending || hc->closed)
        return;
    hc->h2_send_pending = true;
    event_active(&hc->resume_ev, EV_READ, 0);
}

/* ---- output ------------------------------------------------------------------------------- */

static ssize_t cb_send(nghttp2_session *sess, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct hcm_conn *hc = ud;
    (void)sess;
    (void)flags;
    if (conn_is_above_high(hc->c))
        return NGHTTP2_ERR_WOULDBLOCK; /* on_write_low sends the rest */
    if (evbuffer_add(hc->c->out, data, len) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

/* Bodies up to this size are copied behind the frame header (one contiguous send) rather
 * than moved by chain, as the HTTP/1.1 path does. */
#define SMALL_DATA_COPY 2048u

static int cb_send_data(nghttp2_session *sess, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *ud)
{
    struct hcm_conn *hc = ud;
    struct hstream *s = src->ptr;
    struct evbuffer *out = hc->c->out;
    (void)sess;
    if (conn_is_above_high(hc->c))
        return NGHTTP2_ERR_WOULDBLOCK;
    if (evbuffer_add(out, framehd, 9) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (frame->data.padlen > 0) /* never asked for (no select_padding callback) */
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (length) {
        struct evbuffer_iovec seg;
        if (length <= SMALL_DATA_COPY && evbuffer_peek(s->h2_out, -1, NULL, &seg, 1) >= 1 &&
            seg.iov_len >= length) {
            evbuffer_add(out, seg.iov_base, length);
            evbuffer_drain(s->h2_out, length);
        } else {
            evbuffer_remove_buffer(s->h2_out, out, length);
        }
    }
    return 0;
}

static ssize_t cb_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t length,
                       uint32_t *flags, nghttp2_data_source *src, void *ud);

/* Builds the HEADERS of a response (|status| > 0) or of trailers (|status| == 0). Names are
 * lowercase already; nghttp2 copies what it needs. */
static int build_nv(struct hstream *s, const struct http_hdrs *h, int status, bool has_cl,
                    uint64_t cl, nghttp2_nv **out, size_t *n_out)
{
    nghttp2_nv *nv = arena_alloc(&s->arena, (h->n + 2) * sizeof(*nv));
    if (!nv)
        return -RM_ENOMEM;
    size_t n = 0;
    if (status) {
        char *st = arena_alloc(&s->arena, 20);
        if (!st || status < 100 || status > 999)
            return -RM_ENOMEM;
        rm_u64_dec(st, (uint64_t)status);
        nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NONE};
    }
    for (uint32_t i = 0; i < h->n; i++) {
        const struct http_field *f = &h->v[i];
        if (f->name.n == 14 && memcmp(f->name.p, "content-length", 14) == 0)
            continue; /* written below from the framing */
        nv[n++] = (nghttp2_nv){(uint8_t *)f->name.p, (uint8_t *)f->value.p, f->name.n, f->value.n,
                               NGHTTP2_NV_FLAG_NONE};
    }
    if (has_cl) {
        char *v = arena_alloc(&s->arena, 20);
        if (!v)
            return -RM_ENOMEM;
        size_t k = rm_u64_dec(v, cl);
        nv[n++] =
            (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)v, 14, k, NGHTTP2_NV_FLAG_NONE};
    }
    *out = nv;
    *n_out = n;
    return 0;
}

static ssize_t cb_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t length,
                       uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct hstream *s = src->ptr;
    (void)buf;
    (void)ud;
    size_t avail = evbuffer_get_length(s->h2_out);
    size_t n = avail < length ? avail : length;
    if (n == 0 && !(s->h2_flags & H2S_EOF)) {
        s->h2_flags |= H2S_DEFERRED;
        return NGHTTP2_ERR_DEFERRED;
    }
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == avail && (s->h2_flags & H2S_EOF)) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->resp.trailers.n) {
            nghttp2_nv *nv;
            size_t nn;
            if (build_nv(s, &s->resp.trailers, 0, false, 0, &nv, &nn) == 0 &&
                nghttp2_submit_trailer(sess, id, nv, nn) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
    }
    return (ssize_t)n;
}

int h2d_submit_response(struct hstream *s, uint64_t content_length, bool has_length)
{
    struct hcm_conn *hc = s->hc;
    if (!s->h2_out && !(s->h2_out = evbuffer_new()))
        return -RM_ENOMEM;
    int st = s->resp.status;
    bool cl = has_length && !(st == 204 || st == 304 || st < 200);
    nghttp2_nv *nv;
    size_t n;
    int rc = build_nv(s, &s->resp.headers, st, cl, content_length, &nv, &n);
    if (rc < 0)
        return rc;
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = cb_read};
    if (nghttp2_submit_response(hc->h2, s->h2_id, nv, n, &prd) != 0)
        return -RM_EPROTO;
    s->h2_flags |= H2S_SUBMITTED;
    schedule(hc);
    return 0;
}

static void resume_data(struct hstream *s)
{
    if (s->h2_flags & H2S_DEFERRED) {
        s->h2_flags &= ~H2S_DEFERRED;
        nghttp2_session_resume_data(s->hc->h2, s->h2_id);
    }
    schedule(s->hc);
}

void h2d_send_body(struct hstream *s, struct evbuffer *data, size_t n)
{
    /* A small body is copied: moving its chain would keep the upstream read chain (128 KiB,
     * the read reservation) alive until the DATA frame leaves, one per stream in flight,
     * each then a fresh malloc instead of a reused block. */
    struct evbuffer_iovec seg;
    if (n <= SMALL_DATA_COPY && evbuffer_peek(data, -1, NULL, &seg, 1) >= 1 && seg.iov_len >= n &&
        evbuffer_add(s->h2_out, seg.iov_base, n) == 0)
        evbuffer_drain(data, n);
    else
        evbuffer_remove_buffer(data, s->h2_out, n);
    if (evbuffer_get_length(s->h2_out) > s->hc->c->limit)
        s->h2_flags |= H2S_FULL;
    resume_data(s);
}

void h2d_response_done(struct hstream *s)
{
    s->h2_flags |= H2S_EOF;
    resume_data(s);
}

void h2d_reset_stream(struct hstream *s, uint32_t error_code)
{
    nghttp2_submit_rst_stream(s->hc->h2, NGHTTP2_FLAG_NONE, s->h2_id, error_code);
    schedule(s->hc);
}

void h2d_send_continue(struct hstream *s)
{
    nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE};
    nghttp2_submit_headers(s->hc->h2, NGHTTP2_FLAG_NONE, s->h2_id, NULL, &nv, 1, NULL);
    schedule(s->hc);
}

bool h2d_stream_full(const struct hstream *s)
{
    return (s->h2_flags & H2S_FULL) || conn_is_above_high(s->hc->c);
}

void h2d_pause(struct hstream *s, bool pause)
{
    if (pause) {
        s->h2_flags |= H2S_PAUSED;
        return;
    }
    if (!(s->h2_flags & H2S_PAUSED))
        return;
    s->h2_flags &= ~H2S_PAUSED;
    if (s->h2_unconsumed) {
        nghttp2_session_consume(s->hc->h2, s->h2_id, s->h2_unconsumed);
        s->h2_unconsumed = 0;
        schedule(s->hc);
    }
}

bool h2d_stream_paused(const struct hstream *s)
{
    return (s->h2_flags & H2S_PAUSED) != 0;
}

void h2d_goaway(struct hcm_conn *hc)
{
    if (hc->h2_goaway || hc->closed)
        return;
    hc->h2_goaway = true;
    nghttp2_submit_goaway(hc->h2, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(hc->h2), NGHTTP2_NO_ERROR, NULL,
                          0);
    schedule(hc);
}

/* Streams that waited for the downstream to drain: the router reads its upstreams again. */
static void notify_drained(struct hcm_conn *hc, bool all)
{
    uint32_t limit = hc->c->limit;
    struct list_head *pos, *tmp;
    list_for_each_safe(pos, tmp, &hc->h2_streams)
    {
        struct hstream *s = list_entry(pos, struct hstream, h2_node);
        if (s->flags & HS_CLOSING)
            continue;
        bool was_full = (s->h2_flags & H2S_FULL) != 0;
        if (was_full && evbuffer_get_length(s->h2_out) <= limit / 2)
            s->h2_flags &= ~H2S_FULL;
        else if (was_full || !all)
            continue;
        if (!(s->h2_flags & H2S_FULL))
            router_on_downstream_drained(s);
    }
}

/* Sends what nghttp2 has queued into c->out and writes it. Ends the connection when the
 * session is over (GOAWAY both ways and no stream left). */
static void pump(struct hcm_conn *hc)
{
    if (hc->closed || hc->in_parse)
        return;
    hc->in_parse = true;
    int rv = nghttp2_session_send(hc->h2);
    hc->in_parse = false;
    if (hc->closed) {
        hcm_conn_release(hc);
        return;
    }
    if (rv != 0) {
        log_debug(LC_CONNECTION, "[C%llu] http2 send failed: %s", (unsigned long long)hc->c->id,
                  nghttp2_strerror(rv));
        hcm_conn_done(hc, true);
        return;
    }
    conn_flush(hc->c);
    notify_drained(hc, false);
    if (!hc->closed && !nghttp2_session_want_read(hc->h2) && !nghttp2_session_want_write(hc->h2))
        hcm_conn_done(hc, false);
}

void h2d_run(struct hcm_conn *hc)
{
    hc->h2_send_pending = false;
    pump(hc);
}

void h2d_schedule(struct hcm_conn *hc)
{
    schedule(hc);
}

void h2d_on_write_low(struct hcm_conn *hc)
{
    pump(hc);
    if (!hc->closed)
        notify_drained(hc, true);
}

/* ---- input -------------------------------------------------------------------------------- */

static int cb_begin_headers(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
    struct hcm_conn *hc = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
        hc->closed)
        return 0;
    struct hstream *s = hcm_stream_new(hc);
    if (!s)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
    s->h2_id = frame->hd.stream_id;
    s->req.version = HTTP_VERSION_2;
    list_add_tail(&hc->h2_streams, &s->h2_node);
    hc->n_h2_streams++;
    nghttp2_session_set_stream_user_data(sess, s->h2_id, s);
    return 0;
}

static int add_field(struct hstream *s, struct http_hdrs *h, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen)
{
    char *copy = arena_alloc(&s->arena, nlen + vlen + 2);
    if (!copy)
        return -RM_ENOMEM;
    memcpy(copy, name, nlen);
    copy[nlen] = '\0';
    memcpy(copy + nlen + 1, value, vlen);
    copy[nlen + 1 + vlen] = '\0';
    struct http_slice n = {copy, nlen}, v = {copy + nlen + 1, vlen};
    return http_hdrs_add_ref(h, n, v);
}

static int pseudo(struct hstream *s, const uint8_t *name, size_t nlen, const uint8_t *value,
                  size_t vlen)
{
    struct http_msg *m = &s->req;
    const char *v = (const char *)value;
    if (nlen == 7 && memcmp(name, ":method", 7) == 0)
        return http_msg_set_method(m, v, vlen);
    if (nlen == 7 && memcmp(name, ":scheme", 7) == 0)
        return http_msg_set_scheme(m, v, vlen);
    if (nlen == 10 && memcmp(name, ":authority", 10) == 0)
        return http_msg_set_authority(m, v, vlen);
    if (nlen == 5 && memcmp(name, ":path", 5) == 0)
        return http_msg_set_path(m, v, vlen);
    return 0; /* nghttp2 refuses any other pseudo-header */
}

static int cb_header(nghttp2_session *sess, const nghttp2_frame *frame, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    struct hcm_conn *hc = ud;
    (void)sess;
    (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct hstream *s = stream_of(hc, frame->hd.stream_id);
    if (!s || (s->flags & HS_CLOSING))
        return 0;
    /* Envoy's limits: header bytes (names + values) and the field count. */
    s->h2_hdr_bytes += (uint32_t)(nlen + vlen);
    s->h2_hdr_count++;
    if (s->h2_hdr_bytes > hc->cfg->max_request_headers_kb * 1024u ||
        s->h2_hdr_count > hc->cfg->max_headers_count)
        s->h2_flags |= H2S_OVERFLOW;
    if (s->h2_flags & (H2S_OVERFLOW | H2S_BAD))
        return 0;
    int rc = 0;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        /* Request trailers: kept for the log; HTTP/1.1 upstreams do not get them. */
        rc = add_field(s, &s->req.trailers, name, nlen, value, vlen);
    } else if (nlen && name[0] == ':') {
        rc = pseudo(s, name, nlen, value, vlen);
    } else if (nlen == 4 && memcmp(name, "host", 4) == 0) {
        /* HTTP/1's Host lives in |authority|; :authority wins when both are sent. */
        if (!s->req.authority.n)
            rc = http_msg_set_authority(&s->req, (const char *)value, vlen);
    } else if (nlen == 14 && memcmp(name, "content-length", 14) == 0) {
        /* nghttp2 checks it against the DATA it receives. */
        if (!http_parse_content_length((const char *)value, vlen, &s->req.content_length))
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        s->h2_flags |= H2S_CL;
    } else if (hc->cfg->headers_with_underscores_action != UNDERSCORES_ALLOW &&
               memchr(name, '_', nlen)) {
        if (hc->cfg->headers_with_underscores_action == UNDERSCORES_REJECT_REQUEST)
            s->h2_flags |= H2S_BAD;
    } else {
        rc = add_field(s, &s->req.headers, name, nlen, value, vlen);
    }
    return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

/* RFC 9113 §8.2.3: cookie crumbs are joined with "; " for an HTTP/1.1 upstream. */
static int join_cookies(struct hstream *s)
{
    struct http_hdrs *h = &s->req.headers;
    if (http_hdrs_count(h, "cookie", 6) < 2)
        return 0;
    size_t total = 0;
    for (long i = http_hdrs_find(h, "cookie", 6, 0); i >= 0;
         i = http_hdrs_find(h, "cookie", 6, (size_t)i + 1))
        total += h->v[i].value.n + 2;
    char *v = arena_alloc(&s->arena, total + 1);
    if (!v)
        return -RM_ENOMEM;
    size_t off = 0;
    for (long i = http_hdrs_find(h, "cookie", 6, 0); i >= 0;
         i = http_hdrs_find(h, "cookie", 6, (size_t)i + 1)) {
        if (off) {
            memcpy(v + off, "; ", 2);
            off += 2;
        }
        memcpy(v + off, h->v[i].value.p, h->v[i].value.n);
        off += h->v[i].value.n;
    }
    v[off] = '\0';
    long first = http_hdrs_find(h, "cookie", 6, 0);
    h->v[first].value = (struct http_slice){v, off};
    for (long i = http_hdrs_find(h, "cookie", 6, (size_t)first + 1); i >= 0;
         i = http_hdrs_find(h, "cookie", 6, (size_t)i)) /* i: the next one slides in */
        http_hdrs_remove_at(h, (size_t)i);
    return 0;
}

/* A request refused before routing: counted like any request, then answered. */
static void refuse(struct hstream *s, int status, uint32_t rf, const char *details)
{
    struct hcm_conn *hc = s->hc;
    hc->n_requests++;
    stats_inc(hc->rt->stats, HTTP_downstream_rq_total);
    stats_inc(hc->rt->stats, HTTP_downstream_rq_http2_total);
    hcm_local_reply(s, status, rf, details, NULL);
}

static void request_head(struct hstream *s, bool end)
{
    struct http_msg *req = &s->req;
    if (end) {
        req->body = HTTP_BODY_NONE;
        req->end_stream = true;
        hcm_stream_request_done(s);
    } else if (s->h2_flags & H2S_CL) {
        req->body = HTTP_BODY_LENGTH;
    } else {
        req->body = HTTP_BODY_CHUNKED; /* ends with END_STREAM */
    }
    if (s->h2_flags & H2S_OVERFLOW) {
        refuse(s, 431, RF_DOWNSTREAM_PROTOCOL_ERROR, "http2.too_many_headers");
        return;
    }
    if (s->h2_flags & H2S_BAD) {
        refuse(s, 400, RF_DOWNSTREAM_PROTOCOL_ERROR, "http2.unexpected_underscore");
        return;
    }
    if (req->method == HTTP_METHOD_CONNECT) {
        /* CONNECT over HTTP/2 (RFC 9113 §8.5) has no tunnel here yet: refused, not
         * half-served. */
        refuse(s, 501, RF_NONE, "http2.connect_not_supported");
        return;
    }
    if (!req->authority.n) {
        refuse(s, 400, RF_NONE, "missing_host_header");
        return;
    }
    if (join_cookies(s) < 0) {
        refuse(s, 500, RF_NONE, "out_of_memory");
        return;
    }
    const struct http_slice *ex = http_msg_get(req, "expect");
    if (ex && ex->n == 12 && strncasecmp(ex->p, "100-continue", 12) == 0)
        s->flags |= HS_EXPECT_100;
    hcm_stream_request_head(s);
}

static void request_end(struct hstream *s)
{
    if (s->flags & HS_REQ_DONE)
        return;
    hcm_stream_request_done(s);
    if (!(s->flags & HS_CLOSING))
        router_on_request_data(s, 0, true);
}

static int cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
    struct hcm_conn *hc = ud;
    (void)sess;
    if (hc->closed)
        return 0;
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    struct hstream *s;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        s = stream_of(hc, frame->hd.stream_id);
        if (!s)
            break;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            hcm_stream_touch(s);
            request_head(s, end);
        } else if (end) {
            request_end(s); /* trailers */
        }
        break;
    case NGHTTP2_DATA:
        if (end && (s = stream_of(hc, frame->hd.stream_id)))
            request_end(s);
        break;
    default:
        break;
    }
    return 0;
}

static int cb_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct hcm_conn *hc = ud;
    (void)flags;
    struct hstream *s = stream_of(hc, id);
    if (!s || (s->flags & (HS_CLOSING | HS_REQ_DONE))) {
        nghttp2_session_consume(sess, id, len); /* nobody reads it: the window reopens */
        return 0;
    }
    if (evbuffer_add(s->body, data, len) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    s->body_bytes += len;
    s->bytes_rx += len;
    hcm_stream_touch(s);
    if (s->h2_flags & H2S_PAUSED)
        s->h2_unconsumed += (uint32_t)len;
    else
        nghttp2_session_consume(sess, id, len);
    router_on_request_data(s, len, false);
    return 0;
}

static int cb_frame_send(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
    struct hcm_conn *hc = ud;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct hstream *s = stream_of(hc, frame->hd.stream_id);
    /* The response ended before the request: Envoy resets the rest with NO_ERROR. */
    if (s && !(s->flags & HS_REQ_DONE))
        nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

static int cb_stream_close(nghttp2_session *sess, int32_t id, uint32_t error_code, void *ud)
{
    struct hcm_conn *hc = ud;
    struct hstream *s = stream_of(hc, id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(sess, id, NULL);
    list_del(&s->h2_node);
    list_init(&s->h2_node);
    hc->n_h2_streams--;
    if (!(s->flags & (HS_RESP_DONE | HS_CLOSING))) {
        /* The client reset the stream before its response was done (Envoy: DR). */
        s->response_flags |= RF_DOWNSTREAM_REMOTE_RESET;
        stats_inc(hc->rt->stats, HTTP_downstream_rq_rx_reset);
        log_debug(LC_CONNECTION, "[C%llu][S%d] stream reset by the client (%s)",
                  (unsigned long long)hc->c->id, id, nghttp2_http2_strerror(error_code));
    }
    hcm_stream_closed(s);
    return 0;
}

static int cb_invalid_frame(nghttp2_session *sess, const nghttp2_frame *frame, int lib_error,
                            void *ud)
{
    struct hcm_conn *hc = ud;
    (void)sess;
    if (lib_error != NGHTTP2_ERR_HTTP_HEADER && lib_error != NGHTTP2_ERR_HTTP_MESSAGING)
        return 0; /* nghttp2 answers protocol errors itself */
    /* Envoy's default (stream_error_on_invalid_http_messaging false): invalid HTTP
     * messaging ends the connection. */
    log_debug(LC_CONNECTION, "[C%llu][S%d] invalid http2 request: %s",
              (unsigned long long)hc->c->id, frame->hd.stream_id, nghttp2_strerror(lib_error));
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* ---- session ------------------------------------------------------------------------------ */

static nghttp2_session_callbacks *g_cbs;
static nghttp2_option *g_opt;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    if (nghttp2_session_callbacks_new(&g_cbs) != 0 || nghttp2_option_new(&g_opt) != 0)
        return;
    nghttp2_session_callbacks_set_send_callback(g_cbs, cb_send);
    nghttp2_session_callbacks_set_send_data_callback(g_cbs, cb_send_data);
    nghttp2_session_callbacks_set_on_begin_headers_callback(g_cbs, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(g_cbs, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(g_cbs, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g_cbs, cb_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(g_cbs, cb_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(g_cbs, cb_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(g_cbs, cb_invalid_frame);
    /* Window updates follow what the router really took (flow control above). */
    nghttp2_option_set_no_auto_window_update(g_opt, 1);
    /* nghttp2 keeps closed streams for the RFC 7540 priority tree, as many as
     * max_concurrent_streams allows: with Envoy's default (2^31 - 1) a long-lived connection
     * grew by a few hundred bytes per stream it ever carried. Envoy turns this off too. */
    nghttp2_option_set_no_closed_streams(g_opt, 1);
}

int h2d_start(struct hcm_conn *hc)
{
    pthread_once(&g_once, init_once);
    if (!g_cbs || !g_opt)
        return -RM_ENOMEM;
    if (nghttp2_session_server_new3(&hc->h2, g_cbs, hc, g_opt, evmem_nghttp2()) != 0) {
        hc->h2 = NULL;
        return -RM_ENOMEM;
    }
    const struct cfg_h2_options *o = &hc->cfg->h2;
    nghttp2_settings_entry iv[3];
    size_t n = 0;
    iv[n++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                       o->max_concurrent_streams};
    iv[n++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
                                       o->initial_stream_window_size};
    if (o->hpack_table_size != 4096)
        iv[n++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, o->hpack_table_size};
    if (nghttp2_submit_settings(hc->h2, NGHTTP2_FLAG_NONE, iv, n) != 0 ||
        (o->initial_connection_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE &&
         nghttp2_session_set_local_window_size(hc->h2, NGHTTP2_FLAG_NONE, 0,
                                               (int32_t)o->initial_connection_window_size) != 0)) {
        nghttp2_session_del(hc->h2);
        hc->h2 = NULL;
        return -RM_ENOMEM;
    }
    return 0;
}

/* A connection error: GOAWAY with |code|, what is queued goes out, then the close. */
static void fail(struct hcm_conn *hc, int rv)
{
    log_debug(LC_CONNECTION, "[C%llu] http2 connection error: %s", (unsigned long long)hc->c->id,
              nghttp2_strerror(rv));
    stats_inc(hc->rt->stats, HTTP_downstream_cx_protocol_error);
    nghttp2_session_terminate_session(hc->h2, NGHTTP2_PROTOCOL_ERROR);
    hc->h2_goaway = true;
    nghttp2_session_send(hc->h2);
    hcm_conn_done(hc, false);
}

void h2d_on_read(struct hcm_conn *hc)
{
    struct evbuffer *in = hc->c->in;
    int rv = 0;
    hc->in_parse = true;
    while (!hc->closed && evbuffer_get_length(in)) {
        struct evbuffer_iovec seg;
        if (evbuffer_peek(in, -1, NULL, &seg, 1) < 1)
            break;
        ssize_t n = nghttp2_session_mem_recv(hc->h2, seg.iov_base, seg.iov_len);
        if (n < 0) {
            rv = (int)n;
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    hc->in_parse = false;
    if (hc->closed) {
        hcm_conn_release(hc);
        return;
    }
    if (rv < 0) {
        evbuffer_drain(in, evbuffer_get_length(in));
        fail(hc, rv);
        return;
    }
    pump(hc);
}

void h2d_detach(struct hcm_conn *hc)
{
    if (!hc->in_parse)
        nghttp2_session_send(hc->h2); /* a queued GOAWAY leaves before the close */
    struct list_head *pos, *tmp;
    list_for_each_safe(pos, tmp, &hc->h2_streams)
    {
        struct hstream *s = list_entry(pos, struct hstream, h2_node);
        nghttp2_session_set_stream_user_data(hc->h2, s->h2_id, NULL);
    }
}

void h2d_free(struct hcm_conn *hc)
{
    nghttp2_session_del(hc->h2);
    hc->h2 = NULL;
}
