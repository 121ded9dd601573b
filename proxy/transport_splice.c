/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/transport_splice.c — zero-copy TCP relay for tcp_proxy: bytes go socket → pipe →
 * socket with splice(2) and never reach user space (HAProxy's splicing). A session switches
 * both of its plain connections to this transport once the transfer is large and both
 * evbuffers are empty; each conn then reads into its peer's pipe and writes from its own.
 * Each conn owns the read end of its output pipe (so a closing conn can still flush it) and
 * the write end of the pipe it reads into. Worker thread only. */
#include "proxy/transport.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/conn.h"
#include "proxy/err.h"

struct splice_ctx {
    int out_r;            /* read end of the pipe feeding this conn's socket (owned) */
    int in_w;             /* write end of the pipe this conn's reads go into (owned) */
    size_t out_pending;   /* bytes in this conn's output pipe */
    size_t *peer_pending; /* the peer's out_pending (the pipe we read into) */
};

#define SPLICE_MAX (256u * 1024u)

static long splice_read(struct conn *c, struct evbuffer *buf, size_t max)
{
    struct splice_ctx *x = c->tp_ctx;
    (void)buf;
    if (c->flags & CONN_F_CLOSE_FLUSH)
        return transport_plain.read(c, buf, max); /* lingering: discard as plain bytes */
    ssize_t n = splice(c->fd, NULL, x->in_w, NULL, max < SPLICE_MAX ? max : SPLICE_MAX,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
        *x->peer_pending += (size_t)n;
        return n;
    }
    if (n == 0)
        return -RM_ECLOSED;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0; /* socket empty or pipe full: the owner pauses reading while it is full */
    c->err = errno;
    return -RM_EIO;
}

static long splice_write(struct conn *c, struct evbuffer *buf)
{
    struct splice_ctx *x = c->tp_ctx;
    long total = 0;
    if (evbuffer_get_length(buf) > 0) { /* bytes queued before the switch go first */
        long n = transport_plain.write(c, buf);
        if (n <= 0 || evbuffer_get_length(buf) > 0)
            return n;
        total = n;
    }
    if (x->out_pending == 0)
        return total;
    ssize_t n =
        splice(x->out_r, NULL, c->fd, NULL, x->out_pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
        x->out_pending -= (size_t)n;
        return total + n;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->err = errno;
        return -RM_EIO;
    }
    return total;
}

static int splice_shutdown_write(struct conn *c)
{
    return transport_plain.shutdown_write(c);
}

static size_t splice_pending(const struct conn *c)
{
    const struct splice_ctx *x = c->tp_ctx;
    return x->out_pending;
}

static void splice_free(struct conn *c)
{
    struct splice_ctx *x = c->tp_ctx;
    if (!x)
        return;
    close(x->out_r);
    close(x->in_w);
    free(x);
    c->tp_ctx = NULL;
}

const struct transport_ops transport_splice = {
    .name = "raw_buffer",
    .read = splice_read,
    .write = splice_write,
    .shutdown_write = splice_shutdown_write,
    .free = splice_free,
    .pending = splice_pending,
};

int transport_splice_pair(struct conn *a, struct conn *b)
{
    if (a->tp != &transport_plain || b->tp != &transport_plain)
        return -RM_EINVAL;
    int ab[2], ba[2]; /* a → b, b → a */
    if (pipe2(ab, O_NONBLOCK | O_CLOEXEC) < 0)
        return -RM_EIO;
    if (pipe2(ba, O_NONBLOCK | O_CLOEXEC) < 0) {
        close(ab[0]);
        close(ab[1]);
        return -RM_EIO;
    }
    /* Bigger pipes, fewer splice calls (best effort: capped by fs.pipe-max-size). */
    fcntl(ab[0], F_SETPIPE_SZ, (int)SPLICE_MAX);
    fcntl(ba[0], F_SETPIPE_SZ, (int)SPLICE_MAX);
    struct splice_ctx *xa = calloc(1, sizeof(*xa)), *xb = calloc(1, sizeof(*xb));
    if (!xa || !xb) {
        free(xa);
        free(xb);
        close(ab[0]);
        close(ab[1]);
        close(ba[0]);
        close(ba[1]);
        return -RM_ENOMEM;
    }
    xa->in_w = ab[1];  /* a reads into a→b */
    xb->out_r = ab[0]; /* b writes from a→b */
    xb->in_w = ba[1];
    xa->out_r = ba[0];
    xa->peer_pending = &xb->out_pending;
    xb->peer_pending = &xa->out_pending;
    a->tp = &transport_splice;
    a->tp_ctx = xa;
    b->tp = &transport_splice;
    b->tp_ctx = xb;
    a->flags |= CONN_F_SPLICE;
    b->flags |= CONN_F_SPLICE;
    return 0;
}
