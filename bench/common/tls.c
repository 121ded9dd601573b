/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/tls.c — see tls.h. The client's verifier and its verified-chain cache run on
 * the thread that owns the SSL_CTX; struct tls_client is read-only once built. */
#include "bench/common/tls.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/x509.h>

#include "proxy/err.h"

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

/* ---- client ---------------------------------------------------------------------------------- */

struct tls_client {
    struct tls_client_cfg cfg;
    X509_STORE *store;     /* trust anchors; NULL when insecure */
    CRYPTO_BUFFER **chain; /* client certificate chain (leaf first), or NULL */
    size_t n_chain;
    EVP_PKEY *pkey;   /* client key, or NULL */
    uint8_t alpn[64]; /* ALPN wire format */
    size_t alpn_len;  /* 0 = no ALPN */
};

/* One remembered chain: verified for |name| at some time, trusted until |expires|. */
struct vc_entry {
    char *name;            /* NULL = free slot */
    CRYPTO_BUFFER **certs; /* the chain exactly as presented, leaf first (references) */
    size_t n;
    time_t expires; /* wall clock, seconds */
    uint64_t used;  /* LRU stamp */
};

/* Per-context (per-thread) state, in the SSL_CTX's ex_data. */
struct tls_cctx {
    const struct tls_client *tc;
    CRYPTO_BUFFER_POOL *pool; /* peer certificates: identical bytes share one buffer */
    struct vc_entry vc[TLS_VCACHE_MAX];
    uint64_t clock; /* LRU clock */
    struct tls_verify_stats st;
};

static int cctx_idx = -1; /* SSL_CTX ex_data: struct tls_cctx */
static int name_idx = -1; /* SSL ex_data: const char * peer name */
static int verr_idx = -1; /* SSL ex_data: X509_V_* result of our verifier, as intptr_t */

static bool is_ip_literal(const char *s)
{
    unsigned char ip[16];
    return inet_pton(AF_INET, s, ip) == 1 || inet_pton(AF_INET6, s, ip) == 1;
}

