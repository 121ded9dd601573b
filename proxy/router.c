/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/router.c — envoy.filters.http.router: route match → cluster → host → upstream
 * attempt on a pooled HTTP/1.1 connection, with Envoy's retries (retry_on, num_retries,
 * jittered exponential back-off, previous_hosts), timeouts (route timeout from the end of
 * the request, per-try timeout), circuit breakers, header mutations, rewrites, redirects and
 * direct responses. The downstream side is hcm.c. Worker thread only. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/model.h"
#include "proxy/access_log.h"
#include "proxy/cluster.h"
#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/header_add.h"
#include "proxy/hcm.h"
#include "proxy/hist.h"
#include "proxy/lb.h"
#include "proxy/log.h"
#include "proxy/pool.h"
#include "proxy/response_flags.h"
#include "proxy/route.h"
#include "proxy/runtime.h"
#include "proxy/stats.h"
#include "proxy/strbuf.h"
#include "proxy/worker.h"

#define UPSTREAM_FAILURE_BODY "upstream connect error or disconnect/reset before headers. "
#define BODY_CONNECT_FAILURE UPSTREAM_FAILURE_BODY "reset reason: connection failure"
#define BODY_TERMINATION UPSTREAM_FAILURE_BODY "reset reason: connection termination"
#define BODY_OVERFLOW UPSTREAM_FAILURE_BODY "reset reason: overflow"

enum attempt_failure {
    FAIL_CONNECT,  /* connect refused / timed out */
    FAIL_RESET,    /* the connection ended before a complete response head */
    FAIL_TIMEOUT,  /* per-try timeout */
    FAIL_PROTOCOL, /* malformed response */
};

static void attempt_start(struct hstream *s);
static void attempt_release(struct hstream *s, bool reusable);
static void attempt_failed(struct hstream *s, enum attempt_failure why);

/* Decimal of |v| into |buf| (>= 21 bytes), NUL-terminated; returns the length. */

static void arm(struct event *ev, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static struct stats_block *cstats(const struct hstream *s)
{
    return s->wc->cl->stats;
}

static struct cluster *cl_of(const struct hstream *s)
{
    return s->wc->cl;
}

/* ---- header mutations ------------------------------------------------------------------- */

static const char *mutation_value(struct hstream *s, const struct cfg_header_add *h)
{
    if (!h->fmt)
        return h->value;
    struct alog_ctx ctx;
    hcm_alog_ctx(s, &ctx);
    struct strbuf sb;
    sb_init(&sb);
    alog_format_write(h->fmt, &ctx, &sb);
    const char *v = arena_strndup(&s->arena, sb.data, sb.len);
    sb_fini(&sb);
    return v ? v : "";
}

static void apply_adds(struct hstream *s, struct http_msg *m, const struct cfg_header_add *a,
                       size_t n)
{
    for (size_t i = 0; i < n; i++)
        header_add_apply(m, &a[i], mutation_value(s, &a[i]));
}

static void apply_removes(struct http_msg *m, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        http_msg_remove(m, names[i]);
}

/* Envoy's order: weighted cluster, route, virtual host, route configuration (the most
 * specific level first; most_specific_header_mutations_wins reverses it). */
static void mutate(struct hstream *s, bool request)
{
    if (!s->wcl && s->route && !s->route->mut_any)
        return; /* no header mutation configured at any level */
    const struct cfg_header_mutations *levels[4];
    size_t n = 0;
    if (s->wcl)
        levels[n++] = &s->wcl->mut;
    if (s->route)
        levels[n++] = &s->route->mut;
    if (s->vh)
        levels[n++] = &s->vh->mut;
    const struct cfg_route_config *rc = s->hc->cfg->route_config;
    levels[n++] = &rc->mut;
    bool reverse = rc->most_specific_header_mutations_wins;
    struct http_msg *m = request ? &s->req : &s->resp;
    for (size_t k = 0; k < n; k++) {
        const struct cfg_header_mutations *mu = levels[reverse ? n - 1 - k : k];
        if (request ? !(mu->n_req_remove | mu->n_req_add) : !(mu->n_resp_remove | mu->n_resp_add))
            continue; /* nothing at this level (the common case) */
        if (request) {
            apply_removes(m, mu->req_remove, mu->n_req_remove);
            apply_adds(s, m, mu->req_add, mu->n_req_add);
        } else {
            apply_removes(m, mu->resp_remove, mu->n_resp_remove);
            apply_adds(s, m, mu->resp_add, mu->n_resp_add);
        }
    }
}

/* ---- retry policy ----------------------------------------------------------------------- */

static uint32_t parse_retry_on(const char *v, size_t n)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } names[] = {
        {"5xx", RETRY_ON_5XX},
        {"gateway-error", RETRY_ON_GATEWAY_ERROR},
        {"reset", RETRY_ON_RESET},
        {"reset-before-request", RETRY_ON_RESET_BEFORE_REQUEST},
        {"connect-failure", RETRY_ON_CONNECT_FAILURE},
        {"retriable-4xx", RETRY_ON_RETRIABLE_4XX},
        {"refused-stream", RETRY_ON_REFUSED_STREAM},
        {"retriable-status-codes", RETRY_ON_RETRIABLE_STATUS_CODES},
        {"retriable-headers", RETRY_ON_RETRIABLE_HEADERS},
        {"envoy-ratelimited", RETRY_ON_ENVOY_RATELIMITED},
    };
    uint32_t bits = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (strlen(names[k].name) == b - a && strncmp(names[k].name, v + a, b - a) == 0)
                bits |= names[k].bit;
        i = j + 1;
    }
    return bits;
}

static bool header_u64(const struct http_msg *m, const char *name, uint64_t *out)
{
    const struct http_slice *v = http_msg_get(m, name);
    if (!v || v->n == 0 || v->n > 18)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->p[i] < '0' || v->p[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v->p[i] - '0');
    }
    *out = x;
    return true;
}

/* Route policy plus the x-envoy-* request headers of trusted clients; the headers are
 * consumed (never forwarded), like Envoy. */
