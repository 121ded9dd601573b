/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/sock.c — see sock.h. A client's TLS runs over sbio, a small buffering BIO on
 * the fd (below); the server side uses BoringSSL's socket BIO. */
#include "bench/common/sock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "bench/common/net.h"
#include "bench/common/tls.h"

#define TLS_WRITE_CHUNK 16384 /* one full TLS record per SSL_write */

/* ---- sbio ------------------------------------------------------------------------------------
 * BoringSSL reads a record as two reads, its 5-byte header then its body, so a handshake flight
 * or a response of a few small records costs two read() calls per record on a socket BIO. sbio
 * reads up to SBIO_RBUF bytes at once and serves those reads from memory (a read at least as
 * large as the buffer goes straight to the fd). Writes go straight to the fd, except while
 * |hold| is set: sock_handshake() holds the client's last flight (Finished, with mTLS also
 * Certificate and CertificateVerify) when the handshake completes, and the next sock_flush()
 * sends it together with the first request in one write() (and one TCP segment) instead of
 * two. Nothing else changes on the wire. Bytes buffered here are invisible to epoll: see
 * sock_pending(). */
#define SBIO_RBUF 16384
#define SBIO_HOLD_MAX 32768 /* bytes held at most; beyond, the held bytes go out at once */

struct sbio {
    int fd;
    size_t roff, rlen; /* unread bytes are rbuf[roff, rlen) */
    uint8_t *wbuf;     /* held or not yet written bytes */
    size_t wlen, wcap;
    bool hold;
    uint8_t rbuf[SBIO_RBUF];
};

static BIO_METHOD *sbio_method;
static pthread_once_t sbio_once = PTHREAD_ONCE_INIT;

/* Writes the pending bytes. 1 all written, 0 would block, -1 error (errno set). */
static int sbio_push(struct sbio *sb)
{
    size_t off = 0;
    int rc = 1;
    while (off < sb->wlen) {
        ssize_t n = write(sb->fd, sb->wbuf + off, sb->wlen - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = errno == EAGAIN ? 0 : -1;
            break;
        }
        off += (size_t)n;
    }
    if (off > 0) {
        memmove(sb->wbuf, sb->wbuf + off, sb->wlen - off);
        sb->wlen -= off;
    }
    return rc;
}

static int sbio_read(BIO *b, char *out, int len)
{
    struct sbio *sb = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (sb->roff == sb->rlen) {
        if ((size_t)len >= sizeof(sb->rbuf)) {
            ssize_t n;
            do
                n = read(sb->fd, out, (size_t)len);
            while (n < 0 && errno == EINTR);
            if (n < 0 && errno == EAGAIN)
                BIO_set_retry_read(b);
            return (int)n;
        }
        ssize_t n;
        do
            n = read(sb->fd, sb->rbuf, sizeof(sb->rbuf));
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            if (n < 0 && errno == EAGAIN)
                BIO_set_retry_read(b);
            return (int)n;
        }
        sb->roff = 0;
        sb->rlen = (size_t)n;
    }
    size_t n = sb->rlen - sb->roff;
    if (n > (size_t)len)
        n = (size_t)len;
    memcpy(out, sb->rbuf + sb->roff, n);
    sb->roff += n;
    return (int)n;
}

static bool sbio_append(struct sbio *sb, const char *in, size_t len)
{
    if (sb->wlen + len > sb->wcap) {
        size_t cap = sb->wcap ? sb->wcap : 4096;
        while (cap < sb->wlen + len)
            cap *= 2;
        uint8_t *nb = realloc(sb->wbuf, cap);
        if (!nb)
            return false;
        sb->wbuf = nb;
        sb->wcap = cap;
    }
    memcpy(sb->wbuf + sb->wlen, in, len);
    sb->wlen += len;
    return true;
}

