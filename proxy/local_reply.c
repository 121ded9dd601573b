/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/local_reply.c — Envoy's LocalReplyImpl::rewrite() (source/common/local_reply/
 * local_reply.cc) over struct cfg_local_reply, plus the content-type rules of
 * Http::Utility::prepareLocalReply(). Worker thread; allocates only from the stream arena
 * (header values, the formatted body). */
#include "proxy/local_reply.h"

#include <stdio.h>
#include <string.h>

#include "config/local_reply.h"
#include "config/model_http.h"
#include "proxy/access_log.h"
#include "proxy/alog_filter.h"
#include "proxy/arena.h"
#include "proxy/header_add.h"
#include "proxy/http_msg.h"

/* What the mappers' filters and formats see, as Envoy passes them to LocalReply::rewrite():
 * the request headers (the caller's callback), the response headers being built (|resp|, with
 * :status), and empty response trailers. */
struct lr_view {
    const void *stream;
    alog_header_fn req_header;
    const struct http_msg *resp;
    char status[12];
};

static const char *view_req(const void *stream, const char *lname, size_t *len)
{
    const struct lr_view *v = stream;
    return v->req_header ? v->req_header(v->stream, lname, len) : NULL;
}

static const char *view_resp(const void *stream, const char *lname, size_t *len)
{
    const struct lr_view *v = stream;
    if (strcmp(lname, ":status") == 0) {
        *len = strlen(v->status);
        return v->status;
    }
    const struct http_slice *s = http_hdrs_get(&v->resp->headers, lname, strlen(lname));
    if (!s)
        return NULL;
    *len = s->n;
    return s->p;
}

static const char *view_trailer(const void *stream, const char *lname, size_t *len)
{
    (void)stream;
    (void)lname;
    (void)len;
    return NULL; /* Envoy: StaticEmptyHeaders response_trailers */
}

static void set_status(struct lr_view *v, struct alog_ctx *ctx, int status)
{
    snprintf(v->status, sizeof(v->status), "%d", status);
    ctx->response_code = (uint32_t)status; /* stream_info.setResponseCode() */
}

/* HeaderParser::evaluateHeaders() for headers_to_add, as proxy/router.c applies route
 * headers: values with %OPERATORS% are formatted with |ctx|; an empty value is skipped
 * unless keep_empty_value. */
static void apply_adds(const struct cfg_header_add *adds, size_t n, const struct alog_ctx *ctx,
                       struct http_msg *resp, struct arena *a)
{
    for (size_t i = 0; i < n; i++) {
        const struct cfg_header_add *h = &adds[i];
        const char *v = h->value;
        size_t vlen = 0;
        if (h->fmt && alog_format_to_arena(h->fmt, ctx, a, &v, &vlen) != 0)
            v = "";
        header_add_apply(resp, h, v);
    }
}

void local_reply_rewrite(const struct cfg_local_reply *lr, struct alog_ctx *actx,
                         struct http_msg *resp, struct arena *a, int *status, const char **body,
                         size_t *blen, const char **content_type)
{
    if (!lr)
        return;
    /* A copy of the caller's context whose header callbacks go through the view. */
    struct lr_view view = {.stream = actx->stream, .req_header = actx->req_header, .resp = resp};
    struct alog_ctx lctx = *actx, *ctx = &lctx;
    ctx->stream = &view;
    ctx->req_header = view_req;
    ctx->resp_header = view_resp;
    ctx->resp_trailer = view_trailer;
    /* rewrite(): the filters see the original code as the response code and in :status. */
    set_status(&view, ctx, *status);

    struct alog_filter_env env;
    alog_filter_env_current(&env);
    const struct cfg_body_format *fmt = NULL;
    for (size_t i = 0; i < lr->n_mappers; i++) {
        const struct cfg_response_mapper *m = &lr->mappers[i];
        if (!m->filter || !alog_filter_eval(m->filter, ctx, &env))
            continue;
        /* ResponseMapper::matchAndRewrite(): body, then headers, then the status. */
        if (m->has_body) {
            *body = m->body;
            *blen = m->body_len;
        }
        apply_adds(m->headers_to_add, m->n_headers_to_add, ctx, resp, a);
        if (m->status_code && (int)m->status_code != *status) {
            *status = (int)m->status_code;
            set_status(&view, ctx, *status);
        }
        fmt = m->body_format_override;
        break; /* the first matching mapper wins */
    }
    if (!fmt)
        fmt = lr->body_format;
    if (fmt) {
        /* BodyFormatter::format(): %LOCAL_REPLY_BODY% is the body so far; %RESPONSE_CODE%
         * the rewritten code. */
        ctx->local_reply_body = *body;
        ctx->local_reply_body_len = *blen;
        const char *out;
        size_t olen;
        if (alog_format_to_arena(fmt->fmt, ctx, a, &out, &olen) == 0) {
            *body = out;
            *blen = olen;
        }
        *content_type = fmt->content_type;
    }

    /* prepareLocalReply(): a content-type a mapper added is kept; without a body there is
     * no content-type at all. */
    if (*blen) {
        const struct http_slice *ct = http_msg_get(resp, "content-type");
        if (ct && ct->p)
            *content_type = ct->p; /* NUL-terminated copy in the stream arena */
    } else {
        http_msg_remove(resp, "content-type");
    }

    actx->response_code = (uint32_t)*status; /* the caller's context sees the final code */
}
