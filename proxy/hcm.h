/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/hcm.h — the HTTP connection manager (envoy.filters.network.http_connection_manager)
 * and its streams, shared by hcm.c (downstream side: codec, stream lifecycle, local replies,
 * access logs, stats) and router.c (route → cluster → host → upstream attempts, retries and
 * timeouts), and hcm_h2.c (the downstream HTTP/2 codec on nghttp2). A downstream HTTP/1.1
 * connection runs one stream at a time: pipelined requests wait in the input buffer and are
 * parsed once the previous response is complete, so they are answered in order. An HTTP/2
 * connection runs many streams at once, each its own struct hstream. The codec is chosen on
 * the first bytes (codec_type AUTO: ALPN "h2" or the client preface). Everything here
 * belongs to one worker. */
#ifndef RM_HCM_H
#define RM_HCM_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/model_http.h"
#include "proxy/arena.h"
#include "proxy/h1_codec.h"
#include "proxy/http_msg.h"
#include "proxy/list.h"

struct worker;
struct conn;
struct snapshot;
struct evbuffer;
struct stats_block;
struct worker_cluster;
struct host;
struct pconn;
struct alog_logger;

/* Process-wide state of one HCM instance (made on main by rt_new, read by workers). */
struct hcm_rt {
    const struct cfg_hcm *cfg;
    struct stats_block *stats; /* http.<stat_prefix>.* */
    struct hist *rq_time;      /* http.<stat_prefix>.downstream_rq_time (ms) */
    struct hist *cx_length;    /* http.<stat_prefix>.downstream_cx_length_ms */
    struct h1_config h1;       /* request limits from the config */
    struct arena arena;        /* access loggers */
    struct alog_logger **loggers;
    size_t n_loggers;
};

struct hstream;
struct nghttp2_session;

struct hcm_conn {
    struct worker *w;
    struct conn *c;
    const struct cfg_hcm *cfg;
    struct hcm_rt *rt;
    struct snapshot *snap; /* the config this connection was accepted with */
    struct h1_parser parser;
    struct hstream *s;     /* the stream being served, or NULL between requests */
    struct hstream *spare; /* the last finished stream, kept for reuse */
    int64_t start_ns;      /* connection start, for downstream_cx_length_ms */
    int64_t idle_since_ns; /* last stream end, for the idle timeout */
    uint32_t n_requests;
    bool close_after;        /* send connection: close and close after this response */
    bool closed;             /* downstream gone or closing; no more streams */
    bool idle_armed;         /* idle_timer pending (armed lazily, see on_conn_idle) */
    bool in_parse;           /* re-entrancy guard for the parse loop */
    bool want_parse;         /* parse again once the current call stack unwinds */
    bool tls;                /* over TLS: :scheme and x-forwarded-proto are https */
    uint8_t scheme_len;      /* 5 ("https") or 4 ("http") */
    const char *scheme;      /* the connection's scheme (a static string) */
    struct event idle_timer; /* common_http_protocol_options.idle_timeout */
    struct event dur_timer;  /* max_connection_duration */
    struct event hdr_timer;  /* request_headers_timeout */
    struct event resume_ev;  /* deferred parse of pipelined requests; HTTP/2: deferred send */
    /* HTTP/2 (hcm_h2.c); h2 is NULL on an HTTP/1.1 connection. */
    struct nghttp2_session *h2;
    struct list_head h2_streams; /* open streams (hstream.h2_node) */
    uint32_t n_h2_streams;
    bool codec_known;     /* HTTP/1.1 or HTTP/2 chosen (first bytes, ALPN) */
    bool h2_goaway;       /* GOAWAY sent or queued: no new streams, close when idle */
    bool h2_send_pending; /* resume_ev is active to send what nghttp2 has queued */
};

