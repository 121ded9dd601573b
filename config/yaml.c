/* SPDX-License-Identifier: Apache-2.0 */
/* config/yaml.c — YAML (and so JSON) text → value tree, with libyaml's event parser and an
 * explicit stack (no recursion on input). Owns the Envoy loading rules that live in the
 * text: !ignore keys, alias expansion, one document per source, and the hard limits that
 * keep hostile text from costing unbounded memory (nesting, alias expansion, file size).
 * Nodes go into the document's arena; scratch arrays are malloc'd and freed here.
 * Main thread only. */
#include "config/value.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/err.h"
#include "proxy/err.h"

/* Nodes that alias expansion may create in one document (a "billion laughs" file otherwise
 * turns a few hundred bytes into gigabytes). Real configs stay far below. */
#define YAML_MAX_ALIAS_NODES 1000000u
/* Largest config file read; far above any sane bootstrap. */
#define YAML_MAX_FILE_BYTES ((size_t)64 * 1024 * 1024)

struct anchor {
    struct anchor *next; /* same bucket, newer first: a redefinition shadows the older */
    const char *name;
    const struct vt_node *node;
};

/* One map or list being built. */
struct frame {
    struct vt_node *node;   /* kind and position set; items filled at the end event */
    const char *anchor;     /* registered when the collection ends; NULL = none */
    bool ignore;            /* tagged !ignore: the enclosing map drops this entry */
    struct vt_pair *pairs;  /* VT_MAP: malloc'd scratch, moved into the arena at the end */
    struct vt_node **elems; /* VT_LIST: same */
    size_t n, cap;
    /* VT_MAP only: the key waiting for its value. */
    bool have_key;
    bool drop_pair; /* key tagged !ignore or invalid (already reported) */
    const char *key;
    struct vt_pos key_pos;
};

struct builder {
    struct vt_doc *doc;
    struct cfg_err *err;
    const char *file; /* display name, in the arena */
    const char *text; /* the input, to turn reader-error offsets into line:col */
    size_t text_len;
    struct frame *stack; /* malloc'd; depth entries in use */
    size_t depth, stack_cap;
    struct anchor **buckets; /* anchor hash table, malloc'd; n_buckets is a power of 2 */
    size_t n_buckets, n_anchors;
    struct vt_node *root;
    size_t alias_nodes; /* nodes created by alias expansion so far */
    unsigned n_docs;
    bool failed; /* an error was reported; the document is dropped at the end */
    bool oom;
};

/* Returned by handlers when parsing must stop (the error is already reported). */
#define STOP (-1)

static uint32_t mark_line(const yaml_mark_t *m)
{
    return m->line + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(m->line + 1);
}

static uint32_t mark_col(const yaml_mark_t *m)
{
    return m->column + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(m->column + 1);
}

static void set_pos(struct builder *b, struct vt_pos *pos, const yaml_mark_t *m)
{
    pos->file = b->file;
    pos->line = mark_line(m);
    pos->col = mark_col(m);
}

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports an error at |m| (NULL = no position) and marks the document failed. Returns STOP
 * so fatal paths can `return fail_at(...)`; non-fatal callers ignore the value. */
static int fail_at(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cfg_err_add_at(b->err, b->file, m ? mark_line(m) : 0, m ? mark_col(m) : 0, "%s", msg);
    b->failed = true;
    return STOP;
}

static int fail_pos(struct builder *b, const struct vt_pos *where, const char *msg)
{
    cfg_err_add_at(b->err, b->file, where->line, where->col, "%s", msg);
    b->failed = true;
    return STOP;
}

static int fail_oom(struct builder *b)
{
    if (!b->oom)
        cfg_err_add_at(b->err, b->file, 0, 0, "out of memory while loading the configuration");
    b->oom = true;
    b->failed = true;
    return STOP;
}

static bool is_ignore_tag(const yaml_char_t *tag)
{
    return tag && strcmp((const char *)tag, "!ignore") == 0;
}

