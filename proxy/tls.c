/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/tls.c — server SSL_CTX from a DownstreamTlsContext (see tls.h): certificate and key
 * from PEM already in memory, protocol versions, cipher suites, curves, signature
 * algorithms, ALPN (server preference), SNI requirement, session resumption, and client
 * certificate validation with Envoy's semantics (trusted_ca, SAN matchers, SPKI/hash pins,
 * allow_expired_certificate, ACCEPT_UNTRUSTED). Main thread builds; callbacks run on
 * workers and only read the immutable config. */
#include "proxy/tls.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config/model_tls.h"
#include "proxy/route.h"
#include "proxy/ssl_lazy.h"

/* Envoy's defaults for a server context (tls_params unset). */
#define DEFAULT_CIPHERS                                                                            \
    "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]:"                               \
    "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define DEFAULT_CURVES "X25519:P-256"

static void set_err(struct tls_build_err *err, const struct cfg_tls_pem *pem,
                    const struct vt_node *src, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void set_err(struct tls_build_err *err, const struct cfg_tls_pem *pem,
                    const struct vt_node *src, const char *path, const char *fmt, ...)
{
    err->src = pem ? pem->src : src;
    err->path = pem ? pem->path : path;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_last_error();
    if (e && n >= 0 && (size_t)n < sizeof(err->msg) - 8) {
        char why[256];
        ERR_error_string_n(e, why, sizeof(why));
        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", why);
    }
    ERR_clear_error();
}

static int tls_version(enum cfg_tls_version v)
{
    switch (v) {
    case TLSV_1_0:
        return TLS1_VERSION;
    case TLSV_1_1:
        return TLS1_1_VERSION;
    case TLSV_1_2:
        return TLS1_2_VERSION;
    case TLSV_1_3:
    case TLSV_AUTO:
        break;
    }
    return TLS1_3_VERSION;
}

/* ---- certificate and key -------------------------------------------------------------- */

static bool load_cert_chain(SSL_CTX *ctx, const struct cfg_tls_server *t, struct tls_build_err *err)
{
    const struct cfg_tls_pem *pem = &t->cert_chain;
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    if (!bio) {
        set_err(err, pem, NULL, NULL, "out of memory");
        return false;
    }
    bool ok = false;
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!leaf) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
            ERR_clear_error();
            set_err(err, pem, NULL, NULL,
                    "Failed to load certificate chain: no PEM certificate (-----BEGIN "
                    "CERTIFICATE-----) found");
        } else {
            set_err(err, pem, NULL, NULL,
                    "Failed to load certificate chain: the first PEM block is not a valid "
                    "certificate");
        }
        goto out;
    }
    if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
        set_err(err, pem, NULL, NULL, "Failed to load certificate chain");
        goto out;
    }
    for (;;) {
        X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!ca)
            break;
        int rc = SSL_CTX_add0_chain_cert(ctx, ca);
        if (rc != 1) {
            X509_free(ca);
            set_err(err, pem, NULL, NULL, "Failed to load certificate chain");
            goto out;
        }
    }
    /* The loop ends on "no start line" at the end of the data; anything else is a
     * corrupt certificate. */
    unsigned long e = ERR_peek_last_error();
    if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        set_err(err, pem, NULL, NULL, "Failed to load certificate chain");
        goto out;
    }
    ERR_clear_error();
    ok = true;
out:
    X509_free(leaf);
    BIO_free(bio);
    return ok;
}

static bool load_key(SSL_CTX *ctx, const struct cfg_tls_server *t, struct tls_build_err *err)
{
    const struct cfg_tls_pem *pem = &t->private_key;
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    if (!bio) {
        set_err(err, pem, NULL, NULL, "out of memory");
        return false;
    }
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!key) {
        set_err(err, pem, NULL, NULL, "Failed to load private key");
        return false;
    }
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    if (leaf && X509_check_private_key(leaf, key) != 1) {
        EVP_PKEY_free(key);
        ERR_clear_error();
        set_err(err, pem, NULL, NULL,
                "Failed to load private key: it does not match the certificate_chain's leaf "
                "certificate");
        return false;
    }
    bool ok = SSL_CTX_use_PrivateKey(ctx, key) == 1;
    EVP_PKEY_free(key);
    if (!ok) {
        set_err(err, pem, NULL, NULL, "Failed to load private key");
        return false;
    }
    return true;
}

static bool load_trusted_ca(SSL_CTX *ctx, const struct cfg_tls_pem *pem, struct tls_build_err *err)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    if (!bio) {
        set_err(err, pem, NULL, NULL, "out of memory");
        return false;
    }
    size_t n = 0;
    for (;;) {
        X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!ca)
            break;
        int rc = X509_STORE_add_cert(store, ca);
        X509_free(ca);
        if (rc != 1) {
            BIO_free(bio);
            set_err(err, pem, NULL, NULL, "Failed to load trusted CA certificates");
            return false;
        }
        n++;
    }
    BIO_free(bio);
    unsigned long e = ERR_peek_last_error();
    if (n == 0 ||
        (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))) {
        set_err(err, pem, NULL, NULL, "Failed to load trusted CA certificates");
        return false;
    }
    ERR_clear_error();
    return true;
}

