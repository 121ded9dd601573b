/* SPDX-License-Identifier: Apache-2.0 */
/* config/value.c — the generic value tree: documents, key lookup with proto3-JSON name
 * rules, MergeFrom-style merging and compact JSON output. Text loaders live in yaml.c.
 * Every node and string belongs to its document's arena; nothing here frees a node.
 * Main thread only. */
#include "config/value.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/err.h"
#include "proxy/strbuf.h"

/* ---- documents -------------------------------------------------------------------------- */

int vt_doc_new(struct vt_doc **out)
{
    struct vt_doc *doc = malloc(sizeof(*doc));
    if (!doc)
        return -RM_ENOMEM;
    arena_init(&doc->arena, 16384);
    doc->root = NULL;
    *out = doc;
    return 0;
}

void vt_doc_free(struct vt_doc *doc)
{
    if (!doc)
        return;
    arena_fini(&doc->arena);
    free(doc);
}

/* ---- key spelling ----------------------------------------------------------------------- */

/* Produces the snake_case form of a key one byte at a time, without a buffer. */
struct snake_it {
    const char *p;
    char pending; /* lower-case letter to return after an inserted '_' */
    char last;    /* last byte returned; 0 before the first */
};

static void snake_it_init(struct snake_it *it, const char *key)
{
    it->p = key;
    it->pending = 0;
    it->last = 0;
}

/* Returns the next byte of the snake form, or -1 at the end. */
static int snake_getc(struct snake_it *it)
{
    char c;
    if (it->pending) {
        c = it->pending;
        it->pending = 0;
    } else {
        c = *it->p;
        if (!c)
            return -1;
        it->p++;
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
            if (it->last && it->last != '_') {
                it->pending = c;
                c = '_';
            }
        }
    }
    it->last = c;
    return (unsigned char)c;
}

