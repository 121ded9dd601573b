/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/hcm.c — the HTTP connection manager's downstream side: HTTP/1.1 codec glue, stream
 * lifecycle, header sanitizing (x-forwarded-*, x-request-id, x-envoy-*), local replies with
 * Envoy's response flags, timeouts, stats and access logs. The routing and upstream work is
 * router.c. Worker thread only; see hcm.h for the shape. */
#include "proxy/hcm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/snapshot.h"
#include "filters/network/http_connection_manager.h"
#include "proxy/access_log.h"
#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/h1_codec.h"
#include "proxy/hist.h"
#include "proxy/local_reply.h"
#include "proxy/log.h"
#include "proxy/response_flags.h"
#include "proxy/stats.h"
#include "proxy/strbuf.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

static void hcm_parse(struct hcm_conn *hc);
static void stream_finish(struct hstream *s);
static void conn_done(struct hcm_conn *hc, bool reset);
static void request_done(struct hstream *s);

/* ---- small helpers ----------------------------------------------------------------------- */

static void arm(struct event *ev, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static bool is_internal_addr(const void *sa)
{
    const struct sockaddr_storage *ss = sa; /* only the family and the v4/v6 fields are read */
    if (ss->ss_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);
        return (a >> 24) == 10 || (a >> 24) == 127 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8;
    }
    if (ss->ss_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
        static const uint8_t lo[16] = {[15] = 1};
        return memcmp(b, lo, 16) == 0 || (b[0] & 0xfe) == 0xfc; /* ::1, fc00::/7 */
    }
    return false;
}

/* Is the x-forwarded-for entry |hops| from the right an internal address? |dflt| when the
 * header has fewer entries or the entry is not an IP. */
static bool xff_entry_internal(const struct http_slice *xff, uint32_t hops, bool dflt)
{
    const char *end = xff->p + xff->n;
    for (uint32_t k = 0;; k++) {
        const char *comma = end;
        while (comma > xff->p && comma[-1] != ',')
            comma--;
        if (k == hops) {
            const char *a = comma, *b = end;
            while (a < b && (*a == ' ' || *a == '\t'))
                a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                b--;
            char buf[INET6_ADDRSTRLEN];
            size_t n = (size_t)(b - a);
            if (n == 0 || n >= sizeof(buf))
                return dflt;
            memcpy(buf, a, n);
            buf[n] = '\0';
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof(ss));
            if (inet_pton(AF_INET, buf, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
                ss.ss_family = AF_INET;
            else if (inet_pton(AF_INET6, buf, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
                ss.ss_family = AF_INET6;
            else
                return dflt;
            return is_internal_addr(&ss);
        }
        if (comma == xff->p)
            return dflt;
        end = comma - 1;
    }
}

static void ip_str(const void *sa, char *out, size_t cap)
{
    const struct sockaddr_storage *ss = sa; /* only the family and the v4/v6 fields are read */
    if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out, (socklen_t)cap);
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)cap);
}

/* UUIDv4 for x-request-id, from the worker's generator (hex by hand: this runs for every
 * request, and printf costs more than the rest of the header work). */
/* Writes |v| as 16 lowercase hex digits, two digits per table lookup. */
static void hex16(uint64_t v, char *out)
{
    static const char pairs[513] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    for (int i = 7; i >= 0; i--, v >>= 8)
        memcpy(out + 2 * i, pairs + 2 * (v & 0xff), 2);
}

/* A random (version 4, RFC 9562) UUID: 8-4-4-4-12 lowercase hex digits. */
static void uuid4(struct worker *w, char out[37])
{
    uint64_t a = worker_rand(w), b = worker_rand(w);
    a = (a & ~0xF000ull) | 0x4000ull;                        /* version 4 */
    b = (b & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull; /* variant 10 */
    char h[32];
    hex16(a, h);
    hex16(b, h + 16);
    memcpy(out, h, 8);
    out[8] = '-';
    memcpy(out + 9, h + 8, 4);
    out[13] = '-';
    memcpy(out + 14, h + 12, 4);
    out[18] = '-';
    memcpy(out + 19, h + 16, 4);
    out[23] = '-';
    memcpy(out + 24, h + 20, 12);
    out[36] = '\0';
}

/* RFC 7231 IMF-fixdate, cached per second per thread. */
static const char *date_now(void)
{
    static __thread time_t last;
    static __thread char buf[40];
    time_t t = time(NULL);
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = t;
    }
    return buf;
}

static struct stats_block *hstats(const struct hstream *s)
{
    return s->hc->rt->stats;
}

/* ---- access log ----------------------------------------------------------------------------- */

static const char *msg_header(const struct http_msg *m, const char *lname, size_t *len)
{
    const struct http_slice *v = NULL;
    if (lname[0] == ':') {
        if (m->is_request) {
            if (strcmp(lname, ":method") == 0)
                v = &m->method_name;
            else if (strcmp(lname, ":path") == 0)
                v = &m->path;
            else if (strcmp(lname, ":authority") == 0)
                v = &m->authority;
            else if (strcmp(lname, ":scheme") == 0)
                v = &m->scheme;
        }
        if (!v || !v->n)
            return NULL;
    } else {
        v = http_hdrs_get(&m->headers, lname, strlen(lname));
        if (!v)
            return NULL;
    }
    *len = v->n;
    return v->p;
}

static const char *log_req_header(const void *stream, const char *lname, size_t *len)
{
    return msg_header(&((const struct hstream *)stream)->req, lname, len);
}

static const char *log_resp_header(const void *stream, const char *lname, size_t *len)
{
    const struct hstream *s = stream;
    if (!(s->flags & HS_RESP_STARTED))
        return NULL;
    return msg_header(&s->resp, lname, len);
}

static const char *log_resp_trailer(const void *stream, const char *lname, size_t *len)
{
    const struct hstream *s = stream;
    const struct http_slice *v = http_hdrs_get(&s->resp.trailers, lname, strlen(lname));
    if (!v)
        return NULL;
    *len = v->n;
    return v->p;
}

void hcm_alog_ctx(struct hstream *s, struct alog_ctx *out)
{
    struct alog_ctx ctx;
    alog_ctx_init(&ctx);
    ctx.start_time = s->start_wall;
    ctx.start_mono_ns = s->start_ns;
    ctx.last_downstream_rx_ns = s->req_done_ns;
    ctx.first_upstream_rx_ns = s->up_first_ns;
    ctx.last_downstream_tx_ns = s->resp_done_ns;
    ctx.complete_ns = alog_mono_ns();
    ctx.bytes_received = s->bytes_rx;
    ctx.bytes_sent = s->bytes_tx;
    ctx.response_code = (uint32_t)s->status;
    ctx.response_flags = s->response_flags;
    ctx.attempt_count = s->attempts;
    ctx.connection_id = s->hc->c->id;
    ctx.response_code_details = s->details;
    ctx.protocol = http_version_str(s->req.version);
    ctx.upstream_cluster = s->cluster_name;
    ctx.route_name = s->route && s->route->name[0] ? s->route->name : NULL;
    rm_addr_store(&ctx.downstream_remote, &s->hc->c->peer);
    rm_addr_store(&ctx.downstream_direct_remote, &s->hc->c->peer);
    rm_addr_store(&ctx.downstream_local, &s->hc->c->local);
    if (s->has_up_host) {
        ctx.upstream_host = s->up_host;
        ctx.upstream_local = s->up_local;
    }
    if (s->hc->tls) {
        char san[512], subj[512];
        ctx.downstream_tls_version = tls_conn_version(s->hc->c);
        ctx.requested_server_name = tls_conn_sni(s->hc->c);
        if (tls_conn_peer_uri_san(s->hc->c, san, sizeof(san)))
            ctx.downstream_peer_uri_san = arena_strndup(&s->arena, san, strlen(san));
        if (tls_conn_peer_subject(s->hc->c, subj, sizeof(subj)))
            ctx.downstream_peer_subject = arena_strndup(&s->arena, subj, strlen(subj));
    }
    ctx.stream = s;
    ctx.request = &s->req; /* header_filter: Envoy's joined values of repeated headers */
    ctx.req_header = log_req_header;
    ctx.resp_header = log_resp_header;
    ctx.resp_trailer = log_resp_trailer;
    *out = ctx;
}

