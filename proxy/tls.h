/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/tls.h — BoringSSL contexts built from the TLS config model (config/model_tls.h) and
 * the TLS transport (proxy/transport_tls.c) that runs over them. A context is built once
 * per filter chain on the main thread and shared by every worker (SSL_CTX is thread-safe
 * once configured); each connection gets its own SSL. */
#ifndef RM_TLS_H
#define RM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct cfg_tls_server;
struct conn;
struct stats_block;
struct vt_node;

/* Why building a context failed: the config node and field path to blame, and the message
 * (BoringSSL's reason appended). */
struct tls_build_err {
    const struct vt_node *src;
    const char *path;
    char msg[512];
};

/* Builds a server SSL_CTX for |t| (loading libssl on first use, proxy/ssl_lazy.h). NULL with
 * |err| filled on failure. */
SSL_CTX *tls_server_ctx_new(const struct cfg_tls_server *t, struct tls_build_err *err);
/* Frees a context from tls_server_ctx_new(); NULL is fine. */
void tls_ctx_free(SSL_CTX *ctx);

/* Per-connection verification outcome, written by the certificate callback and read by the
 * transport to count Envoy's ssl.fail_verify_* stats. */
enum tls_verify_fail {
    TLS_VF_NONE = 0,
    TLS_VF_ERROR,     /* chain did not verify (ssl.fail_verify_error) */
    TLS_VF_SAN,       /* no SAN matcher matched (ssl.fail_verify_san) */
    TLS_VF_CERT_HASH, /* neither SPKI nor certificate hash matched (ssl.fail_verify_cert_hash) */
};

/* Records why the certificate callback refused the peer (proxy/tls.c → the transport). */
void transport_tls_note_verify_fail(SSL *ssl, enum tls_verify_fail f);

/* Starts server-side TLS on an accepted plain conn: the handshake runs inside the conn's
 * reads and writes. |ssl_stats| is the listener's ssl.* block (may be NULL). Returns 0 or
 * -RM_ENOMEM (the conn stays plain; the caller closes it). */
int transport_tls_server_start(struct conn *c, SSL_CTX *ctx, struct stats_block *ssl_stats);

/* Connection facts for logs, headers and (later) RBAC. NULL / false on a plain conn or
 * before the handshake completed. */
bool tls_conn_is_tls(const struct conn *c);
const char *tls_conn_version(const struct conn *c); /* "TLSv1.3" */
const char *tls_conn_cipher(const struct conn *c);  /* IANA-style name */
const char *tls_conn_sni(const struct conn *c);     /* requested server name */
/* The negotiated ALPN protocol ("h2"): its length, with *|out| pointing at its bytes (not
 * NUL-terminated); 0 when none was negotiated (or on a plain conn). */
size_t tls_conn_alpn(const struct conn *c, const uint8_t **out);
bool tls_conn_peer_cert_presented(const struct conn *c);
/* The peer certificate's URI SANs (SPIFFE identities) joined with ',' as Envoy's
 * %DOWNSTREAM_PEER_URI_SAN% prints them, NUL-terminated in |out| (cut at |cap|). Returns the
 * length, 0 when there is none. */
size_t tls_conn_peer_uri_san(const struct conn *c, char *out, size_t cap);
/* The peer certificate's subject in RFC 2253 form ("CN=client,O=example"), as above. */
size_t tls_conn_peer_subject(const struct conn *c, char *out, size_t cap);

#endif
