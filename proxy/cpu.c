/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/cpu.c — see cpu.h. */
#include "proxy/cpu.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

static unsigned quota_to_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return 0;
    return (unsigned)((quota + period - 1) / period);
}

/* cgroup v2: "<quota|max> <period>" in cpu.max of our cgroup and every ancestor; the
 * tightest wins. */
static unsigned v2_limit(const char *root, const char *rel)
{
    char path[1200], dir[1024], buf[128];
    unsigned best = 0;
    snprintf(dir, sizeof(dir), "%s", rel);
    for (;;) {
        snprintf(path, sizeof(path), "%s%s/cpu.max", root, strcmp(dir, "/") == 0 ? "" : dir);
        if (read_file(path, buf, sizeof(buf)) == 0 && strncmp(buf, "max", 3) != 0) {
            long long q = 0, p = 0;
            if (sscanf(buf, "%lld %lld", &q, &p) == 2) {
                unsigned c = quota_to_cpus(q, p);
                if (c && (!best || c < best))
                    best = c;
            }
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) {
            if (strcmp(dir, "/") == 0)
                break;
            strcpy(dir, "/");
            continue;
        }
        *slash = '\0';
    }
    return best;
}

static unsigned v1_limit(const char *root, const char *rel)
{
    char path[1400], buf[64];
    long long q = -1, p = 0;
    const char *dirs[] = {"cpu", "cpu,cpuacct", "cpuacct,cpu"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s%s/cpu.cfs_quota_us", root, dirs[i], rel);
        if (read_file(path, buf, sizeof(buf)) < 0) {
            snprintf(path, sizeof(path), "%s/%s/cpu.cfs_quota_us", root, dirs[i]);
            if (read_file(path, buf, sizeof(buf)) < 0)
                continue;
            q = atoll(buf);
            snprintf(path, sizeof(path), "%s/%s/cpu.cfs_period_us", root, dirs[i]);
        } else {
            q = atoll(buf);
            snprintf(path, sizeof(path), "%s/%s%s/cpu.cfs_period_us", root, dirs[i], rel);
        }
        if (read_file(path, buf, sizeof(buf)) == 0)
            p = atoll(buf);
        return quota_to_cpus(q, p);
    }
    return 0;
}

unsigned cpu_cgroup_limit(const char *root, const char *proc_cgroup)
{
    /* Lines: "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1). */
    const char *line = proc_cgroup;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char l[1024];
        if (len >= sizeof(l))
            len = sizeof(l) - 1;
        memcpy(l, line, len);
        l[len] = '\0';
        char *c1 = strchr(l, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c1 && c2) {
            *c2 = '\0';
            const char *ctrl = c1 + 1, *rel = c2 + 1;
            if (ctrl[0] == '\0') {
                unsigned v = v2_limit(root, rel);
                if (v)
                    return v;
            } else if (strstr(ctrl, "cpu") && !strstr(ctrl, "cpuset")) {
                unsigned v = v1_limit(root, rel);
                if (v)
                    return v;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

unsigned cpu_available(const char *cgroup_root)
{
    unsigned n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = (unsigned)CPU_COUNT(&set);
    if (n == 0)
        n = 1;
    char buf[4096];
    if (read_file("/proc/self/cgroup", buf, sizeof(buf)) == 0) {
        unsigned q = cpu_cgroup_limit(cgroup_root, buf);
        if (q && q < n)
            n = q;
    }
    return n ? n : 1;
}