static void setup_policy(struct hstream *s)
{
    struct http_msg *req = &s->req;
    const struct cfg_retry_policy *rp = s->act->retry;
    s->retry = rp;
    s->retry_on = rp ? rp->retry_on : 0;
    s->retries_left = rp ? rp->num_retries : 0;
    s->timeout_ms = s->act->timeout_ms;
    s->per_try_ms = rp ? rp->per_try_timeout_ms : 0;
    if (s->flags & HS_TRUSTED) {
        const struct http_slice *v = http_msg_get(req, "x-envoy-retry-on");
        uint64_t x;
        if (v) {
            s->retry_on |= parse_retry_on(v->p, v->n);
            if (!rp)
                s->retries_left = 1; /* a header policy alone gets Envoy's default of 1 */
        }
        if (header_u64(req, "x-envoy-max-retries", &x))
            s->retries_left = (uint32_t)(x > 1000 ? 1000 : x);
        const struct cfg_router *rtr = s->hc->cfg->router;
        if (rtr && rtr->respect_expected_rq_timeout &&
            header_u64(req, "x-envoy-expected-rq-timeout-ms", &x))
            s->timeout_ms = x; /* the previous hop's budget (Envoy: respect_expected_rq_timeout) */
        else if (header_u64(req, "x-envoy-upstream-rq-timeout-ms", &x))
            s->timeout_ms = x;
        if (header_u64(req, "x-envoy-upstream-rq-per-try-timeout-ms", &x))
            s->per_try_ms = x;
    }
    if (!s->retry_on)
        s->retries_left = 0;
    static const char *const consumed[] = {"x-envoy-retry-on",
                                           "x-envoy-retry-grpc-on",
                                           "x-envoy-max-retries",
                                           "x-envoy-upstream-rq-timeout-ms",
                                           "x-envoy-upstream-rq-per-try-timeout-ms",
                                           "x-envoy-retriable-status-codes",
                                           "x-envoy-retriable-header-names",
                                           "x-envoy-expected-rq-timeout-ms",
                                           "x-envoy-upstream-rq-timeout-alt-response"};
    /* One pass over the headers (names are lowercase): most requests carry none of these. */
    for (uint32_t i = 0; i < req->headers.n;) {
        const struct http_slice *nm = &req->headers.v[i].name;
        bool drop = false;
        if (nm->n > 8 && memcmp(nm->p, "x-envoy-", 8) == 0)
            for (size_t k = 0; k < sizeof(consumed) / sizeof(consumed[0]) && !drop; k++)
                drop = strlen(consumed[k]) == nm->n && memcmp(consumed[k], nm->p, nm->n) == 0;
        if (drop)
            http_hdrs_remove_at(&req->headers, i);
        else
            i++;
    }
    const struct cfg_router *router = s->hc->cfg->router;
    if (!router || !router->suppress_envoy_headers) {
        uint64_t expected = s->per_try_ms && (!s->timeout_ms || s->per_try_ms < s->timeout_ms)
                                ? s->per_try_ms
                                : s->timeout_ms;
        if (expected) {
            char buf[24];
            size_t n = rm_u64_dec(buf, expected);
            HTTP_HDRS_SET_LIT(&req->headers, "x-envoy-expected-rq-timeout-ms", buf, n, true);
        }
    }
}

static bool status_retriable(const struct hstream *s, int st)
{
    uint32_t on = s->retry_on;
    /* retriable-headers: any of the policy's header matchers fits the response. */
    if ((on & RETRY_ON_RETRIABLE_HEADERS) && s->retry)
        for (size_t i = 0; i < s->retry->n_retriable_headers; i++)
            if (route_header_matches(&s->retry->retriable_headers[i], &s->resp))
                return true;
    /* envoy-ratelimited: the origin (an Envoy) said x-envoy-ratelimited. */
    if ((on & RETRY_ON_ENVOY_RATELIMITED) && http_msg_has(&s->resp, "x-envoy-ratelimited"))
        return true;
    if ((on & RETRY_ON_5XX) && st >= 500)
        return true;
    if ((on & RETRY_ON_GATEWAY_ERROR) && (st == 502 || st == 503 || st == 504))
        return true;
    if ((on & RETRY_ON_RETRIABLE_4XX) && st == 409)
        return true;
    if ((on & RETRY_ON_RETRIABLE_STATUS_CODES) && s->retry)
        for (size_t i = 0; i < s->retry->n_retriable_status_codes; i++)
            if ((int)s->retry->retriable_status_codes[i] == st)
                return true;
    return false;
}

static bool failure_retriable(const struct hstream *s, enum attempt_failure why)
{
    uint32_t on = s->retry_on;
    switch (why) {
    case FAIL_CONNECT:
        return on & (RETRY_ON_CONNECT_FAILURE | RETRY_ON_5XX | RETRY_ON_GATEWAY_ERROR |
                     RETRY_ON_RESET | RETRY_ON_RESET_BEFORE_REQUEST);
    case FAIL_RESET:
        return on & (RETRY_ON_RESET | RETRY_ON_5XX | RETRY_ON_GATEWAY_ERROR);
    case FAIL_TIMEOUT:
        return on & (RETRY_ON_RESET | RETRY_ON_5XX | RETRY_ON_GATEWAY_ERROR);
    case FAIL_PROTOCOL:
        return on & (RETRY_ON_RESET | RETRY_ON_5XX);
    }
    return false;
}

/* Envoy's back-off: fully jittered, the N-th retry waits a random time in
 * [0, (2^N - 1) × base_interval], capped at max_interval. */
static uint64_t backoff_ms(struct hstream *s)
{
    uint64_t base = s->retry ? s->retry->base_interval_ms : 25;
    uint64_t max = s->retry ? s->retry->max_interval_ms : 250;
    uint32_t n = s->attempts; /* retries so far + 1 */
    uint64_t ceiling = n >= 30 ? max : ((1ull << n) - 1) * base;
    if (ceiling > max)
        ceiling = max;
    return ceiling ? worker_rand(s->hc->w) % (ceiling + 1) : 0;
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    attempt_start(arg);
}

/* Returns true when a retry was scheduled. */
static bool try_retry(struct hstream *s, bool would_retry)
{
    if (!would_retry || (s->flags & (HS_RESP_STARTED | HS_NO_RETRY_BODY)))
        return false;
    if (s->retries_left == 0) {
        stats_inc(cstats(s), CLUSTER_upstream_rq_retry_limit_exceeded);
        s->response_flags |= RF_UPSTREAM_RETRY_LIMIT_EXCEEDED;
        return false;
    }
    struct cluster *cl = cl_of(s);
    if ((uint32_t)__atomic_load_n(&cl->cb_retries, __ATOMIC_RELAXED) >= cl->cfg->cb.max_retries) {
        stats_inc(cstats(s), CLUSTER_upstream_rq_retry_overflow);
        return false;
    }
    s->retries_left--;
    s->retried = true;
    stats_inc(cstats(s), CLUSTER_upstream_rq_retry);
    stats_inc(cstats(s), CLUSTER_upstream_rq_retry_backoff_exponential);
    uint64_t ms = backoff_ms(s);
    arm(&s->backoff_timer, ms);
    log_debug(LC_UPSTREAM, "[C%llu] retrying in %llu ms (%u left)",
              (unsigned long long)s->hc->c->id, (unsigned long long)ms, s->retries_left);
    return true;
}

/* ---- timeouts ----------------------------------------------------------------------------- */

static void start_timers(struct hstream *s);

static void on_global_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct hstream *s = arg;
    (void)fd;
    (void)what;
    s->global_fire_ns = 0;
    if (!s->hc || (s->flags & HS_DONE) || !s->global_deadline_ns)
        return; /* no route timeout running on this object (lazy timer, see hcm.h) */
    if (alog_mono_ns() < s->global_deadline_ns) {
        start_timers(s); /* armed for an earlier request: wait for this one's deadline */
        return;
    }
    s->global_deadline_ns = 0;
    stats_inc(cstats(s), CLUSTER_upstream_rq_timeout);
    if (s->up && s->up->host)
        stats_inc(s->up->host->stats, HOST_rq_error);
    attempt_release(s, false);
    timer_cancel(&s->backoff_timer);
    hcm_local_reply(s, 504, RF_UPSTREAM_REQUEST_TIMEOUT, "upstream_response_timeout",
                    "upstream request timeout");
}

