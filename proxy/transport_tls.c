/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/transport_tls.c — TLS over a conn's socket with BoringSSL (Envoy's
 * envoy.transport_sockets.tls). The SSL reads and writes the fd through a small BIO of ours:
 * BoringSSL reads a record as a 5-byte header and then its body, so the BIO does one read()
 * of up to 16 KiB and serves both from it (one syscall per record batch instead of two per
 * record, and none to learn that a short read drained the socket); writes go straight to the
 * fd. The handshake runs inside whichever of read/write the conn calls first. When
 * a read needs the socket writable (or a write needs it readable) the transport says so
 * with CONN_F_TP_RD_WANTS_W / CONN_F_TP_WR_WANTS_R and conn.c arms the other event.
 * BoringSSL frees its record buffers when they are empty, so an idle TLS connection holds
 * only the SSL object. Worker thread only. */
#include <errno.h>
#include <event2/buffer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/log.h"
#include "proxy/ssl_lazy.h"
#include "proxy/stats.h"
#include "proxy/tls.h"
#include "proxy/transport.h"

/* Plaintext per SSL_write: one full TLS record. Smaller pieces of the output buffer are
 * gathered into one record (a response head and a small body go out in one write). */
#define TLS_WRITE_CHUNK 16384u
/* Plaintext per SSL_read call (a record's worth). */
#define TLS_READ_CHUNK 16384u

/* Socket bytes read ahead for BoringSSL: one read() per batch of records. Allocated when a
 * read needs it, freed once drained, so an idle connection holds none. */
#define TLS_RBUF 16384u

struct tls_conn {
    SSL *ssl;
    struct stats_block *sb; /* listener ssl.* (may be NULL) */
    int fd;
    uint8_t *rbuf; /* NULL while empty */
    uint32_t roff, rlen;
    bool drained; /* the last read() returned less than asked: the socket is empty for now */
    bool hs_done;
    bool failed;         /* a handshake or record failed: counted once, never retried */
    uint8_t verify_fail; /* enum tls_verify_fail, from the certificate callback */
};

static struct tls_conn *tls_of(const struct conn *c)
{
    return c->tp == &transport_tls ? c->tp_ctx : NULL;
}

/* ---- the socket BIO ------------------------------------------------------------------------ */

static int bio_read(BIO *b, char *out, int len)
{
    struct tls_conn *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (t->roff == t->rlen) {
        if (t->drained) {
            /* The previous read() came back short: asking again would only say EAGAIN. The
             * level-triggered read event reports the next bytes. */
            t->drained = false;
            BIO_set_retry_read(b);
            errno = EAGAIN;
            return -1;
        }
        bool direct = (size_t)len >= TLS_RBUF; /* a big record body: no copy */
        if (!direct && !t->rbuf && !(t->rbuf = malloc(TLS_RBUF))) {
            errno = ENOMEM;
            return -1;
        }
        size_t want = direct ? (size_t)len : TLS_RBUF;
        ssize_t n = read(t->fd, direct ? (void *)out : (void *)t->rbuf, want);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                BIO_set_retry_read(b);
            return -1;
        }
        if (n == 0)
            return 0; /* EOF */
        t->drained = (size_t)n < want;
        if (direct)
            return (int)n;
        t->roff = 0;
        t->rlen = (uint32_t)n;
    }
    uint32_t take = t->rlen - t->roff;
    if (take > (uint32_t)len)
        take = (uint32_t)len;
    memcpy(out, t->rbuf + t->roff, take);
    t->roff += take;
    return (int)take;
}

static int bio_write(BIO *b, const char *in, int len)
{
    struct tls_conn *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = write(t->fd, in, (size_t)len);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "remora-socket");
    if (bio_method) {
        BIO_meth_set_read(bio_method, bio_read);
        BIO_meth_set_write(bio_method, bio_write);
        BIO_meth_set_ctrl(bio_method, bio_ctrl);
    }
}

/* Frees the read-ahead buffer once everything in it was handed to BoringSSL. */
static void rbuf_release(struct tls_conn *t)
{
    if (t->rbuf && t->roff == t->rlen) {
        free(t->rbuf);
        t->rbuf = NULL;
        t->roff = t->rlen = 0;
    }
}

