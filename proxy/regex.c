/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/regex.c — RE2-syntax regexes on PCRE2 (see regex.h). Compiling happens on the main
 * thread at config load: the pattern is checked against RE2's grammar and rewritten where
 * PCRE2 would read the same text differently ($ at a final newline, \v, \s, octal escapes,
 * '{' that is not a repetition). Matching runs on any thread with a per-thread scratch
 * (pthread key) holding the match data, match context and JIT stack. */
#include "proxy/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/strbuf.h"

#define DEFAULT_MATCH_LIMIT 1000000u
#define HEAP_LIMIT_KIB 4096u /* interpreter backtracking frames, per match */
#define JIT_STACK_MIN (32u * 1024u)
#define JIT_STACK_MAX (512u * 1024u)
#define OVECTOR_PAIRS 10u /* \0..\9: the groups a substitution can name */

struct rm_regex {
    pcre2_code *code;
    char *pattern; /* as written */
    uint32_t ncap;
    unsigned flags;
};

/* ---- per-thread scratch ---------------------------------------------------------------------- */

struct scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *js; /* NULL when JIT is unavailable */
    uint32_t limit;      /* match limit mctx was set up with */
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_key_ok;
static _Atomic uint32_t match_limit = DEFAULT_MATCH_LIMIT;
static _Atomic uint64_t limit_hits;

static void scratch_free(void *arg)
{
    struct scratch *s = arg;
    if (!s)
        return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->js);
    free(s);
}

static void scratch_key_init(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

static struct scratch *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    if (!scratch_key_ok)
        return NULL;
    struct scratch *s = pthread_getspecific(scratch_key);
    uint32_t limit = atomic_load_explicit(&match_limit, memory_order_relaxed);
    if (s && s->limit == limit)
        return s;
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        s->md = pcre2_match_data_create(OVECTOR_PAIRS, NULL);
        s->mctx = pcre2_match_context_create(NULL);
        uint32_t jit = 0;
        if (pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit)
            s->js = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
        if (!s->md || !s->mctx || pthread_setspecific(scratch_key, s) != 0) {
            scratch_free(s);
            return NULL;
        }
        if (s->js)
            pcre2_jit_stack_assign(s->mctx, NULL, s->js);
        pcre2_set_heap_limit(s->mctx, HEAP_LIMIT_KIB);
    }
    /* The match limit bounds JIT and interpreted matching alike; the depth limit (which
     * only the interpreter knows) follows it, and the heap limit caps its frame memory. */
    pcre2_set_match_limit(s->mctx, limit);
    pcre2_set_depth_limit(s->mctx, limit);
    s->limit = limit;
    return s;
}

void rm_regex_set_match_limit(uint32_t limit)
{
    atomic_store(&match_limit, limit ? limit : DEFAULT_MATCH_LIMIT);
}

uint64_t rm_regex_limit_hits(void)
{
    return atomic_load_explicit(&limit_hits, memory_order_relaxed);
}

/* ---- RE2 grammar check and translation ------------------------------------------------------- */

struct xlate {
    const char *p;
    size_t n;
    size_t i;
    struct strbuf out;
    bool changed; /* the output differs from the input (offsets no longer line up) */
    char *err;
    size_t errlen;
};