static void on_try_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct hstream *s = arg;
    (void)fd;
    (void)what;
    stats_inc(cstats(s), CLUSTER_upstream_rq_per_try_timeout);
    attempt_failed(s, FAIL_TIMEOUT);
}

/* per_try_idle_timeout: no response byte for that long ends the attempt like a per-try
 * timeout. Armed once per attempt, re-armed for what is left when it fires early. */
static void on_try_idle(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_req *ur = arg;
    struct hstream *s = ur->s;
    (void)fd;
    (void)what;
    uint64_t ms = s->retry ? s->retry->per_try_idle_timeout_ms : 0;
    int64_t idle = (alog_mono_ns() - ur->last_rx_ns) / 1000000;
    if (idle < (int64_t)ms) {
        arm(&ur->idle_timer, ms - (uint64_t)idle);
        return;
    }
    stats_inc(cstats(s), CLUSTER_upstream_rq_per_try_idle_timeout);
    attempt_failed(s, FAIL_TIMEOUT);
}

/* The route timeout starts when the request is complete (Envoy). Lazy: an armed timer
 * that fires no later than the deadline is left alone. */
static void start_timers(struct hstream *s)
{
    if (!s->timeout_ms)
        return;
    int64_t now = alog_mono_ns();
    if (!s->global_deadline_ns)
        s->global_deadline_ns = now + (int64_t)s->timeout_ms * 1000000;
    int64_t due = s->global_deadline_ns;
    if (s->global_fire_ns && s->global_fire_ns <= due)
        return;
    arm(&s->global_timer, due > now ? (uint64_t)(due - now + 999999) / 1000000 : 0);
    s->global_fire_ns = due;
}

static void start_try_timer(struct hstream *s)
{
    struct upstream_req *ur = s->up;
    if (ur && s->retry && s->retry->per_try_idle_timeout_ms) {
        ur->last_rx_ns = alog_mono_ns();
        evtimer_assign(&ur->idle_timer, s->hc->w->base, on_try_idle, ur);
        arm(&ur->idle_timer, s->retry->per_try_idle_timeout_ms);
    }
    if (s->per_try_ms) {
        arm(&s->try_timer, s->per_try_ms);
    }
}

/* ---- the request upstream ---------------------------------------------------------------- */

static bool keep_body(const struct hstream *s)
{
    /* Kept (copied per attempt) while a retry or a mirror may need it again. */
    return (s->retries_left > 0 || (s->act && s->act->n_mirrors)) &&
           !(s->flags & (HS_NO_RETRY_BODY | HS_UPGRADE));
}

/* Writes what the attempt has not sent of the request body yet (all of it, moved, when no
 * retry can need it again; a copy otherwise). */
static void send_body(struct hstream *s)
{
    struct upstream_req *ur = s->up;
    struct conn *uc = ur->pc->c;
    /* A CONNECT's payload waits for the tunnel (the upstream's 2xx). */
    if (s->req.method == HTTP_METHOD_CONNECT && !(s->flags & HS_TUNNEL)) {
        if (evbuffer_get_length(s->body) > s->hc->c->limit)
            hcm_pause_request(s, true); /* hcm_tunnel_open() reads again */
        conn_flush(uc);                 /* the CONNECT head itself */
        return;
    }
    size_t len = evbuffer_get_length(s->body);
    if (!keep_body(s) && ur->body_off) {
        evbuffer_drain(s->body, ur->body_off);
        ur->body_off = 0;
        len = evbuffer_get_length(s->body);
    }
    size_t n = len - ur->body_off;
    if (n > 0) {
        bool chunked = s->req.body == HTTP_BODY_CHUNKED;
        if (keep_body(s)) {
            struct evbuffer *tmp = evbuffer_new();
            struct evbuffer_ptr pos;
            evbuffer_ptr_set(s->body, &pos, ur->body_off, EVBUFFER_PTR_SET);
            struct evbuffer_iovec v[8];
            size_t left = n;
            while (left && tmp) {
                int nv = evbuffer_peek(s->body, (ev_ssize_t)left, &pos, v, 8);
                for (int i = 0; i < nv && left; i++) {
                    size_t take = v[i].iov_len < left ? v[i].iov_len : left;
                    evbuffer_add(tmp, v[i].iov_base, take);
                    left -= take;
                }
                evbuffer_ptr_set(s->body, &pos, ur->body_off + (n - left), EVBUFFER_PTR_SET);
                if (nv <= 0)
                    break;
            }
            if (tmp) {
                if (chunked)
                    h1_write_chunk(uc->out, tmp, evbuffer_get_length(tmp));
                else
                    evbuffer_add_buffer(uc->out, tmp);
                evbuffer_free(tmp);
            }
            ur->body_off += n;
        } else if (chunked) {
            h1_write_chunk(uc->out, s->body, n);
        } else {
            evbuffer_add_buffer(uc->out, s->body);
        }
    }
    if ((s->flags & HS_REQ_DONE) && !ur->req_done) {
        ur->req_done = true;
        if (s->flags & HS_TUNNEL) {
            conn_shutdown_write(uc); /* the client half-closed the tunnel: pass it on */
        } else {
            if (s->req.body == HTTP_BODY_CHUNKED)
                h1_write_last_chunk(uc->out, NULL);
            start_try_timer(s);
        }
    }
    conn_flush(uc);
    /* Reading resumes here too, not only from up_write_low: the request may have been paused
     * before this connection was there (router_on_request_data, or hcm_parse for a pending
     * stream), and a first flush that stays under the high mark never calls on_write_low. */
    if (conn_is_above_high(uc))
        hcm_pause_request(s, true);
    else if (hcm_request_paused(s))
        hcm_pause_request(s, false);
}

static bool on_response_head(struct hstream *s);

/* CONNECT with connect_config: the TCP connection to the host is the tunnel. Envoy's TCP
 * upstream then synthesizes the 200 that completes the client's CONNECT. */
static void connect_terminated(struct hstream *s)
{
    struct upstream_req *ur = s->up;
    ur->raw = true;
    ur->head_sent = true;
    ur->resp_head = true;
    ur->pc->requests++;
    ur->start_ns = alog_mono_ns();
    http_msg_reset(&s->resp);
    s->resp.status = 200;
    s->resp.version = HTTP_VERSION_1_1;
    s->resp.body = HTTP_BODY_TUNNEL;
    if (!on_response_head(s))
        return;
    hcm_flush(s);
    if (s->up)
        send_body(s); /* what the client sent early */
}

