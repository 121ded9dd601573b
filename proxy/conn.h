/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/conn.h — one downstream or upstream TCP connection owned by a worker: the fd, an
 * input and an output evbuffer, its transport, watermarks and connect timeout. The owner
 * (a network filter session) gets callbacks; it moves bytes between conns by moving
 * evbuffer chains (never copying). A conn is freed only from the worker's deferred list,
 * never inside its own callback chain. */
#ifndef RM_CONN_H
#define RM_CONN_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/list.h"

struct worker;
struct evbuffer;
struct stats_block;
struct transport_ops;
struct conn;

enum conn_event {
    CONN_EV_CONNECTED, /* an outbound connect completed */
    CONN_EV_EOF,       /* the peer half-closed (read side finished); writes may continue */
    CONN_EV_ERROR,     /* reset or socket error: the conn is unusable (c->err holds errno) */
    CONN_EV_TIMEOUT,   /* the connect timeout expired */
    CONN_EV_DRAINED,   /* c->out became empty from the loop (and a pending FIN went out) */
};

/* A socket address of the families a proxy connection can have (v4, v6). */
union rm_addr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

/* Copies |a| into a sockaddr_storage (the access log's and the router's records). */
static inline void rm_addr_store(struct sockaddr_storage *out, const union rm_addr *a)
{
    memset(out, 0, sizeof(*out));
    memcpy(out, a, sizeof(*a));
}

struct conn_cbs {
    void (*on_read)(struct conn *c);      /* new bytes in c->in */
    void (*on_write_low)(struct conn *c); /* c->out fell below the low watermark */
    void (*on_event)(struct conn *c, enum conn_event ev);
    /* Optional: the server started draining. Idle connections close now; busy ones finish
     * what they do and close after (HTTP: connection: close on the next response). */
    void (*on_drain)(struct conn *c);
};

#define CONN_F_CONNECTING 0x0001u     /* outbound connect in progress */
#define CONN_F_READ_PAUSED 0x0002u    /* reading disabled by flow control */
#define CONN_F_READ_EOF 0x0004u       /* peer sent FIN */
#define CONN_F_SHUT_PENDING 0x0008u   /* shutdown_write once c->out drains */
#define CONN_F_WRITE_SHUT 0x0010u     /* FIN sent */
#define CONN_F_CLOSING 0x0020u        /* closed; waiting on the deferred-free list */
#define CONN_F_ABOVE_HIGH 0x0040u     /* c->out crossed the high watermark */
#define CONN_F_CLOSE_FLUSH 0x0080u    /* close once c->out drains */
#define CONN_F_UPSTREAM 0x0100u       /* we initiated it */
#define CONN_F_ERR_PENDING 0x0200u    /* a write failed; CONN_EV_ERROR comes from the loop */
#define CONN_F_RD_EOF_PENDING 0x0400u /* transport saw EOF after returning data */
#define CONN_F_RD_ERR_PENDING 0x0800u /* transport saw an error after returning data */
#define CONN_F_LINGER 0x1000u         /* FIN sent on close: discarding input until EOF/timer */
#define CONN_F_WEV_ON 0x2000u         /* the write event is armed */
#define CONN_F_REV_ON 0x4000u         /* the read event is armed */
#define CONN_F_SPLICE 0x8000u         /* transport_splice: output lives in a pipe */
#define CONN_F_TP_RD_WANTS_W 0x10000u /* the transport's read waits for writability (TLS) */
#define CONN_F_TP_WR_WANTS_R 0x20000u /* the transport's write waits for readability (TLS) */
#define CONN_F_TP_BUFFERS 0x40000u    /* the transport may hold read input (tp->buffered) */
#define CONN_F_WEV_KICKED 0x100000u   /* the write event was made active by hand (wev_kick) */
#define CONN_F_TP_RD_KICK 0x80000u    /* the transport's write read input: run the read */

