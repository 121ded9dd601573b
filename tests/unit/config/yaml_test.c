/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/config/yaml_test.c — config/yaml.c: YAML/JSON text → value tree. Positions,
 * scalar styles, nulls, aliases, !ignore, the one-document rule, libyaml error text and the
 * depth / alias-expansion / file limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/err.h"
#include "config/value.h"
#include "proxy/err.h"
#include "proxy/strbuf.h"

/* Parses |text| as "t.yaml" and fails the test (showing the errors) unless it loads. */
static struct vt_doc *parse_ok(const char *text)
{
    struct cfg_err err;
    struct vt_doc *doc = NULL;
    cfg_err_init(&err);
    int rc = vt_parse_string("t.yaml", text, strlen(text), &doc, &err);
    if (rc != 0 || err.n != 0)
        cfg_err_print(&err, stderr);
    assert_int_equal(rc, 0);
    assert_int_equal(err.n, 0);
    assert_non_null(doc);
    assert_non_null(doc->root);
    cfg_err_fini(&err);
    return doc;
}

/* Parses |text| (|len| bytes) expecting failure with |want_rc|; returns the first message
 * (malloc'd) and checks that the document is not returned. */
static char *parse_fail_n(const char *text, size_t len, int want_rc)
{
    struct cfg_err err;
    struct vt_doc *doc = (struct vt_doc *)&err; /* must be reset to NULL */
    cfg_err_init(&err);
    int rc = vt_parse_string("t.yaml", text, len, &doc, &err);
    assert_int_equal(rc, want_rc);
    assert_null(doc);
    assert_true(cfg_err_failed(&err));
    assert_true(err.n >= 1);
    char *msg = strdup(err.msgs[0].text);
    assert_non_null(msg);
    cfg_err_fini(&err);
    return msg;
}

static char *parse_fail(const char *text)
{
    return parse_fail_n(text, strlen(text), -RM_ECONFIG);
}

static void assert_fail_msg(const char *text, const char *want)
{
    char *msg = parse_fail(text);
    assert_string_equal(msg, want);
    free(msg);
}

static void assert_json(const struct vt_node *n, const char *want)
{
    struct strbuf sb;
    sb_init(&sb);
    assert_int_equal(vt_to_json(n, &sb), 0);
    assert_string_equal(sb.data, want);
    sb_fini(&sb);
}

static void assert_pos(const struct vt_pos *p, uint32_t line, uint32_t col)
{
    assert_non_null(p->file);
    assert_string_equal(p->file, "t.yaml");
    assert_int_equal(p->line, line);
    assert_int_equal(p->col, col);
}

/* ---- positions -------------------------------------------------------------------------- */

static void test_positions_nested(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("static_resources:\n"
                                  "  clusters:\n"
                                  "  - name: a\n"
                                  "    connect_timeout: 1s\n"
                                  "  -   name: b\n");
    const struct vt_node *root = doc->root;
    assert_int_equal(root->kind, VT_MAP);
    assert_pos(&root->pos, 1, 1);
    assert_int_equal(root->map.n, 1);
    assert_pos(&root->map.items[0].key_pos, 1, 1);

    const struct vt_node *sr = vt_map_get(root, "static_resources");
    assert_non_null(sr);
    assert_pos(&sr->map.items[0].key_pos, 2, 3);
    const struct vt_node *clusters = vt_map_get(sr, "clusters");
    assert_int_equal(clusters->kind, VT_LIST);
    assert_int_equal(clusters->list.n, 2);
    assert_pos(&clusters->pos, 3, 3);

    const struct vt_node *c0 = clusters->list.items[0];
    assert_int_equal(c0->kind, VT_MAP);
    assert_pos(&c0->pos, 3, 5);
    assert_pos(&c0->map.items[0].key_pos, 3, 5);
    assert_pos(&vt_map_get(c0, "name")->pos, 3, 11);
    assert_pos(&c0->map.items[1].key_pos, 4, 5);
    assert_pos(&vt_map_get(c0, "connect_timeout")->pos, 4, 22);

    const struct vt_node *c1 = clusters->list.items[1];
    assert_pos(&c1->pos, 5, 7);
    assert_pos(&vt_map_get(c1, "name")->pos, 5, 13);
    vt_doc_free(doc);
}

