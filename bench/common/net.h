/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/net.h — socket helpers shared by remora-origin and remora-load: address
 * parsing (blocking getaddrinfo, startup only), listening and non-blocking connect.
 * Functions return an fd or 0 on success, or -errno on failure. */
#ifndef BENCH_NET_H
#define BENCH_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Parses "host:port", "[v6]:port" or ":port" (any address) and resolves host. */
int net_addr_parse(const char *s, struct net_addr *out);
/* Resolves |host| (no brackets) and |port| into |out|. */
int net_addr_resolve(const char *host, int port, struct net_addr *out);
/* Writes "ip:port" (IPv6 in brackets) into |buf|. */
void net_addr_str(const struct sockaddr *sa, char *buf, size_t n);

/* Binds and listens (non-blocking, SO_REUSEADDR, optionally SO_REUSEPORT). */
int net_listen(const struct net_addr *a, bool reuseport, int backlog);
/* Starts a non-blocking connect with TCP_NODELAY set; completion is signalled by the fd
 * becoming writable (check with net_connect_result()). */
int net_connect(const struct net_addr *a);
/* 0 when the pending connect succeeded, else -errno. */
int net_connect_result(int fd);
/* Arms SO_LINGER {1, 0}: the next close() sends RST instead of FIN. */
void net_set_linger0(int fd);
void net_set_nodelay(int fd);
/* Bytes not yet acknowledged by the peer in the socket's send queue (SIOCOUTQ), or 0. */
int net_unsent(int fd);

#endif
