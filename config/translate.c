/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate.c — the machinery every translator shares (see translate.h): the field
 * table walker, proto3-JSON value readers (strings, bools, integers, durations, enums, Any),
 * socket addresses, transport sockets, field paths and deferred filter checks. Model
 * objects go to ctx->arena, paths and bookkeeping to ctx->scratch. Main thread only. */
#include "config/translate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/err.h"
#include "filters/filter.h"
#include "proxy/err.h"

/* Largest value of a Duration in seconds (proto3: ±10000 years). */
#define DURATION_MAX_SECONDS 315576000000LL

struct cfg_check {
    struct cfg_check *next;
    const struct net_filter_def *def;
    const void *config;
    const struct vt_node *node;
    const char *path;
};

/* ---- context ------------------------------------------------------------------------------ */

void cfg_ctx_init(struct cfg_ctx *ctx, struct arena *arena, struct cfg_err *err,
                  struct cfg_bootstrap *bs)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->arena = arena;
    ctx->err = err;
    ctx->bs = bs;
    arena_init(&ctx->scratch, 16384);
}

void cfg_ctx_fini(struct cfg_ctx *ctx)
{
    arena_fini(&ctx->scratch);
    ctx->checks = ctx->checks_tail = NULL;
}

void cfg_oom(struct cfg_ctx *ctx)
{
    if (!ctx->oom)
        cfg_err_add(ctx->err, NULL, NULL, "out of memory while translating the configuration");
    ctx->oom = true;
}

void *cfg_alloc(struct cfg_ctx *ctx, size_t n)
{
    void *p = arena_zalloc(ctx->arena, n ? n : 1);
    if (!p)
        cfg_oom(ctx);
    return p;
}

const char *cfg_strdup(struct cfg_ctx *ctx, const char *s)
{
    const char *p = arena_strdup(ctx->arena, s ? s : "");
    if (!p)
        cfg_oom(ctx);
    return p;
}

size_t cfg_errors(const struct cfg_ctx *ctx)
{
    return ctx->err->n_errors;
}

/* ---- paths ------------------------------------------------------------------------------- */

const char *cfg_path(struct cfg_ctx *ctx, const char *base, const char *field)
{
    const char *p = base && base[0] ? arena_sprintf(&ctx->scratch, "%s.%s", base, field)
                                    : arena_strdup(&ctx->scratch, field);
    if (!p) {
        cfg_oom(ctx);
        return field;
    }
    return p;
}

const char *cfg_path_idx(struct cfg_ctx *ctx, const char *base, size_t idx)
{
    const char *p = arena_sprintf(&ctx->scratch, "%s[%zu]", base ? base : "", idx);
    if (!p) {
        cfg_oom(ctx);
        return base ? base : "";
    }
    return p;
}

/* ---- scalar forms ------------------------------------------------------------------------ */

static const char *kind_name(const struct vt_node *n)
{
    switch (n->kind) {
    case VT_NULL:
        return "null";
    case VT_SCALAR:
        return "a scalar";
    case VT_MAP:
        return "a map";
    case VT_LIST:
        return "a list";
    }
    return "?";
}

static bool is_unset(const struct vt_node *n)
{
    return !n || n->kind == VT_NULL;
}

static const char *sc(const struct vt_node *n)
{
    return n->scalar.s ? n->scalar.s : "";
}

/* yaml-cpp's convert<bool> words, which Envoy's YAML loader applies to unquoted scalars. */
static bool yaml_bool_word(const char *s, bool *out)
{
    static const char *const t[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                    "True", "TRUE", "on",  "On",  "ON"};
    static const char *const f[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                    "False", "FALSE", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool scalar_bool(const struct vt_node *n, bool *out)
{
    if (n->kind != VT_SCALAR)
        return false;
    if (n->scalar.quoted) {
        /* proto3 JSON accepts the string forms "true"/"false" for bools. */
        if (strcmp(sc(n), "true") == 0)
            *out = true;
        else if (strcmp(sc(n), "false") == 0)
            *out = false;
        else
            return false;
        return true;
    }
    return yaml_bool_word(sc(n), out);
}

/* RFC 8259 number syntax: -?digits(.digits)?([eE][+-]?digits)? (a leading '+' for YAML). */
static bool json_number_syntax(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* An integer as sign + magnitude. */
struct num {
    bool neg;
    uint64_t mag;
};

/* Parses |s| fully as an integer. |yaml| selects yaml-cpp's stream rules for unquoted
 * scalars (optional sign, base from the prefix: 0x hex, 0 octal) over proto3 JSON's
 * decimal strings. Integral floats ("1e3", "5.0") are accepted either way, as protobuf's
 * JSON parser does. Returns 0, or -1 (not a number) or -2 (out of range). */
static int parse_num(const char *s, bool yaml, struct num *out)
{
    const char *p = s;
    out->neg = false;
    if (*p == '-' || (yaml && *p == '+')) {
        out->neg = *p == '-';
        p++;
    }
    if (*p >= '0' && *p <= '9') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, yaml ? 0 : 10);
        if (*end == '\0' && end != p) {
            if (errno == ERANGE)
                return -2;
            out->mag = v;
            return 0;
        }
    }
    /* Float forms ("1e3", "5.0"; JSON number syntax, so no hex floats): integral values only. */
    if (!json_number_syntax(s))
        return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end != '\0' || end == s || isnan(d))
        return -1;
    if (isinf(d) || fabs(d) >= 18446744073709551616.0)
        return -2;
    if (d != floor(d))
        return -1;
    out->neg = d < 0;
    out->mag = (uint64_t)fabs(d);
    return 0;
}