static int xfail(struct xlate *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int xfail(struct xlate *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (x->errlen)
        vsnprintf(x->err, x->errlen, fmt, ap);
    va_end(ap);
    return -RM_ECONFIG;
}

static void emit(struct xlate *x, const char *s, size_t n)
{
    sb_append(&x->out, s, n);
}

/* Emits |s| in place of |consumed| input bytes that were not copied as they are. */
static void emit_subst(struct xlate *x, const char *s)
{
    sb_puts(&x->out, s);
    x->changed = true;
}

static bool is_octal(char c)
{
    return c >= '0' && c <= '7';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* RE2's octal escape at x->i ('\' then a digit 0-7): \0 plus up to two more octal digits,
 * or \1-\7 followed by at least one more. Emitted as \x{..} so PCRE2 cannot read it as a
 * backreference. Returns 0, or -RM_ECONFIG for a lone \1-\9 (a backreference). */
static int octal_escape(struct xlate *x)
{
    const char *p = x->p;
    size_t i = x->i + 1, n = x->n;
    char c = p[i];
    if (c != '0' && (!is_octal(c) || i + 1 >= n || !is_octal(p[i + 1])))
        return xfail(x, "backreferences (\\%c) are not supported (RE2 syntax)", c);
    unsigned code = (unsigned)(c - '0');
    i++;
    for (int k = 0; k < 2 && i < n && is_octal(p[i]); k++, i++)
        code = code * 8 + (unsigned)(p[i] - '0');
    char buf[16];
    snprintf(buf, sizeof(buf), "\\x{%x}", code);
    emit_subst(x, buf);
    x->i = i;
    return 0;
}

/* \x followed by exactly two hex digits, or \x{hex...} up to U+10FFFF. */
static int hex_escape(struct xlate *x)
{
    const char *p = x->p;
    size_t i = x->i + 2, n = x->n;
    if (i < n && p[i] == '{') {
        size_t j = i + 1;
        unsigned long v = 0;
        while (j < n && is_hex(p[j]) && v <= 0x10FFFF) {
            v = v * 16 + (unsigned long)(p[j] >= 'a'   ? p[j] - 'a' + 10
                                         : p[j] >= 'A' ? p[j] - 'A' + 10
                                                       : p[j] - '0');
            j++;
        }
        if (j == i + 1 || j >= n || p[j] != '}' || v > 0x10FFFF)
            return xfail(x, "invalid escape sequence: \\x%.*s", (int)(j < n ? j + 1 - i : n - i),
                         p + i);
        emit(x, p + x->i, j + 1 - x->i);
        x->i = j + 1;
        return 0;
    }
    if (i + 1 < n && is_hex(p[i]) && is_hex(p[i + 1])) {
        emit(x, p + x->i, 4);
        x->i += 4;
        return 0;
    }
    return xfail(x, "invalid escape sequence: \\x%.*s", (int)(n - i < 2 ? n - i : 2), p + i);
}

/* \p / \P: one letter, or {Name} / {^Name}. PCRE2 reads both forms like RE2. */
static int prop_escape(struct xlate *x)
{
    const char *p = x->p;
    size_t i = x->i + 2, n = x->n;
    if (i >= n)
        return xfail(x, "invalid character class range: \\%c", p[x->i + 1]);
    size_t end = i + 1;
    if (p[i] == '{') {
        while (end < n && p[end] != '}')
            end++;
        if (end >= n)
            return xfail(x, "invalid character class range: \\%c%.*s", p[x->i + 1], (int)(n - i),
                         p + i);
        end++;
    }
    emit(x, p + x->i, end - x->i);
    x->i = end;
    return 0;
}

/* An escape outside a character class. */
static int escape(struct xlate *x)
{
    const char *p = x->p;
    if (x->i + 1 >= x->n)
        return xfail(x, "trailing \\");
    unsigned char c = (unsigned char)p[x->i + 1];
    switch (c) {
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if (c >= '8')
            return xfail(x, "backreferences (\\%c) are not supported (RE2 syntax)", c);
        return octal_escape(x);
    case 'a':
    case 'f':
    case 't':
    case 'n':
    case 'r':
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 'b':
    case 'B':
    case 'A':
    case 'z':
        emit(x, p + x->i, 2);
        x->i += 2;
        return 0;
    case 'v': /* RE2: vertical tab; PCRE2: any vertical whitespace */
        emit_subst(x, "\\x{0b}");
        x->i += 2;
        return 0;
    case 's': /* RE2's \s is [\t\n\f\r ]; PCRE2's also has \v */
        emit_subst(x, "[\\t\\n\\f\\r ]");
        x->i += 2;
        return 0;
    case 'S':
        emit_subst(x, "[^\\t\\n\\f\\r ]");
        x->i += 2;
        return 0;
    case 'x':
        return hex_escape(x);
    case 'p':
    case 'P':
        return prop_escape(x);
    case 'Q': {
        /* Literal text up to \E (or the end), the same in both engines. */
        size_t j = x->i + 2;
        while (j + 1 < x->n && !(p[j] == '\\' && p[j + 1] == 'E'))
            j++;
        size_t end = j + 1 < x->n ? j + 2 : x->n;
        emit(x, p + x->i, end - x->i);
        x->i = end;
        return 0;
    }
    case 'E': /* a stray \E ends nothing */
        x->changed = true;
        x->i += 2;
        return 0;
    case 'C':
        return xfail(x, "\\C (any byte) is not supported");
    case 'k':
    case 'g':
        return xfail(x, "backreferences (\\%c) are not supported (RE2 syntax)", c);
    case 'K':
    case 'G':
    case 'Z':
    case 'R':
    case 'X':
    case 'h':
    case 'H':
    case 'V':
    case 'N':
        return xfail(x, "invalid escape sequence: \\%c (not supported by RE2)", c);
    default:
        if (c >= 0x80 || is_word(c))
            return xfail(x, "invalid escape sequence: \\%c", c);
        emit(x, p + x->i, 2); /* escaped punctuation is literal */
        x->i += 2;
        return 0;
    }
}

/* An escape inside a character class. */
static int class_escape(struct xlate *x)
{
    const char *p = x->p;
    if (x->i + 1 >= x->n)
        return xfail(x, "missing closing ]");
    unsigned char c = (unsigned char)p[x->i + 1];
    switch (c) {
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        return octal_escape(x);
    case 'a':
    case 'f':
    case 't':
    case 'n':
    case 'r':
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 'S':
        emit(x, p + x->i, 2);
        x->i += 2;
        return 0;
    case 'v':
        emit_subst(x, "\\x{0b}");
        x->i += 2;
        return 0;
    case 's':
        emit_subst(x, "\\t\\n\\f\\r ");
        x->i += 2;
        return 0;
    case 'x':
        return hex_escape(x);
    case 'p':
    case 'P':
        return prop_escape(x);
    default:
        if (c >= 0x80 || is_word(c))
            return xfail(x, "invalid escape sequence: \\%c", c);
        emit(x, p + x->i, 2);
        x->i += 2;
        return 0;
    }
}

/* A character class starting at x->i ('['). */
static int char_class(struct xlate *x)
{
    const char *p = x->p;
    size_t n = x->n;
    emit(x, "[", 1);
    x->i++;
    if (x->i < n && p[x->i] == '^') {
        emit(x, "^", 1);
        x->i++;
    }
    if (x->i < n && p[x->i] == ']') { /* a leading ']' is literal */
        emit(x, "\\]", 2);
        x->changed = true;
        x->i++;
    }
    while (x->i < n) {
        char c = p[x->i];
        if (c == ']') {
            emit(x, "]", 1);
            x->i++;
            return 0;
        }
        if (c == '\\') {
            int rc = class_escape(x);
            if (rc)
                return rc;
            continue;
        }
        if (c == '[' && x->i + 1 < n && p[x->i + 1] == ':') {
            /* [:name:] / [:^name:] POSIX class: same names in both engines. */
            size_t j = x->i + 2;
            while (j + 1 < n && !(p[j] == ':' && p[j + 1] == ']'))
                j++;
            if (j + 1 >= n)
                return xfail(x, "missing closing ]");
            emit(x, p + x->i, j + 2 - x->i);
            x->i = j + 2;
            continue;
        }
        if (c == '[') { /* literal in RE2; PCRE2 gives "[." and "[=" meanings */
            emit_subst(x, "\\[");
            x->i++;
            continue;
        }
        emit(x, &p[x->i], 1);
        x->i++;
    }
    return xfail(x, "missing closing ]: %.*s", (int)(n > 64 ? 64 : n), p);
}

/* "(" at x->i: a group. Only RE2's forms pass: (re), (?:re), (?P<name>re), (?<name>re),
 * (?flags) and (?flags:re) with flags from "imsU". */
static int group(struct xlate *x)
{
    const char *p = x->p;
    size_t i = x->i, n = x->n;
    if (i + 1 < n && p[i + 1] == '*')
        return xfail(x, "(*VERB) sequences are not supported (RE2 syntax)");
    if (i + 1 >= n || p[i + 1] != '?') {
        emit(x, "(", 1);
        x->i++;
        return 0;
    }
    char c = i + 2 < n ? p[i + 2] : '\0';
    switch (c) {
    case ':':
        emit(x, "(?:", 3);
        x->i += 3;
        return 0;
    case '=':
    case '!':
        return xfail(x, "lookahead assertions (?= and (?! are not supported (RE2 syntax)");
    case '>':
        return xfail(x, "atomic groups (?> are not supported (RE2 syntax)");
    case '(':
        return xfail(x, "conditional groups (?( are not supported (RE2 syntax)");
    case '#':
        return xfail(x, "comments (?# are not supported (RE2 syntax)");
    case '|':
        return xfail(x, "branch reset groups (?| are not supported (RE2 syntax)");
    case 'C':
        return xfail(x, "callouts (?C are not supported (RE2 syntax)");
    case 'R':
    case '&':
    case '+':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return xfail(x, "recursion and subroutine calls are not supported (RE2 syntax)");
    case '\'':
        return xfail(x, "invalid named capture group: use (?P<name>re)");
    case '<':
    case 'P': {
        size_t j = i + 3;
        if (c == '<' && j < n && (p[j] == '=' || p[j] == '!'))
            return xfail(x, "lookbehind assertions (?<= and (?<! are not supported (RE2 syntax)");
        if (c == 'P') {
            if (j < n && p[j] == '=')
                return xfail(x, "backreferences (?P=name) are not supported (RE2 syntax)");
            if (j < n && p[j] == '>')
                return xfail(x, "recursion and subroutine calls are not supported (RE2 syntax)");
            if (j >= n || p[j] != '<')
                return xfail(x, "invalid named capture group");
            j++;
        }
        size_t start = j;
        while (j < n && is_word((unsigned char)p[j]))
            j++;
        if (j == start || j >= n || p[j] != '>')
            return xfail(x, "invalid named capture group");
        emit(x, p + i, j + 1 - i);
        x->i = j + 1;
        return 0;
    }
    default:
        break;
    }
    if (c == '-' && i + 3 < n && p[i + 3] >= '0' && p[i + 3] <= '9')
        return xfail(x, "recursion and subroutine calls are not supported (RE2 syntax)");
    /* Flags: RE2 knows i, m, s and U, an optional single '-', not empty, not ending in '-'. */
    size_t j = i + 2;
    bool neg = false, any = false;
    for (; j < n && p[j] != ':' && p[j] != ')'; j++) {
        char f = p[j];
        if (f == '-' && !neg) {
            neg = true;
            any = false;
            continue;
        }
        if (f != 'i' && f != 'm' && f != 's' && f != 'U')
            return xfail(x, "invalid or unsupported Perl flag '%c' (RE2 knows i, m, s, U)", f);
        any = true;
    }
    if (j >= n)
        return xfail(x, "missing closing )");
    if (!any)
        return xfail(x, "invalid or unsupported Perl flag group");
    emit(x, p + i, j + 1 - i);
    x->i = j + 1;
    return 0;
}

/* A '{' at x->i: a repetition {n}, {n,} or {n,m} (n, m <= 1000), else a literal '{' (RE2),
 * which PCRE2 >= 10.43 would read as {,m}: escape it. Returns 0 and sets *quant. */
static int brace(struct xlate *x, bool *quant)
{
    const char *p = x->p;
    size_t i = x->i + 1, n = x->n;
    unsigned long lo = 0, hi = 0;
    size_t d = i;
    while (i < n && p[i] >= '0' && p[i] <= '9' && i - d < 8)
        lo = lo * 10 + (unsigned long)(p[i++] - '0');
    bool ok = i > d;
    bool has_hi = false;
    if (ok && i < n && p[i] == ',') {
        i++;
        size_t h = i;
        while (i < n && p[i] >= '0' && p[i] <= '9' && i - h < 8)
            hi = hi * 10 + (unsigned long)(p[i++] - '0');
        has_hi = i > h;
    } else {
        hi = lo;
        has_hi = true;
    }
    ok = ok && i < n && p[i] == '}';
    *quant = ok;
    if (!ok) {
        emit_subst(x, "\\{");
        x->i++;
        return 0;
    }
    if (lo > RM_REGEX_MAX_REPEAT || (has_hi && (hi > RM_REGEX_MAX_REPEAT || hi < lo)))
        return xfail(x, "bad repetition operator: %.*s", (int)(i + 1 - x->i), p + x->i);
    emit(x, p + x->i, i + 1 - x->i);
    x->i = i + 1;
    return 0;
}

/* After a quantifier: RE2 has lazy forms (x*?) but no possessive ones (x*+). */
static int after_quant(struct xlate *x)
{
    if (x->i < x->n && x->p[x->i] == '?') {
        emit(x, "?", 1);
        x->i++;
    }
    if (x->i < x->n && x->p[x->i] == '+')
        return xfail(x, "possessive quantifiers (x*+, x++, x?+, x{n}+) are not supported "
                        "(RE2 syntax)");
    return 0;
}

static int translate(struct xlate *x)
{
    while (x->i < x->n) {
        char c = x->p[x->i];
        int rc = 0;
        switch (c) {
        case '\\':
            rc = escape(x);
            break;
        case '[':
            rc = char_class(x);
            break;
        case '(':
            rc = group(x);
            break;
        case '{': {
            bool quant;
            rc = brace(x, &quant);
            if (rc == 0 && quant)
                rc = after_quant(x);
            break;
        }
        case '*':
        case '+':
        case '?':
            emit(x, &c, 1);
            x->i++;
            rc = after_quant(x);
            break;
        default:
            emit(x, &c, 1);
            x->i++;
            break;
        }
        if (rc)
            return rc;
    }
    if (x->out.failed)
        return -x->out.failed;
    return 0;
}

/* ---- compile --------------------------------------------------------------------------------- */

static void regex_cleanup(void *arg)
{
    rm_regex_free(arg);
}

void rm_regex_free(struct rm_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re->pattern);
    free(re);
}

int rm_regex_compile(const char *pattern, size_t len, unsigned flags, struct arena *a,
                     struct rm_regex **out, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    *out = NULL;
    if (len > RM_REGEX_MAX_PATTERN) {
        if (errlen)
            snprintf(err, errlen, "pattern too long (%zu bytes, at most %u)", len,
                     RM_REGEX_MAX_PATTERN);
        return -RM_ECONFIG;
    }
    if (memchr(pattern, '\0', len)) {
        if (errlen)
            snprintf(err, errlen, "pattern contains a NUL byte");
        return -RM_ECONFIG;
    }
    struct xlate x = {.p = pattern, .n = len, .err = err, .errlen = errlen};
    sb_init(&x.out);
    int rc = translate(&x);
    if (rc) {
        if (rc == -RM_ENOMEM || rc == -RM_ELIMIT)
            rc = -RM_ENOMEM;
        sb_fini(&x.out);
        return rc;
    }

    struct rm_regex *re = calloc(1, sizeof(*re));
    if (re)
        re->pattern = strndup(pattern, len);
    if (!re || !re->pattern) {
        sb_fini(&x.out);
        rm_regex_free(re);
        return -RM_ENOMEM;
    }
    re->flags = flags;
    uint32_t opts =
        PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C;
    if (flags & RM_REGEX_FULL)
        opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
    int ecode;
    PCRE2_SIZE eoff;
    re->code = pcre2_compile((PCRE2_SPTR)x.out.data, x.out.len, opts, &ecode, &eoff, NULL);
    sb_fini(&x.out);
    if (!re->code) {
        if (ecode == PCRE2_ERROR_NOMEMORY) {
            rm_regex_free(re);
            return -RM_ENOMEM;
        }
        char msg[256];
        pcre2_get_error_message(ecode, (PCRE2_UCHAR *)msg, sizeof(msg));
        if (errlen) {
            if (!x.changed)
                snprintf(err, errlen, "%s at offset %zu", msg, (size_t)eoff);
            else
                snprintf(err, errlen, "%s", msg);
        }
        rm_regex_free(re);
        return -RM_ECONFIG;
    }
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &re->ncap);
    uint32_t jit = 0;
    if (pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit)
        pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    if (a && arena_on_free(a, regex_cleanup, re) != 0) {
        rm_regex_free(re);
        return -RM_ENOMEM;
    }
    *out = re;
    return 0;
}

