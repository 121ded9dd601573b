/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/access_log.c — Envoy access log formats, contexts and the asynchronous file writer
 * (see access_log.h). Formats are compiled on the main thread into arena memory and read by
 * any worker. Sinks: workers memcpy lines into a per-sink buffer under a short mutex; one
 * flusher thread swaps the buffer out and does every write(2), open(2) and close(2).
 * Semantics follow Envoy's source/common/formatter (substitution_formatter.cc,
 * stream_info_formatter.cc) and DateFormatter (source/common/common/utility.cc). */
#include "proxy/access_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/model.h"
#include "config/value.h"
#include "proxy/alog_filter.h"
#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/response_flags.h"
#include "proxy/strbuf.h"

/* ============================================================================================
 * Operators
 * ========================================================================================== */

/* Envoy's CommandSyntaxChecker flags. */
enum syntax {
    SYN_COMMAND_ONLY,    /* %PROTOCOL%: no (params), no :length */
    SYN_PARAMS_OPTIONAL, /* %START_TIME% or %START_TIME(fmt)%, no :length */
    SYN_HEADER,          /* %REQ(X?Y):Z%: params required, length allowed */
};

/* X(NAME, syntax). The operator is spelled %NAME%. */
#define ALOG_OPS(X)                                                                                \
    X(START_TIME, SYN_PARAMS_OPTIONAL)                                                             \
    X(REQ, SYN_HEADER)                                                                             \
    X(RESP, SYN_HEADER)                                                                            \
    X(TRAILER, SYN_HEADER)                                                                         \
    X(RESPONSE_CODE, SYN_COMMAND_ONLY)                                                             \
    X(RESPONSE_CODE_DETAILS, SYN_COMMAND_ONLY)                                                     \
    X(RESPONSE_FLAGS, SYN_COMMAND_ONLY)                                                            \
    X(RESPONSE_FLAGS_LONG, SYN_COMMAND_ONLY)                                                       \
    X(DURATION, SYN_COMMAND_ONLY)                                                                  \
    X(REQUEST_DURATION, SYN_COMMAND_ONLY)                                                          \
    X(REQUEST_TX_DURATION, SYN_COMMAND_ONLY)                                                       \
    X(RESPONSE_DURATION, SYN_COMMAND_ONLY)                                                         \
    X(RESPONSE_TX_DURATION, SYN_COMMAND_ONLY)                                                      \
    X(DOWNSTREAM_HANDSHAKE_DURATION, SYN_COMMAND_ONLY)                                             \
    X(BYTES_RECEIVED, SYN_COMMAND_ONLY)                                                            \
    X(BYTES_SENT, SYN_COMMAND_ONLY)                                                                \
    X(PROTOCOL, SYN_COMMAND_ONLY)                                                                  \
    X(UPSTREAM_HOST, SYN_COMMAND_ONLY)                                                             \
    X(UPSTREAM_CLUSTER, SYN_COMMAND_ONLY)                                                          \
    X(UPSTREAM_LOCAL_ADDRESS, SYN_COMMAND_ONLY)                                                    \
    X(UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT, SYN_COMMAND_ONLY)                                       \
    X(UPSTREAM_REMOTE_ADDRESS, SYN_COMMAND_ONLY)                                                   \
    X(UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT, SYN_COMMAND_ONLY)                                      \
    X(UPSTREAM_TRANSPORT_FAILURE_REASON, SYN_COMMAND_ONLY)                                         \
    X(DOWNSTREAM_REMOTE_ADDRESS, SYN_COMMAND_ONLY)                                                 \
    X(DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT, SYN_COMMAND_ONLY)                                    \
    X(DOWNSTREAM_LOCAL_ADDRESS, SYN_COMMAND_ONLY)                                                  \
    X(DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT, SYN_COMMAND_ONLY)                                     \
    X(DOWNSTREAM_DIRECT_REMOTE_ADDRESS, SYN_COMMAND_ONLY)                                          \
    X(DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT, SYN_COMMAND_ONLY)                             \
    X(DOWNSTREAM_PEER_URI_SAN, SYN_COMMAND_ONLY)                                                   \
    X(DOWNSTREAM_PEER_SUBJECT, SYN_COMMAND_ONLY)                                                   \
    X(DOWNSTREAM_TLS_VERSION, SYN_COMMAND_ONLY)                                                    \
    X(REQUESTED_SERVER_NAME, SYN_COMMAND_ONLY)                                                     \
    X(ROUTE_NAME, SYN_COMMAND_ONLY)                                                                \
    X(CONNECTION_TERMINATION_DETAILS, SYN_COMMAND_ONLY)                                            \
    X(UPSTREAM_REQUEST_ATTEMPT_COUNT, SYN_COMMAND_ONLY)                                            \
    X(HOSTNAME, SYN_COMMAND_ONLY)                                                                  \
    X(CONNECTION_ID, SYN_COMMAND_ONLY)                                                             \
    X(LOCAL_REPLY_BODY, SYN_COMMAND_ONLY)

enum op {
    OP_LITERAL,
#define X(name, syn) OP_##name,
    ALOG_OPS(X)
#undef X
};

static const struct {
    const char *name;
    enum syntax syntax;
    enum op op;
} op_table[] = {
#define X(name, syn) {#name, syn, OP_##name},
    ALOG_OPS(X)
#undef X
};

/* ---- START_TIME(...) sub-format -------------------------------------------------------- */

enum ttok_kind {
    TT_LIT,      /* copied as is */
    TT_STRFTIME, /* one strftime conversion ("%Y", "%-d", "%Ob") on the UTC struct tm */
    TT_EPOCH,    /* %s: seconds since the epoch (Envoy's own) */
    TT_SUBSEC,   /* %f %1f..%9f %*f %E1f..%E9f %E*f: fractional digits */
    TT_SUBSEC_S, /* %E1S..%E9S %E*S: seconds, then '.' and digits (absl) */
};

struct ttok {
    enum ttok_kind kind;
    unsigned width; /* TT_SUBSEC*: 1..9 digits; 0 = '*' (trailing zeros removed) */
    const char *s;  /* TT_LIT text / TT_STRFTIME spec, NUL-terminated */
    size_t len;
};

struct tfmt {
    const struct ttok *toks;
    size_t n;
};

/* ---- compiled format ---------------------------------------------------------------------- */

struct seg {
    enum op op;
    const char *s;         /* OP_LITERAL text; header ops: lower-case main header name */
    size_t len;            /* of |s| */
    const char *alt;       /* header ops: lower-case alternative header, or NULL */
    size_t max_len;        /* header ops: truncation, SIZE_MAX = none */
    const struct tfmt *tf; /* OP_START_TIME: custom format, NULL = Envoy's default */
};

struct tmpl {
    const struct seg *segs;
    size_t n;
};

enum jkind {
    J_CONST, /* pre-serialised JSON text: a string, number, bool or null literal */
    J_TMPL,  /* a string with operators */
    J_MAP,
    J_LIST,
};

struct jnode;

struct jfield {
    const char *key; /* pre-serialised JSON string, quotes included */
    size_t key_len;
    const struct jnode *val;
};

struct jnode {
    enum jkind kind;
    const char *raw; /* J_CONST */
    size_t raw_len;
    struct tmpl t;                    /* J_TMPL */
    const struct jfield *fields;      /* J_MAP, sorted by key */
    const struct jnode *const *items; /* J_LIST */
    size_t n;                         /* fields or items */
};

struct alog_format {
    bool json;
    bool omit_empty;
    struct tmpl text;         /* !json */
    const struct jnode *root; /* json: a J_MAP */
    const char *hostname;     /* gethostname() at compile time, NULL when unknown */
};

/* What an operator produced. */
enum vkind { V_MISSING, V_STR, V_NUM };

/* ============================================================================================
 * Compilation
 * ========================================================================================== */

#define JSON_MAX_DEPTH 32

struct cc {
    struct arena *a;
    char *err;
    size_t errlen;
    bool omit_empty;
    bool need_hostname;
};

