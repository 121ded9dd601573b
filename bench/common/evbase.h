/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/evbase.h — event_base construction for the bench tools. */
#ifndef BENCH_EVBASE_H
#define BENCH_EVBASE_H

struct event_base;

/* A new event_base with EVENT_BASE_FLAG_PRECISE_TIMER: without it libevent 2.1 reads
 * CLOCK_MONOTONIC_COARSE (one jiffy, 4 ms at HZ=250), so millisecond timers — origin latency,
 * open-loop schedules — would fire several ms late. NULL on failure. */
struct event_base *bench_base_new(void);

#endif
