/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/worker.c — see worker.h. */
#include "proxy/worker.h"

#include <event2/event.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/snapshot.h"
#include "proxy/cluster.h"
#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/hcm.h"
#include "proxy/listener.h"
#include "proxy/log.h"
#include "proxy/runtime.h"
#include "proxy/server.h"
#include "proxy/stats.h"

__thread struct worker *current_worker;

/* Tells every connection owner that wants to know that the server drains. An owner closes
 * only its own connection from on_drain, so walking with a saved next pointer is safe. */
static void drain_conns(struct worker *w)
{
    struct list_head *pos, *tmp;
    list_for_each_safe(pos, tmp, &w->conns)
    {
        struct conn *c = list_entry(pos, struct conn, node);
        if (c->cbs && c->cbs->on_drain && !(c->flags & CONN_F_CLOSING))
            c->cbs->on_drain(c);
    }
}

static void on_mbox(evutil_socket_t fd, short what, void *arg);
static void on_reap(evutil_socket_t fd, short what, void *arg);

int worker_init(struct worker *w, struct server *srv, unsigned id)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->srv = srv;
    list_init(&w->reap);
    list_init(&w->conns);
    pthread_mutex_init(&w->mbox_lock, NULL);
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return -RM_ENOMEM;
    /* One thread per base; no locking inside libevent for the data path. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    w->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!w->base)
        return -RM_ENOMEM;
    /* Cross-thread wake-up through an eventfd: the base needs no locks (NOLOCK). */
    w->mbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->mbox_fd < 0)
        return -RM_EIO;
    w->mbox_ev = event_new(w->base, w->mbox_fd, EV_READ | EV_PERSIST, on_mbox, w);
    w->reap_ev = event_new(w->base, -1, 0, on_reap, w);
    if (!w->mbox_ev || !w->reap_ev)
        return -RM_ENOMEM;
    event_add(w->mbox_ev, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    w->rng =
        ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)id * 0x9E3779B97F4A7C15ull);
    if (!w->rng)
        w->rng = 88172645463325252ull;
    return 0;
}

uint64_t worker_rand(struct worker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- cluster views ------------------------------------------------------------------- */

static void set_host_set(struct worker_cluster *wc, struct host_set *hs)
{
    if (wc->hs)
        host_set_unref(wc->hs);
    wc->hs = hs;
    free(wc->swrr);
    wc->swrr = hs && hs->n ? calloc(hs->n, sizeof(*wc->swrr)) : NULL;
    wc->rr_next = 0;
}

static void free_clusters(struct worker *w)
{
    for (size_t i = 0; i < w->n_clusters; i++)
        set_host_set(&w->clusters[i], NULL);
    free(w->clusters);
    w->clusters = NULL;
    w->n_clusters = 0;
}

struct worker_cluster *worker_find_cluster(struct worker *w, const char *name)
{
    for (size_t i = 0; i < w->n_clusters; i++)
        if (strcmp(w->clusters[i].cl->cfg->name, name) == 0)
            return &w->clusters[i];
    return NULL;
}

static void on_msg_snapshot(struct worker *w, struct snapshot *next)
{
    struct snapshot *old = w->snap;
    w->snap = next;
    free_clusters(w);
    struct server *srv = w->srv;
    w->clusters = calloc(srv->n_clusters ? srv->n_clusters : 1, sizeof(*w->clusters));
    if (w->clusters) {
        w->n_clusters = srv->n_clusters;
        for (size_t i = 0; i < srv->n_clusters; i++) {
            w->clusters[i].cl = &srv->clusters[i];
            list_init(&w->clusters[i].pending);
        }
    }
    if (old)
        snap_unref(old); /* live sessions hold their own references */
}

/* ---- mailbox --------------------------------------------------------------------------- */

static int post(struct worker *w, struct mbox_msg *m)
{
    pthread_mutex_lock(&w->mbox_lock);
    if (w->mbox_tail)
        w->mbox_tail->next = m;
    else
        w->mbox_head = m;
    w->mbox_tail = m;
    pthread_mutex_unlock(&w->mbox_lock);
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(w->mbox_fd, &one, sizeof(one));
    } while (r < 0 && errno == EINTR);
    return 0;
}

int mbox_post(struct worker *w, enum mbox_type type, void *arg, size_t a2)
{
    struct mbox_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return -RM_ENOMEM;
    m->type = type;
    m->arg = arg;
    m->a2 = a2;
    return post(w, m);
}

