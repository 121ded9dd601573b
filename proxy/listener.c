/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/listener.c — see listener.h. */
#include "proxy/listener.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/model.h"
#include "config/snapshot.h"
#include "filters/filter.h"
#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/hist.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "proxy/stats.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

/* Connections accepted per readiness event before yielding to other events. */
#define ACCEPT_BATCH 64
/* Pause after accept() failed for lack of fds or memory. */
#define ACCEPT_BACKOFF_MS 200

static int bind_one(const struct cfg_listener *l, const struct sockaddr *sa, socklen_t len,
                    int *out)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l->enable_reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (sa->sa_family == AF_INET6) /* Envoy: ipv4_compat false → v6 only */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    /* Accepted sockets inherit TCP_NODELAY from the listening socket (Linux clones the
     * listener's TCP options into each child): one setsockopt per listener, not per
     * connection. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (bind(fd, sa, len) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *out = fd;
    return 0;
}

static bool addr_is_wildcard(const union rm_addr *a)
{
    if (a->sa.sa_family == AF_INET)
        return a->in.sin_addr.s_addr == htonl(INADDR_ANY);
    if (a->sa.sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
    return true;
}

static int chain_rt_new(const struct cfg_filter_chain *fc, void **out)
{
    *out = NULL;
    if (!fc || fc->n_filters == 0)
        return 0;
    const struct cfg_net_filter *nf = &fc->filters[fc->n_filters - 1];
    return nf->def->rt_new ? nf->def->rt_new(nf->config, out) : 0;
}

static void chain_rt_free(const struct cfg_filter_chain *fc, void *rt)
{
    if (!fc || fc->n_filters == 0 || !rt)
        return;
    const struct cfg_net_filter *nf = &fc->filters[fc->n_filters - 1];
    if (nf->def->rt_free)
        nf->def->rt_free(rt);
}

/* The chain's TLS context, built once and shared by the workers. The config was checked
 * by the same builder at load, so a failure here is unexpected (memory). */
static int chain_tls_new(const struct cfg_listener *l, const struct cfg_filter_chain *fc,
                         SSL_CTX **out)
{
    *out = NULL;
    if (!fc || !fc->tls)
        return 0;
    struct tls_build_err err;
    *out = tls_server_ctx_new(fc->tls, &err);
    if (!*out) {
        log_critical(LC_MAIN, "listener '%s': %s: %s", l->name, err.path ? err.path : "TLS",
                     err.msg);
        return -RM_ECONFIG;
    }
    return 0;
}

