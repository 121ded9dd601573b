/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/evmem.h — libevent's memory functions (event_set_mem_functions) backed by small
 * per-thread free lists of power-of-two blocks. libevent allocates a buffer chain whenever
 * an empty evbuffer gets data (every read reserves 64 KiB: a 128 KiB chain; every head
 * written starts a 1 KiB one) and frees it when drained: four malloc/free pairs per proxied
 * keep-alive request, about a tenth of its instructions. The lists keep a few blocks per size
 * class (1 KiB .. 256 KiB) and thread, so that memory is reused at once without touching
 * glibc's bins; smaller allocations go to malloc unchanged. */
#ifndef RM_EVMEM_H
#define RM_EVMEM_H

#include <nghttp2/nghttp2.h>

/* Installs the allocator. Must run before any other libevent call (first thing in main).
 * A no-op in sanitizer builds, where every allocation must stay visible to ASan. */
void evmem_install(void);

/* nghttp2's allocator (nghttp2_session_*_new3): the same per-thread lists, with classes from
 * 64 bytes, since a session allocates and frees a few small objects for every stream. Plain
 * malloc in sanitizer builds. The lists must not be used after the thread exits. */
nghttp2_mem *evmem_nghttp2(void);

#endif