static void send_request(struct hstream *s)
{
    struct upstream_req *ur = s->up;
    struct conn *uc = ur->pc->c;
    if (s->connect_term) {
        connect_terminated(s);
        return;
    }
    /* auto_host_rewrite: Host becomes the DNS name of the chosen host (DNS clusters). */
    if (s->act->auto_host_rewrite && ur->host->hostname)
        http_msg_set_authority(&s->req, ur->host->hostname, strlen(ur->host->hostname));
    enum http_body_kind framing = s->req.body;
    if (framing == HTTP_BODY_UNTIL_CLOSE || framing == HTTP_BODY_TUNNEL)
        framing = HTTP_BODY_NONE;
    if (s->req.end_stream && framing != HTTP_BODY_LENGTH)
        framing = HTTP_BODY_NONE;
    if (s->vh && s->vh->include_request_attempt_count) {
        char buf[24];
        size_t n = rm_u64_dec(buf, s->attempts);
        HTTP_HDRS_SET_LIT(&s->req.headers, "x-envoy-attempt-count", buf, n, true);
    }
    bool upgrade = (s->flags & HS_UPGRADE) && s->req.method != HTTP_METHOD_CONNECT;
    int rc = h1_write_request_head(uc->out, &s->req, framing, s->req.content_length,
                                   upgrade ? H1_WF_UPGRADE : 0);
    if (rc < 0) {
        attempt_release(s, false);
        hcm_local_reply(s, 503, RF_LOCAL_RESET, "request_encode_error", "invalid request");
        return;
    }
    ur->head_sent = true;
    ur->pc->requests++;
    ur->start_ns = alog_mono_ns();
    h1_parser_expect_response(&ur->parser, s->req.method, upgrade);
    send_body(s);
}

/* ---- the response ------------------------------------------------------------------------- */

static void count_upstream_status(struct hstream *s, int st)
{
    static const unsigned ids[] = {CLUSTER_upstream_rq_1xx, CLUSTER_upstream_rq_2xx,
                                   CLUSTER_upstream_rq_3xx, CLUSTER_upstream_rq_4xx,
                                   CLUSTER_upstream_rq_5xx};
    if (st >= 100 && st < 600)
        stats_inc(cstats(s), ids[st / 100 - 1]);
    int code = stats_cluster_code_id(st);
    if (code >= 0)
        stats_inc(cstats(s), (unsigned)code);
}

static void response_complete(struct hstream *s)
{
    struct upstream_req *ur = s->up;
    bool reusable = (ur->parser.flags & H1_MF_KEEP_ALIVE) && ur->req_done;
    stats_inc(cstats(s), CLUSTER_upstream_rq_completed);
    stats_inc(ur->host->stats, HOST_rq_success);
    hist_record(cl_of(s)->rq_time, (double)(alog_mono_ns() - ur->start_ns) / 1e6);
    if (s->retried && !status_retriable(s, s->resp.status))
        stats_inc(cstats(s), CLUSTER_upstream_rq_retry_success);
    attempt_release(s, reusable);
    s->global_deadline_ns = 0; /* the lazy timer then does nothing */
    hcm_response_done(s);
}

/* The final response head arrived. Returns false when the stream moved on (retry, reply). */
static bool on_response_head(struct hstream *s)
{
    struct upstream_req *ur = s->up;
    int st = s->resp.status;
    count_upstream_status(s, st);
    timer_cancel(&s->try_timer);
    if (status_retriable(s, st) && (s->flags & HS_REQ_DONE)) {
        if (s->retries_left > 0 && try_retry(s, true)) {
            stats_inc(ur->host->stats, HOST_rq_error);
            attempt_release(s, false); /* drop the rest of this response with the conn */
            http_msg_reset(&s->resp);
            return false;
        }
        if (s->retries_left == 0 && s->retry_on) {
            stats_inc(cstats(s), CLUSTER_upstream_rq_retry_limit_exceeded);
            s->response_flags |= RF_UPSTREAM_RETRY_LIMIT_EXCEEDED;
        }
    }
    if (st >= 500)
        stats_inc(ur->host->stats, HOST_rq_error);
    mutate(s, false);
    const struct cfg_router *router = s->hc->cfg->router;
    if (!router || !router->suppress_envoy_headers) {
        char buf[24];
        int64_t ms = (alog_mono_ns() - ur->start_ns) / 1000000;
        size_t n = rm_u64_dec(buf, ms < 0 ? 0 : (uint64_t)ms);
        HTTP_HDRS_SET_LIT(&s->resp.headers, "x-envoy-upstream-service-time", buf, n, true);
    }
    if (s->vh && s->vh->include_attempt_count_in_response) {
        char buf[24];
        size_t n = rm_u64_dec(buf, s->attempts);
        HTTP_HDRS_SET_LIT(&s->resp.headers, "x-envoy-attempt-count", buf, n, true);
    }
    s->details = "via_upstream";
    if (s->flags & HS_UPGRADE) {
        bool connect = s->req.method == HTTP_METHOD_CONNECT;
        if (connect ? st >= 200 && st < 300 : st == 101)
            hcm_tunnel_open(s);
    }
    if (hcm_send_response_head(s) != 0)
        return false;
    if ((s->flags & HS_TUNNEL) && s->up && evbuffer_get_length(s->body))
        send_body(s); /* CONNECT payload held until now */
    return s->up != NULL;
}

static void up_read(struct conn *c)
{
    struct upstream_req *ur = c->ctx;
    struct hstream *s = ur->s;
    struct evbuffer *in = c->in;
    if (s->retry && s->retry->per_try_idle_timeout_ms)
        ur->last_rx_ns = alog_mono_ns(); /* only the per-try idle timer reads it */
    if (!ur->resp_bytes && evbuffer_get_length(in)) {
        ur->resp_bytes = true;
        s->up_first_ns = alog_mono_ns();
    }
    if (ur->raw) {
        if (hcm_downstream_full(s))
            conn_read_disable(c); /* resumed by router_on_downstream_drained */
        else
            hcm_send_response_body(s, in, evbuffer_get_length(in));
        return;
    }
    while (s->up == ur && evbuffer_get_length(in)) {
        if (hcm_downstream_full(s)) {
            conn_read_disable(c); /* resumed by router_on_downstream_drained */
            return;
        }
        struct evbuffer_iovec seg;
        if (evbuffer_peek(in, -1, NULL, &seg, 1) < 1)
            return;
        struct h1_result r;
        int ev = h1_parse(&ur->parser, &s->resp, seg.iov_base, seg.iov_len, &r);
        if (ev < 0) {
            stats_inc(cstats(s), CLUSTER_upstream_cx_protocol_error);
            log_debug(LC_UPSTREAM, "[C%llu] bad response from %s: %s",
                      (unsigned long long)s->hc->c->id, ur->host->addr_str,
                      ur->parser.err_detail ? ur->parser.err_detail : "?");
            attempt_failed(s, FAIL_PROTOCOL);
            return;
        }
        if (ev == H1_EV_BODY) {
            evbuffer_drain(in, r.body_off);
            hcm_send_response_body(s, in, r.body_len);
            evbuffer_drain(in, r.consumed - r.body_off - r.body_len);
            if (r.end_stream) {
                response_complete(s); /* frees |s| */
                return;
            }
            continue;
        }
        evbuffer_drain(in, r.consumed);
        switch (ev) {
        case H1_EV_HEAD:
            if (ur->parser.flags & H1_MF_INFORMATIONAL) {
                http_msg_reset(&s->resp); /* 1xx: Envoy answers 100-continue itself */
                continue;
            }
            ur->resp_head = true;
            if (!on_response_head(s))
                return;
            if (!r.end_stream && evbuffer_get_length(in) == 0)
                hcm_flush(s); /* the body comes later: the head leaves now */
            if (r.end_stream) {
                response_complete(s); /* frees |s| */
                return;
            }
            continue;
        case H1_EV_DONE:
            response_complete(s);
            return;
        case H1_EV_NEED_MORE:
            if (r.consumed == 0)
                return;
            continue;
        default:
            continue;
        }
    }
}

