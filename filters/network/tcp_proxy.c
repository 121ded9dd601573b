/* SPDX-License-Identifier: Apache-2.0 */
/* filters/network/tcp_proxy.c — envoy.filters.network.tcp_proxy sessions, on workers.
 *
 * A session pairs the downstream conn with one upstream conn. Downstream reading stays
 * off until the upstream connects (Envoy's default), then bytes move as evbuffer chains
 * in both directions; when a side's output passes per_connection_buffer_limit_bytes the
 * other side stops reading until it drains below half (watermarks). A FIN from one side
 * is forwarded as a FIN to the other after its pending bytes (half-close); the session
 * ends when both directions are closed, on a reset or error (the other side is flushed
 * and closed), on idle_timeout, or on max_downstream_connection_duration. Connect
 * failures are retried on another host up to max_connect_attempts. */
#include "filters/network/tcp_proxy.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/model.h"
#include "config/snapshot.h"
#include "proxy/access_log.h"
#include "proxy/cluster.h"
#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/lb.h"
#include "proxy/log.h"
#include "proxy/response_flags.h"
#include "proxy/stats.h"
#include "proxy/tls.h"
#include "proxy/transport.h"
#include "proxy/worker.h"

/* Process-wide state of one tcp_proxy instance (created on main, read by workers). */
struct tcp_rt {
    struct stats_block *stats; /* tcp.<stat_prefix>.* */
    struct arena arena;        /* the loggers (and their sinks' references) */
    struct alog_logger **loggers;
    size_t n_loggers;
};

struct tcp_session {
    struct worker *w;
    const struct cfg_tcp_proxy *cfg;
    struct tcp_rt *rt;
    struct snapshot *snap; /* keeps cfg alive for the session */
    struct conn *down, *up;
    struct worker_cluster *wc;
    const char *cluster_name;
    struct host *host; /* reference held while set */
    uint32_t attempts;
    uint32_t response_flags;
    bool up_connected, down_eof, up_eof, up_reset, done;
    bool spliced, splice_failed;
    struct event idle_timer, dur_timer;
    struct timespec start_wall;
    int64_t start_mono_ns;
};

static void session_end(struct tcp_session *s, const char *why);
static void connect_next(struct tcp_session *s);

/* ---- helpers --------------------------------------------------------------------------- */

static struct stats_block *cstats(struct tcp_session *s)
{
    return s->wc->cl->stats;
}

static void arm_idle(struct tcp_session *s)
{
    if (s->cfg->idle_timeout_ms == 0)
        return;
    struct timeval tv = {(time_t)(s->cfg->idle_timeout_ms / 1000),
                         (suseconds_t)(s->cfg->idle_timeout_ms % 1000) * 1000};
    evtimer_add(&s->idle_timer, &tv);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_session *s = arg;
    (void)fd;
    (void)what;
    stats_inc(s->rt->stats, TCP_idle_timeout);
    session_end(s, "idle timeout");
}

static void on_duration(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_session *s = arg;
    (void)fd;
    (void)what;
    stats_inc(s->rt->stats, TCP_max_downstream_connection_duration);
    s->response_flags |= RF_DURATION_TIMEOUT;
    session_end(s, "max_downstream_connection_duration");
}

static void release_host(struct tcp_session *s)
{
    if (!s->host)
        return;
    stats_dec(s->host->stats, HOST_cx_active);
    stats_dec(s->host->stats, HOST_rq_active);
    host_unref(s->host);
    s->host = NULL;
}

/* Moves everything readable from |from| to |to| and applies the watermark. */
/* Past this many bytes a session relays with splice(2) (no copy through user space); short
 * sessions never pay for the two pipes. */
#define SPLICE_AFTER_BYTES (256u * 1024u)

static void maybe_splice(struct tcp_session *s)
{
    struct conn *d = s->down, *u = s->up;
    if (s->spliced || s->splice_failed || !u || !s->up_connected ||
        d->rx_bytes + u->rx_bytes < SPLICE_AFTER_BYTES)
        return;
    if (evbuffer_get_length(d->in) || evbuffer_get_length(d->out) || evbuffer_get_length(u->in) ||
        evbuffer_get_length(u->out))
        return; /* switch only between chunks, with nothing buffered */
    if (transport_splice_pair(d, u) == 0)
        s->spliced = true;
    else
        s->splice_failed = true; /* e.g. out of fds: keep copying */
}

