/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/pool.c — see pool.h. */
#include "proxy/pool.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "config/model.h"
#include "proxy/cluster.h"
#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/access_log.h"
#include "proxy/hcm.h"
#include "proxy/log.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

static void destroy(struct pconn *pc, bool reset)
{
    if (pc->idle) {
        list_del(&pc->node);
        pc->idle = false;
    }
    timer_cancel(&pc->idle_timer);
    if (pc->connected) {
        stats_dec(pc->cl->stats, CLUSTER_upstream_cx_active);
        stats_inc(pc->cl->stats, CLUSTER_upstream_cx_destroy);
        stats_dec(pc->host->stats, HOST_cx_active);
    }
    __atomic_sub_fetch(&pc->cl->cb_cx, 1, __ATOMIC_RELAXED);
    conn_close(pc->c, reset);
    host_unref(pc->host);
    struct worker *w = pc->w;
    struct cluster *cl = pc->cl;
    free(pc);
    router_conn_available(w, cl); /* a max_connections slot is free */
}

/* Idle: any byte or close from the origin ends the connection (an HTTP/1.1 origin has
 * nothing to say between requests). */
static void idle_read(struct conn *c)
{
    struct pconn *pc = c->ctx;
    stats_inc(pc->cl->stats, CLUSTER_upstream_cx_destroy_remote);
    destroy(pc, false);
}

static void idle_event(struct conn *c, enum conn_event ev)
{
    struct pconn *pc = c->ctx;
    if (ev == CONN_EV_DRAINED)
        return;
    stats_inc(pc->cl->stats, CLUSTER_upstream_cx_destroy_remote);
    destroy(pc, false);
}

static void idle_drain(struct conn *c)
{
    struct pconn *pc = c->ctx;
    stats_inc(pc->cl->stats, CLUSTER_upstream_cx_destroy_local);
    destroy(pc, false);
}

static const struct conn_cbs idle_cbs = {
    .on_read = idle_read,
    .on_event = idle_event,
    .on_drain = idle_drain,
};

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct pconn *pc = arg;
    (void)fd;
    (void)what;
    /* Armed once, checked when it fires (no timer operation per request): busy, or used
     * since, means wait on. */
    pc->timer_on = false;
    if (!pc->idle)
        return;
    uint64_t ms = pc->cl->cfg->upstream_http.idle_timeout_ms;
    int64_t idle_ms = (alog_mono_ns() - pc->idle_since_ns) / 1000000;
    if (idle_ms < (int64_t)ms) {
        struct timeval tv = {(time_t)((ms - (uint64_t)idle_ms) / 1000),
                             (suseconds_t)((ms - (uint64_t)idle_ms) % 1000) * 1000};
        evtimer_add(&pc->idle_timer, &tv);
        pc->timer_on = true;
        return;
    }
    stats_inc(pc->cl->stats, CLUSTER_upstream_cx_idle_timeout);
    stats_inc(pc->cl->stats, CLUSTER_upstream_cx_destroy_local);
    destroy(pc, false);
}

/* True when the origin has not closed (or written to) the idle connection. */
static bool still_open(const struct pconn *pc)
{
    char b;
    ssize_t n = recv(pc->c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

int pool_get(struct worker *w, struct cluster *cl, struct host *h, bool fresh, struct pconn **out,
             bool *reused)
{
    struct list_head *idle = &h->idle[w->id];
    while (!fresh && !list_empty(idle)) {
        /* Most recently used first: its origin-side keep-alive timer is the freshest. */
        struct pconn *pc = list_entry(idle->prev, struct pconn, node);
        list_del(&pc->node);
        pc->idle = false;
        /* An origin closes an idle connection after its keep-alive timeout (seconds);
         * one idle for under 50 ms is not worth a syscall to check. The rare race left is
         * caught by the router's one-time re-send on a fresh connection. */
        bool check = alog_mono_ns() - pc->idle_since_ns > 50 * 1000000LL;
        if (check && !still_open(pc)) {
            stats_inc(cl->stats, CLUSTER_upstream_cx_destroy_remote);
            destroy(pc, false);
            continue;
        }
        *out = pc;
        *reused = true;
        return 0;
    }
    const struct cfg_cluster *cc = cl->cfg;
    if ((uint32_t)__atomic_load_n(&cl->cb_cx, __ATOMIC_RELAXED) >= cc->cb.max_connections) {
        stats_inc(cl->stats, CLUSTER_upstream_cx_overflow);
        return -RM_ELIMIT;
    }
    struct pconn *pc = calloc(1, sizeof(*pc));
    if (!pc)
        return -RM_ENOMEM;
    int rc =
        conn_new_connect(w, (const struct sockaddr *)&h->addr, h->addr_len,
                         cc->per_connection_buffer_limit_bytes, cc->connect_timeout_ms, &pc->c);
    if (rc < 0) {
        free(pc);
        return rc;
    }
    __atomic_add_fetch(&cl->cb_cx, 1, __ATOMIC_RELAXED);
    pc->host = host_ref(h);
    pc->cl = cl;
    pc->w = w;
    list_init(&pc->node);
    evtimer_assign(&pc->idle_timer, w->base, on_idle_timeout, pc);
    pc->c->sb = cl->stats;
    pc->c->st_rx = CLUSTER_upstream_cx_rx_bytes_total;
    pc->c->st_tx = CLUSTER_upstream_cx_tx_bytes_total;
    stats_inc(cl->stats, CLUSTER_upstream_cx_total);
    stats_inc(cl->stats, CLUSTER_upstream_cx_http1_total);
    stats_inc(h->stats, HOST_cx_total);
    *out = pc;
    *reused = false;
    return 0;
}

void pool_release(struct pconn *pc, bool reusable)
{
    const struct cfg_cluster *cc = pc->cl->cfg;
    uint32_t max = cc->upstream_http.max_requests_per_connection;
    if (reusable && max && pc->requests >= max) {
        stats_inc(pc->cl->stats, CLUSTER_upstream_cx_max_requests);
        reusable = false;
    }
    if (!reusable || !pc->connected || evbuffer_get_length(pc->c->in) ||
        (pc->c->flags & (CONN_F_READ_EOF | CONN_F_WRITE_SHUT))) {
        stats_inc(pc->cl->stats, CLUSTER_upstream_cx_destroy_local);
        destroy(pc, false);
        return;
    }
    conn_set_cbs(pc->c, &idle_cbs, pc);
    conn_read_enable(pc->c);
    pc->idle = true;
    pc->idle_since_ns = alog_mono_ns();
    list_add_tail(&pc->host->idle[pc->w->id], &pc->node);
    uint64_t ms = cc->upstream_http.idle_timeout_ms;
    if (ms && !pc->timer_on) {
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        evtimer_add(&pc->idle_timer, &tv);
        pc->timer_on = true;
    }
}

void pool_close(struct pconn *pc, bool reset)
{
    destroy(pc, reset);
}