const char *rm_regex_pattern(const struct rm_regex *re)
{
    return re->pattern;
}

uint32_t rm_regex_capture_count(const struct rm_regex *re)
{
    return re->ncap;
}

/* ---- matching -------------------------------------------------------------------------------- */

enum mres { M_MATCH, M_NOMATCH, M_LIMIT };

/* One pcre2_match() from |start|. On M_MATCH, |*ov| holds the ovector and |*pairs| the
 * number of valid pairs. */
static enum mres run(const struct rm_regex *re, const char *s, size_t n, size_t start,
                     uint32_t opts, PCRE2_SIZE **ov, uint32_t *pairs)
{
    struct scratch *sc = scratch_get();
    if (!sc) {
        atomic_fetch_add_explicit(&limit_hits, 1, memory_order_relaxed);
        return M_LIMIT;
    }
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(s ? s : ""), n, start, opts, sc->md, sc->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return M_NOMATCH;
    if (rc < 0) {
        /* Limits (match, depth, heap, JIT stack) and anything unexpected: never a match. */
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
            rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT ||
            rc == PCRE2_ERROR_NOMEMORY) {
            atomic_fetch_add_explicit(&limit_hits, 1, memory_order_relaxed);
            return M_LIMIT;
        }
        return M_NOMATCH;
    }
    if (ov) {
        *ov = pcre2_get_ovector_pointer(sc->md);
        *pairs = rc == 0 ? OVECTOR_PAIRS : (uint32_t)rc; /* 0: more groups than pairs */
    }
    return M_MATCH;
}

