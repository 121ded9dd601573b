/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/local_reply.c — Envoy's LocalReply::rewrite() over struct cfg_local_reply. */
#include "proxy/local_reply.h"

void local_reply_rewrite(const struct cfg_local_reply *lr, struct alog_ctx *ctx,
                         struct http_msg *resp, struct arena *a, int *status, const char **body,
                         size_t *blen, const char **content_type)
{
    (void)lr;
    (void)ctx;
    (void)resp;
    (void)a;
    (void)status;
    (void)body;
    (void)blen;
    (void)content_type;
}
