/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/evmem.c — see evmem.h. Blocks freed on another thread than they were allocated on
 * simply join that thread's lists. A thread's lists are freed when it exits (pthread key
 * destructor); the main thread's stay reachable until the process ends. */
#include "proxy/evmem.h"

#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define EVMEM_DISABLED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVMEM_DISABLED 1
#endif
#endif

#ifdef EVMEM_DISABLED
void evmem_install(void)
{
}

static void *h2_malloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n);
}

static void h2_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static void *h2_calloc(size_t nmemb, size_t size, void *ud)
{
    (void)ud;
    return calloc(nmemb, size);
}

static void *h2_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return realloc(p, n);
}
#else

/* Blocks of 1 KiB and more (buffer chains) are cached by power-of-two class; smaller ones
 * (evbuffer and event structures) go straight to malloc, so a connection's small objects
 * cost exactly what they did. No header: free() asks malloc_usable_size() which class a
 * block can serve (any block of at least 2^k bytes can serve a request of class k).
 * nghttp2's allocator (evmem_nghttp2) also caches the classes below 1 KiB, from 64 bytes:
 * its stream objects, queued frames and header copies live for one stream. */
#define SMALL_SHIFT 6 /* 64 B: the smallest class nghttp2 gets */
#define MIN_SHIFT 10  /* 1 KiB: the smallest class libevent gets */
#define MAX_SHIFT 18  /* 256 KiB */
#define N_CLASSES (MAX_SHIFT - SMALL_SHIFT + 1)
#define CLS(shift) ((shift)-SMALL_SHIFT)

struct blk {
    struct blk *next; /* in a free list (overlays the user bytes) */
};

struct lists {
    struct blk *head[N_CLASSES];
    unsigned n[N_CLASSES];
};

static pthread_key_t key;
static __thread struct lists *tl;

/* How many free blocks a thread keeps per class: 256 of each class below 1 KiB (what a
 * worker's HTTP/2 streams in flight churn through: at most 240 KiB), a few small chains,
 * two of the 128 KiB read chains and one 256 KiB block, so an idle worker holds about
 * 1 MiB at most. */
static unsigned keep_max(unsigned cls)
{
    unsigned shift = cls + SMALL_SHIFT;
    return shift < MIN_SHIFT ? 256 : shift <= 12 ? 16 : shift <= 15 ? 4 : shift <= 17 ? 2 : 1;
}

static unsigned log2_floor(size_t n)
{
    return (unsigned)(sizeof(unsigned long) * 8 - 1) - (unsigned)__builtin_clzl(n);
}

static void lists_free(void *arg)
{
    struct lists *l = arg;
    for (unsigned c = 0; c < N_CLASSES; c++) {
        while (l->head[c]) {
            struct blk *b = l->head[c];
            l->head[c] = b->next;
            free(b);
        }
    }
    free(l);
}

static bool key_ok; /* evmem_install() ran: the lists exist; else everything is malloc */

static struct lists *lists_get(void)
{
    if (tl)
        return tl;
    if (!key_ok)
        return NULL;
    tl = calloc(1, sizeof(*tl));
    if (tl)
        pthread_setspecific(key, tl);
    return tl;
}

/* A block of at least |n| bytes, |n| in [2^min_shift, 2^MAX_SHIFT]. */
static void *cached_malloc(size_t n, unsigned min_shift)
{
    if (n < ((size_t)1 << min_shift))
        n = (size_t)1 << min_shift;
    else if (n > ((size_t)1 << MAX_SHIFT))
        return malloc(n);
    unsigned shift = log2_floor(n - 1) + 1; /* smallest 2^shift >= n */
    unsigned cls = CLS(shift);
    struct lists *l = lists_get();
    if (l && l->head[cls]) {
        struct blk *b = l->head[cls];
        l->head[cls] = b->next;
        l->n[cls]--;
        return b;
    }
    return malloc((size_t)1 << shift);
}

static void *ev_malloc(size_t n)
{
    if (n < ((size_t)1 << MIN_SHIFT))
        return malloc(n);
    return cached_malloc(n, MIN_SHIFT);
}

/* Keeps |ptr| if it is a block of a class at or above 2^min_shift and the list has room. */
static void cached_free(void *ptr, unsigned min_shift)
{
    if (!ptr)
        return;
    size_t u = malloc_usable_size(ptr);
    if (u >= ((size_t)1 << min_shift)) {
        unsigned shift = log2_floor(u);
        if (shift > MAX_SHIFT)
            shift = MAX_SHIFT;
        unsigned cls = CLS(shift);
        struct lists *l = lists_get();
        if (l && l->n[cls] < keep_max(cls)) {
            struct blk *b = ptr;
            b->next = l->head[cls];
            l->head[cls] = b;
            l->n[cls]++;
            return;
        }
    }
    free(ptr);
}

static void ev_free(void *ptr)
{
    cached_free(ptr, MIN_SHIFT);
}

static void *ev_realloc(void *ptr, size_t n)
{
    if (!ptr)
        return ev_malloc(n);
    size_t u = malloc_usable_size(ptr);
    if (n <= u)
        return ptr;
    void *q = ev_malloc(n);
    if (!q)
        return NULL;
    memcpy(q, ptr, u);
    ev_free(ptr);
    return q;
}

static void *h2_malloc(size_t n, void *ud)
{
    (void)ud;
    return cached_malloc(n, SMALL_SHIFT);
}

static void h2_free(void *p, void *ud)
{
    (void)ud;
    cached_free(p, SMALL_SHIFT);
}

static void *h2_calloc(size_t nmemb, size_t size, void *ud)
{
    (void)ud;
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n))
        return NULL;
    void *p = cached_malloc(n, SMALL_SHIFT);
    if (p)
        memset(p, 0, n);
    return p;
}

static void *h2_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    if (!p)
        return cached_malloc(n, SMALL_SHIFT);
    size_t u = malloc_usable_size(p);
    if (n <= u)
        return p;
    void *q = cached_malloc(n, SMALL_SHIFT);
    if (!q)
        return NULL;
    memcpy(q, p, u);
    cached_free(p, SMALL_SHIFT);
    return q;
}

void evmem_install(void)
{
    if (pthread_key_create(&key, lists_free) != 0)
        return; /* keep libevent's default (malloc) */
    key_ok = true;
    event_set_mem_functions(ev_malloc, ev_realloc, ev_free);
}

#endif

nghttp2_mem *evmem_nghttp2(void)
{
    static nghttp2_mem mem = {NULL, h2_malloc, h2_free, h2_calloc, h2_realloc};
    return &mem;
}
