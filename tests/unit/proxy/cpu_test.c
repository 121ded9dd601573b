/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/cpu_test.c — cgroup CPU quota → worker count, on fake cgroup trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/cpu.h"

static char root[256];

static void put(const char *rel, const char *text)
{
    char path[512], cmd[600];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/remora-cpu-test-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd);
}

static void v2_quota_rounds_up(void **state)
{
    (void)state;
    put("kubepods/pod1/cpu.max", "150000 100000\n");
    assert_int_equal(cpu_cgroup_limit(root, "0::/kubepods/pod1\n"), 2);
}

static void v2_one_cpu_pod(void **state)
{
    (void)state;
    put("pod/cpu.max", "100000 100000\n");
    assert_int_equal(cpu_cgroup_limit(root, "0::/pod\n"), 1);
}

static void v2_unlimited(void **state)
{
    (void)state;
    put("free/cpu.max", "max 100000\n");
    assert_int_equal(cpu_cgroup_limit(root, "0::/free\n"), 0);
}

static void v2_parent_limit_applies(void **state)
{
    (void)state;
    put("parent/cpu.max", "300000 100000\n");
    put("parent/child/cpu.max", "max 100000\n");
    assert_int_equal(cpu_cgroup_limit(root, "0::/parent/child\n"), 3);
}

static void v2_tightest_ancestor_wins(void **state)
{
    (void)state;
    put("a/cpu.max", "50000 100000\n");
    put("a/b/cpu.max", "400000 100000\n");
    assert_int_equal(cpu_cgroup_limit(root, "0::/a/b\n"), 1);
}

static void v1_quota(void **state)
{
    (void)state;
    put("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
    put("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    assert_int_equal(cpu_cgroup_limit(root, "12:memory:/docker/abc\n"
                                            "4:cpu,cpuacct:/docker/abc\n"),
                     3);
}

static void v1_unlimited(void **state)
{
    (void)state;
    put("cpu,cpuacct/x/cpu.cfs_quota_us", "-1\n");
    put("cpu,cpuacct/x/cpu.cfs_period_us", "100000\n");
    assert_int_equal(cpu_cgroup_limit(root, "4:cpu,cpuacct:/x\n"), 0);
}

static void no_cgroup_info(void **state)
{
    (void)state;
    assert_int_equal(cpu_cgroup_limit(root, ""), 0);
    assert_int_equal(cpu_cgroup_limit(root, "garbage\n"), 0);
}

static void available_is_at_least_one(void **state)
{
    (void)state;
    unsigned n = cpu_available("/sys/fs/cgroup");
    assert_true(n >= 1);
    assert_true(n <= (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(v2_quota_rounds_up, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_one_cpu_pod, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_unlimited, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_parent_limit_applies, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_tightest_ancestor_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(v1_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(v1_unlimited, setup, teardown),
        cmocka_unit_test_setup_teardown(no_cgroup_info, setup, teardown),
        cmocka_unit_test(available_is_at_least_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
