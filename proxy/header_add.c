/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/header_add.c — see header_add.h. */
#include "proxy/header_add.h"

#include "config/model_http.h"
#include "proxy/http_msg.h"

void header_add_apply(struct http_msg *m, const struct cfg_header_add *h, const char *value)
{
    if (!*value && !h->keep_empty_value)
        return;
    bool present = http_msg_has(m, h->key);
    switch (h->action) {
    case APPEND_IF_EXISTS_OR_ADD:
        http_msg_add(m, h->key, value);
        break;
    case ADD_IF_ABSENT:
        if (!present)
            http_msg_add(m, h->key, value);
        break;
    case OVERWRITE_IF_EXISTS_OR_ADD:
        http_msg_set(m, h->key, value);
        break;
    case OVERWRITE_IF_EXISTS:
        if (present)
            http_msg_set(m, h->key, value);
        break;
    }
}
