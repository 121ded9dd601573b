/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/runtime_test.c — proxy/runtime: the disk layer reader (Envoy's
 * DiskLayer::walkDirectory: keys from paths, values from file contents with comments and
 * trailing whitespace handled as Envoy does, hidden files, other file types, dangling
 * symlinks, depth and size limits), the integer read shared by every layer, and the layers
 * on a minimal server: /runtime, the runtime.* stats, last good values kept on a read error,
 * append_service_cluster, the paths a sandbox must allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "config/err.h"
#include "config/snapshot.h"
#include "proxy/err.h"
#include "proxy/runtime.h"
#include "proxy/server.h"
#include "proxy/stats.h"
#include "proxy/strbuf.h"

static char root[64];

static void put(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    for (char *s = strchr(p + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/rm-runtime-test-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct runtime_snap *load(void)
{
    struct runtime_snap *rs = NULL;
    char err[512];
    int rc = runtime_disk_load(root, &rs, err, sizeof(err));
    if (rc)
        fail_msg("runtime_disk_load(%s): %s", root, err);
    return rs;
}

static int load_err(char *err, size_t cap)
{
    struct runtime_snap *rs = (struct runtime_snap *)1;
    int rc = runtime_disk_load(root, &rs, err, cap);
    assert_true(rc < 0);
    assert_null(rs);
    return rc;
}

static void test_keys_and_values(void **state)
{
    (void)state;
    put("health_check/min_interval", "5\n");
    put("routing/canary/v1", "  90 \t\r\n\n"); /* trailing whitespace trimmed */
    put("a/b/c/d", "x");                       /* no newline */
    put("comments", "# placeholder\n");        /* only a comment: "" */
    put("commented", "# why\n42\n# more\n");   /* comment lines dropped */
    put("multi", "line1\n\nline2  \n");        /* empty lines dropped, last trimmed */
    put("hash_inside", "a#b\n");               /* '#' not first: kept */
    put(".hidden", "1");                       /* Envoy reads dot files */
    put(".dir/key", "2");
    put("empty", "");
    struct runtime_snap *rs = load();
    assert_string_equal(runtime_snap_get(rs, "health_check.min_interval"), "5");
    assert_string_equal(runtime_snap_get(rs, "routing.canary.v1"), "  90");
    assert_string_equal(runtime_snap_get(rs, "a.b.c.d"), "x");
    assert_string_equal(runtime_snap_get(rs, "comments"), "");
    /* Envoy: "42" is not the last line ("# more" is), so it keeps its '\n'. */
    assert_string_equal(runtime_snap_get(rs, "commented"), "42\n");
    assert_string_equal(runtime_snap_get(rs, "multi"), "line1\nline2");
    assert_string_equal(runtime_snap_get(rs, "hash_inside"), "a#b");
    assert_string_equal(runtime_snap_get(rs, ".hidden"), "1");
    assert_string_equal(runtime_snap_get(rs, ".dir.key"), "2");
    assert_string_equal(runtime_snap_get(rs, "empty"), "");
    assert_null(runtime_snap_get(rs, "a.b"));     /* directories are not keys */
    assert_null(runtime_snap_get(rs, "routing")); /* nor are prefixes */
    assert_int_equal(rs->n, 10);
    for (size_t i = 1; i < rs->n; i++) /* sorted for binary search */
        assert_true(strcmp(rs->keys[i - 1], rs->keys[i]) < 0);
    /* The integer read every layer shares. */
    assert_int_equal(runtime_get_uint(rs, "health_check.min_interval", 7), 5);
    assert_int_equal(runtime_get_uint(rs, "routing.canary.v1", 7), 90);
    assert_int_equal(runtime_get_uint(rs, "commented", 7), 42);
    assert_int_equal(runtime_get_uint(rs, "a.b.c.d", 7), 7);
    assert_int_equal(runtime_get_uint(rs, "comments", 7), 7);
    assert_int_equal(runtime_get_uint(rs, "missing", 7), 7);
    runtime_snap_unref(rs);
}

static void test_symlinks_and_other_types(void **state)
{
    (void)state;
    put("real/value", "10");
    char p[512], t[512];
    snprintf(p, sizeof(p), "%s/linked_dir", root);
    snprintf(t, sizeof(t), "%s/real", root);
    assert_int_equal(symlink(t, p), 0);
    snprintf(p, sizeof(p), "%s/linked_file", root);
    snprintf(t, sizeof(t), "%s/real/value", root);
    assert_int_equal(symlink(t, p), 0);
    snprintf(p, sizeof(p), "%s/fifo", root);
    assert_int_equal(mkfifo(p, 0644), 0); /* neither file nor directory: skipped, not read */
    struct runtime_snap *rs = load();
    assert_string_equal(runtime_snap_get(rs, "linked_dir.value"), "10");
    assert_string_equal(runtime_snap_get(rs, "linked_file"), "10");
    assert_null(runtime_snap_get(rs, "fifo"));
    assert_int_equal(rs->n, 3);
    runtime_snap_unref(rs);

    /* A dangling symlink is a file Envoy fails to read: the whole layer is in error. */
    snprintf(p, sizeof(p), "%s/dangling", root);
    assert_int_equal(symlink("/nonexistent/remora", p), 0);
    char err[512];
    assert_int_equal(load_err(err, sizeof(err)), -RM_EIO);
    assert_non_null(strstr(err, "unable to read file"));
    assert_non_null(strstr(err, "dangling"));
}

static void test_limits(void **state)
{
    (void)state;
    char err[512];
    /* A file above the size limit. */
    char *big = malloc(RUNTIME_DISK_MAX_FILE_BYTES + 2);
    assert_non_null(big);
    memset(big, '1', RUNTIME_DISK_MAX_FILE_BYTES + 1);
    big[RUNTIME_DISK_MAX_FILE_BYTES + 1] = '\0';
    put("big", big);
    assert_int_equal(load_err(err, sizeof(err)), -RM_ELIMIT);
    assert_non_null(strstr(err, "above the limit of 65536 bytes"));
    big[RUNTIME_DISK_MAX_FILE_BYTES] = '\0'; /* exactly at the limit: fine */
    put("big", big);
    free(big);
    struct runtime_snap *rs = load();
    assert_int_equal(strlen(runtime_snap_get(rs, "big")), RUNTIME_DISK_MAX_FILE_BYTES);
    runtime_snap_unref(rs);

    /* A directory loop (a symlink to an ancestor) stops at Envoy's depth limit. */
    char p[512];
    snprintf(p, sizeof(p), "%s/loop", root);
    assert_int_equal(symlink(".", p), 0);
    assert_int_equal(load_err(err, sizeof(err)), -RM_ELIMIT);
    assert_non_null(strstr(err, "walk recursion depth exceeded 16"));
}

static void test_too_many_keys(void **state)
{
    (void)state;
    char err[512], name[32];
    for (int i = 0; i <= RUNTIME_DISK_MAX_KEYS; i++) {
        snprintf(name, sizeof(name), "k/%d", i);
        put(name, "1");
    }
    assert_int_equal(load_err(err, sizeof(err)), -RM_ELIMIT);
    assert_non_null(strstr(err, "more than 10000 keys"));
}

static void test_bad_paths(void **state)
{
    (void)state;
    struct runtime_snap *rs = NULL;
    char err[512];
    assert_int_equal(runtime_disk_load("/proc/self", &rs, err, sizeof(err)), -RM_EINVAL);
    assert_non_null(strstr(err, "invalid path /proc/self"));
    assert_int_equal(runtime_disk_load("/nonexistent/remora", &rs, err, sizeof(err)), -RM_EIO);
    assert_null(rs);
}

static void test_get_uint(void **state)
{
    (void)state;
    put("int", "42");
    put("frac", "12.7");
    put("space", " 3 \n");
    put("neg", "-1");
    put("bool", "true");
    put("pct", "5%");
    put("huge", "99999999999999999999999");
    put("dot", "7.");
    struct runtime_snap *rs = load();
    assert_int_equal(runtime_get_uint(rs, "int", 0), 42);
    assert_int_equal(runtime_get_uint(rs, "frac", 0), 12); /* Envoy rounds down */
    assert_int_equal(runtime_get_uint(rs, "space", 0), 3);
    assert_int_equal(runtime_get_uint(rs, "dot", 0), 7);
    assert_int_equal(runtime_get_uint(rs, "neg", 9), 9);
    assert_int_equal(runtime_get_uint(rs, "bool", 9), 9);
    assert_int_equal(runtime_get_uint(rs, "pct", 9), 9);
    assert_int_equal(runtime_get_uint(rs, "huge", 9), 9);
    runtime_snap_unref(rs);
    assert_int_equal(runtime_get_uint(NULL, "int", 4), 4);
}

/* ---- the layers on a server without workers --------------------------------------------- */

static struct server srv;
static struct stats_block *rt_stats;

static void server_up(const char *yaml, const char *service_cluster)
{
    struct cfg_err err;
    struct cfg_load_opts opts = {.config_yaml = yaml, .service_cluster = service_cluster};
    cfg_err_init(&err);
    memset(&srv, 0, sizeof(srv));
    int rc = config_load(&opts, &srv.snap, &err);
    if (rc)
        cfg_err_print(&err, stderr);
    assert_int_equal(rc, 0);
    cfg_err_fini(&err);
    stats_init(0);
    srv.base = event_base_new();
    assert_int_equal(runtime_init(&srv), 0);
    rt_stats = stats_block_get(STATS_RUNTIME, "");
}

static void server_down(void)
{
    runtime_fini(&srv);
    event_base_free(srv.base);
    snap_unref(srv.snap);
    stats_fini();
}

static void assert_render(const char *want)
{
    struct strbuf sb;
    sb_init(&sb);
    runtime_render(&srv, &sb);
    assert_string_equal(sb.data, want);
    sb_fini(&sb);
}

static void swap_to(const char *version)
{
    char tmp[512], cur[512];
    snprintf(tmp, sizeof(tmp), "%s/tmp", root);
    snprintf(cur, sizeof(cur), "%s/current", root);
    assert_int_equal(symlink(version, tmp), 0);
    assert_int_equal(rename(tmp, cur), 0);
}

static void path_cb(void *arg, const char *path, enum runtime_fs_access acc)
{
    struct strbuf *sb = arg;
    sb_printf(sb, "%s %s\n", acc == RUNTIME_FS_WATCH_DIR ? "watch" : "read", path);
}

static void test_layers(void **state)
{
    (void)state;
    put("v1/envoy/a", "1");
    put("v1/envoy/b", "2\n");
    put("v1/over/edge/b", "3");
    swap_to("v1");
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "layered_runtime:\n"
             "  layers:\n"
             "  - { name: s, static_layer: { a: 0, c: { d: x } } }\n"
             "  - { name: d, disk_layer: { symlink_root: %s/current, subdirectory: envoy } }\n"
             "  - name: o\n"
             "    disk_layer: { symlink_root: %s/current, subdirectory: over,\n"
             "                  append_service_cluster: true }\n"
             "  - { name: admin, admin_layer: {} }\n",
             root, root);
    server_up(yaml, "edge");
    assert_render("{\"layers\":[\"s\",\"d\",\"o\",\"admin\"],\"entries\":{"
                  "\"a\":{\"final_value\":\"1\",\"layer_values\":[\"0\",\"1\",\"\",\"\"]},"
                  "\"b\":{\"final_value\":\"3\",\"layer_values\":[\"\",\"2\",\"3\",\"\"]},"
                  "\"c.d\":{\"final_value\":\"x\",\"layer_values\":[\"x\",\"\",\"\",\"\"]}}}\n");
    assert_int_equal(stats_value(rt_stats, RUNTIME_load_success), 1);
    assert_int_equal(stats_value(rt_stats, RUNTIME_num_layers), 4);
    assert_int_equal(stats_value(rt_stats, RUNTIME_num_keys), 3);
    assert_int_equal(stats_value(rt_stats, RUNTIME_override_dir_exists), 1);

    struct strbuf sb;
    sb_init(&sb);
    runtime_fs_paths(path_cb, &sb);
    char want[1024];
    snprintf(want, sizeof(want), "watch %s\nread %s/current/envoy\nread %s/current/over/edge\n",
             root, root, root);
    assert_string_equal(sb.data, want);
    sb_fini(&sb);

    /* A bad tree: load_error, the disk layers keep their last good values. */
    put("v2/envoy/a", "9");
    put("v2/over/edge/b", "");
    char p[512];
    snprintf(p, sizeof(p), "%s/v2/envoy/broken", root);
    assert_int_equal(symlink("/nonexistent/remora", p), 0);
    swap_to("v2");
    assert_int_equal(runtime_reload(&srv), 0);
    assert_int_equal(stats_value(rt_stats, RUNTIME_load_error), 1);
    assert_int_equal(stats_value(rt_stats, RUNTIME_load_success), 1);
    assert_int_equal(stats_value(rt_stats, RUNTIME_num_layers), 4);
    assert_int_equal(stats_value(rt_stats, RUNTIME_override_dir_not_exists), 1); /* one read */
    assert_render("{\"layers\":[\"s\",\"d\",\"o\",\"admin\"],\"entries\":{"
                  "\"a\":{\"final_value\":\"1\",\"layer_values\":[\"0\",\"1\",\"\",\"\"]},"
                  "\"b\":{\"final_value\":\"\",\"layer_values\":[\"\",\"2\",\"\",\"\"]},"
                  "\"c.d\":{\"final_value\":\"x\",\"layer_values\":[\"x\",\"\",\"\",\"\"]}}}\n");

    /* The admin layer on top; /runtime_modify re-reads the disk (still bad: error 2). */
    sb_init(&sb);
    assert_int_equal(runtime_modify(&srv, "a=7&c.d=", &sb), 200);
    sb_fini(&sb);
    assert_int_equal(stats_value(rt_stats, RUNTIME_load_error), 2);
    assert_int_equal(stats_value(rt_stats, RUNTIME_admin_overrides_active), 1);

    /* The override directory goes away: that layer leaves the snapshot. */
    put("v3/envoy/a", "5");
    swap_to("v3");
    assert_int_equal(runtime_reload(&srv), 0);
    assert_render("{\"layers\":[\"s\",\"d\",\"admin\"],\"entries\":{"
                  "\"a\":{\"final_value\":\"7\",\"layer_values\":[\"0\",\"5\",\"7\"]},"
                  "\"c.d\":{\"final_value\":\"x\",\"layer_values\":[\"x\",\"\",\"\"]}}}\n");
    assert_int_equal(stats_value(rt_stats, RUNTIME_load_success), 2);
    assert_int_equal(stats_value(rt_stats, RUNTIME_num_layers), 3);
    assert_int_equal(stats_value(rt_stats, RUNTIME_num_keys), 2);
    server_down();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keys_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_and_other_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_keys, setup, teardown),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test_setup_teardown(test_get_uint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