static void pump(struct tcp_session *s, struct conn *from, struct conn *to)
{
    size_t n = evbuffer_get_length(from->in);
    if (n)
        evbuffer_add_buffer(to->out, from->in);
    else if (!(from->flags & CONN_F_SPLICE))
        return; /* spliced: the bytes wait in |to|'s pipe */
    conn_flush(to);
    arm_idle(s);
    maybe_splice(s);
    if (conn_is_above_high(to) && !(from->flags & CONN_F_READ_PAUSED)) {
        conn_read_disable(from);
        if (from == s->down)
            stats_inc(s->rt->stats, TCP_downstream_flow_control_paused_reading_total);
        else
            stats_inc(cstats(s), CLUSTER_upstream_flow_control_paused_reading_total);
    }
}

/* Both directions finished (FIN each way, all bytes written): the session is done. */
static void maybe_finish(struct tcp_session *s)
{
    if (s->down_eof && s->up_eof && conn_out_len(s->down) == 0 && conn_out_len(s->up) == 0)
        session_end(s, "both sides closed");
}

/* ---- access log ------------------------------------------------------------------------ */

static void session_log(struct tcp_session *s)
{
    if (s->rt->n_loggers == 0)
        return;
    struct alog_ctx ctx;
    alog_ctx_init(&ctx);
    ctx.start_time = s->start_wall;
    ctx.start_mono_ns = s->start_mono_ns;
    ctx.complete_ns = alog_mono_ns();
    ctx.bytes_received = s->down->rx_bytes;
    ctx.bytes_sent = s->down->tx_bytes;
    ctx.response_flags = s->response_flags;
    rm_addr_store(&ctx.downstream_remote, &s->down->peer);
    rm_addr_store(&ctx.downstream_direct_remote, &s->down->peer);
    rm_addr_store(&ctx.downstream_local, &s->down->local);
    ctx.upstream_cluster = s->cluster_name;
    ctx.connection_id = s->down->id;
    char san[512], subj[512];
    if (tls_conn_is_tls(s->down)) {
        ctx.downstream_tls_version = tls_conn_version(s->down);
        ctx.requested_server_name = tls_conn_sni(s->down);
        if (tls_conn_peer_uri_san(s->down, san, sizeof(san)))
            ctx.downstream_peer_uri_san = san;
        if (tls_conn_peer_subject(s->down, subj, sizeof(subj)))
            ctx.downstream_peer_subject = subj;
    }
    ctx.attempt_count = s->attempts;
    if (s->up && s->up_connected) {
        rm_addr_store(&ctx.upstream_host, &s->up->peer);
        rm_addr_store(&ctx.upstream_local, &s->up->local);
    }
    for (size_t i = 0; i < s->rt->n_loggers; i++)
        alog_logger_log(s->rt->loggers[i], &ctx);
}

/* ---- session end ------------------------------------------------------------------------ */

static void session_end(struct tcp_session *s, const char *why)
{
    if (s->done)
        return;
    s->done = true;
    evtimer_del(&s->idle_timer);
    evtimer_del(&s->dur_timer);
    log_debug(LC_FILTER, "[C%llu] tcp_proxy session ended: %s", (unsigned long long)s->down->id,
              why);
    session_log(s);
    if (s->up) {
        if (s->up_connected) {
            stats_dec(cstats(s), CLUSTER_upstream_cx_active);
            stats_inc(cstats(s), CLUSTER_upstream_cx_destroy);
            /* We close it (idle timeout, downstream gone, drain) unless the upstream did. */
            if (!s->up_eof && !s->up_reset)
                stats_inc(cstats(s), CLUSTER_upstream_cx_destroy_local);
        }
        conn_close_after_flush(s->up);
        s->up = NULL;
    }
    release_host(s);
    conn_close_after_flush(s->down);
    snap_unref(s->snap);
    free(s);
}

/* ---- downstream ------------------------------------------------------------------------- */

static void down_read(struct conn *c)
{
    struct tcp_session *s = c->ctx;
    if (s->up && s->up_connected)
        pump(s, c, s->up);
}

static void down_write_low(struct conn *c)
{
    struct tcp_session *s = c->ctx;
    if (s->up && s->up_connected && (s->up->flags & CONN_F_READ_PAUSED)) {
        conn_read_enable(s->up);
        stats_inc(cstats(s), CLUSTER_upstream_flow_control_resumed_reading_total);
    }
    maybe_finish(s);
}

static void down_event(struct conn *c, enum conn_event ev)
{
    struct tcp_session *s = c->ctx;
    if (ev == CONN_EV_DRAINED) {
        maybe_finish(s);
        return;
    }
    if (ev == CONN_EV_EOF) {
        s->down_eof = true;
        if (!s->up_connected)
            return; /* buffered bytes and the FIN go upstream once it is connected */
        conn_shutdown_write(s->up); /* half-close: FIN after pending bytes */
        maybe_finish(s);
        return;
    }
    s->response_flags |= RF_DOWNSTREAM_CONNECTION_TERMINATION;
    session_end(s, c->err == ECONNABORTED ? "shutdown" : "downstream reset");
}

