/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/local_reply.h — applies an HCM local_reply_config (config/local_reply.h) to a local
 * reply the connection manager is about to send (Envoy's LocalReply::rewrite()). */
#ifndef RM_LOCAL_REPLY_H
#define RM_LOCAL_REPLY_H

#include <stddef.h>

struct cfg_local_reply;
struct alog_ctx;
struct http_msg;
struct arena;

/*
 * |ctx| describes the stream (response_code = the original status, flags, details, request
 * headers through ctx->req_header). The first mapper whose filter matches may change
 * |*status|, replace the body and add headers to |resp|; then body_format (the mapper's
 * override, else the config's) formats the body, with %LOCAL_REPLY_BODY% the body so far.
 * |*body|/|*blen| are replaced by memory from |a| when rewritten; |*content_type| is set
 * when the format names one (else left as is: NULL means text/plain for a non-empty body).
 * |ctx| is read (a private copy routes its header callbacks through |resp|, whose :status
 * and added headers the mappers' filters and formats see); only ctx->response_code is
 * updated, to the final status. Worker thread; no allocation outside |a| (formatting uses
 * the thread's access log scratch buffer).
 */
void local_reply_rewrite(const struct cfg_local_reply *lr, struct alog_ctx *ctx,
                         struct http_msg *resp, struct arena *a, int *status, const char **body,
                         size_t *blen, const char **content_type);

#endif
