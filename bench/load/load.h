/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/load.h — remora-load's shared types. Options and targets are built on the main
 * thread and read-only afterwards; each worker thread owns its connections and its stats, which
 * the main thread merges after joining (live progress reads relaxed atomic counters only). */
#ifndef LOAD_H
#define LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "bench/common/lbuf.h"
#include "bench/common/net.h"
#include "bench/common/sock.h"
#include "bench/common/tls.h"
#include "bench/load/hist.h"

struct event;
struct event_base;
struct evbuffer;

#define LOAD_MAX_HEADERS 64
#define LOAD_HEAD_MAX (64u * 1024) /* response head limit */

/* One host:port (and scheme) the run talks to. Connections are bound to one endpoint. */
struct endpoint {
    bool tls;   /* https */
    char *host; /* as written in the URL, without brackets */
    int port;
    char *authority;      /* Host / :authority value */
    struct net_addr addr; /* resolved once at startup */
    unsigned weight;      /* sum of its targets' weights */
    unsigned *targets;    /* indexes into load_opts.targets */
    unsigned n_targets;
};

/* One URL with its weight and its pre-built request. */
struct target {
    char *url;
    unsigned ep; /* index into load_opts.eps */
    char *path;  /* origin-form request target */
    unsigned weight;
    char *h1_req; /* serialized HTTP/1.1 request head + body */
    size_t h1_len;
    nghttp2_nv *nva; /* HTTP/2 header block (names lowercased) */
    size_t n_nva;
};

struct load_opts {
    int conns;                       /* -c: connections in total */
    int threads;                     /* -t */
    int streams;                     /* -m: concurrent streams per HTTP/2 connection */
    int pipeline;                    /* --pipeline: requests in flight per HTTP/1.1 connection */
    double duration;                 /* -d seconds; 0 = until -n */
    uint64_t requests;               /* -n measured requests; 0 = until -d */
    double warmup;                   /* --warmup seconds, not measured */
    double rate;                     /* -R requests/s in total; 0 = closed loop */
    double timeout;                  /* --timeout seconds per request and per connect */
    bool new_conn;                   /* --new-conn: one connection per request */
    bool h2;                         /* --h2: HTTP/2 (prior knowledge on http, ALPN h2 on https) */
    bool tcp;                        /* --tcp: raw TCP throughput */
    uint64_t tcp_bytes;              /* --bytes: total bytes to send in --tcp mode; 0 = until -d */
    size_t tcp_chunk;                /* --tcp write size */
    bool json;                       /* --json */
    bool progress;                   /* live line on stderr (tty and not CI) */
    int check_status;                /* --check-status; 0 = off */
    const char *method;              /* -X */
    char *headers[LOAD_MAX_HEADERS]; /* -H "name: value" (argv strings; names lowercased) */
    int n_headers;
    char *body; /* --body file contents, or NULL */
    size_t body_len;
    struct target *targets;
    unsigned n_targets;
    struct endpoint *eps;
    unsigned n_eps;
    struct tls_client *tls; /* trust store and identity, when any endpoint is https */
    const char *cacert, *cert, *key;
    bool insecure;
    bool no_verify_cache; /* --no-verify-cache: verify every server chain in full */
};

extern struct load_opts lopt;

/* Shared run clock, set by main before the workers start (ns, CLOCK_MONOTONIC). */
struct run_clock {
    uint64_t start;         /* load starts */
    uint64_t measure;       /* warm-up ends, measurement starts */
    uint64_t end;           /* measurement ends (-d); UINT64_MAX without -d */
    _Atomic int64_t tokens; /* -n: measured requests not yet issued */
};

extern struct run_clock run_clock;

enum err_kind {
    ERR_CONNECT,  /* TCP connect failed or timed out */
    ERR_TLS,      /* TLS handshake failed or ALPN mismatch */
    ERR_TIMEOUT,  /* no complete response within --timeout */
    ERR_RESET,    /* ECONNRESET or RST_STREAM from the peer */
    ERR_CLOSED,   /* the peer closed before the response completed */
    ERR_PROTOCOL, /* malformed response, or HTTP/2 protocol error */
    ERR__N,
};

extern const char *const err_kind_names[ERR__N];

struct stats {
    struct hist lat;     /* request latency, µs (from the intended send time) */
    struct hist tls;     /* TLS handshake time, µs */
    struct hist connect; /* TCP connect time, µs */
    uint64_t responses;  /* complete responses of any status */
    uint64_t status[6];  /* [1..5] = 1xx..5xx, [0] = other */
    uint64_t errors[ERR__N];
    uint64_t mismatches;         /* --check-status: responses with another status */
    uint64_t rx_bytes, tx_bytes; /* wire bytes (after TLS) inside the measured window */
    uint64_t conns;              /* connections established (TCP, and TLS when used) */
    uint64_t req_errors;         /* measured requests that ended in an error (any kind) */
    uint64_t late; /* -R: requests due inside the window that were never sent (it fell behind) */
    uint64_t first_ns, last_ns;     /* first issue and last completion in the window; 0 = none */
    struct tls_verify_stats verify; /* server chain checks, whole run (warm-up included) */
};

int stats_init(struct stats *s);
void stats_fini(struct stats *s);
void stats_merge(struct stats *dst, const struct stats *src);
uint64_t stats_errors(const struct stats *s); /* error events of every kind */

/* One request in flight. */
struct lreq {
    uint64_t t0;   /* intended send time, ns */
    uint64_t sent; /* actual send time, ns (timeouts run from here) */
    uint32_t target;
    int32_t stream_id; /* HTTP/2; 0 = not yet submitted */
    int status;        /* HTTP/2 :status, 0 until seen */
    size_t body_off;   /* HTTP/2 request body bytes sent */
    bool measured;     /* issued inside the measured window */
    bool used;         /* slot in use (HTTP/2) */
};