/* Plain null per the YAML 1.2 core schema as Envoy (yaml-cpp) reads it. */
static bool is_plain_null(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 &&
            (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 || memcmp(s, "NULL", 4) == 0));
}

/* ---- alias expansion -------------------------------------------------------------------- */

static size_t anchor_hash(const char *name)
{
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = h * 33 + *p;
    return h;
}

/* Anchors live in a chained hash table (buckets malloc'd, entries in the arena) so that a
 * file with many anchors and aliases stays linear. A redefined anchor is inserted in front
 * of the old one and so shadows it, as YAML requires. */
static const struct anchor *find_anchor(const struct builder *b, const char *name)
{
    if (!b->n_buckets)
        return NULL;
    for (const struct anchor *a = b->buckets[anchor_hash(name) & (b->n_buckets - 1)]; a;
         a = a->next) {
        if (strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

static int add_anchor(struct builder *b, const char *name, const struct vt_node *node)
{
    if (b->n_anchors >= b->n_buckets) {
        size_t nb = b->n_buckets ? b->n_buckets * 2 : 64;
        struct anchor **buckets = calloc(nb, sizeof(*buckets));
        if (!buckets)
            return fail_oom(b);
        /* Rehash oldest first per chain so newer definitions stay in front. */
        for (size_t i = 0; i < b->n_buckets; i++) {
            struct anchor *rev = NULL;
            for (struct anchor *a = b->buckets[i], *next; a; a = next) {
                next = a->next;
                a->next = rev;
                rev = a;
            }
            for (struct anchor *a = rev, *next; a; a = next) {
                next = a->next;
                size_t h = anchor_hash(a->name) & (nb - 1);
                a->next = buckets[h];
                buckets[h] = a;
            }
        }
        free(b->buckets);
        b->buckets = buckets;
        b->n_buckets = nb;
    }
    struct anchor *a = arena_alloc(&b->doc->arena, sizeof(*a));
    if (!a)
        return fail_oom(b);
    size_t h = anchor_hash(name) & (b->n_buckets - 1);
    a->name = name;
    a->node = node;
    a->next = b->buckets[h];
    b->buckets[h] = a;
    b->n_anchors++;
    return 0;
}

/* Copies the anchored tree |src| for an alias met at nesting |depth|. Nodes and arrays are
 * copied (vt_merge() edits them in place, so two alias sites must not share them); strings
 * are immutable and shared. Stops at the depth and expansion limits. */
static int copy_alias(struct builder *b, const struct vt_node *src, size_t depth,
                      const yaml_mark_t *m, struct vt_node **out)
{
    struct arena *a = &b->doc->arena;
    if (++b->alias_nodes > YAML_MAX_ALIAS_NODES)
        return fail_at(b, m, "alias expansion exceeds %u nodes (exponential aliases?)",
                       YAML_MAX_ALIAS_NODES);
    if ((src->kind == VT_MAP || src->kind == VT_LIST) && depth >= VT_MAX_DEPTH)
        return fail_at(b, m, "alias expansion nests deeper than %d levels", VT_MAX_DEPTH);
    struct vt_node *n = arena_alloc(a, sizeof(*n));
    if (!n)
        return fail_oom(b);
    *n = *src;
    if (src->kind == VT_MAP && src->map.n) {
        n->map.items = arena_alloc(a, src->map.n * sizeof(*n->map.items));
        if (!n->map.items)
            return fail_oom(b);
        for (size_t i = 0; i < src->map.n; i++) {
            n->map.items[i] = src->map.items[i];
            if (copy_alias(b, src->map.items[i].val, depth + 1, m, &n->map.items[i].val))
                return STOP;
        }
    } else if (src->kind == VT_LIST && src->list.n) {
        n->list.items = arena_alloc(a, src->list.n * sizeof(*n->list.items));
        if (!n->list.items)
            return fail_oom(b);
        for (size_t i = 0; i < src->list.n; i++) {
            if (copy_alias(b, src->list.items[i], depth + 1, m, &n->list.items[i]))
                return STOP;
        }
    }
    *out = n;
    return 0;
}

/* ---- tree building ---------------------------------------------------------------------- */

/* Doubles a scratch array of |elem|-byte items. Returns the new array (|*cap| updated), or
 * NULL with |arr| untouched and the failure reported. */
static void *grow(struct builder *b, void *arr, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = ncap <= SIZE_MAX / elem ? realloc(arr, ncap * elem) : NULL;
    if (!p) {
        fail_oom(b);
        return NULL;
    }
    *cap = ncap;
    return p;
}

/* Hangs a finished |node| under the open collection (or makes it the root). |ignore| says
 * the node carried the !ignore tag; |where| is where it was written (for an alias, the
 * alias, not the anchored text). */
static int attach(struct builder *b, struct vt_node *node, bool ignore, const struct vt_pos *where)
{
    if (b->depth == 0) {
        b->root = node;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == VT_LIST) {
        if (f->n == f->cap) {
            struct vt_node **elems = grow(b, f->elems, &f->cap, sizeof(*elems));
            if (!elems)
                return STOP;
            f->elems = elems;
        }
        f->elems[f->n++] = node;
        return 0;
    }
    if (!f->have_key) {
        f->have_key = true;
        f->drop_pair = ignore;
        f->key = NULL;
        f->key_pos = *where;
        if (node->kind == VT_MAP || node->kind == VT_LIST) {
            /* Envoy checks the tag before it reads the key, so an ignored key may be
             * anything. */
            if (!ignore)
                fail_pos(b, where,
                         node->kind == VT_MAP ? "map key must be a scalar, not a map"
                                              : "map key must be a scalar, not a list");
            f->drop_pair = true;
            return 0;
        }
        const char *k = node->scalar.s ? node->scalar.s : "";
        if (strlen(k) != node->scalar.len) {
            if (!ignore)
                fail_pos(b, where, "map key contains a NUL character");
            f->drop_pair = true;
            return 0;
        }
        f->key = k;
        return 0;
    }
    f->have_key = false;
    if (f->drop_pair || ignore)
        return 0;
    if (f->n == f->cap) {
        struct vt_pair *pairs = grow(b, f->pairs, &f->cap, sizeof(*pairs));
        if (!pairs)
            return STOP;
        f->pairs = pairs;
    }
    f->pairs[f->n].key = f->key;
    f->pairs[f->n].key_pos = f->key_pos;
    f->pairs[f->n].val = node;
    f->n++;
    return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    struct vt_node *n = arena_zalloc(&b->doc->arena, sizeof(*n));
    if (!n)
        return fail_oom(b);
    set_pos(b, &n->pos, &ev->start_mark);
    n->kind = plain && is_plain_null(text, len) ? VT_NULL : VT_SCALAR;
    /* A null keeps the text it was written as: it may still serve as a map key. */
    n->scalar.s = arena_strndup(&b->doc->arena, text ? text : "", text ? len : 0);
    if (!n->scalar.s)
        return fail_oom(b);
    n->scalar.len = text ? len : 0;
    n->scalar.quoted = !plain;
    if (ev->data.scalar.anchor) {
        const char *name = arena_strdup(&b->doc->arena, (const char *)ev->data.scalar.anchor);
        if (!name || add_anchor(b, name, n))
            return fail_oom(b);
    }
    return attach(b, n, is_ignore_tag(ev->data.scalar.tag), &n->pos);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const struct anchor *a = find_anchor(b, name);
    struct vt_node *n;
    struct vt_pos where;
    set_pos(b, &where, &ev->start_mark);
    if (!a) {
        bool self_ref = false;
        for (size_t i = 0; i < b->depth; i++)
            self_ref = self_ref || (b->stack[i].anchor && strcmp(b->stack[i].anchor, name) == 0);
        fail_at(b, &ev->start_mark,
                self_ref ? "alias *%s refers to a node that contains it" : "unknown alias *%s",
                name);
        /* Keep the structure balanced with a placeholder; the document is dropped anyway. */
        n = arena_zalloc(&b->doc->arena, sizeof(*n));
        if (!n)
            return fail_oom(b);
        n->kind = VT_NULL;
        n->pos = where;
        return attach(b, n, true, &where);
    }
    if (copy_alias(b, a->node, b->depth, &ev->start_mark, &n))
        return STOP;
    return attach(b, n, false, &where);
}

static int on_collection_start(struct builder *b, const yaml_event_t *ev, enum vt_kind kind)
{
    const yaml_char_t *anchor, *tag;
    if (kind == VT_MAP) {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    } else {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    }
    if (b->depth >= VT_MAX_DEPTH)
        return fail_at(b, &ev->start_mark, "maps and lists nest deeper than %d levels",
                       VT_MAX_DEPTH);
    if (b->depth == b->stack_cap) {
        struct frame *stack = grow(b, b->stack, &b->stack_cap, sizeof(*stack));
        if (!stack)
            return STOP;
        b->stack = stack;
    }
    struct vt_node *n = arena_zalloc(&b->doc->arena, sizeof(*n));
    if (!n)
        return fail_oom(b);
    n->kind = kind;
    set_pos(b, &n->pos, &ev->start_mark);
    struct frame *f = &b->stack[b->depth];
    memset(f, 0, sizeof(*f));
    f->node = n;
    f->ignore = is_ignore_tag(tag);
    if (anchor) {
        f->anchor = arena_strdup(&b->doc->arena, (const char *)anchor);
        if (!f->anchor)
            return fail_oom(b);
    }
    b->depth++;
    return 0;
}

static int on_collection_end(struct builder *b, const yaml_event_t *ev)
{
    if (b->depth == 0)
        return fail_at(b, &ev->start_mark, "unbalanced end of a map or list");
    struct frame *f = &b->stack[b->depth - 1];
    struct vt_node *n = f->node;
    int rc = 0;
    if (n->kind == VT_MAP && f->n) {
        n->map.items = arena_alloc(&b->doc->arena, f->n * sizeof(*f->pairs));
        if (n->map.items) {
            memcpy(n->map.items, f->pairs, f->n * sizeof(*f->pairs));
            n->map.n = f->n;
        } else {
            rc = fail_oom(b);
        }
    } else if (n->kind == VT_LIST && f->n) {
        n->list.items = arena_alloc(&b->doc->arena, f->n * sizeof(*f->elems));
        if (n->list.items) {
            memcpy(n->list.items, f->elems, f->n * sizeof(*f->elems));
            n->list.n = f->n;
        } else {
            rc = fail_oom(b);
        }
    }
    free(f->pairs);
    free(f->elems);
    bool ignore = f->ignore;
    const char *anchor = f->anchor;
    b->depth--;
    if (rc)
        return rc;
    if (anchor && add_anchor(b, anchor, n))
        return STOP;
    return attach(b, n, ignore, &n->pos);
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->n_docs > 1)
            return fail_at(b, &ev->start_mark, "multiple YAML documents are not supported");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_MAPPING_START_EVENT:
        return on_collection_start(b, ev, VT_MAP);
    case YAML_SEQUENCE_START_EVENT:
        return on_collection_start(b, ev, VT_LIST);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        return on_collection_end(b, ev);
    case YAML_STREAM_END_EVENT:
        if (!b->root || b->root->kind == VT_NULL)
            return fail_at(b, NULL, "empty configuration");
        return 0;
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    }
    return 0;
}

/* Turns libyaml's error into "file:line:col: problem (context at line L, column C)". */
static void report_parser_error(struct builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        fail_oom(b);
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader gives a byte offset, not a mark: count lines ourselves. */
        size_t off = p->problem_offset < b->text_len ? p->problem_offset : b->text_len;
        uint32_t line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (b->text[i] == '\n') {
                line++;
                col = 1;
            } else if (col < UINT32_MAX) {
                col++;
            }
        }
        if (p->problem_value >= 0)
            cfg_err_add_at(b->err, b->file, line, col, "%s (byte 0x%02x)", problem,
                           (unsigned)p->problem_value);
        else
            cfg_err_add_at(b->err, b->file, line, col, "%s", problem);
        b->failed = true;
        return;
    }
    if (p->context)
        cfg_err_add_at(b->err, b->file, mark_line(&p->problem_mark), mark_col(&p->problem_mark),
                       "%s (%s at line %u, column %u)", problem, p->context,
                       (unsigned)mark_line(&p->context_mark), (unsigned)mark_col(&p->context_mark));
    else
        cfg_err_add_at(b->err, b->file, mark_line(&p->problem_mark), mark_col(&p->problem_mark),
                       "%s", problem);
    b->failed = true;
}