static void test_positions_flow_json(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("{\n  \"a\": [10, {\"b\": true}]\n}\n");
    const struct vt_node *a = vt_map_get(doc->root, "a");
    assert_pos(&doc->root->pos, 1, 1);
    assert_pos(&doc->root->map.items[0].key_pos, 2, 3);
    assert_pos(&a->pos, 2, 8);
    assert_pos(&a->list.items[0]->pos, 2, 9);
    assert_pos(&a->list.items[1]->pos, 2, 13);
    assert_pos(&vt_map_get(a->list.items[1], "b")->pos, 2, 19);
    vt_doc_free(doc);
}

/* ---- scalars ---------------------------------------------------------------------------- */

static void test_quoted_vs_plain(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("a: \"1\"\n"
                                  "b: 1\n"
                                  "c: '1'\n"
                                  "d: |\n"
                                  "  x\n"
                                  "e: true\n"
                                  "f: >-\n"
                                  "  y z\n");
    const struct vt_node *r = doc->root;
    assert_true(vt_map_get(r, "a")->scalar.quoted);
    assert_false(vt_map_get(r, "b")->scalar.quoted);
    assert_true(vt_map_get(r, "c")->scalar.quoted);
    assert_true(vt_map_get(r, "d")->scalar.quoted);
    assert_true(vt_scalar_is(vt_map_get(r, "d"), "x\n"));
    assert_false(vt_map_get(r, "e")->scalar.quoted);
    assert_true(vt_scalar_is(vt_map_get(r, "f"), "y z"));
    assert_true(vt_scalar_is(vt_map_get(r, "a"), "1"));
    assert_int_equal(vt_map_get(r, "a")->scalar.len, 1);
    assert_json(r, "{\"a\":\"1\",\"b\":1,\"c\":\"1\",\"d\":\"x\\n\",\"e\":true,\"f\":\"y z\"}");
    vt_doc_free(doc);
}

static void test_nulls(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("a: null\n"
                                  "b: ~\n"
                                  "c:\n"
                                  "d: Null\n"
                                  "e: NULL\n"
                                  "f: \"null\"\n"
                                  "g: nULL\n"
                                  "h: ''\n"
                                  "i: [~, null, ]\n");
    const struct vt_node *r = doc->root;
    const char *nulls[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        const struct vt_node *n = vt_map_get(r, nulls[i]);
        assert_non_null(n);
        assert_int_equal(n->kind, VT_NULL);
    }
    assert_int_equal(vt_map_get(r, "f")->kind, VT_SCALAR);
    assert_true(vt_map_get(r, "f")->scalar.quoted);
    assert_int_equal(vt_map_get(r, "g")->kind, VT_SCALAR);
    assert_int_equal(vt_map_get(r, "h")->kind, VT_SCALAR);
    assert_int_equal(vt_map_get(r, "h")->scalar.len, 0);
    const struct vt_node *i = vt_map_get(r, "i");
    assert_int_equal(i->list.n, 2);
    assert_int_equal(i->list.items[0]->kind, VT_NULL);
    assert_int_equal(i->list.items[1]->kind, VT_NULL);
    assert_json(r, "{\"a\":null,\"b\":null,\"c\":null,\"d\":null,\"e\":null,\"f\":\"null\","
                   "\"g\":\"nULL\",\"h\":\"\",\"i\":[null,null]}");
    vt_doc_free(doc);
}

