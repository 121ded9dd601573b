/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/pool.h — per-worker, per-host pools of upstream HTTP/1.1 connections. An idle
 * connection sits on its host's idle list for this worker (host->idle[worker id]) with the
 * pool watching it: data or a close from the origin while idle closes it at once, and the
 * cluster's upstream idle timeout closes it after a while. pool_get() hands out a live
 * idle connection (checked with a non-blocking peek, so a connection the origin already
 * closed is never reused: most of Envoy's "503 UC" keep-alive race) or starts a new one,
 * counted against the cluster's max_connections circuit breaker. Worker thread only. */
#ifndef RM_POOL_H
#define RM_POOL_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/list.h"

struct worker;
struct host;
struct cluster;
struct conn;

struct pconn {
    struct conn *c;
    struct host *host;  /* reference held */
    struct cluster *cl; /* for stats and circuit breakers */
    struct worker *w;
    struct list_head node;   /* host->idle[w->id] while idle */
    struct event idle_timer; /* upstream idle timeout while idle */
    uint32_t requests;       /* requests sent on this connection */
    int64_t idle_since_ns;   /* CLOCK_MONOTONIC when it went idle */
    bool idle;
    bool connected;
    bool timer_on; /* idle_timer pending */
};

/* With |fresh| no idle connection is used. Returns 0 with |*out| set: an idle connection (|*reused|
 * true, already connected) or a new one being connected (|*reused| false; CONN_EV_CONNECTED follows
 * on the callbacks the caller installs). Returns -RM_ELIMIT when the cluster's max_connections is
 * reached and no idle connection exists (the caller queues or fails the request), or -RM_EIO /
 * -RM_ENOMEM. */
int pool_get(struct worker *w, struct cluster *cl, struct host *h, bool fresh, struct pconn **out,
             bool *reused);
/* Gives |pc| back after a request: back to idle when |reusable| (and the cluster's
 * max_requests_per_connection allows), else closed. */
void pool_release(struct pconn *pc, bool reusable);
/* Closes |pc| (an error on an active connection). */
void pool_close(struct pconn *pc, bool reset);

#endif