__attribute__((format(printf, 2, 3))) static int cc_fail(struct cc *cc, const char *fmt, ...)
{
    if (cc->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cc->err, cc->errlen, fmt, ap);
        va_end(ap);
    }
    return -RM_ECONFIG;
}

static int cc_nomem(struct cc *cc)
{
    if (cc->errlen > 0)
        snprintf(cc->err, cc->errlen, "out of memory compiling access log format");
    return -RM_ENOMEM;
}

/* A growable array of fixed-size elements, malloc'd while compiling, copied to the arena. */
struct vec {
    void *p;
    size_t n, cap, elem;
};

static void *vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 8;
        void *np = realloc(v->p, ncap * v->elem);
        if (!np)
            return NULL;
        v->p = np;
        v->cap = ncap;
    }
    void *slot = (char *)v->p + v->n * v->elem;
    memset(slot, 0, v->elem);
    v->n++;
    return slot;
}

/* Copies the elements into |a|; returns NULL on failure (an empty vector gives a valid
 * pointer too, so callers can tell the two apart). */
static void *vec_to_arena(struct vec *v, struct arena *a)
{
    void *dst = arena_alloc(a, v->n ? v->n * v->elem : 1);
    if (dst && v->n)
        memcpy(dst, v->p, v->n * v->elem);
    return dst;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Appends a literal token made of |lit| (if any) and resets it. */
static int flush_time_lit(struct cc *cc, struct strbuf *lit, struct vec *toks)
{
    if (lit->failed)
        return cc_nomem(cc);
    if (lit->len == 0)
        return 0;
    struct ttok *t = vec_push(toks);
    if (!t)
        return cc_nomem(cc);
    t->kind = TT_LIT;
    t->s = arena_strndup(cc->a, lit->data, lit->len);
    t->len = lit->len;
    sb_reset(lit);
    return t->s ? 0 : cc_nomem(cc);
}

static int push_time_tok(struct cc *cc, struct strbuf *lit, struct vec *toks, enum ttok_kind kind,
                         unsigned width, const char *s, size_t len)
{
    int rc = flush_time_lit(cc, lit, toks);
    if (rc)
        return rc;
    struct ttok *t = vec_push(toks);
    if (!t)
        return cc_nomem(cc);
    t->kind = kind;
    t->width = width;
    if (s) {
        t->s = arena_strndup(cc->a, s, len);
        t->len = len;
        if (!t->s)
            return cc_nomem(cc);
    }
    return 0;
}

/*
 * Compiles a START_TIME(...) format: Envoy's DateFormatter on top of absl::FormatTime, always
 * UTC. Envoy specifiers: %s, %f (9 digits), %1f..%9f, %*f. absl specifiers: %E1S..%E9S, %E*S,
 * %E1f..%E9f, %E*f, %Ez ("+00:00"), %E*z ("+00:00:00"), %E4Y, %Z ("UTC"). Everything else is
 * one strftime conversion. A %n conversion is rejected as Envoy does (the value may end up in
 * a header).
 */
static int compile_time(struct cc *cc, const char *s, size_t n, const struct tfmt **out)
{
    struct vec toks = {.elem = sizeof(struct ttok)};
    struct strbuf lit;
    int rc = 0;

    sb_init(&lit);
    for (size_t i = 0; i < n && rc == 0;) {
        if (s[i] != '%' || i + 1 >= n) {
            rc = sb_putc(&lit, s[i]) ? cc_nomem(cc) : 0;
            i++;
            continue;
        }
        char c1 = s[i + 1];
        char c2 = i + 2 < n ? s[i + 2] : '\0';
        char c3 = i + 3 < n ? s[i + 3] : '\0';
        if (c1 == '%') {
            rc = sb_putc(&lit, '%') ? cc_nomem(cc) : 0;
            i += 2;
        } else if (c1 == 's') {
            rc = push_time_tok(cc, &lit, &toks, TT_EPOCH, 0, NULL, 0);
            i += 2;
        } else if (c1 == 'f') {
            rc = push_time_tok(cc, &lit, &toks, TT_SUBSEC, 9, NULL, 0);
            i += 2;
        } else if (((c1 >= '1' && c1 <= '9') || c1 == '*') && c2 == 'f') {
            unsigned w = c1 == '*' ? 0 : (unsigned)(c1 - '0');
            rc = push_time_tok(cc, &lit, &toks, TT_SUBSEC, w, NULL, 0);
            i += 3;
        } else if (c1 == 'E' && ((c2 >= '1' && c2 <= '9') || c2 == '*') &&
                   (c3 == 'S' || c3 == 'f')) {
            unsigned w = c2 == '*' ? 0 : (unsigned)(c2 - '0');
            rc = push_time_tok(cc, &lit, &toks, c3 == 'S' ? TT_SUBSEC_S : TT_SUBSEC, w, NULL, 0);
            i += 4;
        } else if (c1 == 'E' && c2 == 'z') {
            rc = sb_puts(&lit, "+00:00") ? cc_nomem(cc) : 0;
            i += 3;
        } else if (c1 == 'E' && c2 == '*' && c3 == 'z') {
            rc = sb_puts(&lit, "+00:00:00") ? cc_nomem(cc) : 0;
            i += 4;
        } else if (c1 == 'E' && c2 == '4' && c3 == 'Y') {
            rc = push_time_tok(cc, &lit, &toks, TT_STRFTIME, 0, "%Y", 2);
            i += 4;
        } else if (c1 == 'Z') {
            rc = sb_puts(&lit, "UTC") ? cc_nomem(cc) : 0;
            i += 2;
        } else {
            /* %[flags][width][E|O]conversion */
            size_t j = i + 1;
            while (j < n && strchr("-_0^#", s[j]))
                j++;
            while (j < n && is_digit(s[j]))
                j++;
            if (j < n && (s[j] == 'E' || s[j] == 'O'))
                j++;
            if (j >= n) { /* dangling '%...' at the end: kept as text */
                rc = sb_append(&lit, s + i, n - i) ? cc_nomem(cc) : 0;
                i = n;
                continue;
            }
            if (s[j] == 'n') {
                rc = cc_fail(cc, "Invalid header configuration. Format string contains newline.");
                break;
            }
            rc = push_time_tok(cc, &lit, &toks, TT_STRFTIME, 0, s + i, j + 1 - i);
            i = j + 1;
        }
    }
    if (rc == 0)
        rc = flush_time_lit(cc, &lit, &toks);
    if (rc == 0) {
        struct tfmt *tf = arena_alloc(cc->a, sizeof(*tf));
        const struct ttok *arr = vec_to_arena(&toks, cc->a);
        if (!tf || !arr) {
            rc = cc_nomem(cc);
        } else {
            tf->toks = arr;
            tf->n = toks.n;
            *out = tf;
        }
    }
    sb_fini(&lit);
    free(toks.p);
    return rc;
}

/* Lower-cases |n| bytes of |s| into the arena (header names are case-insensitive; Envoy uses
 * LowerCaseString). */
static const char *arena_lower(struct arena *a, const char *s, size_t n)
{
    char *p = arena_strndup(a, s, n);
    if (p) {
        for (size_t i = 0; i < n; i++) {
            if (p[i] >= 'A' && p[i] <= 'Z')
                p[i] = (char)(p[i] - 'A' + 'a');
        }
    }
    return p;
}

/* Envoy's parseSubcommandHeaders: "X" or "X?Y". */
static int compile_header(struct cc *cc, const char *sub, size_t sub_len, struct seg *sg)
{
    const char *q = memchr(sub, '?', sub_len);
    size_t main_len = q ? (size_t)(q - sub) : sub_len;
    if (q && memchr(q + 1, '?', sub_len - main_len - 1))
        return cc_fail(cc, "More than 1 alternative header specified in token: %.*s", (int)sub_len,
                       sub);
    if (memchr(sub, '\n', sub_len) || memchr(sub, '\r', sub_len) || memchr(sub, '\0', sub_len))
        return cc_fail(cc, "Invalid header configuration. Format string contains newline.");
    sg->s = arena_lower(cc->a, sub, main_len);
    sg->len = main_len;
    if (!sg->s)
        return cc_nomem(cc);
    if (q && sub_len - main_len - 1 > 0) {
        sg->alt = arena_lower(cc->a, q + 1, sub_len - main_len - 1);
        if (!sg->alt)
            return cc_nomem(cc);
    }
    return 0;
}

/* Matches Envoy's command regex ^%([A-Z0-9_]+)(?:\((.*?)\))?(?::([0-9]+))?% at fmt[i] == '%'.
 * On success fills the pieces and returns the index just past the closing '%'; else 0. */
struct cmd_match {
    const char *cmd, *sub;
    size_t cmd_len, sub_len;
    bool has_len;
    size_t max_len;
};

/* The tail (?::([0-9]+))?% starting at |p|; returns the end index or 0. */
static size_t match_tail(const char *f, size_t n, size_t p, struct cmd_match *m)
{
    if (p < n && f[p] == ':') {
        size_t q = p + 1, v = 0;
        while (q < n && is_digit(f[q])) {
            size_t d = (size_t)(f[q] - '0');
            if (v > (SIZE_MAX - d) / 10)
                return 0; /* does not fit size_t: Envoy's parse fails too */
            v = v * 10 + d;
            q++;
        }
        if (q == p + 1 || q >= n || f[q] != '%')
            return 0;
        m->has_len = true;
        m->max_len = v;
        return q + 1;
    }
    if (p < n && f[p] == '%')
        return p + 1;
    return 0;
}

static size_t match_command(const char *f, size_t n, size_t i, struct cmd_match *m)
{
    size_t j = i + 1;
    memset(m, 0, sizeof(*m));
    while (j < n && ((f[j] >= 'A' && f[j] <= 'Z') || is_digit(f[j]) || f[j] == '_'))
        j++;
    if (j == i + 1)
        return 0;
    m->cmd = f + i + 1;
    m->cmd_len = j - i - 1;
    if (j < n && f[j] == '(') {
        /* Shortest (...) whose tail still matches; '.' does not cross a newline. */
        for (size_t k = j + 1; k < n && f[k] != '\n'; k++) {
            if (f[k] != ')')
                continue;
            size_t end = match_tail(f, n, k + 1, m);
            if (end) {
                m->sub = f + j + 1;
                m->sub_len = k - j - 1;
                return end;
            }
        }
        return 0;
    }
    return match_tail(f, n, j, m);
}

static int push_literal(struct cc *cc, struct vec *segs, struct strbuf *lit, bool force)
{
    if (lit->failed)
        return cc_nomem(cc);
    if (lit->len == 0 && !force)
        return 0;
    struct seg *sg = vec_push(segs);
    if (!sg)
        return cc_nomem(cc);
    sg->op = OP_LITERAL;
    sg->s = arena_strndup(cc->a, lit->data, lit->len);
    sg->len = lit->len;
    sb_reset(lit);
    return sg->s ? 0 : cc_nomem(cc);
}

static int compile_op(struct cc *cc, const struct cmd_match *m, struct seg *sg)
{
    size_t k;
    for (k = 0; k < sizeof(op_table) / sizeof(op_table[0]); k++) {
        if (strlen(op_table[k].name) == m->cmd_len &&
            memcmp(op_table[k].name, m->cmd, m->cmd_len) == 0)
            break;
    }
    if (k == sizeof(op_table) / sizeof(op_table[0]))
        return cc_fail(cc, "Not supported field in StreamInfo: %.*s", (int)m->cmd_len, m->cmd);

    /* Envoy's CommandSyntaxChecker::verifySyntax, same messages. */
    const char *name = op_table[k].name;
    switch (op_table[k].syntax) {
    case SYN_COMMAND_ONLY:
        if (m->sub_len > 0 || m->has_len)
            return cc_fail(cc, "%s does not take any parameters or length", name);
        break;
    case SYN_HEADER:
        if (m->sub_len == 0)
            return cc_fail(cc, "%s requires parameters", name);
        break;
    case SYN_PARAMS_OPTIONAL:
        if (m->has_len)
            return cc_fail(cc, "%s does not allow length to be specified.", name);
        break;
    }

    sg->op = op_table[k].op;
    sg->max_len = m->has_len ? m->max_len : SIZE_MAX;
    switch (sg->op) {
    case OP_REQ:
    case OP_RESP:
    case OP_TRAILER:
        return compile_header(cc, m->sub, m->sub_len, sg);
    case OP_START_TIME:
        /* An empty sub-format means Envoy's AccessLogDateTimeFormatter default. */
        return m->sub_len ? compile_time(cc, m->sub, m->sub_len, &sg->tf) : 0;
    case OP_HOSTNAME:
        cc->need_hostname = true;
        return 0;
    default:
        return 0;
    }
}

/* Envoy's SubstitutionFormatParser::parse: literals, "%%" and %COMMAND(SUB):LEN%. An empty
 * format gives one empty literal, as in Envoy. */
static int compile_tmpl(struct cc *cc, const char *f, size_t n, struct tmpl *out)
{
    struct vec segs = {.elem = sizeof(struct seg)};
    struct strbuf lit;
    int rc = 0;

    sb_init(&lit);
    for (size_t i = 0; i < n && rc == 0;) {
        if (f[i] != '%') {
            if (sb_putc(&lit, f[i]))
                rc = cc_nomem(cc);
            i++;
            continue;
        }
        if (i + 1 < n && f[i + 1] == '%') {
            if (sb_putc(&lit, '%'))
                rc = cc_nomem(cc);
            i += 2;
            continue;
        }
        rc = push_literal(cc, &segs, &lit, false);
        if (rc)
            break;
        struct cmd_match m;
        size_t end = match_command(f, n, i, &m);
        if (!end) {
            rc = cc_fail(cc,
                         "Incorrect configuration: %.*s. Couldn't find valid command at "
                         "position %zu",
                         (int)n, f, i);
            break;
        }
        struct seg *sg = vec_push(&segs);
        if (!sg) {
            rc = cc_nomem(cc);
            break;
        }
        rc = compile_op(cc, &m, sg);
        i = end;
    }
    if (rc == 0)
        rc = push_literal(cc, &segs, &lit, segs.n == 0);
    if (rc == 0) {
        out->segs = vec_to_arena(&segs, cc->a);
        out->n = segs.n;
        if (!out->segs)
            rc = cc_nomem(cc);
    }
    sb_fini(&lit);
    free(segs.p);
    return rc;
}

/* ---- json_format ---------------------------------------------------------------------------- */

/* Appends |v| as JSON, the way protobuf's Value number prints: integers without a fraction,
 * others with the shortest %g that reads back the same. */
static int json_number(struct strbuf *sb, double v)
{
    if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && (double)(int64_t)v == v)
        return sb_printf(sb, "%" PRId64, (int64_t)v);
    for (int prec = 15; prec <= 17; prec++) {
        char buf[40];
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v || prec == 17)
            return sb_puts(sb, buf);
    }
    return 0;
}

