/* SPDX-License-Identifier: Apache-2.0 */
/* filters/http/router_config.c — envoy.filters.http.router, the terminal HTTP filter: its
 * registry entry and config parser (envoy.extensions.filters.http.router.v3.Router → struct
 * cfg_router). The connection manager drives the router directly (proxy/router.c), so the
 * definition has no per-stream ops. Main thread. */
#include "filters/network/http_connection_manager.h"

#include <string.h>

#include "config/model_http.h"
#include "config/translate.h"
#include "proxy/err.h"

static const struct cfg_field router_fields[] = {
    /* Statistics and tracing knobs: they change what is counted or traced, never traffic. */
    {"dynamic_stats", CFG_NOOP, NULL, NULL},
    {"start_child_span", CFG_NOOP, NULL, NULL},
    {"upstream_log", CFG_UNSUPPORTED, "[]", "upstream access logs are not implemented"},
    {"upstream_log_options", CFG_UNSUPPORTED, "{}", NULL},
    {"suppress_envoy_headers", CFG_SUPPORTED, NULL, NULL},
    {"strict_check_headers", CFG_UNSUPPORTED, "[]", NULL},
    {"respect_expected_rq_timeout", CFG_SUPPORTED, NULL, NULL},
    {"suppress_grpc_request_failure_code_stats", CFG_NOOP, NULL, NULL},
    {"upstream_http_filters", CFG_UNSUPPORTED, "[]", "upstream HTTP filters are not implemented"},
};
CFG_TYPE(router_msg, "envoy.extensions.filters.http.router.v3.Router", router_fields);

int router_config_new(struct cfg_ctx *ctx, const struct vt_node *cfg, const char *path,
                      const void **out)
{
    static const struct vt_node empty_map = {.kind = VT_MAP};
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    if (!cfg)
        cfg = &empty_map;
    if (!cfg_obj_init(ctx, &o, &router_msg, cfg, path, CFG_OBJ_ANY))
        return -RM_ECONFIG;
    struct cfg_router *r = cfg_alloc(ctx, sizeof(*r));
    if (!r)
        return -RM_ENOMEM;
    cfg_f_bool(ctx, &o, "suppress_envoy_headers", &r->suppress_envoy_headers);
    cfg_f_bool(ctx, &o, "respect_expected_rq_timeout", &r->respect_expected_rq_timeout);
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    *out = r;
    return 0;
}

const struct http_filter_def router_filter_def = {
    .name = ROUTER_NAME,
    .type_url = ROUTER_TYPE_URL,
    .terminal = true,
    .config_new = router_config_new,
    .ops = NULL,
};
