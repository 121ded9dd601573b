/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/evmem.c — see evmem.h. Blocks freed on another thread than they were allocated on
 * simply join that thread's lists. A thread's lists are freed when it exits (pthread key
 * destructor); the main thread's stay reachable until the process ends. */
#include "proxy/evmem.h"

#include <event2/event.h>
#include <malloc.h>
#include <pthread.h>
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
#else

/* Blocks of 1 KiB and more (buffer chains) are cached by power-of-two class; smaller ones
 * (evbuffer and event structures) go straight to malloc, so a connection's small objects
 * cost exactly what they did. No header: free() asks malloc_usable_size() which class a
 * block can serve (any block of at least 2^k bytes can serve a request of class k). */
#define MIN_SHIFT 10 /* 1 KiB */
#define MAX_SHIFT 18 /* 256 KiB */
#define N_CLASSES (MAX_SHIFT - MIN_SHIFT + 1)

struct blk {
    struct blk *next; /* in a free list (overlays the user bytes) */
};

struct lists {
    struct blk *head[N_CLASSES];
    unsigned n[N_CLASSES];
};

static pthread_key_t key;
static __thread struct lists *tl;

/* How many free blocks a thread keeps per class: a few small chains, two of the 128 KiB
 * read chains and one 256 KiB block, so an idle worker holds well under 1 MiB. */
static unsigned keep_max(unsigned cls)
{
    unsigned shift = cls + MIN_SHIFT;
    return shift <= 12 ? 16 : shift <= 15 ? 4 : shift <= 17 ? 2 : 1;
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

static struct lists *lists_get(void)
{
    if (tl)
        return tl;
    tl = calloc(1, sizeof(*tl));
    if (tl)
        pthread_setspecific(key, tl);
    return tl;
}

static void *ev_malloc(size_t n)
{
    if (n < ((size_t)1 << MIN_SHIFT) || n > ((size_t)1 << MAX_SHIFT))
        return malloc(n);
    unsigned shift = log2_floor(n - 1) + 1; /* smallest 2^shift >= n */
    unsigned cls = shift - MIN_SHIFT;
    struct lists *l = lists_get();
    if (l && l->head[cls]) {
        struct blk *b = l->head[cls];
        l->head[cls] = b->next;
        l->n[cls]--;
        return b;
    }
    return malloc((size_t)1 << shift);
}

static void ev_free(void *ptr)
{
    if (!ptr)
        return;
    size_t u = malloc_usable_size(ptr);
    if (u >= ((size_t)1 << MIN_SHIFT)) {
        unsigned shift = log2_floor(u);
        if (shift > MAX_SHIFT)
            shift = MAX_SHIFT;
        unsigned cls = shift - MIN_SHIFT;
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

void evmem_install(void)
{
    if (pthread_key_create(&key, lists_free) != 0)
        return; /* keep libevent's default (malloc) */
    event_set_mem_functions(ev_malloc, ev_realloc, ev_free);
}

#endif