/* YAML plain scalars: numbers (decimal, as JSON writes them) and booleans keep their type. */
static bool plain_number(const char *s, size_t len, double *out)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]) && !strchr("+-.eE", s[i]))
            return false;
    }
    char buf[72];
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE || v != v)
        return false;
    *out = v;
    return true;
}

static int plain_bool(const char *s)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return 0;
    return -1;
}

static int compile_json(struct cc *cc, const struct vt_node *n, int depth,
                        const struct jnode **out);

static const struct jnode *jconst(struct cc *cc, const struct strbuf *text)
{
    struct jnode *j = arena_zalloc(cc->a, sizeof(*j));
    if (!j)
        return NULL;
    j->kind = J_CONST;
    j->raw = arena_strndup(cc->a, text->data, text->len);
    j->raw_len = text->len;
    return j->raw ? j : NULL;
}

static int compile_json_scalar(struct cc *cc, const struct vt_node *n, const struct jnode **out)
{
    const char *s = n->scalar.s;
    size_t len = n->scalar.len;
    bool typed = !n->scalar.quoted; /* plain YAML / bare JSON: may be a bool or a number */
    struct strbuf text;
    double num;
    int b;
    int rc = 0;

    if (memchr(s, '%', len)) {
        /* A string with operators (Envoy: any string containing '%'; never a number/bool). */
        struct jnode *j = arena_zalloc(cc->a, sizeof(*j));
        if (!j)
            return cc_nomem(cc);
        j->kind = J_TMPL;
        *out = j;
        return compile_tmpl(cc, s, len, &j->t);
    }
    sb_init(&text);
    if (typed && (b = plain_bool(s)) >= 0)
        sb_puts(&text, b ? "true" : "false");
    else if (typed && plain_number(s, len, &num))
        json_number(&text, num);
    else
        sb_json_str(&text, s, len);
    if (text.failed || !(*out = jconst(cc, &text)))
        rc = cc_nomem(cc);
    sb_fini(&text);
    return rc;
}