int listener_bind_all(struct server *srv)
{
    const struct cfg_bootstrap *bs = srv->snap->bs;
    srv->lsets = calloc(bs->n_listeners ? bs->n_listeners : 1, sizeof(*srv->lsets));
    if (!srv->lsets)
        return -RM_ENOMEM;
    srv->n_lsets = bs->n_listeners;
    for (size_t i = 0; i < bs->n_listeners; i++) {
        const struct cfg_listener *l = &bs->listeners[i];
        struct listen_set *ls = &srv->lsets[i];
        ls->cfg = l;
        ls->fds = malloc(srv->n_workers * sizeof(int));
        if (!ls->fds)
            return -RM_ENOMEM;
        for (unsigned k = 0; k < srv->n_workers; k++)
            ls->fds[k] = -1;
        ls->stats = stats_block_get(STATS_LISTENER, l->stat_prefix);
        ls->cx_length = hist_get(STATS_LISTENER, l->stat_prefix, "downstream_cx_length_ms");
        if (!ls->stats || !ls->cx_length)
            return -RM_ENOMEM;
        if (chain_rt_new(l->n_chains ? &l->chains[0] : NULL, &ls->chain_rt) < 0 ||
            chain_rt_new(l->default_chain, &ls->default_rt) < 0)
            return -RM_ENOMEM;
        if (chain_tls_new(l, l->n_chains ? &l->chains[0] : NULL, &ls->chain_tls) < 0 ||
            chain_tls_new(l, l->default_chain, &ls->default_tls) < 0)
            return -RM_ECONFIG;
        if (ls->chain_tls || ls->default_tls) {
            ls->ssl_stats = stats_block_get(STATS_LISTENER_SSL, l->stat_prefix);
            if (!ls->ssl_stats)
                return -RM_ENOMEM;
        }
        struct sockaddr_storage ss = l->addr.ss;
        socklen_t len = l->addr.len;
        /* Without SO_REUSEPORT the workers share one socket. */
        unsigned n_socks = l->enable_reuse_port ? srv->n_workers : 1;
        for (unsigned k = 0; k < n_socks; k++) {
            int rc = bind_one(l, (struct sockaddr *)&ss, len, &ls->fds[k]);
            if (rc < 0) {
                log_critical(LC_MAIN, "listener '%s': cannot bind %s: %s", l->name, l->addr.str,
                             strerror(-rc));
                return -RM_EIO;
            }
            if (k == 0) {
                /* Port 0: every worker's socket must use the port the kernel chose. */
                socklen_t sl = sizeof(ss);
                getsockname(ls->fds[0], (struct sockaddr *)&ss, &sl);
                len = sl;
                conn_addr_str(&ss, ls->bound_str, sizeof(ls->bound_str));
                /* A specific address is every accepted socket's local address: no
                 * getsockname() per connection. A wildcard one is asked per socket. */
                memset(&ls->local, 0, sizeof(ls->local));
                memcpy(&ls->local, &ss, sl < sizeof(ls->local) ? sl : sizeof(ls->local));
                ls->local_known = !addr_is_wildcard(&ls->local);
            }
        }
        for (unsigned k = n_socks; k < srv->n_workers; k++)
            ls->fds[k] = dup(ls->fds[0]);
        stats_inc(srv->lm_stats, LM_listener_added);
        stats_inc(srv->lm_stats, LM_listener_create_success);
        log_info(LC_MAIN, "listener '%s' bound to %s (%u socket%s)", l->name, ls->bound_str,
                 n_socks, n_socks == 1 ? "" : "s, SO_REUSEPORT");
    }
    stats_gauge_set(srv->lm_stats, LM_total_listeners_active, (int64_t)bs->n_listeners);
    return 0;
}

void listener_close_all(struct server *srv)
{
    for (size_t i = 0; i < srv->n_lsets; i++) {
        struct listen_set *ls = &srv->lsets[i];
        for (unsigned k = 0; ls->fds && k < srv->n_workers; k++)
            if (ls->fds[k] >= 0)
                close(ls->fds[k]);
        free(ls->fds);
        chain_rt_free(ls->cfg->n_chains ? &ls->cfg->chains[0] : NULL, ls->chain_rt);
        chain_rt_free(ls->cfg->default_chain, ls->default_rt);
        tls_ctx_free(ls->chain_tls);
        tls_ctx_free(ls->default_tls);
    }
    free(srv->lsets);
    srv->lsets = NULL;
    srv->n_lsets = 0;
}

