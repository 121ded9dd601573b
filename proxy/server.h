/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/server.h — the process: options, the main loop, the current snapshot, workers,
 * the cluster manager, listeners' sockets, the admin server, and the lifecycle
 * (PRE_INITIALIZING → INITIALIZING → LIVE → DRAINING → exit). Main thread only, except
 * where a field says otherwise. */
#ifndef RM_SERVER_H
#define RM_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/snapshot.h"
#include "proxy/conn.h"

struct event_base;
struct event;
struct worker;
struct cluster;
struct admin;
struct stats_block;
struct dns;

/* Envoy's server states, with its numeric values for the server.state gauge. */
enum server_state {
    SERVER_LIVE = 0,
    SERVER_DRAINING = 1,
    SERVER_PRE_INITIALIZING = 2,
    SERVER_INITIALIZING = 3,
};

enum server_mode { MODE_SERVE, MODE_VALIDATE, MODE_INIT_ONLY };

struct server_options {
    struct cfg_load_opts load;
    enum server_mode mode;
    unsigned concurrency;  /* resolved: >= 1 */
    unsigned drain_time_s; /* --drain-time-s, default 600 */
    const char *log_level; /* as given */
    const char *component_log_level;
    const char *log_path;
    char *command_line; /* argv joined, for /server_info */
    char **argv;
    int argc;
};

/* Listening sockets of one configured listener: one fd per worker (SO_REUSEPORT). */
struct listen_set {
    const struct cfg_listener *cfg;
    int *fds;                  /* n_workers fds; -1 once closed */
    struct stats_block *stats; /* listener.<addr>.* */
    struct hist *cx_length;    /* listener.<addr>.downstream_cx_length_ms */
    void *chain_rt;            /* terminal filter runtime of chains[0] */
    void *default_rt;          /* ... of default_chain */
    /* TLS chains: BoringSSL contexts (proxy/tls.h), shared by the workers; NULL = plain. */
    struct ssl_ctx_st *chain_tls, *default_tls;
    struct stats_block *ssl_stats; /* listener.<addr>.ssl.*, when a chain is TLS */
    char bound_str[80];            /* actual address (port 0 resolved) */
    union rm_addr local;           /* the bound address, when local_known */
    bool local_known;              /* not a wildcard: accepted sockets' local address */
};

struct server {
    struct server_options opt;
    struct event_base *base;
    struct snapshot *snap; /* the running config (reference held) */
    enum server_state state;
    struct worker *workers;
    unsigned n_workers;
    struct cluster *clusters; /* indexed like snap->bs->clusters */
    size_t n_clusters;
    struct listen_set *lsets; /* indexed like snap->bs->listeners */
    size_t n_lsets;
    struct admin *admin;
    struct dns *dns;
    struct stats_block *server_stats, *cm_stats, *lm_stats;
    struct event *sig_term, *sig_int, *sig_usr1, *sig_hup, *drain_timer, *tick;
    time_t start_time;
    struct timespec start_mono;
    bool healthcheck_failed; /* POST /healthcheck/fail */
    bool workers_started;
    unsigned n_running;         /* worker threads started (to stop and join) */
    pthread_mutex_t start_lock; /* guards n_started (workers → main at boot) */
    pthread_cond_t start_cond;
    unsigned n_started;
    bool exiting;
    int exit_code;
};

/* Runs the server until it exits; returns the process exit code. */
int server_run(struct server_options *opt, struct snapshot *snap);

/* Starts a graceful drain: /ready turns 503 DRAINING, listeners stop accepting, open
 * connections get up to --drain-time-s (|drain_s| overrides when > 0), then the process
 * exits 0 unless |skip_exit|. Idempotent. */
void server_drain(struct server *srv, unsigned drain_s, bool skip_exit);
/* Called by each worker thread once it accepts (any thread). */
void server_worker_started(struct server *srv);

/* Exits at once (POST /quitquitquit). */
void server_quit(struct server *srv);

const char *server_state_name(enum server_state s);
/* Seconds since start. */
uint64_t server_uptime(const struct server *srv);

#define REMORA_VERSION "0.1.0"

#endif
