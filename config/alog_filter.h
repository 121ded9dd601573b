/* SPDX-License-Identifier: Apache-2.0 */
/* config/alog_filter.h — envoy.config.accesslog.v3.AccessLogFilter → struct cfg_alog_filter
 * (config/model.h). Used by every access log (translate_access_log.c) and by the HCM
 * local_reply_config mappers (translate_local_reply.c). Main thread only. */
#ifndef RM_CONFIG_ALOG_FILTER_H
#define RM_CONFIG_ALOG_FILTER_H

#include <stdbool.h>

struct cfg_ctx;
struct vt_node;
struct cfg_alog_filter;

/*
 * Translates the AccessLogFilter at |n| (must be set) into a new object in ctx->arena.
 * Implemented: status_code_filter, duration_filter, not_health_check_filter, runtime_filter,
 * and_filter, or_filter, header_filter, response_flag_filter, grpc_status_filter. Refused
 * with "<path>.<field>: <field> is not supported by Remora yet": traceable_filter,
 * metadata_filter, log_type_filter, extension_filter. Envoy's validation rules apply (exactly
 * one filter, and/or with at least two filters, known response flags and gRPC statuses...).
 * Returns true with |*out| set, or false with errors (file:line:col, field path) in ctx->err.
 */
bool cfg_translate_alog_filter(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                               const struct cfg_alog_filter **out);

#endif
