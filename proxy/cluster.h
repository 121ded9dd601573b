/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/cluster.h — the cluster manager (main thread) and the immutable host sets it
 * publishes to workers. A cluster owns its stats block and its current host set; STATIC
 * clusters get theirs at load, STRICT_DNS / LOGICAL_DNS ones from c-ares answers (dns.c),
 * re-resolved every dns_refresh_rate (or the answer's TTL with respect_dns_ttl). A new host
 * set is posted to every worker (MSG_HOST_SET); workers swap their pointer and keep
 * connections already made. Hosts keep their identity (and stats) across updates when the
 * address is unchanged. */
#ifndef RM_CLUSTER_H
#define RM_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/list.h"

struct cfg_cluster;
struct stats_block;
struct server;
struct event;
struct dns_query;

struct host {
    int refs; /* atomic; host sets and live connections hold refs */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char addr_str[64];    /* "10.0.0.1:80" */
    const char *hostname; /* the DNS name it came from, or NULL (owned) */
    uint32_t weight;      /* load_balancing_weight (>= 1) */
    uint32_t priority;
    struct stats_block *stats; /* per-host stats (HOST_STATS), one row per thread */
    struct list_head *idle;    /* per worker (index = worker id): idle upstream HTTP conns
                                * (proxy/pool.c); a worker touches only its own list */
};

struct host_set {
    int refs; /* atomic */
    uint64_t version;
    size_t n;
    struct host **hosts; /* every host, lowest priority number first */
    size_t n_p0;         /* hosts[0..n_p0) share the best (lowest) priority */
    uint64_t total_weight_p0;
    bool weighted; /* weights differ within the best priority */
};

struct cluster {
    const struct cfg_cluster *cfg; /* points into the bootstrap snapshot (kept alive) */
    /* Circuit breaker counts, per cluster across all workers (atomic), as Envoy's. */
    int cb_cx;      /* open upstream connections */
    int cb_rq;      /* active requests */
    int cb_pending; /* requests waiting for a connection */
    int cb_retries; /* retries in flight */
    size_t index;   /* position in bs->clusters: the workers' index */
    struct server *srv;
    struct stats_block *stats;
    struct hist *rq_time; /* cluster.<name>.upstream_rq_time (ms) */
    struct host_set *hs;  /* current (reference held) */
    bool initialized;     /* first host set (or first DNS attempt) done */
    /* DNS clusters */
    struct event *dns_timer;
    size_t dns_pending;    /* queries in flight for this refresh */
    struct host **dns_new; /* hosts gathered during this refresh */
    size_t dns_n, dns_cap;
    uint32_t dns_min_ttl; /* smallest TTL seen in this refresh, seconds */
    bool dns_failed;
};

struct host *host_ref(struct host *h);
void host_unref(struct host *h);
struct host_set *host_set_ref(struct host_set *hs);
void host_set_unref(struct host_set *hs);

/* Creates the clusters of |srv|'s snapshot, builds STATIC host sets and starts DNS for the
 * others (Envoy's cluster manager init; cluster_manager_set_ready_cb() learns when every
 * cluster has its first host set). Returns 0 or -RM_E*. */
int cluster_manager_init(struct server *srv);
void cluster_manager_fini(struct server *srv);
/* Sets (or replaces) the callback that runs once every cluster is initialized; runs it at
 * once (synchronously) if they already are. */
void cluster_manager_set_ready_cb(struct server *srv, void (*on_ready)(struct server *srv));

/* Renders /clusters (text, Envoy's "cluster::host::stat::value" lines) or JSON. */
struct strbuf;
void cluster_render_admin(struct server *srv, struct strbuf *out, bool json);

/* Called by dns.c with each resolved address of |cl| (family-filtered), then done(). */
void cluster_dns_add(struct cluster *cl, const struct sockaddr *sa, socklen_t len, uint32_t ttl,
                     const char *hostname, uint32_t port, uint32_t weight, uint32_t priority);
void cluster_dns_done(struct cluster *cl, bool failed);

#endif