static void up_write_low(struct conn *c)
{
    struct upstream_req *ur = c->ctx;
    hcm_pause_request(ur->s, false);
}

static bool idempotent(enum http_method m)
{
    return m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD || m == HTTP_METHOD_OPTIONS ||
           m == HTTP_METHOD_TRACE || m == HTTP_METHOD_PUT || m == HTTP_METHOD_DELETE;
}

static void up_event(struct conn *c, enum conn_event ev)
{
    struct upstream_req *ur = c->ctx;
    struct hstream *s = ur->s;
    switch (ev) {
    case CONN_EV_CONNECTED:
        ur->connected = true;
        ur->pc->connected = true;
        stats_inc(cstats(s), CLUSTER_upstream_cx_active);
        stats_inc(ur->host->stats, HOST_cx_active);
        rm_addr_store(&s->up_host, &c->peer);
        rm_addr_store(&s->up_local, &c->local);
        s->has_up_host = true;
        conn_read_enable(c);
        send_request(s);
        return;
    case CONN_EV_TIMEOUT:
        stats_inc(cstats(s), CLUSTER_upstream_cx_connect_timeout);
        /* fall through */
    case CONN_EV_ERROR:
        if (!ur->connected) {
            stats_inc(cstats(s), CLUSTER_upstream_cx_connect_fail);
            stats_inc(ur->host->stats, HOST_cx_connect_fail);
            attempt_failed(s, FAIL_CONNECT);
            return;
        }
        break;
    case CONN_EV_EOF:
        if (s->flags & HS_TUNNEL) {
            /* The upstream ended the tunnel: what it sent last goes down, then the stream
             * (and the downstream connection) end. */
            size_t left = evbuffer_get_length(c->in);
            if (left)
                hcm_send_response_body(s, c->in, left);
            response_complete(s);
            return;
        }
        if (ur->resp_head) {
            /* An until-close body ends here; any other framing was cut short. */
            struct h1_result r;
            int rc = h1_parse_eof(&ur->parser, &s->resp, &r);
            if (rc == H1_EV_DONE) {
                response_complete(s);
                return;
            }
        }
        break;
    case CONN_EV_DRAINED:
        return;
    }
    /* The connection ended before the response was complete. */
    stats_inc(cstats(s), CLUSTER_upstream_cx_destroy_remote);
    stats_inc(cstats(s), CLUSTER_upstream_rq_rx_reset);
    if (ur->resp_head) {
        attempt_release(s, false);
        hcm_reset(s, RF_UPSTREAM_CONNECTION_TERMINATION, "upstream_reset_after_response_started");
        return;
    }
    /* A pooled connection the origin closed just as we reused it (Envoy's 503 UC race):
     * nothing of the response arrived, so send the request again on a fresh connection,
     * once, when the method allows it. */
    if (ur->reused && !ur->resp_bytes && !(s->flags & HS_RESP_STARTED) &&
        idempotent(s->req.method) && !(s->flags & HS_NO_RETRY_BODY) && !s->n_replays) {
        s->n_replays++;
        log_debug(LC_UPSTREAM,
                  "[C%llu] pooled connection to %s closed before the response; "
                  "sending again on a new connection",
                  (unsigned long long)s->hc->c->id, ur->host->addr_str);
        attempt_release(s, false);
        s->attempts--; /* not a retry: the request never reached the origin's application */
        s->force_new_conn = true;
        attempt_start(s);
        return;
    }
    attempt_failed(s, FAIL_RESET);
}

static const struct conn_cbs up_cbs = {
    .on_read = up_read,
    .on_write_low = up_write_low,
    .on_event = up_event,
};

/* ---- attempts ----------------------------------------------------------------------------- */

static void attempt_release(struct hstream *s, bool reusable)
{
    struct upstream_req *ur = s->up;
    if (!ur)
        return;
    s->up = NULL;
    timer_cancel(&s->try_timer);
    timer_cancel(&ur->idle_timer); /* zeroed (never armed) flags: nothing to do */
    struct cluster *cl = cl_of(s);
    __atomic_sub_fetch(&cl->cb_rq, 1, __ATOMIC_RELAXED);
    stats_dec(cstats(s), CLUSTER_upstream_rq_active);
    stats_dec(ur->host->stats, HOST_rq_active);
    if (ur->pc) {
        if (reusable) {
            pool_release(ur->pc, true);
        } else {
            if (ur->connected && !ur->resp_bytes)
                stats_inc(cstats(s), CLUSTER_upstream_rq_tx_reset);
            pool_close(ur->pc, false);
        }
    }
    h1_parser_fini(&ur->parser);
    host_unref(ur->host);
    if (s->ur_spare)
        free(ur);
    else
        s->ur_spare = ur; /* the next attempt, or the next request on this object */
    router_conn_available(s->hc->w, cl);
}

static void attempt_failed(struct hstream *s, enum attempt_failure why)
{
    struct upstream_req *ur = s->up;
    if (ur)
        stats_inc(ur->host->stats, HOST_rq_error);
    attempt_release(s, false);
    if (try_retry(s, failure_retriable(s, why)))
        return;
    switch (why) {
    case FAIL_CONNECT:
        hcm_local_reply(s, 503, RF_UPSTREAM_CONNECTION_FAILURE,
                        "upstream_reset_before_response_started{connection_failure}",
                        BODY_CONNECT_FAILURE);
        return;
    case FAIL_RESET:
        hcm_local_reply(s, 503, RF_UPSTREAM_CONNECTION_TERMINATION,
                        "upstream_reset_before_response_started{connection_termination}",
                        BODY_TERMINATION);
        return;
    case FAIL_TIMEOUT:
        stats_inc(cstats(s), CLUSTER_upstream_rq_timeout);
        hcm_local_reply(s, 504, RF_UPSTREAM_REQUEST_TIMEOUT, "upstream_per_try_timeout",
                        "upstream request timeout");
        return;
    case FAIL_PROTOCOL:
        if (s->flags & HS_RESP_STARTED) {
            hcm_reset(s, RF_UPSTREAM_PROTOCOL_ERROR,
                      "upstream_reset_after_response_started{protocol_error}");
            return;
        }
        hcm_local_reply(s, 502, RF_UPSTREAM_PROTOCOL_ERROR,
                        "upstream_reset_before_response_started{protocol_error}",
                        UPSTREAM_FAILURE_BODY "reset reason: protocol error");
        return;
    }
}

static bool tried(const struct hstream *s, const struct host *h)
{
    for (uint32_t i = 0; i < s->n_tried; i++)
        if (s->tried[i] == h)
            return true;
    return false;
}

static struct host *pick_host(struct hstream *s)
{
    struct host *prev = s->n_tried ? s->tried[s->n_tried - 1] : NULL;
    struct host *h = lb_pick(s->hc->w, s->wc, prev);
    if (!h || !s->retry || !s->retry->previous_hosts)
        return h;
    /* retry_host_predicate previous_hosts: re-pick up to host_selection_retry_max_attempts. */
    for (uint32_t i = 0; i < s->retry->host_selection_retry_max_attempts && tried(s, h); i++) {
        struct host *again = lb_pick(s->hc->w, s->wc, h);
        if (!again)
            break;
        h = again;
    }
    return h;
}

