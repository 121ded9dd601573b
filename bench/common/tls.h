/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/tls.h — BoringSSL SSL_CTX builders for the bench tools. A context is built once
 * at startup and shared read-only by all threads (BoringSSL contexts are thread-safe). */
#ifndef BENCH_TLS_H
#define BENCH_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

/* Server context with |cert| (chain PEM) and |key|; ALPN prefers h2 when |h2| else http/1.1.
 * With |client_ca| set, client certificates are requested and verified against it.
 * Returns NULL and prints the reason to stderr on failure. */
SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, const char *client_ca, bool h2);
/* Client context offering |alpn| (e.g. "h2" or "http/1.1"; NULL = none). |cacert| NULL and
 * !insecure use the system default paths. |cert|/|key| are the optional mTLS identity. */
SSL_CTX *tls_client_ctx_new(const char *alpn, const char *cacert, bool insecure, const char *cert,
                            const char *key);

#endif
