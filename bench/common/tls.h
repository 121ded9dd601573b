/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/tls.h — BoringSSL contexts for the bench tools. The server context is built once
 * at startup and shared read-only by all threads. On the client side what is loaded once (trust
 * store, client identity) is a shared, read-only struct tls_client, and each thread builds its
 * own SSL_CTX from it: one CRYPTO_BUFFER pool and one verified-chain cache per thread, no locks
 * and no shared reference counts on the handshake path. */
#ifndef BENCH_TLS_H
#define BENCH_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* Server context with |cert| (chain PEM) and |key|; ALPN prefers h2 when |h2| else http/1.1.
 * With |client_ca| set, client certificates are requested and verified against it.
 * Returns NULL and prints the reason to stderr on failure. */
SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, const char *client_ca, bool h2);

struct tls_client_cfg {
    const char *alpn;       /* offered protocol ("h2", "http/1.1"); NULL = no ALPN */
    const char *cacert;     /* trust anchors (PEM); NULL = the system default paths */
    const char *cert, *key; /* client certificate chain and key (PEM), or both NULL */
    bool insecure;          /* do not verify the server at all */
    bool verify_cache;      /* remember chains that verified (see tls_client_ctx_new) */
};

/* Loads the trust store and client identity of |cfg| (copied; its strings must outlive the
 * result). Returns NULL and prints the reason to stderr on failure. Main thread, at startup. */
struct tls_client *tls_client_new(const struct tls_client_cfg *cfg);
void tls_client_free(struct tls_client *tc);

/* A client context for one thread, which only that thread may use. It runs in CRYPTO_BUFFER
 * mode (TLS_with_buffers_method, no X509 objects per handshake) with a custom verifier that
 * checks the peer's chain like BoringSSL's own verifier does (X509_verify_cert against the
 * trust store, purpose ssl_server, host name or IP address of the connection, see
 * tls_client_set_peer). With cfg.verify_cache, a chain that verified is remembered for its
 * server name: a later handshake presenting byte-identical certificates for the same name skips
 * the chain check, as browsers' verification caches do (bounded: TLS_VCACHE_MAX entries, each
 * kept at most TLS_VCACHE_TTL_S seconds and never past the earliest notAfter in its chain).
 * Failed chains are never remembered. The handshake itself is unchanged: every handshake is a
 * full one and the server's CertificateVerify signature is always checked. Returns NULL and
 * prints the reason on failure. Free with tls_client_ctx_free() once its SSLs are freed. */
SSL_CTX *tls_client_ctx_new(const struct tls_client *tc);
void tls_client_ctx_free(SSL_CTX *ctx);

#define TLS_VCACHE_MAX 64   /* verified chains remembered per context */
#define TLS_VCACHE_TTL_S 60 /* seconds a remembered chain is trusted without re-verifying */

struct tls_verify_stats {
    uint64_t full;   /* chains verified in full (cache off, miss or expired), and passed */
    uint64_t cached; /* chains accepted from the cache */
    uint64_t failed; /* chains that failed verification */
};

/* Adds |ctx|'s counters to |out|. Owning thread, or after it was joined. */
void tls_client_ctx_stats(SSL_CTX *ctx, struct tls_verify_stats *out);

/* Names the server of a new client |ssl|: SNI for a host name (never for an IP literal, RFC 6066
 * §3) and the name or address the certificate must match. |name| (may be NULL or "": no name
 * check, no SNI) must outlive |ssl|. Returns 0 or -RM_ENOMEM. */
int tls_client_set_peer(SSL *ssl, const char *name);

/* The X509_V_* result of the last certificate verification on |ssl| (X509_V_OK = none failed). */
long tls_verify_result(const SSL *ssl);

#endif
