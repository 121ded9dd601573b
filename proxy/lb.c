/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/lb.c — see lb.h. */
#include "proxy/lb.h"

#include <stddef.h>

#include "config/model.h"
#include "proxy/cluster.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

/* Smooth weighted round robin (nginx's): every pick adds each weight to its current value,
 * takes the largest and subtracts the total. Over total_weight picks each host is chosen
 * exactly weight times, interleaved, as Envoy's EDF scheduler does. */
static size_t pick_swrr(struct worker_cluster *wc)
{
    struct host_set *hs = wc->hs;
    size_t best = 0;
    for (size_t i = 0; i < hs->n_p0; i++) {
        wc->swrr[i] += hs->hosts[i]->weight;
        if (wc->swrr[i] > wc->swrr[best])
            best = i;
    }
    wc->swrr[best] -= (int64_t)hs->total_weight_p0;
    return best;
}

static size_t pick_random(struct worker *w, const struct host_set *hs)
{
    if (!hs->weighted)
        return (size_t)(worker_rand(w) % hs->n_p0);
    uint64_t r = worker_rand(w) % hs->total_weight_p0;
    for (size_t i = 0; i < hs->n_p0; i++) {
        if (r < hs->hosts[i]->weight)
            return i;
        r -= hs->hosts[i]->weight;
    }
    return hs->n_p0 - 1;
}

static int64_t active(const struct host *h)
{
    return stats_value(h->stats, HOST_rq_active);
}

/* Envoy's least request: P2C on active requests; with unequal weights compare
 * weight / (active + 1) (active_request_bias 1.0). */
static size_t pick_least_request(struct worker *w, const struct host_set *hs, uint32_t choices)
{
    size_t best = (size_t)(worker_rand(w) % hs->n_p0);
    for (uint32_t k = 1; k < choices; k++) {
        size_t cand = (size_t)(worker_rand(w) % hs->n_p0);
        const struct host *b = hs->hosts[best], *c = hs->hosts[cand];
        if (hs->weighted) {
            /* c better iff c.w/(c.a+1) > b.w/(b.a+1) */
            if ((int64_t)c->weight * (active(b) + 1) > (int64_t)b->weight * (active(c) + 1))
                best = cand;
        } else if (active(c) < active(b)) {
            best = cand;
        }
    }
    return best;
}

struct host *lb_pick(struct worker *w, struct worker_cluster *wc, const struct host *avoid)
{
    struct host_set *hs = wc->hs;
    if (!hs || hs->n_p0 == 0)
        return NULL;
    const struct cfg_cluster *cfg = wc->cl->cfg;
    /* A couple of tries to avoid the host that just failed, like Envoy's
     * host_selection_retry_max_attempts; with one host there is no choice. */
    for (int attempt = 0; attempt < 3; attempt++) {
        size_t i;
        switch (cfg->lb_policy) {
        case LB_LEAST_REQUEST:
            i = pick_least_request(w, hs, cfg->least_request_choice_count);
            break;
        case LB_RANDOM:
            i = pick_random(w, hs);
            break;
        case LB_ROUND_ROBIN:
        default:
            i = hs->weighted && wc->swrr ? pick_swrr(wc) : (size_t)(wc->rr_next++ % hs->n_p0);
            break;
        }
        if (hs->hosts[i] != avoid || hs->n_p0 == 1)
            return hs->hosts[i];
    }
    return hs->hosts[0] != avoid ? hs->hosts[0] : hs->hosts[hs->n_p0 > 1 ? 1 : 0];
}