int mbox_call(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg)
{
    struct mbox_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return -RM_ENOMEM;
    m->type = MSG_CALL;
    m->fn = fn;
    m->arg = arg;
    return post(w, m);
}

static void close_all_conns(struct worker *w)
{
    /* Owners may close other conns from their callback, so always restart at the head. */
    while (!list_empty(&w->conns)) {
        struct conn *c = list_entry(w->conns.next, struct conn, node);
        if (c->cbs && c->cbs->on_event) {
            /* Let the owner tear its session down (and log) as for a local close. */
            c->err = ECONNABORTED;
            c->cbs->on_event(c, CONN_EV_ERROR);
        }
        if (!(c->flags & CONN_F_CLOSING))
            conn_close(c, false);
    }
}

static void on_mbox(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)what;
    uint64_t cnt;
    if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
        log_warn(LC_MAIN, "worker %u: mailbox read: %s", w->id, strerror(errno));
    pthread_mutex_lock(&w->mbox_lock);
    struct mbox_msg *m = w->mbox_head;
    w->mbox_head = w->mbox_tail = NULL;
    pthread_mutex_unlock(&w->mbox_lock);
    while (m) {
        struct mbox_msg *next = m->next;
        switch (m->type) {
        case MSG_SNAPSHOT:
            on_msg_snapshot(w, m->arg);
            break;
        case MSG_HOST_SET:
            if (m->a2 < w->n_clusters)
                set_host_set(&w->clusters[m->a2], m->arg);
            else
                host_set_unref(m->arg);
            break;
        case MSG_DRAIN:
            w->draining = true;
            listener_stop(w);
            drain_conns(w);
            break;
        case MSG_STOP:
            w->stopping = true;
            listener_stop(w);
            close_all_conns(w);
            event_base_loopexit(w->base, NULL);
            break;
        case MSG_CALL:
            m->fn(w, m->arg);
            break;
        }
        free(m);
        m = next;
    }
}

/* ---- deferred free ------------------------------------------------------------------- */

void worker_defer_free(struct worker *w, struct conn *c)
{
    list_del(&c->node);
    list_add_tail(&w->reap, &c->node);
    event_active(w->reap_ev, EV_READ, 0);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    struct list_head *pos, *tmp;
    list_for_each_safe(pos, tmp, &w->reap)
    {
        conn_free(list_entry(pos, struct conn, node));
    }
}

/* ---- thread ---------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    current_worker = w;
    stats_slot = w->id + 1;
    /* The snapshot and host sets were posted before the thread started: apply them before
     * the first accept so no connection ever sees a worker without config. */
    on_mbox(w->mbox_fd, EV_READ, w);
    /* A drain that arrived before this thread ran means: never start accepting. */
    if (!w->draining && listener_start(w) < 0)
        log_error(LC_MAIN, "worker %u: cannot start listeners", w->id);
    server_worker_started(w->srv);
    log_debug(LC_MAIN, "worker %u started", w->id);
    event_base_dispatch(w->base);
    /* Free what the last loop iteration deferred. */
    on_reap(-1, 0, w);
    log_debug(LC_MAIN, "worker %u stopped", w->id);
    return NULL;
}

int worker_start(struct worker *w)
{
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return -RM_EIO;
    return 0;
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
}

void worker_fini(struct worker *w)
{
    struct mbox_msg *m = w->mbox_head;
    while (m) {
        struct mbox_msg *next = m->next;
        if (m->type == MSG_SNAPSHOT)
            snap_unref(m->arg);
        else if (m->type == MSG_CALL)
            m->fn(w, m->arg); /* e.g. a runtime swap: applied, then released below */
        else if (m->type == MSG_HOST_SET)
            host_set_unref(m->arg);
        free(m);
        m = next;
    }
    hcm_worker_fini(w);
    free_clusters(w);
    if (w->snap)
        snap_unref(w->snap);
    runtime_snap_unref(w->runtime);
    free(w->listeners);
    if (w->mbox_ev)
        event_free(w->mbox_ev);
    if (w->reap_ev)
        event_free(w->reap_ev);
    if (w->base)
        event_base_free(w->base);
    if (w->mbox_fd > 0)
        close(w->mbox_fd);
    pthread_mutex_destroy(&w->mbox_lock);
}
