/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/evmem_test.c — libevent on the per-thread free-list allocator
 * (proxy/evmem.c): buffers of every size class and beyond keep their bytes exactly through
 * adds, drains, reserves, moves and frees, on the main thread and on threads that exit
 * (their lists are freed by the key destructor). Under ASan the allocator is off and this
 * checks libevent's own allocator the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/evmem.h"
#include <nghttp2/nghttp2.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A model of the bytes a buffer must hold: a running counter pattern. */
struct model {
    uint64_t head, tail; /* positions of the first and one-past-last byte */
};

static void add(struct evbuffer *b, struct model *m, size_t n)
{
    unsigned char *tmp = malloc(n ? n : 1);
    assert_non_null(tmp);
    for (size_t i = 0; i < n; i++)
        tmp[i] = (unsigned char)((m->tail + i) * 131u >> 3);
    if (next() & 1) {
        assert_int_equal(evbuffer_add(b, tmp, n), 0);
    } else {
        /* through reserve/commit, as the read path does */
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(b, (ev_ssize_t)n, v, 2);
        assert_true(nv >= 1);
        size_t off = 0;
        for (int i = 0; i < nv && off < n; i++) {
            size_t k = v[i].iov_len < n - off ? v[i].iov_len : n - off;
            memcpy(v[i].iov_base, tmp + off, k);
            v[i].iov_len = k;
            off += k;
        }
        assert_int_equal(off, n);
        assert_int_equal(evbuffer_commit_space(b, v, nv), 0);
    }
    m->tail += n;
    free(tmp);
}

static void check_and_drain(struct evbuffer *b, struct model *m, size_t n)
{
    assert_int_equal(evbuffer_get_length(b), m->tail - m->head);
    if (n > m->tail - m->head)
        n = (size_t)(m->tail - m->head);
    unsigned char *tmp = malloc(n ? n : 1);
    assert_non_null(tmp);
    assert_int_equal(evbuffer_remove(b, tmp, n), (int)n);
    for (size_t i = 0; i < n; i++)
        if (tmp[i] != (unsigned char)((m->head + i) * 131u >> 3))
            fail_msg("byte %llu differs", (unsigned long long)(m->head + i));
    m->head += n;
    free(tmp);
}

static void churn(unsigned rounds)
{
    struct evbuffer *b[4];
    struct model m[4];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < 4; i++)
        assert_non_null(b[i] = evbuffer_new());
    static const size_t sizes[] = {1, 40, 63, 64, 100, 1000, 1024, 4000, 65536, 70000, 300000};
    for (unsigned r = 0; r < rounds; r++) {
        int i = (int)(next() % 4);
        size_t n = sizes[next() % (sizeof(sizes) / sizeof(sizes[0]))];
        switch (next() % 3) {
        case 0:
            add(b[i], &m[i], n);
            break;
        case 1:
            check_and_drain(b[i], &m[i], n);
            break;
        default: {
            /* move everything of one buffer behind another (chains change owner) */
            int j = (i + 1) % 4;
            check_and_drain(b[j], &m[j], (size_t)(m[j].tail - m[j].head));
            m[j].head = m[j].tail = m[i].head;
            m[j].tail = m[i].tail;
            assert_int_equal(evbuffer_add_buffer(b[j], b[i]), 0);
            m[i].head = m[i].tail = 0;
            break;
        }
        }
    }
    for (int i = 0; i < 4; i++) {
        check_and_drain(b[i], &m[i], (size_t)(m[i].tail - m[i].head));
        evbuffer_free(b[i]);
    }
}

static void test_buffers_keep_their_bytes(void **state)
{
    (void)state;
    churn(3000);
}

static void *thread_main(void *arg)
{
    (void)arg;
    churn(500);
    return NULL;
}

static void test_threads_exit_cleanly(void **state)
{
    (void)state;
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    /* Blocks freed on one thread and reused on another. */
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    evbuffer_add(b, "x", 1);
    evbuffer_free(b);
}

/* nghttp2's allocator: blocks of every class (and beyond) hold what was written through
 * calloc, realloc and reuse; calloc zeroes reused blocks; an overflowing calloc fails
 * (outside ASan builds). */
static void test_nghttp2_allocator(void **state)
{
    (void)state;
    nghttp2_mem *mem = evmem_nghttp2();
    assert_non_null(mem);
    enum { N = 600 };
    unsigned char *p[N] = {0};
    size_t len[N] = {0};
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = (size_t)(next() % (next() % 16 == 0 ? 300000 : 1500)) + 1;
            unsigned op = (unsigned)(next() % 4);
            if (p[i] && op == 0) { /* grow or shrink, keeping the common prefix */
                unsigned char *q = mem->realloc(p[i], n, mem->mem_user_data);
                assert_non_null(q);
                size_t keep = len[i] < n ? len[i] : n;
                for (size_t k = 0; k < keep; k++)
                    assert_int_equal(q[k], (unsigned char)(i + k));
                for (size_t k = keep; k < n; k++)
                    q[k] = (unsigned char)(i + k);
                p[i] = q;
                len[i] = n;
                continue;
            }
            if (p[i]) {
                for (size_t k = 0; k < len[i]; k++)
                    assert_int_equal(p[i][k], (unsigned char)(i + k));
                mem->free(p[i], mem->mem_user_data);
            }
            if (op == 1) {
                p[i] = mem->calloc(1, n, mem->mem_user_data);
                assert_non_null(p[i]);
                for (size_t k = 0; k < n; k++)
                    assert_int_equal(p[i][k], 0);
            } else {
                p[i] = mem->malloc(n, mem->mem_user_data);
                assert_non_null(p[i]);
            }
            for (size_t k = 0; k < n; k++)
                p[i][k] = (unsigned char)(i + k);
            len[i] = n;
        }
    }
    for (int i = 0; i < N; i++)
        mem->free(p[i], mem->mem_user_data);
    mem->free(NULL, mem->mem_user_data);
#if !defined(__SANITIZE_ADDRESS__) /* ASan aborts on an overflowing calloc by design */
    assert_null(mem->calloc(SIZE_MAX / 2, 4, mem->mem_user_data));
#endif
}

int main(void)
{
    evmem_install(); /* before any libevent call, as in main() */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffers_keep_their_bytes),
        cmocka_unit_test(test_threads_exit_cleanly),
        cmocka_unit_test(test_nghttp2_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
