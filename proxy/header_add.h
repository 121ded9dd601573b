/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/header_add.h — one HeaderValueOption (route, virtual host, route config, weighted
 * cluster and local-reply headers_to_add) applied to a message with Envoy's append_action. */
#ifndef RM_HEADER_ADD_H
#define RM_HEADER_ADD_H

struct http_msg;
struct cfg_header_add;

/* Adds |value| (already formatted, NUL-terminated) under h->key as h->action says:
 * APPEND_IF_EXISTS_OR_ADD appends, ADD_IF_ABSENT adds only when absent,
 * OVERWRITE_IF_EXISTS_OR_ADD replaces or adds, OVERWRITE_IF_EXISTS replaces only. An empty
 * value is skipped unless h->keep_empty_value. */
void header_add_apply(struct http_msg *m, const struct cfg_header_add *h, const char *value);

#endif