/* Reads every certificate of a PEM file into CRYPTO_BUFFERs. 0 or -1 (reason printed). */
static int load_chain(const char *path, CRYPTO_BUFFER ***out, size_t *n_out)
{
    BIO *bio = BIO_new_file(path, "r");
    CRYPTO_BUFFER **v = NULL;
    size_t n = 0;
    X509 *x;

    if (!bio) {
        print_ssl_err(path);
        return -1;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        uint8_t *der = NULL;
        int len = i2d_X509(x, &der);
        X509_free(x);
        CRYPTO_BUFFER **nv = len > 0 ? realloc(v, (n + 1) * sizeof(*v)) : NULL;
        if (nv) {
            v = nv;
            v[n] = CRYPTO_BUFFER_new(der, (size_t)len, NULL);
        }
        OPENSSL_free(der);
        if (!nv || !v[n])
            goto fail;
        n++;
    }
    /* The end of the file reads as "no start line"; anything else is a broken certificate. */
    uint32_t e = ERR_peek_last_error();
    if (n == 0 || ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
        goto fail;
    ERR_clear_error();
    BIO_free(bio);
    *out = v;
    *n_out = n;
    return 0;
fail:
    if (n == 0 && ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        fprintf(stderr, "tls: %s: no certificate\n", path);
    } else {
        print_ssl_err(path);
    }
    for (size_t i = 0; i < n; i++)
        CRYPTO_BUFFER_free(v[i]);
    free(v);
    BIO_free(bio);
    return -1;
}

static void indices_init(void)
{
    if (cctx_idx < 0) {
        cctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        name_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        verr_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
}

struct tls_client *tls_client_new(const struct tls_client_cfg *cfg)
{
    struct tls_client *tc = calloc(1, sizeof(*tc));
    if (!tc)
        return NULL;
    indices_init();
    tc->cfg = *cfg;
    if (!cfg->insecure) {
        tc->store = X509_STORE_new();
        int ok = tc->store && (cfg->cacert ? X509_STORE_load_locations(tc->store, cfg->cacert, NULL)
                                           : X509_STORE_set_default_paths(tc->store));
        if (!ok) {
            print_ssl_err(cfg->cacert ? cfg->cacert : "default verify paths");
            goto fail;
        }
    }
    if (cfg->cert && load_chain(cfg->cert, &tc->chain, &tc->n_chain) < 0)
        goto fail;
    if (cfg->key) {
        BIO *bio = BIO_new_file(cfg->key, "r");
        tc->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (!tc->pkey) {
            print_ssl_err(cfg->key);
            goto fail;
        }
    }
    if (cfg->alpn && *cfg->alpn) {
        size_t l = strlen(cfg->alpn);
        if (l + 1 > sizeof(tc->alpn) || l > 255)
            goto fail;
        tc->alpn[0] = (uint8_t)l;
        memcpy(tc->alpn + 1, cfg->alpn, l);
        tc->alpn_len = l + 1;
    }
    return tc;
fail:
    tls_client_free(tc);
    return NULL;
}

void tls_client_free(struct tls_client *tc)
{
    if (!tc)
        return;
    X509_STORE_free(tc->store);
    for (size_t i = 0; i < tc->n_chain; i++)
        CRYPTO_BUFFER_free(tc->chain[i]);
    free(tc->chain);
    EVP_PKEY_free(tc->pkey);
    free(tc);
}

static void vc_drop(struct vc_entry *e)
{
    for (size_t i = 0; i < e->n; i++)
        CRYPTO_BUFFER_free(e->certs[i]);
    free(e->certs);
    free(e->name);
    memset(e, 0, sizeof(*e));
}

static bool same_buffer(const CRYPTO_BUFFER *a, const CRYPTO_BUFFER *b)
{
    /* One pool per context: identical bytes are usually one buffer. The cache holds its
     * references, so an equal pointer always means equal bytes; else compare the bytes. */
    return a == b ||
           (CRYPTO_BUFFER_len(a) == CRYPTO_BUFFER_len(b) &&
            memcmp(CRYPTO_BUFFER_data(a), CRYPTO_BUFFER_data(b), CRYPTO_BUFFER_len(a)) == 0);
}

/* The live entry for |name| with exactly these certificates, or NULL. Drops it when expired. */
static struct vc_entry *vc_find(struct tls_cctx *cc, const char *name,
                                const STACK_OF(CRYPTO_BUFFER) * chain, size_t n, time_t now)
{
    for (unsigned i = 0; i < TLS_VCACHE_MAX; i++) {
        struct vc_entry *e = &cc->vc[i];
        if (!e->name || e->n != n || strcmp(e->name, name) != 0)
            continue;
        size_t k = 0;
        while (k < n && same_buffer(e->certs[k], sk_CRYPTO_BUFFER_value(chain, k)))
            k++;
        if (k < n)
            continue;
        if (now >= e->expires) {
            vc_drop(e);
            return NULL;
        }
        e->used = ++cc->clock;
        return e;
    }
    return NULL;
}

/* Remembers a verified chain, evicting the least recently used entry when full. Best effort:
 * on allocation failure nothing is remembered. */
static void vc_insert(struct tls_cctx *cc, const char *name, const STACK_OF(CRYPTO_BUFFER) * chain,
                      size_t n, time_t expires)
{
    struct vc_entry *e = &cc->vc[0];
    for (unsigned i = 0; i < TLS_VCACHE_MAX; i++) {
        if (!cc->vc[i].name) {
            e = &cc->vc[i];
            break;
        }
        if (cc->vc[i].used < e->used)
            e = &cc->vc[i];
    }
    vc_drop(e);
    e->certs = calloc(n, sizeof(*e->certs));
    e->name = strdup(name);
    if (!e->certs || !e->name) {
        vc_drop(e);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        e->certs[i] = sk_CRYPTO_BUFFER_value(chain, i);
        CRYPTO_BUFFER_up_ref(e->certs[i]);
    }
    e->n = n;
    e->expires = expires;
    e->used = ++cc->clock;
}

/* Seconds from |now| to |t| (negative when past); |fallback| when |t| does not decode. */
static long secs_until(const ASN1_TIME *now, const ASN1_TIME *t, long fallback)
{
    int days, secs;
    if (!now || !t || !ASN1_TIME_diff(&days, &secs, now, t))
        return fallback;
    return (long)days * 86400 + secs;
}

/* Full verification of the peer's |chain| for |name|, as BoringSSL's X509-based client does it
 * (ssl_crypto_x509_session_verify_cert_chain): the leaf and the rest as untrusted
 * intermediates, the "ssl_server" purpose and trust defaults, the host name or IP address
 * check. Returns X509_V_OK and sets |*expires| (verification time + TTL, capped by the
 * earliest notAfter of the built chain), or the X509_V_* error. */
static long verify_chain(const struct tls_client *tc, const STACK_OF(CRYPTO_BUFFER) * chain,
                         size_t n, const char *name, time_t now, time_t *expires)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509_STORE_CTX *xc = X509_STORE_CTX_new();
    long err = X509_V_ERR_UNSPECIFIED;

    if (!sk || !xc)
        goto out;
    for (size_t i = 0; i < n; i++) {
        X509 *x = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(chain, i));
        if (!x || !sk_X509_push(sk, x)) {
            X509_free(x);
            goto out;
        }
    }
    if (!X509_STORE_CTX_init(xc, tc->store, sk_X509_value(sk, 0), sk) ||
        !X509_STORE_CTX_set_default(xc, "ssl_server"))
        goto out;
    if (name && *name) {
        X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(xc);
        int ok = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(vp, name)
                                     : X509_VERIFY_PARAM_set1_host(vp, name, strlen(name));
        if (!ok)
            goto out;
    }
    if (X509_verify_cert(xc) != 1) {
        err = X509_STORE_CTX_get_error(xc);
        if (err == X509_V_OK)
            err = X509_V_ERR_UNSPECIFIED;
        goto out;
    }
    err = X509_V_OK;
    long ttl = TLS_VCACHE_TTL_S;
    ASN1_TIME *at = ASN1_TIME_set(NULL, now);
    STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(xc);
    for (size_t i = 0; built && i < sk_X509_num(built); i++) {
        long left = secs_until(at, X509_get0_notAfter(sk_X509_value(built, i)), 0);
        if (left < ttl)
            ttl = left;
    }
    ASN1_TIME_free(at);
    *expires = now + (ttl > 0 ? ttl : 0);
out:
    X509_STORE_CTX_free(xc);
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return err;
}