static void stream_log(struct hstream *s)
{
    struct hcm_rt *rt = s->hc->rt;
    if (rt->n_loggers == 0)
        return;
    struct alog_ctx ctx;
    hcm_alog_ctx(s, &ctx);
    for (size_t i = 0; i < rt->n_loggers; i++)
        alog_logger_log(rt->loggers[i], &ctx);
}

/* ---- timers --------------------------------------------------------------------------------- */

static uint64_t stream_idle_ms(const struct hstream *s)
{
    if (s->act && s->act->has_idle_timeout)
        return s->act->idle_timeout_ms;
    return s->hc->cfg->stream_idle_timeout_ms;
}

/* Arms the idle timer so that it fires no later than |ms| after the last activity. */
static void idle_arm(struct hstream *s, uint64_t ms)
{
    int64_t due = s->last_activity_ns + (int64_t)ms * 1000000;
    if (s->idle_fire_ns && s->idle_fire_ns <= due)
        return; /* fires earlier: it re-arms for what is left then */
    int64_t now = alog_mono_ns();
    arm(&s->idle_timer, due > now ? (uint64_t)(due - now + 999999) / 1000000 : 0);
    s->idle_fire_ns = due;
}

/* Activity on the stream: only a timestamp. The idle timer is armed lazily (idle_arm) and,
 * when it fires, re-armed for what is left since the last activity. */
static void touch(struct hstream *s)
{
    s->last_activity_ns = alog_mono_ns();
    if (!s->idle_fire_ns) {
        uint64_t ms = stream_idle_ms(s);
        if (ms)
            idle_arm(s, ms);
    }
}

void hcm_stream_idle_update(struct hstream *s)
{
    uint64_t ms = stream_idle_ms(s);
    if (ms)
        idle_arm(s, ms);
}

static void on_stream_idle(evutil_socket_t fd, short what, void *arg)
{
    struct hstream *s = arg;
    (void)fd;
    (void)what;
    s->idle_fire_ns = 0;
    if (!s->hc || (s->flags & (HS_DONE | HS_CLOSING)))
        return; /* the object is between requests (cached): nothing to time */
    uint64_t ms = stream_idle_ms(s);
    if (!ms)
        return; /* the route disabled it after the stream started */
    int64_t idle_ns = alog_mono_ns() - s->last_activity_ns;
    if (idle_ns < (int64_t)ms * 1000000) {
        idle_arm(s, ms); /* activity since: wait on */
        return;
    }
    stats_inc(hstats(s), HTTP_downstream_rq_idle_timeout);
    hcm_local_reply(s, 408, RF_STREAM_IDLE_TIMEOUT, "stream_idle_timeout", "stream timeout");
}

static void on_request_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct hstream *s = arg;
    (void)fd;
    (void)what;
    if (s->flags & (HS_DONE | HS_CLOSING))
        return;
    stats_inc(hstats(s), HTTP_downstream_rq_timeout);
    hcm_local_reply(s, 408, RF_NONE, "request_overall_timeout", "request timeout");
}

static void stream_destroy(struct hstream *s);
static void stream_trim_arm(struct worker *w);

/* The connection idle timer is lazy too: armed at accept and left armed; when it fires it
 * checks whether a stream is active or how long the connection has really been idle. */
static void arm_conn_idle(struct hcm_conn *hc, uint64_t ms)
{
    arm(&hc->idle_timer, ms);
    hc->idle_armed = true;
}

static void on_conn_idle(evutil_socket_t fd, short what, void *arg)
{
    struct hcm_conn *hc = arg;
    (void)fd;
    (void)what;
    hc->idle_armed = false;
    uint64_t idle = hc->cfg->idle_timeout_ms;
    if (!idle)
        return;
    if (hc->s || hc->n_h2_streams) {
        arm_conn_idle(hc, idle); /* busy: idleness starts when this stream ends */
        return;
    }
    int64_t elapsed = (alog_mono_ns() - hc->idle_since_ns) / 1000000;
    if (elapsed < (int64_t)idle) {
        arm_conn_idle(hc, idle - (uint64_t)elapsed);
        return;
    }
    stats_inc(hc->rt->stats, HTTP_downstream_cx_idle_timeout);
    if (hc->h2)
        h2d_goaway(hc); /* Envoy: GOAWAY, then the connection closes */
    else
        conn_done(hc, false);
}

static void on_conn_duration(evutil_socket_t fd, short what, void *arg)
{
    struct hcm_conn *hc = arg;
    (void)fd;
    (void)what;
    stats_inc(hc->rt->stats, HTTP_downstream_cx_max_duration_reached);
    hc->close_after = true;
    if (hc->h2)
        h2d_goaway(hc);
    else if (!hc->s)
        conn_done(hc, false);
}

static void on_headers_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct hcm_conn *hc = arg;
    (void)fd;
    (void)what;
    stats_inc(hc->rt->stats, HTTP_downstream_rq_header_timeout);
    if (hc->s && !(hc->s->flags & HS_RESP_STARTED)) {
        hc->close_after = true;
        hcm_local_reply(hc->s, 408, RF_NONE, "request_header_timeout", "request timeout");
    } else {
        conn_done(hc, false);
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hcm_conn *hc = arg;
    if (hc->h2)
        h2d_run(hc);
    else
        hcm_parse(hc);
}

/* ---- stream lifecycle --------------------------------------------------------------------- */

struct hstream *hcm_stream_new(struct hcm_conn *hc)
{
    struct hstream *s = hc->spare;
    struct worker *w = hc->w;
    if (!s && w->n_stream_cache) {
        s = w->stream_cache[--w->n_stream_cache];
        if (w->n_stream_cache < w->stream_cache_low)
            w->stream_cache_low = w->n_stream_cache;
    } else {
        hc->spare = NULL;
    }
    if (s) {
        /* A finished stream (this connection's, or the worker's cache): its arena keeps its
         * first chunk and its timers stay assigned, so a request mallocs nothing here. */
        memset(&s->hc, 0, sizeof(*s) - offsetof(struct hstream, hc));
    } else {
        s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        arena_init(&s->arena, 2048);
        s->body = evbuffer_new();
        if (!s->body) {
            free(s);
            return NULL;
        }
        struct event_base *base = hc->w->base;
        evtimer_assign(&s->idle_timer, base, on_stream_idle, s);
        evtimer_assign(&s->req_timer, base, on_request_timeout, s);
        router_stream_init(s, base);
    }
    s->hc = hc;
    http_msg_init(&s->req, &s->arena, true);
    http_msg_init(&s->resp, &s->arena, false);
    list_init(&s->pending_node);
    list_init(&s->h2_node);
    s->start_ns = alog_mono_ns();
    clock_gettime(CLOCK_REALTIME, &s->start_wall);
    stats_inc(hc->rt->stats, HTTP_downstream_rq_active);
    const struct cfg_hcm *cfg = hc->cfg;
    if (cfg->request_timeout_ms)
        arm(&s->req_timer, cfg->request_timeout_ms);
    if (!hc->h2) {
        hc->s = s; /* HTTP/1.1: the one stream; HTTP/2 lists its streams itself */
        if (cfg->request_headers_timeout_ms)
            arm(&hc->hdr_timer, cfg->request_headers_timeout_ms);
    }
    touch(s);
    return s;
}