static void attempt_start(struct hstream *s)
{
    struct cluster *cl = cl_of(s);
    struct host *h = pick_host(s);
    if (!h) {
        stats_inc(cstats(s), CLUSTER_upstream_cx_none_healthy);
        hcm_local_reply(s, 503, RF_NO_HEALTHY_UPSTREAM, "no_healthy_upstream",
                        "no healthy upstream");
        return;
    }
    if ((uint32_t)__atomic_load_n(&cl->cb_rq, __ATOMIC_RELAXED) >= cl->cfg->cb.max_requests) {
        stats_inc(cstats(s), CLUSTER_upstream_rq_pending_overflow);
        hcm_local_reply(s, 503, RF_UPSTREAM_OVERFLOW,
                        "upstream_reset_before_response_started{overflow}", BODY_OVERFLOW);
        return;
    }
    struct pconn *pc = NULL;
    bool reused = false;
    int rc = pool_get(s->hc->w, cl, h, s->force_new_conn, &pc, &reused);
    s->force_new_conn = false;
    if (rc == -RM_ELIMIT) {
        /* max_connections reached: wait for one (max_pending_requests bounds the queue). */
        if ((uint32_t)__atomic_load_n(&cl->cb_pending, __ATOMIC_RELAXED) >=
            cl->cfg->cb.max_pending_requests) {
            stats_inc(cstats(s), CLUSTER_upstream_rq_pending_overflow);
            hcm_local_reply(s, 503, RF_UPSTREAM_OVERFLOW,
                            "upstream_reset_before_response_started{overflow}", BODY_OVERFLOW);
            return;
        }
        __atomic_add_fetch(&cl->cb_pending, 1, __ATOMIC_RELAXED);
        stats_inc(cstats(s), CLUSTER_upstream_rq_pending_total);
        stats_inc(cstats(s), CLUSTER_upstream_rq_pending_active);
        s->flags |= HS_PENDING;
        list_add_tail(&s->wc->pending, &s->pending_node);
        return;
    }
    if (rc < 0) {
        stats_inc(cstats(s), CLUSTER_upstream_cx_connect_fail);
        hcm_local_reply(s, 503, RF_UPSTREAM_CONNECTION_FAILURE,
                        "upstream_reset_before_response_started{connection_failure}",
                        BODY_CONNECT_FAILURE);
        return;
    }
    struct upstream_req *ur = s->ur_spare;
    s->ur_spare = NULL;
    if (!ur)
        ur = malloc(sizeof(*ur));
    if (ur)
        memset(ur, 0, sizeof(*ur));
    if (!ur) {
        pool_release(pc, reused);
        hcm_local_reply(s, 503, RF_LOCAL_RESET, "out_of_memory", "out of memory");
        return;
    }
    ur->s = s;
    ur->pc = pc;
    ur->host = host_ref(h);
    ur->reused = reused;
    h1_parser_init(&ur->parser, H1_ROLE_CLIENT, NULL);
    s->up = ur;
    s->attempts++;
    s->up_host = h->addr; /* %UPSTREAM_HOST% names the host even when the connect fails */
    s->has_up_host = true;
    if (s->n_tried < sizeof(s->tried) / sizeof(s->tried[0]))
        s->tried[s->n_tried++] = h;
    else
        s->tried[s->n_tried - 1] = h;
    __atomic_add_fetch(&cl->cb_rq, 1, __ATOMIC_RELAXED);
    stats_inc(cstats(s), CLUSTER_upstream_rq_total);
    stats_inc(cstats(s), CLUSTER_upstream_rq_active);
    stats_inc(h->stats, HOST_rq_total);
    stats_inc(h->stats, HOST_rq_active);
    conn_set_cbs(pc->c, &up_cbs, ur);
    if (reused) {
        ur->connected = true;
        rm_addr_store(&s->up_host, &pc->c->peer);
        rm_addr_store(&s->up_local, &pc->c->local);
        s->has_up_host = true;
        conn_read_enable(pc->c);
        send_request(s);
    }
}

void router_conn_available(struct worker *w, struct cluster *cl)
{
    if (w->stopping || cl->index >= w->n_clusters)
        return;
    struct worker_cluster *wc = &w->clusters[cl->index];
    if (list_empty(&wc->pending))
        return;
    struct hstream *s = list_entry(wc->pending.next, struct hstream, pending_node);
    list_del(&s->pending_node);
    s->flags &= ~HS_PENDING;
    __atomic_sub_fetch(&cl->cb_pending, 1, __ATOMIC_RELAXED);
    stats_dec(cl->stats, CLUSTER_upstream_rq_pending_active);
    attempt_start(s);
}

static uint64_t rt_get(void *ctx, const char *key, uint64_t dflt)
{
    return runtime_get_uint(((struct worker *)ctx)->runtime, key, dflt);
}

/* The worker's runtime values for route matching and weights (NULL when it has none). */
static const struct route_runtime *worker_rt(struct worker *w, struct route_runtime *buf)
{
    if (!w->runtime || !w->runtime->n)
        return NULL;
    buf->get_uint = rt_get;
    buf->ctx = w;
    return buf;
}

/* ---- request mirroring (shadowing) ------------------------------------------------------------
 * A copy of the complete request goes to each mirror cluster with "-shadow" appended to the
 * host, fire and forget: the shadow's response is read and dropped, its failures are only
 * counted, and nothing about it ever touches the primary response (Envoy's semantics).
 * Requests whose body was too large to keep are not mirrored. */

#define SHADOW_TIMEOUT_MS 15000

struct shadow {
    struct worker *w;
    struct cluster *cl;
    struct pconn *pc;
    struct arena arena;
    struct http_msg resp;
    struct h1_parser parser;
    struct evbuffer *req; /* the serialized request, written once connected */
    struct event timer;
    enum http_method method;
};

static void shadow_free(struct shadow *sh, bool reusable)
{
    timer_cancel(&sh->timer);
    __atomic_sub_fetch(&sh->cl->cb_rq, 1, __ATOMIC_RELAXED);
    stats_dec(sh->cl->stats, CLUSTER_upstream_rq_active);
    if (sh->pc) {
        if (reusable)
            pool_release(sh->pc, true);
        else
            pool_close(sh->pc, false);
    }
    h1_parser_fini(&sh->parser);
    evbuffer_free(sh->req);
    arena_fini(&sh->arena);
    free(sh);
}

static void shadow_send(struct shadow *sh)
{
    struct conn *c = sh->pc->c;
    evbuffer_add_buffer(c->out, sh->req);
    sh->pc->requests++;
    h1_parser_expect_response(&sh->parser, sh->method, false);
    conn_read_enable(c);
    conn_flush(c);
}

