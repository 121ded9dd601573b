/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/h1_fuzz_common.h — invariants shared by fuzz_h1_request and fuzz_h1_response:
 * the same bytes fed whole, split at a fuzzer-chosen point and in small steps must render
 * identically, and every complete head, re-serialized, must parse back to the same message
 * (method/target/authority/status, fields in order, trailers, body framing). */
#ifndef RM_TESTS_FUZZ_H1_FUZZ_COMMON_H
#define RM_TESTS_FUZZ_H1_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "tests/unit/proxy/h1_test_util.h"

#define H1F_CHECK(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed: %s\n", #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static inline bool h1f_slice_eq(struct http_slice a, struct http_slice b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool h1f_framing_field(const struct http_slice *n)
{
    return (n->n == 14 && !memcmp(n->p, "content-length", 14)) ||
           (n->n == 17 && !memcmp(n->p, "transfer-encoding", 17));
}

/* Fields of |a| and |b| equal in order, ignoring the framing fields the serializer owns. */
static inline bool h1f_fields_eq(const struct http_hdrs *a, const struct http_hdrs *b)
{
    uint32_t i = 0, j = 0;
    for (;;) {
        while (i < a->n && h1f_framing_field(&a->v[i].name))
            i++;
        while (j < b->n && h1f_framing_field(&b->v[j].name))
            j++;
        if (i == a->n || j == b->n)
            return i == a->n && j == b->n;
        if (!h1f_slice_eq(a->v[i].name, b->v[j].name) ||
            !h1f_slice_eq(a->v[i].value, b->v[j].value))
            return false;
        i++;
        j++;
    }
}

/* Same parse whether whole, split once at |split|, or in |step|-byte feeds. */
static inline void h1f_check_splits(enum h1_role role, const struct h1_config *cfg,
                                    const struct h1t_opts *base, const char *in, size_t len,
                                    size_t split, size_t step)
{
    struct h1t_out whole, part;
    struct h1t_opts o = *base;
    o.step = 0;
    o.split = 0;
    h1t_run(&whole, role, cfg, in, len, &o);
    o.split = split;
    h1t_run(&part, role, cfg, in, len, &o);
    H1F_CHECK(!strcmp(whole.s, part.s), "split %zu\nwhole:\n%s\npart:\n%s\n", split, whole.s,
              part.s);
    h1t_free(&part);
    if (step) {
        o.split = 0;
        o.step = step;
        h1t_run(&part, role, cfg, in, len, &o);
        H1F_CHECK(!strcmp(whole.s, part.s), "step %zu\nwhole:\n%s\npart:\n%s\n", step, whole.s,
                  part.s);
        h1t_free(&part);
    }
    h1t_free(&whole);
}

static inline char *h1f_drain(struct evbuffer *b, size_t *len)
{
    *len = evbuffer_get_length(b);
    char *s = malloc(*len + 1);
    if (!s)
        abort();
    evbuffer_remove(b, s, *len);
    s[*len] = '\0';
    return s;
}

#endif
