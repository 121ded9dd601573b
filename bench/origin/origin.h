/* SPDX-License-Identifier: Apache-2.0 */
/* bench/origin/origin.h — remora-origin's shared types: options (read-only after startup),
 * workers (one event_base and one SO_REUSEPORT listener per thread) and connections, which
 * belong to one worker forever. Protocol modules: h1.c, h2.c; request behaviour: req.c. */
#ifndef ORIGIN_H
#define ORIGIN_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/sha.h>

#include "bench/common/lbuf.h"
#include "bench/common/net.h"
#include "bench/common/sock.h"

struct event;
struct event_base;
struct evbuffer;

#define OUT_HIGH (256u * 1024) /* stop producing output above this many queued bytes */
#define IN_MAX (1024u * 1024)  /* input buffer cap per connection */
#define HEAD_MAX (64u * 1024)  /* request head limit (431 above) */
#define MAX_HEADERS 128        /* request header count limit (431 above) */
#define BODY_CHUNK 65536       /* size of the static response body block */

struct origin_opts {
    struct net_addr listen;
    const char *name;        /* x-origin-name value and echo "name" */
    int threads;             /* worker threads, each with its own listener */
    uint64_t size;           /* default response body bytes */
    int status;              /* default response status */
    uint32_t latency_ms;     /* default fixed latency; with latency_ms_max: lower bound */
    uint32_t latency_ms_max; /* 0 = fixed latency */
    double fail_fraction;    /* share of requests answered 503, 0..1 */
    bool tcp_echo;           /* raw TCP echo instead of HTTP */
    bool no_h2;              /* refuse HTTP/2 (no preface detection, ALPN http/1.1 only) */
    SSL_CTX *tls;            /* NULL = cleartext */
};

extern struct origin_opts origin_opts;
extern const char origin_body_block[BODY_CHUNK]; /* 'x' bytes served as bodies */

struct worker {
    struct event_base *base;
    int lfd; /* this thread's listener */
    struct event *ev_accept;
    struct conn *conns; /* all live connections (for teardown) */
    uint64_t rng;       /* xorshift64* state */
    uint64_t requests;  /* requests answered by this worker */
};

enum reset_mode {
    RESET_NONE,
    RESET_BEFORE_HEADERS, /* RST instead of a response */
    RESET_AFTER_HEADERS,  /* head sent, then RST */
    RESET_BODY,           /* head and reset_after body bytes sent, then RST */
};

/* One request's parsed facts and the behaviour chosen for it (defaults, then headers). */
struct req {
    int status;         /* response status to send */
    uint64_t size;      /* response body bytes (ignored for echo) */
    int64_t latency_ms; /* -1 = not set by a header */
    double fail;        /* -1 = not set by a header */
    enum reset_mode reset;
    uint64_t reset_after; /* RESET_BODY: body bytes sent before the RST */
    bool cut_fin;         /* RESET_AFTER_HEADERS/_BODY end with a clean FIN, not an RST
                           * (x-origin-close: after-headers | mid-body[=N]) */
    bool close;           /* close the connection after this response */
    bool echo;            /* path is /echo: answer with the JSON description */
    bool head;            /* HEAD: no body */
    char *method, *path;  /* malloc'd; kept only for echo */
    char version[12];     /* "HTTP/1.1", "HTTP/2" */
    char *hdrs;           /* echo only: "name\0value\0" pairs, malloc'd */
    size_t hdrs_len, hdrs_cap;
    unsigned n_hdrs;
    uint64_t body_bytes; /* request body bytes received */
    SHA256_CTX sha;      /* echo only: digest of the request body */
};

#define CONN_F_CLOSE_AFTER_FLUSH 0x01u /* FIN (lingering close) once out is empty */
#define CONN_F_RESET_AFTER_FLUSH 0x02u /* RST once out is empty and acknowledged */
#define CONN_F_LINGERING 0x04u         /* write side shut; discarding input until EOF */
#define CONN_F_PEER_EOF 0x08u          /* the peer finished sending */
#define CONN_F_RD_ON 0x10u             /* ev_rd is added */
#define CONN_F_WR_ON 0x20u             /* ev_wr is added */