static void shadow_read(struct conn *c)
{
    struct shadow *sh = c->ctx;
    struct evbuffer *in = c->in;
    while (evbuffer_get_length(in)) {
        struct evbuffer_iovec seg;
        if (evbuffer_peek(in, -1, NULL, &seg, 1) < 1)
            return;
        struct h1_result r;
        int ev = h1_parse(&sh->parser, &sh->resp, seg.iov_base, seg.iov_len, &r);
        if (ev < 0) {
            stats_inc(sh->cl->stats, CLUSTER_upstream_cx_protocol_error);
            shadow_free(sh, false);
            return;
        }
        evbuffer_drain(in, r.consumed);
        if (ev == H1_EV_HEAD && (sh->parser.flags & H1_MF_INFORMATIONAL)) {
            http_msg_reset(&sh->resp);
            continue;
        }
        if (ev == H1_EV_HEAD) {
            int st = sh->resp.status;
            static const unsigned ids[] = {CLUSTER_upstream_rq_1xx, CLUSTER_upstream_rq_2xx,
                                           CLUSTER_upstream_rq_3xx, CLUSTER_upstream_rq_4xx,
                                           CLUSTER_upstream_rq_5xx};
            if (st >= 100 && st < 600)
                stats_inc(sh->cl->stats, ids[st / 100 - 1]);
        }
        if (r.end_stream) {
            stats_inc(sh->cl->stats, CLUSTER_upstream_rq_completed);
            shadow_free(sh, (sh->parser.flags & H1_MF_KEEP_ALIVE) != 0);
            return;
        }
        if (ev == H1_EV_NEED_MORE && r.consumed == 0)
            return;
    }
}

static void shadow_event(struct conn *c, enum conn_event ev)
{
    struct shadow *sh = c->ctx;
    switch (ev) {
    case CONN_EV_CONNECTED:
        sh->pc->connected = true;
        stats_inc(sh->cl->stats, CLUSTER_upstream_cx_active);
        stats_inc(sh->pc->host->stats, HOST_cx_active);
        shadow_send(sh);
        return;
    case CONN_EV_DRAINED:
        return;
    case CONN_EV_EOF: {
        struct h1_result r;
        if (h1_parse_eof(&sh->parser, &sh->resp, &r) == H1_EV_DONE) {
            stats_inc(sh->cl->stats, CLUSTER_upstream_rq_completed);
            shadow_free(sh, false);
            return;
        }
        break;
    }
    case CONN_EV_TIMEOUT:
    case CONN_EV_ERROR:
        if (!sh->pc->connected)
            stats_inc(sh->cl->stats, CLUSTER_upstream_cx_connect_fail);
        break;
    }
    stats_inc(sh->cl->stats, CLUSTER_upstream_rq_rx_reset);
    shadow_free(sh, false);
}

static const struct conn_cbs shadow_cbs = {
    .on_read = shadow_read,
    .on_event = shadow_event,
};

static void on_shadow_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct shadow *sh = arg;
    (void)fd;
    (void)what;
    stats_inc(sh->cl->stats, CLUSTER_upstream_rq_timeout);
    shadow_free(sh, false);
}

static void mirror_one(struct hstream *s, const struct cfg_mirror_policy *m)
{
    struct worker *w = s->hc->w;
    struct route_runtime rtb;
    if (m->has_fraction &&
        !route_fraction_enabled(&m->fraction, worker_rand(w), worker_rt(w, &rtb)))
        return;
    struct worker_cluster *wc = worker_find_cluster(w, m->cluster);
    if (!wc)
        return;
    struct cluster *cl = wc->cl;
    if ((uint32_t)__atomic_load_n(&cl->cb_rq, __ATOMIC_RELAXED) >= cl->cfg->cb.max_requests) {
        stats_inc(cl->stats, CLUSTER_upstream_rq_pending_overflow);
        return;
    }
    struct host *h = lb_pick(w, wc, NULL);
    if (!h) {
        stats_inc(cl->stats, CLUSTER_upstream_cx_none_healthy);
        return;
    }
    struct shadow *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return;
    sh->req = evbuffer_new();
    if (!sh->req) {
        free(sh);
        return;
    }
    arena_init(&sh->arena, 1024);
    http_msg_init(&sh->resp, &sh->arena, false);
    h1_parser_init(&sh->parser, H1_ROLE_CLIENT, NULL);
    sh->w = w;
    sh->cl = cl;
    sh->method = s->req.method;
    evtimer_assign(&sh->timer, w->base, on_shadow_timeout, sh);
    /* The request as the primary sends it, host + "-shadow", content-length framing. */
    struct http_msg *req = &s->req;
    struct http_slice host = req->authority;
    const char *colon = host.n ? memchr(host.p, ':', host.n) : NULL;
    size_t hl = colon ? (size_t)(colon - host.p) : host.n;
    char *shadow_host = arena_sprintf(&sh->arena, "%.*s-shadow%.*s", (int)hl, host.p,
                                      (int)(host.n - hl), host.p + hl);
    size_t blen = evbuffer_get_length(s->body);
    int rc = -RM_ENOMEM;
    if (shadow_host) {
        req->authority.p = shadow_host;
        req->authority.n = strlen(shadow_host);
        rc = h1_write_request_head(
            sh->req, req, blen || req->body != HTTP_BODY_NONE ? HTTP_BODY_LENGTH : HTTP_BODY_NONE,
            blen, 0);
        req->authority = host;
    }
    if (rc == 0 && blen) {
        struct evbuffer_iovec v[16];
        int nv = evbuffer_peek(s->body, -1, NULL, v, 16);
        for (int i = 0; i < nv && i < 16; i++)
            evbuffer_add(sh->req, v[i].iov_base, v[i].iov_len);
    }
    bool reused = false;
    __atomic_add_fetch(&cl->cb_rq, 1, __ATOMIC_RELAXED);
    stats_inc(cl->stats, CLUSTER_upstream_rq_total);
    stats_inc(cl->stats, CLUSTER_upstream_rq_active);
    if (rc < 0 || pool_get(w, cl, h, false, &sh->pc, &reused) < 0) {
        sh->pc = NULL;
        shadow_free(sh, false);
        return;
    }
    conn_set_cbs(sh->pc->c, &shadow_cbs, sh);
    struct timeval tv = {SHADOW_TIMEOUT_MS / 1000, 0};
    evtimer_add(&sh->timer, &tv);
    if (reused)
        shadow_send(sh);
}

/* The request is complete: send its shadows (once). */
static void mirror(struct hstream *s)
{
    if (!s->act || !s->act->n_mirrors || s->mirrored ||
        (s->flags & (HS_NO_RETRY_BODY | HS_UPGRADE)))
        return; /* upgraded payload is never shadowed */
    s->mirrored = true;
    for (size_t i = 0; i < s->act->n_mirrors; i++)
        mirror_one(s, &s->act->mirrors[i]);
}

/* ---- entry points from hcm.c ------------------------------------------------------------- */

void router_stream_init(struct hstream *s, struct event_base *base)
{
    evtimer_assign(&s->global_timer, base, on_global_timeout, s);
    evtimer_assign(&s->try_timer, base, on_try_timeout, s);
    evtimer_assign(&s->backoff_timer, base, on_backoff, s);
}

