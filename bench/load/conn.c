/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/conn.c — remora-load connections: connect, TLS handshake, socket I/O, request
 * issuing (closed loop, or open loop on a per-connection schedule), accounting of every request's
 * outcome exactly once, timeouts and reconnects. Runs on the owning worker's thread only. */
#include "bench/load/load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define OUT_HIGH (1024u * 1024) /* produce no more output above this */

const char *const err_kind_names[ERR__N] = {"connect", "tls",    "timeout",
                                            "reset",   "closed", "protocol"};

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool in_window(uint64_t t)
{
    return t >= run_clock.measure && t <= run_clock.end;
}

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

static void set_rd(struct lconn *c, bool on)
{
    if (on != c->rd_on) {
        if (on)
            event_add(c->ev_rd, NULL);
        else
            event_del(c->ev_rd);
        c->rd_on = on;
    }
}

static void set_wr(struct lconn *c, bool on)
{
    if (on != c->wr_on) {
        if (on)
            event_add(c->ev_wr, NULL);
        else
            event_del(c->ev_wr);
        c->wr_on = on;
    }
}

static void arm_timer(struct lconn *c, uint64_t at)
{
    uint64_t now = now_ns();
    uint64_t d = at > now ? at - now : 0;
    struct timeval tv = {(time_t)(d / 1000000000ULL), (suseconds_t)(d % 1000000000ULL / 1000)};
    evtimer_add(c->ev_timer, &tv);
    c->timer_on = true;
}

static void count_error(struct worker *w, enum err_kind kind, uint64_t now)
{
    if (!in_window(now))
        return;
    w->st.errors[kind]++;
    atomic_fetch_add_explicit(&w->live_errors, 1, memory_order_relaxed);
}

/* The peer answered on |c| (a response; in TCP mode, the connect): the connection is proven,
 * its reconnect backoff resets, and the worker does not give up on the target (on_tick). A
 * connect or handshake that succeeds but is then refused (no h2 in ALPN, a client certificate
 * rejected after the TLS 1.3 handshake) never gets here, so its reconnects keep backing off
 * and the worker gives up once --timeout passes without an answer. */
static inline void answered(struct lconn *c, uint64_t now)
{
    if (!c->proven) {
        c->proven = true;
        c->backoff_ms = 0;
    }
    c->w->last_answer = now;
}

void lconn_done(struct lconn *c, struct lreq *rq, int status, uint64_t now)
{
    struct worker *w = c->w;
    answered(c, now);
    c->inflight--;
    w->inflight--;
    rq->used = false;
    if (!rq->measured || now > run_clock.end)
        return;
    struct stats *s = &w->st;
    s->responses++;
    s->status[status >= 100 && status < 600 ? status / 100 : 0]++;
    if (lopt.check_status && status != lopt.check_status)
        s->mismatches++;
    hist_record(&s->lat, (now - (rq->t0 < now ? rq->t0 : now)) / 1000);
    s->last_ns = now;
    atomic_fetch_add_explicit(&w->live_responses, 1, memory_order_relaxed);
}

void lconn_error(struct lconn *c, struct lreq *rq, enum err_kind kind, uint64_t now)
{
    struct worker *w = c->w;
    c->inflight--;
    w->inflight--;
    rq->used = false;
    if (!rq->measured || now > run_clock.end)
        return;
    w->st.req_errors++;
    w->st.last_ns = now;
    count_error(w, kind, now);
}

/* Charges every request in flight to |kind|. */
static void fail_inflight(struct lconn *c, enum err_kind kind, uint64_t now)
{
    if (!lopt.h2) {
        while (c->inflight > 0) {
            struct lreq *rq = &c->q[c->q_head];
            c->q_head = (c->q_head + 1) % c->depth;
            if (kind == ERR__N) {
                c->inflight--;
                c->w->inflight--;
            } else {
                lconn_error(c, rq, kind, now);
            }
        }
    }
    for (unsigned i = 0; i < c->depth && c->inflight > 0; i++) {
        struct lreq *rq = &c->q[i];
        if (!rq->used)
            continue;
        if (kind == ERR__N) {
            rq->used = false;
            c->inflight--;
            c->w->inflight--;
        } else {
            lconn_error(c, rq, kind, now);
        }
    }
    c->q_head = 0;
}

