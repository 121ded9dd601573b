/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/cpu.h — how many CPUs this process may really use: the affinity mask, capped by
 * the cgroup CPU quota (v2 cpu.max, v1 cfs_quota/period), rounded up, at least 1. A sidecar
 * in a 1-CPU pod on a 64-core node gets 1 worker, not 64. */
#ifndef RM_CPU_H
#define RM_CPU_H

/* |cgroup_root| is normally "/sys/fs/cgroup" (a parameter for tests). */
unsigned cpu_available(const char *cgroup_root);
/* The quota part alone: CPUs allowed by the cgroup under |cgroup_root| for the cgroup
 * named in |proc_cgroup| (the text of /proc/self/cgroup), or 0 when unlimited/unknown. */
unsigned cpu_cgroup_limit(const char *cgroup_root, const char *proc_cgroup);

#endif