void transport_tls_note_verify_fail(SSL *ssl, enum tls_verify_fail f)
{
    struct tls_conn *t = SSL_get_app_data(ssl);
    if (t)
        t->verify_fail = (uint8_t)f;
}

static void count(struct tls_conn *t, unsigned id)
{
    if (t->sb)
        stats_inc(t->sb, id);
}

/* A failed handshake or record: counted as Envoy does, logged at debug (a scanner would
 * otherwise flood the log), the conn reports an error. */
static long tls_fail(struct conn *c, struct tls_conn *t, const char *what)
{
    unsigned long e = ERR_peek_error();
    t->failed = true;
    if (!t->hs_done) {
        switch (t->verify_fail) {
        case TLS_VF_ERROR:
            count(t, SSLS_fail_verify_error);
            break;
        case TLS_VF_SAN:
            count(t, SSLS_fail_verify_san);
            break;
        case TLS_VF_CERT_HASH:
            count(t, SSLS_fail_verify_cert_hash);
            break;
        default:
            if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
                ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
                count(t, SSLS_fail_verify_no_cert);
            } else {
                count(t, SSLS_connection_error);
            }
        }
    } else {
        count(t, SSLS_connection_error);
    }
    if (log_levels[LC_CONNECTION] <= LOG_DEBUG) {
        char why[256] = "unknown";
        if (e)
            ERR_error_string_n(e, why, sizeof(why));
        log_debug(LC_CONNECTION, "[C%llu] TLS %s failed: %s", (unsigned long long)c->id, what, why);
    }
    ERR_clear_error();
    c->err = EPROTO;
    return -RM_EIO;
}

/* Drives the handshake. Returns 1 when done, 0 when it waits for the socket (the want flag
 * for the calling direction is set), <0 on failure. */
static long handshake(struct conn *c, struct tls_conn *t, bool from_write)
{
    if (t->failed) {
        c->err = EPROTO;
        return -RM_EIO;
    }
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->hs_done = true;
        count(t, SSLS_handshake);
        if (SSL_session_reused(t->ssl))
            count(t, SSLS_session_reused);
        if (!SSL_get0_peer_certificates(t->ssl))
            count(t, SSLS_no_certificate);
        return 1;
    }
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        if (from_write)
            c->flags |= CONN_F_TP_WR_WANTS_R;
        rbuf_release(t);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        if (!from_write)
            c->flags |= CONN_F_TP_RD_WANTS_W;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return -RM_ECLOSED;
    case SSL_ERROR_SYSCALL:
        if (r == 0 || errno == 0 || errno == ECONNRESET || errno == EPIPE) {
            /* The peer went away mid-handshake (a port scan, a health check that only
             * connects): a close, not a TLS error. */
            ERR_clear_error();
            c->err = errno;
            return r == 0 || errno == 0 ? -RM_ECLOSED : -RM_EIO;
        }
        c->err = errno;
        ERR_clear_error();
        return -RM_EIO;
    default:
        return tls_fail(c, t, "handshake");
    }
}

