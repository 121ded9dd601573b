/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/admin.h — the admin server: Envoy's admin endpoints (/ready, /stats,
 * /stats/prometheus, /clusters, /config_dump, /server_info, /listeners, /logging,
 * /healthcheck/fail|ok, /drain_listeners, /quitquitquit, /help) over HTTP/1.1 on the main
 * thread's loop. Endpoints that change state take POST only, as in Envoy. Each response
 * closes the connection. Main thread only. */
#ifndef RM_ADMIN_H
#define RM_ADMIN_H

struct server;
struct admin;

/* Binds admin.address (if configured) and starts serving. Returns 0 or -RM_EIO. */
int admin_start(struct server *srv, struct admin **out);
void admin_stop(struct admin *a);

#endif
