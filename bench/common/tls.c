/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/tls.c — see tls.h. */
#include "bench/common/tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static void print_ssl_err(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    fprintf(stderr, "tls: %s: %s\n", what, e ? buf : "unknown error");
    ERR_clear_error();
}

static int on_alpn_select(SSL *ssl, const uint8_t **out, uint8_t *outlen, const uint8_t *in,
                          unsigned inlen, void *arg)
{
    bool h2 = arg != NULL;
    const uint8_t *h1 = NULL;

    for (unsigned i = 0; i < inlen;) {
        unsigned l = in[i];
        if (i + 1 + l > inlen)
            break;
        if (h2 && l == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
        if (l == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0)
            h1 = in + i + 1;
        i += 1 + l;
    }
    if (h1) {
        *out = h1;
        *outlen = 8;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, const char *client_ca, bool h2)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        print_ssl_err("SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        print_ssl_err(cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        print_ssl_err(key);
        goto fail;
    }
    if (client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
            print_ssl_err(client_ca);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, h2 ? (void *)1 : NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_client_ctx_new(const char *alpn, const char *cacert, bool insecure, const char *cert,
                            const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        print_ssl_err("SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        int ok = cacert ? SSL_CTX_load_verify_locations(ctx, cacert, NULL)
                        : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            print_ssl_err(cacert ? cacert : "default verify paths");
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        print_ssl_err(cert);
        goto fail;
    }
    if (key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        print_ssl_err(key);
        goto fail;
    }
    if (alpn && *alpn) {
        uint8_t wire[64];
        size_t l = strlen(alpn);
        if (l + 1 > sizeof(wire))
            goto fail;
        wire[0] = (uint8_t)l;
        memcpy(wire + 1, alpn, l);
        if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)(l + 1)) != 0) /* 0 = success */
            goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