void lconn_close(struct lconn *c)
{
    if (c->ng)
        h2_fini(c);
    if (c->ev_rd)
        event_free(c->ev_rd);
    if (c->ev_wr)
        event_free(c->ev_wr);
    c->ev_rd = c->ev_wr = NULL;
    c->rd_on = c->wr_on = false;
    if (c->timer_on) {
        evtimer_del(c->ev_timer);
        c->timer_on = false;
    }
    sock_close(&c->sk, false);
    evbuffer_drain(c->out, evbuffer_get_length(c->out));
    c->in.off = c->in.len = 0;
    c->state = LC_IDLE;
    c->rst = H1R_HEAD;
    c->scan = 0;
    c->close_after = false;
    c->goaway = false;
    c->proven = false;
    for (unsigned i = 0; i < c->depth; i++)
        c->q[i].used = false;
    c->q_head = 0;
}

/* Prints |what| about |c|'s peer with the TLS error, once per |said|: every connection fails
 * the same way, and one line says why where a flood would not. */
static void tls_error_once(const struct lconn *c, _Atomic bool *said, const char *what)
{
    if (atomic_exchange(said, true))
        return;
    char why[256];
    sock_tls_error(&c->sk, why, sizeof(why));
    fprintf(stderr, "remora-load: %s %s: %s\n", what, c->ep->authority, why);
}

static void reconnect_later(struct lconn *c, unsigned ms)
{
    if (c->w->stopping || c->finished)
        return;
    arm_timer(c, now_ns() + (uint64_t)ms * 1000000ULL);
}

void lconn_fail(struct lconn *c, enum err_kind kind)
{
    uint64_t now = now_ns();
    bool had = c->inflight > 0;
    fail_inflight(c, kind, now);
    /* A failed connect or handshake with nothing in flight still counts once. */
    if (!had && (kind == ERR_CONNECT || kind == ERR_TLS))
        count_error(c->w, kind, now);
    lconn_close(c);
    if (kind == ERR_CONNECT || kind == ERR_TLS) {
        c->w->last_connect_err = now;
        c->backoff_ms = c->backoff_ms ? (c->backoff_ms * 2 > 1000 ? 1000 : c->backoff_ms * 2) : 10;
        reconnect_later(c, c->backoff_ms);
    } else {
        reconnect_later(c, 0);
    }
    worker_maybe_finish(c->w);
}

/* Closes a connection that finished normally and opens the next one at once. */
static void recycle(struct lconn *c)
{
    lconn_close(c);
    if (!c->w->stopping && !c->finished)
        lconn_start(c);
    worker_maybe_finish(c->w);
}

static unsigned pick_target(struct lconn *c)
{
    struct endpoint *e = c->ep;
    if (e->n_targets == 1)
        return e->targets[0];
    /* nginx's smooth weighted round-robin: exact proportions, evenly interleaved. */
    unsigned best = 0;
    for (unsigned i = 0; i < e->n_targets; i++) {
        c->swrr[i] += lopt.targets[e->targets[i]].weight;
        if (c->swrr[i] > c->swrr[best])
            best = i;
    }
    c->swrr[best] -= e->weight;
    return e->targets[best];
}

static struct lreq *free_slot(struct lconn *c)
{
    if (!lopt.h2)
        return &c->q[(c->q_head + c->inflight) % c->depth];
    for (unsigned i = 0; i < c->depth; i++)
        if (!c->q[i].used)
            return &c->q[i];
    return NULL;
}

