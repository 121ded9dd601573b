/* SPDX-License-Identifier: Apache-2.0 */
/* config/snapshot.h — an immutable, reference-counted bundle of config model objects.
 * Built and validated whole on the main thread (config_load()), then published to workers,
 * each of which holds a reference; connections hold one for the chain they were accepted
 * with. The last snap_unref() may run on any thread and only releases memory. */
#ifndef RM_CONFIG_SNAPSHOT_H
#define RM_CONFIG_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/model.h"
#include "proxy/arena.h"

struct vt_doc;
struct cfg_err;

struct snapshot {
    int refs;                 /* atomic (__atomic builtins) */
    struct arena arena;       /* owns every model object below */
    struct vt_doc *doc;       /* the merged source tree; freed with the snapshot */
    struct cfg_bootstrap *bs; /* the model */
    uint64_t version;         /* 1 for the bootstrap, then increasing */
};

/* What the command line contributes to a load (Envoy's --config-path, --config-yaml,
 * --service-node/cluster/zone). */
struct cfg_load_opts {
    const char *config_path;     /* may be NULL when config_yaml is given */
    const char *config_yaml;     /* inline YAML merged over the file, or NULL */
    const char *service_node;    /* overrides node.id when set */
    const char *service_cluster; /* overrides node.cluster when set */
    const char *service_zone;    /* overrides node.locality.zone when set */
};

/* Loads, merges and translates a bootstrap. On success returns 0 and a snapshot with one
 * reference in |*out|. On failure returns -RM_ECONFIG (or -RM_EIO/-RM_ENOMEM) with every
 * problem found added to |err| (warnings may be added on success too). */
int config_load(const struct cfg_load_opts *opts, struct snapshot **out, struct cfg_err *err);

struct snapshot *snap_ref(struct snapshot *s);
void snap_unref(struct snapshot *s);

#endif