bool rm_regex_full_match(const struct rm_regex *re, const char *s, size_t n)
{
    uint32_t opts = (re->flags & RM_REGEX_FULL) ? 0 : PCRE2_ANCHORED | PCRE2_ENDANCHORED;
    PCRE2_SIZE *ov;
    uint32_t pairs;
    if (run(re, s, n, 0, opts, &ov, &pairs) != M_MATCH)
        return false;
    /* In invalid-UTF mode PCRE2's interpreter treats the end of a valid segment as an end
     * for match-time ENDANCHORED; RE2 never matches past an invalid byte, so a real full
     * match always ends at the end of the subject. */
    return ov[0] == 0 && ov[1] == n;
}

bool rm_regex_search(const struct rm_regex *re, const char *s, size_t n)
{
    if (re->flags & RM_REGEX_FULL)
        return false;
    return run(re, s, n, 0, 0, NULL, NULL) == M_MATCH;
}

/* ---- substitution ---------------------------------------------------------------------------- */

int rm_regex_check_substitution(const struct rm_regex *re, const char *sub, char *err,
                                size_t errlen)
{
    int max = -1;
    for (const char *s = sub; *s; s++) {
        if (*s != '\\')
            continue;
        if (!*++s) {
            if (errlen)
                snprintf(err, errlen, "Rewrite schema error: '\\' not allowed at end.");
            return -RM_ECONFIG;
        }
        if (*s == '\\')
            continue;
        if (*s < '0' || *s > '9') {
            if (errlen)
                snprintf(err, errlen,
                         "Rewrite schema error: '\\' must be followed by a digit or '\\'.");
            return -RM_ECONFIG;
        }
        if (*s - '0' > max)
            max = *s - '0';
    }
    if (max > (int)re->ncap) {
        if (errlen)
            snprintf(err, errlen,
                     "Rewrite schema requests %d matches, but the regexp only has %u "
                     "parenthesized subexpressions.",
                     max, (unsigned)re->ncap);
        return -RM_ECONFIG;
    }
    return 0;
}