void hcm_stream_touch(struct hstream *s)
{
    touch(s);
}

static void stream_destroy(struct hstream *s)
{
    timer_cancel(&s->idle_timer);
    timer_cancel(&s->global_timer);
    free(s->ur_spare);
    if (s->h2_out)
        evbuffer_free(s->h2_out);
    evbuffer_free(s->body);
    arena_fini(&s->arena);
    free(s);
}

static void stream_free(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    router_stream_done(s);
    timer_cancel(&s->try_timer);
    timer_cancel(&s->backoff_timer);
    timer_cancel(&s->req_timer);
    /* idle_timer and global_timer stay armed (lazy); HS_DONE makes them no-ops. */
    /* Keep the object for this connection when its next request is already waiting
     * (pipelining), else in the worker's cache; an idle keep-alive connection then costs only
     * its own state (~2 kB). A stream that grew a large arena is freed (libevent gives a
     * drained body buffer's chains back by itself). */
    /* HTTP/2 keeps one object for its next stream, as pipelining does. */
    struct worker *w = hc->w;
    bool next_waiting =
        !hc->closed && !hc->spare && (hc->h2 != NULL || evbuffer_get_length(hc->c->in) > 0);
    if (s->arena.allocated > 64 * 1024 ||
        (!next_waiting && w->n_stream_cache == WORKER_STREAM_CACHE)) {
        stream_destroy(s);
        return;
    }
    evbuffer_drain(s->body, evbuffer_get_length(s->body));
    if (s->h2_out)
        evbuffer_drain(s->h2_out, evbuffer_get_length(s->h2_out));
    arena_reset(&s->arena);
    if (next_waiting) {
        hc->spare = s;
        return;
    }
    w->stream_cache[w->n_stream_cache++] = s;
    if (w->n_stream_cache > WORKER_STREAM_CACHE_KEEP)
        stream_trim_arm(w);
}

/* Frees the cached stream objects that no stream took during the last second, down to
 * WORKER_STREAM_CACHE_KEEP: the cache follows the worker's concurrency without a timer
 * operation per request, and a finished burst gives its memory back. */
static void on_stream_trim(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    unsigned idle = w->stream_cache_low, freed = 0;
    if (idle > w->n_stream_cache)
        idle = w->n_stream_cache;
    for (; freed < idle && w->n_stream_cache > WORKER_STREAM_CACHE_KEEP; freed++)
        stream_destroy(w->stream_cache[--w->n_stream_cache]);
    if (freed)
        log_debug(LC_CONNECTION, "worker %u: freed %u idle stream objects, %u cached", w->id, freed,
                  w->n_stream_cache);
    w->stream_cache_low = w->n_stream_cache;
    if (w->n_stream_cache > WORKER_STREAM_CACHE_KEEP)
        arm(w->stream_trim, 1000);
}

static void stream_trim_arm(struct worker *w)
{
    if (!w->stream_trim) {
        w->stream_trim = evtimer_new(w->base, on_stream_trim, w);
        if (!w->stream_trim)
            return; /* the cache is then only bounded by WORKER_STREAM_CACHE */
    } else if (evtimer_pending(w->stream_trim, NULL)) {
        return;
    }
    w->stream_cache_low = w->n_stream_cache;
    arm(w->stream_trim, 1000);
}

void hcm_worker_fini(struct worker *w)
{
    if (w->stream_trim)
        event_free(w->stream_trim);
    w->stream_trim = NULL;
    while (w->n_stream_cache)
        stream_destroy(w->stream_cache[--w->n_stream_cache]);
}

/* Counts and logs a stream that ended (once). */
static void stream_account(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    s->flags |= HS_DONE;
    s->resp_done_ns = alog_mono_ns();
    stats_dec(hstats(s), HTTP_downstream_rq_active);
    if (s->flags & HS_TUNNEL)
        stats_dec(hstats(s), HTTP_downstream_cx_upgrades_active);
    if (s->status) {
        stats_inc(hstats(s), HTTP_downstream_rq_completed);
        hist_record(hc->rt->rq_time, (double)(s->resp_done_ns - s->start_ns) / 1e6);
    }
    stream_log(s);
}

void hcm_stream_closed(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    if (s->flags & HS_DONE)
        return;
    stream_account(s);
    stream_free(s);
    if (hc->closed)
        return;
    uint32_t max = hc->cfg->max_requests_per_connection;
    if (max && hc->n_requests >= max && !hc->h2_goaway) {
        stats_inc(hc->rt->stats, HTTP_downstream_cx_max_requests_reached);
        h2d_goaway(hc);
    } else if (hc->w->draining && !hc->h2_goaway) {
        h2d_goaway(hc);
    }
    if (!hc->n_h2_streams)
        hc->idle_since_ns = alog_mono_ns();
}

/* The response is complete (or the stream was reset): count, log, free, and continue with
 * the next request on this connection. */
static void stream_finish(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    if (s->flags & HS_DONE)
        return;
    stream_account(s);
    hc->s = NULL;
    timer_cancel(&hc->hdr_timer);
    stream_free(s);
    if (hc->closed)
        return;
    uint32_t max = hc->cfg->max_requests_per_connection;
    if (max && hc->n_requests >= max) {
        stats_inc(hc->rt->stats, HTTP_downstream_cx_max_requests_reached);
        hc->close_after = true;
    }
    if (hc->close_after || hc->w->draining) {
        conn_done(hc, false);
        return;
    }
    hc->idle_since_ns = alog_mono_ns();
    if (!hc->idle_armed && hc->cfg->idle_timeout_ms)
        arm_conn_idle(hc, hc->cfg->idle_timeout_ms);
    /* Pipelined requests may already be buffered: parse them from the loop, not from
     * inside the upstream callback that got us here. */
    conn_read_enable(hc->c);
    if (evbuffer_get_length(hc->c->in))
        event_active(&hc->resume_ev, EV_READ, 0);
}

/* ---- connection --------------------------------------------------------------------------- */

static void hcm_conn_free(struct hcm_conn *hc)
{
    if (hc->spare)
        stream_destroy(hc->spare);
    timer_cancel(&hc->idle_timer);
    timer_cancel(&hc->dur_timer);
    timer_cancel(&hc->hdr_timer);
    event_del(&hc->resume_ev);
    h1_parser_fini(&hc->parser);
    if (hc->h2) {
        h2d_free(hc);
        stats_dec(hc->rt->stats, HTTP_downstream_cx_http2_active);
    }
    stats_dec(hc->rt->stats, HTTP_downstream_cx_active);
    if (hc->tls)
        stats_dec(hc->rt->stats, HTTP_downstream_cx_ssl_active);
    stats_inc(hc->rt->stats, HTTP_downstream_cx_destroy);
    hist_record(hc->rt->cx_length, (double)(alog_mono_ns() - hc->start_ns) / 1e6);
    snap_unref(hc->snap);
    free(hc);
}

