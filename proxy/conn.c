/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/conn.c — see conn.h. Runs only on the owning worker's thread. */
#include "proxy/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/access_log.h"
#include "proxy/err.h"
#include "proxy/hist.h"
#include "proxy/log.h"
#include "proxy/stats.h"
#include "proxy/transport.h"
#include "proxy/worker.h"

/* Bytes read per readiness event at most: big enough for line-rate copies, small enough
 * that one busy connection does not starve the others on the loop. */
#define READ_CHUNK (256u * 1024u)
/* After our FIN on a closing conn, how long to wait for the peer's FIN (Envoy's
 * delayed_close_timeout default). */
#define CONN_LINGER_MS 1000u
/* How long a closing conn may take to flush its output to a peer that does not read. */
#define CONN_FLUSH_MAX_MS 30000u

static uint64_t next_conn_id;

/* The write event is armed only while output is pending; track it so the common case
 * (everything written at once) costs no event_add/event_del. */
static void wev_on(struct conn *c)
{
    if (!(c->flags & CONN_F_WEV_ON)) {
        c->flags |= CONN_F_WEV_ON;
        if (__builtin_expect((c->flags & CONN_F_WEV_KICKED) != 0, 0)) {
            /* libevent's event_add() does nothing to an event that is active (made so by
             * wev_kick) but not added: it would stay unregistered with epoll once its
             * callback ran, output pending and nothing left to write it. Re-add it for
             * real, then keep the kick. */
            event_del(&c->wev);
            event_add(&c->wev, NULL);
            event_active(&c->wev, EV_WRITE, 0);
            return;
        }
        event_add(&c->wev, NULL);
    }
}

/* Runs the write callback from the loop (deferred reports: a connect or write error, the
 * low watermark reached inside conn_flush). */
static void wev_kick(struct conn *c)
{
    c->flags |= CONN_F_WEV_KICKED;
    event_active(&c->wev, EV_WRITE, 0);
}

static void wev_off(struct conn *c)
{
    if (c->flags & CONN_F_WEV_ON) {
        c->flags &= ~CONN_F_WEV_ON;
        event_del(&c->wev);
    }
}

static void rev_on(struct conn *c)
{
    if (!(c->flags & CONN_F_REV_ON)) {
        c->flags |= CONN_F_REV_ON;
        event_add(&c->rev, NULL);
    }
}

