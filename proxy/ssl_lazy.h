/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/ssl_lazy.h — BoringSSL's libssl, loaded on first use. The Debian build of libssl is
 * C++ and pulls in libstdc++, libm and libgcc_s: about 1.5 MiB of resident memory in every
 * process that links it, TLS configured or not. So Remora links only libcrypto (plain C) and
 * dlopen()s libssl when the first TLS context is built (proxy/ssl_lazy.c). The TLS files
 * include this header after <openssl/ssl.h>: every libssl function they call becomes a call
 * through a pointer resolved by ssl_lazy_load(). A libssl function used anywhere else must be
 * added to SSL_LAZY_SYMS (the link fails otherwise: -lssl is not linked). */
#ifndef RM_SSL_LAZY_H
#define RM_SSL_LAZY_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Loads libssl and resolves every symbol below, once (main thread, before any worker uses
 * TLS). Returns 0, or -1 with a message in |err|. */
int ssl_lazy_load(char *err, size_t cap);

#define SSL_LAZY_SYMS(X)                                                                           \
    X(SSL_CIPHER_standard_name)                                                                    \
    X(SSL_CTX_add0_chain_cert)                                                                     \
    X(SSL_CTX_free)                                                                                \
    X(SSL_CTX_get0_certificate)                                                                    \
    X(SSL_CTX_get_cert_store)                                                                      \
    X(SSL_CTX_new)                                                                                 \
    X(SSL_CTX_set1_curves_list)                                                                    \
    X(SSL_CTX_set1_sigalgs_list)                                                                   \
    X(SSL_CTX_set_alpn_select_cb)                                                                  \
    X(SSL_CTX_set_cert_verify_callback)                                                            \
    X(SSL_CTX_set_max_proto_version)                                                               \
    X(SSL_CTX_set_min_proto_version)                                                               \
    X(SSL_CTX_set_mode)                                                                            \
    X(SSL_CTX_set_options)                                                                         \
    X(SSL_CTX_set_session_cache_mode)                                                              \
    X(SSL_CTX_set_session_id_context)                                                              \
    X(SSL_CTX_set_strict_cipher_list)                                                              \
    X(SSL_CTX_set_timeout)                                                                         \
    X(SSL_CTX_set_tlsext_servername_callback)                                                      \
    X(SSL_CTX_set_verify)                                                                          \
    X(SSL_CTX_set_verify_depth)                                                                    \
    X(SSL_CTX_use_PrivateKey)                                                                      \
    X(SSL_CTX_use_certificate)                                                                     \
    X(SSL_do_handshake)                                                                            \
    X(SSL_free)                                                                                    \
    X(SSL_get0_alpn_selected)                                                                      \
    X(SSL_get0_peer_certificates)                                                                  \
    X(SSL_get_current_cipher)                                                                      \
    X(SSL_get_error)                                                                               \
    X(SSL_get_ex_data)                                                                             \
    X(SSL_get_ex_data_X509_STORE_CTX_idx)                                                          \
    X(SSL_get_peer_certificate)                                                                    \
    X(SSL_get_servername)                                                                          \
    X(SSL_get_version)                                                                             \
    X(SSL_has_pending)                                                                             \
    X(SSL_new)                                                                                     \
    X(SSL_read)                                                                                    \
    X(SSL_select_next_proto)                                                                       \
    X(SSL_session_reused)                                                                          \
    X(SSL_set_accept_state)                                                                        \
    X(SSL_set_bio)                                                                                 \
    X(SSL_set_ex_data)                                                                             \
    X(SSL_set_shed_handshake_config)                                                               \
    X(SSL_shutdown)                                                                                \
    X(SSL_write)                                                                                   \
    X(TLS_method)

#define SSL_LAZY_DECL(f) extern __typeof__(&f) rm_lazy_##f;
SSL_LAZY_SYMS(SSL_LAZY_DECL)
#undef SSL_LAZY_DECL