static long tls_read(struct conn *c, struct evbuffer *buf, size_t max)
{
    struct tls_conn *t = c->tp_ctx;
    if (c->flags & CONN_F_RD_ERR_PENDING) {
        c->flags &= ~CONN_F_RD_ERR_PENDING;
        return -RM_EIO;
    }
    if (c->flags & CONN_F_RD_EOF_PENDING) {
        c->flags &= ~CONN_F_RD_EOF_PENDING;
        return -RM_ECLOSED;
    }
    if (t->failed) {
        c->err = EPROTO;
        return -RM_EIO;
    }
    t->drained = false; /* a new readiness event: the socket may hold bytes again */
    if (!t->hs_done) {
        long r = handshake(c, t, false);
        if (r <= 0)
            return r;
    }
    long total = 0;
    while ((size_t)total < max) {
        size_t want = max - (size_t)total;
        if (want > TLS_READ_CHUNK)
            want = TLS_READ_CHUNK;
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(buf, (ev_ssize_t)want, &v, 1) != 1)
            return total ? total : -RM_ENOMEM;
        int n = SSL_read(t->ssl, v.iov_base, (int)want);
        if (n > 0) {
            v.iov_len = (size_t)n;
            evbuffer_commit_space(buf, &v, 1);
            total += n;
            continue;
        }
        evbuffer_commit_space(buf, &v, 0);
        long end;
        switch (SSL_get_error(t->ssl, n)) {
        case SSL_ERROR_WANT_READ:
            rbuf_release(t);
            return total;
        case SSL_ERROR_WANT_WRITE:
            c->flags |= CONN_F_TP_RD_WANTS_W;
            return total;
        case SSL_ERROR_ZERO_RETURN: /* close_notify */
            ERR_clear_error();
            end = -RM_ECLOSED;
            break;
        case SSL_ERROR_SYSCALL:
            ERR_clear_error();
            c->err = errno;
            /* EOF without close_notify: a close (HTTP framing tells truncation). */
            end = (n == 0 || errno == 0) ? -RM_ECLOSED : -RM_EIO;
            break;
        default:
            end = tls_fail(c, t, "read");
            break;
        }
        if (total == 0)
            return end;
        c->flags |= end == -RM_ECLOSED ? CONN_F_RD_EOF_PENDING : CONN_F_RD_ERR_PENDING;
        return total;
    }
    return total;
}

static long tls_write(struct conn *c, struct evbuffer *buf)
{
    struct tls_conn *t = c->tp_ctx;
    if (t->failed) {
        c->err = EPROTO;
        return -RM_EIO;
    }
    if (!t->hs_done) {
        t->drained = false;
        long r = handshake(c, t, true);
        if (r <= 0)
            return r == -RM_ECLOSED ? -RM_EIO : r;
        /* The client's first records may have come with its Finished, into the read-ahead
         * buffer: conn.c runs the read for them (no socket event will). */
        c->flags |= CONN_F_TP_RD_KICK;
    }
    long total = 0;
    size_t left;
    while ((left = evbuffer_get_length(buf)) > 0) {
        /* The same bytes come first on a retry after WANT_WRITE (nothing is drained
         * until SSL_write succeeds), and at least as many: BoringSSL's rule. */
        size_t len = left < TLS_WRITE_CHUNK ? left : TLS_WRITE_CHUNK;
        unsigned char *p = evbuffer_pullup(buf, (ev_ssize_t)len);
        if (!p)
            return total ? total : -RM_ENOMEM;
        int n = SSL_write(t->ssl, p, (int)len);
        if (n > 0) {
            evbuffer_drain(buf, (size_t)n);
            total += n;
            continue;
        }
        switch (SSL_get_error(t->ssl, n)) {
        case SSL_ERROR_WANT_WRITE:
            return total;
        case SSL_ERROR_WANT_READ:
            c->flags |= CONN_F_TP_WR_WANTS_R;
            return total;
        case SSL_ERROR_SYSCALL:
            ERR_clear_error();
            c->err = errno ? errno : EPIPE;
            return -RM_EIO;
        default:
            return tls_fail(c, t, "write");
        }
    }
    return total;
}

static int tls_shutdown_write(struct conn *c)
{
    struct tls_conn *t = c->tp_ctx;
    /* close_notify, best effort: a full socket buffer must not hold up the FIN. */
    if (t->hs_done && SSL_shutdown(t->ssl) < 0)
        ERR_clear_error();
    return transport_plain.shutdown_write(c);
}

/* True while input sits on our side of the socket, where no readiness event will report it:
 * read-ahead bytes, records or plaintext inside BoringSSL, or an end of stream that tls_read
 * parked behind the data it returned with it (a close_notify or a fatal alert in the same
 * batch as the last records: unlike a FIN, it was consumed from the socket, which may never
 * become readable again). */
static bool tls_buffered(const struct conn *c)
{
    const struct tls_conn *t = c->tp_ctx;
    if (c->flags & (CONN_F_RD_EOF_PENDING | CONN_F_RD_ERR_PENDING))
        return true;
    return t->roff < t->rlen || (t->hs_done && SSL_has_pending(t->ssl));
}

