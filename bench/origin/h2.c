/* SPDX-License-Identifier: Apache-2.0 */
/* bench/origin/h2.c — remora-origin's HTTP/2 server (nghttp2): prior-knowledge h2c and h2 over
 * TLS. Per-stream behaviour comes from req.c; resets are stream-level (RST_STREAM
 * INTERNAL_ERROR) and x-origin-close ends the connection with GOAWAY after that response.
 * nghttp2 callbacks never free the connection; conn.c does that after the pump. */
#include "bench/origin/origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

struct h2_stream {
    struct conn *c;
    struct h2_stream *prev, *next; /* h2_sess.streams */
    int32_t id;
    struct req req;
    char *method, *path; /* pseudo-headers until the request line is set */
    char *authority;     /* :authority, echoed as "host" */
    bool line_set;
    struct event *timer;   /* latency wait, or NULL */
    uint64_t resp_left;    /* body bytes still to send */
    uint64_t reset_left;   /* RESET_BODY: bytes before RST_STREAM; UINT64_MAX = none */
    struct evbuffer *json; /* echo body, or NULL */
};

struct h2_sess {
    nghttp2_session *ng;
    struct h2_stream *streams;
    bool terminate; /* send GOAWAY once the pump runs */
    bool cut;       /* x-origin-close: mid-body: close (FIN, no GOAWAY) once out is written */
};

static void stream_free(struct h2_stream *s)
{
    struct h2_sess *hs = s->c->h2;
    if (s->prev)
        s->prev->next = s->next;
    else
        hs->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->timer)
        event_free(s->timer);
    if (s->json)
        evbuffer_free(s->json);
    free(s->method);
    free(s->path);
    free(s->authority);
    req_fini(&s->req);
    free(s);
}

static int set_line(struct h2_stream *s)
{
    if (s->line_set)
        return 0;
    s->line_set = true;
    const char *m = s->method ? s->method : "", *p = s->path ? s->path : "";
    int rc = req_set_line(&s->req, m, strlen(m), p, strlen(p), "HTTP/2");
    if (rc == 0 && s->authority) /* RFC 9113 §8.3.1: :authority stands in for Host */
        rc = req_add_header(&s->req, "host", 4, s->authority, strlen(s->authority));
    return rc;
}

static ssize_t on_data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct h2_stream *s = src->ptr;
    if (s->resp_left == 0 || s->reset_left == 0) {
        if (s->reset_left != UINT64_MAX && s->req.cut_fin) {
            s->c->h2->cut = true; /* the stream never ends: the connection closes under it */
            return NGHTTP2_ERR_DEFERRED;
        }
        if (s->reset_left != UINT64_MAX)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* → RST_STREAM INTERNAL_ERROR */
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    size_t n = length;
    if (n > s->resp_left)
        n = (size_t)s->resp_left;
    if (n > s->reset_left)
        n = (size_t)s->reset_left;
    if (n > BODY_CHUNK)
        n = BODY_CHUNK;
    if (s->json)
        n = (size_t)evbuffer_remove(s->json, buf, n);
    else
        memcpy(buf, origin_body_block, n);
    s->resp_left -= n;
    if (s->reset_left != UINT64_MAX)
        s->reset_left -= n;
    if (s->resp_left == 0 && s->reset_left == UINT64_MAX)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v, vl)                                                                               \
    (nghttp2_nv)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, vl, NGHTTP2_NV_FLAG_NO_COPY_NAME            \
    }

static void submit_response(struct h2_stream *s)
{
    struct conn *c = s->c;
    struct req *r = &s->req;
    nghttp2_session *ng = c->h2->ng;
    bool nobody = req_status_has_no_body(r->status);
    char status[8], clen_s[24];
    uint64_t clen = 0;
    nghttp2_nv nva[4];
    size_t n = 0;

    c->w->requests++;
    if (r->close)
        c->h2->terminate = true;
    if (r->reset == RESET_BEFORE_HEADERS) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    if (r->echo && !nobody) {
        s->json = evbuffer_new();
        if (!s->json) {
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
            return;
        }
        req_echo_json(r, s->json);
        clen = evbuffer_get_length(s->json);
    } else if (!nobody) {
        clen = r->size;
    }
    snprintf(status, sizeof(status), "%d", r->status);
    nva[n++] = NV(":status", status, strlen(status));
    nva[n++] = NV("x-origin-name", origin_opts.name, strlen(origin_opts.name));
    if (!nobody) {
        snprintf(clen_s, sizeof(clen_s), "%llu", (unsigned long long)clen);
        nva[n++] = NV("content-length", clen_s, strlen(clen_s));
    }
    if (s->json)
        nva[n++] = NV("content-type", "application/json", 16);
    if (r->reset == RESET_AFTER_HEADERS) {
        nghttp2_submit_headers(ng, NGHTTP2_FLAG_NONE, s->id, NULL, nva, n, NULL);
        if (r->cut_fin)
            c->h2->cut = true;
        else
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    s->resp_left = (r->head || nobody) ? 0 : clen;
    s->reset_left = r->reset == RESET_BODY ? r->reset_after : UINT64_MAX;
    if (s->resp_left == 0 && s->reset_left == UINT64_MAX) {
        nghttp2_submit_response(ng, s->id, nva, n, NULL);
        return;
    }
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = on_data_read};
    nghttp2_submit_response(ng, s->id, nva, n, &prd);
}