static void test_null_and_number_keys(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("~: a\n1: b\n\"x y\": c\n");
    assert_string_equal(doc->root->map.items[0].key, "~");
    assert_string_equal(doc->root->map.items[1].key, "1");
    assert_true(vt_scalar_is(vt_map_get(doc->root, "x y"), "c"));
    vt_doc_free(doc);
}

static void test_unicode_and_escapes(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("a: \"caf\\u00e9 \\t \\\"q\\\" \\0 end\"\nb: naïve\n");
    const struct vt_node *a = vt_map_get(doc->root, "a");
    assert_int_equal(a->scalar.len, 17); /* "café \t \"q\" \0 end": é is 2 bytes */
    assert_memory_equal(a->scalar.s, "caf\xc3\xa9 \t \"q\" \0 end", 17);
    assert_json(doc->root,
                "{\"a\":\"caf\xc3\xa9 \\t \\\"q\\\" \\u0000 end\",\"b\":\"na\xc3\xafve\"}");
    vt_doc_free(doc);
}

/* ---- JSON and keys ---------------------------------------------------------------------- */

static void test_json_input(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("{\"staticResources\": {\"clusters\": [{\"name\": \"c\", "
                                  "\"connectTimeout\": \"0.25s\", \"port\": 8080, "
                                  "\"weights\": [1.5, -2, 1e3], \"on\": false, \"n\": null}]}}");
    const struct vt_node *sr = vt_map_get(doc->root, "static_resources");
    assert_non_null(sr);
    const struct vt_node *c = vt_map_get(sr, "clusters")->list.items[0];
    assert_true(vt_scalar_is(vt_map_get(c, "connect_timeout"), "0.25s"));
    assert_true(vt_map_get(c, "connect_timeout")->scalar.quoted);
    assert_false(vt_map_get(c, "port")->scalar.quoted);
    assert_json(doc->root, "{\"static_resources\":{\"clusters\":[{\"name\":\"c\","
                           "\"connect_timeout\":\"0.25s\",\"port\":8080,"
                           "\"weights\":[1.5,-2,1e3],\"on\":false,\"n\":null}]}}");
    vt_doc_free(doc);
}

static void test_duplicates_last_wins(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("a: 1\nb: x\na: 2\nfooBar: 3\nfoo_bar: 4\n");
    const struct vt_node *r = doc->root;
    assert_int_equal(r->map.n, 5); /* kept in document order */
    assert_true(vt_scalar_is(vt_map_get(r, "a"), "2"));
    assert_true(vt_scalar_is(vt_map_get(r, "foo_bar"), "4"));
    assert_json(r, "{\"b\":\"x\",\"a\":2,\"foo_bar\":4}");
    vt_doc_free(doc);
}

/* ---- aliases ---------------------------------------------------------------------------- */

static void test_alias_expansion(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("base: &b {x: 1, y: [1, 2]}\n"
                                  "use: *b\n"
                                  "s: &s hello\n"
                                  "t: *s\n"
                                  "&k key: v\n"
                                  "*k : w\n");
    const struct vt_node *r = doc->root;
    assert_json(r, "{\"base\":{\"x\":1,\"y\":[1,2]},\"use\":{\"x\":1,\"y\":[1,2]},"
                   "\"s\":\"hello\",\"t\":\"hello\",\"key\":\"w\"}");
    const struct vt_node *base = vt_map_get(r, "base");
    const struct vt_node *use = vt_map_get(r, "use");
    /* A deep copy: editing one site (vt_merge) must not change the other. */
    assert_ptr_not_equal(base, use);
    assert_ptr_not_equal(base->map.items, use->map.items);
    assert_ptr_not_equal(vt_map_get(base, "y"), vt_map_get(use, "y"));
    struct vt_doc *ov = parse_ok("use: {y: [3], z: 9}\n");
    assert_int_equal(vt_merge(doc, doc->root, ov->root), 0);
    vt_doc_free(ov);
    assert_json(vt_map_get(r, "base"), "{\"x\":1,\"y\":[1,2]}");
    assert_json(vt_map_get(r, "use"), "{\"x\":1,\"y\":[1,2,3],\"z\":9}");
    /* The copy keeps the anchored text's position (a node starts at its anchor). */
    assert_pos(&vt_map_get(r, "use")->pos, 1, 7);
    assert_pos(&r->map.items[1].key_pos, 2, 1);
    vt_doc_free(doc);
}