static const struct cfg_filter_chain *pick_chain(const struct listen_set *ls, void **rt,
                                                 SSL_CTX **tls)
{
    /* Without filter_chain_match (refused at load) the only chain always matches. */
    if (ls->cfg->n_chains > 0) {
        *rt = ls->chain_rt;
        *tls = ls->chain_tls;
        return &ls->cfg->chains[0];
    }
    *rt = ls->default_rt;
    *tls = ls->default_tls;
    return ls->cfg->default_chain;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct listener *li = arg;
    struct worker *w = li->w;
    const struct cfg_listener *l = li->ls->cfg;
    (void)what;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        union rm_addr peer;
        socklen_t plen = sizeof(peer);
        memset(&peer, 0, sizeof(peer));
        int cfd = accept4(fd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                errno == ECONNABORTED || errno == EPROTO)
                return;
            /* EMFILE/ENFILE/ENOBUFS/ENOMEM: the listen socket stays readable, so a
             * level-triggered event would spin. Stop accepting for a moment (nginx does the
             * same) and warn at most once a second. */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
            if (ms - li->last_warn_ms >= 1000) {
                li->last_warn_ms = ms;
                log_warn(LC_CONNECTION, "listener '%s': accept: %s; pausing accepts for %d ms",
                         l->name, strerror(errno), ACCEPT_BACKOFF_MS);
            }
            event_del(&li->ev);
            struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
            evtimer_add(&li->backoff, &tv);
            return;
        }
        struct conn *c;
        if (conn_new_accepted(w, cfd, l->per_connection_buffer_limit_bytes, &peer,
                              li->ls->local_known ? &li->ls->local : NULL, &c) < 0) {
            log_error(LC_CONNECTION, "listener '%s': out of memory accepting", l->name);
            continue;
        }
        stats_inc(li->ls->stats, LISTENER_downstream_cx_total);
        stats_inc(li->ls->stats, LISTENER_downstream_cx_active);
        c->listener_stats = li->ls->stats;
        c->cx_length = li->ls->cx_length;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        c->start_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        __atomic_add_fetch(&w->n_conns, 1, __ATOMIC_RELAXED);
        void *rt;
        SSL_CTX *tls;
        const struct cfg_filter_chain *fc = pick_chain(li->ls, &rt, &tls);
        if (!fc || fc->n_filters == 0) { /* refused at load; kept as a guard */
            conn_close(c, false);
            continue;
        }
        if (tls && transport_tls_server_start(c, tls, li->ls->ssl_stats) < 0) {
            log_error(LC_CONNECTION, "listener '%s': out of memory starting TLS", l->name);
            conn_close(c, true);
            continue;
        }
        const struct cfg_net_filter *nf = &fc->filters[fc->n_filters - 1];
        if (log_levels[LC_CONNECTION] <= LOG_DEBUG) {
            char from[80];
            conn_addr_str(&c->peer, from, sizeof(from));
            log_debug(LC_CONNECTION, "[C%llu] new connection from %s on '%s'",
                      (unsigned long long)c->id, from, l->name);
        }
        nf->def->on_accept(w, c, l, nf->config, rt);
    }
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    struct listener *li = arg;
    (void)fd;
    (void)what;
    event_add(&li->ev, NULL);
}

int listener_start(struct worker *w)
{
    struct server *srv = w->srv;
    w->listeners = calloc(srv->n_lsets ? srv->n_lsets : 1, sizeof(*w->listeners));
    if (!w->listeners)
        return -RM_ENOMEM;
    w->n_listeners = srv->n_lsets;
    for (size_t i = 0; i < srv->n_lsets; i++) {
        struct listener *li = calloc(1, sizeof(*li));
        if (!li)
            return -RM_ENOMEM;
        li->w = w;
        li->ls = &srv->lsets[i];
        li->fd = li->ls->fds[w->id];
        event_assign(&li->ev, w->base, li->fd, EV_READ | EV_PERSIST, on_accept, li);
        evtimer_assign(&li->backoff, w->base, on_backoff, li);
        event_add(&li->ev, NULL);
        w->listeners[i] = li;
    }
    return 0;
}

void listener_stop(struct worker *w)
{
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct listener *li = w->listeners[i];
        if (!li)
            continue;
        event_del(&li->ev);
        evtimer_del(&li->backoff);
        /* The fd itself belongs to the listen_set; closing it here stops the kernel from
         * queueing new connections to this worker's socket. */
        if (li->ls->fds[w->id] >= 0) {
            close(li->ls->fds[w->id]);
            li->ls->fds[w->id] = -1;
        }
        free(li);
        w->listeners[i] = NULL;
    }
}