void lconn_fill(struct lconn *c)
{
    struct worker *w = c->w;
    bool early = lopt.new_conn && (c->state == LC_CONNECTING || c->state == LC_HANDSHAKE);

    if (c->proto == LP_TCP || (c->state != LC_READY && !early) || c->goaway || c->close_after)
        return;
    uint64_t now = now_ns();
    while (c->inflight < c->depth) {
        uint64_t t0 = now;
        if (lopt.rate > 0) {
            if (c->next_due > now) {
                if (!w->stopping && !c->timer_on)
                    arm_timer(c, c->next_due);
                break;
            }
            t0 = c->next_due;
        }
        bool measured;
        if (!worker_can_issue(w, t0, &measured))
            break;
        if (lopt.rate > 0)
            c->next_due += c->interval;
        struct lreq *rq = free_slot(c);
        if (!rq)
            break;
        memset(rq, 0, sizeof(*rq));
        rq->t0 = t0;
        rq->sent = now;
        rq->target = pick_target(c);
        rq->measured = measured;
        rq->used = true;
        c->inflight++;
        w->inflight++;
        if (measured && !w->st.first_ns)
            w->st.first_ns = now;
        if (lopt.h2)
            h2_send(c, rq);
        else
            h1_send(c, rq);
        if (lopt.new_conn)
            break; /* one request per connection */
    }
}

int lconn_flush(struct lconn *c)
{
    if (c->state != LC_READY && c->state != LC_DRAINING)
        return 0;
    for (;;) {
        if (c->proto == LP_H2)
            h2_pump(c);
        else if (c->proto == LP_TCP)
            tcp_pump(c);
        ssize_t rc = sock_flush(&c->sk, c->out);
        if (rc < 0) {
            lconn_fail(c, c->sk.err == EPIPE || c->sk.err == ECONNRESET ? ERR_RESET : ERR_CLOSED);
            return -1;
        }
        if (rc > 0) {
            uint64_t now = now_ns();
            if (in_window(now))
                c->w->st.tx_bytes += (uint64_t)rc;
        }
        if (rc == 0 || evbuffer_get_length(c->out) > 0 || c->proto == LP_H1)
            break;
    }
    if (c->proto == LP_TCP && c->tcp_left == 0 && !c->tcp_shut &&
        evbuffer_get_length(c->out) == 0 && sock_unsent(&c->sk) == 0) {
        if (c->sk.ssl)
            SSL_shutdown(c->sk.ssl);
        shutdown(c->sk.fd, SHUT_WR);
        c->tcp_shut = true;
    }
    set_wr(c, evbuffer_get_length(c->out) > 0 || sock_want_write(&c->sk));
    return 0;
}

static void ready(struct lconn *c, uint64_t now)
{
    char alpn[32];
    struct worker *w = c->w;

    c->state = LC_READY;
    if (in_window(now))
        w->st.conns++;
    if (lopt.tcp) {
        answered(c, now);
        c->proto = LP_TCP;
        tcp_start(c);
    } else if (lopt.h2) {
        sock_alpn(&c->sk, alpn, sizeof(alpn));
        if (c->ep->tls && strcmp(alpn, "h2") != 0) {
            static _Atomic bool said;
            if (!atomic_exchange(&said, true))
                fprintf(stderr, "remora-load: %s did not negotiate h2 (ALPN \"%s\")\n",
                        c->ep->authority, alpn);
            lconn_fail(c, ERR_TLS);
            return;
        }
        c->proto = LP_H2;
        if (h2_start(c) < 0) {
            lconn_fail(c, ERR_PROTOCOL);
            return;
        }
    } else {
        c->proto = LP_H1;
    }
    set_rd(c, true);
    lconn_fill(c);
    if (lconn_flush(c) == 0 && sock_pending(&c->sk))
        event_active(c->ev_rd, EV_READ, 1); /* read with the handshake; epoll cannot see it */
}

static void do_handshake(struct lconn *c)
{
    int rc = sock_handshake(&c->sk);
    if (rc < 0) {
        static _Atomic bool said;
        tls_error_once(c, &said, "TLS handshake failed with");
        lconn_fail(c, ERR_TLS);
        return;
    }
    if (rc == 0) {
        set_rd(c, true);
        set_wr(c, sock_want_write(&c->sk));
        return;
    }
    uint64_t now = now_ns();
    hist_record(&c->w->st.tls, (now - c->t_tcp) / 1000);
    ready(c, now);
}

