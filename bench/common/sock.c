/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/sock.c — see sock.h. */
#include "bench/common/sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "bench/common/net.h"
#include "bench/common/tls.h"

#define TLS_WRITE_CHUNK 16384 /* one full TLS record per SSL_write */

void sock_init(struct sock *s, int fd)
{
    s->fd = fd;
    s->ssl = NULL;
    s->err = 0;
    s->want_write = false;
    s->ssl_err = 0;
}

int sock_tls_new(struct sock *s, SSL_CTX *ctx, bool server, const char *sni)
{
    s->ssl = SSL_new(ctx);
    if (!s->ssl)
        return -RM_ENOMEM;
    SSL_set_fd(s->ssl, s->fd);
    SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        if (tls_client_set_peer(s->ssl, sni) < 0) {
            SSL_free(s->ssl);
            s->ssl = NULL;
            return -RM_ENOMEM;
        }
    }
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
    int rc = SSL_do_handshake(s->ssl);
    if (rc == 1) {
        s->want_write = false;
        return 1;
    }
    return tls_result(s, rc);
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
    for (;;) {
        size_t len = evbuffer_get_length(out);
        if (len == 0)
            return total;
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
                return total;
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
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        if (reset)
            net_set_linger0(s->fd);
        close(s->fd);
        s->fd = -1;
    }
}