struct keyed {
    const char *key;
    size_t idx; /* document order: the last duplicate wins */
    const struct vt_node *val;
};

static int keyed_cmp(const void *pa, const void *pb)
{
    const struct keyed *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    if (c)
        return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int compile_json_map(struct cc *cc, const struct vt_node *n, int depth,
                            const struct jnode **out)
{
    size_t cnt = n->map.n;
    struct keyed *ks = calloc(cnt ? cnt : 1, sizeof(*ks));
    struct vec fields = {.elem = sizeof(struct jfield)};
    struct strbuf key;
    int rc = 0;

    if (!ks)
        return cc_nomem(cc);
    sb_init(&key);
    for (size_t i = 0; i < cnt; i++)
        ks[i] = (struct keyed){n->map.items[i].key, i, n->map.items[i].val};
    /* Envoy sorts keys (sortJsonStructFields) so the output does not depend on map order. */
    qsort(ks, cnt, sizeof(*ks), keyed_cmp);
    for (size_t i = 0; i < cnt && rc == 0; i++) {
        if (i + 1 < cnt && strcmp(ks[i].key, ks[i + 1].key) == 0)
            continue; /* a later duplicate wins, as in a protobuf Struct */
        const struct jnode *v = NULL;
        rc = compile_json(cc, ks[i].val, depth + 1, &v);
        if (rc || !v)
            continue; /* error, or a null dropped under omit_empty_values */
        sb_reset(&key);
        struct jfield *fl = vec_push(&fields);
        if (!fl || sb_json_str(&key, ks[i].key, strlen(ks[i].key))) {
            rc = cc_nomem(cc);
            break;
        }
        fl->key = arena_strndup(cc->a, key.data, key.len);
        fl->key_len = key.len;
        fl->val = v;
        if (!fl->key)
            rc = cc_nomem(cc);
    }
    if (rc == 0) {
        struct jnode *j = arena_zalloc(cc->a, sizeof(*j));
        const struct jfield *arr = vec_to_arena(&fields, cc->a);
        if (!j || !arr) {
            rc = cc_nomem(cc);
        } else {
            j->kind = J_MAP;
            j->fields = arr;
            j->n = fields.n;
            *out = j;
        }
    }
    sb_fini(&key);
    free(fields.p);
    free(ks);
    return rc;
}

static int compile_json_list(struct cc *cc, const struct vt_node *n, int depth,
                             const struct jnode **out)
{
    struct vec items = {.elem = sizeof(const struct jnode *)};
    int rc = 0;

    for (size_t i = 0; i < n->list.n && rc == 0; i++) {
        const struct jnode *v = NULL;
        rc = compile_json(cc, n->list.items[i], depth + 1, &v);
        if (rc || !v)
            continue;
        const struct jnode **slot = vec_push(&items);
        if (!slot)
            rc = cc_nomem(cc);
        else
            *slot = v;
    }
    if (rc == 0) {
        struct jnode *j = arena_zalloc(cc->a, sizeof(*j));
        const struct jnode *const *arr = vec_to_arena(&items, cc->a);
        if (!j || !arr) {
            rc = cc_nomem(cc);
        } else {
            j->kind = J_LIST;
            j->items = arr;
            j->n = items.n;
            *out = j;
        }
    }
    free(items.p);
    return rc;
}

/* Compiles one json_format value. |*out| stays NULL for a literal null under
 * omit_empty_values (Envoy drops those while building the tree). */
static int compile_json(struct cc *cc, const struct vt_node *n, int depth, const struct jnode **out)
{
    if (depth > JSON_MAX_DEPTH)
        return cc_fail(cc, "json_format is nested deeper than %d levels", JSON_MAX_DEPTH);
    switch (n->kind) {
    case VT_NULL: {
        if (cc->omit_empty)
            return 0;
        struct strbuf text;
        sb_init(&text);
        sb_puts(&text, "null");
        int rc = text.failed || !(*out = jconst(cc, &text)) ? cc_nomem(cc) : 0;
        sb_fini(&text);
        return rc;
    }
    case VT_SCALAR:
        return compile_json_scalar(cc, n, out);
    case VT_MAP:
        return compile_json_map(cc, n, depth, out);
    case VT_LIST:
        return compile_json_list(cc, n, depth, out);
    }
    return cc_fail(cc, "json_format: unexpected value");
}

int alog_format_compile(const char *fmt, const struct vt_node *json_format, bool omit_empty_values,
                        struct arena *a, struct alog_format **out, char *err, size_t errlen)
{
    struct cc cc = {.a = a, .err = err, .errlen = errlen, .omit_empty = omit_empty_values};
    struct alog_format *f = arena_zalloc(a, sizeof(*f));
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    if (!f)
        return cc_nomem(&cc);
    f->omit_empty = omit_empty_values;
    if (json_format) {
        if (json_format->kind != VT_MAP)
            return cc_fail(&cc, "json_format: expected a map (a protobuf Struct)");
        f->json = true;
        rc = compile_json(&cc, json_format, 0, &f->root);
    } else {
        if (!fmt)
            fmt = ALOG_DEFAULT_FORMAT;
        rc = compile_tmpl(&cc, fmt, strlen(fmt), &f->text);
    }
    if (rc)
        return rc;
    if (cc.need_hostname) {
        char host[HOST_NAME_MAX + 1];
        if (gethostname(host, sizeof(host)) == 0) {
            host[HOST_NAME_MAX] = '\0';
            f->hostname = arena_strdup(a, host);
            if (!f->hostname)
                return cc_nomem(&cc);
        }
    }
    *out = f;
    return 0;
}

bool alog_format_is_json(const struct alog_format *f)
{
    return f->json;
}

/* ============================================================================================
 * Formatting
 * ========================================================================================== */

static __thread unsigned clock_depth; /* alog_clock_hold() nesting */
__thread int64_t alog_clock_held_ns;  /* the held reading; 0 = not held or not read yet */

static int64_t mono_read(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return ns ? ns : 1;
}

int64_t alog_mono_ns_read(void)
{
    int64_t ns = mono_read();
    if (clock_depth)
        alog_clock_held_ns = ns; /* held until the callback ends */
    return ns;
}

void alog_clock_hold(void)
{
    if (clock_depth++ == 0)
        alog_clock_held_ns = 0; /* read on first use */
}

void alog_clock_release(void)
{
    if (--clock_depth == 0)
        alog_clock_held_ns = 0;
}

void alog_ctx_init(struct alog_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    clock_gettime(CLOCK_REALTIME, &ctx->start_time);
    ctx->start_mono_ns = alog_mono_ns();
}

/* Cuts |sb| back to |len| bytes (roll back a JSON field). */
static void sb_truncate(struct strbuf *sb, size_t len)
{
    if (sb->cap > 0 && len <= sb->len) {
        sb->len = len;
        sb->data[len] = '\0';
    }
}

static void put_subsec(struct strbuf *dst, const char digits[9], unsigned width, bool at_least_one)
{
    unsigned w = width;
    if (w == 0) { /* '*': drop trailing zeros */
        w = 9;
        while (w > 0 && digits[w - 1] == '0')
            w--;
        if (w == 0 && at_least_one)
            w = 1;
    }
    sb_append(dst, digits, w);
}

static void render_time(const struct tfmt *tf, const struct timespec *ts, struct strbuf *dst)
{
    struct tm tm;
    time_t sec = ts->tv_sec;
    long nsec = ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000 ? ts->tv_nsec : 0;

    if (!gmtime_r(&sec, &tm)) /* year out of range: print the epoch rather than garbage */
        memset(&tm, 0, sizeof(tm));
    if (!tf) { /* Envoy's default: %Y-%m-%dT%H:%M:%E3SZ */
        sb_printf(dst, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nsec / 1000000);
        return;
    }
    char digits[10];
    snprintf(digits, sizeof(digits), "%09ld", nsec);
    for (size_t i = 0; i < tf->n; i++) {
        const struct ttok *t = &tf->toks[i];
        char buf[128];
        size_t k;
        switch (t->kind) {
        case TT_LIT:
            sb_append(dst, t->s, t->len);
            break;
        case TT_STRFTIME:
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            k = strftime(buf, sizeof(buf), t->s, &tm); /* one conversion, compiled above */
#pragma GCC diagnostic pop
            sb_append(dst, buf, k);
            break;
        case TT_EPOCH:
            sb_printf(dst, "%lld", (long long)sec);
            break;
        case TT_SUBSEC:
            put_subsec(dst, digits, t->width, true);
            break;
        case TT_SUBSEC_S: {
            sb_printf(dst, "%02d", tm.tm_sec);
            size_t before = dst->len;
            sb_putc(dst, '.');
            size_t dot = dst->len;
            put_subsec(dst, digits, t->width, false);
            if (dst->len == dot) /* %E*S with no fraction: no dot either */
                sb_truncate(dst, before);
            break;
        }
        }
    }
}

/* ip:port, [ip6]:port, or the socket path; |with_port| false drops the port. */
static bool put_addr(struct strbuf *dst, const struct sockaddr_storage *ss, bool with_port)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        if (!inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)))
            return false;
        if (with_port)
            sb_printf(dst, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
        else
            sb_puts(dst, ip);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        if (!inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip)))
            return false;
        if (with_port)
            sb_printf(dst, "[%s]:%u", ip, (unsigned)ntohs(sin6->sin6_port));
        else
            sb_puts(dst, ip);
        return true;
    }
    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
        if (sun->sun_path[0] == '\0') { /* abstract namespace: Envoy prints '@' */
            sb_putc(dst, '@');
            sb_append(dst, sun->sun_path + 1,
                      strnlen(sun->sun_path + 1, sizeof(sun->sun_path) - 1));
        } else {
            sb_append(dst, sun->sun_path, strnlen(sun->sun_path, sizeof(sun->sun_path)));
        }
        return true;
    }
    return false;
}