enum lconn_state { LC_IDLE, LC_CONNECTING, LC_HANDSHAKE, LC_READY, LC_DRAINING };
enum lconn_proto { LP_H1, LP_H2, LP_TCP };

enum h1r_state {
    H1R_HEAD,
    H1R_BODY_CL,
    H1R_CHUNK_SIZE,
    H1R_CHUNK_DATA,
    H1R_CHUNK_CRLF,
    H1R_TRAILER,
    H1R_BODY_EOF
};

struct lconn {
    struct worker *w;
    int idx; /* index in worker->conns */
    struct endpoint *ep;
    enum lconn_state state;
    enum lconn_proto proto;
    struct sock sk;
    struct event *ev_rd, *ev_wr;
    struct event *ev_timer; /* rate schedule and reconnect backoff */
    struct lbuf in;
    struct evbuffer *out;
    bool rd_on, wr_on, timer_on;
    uint64_t t_connect;  /* connect() started, ns */
    uint64_t t_tcp;      /* TCP established, ns */
    unsigned backoff_ms; /* reconnect delay after a connect error; 0 = none */
    /* requests */
    struct lreq *q; /* HTTP/1: ring of |depth|; HTTP/2: |depth| slots */
    unsigned depth; /* pipeline depth or -m */
    unsigned q_head, inflight;
    int64_t *swrr;     /* smooth weighted round-robin state per ep target */
    uint64_t next_due; /* -R: intended time of the next request, ns */
    uint64_t interval; /* -R: ns between this connection's requests */
    bool close_after;  /* HTTP/1: the peer announced Connection: close */
    /* HTTP/1 response parser */
    enum h1r_state rst;
    uint64_t left; /* body or chunk bytes left */
    size_t scan;
    int status;
    /* HTTP/2 */
    struct nghttp2_session *ng;
    bool goaway;
    /* TCP mode */
    uint64_t tcp_left; /* bytes still to send; UINT64_MAX = until -d */
    bool tcp_shut;     /* our write side is shut */
    bool finished;     /* TCP mode: this connection completed its transfer */
    bool proven;       /* the peer answered on this connection (a response, or TCP ready):
                        * only then is the reconnect backoff reset */
};

struct worker {
    int id;
    struct event_base *base;
    struct lconn *conns;
    int n_conns;
    SSL_CTX *tls;          /* this thread's client context (tls_client_ctx_new); NULL = no TLS */
    int first_conn;        /* global index of conns[0] */
    struct event *ev_tick; /* 10 Hz: timeouts, deadline, stop checks */
    struct event *ev_end;  /* fires at run_clock.end */
    struct stats st;
    bool stopping; /* no new requests */
    bool done;
    uint64_t inflight;
    uint64_t last_answer;      /* ns of the last response (TCP: connect); run start at first */
    uint64_t last_connect_err; /* ns of the last failed connect or handshake; 0 = none */
    _Atomic uint64_t live_responses, live_errors; /* progress line */
};

uint64_t now_ns(void);

/* conn.c: connection lifecycle shared by the protocols */
/* Allocates |c|'s buffers and queue on |w| (c->ep set by the caller). 0 or -RM_ENOMEM. */
int lconn_init(struct lconn *c, struct worker *w, int idx);
void lconn_fini(struct lconn *c);
void lconn_start(struct lconn *c);
/* Issues requests while the connection has room and the schedule allows. */
void lconn_fill(struct lconn *c);
/* Flushes output and re-arms events. Returns -1 when the connection failed (it has been torn
 * down and a reconnect scheduled), else 0. */
int lconn_flush(struct lconn *c);
/* Tears the connection down, charging each request in flight to |kind| (ERR__N = not an error,
 * e.g. abandoned at the end), then reconnects unless the worker stops. */
void lconn_fail(struct lconn *c, enum err_kind kind);
void lconn_close(struct lconn *c);
/* Records a complete response / a failed request, and frees its in-flight accounting. */
void lconn_done(struct lconn *c, struct lreq *rq, int status, uint64_t now);
void lconn_error(struct lconn *c, struct lreq *rq, enum err_kind kind, uint64_t now);
void lconn_check_timeouts(struct lconn *c, uint64_t now);
bool worker_can_issue(struct worker *w, uint64_t t0, bool *measured);
void worker_maybe_finish(struct worker *w);
/* Runs |w|'s connections on w->base (created and freed by the caller, so that another thread
 * may event_base_loopbreak() it at any time) until the run ends. 0 or -RM_ENOMEM. */
int worker_run(struct worker *w);

/* h1.c */
void h1_send(struct lconn *c, struct lreq *rq);
/* Parses buffered response bytes; <0 on a protocol error (the caller fails the conn). */
int h1_input(struct lconn *c);
/* The peer closed: completes a read-until-close body. Returns true if it did. */
bool h1_on_eof(struct lconn *c);

/* h2.c */
int h2_start(struct lconn *c);
void h2_send(struct lconn *c, struct lreq *rq);
int h2_input(struct lconn *c);
void h2_pump(struct lconn *c);
void h2_cancel(struct lconn *c, struct lreq *rq);
void h2_fini(struct lconn *c);

/* tcp.c */
void tcp_start(struct lconn *c);
void tcp_pump(struct lconn *c);
void tcp_input(struct lconn *c, size_t n);

/* report.c */
void report_human(const struct stats *s, double elapsed);
void report_json(const struct stats *s, double elapsed);
void report_progress(double t, uint64_t responses, uint64_t errors, double rps);

/* url.c */
int url_add_target(const char *spec);
int url_build_requests(void);
void url_free_all(void);

#endif