/* One upstream attempt (Envoy's UpstreamRequest). */
struct upstream_req {
    struct hstream *s;
    struct pconn *pc;        /* NULL while pending a connection */
    struct host *host;       /* reference held */
    struct h1_parser parser; /* response parser */
    bool reused;             /* on a pooled connection */
    bool connected;
    bool head_sent;
    bool req_done;           /* the whole request is written */
    bool resp_head;          /* a response head arrived */
    bool resp_bytes;         /* any response byte arrived */
    bool raw;                /* CONNECT terminated here: raw TCP, no HTTP upstream */
    size_t body_off;         /* bytes of s->body already sent (when kept for retries) */
    struct event idle_timer; /* per_try_idle_timeout (armed lazily) */
    int64_t last_rx_ns;      /* last response byte, for the per-try idle timeout */
    int64_t start_ns;
};

#define HS_REQ_DONE 0x0001u      /* downstream request complete (end_stream seen) */
#define HS_RESP_STARTED 0x0002u  /* response head sent downstream */
#define HS_RESP_DONE 0x0004u     /* response complete downstream */
#define HS_NO_RETRY_BODY 0x0008u /* request body too large to buffer: no retry */
#define HS_RESP_CHUNKED 0x0010u  /* downstream response uses chunked framing */
#define HS_RESP_CLOSE 0x0020u    /* downstream response delimited by connection close */
#define HS_HEAD_REQ 0x0040u      /* request method HEAD */
#define HS_TRUSTED 0x0080u       /* x-envoy-* request headers honoured */
#define HS_EXPECT_100 0x0100u    /* 100-continue pending */
#define HS_DONE 0x0200u          /* stream finished (freed soon) */
#define HS_PENDING 0x0400u       /* waiting for a connection (circuit breaker) */
#define HS_UPGRADE 0x0800u /* an upgrade request (Upgrade + Connection: upgrade, or CONNECT) */
#define HS_TUNNEL 0x1000u  /* the upgrade happened: both directions are raw bytes */
#define HS_CLOSING 0x2000u /* HTTP/2: answered or reset; the codec closes it from the loop */

struct hstream {
    /* Kept when the stream object is reused for the connection's next request. */
    struct arena arena;
    struct evbuffer *body; /* request body kept for retries / until connected */
    struct event global_timer, try_timer, idle_timer, backoff_timer, req_timer;
    /* The stream idle and route timers are lazy: armed once, they stay armed while the
     * object serves request after request; when one fires it compares the current request's
     * deadline (below, zeroed per request) and re-arms for what is left, or does nothing for
     * a finished stream. No timer operation per request in the steady state. */
    int64_t idle_fire_ns;          /* when idle_timer fires; 0 = not armed */
    int64_t global_fire_ns;        /* when global_timer fires; 0 = not armed */
    struct upstream_req *ur_spare; /* the last attempt's object, reused by the next one */
    struct evbuffer *h2_out;       /* HTTP/2: response body waiting for nghttp2 (lazy) */
    /* Everything from |hc| on is zeroed for each request. */
    struct hcm_conn *hc;
    int32_t h2_id;            /* HTTP/2 stream id, 0 on HTTP/1.1 */
    uint32_t h2_flags;        /* H2S_* (hcm_h2.c) */
    uint32_t h2_unconsumed;   /* request DATA bytes not yet given back as window */
    uint32_t h2_hdr_bytes;    /* request header bytes so far (max_request_headers_kb) */
    uint32_t h2_hdr_count;    /* request header fields so far (max_headers_count) */
    struct list_head h2_node; /* hcm_conn.h2_streams */
    struct http_msg req, resp;
    uint32_t flags; /* HS_* */
    const struct cfg_vhost *vh;
    const struct cfg_route *route;
    const struct cfg_route_action *act;
    const struct cfg_weighted_cluster_http *wcl; /* chosen weighted cluster or NULL */
    struct worker_cluster *wc;
    const char *cluster_name;
    const struct cfg_retry_policy *retry;
    uint64_t body_bytes;       /* request body bytes received */
    struct upstream_req *up;   /* the current attempt */
    struct http_slice upgrade; /* HS_UPGRADE: the Upgrade value, or "CONNECT" */
    bool connect_term;         /* CONNECT terminated here (route connect_config) */
    struct host *tried[4];     /* hosts already tried (retry_host_predicate) */
    uint32_t n_tried;
    uint32_t attempts; /* upstream attempts started */
    uint32_t retries_left;
    uint32_t retry_on;             /* effective RETRY_ON_* bits */
    uint64_t timeout_ms;           /* route (global) timeout, 0 = none */
    uint64_t per_try_ms;           /* per-try timeout, 0 = none */
    struct list_head pending_node; /* worker_cluster pending list while HS_PENDING */
    /* accounting for stats and the access log */
    uint32_t response_flags;
    const char *details;         /* %RESPONSE_CODE_DETAILS% */
    int status;                  /* status sent downstream */
    uint64_t bytes_rx, bytes_tx; /* body bytes from / to downstream */
    int64_t start_ns, req_done_ns, up_first_ns, resp_done_ns;
    struct timespec start_wall;
    struct sockaddr_storage up_host, up_local;
    bool has_up_host;
    bool retried;        /* at least one retry ran (for retry_success) */
    uint32_t n_replays;  /* transparent re-sends after a pooled-conn race */
    bool force_new_conn; /* the next attempt must not reuse a pooled conn */
    bool mirrored;
    int64_t global_deadline_ns; /* route timeout of this request; 0 = none */
    int64_t last_activity_ns;
    /* for the lazily re-armed stream idle timer */ /* request_mirror_policies already sent */
};

