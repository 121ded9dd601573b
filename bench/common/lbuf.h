/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/lbuf.h — a growable linear byte buffer with a read offset, for parsers that
 * want contiguous bytes (HTTP/1 heads). Header-only; one owner, no locking. Capped at |max|
 * so a peer can never make us buffer without bound. */
#ifndef BENCH_LBUF_H
#define BENCH_LBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct lbuf {
    char *data; /* malloc'd; NULL until the first reserve */
    size_t off; /* first unread byte */
    size_t len; /* end of valid bytes (off <= len <= cap) */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on cap */
};

static inline void lbuf_init(struct lbuf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

static inline void lbuf_fini(struct lbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static inline size_t lbuf_used(const struct lbuf *b)
{
    return b->len - b->off;
}

static inline char *lbuf_head(const struct lbuf *b)
{
    return b->data + b->off;
}

static inline void lbuf_consume(struct lbuf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

/* Makes room for at least |want| more bytes when possible (compacting first, then growing up
 * to |max|). Returns the writable space at data + len, 0 when the buffer is full or
 * allocation failed. */
static inline size_t lbuf_reserve(struct lbuf *b, size_t want)
{
    if (b->cap - b->len >= want)
        return b->cap - b->len;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= want)
            return b->cap - b->len;
    }
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->len < want && ncap < b->max)
        ncap *= 2;
    if (ncap > b->max)
        ncap = b->max;
    if (ncap > b->cap) {
        char *p = realloc(b->data, ncap);
        if (!p)
            return b->cap - b->len;
        b->data = p;
        b->cap = ncap;
    }
    return b->cap - b->len;
}

static inline bool lbuf_is_full(const struct lbuf *b)
{
    return b->off == 0 && b->len >= b->max;
}

#endif
