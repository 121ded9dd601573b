/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/runtime.c — see runtime.h. */
#include "proxy/runtime.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config/model.h"
#include "config/value.h"
#include "proxy/err.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "proxy/strbuf.h"
#include "proxy/worker.h"

/* One layer's entries (unsorted, small). */
struct rt_layer {
    const char *name;
    bool admin;
    size_t n, cap;
    char **keys, **vals;
};

static struct rt_layer *layers;
static size_t n_layers;

static int layer_set(struct rt_layer *l, const char *key, const char *val)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->keys[i], key) == 0) {
            char *v = strdup(val);
            if (!v)
                return -RM_ENOMEM;
            free(l->vals[i]);
            l->vals[i] = v;
            return 0;
        }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **k = realloc(l->keys, cap * sizeof(*k));
        if (!k)
            return -RM_ENOMEM;
        l->keys = k;
        char **v = realloc(l->vals, cap * sizeof(*v));
        if (!v)
            return -RM_ENOMEM;
        l->vals = v;
        l->cap = cap;
    }
    l->keys[l->n] = strdup(key);
    l->vals[l->n] = strdup(val);
    if (!l->keys[l->n] || !l->vals[l->n]) {
        free(l->keys[l->n]);
        free(l->vals[l->n]);
        return -RM_ENOMEM;
    }
    l->n++;
    return 0;
}

static void layer_unset(struct rt_layer *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->keys[i], key) == 0) {
            free(l->keys[i]);
            free(l->vals[i]);
            l->keys[i] = l->keys[l->n - 1];
            l->vals[i] = l->vals[l->n - 1];
            l->n--;
            return;
        }
}

static const char *layer_get(const struct rt_layer *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->keys[i], key) == 0)
            return l->vals[i];
    return NULL;
}