static enum vkind put_str(struct strbuf *dst, const char *s, bool empty_is_missing)
{
    if (!s || (empty_is_missing && !*s))
        return V_MISSING;
    sb_puts(dst, s);
    return V_STR;
}

static enum vkind put_u64(struct strbuf *dst, uint64_t v)
{
    sb_printf(dst, "%" PRIu64, v);
    return V_NUM;
}

/* Milliseconds between two monotonic stamps, truncated (std::chrono::duration_cast). */
static enum vkind put_ms(struct strbuf *dst, int64_t from_ns, int64_t to_ns)
{
    if (!to_ns || !from_ns)
        return V_MISSING;
    sb_printf(dst, "%" PRId64, (to_ns - from_ns) / 1000000);
    return V_NUM;
}

static enum vkind put_header(const struct seg *sg, alog_header_fn fn, const void *stream,
                             struct strbuf *dst)
{
    size_t len = 0;
    const char *v = NULL;
    if (!fn)
        return V_MISSING;
    v = fn(stream, sg->s, &len);
    if (!v && sg->alt)
        v = fn(stream, sg->alt, &len);
    if (!v)
        return V_MISSING;
    sb_append(dst, v, len < sg->max_len ? len : sg->max_len);
    return V_STR;
}

/* Appends the raw (unescaped) value of |sg| to |dst| and says what it was. Appends nothing
 * for V_MISSING. Allocation failures stick in |dst->failed|. */
static enum vkind eval(const struct alog_format *f, const struct seg *sg, const struct alog_ctx *c,
                       struct strbuf *dst)
{
    char flags[RF_LONG_MAX];

    switch (sg->op) {
    case OP_LITERAL:
        sb_append(dst, sg->s, sg->len);
        return V_STR;
    case OP_START_TIME:
        if (c->start_time.tv_sec == 0 && c->start_time.tv_nsec == 0)
            return V_MISSING;
        render_time(sg->tf, &c->start_time, dst);
        return V_STR;
    case OP_REQ:
        return put_header(sg, c->req_header, c->stream, dst);
    case OP_RESP:
        return put_header(sg, c->resp_header, c->stream, dst);
    case OP_TRAILER:
        return put_header(sg, c->resp_trailer, c->stream, dst);
    case OP_RESPONSE_CODE:
        return put_u64(dst, c->response_code);
    case OP_RESPONSE_CODE_DETAILS:
        return put_str(dst, c->response_code_details, false);
    case OP_RESPONSE_FLAGS:
        rf_format_short(c->response_flags, flags, sizeof(flags));
        return put_str(dst, flags, false);
    case OP_RESPONSE_FLAGS_LONG:
        rf_format_long(c->response_flags, flags, sizeof(flags));
        return put_str(dst, flags, false);
    case OP_DURATION:
        return put_ms(dst, c->start_mono_ns, c->complete_ns);
    case OP_REQUEST_DURATION:
        return put_ms(dst, c->start_mono_ns, c->last_downstream_rx_ns);
    case OP_REQUEST_TX_DURATION:
        return put_ms(dst, c->start_mono_ns, c->last_upstream_tx_ns);
    case OP_RESPONSE_DURATION:
        return put_ms(dst, c->start_mono_ns, c->first_upstream_rx_ns);
    case OP_RESPONSE_TX_DURATION:
        return put_ms(dst, c->first_upstream_rx_ns, c->last_downstream_tx_ns);
    case OP_DOWNSTREAM_HANDSHAKE_DURATION:
        return put_ms(dst, c->start_mono_ns, c->downstream_handshake_ns);
    case OP_BYTES_RECEIVED:
        return put_u64(dst, c->bytes_received);
    case OP_BYTES_SENT:
        return put_u64(dst, c->bytes_sent);
    case OP_PROTOCOL:
        return put_str(dst, c->protocol, true);
    case OP_UPSTREAM_HOST:
    case OP_UPSTREAM_REMOTE_ADDRESS:
        return put_addr(dst, &c->upstream_host, true) ? V_STR : V_MISSING;
    case OP_UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT:
        return put_addr(dst, &c->upstream_host, false) ? V_STR : V_MISSING;
    case OP_UPSTREAM_CLUSTER:
        return put_str(dst, c->upstream_cluster, true);
    case OP_UPSTREAM_LOCAL_ADDRESS:
        return put_addr(dst, &c->upstream_local, true) ? V_STR : V_MISSING;
    case OP_UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT:
        return put_addr(dst, &c->upstream_local, false) ? V_STR : V_MISSING;
    case OP_UPSTREAM_TRANSPORT_FAILURE_REASON: {
        const char *r = c->upstream_transport_failure_reason;
        if (!r || !*r)
            return V_MISSING;
        size_t start = dst->len;
        sb_puts(dst, r);
        for (size_t i = start; i < dst->len && !dst->failed; i++) {
            if (dst->data[i] == ' ')
                dst->data[i] = '_'; /* Envoy replaces spaces so the value stays one token */
        }
        return V_STR;
    }
    case OP_DOWNSTREAM_REMOTE_ADDRESS:
        return put_addr(dst, &c->downstream_remote, true) ? V_STR : V_MISSING;
    case OP_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT:
        return put_addr(dst, &c->downstream_remote, false) ? V_STR : V_MISSING;
    case OP_DOWNSTREAM_LOCAL_ADDRESS:
        return put_addr(dst, &c->downstream_local, true) ? V_STR : V_MISSING;
    case OP_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT:
        return put_addr(dst, &c->downstream_local, false) ? V_STR : V_MISSING;
    case OP_DOWNSTREAM_DIRECT_REMOTE_ADDRESS:
        return put_addr(dst, &c->downstream_direct_remote, true) ? V_STR : V_MISSING;
    case OP_DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT:
        return put_addr(dst, &c->downstream_direct_remote, false) ? V_STR : V_MISSING;
    case OP_DOWNSTREAM_PEER_URI_SAN:
        return put_str(dst, c->downstream_peer_uri_san, true);
    case OP_DOWNSTREAM_PEER_SUBJECT:
        return put_str(dst, c->downstream_peer_subject, true);
    case OP_DOWNSTREAM_TLS_VERSION:
        return put_str(dst, c->downstream_tls_version, true);
    case OP_REQUESTED_SERVER_NAME:
        return put_str(dst, c->requested_server_name, true);
    case OP_ROUTE_NAME:
        return put_str(dst, c->route_name, true);
    case OP_CONNECTION_TERMINATION_DETAILS:
        return put_str(dst, c->connection_termination_details, false);
    case OP_UPSTREAM_REQUEST_ATTEMPT_COUNT:
        return put_u64(dst, c->attempt_count);
    case OP_HOSTNAME:
        return put_str(dst, f->hostname, false);
    case OP_CONNECTION_ID:
        return put_u64(dst, c->connection_id);
    case OP_LOCAL_REPLY_BODY:
        /* Envoy's LocalReplyBodyFormatter: always a string, "" outside local replies. */
        if (c->local_reply_body_len)
            sb_append(dst, c->local_reply_body, c->local_reply_body_len);
        return V_STR;
    }
    return V_MISSING;
}