struct conn {
    int fd;
    uint32_t flags;
    struct worker *w;
    struct event rev, wev, timer; /* embedded: no allocation per event */
    struct evbuffer *in, *out;
    const struct transport_ops *tp;
    void *tp_ctx;
    const struct conn_cbs *cbs;
    void *ctx;          /* owner's pointer, given back in callbacks */
    uint32_t limit;     /* per_connection_buffer_limit_bytes: high watermark */
    uint32_t linger_ms; /* wait for the peer's FIN after ours when closing; 0 = 1000 ms */
    int err;            /* errno of the last failure */
    uint64_t id;        /* Envoy's connection id (process-unique) */
    uint64_t rx_bytes, tx_bytes;
    struct stats_block *sb; /* optional byte counters: stat ids below, -1 = none */
    int16_t st_rx, st_tx;
    struct stats_block *listener_stats; /* downstream: listener.<addr>.* (active/destroy) */
    struct hist *cx_length;             /* downstream: listener.<addr>.downstream_cx_length_ms */
    int64_t start_ns;                   /* downstream: accept time */
    struct list_head node;              /* worker->conns or worker->reap */
    union rm_addr peer, local;          /* IPv4/IPv6 only: 28 bytes each, not 128 */
};

/* Wraps an accepted, non-blocking |fd|. Takes ownership of |fd| even on failure. |peer| is
 * what accept4() returned; |local| the listener's address when it is not a wildcard (NULL:
 * asked of the socket). Reading starts disabled; call conn_read_enable(). Returns 0 or
 * -RM_ENOMEM. */
int conn_new_accepted(struct worker *w, int fd, uint32_t limit, const union rm_addr *peer,
                      const union rm_addr *local, struct conn **out);
/* Starts a non-blocking connect to |addr|; CONN_EV_CONNECTED, _ERROR or _TIMEOUT follows
 * (never synchronously). |timeout_ms| 0 = none. Returns 0, or -RM_EIO when the socket
 * could not even be created (c->err holds errno). */
int conn_new_connect(struct worker *w, const struct sockaddr *addr, socklen_t len, uint32_t limit,
                     uint64_t timeout_ms, struct conn **out);

void conn_set_cbs(struct conn *c, const struct conn_cbs *cbs, void *ctx);
void conn_read_enable_slow(struct conn *c);
/* Resumes reading. Inline: callers re-enable after every response, and reading is usually
 * on already. */
static inline void conn_read_enable(struct conn *c)
{
    if ((c->flags & (CONN_F_READ_PAUSED | CONN_F_REV_ON)) != CONN_F_REV_ON)
        conn_read_enable_slow(c);
}
void conn_read_disable(struct conn *c);
/* Writes as much of c->out as the socket takes now and arms the write event for the
 * rest. Call after adding to c->out. Errors are reported through CONN_EV_ERROR, later
 * (deferred), so the caller may keep using |c| after this returns. */
void conn_flush(struct conn *c);
/* Sends FIN after c->out drains (TCP half-close). */
void conn_shutdown_write(struct conn *c);
/* Closes at once: events removed, fd closed, freed after the callbacks unwind. With
 * |reset| the peer gets RST (SO_LINGER 0) instead of FIN. Idempotent. */
void conn_close(struct conn *c, bool reset);
/* Closes after c->out drains (or at once if empty). */
void conn_close_after_flush(struct conn *c);
/* Output not yet written, including bytes a transport holds (splice pipe). */
size_t conn_out_len(const struct conn *c);
/* True when c->out holds more than the high watermark (the producer should pause). */
bool conn_is_above_high(const struct conn *c);

/* Frees a conn from the deferred list (worker.c). */
void conn_free(struct conn *c);

/* Cancels a timer if it is pending or about to run. Cheaper than a bare event_del() on the
 * many timers that are usually not armed (per-request cleanup). */
static inline void timer_cancel(struct event *ev)
{
    if (ev->ev_evcallback.evcb_flags & (EVLIST_TIMEOUT | EVLIST_ACTIVE | EVLIST_ACTIVE_LATER))
        event_del(ev);
}

/* Formats |ss| as "ip:port" ("[v6]:port"). */
void conn_addr_str(const void *sa, char *out, size_t cap);

#endif
