/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/runtime.h — Envoy's layered runtime: key → value entries from static layers (nested
 * maps flattened to dotted keys) and an admin layer changed live by POST /runtime_modify,
 * later layers overriding earlier ones. The main thread owns the layers and publishes an
 * immutable, refcounted snapshot of the final values to every worker, which the router reads
 * for runtime_fraction keys and weighted_clusters.runtime_key_prefix weights: operators shift
 * canary traffic without a config push. */
#ifndef RM_RUNTIME_H
#define RM_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct strbuf;
struct worker;

/* Immutable final values, sorted by key (binary search). */
struct runtime_snap {
    int refs; /* atomic */
    size_t n;
    char **keys;
    char **vals;
};

/* Builds the layers from the bootstrap and publishes the first snapshot (main thread).
 * Returns 0 or -RM_ENOMEM. */
int runtime_init(struct server *srv);
void runtime_fini(struct server *srv);

/* Admin: GET /runtime (Envoy's JSON) and POST /runtime_modify?k=v&... (an empty value removes
 * the admin override). runtime_modify returns an HTTP status (200, or 503 without an admin
 * layer, 400 for a bad query) and writes the body. */
void runtime_render(struct server *srv, struct strbuf *out);
int runtime_modify(struct server *srv, const char *query, struct strbuf *out);

void runtime_snap_unref(struct runtime_snap *rs);
/* Worker side: the integer value of |key| in |rs|, or |dflt| when absent or not an integer. */
uint64_t runtime_get_uint(const struct runtime_snap *rs, const char *key, uint64_t dflt);

#endif