/* Ends the downstream connection: |reset| closes at once (RST), otherwise after the output
 * is flushed. Any stream in flight is torn down. */
static void conn_done(struct hcm_conn *hc, bool reset)
{
    if (hc->closed)
        return;
    hc->closed = true;
    log_debug(LC_CONNECTION, "[C%llu] http connection done (%s, %u requests, stream %s)",
              (unsigned long long)hc->c->id, reset ? "reset" : "close", hc->n_requests,
              hc->s || hc->n_h2_streams ? "open" : "none");
    if (hc->h2) {
        /* Queued frames (a GOAWAY) go out first unless this is a reset. */
        h2d_detach(hc);
        struct list_head *pos, *tmp;
        list_for_each_safe(pos, tmp, &hc->h2_streams)
        {
            struct hstream *s = list_entry(pos, struct hstream, h2_node);
            list_del(&s->h2_node);
            list_init(&s->h2_node);
            hc->n_h2_streams--;
            if (!(s->flags & HS_RESP_DONE)) {
                s->response_flags |= RF_DOWNSTREAM_CONNECTION_TERMINATION;
                stats_inc(hstats(s), HTTP_downstream_rq_rx_reset);
            }
            stream_account(s);
            stream_free(s);
        }
    }
    if (hc->s) {
        struct hstream *s = hc->s;
        if (!(s->flags & HS_RESP_DONE)) {
            s->response_flags |= RF_DOWNSTREAM_CONNECTION_TERMINATION;
            stats_inc(hstats(s), HTTP_downstream_rq_rx_reset);
        }
        stream_finish(s);
    }
    struct conn *c = hc->c;
    c->cbs = NULL;
    if (reset)
        conn_close(c, true);
    else
        conn_close_after_flush(c);
    /* Inside the parse loop the loop still holds |hc|: it frees it on the way out. */
    if (!hc->in_parse)
        hcm_conn_free(hc);
}

static void codec_http1(struct hcm_conn *hc)
{
    hc->codec_known = true;
    stats_inc(hc->rt->stats, HTTP_downstream_cx_http1_total);
}

/* codec_type AUTO: HTTP/2 when TLS negotiated "h2" or the client sent the preface (Envoy's
 * autoCreateCodec); HTTP2 always; HTTP1 never. False while the first bytes are too few to
 * tell. */
static bool choose_codec(struct hcm_conn *hc)
{
    bool h2 = hc->cfg->codec_type == CODEC_HTTP2;
    if (!h2) {
        const uint8_t *alpn;
        h2 = tls_conn_alpn(hc->c, &alpn) == 2 && memcmp(alpn, "h2", 2) == 0;
    }
    if (!h2 && hc->cfg->codec_type == CODEC_AUTO) {
        size_t avail = evbuffer_get_length(hc->c->in);
        if (avail == 0)
            return false;
        const char *p =
            (const char *)evbuffer_pullup(hc->c->in, avail < 24 ? (ev_ssize_t)avail : 24);
        bool more = false;
        h2 = p && h2d_is_preface(p, avail, &more);
        if (more)
            return false; /* a prefix of the preface so far: wait */
    }
    if (!h2) {
        codec_http1(hc);
        return true;
    }
    hc->codec_known = true;
    if (h2d_start(hc) < 0) {
        conn_done(hc, true);
        return false;
    }
    stats_inc(hc->rt->stats, HTTP_downstream_cx_http2_total);
    stats_inc(hc->rt->stats, HTTP_downstream_cx_http2_active);
    return true;
}

static void down_read(struct conn *c)
{
    struct hcm_conn *hc = c->ctx;
    if (!hc->codec_known && !choose_codec(hc))
        return;
    if (hc->h2) {
        h2d_on_read(hc);
        return;
    }
    if (hc->s)
        touch(hc->s);
    hcm_parse(hc);
}

static void down_write_low(struct conn *c)
{
    struct hcm_conn *hc = c->ctx;
    if (hc->h2)
        h2d_on_write_low(hc);
    else if (hc->s)
        router_on_downstream_drained(hc->s);
}

static void down_event(struct conn *c, enum conn_event ev)
{
    struct hcm_conn *hc = c->ctx;
    if (ev == CONN_EV_DRAINED)
        return;
    if (hc->h2 || !hc->codec_known) {
        /* HTTP/2 has no half-close of a connection: streams still open are reset (DC). */
        conn_done(hc, ev != CONN_EV_EOF);
        return;
    }
    if (ev == CONN_EV_EOF && !hc->s && h1_parser_idle(&hc->parser)) {
        conn_done(hc, false); /* a clean close between requests */
        return;
    }
    struct hstream *s = hc->s;
    if (ev == CONN_EV_EOF && s && (s->flags & HS_TUNNEL) && !(s->flags & HS_REQ_DONE)) {
        /* The client half-closed an upgraded stream: whatever it sent is raw payload; the
         * upstream gets it and a FIN, and the response side runs until the upstream ends. */
        size_t n = evbuffer_get_length(c->in);
        if (n) {
            evbuffer_remove_buffer(c->in, s->body, n);
            s->body_bytes += n;
            s->bytes_rx += n;
        }
        request_done(s);
        router_on_request_data(s, n, true);
        return;
    }
    /* The client went away (or half-closed) mid-request or before its response: HTTP/1.1
     * has no half-close for a request in flight, so the stream is reset (Envoy: DC). */
    conn_done(hc, ev != CONN_EV_EOF);
}

/* Drain: an idle keep-alive connection closes now; a busy one after its response (which
 * then carries connection: close). */
static void down_drain(struct conn *c)
{
    struct hcm_conn *hc = c->ctx;
    if (hc->h2) {
        /* Envoy: GOAWAY; streams in flight finish, then the connection closes. */
        if (!hc->h2_goaway)
            stats_inc(hc->rt->stats, HTTP_downstream_cx_drain_close);
        h2d_goaway(hc);
    } else if (!hc->s) {
        stats_inc(hc->rt->stats, HTTP_downstream_cx_drain_close);
        conn_done(hc, false);
    }
}

static const struct conn_cbs hcm_down_cbs = {
    .on_read = down_read,
    .on_write_low = down_write_low,
    .on_event = down_event,
    .on_drain = down_drain,
};

/* ---- request path --------------------------------------------------------------------------- */

/* ---- path normalization (normalize_path, merge_slashes, escaped slashes) ------------------- */

static bool unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool has_escaped_slash(const char *p, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (p[i] == '%' && ((p[i + 1] == '2' && (p[i + 2] == 'f' || p[i + 2] == 'F')) ||
                            (p[i + 1] == '5' && (p[i + 2] == 'c' || p[i + 2] == 'C'))))
            return true;
    return false;
}

/* Rewrites the path part (before '?') of |req| in place into the stream arena:
 * %2F/%5C → '/' '\' (|unescape_slashes|), RFC 3986 §6.2.2 normalization (|normalize|:
 * unreserved %XX decoded, other %XX upper-cased, "." and ".." segments removed, clamped at
 * the root), runs of '/' merged (|merge|). Returns 0, or -RM_ENOMEM. */