void lconn_start(struct lconn *c)
{
    struct worker *w = c->w;
    uint64_t now = now_ns();

    c->t_connect = now;
    c->state = LC_CONNECTING;
    c->tcp_shut = false;
    int fd = net_connect(&c->ep->addr);
    if (fd < 0) {
        sock_init(&c->sk, -1);
        lconn_fail(c, ERR_CONNECT);
        return;
    }
    sock_init(&c->sk, fd);
    c->ev_rd = event_new(w->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->ev_wr = event_new(w->base, fd, EV_WRITE, on_write, c);
    if (!c->ev_rd || !c->ev_wr) {
        lconn_fail(c, ERR_CONNECT);
        return;
    }
    set_wr(c, true); /* connect completion */
    if (lopt.new_conn)
        lconn_fill(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct lconn *c = arg;
    c->timer_on = false;
    if (c->state == LC_IDLE) {
        if (!c->w->stopping && !c->finished)
            lconn_start(c);
        return;
    }
    lconn_fill(c);
    lconn_flush(c);
}

int lconn_init(struct lconn *c, struct worker *w, int idx)
{
    c->w = w;
    c->idx = idx;
    sock_init(&c->sk, -1);
    c->depth = lopt.h2 ? (unsigned)lopt.streams : (unsigned)lopt.pipeline;
    if (lopt.new_conn)
        c->depth = 1;
    c->q = calloc(c->depth, sizeof(*c->q));
    c->swrr = calloc(c->ep->n_targets, sizeof(*c->swrr));
    c->out = evbuffer_new();
    c->ev_timer = evtimer_new(w->base, on_timer, c);
    lbuf_init(&c->in, LOAD_HEAD_MAX + 65536);
    if (!c->q || !c->swrr || !c->out || !c->ev_timer)
        return -RM_ENOMEM;
    if (lopt.rate > 0) {
        /* Every connection runs at rate/conns; connection k is due first k/rate after the
         * start, so the aggregate schedule is uniform at exactly -R. */
        double per_conn_s = (double)lopt.conns / lopt.rate;
        c->interval = (uint64_t)(per_conn_s * 1e9);
        if (c->interval == 0)
            c->interval = 1;
        c->next_due = run_clock.start + (uint64_t)((double)(w->first_conn + idx) / lopt.rate * 1e9);
    }
    return 0;
}

void lconn_fini(struct lconn *c)
{
    lconn_close(c);
    if (c->ev_timer)
        event_free(c->ev_timer);
    if (c->out)
        evbuffer_free(c->out);
    lbuf_fini(&c->in);
    free(c->q);
    free(c->swrr);
    c->ev_timer = NULL;
    c->out = NULL;
    c->q = NULL;
    c->swrr = NULL;
}

static void on_connected(struct lconn *c)
{
    int err = net_connect_result(c->sk.fd);
    if (err < 0) {
        lconn_fail(c, ERR_CONNECT);
        return;
    }
    uint64_t now = now_ns();
    c->t_tcp = now;
    hist_record(&c->w->st.connect, (now - c->t_connect) / 1000);
    if (c->ep->tls) {
        if (sock_tls_new(&c->sk, c->w->tls, false, c->ep->host) < 0) {
            lconn_fail(c, ERR_TLS);
            return;
        }
        c->state = LC_HANDSHAKE;
        do_handshake(c);
        return;
    }
    ready(c, now);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct lconn *c = arg;
    c->wr_on = false;
    switch (c->state) {
    case LC_CONNECTING:
        on_connected(c);
        return;
    case LC_HANDSHAKE:
        do_handshake(c);
        return;
    case LC_READY:
    case LC_DRAINING:
        lconn_flush(c);
        return;
    default:
        return;
    }
}

static void on_eof(struct lconn *c)
{
    uint64_t now = now_ns();
    if (c->proto == LP_TCP) {
        c->finished = lopt.tcp_bytes > 0;
        if (in_window(now))
            c->w->st.last_ns = now;
        if (!c->finished && !c->w->stopping) {
            lconn_fail(c, ERR_CLOSED); /* the sink went away during a timed run */
            return;
        }
        lconn_close(c);
        worker_maybe_finish(c->w);
        return;
    }
    if (c->proto == LP_H1)
        h1_on_eof(c);
    if (c->inflight > 0) {
        lconn_fail(c, ERR_CLOSED);
        return;
    }
    recycle(c);
}

static enum err_kind read_err_kind(const struct lconn *c, ssize_t rc)
{
    if (rc == -RM_EPROTO) {
        /* A TLS alert after the handshake: with TLS 1.3 a server that rejects the client
         * certificate says so only now. Say why once; the errors are counted as tls. */
        static _Atomic bool said;
        tls_error_once(c, &said, "TLS error from");
        return ERR_TLS;
    }
    return c->sk.err == ECONNRESET ? ERR_RESET : ERR_CLOSED;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct lconn *c = arg;

    if (c->state == LC_HANDSHAKE) {
        do_handshake(c);
        return;
    }
    if (c->state != LC_READY && c->state != LC_DRAINING)
        return;
    for (;;) {
        size_t space = lbuf_reserve(&c->in, 16384);
        if (space == 0) {
            lconn_fail(c, ERR_PROTOCOL); /* response head over the limit */
            return;
        }
        ssize_t n = sock_read(&c->sk, c->in.data + c->in.len, space);
        if (n == 0)
            break;
        if (n == -RM_ECLOSED) {
            on_eof(c);
            return;
        }
        if (n < 0) {
            lconn_fail(c, read_err_kind(c, n));
            return;
        }
        c->in.len += (size_t)n;
        uint64_t now = now_ns();
        if (in_window(now))
            c->w->st.rx_bytes += (uint64_t)n;
        int rc = 0;
        if (c->proto == LP_H1)
            rc = h1_input(c);
        else if (c->proto == LP_H2)
            rc = h2_input(c);
        else
            tcp_input(c, (size_t)n);
        if (rc < 0) {
            lconn_fail(c, ERR_PROTOCOL);
            return;
        }
        if ((c->close_after || c->state == LC_DRAINING) && c->inflight == 0) {
            /* Connection: close, or our --new-conn: the response is complete; wait for the
             * peer's FIN so that the TIME_WAIT lands on the server, not on our ephemeral
             * ports. (A response still arriving keeps being read: its head may come in a
             * segment of its own.) */
            c->state = LC_DRAINING;
            c->in.off = c->in.len = 0;
        }
        if (c->proto == LP_H2 && c->inflight == 0 && (c->goaway || lopt.new_conn)) {
            lconn_flush(c);
            if (c->state != LC_IDLE)
                recycle(c);
            worker_maybe_finish(c->w);
            return;
        }
        if (!c->sk.ssl && (size_t)n < space)
            break;
    }
    worker_maybe_finish(c->w);
    if (c->state == LC_IDLE)
        return;
    lconn_fill(c);
    lconn_flush(c);
}

void lconn_check_timeouts(struct lconn *c, uint64_t now)
{
    uint64_t limit = (uint64_t)(lopt.timeout * 1e9);
    switch (c->state) {
    case LC_CONNECTING:
        if (now - c->t_connect > limit)
            lconn_fail(c, ERR_CONNECT);
        return;
    case LC_HANDSHAKE:
        if (now - c->t_connect > limit)
            lconn_fail(c, ERR_TLS);
        return;
    case LC_READY:
    case LC_DRAINING:
        break;
    default:
        return;
    }
    if (c->proto == LP_H2) {
        for (unsigned i = 0; i < c->depth; i++)
            if (c->q[i].used && now - c->q[i].sent > limit)
                h2_cancel(c, &c->q[i]);
        lconn_flush(c);
        return;
    }
    if (c->proto == LP_H1 && c->inflight > 0 && now - c->q[c->q_head].sent > limit) {
        lconn_fail(c, ERR_TIMEOUT);
        return;
    }
    if (c->state == LC_DRAINING && c->inflight == 0)
        recycle(c); /* the peer never sent its FIN after Connection: close */
}
