/* SPDX-License-Identifier: Apache-2.0 */
/* config/model_tls.h — the typed model of a TLS transport socket
 * (envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext), built by
 * config/translate_tls.c with Envoy's defaults applied. PEM data is read at load time (files
 * are never opened per handshake) and lives in the snapshot's arena. proxy/tls_ctx.c turns it
 * into a BoringSSL SSL_CTX. */
#ifndef RM_CONFIG_MODEL_TLS_H
#define RM_CONFIG_MODEL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/model_http.h"

struct vt_node;

/* TlsParameters.TlsProtocol. TLS_AUTO is resolved by the translator (server: 1.2 .. 1.3). */
enum cfg_tls_version { TLSV_AUTO = 0, TLSV_1_0, TLSV_1_1, TLSV_1_2, TLSV_1_3 };

/* SubjectAltNameMatcher.SanType; SAN_ANY is the deprecated match_subject_alt_names (every
 * type is checked). */
enum cfg_san_type { SAN_ANY = 0, SAN_EMAIL, SAN_DNS, SAN_URI, SAN_IP };

struct cfg_san_matcher {
    enum cfg_san_type type;
    struct cfg_string_matcher m;
};

/* One PEM input, kept with where it came from so a bad certificate is reported at its
 * config line and field path. */
struct cfg_tls_pem {
    const char *data; /* NULL when unset */
    size_t len;
    const struct vt_node *src; /* the DataSource node */
    const char *path;          /* its field path */
};

/* CertificateValidationContext. */
struct cfg_tls_validation {
    struct cfg_tls_pem trusted_ca;
    struct cfg_san_matcher *sans; /* match_typed_subject_alt_names (+ the deprecated form) */
    size_t n_sans;
    uint8_t (*spki)[32]; /* verify_certificate_spki: SHA-256 of the SubjectPublicKeyInfo */
    size_t n_spki;
    uint8_t (*hashes)[32]; /* verify_certificate_hash: SHA-256 of the DER certificate */
    size_t n_hashes;
    bool allow_expired;        /* allow_expired_certificate */
    bool accept_untrusted;     /* trust_chain_verification: ACCEPT_UNTRUSTED */
    uint32_t max_verify_depth; /* 0 = BoringSSL's default (100) */
};

/* DownstreamTlsContext (server side). */
struct cfg_tls_server {
    struct cfg_tls_pem cert_chain; /* tls_certificates[0].certificate_chain */
    struct cfg_tls_pem private_key;
    const uint8_t *alpn_wire; /* alpn_protocols in wire format (length-prefixed), or NULL */
    size_t alpn_wire_len;
    enum cfg_tls_version min_version; /* default TLSv1_2 */
    enum cfg_tls_version max_version; /* default TLSv1_3 */
    const char *cipher_suites;        /* joined with ':'; NULL = Envoy's default list */
    const char *ecdh_curves;          /* joined with ':'; NULL = "X25519:P-256" */
    const char *sigalgs;              /* signature_algorithms joined with ':', or NULL */
    const char *params_path;          /* common_tls_context.tls_params (for errors) */
    const struct vt_node *params_src;
    bool has_validation; /* validation_context present */
    struct cfg_tls_validation v;
    bool require_client_cert;   /* require_client_certificate */
    bool require_sni;           /* require_sni */
    bool no_tickets;            /* disable_stateless_session_resumption */
    bool no_session_cache;      /* disable_stateful_session_resumption */
    bool prefer_client_ciphers; /* prefer_client_ciphers */
    uint32_t session_timeout_s; /* session_timeout; 0 = BoringSSL's default (7200 s) */
};

#endif
