/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/worker.h — a worker thread: one libevent loop, its listeners' sockets, every
 * connection accepted on them, its view of clusters (host sets + load-balancer state), and
 * a mailbox the main thread posts to (snapshot swaps, host-set updates, drain, stop).
 * Everything a worker owns is touched only on its own thread. */
#ifndef RM_WORKER_H
#define RM_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/list.h"

struct event_base;
struct event;
struct snapshot;
struct server;
struct cluster;
struct host_set;
struct listener;
struct conn;
struct worker;
struct runtime_snap;

/* Worker-side view of one cluster: the latest host set and load-balancer state. */
struct worker_cluster {
    struct cluster *cl;       /* main-thread object; only its immutable fields are read */
    struct host_set *hs;      /* current hosts (reference held) */
    uint64_t rr_next;         /* round robin cursor */
    int64_t *swrr;            /* smooth weighted RR current weights, hs->n entries */
    struct list_head pending; /* HTTP streams waiting for a connection (max_connections) */
};

enum mbox_type {
    MSG_SNAPSHOT, /* arg: struct snapshot * with a reference for the worker */
    MSG_HOST_SET, /* arg: struct host_set * with a reference; a2: cluster index */
    MSG_DRAIN,    /* stop accepting: close this worker's listener sockets */
    MSG_STOP,     /* close every connection and leave the loop */
    MSG_CALL,     /* run fn(w, arg) on the worker */
};

struct mbox_msg {
    struct mbox_msg *next;
    enum mbox_type type;
    void *arg;
    size_t a2;
    void (*fn)(struct worker *w, void *arg);
};

#define WORKER_STREAM_CACHE 256     /* at most, under load */
#define WORKER_STREAM_CACHE_KEEP 16 /* kept however long the worker idles */

struct hstream;

struct worker {
    unsigned id; /* 0-based; stats slot is id + 1 */
    struct server *srv;
    pthread_t thread;
    struct event_base *base;
    int mbox_fd;           /* eventfd written by mbox_post */
    struct event *mbox_ev; /* reads mbox_fd */
    pthread_mutex_t mbox_lock;
    struct mbox_msg *mbox_head, *mbox_tail;
    struct event *reap_ev;        /* frees deferred-closed conns after callbacks unwind */
    struct list_head reap;        /* conns waiting to be freed */
    struct list_head conns;       /* every live conn of this worker */
    size_t n_conns;               /* downstream connections open (for drain) */
    struct snapshot *snap;        /* current snapshot (reference held) */
    struct runtime_snap *runtime; /* runtime values (proxy/runtime.h), reference held */
    struct listener **listeners;  /* this worker's sockets, one per cfg listener */
    size_t n_listeners;
    struct worker_cluster *clusters; /* indexed like snap->bs->clusters */
    size_t n_clusters;
    bool draining;
    bool stopping; /* MSG_STOP: everything is being closed; start nothing new */
    uint64_t rng;  /* xorshift state for LB and weighted picks */
    /* Finished HTTP stream objects (proxy/hcm.c) kept for the next request of any of this
     * worker's connections: a request then mallocs nothing for its stream, and an idle
     * keep-alive connection holds none. Beyond WORKER_STREAM_CACHE_KEEP, objects unused for
     * a whole second are freed (stream_trim), so a burst of HTTP/2 streams does not pin its
     * peak memory. */
    struct hstream *stream_cache[WORKER_STREAM_CACHE];
    unsigned n_stream_cache;
    unsigned stream_cache_low; /* fewest cached since the last trim */
    struct event *stream_trim; /* 1 s timer while more than _KEEP are cached */
};

int worker_init(struct worker *w, struct server *srv, unsigned id);
int worker_start(struct worker *w);
void worker_join(struct worker *w);
void worker_fini(struct worker *w);

/* Posts a message; may be called from any thread. Returns 0 or -RM_ENOMEM. */
int mbox_post(struct worker *w, enum mbox_type type, void *arg, size_t a2);
int mbox_call(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg);

/* Finds the worker-side cluster by name; NULL when the snapshot has none. */
struct worker_cluster *worker_find_cluster(struct worker *w, const char *name);

/* Schedules |c| to be freed after the current callback chain unwinds. */
void worker_defer_free(struct worker *w, struct conn *c);

/* Cheap per-worker random number (xorshift64*). */
uint64_t worker_rand(struct worker *w);

/* The worker running on this thread, or NULL on the main thread. */
extern __thread struct worker *current_worker;

#endif
