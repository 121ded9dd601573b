/* SPDX-License-Identifier: Apache-2.0 */
/* config/local_reply.h — envoy.extensions.filters.network.http_connection_manager.v3.
 * LocalReplyConfig (HCM local_reply_config): mappers that rewrite a local reply's status,
 * body and headers, and a body_format applied to every local reply. Translated once at
 * config load (config/translate_local_reply.c) into an immutable object in the snapshot
 * arena; applied by proxy/local_reply.c. */
#ifndef RM_CONFIG_LOCAL_REPLY_H
#define RM_CONFIG_LOCAL_REPLY_H

struct cfg_ctx;
struct vt_node;
struct cfg_local_reply; /* opaque outside translate_local_reply.c / proxy/local_reply.c */

/* LocalReplyConfig at |n| (never NULL) into |*out| (allocated from ctx->arena). Returns 0,
 * -RM_ECONFIG (errors naming file:line:col and the field path in ctx->err) or -RM_ENOMEM. */
int cfg_translate_local_reply(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              const struct cfg_local_reply **out);

#endif