/* ---- hcm.c, for router.c ----------------------------------------------------------------- */

/* Answers the stream locally (Envoy's local reply): |status| with a text/plain |body|
 * (may be NULL), the response flag |rf| and %RESPONSE_CODE_DETAILS% |details|. If the
 * response already started, the downstream connection is reset instead. */
void hcm_local_reply(struct hstream *s, int status, uint32_t rf, const char *details,
                     const char *body);
/* Sends the upstream response head downstream (after the router's mutations). Returns 0 or
 * -RM_E* (then the stream was reset). */
int hcm_send_response_head(struct hstream *s);

/* The upstream accepted an upgrade (101, or 2xx to CONNECT; or a CONNECT terminated here):
 * from now on both directions are raw bytes. Call before hcm_send_response_head(). */
void hcm_tunnel_open(struct hstream *s);
/* Sends body bytes downstream, moving them out of |data| (|n| bytes). */
void hcm_send_response_body(struct hstream *s, struct evbuffer *data, size_t n);
/* The response is complete downstream (with trailers from s->resp.trailers, if any). */
void hcm_response_done(struct hstream *s);
/* Resets the stream: closes the downstream connection (response already started or
 * upstream protocol error after headers). */
void hcm_reset(struct hstream *s, uint32_t rf, const char *details);
/* Flow control: pause/resume reading the downstream request body. */
void hcm_pause_request(struct hstream *s, bool pause);
/* Fills |ctx| (access-log operators, also used by header values with %OPERATORS%) from |s|. */
struct alog_ctx;
void hcm_alog_ctx(struct hstream *s, struct alog_ctx *ctx);
/* Writes what is queued downstream (after a head without body yet). */
void hcm_flush(struct hstream *s);
/* True when the downstream output is above its high watermark. */
bool hcm_downstream_full(const struct hstream *s);
/* True while reading the request body is paused (hcm_pause_request). */
bool hcm_request_paused(const struct hstream *s);
/* Answers Expect: 100-continue with an interim 100 response. */
void hcm_send_continue(struct hstream *s);

/* ---- router.c, for hcm.c ------------------------------------------------------------------ */

/* Assigns the router's timers of a new stream object (once per object, kept on reuse). */
struct event_base;
void router_stream_init(struct hstream *s, struct event_base *base);
/* The request head is complete (s->req): route it and start the first attempt, or answer
 * locally. */
