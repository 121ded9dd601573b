/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/lb.h — load balancing over a worker's host set: ROUND_ROBIN (smooth weighted
 * round robin when weights differ, the distribution Envoy's EDF scheduler gives),
 * LEAST_REQUEST (power of |choice_count| choices on active requests; weighted by
 * weight / (active + 1) when weights differ, Envoy's active_request_bias 1.0) and RANDOM
 * (weight-proportional). Only the best (lowest-numbered) priority is used while it has
 * hosts: without health checking every host is healthy, so Envoy sends it all traffic.
 * Worker thread only. */
#ifndef RM_LB_H
#define RM_LB_H

struct worker;
struct worker_cluster;
struct host;

/* Returns a host (no reference taken: the caller takes one if it keeps it), or NULL when
 * the cluster has no hosts. |avoid| (may be NULL) is skipped when another host exists
 * (used between connect attempts). */
struct host *lb_pick(struct worker *w, struct worker_cluster *wc, const struct host *avoid);

#endif