static const struct conn_cbs down_cbs = {
    .on_read = down_read,
    .on_write_low = down_write_low,
    .on_event = down_event,
};

/* ---- upstream ----------------------------------------------------------------------------- */

static void up_read(struct conn *c)
{
    struct tcp_session *s = c->ctx;
    pump(s, c, s->down);
}

static void up_write_low(struct conn *c)
{
    struct tcp_session *s = c->ctx;
    if (s->down->flags & CONN_F_READ_PAUSED) {
        conn_read_enable(s->down);
        stats_inc(s->rt->stats, TCP_downstream_flow_control_resumed_reading_total);
    }
    maybe_finish(s);
}

static void connect_failed(struct tcp_session *s, bool timeout)
{
    struct stats_block *cs = cstats(s);
    stats_inc(cs, CLUSTER_upstream_cx_connect_fail);
    if (timeout)
        stats_inc(cs, CLUSTER_upstream_cx_connect_timeout);
    stats_inc(s->host->stats, HOST_cx_connect_fail);
    stats_inc(s->host->stats, HOST_rq_error);
    log_debug(LC_UPSTREAM, "[C%llu] connect to %s failed: %s (attempt %u of %u)",
              (unsigned long long)s->down->id, s->host->addr_str,
              timeout ? "timeout" : strerror(s->up->err), s->attempts,
              s->cfg->max_connect_attempts);
    conn_close(s->up, false);
    s->up = NULL;
    if (s->attempts < s->cfg->max_connect_attempts) {
        connect_next(s);
        return;
    }
    s->response_flags |= RF_UPSTREAM_CONNECTION_FAILURE;
    if (s->cfg->max_connect_attempts > 1) {
        stats_inc(cs, CLUSTER_upstream_cx_connect_attempts_exceeded);
        s->response_flags |= RF_UPSTREAM_RETRY_LIMIT_EXCEEDED;
    }
    release_host(s);
    session_end(s, "upstream connect failed");
}

static void up_event(struct conn *c, enum conn_event ev)
{
    struct tcp_session *s = c->ctx;
    switch (ev) {
    case CONN_EV_CONNECTED:
        s->up_connected = true;
        stats_inc(cstats(s), CLUSTER_upstream_cx_active);
        stats_inc(s->host->stats, HOST_rq_success);
        c->sb = cstats(s);
        c->st_rx = CLUSTER_upstream_cx_rx_bytes_total;
        c->st_tx = CLUSTER_upstream_cx_tx_bytes_total;
        conn_read_enable(s->up);
        conn_read_enable(s->down);
        arm_idle(s);
        if (evbuffer_get_length(s->down->in))
            pump(s, s->down, s->up);
        if (s->down_eof)
            conn_shutdown_write(s->up);
        return;
    case CONN_EV_TIMEOUT:
        connect_failed(s, true);
        return;
    case CONN_EV_ERROR:
        if (!s->up_connected) {
            connect_failed(s, false);
            return;
        }
        stats_inc(cstats(s), CLUSTER_upstream_cx_destroy_remote);
        s->up_reset = true;
        s->response_flags |= RF_UPSTREAM_CONNECTION_TERMINATION;
        session_end(s, "upstream reset");
        return;
    case CONN_EV_DRAINED:
        maybe_finish(s);
        return;
    case CONN_EV_EOF:
        s->up_eof = true;
        stats_inc(cstats(s), CLUSTER_upstream_cx_destroy_remote);
        conn_shutdown_write(s->down);
        maybe_finish(s);
        return;
    }
}

static const struct conn_cbs up_cbs = {
    .on_read = up_read,
    .on_write_low = up_write_low,
    .on_event = up_event,
};

static void connect_next(struct tcp_session *s)
{
    const struct host *prev = s->host;
    struct host *h = lb_pick(s->w, s->wc, prev);
    if (!h) {
        stats_inc(cstats(s), CLUSTER_upstream_cx_none_healthy);
        s->response_flags |= RF_NO_HEALTHY_UPSTREAM;
        session_end(s, "no healthy upstream");
        return;
    }
    host_ref(h);
    release_host(s);
    s->host = h;
    s->attempts++;
    stats_inc(cstats(s), CLUSTER_upstream_cx_total);
    stats_inc(h->stats, HOST_cx_total);
    stats_inc(h->stats, HOST_cx_active);
    stats_inc(h->stats, HOST_rq_total);
    stats_inc(h->stats, HOST_rq_active);
    const struct cfg_cluster *cc = s->wc->cl->cfg;
    int rc =
        conn_new_connect(s->w, (const struct sockaddr *)&h->addr, h->addr_len,
                         cc->per_connection_buffer_limit_bytes, cc->connect_timeout_ms, &s->up);
    if (rc < 0) {
        log_warn(LC_UPSTREAM, "[C%llu] cannot create upstream socket: %s",
                 (unsigned long long)s->down->id, rm_strerror(rc));
        stats_inc(cstats(s), CLUSTER_upstream_cx_connect_fail);
        s->response_flags |= RF_UPSTREAM_CONNECTION_FAILURE;
        session_end(s, "upstream socket");
        return;
    }
    conn_set_cbs(s->up, &up_cbs, s);
}