/* ---- client certificate verification ------------------------------------------------------ */

/* Envoy's DefaultCertValidator::dnsNameMatch: a "*." SAN covers exactly one label. */
static bool dns_name_match(const char *want, size_t wn, const char *san, size_t sn)
{
    if (wn == sn && strncasecmp(want, san, wn) == 0)
        return true;
    if (sn > 2 && san[0] == '*' && san[1] == '.') {
        const char *dot = memchr(want, '.', wn);
        if (!dot || dot == want)
            return false;
        size_t rest = wn - (size_t)(dot - want);
        return rest == sn - 1 && strncasecmp(dot, san + 1, rest) == 0;
    }
    return false;
}

static bool san_matches(const struct cfg_san_matcher *m, enum cfg_san_type type, const char *v,
                        size_t n)
{
    if (m->type != SAN_ANY && m->type != type)
        return false;
    if (type == SAN_DNS && m->m.kind == STRM_EXACT && !m->m.ignore_case)
        return dns_name_match(m->m.value, m->m.len, v, n);
    return route_string_matches(&m->m, v, n);
}

static bool any_san_matches(const struct cfg_tls_validation *v, X509 *leaf)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    if (!names)
        return false;
    bool hit = false;
    for (size_t i = 0; i < sk_GENERAL_NAME_num(names) && !hit; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        enum cfg_san_type type;
        char ip[INET6_ADDRSTRLEN];
        const char *s = NULL;
        size_t n = 0;
        switch (g->type) {
        case GEN_DNS:
            type = SAN_DNS;
            s = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
            n = (size_t)ASN1_STRING_length(g->d.dNSName);
            break;
        case GEN_URI:
            type = SAN_URI;
            s = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
            n = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
            break;
        case GEN_EMAIL:
            type = SAN_EMAIL;
            s = (const char *)ASN1_STRING_get0_data(g->d.rfc822Name);
            n = (size_t)ASN1_STRING_length(g->d.rfc822Name);
            break;
        case GEN_IPADD: {
            type = SAN_IP;
            int l = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *b = ASN1_STRING_get0_data(g->d.iPAddress);
            if (!inet_ntop(l == 4 ? AF_INET : AF_INET6, b, ip, sizeof(ip)) || (l != 4 && l != 16))
                continue;
            s = ip;
            n = strlen(ip);
            break;
        }
        default:
            continue;
        }
        for (size_t k = 0; k < v->n_sans && !hit; k++)
            hit = san_matches(&v->sans[k], type, s, n);
    }
    GENERAL_NAMES_free(names);
    return hit;
}

static bool pin_matches(const struct cfg_tls_validation *v, X509 *leaf)
{
    uint8_t d[32];
    unsigned dl = sizeof(d);
    if (v->n_hashes && X509_digest(leaf, EVP_sha256(), d, &dl) == 1)
        for (size_t i = 0; i < v->n_hashes; i++)
            if (memcmp(v->hashes[i], d, 32) == 0)
                return true;
    if (v->n_spki) {
        /* Envoy pins the SHA-256 of the whole DER SubjectPublicKeyInfo (what `openssl pkey
         * -pubin -outform DER | sha256` gives), not X509_pubkey_digest()'s key bits. */
        uint8_t *der = NULL;
        int dlen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);
        if (dlen > 0) {
            SHA256(der, (size_t)dlen, d);
            OPENSSL_free(der);
            for (size_t i = 0; i < v->n_spki; i++)
                if (memcmp(v->spki[i], d, 32) == 0)
                    return true;
        }
    }
    return false;
}

static int ignore_expiry(int ok, X509_STORE_CTX *sctx)
{
    if (!ok) {
        int e = X509_STORE_CTX_get_error(sctx);
        if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
            return 1;
    }
    return ok;
}

/* SSL_CTX_set_cert_verify_callback: the whole verification of a presented client
 * certificate (chain, then pins, then SANs; Envoy's order and stats). */
