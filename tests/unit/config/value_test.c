/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/config/value_test.c — config/value.c (key spelling, lookup, merge, JSON output)
 * and the two helpers it is built on: config/err.c (message format, limits) and
 * proxy/strbuf.c (limit, sticky failure, JSON escaping), plus rm_strerror(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/err.h"
#include "config/value.h"
#include "proxy/err.h"
#include "proxy/strbuf.h"

static struct vt_doc *parse_named(const char *name, const char *text)
{
    struct cfg_err err;
    struct vt_doc *doc = NULL;
    cfg_err_init(&err);
    int rc = vt_parse_string(name, text, strlen(text), &doc, &err);
    if (rc)
        cfg_err_print(&err, stderr);
    assert_int_equal(rc, 0);
    cfg_err_fini(&err);
    return doc;
}

static struct vt_doc *parse(const char *text)
{
    return parse_named("t.yaml", text);
}

static void assert_json(const struct vt_node *n, const char *want)
{
    struct strbuf sb;
    sb_init(&sb);
    assert_int_equal(vt_to_json(n, &sb), 0);
    assert_string_equal(sb.data, want);
    sb_fini(&sb);
}

/* Merges |overlay| text over |base| text and checks the JSON of the result. */
static void assert_merge(const char *base, const char *overlay, const char *want)
{
    struct vt_doc *b = parse(base), *o = parse(overlay);
    assert_int_equal(vt_merge(b, b->root, o->root), 0);
    vt_doc_free(o); /* the merged tree must not point into the overlay document */
    assert_json(b->root, want);
    vt_doc_free(b);
}

/* ---- keys ------------------------------------------------------------------------------- */

static void test_key_to_snake(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(vt_key_to_snake("perConnectionBufferLimitBytes", buf, sizeof(buf)), 33);
    assert_string_equal(buf, "per_connection_buffer_limit_bytes");
    assert_int_equal(vt_key_to_snake("already_snake", buf, sizeof(buf)), 13);
    assert_string_equal(buf, "already_snake");
    assert_int_equal(vt_key_to_snake("@type", buf, sizeof(buf)), 5);
    assert_string_equal(buf, "@type");
    assert_int_equal(vt_key_to_snake("http2ProtocolOptions", buf, sizeof(buf)), 22);
    assert_string_equal(buf, "http2_protocol_options");
    assert_int_equal(vt_key_to_snake("URL", buf, sizeof(buf)), 5);
    assert_string_equal(buf, "u_r_l");
    assert_int_equal(vt_key_to_snake("Foo", buf, sizeof(buf)), 3);
    assert_string_equal(buf, "foo");
    assert_int_equal(vt_key_to_snake("a_B", buf, sizeof(buf)), 3);
    assert_string_equal(buf, "a_b");
    assert_int_equal(vt_key_to_snake("", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    /* Exactly fits (6 bytes + NUL), then one byte short. */
    assert_int_equal(vt_key_to_snake("fooBar", buf, 8), 7);
    assert_string_equal(buf, "foo_bar");
    assert_int_equal(vt_key_to_snake("fooBar", buf, 7), -1);
    assert_int_equal(vt_key_to_snake("x", buf, 0), -1);
}

static void test_map_get(void **state)
{
    (void)state;
    struct vt_doc *doc = parse("perConnectionBufferLimitBytes: 1\n"
                               "stat_prefix: a\n"
                               "statPrefix: b\n"
                               "foo2bar: c\n"
                               "nothing:\n");
    const struct vt_node *r = doc->root;
    assert_true(vt_scalar_is(vt_map_get(r, "per_connection_buffer_limit_bytes"), "1"));
    assert_true(vt_scalar_is(vt_map_get(r, "stat_prefix"), "b")); /* last spelling wins */
    assert_true(vt_scalar_is(vt_map_get(r, "foo_2bar"), "c"));    /* protobuf ToJsonName */
    assert_true(vt_scalar_is(vt_map_get(r, "foo2bar"), "c"));
    assert_null(vt_map_get(r, "per_connection"));
    assert_null(vt_map_get(r, "stat_prefi"));
    assert_null(vt_map_get(r, "stat_prefixx"));
    const struct vt_node *nothing = vt_map_get(r, "nothing");
    assert_non_null(nothing);
    assert_int_equal(nothing->kind, VT_NULL);
    assert_null(vt_map_get(nothing, "x"));
    assert_null(vt_map_get(NULL, "x"));
    assert_null(vt_map_get(r, NULL));
    vt_doc_free(doc);
}

static void test_scalar_is(void **state)
{
    (void)state;
    struct vt_doc *doc = parse("a: abc\nb: [abc]\nc: ~\n");
    assert_true(vt_scalar_is(vt_map_get(doc->root, "a"), "abc"));
    assert_false(vt_scalar_is(vt_map_get(doc->root, "a"), "ab"));
    assert_false(vt_scalar_is(vt_map_get(doc->root, "a"), "abcd"));
    assert_false(vt_scalar_is(vt_map_get(doc->root, "b"), "abc"));
    assert_false(vt_scalar_is(vt_map_get(doc->root, "c"), "~"));
    assert_false(vt_scalar_is(NULL, "abc"));
    vt_doc_free(doc);
}

/* ---- merge ------------------------------------------------------------------------------ */

static void test_merge_maps_deep(void **state)
{
    (void)state;
    assert_merge("admin: {address: {port: 1, host: a}}\nx: 1\n",
                 "admin: {address: {port: 2}, log: y}\nz: 3\n",
                 "{\"admin\":{\"address\":{\"port\":2,\"host\":\"a\"},\"log\":\"y\"},"
                 "\"x\":1,\"z\":3}");
}

static void test_merge_lists_append(void **state)
{
    (void)state;
    assert_merge("l: [1, 2]\nm: {l: [a]}\n", "l: [3]\nm: {l: [b, c]}\n",
                 "{\"l\":[1,2,3],\"m\":{\"l\":[\"a\",\"b\",\"c\"]}}");
    assert_merge("l: []\n", "l: [1]\n", "{\"l\":[1]}");
    assert_merge("l: [1]\n", "l: []\n", "{\"l\":[1]}");
}

static void test_merge_scalars_replace(void **state)
{
    (void)state;
    assert_merge("a: 1\nb: x\nc: {d: 1}\ne: [1]\n", "a: 2\nb: ~\nc: 5\ne: {f: 1}\n",
                 "{\"a\":2,\"b\":null,\"c\":5,\"e\":{\"f\":1}}");
    /* The root itself may be replaced. */
    assert_merge("[1]\n", "{a: 1}\n", "{\"a\":1}");
    assert_merge("{a: 1}\n", "[1]\n", "[1]");
}

static void test_merge_key_spellings(void **state)
{
    (void)state;
    /* camelCase and snake_case name the same field; the overlay's spelling and position
     * win for a replaced value. */
    struct vt_doc *b = parse_named("base.yaml", "statPrefix: a\nnodeId: {clusterName: x}\n");
    struct vt_doc *o = parse_named("--config-yaml", "stat_prefix: b\nnode_id: {cluster_name: y}\n");
    assert_int_equal(vt_merge(b, b->root, o->root), 0);
    vt_doc_free(o);
    assert_int_equal(b->root->map.n, 2);
    assert_string_equal(b->root->map.items[0].key, "stat_prefix");
    assert_string_equal(b->root->map.items[0].key_pos.file, "--config-yaml");
    assert_int_equal(b->root->map.items[0].key_pos.line, 1);
    const struct vt_node *sp = vt_map_get(b->root, "stat_prefix");
    assert_true(vt_scalar_is(sp, "b"));
    assert_string_equal(sp->pos.file, "--config-yaml");
    assert_int_equal(sp->pos.col, 14);
    /* A merged (not replaced) map keeps the base spelling. */
    assert_string_equal(b->root->map.items[1].key, "nodeId");
    assert_json(b->root, "{\"stat_prefix\":\"b\",\"node_id\":{\"cluster_name\":\"y\"}}");
    vt_doc_free(b);
}

static void test_merge_duplicates(void **state)
{
    (void)state;
    /* Only the overlay's last occurrence counts (as if the overlay was parsed first), and it
     * merges into the base's last (effective) occurrence. */
    assert_merge("a: {x: 1}\na: {y: 1}\n", "a: {p: 1}\na: {q: 1}\n", "{\"a\":{\"y\":1,\"q\":1}}");
}

static void test_merge_self_and_null(void **state)
{
    (void)state;
    struct vt_doc *d = parse("a: {b: [1]}\nc: 2\n");
    assert_int_equal(vt_merge(d, d->root, d->root), 0);
    assert_json(d->root, "{\"a\":{\"b\":[1,1]},\"c\":2}");
    assert_int_equal(vt_merge(d, d->root, NULL), 0);
    assert_json(d->root, "{\"a\":{\"b\":[1,1]},\"c\":2}");
    assert_int_equal(vt_merge(d, NULL, d->root), -RM_EINVAL);
    vt_doc_free(d);
}

static void test_merge_many_keys(void **state)
{
    (void)state;
    /* Above the small-map threshold the duplicate detection uses a hash table. */
    struct strbuf base, ov, want;
    sb_init(&base);
    sb_init(&ov);
    sb_init(&want);
    sb_puts(&want, "{");
    for (int i = 0; i < 100; i++) {
        sb_printf(&base, "k%d: %d\n", i, i);
        sb_printf(&want, "%s\"k%d\":%d", i ? "," : "", i, i % 2 ? -i : i);
    }
    for (int i = 1; i < 100; i += 2)
        sb_printf(&ov, "k%d: 0\nk%d: %d\n", i, i, -i);
    sb_printf(&ov, "kX: 1\nkX: 2\n");
    sb_puts(&want, ",\"k_x\":2}");
    assert_merge(base.data, ov.data, want.data);
    sb_fini(&base);
    sb_fini(&ov);
    sb_fini(&want);
}

/* ---- JSON output ------------------------------------------------------------------------ */

static void test_to_json_scalars(void **state)
{
    (void)state;
    struct vt_doc *doc = parse("[0, -0, 1.5, -0.25, 1e3, 2E-7, 1.5e+10, 01, 0x10, 1., .5, +1, -,"
                               " true, false, True, FALSE, yes, '1', \"true\", 1_000, 1e, 12abc,"
                               " \"\", inf, nan]");
    assert_json(doc->root, "[0,-0,1.5,-0.25,1e3,2E-7,1.5e+10,\"01\",\"0x10\",\"1.\",\".5\","
                           "\"+1\",\"-\",true,false,\"True\",\"FALSE\",\"yes\",\"1\",\"true\","
                           "\"1_000\",\"1e\",\"12abc\",\"\",\"inf\",\"nan\"]");
    vt_doc_free(doc);
}

static void test_to_json_structure(void **state)
{
    (void)state;
    struct vt_doc *doc = parse("staticResources:\n"
                               "  clusters:\n"
                               "  - name: \"svc \\\"a\\\"\\n\"\n"
                               "    lbPolicy: ROUND_ROBIN\n"
                               "    metadata: {}\n"
                               "    hosts: []\n"
                               "    typedConfig: {\"@type\": type.googleapis.com/x.Y}\n");
    assert_json(doc->root, "{\"static_resources\":{\"clusters\":[{\"name\":\"svc \\\"a\\\"\\n\","
                           "\"lb_policy\":\"ROUND_ROBIN\",\"metadata\":{},\"hosts\":[],"
                           "\"typed_config\":{\"@type\":\"type.googleapis.com/x.Y\"}}]}}");
    assert_json(NULL, "null");
    vt_doc_free(doc);
}

static void test_to_json_limit(void **state)
{
    (void)state;
    struct vt_doc *doc = parse("{abc: [1, 2, 3]}");
    struct strbuf sb;
    sb_init(&sb);
    sb.limit = 10; /* full output is {"abc":[1,2,3]} = 15 bytes */
    assert_int_equal(vt_to_json(doc->root, &sb), -RM_ELIMIT);
    assert_int_equal(sb.failed, RM_ELIMIT);
    sb_fini(&sb);
    sb.limit = 15;
    assert_int_equal(vt_to_json(doc->root, &sb), 0);
    assert_string_equal(sb.data, "{\"abc\":[1,2,3]}");
    sb_fini(&sb);
    vt_doc_free(doc);
}

static void test_doc_new(void **state)
{
    (void)state;
    struct vt_doc *doc;
    assert_int_equal(vt_doc_new(&doc), 0);
    assert_null(doc->root);
    struct vt_node *n = arena_zalloc(&doc->arena, sizeof(*n));
    assert_non_null(n);
    n->kind = VT_LIST;
    doc->root = n;
    assert_json(doc->root, "[]");
    vt_doc_free(doc);
    vt_doc_free(NULL);
}

/* ---- config/err.c ----------------------------------------------------------------------- */

static void test_err_format(void **state)
{
    (void)state;
    struct cfg_err e;
    struct vt_node at = {.kind = VT_NULL, .pos = {.file = "bootstrap.yaml", .line = 42, .col = 7}};
    struct vt_node nowhere = {.kind = VT_NULL};
    cfg_err_init(&e);
    cfg_err_add(&e, &at, "static_resources.clusters[1].lb_policy", "unsupported field (%s)",
                "MAGLEV");
    cfg_err_add(&e, &nowhere, "admin.address", "missing");
    cfg_err_add(&e, NULL, "", "no path %d", 1);
    cfg_err_add(&e, &at, NULL, "no path either");
    cfg_warn_add(&e, &at, "admin.access_log_path", "deprecated");
    cfg_err_add_at(&e, "x.yaml", 3, 9, "did not find expected key");
    cfg_err_add_at(&e, "x.yaml", 0, 0, "empty configuration");
    cfg_err_add_at(&e, NULL, 0, 0, "cannot read %s", "/etc/x");

    assert_int_equal(e.n, 8);
    assert_int_equal(e.n_errors, 7);
    assert_int_equal(e.n_warnings, 1);
    assert_true(cfg_err_failed(&e));
    assert_string_equal(e.msgs[0].text, "bootstrap.yaml:42:7: static_resources.clusters[1]."
                                        "lb_policy: unsupported field (MAGLEV)");
    assert_string_equal(e.msgs[1].text, "admin.address: missing");
    assert_string_equal(e.msgs[2].text, "no path 1");
    assert_string_equal(e.msgs[3].text, "bootstrap.yaml:42:7: no path either");
    assert_int_equal(e.msgs[4].sev, CFG_WARNING);
    assert_string_equal(e.msgs[4].text, "bootstrap.yaml:42:7: admin.access_log_path: deprecated");
    assert_string_equal(e.msgs[5].text, "x.yaml:3:9: did not find expected key");
    assert_string_equal(e.msgs[6].text, "x.yaml: empty configuration");
    assert_string_equal(e.msgs[7].text, "cannot read /etc/x");

    char *out = NULL;
    size_t out_len = 0;
    FILE *fp = open_memstream(&out, &out_len);
    assert_non_null(fp);
    cfg_err_print(&e, fp);
    fclose(fp);
    assert_string_equal(out, "error: bootstrap.yaml:42:7: static_resources.clusters[1].lb_policy: "
                             "unsupported field (MAGLEV)\n"
                             "error: admin.address: missing\n"
                             "error: no path 1\n"
                             "error: bootstrap.yaml:42:7: no path either\n"
                             "warning: bootstrap.yaml:42:7: admin.access_log_path: deprecated\n"
                             "error: x.yaml:3:9: did not find expected key\n"
                             "error: x.yaml: empty configuration\n"
                             "error: cannot read /etc/x\n");
    free(out);
    cfg_err_fini(&e);
    assert_int_equal(e.n, 0);
    assert_false(cfg_err_failed(&e));
    cfg_err_fini(&e); /* idempotent */
}

static void test_err_warnings_only(void **state)
{
    (void)state;
    struct cfg_err e;
    cfg_err_init(&e);
    cfg_warn_add(&e, NULL, "a", "w");
    assert_false(cfg_err_failed(&e));
    assert_int_equal(e.n_warnings, 1);
    cfg_err_fini(&e);
}

static void test_err_limits(void **state)
{
    (void)state;
    struct cfg_err e;
    cfg_err_init(&e);
    for (int i = 0; i < 1005; i++)
        cfg_err_add(&e, NULL, "p", "e%d", i);
    for (int i = 0; i < 3; i++)
        cfg_warn_add(&e, NULL, "p", "w%d", i);
    assert_int_equal(e.n, 1000);
    assert_int_equal(e.n_errors, 1005);
    assert_int_equal(e.n_warnings, 3);
    assert_string_equal(e.msgs[999].text, "p: e999");

    char *out = NULL;
    size_t out_len = 0;
    FILE *fp = open_memstream(&out, &out_len);
    cfg_err_print(&e, fp);
    fclose(fp);
    const char *tail = "error: p: e999\n"
                       "error: ... and 5 more error(s) not shown\n"
                       "warning: ... and 3 more warning(s) not shown\n";
    assert_true(out_len > strlen(tail));
    assert_string_equal(out + out_len - strlen(tail), tail);
    free(out);
    cfg_err_fini(&e);

    /* One huge message is cut at 4 KiB, on a UTF-8 boundary, marked with "...". */
    char *big = malloc(10001);
    assert_non_null(big);
    for (int i = 0; i < 5000; i++)
        memcpy(big + 2 * i, "\xc3\xa9", 2);
    big[10000] = '\0';
    cfg_err_init(&e);
    cfg_err_add(&e, NULL, "p", "%s", big);
    size_t len = strlen(e.msgs[0].text);
    assert_true(len <= 4096);
    assert_true(len >= 4090);
    assert_string_equal(e.msgs[0].text + len - 3, "...");
    assert_int_equal(((unsigned char)e.msgs[0].text[len - 4] & 0xc0) == 0x80, 1);
    assert_memory_equal(e.msgs[0].text, "p: \xc3\xa9", 5);
    assert_int_equal((len - 3 - 3) % 2, 0); /* whole characters only */
    cfg_err_fini(&e);
    free(big);
}

/* ---- proxy/strbuf.c --------------------------------------------------------------------- */

static void test_strbuf_basic(void **state)
{
    (void)state;
    struct strbuf sb;
    sb_init(&sb);
    assert_non_null(sb.data);
    assert_string_equal(sb.data, "");
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb_puts(&sb, "ab"), 0);
    assert_int_equal(sb_putc(&sb, 'c'), 0);
    assert_int_equal(sb_append(&sb, "d\0e", 3), 0);
    assert_int_equal(sb.len, 6);
    assert_memory_equal(sb.data, "abcd\0e", 7);
    assert_int_equal(sb_printf(&sb, "|%d|%s|", 42, "x"), 0);
    assert_memory_equal(sb.data + 6, "|42|x|", 7);
    sb_reset(&sb);
    assert_int_equal(sb.len, 0);
    assert_string_equal(sb.data, "");
    /* printf that needs several growths */
    char big[1000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(sb_printf(&sb, "%s%s%s", big, big, big), 0);
    assert_int_equal(sb.len, 2997);
    assert_int_equal(sb.data[2997], '\0');
    char *s = sb_steal(&sb);
    assert_non_null(s);
    assert_int_equal(strlen(s), 2997);
    free(s);
    assert_int_equal(sb.len, 0);
    assert_string_equal(sb.data, "");
    s = sb_steal(&sb); /* empty buffer: still a malloc'd "" */
    assert_string_equal(s, "");
    free(s);
    sb_fini(&sb);
    sb_fini(&sb);
}

static void test_strbuf_limit(void **state)
{
    (void)state;
    struct strbuf sb;
    sb_init(&sb);
    sb.limit = 8;
    assert_int_equal(sb_puts(&sb, "12345678"), 0); /* exactly the limit */
    assert_int_equal(sb_putc(&sb, '9'), -RM_ELIMIT);
    assert_int_equal(sb.failed, RM_ELIMIT);
    assert_string_equal(sb.data, "12345678");
    assert_int_equal(sb_puts(&sb, ""), -RM_ELIMIT); /* sticky */
    assert_null(sb_steal(&sb));
    assert_int_equal(sb.limit, 8); /* kept across steal/fini */

    assert_int_equal(sb_puts(&sb, "1234"), 0);
    assert_int_equal(sb_printf(&sb, "%s", "56789"), -RM_ELIMIT); /* nothing appended */
    assert_string_equal(sb.data, "1234");
    sb_reset(&sb);
    assert_int_equal(sb.failed, 0);
    assert_int_equal(sb_printf(&sb, "%d", 12345678), 0);
    assert_string_equal(sb.data, "12345678");
    sb_reset(&sb);
    /* A JSON literal that does not fit leaves nothing half-written. */
    assert_int_equal(sb_puts(&sb, "ab"), 0);
    assert_int_equal(sb_json_str(&sb, "cdefg", 5), -RM_ELIMIT);
    assert_string_equal(sb.data, "ab");
    assert_int_equal(sb.len, 2);
    sb_fini(&sb);

    /* Default limit is 64 MiB. */
    sb_init(&sb);
    assert_int_equal(sb_append(&sb, "x", (size_t)64 * 1024 * 1024 + 1), -RM_ELIMIT);
    sb_fini(&sb);
}

static void assert_json_str(const char *in, size_t n, const char *want)
{
    struct strbuf sb;
    sb_init(&sb);
    assert_int_equal(sb_json_str(&sb, in, n), 0);
    assert_string_equal(sb.data, want);
    sb_fini(&sb);
}

static void test_strbuf_json_escaping(void **state)
{
    (void)state;
    assert_json_str("", 0, "\"\"");
    assert_json_str(NULL, 0, "\"\"");
    assert_json_str("plain", 5, "\"plain\"");
    assert_json_str("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"");
    assert_json_str("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    assert_json_str("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    assert_json_str("a\0b", 3, "\"a\\u0000b\"");
    /* Valid UTF-8 (2, 3 and 4 bytes) passes through. */
    assert_json_str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
                    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* Invalid bytes become U+FFFD, one per byte, without eating what follows. */
    assert_json_str("a\xff"
                    "b",
                    3, "\"a\\ufffdb\"");
    assert_json_str("\xc3", 1, "\"\\ufffd\"");                                  /* truncated */
    assert_json_str("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");                       /* overlong */
    assert_json_str("\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"");            /* overlong */
    assert_json_str("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");            /* surrogate */
    assert_json_str("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > 10FFFF */
    assert_json_str("\xe2\x82"
                    "a",
                    3, "\"\\ufffd\\ufffda\"");
}

static void test_rm_strerror(void **state)
{
    (void)state;
    assert_string_equal(rm_strerror(0), "success");
    assert_string_equal(rm_strerror(RM_ENOMEM), "out of memory");
    assert_string_equal(rm_strerror(-RM_ENOMEM), "out of memory");
    assert_string_equal(rm_strerror(-RM_ECONFIG), "invalid configuration");
    assert_string_equal(rm_strerror(-RM_ECLOSED), "connection closed by peer");
    assert_string_equal(rm_strerror(999), "unknown error");
    assert_string_equal(rm_strerror(INT32_MIN), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_to_snake),        cmocka_unit_test(test_map_get),
        cmocka_unit_test(test_scalar_is),           cmocka_unit_test(test_merge_maps_deep),
        cmocka_unit_test(test_merge_lists_append),  cmocka_unit_test(test_merge_scalars_replace),
        cmocka_unit_test(test_merge_key_spellings), cmocka_unit_test(test_merge_duplicates),
        cmocka_unit_test(test_merge_self_and_null), cmocka_unit_test(test_merge_many_keys),
        cmocka_unit_test(test_to_json_scalars),     cmocka_unit_test(test_to_json_structure),
        cmocka_unit_test(test_to_json_limit),       cmocka_unit_test(test_doc_new),
        cmocka_unit_test(test_err_format),          cmocka_unit_test(test_err_warnings_only),
        cmocka_unit_test(test_err_limits),          cmocka_unit_test(test_strbuf_basic),
        cmocka_unit_test(test_strbuf_limit),        cmocka_unit_test(test_strbuf_json_escaping),
        cmocka_unit_test(test_rm_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
