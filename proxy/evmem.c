/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/evmem.c — see evmem.h. Each block carries a 16-byte header with its size class, so
 * free() needs no lookup; blocks freed on another thread than they were allocated on simply
 * join that thread's lists. A thread's lists are freed when it exits (pthread key
 * destructor); the main thread's stay reachable until the process ends. */
#include "proxy/evmem.h"

#include <event2/event.h>
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

#define MIN_SHIFT 6  /* 64 B */
#define MAX_SHIFT 18 /* 256 KiB */
#define N_CLASSES (MAX_SHIFT - MIN_SHIFT + 1)
#define CLASS_NONE 0xffu /* larger than the largest class: plain malloc */
#define HDR 16u          /* keeps malloc's 16-byte alignment */

struct blk {
    struct blk *next; /* in a free list (overlays the user bytes) */
};

struct lists {
    struct blk *head[N_CLASSES];
    unsigned n[N_CLASSES];
};

static pthread_key_t key;
static __thread struct lists *tl;

/* How many free blocks a thread keeps per class: many small ones, two of the 128 KiB read
 * chains and one 256 KiB block, so an idle worker holds well under 1 MiB. */
static unsigned keep_max(unsigned cls)
{
    unsigned shift = cls + MIN_SHIFT;
    return shift <= 12 ? 32 : shift <= 15 ? 8 : shift <= 17 ? 2 : 1;
}

static unsigned class_of(size_t n)
{
    if (n + HDR > ((size_t)1 << MAX_SHIFT))
        return CLASS_NONE;
    size_t need = n + HDR - 1; /* the class is the smallest 2^shift >= n + HDR */
    unsigned shift = need < ((size_t)1 << MIN_SHIFT)
                         ? MIN_SHIFT
                         : (unsigned)(sizeof(unsigned long) * 8) - (unsigned)__builtin_clzl(need);
    return shift - MIN_SHIFT;
}

static size_t class_size(unsigned cls)
{
    return (size_t)1 << (cls + MIN_SHIFT);
}

static void lists_free(void *arg)
{
    struct lists *l = arg;
    for (unsigned c = 0; c < N_CLASSES; c++) {
        while (l->head[c]) {
            struct blk *b = l->head[c];
            l->head[c] = b->next;
            free((char *)b - HDR);
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
    unsigned cls = class_of(n);
    if (cls != CLASS_NONE) {
        struct lists *l = lists_get();
        if (l && l->head[cls]) {
            struct blk *b = l->head[cls];
            l->head[cls] = b->next;
            l->n[cls]--;
            return b;
        }
    }
    size_t total = cls == CLASS_NONE ? n + HDR : class_size(cls);
    if (total < n)
        return NULL; /* overflow */
    unsigned char *p = malloc(total);
    if (!p)
        return NULL;
    p[0] = (unsigned char)cls;
    return p + HDR;
}

static void ev_free(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *base = (unsigned char *)ptr - HDR;
    unsigned cls = base[0];
    if (cls != CLASS_NONE) {
        struct lists *l = lists_get();
        if (l && l->n[cls] < keep_max(cls)) {
            struct blk *b = ptr;
            b->next = l->head[cls];
            l->head[cls] = b;
            l->n[cls]++;
            return;
        }
    }
    free(base);
}

static void *ev_realloc(void *ptr, size_t n)
{
    if (!ptr)
        return ev_malloc(n);
    unsigned char *base = (unsigned char *)ptr - HDR;
    unsigned cls = base[0];
    if (cls == CLASS_NONE) {
        /* A plain block stays plain, whatever its new size (freed with free()). */
        unsigned char *p = realloc(base, n + HDR);
        if (!p)
            return NULL;
        p[0] = (unsigned char)CLASS_NONE;
        return p + HDR;
    }
    if (n + HDR <= class_size(cls))
        return ptr;
    void *q = ev_malloc(n);
    if (!q)
        return NULL;
    memcpy(q, ptr, class_size(cls) - HDR);
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