static int verify_peer(X509_STORE_CTX *sctx, void *arg)
{
    const struct cfg_tls_server *t = arg;
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    X509 *leaf = X509_STORE_CTX_get0_cert(sctx);
    enum tls_verify_fail fail = TLS_VF_NONE;
    if (!t->has_validation) {
        /* require_client_certificate without a validation_context: nothing can vouch for
         * the certificate, so the handshake is refused. */
        fail = TLS_VF_ERROR;
        goto out;
    }
    const struct cfg_tls_validation *v = &t->v;
    if (v->allow_expired)
        X509_STORE_CTX_set_verify_cb(sctx, ignore_expiry);
    if (X509_verify_cert(sctx) != 1 && !v->accept_untrusted) {
        fail = TLS_VF_ERROR;
        goto out;
    }
    if ((v->n_hashes || v->n_spki) && !pin_matches(v, leaf)) {
        fail = TLS_VF_CERT_HASH;
        goto out;
    }
    if (v->n_sans && !any_san_matches(v, leaf))
        fail = TLS_VF_SAN;
out:
    if (fail != TLS_VF_NONE) {
        transport_tls_note_verify_fail(ssl, fail);
        X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

/* ---- handshake callbacks ------------------------------------------------------------------ */

static int select_alpn(SSL *ssl, const uint8_t **out, uint8_t *outlen, const uint8_t *in,
                       unsigned inlen, void *arg)
{
    const struct cfg_tls_server *t = arg;
    uint8_t *sel;
    uint8_t sel_len;
    (void)ssl;
    /* Server preference: the first of our protocols the client offers. No overlap → no
     * ALPN at all (the connection goes on), as Envoy does. */
    if (SSL_select_next_proto(&sel, &sel_len, t->alpn_wire, (unsigned)t->alpn_wire_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    *outlen = sel_len;
    return SSL_TLSEXT_ERR_OK;
}

static int check_sni(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    if (SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
        return SSL_TLSEXT_ERR_OK;
    *alert = SSL_AD_MISSING_EXTENSION;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* ---- the context ------------------------------------------------------------------------- */

void tls_ctx_free(SSL_CTX *ctx)
{
    if (ctx)
        SSL_CTX_free(ctx); /* only reached once libssl was loaded: ctx came from it */
}

SSL_CTX *tls_server_ctx_new(const struct cfg_tls_server *t, struct tls_build_err *err)
{
    memset(err, 0, sizeof(*err));
    if (ssl_lazy_load(err->msg, sizeof(err->msg)) < 0) {
        err->src = t->cert_chain.src;
        err->path = t->cert_chain.path;
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        set_err(err, NULL, t->cert_chain.src, t->cert_chain.path, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!SSL_CTX_set_min_proto_version(ctx, (uint16_t)tls_version(t->min_version)) ||
        !SSL_CTX_set_max_proto_version(ctx, (uint16_t)tls_version(t->max_version))) {
        set_err(err, NULL, t->params_src, t->params_path, "unsupported TLS protocol version");
        goto fail;
    }
    if (!SSL_CTX_set_strict_cipher_list(ctx,
                                        t->cipher_suites ? t->cipher_suites : DEFAULT_CIPHERS)) {
        set_err(err, NULL, t->params_src, t->params_path, "Failed to initialize cipher suites %s",
                t->cipher_suites);
        goto fail;
    }
    if (!SSL_CTX_set1_curves_list(ctx, t->ecdh_curves ? t->ecdh_curves : DEFAULT_CURVES)) {
        set_err(err, NULL, t->params_src, t->params_path, "Failed to initialize ECDH curves %s",
                t->ecdh_curves);
        goto fail;
    }
    if (t->sigalgs && !SSL_CTX_set1_sigalgs_list(ctx, t->sigalgs)) {
        set_err(err, NULL, t->params_src, t->params_path,
                "Failed to initialize TLS signature algorithms %s", t->sigalgs);
        goto fail;
    }
    if (!load_cert_chain(ctx, t, err) || !load_key(ctx, t, err))
        goto fail;
    if (t->has_validation && t->v.trusted_ca.data && !load_trusted_ca(ctx, &t->v.trusted_ca, err))
        goto fail;
    if (t->has_validation && t->v.max_verify_depth)
        SSL_CTX_set_verify_depth(ctx, (int)t->v.max_verify_depth);
    if (t->has_validation || t->require_client_cert) {
        int mode = SSL_VERIFY_PEER;
        if (t->require_client_cert)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
        SSL_CTX_set_cert_verify_callback(ctx, verify_peer, (void *)t);
    }
    if (t->alpn_wire_len)
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)t);
    if (t->require_sni)
        SSL_CTX_set_tlsext_servername_callback(ctx, check_sni);
    if (!t->prefer_client_ciphers)
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (t->no_tickets)
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, t->no_session_cache ? SSL_SESS_CACHE_OFF
                                                            : SSL_SESS_CACHE_SERVER);
    if (t->session_timeout_s)
        SSL_CTX_set_timeout(ctx, t->session_timeout_s);
    /* Sessions resume only into a context with the same certificate and trust: the id
     * context is a digest of both (Envoy does the same). */
    uint8_t sid[SHA256_DIGEST_LENGTH];
    SHA256_CTX sh;
    SHA256_Init(&sh);
    SHA256_Update(&sh, t->cert_chain.data, t->cert_chain.len);
    if (t->has_validation && t->v.trusted_ca.data)
        SHA256_Update(&sh, t->v.trusted_ca.data, t->v.trusted_ca.len);
    SHA256_Update(&sh, &t->require_client_cert, sizeof(t->require_client_cert));
    SHA256_Final(sid, &sh);
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid)); /* 32 = SSL_MAX_SID_CTX_LENGTH */
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
