/* SPDX-License-Identifier: Apache-2.0 */
/* bench/common/evbase.c — see evbase.h. */
#include "bench/common/evbase.h"

#include <event2/event.h>

struct event_base *bench_base_new(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}
