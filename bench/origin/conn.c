/* SPDX-License-Identifier: Apache-2.0 */
/* bench/origin/conn.c — remora-origin connections: accept, TLS handshake, protocol detection
 * (ALPN or the HTTP/2 preface), socket I/O and the close paths (lingering FIN, RST after the
 * send queue drained). Also the raw TCP echo mode. A connection lives on one worker; it is
 * freed only from its own event callbacks, never from inside a codec callback. */
#include "bench/origin/origin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define RESET_POLL_MAX 2000 /* 1 ms polls of SIOCOUTQ before the RST goes anyway */
#define LINGER_SECS 2       /* lingering close: wait this long for the peer's FIN */

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

uint64_t worker_rand(struct worker *w)
{
    uint64_t x = w->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void conn_free(struct conn *c, bool reset)
{
    if (c->proto == CP_H1)
        h1_fini(c);
    else if (c->proto == CP_H2)
        h2_fini(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    event_free(c->ev_rd);
    event_free(c->ev_wr);
    event_free(c->ev_timer);
    evbuffer_free(c->out);
    lbuf_fini(&c->in);
    sock_close(&c->sk, reset);
    free(c);
}

static void set_ev(struct conn *c, struct event *ev, unsigned flag, bool on)
{
    if (on && !(c->flags & flag)) {
        event_add(ev, NULL);
        c->flags |= flag;
    } else if (!on && (c->flags & flag)) {
        event_del(ev);
        c->flags &= ~flag;
    }
}

static void update_events(struct conn *c)
{
    size_t outlen = evbuffer_get_length(c->out);
    bool rd = !(c->flags & (CONN_F_PEER_EOF | CONN_F_RESET_AFTER_FLUSH)) && !lbuf_is_full(&c->in) &&
              (outlen < OUT_HIGH || (c->flags & CONN_F_LINGERING));
    set_ev(c, c->ev_rd, CONN_F_RD_ON, rd);
    set_ev(c, c->ev_wr, CONN_F_WR_ON, outlen > 0 || c->sk.want_write);
}

static void pump(struct conn *c)
{
    if (c->proto == CP_H1)
        h1_pump(c);
    else if (c->proto == CP_H2)
        h2_pump(c);
}

static bool has_more(const struct conn *c)
{
    if (c->proto == CP_H1)
        return h1_has_more(c);
    if (c->proto == CP_H2)
        return h2_has_more(c);
    return false;
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

/* The RST must not overtake bytes still in the send queue: close(2) with SO_LINGER 0 discards
 * them. Poll SIOCOUTQ every millisecond until the peer acknowledged everything. */
static int reset_when_drained(struct conn *c)
{
    if (net_unsent(c->sk.fd) > 0 && c->reset_polls++ < RESET_POLL_MAX) {
        struct timeval tv = {0, 1000};
        evtimer_add(c->ev_timer, &tv);
        set_ev(c, c->ev_rd, CONN_F_RD_ON, false);
        set_ev(c, c->ev_wr, CONN_F_WR_ON, false);
        return 0;
    }
    conn_free(c, true);
    return -1;
}

static void start_lingering(struct conn *c)
{
    struct timeval tv = {LINGER_SECS, 0};
    if (c->sk.ssl)
        SSL_shutdown(c->sk.ssl); /* close_notify; the answer is not awaited */
    shutdown(c->sk.fd, SHUT_WR);
    c->flags |= CONN_F_LINGERING;
    evtimer_add(c->ev_timer, &tv);
}

int conn_run(struct conn *c)
{
    for (;;) {
        if (!(c->flags & CONN_F_LINGERING))
            pump(c);
        ssize_t rc = sock_flush(&c->sk, c->out);
        if (rc < 0) {
            conn_free(c, false);
            return -1;
        }
        if (rc == 0 || evbuffer_get_length(c->out) > 0 || !has_more(c) ||
            (c->flags & (CONN_F_RESET_AFTER_FLUSH | CONN_F_CLOSE_AFTER_FLUSH)))
            break;
    }
    if (evbuffer_get_length(c->out) == 0) {
        if (c->flags & CONN_F_RESET_AFTER_FLUSH)
            return reset_when_drained(c);
        if (c->proto == CP_H2 && h2_is_done(c))
            c->flags |= CONN_F_CLOSE_AFTER_FLUSH;
        if ((c->flags & CONN_F_CLOSE_AFTER_FLUSH) && !(c->flags & CONN_F_LINGERING)) {
            if (c->flags & CONN_F_PEER_EOF) {
                conn_free(c, false);
                return -1;
            }
            start_lingering(c);
        }
    }
    update_events(c);
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->flags & CONN_F_RESET_AFTER_FLUSH) {
        reset_when_drained(c);
    } else if (c->flags & CONN_F_LINGERING) {
        conn_free(c, false);
    } else if (c->proto == CP_H1) {
        h1_on_timer(c);
        conn_run(c);
    }
}

/* Chooses the protocol once the first bytes (or the ALPN result) are known. Returns 0 when
 * decided, 1 when more bytes are needed, <0 on failure. */
static int detect(struct conn *c)
{
    char alpn[32];
    sock_alpn(&c->sk, alpn, sizeof(alpn));
    if (origin_opts.tcp_echo) {
        c->proto = CP_TCP;
        return 0;
    }
    if (c->sk.ssl && alpn[0]) {
        if (strcmp(alpn, "h2") == 0) {
            c->proto = CP_H2;
            return h2_start(c);
        }
        c->proto = CP_H1;
        h1_start(c);
        return 0;
    }
    size_t n = lbuf_used(&c->in), pl = sizeof(h2_preface) - 1;
    if (!origin_opts.no_h2 && memcmp(lbuf_head(&c->in), h2_preface, n < pl ? n : pl) == 0) {
        if (n < pl)
            return (c->flags & CONN_F_PEER_EOF) ? -RM_EPROTO : 1;
        c->proto = CP_H2;
        return h2_start(c);
    }
    c->proto = CP_H1;
    h1_start(c);
    return 0;
}

static void tcp_echo(struct conn *c)
{
    size_t n = lbuf_used(&c->in);
    if (n) {
        evbuffer_add(c->out, lbuf_head(&c->in), n);
        lbuf_consume(&c->in, n);
    }
    if (c->flags & CONN_F_PEER_EOF)
        c->flags |= CONN_F_CLOSE_AFTER_FLUSH;
}

/* Reads what the socket has into c->in. Returns 0, or -1 when |c| was freed. */
static int fill_input(struct conn *c)
{
    for (;;) {
        size_t space = lbuf_reserve(&c->in, 16384);
        if (space == 0)
            return 0;
        ssize_t n = sock_read(&c->sk, c->in.data + c->in.len, space);
        if (n > 0) {
            c->in.len += (size_t)n;
            if (!c->sk.ssl && (size_t)n < space)
                return 0;
            continue;
        }
        if (n == 0)
            return 0;
        if (n == -RM_ECLOSED) {
            c->flags |= CONN_F_PEER_EOF;
            return 0;
        }
        conn_free(c, false);
        return -1;
    }
}

static void on_io(struct conn *c)
{
    if (c->proto == CP_HANDSHAKE) {
        int rc = sock_handshake(&c->sk);
        if (rc < 0) {
            conn_free(c, false);
            return;
        }
        if (rc == 0) {
            update_events(c);
            return;
        }
        c->proto = CP_DETECT;
    }
    if (c->flags & CONN_F_LINGERING) {
        char junk[16384];
        for (;;) {
            ssize_t n = sock_read(&c->sk, junk, sizeof(junk));
            if (n == 0)
                return;
            if (n < 0) {
                conn_free(c, false);
                return;
            }
        }
    }
    if (!(c->flags & CONN_F_PEER_EOF) && fill_input(c) < 0)
        return;
    if (c->proto == CP_DETECT) {
        int rc = detect(c);
        if (rc < 0) {
            conn_free(c, false);
            return;
        }
        if (rc == 1) {
            update_events(c);
            return;
        }
    }
    switch (c->proto) {
    case CP_TCP:
        tcp_echo(c);
        break;
    case CP_H2:
        if (h2_input(c) < 0)
            c->flags |= CONN_F_CLOSE_AFTER_FLUSH; /* flush the GOAWAY the session queued */
        break;
    default: /* CP_H1 parses in its pump */
        break;
    }
    conn_run(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    on_io(arg);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    c->flags &= ~CONN_F_WR_ON; /* ev_wr is not persistent */
    if (c->proto == CP_HANDSHAKE || c->sk.want_write) {
        on_io(c);
        return;
    }
    conn_run(c);
}

void conn_accept(struct worker *w, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    sock_init(&c->sk, fd);
    lbuf_init(&c->in, IN_MAX);
    c->out = evbuffer_new();
    c->ev_rd = event_new(w->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->ev_wr = event_new(w->base, fd, EV_WRITE, on_write, c);
    c->ev_timer = evtimer_new(w->base, on_timer, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    if (!c->out || !c->ev_rd || !c->ev_wr || !c->ev_timer) {
        conn_free(c, false);
        return;
    }
    net_set_nodelay(fd);
    c->proto = CP_DETECT;
    if (origin_opts.tls) {
        if (sock_tls_new(&c->sk, origin_opts.tls, true, NULL) < 0) {
            conn_free(c, false);
            return;
        }
        c->proto = CP_HANDSHAKE;
    } else if (origin_opts.tcp_echo) {
        c->proto = CP_TCP;
    }
    update_events(c);
}
