/* SPDX-License-Identifier: Apache-2.0 */
/* config/load.c — config_load(): the bootstrap from --config-path and/or --config-yaml
 * (YAML or JSON), merged the way Envoy merges them, with the --service-* overrides applied,
 * translated into the model, cross-checked, and packed into a snapshot that owns both the
 * source document and the model. Also cfg_find_cluster(). Main thread only. */
#include "config/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "config/err.h"
#include "config/translate.h"
#include "config/value.h"
#include "proxy/err.h"

const struct cfg_cluster *cfg_find_cluster(const struct cfg_bootstrap *bs, const char *name)
{
    if (!bs || !name)
        return NULL;
    for (size_t i = 0; i < bs->n_clusters; i++)
        if (strcmp(bs->clusters[i].name, name) == 0)
            return &bs->clusters[i];
    return NULL;
}

/* ---- --service-node/cluster/zone ---------------------------------------------------------- */

static struct vt_node *mk_node(struct arena *a, enum vt_kind kind, const char *file)
{
    struct vt_node *n = arena_zalloc(a, sizeof(*n));
    if (n) {
        n->kind = kind;
        n->pos.file = file;
    }
    return n;
}

/* Appends key → |val| to map |m| (arrays sized by the caller: at most 3 pairs). */
static bool map_put(struct vt_node *m, const char *key, struct vt_node *val)
{
    if (!val)
        return false;
    struct vt_pair *p = &m->map.items[m->map.n++];
    p->key = key;
    p->key_pos = val->pos;
    p->val = val;
    return true;
}

static struct vt_node *mk_map(struct arena *a, const char *file)
{
    struct vt_node *m = mk_node(a, VT_MAP, file);
    if (m && !(m->map.items = arena_zalloc(a, 3 * sizeof(struct vt_pair))))
        return NULL;
    return m;
}

static struct vt_node *mk_str(struct arena *a, const char *file, const char *s)
{
    struct vt_node *n = mk_node(a, VT_SCALAR, file);
    if (n && !(n->scalar.s = arena_strdup(a, s)))
        return NULL;
    if (n) {
        n->scalar.len = strlen(s);
        n->scalar.quoted = true;
    }
    return n;
}

/* Envoy applies --service-node/--service-cluster/--service-zone to the bootstrap's node
 * after parsing; doing it as a merge keeps the tree (and /config_dump) truthful. */
static bool given(const char *opt)
{
    return opt && opt[0]; /* Envoy ignores an empty --service-* value */
}

static int apply_overrides(struct vt_doc *doc, const struct cfg_load_opts *opts)
{
    if (!given(opts->service_node) && !given(opts->service_cluster) && !given(opts->service_zone))
        return 0;
    struct arena *a = &doc->arena;
    struct vt_node *root = mk_map(a, "--service-node"), *node = mk_map(a, "--service-node");
    bool ok = root && node;
    if (ok && given(opts->service_node))
        ok = map_put(node, "id", mk_str(a, "--service-node", opts->service_node));
    if (ok && given(opts->service_cluster))
        ok = map_put(node, "cluster", mk_str(a, "--service-cluster", opts->service_cluster));
    if (ok && given(opts->service_zone)) {
        struct vt_node *loc = mk_map(a, "--service-zone");
        ok = loc && map_put(loc, "zone", mk_str(a, "--service-zone", opts->service_zone)) &&
             map_put(node, "locality", loc);
    }
    ok = ok && map_put(root, "node", node);
    if (!ok)
        return -RM_ENOMEM;
    return vt_merge(doc, doc->root, root);
}

/* ---- load --------------------------------------------------------------------------------- */

static struct snapshot *snapshot_new(void)
{
    struct snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    arena_init(&s->arena, 16384);
    s->bs = arena_zalloc(&s->arena, sizeof(*s->bs));
    if (!s->bs) {
        arena_fini(&s->arena);
        free(s);
        return NULL;
    }
    s->refs = 1;
    s->version = 1;
    return s;
}

int config_load(const struct cfg_load_opts *opts, struct snapshot **out, struct cfg_err *err)
{
    struct vt_doc *doc = NULL, *overlay = NULL;
    size_t mark = err->n_errors;
    int rc = 0;

    *out = NULL;
    bool have_path = opts->config_path && opts->config_path[0];
    bool have_yaml = opts->config_yaml && opts->config_yaml[0];
    if (!have_path && !have_yaml) {
        cfg_err_add(err, NULL, NULL,
                    "no configuration: give a bootstrap file with --config-path (-c) and/or "
                    "inline YAML with --config-yaml");
        return -RM_ECONFIG;
    }
    /* Parse both sources before giving up, so both sets of syntax errors show at once. */
    if (have_path)
        rc = vt_parse_file(opts->config_path, NULL, &doc, err);
    if (have_yaml) {
        int r = vt_parse_string("--config-yaml", opts->config_yaml, strlen(opts->config_yaml),
                                &overlay, err);
        if (r && (rc == 0 || r == -RM_ENOMEM))
            rc = r;
    }
    if (rc)
        goto fail;
    if (!doc) {
        doc = overlay;
        overlay = NULL;
    } else if (overlay) {
        /* Envoy: MergeFrom of --config-yaml over the file (maps merge, lists append). */
        rc = vt_merge(doc, doc->root, overlay->root);
        vt_doc_free(overlay);
        overlay = NULL;
        if (rc) {
            cfg_err_add(err, NULL, "--config-yaml", "cannot merge over %s: %s", opts->config_path,
                        rm_strerror(rc));
            goto fail;
        }
    }
    rc = apply_overrides(doc, opts);
    if (rc) {
        cfg_err_add(err, NULL, NULL, "out of memory while applying --service-* options");
        goto fail;
    }

    struct snapshot *s = snapshot_new();
    if (!s) {
        cfg_err_add(err, NULL, NULL, "out of memory while translating the configuration");
        rc = -RM_ENOMEM;
        goto fail;
    }
    struct cfg_ctx ctx;
    cfg_ctx_init(&ctx, &s->arena, err, s->bs);
    rc = cfg_translate_bootstrap(&ctx, doc->root);
    if (rc != -RM_ENOMEM)
        cfg_run_checks(&ctx);
    if (ctx.oom)
        rc = -RM_ENOMEM;
    cfg_ctx_fini(&ctx);
    if (rc == 0 && err->n_errors != mark)
        rc = -RM_ECONFIG;
    if (rc) {
        snap_unref(s); /* frees the arena; the document is not attached yet */
        goto fail;
    }
    s->doc = doc;
    *out = s;
    return 0;

fail:
    vt_doc_free(overlay);
    vt_doc_free(doc);
    return rc < 0 ? rc : -RM_ECONFIG;
}