static int rewrite_path(struct hstream *s, bool unescape_slashes, bool normalize, bool merge)
{
    struct http_msg *req = &s->req;
    const char *p = req->path.p;
    size_t n = req->path.n;
    if (n == 0 || p[0] != '/')
        return 0; /* "*" or authority-form: nothing to do */
    const char *q = memchr(p, '?', n);
    size_t plen = q ? (size_t)(q - p) : n;
    char *out = arena_alloc(&s->arena, n + 1);
    if (!out)
        return -RM_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < plen; i++) {
        char c = p[i];
        if (c == '%' && i + 2 < plen && rm_hexval(p[i + 1]) >= 0 && rm_hexval(p[i + 2]) >= 0) {
            int v = rm_hexval(p[i + 1]) * 16 + rm_hexval(p[i + 2]);
            if ((unescape_slashes && (v == '/' || v == '\\')) || (normalize && unreserved(v))) {
                out[o++] = (char)v;
            } else {
                out[o++] = '%';
                out[o++] = normalize ? "0123456789ABCDEF"[v >> 4] : p[i + 1];
                out[o++] = normalize ? "0123456789ABCDEF"[v & 15] : p[i + 2];
            }
            i += 2;
            continue;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    if (normalize) {
        /* Remove dot segments (RFC 3986 §5.2.4) over the decoded segments. */
        char *w = out;
        size_t r = 0, wl = 0;
        while (r < o) {
            size_t e = r + 1;
            while (e < o && out[e] != '/')
                e++;
            size_t seg = e - r - 1; /* bytes after the '/' */
            const char *sp = out + r + 1;
            if (seg == 1 && sp[0] == '.') {
                if (e == o)
                    w[wl++] = '/';
            } else if (seg == 2 && sp[0] == '.' && sp[1] == '.') {
                while (wl > 0 && w[--wl] != '/')
                    ;
                if (e == o)
                    w[wl++] = '/';
            } else {
                memmove(w + wl, out + r, e - r);
                wl += e - r;
            }
            r = e;
        }
        if (wl == 0)
            w[wl++] = '/';
        o = wl;
    }
    if (merge) {
        size_t wl = 0;
        for (size_t i = 0; i < o; i++)
            if (!(out[i] == '/' && wl > 0 && out[wl - 1] == '/'))
                out[wl++] = out[i];
        o = wl;
    }
    if (q) {
        memcpy(out + o, q, n - plen);
        o += n - plen;
    }
    out[o] = '\0';
    return http_msg_set_path(req, out, o);
}

/* Envoy's request header sanitizing and additions (configuration/http/http_conn_man/headers),
 * done once on the codec-neutral head. Returns false after a local reply. */
static bool sanitize_request(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    const struct cfg_hcm *cfg = hc->cfg;
    struct http_msg *req = &s->req;
    char ip[INET6_ADDRSTRLEN] = "";
    if (cfg->use_remote_address) /* inet_ntop is costly; only the edge needs the text */
        ip_str(&hc->c->peer, ip, sizeof(ip));
    /* Envoy's "internal request": at the edge (use_remote_address) the connection's peer is
     * internal; otherwise the x-forwarded-for entry xff_num_trusted_hops from the right must
     * be (no x-forwarded-for: external). Only internal requests keep x-envoy-* headers
     * (ConnectionManagerUtility's header sanitizing). */
    bool internal = is_internal_addr(&hc->c->peer);
    if (!cfg->use_remote_address) {
        const struct http_slice *xff = http_msg_get(req, "x-forwarded-for");
        internal = xff && xff->n && xff_entry_internal(xff, cfg->xff_num_trusted_hops, false);
    }

    if (hc->parser.flags & H1_MF_CONNECTION)
        http_msg_strip_hop_by_hop(req, (s->flags & HS_UPGRADE) != 0);
    http_msg_remove(req, "te");      /* only "trailers" is meaningful, and not for HTTP/1 */
    const char *scheme = hc->scheme; /* static: no copy */
    size_t scheme_len = hc->scheme_len;
    if (!req->scheme.n) {
        req->scheme.p = scheme;
        req->scheme.n = scheme_len;
    }
    /* forward_client_cert_details SANITIZE (the default, and the only mode for now): the
     * client's x-forwarded-client-cert never reaches the upstream. */
    if (hc->h2 || (hc->parser.flags & H1_MF_XFCC))
        http_msg_remove(req, "x-forwarded-client-cert");
    if (!req->authority.n && cfg->default_host_for_http_10 && req->version == HTTP_VERSION_1_0)
        http_msg_set_authority(req, cfg->default_host_for_http_10,
                               strlen(cfg->default_host_for_http_10));

    /* Path handling before routing (Envoy's maybeNormalizePath). */
    bool unescape = false;
    if (cfg->path_with_escaped_slashes_action != ESC_SLASHES_KEEP_UNCHANGED && req->path.n) {
        const char *q = memchr(req->path.p, '?', req->path.n);
        size_t plen = q ? (size_t)(q - req->path.p) : req->path.n;
        if (has_escaped_slash(req->path.p, plen)) {
            switch (cfg->path_with_escaped_slashes_action) {
            case ESC_SLASHES_REJECT_REQUEST:
                hcm_local_reply(s, 400, RF_NONE, "path_has_escaped_slashes", "Bad Request");
                return false;
            case ESC_SLASHES_UNESCAPE_AND_REDIRECT:
            case ESC_SLASHES_UNESCAPE_AND_FORWARD:
                unescape = true;
                break;
            case ESC_SLASHES_KEEP_UNCHANGED:
                break;
            }
        }
    }
    if ((unescape || cfg->normalize_path || cfg->merge_slashes) &&
        rewrite_path(s, unescape, cfg->normalize_path, cfg->merge_slashes) < 0) {
        hcm_local_reply(s, 500, RF_NONE, "out_of_memory", "out of memory");
        return false;
    }
    if (unescape && cfg->path_with_escaped_slashes_action == ESC_SLASHES_UNESCAPE_AND_REDIRECT) {
        /* Envoy redirects the client to the unescaped path (307 keeps the method). */
        http_msg_reset(&s->resp);
        s->resp.status = 307;
        http_hdrs_set(&s->resp.headers, "location", 8, req->path.p, req->path.n);
        s->resp.body = HTTP_BODY_LENGTH;
        s->resp.content_length = 0;
        s->details = "path_has_escaped_slashes_redirect";
        if (hcm_send_response_head(s) == 0)
            hcm_response_done(s);
        return false;
    }

    /* x-envoy-* headers from external clients are not trusted: stripped (sanitizing). */
    if (internal) {
        s->flags |= HS_TRUSTED;
    } else {
        for (uint32_t i = 0; i < req->headers.n;) {
            const struct http_slice *n = &req->headers.v[i].name;
            if (n->n > 8 && memcmp(n->p, "x-envoy-", 8) == 0)
                http_hdrs_remove_at(&req->headers, i);
            else
                i++;
        }
    }
    if (internal)
        HTTP_HDRS_SET_LIT(&req->headers, "x-envoy-internal", "true", 4, false);
    if (cfg->use_remote_address) {
        if (!cfg->skip_xff_append) {
            const struct http_slice *xff = http_msg_get(req, "x-forwarded-for");
            if (xff && xff->n) {
                char *v = arena_sprintf(&s->arena, "%.*s,%s", (int)xff->n, xff->p, ip);
                if (v)
                    http_msg_set(req, "x-forwarded-for", v);
            } else {
                HTTP_HDRS_SET_LIT(&req->headers, "x-forwarded-for", ip, strlen(ip), true);
            }
        }
        HTTP_HDRS_SET_LIT(&req->headers, "x-forwarded-proto", scheme, scheme_len, false);
        if (!internal)
            HTTP_HDRS_SET_LIT(&req->headers, "x-envoy-external-address", ip, strlen(ip), true);
    } else if (!http_msg_has(req, "x-forwarded-proto")) {
        HTTP_HDRS_SET_LIT(&req->headers, "x-forwarded-proto", scheme, scheme_len, false);
    }

    /* x-request-id: kept from trusted clients, generated otherwise. */
    if (cfg->generate_request_id) {
        bool keep = http_msg_has(req, "x-request-id") &&
                    (!cfg->use_remote_address || internal || cfg->preserve_external_request_id);
        if (!keep) {
            char id[37];
            uuid4(hc->w, id);
            HTTP_HDRS_SET_LIT(&req->headers, "x-request-id", id, 36, true);
        }
    }
    return true;
}

/* Envoy's upgrade detection (Http::Utility::isUpgrade plus CONNECT): an Upgrade field with
 * the "upgrade" connection option, or the CONNECT method. h2c is never an upgrade here (Envoy
 * strips it and serves the request over HTTP/1.1), nor is a request with a body. Whether the
 * upgrade is allowed is the router's call, once the route is known. An upgrade request ends its
 * connection: if the upgrade is declined or refused, the codec cannot resume after it. */
static void classify_upgrade(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    if (s->req.method == HTTP_METHOD_CONNECT) {
        s->flags |= HS_UPGRADE;
        s->upgrade.p = "CONNECT";
        s->upgrade.n = 7;
        hc->close_after = true;
        return;
    }
    if (!(hc->parser.flags & H1_MF_UPGRADE))
        return;
    const struct http_slice *u = http_msg_get(&s->req, "upgrade");
    /* An upgrade request with a body is served as a plain request (a server may always
     * ignore Upgrade, RFC 9110 §7.8): the bytes after the body could otherwise be either the
     * next request or the new protocol, and Remora never forwards that ambiguity. */
    bool body = s->req.body == HTTP_BODY_CHUNKED || s->req.body == HTTP_BODY_LENGTH;
    if (!u || !u->n || body || (u->n == 3 && strncasecmp(u->p, "h2c", 3) == 0)) {
        h1_parser_resume(&hc->parser, false);
        http_msg_remove(&s->req, "upgrade");
        http_msg_remove(&s->req, "http2-settings");
        return;
    }
    s->flags |= HS_UPGRADE;
    s->upgrade = *u;
    hc->close_after = true;
}

static void on_request_head(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    hc->n_requests++;
    stats_inc(hstats(s), HTTP_downstream_rq_total);
    if (hc->h2) {
        stats_inc(hstats(s), HTTP_downstream_rq_http2_total);
    } else {
        timer_cancel(&hc->hdr_timer);
        stats_inc(hstats(s), HTTP_downstream_rq_http1_total);
        if (!(hc->parser.flags & H1_MF_KEEP_ALIVE))
            hc->close_after = true;
        if (hc->parser.flags & H1_MF_EXPECT_CONTINUE)
            s->flags |= HS_EXPECT_100;
    }
    if (s->req.method == HTTP_METHOD_HEAD)
        s->flags |= HS_HEAD_REQ;
    if (!sanitize_request(s))
        return;
    router_on_request_head(s);
}

void hcm_stream_request_head(struct hstream *s)
{
    on_request_head(s);
}

static void request_done(struct hstream *s)
{
    s->flags |= HS_REQ_DONE;
    s->req_done_ns = alog_mono_ns();
    timer_cancel(&s->req_timer);
}

void hcm_stream_request_done(struct hstream *s)
{
    request_done(s);
}

void hcm_conn_done(struct hcm_conn *hc, bool reset)
{
    conn_done(hc, reset);
}

void hcm_conn_release(struct hcm_conn *hc)
{
    hcm_conn_free(hc);
}

/* Feeds buffered downstream bytes to the parser until a request is complete (its response
 * must be sent before the next one is parsed) or more bytes are needed. */
static void hcm_parse(struct hcm_conn *hc)
{
    if (hc->in_parse) {
        hc->want_parse = true;
        return;
    }
    hc->in_parse = true;
    struct evbuffer *in = hc->c->in;
    while (!hc->closed) {
        hc->want_parse = false;
        struct hstream *s = hc->s;
        if (s && (s->flags & HS_REQ_DONE))
            break; /* answer this one first; pipelined bytes stay buffered */
        if (s && (s->flags & HS_PENDING) && evbuffer_get_length(s->body) > hc->c->limit) {
            conn_read_disable(hc->c); /* body waits for a connection: back-pressure */
            break;
        }
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            break;
        if (!s) {
            if (hc->w->draining && hc->n_requests > 0) {
                conn_done(hc, false);
                break;
            }
            s = hcm_stream_new(hc);
            if (!s) {
                conn_done(hc, true);
                break;
            }
        }
        struct evbuffer_iovec seg;
        if (evbuffer_peek(in, -1, NULL, &seg, 1) < 1)
            break;
        struct h1_result r;
        int ev = h1_parse(&hc->parser, &s->req, seg.iov_base, seg.iov_len, &r);
        if (ev < 0) {
            int st = hc->parser.err_status ? hc->parser.err_status : 400;
            /* HTTP/1.0 (426) and a missing Host are the connection manager's refusals in
             * Envoy, not codec errors. */
            const char *d = hc->parser.err_detail ? hc->parser.err_detail : "";
            bool codec = st != 426 && strcmp(d, "missing_host_header") != 0;
            if (codec)
                stats_inc(hc->rt->stats, HTTP_downstream_cx_protocol_error);
            if (st == 413)
                stats_inc(hc->rt->stats, HTTP_downstream_rq_too_large);
            hc->close_after = true;
            if (s->req.method_name.n == 0 && !(s->flags & HS_RESP_STARTED))
                hc->n_requests++;
            evbuffer_drain(in, evbuffer_get_length(in));
            hcm_local_reply(s, st, codec ? RF_DOWNSTREAM_PROTOCOL_ERROR : RF_NONE,
                            hc->parser.err_detail ? hc->parser.err_detail : "http1.codec_error",
                            NULL);
            break;
        }
        if (ev == H1_EV_BODY) {
            evbuffer_drain(in, r.body_off);
            evbuffer_remove_buffer(in, s->body, r.body_len);
            evbuffer_drain(in, r.consumed - r.body_off - r.body_len);
            s->body_bytes += r.body_len;
            s->bytes_rx += r.body_len;
            /* Upgrade requests have no body of their own (classify_upgrade), and tunnel
             * bytes never end with a BODY event: end_stream is a plain request's end. */
            if (r.end_stream)
                request_done(s);
            router_on_request_data(s, r.body_len, r.end_stream);
            continue;
        }
        evbuffer_drain(in, r.consumed);
        switch (ev) {
        case H1_EV_NEED_MORE:
            if (r.consumed == 0)
                goto out; /* nothing taken: wait for more bytes */
            continue;
        case H1_EV_HEAD:
            classify_upgrade(s);
            if (r.end_stream && !(s->flags & HS_UPGRADE))
                request_done(s);
            on_request_head(s);
            continue;
        case H1_EV_PAUSED:
            /* An upgrade request is complete: nothing more is parsed until the upstream
             * answers (hcm_tunnel_open resumes); the input stays bounded by the buffer
             * limit of the connection. */
            goto out;
        case H1_EV_DONE:
            request_done(s);
            router_on_request_data(s, 0, true);
            continue;
        default:
            continue;
        }
    }
out:
    hc->in_parse = false;
    if (hc->closed) {
        hcm_conn_free(hc); /* conn_done() ran inside the loop and left the free to us */
        return;
    }
    if (hc->want_parse)
        event_active(&hc->resume_ev, EV_READ, 0);
}

/* ---- response path ---------------------------------------------------------------------- */

static bool conn_keeps_alive(const struct hstream *s)
{
    const struct hcm_conn *hc = s->hc;
    return !hc->close_after && !hc->w->draining;
}

static void count_status(struct hstream *s, int status)
{
    static const unsigned ids[] = {HTTP_downstream_rq_1xx, HTTP_downstream_rq_2xx,
                                   HTTP_downstream_rq_3xx, HTTP_downstream_rq_4xx,
                                   HTTP_downstream_rq_5xx};
    if (status >= 100 && status < 600)
        stats_inc(hstats(s), ids[status / 100 - 1]);
}

static void add_server_and_date(struct hstream *s)
{
    const struct cfg_hcm *cfg = s->hc->cfg;
    struct http_msg *resp = &s->resp;
    if (cfg->always_set_request_id_in_response && !http_msg_has(resp, "x-request-id")) {
        const struct http_slice *id = http_msg_get(&s->req, "x-request-id");
        if (id)
            HTTP_HDRS_SET_LIT(&resp->headers, "x-request-id", id->p, id->n, false);
    }
    switch (cfg->server_header_transformation) {
    case SERVER_HDR_OVERWRITE:
        /* server_name was checked at load and lives in the snapshot this connection holds. */
        HTTP_HDRS_SET_LIT(&resp->headers, "server", cfg->server_name, strlen(cfg->server_name),
                          false);
        break;
    case SERVER_HDR_APPEND_IF_ABSENT:
        if (!http_msg_has(resp, "server"))
            HTTP_HDRS_SET_LIT(&resp->headers, "server", cfg->server_name, strlen(cfg->server_name),
                              false);
        break;
    case SERVER_HDR_PASS_THROUGH:
        break;
    }
    if (!http_msg_has(resp, "date")) {
        const char *d = date_now();
        HTTP_HDRS_SET_LIT(&resp->headers, "date", d, strlen(d), true);
    }
}

int hcm_send_response_head(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    struct http_msg *resp = &s->resp;
    add_server_and_date(s);
    enum http_body_kind framing = resp->body;
    uint64_t len = resp->content_length;
    int st = resp->status;
    bool no_body = (s->flags & HS_HEAD_REQ) || st == 204 || st == 304 || st < 200;
    if (no_body) {
        /* HEAD keeps the origin's content-length; 204/304 carry none. */
        bool head_len = (s->flags & HS_HEAD_REQ) &&
                        (resp->body == HTTP_BODY_LENGTH || resp->content_length > 0);
        framing = head_len ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
        if (st == 204 || st < 200)
            framing = HTTP_BODY_NONE;
    } else if (framing == HTTP_BODY_NONE) {
        framing = HTTP_BODY_LENGTH;
        len = 0;
    } else if (hc->h2) {
        /* HTTP/2 frames the body itself: only a known length is announced. */
    } else if (framing == HTTP_BODY_UNTIL_CLOSE || framing == HTTP_BODY_CHUNKED) {
        if (s->req.version == HTTP_VERSION_1_1) {
            framing = HTTP_BODY_CHUNKED;
            s->flags |= HS_RESP_CHUNKED;
        } else {
            framing = HTTP_BODY_UNTIL_CLOSE;
            s->flags |= HS_RESP_CLOSE;
            hc->close_after = true;
        }
    }
    if (hc->h2) {
        http_msg_strip_hop_by_hop(resp, false);
        int rc = h2d_submit_response(s, len, framing == HTTP_BODY_LENGTH);
        if (rc < 0) {
            log_warn(LC_FILTER, "[C%llu][S%d] cannot encode response head: %s",
                     (unsigned long long)hc->c->id, s->h2_id, rm_strerror(rc));
            hcm_reset(s, RF_UPSTREAM_PROTOCOL_ERROR, "response_encode_error");
            return rc;
        }
        goto sent;
    }
    unsigned wf = 0;
    bool tunnel = (s->flags & HS_TUNNEL) != 0;
    if (tunnel) {
        /* 101 keeps its upgrade field and says "connection: upgrade"; a 2xx to CONNECT
         * carries neither framing nor connection options. */
        if (st == 101)
            wf |= H1_WF_UPGRADE;
    } else if (!conn_keeps_alive(s)) {
        wf |= H1_WF_CONN_CLOSE;
        hc->close_after = true;
        if (hc->w->draining)
            stats_inc(hc->rt->stats, HTTP_downstream_cx_drain_close);
    }
    http_msg_strip_hop_by_hop(resp, tunnel && st == 101);
    int rc = h1_write_response_head(hc->c->out, resp, framing, len, wf);
    if (rc < 0) {
        log_warn(LC_FILTER, "[C%llu] cannot encode response head: %s",
                 (unsigned long long)hc->c->id, rm_strerror(rc));
        hcm_reset(s, RF_UPSTREAM_PROTOCOL_ERROR, "response_encode_error");
        return rc;
    }
sent:
    s->flags |= HS_RESP_STARTED;
    s->status = st;
    count_status(s, st);
    timer_cancel(&s->req_timer);
    /* No flush here: the body (or the end of the response) usually follows in the same
     * loop pass, and head + body then leave in one write. Callers flush. */
    touch(s);
    return 0;
}

void hcm_tunnel_open(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    if (s->flags & HS_TUNNEL)
        return;
    s->flags |= HS_TUNNEL;
    stats_inc(hc->rt->stats, HTTP_downstream_cx_upgrades_total);
    stats_inc(hc->rt->stats, HTTP_downstream_cx_upgrades_active);
    /* websocket & co: the paused parser now passes every byte through; CONNECT's parser is
     * in that state already. Bytes the client sent early are parsed from the loop. */
    h1_parser_resume(&hc->parser, true);
    timer_cancel(&s->req_timer);
    if (!hc->closed) {
        conn_read_enable(hc->c);
        event_active(&hc->resume_ev, EV_READ, 0);
    }
}

/* Bodies up to this size are copied into the output rather than moved by chain. */
#define SMALL_BODY_COPY 2048u

void hcm_send_response_body(struct hstream *s, struct evbuffer *data, size_t n)
{
    struct conn *c = s->hc->c;
    if (n == 0)
        return;
    if (s->flags & (HS_HEAD_REQ | HS_CLOSING)) {
        evbuffer_drain(data, n);
        return;
    }
    if (s->hc->h2) {
        h2d_send_body(s, data, n);
        s->bytes_tx += n;
        touch(s);
        return;
    }
    struct evbuffer_iovec seg;
    if (s->flags & HS_RESP_CHUNKED) {
        h1_write_chunk(c->out, data, n);
    } else if (n <= SMALL_BODY_COPY && evbuffer_peek(data, -1, NULL, &seg, 1) >= 1 &&
               seg.iov_len >= n && evbuffer_add(c->out, seg.iov_base, n) == 0) {
        /* A small body is copied behind the head already in c->out, so both leave in one
         * contiguous send; moving its chain over would cost a writev of two. */
        evbuffer_drain(data, n);
    } else {
        evbuffer_remove_buffer(data, c->out, n);
    }
    s->bytes_tx += n;
    conn_flush(c);
    touch(s);
}

void hcm_response_done(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    if (hc->h2) {
        if (s->flags & HS_CLOSING)
            return;
        s->flags |= HS_RESP_DONE | HS_CLOSING;
        timer_cancel(&s->req_timer);
        router_stream_done(s); /* the upstream side is over; the codec closes the stream */
        h2d_response_done(s);
        return;
    }
    if ((s->flags & HS_RESP_CHUNKED) && !(s->flags & HS_HEAD_REQ))
        h1_write_last_chunk(hc->c->out, s->resp.trailers.n ? &s->resp.trailers : NULL);
    s->flags |= HS_RESP_DONE;
    conn_flush(hc->c);
    if (!(s->flags & HS_REQ_DONE)) {
        /* Early response (before the request body ended): HTTP/1.1 cannot tell the client
         * to stop, so this connection ends after the response. */
        hc->close_after = true;
    }
    stream_finish(s);
}

void hcm_flush(struct hstream *s)
{
    if (s->hc->h2)
        h2d_schedule(s->hc);
    else
        conn_flush(s->hc->c);
}

bool hcm_downstream_full(const struct hstream *s)
{
    if (s->hc->h2)
        return h2d_stream_full(s);
    return conn_is_above_high(s->hc->c);
}

bool hcm_request_paused(const struct hstream *s)
{
    if (s->hc->h2)
        return h2d_stream_paused(s);
    return (s->hc->c->flags & CONN_F_READ_PAUSED) != 0;
}

void hcm_send_continue(struct hstream *s)
{
    if (s->hc->h2) {
        h2d_send_continue(s);
        return;
    }
    h1_write_continue(s->hc->c->out);
    conn_flush(s->hc->c);
}

void hcm_pause_request(struct hstream *s, bool pause)
{
    struct hcm_conn *hc = s->hc;
    if (hc->h2) {
        h2d_pause(s, pause);
        return;
    }
    if (pause) {
        conn_read_disable(hc->c);
    } else if (!hc->closed) {
        conn_read_enable(hc->c);
        /* Body bytes read before the pause wait unparsed in c->in; the socket may never
         * become readable again for them (the client sent everything). Parse from the loop. */
        if (evbuffer_get_length(hc->c->in))
            event_active(&hc->resume_ev, EV_READ, 0);
    }
}

void hcm_reset(struct hstream *s, uint32_t rf, const char *details)
{
    struct hcm_conn *hc = s->hc;
    if (s->flags & (HS_DONE | HS_CLOSING))
        return;
    s->response_flags |= rf;
    if (details)
        s->details = details;
    stats_inc(hstats(s), HTTP_downstream_rq_tx_reset);
    if (hc->h2) {
        /* HTTP/2 resets only this stream (RST_STREAM); the connection goes on. */
        s->flags |= HS_CLOSING;
        timer_cancel(&s->req_timer);
        router_stream_done(s);
        h2d_reset_stream(s, 2 /* INTERNAL_ERROR */);
        return;
    }
    conn_done(hc, true);
}

void hcm_local_reply(struct hstream *s, int status, uint32_t rf, const char *details,
                     const char *body)
{
    struct hcm_conn *hc = s->hc;
    if (s->flags & (HS_DONE | HS_CLOSING))
        return;
    s->response_flags |= rf;
    s->details = details;
    if (s->flags & HS_RESP_STARTED) {
        hcm_reset(s, rf, details);
        return;
    }
    router_stream_done(s); /* no upstream work continues behind a local reply */
    if (!body)
        body = rf == RF_DOWNSTREAM_PROTOCOL_ERROR ? http_reason_phrase(status) : "";
    http_msg_reset(&s->resp);
    size_t blen = strlen(body);
    const char *ctype = NULL;
    if (hc->cfg->local_reply) {
        struct alog_ctx ctx;
        hcm_alog_ctx(s, &ctx);
        ctx.response_code = (uint32_t)status;
        local_reply_rewrite(hc->cfg->local_reply, &ctx, &s->resp, &s->arena, &status, &body, &blen,
                            &ctype);
    }
    s->resp.status = status;
    s->resp.version = HTTP_VERSION_1_1;
    if (blen)
        http_msg_set(&s->resp, "content-type", ctype ? ctype : "text/plain");
    if (status >= 400 && !(s->flags & HS_REQ_DONE) && !hc->h2)
        hc->close_after = true; /* the rest of the request body is never read */
    s->resp.body = HTTP_BODY_LENGTH;
    s->resp.content_length = blen;
    if (hcm_send_response_head(s) < 0)
        return;
    if (hc->h2) {
        if (blen && !(s->flags & HS_HEAD_REQ)) {
            evbuffer_add(s->h2_out, body, blen);
            s->bytes_tx += blen;
        }
        hcm_response_done(s);
        return;
    }
    if (blen && !(s->flags & HS_HEAD_REQ)) {
        evbuffer_add(hc->c->out, body, blen);
        s->bytes_tx += blen;
    }
    s->flags |= HS_RESP_DONE;
    conn_flush(hc->c);
    stream_finish(s);
}

/* ---- network filter glue ------------------------------------------------------------------- */

void hcm_on_accept(struct worker *w, struct conn *c, const struct cfg_hcm *cfg, struct hcm_rt *rt)
{
    struct hcm_conn *hc = calloc(1, sizeof(*hc));
    if (!hc) {
        conn_close(c, true);
        return;
    }
    hc->w = w;
    hc->c = c;
    hc->cfg = cfg;
    hc->rt = rt;
    hc->snap = snap_ref(w->snap);
    hc->start_ns = alog_mono_ns();
    hc->idle_since_ns = hc->start_ns;
    h1_parser_init(&hc->parser, H1_ROLE_SERVER, &rt->h1);
    evtimer_assign(&hc->idle_timer, w->base, on_conn_idle, hc);
    evtimer_assign(&hc->dur_timer, w->base, on_conn_duration, hc);
    evtimer_assign(&hc->hdr_timer, w->base, on_headers_timeout, hc);
    event_assign(&hc->resume_ev, w->base, -1, 0, on_resume, hc);
    c->linger_ms = cfg->delayed_close_timeout_ms ? (uint32_t)cfg->delayed_close_timeout_ms : 1;
    c->sb = rt->stats;
    c->st_rx = HTTP_downstream_cx_rx_bytes_total;
    c->st_tx = HTTP_downstream_cx_tx_bytes_total;
    stats_inc(rt->stats, HTTP_downstream_cx_total);
    stats_inc(rt->stats, HTTP_downstream_cx_active);
    list_init(&hc->h2_streams);
    if (cfg->codec_type == CODEC_HTTP1)
        codec_http1(hc);
    hc->scheme = "http";
    hc->scheme_len = 4;
    if (tls_conn_is_tls(c)) {
        hc->tls = true;
        hc->scheme = "https";
        hc->scheme_len = 5;
        stats_inc(rt->stats, HTTP_downstream_cx_ssl_total);
        stats_inc(rt->stats, HTTP_downstream_cx_ssl_active);
    }
    if (cfg->idle_timeout_ms)
        arm_conn_idle(hc, cfg->idle_timeout_ms);
    if (cfg->max_connection_duration_ms)
        arm(&hc->dur_timer, cfg->max_connection_duration_ms);
    conn_set_cbs(c, &hcm_down_cbs, hc);
    conn_read_enable(c);
}