static void on_stream_timer(evutil_socket_t fd, short what, void *arg)
{
    struct h2_stream *s = arg;
    struct conn *c = s->c;
    submit_response(s);
    conn_run(c);
}

static void stream_complete(struct h2_stream *s)
{
    if (set_line(s) < 0) {
        nghttp2_submit_rst_stream(s->c->h2->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    uint32_t ms = req_decide(&s->req, s->c->w);
    if (ms == 0) {
        submit_response(s);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    s->timer = evtimer_new(s->c->w->base, on_stream_timer, s);
    if (!s->timer) {
        submit_response(s);
        return;
    }
    evtimer_add(s->timer, &tv);
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    struct conn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    s->c = c;
    s->id = f->hd.stream_id;
    req_init(&s->req);
    s->next = c->h2->streams;
    if (s->next)
        s->next->prev = s;
    c->h2->streams = s;
    nghttp2_session_set_stream_user_data(ng, s->id, s);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *user)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s || f->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (nl > 0 && name[0] == ':') {
        char **dst = NULL;
        if (nl == 7 && memcmp(name, ":method", 7) == 0)
            dst = &s->method;
        else if (nl == 5 && memcmp(name, ":path", 5) == 0)
            dst = &s->path;
        else if (nl == 10 && memcmp(name, ":authority", 10) == 0)
            dst = &s->authority;
        if (dst && !*dst && !(*dst = strndup((const char *)value, vl)))
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
    }
    if (set_line(s) < 0 ||
        req_add_header(&s->req, (const char *)name, nl, (const char *)value, vl) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && set_line(s) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
        stream_complete(s);
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (s)
        req_body(&s->req, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t err, void *user)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (s) {
        nghttp2_session_set_stream_user_data(ng, id, NULL);
        stream_free(s);
    }
    return 0;
}

int h2_start(struct conn *c)
{
    nghttp2_session_callbacks *cb;
    nghttp2_settings_entry iv[2] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1024},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };

    c->h2 = calloc(1, sizeof(*c->h2));
    if (!c->h2 || nghttp2_session_callbacks_new(&cb) != 0)
        return -RM_ENOMEM;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rv = nghttp2_session_server_new(&c->h2->ng, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0)
        return -RM_ENOMEM;
    nghttp2_submit_settings(c->h2->ng, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(c->h2->ng, NGHTTP2_FLAG_NONE, 0, 16 << 20);
    return 0;
}

int h2_input(struct conn *c)
{
    size_t n = lbuf_used(&c->in);
    if (n) {
        ssize_t rv = nghttp2_session_mem_recv(c->h2->ng, (const uint8_t *)lbuf_head(&c->in), n);
        if (rv < 0)
            return -RM_EPROTO;
        lbuf_consume(&c->in, (size_t)rv);
    }
    if (c->flags & CONN_F_PEER_EOF)
        c->flags |= CONN_F_CLOSE_AFTER_FLUSH;
    return 0;
}

void h2_pump(struct conn *c)
{
    struct h2_sess *hs = c->h2;
    if (hs->terminate) {
        /* After the pending responses: GOAWAY with the last stream seen. */
        nghttp2_submit_goaway(hs->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(hs->ng), NGHTTP2_NO_ERROR,
                              NULL, 0);
        hs->terminate = false; /* conn.c closes once h2_is_done() */
    }
    while (evbuffer_get_length(c->out) < OUT_HIGH) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(hs->ng, &p);
        if (n <= 0)
            break;
        evbuffer_add(c->out, p, (size_t)n);
    }
    if (hs->cut)
        c->flags |= CONN_F_CLOSE_AFTER_FLUSH;
}

bool h2_has_more(const struct conn *c)
{
    return nghttp2_session_want_write(c->h2->ng) != 0;
}

bool h2_is_done(const struct conn *c)
{
    return !nghttp2_session_want_read(c->h2->ng) && !nghttp2_session_want_write(c->h2->ng);
}

void h2_fini(struct conn *c)
{
    if (!c->h2)
        return;
    while (c->h2->streams)
        stream_free(c->h2->streams);
    nghttp2_session_del(c->h2->ng);
    free(c->h2);
    c->h2 = NULL;
}
