/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/worker.c — one remora-load worker thread: its event_base, its connections, the
 * 10 Hz tick (timeouts, give-up, -n completion) and the end-of-run timer. The admission rule
 * for every request (measured or warm-up, -n tokens, -d deadline) lives here. */
#include "bench/load/load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define TICK_MS 100

int stats_init(struct stats *s)
{
    memset(s, 0, sizeof(*s));
    if (hist_init_default(&s->lat) < 0 || hist_init_default(&s->tls) < 0 ||
        hist_init_default(&s->connect) < 0)
        return -RM_ENOMEM;
    return 0;
}

void stats_fini(struct stats *s)
{
    hist_fini(&s->lat);
    hist_fini(&s->tls);
    hist_fini(&s->connect);
}

uint64_t stats_errors(const struct stats *s)
{
    uint64_t n = 0;
    for (int i = 0; i < ERR__N; i++)
        n += s->errors[i];
    return n;
}

void stats_merge(struct stats *dst, const struct stats *src)
{
    hist_merge(&dst->lat, &src->lat);
    hist_merge(&dst->tls, &src->tls);
    hist_merge(&dst->connect, &src->connect);
    dst->responses += src->responses;
    for (int i = 0; i < 6; i++)
        dst->status[i] += src->status[i];
    for (int i = 0; i < ERR__N; i++)
        dst->errors[i] += src->errors[i];
    dst->mismatches += src->mismatches;
    dst->rx_bytes += src->rx_bytes;
    dst->tx_bytes += src->tx_bytes;
    dst->conns += src->conns;
    dst->req_errors += src->req_errors;
    dst->late += src->late;
    dst->verify.full += src->verify.full;
    dst->verify.cached += src->verify.cached;
    dst->verify.failed += src->verify.failed;
    if (src->first_ns && (!dst->first_ns || src->first_ns < dst->first_ns))
        dst->first_ns = src->first_ns;
    if (src->last_ns > dst->last_ns)
        dst->last_ns = src->last_ns;
}

bool worker_can_issue(struct worker *w, uint64_t t0, bool *measured)
{
    if (w->stopping)
        return false;
    if (t0 >= run_clock.end) {
        w->stopping = true;
        return false;
    }
    *measured = t0 >= run_clock.measure;
    if (*measured && lopt.requests) {
        /* One token per measured request across all threads: exactly -n are issued. */
        if (atomic_fetch_sub_explicit(&run_clock.tokens, 1, memory_order_relaxed) <= 0) {
            w->stopping = true;
            return false;
        }
    }
    return true;
}

void worker_maybe_finish(struct worker *w)
{
    if (w->done)
        return;
    if (lopt.tcp && lopt.tcp_bytes) {
        for (int i = 0; i < w->n_conns; i++)
            if (!w->conns[i].finished)
                return;
        w->stopping = true;
    }
    if (w->stopping && w->inflight == 0) {
        w->done = true;
        event_base_loopbreak(w->base);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t now = now_ns();
    bool any_ready = false;

    for (int i = 0; i < w->n_conns; i++) {
        struct lconn *c = &w->conns[i];
        lconn_check_timeouts(c, now);
        any_ready |= (c->state == LC_READY || c->state == LC_DRAINING) && c->proven;
    }
    /* Connects or handshakes kept failing, with no connection up that got an answer and no
     * answer for a whole --timeout: give up rather than retry forever (a -n run against a
     * dead target, or one that refuses us after the handshake, would never end). A target
     * that went away and comes back within --timeout is reconnected to. */
    if (!any_ready && w->last_connect_err > w->last_answer &&
        now - w->last_answer > (uint64_t)(lopt.timeout * 1e9))
        w->stopping = true;
    worker_maybe_finish(w);
}

static void on_end(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    /* -d reached: requests still in flight are abandoned, not counted (as wrk does). In open
     * loop, the requests whose intended send time fell inside the window but that were never
     * sent (every connection busy: the target is slower than -R) are counted as late, so a run
     * that fell behind says so instead of reporting the latency of the few that went out. */
    if (lopt.rate > 0 && !lopt.requests)
        for (int i = 0; i < w->n_conns; i++) {
            const struct lconn *c = &w->conns[i];
            uint64_t from = c->next_due > run_clock.measure ? c->next_due : run_clock.measure;
            if (c->interval && from < run_clock.end)
                w->st.late += (run_clock.end - from + c->interval - 1) / c->interval;
        }
    w->stopping = true;
    w->done = true;
    event_base_loopbreak(w->base);
}

int worker_run(struct worker *w)
{
    uint64_t now = now_ns();

    w->last_answer = now;
    for (int i = 0; i < w->n_conns; i++)
        if (lconn_init(&w->conns[i], w, i) < 0)
            return -RM_ENOMEM;
    for (int i = 0; i < w->n_conns; i++)
        lconn_start(&w->conns[i]);
    struct timeval tick = {0, TICK_MS * 1000};
    w->ev_tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    event_add(w->ev_tick, &tick);
    if (run_clock.end != UINT64_MAX) {
        uint64_t d = run_clock.end > now ? run_clock.end - now : 0;
        struct timeval tv = {(time_t)(d / 1000000000ULL), (suseconds_t)(d % 1000000000ULL / 1000)};
        w->ev_end = evtimer_new(w->base, on_end, w);
        evtimer_add(w->ev_end, &tv);
    }
    if (!w->done)
        event_base_dispatch(w->base);

    for (int i = 0; i < w->n_conns; i++)
        lconn_fini(&w->conns[i]);
    if (w->tls)
        tls_client_ctx_stats(w->tls, &w->st.verify);
    event_free(w->ev_tick);
    if (w->ev_end)
        event_free(w->ev_end);
    return 0;
}