/* Per-thread scratch buffers: the line being built and one JSON value. Freed at thread exit
 * (and for the main thread by alog_shutdown()). */
struct alog_tls {
    struct strbuf line;
    struct strbuf val;
    struct strbuf scratch; /* alog_format_to_arena() */
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static bool tls_ok;

static void tls_free(void *p)
{
    struct alog_tls *t = p;
    sb_fini(&t->line);
    sb_fini(&t->val);
    sb_fini(&t->scratch);
    free(t);
}

static void tls_init(void)
{
    tls_ok = pthread_key_create(&tls_key, tls_free) == 0;
}

static struct alog_tls *tls_get(void)
{
    pthread_once(&tls_once, tls_init);
    if (!tls_ok)
        return NULL;
    struct alog_tls *t = pthread_getspecific(tls_key);
    if (t)
        return t;
    t = malloc(sizeof(*t));
    if (!t)
        return NULL;
    sb_init(&t->line);
    sb_init(&t->val);
    sb_init(&t->scratch);
    t->line.limit = ALOG_LINE_MAX;
    t->val.limit = ALOG_LINE_MAX;
    t->scratch.limit = ALOG_LINE_MAX;
    if (pthread_setspecific(tls_key, t) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

/* Writes one J_TMPL value. Returns false when it was omitted (single operator, missing,
 * omit_empty_values). */
static bool write_json_tmpl(const struct alog_format *f, const struct tmpl *t,
                            const struct alog_ctx *c, struct strbuf *val, struct strbuf *out)
{
    sb_reset(val);
    if (t->n == 1) { /* one operator keeps its type (Envoy's formatValueTo) */
        enum vkind k = eval(f, &t->segs[0], c, val);
        if (k == V_MISSING) {
            if (f->omit_empty)
                return false;
            sb_puts(out, "null");
        } else if (k == V_NUM) {
            sb_append(out, val->data, val->len);
        } else {
            sb_json_str(out, val->data, val->len);
        }
        return true;
    }
    /* Several pieces always make a string; missing ones print "-" (or "" when omitting). */
    for (size_t i = 0; i < t->n; i++) {
        if (eval(f, &t->segs[i], c, val) == V_MISSING && !f->omit_empty)
            sb_putc(val, '-');
    }
    sb_json_str(out, val->data, val->len);
    return true;
}

static bool write_json(const struct alog_format *f, const struct jnode *j, const struct alog_ctx *c,
                       struct strbuf *val, struct strbuf *out)
{
    switch (j->kind) {
    case J_CONST:
        sb_append(out, j->raw, j->raw_len);
        return true;
    case J_TMPL:
        return write_json_tmpl(f, &j->t, c, val, out);
    case J_MAP: {
        size_t start = out->len;
        bool any = false;
        sb_putc(out, '{');
        for (size_t i = 0; i < j->n; i++) {
            size_t field_start = out->len;
            if (any)
                sb_putc(out, ',');
            sb_append(out, j->fields[i].key, j->fields[i].key_len);
            sb_putc(out, ':');
            if (!write_json(f, j->fields[i].val, c, val, out)) {
                sb_truncate(out, field_start);
                continue;
            }
            any = true;
        }
        if (!any && f->omit_empty) { /* an object left empty is dropped too */
            sb_truncate(out, start);
            return false;
        }
        sb_putc(out, '}');
        return true;
    }
    case J_LIST: {
        bool any = false;
        sb_putc(out, '[');
        for (size_t i = 0; i < j->n; i++) {
            size_t el_start = out->len;
            if (any)
                sb_putc(out, ',');
            if (!write_json(f, j->items[i], c, val, out)) {
                sb_truncate(out, el_start);
                continue;
            }
            any = true;
        }
        sb_putc(out, ']'); /* arrays are kept, even empty */
        return true;
    }
    }
    return true;
}

int alog_format_write(const struct alog_format *f, const struct alog_ctx *ctx, struct strbuf *out)
{
    size_t start = out->len;
    int rc = 0;

    if (out->failed)
        return -out->failed;
    if (!f->json) {
        for (size_t i = 0; i < f->text.n; i++) {
            if (eval(f, &f->text.segs[i], ctx, out) == V_MISSING && !f->omit_empty)
                sb_putc(out, '-');
        }
    } else {
        struct alog_tls *t = tls_get();
        struct strbuf local, *val = &local;
        sb_init(&local);
        local.limit = ALOG_LINE_MAX;
        if (t)
            val = &t->val;
        if (!write_json(f, f->root, ctx, val, out))
            sb_puts(out, "{}"); /* the root object is always emitted */
        sb_putc(out, '\n');
        if (val->failed)
            rc = -val->failed;
        sb_reset(val);
        sb_fini(&local);
    }
    if (out->failed)
        rc = -out->failed;
    if (rc)
        sb_truncate(out, start);
    return rc;
}

int alog_format_to_arena(const struct alog_format *f, const struct alog_ctx *ctx, struct arena *a,
                         const char **out, size_t *len)
{
    struct alog_tls *t = tls_get();
    struct strbuf local, *sb = &local;
    sb_init(&local);
    local.limit = ALOG_LINE_MAX;
    if (t) {
        sb = &t->scratch;
        sb_reset(sb);
    }
    int rc = alog_format_write(f, ctx, sb);
    char *p = NULL;
    if (rc == 0) {
        p = arena_alloc(a, sb->len + 1);
        if (!p) {
            rc = -RM_ENOMEM;
        } else {
            if (sb->len)
                memcpy(p, sb->data, sb->len);
            p[sb->len] = '\0';
            *out = p;
            *len = sb->len;
        }
    }
    sb_reset(sb);
    sb_fini(&local);
    return rc;
}

/* ============================================================================================
 * Sinks and the flusher thread
 * ========================================================================================== */

#define SINK_INITIAL_BUFFER (16u * 1024u)
#define SINK_SHRINK_ABOVE (256u * 1024u) /* a back buffer this big, 1/8 used, is freed */
#define WRITE_STALL_MS 1000 /* a non-blocking fd that stays full this long loses the batch */

struct alog_sink {
    struct alog_sink *next; /* registry list (g.mu) */
    char *path;             /* malloc'd */
    bool is_std;            /* stdout/stderr: a dup'd fd, never reopened */
    int fd;                 /* written only by the flusher (or at shutdown); -1 when closed */
    unsigned refs;          /* g.mu */
    bool closing;           /* g.mu: refs reached 0 while the flusher runs; it frees */
    atomic_bool reopen;     /* set by alog_reopen_all(), consumed by the flusher */
    atomic_uint_fast64_t dropped;

    pthread_mutex_t mu; /* guards the fields below; held only for memcpy or a pointer swap */
    char *buf;          /* front buffer workers append to */
    size_t len, cap;
    bool kicked; /* the flusher was woken for this buffer already */
    bool dead;   /* shut down: lines are dropped */

    char *wbuf; /* back buffer: the flusher's, never touched under |mu| except the swap */
    size_t wcap;
};

static struct {
    pthread_mutex_t mu;  /* registry, flusher state */
    pthread_cond_t wake; /* flusher waits here (CLOCK_MONOTONIC) */
    pthread_cond_t done; /* alog_flush_all() waits here */
    bool conds_ready;
    pthread_t thread;
    bool running;
    bool stop;
    bool kick;
    uint64_t flush_req, flush_done;
    unsigned interval_ms;
    struct alog_sink *sinks;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct {
    atomic_uint_fast64_t write_buffered, write_completed, write_failed, flushed_by_timer,
        reopen_failed, dropped, total_buffered;
} st;

static bool is_std_path(const char *path, int *fd)
{
    if (!strcmp(path, "/dev/stdout")) {
        *fd = STDOUT_FILENO;
        return true;
    }
    if (!strcmp(path, "/dev/stderr")) {
        *fd = STDERR_FILENO;
        return true;
    }
    return false;
}

static int open_path(const char *path, bool is_std)
{
    int std_fd;
    if (is_std && is_std_path(path, &std_fd))
        return fcntl(std_fd, F_DUPFD_CLOEXEC, 3);
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* Writes all of |p|; returns false when bytes were lost. Flusher thread only. */
static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, WRITE_STALL_MS) > 0)
                continue;
        }
        return false;
    }
    return true;
}

