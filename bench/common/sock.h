/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/sock.h — non-blocking byte I/O over a TCP fd, plain or BoringSSL. Owned by one
 * connection on one thread. I/O calls use the tri-state: >0 progress, 0 would block,
 * <0 a negative RM_E* code (-RM_ECLOSED for an orderly EOF, -RM_EIO with sock.err = errno,
 * -RM_EPROTO for a TLS failure). */
#ifndef BENCH_SOCK_H
#define BENCH_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "proxy/err.h"

struct evbuffer;
struct sbio;

struct sock {
    int fd;                /* -1 when closed */
    SSL *ssl;              /* NULL = plain TCP */
    int err;               /* errno of the last -RM_EIO, 0 = none */
    bool want_write;       /* TLS read/handshake is blocked until the fd is writable */
    unsigned long ssl_err; /* first queued BoringSSL error of the last -RM_EPROTO, 0 = none */
    struct sbio *bio;      /* client TLS: the buffering BIO (owned by ssl), else NULL */
};

void sock_init(struct sock *s, int fd);
/* Wraps the fd in a new SSL from |ctx| (server or client side by |server|). A client's |sni|
 * names the server (tls_client_set_peer: SNI and certificate name check; may be NULL) and must
 * outlive the SSL; |ctx| must then come from tls_client_ctx_new(). Returns 0 or -RM_ENOMEM. */
int sock_tls_new(struct sock *s, SSL_CTX *ctx, bool server, const char *sni);
/* Drives the TLS handshake: 1 done, 0 in progress, <0 failure. On a client, the flight that
 * completes the handshake is held back and leaves with the first sock_flush() (which the caller
 * must make, with or without data), coalesced with what that writes. */
int sock_handshake(struct sock *s);
/* True when bytes already read from the fd wait inside the TLS layers: epoll will not report
 * them, so after a handshake completes the caller reads at once when this is true. */
bool sock_pending(const struct sock *s);
/* True when the socket must be polled for writability: TLS is blocked on a write, or bytes
 * wait in the client's BIO. */
bool sock_want_write(const struct sock *s);
/* Bytes held or not yet written by the client's BIO (0 without one). */
size_t sock_unsent(const struct sock *s);
/* The ALPN protocol agreed, or "" without TLS or ALPN. Writes a NUL-terminated copy. */
void sock_alpn(const struct sock *s, char *buf, size_t n);
ssize_t sock_read(struct sock *s, void *buf, size_t n);
/* Writes as much of |out| as the socket accepts and drains what was written, then anything a
 * completed handshake held back. Returns bytes of |out| written (>0), 0 when nothing of it
 * could be written (or |out| is empty), or <0. want_write says whether bytes are waiting. */
ssize_t sock_flush(struct sock *s, struct evbuffer *out);
/* Describes the last TLS failure (library error and certificate verification result). */
void sock_tls_error(const struct sock *s, char *buf, size_t n);
/* Closes the fd and frees the SSL; with |reset| sends RST (SO_LINGER 0). Idempotent. */
void sock_close(struct sock *s, bool reset);

#endif