/* Length of the UTF-8 character at |s| (1 for an invalid byte), as RE2's chartorune. */
static size_t utf8_step(const unsigned char *s, size_t n)
{
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4;
    else
        return 1;
    if (len > n)
        return 1;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 1;
    return len;
}

/* Appends |n| bytes at |*o| when |dst| is non-NULL; always advances the length. */
static void put(char *dst, size_t *o, const char *s, size_t n)
{
    if (dst && n)
        memcpy(dst + *o, s, n);
    *o += n;
}

/* One pass of RE2::GlobalReplace: measures (|dst| NULL) or writes the result. */
static int replace_pass(const struct rm_regex *re, const char *s, size_t n, const char *sub,
                        char *dst, size_t *len, unsigned *count)
{
    size_t p = 0, o = 0, lastend = (size_t)-1;
    unsigned cnt = 0;
    while (p <= n) {
        PCRE2_SIZE *ov;
        uint32_t pairs;
        enum mres m = run(re, s, n, p, 0, &ov, &pairs);
        if (m == M_LIMIT)
            return -RM_ELIMIT;
        if (m == M_NOMATCH)
            break;
        size_t ms = ov[0], me = ov[1];
        if (ms > p)
            put(dst, &o, s + p, ms - p);
        if (ms == me && ms == lastend) {
            /* An empty match right where the previous one ended: step over a character. */
            if (p < n) {
                size_t k = utf8_step((const unsigned char *)s + p, n - p);
                put(dst, &o, s + p, k);
                p += k;
            } else {
                p++;
            }
            continue;
        }
        for (const char *r = sub; *r; r++) {
            if (r[0] == '\\' && r[1] >= '0' && r[1] <= '9') {
                uint32_t g = (uint32_t)(r[1] - '0');
                if (g < pairs && ov[2 * g] != PCRE2_UNSET)
                    put(dst, &o, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
                r++;
            } else if (r[0] == '\\' && r[1] == '\\') {
                put(dst, &o, "\\", 1);
                r++;
            } else {
                put(dst, &o, r, 1);
            }
        }
        p = me;
        lastend = me;
        cnt++;
    }
    if (cnt == 0) {
        o = 0;
        put(dst, &o, s, n);
    } else if (p < n) {
        put(dst, &o, s + p, n - p);
    }
    *len = o;
    *count = cnt;
    return 0;
}

int rm_regex_replace_all(const struct rm_regex *re, const char *s, size_t n, const char *sub,
                         struct arena *a, char **out, size_t *outlen, unsigned *replaced)
{
    if (re->flags & RM_REGEX_FULL)
        return -RM_EINVAL;
    if (!s)
        s = "";
    size_t len;
    unsigned cnt;
    int rc = replace_pass(re, s, n, sub, NULL, &len, &cnt);
    if (rc)
        return rc;
    char *buf = arena_alloc(a, len + 1);
    if (!buf)
        return -RM_ENOMEM;
    size_t len2;
    rc = replace_pass(re, s, n, sub, buf, &len2, &cnt);
    if (rc)
        return rc;
    buf[len2] = '\0';
    *out = buf;
    *outlen = len2;
    if (replaced)
        *replaced = cnt;
    return 0;
}
