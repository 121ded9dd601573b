/* SPDX-License-Identifier: Apache-2.0 */
/* config/local_reply.h — envoy.extensions.filters.network.http_connection_manager.v3.
 * LocalReplyConfig (HCM local_reply_config): mappers that rewrite a local reply's status,
 * body and headers, and a body_format applied to every local reply. Translated once at
 * config load (config/translate_local_reply.c) into an immutable object in the snapshot
 * arena; applied by proxy/local_reply.c. Only those two files read the structs below. */
#ifndef RM_CONFIG_LOCAL_REPLY_H
#define RM_CONFIG_LOCAL_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_ctx;
struct vt_node;
struct cfg_alog_filter;
struct cfg_header_add;
struct alog_format;

/* A SubstitutionFormatString used as a body format (Envoy's LocalReply BodyFormatter). */
struct cfg_body_format {
    const struct alog_format *fmt; /* compiled text or json_format */
    const char *content_type;      /* content_type, else application/json for json_format,
                                    * else text/plain */
};

/* ResponseMapper */
struct cfg_response_mapper {
    const struct cfg_alog_filter *filter; /* required */
    uint32_t status_code;                 /* 200..599; 0 = keep the status */
    bool has_body;                        /* body set (it may be empty) */
    const char *body;                     /* body DataSource, read at load */
    size_t body_len;
    const struct cfg_body_format *body_format_override; /* NULL = the config's body_format */
    struct cfg_header_add *headers_to_add;
    size_t n_headers_to_add;
};

struct cfg_local_reply {
    const struct cfg_response_mapper *mappers; /* first match wins */
    size_t n_mappers;
    const struct cfg_body_format *body_format; /* NULL = the body as it is (%LOCAL_REPLY_BODY%,
                                                * text/plain) */
};

/* LocalReplyConfig at |n| (never NULL) into |*out| (allocated from ctx->arena; NULL for an
 * empty config, which changes nothing). Returns 0, -RM_ECONFIG (errors naming
 * file:line:col and the field path in ctx->err) or -RM_ENOMEM. */
int cfg_translate_local_reply(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              const struct cfg_local_reply **out);

#endif
