/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/arena.c — see arena.h. */
#include "proxy/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/err.h"

#define ARENA_ALIGN 16u

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *arg);
    void *arg;
};

void arena_init(struct arena *a, size_t chunk_size)
{
    a->chunks = NULL;
    a->cleanups = NULL;
    a->chunk_size = chunk_size ? chunk_size : 4096;
    a->allocated = 0;
}

void arena_fini(struct arena *a)
{
    while (a->cleanups) {
        struct arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->arg);
    }
    while (a->chunks) {
        struct arena_chunk *ch = a->chunks;
        a->chunks = ch->next;
        free(ch);
    }
    a->allocated = 0;
}

void arena_reset(struct arena *a)
{
    while (a->cleanups) {
        struct arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->arg);
    }
    struct arena_chunk *keep = NULL;
    while (a->chunks) {
        struct arena_chunk *ch = a->chunks;
        a->chunks = ch->next;
        if (!a->chunks && ch->size + sizeof(*ch) == a->chunk_size) {
            keep = ch; /* the oldest, regular-sized chunk */
            break;
        }
        a->allocated -= sizeof(*ch) + ch->size;
        free(ch);
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
        a->chunks = keep;
    }
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < n)
        return NULL;
    struct arena_chunk *ch = a->chunks;
    if (!ch || ch->size - ch->used < need) {
        /* Large requests get a chunk of their own, kept behind the current one so the
         * remaining space of the current chunk is not wasted. */
        size_t sz = need > a->chunk_size / 4 ? need : a->chunk_size - sizeof(*ch);
        if (sz > SIZE_MAX - sizeof(*ch))
            return NULL;
        struct arena_chunk *nc = malloc(sizeof(*nc) + sz);
        if (!nc)
            return NULL;
        nc->size = sz;
        nc->used = 0;
        a->allocated += sizeof(*nc) + sz;
        if (ch && sz == need) {
            nc->next = ch->next;
            ch->next = nc;
        } else {
            nc->next = ch;
            a->chunks = nc;
        }
        ch = nc;
    }
    void *p = ch->data + ch->used;
    ch->used += need;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_sprintf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int arena_on_free(struct arena *a, void (*fn)(void *arg), void *arg)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof(*c));
    if (!c)
        return -RM_ENOMEM;
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}
