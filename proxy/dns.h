/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/dns.h — asynchronous name resolution with c-ares, driven by the main thread's
 * libevent loop (c-ares' sockets and timeouts become events). /etc/hosts is honoured
 * (c-ares' "fb" lookup order). Main thread only. */
#ifndef RM_DNS_H
#define RM_DNS_H

#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct dns;

/* Receives each address of an answer (port 0), then a final call with |sa| NULL and
 * |status| 0 (ok, possibly no addresses) or an -RM_E* code. |ttl| is in seconds. */
typedef void (*dns_cb)(void *arg, int status, const struct sockaddr *sa, socklen_t len,
                       uint32_t ttl);

int dns_new(struct event_base *base, struct dns **out);
void dns_free(struct dns *d);
/* Resolves |name| for |family| (AF_INET, AF_INET6 or AF_UNSPEC). The callback MAY run
 * synchronously inside this call (c-ares answers numeric names and /etc/hosts entries at
 * once); callers must be ready for that. Returns 0 or -RM_ENOMEM. */
int dns_resolve(struct dns *d, const char *name, int family, dns_cb cb, void *arg);

#endif
