/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_local_reply.c — HCM local_reply_config → struct cfg_local_reply, after
 * Envoy's source/common/local_reply/local_reply.cc (LocalReplyImpl, ResponseMapper,
 * BodyFormatter) and the PGV rules of http_connection_manager.proto. Formats are compiled
 * here, DataSource files are read here: nothing is parsed or read per request. Main thread. */
#include "config/local_reply.h"

#include <string.h>

#include "config/alog_filter.h"
#include "config/err.h"
#include "config/translate.h"
#include "config/translate_http.h"
#include "config/value.h"
#include "proxy/access_log.h"
#include "proxy/err.h"
#include "proxy/http_msg.h"

#define HCM_PKG "envoy.extensions.filters.network.http_connection_manager.v3."
#define BODY_MAX (1024 * 1024) /* a mapper body or text_format_source file */

static const struct cfg_field local_reply_fields[] = {
    {"mappers", CFG_SUPPORTED, NULL, NULL},
    {"body_format", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(local_reply_msg, HCM_PKG "LocalReplyConfig", local_reply_fields);

static const struct cfg_field mapper_fields[] = {
    {"filter", CFG_SUPPORTED, NULL, NULL},
    {"status_code", CFG_SUPPORTED, NULL, NULL},
    {"body", CFG_SUPPORTED, NULL, NULL},
    {"body_format_override", CFG_SUPPORTED, NULL, NULL},
    {"headers_to_add", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(mapper_msg, HCM_PKG "ResponseMapper", mapper_fields);

static const struct cfg_field format_fields[] = {
    {"text_format", CFG_DEPRECATED, NULL, "use text_format_source.inline_string"},
    {"json_format", CFG_SUPPORTED, NULL, NULL},
    {"text_format_source", CFG_SUPPORTED, NULL, NULL},
    {"omit_empty_values", CFG_SUPPORTED, NULL, NULL},
    {"content_type", CFG_SUPPORTED, NULL, NULL},
    {"formatters", CFG_UNSUPPORTED, "[]", "formatter extensions are not implemented"},
    {"json_format_options", CFG_UNSUPPORTED, "{}", NULL},
};
CFG_TYPE(format_msg, "envoy.config.core.v3.SubstitutionFormatString", format_fields);

/* envoy.config.core.v3.SubstitutionFormatString → a compiled body format (BodyFormatter). */
static const struct cfg_body_format *body_format(struct cfg_ctx *ctx, const struct vt_node *n,
                                                 const char *path)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *text = NULL, *ctype = NULL;
    const struct vt_node *json = NULL;
    bool omit = false;
    if (!cfg_obj_init(ctx, &o, &format_msg, n, path, 0))
        return NULL;
    cfg_f_str(ctx, &o, "text_format", &text);
    cfg_val_struct(ctx, cfg_obj_get(&o, "json_format"), cfg_obj_path(ctx, &o, "json_format"),
                   &json);
    const struct vt_node *src = cfg_obj_get(&o, "text_format_source");
    cfg_f_bool(ctx, &o, "omit_empty_values", &omit);
    cfg_f_str(ctx, &o, "content_type", &ctype);
    if (cfg_errors(ctx) != mark)
        return NULL;
    int set = (text != NULL) + (json != NULL) + (src != NULL);
    if (set == 0) {
        cfg_err_add(ctx->err, n, path,
                    "one of text_format_source, json_format or text_format is required (oneof "
                    "format)");
        return NULL;
    }
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of text_format_source, json_format and text_format may be set "
                    "(oneof format)");
        return NULL;
    }
    if (ctype && ctype[0] && !http_is_field_value(ctype, strlen(ctype))) {
        /* PGV: well_known_regex HTTP_HEADER_VALUE, strict */
        cfg_obj_error(ctx, &o, "content_type", "content_type is not a valid header value");
        return NULL;
    }
    size_t tlen = 0;
    if (src && !cfg_translate_data_source(ctx, src, cfg_obj_path(ctx, &o, "text_format_source"),
                                          BODY_MAX, "body format", &text, &tlen))
        return NULL;
    struct cfg_body_format *bf = cfg_alloc(ctx, sizeof(*bf));
    if (!bf)
        return NULL;
    char err[256];
    struct alog_format *f;
    int rc = alog_format_compile(json ? NULL : text, json, omit, ctx->arena, &f, err, sizeof(err));
    if (rc == -RM_ENOMEM) {
        cfg_oom(ctx);
        return NULL;
    }
    if (rc) {
        const char *field = json ? "json_format" : src ? "text_format_source" : "text_format";
        cfg_obj_error(ctx, &o, field, "%s", err);
        return NULL;
    }
    bf->fmt = f;
    /* BodyFormatter: content_type if set, else by the format's kind. */
    bf->content_type = ctype && ctype[0] ? ctype : json ? "application/json" : "text/plain";
    return bf;
}

static bool mapper(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                   struct cfg_response_mapper *m)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    if (!cfg_obj_init(ctx, &o, &mapper_msg, n, path, 0))
        return false;
    if (!o.node) {
        cfg_err_add(ctx->err, n, path, "a mapper needs a filter");
        return false;
    }
    const struct vt_node *flt = cfg_obj_get(&o, "filter");
    if (!flt) /* PGV: message.required */
        cfg_obj_error(ctx, &o, "filter", "filter is required");
    else
        cfg_translate_alog_filter(ctx, flt, cfg_obj_path(ctx, &o, "filter"), &m->filter);

    const struct vt_node *sc = cfg_obj_get(&o, "status_code");
    if (sc) {
        uint32_t code = 0;
        if (cfg_val_u32(ctx, sc, cfg_obj_path(ctx, &o, "status_code"), &code)) {
            if (code < 200 || code >= 600) /* PGV: uint32 {gte: 200, lt: 600} */
                cfg_obj_error(ctx, &o, "status_code", "status_code must be in [200, 600), got %u",
                              code);
            else
                m->status_code = code;
        }
    }

    const struct vt_node *body = cfg_obj_get(&o, "body");
    if (body && cfg_translate_data_source(ctx, body, cfg_obj_path(ctx, &o, "body"), BODY_MAX,
                                          "local reply body", &m->body, &m->body_len))
        m->has_body = true;

    const struct vt_node *bfo = cfg_obj_get(&o, "body_format_override");
    if (bfo)
        m->body_format_override =
            body_format(ctx, bfo, cfg_obj_path(ctx, &o, "body_format_override"));

    const struct vt_node *hta = cfg_obj_get(&o, "headers_to_add");
    if (hta) /* validated like route headers_to_add (at most 1000, %OPERATORS% compiled) */
        cfg_translate_headers_to_add(ctx, hta, cfg_obj_path(ctx, &o, "headers_to_add"),
                                     &m->headers_to_add, &m->n_headers_to_add);
    return cfg_errors(ctx) == mark;
}