static int scalar_num(const struct vt_node *n, struct num *out)
{
    if (n->kind != VT_SCALAR || n->scalar.len == 0)
        return -1;
    return parse_num(sc(n), !n->scalar.quoted, out);
}

static void describe(const struct vt_node *n, char *buf, size_t cap)
{
    if (n->kind == VT_SCALAR)
        snprintf(buf, cap, "\"%.200s\"", sc(n));
    else
        snprintf(buf, cap, "%s", kind_name(n));
}

/* ---- the field walker -------------------------------------------------------------------- */

/* True when |key| spells |name|: exactly, or as protobuf's JSON name (lowerCamelCase). */
static bool key_spells(const char *key, const char *name)
{
    if (strcmp(key, name) == 0)
        return true;
    bool up = false;
    for (const char *s = name; *s; s++) {
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

/* Linear over the table: tables are small, and matching protobuf's two spellings exactly
 * (rather than normalising the key) also gets "foo2bar" for "foo_2bar" right. */
static int field_index(const struct cfg_type *msg, const char *key)
{
    for (size_t i = 0; i < msg->n_fields; i++)
        if (key_spells(key, msg->fields[i].name))
            return (int)i;
    return -1;
}

/* Errors about a key point at the key itself. */
static void error_at_key(struct cfg_ctx *ctx, const struct vt_pair *p, const char *path,
                         bool warning, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void error_at_key(struct cfg_ctx *ctx, const struct vt_pair *p, const char *path,
                         bool warning, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct vt_node at = {.kind = VT_NULL, .pos = p->key_pos};
    const struct vt_node *where = p->key_pos.file || p->key_pos.line ? &at : p->val;
    if (warning)
        cfg_warn_add(ctx->err, where, path, "%s", msg);
    else
        cfg_err_add(ctx->err, where, path, "%s", msg);
}

static bool word_is_int(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* True when |v| equals the inert value |inert| of an unsupported field. */
static bool inert_match(const char *inert, const struct vt_node *v)
{
    if (!inert)
        return false;
    if (strcmp(inert, "{}") == 0)
        return v->kind == VT_MAP && v->map.n == 0;
    if (strcmp(inert, "[]") == 0)
        return v->kind == VT_LIST && v->list.n == 0;
    if (v->kind != VT_SCALAR)
        return false;
    bool bi, bv;
    if (yaml_bool_word(inert, &bi))
        return scalar_bool(v, &bv) && bv == bi;
    if (word_is_int(inert)) {
        struct num a, b;
        return parse_num(inert, false, &a) == 0 && scalar_num(v, &b) == 0 && a.mag == b.mag &&
               (a.neg == b.neg || a.mag == 0);
    }
    return strcasecmp(sc(v), inert) == 0;
}

static const char *note_sep(const char *note)
{
    return note ? ": " : "";
}

bool cfg_obj_init(struct cfg_ctx *ctx, struct cfg_obj *o, const struct cfg_type *msg,
                  const struct vt_node *node, const char *path, unsigned flags)
{
    const struct vt_pair *pairs[CFG_FIELDS_MAX];

    memset(o, 0, sizeof(*o));
    o->msg = msg;
    o->path = path ? path : "";
    if (msg->n_fields > CFG_FIELDS_MAX) {
        /* A table bug, not an input problem: refuse loudly rather than overrun. */
        cfg_err_add(ctx->err, node, o->path, "internal error: %s has too many fields", msg->type);
        return false;
    }
    if (is_unset(node))
        return true;
    if (node->kind != VT_MAP) {
        char d[256];
        describe(node, d, sizeof(d));
        cfg_err_add(ctx->err, node, o->path, "expected a map (%s), got %s", msg->type, d);
        return false;
    }
    o->node = node;
    memset(pairs, 0, sizeof(pairs));
    for (size_t i = 0; i < node->map.n; i++) {
        const struct vt_pair *p = &node->map.items[i];
        if ((flags & CFG_OBJ_ANY) && strcmp(p->key, "@type") == 0)
            continue;
        int idx = field_index(msg, p->key);
        if (idx < 0 || msg->fields[idx].use == CFG_REMOVED) {
            const char *note = idx >= 0 ? msg->fields[idx].note : NULL;
            error_at_key(ctx, p, cfg_path(ctx, o->path, p->key), false,
                         "unknown field \"%s\" in %s%s%s%s", p->key, msg->type, note ? " (" : "",
                         note ? note : "", note ? ")" : "");
            continue;
        }
        pairs[idx] = p; /* the last duplicate wins */
    }
    for (size_t i = 0; i < msg->n_fields; i++) {
        const struct vt_pair *p = pairs[i];
        if (!p || is_unset(p->val))
            continue;
        const struct cfg_field *f = &msg->fields[i];
        const char *fpath = NULL;
        switch (f->use) {
        case CFG_SUPPORTED:
            o->vals[i] = p->val;
            break;
        case CFG_DEPRECATED:
            o->vals[i] = p->val;
            fpath = cfg_path(ctx, o->path, f->name);
            error_at_key(ctx, p, fpath, true, "Using deprecated option '%s.%s'%s%s", msg->type,
                         f->name, note_sep(f->note), f->note ? f->note : "");
            break;
        case CFG_DEPR_IGNORED:
            fpath = cfg_path(ctx, o->path, f->name);
            error_at_key(ctx, p, fpath, true,
                         "Using deprecated option '%s.%s'; it has no effect in Remora%s%s",
                         msg->type, f->name, note_sep(f->note), f->note ? f->note : "");
            break;
        case CFG_UNSUPPORTED:
            if (inert_match(f->inert, p->val))
                break;
            fpath = cfg_path(ctx, o->path, f->name);
            error_at_key(ctx, p, fpath, false, "%s is not supported by Remora yet%s%s", f->name,
                         note_sep(f->note), f->note ? f->note : "");
            break;
        case CFG_IGNORED:
            fpath = cfg_path(ctx, o->path, f->name);
            error_at_key(ctx, p, fpath, true, "%s has no effect in Remora%s%s", f->name,
                         note_sep(f->note), f->note ? f->note : "");
            break;
        case CFG_NOOP:
        case CFG_REMOVED:
            break;
        }
    }
    return true;
}

static int obj_field(const struct cfg_obj *o, const char *field)
{
    for (size_t i = 0; i < o->msg->n_fields; i++)
        if (strcmp(o->msg->fields[i].name, field) == 0)
            return (int)i;
    return -1;
}

const struct vt_node *cfg_obj_get(const struct cfg_obj *o, const char *field)
{
    int i = obj_field(o, field);
    /* A name missing from the table is a translator bug; abort in debug builds. */
#ifdef RM_DEBUG
    if (i < 0) {
        fprintf(stderr, "cfg_obj_get: %s has no field %s\n", o->msg->type, field);
        abort();
    }
#endif
    return i < 0 ? NULL : o->vals[i];
}

const char *cfg_obj_path(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field)
{
    return cfg_path(ctx, o->path, field);
}

void cfg_obj_error(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, const char *fmt,
                   ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const struct vt_node *v = cfg_obj_get(o, field);
    cfg_err_add(ctx->err, v ? v : o->node, cfg_obj_path(ctx, o, field), "%s", msg);
}

/* ---- typed values ------------------------------------------------------------------------ */

bool cfg_val_str(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, const char **out)
{
    if (is_unset(n))
        return true;
    if (n->kind != VT_SCALAR) {
        cfg_err_add(ctx->err, n, path, "expected a string, got %s", kind_name(n));
        return false;
    }
    const char *s = arena_strndup(ctx->arena, sc(n), n->scalar.len);
    if (!s) {
        cfg_oom(ctx);
        return false;
    }
    *out = s;
    return true;
}

bool cfg_val_bool(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, bool *out)
{
    if (is_unset(n))
        return true;
    bool b;
    if (!scalar_bool(n, &b)) {
        char d[256];
        describe(n, d, sizeof(d));
        cfg_err_add(ctx->err, n, path, "expected a boolean (true or false), got %s", d);
        return false;
    }
    *out = b;
    return true;
}

/* Reads an integer in [min, max] (as sign + magnitude bounds). */
static bool val_int(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                    const char *type, bool is_signed, uint64_t max, struct num *out)
{
    char d[256];
    if (n->kind != VT_SCALAR) {
        cfg_err_add(ctx->err, n, path, "expected %s, got %s", type, kind_name(n));
        return false;
    }
    describe(n, d, sizeof(d));
    int rc = scalar_num(n, out);
    if (rc == -1) {
        cfg_err_add(ctx->err, n, path, "expected %s, got %s", type, d);
        return false;
    }
    if (rc == -2 || (out->neg && out->mag && !is_signed) ||
        (out->neg ? out->mag > max + 1 : out->mag > max)) {
        cfg_err_add(ctx->err, n, path, "%s is out of range for %s", d, type);
        return false;
    }
    return true;
}

bool cfg_val_u32(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, uint32_t *out)
{
    struct num v;
    if (is_unset(n))
        return true;
    if (!val_int(ctx, n, path, "an unsigned 32-bit integer", false, UINT32_MAX, &v))
        return false;
    *out = (uint32_t)v.mag;
    return true;
}

bool cfg_val_u64(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, uint64_t *out)
{
    struct num v;
    if (is_unset(n))
        return true;
    if (!val_int(ctx, n, path, "an unsigned 64-bit integer", false, UINT64_MAX, &v))
        return false;
    *out = v.mag;
    return true;
}

bool cfg_val_i64(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, int64_t *out)
{
    struct num v;
    if (is_unset(n))
        return true;
    if (!val_int(ctx, n, path, "a 64-bit integer", true, INT64_MAX, &v))
        return false;
    *out = v.neg ? (int64_t)(0 - v.mag) : (int64_t)v.mag;
    return true;
}

/* Parses proto3 JSON's Duration text: -?digits(.digits{1,9})?s. Returns NULL or a reason. */
static const char *parse_duration(const char *s, struct cfg_duration *d)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (*p < '0' || *p > '9')
        return "a duration is a number of seconds ending in \"s\", like \"5s\" or \"0.25s\"";
    int64_t sec = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        sec = sec * 10 + (*p - '0');
        if (sec > DURATION_MAX_SECONDS)
            return "out of range (at most 315576000000s)";
    }
    int32_t nanos = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++digits > 9)
                return "at most 9 fraction digits (nanoseconds)";
            nanos = nanos * 10 + (*p - '0');
        }
        if (digits == 0)
            return "a duration is a number of seconds ending in \"s\", like \"5s\" or \"0.25s\"";
        for (; digits < 9; digits++)
            nanos *= 10;
    }
    if (p[0] != 's' || p[1] != '\0')
        return "a duration is a number of seconds ending in \"s\", like \"5s\" or \"0.25s\"";
    d->seconds = neg ? -sec : sec;
    d->nanos = neg ? -nanos : nanos;
    return NULL;
}