/* ---- entry -------------------------------------------------------------------------------- */

static const char *pick_cluster(struct worker *w, const struct cfg_tcp_proxy *cfg)
{
    if (cfg->cluster)
        return cfg->cluster;
    uint64_t r = worker_rand(w) % cfg->total_weight;
    for (size_t i = 0; i < cfg->n_weighted; i++) {
        if (r < cfg->weighted[i].weight)
            return cfg->weighted[i].name;
        r -= cfg->weighted[i].weight;
    }
    return cfg->weighted[cfg->n_weighted - 1].name;
}

static void tcp_on_accept(struct worker *w, struct conn *c, const struct cfg_listener *l,
                          const void *config, void *rtp)
{
    const struct cfg_tcp_proxy *cfg = config;
    struct tcp_rt *rt = rtp;
    (void)l;
    stats_inc(rt->stats, TCP_downstream_cx_total);
    struct tcp_session *s = calloc(1, sizeof(*s));
    if (!s) {
        conn_close(c, true);
        return;
    }
    s->w = w;
    s->cfg = cfg;
    s->rt = rt;
    s->snap = snap_ref(w->snap);
    s->down = c;
    clock_gettime(CLOCK_REALTIME, &s->start_wall);
    s->start_mono_ns = alog_mono_ns();
    evtimer_assign(&s->idle_timer, w->base, on_idle, s);
    evtimer_assign(&s->dur_timer, w->base, on_duration, s);
    c->sb = rt->stats;
    c->st_rx = TCP_downstream_cx_rx_bytes_total;
    c->st_tx = TCP_downstream_cx_tx_bytes_total;
    conn_set_cbs(c, &down_cbs, s);
    /* Read while connecting (up to the buffer limit) so a client that resets is noticed at
     * once; what it sends waits in down->in until the upstream is connected. */
    conn_read_enable(c);
    s->cluster_name = pick_cluster(w, cfg);
    s->wc = worker_find_cluster(w, s->cluster_name);
    if (!s->wc) {
        stats_inc(rt->stats, TCP_downstream_cx_no_route);
        s->response_flags |= RF_NO_CLUSTER_FOUND;
        /* no wc: session_end must not touch cluster stats */
        s->done = true;
        session_log(s);
        conn_close(c, false);
        snap_unref(s->snap);
        free(s);
        return;
    }
    if (cfg->max_downstream_connection_duration_ms) {
        uint64_t ms = cfg->max_downstream_connection_duration_ms;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        evtimer_add(&s->dur_timer, &tv);
    }
    connect_next(s);
}

/* ---- runtime state ------------------------------------------------------------------------ */

static void tcp_rt_free(void *p)
{
    struct tcp_rt *rt = p;
    if (!rt)
        return;
    arena_fini(&rt->arena); /* releases the loggers' sinks */
    free(rt->loggers);
    free(rt);
}

static int tcp_rt_new(const void *config, void **out)
{
    const struct cfg_tcp_proxy *cfg = config;
    struct tcp_rt *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return -RM_ENOMEM;
    arena_init(&rt->arena, 0);
    rt->stats = stats_block_get(STATS_TCP, cfg->stat_prefix);
    rt->loggers = calloc(cfg->n_access_logs ? cfg->n_access_logs : 1, sizeof(*rt->loggers));
    if (!rt->stats || !rt->loggers) {
        tcp_rt_free(rt);
        return -RM_ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_access_logs; i++) {
        char err[256];
        if (alog_logger_new(&cfg->access_logs[i], &rt->arena, &rt->loggers[i], err, sizeof(err)) <
            0) {
            log_error(LC_FILTER, "tcp_proxy '%s': access log: %s", cfg->stat_prefix, err);
            tcp_rt_free(rt);
            return -RM_ECONFIG;
        }
        rt->n_loggers++;
    }
    *out = rt;
    return 0;
}

const struct net_filter_def tcp_proxy_filter_def = {
    .name = TCP_PROXY_NAME,
    .type_url = TCP_PROXY_TYPE_URL,
    .terminal = true,
    .config_new = tcp_proxy_config_new,
    .config_check = tcp_proxy_config_check,
    .rt_new = tcp_rt_new,
    .rt_free = tcp_rt_free,
    .on_accept = tcp_on_accept,
};