static int sbio_write(BIO *b, const char *in, int len)
{
    struct sbio *sb = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (sb->hold && sb->wlen + (size_t)len <= SBIO_HOLD_MAX) {
        if (!sbio_append(sb, in, (size_t)len)) {
            errno = ENOMEM;
            return -1;
        }
        return len;
    }
    sb->hold = false;
    if (sb->wlen > 0) { /* earlier bytes first */
        int rc = sbio_push(sb);
        if (rc <= 0) {
            if (rc == 0)
                BIO_set_retry_write(b);
            return -1;
        }
    }
    ssize_t n;
    do
        n = write(sb->fd, in, (size_t)len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        BIO_set_retry_write(b);
    return (int)n;
}

static long sbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct sbio *sb = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: {
        BIO_clear_retry_flags(b);
        if (sb->hold || sb->wlen == 0)
            return 1;
        int rc = sbio_push(sb);
        if (rc == 0)
            BIO_set_retry_write(b);
        return rc > 0 ? 1 : -1;
    }
    case BIO_CTRL_PENDING:
        return (long)(sb->rlen - sb->roff);
    case BIO_CTRL_WPENDING:
        return (long)sb->wlen;
    default:
        return 0;
    }
}

static int sbio_destroy(BIO *b)
{
    struct sbio *sb = BIO_get_data(b);
    if (sb) {
        free(sb->wbuf);
        free(sb);
        BIO_set_data(b, NULL);
    }
    return 1;
}

static void sbio_method_init(void)
{
    sbio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "remora-sbio");
    if (sbio_method) {
        BIO_meth_set_read(sbio_method, sbio_read);
        BIO_meth_set_write(sbio_method, sbio_write);
        BIO_meth_set_ctrl(sbio_method, sbio_ctrl);
        BIO_meth_set_destroy(sbio_method, sbio_destroy);
    }
}

/* A new sbio on |fd|, or NULL. */
static BIO *sbio_new(int fd, struct sbio **out)
{
    pthread_once(&sbio_once, sbio_method_init);
    if (!sbio_method)
        return NULL;
    BIO *b = BIO_new(sbio_method);
    struct sbio *sb = malloc(sizeof(*sb));
    if (!b || !sb) {
        BIO_free(b);
        free(sb);
        return NULL;
    }
    sb->fd = fd;
    sb->roff = sb->rlen = 0;
    sb->wbuf = NULL;
    sb->wlen = sb->wcap = 0;
    sb->hold = false;
    BIO_set_data(b, sb);
    BIO_set_init(b, 1);
    *out = sb;
    return b;
}

/* Ends a hold and writes what is pending. 0 done or would block (sock_want_write() then says
 * so), <0 error. */
static int sbio_release(struct sock *s)
{
    struct sbio *sb = s->bio;
    if (!sb)
        return 0;
    sb->hold = false;
    if (sb->wlen == 0 || sbio_push(sb) >= 0)
        return 0;
    s->err = errno;
    return -RM_EIO;
}

void sock_init(struct sock *s, int fd)
{
    s->fd = fd;
    s->ssl = NULL;
    s->err = 0;
    s->want_write = false;
    s->ssl_err = 0;
    s->bio = NULL;
}

int sock_tls_new(struct sock *s, SSL_CTX *ctx, bool server, const char *sni)
{
    s->ssl = SSL_new(ctx);
    if (!s->ssl)
        return -RM_ENOMEM;
    SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (server) {
        SSL_set_fd(s->ssl, s->fd);
        SSL_set_accept_state(s->ssl);
        return 0;
    }
    BIO *b = sbio_new(s->fd, &s->bio);
    if (!b || tls_client_set_peer(s->ssl, sni) < 0) {
        BIO_free(b);
        SSL_free(s->ssl);
        s->ssl = NULL;
        s->bio = NULL;
        return -RM_ENOMEM;
    }
    SSL_set_bio(s->ssl, b, b); /* one reference for both directions */
    SSL_set_connect_state(s->ssl);
    return 0;
}

/* Maps an SSL_* result to the tri-state. */
static int tls_result(struct sock *s, int rc)
{
    int e = SSL_get_error(s->ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        s->want_write = false;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        s->want_write = true;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return -RM_ECLOSED;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0 || errno == EAGAIN)
            return -RM_ECLOSED; /* EOF without close_notify */
        s->err = errno;
        return -RM_EIO;
    default:
        s->ssl_err = ERR_peek_error();
        ERR_clear_error();
        s->err = EPROTO;
        return -RM_EPROTO;
    }
}