int vt_parse_string(const char *display, const char *text, size_t len, struct vt_doc **out,
                    struct cfg_err *err)
{
    struct builder b;
    yaml_parser_t parser;
    int rc;

    *out = NULL;
    memset(&b, 0, sizeof(b));
    b.err = err;
    b.text = text ? text : "";
    b.text_len = text ? len : 0;
    rc = vt_doc_new(&b.doc);
    if (rc) {
        cfg_err_add_at(err, display, 0, 0, "out of memory while loading the configuration");
        return rc;
    }
    b.file = arena_strdup(&b.doc->arena, display ? display : "<config>");
    if (!b.file || !yaml_parser_initialize(&parser)) {
        cfg_err_add_at(err, display, 0, 0, "out of memory while loading the configuration");
        vt_doc_free(b.doc);
        return -RM_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)b.text, b.text_len);

    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            report_parser_error(&b, &parser);
            break;
        }
        rc = on_event(&b, &ev);
        bool end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc || end)
            break;
    }
    yaml_parser_delete(&parser);

    for (size_t i = 0; i < b.depth; i++) {
        free(b.stack[i].pairs);
        free(b.stack[i].elems);
    }
    free(b.stack);
    free(b.buckets);

    if (b.failed) {
        vt_doc_free(b.doc);
        return b.oom ? -RM_ENOMEM : -RM_ECONFIG;
    }
    b.doc->root = b.root;
    *out = b.doc;
    return 0;
}