#ifndef SSL_LAZY_IMPL
#undef SSL_CIPHER_standard_name
#define SSL_CIPHER_standard_name rm_lazy_SSL_CIPHER_standard_name
#undef SSL_CTX_add0_chain_cert
#define SSL_CTX_add0_chain_cert rm_lazy_SSL_CTX_add0_chain_cert
#undef SSL_CTX_free
#define SSL_CTX_free rm_lazy_SSL_CTX_free
#undef SSL_CTX_get0_certificate
#define SSL_CTX_get0_certificate rm_lazy_SSL_CTX_get0_certificate
#undef SSL_CTX_get_cert_store
#define SSL_CTX_get_cert_store rm_lazy_SSL_CTX_get_cert_store
#undef SSL_CTX_new
#define SSL_CTX_new rm_lazy_SSL_CTX_new
#undef SSL_CTX_set1_curves_list
#define SSL_CTX_set1_curves_list rm_lazy_SSL_CTX_set1_curves_list
#undef SSL_CTX_set1_sigalgs_list
#define SSL_CTX_set1_sigalgs_list rm_lazy_SSL_CTX_set1_sigalgs_list
#undef SSL_CTX_set_alpn_select_cb
#define SSL_CTX_set_alpn_select_cb rm_lazy_SSL_CTX_set_alpn_select_cb
#undef SSL_CTX_set_cert_verify_callback
#define SSL_CTX_set_cert_verify_callback rm_lazy_SSL_CTX_set_cert_verify_callback
#undef SSL_CTX_set_max_proto_version
#define SSL_CTX_set_max_proto_version rm_lazy_SSL_CTX_set_max_proto_version
#undef SSL_CTX_set_min_proto_version
#define SSL_CTX_set_min_proto_version rm_lazy_SSL_CTX_set_min_proto_version
#undef SSL_CTX_set_mode
#define SSL_CTX_set_mode rm_lazy_SSL_CTX_set_mode
#undef SSL_CTX_set_options
#define SSL_CTX_set_options rm_lazy_SSL_CTX_set_options
#undef SSL_CTX_set_session_cache_mode
#define SSL_CTX_set_session_cache_mode rm_lazy_SSL_CTX_set_session_cache_mode
#undef SSL_CTX_set_session_id_context
#define SSL_CTX_set_session_id_context rm_lazy_SSL_CTX_set_session_id_context
#undef SSL_CTX_set_strict_cipher_list
#define SSL_CTX_set_strict_cipher_list rm_lazy_SSL_CTX_set_strict_cipher_list
#undef SSL_CTX_set_timeout
#define SSL_CTX_set_timeout rm_lazy_SSL_CTX_set_timeout
#undef SSL_CTX_set_tlsext_servername_callback
#define SSL_CTX_set_tlsext_servername_callback rm_lazy_SSL_CTX_set_tlsext_servername_callback
#undef SSL_CTX_set_verify
#define SSL_CTX_set_verify rm_lazy_SSL_CTX_set_verify
#undef SSL_CTX_set_verify_depth
#define SSL_CTX_set_verify_depth rm_lazy_SSL_CTX_set_verify_depth
#undef SSL_CTX_use_PrivateKey
#define SSL_CTX_use_PrivateKey rm_lazy_SSL_CTX_use_PrivateKey
#undef SSL_CTX_use_certificate
#define SSL_CTX_use_certificate rm_lazy_SSL_CTX_use_certificate
#undef SSL_do_handshake
#define SSL_do_handshake rm_lazy_SSL_do_handshake
#undef SSL_free
#define SSL_free rm_lazy_SSL_free
#undef SSL_get0_alpn_selected
#define SSL_get0_alpn_selected rm_lazy_SSL_get0_alpn_selected
#undef SSL_get0_peer_certificates
#define SSL_get0_peer_certificates rm_lazy_SSL_get0_peer_certificates
#undef SSL_get_current_cipher
#define SSL_get_current_cipher rm_lazy_SSL_get_current_cipher
#undef SSL_get_error
#define SSL_get_error rm_lazy_SSL_get_error
#undef SSL_get_ex_data
#define SSL_get_ex_data rm_lazy_SSL_get_ex_data
#undef SSL_get_ex_data_X509_STORE_CTX_idx
#define SSL_get_ex_data_X509_STORE_CTX_idx rm_lazy_SSL_get_ex_data_X509_STORE_CTX_idx
#undef SSL_get_peer_certificate
#define SSL_get_peer_certificate rm_lazy_SSL_get_peer_certificate
#undef SSL_get_servername
#define SSL_get_servername rm_lazy_SSL_get_servername
#undef SSL_get_version
#define SSL_get_version rm_lazy_SSL_get_version
#undef SSL_has_pending
#define SSL_has_pending rm_lazy_SSL_has_pending
#undef SSL_new
#define SSL_new rm_lazy_SSL_new
#undef SSL_read
#define SSL_read rm_lazy_SSL_read
#undef SSL_select_next_proto
#define SSL_select_next_proto rm_lazy_SSL_select_next_proto
#undef SSL_session_reused
#define SSL_session_reused rm_lazy_SSL_session_reused
#undef SSL_set_accept_state
#define SSL_set_accept_state rm_lazy_SSL_set_accept_state
#undef SSL_set_bio
#define SSL_set_bio rm_lazy_SSL_set_bio
#undef SSL_set_ex_data
#define SSL_set_ex_data rm_lazy_SSL_set_ex_data
#undef SSL_set_shed_handshake_config
#define SSL_set_shed_handshake_config rm_lazy_SSL_set_shed_handshake_config
#undef SSL_shutdown
#define SSL_shutdown rm_lazy_SSL_shutdown
#undef SSL_write
#define SSL_write rm_lazy_SSL_write
#undef TLS_method
#define TLS_method rm_lazy_TLS_method
#endif

#endif