int sock_handshake(struct sock *s)
{
    errno = 0;
    if (s->bio)
        s->bio->hold = true;
    int rc = SSL_do_handshake(s->ssl);
    if (rc == 1) {
        s->want_write = false;
        return 1; /* the last flight stays held until sock_flush */
    }
    rc = tls_result(s, rc);
    if (rc == 0) {
        int r = sbio_release(s); /* a flight the handshake waits on must go out now */
        if (r < 0)
            return r;
    }
    return rc;
}

bool sock_want_write(const struct sock *s)
{
    return s->want_write || sock_unsent(s) > 0;
}

size_t sock_unsent(const struct sock *s)
{
    return s->bio ? s->bio->wlen : 0;
}

bool sock_pending(const struct sock *s)
{
    return s->ssl && (SSL_pending(s->ssl) > 0 || (s->bio && s->bio->roff < s->bio->rlen));
}

void sock_alpn(const struct sock *s, char *buf, size_t n)
{
    const uint8_t *p = NULL;
    unsigned len = 0;

    buf[0] = '\0';
    if (!s->ssl)
        return;
    SSL_get0_alpn_selected(s->ssl, &p, &len);
    if (p && len < n) {
        memcpy(buf, p, len);
        buf[len] = '\0';
    }
}

ssize_t sock_read(struct sock *s, void *buf, size_t n)
{
    if (s->ssl) {
        errno = 0;
        int rc = SSL_read(s->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
        if (rc > 0) {
            s->want_write = false;
            return rc;
        }
        return tls_result(s, rc);
    }
    ssize_t rc = read(s->fd, buf, n);
    if (rc > 0)
        return rc;
    if (rc == 0)
        return -RM_ECLOSED;
    if (errno == EAGAIN || errno == EINTR)
        return 0;
    s->err = errno;
    return -RM_EIO;
}

ssize_t sock_flush(struct sock *s, struct evbuffer *out)
{
    ssize_t total = 0;

    if (!s->ssl) {
        if (evbuffer_get_length(out) == 0)
            return 0;
        int rc = evbuffer_write(out, s->fd);
        if (rc >= 0)
            return rc;
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        s->err = errno;
        return -RM_EIO;
    }
    s->want_write = false; /* set again below if this write blocks */
    if (s->bio && !s->bio->hold && s->bio->wlen > 0) {
        /* Bytes a release could not write yet go first. */
        int r = sbio_release(s);
        if (r < 0 || s->bio->wlen > 0)
            return r;
    }
    for (;;) {
        size_t len = evbuffer_get_length(out);
        if (len == 0) {
            int r = sbio_release(s);
            return r < 0 ? r : total;
        }
        if (len > TLS_WRITE_CHUNK)
            len = TLS_WRITE_CHUNK;
        const unsigned char *p = evbuffer_pullup(out, (ssize_t)len);
        if (!p)
            return -RM_ENOMEM;
        errno = 0;
        int rc = SSL_write(s->ssl, p, (int)len);
        if (rc <= 0) {
            int r = tls_result(s, rc);
            if (r == 0) {
                s->want_write = true; /* a write never waits for reads on TLS 1.2+/1.3 */
                int rr = sbio_release(s);
                return rr < 0 ? rr : total;
            }
            return r == -RM_ECLOSED ? -RM_EIO : r;
        }
        evbuffer_drain(out, (size_t)rc);
        total += rc;
    }
}

void sock_tls_error(const struct sock *s, char *buf, size_t n)
{
    char e[160] = "no library error";
    if (s->ssl_err)
        ERR_error_string_n(s->ssl_err, e, sizeof(e));
    long v = s->ssl ? tls_verify_result(s->ssl) : X509_V_OK;
    snprintf(buf, n, "%s%s%s", e, v != X509_V_OK ? "; certificate: " : "",
             v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
}

void sock_close(struct sock *s, bool reset)
{
    if (s->ssl) {
        SSL_free(s->ssl); /* frees the sbio too */
        s->ssl = NULL;
        s->bio = NULL;
    }
    if (s->fd >= 0) {
        if (reset)
            net_set_linger0(s->fd);
        close(s->fd);
        s->fd = -1;
    }
}