static enum ssl_verify_result_t on_verify(SSL *ssl, uint8_t *out_alert)
{
    struct tls_cctx *cc = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cctx_idx);
    const struct tls_client *tc = cc->tc;

    if (tc->cfg.insecure)
        return ssl_verify_ok;
    const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(ssl);
    size_t n = chain ? sk_CRYPTO_BUFFER_num(chain) : 0;
    const char *name = SSL_get_ex_data(ssl, name_idx);
    if (!name)
        name = "";
    time_t now = time(NULL), expires = now;
    long err = X509_V_ERR_UNSPECIFIED;
    if (n > 0) {
        if (tc->cfg.verify_cache && vc_find(cc, name, chain, n, now)) {
            cc->st.cached++;
            return ssl_verify_ok;
        }
        err = verify_chain(tc, chain, n, name, now, &expires);
    }
    if (err != X509_V_OK) {
        cc->st.failed++;
        SSL_set_ex_data(ssl, verr_idx, (void *)(intptr_t)err);
        *out_alert = (uint8_t)SSL_alert_from_verify_result(err);
        return ssl_verify_invalid;
    }
    cc->st.full++;
    if (tc->cfg.verify_cache && expires > now)
        vc_insert(cc, name, chain, n, expires);
    return ssl_verify_ok;
}

SSL_CTX *tls_client_ctx_new(const struct tls_client *tc)
{
    struct tls_cctx *cc = calloc(1, sizeof(*cc));
    SSL_CTX *ctx = SSL_CTX_new(TLS_with_buffers_method());

    if (!cc || !ctx) {
        print_ssl_err("SSL_CTX_new");
        goto fail;
    }
    cc->tc = tc;
    cc->pool = CRYPTO_BUFFER_POOL_new();
    if (!cc->pool || !SSL_CTX_set_ex_data(ctx, cctx_idx, cc)) {
        print_ssl_err("SSL_CTX_new");
        goto fail;
    }
    SSL_CTX_set0_buffer_pool(ctx, cc->pool);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Buffer mode has no built-in verifier; ours also stands in for "-k" (accepts anything). */
    SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, on_verify);
    if (tc->n_chain && !SSL_CTX_set_chain_and_key(ctx, tc->chain, tc->n_chain, tc->pkey, NULL)) {
        print_ssl_err(tc->cfg.key ? tc->cfg.key : tc->cfg.cert);
        goto fail;
    }
    if (tc->alpn_len && SSL_CTX_set_alpn_protos(ctx, tc->alpn, (unsigned)tc->alpn_len) != 0)
        goto fail; /* 0 = success */
    return ctx;
fail:
    if (ctx) {
        SSL_CTX_set_ex_data(ctx, cctx_idx, NULL);
        SSL_CTX_free(ctx);
    }
    if (cc)
        CRYPTO_BUFFER_POOL_free(cc->pool);
    free(cc);
    return NULL;
}

void tls_client_ctx_free(SSL_CTX *ctx)
{
    if (!ctx)
        return;
    struct tls_cctx *cc = SSL_CTX_get_ex_data(ctx, cctx_idx);
    SSL_CTX_free(ctx);
    if (!cc)
        return;
    for (unsigned i = 0; i < TLS_VCACHE_MAX; i++)
        vc_drop(&cc->vc[i]);
    CRYPTO_BUFFER_POOL_free(cc->pool); /* after every buffer from it was freed */
    free(cc);
}

void tls_client_ctx_stats(SSL_CTX *ctx, struct tls_verify_stats *out)
{
    struct tls_cctx *cc = ctx ? SSL_CTX_get_ex_data(ctx, cctx_idx) : NULL;
    if (!cc)
        return;
    out->full += cc->st.full;
    out->cached += cc->st.cached;
    out->failed += cc->st.failed;
}

int tls_client_set_peer(SSL *ssl, const char *name)
{
    if (!name || !*name)
        return 0;
    /* RFC 6066 §3: no IP literals in SNI; an IP is checked against the IP SANs instead. */
    if (!is_ip_literal(name) && !SSL_set_tlsext_host_name(ssl, name))
        return -RM_ENOMEM;
    if (!SSL_set_ex_data(ssl, name_idx, (void *)(uintptr_t)name))
        return -RM_ENOMEM;
    return 0;
}

long tls_verify_result(const SSL *ssl)
{
    if (verr_idx >= 0) {
        intptr_t v = (intptr_t)SSL_get_ex_data(ssl, verr_idx);
        if (v != X509_V_OK)
            return (long)v;
    }
    return SSL_get_verify_result(ssl);
}
