/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/listener.h — listening sockets. The main thread binds every configured listener
 * once per worker with SO_REUSEPORT (so the kernel spreads connections and each worker
 * accepts on its own socket), resolving port 0 to one real port for all of them. Each
 * worker then accepts on its own fds and hands connections to the listener's filter
 * chain; a connection stays on that worker for life. */
#ifndef RM_LISTENER_H
#define RM_LISTENER_H

#include <event2/event_struct.h>

struct server;
struct worker;
struct listen_set;

struct listener {
    struct worker *w;
    struct listen_set *ls;
    int fd;
    struct event ev;
    struct event backoff;  /* re-arms ev after accept ran out of fds or memory */
    uint64_t last_warn_ms; /* rate limit for the out-of-resources warning */
};

/* Main thread, before workers start: binds every listener of srv->snap for every worker.
 * On failure logs "cannot bind <addr>: <reason>" and returns -RM_EIO. */
int listener_bind_all(struct server *srv);
/* Main thread: closes whatever fds are still open (at exit). */
void listener_close_all(struct server *srv);
/* Worker thread: starts accepting on this worker's fds. Returns 0 or -RM_ENOMEM. */
int listener_start(struct worker *w);
/* Worker thread: stops accepting and closes this worker's fds (drain). */
void listener_stop(struct worker *w);

#endif
