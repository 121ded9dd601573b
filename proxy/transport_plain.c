/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/transport_plain.c — raw_buffer: plain TCP through evbuffer readv/writev. */
#include "proxy/transport.h"

#include <errno.h>
#include <event2/buffer.h>
#include <sys/socket.h>

#include "proxy/conn.h"
#include "proxy/err.h"

static long plain_read(struct conn *c, struct evbuffer *buf, size_t max)
{
    int n = evbuffer_read(buf, c->fd, (int)(max > (1u << 30) ? (1u << 30) : max));
    if (n > 0)
        return n;
    if (n == 0)
        return -RM_ECLOSED;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    c->err = errno;
    return -RM_EIO;
}

static long plain_write(struct conn *c, struct evbuffer *buf)
{
    int n = evbuffer_write(buf, c->fd);
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
