/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/server.c — see server.h. Boot order: stats → workers (created, not started) →
 * cluster manager (STATIC host sets now, DNS in flight) → listeners bound → admin bound →
 * workers started with the snapshot → LIVE once every cluster is initialized. */
#include "proxy/server.h"

#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/snapshot.h"
#include "proxy/access_log.h"
#include "proxy/admin.h"
#include "proxy/cluster.h"
#include "proxy/dns.h"
#include "proxy/err.h"
#include "proxy/listener.h"
#include "proxy/log.h"
#include "proxy/runtime.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

static bool skip_exit_after_drain;
static struct timespec drain_deadline;

const char *server_state_name(enum server_state s)
{
    switch (s) {
    case SERVER_LIVE:
        return "LIVE";
    case SERVER_DRAINING:
        return "DRAINING";
    case SERVER_PRE_INITIALIZING:
        return "PRE_INITIALIZING";
    case SERVER_INITIALIZING:
        return "INITIALIZING";
    }
    return "UNKNOWN";
}

uint64_t server_uptime(const struct server *srv)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - srv->start_mono.tv_sec);
}

static void on_clusters_ready(struct server *srv)
{
    if (srv->state != SERVER_INITIALIZING)
        return;
    srv->state = SERVER_LIVE;
    stats_gauge_set(srv->server_stats, SERVER_state, SERVER_LIVE);
    stats_gauge_set(srv->server_stats, SERVER_live, 1);
    log_info(LC_MAIN, "all clusters initialized; server is LIVE");
}

static size_t open_connections(const struct server *srv)
{
    size_t n = 0;
    for (unsigned i = 0; i < srv->n_workers; i++)
        n += __atomic_load_n(&srv->workers[i].n_conns, __ATOMIC_RELAXED);
    return n;
}

static void stop_now(struct server *srv, int code)
{
    if (srv->exiting)
        return;
    srv->exiting = true;
    srv->exit_code = code;
    struct timeval zero = {0, 0};
    event_base_loopexit(srv->base, &zero);
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    (void)fd;
    (void)what;
    size_t open = open_connections(srv);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool expired = now.tv_sec > drain_deadline.tv_sec ||
                   (now.tv_sec == drain_deadline.tv_sec && now.tv_nsec >= drain_deadline.tv_nsec);
    if (open == 0 || expired) {
        if (skip_exit_after_drain) {
            log_info(LC_MAIN, "drain finished (%zu connection%s left); staying up (skip_exit)",
                     open, open == 1 ? "" : "s");
            event_del(srv->drain_timer);
            return;
        }
        log_info(LC_MAIN, "drain finished: %s; exiting",
                 open == 0 ? "no open connections" : "drain time elapsed");
        stop_now(srv, 0);
    }
}

void server_drain(struct server *srv, unsigned drain_s, bool skip_exit)
{
    if (srv->state == SERVER_DRAINING)
        return;
    unsigned secs = drain_s ? drain_s : srv->opt.drain_time_s;
    srv->state = SERVER_DRAINING;
    stats_gauge_set(srv->server_stats, SERVER_state, SERVER_DRAINING);
    stats_gauge_set(srv->server_stats, SERVER_live, 0);
    skip_exit_after_drain = skip_exit;
    clock_gettime(CLOCK_MONOTONIC, &drain_deadline);
    drain_deadline.tv_sec += secs;
    log_info(LC_MAIN, "draining: listeners stop accepting; %zu open connection%s get up to %us",
             open_connections(srv), open_connections(srv) == 1 ? "" : "s", secs);
    for (unsigned i = 0; i < srv->n_workers; i++)
        mbox_post(&srv->workers[i], MSG_DRAIN, NULL, 0);
    struct timeval tick = {0, 100 * 1000};
    event_add(srv->drain_timer, &tick);
}

void server_worker_started(struct server *srv)
{
    pthread_mutex_lock(&srv->start_lock);
    srv->n_started++;
    pthread_cond_signal(&srv->start_cond);
    pthread_mutex_unlock(&srv->start_lock);
}

void server_quit(struct server *srv)
{
    stop_now(srv, 0);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *srv = arg;
    (void)what;
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        if (srv->state == SERVER_DRAINING) {
            log_warn(LC_MAIN, "%s again during drain: exiting now", strsignal((int)sig));
            stop_now(srv, 0);
            return;
        }
        log_info(LC_MAIN, "caught %s: draining", strsignal((int)sig));
        server_drain(srv, 0, false);
        break;
    case SIGUSR1:
        log_info(LC_MAIN, "caught SIGUSR1: reopening logs");
        log_reopen();
        alog_reopen_all();
        break;
    case SIGHUP:
        log_info(LC_MAIN, "caught SIGHUP: ignored (configuration reload comes with xDS)");
        break;
    }
}