static void tls_free(struct conn *c)
{
    struct tls_conn *t = c->tp_ctx;
    if (!t)
        return;
    SSL_free(t->ssl); /* frees the BIO too */
    free(t->rbuf);
    free(t);
    c->tp_ctx = NULL;
}

const struct transport_ops transport_tls = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .shutdown_write = tls_shutdown_write,
    .free = tls_free,
    .buffered = tls_buffered,
};

int transport_tls_server_start(struct conn *c, SSL_CTX *ctx, struct stats_block *ssl_stats)
{
    struct tls_conn *t = calloc(1, sizeof(*t));
    if (!t)
        return -RM_ENOMEM;
    pthread_once(&bio_once, bio_method_init);
    t->fd = c->fd;
    t->ssl = SSL_new(ctx);
    BIO *b = bio_method && t->ssl ? BIO_new(bio_method) : NULL;
    if (!b) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return -RM_ENOMEM;
    }
    BIO_set_data(b, t);
    BIO_set_init(b, 1);
    SSL_set_bio(t->ssl, b, b); /* one reference, both directions */
    SSL_set_accept_state(t->ssl);
    /* After the handshake only its results are needed: free the copied configuration
     * (about 1 kB per idle connection). */
    SSL_set_shed_handshake_config(t->ssl, 1);
    SSL_set_app_data(t->ssl, t);
    t->sb = ssl_stats;
    c->tp = &transport_tls;
    c->tp_ctx = t;
    c->flags |= CONN_F_TP_BUFFERS;
    return 0;
}

/* ---- connection facts -------------------------------------------------------------------- */

bool tls_conn_is_tls(const struct conn *c)
{
    return tls_of(c) != NULL;
}

const char *tls_conn_version(const struct conn *c)
{
    struct tls_conn *t = tls_of(c);
    return t && t->hs_done ? SSL_get_version(t->ssl) : NULL;
}

const char *tls_conn_cipher(const struct conn *c)
{
    struct tls_conn *t = tls_of(c);
    const SSL_CIPHER *ci = t && t->hs_done ? SSL_get_current_cipher(t->ssl) : NULL;
    return ci ? SSL_CIPHER_standard_name(ci) : NULL;
}

const char *tls_conn_sni(const struct conn *c)
{
    struct tls_conn *t = tls_of(c);
    return t ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

size_t tls_conn_alpn(const struct conn *c, const uint8_t **out)
{
    struct tls_conn *t = tls_of(c);
    *out = NULL;
    if (!t || !t->hs_done)
        return 0;
    unsigned n = 0;
    SSL_get0_alpn_selected(t->ssl, out, &n);
    return *out ? n : 0;
}

bool tls_conn_peer_cert_presented(const struct conn *c)
{
    struct tls_conn *t = tls_of(c);
    return t && t->hs_done && SSL_get0_peer_certificates(t->ssl) != NULL;
}

size_t tls_conn_peer_uri_san(const struct conn *c, char *out, size_t cap)
{
    struct tls_conn *t = tls_of(c);
    if (!t || !t->hs_done || cap == 0)
        return 0;
    X509 *peer = SSL_get_peer_certificate(t->ssl);
    if (!peer)
        return 0;
    size_t got = 0;
    out[0] = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
    for (size_t i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_URI)
            continue;
        size_t n = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
        size_t sep = got ? 1 : 0;
        if (got + sep + n >= cap)
            break;
        if (sep)
            out[got++] = ',';
        memcpy(out + got, ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), n);
        got += n;
        out[got] = 0;
    }
    GENERAL_NAMES_free(names);
    X509_free(peer);
    return got;
}

size_t tls_conn_peer_subject(const struct conn *c, char *out, size_t cap)
{
    struct tls_conn *t = tls_of(c);
    if (!t || !t->hs_done || cap == 0)
        return 0;
    X509 *peer = SSL_get_peer_certificate(t->ssl);
    if (!peer)
        return 0;
    size_t got = 0;
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
        const uint8_t *p;
        size_t n;
        if (BIO_mem_contents(b, &p, &n)) {
            got = n < cap ? n : cap - 1;
            memcpy(out, p, got);
            out[got] = 0;
        }
    }
    BIO_free(b);
    X509_free(peer);
    ERR_clear_error();
    return got;
}
