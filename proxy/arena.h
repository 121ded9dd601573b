/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/arena.h — bump allocator with cleanup hooks (nginx pools, h2o mem pools).
 * Used per stream, per config document and per snapshot: everything allocated from an
 * arena is released in one arena_fini(). Cleanup hooks run in reverse order of
 * registration before the memory goes. Not thread-safe; an arena has one owner at a time. */
#ifndef RM_ARENA_H
#define RM_ARENA_H

#include <stddef.h>

struct arena_chunk;
struct arena_cleanup;

struct arena {
    struct arena_chunk *chunks;     /* newest first */
    struct arena_cleanup *cleanups; /* newest first */
    size_t chunk_size;              /* default size of a new chunk, bytes */
    size_t allocated;               /* bytes obtained from malloc, for /memory-like stats */
};

/* Initialises |a|; |chunk_size| 0 selects 4 KiB. Allocates nothing until first use. */
void arena_init(struct arena *a, size_t chunk_size);
/* Runs cleanups (newest first) and frees every chunk. |a| may be re-initialised after. */
void arena_fini(struct arena *a);

/* Runs the cleanups and forgets every allocation but keeps the oldest chunk for reuse
 * (a per-connection arena reused stream after stream). */
void arena_reset(struct arena *a);

/* Returns |n| bytes aligned for any type, or NULL when malloc fails. Never returns memory
 * that must be freed by the caller. arena_zalloc() zero-fills. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);
/* Copies |n| bytes of |s| and appends a NUL. Returns NULL on allocation failure. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
/* printf into the arena; returns NULL on allocation failure. */
char *arena_sprintf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Registers |fn(arg)| to run at arena_fini(). Returns 0 or -RM_ENOMEM. */
int arena_on_free(struct arena *a, void (*fn)(void *arg), void *arg);

#endif
