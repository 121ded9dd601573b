/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/transport.h — the layer between a socket and the filters (Envoy's transport
 * socket, curl's connection filters). A conn reads and writes through its transport's ops;
 * plain TCP is transport_plain.c, BoringSSL TLS is transport_tls.c with the same ops
 * (handshake inside read/write; peer identity in tls.h). A transport whose read needs the
 * socket writable, or whose write needs it readable (a TLS handshake), sets
 * CONN_F_TP_RD_WANTS_W / CONN_F_TP_WR_WANTS_R on the conn and returns 0; a write that read
 * input its reads must now deliver (a handshake finished inside it) sets CONN_F_TP_RD_KICK. */
#ifndef RM_TRANSPORT_H
#define RM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

struct conn;
struct evbuffer;

struct transport_ops {
    const char *name; /* "raw_buffer", "tls" (Envoy's transport_protocol names) */
    /* Reads at most |max| bytes from the socket into |buf|. Returns >0 bytes appended,
     * 0 when it would block, -RM_ECLOSED at end of stream, or another -RM_E* on error
     * (errno preserved for logging). */
    long (*read)(struct conn *c, struct evbuffer *buf, size_t max);
    /* Writes from the front of |buf| (draining what was sent). Returns >0 bytes sent, 0
     * when it would block, or -RM_E* on error. */
    long (*write)(struct conn *c, struct evbuffer *buf);
    /* Half-closes the write side once everything was written (TCP FIN / TLS close_notify). */
    int (*shutdown_write)(struct conn *c);
    /* Releases transport state (the conn closes the fd). */
    void (*free)(struct conn *c);
    /* Optional: output bytes the transport holds outside c->out (splice pipes). */
    size_t (*pending)(const struct conn *c);
    /* Optional: true when input already read from the socket waits inside the transport
     * (TLS records, or an end of stream seen after the data last returned), so the conn
     * must read again without waiting for the socket. Asked only of conns flagged
     * CONN_F_TP_BUFFERS. */
    bool (*buffered)(const struct conn *c);
};

extern const struct transport_ops transport_plain;
extern const struct transport_ops transport_splice;
extern const struct transport_ops transport_tls; /* proxy/transport_tls.c; setup in tls.h */

/* Switches two connected plain conns of one TCP session to splice(2) relaying (both
 * directions). Returns 0, or -RM_E* (then both stay plain). */
int transport_splice_pair(struct conn *a, struct conn *b);

#endif
