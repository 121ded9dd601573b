/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/http_msg_test.c — proxy/http_msg: header map semantics (order,
 * case-insensitive lookup, multiple values, validation), message setters, hop-by-hop
 * stripping and the byte-class tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/http_msg.h"

struct fx {
    struct arena a;
    struct http_msg m;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    arena_init(&f->a, 0);
    http_msg_init(&f->m, &f->a, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    arena_fini(&f->a);
    free(f);
    return 0;
}

static void test_add_get_order(void **state)
{
    struct fx *f = *state;
    struct http_msg *m = &f->m;
    assert_null(http_msg_get(m, "x-a"));
    assert_false(http_msg_has(m, "x-a"));
    assert_int_equal(http_msg_add(m, "X-A", "1"), 0);
    assert_int_equal(http_msg_add(m, "Content-Type", "  text/html  "), 0);
    assert_int_equal(http_msg_add(m, "x-a", "2"), 0);
    assert_int_equal(m->headers.n, 3);
    /* names stored lowercase, NUL-terminated, values trimmed */
    assert_string_equal(m->headers.v[0].name.p, "x-a");
    assert_string_equal(m->headers.v[1].value.p, "text/html");
    assert_int_equal(m->headers.v[1].value.n, 9);
    /* case-insensitive lookups, first value wins */
    assert_string_equal(http_msg_get(m, "X-a")->p, "1");
    assert_string_equal(http_hdrs_get(&m->headers, "CONTENT-TYPE", 12)->p, "text/html");
    assert_int_equal(http_hdrs_count(&m->headers, "X-A", 3), 2);
    /* walking multiple values */
    long i = http_hdrs_find(&m->headers, "x-a", 3, 0);
    assert_int_equal(i, 0);
    i = http_hdrs_find(&m->headers, "x-a", 3, (size_t)i + 1);
    assert_int_equal(i, 2);
    assert_string_equal(m->headers.v[i].value.p, "2");
    assert_int_equal(http_hdrs_find(&m->headers, "x-a", 3, (size_t)i + 1), -1);
    /* a name that is a prefix of another does not match */
    assert_null(http_msg_get(m, "x"));
    assert_null(http_msg_get(m, "content-typ"));
}

static void test_grow(void **state)
{
    struct fx *f = *state;
    char name[16], value[16];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "h%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        assert_int_equal(http_msg_add(&f->m, name, value), 0);
    }
    assert_int_equal(f->m.headers.n, 300);
    assert_true(f->m.headers.cap >= 300);
    for (int i = 0; i < 300; i += 37) {
        snprintf(name, sizeof(name), "H%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        assert_string_equal(http_msg_get(&f->m, name)->p, value);
        assert_string_equal(f->m.headers.v[i].value.p, value);
    }
}

static void test_validation(void **state)
{
    struct fx *f = *state;
    struct http_hdrs *h = &f->m.headers;
    assert_int_equal(http_hdrs_add(h, "", 0, "v", 1), -RM_EINVAL);
    assert_int_equal(http_hdrs_add(h, "a b", 3, "v", 1), -RM_EINVAL);
    assert_int_equal(http_hdrs_add(h, "a:", 2, "v", 1), -RM_EINVAL);
    assert_int_equal(http_hdrs_add(h, "a", 1, "x\r\ny: z", 7), -RM_EINVAL);
    assert_int_equal(http_hdrs_add(h, "a", 1, "x\ny", 3), -RM_EINVAL);
    assert_int_equal(http_hdrs_add(h, "a", 1, "x\0y", 3), -RM_EINVAL);
    assert_int_equal(http_hdrs_add(h, "a", 1, "x\x7fy", 3), -RM_EINVAL);
    assert_int_equal(http_hdrs_set(h, "a", 1, "x\ry", 3), -RM_EINVAL);
    assert_int_equal(h->n, 0);
    /* obs-text, HTAB inside, empty values are fine */
    assert_int_equal(http_hdrs_add(h, "a", 1, "caf\xc3\xa9\tx", 7), 0);
    assert_int_equal(http_hdrs_add(h, "b", 1, "", 0), 0);
    assert_int_equal(http_hdrs_add(h, "c", 1, " \t ", 3), 0);
    assert_int_equal(http_msg_get(&f->m, "c")->n, 0);

    assert_true(http_is_token("x-Foo_1~", 8));
    assert_false(http_is_token("", 0));
    assert_false(http_is_token("a/b", 3));
    assert_true(http_is_field_value("", 0));
    assert_false(http_is_field_value(" a", 2));
    assert_false(http_is_field_value("a\t", 2));
    assert_true(http_is_field_value("a \"b\"", 5));

    /* tables agree with the RFC grammar on a few edges */
    assert_true(http_ctype['~'] & HTTP_CT_TCHAR);
    assert_false(http_ctype['"'] & HTTP_CT_TCHAR);
    assert_false(http_ctype['@'] & HTTP_CT_TCHAR);
    assert_true(http_ctype[0x80] & HTTP_CT_FVAL);
    assert_false(http_ctype[0x7f] & HTTP_CT_FVAL);
    assert_true(http_ctype['\t'] & HTTP_CT_FVAL);
    assert_false(http_ctype[' '] & HTTP_CT_TARGET);
    assert_false(http_ctype[0x80] & HTTP_CT_TARGET);
    assert_false(http_ctype['@'] & HTTP_CT_HOST);
    assert_false(http_ctype['/'] & HTTP_CT_HOST);
    assert_true(http_ctype['['] & HTTP_CT_HOST);
    assert_false(http_ctype['"'] & HTTP_CT_QDTEXT);
    assert_false(http_ctype['\\'] & HTTP_CT_QDTEXT);
    assert_true(http_ctype['f'] & HTTP_CT_HEX);
    assert_false(http_ctype['g'] & HTTP_CT_HEX);
    for (int c = 0; c < 256; c++) {
        int want = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        assert_int_equal(http_lower[c], want);
        char ch = (char)c;
        assert_int_equal(http_tchar_lower[c] != 0, http_is_token(&ch, 1));
        if (http_tchar_lower[c])
            assert_int_equal(http_tchar_lower[c], want);
    }
}

static void test_set_remove(void **state)
{
    struct fx *f = *state;
    struct http_msg *m = &f->m;
    assert_int_equal(http_msg_add(m, "a", "1"), 0);
    assert_int_equal(http_msg_add(m, "b", "1"), 0);
    assert_int_equal(http_msg_add(m, "A", "2"), 0);
    assert_int_equal(http_msg_add(m, "c", "1"), 0);
    assert_int_equal(http_msg_add(m, "a", "3"), 0);
    /* set keeps the first position, removes the rest */
    assert_int_equal(http_msg_set(m, "A", "new"), 0);
    assert_int_equal(m->headers.n, 3);
    assert_string_equal(m->headers.v[0].name.p, "a");
    assert_string_equal(m->headers.v[0].value.p, "new");
    assert_string_equal(m->headers.v[1].name.p, "b");
    assert_string_equal(m->headers.v[2].name.p, "c");
    /* set on an absent name appends */
    assert_int_equal(http_msg_set(m, "d", "x"), 0);
    assert_string_equal(m->headers.v[3].name.p, "d");
    /* remove all of a name, order kept */
    assert_int_equal(http_msg_add(m, "b", "2"), 0);
    assert_int_equal(http_msg_remove(m, "B"), 2);
    assert_int_equal(m->headers.n, 3);
    assert_string_equal(m->headers.v[0].name.p, "a");
    assert_string_equal(m->headers.v[1].name.p, "c");
    assert_string_equal(m->headers.v[2].name.p, "d");
    assert_int_equal(http_msg_remove(m, "zz"), 0);
    http_hdrs_remove_at(&m->headers, 1);
    assert_string_equal(m->headers.v[1].name.p, "d");
    http_hdrs_remove_at(&m->headers, 99); /* out of range: no-op */
    assert_int_equal(m->headers.n, 2);
    /* a slice obtained before removal stays valid (arena) */
    const struct http_slice *v = http_msg_get(m, "d");
    const char *p = v->p;
    http_msg_remove(m, "d");
    assert_string_equal(p, "x");
}

static void test_add_ref(void **state)
{
    struct fx *f = *state;
    struct http_slice n = {"x-static", 8}, v = {"value", 5};
    assert_int_equal(http_hdrs_add_ref(&f->m.headers, n, v), 0);
    assert_ptr_equal(f->m.headers.v[0].name.p, n.p); /* no copy */
    assert_string_equal(http_msg_get(&f->m, "X-Static")->p, "value");
}

static void test_tokens(void **state)
{
    struct fx *f = *state;
    struct http_msg *m = &f->m;
    assert_int_equal(http_msg_add(m, "Connection", "keep-alive , Upgrade,,"), 0);
    assert_int_equal(http_msg_add(m, "connection", "X-Foo"), 0);
    struct http_hdrs *h = &m->headers;
    assert_true(http_hdrs_has_token(h, "connection", 10, "upgrade", 7));
    assert_true(http_hdrs_has_token(h, "Connection", 10, "KEEP-ALIVE", 10));
    assert_true(http_hdrs_has_token(h, "connection", 10, "x-foo", 5));
    assert_false(http_hdrs_has_token(h, "connection", 10, "close", 5));
    assert_false(http_hdrs_has_token(h, "connection", 10, "keep", 4));
    assert_false(http_hdrs_has_token(h, "te", 2, "trailers", 8));
}

static void test_strip_hop_by_hop(void **state)
{
    struct fx *f = *state;
    struct http_msg *m = &f->m;
    assert_int_equal(http_msg_add(m, "Connection", "close, X-Hop"), 0);
    assert_int_equal(http_msg_add(m, "X-Hop", "1"), 0);
    assert_int_equal(http_msg_add(m, "X-Keep", "1"), 0);
    assert_int_equal(http_msg_add(m, "Keep-Alive", "timeout=5"), 0);
    assert_int_equal(http_msg_add(m, "Proxy-Connection", "keep-alive"), 0);
    assert_int_equal(http_msg_add(m, "Transfer-Encoding", "chunked"), 0);
    assert_int_equal(http_msg_add(m, "Upgrade", "websocket"), 0);
    assert_int_equal(http_msg_add(m, "TE", "gzip, trailers"), 0);
    assert_int_equal(http_msg_add(m, "connection", "x-hop2"), 0);
    assert_int_equal(http_msg_add(m, "X-Hop2", "2"), 0);
    assert_int_equal(http_msg_add(m, "Content-Length", "5"), 0);
    assert_int_equal(http_msg_strip_hop_by_hop(m, false), 0);
    assert_int_equal(m->headers.n, 3);
    assert_string_equal(m->headers.v[0].name.p, "x-keep");
    assert_string_equal(m->headers.v[1].name.p, "content-length");
    assert_string_equal(m->headers.v[2].name.p, "te");
    assert_string_equal(m->headers.v[2].value.p, "trailers");
    /* idempotent */
    assert_int_equal(http_msg_strip_hop_by_hop(m, false), 0);
    assert_int_equal(m->headers.n, 3);

    /* te without trailers goes; keep_upgrade keeps the Upgrade field */
    http_msg_reset(m);
    assert_int_equal(http_msg_add(m, "TE", "gzip"), 0);
    assert_int_equal(http_msg_add(m, "Connection", "Upgrade"), 0);
    assert_int_equal(http_msg_add(m, "Upgrade", "websocket"), 0);
    assert_int_equal(http_msg_strip_hop_by_hop(m, true), 0);
    assert_int_equal(m->headers.n, 1);
    assert_string_equal(m->headers.v[0].name.p, "upgrade");
}

static void test_msg_setters(void **state)
{
    struct fx *f = *state;
    struct http_msg *m = &f->m;
    assert_true(m->is_request);
    assert_int_equal(http_msg_set_method(m, "GET", 3), 0);
    assert_int_equal(m->method, HTTP_METHOD_GET);
    assert_string_equal(m->method_name.p, "GET");
    assert_int_equal(http_msg_set_method(m, "get", 3), 0); /* case-sensitive: extension */
    assert_int_equal(m->method, HTTP_METHOD_OTHER);
    assert_string_equal(m->method_name.p, "get");
    assert_int_equal(http_msg_set_method(m, "PROPFIND", 8), 0);
    assert_int_equal(m->method, HTTP_METHOD_OTHER);
    static const char *const known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        enum http_method e = http_method_from(known[i], strlen(known[i]));
        assert_int_not_equal(e, HTTP_METHOD_OTHER);
        assert_string_equal(http_method_name(e), known[i]);
    }
    assert_null(http_method_name(HTTP_METHOD_OTHER));
    assert_int_equal(http_method_from("GETX", 4), HTTP_METHOD_OTHER);

