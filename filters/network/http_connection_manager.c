/* SPDX-License-Identifier: Apache-2.0 */
/* filters/network/http_connection_manager.c — envoy.filters.network.http_connection_manager:
 * the network filter definition. Config parsing is hcm_config.c (main thread); the
 * connection manager itself is proxy/hcm.c and proxy/router.c (workers). */
#include "filters/network/http_connection_manager.h"

#include <stdlib.h>

#include "config/model_http.h"
#include "proxy/access_log.h"
#include "proxy/err.h"
#include "proxy/hcm.h"
#include "proxy/hist.h"
#include "proxy/log.h"
#include "proxy/stats.h"

static void hcm_rt_free(void *p)
{
    struct hcm_rt *rt = p;
    if (!rt)
        return;
    arena_fini(&rt->arena);
    free(rt->loggers);
    free(rt);
}

static int hcm_rt_new(const void *config, void **out)
{
    const struct cfg_hcm *cfg = config;
    struct hcm_rt *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return -RM_ENOMEM;
    arena_init(&rt->arena, 0);
    rt->cfg = cfg;
    rt->stats = stats_block_get(STATS_HTTP, cfg->stat_prefix);
    rt->rq_time = hist_get(STATS_HTTP, cfg->stat_prefix, "downstream_rq_time");
    rt->cx_length = hist_get(STATS_HTTP, cfg->stat_prefix, "downstream_cx_length_ms");
    rt->loggers = calloc(cfg->n_access_logs ? cfg->n_access_logs : 1, sizeof(*rt->loggers));
    if (!rt->stats || !rt->loggers) {
        hcm_rt_free(rt);
        return -RM_ENOMEM;
    }
    h1_config_init(&rt->h1, H1_ROLE_SERVER);
    rt->h1.max_headers_kb = cfg->max_request_headers_kb;
    rt->h1.max_headers_count = cfg->max_headers_count;
    rt->h1.allow_absolute_url = cfg->allow_absolute_url;
    rt->h1.accept_http_10 = cfg->accept_http_10;
    /* CONNECT is an upgrade: the router answers 403 unless upgrade_configs allow it. */
    rt->h1.allow_connect = true;
    switch (cfg->headers_with_underscores_action) {
    case UNDERSCORES_ALLOW:
        rt->h1.underscores = H1_UNDERSCORES_ALLOW;
        break;
    case UNDERSCORES_REJECT_REQUEST:
        rt->h1.underscores = H1_UNDERSCORES_REJECT_REQUEST;
        break;
    case UNDERSCORES_DROP_HEADER:
        rt->h1.underscores = H1_UNDERSCORES_DROP_HEADER;
        break;
    }
    for (size_t i = 0; i < cfg->n_access_logs; i++) {
        char err[256];
        if (alog_logger_new(&cfg->access_logs[i], &rt->arena, &rt->loggers[i], err, sizeof(err)) <
            0) {
            log_error(LC_FILTER, "http_connection_manager '%s': access log: %s", cfg->stat_prefix,
                      err);
            hcm_rt_free(rt);
            return -RM_ECONFIG;
        }
        rt->n_loggers++;
    }
    *out = rt;
    return 0;
}

static void hcm_filter_on_accept(struct worker *w, struct conn *c, const struct cfg_listener *l,
                                 const void *config, void *rt)
{
    (void)l;
    hcm_on_accept(w, c, config, rt);
}

const struct net_filter_def hcm_filter_def = {
    .name = HCM_NAME,
    .type_url = HCM_TYPE_URL,
    .terminal = true,
    .config_new = hcm_config_new,
    .config_check = hcm_config_check,
    .rt_new = hcm_rt_new,
    .rt_free = hcm_rt_free,
    .on_accept = hcm_filter_on_accept,
};
