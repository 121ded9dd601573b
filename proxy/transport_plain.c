/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/transport_plain.c — raw_buffer: plain TCP through evbuffer readv/writev. */
#include "proxy/transport.h"

#include <errno.h>
#include <stdbool.h>
#include <event2/buffer.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "proxy/conn.h"
#include "proxy/err.h"

/* Reads straight into space reserved in |buf| (zero copy). libevent 2.1's evbuffer_read()
 * costs an FIONREAD ioctl per call and caps each read at 4 KiB, which limits a proxy to a
 * few hundred MB/s; this reads up to |max| bytes in 64 KiB reservations instead.
 *
 * One contiguous span goes through recv(2)/send(2), more through readv(2)/writev(2): the
 * vectored calls pay for fdget_pos, rw_verify_area and copying the iovec array in, a few
 * per cent of a small request's kernel time (perf, bench/README.md). An empty buffer (the
 * usual case between requests) reads into one fresh chain; one that already holds bytes
 * fills the free tail of its last chain first, so partial reads waste no memory. */
#define READ_RESERVE (64u * 1024u)

static long plain_read(struct conn *c, struct evbuffer *buf, size_t max)
{
    long total = 0;
    /* An end or error seen after data was returned is reported on the next call: the
     * kernel reports ECONNRESET only once. */
    if (c->flags & CONN_F_RD_ERR_PENDING) {
        c->flags &= ~CONN_F_RD_ERR_PENDING;
        return -RM_EIO;
    }
    if (c->flags & CONN_F_RD_EOF_PENDING) {
        c->flags &= ~CONN_F_RD_EOF_PENDING;
        return -RM_ECLOSED;
    }
    while ((size_t)total < max) {
        size_t want = max - (size_t)total;
        if (want > READ_RESERVE)
            want = READ_RESERVE;
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(buf, (ev_ssize_t)want, v, evbuffer_get_length(buf) ? 2 : 1);
        if (nv <= 0)
            return total ? total : -RM_ENOMEM;
        struct iovec iov[2];
        size_t cap = 0;
        for (int i = 0; i < nv; i++) {
            if (v[i].iov_len > want - cap)
                v[i].iov_len = want - cap;
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
            cap += v[i].iov_len;
        }
        ssize_t n =
            nv == 1 ? recv(c->fd, iov[0].iov_base, iov[0].iov_len, 0) : readv(c->fd, iov, nv);
        if (n <= 0) {
            evbuffer_commit_space(buf, v, 0);
            bool again = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
            if (n < 0 && !again)
                c->err = errno;
            if (total > 0) {
                if (n == 0)
                    c->flags |= CONN_F_RD_EOF_PENDING;
                else if (!again)
                    c->flags |= CONN_F_RD_ERR_PENDING;
                return total;
            }
            if (n == 0)
                return -RM_ECLOSED;
            return again ? 0 : -RM_EIO;
        }
        size_t left = (size_t)n;
        int used = 0;
        for (int i = 0; i < nv && left > 0; i++, used++) {
            if (v[i].iov_len > left)
                v[i].iov_len = left;
            left -= v[i].iov_len;
        }
        evbuffer_commit_space(buf, v, used);
        total += n;
        if ((size_t)n < cap)
            break; /* the socket is drained for now */
    }
    return total;
}

static long plain_write(struct conn *c, struct evbuffer *buf)
{
    struct evbuffer_iovec v;
    long n;
    /* peek with one vector fills in the first chain only (whatever follows it). */
    if (evbuffer_peek(buf, -1, NULL, &v, 1) >= 1 && v.iov_len == evbuffer_get_length(buf)) {
        n = send(c->fd, v.iov_base, v.iov_len, MSG_NOSIGNAL);
        if (n > 0)
            evbuffer_drain(buf, (size_t)n);
    } else {
        n = evbuffer_write(buf, c->fd);
    }
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    c->err = errno;
    return -RM_EIO;
}

static int plain_shutdown_write(struct conn *c)
{
    if (shutdown(c->fd, SHUT_WR) < 0) {
        c->err = errno;
        return -RM_EIO;
    }
    return 0;
}

static void plain_free(struct conn *c)
{
    (void)c;
}

const struct transport_ops transport_plain = {
    .name = "raw_buffer",
    .read = plain_read,
    .write = plain_write,
    .shutdown_write = plain_shutdown_write,
    .free = plain_free,
};