static const struct cfg_field duration_fields[] = {
    {"seconds", CFG_SUPPORTED, NULL, NULL},
    {"nanos", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(duration_msg, "google.protobuf.Duration", duration_fields);

bool cfg_val_duration(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                      struct cfg_duration *out)
{
    struct cfg_duration d = {0, 0};
    char desc[256];
    if (is_unset(n))
        return true;
    if (n->kind == VT_MAP) {
        /* The {seconds, nanos} form some configs use. */
        struct cfg_obj o;
        size_t mark = cfg_errors(ctx);
        int64_t nanos = 0;
        cfg_obj_init(ctx, &o, &duration_msg, n, path, 0);
        cfg_val_i64(ctx, cfg_obj_get(&o, "seconds"), cfg_obj_path(ctx, &o, "seconds"), &d.seconds);
        cfg_val_i64(ctx, cfg_obj_get(&o, "nanos"), cfg_obj_path(ctx, &o, "nanos"), &nanos);
        if (cfg_errors(ctx) != mark)
            return false;
        if (nanos <= -1000000000 || nanos >= 1000000000) {
            cfg_obj_error(ctx, &o, "nanos", "nanos must be within -999999999..999999999");
            return false;
        }
        if (d.seconds > DURATION_MAX_SECONDS || d.seconds < -DURATION_MAX_SECONDS) {
            cfg_obj_error(ctx, &o, "seconds", "seconds is out of range (at most 315576000000)");
            return false;
        }
        if ((d.seconds > 0 && nanos < 0) || (d.seconds < 0 && nanos > 0)) {
            cfg_obj_error(ctx, &o, "nanos", "seconds and nanos must have the same sign");
            return false;
        }
        d.nanos = (int32_t)nanos;
        snprintf(desc, sizeof(desc), "{seconds: %lld, nanos: %d}", (long long)d.seconds,
                 (int)d.nanos);
    } else if (n->kind == VT_SCALAR) {
        describe(n, desc, sizeof(desc));
        const char *why = parse_duration(sc(n), &d);
        if (why) {
            cfg_err_add(ctx->err, n, path, "invalid duration %s: %s", desc, why);
            return false;
        }
    } else {
        cfg_err_add(ctx->err, n, path, "expected a duration like \"5s\", got %s", kind_name(n));
        return false;
    }
    if (d.seconds < 0 || d.nanos < 0) {
        /* Envoy rejects negative durations anywhere ("Expected positive duration"). */
        cfg_err_add(ctx->err, n, path, "invalid duration %s: must not be negative", desc);
        return false;
    }
    *out = d;
    return true;
}

uint64_t cfg_duration_to_ms(const struct cfg_duration *d)
{
    return (uint64_t)d->seconds * 1000u + (uint64_t)d->nanos / 1000000u;
}

bool cfg_val_duration_ms(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                         uint64_t *out_ms)
{
    struct cfg_duration d;
    if (is_unset(n))
        return true;
    if (!cfg_val_duration(ctx, n, path, &d))
        return false;
    *out_ms = cfg_duration_to_ms(&d);
    return true;
}

bool cfg_val_enum(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                  const struct cfg_enum *e, int *out)
{
    if (is_unset(n))
        return true;
    if (n->kind != VT_SCALAR) {
        cfg_err_add(ctx->err, n, path, "expected a value of enum %s, got %s", e->type,
                    kind_name(n));
        return false;
    }
    const struct cfg_enum_val *v = NULL;
    struct num num;
    for (size_t i = 0; i < e->n && !v; i++)
        if (strcasecmp(e->vals[i].name, sc(n)) == 0)
            v = &e->vals[i];
    if (!v && scalar_num(n, &num) == 0) {
        for (size_t i = 0; i < e->n && !v; i++)
            if (!num.neg && num.mag == (uint64_t)e->vals[i].num)
                v = &e->vals[i];
    }
    if (!v) {
        char names[512];
        size_t len = 0;
        names[0] = '\0';
        for (size_t i = 0; i < e->n && len < sizeof(names); i++)
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                    e->vals[i].name);
        cfg_err_add(ctx->err, n, path, "invalid value \"%.200s\" for enum %s (expected one of %s)",
                    sc(n), e->type, names);
        return false;
    }
    if (!v->supported) {
        cfg_err_add(ctx->err, n, path, "%s is not supported by Remora yet", v->name);
        return false;
    }
    *out = v->num;
    return true;
}

bool cfg_val_list(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, size_t *count)
{
    *count = 0;
    if (is_unset(n))
        return true;
    if (n->kind != VT_LIST) {
        char d[256];
        describe(n, d, sizeof(d));
        cfg_err_add(ctx->err, n, path, "expected a list, got %s", d);
        return false;
    }
    *count = n->list.n;
    return true;
}

bool cfg_val_struct(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                    const struct vt_node **out)
{
    if (is_unset(n))
        return true;
    if (n->kind != VT_MAP) {
        cfg_err_add(ctx->err, n, path, "expected a map (google.protobuf.Struct), got %s",
                    kind_name(n));
        return false;
    }
    *out = n;
    return true;
}

bool cfg_f_str(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, const char **out)
{
    const struct vt_node *n = cfg_obj_get(o, field);
    return !n || cfg_val_str(ctx, n, cfg_obj_path(ctx, o, field), out);
}

bool cfg_f_bool(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, bool *out)
{
    const struct vt_node *n = cfg_obj_get(o, field);
    return !n || cfg_val_bool(ctx, n, cfg_obj_path(ctx, o, field), out);
}

bool cfg_f_u32(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, uint32_t *out)
{
    const struct vt_node *n = cfg_obj_get(o, field);
    return !n || cfg_val_u32(ctx, n, cfg_obj_path(ctx, o, field), out);
}

bool cfg_f_u64(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, uint64_t *out)
{
    const struct vt_node *n = cfg_obj_get(o, field);
    return !n || cfg_val_u64(ctx, n, cfg_obj_path(ctx, o, field), out);
}

bool cfg_f_duration_ms(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field,
                       uint64_t *out_ms)
{
    const struct vt_node *n = cfg_obj_get(o, field);
    return !n || cfg_val_duration_ms(ctx, n, cfg_obj_path(ctx, o, field), out_ms);
}

bool cfg_f_enum(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field,
                const struct cfg_enum *e, int *out)
{
    const struct vt_node *n = cfg_obj_get(o, field);
    return !n || cfg_val_enum(ctx, n, cfg_obj_path(ctx, o, field), e, out);
}

bool cfg_f_list(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, size_t *count)
{
    const struct vt_node *n = cfg_obj_get(o, field);
    *count = 0;
    return !n || cfg_val_list(ctx, n, cfg_obj_path(ctx, o, field), count);
}

/* ---- Any --------------------------------------------------------------------------------- */

static const char *type_name_of(const char *url)
{
    const char *slash = strrchr(url, '/');
    return slash ? slash + 1 : url;
}

static bool is_typed_struct(const char *type_name)
{
    return strcmp(type_name, "xds.type.v3.TypedStruct") == 0 ||
           strcmp(type_name, "udpa.type.v1.TypedStruct") == 0;
}

static const struct cfg_field typed_struct_fields[] = {
    {"type_url", CFG_SUPPORTED, NULL, NULL},
    {"value", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(typed_struct_msg, "xds.type.v3.TypedStruct", typed_struct_fields);

bool cfg_val_any(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                 struct cfg_any *out)
{
    if (is_unset(n) || n->kind != VT_MAP) {
        cfg_err_add(ctx->err, n, path,
                    "expected a map with \"@type\" (google.protobuf.Any), "
                    "got %s",
                    n ? kind_name(n) : "nothing");
        return false;
    }
    const struct vt_node *t = NULL;
    for (size_t i = n->map.n; i-- > 0 && !t;)
        if (strcmp(n->map.items[i].key, "@type") == 0)
            t = n->map.items[i].val;
    if (!t || t->kind != VT_SCALAR || t->scalar.len == 0) {
        cfg_err_add(ctx->err, n, path,
                    "missing \"@type\": a typed_config names its message type, e.g. "
                    "\"@type\": type.googleapis.com/"
                    "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy");
        return false;
    }
    out->type_url = sc(t);
    out->type_name = type_name_of(out->type_url);
    out->msg = n;
    out->path = path;
    if (out->type_name[0] == '\0') {
        cfg_err_add(ctx->err, t, cfg_path(ctx, path, "@type"), "invalid type URL \"%s\"",
                    out->type_url);
        return false;
    }
    if (!is_typed_struct(out->type_name))
        return true;

    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *url = NULL;
    cfg_obj_init(ctx, &o, &typed_struct_msg, n, path, CFG_OBJ_ANY);
    cfg_f_str(ctx, &o, "type_url", &url);
    const struct vt_node *value = cfg_obj_get(&o, "value");
    if (cfg_errors(ctx) != mark)
        return false;
    if (!url || !url[0]) {
        cfg_obj_error(ctx, &o, "type_url", "type_url is required in a TypedStruct");
        return false;
    }
    static const struct vt_node empty_map = {.kind = VT_MAP};
    if (value && value->kind != VT_MAP) {
        cfg_obj_error(ctx, &o, "value", "expected a map (google.protobuf.Struct), got %s",
                      kind_name(value));
        return false;
    }
    out->type_url = url;
    out->type_name = type_name_of(url);
    out->msg = value ? value : &empty_map;
    out->path = cfg_obj_path(ctx, &o, "value");
    return true;
}

/* ---- addresses --------------------------------------------------------------------------- */

static const struct cfg_field address_fields[] = {
    {"socket_address", CFG_SUPPORTED, NULL, NULL},
    {"pipe", CFG_UNSUPPORTED, NULL, "Unix domain sockets are not implemented"},
    {"envoy_internal_address", CFG_UNSUPPORTED, NULL, "internal listeners are not implemented"},
};
CFG_TYPE(address_msg, "envoy.config.core.v3.Address", address_fields);

static const struct cfg_field socket_address_fields[] = {
    {"protocol", CFG_SUPPORTED, NULL, NULL},
    {"address", CFG_SUPPORTED, NULL, NULL},
    {"port_value", CFG_SUPPORTED, NULL, NULL},
    {"named_port", CFG_UNSUPPORTED, "", "use port_value"},
    {"resolver_name", CFG_UNSUPPORTED, "", "custom resolvers are not implemented"},
    {"ipv4_compat", CFG_UNSUPPORTED, "false", "dual-stack IPv6 sockets are not implemented"},
    {"network_namespace_filepath", CFG_UNSUPPORTED, "", NULL},
};
CFG_TYPE(socket_address_msg, "envoy.config.core.v3.SocketAddress", socket_address_fields);

static const struct cfg_enum_val protocol_vals[] = {
    {"TCP", 0, true},
    {"UDP", 1, false},
};
CFG_ENUM(protocol_enum, "envoy.config.core.v3.SocketAddress.Protocol", protocol_vals);

bool cfg_addr_set(struct cfg_ctx *ctx, struct cfg_addr *a, const char *ip, uint32_t port)
{
    char buf[INET6_ADDRSTRLEN];
    memset(&a->ss, 0, sizeof(a->ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
    bool v6 = false;
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        a->len = sizeof(*sin);
        inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    } else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        a->len = sizeof(*sin6);
        inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
        v6 = true;
    } else {
        return false;
    }
    a->port = port;
    a->ip = arena_strdup(ctx->arena, buf);
    a->str = arena_sprintf(ctx->arena, v6 ? "[%s]:%u" : "%s:%u", buf, (unsigned)port);
    char *stat = a->str ? arena_strdup(ctx->arena, a->str) : NULL;
    if (!a->ip || !a->str || !stat) {
        cfg_oom(ctx);
        return false;
    }
    /* Envoy's stat names replace ':' with '_' ("listener.[__1]_10000.downstream_cx_total"). */
    for (char *p = stat; *p; p++)
        if (*p == ':')
            *p = '_';
    a->stat_name = stat;
    return true;
}

bool cfg_val_address(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                     enum cfg_addr_use use, struct cfg_addr *addr, const char **host,
                     uint32_t *port)
{
    struct cfg_obj a, s;
    size_t mark = cfg_errors(ctx);

    if (!cfg_obj_init(ctx, &a, &address_msg, n, path, 0))
        return false;
    const struct vt_node *sa = cfg_obj_get(&a, "socket_address");
    if (!sa) {
        if (cfg_errors(ctx) == mark)
            cfg_err_add(ctx->err, n, path, "socket_address is required");
        return false;
    }
    const char *spath = cfg_obj_path(ctx, &a, "socket_address");
    if (!cfg_obj_init(ctx, &s, &socket_address_msg, sa, spath, 0))
        return false;

    int proto = 0;
    const char *address = NULL;
    uint32_t portv = 0;
    cfg_f_enum(ctx, &s, "protocol", &protocol_enum, &proto);
    cfg_f_str(ctx, &s, "address", &address);
    const struct vt_node *pv = cfg_obj_get(&s, "port_value");
    if (cfg_errors(ctx) != mark)
        return false;

    if (!address || !address[0]) {
        cfg_obj_error(ctx, &s, "address", "address is required");
        return false;
    }
    if (!pv) {
        cfg_obj_error(ctx, &s, "port_value", "port_value is required");
        return false;
    }
    struct num num;
    if (pv->kind != VT_SCALAR || scalar_num(pv, &num) != 0 || (num.neg && num.mag)) {
        char d[256];
        describe(pv, d, sizeof(d));
        cfg_obj_error(ctx, &s, "port_value", "expected a port number (0..65535), got %s", d);
        return false;
    }
    if (num.mag > 65535) {
        cfg_obj_error(ctx, &s, "port_value", "port_value %llu is out of range (0..65535)",
                      (unsigned long long)num.mag);
        return false;
    }
    portv = (uint32_t)num.mag;
    if (portv == 0 && use != CFG_ADDR_BIND) {
        cfg_obj_error(ctx, &s, "port_value",
                      "port_value 0 is not a valid upstream port (1..65535)");
        return false;
    }
    bool is_ip = cfg_addr_set(ctx, addr, address, portv);
    if (ctx->oom)
        return false;
    if (!is_ip && use != CFG_ADDR_DNS_NAME) {
        /* Envoy's wording, so searches for the message find the explanations. */
        cfg_obj_error(ctx, &s, "address",
                      use == CFG_ADDR_STATIC
                          ? "malformed IP address: %s. Consider setting resolver_name or "
                            "setting cluster type to 'STRICT_DNS' or 'LOGICAL_DNS'"
                          : "malformed IP address: %s (a bind address is an IP literal such "
                            "as 127.0.0.1, 0.0.0.0 or ::)",
                      address);
        return false;
    }
    if (!is_ip)
        memset(addr, 0, sizeof(*addr));
    *host = address;
    *port = portv;
    return true;
}

/* ---- transport sockets ------------------------------------------------------------------- */

static const struct cfg_field transport_socket_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"typed_config", CFG_SUPPORTED, NULL, NULL},
    {"config", CFG_REMOVED, NULL, "removed in the v3 API: use typed_config"},
};
CFG_TYPE(transport_socket_msg, "envoy.config.core.v3.TransportSocket", transport_socket_fields);

/* RawBuffer has no fields; C wants a non-empty table, and a removed placeholder reads as
 * unknown like any other key. */
static const struct cfg_field raw_buffer_fields[] = {{"-", CFG_REMOVED, NULL, NULL}};
CFG_TYPE(raw_buffer_msg, "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
         raw_buffer_fields);

#define RAW_BUFFER_NAME "envoy.transport_sockets.raw_buffer"
#define RAW_BUFFER_TYPE "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"

bool cfg_val_transport_socket(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              const struct cfg_tls_server **tls)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *name = NULL;
    if (!cfg_obj_init(ctx, &o, &transport_socket_msg, n, path, 0))
        return false;
    cfg_f_str(ctx, &o, "name", &name);
    const struct vt_node *tc = cfg_obj_get(&o, "typed_config");
    if (cfg_errors(ctx) != mark)
        return false;
    if (!name || !name[0]) {
        cfg_obj_error(ctx, &o, "name", "name is required");
        return false;
    }
    if (tc) {
        struct cfg_any any;
        const char *tpath = cfg_obj_path(ctx, &o, "typed_config");
        if (!cfg_val_any(ctx, tc, tpath, &any))
            return false;
        if (strcmp(any.type_name, RAW_BUFFER_TYPE) == 0) {
            struct cfg_obj rb;
            cfg_obj_init(ctx, &rb, &raw_buffer_msg, any.msg, any.path, CFG_OBJ_ANY);
            return cfg_errors(ctx) == mark;
        }
        if (tls && cfg_tls_downstream_is(any.type_name)) {
            *tls = cfg_translate_downstream_tls(ctx, any.msg, any.path);
            return *tls != NULL;
        }
        cfg_err_add(ctx->err, tc, tpath,
                    tls ? "transport socket %s (%s) is not supported by Remora yet: plaintext "
                          "(" RAW_BUFFER_NAME ") and DownstreamTlsContext for now"
                        : "transport socket %s (%s) is not supported by Remora yet: only "
                          "plaintext (" RAW_BUFFER_NAME ") to upstreams for now",
                    name, any.type_name);
        return false;
    }
    if (strcmp(name, RAW_BUFFER_NAME) == 0 || strcmp(name, "raw_buffer") == 0)
        return true;
    if (tls && (strcmp(name, "envoy.transport_sockets.tls") == 0 || strcmp(name, "tls") == 0)) {
        /* Envoy builds an empty DownstreamTlsContext, which has no certificate. */
        cfg_obj_error(ctx, &o, "name",
                      "No TLS certificates found for server context: transport socket %s needs "
                      "a typed_config (DownstreamTlsContext) with common_tls_context."
                      "tls_certificates",
                      name);
        return false;
    }
    cfg_obj_error(ctx, &o, "name",
                  "transport socket %s is not supported by Remora yet without a typed_config: "
                  "only plaintext (" RAW_BUFFER_NAME ") for now",
                  name);
    return false;
}

/* ---- deferred checks --------------------------------------------------------------------- */

void cfg_defer_check(struct cfg_ctx *ctx, const struct net_filter_def *def, const void *config,
                     const struct vt_node *node, const char *path)
{
    struct cfg_check *c = arena_zalloc(&ctx->scratch, sizeof(*c));
    if (!c) {
        cfg_oom(ctx);
        return;
    }
    c->def = def;
    c->config = config;
    c->node = node;
    c->path = path;
    if (ctx->checks_tail)
        ctx->checks_tail->next = c;
    else
        ctx->checks = c;
    ctx->checks_tail = c;
}

void cfg_run_checks(struct cfg_ctx *ctx)
{
    for (struct cfg_check *c = ctx->checks; c; c = c->next) {
        if (!c->def->config_check)
            continue;
        ctx->check_node = c->node;
        c->def->config_check(ctx, c->config, c->path);
    }
    ctx->check_node = NULL;
}