static void test_alias_redefined_anchor(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("a: &x 1\nb: &x 2\nc: *x\n");
    assert_true(vt_scalar_is(vt_map_get(doc->root, "c"), "2"));
    vt_doc_free(doc);

    /* Many anchors (the table grows several times); x7 is redefined after growth. */
    struct strbuf sb;
    sb_init(&sb);
    for (int i = 0; i < 500; i++) {
        sb_printf(&sb, "a%d: &x%d v%d\n", i, i, i);
        if (i == 30)
            sb_puts(&sb, "early: &x3 redefined\n"); /* both definitions go through rehashes */
    }
    sb_puts(&sb, "r: &x7 again\nu7: *x7\nu0: *x0\nu499: *x499\nu3: *x3\n");
    doc = parse_ok(sb.data);
    assert_true(vt_scalar_is(vt_map_get(doc->root, "u7"), "again"));
    assert_true(vt_scalar_is(vt_map_get(doc->root, "u0"), "v0"));
    assert_true(vt_scalar_is(vt_map_get(doc->root, "u499"), "v499"));
    assert_true(vt_scalar_is(vt_map_get(doc->root, "u3"), "redefined"));
    vt_doc_free(doc);
    sb_fini(&sb);
}

static void test_alias_errors(void **state)
{
    (void)state;
    assert_fail_msg("a: 1\nb: *nope\n", "t.yaml:2:4: unknown alias *nope");
    assert_fail_msg("a: &x [1, *x]\n", "t.yaml:1:11: alias *x refers to a node that contains it");
    assert_fail_msg("a: &m {b: 1}\n*m : 2\n", "t.yaml:2:1: map key must be a scalar, not a map");
}