/* Moves the front buffer out and writes it. Flusher thread (or shutdown after the join). */
static void flush_sink(struct alog_sink *s, bool timed)
{
    pthread_mutex_lock(&s->mu);
    char *p = s->buf;
    size_t n = s->len, cap = s->cap;
    s->buf = s->wbuf;
    s->cap = s->wcap;
    s->len = 0;
    s->kicked = false;
    s->wbuf = p;
    s->wcap = cap;
    pthread_mutex_unlock(&s->mu);

    /* Reopen first, then write, as Envoy's flushThreadFunc: what was buffered when the
     * SIGUSR1 arrived goes to the new file. */
    if (atomic_exchange(&s->reopen, false) && !s->is_std) {
        int nfd = open_path(s->path, false);
        if (nfd < 0) {
            atomic_fetch_add(&st.reopen_failed, 1); /* keep writing to the old file */
        } else {
            if (s->fd >= 0)
                close(s->fd);
            s->fd = nfd;
        }
    }
    if (n > 0) {
        if (s->fd >= 0 && write_all(s->fd, p, n))
            atomic_fetch_add(&st.write_completed, 1);
        else
            atomic_fetch_add(&st.write_failed, 1);
        atomic_fetch_sub(&st.total_buffered, n);
        if (timed)
            atomic_fetch_add(&st.flushed_by_timer, 1);
    }
    /* After a burst, give a mostly idle buffer back (it is ours until the next swap). */
    if (s->wcap > SINK_SHRINK_ABOVE && n < s->wcap / 8) {
        free(s->wbuf);
        s->wbuf = NULL;
        s->wcap = 0;
    }
}

static void sink_free(struct alog_sink *s)
{
    if (s->fd >= 0)
        close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    free(s->wbuf);
    free(s->path);
    free(s);
}

/* One pass over every sink; frees the ones whose last reference went away. */
static void flush_cycle(bool timed)
{
    pthread_mutex_lock(&g.mu);
    struct alog_sink *s = g.sinks;
    pthread_mutex_unlock(&g.mu);

    /* Only this thread unlinks sinks; the main thread only pushes at the head, so |s| and the
     * |next| pointers read under the lock stay valid while we write without it. */
    while (s) {
        flush_sink(s, timed);
        pthread_mutex_lock(&g.mu);
        struct alog_sink *next = s->next;
        bool release = s->closing && s->refs == 0;
        if (release) {
            struct alog_sink **pp = &g.sinks;
            while (*pp != s)
                pp = &(*pp)->next;
            *pp = s->next;
        }
        pthread_mutex_unlock(&g.mu);
        if (release) {
            flush_sink(s, false); /* a line queued just before the last unref */
            sink_free(s);
        }
        s = next;
    }
}

static void *flusher_main(void *arg)
{
    (void)arg;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);

    pthread_mutex_lock(&g.mu);
    while (!g.stop) {
        unsigned ms = g.interval_ms ? g.interval_ms : 1000;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)(ms / 1000);
        deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        bool timed = false;
        while (!g.stop && !g.kick && g.flush_req == g.flush_done) {
            if (pthread_cond_timedwait(&g.wake, &g.mu, &deadline) == ETIMEDOUT) {
                timed = true;
                break;
            }
        }
        uint64_t req = g.flush_req;
        g.kick = false;
        pthread_mutex_unlock(&g.mu);

        flush_cycle(timed);

        pthread_mutex_lock(&g.mu);
        g.flush_done = req;
        pthread_cond_broadcast(&g.done);
    }
    pthread_mutex_unlock(&g.mu);
    flush_cycle(false); /* what arrived while stopping */
    return NULL;
}

/* Starts the flusher; g.mu held. Returns 0 or an errno. */
static int flusher_start(void)
{
    if (!g.conds_ready) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&g.wake, &ca);
        pthread_condattr_destroy(&ca);
        pthread_cond_init(&g.done, NULL);
        g.conds_ready = true;
    }
    /* The thread must never take process signals (SIGUSR1, SIGTERM...): block them all in
     * the child by creating it with everything blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    g.stop = false;
    g.kick = false;
    int rc = pthread_create(&g.thread, NULL, flusher_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        g.running = true;
    return rc;
}

int alog_sink_open(const char *path, struct alog_sink **out, char *err, size_t errlen)
{
    int std_fd;
    struct alog_sink *s;

    if (errlen > 0)
        err[0] = '\0';
    pthread_mutex_lock(&g.mu);
    for (s = g.sinks; s; s = s->next) {
        if (!strcmp(s->path, path)) {
            s->refs++;
            s->closing = false; /* revived before the flusher freed it */
            pthread_mutex_unlock(&g.mu);
            *out = s;
            return 0;
        }
    }
    pthread_mutex_unlock(&g.mu);

    s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        if (errlen > 0)
            snprintf(err, errlen, "out of memory opening access log '%s'", path);
        return -RM_ENOMEM;
    }
    s->is_std = is_std_path(path, &std_fd);
    s->fd = open_path(path, s->is_std);
    if (s->fd < 0) {
        int e = errno;
        if (errlen > 0)
            snprintf(err, errlen, "cannot open access log file '%s': %s", path, strerror(e));
        free(s->path);
        free(s);
        return -RM_EIO;
    }
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->reopen, false);
    atomic_init(&s->dropped, 0);
    s->refs = 1;

    pthread_mutex_lock(&g.mu);
    /* Another thread may have opened the same path meanwhile (config load is single-threaded
     * in practice, but stay correct). */
    struct alog_sink *other;
    for (other = g.sinks; other; other = other->next) {
        if (!strcmp(other->path, path))
            break;
    }
    if (other) {
        other->refs++;
        other->closing = false;
        pthread_mutex_unlock(&g.mu);
        sink_free(s);
        *out = other;
        return 0;
    }
    if (!g.running) {
        int rc = flusher_start();
        if (rc) {
            pthread_mutex_unlock(&g.mu);
            sink_free(s);
            if (errlen > 0)
                snprintf(err, errlen, "cannot start the access log flusher: %s", strerror(rc));
            return -RM_ENOMEM;
        }
    }
    s->next = g.sinks;
    g.sinks = s;
    pthread_mutex_unlock(&g.mu);
    *out = s;
    return 0;
}