enum conn_proto { CP_HANDSHAKE, CP_DETECT, CP_H1, CP_H2, CP_TCP };

enum h1_state {
    H1_HEAD,
    H1_BODY_CL,
    H1_CHUNK_SIZE,
    H1_CHUNK_DATA,
    H1_CHUNK_CRLF,
    H1_TRAILER,
    H1_WAIT
};

struct h1_sess {
    enum h1_state st;
    uint64_t body_left;    /* request body (or current chunk) bytes still to read */
    size_t scan;           /* bytes of the buffered head already searched for CRLFCRLF */
    uint64_t resp_left;    /* response body bytes still to queue */
    bool reset_after_resp; /* RST when resp_left reaches 0 */
    bool cut_fin;          /* ... a FIN instead of that RST (x-origin-close: mid-body) */
    bool close_after_resp; /* FIN when resp_left reaches 0 */
    bool keep_alive;       /* the request allows keep-alive */
    bool out_stalled;      /* h1_pump stopped on OUT_HIGH with work left */
    struct req req;
};

struct conn {
    struct worker *w;
    struct conn *prev, *next; /* worker->conns */
    struct sock sk;
    struct event *ev_rd, *ev_wr;
    struct event *ev_timer; /* h1 latency, RST drain polling, lingering timeout */
    struct lbuf in;
    struct evbuffer *out;
    enum conn_proto proto;
    unsigned flags;       /* CONN_F_* */
    unsigned reset_polls; /* SIOCOUTQ polls done while waiting to RST */
    struct h1_sess h1;
    struct h2_sess *h2; /* CP_H2 only */
};

/* conn.c */
void conn_accept(struct worker *w, int fd);
void conn_free(struct conn *c, bool reset);
/* Produces and flushes output, then applies close/reset flags and re-arms events. May free
 * |c|: returns -1 then, else 0. */
int conn_run(struct conn *c);
uint64_t worker_rand(struct worker *w);

/* req.c */
void req_init(struct req *r);
void req_fini(struct req *r);
/* Records the request line; |version| NUL-terminated. Returns 0 or -RM_ENOMEM. */
int req_set_line(struct req *r, const char *m, size_t ml, const char *p, size_t pl,
                 const char *version);
/* Applies one header (x-origin-* controls) and keeps it for echo. Returns 0 or -RM_ENOMEM. */
int req_add_header(struct req *r, const char *n, size_t nl, const char *v, size_t vl);
void req_body(struct req *r, const void *p, size_t n);
/* Final per-request decisions (fail fraction, random latency); returns the latency in ms. */
uint32_t req_decide(struct req *r, struct worker *w);
/* Appends the /echo JSON document for |r| to |out|. */
void req_echo_json(struct req *r, struct evbuffer *out);
const char *req_reason(int status);
/* True when a response with |status| carries no body (1xx, 204, 304). */
bool req_status_has_no_body(int status);

/* h1.c */
void h1_start(struct conn *c);
/* Parses and answers buffered requests; queues response bytes up to OUT_HIGH. */
void h1_pump(struct conn *c);
bool h1_has_more(const struct conn *c);
/* c->ev_timer fired while the connection waits out a response latency. */
void h1_on_timer(struct conn *c);
void h1_fini(struct conn *c);

/* h2.c */
int h2_start(struct conn *c); /* 0 or -RM_ENOMEM */
/* Feeds buffered input to the session; <0 on a fatal protocol error. */
int h2_input(struct conn *c);
void h2_pump(struct conn *c);
bool h2_has_more(const struct conn *c);
/* True once the session wants neither to read nor to write (GOAWAY done). */
bool h2_is_done(const struct conn *c);
void h2_fini(struct conn *c);

#endif
