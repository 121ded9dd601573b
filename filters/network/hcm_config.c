/* SPDX-License-Identifier: Apache-2.0 */
/* filters/network/hcm_config.c — config entry points of envoy.filters.network.
 * http_connection_manager: hcm_config_new() (the translation itself is
 * config/translate_hcm.c) and hcm_config_check(), the cross-check that the clusters routes
 * name exist. Main thread, while a snapshot is built. */
#include "filters/network/http_connection_manager.h"

#include <stddef.h>
#include <stdint.h>

#include "config/model_http.h"
#include "config/translate_http.h"
#include "proxy/err.h"

/* What hcm_config_new() returns a pointer to: the model object first, so the runtime reads
 * the config as a plain struct cfg_hcm, then what only the load needs. */
struct hcm_config {
    struct cfg_hcm hcm;
    bool validate_clusters;       /* route_config.validate_clusters, default true */
    struct cfg_cluster_refs refs; /* in the load's scratch arena: cleared by the check */
};

int hcm_config_new(struct cfg_ctx *ctx, const struct vt_node *cfg, const char *path,
                   const void **out)
{
    struct hcm_config *c = cfg_alloc(ctx, sizeof(*c));
    if (!c)
        return -RM_ENOMEM;
    int rc = cfg_translate_hcm(ctx, cfg, path, &c->hcm, &c->validate_clusters, &c->refs);
    if (rc)
        return rc;
    *out = &c->hcm;
    return 0;
}

void hcm_config_check(struct cfg_ctx *ctx, const void *config, const char *path)
{
    /* |config| is &c->hcm, the first member: this is the object hcm_config_new() made. It
     * is not published yet, so clearing the load-lifetime bookkeeping is still allowed. */
    struct hcm_config *c = (struct hcm_config *)(uintptr_t)config;
    (void)path;
    if (c->validate_clusters)
        cfg_check_cluster_refs(ctx, &c->refs);
    c->refs.head = c->refs.tail = NULL;
}
