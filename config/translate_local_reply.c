/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_local_reply.c — HCM local_reply_config → struct cfg_local_reply. */
#include "config/local_reply.h"

#include "config/err.h"
#include "config/translate.h"
#include "config/value.h"
#include "proxy/err.h"

int cfg_translate_local_reply(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              const struct cfg_local_reply **out)
{
    *out = NULL;
    if (n->kind == VT_NULL || (n->kind == VT_MAP && n->map.n == 0))
        return 0; /* an empty LocalReplyConfig changes nothing */
    cfg_err_add(ctx->err, n, path, "local_reply_config is not supported by Remora yet");
    return -RM_ECONFIG;
}