static const char *pick_cluster(struct hstream *s)
{
    const struct cfg_route_action *a = s->act;
    switch (a->spec) {
    case CSPEC_CLUSTER:
        return a->cluster;
    case CSPEC_WEIGHTED: {
        struct route_runtime rtb;
        const struct cfg_weighted_cluster_http *wcl =
            route_pick_weighted(a, worker_rand(s->hc->w), worker_rt(s->hc->w, &rtb));
        s->wcl = wcl;
        return wcl ? wcl->name : NULL;
    }
    case CSPEC_HEADER: {
        const struct http_slice *v = http_msg_get(&s->req, a->cluster_header);
        return v && v->n ? arena_strndup(&s->arena, v->p, v->n) : NULL;
    }
    }
    return NULL;
}

/* The route's upgrade_configs entry for this stream's upgrade type, or NULL. */
static const struct cfg_route_upgrade *route_upgrade(const struct hstream *s)
{
    if (!s->route || s->route->kind != ROUTE_FORWARD)
        return NULL;
    const struct cfg_route_action *a = &s->route->action;
    for (size_t i = 0; i < a->n_upgrades; i++)
        if (strlen(a->upgrades[i].type) == s->upgrade.n &&
            strncasecmp(a->upgrades[i].type, s->upgrade.p, s->upgrade.n) == 0)
            return &a->upgrades[i];
    return NULL;
}

/* Envoy's createUpgradeFilterChain(): the route's setting for the type wins; otherwise the
 * connection manager's upgrade_configs decide; an unlisted type is refused. */
static bool upgrade_allowed(struct hstream *s)
{
    const struct cfg_route_upgrade *ru = route_upgrade(s);
    if (ru) {
        s->connect_term = ru->enabled && ru->connect_terminate;
        return ru->enabled;
    }
    const struct cfg_hcm *cfg = s->hc->cfg;
    for (size_t i = 0; i < cfg->n_upgrades; i++)
        if (strlen(cfg->upgrades[i].type) == s->upgrade.n &&
            strncasecmp(cfg->upgrades[i].type, s->upgrade.p, s->upgrade.n) == 0)
            return cfg->upgrades[i].enabled;
    return false;
}

void router_on_request_head(struct hstream *s)
{
    struct hcm_conn *hc = s->hc;
    struct stats_block *hs = hc->rt->stats;
    const struct cfg_route_config *rc = hc->cfg->route_config;
    struct http_msg *req = &s->req;
    s->vh = route_find_vhost(rc, req->authority.p, req->authority.n);
    struct route_runtime rtb;
    s->route = s->vh ? route_match(s->vh, req, worker_rand(hc->w), worker_rt(hc->w, &rtb)) : NULL;
    if ((s->flags & HS_UPGRADE) && !upgrade_allowed(s)) {
        stats_inc(hs, HTTP_downstream_rq_ws_on_non_ws_route);
        hcm_local_reply(s, 403, RF_NONE, "upgrade_failed", "");
        return;
    }
    if (!s->route) {
        stats_inc(hs, HTTP_no_route);
        hcm_local_reply(s, 404, RF_NO_ROUTE_FOUND, "route_not_found", "");
        return;
    }
    const struct cfg_route *rt = s->route;
    if (rt->kind == ROUTE_DIRECT) {
        stats_inc(hs, HTTP_rq_direct_response);
        hcm_local_reply(s, rt->direct.status, RF_NONE, "direct_response",
                        rt->direct.body ? rt->direct.body : "");
        return;
    }
    if (rt->kind == ROUTE_REDIRECT) {
        stats_inc(hs, HTTP_rq_redirect);
        struct http_slice loc = {0};
        int lrc = route_redirect_location(rt, req, &s->arena, &loc);
        http_msg_reset(&s->resp);
        if (lrc == 0 && loc.p)
            http_hdrs_set(&s->resp.headers, "location", 8, loc.p, loc.n);
        s->resp.status = rt->redirect.response_code;
        s->resp.body = HTTP_BODY_LENGTH;
        s->resp.content_length = 0;
        s->details = "direct_response";
        if (hcm_send_response_head(s) == 0) {
            hcm_response_done(s);
        }
        return;
    }
    s->act = &rt->action;
    s->cluster_name = pick_cluster(s);
    s->wc = s->cluster_name ? worker_find_cluster(hc->w, s->cluster_name) : NULL;
    if (!s->wc) {
        stats_inc(hs, HTTP_no_cluster);
        hcm_local_reply(s, 503, RF_NO_CLUSTER_FOUND, "cluster_not_found", "");
        return;
    }
    setup_policy(s);
    if (s->act->has_idle_timeout)
        hcm_stream_idle_update(s); /* the route's idle_timeout replaces the HCM's */
    if (s->flags & HS_UPGRADE) {
        /* An upgraded stream is never retried, and gets its own connection (closed after
         * the tunnel, never pooled again; a fresh connection is also never replayed). */
        s->retries_left = 0;
        s->retry_on = 0;
        s->force_new_conn = true;
    }
    mutate(s, true);
    struct http_slice np = {0};
    if (route_path_rewrite(rt, req->path.p, req->path.n, &s->arena, &np) == 0 && np.p) {
        /* Envoy keeps the original for logs and the origin: x-envoy-original-path. */
        http_hdrs_set(&req->headers, "x-envoy-original-path", 21, req->path.p, req->path.n);
        http_msg_set_path(req, np.p, np.n);
    }
    if (s->act->host_rewrite_literal)
        http_msg_set_authority(req, s->act->host_rewrite_literal,
                               strlen(s->act->host_rewrite_literal));
    if (s->flags & HS_EXPECT_100) {
        /* Envoy answers Expect: 100-continue itself and does not forward it. */
        http_msg_remove(req, "expect");
        hcm_send_continue(s);
    }
    if (s->flags & HS_REQ_DONE) {
        start_timers(s);
        mirror(s);
    }
    attempt_start(s);
}

void router_on_request_data(struct hstream *s, size_t n, bool end)
{
    (void)n;
    if (s->flags & HS_DONE)
        return;
    uint32_t limit = s->hc->c->limit;
    if (!(s->flags & HS_NO_RETRY_BODY) && s->body_bytes > limit) {
        /* Envoy: a body larger than the buffer limit cannot be replayed, so no retry. */
        s->flags |= HS_NO_RETRY_BODY;
    }
    if (end) {
        start_timers(s);
        mirror(s);
    }
    if (s->flags & HS_DONE)
        return;
    if (s->up && s->up->connected && s->up->head_sent)
        send_body(s);
    else if (evbuffer_get_length(s->body) > limit)
        hcm_pause_request(s, true); /* wait for the connection before reading more */
}

void router_on_downstream_drained(struct hstream *s)
{
    if (s->up && s->up->pc && s->up->pc->c)
        conn_read_enable(s->up->pc->c);
    if (s->up && s->up->pc && evbuffer_get_length(s->up->pc->c->in))
        up_read(s->up->pc->c);
}

void router_stream_done(struct hstream *s)
{
    if (s->flags & HS_PENDING) {
        struct cluster *cl = cl_of(s);
        list_del(&s->pending_node);
        s->flags &= ~HS_PENDING;
        __atomic_sub_fetch(&cl->cb_pending, 1, __ATOMIC_RELAXED);
        stats_dec(cl->stats, CLUSTER_upstream_rq_pending_active);
    }
    timer_cancel(&s->backoff_timer);
    s->global_deadline_ns = 0; /* the lazy timer then does nothing */
    attempt_release(s, false);
}
