/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/h2.c — remora-load's HTTP/2 client (nghttp2): up to -m concurrent streams per
 * connection, windows as large as h2load's defaults (2^30-1) so flow control does not bound the
 * measurement. A stream's outcome is recorded exactly once, in on_stream_close or in
 * h2_cancel (timeout), which detaches the slot from the stream first. */
#include "bench/load/load.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#define H2_WINDOW ((1 << 30) - 1)
#define H2_OUT_HIGH (1024u * 1024)

static ssize_t on_body_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct lreq *rq = src->ptr;
    size_t left = lopt.body_len - rq->body_off;
    size_t n = len < left ? len : left;
    memcpy(buf, lopt.body + rq->body_off, n);
    rq->body_off += n;
    if (rq->body_off == lopt.body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void submit(struct lconn *c, struct lreq *rq)
{
    const struct target *t = &lopt.targets[rq->target];
    nghttp2_data_provider prd = {.source.ptr = rq, .read_callback = on_body_read};
    int32_t id = nghttp2_submit_request(c->ng, NULL, t->nva, t->n_nva, lopt.body ? &prd : NULL, rq);
    if (id < 0) {
        lconn_error(c, rq, ERR_PROTOCOL, now_ns());
        return;
    }
    rq->stream_id = id;
}

void h2_send(struct lconn *c, struct lreq *rq)
{
    if (c->ng)
        submit(c, rq); /* else submitted by h2_start (--new-conn issues before connecting) */
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *user)
{
    if (f->hd.type != NGHTTP2_HEADERS || nl != 7 || memcmp(name, ":status", 7) != 0)
        return 0;
    struct lreq *rq = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!rq || vl != 3)
        return 0;
    int st = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    if (st >= 200 || rq->status == 0)
        rq->status = st; /* the final status replaces interim 1xx */
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    struct lconn *c = user;
    if (f->hd.type == NGHTTP2_GOAWAY)
        c->goaway = true;
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t err, void *user)
{
    struct lconn *c = user;
    struct lreq *rq = nghttp2_session_get_stream_user_data(ng, id);
    if (!rq || !rq->used)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    uint64_t now = now_ns();
    if (err == NGHTTP2_NO_ERROR && rq->status >= 200)
        lconn_done(c, rq, rq->status, now);
    else if (err == NGHTTP2_REFUSED_STREAM || err != NGHTTP2_NO_ERROR)
        lconn_error(c, rq, ERR_RESET, now);
    else
        lconn_error(c, rq, ERR_PROTOCOL, now);
    return 0;
}

int h2_start(struct lconn *c)
{
    nghttp2_session_callbacks *cb;
    nghttp2_settings_entry iv[3] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
    };

    if (nghttp2_session_callbacks_new(&cb) != 0)
        return -RM_ENOMEM;
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rv = nghttp2_session_client_new(&c->ng, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0)
        return -RM_ENOMEM;
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 3);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_WINDOW);
    for (unsigned i = 0; i < c->depth; i++)
        if (c->q[i].used && c->q[i].stream_id == 0)
            submit(c, &c->q[i]);
    return 0;
}

int h2_input(struct lconn *c)
{
    size_t n = lbuf_used(&c->in);
    if (!n)
        return 0;
    ssize_t rv = nghttp2_session_mem_recv(c->ng, (const uint8_t *)lbuf_head(&c->in), n);
    if (rv < 0)
        return -RM_EPROTO;
    lbuf_consume(&c->in, (size_t)rv);
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
        c->goaway = true;
    return 0;
}

void h2_pump(struct lconn *c)
{
    if (!c->ng)
        return;
    while (evbuffer_get_length(c->out) < H2_OUT_HIGH) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->ng, &p);
        if (n <= 0)
            break;
        evbuffer_add(c->out, p, (size_t)n);
    }
}

void h2_cancel(struct lconn *c, struct lreq *rq)
{
    if (c->ng && rq->stream_id > 0) {
        nghttp2_session_set_stream_user_data(c->ng, rq->stream_id, NULL);
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, rq->stream_id, NGHTTP2_CANCEL);
    }
    lconn_error(c, rq, ERR_TIMEOUT, now_ns());
}

void h2_fini(struct lconn *c)
{
    nghttp2_session_del(c->ng);
    c->ng = NULL;
}