    char buf[8] = "/path";
    assert_int_equal(http_msg_set_path(m, buf, 5), 0);
    buf[1] = 'X'; /* copied, not referenced */
    assert_string_equal(m->path.p, "/path");
    assert_int_equal(http_msg_set_scheme(m, "https", 5), 0);
    assert_string_equal(m->scheme.p, "https");
    assert_int_equal(http_msg_set_authority(m, "a:1", 3), 0);
    assert_string_equal(m->authority.p, "a:1");
    assert_int_equal(http_msg_set_reason(m, "Fine", 4), 0);
    assert_string_equal(m->reason.p, "Fine");

    assert_string_equal(http_version_str(HTTP_VERSION_1_0), "HTTP/1.0");
    assert_string_equal(http_version_str(HTTP_VERSION_1_1), "HTTP/1.1");
    assert_string_equal(http_version_str(HTTP_VERSION_2), "HTTP/2");
    assert_string_equal(http_version_str(HTTP_VERSION_NONE), "-");
    assert_string_equal(http_reason_phrase(200), "OK");
    assert_string_equal(http_reason_phrase(431), "Request Header Fields Too Large");
    assert_string_equal(http_reason_phrase(799), "Unknown");

    assert_int_equal(http_msg_add(m, "a", "1"), 0);
    http_msg_reset(m);
    assert_true(m->is_request);
    assert_ptr_equal(m->arena, &f->a);
    assert_int_equal(m->headers.n, 0);
    assert_int_equal(m->path.n, 0);
    assert_int_equal(m->method, HTTP_METHOD_OTHER);
    assert_int_equal(http_msg_add(m, "b", "2"), 0);
    assert_string_equal(http_msg_get(m, "b")->p, "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_get_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strip_hop_by_hop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msg_setters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