/* Envoy flattens nested static_layer maps into dotted keys. */
static int flatten(struct rt_layer *l, const struct vt_node *n, char *prefix, size_t plen,
                   size_t cap)
{
    if (n->kind == VT_MAP) {
        for (size_t i = 0; i < n->map.n; i++) {
            const char *k = n->map.items[i].key;
            size_t kl = strlen(k);
            if (plen + kl + 2 >= cap)
                continue;
            size_t np = plen;
            if (plen)
                prefix[np++] = '.';
            memcpy(prefix + np, k, kl + 1);
            int rc = flatten(l, n->map.items[i].val, prefix, np + kl, cap);
            prefix[plen] = '\0';
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (n->kind == VT_SCALAR && plen)
        return layer_set(l, prefix, n->scalar.s);
    return 0; /* lists and nulls carry no runtime value */
}

static int cmp_idx(const void *a, const void *b, void *keys)
{
    char **k = keys;
    return strcmp(k[*(const size_t *)a], k[*(const size_t *)b]);
}

void runtime_snap_unref(struct runtime_snap *rs)
{
    if (!rs || __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->keys[i]);
        free(rs->vals[i]);
    }
    free(rs->keys);
    free(rs->vals);
    free(rs);
}

/* The final value of every key: the last layer that has it wins. */
static struct runtime_snap *build(void)
{
    struct runtime_snap *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return NULL;
    rs->refs = 1;
    size_t total = 0;
    for (size_t i = 0; i < n_layers; i++)
        total += layers[i].n;
    rs->keys = calloc(total ? total : 1, sizeof(char *));
    rs->vals = calloc(total ? total : 1, sizeof(char *));
    size_t *idx = calloc(total ? total : 1, sizeof(size_t));
    char **tk = calloc(total ? total : 1, sizeof(char *));
    char **tv = calloc(total ? total : 1, sizeof(char *));
    if (!rs->keys || !rs->vals || !idx || !tk || !tv)
        goto oom;
    size_t n = 0;
    for (size_t i = n_layers; i-- > 0;) /* newest layer first: first seen wins */
        for (size_t j = 0; j < layers[i].n; j++) {
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = strcmp(tk[k], layers[i].keys[j]) == 0;
            if (!seen) {
                tk[n] = layers[i].keys[j];
                tv[n] = layers[i].vals[j];
                idx[n] = n;
                n++;
            }
        }
    qsort_r(idx, n, sizeof(size_t), cmp_idx, tk);
    for (size_t i = 0; i < n; i++) {
        rs->keys[i] = strdup(tk[idx[i]]);
        rs->vals[i] = strdup(tv[idx[i]]);
        rs->n = i + 1;
        if (!rs->keys[i] || !rs->vals[i])
            goto oom;
    }
    free(idx);
    free(tk);
    free(tv);
    return rs;
oom:
    free(idx);
    free(tk);
    free(tv);
    runtime_snap_unref(rs);
    return NULL;
}

static void on_worker_snap(struct worker *w, void *arg)
{
    struct runtime_snap *old = w->runtime;
    w->runtime = arg;
    runtime_snap_unref(old);
}

static int publish(struct server *srv)
{
    for (unsigned i = 0; i < srv->n_workers; i++) {
        struct runtime_snap *rs = build(); /* one per worker: freed on that worker */
        if (!rs)
            return -RM_ENOMEM;
        mbox_call(&srv->workers[i], on_worker_snap, rs);
    }
    return 0;
}

int runtime_init(struct server *srv)
{
    const struct cfg_bootstrap *bs = srv->snap->bs;
    n_layers = bs->n_runtime_layers;
    layers = calloc(n_layers ? n_layers : 1, sizeof(*layers));
    if (!layers)
        return -RM_ENOMEM;
    for (size_t i = 0; i < n_layers; i++) {
        const struct cfg_runtime_layer *cl = &bs->runtime_layers[i];
        layers[i].name = cl->name;
        layers[i].admin = cl->kind == RUNTIME_ADMIN;
        if (cl->values) {
            char prefix[512] = "";
            if (flatten(&layers[i], cl->values, prefix, 0, sizeof(prefix)) < 0)
                return -RM_ENOMEM;
        }
    }
    return publish(srv);
}

void runtime_fini(struct server *srv)
{
    (void)srv;
    for (size_t i = 0; i < n_layers; i++) {
        for (size_t j = 0; j < layers[i].n; j++) {
            free(layers[i].keys[j]);
            free(layers[i].vals[j]);
        }
        free(layers[i].keys);
        free(layers[i].vals);
    }
    free(layers);
    layers = NULL;
    n_layers = 0;
}

uint64_t runtime_get_uint(const struct runtime_snap *rs, const char *key, uint64_t dflt)
{
    if (!rs || !rs->n)
        return dflt;
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(rs->keys[mid], key);
        if (c == 0) {
            const char *v = rs->vals[mid];
            if (!*v)
                return dflt;
            uint64_t x = 0;
            for (; *v; v++) {
                if (!isdigit((unsigned char)*v) || x > (UINT64_MAX - 9) / 10)
                    return dflt;
                x = x * 10 + (uint64_t)(*v - '0');
            }
            return x;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return dflt;
}

void runtime_render(struct server *srv, struct strbuf *out)
{
    (void)srv;
    struct runtime_snap *rs = build();
    sb_puts(out, "{\"layers\":[");
    for (size_t i = 0; i < n_layers; i++) {
        if (i)
            sb_putc(out, ',');
        sb_json_str(out, layers[i].name, strlen(layers[i].name));
    }
    sb_puts(out, "],\"entries\":{");
    for (size_t k = 0; rs && k < rs->n; k++) {
        if (k)
            sb_putc(out, ',');
        sb_json_str(out, rs->keys[k], strlen(rs->keys[k]));
        sb_puts(out, ":{\"final_value\":");
        sb_json_str(out, rs->vals[k], strlen(rs->vals[k]));
        sb_puts(out, ",\"layer_values\":[");
        for (size_t i = 0; i < n_layers; i++) {
            const char *v = layer_get(&layers[i], rs->keys[k]);
            if (i)
                sb_putc(out, ',');
            sb_json_str(out, v ? v : "", v ? strlen(v) : 0);
        }
        sb_puts(out, "]}");
    }
    sb_puts(out, "}}\n");
    runtime_snap_unref(rs);
}

int runtime_modify(struct server *srv, const char *query, struct strbuf *out)
{
    struct rt_layer *admin = NULL;
    for (size_t i = n_layers; i-- > 0;)
        if (layers[i].admin) {
            admin = &layers[i];
            break;
        }
    if (!admin) {
        sb_puts(out, "No admin layer specified\n");
        return 503;
    }
    if (!query || !*query) {
        sb_puts(out, "usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n"
                     "       use an empty value to remove a previously added override\n");
        return 400;
    }
    char *q = strdup(query), *save = NULL;
    if (!q)
        return 500;
    for (char *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        const char *val = "";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        rm_url_decode(kv);
        rm_url_decode((char *)val);
        if (!*kv)
            continue;
        if (*val)
            layer_set(admin, kv, val);
        else
            layer_unset(admin, kv);
        log_info(LC_RUNTIME, "runtime: %s %s%s%s", *val ? "set" : "removed", kv, *val ? " = " : "",
                 val);
    }
    free(q);
    if (publish(srv) < 0) {
        sb_puts(out, "out of memory\n");
        return 500;
    }
    sb_puts(out, "OK\n");
    return 200;
}