int vt_key_to_snake(const char *key, char *out, size_t cap)
{
    struct snake_it it;
    size_t n = 0;
    int c;
    snake_it_init(&it, key);
    while ((c = snake_getc(&it)) >= 0) {
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    if (cap == 0 || n > (size_t)INT32_MAX)
        return -1;
    out[n] = '\0';
    return (int)n;
}

static bool key_eq_snake(const char *a, const char *b)
{
    struct snake_it ia, ib;
    snake_it_init(&ia, a);
    snake_it_init(&ib, b);
    for (;;) {
        int ca = snake_getc(&ia), cb = snake_getc(&ib);
        if (ca != cb)
            return false;
        if (ca < 0)
            return true;
    }
}

static uint64_t key_hash_snake(const char *k)
{
    struct snake_it it;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    int c;
    snake_it_init(&it, k);
    while ((c = snake_getc(&it)) >= 0) {
        h ^= (unsigned char)c;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* True when |key| is protobuf's JSON name of field |snake| (ToJsonName: drop each '_' and
 * upper-case the byte after it). */
static bool key_is_json_name(const char *key, const char *snake)
{
    bool up = false;
    for (const char *s = snake; *s; s++) {
        if (*s == '_') {
            up = true;
            continue;
        }
        char c = *s;
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        up = false;
        if (*key++ != c)
            return false;
    }
    return *key == '\0';
}

const struct vt_node *vt_map_get(const struct vt_node *map, const char *snake_key)
{
    if (!map || map->kind != VT_MAP || !snake_key)
        return NULL;
    for (size_t i = map->map.n; i-- > 0;) {
        const char *k = map->map.items[i].key;
        if (strcmp(k, snake_key) == 0 || key_is_json_name(k, snake_key))
            return map->map.items[i].val;
    }
    return NULL;
}

bool vt_scalar_is(const struct vt_node *n, const char *s)
{
    if (!n || n->kind != VT_SCALAR || !s)
        return false;
    size_t len = strlen(s);
    return n->scalar.len == len && memcmp(n->scalar.s, s, len) == 0;
}

/* Sets shadowed[i] for every pair that a later pair with the same snake_case key overrides
 * (last one wins). Quadratic for small maps, a hash table above that so a map with many
 * keys cannot turn a config dump into a CPU sink. Returns 0 or -RM_ENOMEM. */
static int mark_shadowed(const struct vt_pair *items, size_t n, bool *shadowed)
{
    if (n <= 16) {
        for (size_t i = 0; i < n; i++) {
            shadowed[i] = false;
            for (size_t j = i + 1; j < n && !shadowed[i]; j++)
                shadowed[i] = key_eq_snake(items[i].key, items[j].key);
        }
        return 0;
    }
    size_t size = 32;
    while (size < n * 2)
        size *= 2;
    size_t *slot = malloc(size * sizeof(*slot));
    if (!slot)
        return -RM_ENOMEM;
    for (size_t s = 0; s < size; s++)
        slot[s] = SIZE_MAX;
    for (size_t i = n; i-- > 0;) {
        size_t s = (size_t)key_hash_snake(items[i].key) & (size - 1);
        shadowed[i] = false;
        while (slot[s] != SIZE_MAX) {
            if (key_eq_snake(items[slot[s]].key, items[i].key)) {
                shadowed[i] = true;
                break;
            }
            s = (s + 1) & (size - 1);
        }
        if (!shadowed[i])
            slot[s] = i;
    }
    free(slot);
    return 0;
}

/* ---- merge ------------------------------------------------------------------------------ */

struct copy_ctx {
    struct arena *a;
    const char *file_src; /* last position file copied, and its copy: nodes of one tree */
    const char *file_dst; /* nearly always share one file string */
};

static const char *copy_file(struct copy_ctx *cc, const char *file)
{
    if (!file)
        return NULL;
    if (file != cc->file_src) {
        const char *f = arena_strdup(cc->a, file);
        if (!f)
            return NULL;
        cc->file_src = file;
        cc->file_dst = f;
    }
    return cc->file_dst;
}

static int copy_pos(struct copy_ctx *cc, struct vt_pos *dst, const struct vt_pos *src)
{
    *dst = *src;
    dst->file = copy_file(cc, src->file);
    return src->file && !dst->file ? -RM_ENOMEM : 0;
}

static enum vt_kind kind_of(const struct vt_node *n)
{
    return n ? n->kind : VT_NULL;
}

/* Deep-copies |src| (NULL copies as a VT_NULL node) into |cc|'s arena, strings included. */
static int copy_node(struct copy_ctx *cc, const struct vt_node *src, struct vt_node **out,
                     unsigned depth)
{
    static const struct vt_node null_node = {.kind = VT_NULL};
    struct vt_node *n = arena_zalloc(cc->a, sizeof(*n));
    if (!n)
        return -RM_ENOMEM;
    if (!src)
        src = &null_node;
    n->kind = src->kind;
    if (copy_pos(cc, &n->pos, &src->pos))
        return -RM_ENOMEM;
    switch (src->kind) {
    case VT_NULL:
    case VT_SCALAR:
        /* VT_NULL may carry the text it was written as ("~", "null"); keep it. */
        if (src->scalar.s) {
            char *s = arena_alloc(cc->a, src->scalar.len + 1);
            if (!s)
                return -RM_ENOMEM;
            memcpy(s, src->scalar.s, src->scalar.len);
            s[src->scalar.len] = '\0';
            n->scalar.s = s;
            n->scalar.len = src->scalar.len;
        }
        n->scalar.quoted = src->scalar.quoted;
        break;
    case VT_MAP:
        if (depth >= VT_MAX_DEPTH)
            return -RM_ELIMIT;
        if (src->map.n) {
            if (src->map.n > SIZE_MAX / sizeof(struct vt_pair))
                return -RM_ENOMEM;
            n->map.items = arena_alloc(cc->a, src->map.n * sizeof(struct vt_pair));
            if (!n->map.items)
                return -RM_ENOMEM;
        }
        for (size_t i = 0; i < src->map.n; i++) {
            const struct vt_pair *sp = &src->map.items[i];
            struct vt_pair *dp = &n->map.items[i];
            dp->key = arena_strdup(cc->a, sp->key);
            if (!dp->key || copy_pos(cc, &dp->key_pos, &sp->key_pos))
                return -RM_ENOMEM;
            int rc = copy_node(cc, sp->val, &dp->val, depth + 1);
            if (rc)
                return rc;
            n->map.n = i + 1;
        }
        break;
    case VT_LIST:
        if (depth >= VT_MAX_DEPTH)
            return -RM_ELIMIT;
        if (src->list.n) {
            if (src->list.n > SIZE_MAX / sizeof(struct vt_node *))
                return -RM_ENOMEM;
            n->list.items = arena_alloc(cc->a, src->list.n * sizeof(struct vt_node *));
            if (!n->list.items)
                return -RM_ENOMEM;
        }
        for (size_t i = 0; i < src->list.n; i++) {
            int rc = copy_node(cc, src->list.items[i], &n->list.items[i], depth + 1);
            if (rc)
                return rc;
            n->list.n = i + 1;
        }
        break;
    }
    *out = n;
    return 0;
}

static int merge_node(struct copy_ctx *cc, struct vt_node *base, const struct vt_node *overlay,
                      unsigned depth);

static int merge_map(struct copy_ctx *cc, struct vt_node *base, const struct vt_node *overlay,
                     unsigned depth)
{
    /* Snapshot the overlay first: |base| may be |overlay| and grows below. */
    const struct vt_pair *ov = overlay->map.items;
    size_t ov_n = overlay->map.n;
    size_t base_n = base->map.n; /* appended pairs never match a later overlay key */
    bool stack_marks[64];
    bool *shadowed = ov_n <= 64 ? stack_marks : malloc(ov_n * sizeof(bool));
    struct vt_pair *grown = NULL;
    int rc;

    if (!shadowed)
        return -RM_ENOMEM;
    rc = mark_shadowed(ov, ov_n, shadowed);
    for (size_t i = 0; rc == 0 && i < ov_n; i++) {
        if (shadowed[i])
            continue;
        const struct vt_pair *op = &ov[i];
        struct vt_pair *bp = NULL;
        for (size_t j = base_n; j-- > 0;) {
            if (key_eq_snake(base->map.items[j].key, op->key)) {
                bp = &base->map.items[j];
                break;
            }
        }
        if (bp) {
            enum vt_kind bk = kind_of(bp->val), ok = kind_of(op->val);
            if ((bk == VT_MAP && ok == VT_MAP) || (bk == VT_LIST && ok == VT_LIST)) {
                rc = merge_node(cc, bp->val, op->val, depth + 1);
            } else {
                struct vt_node *copy;
                const char *key = arena_strdup(cc->a, op->key);
                rc = key ? copy_node(cc, op->val, &copy, depth + 1) : -RM_ENOMEM;
                if (rc == 0)
                    rc = copy_pos(cc, &bp->key_pos, &op->key_pos);
                if (rc == 0) {
                    bp->key = key;
                    bp->val = copy;
                }
            }
            continue;
        }
        if (!grown) {
            /* One new array sized for the worst case; the arena keeps the old one. */
            size_t cap = base->map.n + ov_n;
            grown = arena_alloc(cc->a, cap * sizeof(*grown));
            if (!grown) {
                rc = -RM_ENOMEM;
                break;
            }
            if (base->map.n)
                memcpy(grown, base->map.items, base->map.n * sizeof(*grown));
            base->map.items = grown;
        }
        struct vt_pair *np = &base->map.items[base->map.n];
        np->key = arena_strdup(cc->a, op->key);
        if (!np->key || copy_pos(cc, &np->key_pos, &op->key_pos)) {
            rc = -RM_ENOMEM;
            break;
        }
        rc = copy_node(cc, op->val, &np->val, depth + 1);
        if (rc == 0)
            base->map.n++;
    }
    if (shadowed != stack_marks)
        free(shadowed);
    return rc;
}

static int merge_list(struct copy_ctx *cc, struct vt_node *base, const struct vt_node *overlay,
                      unsigned depth)
{
    size_t ov_n = overlay->list.n;
    struct vt_node *const *ov = overlay->list.items;
    if (ov_n == 0)
        return 0;
    size_t n = base->list.n;
    if (ov_n > SIZE_MAX / sizeof(struct vt_node *) - n)
        return -RM_ENOMEM;
    struct vt_node **items = arena_alloc(cc->a, (n + ov_n) * sizeof(*items));
    if (!items)
        return -RM_ENOMEM;
    if (n)
        memcpy(items, base->list.items, n * sizeof(*items));
    for (size_t i = 0; i < ov_n; i++) {
        int rc = copy_node(cc, ov[i], &items[n + i], depth + 1);
        if (rc)
            return rc;
    }
    base->list.items = items;
    base->list.n = n + ov_n;
    return 0;
}

static int merge_node(struct copy_ctx *cc, struct vt_node *base, const struct vt_node *overlay,
                      unsigned depth)
{
    if (depth >= VT_MAX_DEPTH)
        return -RM_ELIMIT;
    if (base->kind == VT_MAP && kind_of(overlay) == VT_MAP)
        return merge_map(cc, base, overlay, depth);
    if (base->kind == VT_LIST && kind_of(overlay) == VT_LIST)
        return merge_list(cc, base, overlay, depth);
    struct vt_node *copy;
    int rc = copy_node(cc, overlay, &copy, depth);
    if (rc == 0)
        *base = *copy;
    return rc;
}

int vt_merge(struct vt_doc *doc, struct vt_node *base, const struct vt_node *overlay)
{
    if (!doc || !base)
        return -RM_EINVAL;
    if (!overlay)
        return 0;
    struct copy_ctx cc = {.a = &doc->arena};
    return merge_node(&cc, base, overlay, 0);
}

/* ---- JSON output ------------------------------------------------------------------------ */

/* RFC 8259 §6 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

static bool is_bare_scalar(const struct vt_node *n)
{
    const char *s = n->scalar.s;
    size_t len = n->scalar.len;
    if (n->scalar.quoted || !s)
        return false;
    if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 5 && memcmp(s, "false", 5) == 0))
        return true;
    return is_json_number(s, len);
}

static int put_key(struct strbuf *out, const char *key)
{
    char stack[256];
    size_t klen = strlen(key);
    /* The snake form is at most twice as long as the key. */
    size_t cap = klen <= (sizeof(stack) - 1) / 2 ? sizeof(stack) : klen * 2 + 1;
    char *buf = cap == sizeof(stack) ? stack : malloc(cap);
    if (!buf)
        return -RM_ENOMEM;
    int n = vt_key_to_snake(key, buf, cap);
    int rc = n < 0 ? -RM_ELIMIT : sb_json_str(out, buf, (size_t)n);
    if (buf != stack)
        free(buf);
    return rc;
}

static int to_json(const struct vt_node *n, struct strbuf *out, unsigned depth)
{
    int rc = 0;
    if (!n || n->kind == VT_NULL)
        return sb_append(out, "null", 4);
    switch (n->kind) {
    case VT_NULL:
        break;
    case VT_SCALAR:
        if (is_bare_scalar(n))
            return sb_append(out, n->scalar.s, n->scalar.len);
        return sb_json_str(out, n->scalar.s ? n->scalar.s : "", n->scalar.len);
    case VT_LIST:
        if (depth >= VT_MAX_DEPTH)
            return -RM_ELIMIT;
        rc = sb_putc(out, '[');
        for (size_t i = 0; rc == 0 && i < n->list.n; i++) {
            if (i)
                rc = sb_putc(out, ',');
            if (rc == 0)
                rc = to_json(n->list.items[i], out, depth + 1);
        }
        return rc ? rc : sb_putc(out, ']');
    case VT_MAP: {
        if (depth >= VT_MAX_DEPTH)
            return -RM_ELIMIT;
        bool stack_marks[64];
        bool *shadowed = n->map.n <= 64 ? stack_marks : malloc(n->map.n * sizeof(bool));
        bool first = true;
        if (!shadowed)
            return -RM_ENOMEM;
        rc = mark_shadowed(n->map.items, n->map.n, shadowed);
        if (rc == 0)
            rc = sb_putc(out, '{');
        for (size_t i = 0; rc == 0 && i < n->map.n; i++) {
            if (shadowed[i])
                continue;
            if (!first)
                rc = sb_putc(out, ',');
            first = false;
            if (rc == 0)
                rc = put_key(out, n->map.items[i].key);
            if (rc == 0)
                rc = sb_putc(out, ':');
            if (rc == 0)
                rc = to_json(n->map.items[i].val, out, depth + 1);
        }
        if (shadowed != stack_marks)
            free(shadowed);
        return rc ? rc : sb_putc(out, '}');
    }
    }
    return rc;
}

int vt_to_json(const struct vt_node *n, struct strbuf *out)
{
    int rc = to_json(n, out, 0);
    if (rc == 0 && out->failed)
        rc = -out->failed;
    return rc;
}