int cfg_translate_local_reply(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              const struct cfg_local_reply **out)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    size_t count = 0;
    *out = NULL;
    if (!cfg_obj_init(ctx, &o, &local_reply_msg, n, path, 0))
        return -RM_ECONFIG;
    cfg_f_list(ctx, &o, "mappers", &count);
    const struct vt_node *bf = cfg_obj_get(&o, "body_format");
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    if (count == 0 && !bf)
        return 0; /* an empty LocalReplyConfig changes nothing */

    struct cfg_local_reply *lr = cfg_alloc(ctx, sizeof(*lr));
    struct cfg_response_mapper *mappers = count ? cfg_alloc(ctx, count * sizeof(*mappers)) : NULL;
    if (!lr || (count && !mappers))
        return -RM_ENOMEM;
    const struct vt_node *list = cfg_obj_get(&o, "mappers");
    const char *lpath = cfg_obj_path(ctx, &o, "mappers");
    for (size_t i = 0; i < count; i++)
        mapper(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), &mappers[i]);
    lr->mappers = mappers;
    lr->n_mappers = count;
    if (bf)
        lr->body_format = body_format(ctx, bf, cfg_obj_path(ctx, &o, "body_format"));
    if (ctx->oom)
        return -RM_ENOMEM;
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    *out = lr;
    return 0;
}