static void rev_off(struct conn *c)
{
    if (c->flags & CONN_F_REV_ON) {
        c->flags &= ~CONN_F_REV_ON;
        event_del(&c->rev);
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static struct conn *conn_alloc(struct worker *w, int fd, uint32_t limit)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    if (!c->in || !c->out) {
        if (c->in)
            evbuffer_free(c->in);
        if (c->out)
            evbuffer_free(c->out);
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->w = w;
    c->limit = limit ? limit : 1024 * 1024;
    c->tp = &transport_plain;
    c->st_rx = c->st_tx = -1;
    c->id = __atomic_add_fetch(&next_conn_id, 1, __ATOMIC_RELAXED);
    event_assign(&c->rev, w->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    event_assign(&c->wev, w->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    evtimer_assign(&c->timer, w->base, on_timer, c);
    list_add_tail(&w->conns, &c->node);
    return c;
}

int conn_new_accepted(struct worker *w, int fd, uint32_t limit, const union rm_addr *peer,
                      const union rm_addr *local, struct conn **out)
{
    struct conn *c = conn_alloc(w, fd, limit);
    if (!c) {
        close(fd);
        return -RM_ENOMEM;
    }
    c->peer = *peer;
    if (local) {
        c->local = *local;
    } else {
        socklen_t len = sizeof(c->local);
        getsockname(fd, &c->local.sa, &len);
    }
    /* TCP_NODELAY comes from the listening socket (listener.c). */
    *out = c;
    return 0;
}

int conn_new_connect(struct worker *w, const struct sockaddr *addr, socklen_t len, uint32_t limit,
                     uint64_t timeout_ms, struct conn **out)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *out = NULL;
        return -RM_EIO;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = conn_alloc(w, fd, limit);
    if (!c) {
        close(fd);
        *out = NULL;
        return -RM_ENOMEM;
    }
    c->flags |= CONN_F_CONNECTING | CONN_F_UPSTREAM;
    memcpy(&c->peer, addr, len < sizeof(c->peer) ? len : sizeof(c->peer));
    if (connect(fd, addr, len) < 0 && errno != EINPROGRESS) {
        /* Report asynchronously so callers have one code path for failures. */
        c->err = errno;
        wev_kick(c);
    } else {
        wev_on(c);
    }
    if (timeout_ms) {
        struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
        evtimer_add(&c->timer, &tv);
    }
    *out = c;
    return 0;
}

void conn_set_cbs(struct conn *c, const struct conn_cbs *cbs, void *ctx)
{
    c->cbs = cbs;
    c->ctx = ctx;
}

/* Input the transport already holds (decrypted TLS records) does not make the socket
 * readable again: run the read callback from the loop instead. */
static inline void kick_buffered(struct conn *c)
{
    if (__builtin_expect((c->flags & (CONN_F_TP_BUFFERS | CONN_F_REV_ON)) ==
                             (CONN_F_TP_BUFFERS | CONN_F_REV_ON),
                         0) &&
        c->tp->buffered(c))
        event_active(&c->rev, EV_READ, 0);
}

/* A transport write that read input (a TLS handshake finished inside it, e.g. when a
 * server-first upstream's bytes are flushed): records that came behind the handshake's last
 * message wait in the transport, and the socket may never be readable again for them. */
static inline void kick_after_write(struct conn *c)
{
    if (__builtin_expect((c->flags & CONN_F_TP_RD_KICK) != 0, 0)) {
        c->flags &= ~CONN_F_TP_RD_KICK;
        kick_buffered(c);
    }
}

void conn_read_enable_slow(struct conn *c)
{
    c->flags &= ~CONN_F_READ_PAUSED;
    if (!(c->flags & (CONN_F_READ_EOF | CONN_F_CLOSING | CONN_F_CONNECTING))) {
        rev_on(c);
        kick_buffered(c);
    }
}

void conn_read_disable(struct conn *c)
{
    c->flags |= CONN_F_READ_PAUSED;
    if (!(c->flags & CONN_F_TP_WR_WANTS_R)) /* a TLS write waiting on the socket keeps it */
        rev_off(c);
}

/* Output not yet written: the evbuffer plus what the transport holds (splice pipe). */
static size_t out_len(const struct conn *c)
{
    return evbuffer_get_length(c->out) + (c->tp->pending ? c->tp->pending(c) : 0);
}

/* Over this much pending output the producer pauses; under low_mark() it resumes. A splice
 * pipe holds 64 KiB at most: pause as soon as anything is left, resume once it is empty. */
static size_t high_mark(const struct conn *c)
{
    return (c->flags & CONN_F_SPLICE) ? 0 : c->limit;
}

static size_t low_mark(const struct conn *c)
{
    return (c->flags & CONN_F_SPLICE) ? 0 : c->limit / 2;
}

size_t conn_out_len(const struct conn *c)
{
    return out_len(c);
}

bool conn_is_above_high(const struct conn *c)
{
    return out_len(c) > high_mark(c);
}

static void count_tx(struct conn *c, long n)
{
    c->tx_bytes += (uint64_t)n;
    if (c->sb && c->st_tx >= 0)
        stats_add(c->sb, (unsigned)c->st_tx, n);
}

/* Reports an error from a context where the owner may be on the stack: via the write
 * event, so CONN_EV_ERROR always arrives from the loop. */
static void fail_later(struct conn *c, int err)
{
    c->err = err;
    c->flags |= CONN_F_ERR_PENDING;
    wev_kick(c);
}

static void arm_timer_ms(struct conn *c, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(&c->timer, &tv);
}

/* Returns false when |c| was closed (the caller must not touch it further). Owner callbacks
 * run only when |from_loop|; from conn_flush() (inside the owner's own call stack) a due
 * callback is deferred through the write event instead. */
static bool after_write(struct conn *c, bool from_loop)
{
    size_t left = out_len(c);
    if (left == 0) {
        if (!(c->flags & CONN_F_TP_RD_WANTS_W))
            wev_off(c);
        if ((c->flags & CONN_F_SHUT_PENDING) && !(c->flags & CONN_F_WRITE_SHUT)) {
            c->flags |= CONN_F_WRITE_SHUT;
            c->flags &= ~CONN_F_SHUT_PENDING;
            c->tp->shutdown_write(c);
        }
        if (c->flags & CONN_F_CLOSE_FLUSH) {
            /* Everything is out and the FIN sent. Linger: keep reading (and discarding)
             * until the peer's FIN or a short timer, so a close() with unread input does
             * not turn into a RST that destroys the tail we just sent (HAProxy's lingering
             * close; Envoy's delayed_close_timeout). */
            if (!(c->flags & CONN_F_LINGER)) {
                c->flags |= CONN_F_LINGER;
                if (c->flags & CONN_F_READ_EOF) {
                    conn_close(c, false);
                    return false;
                }
                arm_timer_ms(c, c->linger_ms ? c->linger_ms : CONN_LINGER_MS);
                c->flags &= ~CONN_F_READ_PAUSED;
                rev_on(c);
            }
            return true;
        }
    } else if (c->flags & CONN_F_TP_WR_WANTS_R) {
        wev_off(c); /* the transport's write resumes once the socket is readable */
        rev_on(c);
    } else {
        wev_on(c);
    }
    if ((c->flags & CONN_F_ABOVE_HIGH) && left <= low_mark(c)) {
        if (!from_loop) {
            wev_kick(c);
            return true;
        }
        c->flags &= ~CONN_F_ABOVE_HIGH;
        if (c->cbs && c->cbs->on_write_low)
            c->cbs->on_write_low(c);
    }
    return true;
}

void conn_flush(struct conn *c)
{
    if (c->flags & (CONN_F_CLOSING | CONN_F_CONNECTING))
        return;
    if (out_len(c) > 0) {
        long n = c->tp->write(c, c->out);
        if (n < 0) {
            fail_later(c, c->err);
            return;
        }
        if (n > 0)
            count_tx(c, n);
    }
    if (out_len(c) > high_mark(c))
        c->flags |= CONN_F_ABOVE_HIGH;
    if (after_write(c, false))
        kick_after_write(c);
}

void conn_shutdown_write(struct conn *c)
{
    if (c->flags & (CONN_F_WRITE_SHUT | CONN_F_CLOSING))
        return;
    c->flags |= CONN_F_SHUT_PENDING;
    if (!(c->flags & CONN_F_CONNECTING))
        conn_flush(c);
}

void conn_close(struct conn *c, bool reset)
{
    if (c->flags & CONN_F_CLOSING)
        return;
    c->flags |= CONN_F_CLOSING;
    rev_off(c);
    wev_off(c);
    evtimer_del(&c->timer);
    if (reset) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    c->tp->free(c);
    close(c->fd);
    c->fd = -1;
    c->cbs = NULL;
    worker_defer_free(c->w, c);
}

void conn_close_after_flush(struct conn *c)
{
    if (c->flags & CONN_F_CLOSING)
        return;
    c->cbs = NULL; /* the owner is gone; nothing to report */
    if ((c->flags & (CONN_F_CONNECTING | CONN_F_ERR_PENDING)) ||
        ((c->flags & CONN_F_WRITE_SHUT) && (c->flags & CONN_F_READ_EOF) && out_len(c) == 0)) {
        conn_close(c, false); /* nothing to flush, nothing to wait for */
        return;
    }
    c->flags |= CONN_F_CLOSE_FLUSH | CONN_F_SHUT_PENDING;
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    conn_flush(c);
    /* Usually everything went out at once and the conn now lingers, reading (after_write).
     * Otherwise it stops reading until the flush completes (a peer's FIN read meanwhile would
     * close it with output still queued), and the whole flush is bounded: a peer that never
     * reads must not pin the conn forever. Deciding after the flush saves a read-event
     * del/add pair (two epoll_ctl calls) per closed connection. */
    if (!(c->flags & (CONN_F_LINGER | CONN_F_CLOSING))) {
        conn_read_disable(c);
        arm_timer_ms(c, CONN_FLUSH_MAX_MS);
    }
}

void conn_free(struct conn *c)
{
    if (c->listener_stats) {
        stats_dec(c->listener_stats, LISTENER_downstream_cx_active);
        stats_inc(c->listener_stats, LISTENER_downstream_cx_destroy);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        hist_record(c->cx_length,
                    (double)((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - c->start_ns) / 1e6);
        __atomic_sub_fetch(&c->w->n_conns, 1, __ATOMIC_RELAXED);
    }
    list_del(&c->node);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    free(c);
}

static void emit(struct conn *c, enum conn_event ev)
{
    if (c->cbs && c->cbs->on_event)
        c->cbs->on_event(c, ev);
}

static bool write_from_loop(struct conn *c);

/* Inlined into on_readable (the hot path) and into the rare retry of a TLS read from the
 * write event. */
static inline __attribute__((always_inline)) void on_readable_held(evutil_socket_t fd, short what,
                                                                   void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    if (__builtin_expect((c->flags & (CONN_F_TP_WR_WANTS_R | CONN_F_CLOSE_FLUSH)) != 0, 0)) {
        if (c->flags & CONN_F_TP_WR_WANTS_R) {
            /* A transport write (TLS handshake) waited for this: retry it first. */
            c->flags &= ~CONN_F_TP_WR_WANTS_R;
            if (!write_from_loop(c) || (c->flags & CONN_F_CLOSING))
                return;
            if ((c->flags & CONN_F_READ_PAUSED) && !(c->flags & CONN_F_CLOSE_FLUSH)) {
                if (!(c->flags & CONN_F_TP_WR_WANTS_R))
                    rev_off(c);
                return;
            }
        }
        if (c->flags & CONN_F_CLOSE_FLUSH) {
            /* Lingering after our FIN: discard input until the peer's FIN. */
            long n = c->tp->read(c, c->in, 64 * 1024);
            evbuffer_drain(c->in, evbuffer_get_length(c->in));
            if (n < 0) {
                c->flags |= CONN_F_READ_EOF;
                conn_close(c, false);
            } else if (n > 0) {
                kick_buffered(c); /* the peer's end may be parked behind that data */
            }
            return;
        }
    }
    size_t have = evbuffer_get_length(c->in);
    size_t room = (c->flags & CONN_F_SPLICE) ? READ_CHUNK : have < c->limit ? c->limit - have : 0;
    if (room == 0) {
        conn_read_disable(c); /* the owner is not consuming: back-pressure */
        return;
    }
    long n = c->tp->read(c, c->in, room < READ_CHUNK ? room : READ_CHUNK);
    if (n > 0) {
        c->rx_bytes += (uint64_t)n;
        if (c->sb && c->st_rx >= 0)
            stats_add(c->sb, (unsigned)c->st_rx, n);
        if (c->cbs && c->cbs->on_read)
            c->cbs->on_read(c);
        /* Plain conns test one word here; TLS ones may still hold decrypted input. */
        if (__builtin_expect((c->flags & (CONN_F_TP_RD_WANTS_W | CONN_F_TP_BUFFERS)) != 0, 0) &&
            !(c->flags & CONN_F_CLOSING)) {
            if (c->flags & CONN_F_TP_RD_WANTS_W)
                wev_on(c); /* the transport's read resumes once the socket is writable */
            kick_buffered(c);
        }
        return;
    }
    if (__builtin_expect((c->flags & CONN_F_TP_RD_WANTS_W) != 0, 0))
        wev_on(c); /* the transport's read resumes once the socket is writable */
    if (n == 0)
        return;
    rev_off(c);
    if (n == -RM_ECLOSED) {
        c->flags |= CONN_F_READ_EOF;
        emit(c, CONN_EV_EOF);
    } else {
        emit(c, CONN_EV_ERROR);
    }
}

static __attribute__((noinline)) void read_retry(struct conn *c)
{
    on_readable_held(c->fd, EV_READ, c);
}

static void on_writable_held(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)what;
    c->flags &= ~CONN_F_WEV_KICKED;
    if (c->flags & CONN_F_CONNECTING) {
        int err = c->err;
        if (!err) {
            socklen_t l = sizeof(err);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                err = errno;
        }
        if (err == EINPROGRESS)
            return; /* spurious wakeup */
        evtimer_del(&c->timer);
        c->flags &= ~CONN_F_CONNECTING;
        wev_off(c);
        if (err) {
            c->err = err;
            emit(c, CONN_EV_ERROR);
            return;
        }
        socklen_t len = sizeof(c->local);
        getsockname(c->fd, &c->local.sa, &len);
        emit(c, CONN_EV_CONNECTED);
        return;
    }
    if (c->flags & CONN_F_ERR_PENDING) {
        /* A failure recorded by conn_flush(): report it now, from the loop. */
        c->flags &= ~CONN_F_ERR_PENDING;
        wev_off(c);
        if (!c->cbs)
            conn_close(c, false);
        else
            emit(c, CONN_EV_ERROR);
        return;
    }
    if (c->flags & CONN_F_TP_RD_WANTS_W) {
        /* A transport read (TLS handshake) waited for this: retry it first. */
        c->flags &= ~CONN_F_TP_RD_WANTS_W;
        read_retry(c);
        if (c->flags & CONN_F_CLOSING)
            return;
    }
    (void)write_from_loop(c);
}

/* Writes c->out from the loop and reports the outcome to the owner. False when the conn
 * failed or closed. */
static bool write_from_loop(struct conn *c)
{
    long n = out_len(c) ? c->tp->write(c, c->out) : 0;
    if (n < 0) {
        wev_off(c);
        if (c->flags & CONN_F_CLOSE_FLUSH) {
            conn_close(c, false);
            return false;
        }
        emit(c, CONN_EV_ERROR);
        return false;
    }
    if (n > 0)
        count_tx(c, n);
    if (!after_write(c, true))
        return false;
    kick_after_write(c);
    /* From the loop (never inside the owner's own calls) tell it the output drained, so a
     * session waiting on both FINs can finish. */
    if (c->cbs && out_len(c) == 0 && !(c->flags & CONN_F_SHUT_PENDING))
        emit(c, CONN_EV_DRAINED);
    return true;
}

/* Socket callbacks read the monotonic clock once each (alog_clock_hold). */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    alog_clock_hold();
    on_readable_held(fd, what, arg);
    alog_clock_release();
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    alog_clock_hold();
    on_writable_held(fd, what, arg);
    alog_clock_release();
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    if (c->flags & CONN_F_CLOSE_FLUSH) {
        conn_close(c, false); /* flush cap or linger time reached */
        return;
    }
    if (c->flags & CONN_F_CONNECTING) {
        c->flags &= ~CONN_F_CONNECTING;
        wev_off(c);
        c->err = ETIMEDOUT;
        emit(c, CONN_EV_TIMEOUT);
    }
}

void conn_addr_str(const void *sa, char *out, size_t cap)
{
    const struct sockaddr *a = sa;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, ntohs(s4->sin_port));
    } else if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        snprintf(out, cap, "-");
    }
}
