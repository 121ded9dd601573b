/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/tcp.c — remora-load's raw TCP mode: each connection streams a fixed pattern for -d
 * seconds or its share of --bytes, then shuts its write side and waits for the peer's FIN
 * (an echo server closes after echoing everything). Whatever comes back is read and counted. */
#include "bench/load/load.h"

#include <event2/buffer.h>

#define TCP_BLOCK 65536
#define TCP_QUEUE (256u * 1024) /* bytes kept queued per connection */

static const char tcp_pattern[TCP_BLOCK] = {[0 ... TCP_BLOCK - 1] = 'r'};

void tcp_start(struct lconn *c)
{
    if (!lopt.tcp_bytes) {
        c->tcp_left = UINT64_MAX;
        return;
    }
    /* Connection k sends its even share; the first ones take the remainder. */
    uint64_t share = lopt.tcp_bytes / (uint64_t)lopt.conns;
    uint64_t extra = lopt.tcp_bytes % (uint64_t)lopt.conns;
    c->tcp_left = share + ((uint64_t)(c->w->first_conn + c->idx) < extra ? 1 : 0);
}

void tcp_pump(struct lconn *c)
{
    size_t chunk = lopt.tcp_chunk ? lopt.tcp_chunk : TCP_BLOCK;
    if (c->w->stopping && c->tcp_left == UINT64_MAX)
        return;
    while (c->tcp_left > 0 && evbuffer_get_length(c->out) < TCP_QUEUE) {
        size_t n = chunk;
        if (c->tcp_left != UINT64_MAX && c->tcp_left < n)
            n = (size_t)c->tcp_left;
        evbuffer_add_reference(c->out, tcp_pattern, n, NULL, NULL);
        if (c->tcp_left != UINT64_MAX)
            c->tcp_left -= n;
    }
}

void tcp_input(struct lconn *c, size_t n)
{
    lbuf_consume(&c->in, n);
}