static int setup_signals(struct server *srv)
{
    signal(SIGPIPE, SIG_IGN);
    srv->sig_term = evsignal_new(srv->base, SIGTERM, on_signal, srv);
    srv->sig_int = evsignal_new(srv->base, SIGINT, on_signal, srv);
    srv->sig_usr1 = evsignal_new(srv->base, SIGUSR1, on_signal, srv);
    srv->sig_hup = evsignal_new(srv->base, SIGHUP, on_signal, srv);
    srv->drain_timer = event_new(srv->base, -1, EV_PERSIST, on_drain_tick, srv);
    if (!srv->sig_term || !srv->sig_int || !srv->sig_usr1 || !srv->sig_hup || !srv->drain_timer)
        return -RM_ENOMEM;
    event_add(srv->sig_term, NULL);
    event_add(srv->sig_int, NULL);
    event_add(srv->sig_usr1, NULL);
    event_add(srv->sig_hup, NULL);
    return 0;
}

static void free_event(struct event *ev)
{
    if (ev)
        event_free(ev);
}

int server_run(struct server_options *opt, struct snapshot *snap)
{
    struct server srv_s, *srv = &srv_s;
    memset(srv, 0, sizeof(*srv));
    srv->opt = *opt;
    srv->snap = snap;
    srv->state = SERVER_PRE_INITIALIZING;
    pthread_mutex_init(&srv->start_lock, NULL);
    pthread_cond_init(&srv->start_cond, NULL);
    srv->start_time = time(NULL);
    clock_gettime(CLOCK_MONOTONIC, &srv->start_mono);
    int rc = 0;

    stats_init(opt->concurrency);
    stats_slot = 0;
    srv->server_stats = stats_block_get(STATS_SERVER, "");
    srv->cm_stats = stats_block_get(STATS_CLUSTER_MANAGER, "");
    srv->lm_stats = stats_block_get(STATS_LISTENER_MANAGER, "");
    srv->base = event_base_new();
    if (!srv->server_stats || !srv->cm_stats || !srv->lm_stats || !srv->base) {
        rc = -RM_ENOMEM;
        goto out;
    }
    stats_gauge_set(srv->server_stats, SERVER_concurrency, opt->concurrency);
    stats_gauge_set(srv->server_stats, SERVER_state, SERVER_PRE_INITIALIZING);
    if ((rc = setup_signals(srv)) < 0)
        goto out;

    srv->n_workers = opt->concurrency;
    srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
    if (!srv->workers) {
        rc = -RM_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < srv->n_workers; i++) {
        if ((rc = worker_init(&srv->workers[i], srv, i)) < 0)
            goto out;
        /* The snapshot goes first so the host sets posted next find their clusters. */
        mbox_post(&srv->workers[i], MSG_SNAPSHOT, snap_ref(snap), 0);
    }
    if ((rc = runtime_init(srv)) < 0)
        goto out;
    if ((rc = dns_new(srv->base, &srv->dns)) < 0)
        goto out;
    srv->state = SERVER_INITIALIZING;
    if ((rc = cluster_manager_init(srv)) < 0)
        goto out;
    if ((rc = listener_bind_all(srv)) < 0)
        goto out;
    if ((rc = admin_start(srv, &srv->admin)) < 0)
        goto out;
    if (opt->mode == MODE_INIT_ONLY) {
        log_info(LC_MAIN, "--mode init_only: configuration loaded and listeners bound; exiting");
        goto out;
    }
    for (unsigned i = 0; i < srv->n_workers; i++) {
        if ((rc = worker_start(&srv->workers[i])) < 0)
            goto out;
        srv->n_running = i + 1;
    }
    srv->workers_started = true;
    /* /ready must not say LIVE before every worker accepts on its sockets. */
    pthread_mutex_lock(&srv->start_lock);
    while (srv->n_started < srv->n_workers)
        pthread_cond_wait(&srv->start_cond, &srv->start_lock);
    pthread_mutex_unlock(&srv->start_lock);
    log_info(LC_MAIN, "%u worker%s accepting", srv->n_workers, srv->n_workers == 1 ? "" : "s");
    /* LIVE once every cluster has its first host set (DNS answers included). */
    cluster_manager_set_ready_cb(srv, on_clusters_ready);

    event_base_dispatch(srv->base);
    rc = srv->exit_code;

out:
    /* Stop and join exactly the threads that run (all, or those before a failed start). */
    for (unsigned i = 0; i < srv->n_running; i++)
        mbox_post(&srv->workers[i], MSG_STOP, NULL, 0);
    for (unsigned i = 0; i < srv->n_running; i++)
        worker_join(&srv->workers[i]);
    admin_stop(srv->admin);
    for (unsigned i = 0; srv->workers && i < srv->n_workers; i++)
        worker_fini(&srv->workers[i]);
    free(srv->workers);
    listener_close_all(srv);
    cluster_manager_fini(srv);
    runtime_fini(srv);
    dns_free(srv->dns);
    free_event(srv->sig_term);
    free_event(srv->sig_int);
    free_event(srv->sig_usr1);
    free_event(srv->sig_hup);
    free_event(srv->drain_timer);
    if (srv->base)
        event_base_free(srv->base);
    alog_shutdown();
    stats_fini();
    snap_unref(snap);
    pthread_mutex_destroy(&srv->start_lock);
    pthread_cond_destroy(&srv->start_cond);
    if (rc < 0) {
        log_critical(LC_MAIN, "exiting: %s", rm_strerror(rc));
        return 1;
    }
    log_info(LC_MAIN, "exited cleanly");
    return rc;
}