void router_on_request_head(struct hstream *s);
/* More request body is in s->body (|n| new bytes); |end| when the request is complete. */
void router_on_request_data(struct hstream *s, size_t n, bool end);
/* The downstream output drained below its low watermark: resume reading the upstream. */
void router_on_downstream_drained(struct hstream *s);
/* The stream is going away (finished or reset): release the attempt and timers. */
void router_stream_done(struct hstream *s);
/* A connection slot of |cl| freed up on worker |w|: start the oldest pending request. */
struct cluster;
void router_conn_available(struct worker *w, struct cluster *cl);

/* ---- the network filter (filters/network/http_connection_manager.c) ------------------- */
void hcm_on_accept(struct worker *w, struct conn *c, const struct cfg_hcm *cfg, struct hcm_rt *rt);

/* The route may shorten the stream idle timeout (route idle_timeout): re-arms the lazy
 * idle timer when it would fire too late. */
void hcm_stream_idle_update(struct hstream *s);

/* Frees the worker's cached stream objects (worker_fini, after the thread ended). */
void hcm_worker_fini(struct worker *w);

/* ---- hcm.c, for hcm_h2.c ------------------------------------------------------------------ */

/* A new stream on |hc| (HTTP/2: one per request stream). NULL when out of memory. */
struct hstream *hcm_stream_new(struct hcm_conn *hc);
/* The request head in s->req is complete: count, sanitize, route. */
void hcm_stream_request_head(struct hstream *s);
/* The request is complete (end_stream): request_timeout stops. */
void hcm_stream_request_done(struct hstream *s);
/* HTTP/2: the stream closed (both ends, or reset): count, log and free it. */
void hcm_stream_closed(struct hstream *s);
/* Activity on the stream (the stream idle timer). */
void hcm_stream_touch(struct hstream *s);
/* Ends the downstream connection (see conn_done in hcm.c). */
void hcm_conn_done(struct hcm_conn *hc, bool reset);
/* Frees a connection that hcm_conn_done() ended while the codec held it (in_parse). */
void hcm_conn_release(struct hcm_conn *hc);

/* ---- hcm_h2.c, for hcm.c ------------------------------------------------------------------ */

/* True when |p| (|n| bytes) starts with the HTTP/2 client preface; *|more| when the bytes so
 * far are a prefix of it (wait for more before deciding). */
bool h2d_is_preface(const char *p, size_t n, bool *more);
/* Makes |hc| an HTTP/2 connection: the nghttp2 server session and our SETTINGS. Returns 0
 * or -RM_ENOMEM. */
int h2d_start(struct hcm_conn *hc);
/* Feeds what is in c->in to nghttp2 and sends what it queued. */
void h2d_on_read(struct hcm_conn *hc);
/* Sends what nghttp2 queued (from the loop: resume_ev). */
void h2d_run(struct hcm_conn *hc);
/* Asks for h2d_run() from the loop. */
void h2d_schedule(struct hcm_conn *hc);
/* The downstream output drained: send more, resume streams waiting on it. */
void h2d_on_write_low(struct hcm_conn *hc);
/* Submits the response head of |s|, with content-length when |has_length| (never for
 * 1xx, 204, 304). The body follows from h2_out. Returns 0 or -RM_E*. */
int h2d_submit_response(struct hstream *s, uint64_t content_length, bool has_length);
void h2d_send_body(struct hstream *s, struct evbuffer *data, size_t n);
void h2d_response_done(struct hstream *s);
/* Resets the stream (RST_STREAM |error_code|); it closes from the loop. */
void h2d_reset_stream(struct hstream *s, uint32_t error_code);
void h2d_pause(struct hstream *s, bool pause);
bool h2d_stream_paused(const struct hstream *s);
bool h2d_stream_full(const struct hstream *s);
void h2d_send_continue(struct hstream *s);
/* Graceful close: GOAWAY now, the connection ends when its streams are done. */
void h2d_goaway(struct hcm_conn *hc);
/* Detaches every stream from the session (the connection is going away). */
void h2d_detach(struct hcm_conn *hc);
void h2d_free(struct hcm_conn *hc);

#endif