static void test_billion_laughs_capped(void **state)
{
    (void)state;
    const char *lol = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                      "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                      "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    char *msg = parse_fail(lol);
    assert_non_null(strstr(msg, "alias expansion exceeds 1000000 nodes"));
    assert_true(strncmp(msg, "t.yaml:", 7) == 0);
    free(msg);

    /* Below the cap, expansion works: 10 * 11 * 11 nodes. */
    struct vt_doc *doc = parse_ok("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                  "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n");
    const struct vt_node *c = vt_map_get(doc->root, "c");
    assert_int_equal(c->list.n, 10);
    assert_int_equal(c->list.items[9]->list.items[9]->list.n, 10);
    vt_doc_free(doc);
}

/* ---- !ignore ---------------------------------------------------------------------------- */

static void test_ignore_tag(void **state)
{
    (void)state;
    struct vt_doc *doc = parse_ok("a: 1\n"
                                  "!ignore b: {x: 1}\n"
                                  "c: !ignore 2\n"
                                  "!ignore [1, 2]: 5\n"
                                  "e: !ignore {y: 1}\n"
                                  "d: [!ignore 3]\n"
                                  "!ignore dummy: &anch {z: 1}\n"
                                  "f: *anch\n");
    /* Dropped keys vanish; !ignore on a list item is not an Envoy rule and keeps it; an
     * anchor under an ignored key still serves aliases (Envoy's common idiom). */
    assert_json(doc->root, "{\"a\":1,\"d\":[3],\"f\":{\"z\":1}}");
    assert_null(vt_map_get(doc->root, "b"));
    vt_doc_free(doc);
}

/* ---- document-level errors -------------------------------------------------------------- */

static void test_multi_document(void **state)
{
    (void)state;
    assert_fail_msg("a: 1\n---\nb: 2\n", "t.yaml:2:1: multiple YAML documents are not supported");
    assert_fail_msg("---\na: 1\n...\n---\nb: 2\n",
                    "t.yaml:4:1: multiple YAML documents are not supported");
}

static void test_empty(void **state)
{
    (void)state;
    assert_fail_msg("", "t.yaml: empty configuration");
    assert_fail_msg("# just a comment\n\n", "t.yaml: empty configuration");
    assert_fail_msg("---\n", "t.yaml: empty configuration");
    assert_fail_msg("null\n", "t.yaml: empty configuration");

    struct cfg_err err;
    struct vt_doc *doc;
    cfg_err_init(&err);
    assert_int_equal(vt_parse_string("x", NULL, 0, &doc, &err), -RM_ECONFIG);
    assert_null(doc);
    assert_string_equal(err.msgs[0].text, "x: empty configuration");
    cfg_err_fini(&err);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    assert_fail_msg("a: [1, 2\n", "t.yaml:2:1: did not find expected ',' or ']' "
                                  "(while parsing a flow sequence at line 1, column 4)");
    assert_fail_msg("a:\n  b: 1\n c: 2\n", "t.yaml:3:2: did not find expected key "
                                           "(while parsing a block mapping at line 1, column 1)");
    assert_fail_msg("a: \"unterminated\n", "t.yaml:2:1: found unexpected end of stream "
                                           "(while scanning a quoted scalar at line 1, column 4)");
    assert_fail_msg("a: b: c\n", "t.yaml:1:5: mapping values are not allowed in this context");
    /* Tabs are not indentation in YAML. */
    char *msg = parse_fail("a:\n\tb: 1\n");
    assert_true(strncmp(msg, "t.yaml:2:", 9) == 0);
    free(msg);
}

static void test_reader_errors(void **state)
{
    (void)state;
    assert_fail_msg("a: 1\nb: \xff\n", "t.yaml:2:4: invalid leading UTF-8 octet (byte 0xff)");
    char *msg = parse_fail_n("a: 1\nb: x\0y\n", 11, -RM_ECONFIG);
    assert_string_equal(msg, "t.yaml:2:5: control characters are not allowed (byte 0x00)");
    free(msg);
}

static void test_non_scalar_key(void **state)
{
    (void)state;
    assert_fail_msg("? [a]\n: 1\n", "t.yaml:1:3: map key must be a scalar, not a list");
    assert_fail_msg("{[1]: 2}", "t.yaml:1:2: map key must be a scalar, not a list");
}

static void test_errors_accumulate(void **state)
{
    (void)state;
    struct cfg_err err;
    struct vt_doc *doc;
    const char *text = "a: *x\nb: *y\n";
    cfg_err_init(&err);
    assert_int_equal(vt_parse_string("t.yaml", text, strlen(text), &doc, &err), -RM_ECONFIG);
    assert_int_equal(err.n_errors, 2);
    assert_string_equal(err.msgs[0].text, "t.yaml:1:4: unknown alias *x");
    assert_string_equal(err.msgs[1].text, "t.yaml:2:4: unknown alias *y");
    cfg_err_fini(&err);
}

static char *nested(const char *open, const char *close, size_t depth)
{
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc(depth * (lo + lc) + 1);
    assert_non_null(s);
    for (size_t i = 0; i < depth; i++)
        memcpy(s + i * lo, open, lo);
    for (size_t i = 0; i < depth; i++)
        memcpy(s + depth * lo + i * lc, close, lc);
    s[depth * (lo + lc)] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    char *ok = nested("[", "]", VT_MAX_DEPTH);
    struct vt_doc *doc = parse_ok(ok);
    struct strbuf sb;
    sb_init(&sb);
    assert_int_equal(vt_to_json(doc->root, &sb), 0);
    assert_string_equal(sb.data, ok);
    sb_fini(&sb);
    vt_doc_free(doc);
    free(ok);

    char *deep = nested("[", "]", VT_MAX_DEPTH + 1);
    char *msg = parse_fail(deep);
    assert_string_equal(msg, "t.yaml:1:257: maps and lists nest deeper than 256 levels");
    free(msg);
    free(deep);

    /* Far deeper input stops early, without recursion or a huge allocation. */
    deep = nested("{a: ", "}", 100000);
    msg = parse_fail(deep);
    assert_non_null(strstr(msg, "nest deeper than 256 levels"));
    free(msg);
    free(deep);

    /* An alias cannot smuggle in extra depth. */
    char *inner = nested("[", "]", 200);
    size_t need = strlen(inner) + 600;
    char *text = malloc(need);
    assert_non_null(text);
    char *outer_open = nested("[", "", 100);
    char *outer_close = nested("", "]", 100);
    snprintf(text, need, "a: &x %s\nb: %s*x%s\n", inner, outer_open, outer_close);
    msg = parse_fail(text);
    assert_string_equal(msg, "t.yaml:2:104: alias expansion nests deeper than 256 levels");
    free(msg);
    free(text);
    free(inner);
    free(outer_open);
    free(outer_close);
}

/* ---- files ------------------------------------------------------------------------------ */

static void test_parse_file(void **state)
{
    (void)state;
    char path[] = "/tmp/remora_yaml_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "admin:\n  address: {socket_address: {port_value: 9901}}\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    struct cfg_err err;
    struct vt_doc *doc;
    cfg_err_init(&err);
    assert_int_equal(vt_parse_file(path, "bootstrap.yaml", &doc, &err), 0);
    assert_int_equal(err.n, 0);
    const struct vt_node *addr = vt_map_get(vt_map_get(doc->root, "admin"), "address");
    assert_string_equal(addr->pos.file, "bootstrap.yaml");
    assert_int_equal(addr->pos.line, 2);
    assert_int_equal(addr->pos.col, 12);
    vt_doc_free(doc);

    /* Without a display name the path is used. */
    assert_int_equal(vt_parse_file(path, NULL, &doc, &err), 0);
    assert_string_equal(doc->root->pos.file, path);
    vt_doc_free(doc);
    unlink(path);

    assert_int_equal(vt_parse_file("/nonexistent/remora.yaml", NULL, &doc, &err), -RM_EIO);
    assert_null(doc);
    assert_int_equal(err.n, 1);
    assert_string_equal(err.msgs[0].text,
                        "cannot read /nonexistent/remora.yaml: No such file or directory");
    assert_int_equal(vt_parse_file("/tmp", NULL, &doc, &err), -RM_EIO);
    assert_string_equal(err.msgs[1].text, "cannot read /tmp: Is a directory");
    cfg_err_fini(&err);
}

static void test_parse_file_empty(void **state)
{
    (void)state;
    struct cfg_err err;
    struct vt_doc *doc;
    cfg_err_init(&err);
    assert_int_equal(vt_parse_file("/dev/null", "empty.yaml", &doc, &err), -RM_ECONFIG);
    assert_string_equal(err.msgs[0].text, "empty.yaml: empty configuration");
    cfg_err_fini(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_nested),
        cmocka_unit_test(test_positions_flow_json),
        cmocka_unit_test(test_quoted_vs_plain),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_null_and_number_keys),
        cmocka_unit_test(test_unicode_and_escapes),
        cmocka_unit_test(test_json_input),
        cmocka_unit_test(test_duplicates_last_wins),
        cmocka_unit_test(test_alias_expansion),
        cmocka_unit_test(test_alias_redefined_anchor),
        cmocka_unit_test(test_alias_errors),
        cmocka_unit_test(test_billion_laughs_capped),
        cmocka_unit_test(test_ignore_tag),
        cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_non_scalar_key),
        cmocka_unit_test(test_errors_accumulate),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_parse_file_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