struct alog_sink *alog_sink_ref(struct alog_sink *s)
{
    pthread_mutex_lock(&g.mu);
    s->refs++;
    pthread_mutex_unlock(&g.mu);
    return s;
}

void alog_sink_unref(struct alog_sink *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&g.mu);
    if (--s->refs > 0) {
        pthread_mutex_unlock(&g.mu);
        return;
    }
    pthread_mutex_lock(&s->mu);
    bool dead = s->dead;
    pthread_mutex_unlock(&s->mu);
    if (dead) { /* already flushed, closed and unlinked by alog_shutdown() */
        pthread_mutex_unlock(&g.mu);
        sink_free(s);
        return;
    }
    if (!g.running) { /* defensive: registered sinks imply a running flusher */
        struct alog_sink **pp = &g.sinks;
        while (*pp && *pp != s)
            pp = &(*pp)->next;
        if (*pp)
            *pp = s->next;
        pthread_mutex_unlock(&g.mu);
        flush_sink(s, false);
        sink_free(s);
        return;
    }
    /* Let the flusher write the rest, close the file and free the sink. */
    s->closing = true;
    g.kick = true;
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.mu);
}

static void drop_line(struct alog_sink *s)
{
    atomic_fetch_add(&s->dropped, 1);
    atomic_fetch_add(&st.dropped, 1);
}

int alog_sink_write(struct alog_sink *s, const char *data, size_t n)
{
    if (n == 0)
        return 0;
    pthread_mutex_lock(&s->mu);
    if (s->dead || n > ALOG_SINK_BUFFER_MAX - s->len) {
        pthread_mutex_unlock(&s->mu);
        drop_line(s);
        return -RM_ELIMIT;
    }
    if (s->len + n > s->cap) {
        size_t ncap = s->cap ? s->cap : SINK_INITIAL_BUFFER;
        while (ncap < s->len + n)
            ncap *= 2;
        if (ncap > ALOG_SINK_BUFFER_MAX)
            ncap = ALOG_SINK_BUFFER_MAX;
        char *p = realloc(s->buf, ncap);
        if (!p) {
            pthread_mutex_unlock(&s->mu);
            drop_line(s);
            return -RM_ELIMIT;
        }
        s->buf = p;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    bool kick = s->len >= ALOG_FLUSH_MIN_BYTES && !s->kicked;
    if (kick)
        s->kicked = true;
    pthread_mutex_unlock(&s->mu);

    atomic_fetch_add(&st.write_buffered, 1);
    atomic_fetch_add(&st.total_buffered, n);
    if (kick) { /* once per buffer: wake the flusher before the timer */
        pthread_mutex_lock(&g.mu);
        g.kick = true;
        pthread_cond_signal(&g.wake);
        pthread_mutex_unlock(&g.mu);
    }
    return 0;
}

uint64_t alog_sink_dropped(const struct alog_sink *s)
{
    return atomic_load(&s->dropped);
}

void alog_reopen_all(void)
{
    pthread_mutex_lock(&g.mu);
    for (struct alog_sink *s = g.sinks; s; s = s->next)
        atomic_store(&s->reopen, true);
    if (g.running) {
        g.kick = true;
        pthread_cond_signal(&g.wake);
    }
    pthread_mutex_unlock(&g.mu);
}

void alog_flush_all(void)
{
    pthread_mutex_lock(&g.mu);
    if (g.running) {
        uint64_t mine = ++g.flush_req;
        pthread_cond_signal(&g.wake);
        while (g.running && g.flush_done < mine)
            pthread_cond_wait(&g.done, &g.mu);
    }
    pthread_mutex_unlock(&g.mu);
}

void alog_set_flush_interval_ms(unsigned ms)
{
    pthread_mutex_lock(&g.mu);
    g.interval_ms = ms;
    pthread_mutex_unlock(&g.mu);
}

void alog_stats_get(struct alog_stats *out)
{
    out->write_buffered = atomic_load(&st.write_buffered);
    out->write_completed = atomic_load(&st.write_completed);
    out->write_failed = atomic_load(&st.write_failed);
    out->flushed_by_timer = atomic_load(&st.flushed_by_timer);
    out->reopen_failed = atomic_load(&st.reopen_failed);
    out->dropped = atomic_load(&st.dropped);
    out->total_buffered = atomic_load(&st.total_buffered);
}

void alog_shutdown(void)
{
    pthread_mutex_lock(&g.mu);
    if (g.running) {
        g.stop = true;
        pthread_cond_signal(&g.wake);
        pthread_mutex_unlock(&g.mu);
        pthread_join(g.thread, NULL); /* its last cycle flushed and freed closing sinks */
        pthread_mutex_lock(&g.mu);
        g.running = false;
        g.stop = false;
        g.flush_done = g.flush_req;
        pthread_cond_broadcast(&g.done);
    }
    /* Whatever is left is still referenced: flush, close, and let the last unref free it. */
    struct alog_sink *s = g.sinks;
    g.sinks = NULL;
    while (s) {
        struct alog_sink *next = s->next;
        flush_sink(s, false);
        pthread_mutex_lock(&s->mu);
        s->dead = true;
        pthread_mutex_unlock(&s->mu);
        if (s->fd >= 0) {
            close(s->fd);
            s->fd = -1;
        }
        s->next = NULL;
        if (s->refs == 0) /* closing but not reached by the last cycle */
            sink_free(s);
        s = next;
    }
    pthread_mutex_unlock(&g.mu);

    /* The calling thread's scratch buffers (worker threads free theirs at exit). */
    if (tls_ok) {
        struct alog_tls *t = pthread_getspecific(tls_key);
        if (t) {
            pthread_setspecific(tls_key, NULL);
            tls_free(t);
        }
    }
}

/* ============================================================================================
 * Loggers
 * ========================================================================================== */

static void logger_release(void *arg)
{
    struct alog_logger *l = arg;
    alog_sink_unref(l->sink);
    l->sink = NULL;
}

int alog_logger_new(const struct cfg_access_log *cfg, struct arena *a, struct alog_logger **out,
                    char *err, size_t errlen)
{
    const char *path;
    struct alog_format *f;
    int rc;

    switch (cfg->sink) {
    case ALOG_SINK_STDOUT:
        path = "/dev/stdout";
        break;
    case ALOG_SINK_STDERR:
        path = "/dev/stderr";
        break;
    case ALOG_SINK_FILE:
    default:
        path = cfg->path;
        if (!path || !*path) {
            if (errlen > 0)
                snprintf(err, errlen, "access log path must not be empty");
            return -RM_ECONFIG;
        }
        break;
    }
    rc = alog_format_compile(cfg->json_format ? NULL : cfg->format, cfg->json_format,
                             cfg->omit_empty_values, a, &f, err, errlen);
    if (rc)
        return rc;
    struct alog_logger *l = arena_zalloc(a, sizeof(*l));
    if (!l) {
        if (errlen > 0)
            snprintf(err, errlen, "out of memory building access log");
        return -RM_ENOMEM;
    }
    l->format = f;
    l->filter = cfg->filter;
    rc = alog_sink_open(path, &l->sink, err, errlen);
    if (rc)
        return rc;
    rc = arena_on_free(a, logger_release, l);
    if (rc) {
        alog_sink_unref(l->sink);
        if (errlen > 0)
            snprintf(err, errlen, "out of memory building access log");
        return rc;
    }
    *out = l;
    return 0;
}

void alog_logger_log(const struct alog_logger *l, const struct alog_ctx *ctx)
{
    if (l->filter) {
        struct alog_filter_env env;
        alog_filter_env_current(&env);
        if (!alog_filter_eval(l->filter, ctx, &env))
            return;
    }
    struct alog_tls *t = tls_get();
    struct strbuf local, *line = &local;

    sb_init(&local);
    local.limit = ALOG_LINE_MAX;
    if (t) {
        line = &t->line;
        sb_reset(line);
    }
    if (alog_format_write(l->format, ctx, line) == 0)
        alog_sink_write(l->sink, line->data, line->len);
    else
        drop_line(l->sink);
    sb_reset(line);
    sb_fini(&local);
}