/* Reads all of |path| into a malloc'd buffer (NUL-terminated for convenience). */
static int read_file(const char *path, char **data, size_t *len, struct cfg_err *err)
{
    char ebuf[128];
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cfg_err_add_at(err, NULL, 0, 0, "cannot read %s: %s", path,
                       strerror_r(errno, ebuf, sizeof(ebuf)));
        return -RM_EIO;
    }
    size_t n = 0, cap = 0;
    char *buf = NULL;
    int rc = 0;
    for (;;) {
        if (cap - n < 4096) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > YAML_MAX_FILE_BYTES + 1)
                ncap = YAML_MAX_FILE_BYTES + 1;
            if (ncap <= n) {
                cfg_err_add_at(err, NULL, 0, 0, "cannot read %s: larger than %zu MiB", path,
                               YAML_MAX_FILE_BYTES >> 20);
                rc = -RM_ECONFIG;
                break;
            }
            char *p = realloc(buf, ncap + 1);
            if (!p) {
                cfg_err_add_at(err, NULL, 0, 0, "cannot read %s: out of memory", path);
                rc = -RM_ENOMEM;
                break;
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp)) {
                cfg_err_add_at(err, NULL, 0, 0, "cannot read %s: %s", path,
                               strerror_r(errno, ebuf, sizeof(ebuf)));
                rc = -RM_EIO;
            }
            break;
        }
    }
    fclose(fp);
    if (rc) {
        free(buf);
        return rc;
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf) {
            cfg_err_add_at(err, NULL, 0, 0, "cannot read %s: out of memory", path);
            return -RM_ENOMEM;
        }
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int vt_parse_file(const char *path, const char *display, struct vt_doc **out, struct cfg_err *err)
{
    char *data;
    size_t len;
    *out = NULL;
    int rc = read_file(path, &data, &len, err);
    if (rc)
        return rc;
    rc = vt_parse_string(display ? display : path, data, len, out, err);
    free(data);
    return rc;
}
