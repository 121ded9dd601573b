/* SPDX-License-Identifier: Apache-2.0 */
/* config/err.c — the accumulating config error list (see err.h). Owns each message's
 * malloc'd text. Formatting never fails the caller: on allocation failure an entry keeps a
 * static "out of memory" text, and when even the array cannot grow the entry is counted but
 * not stored. One list per load, main thread only. */
#include "config/err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/value.h"
#include "proxy/strbuf.h"

/* Bounds that keep a hostile or broken config from turning the error list into a memory
 * problem of its own: entries past CFG_ERR_MAX_MSGS are counted, not stored, and a single
 * message is cut at CFG_ERR_MAX_TEXT bytes. */
#define CFG_ERR_MAX_MSGS 1000u
#define CFG_ERR_MAX_TEXT 4096u

static char cfg_err_oom_text[] = "out of memory while formatting a configuration message";

void cfg_err_init(struct cfg_err *e)
{
    e->msgs = NULL;
    e->n = 0;
    e->cap = 0;
    e->n_errors = 0;
    e->n_warnings = 0;
}

void cfg_err_fini(struct cfg_err *e)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->msgs[i].text != cfg_err_oom_text)
            free(e->msgs[i].text);
    }
    free(e->msgs);
    cfg_err_init(e);
}

/* Appends the "file:line:col: " part. A position without a line is just "file: "; a column
 * of 0 is left out. */
static void put_position(struct strbuf *sb, const char *file, uint32_t line, uint32_t col)
{
    if (file && file[0])
        sb_printf(sb, line ? "%s:" : "%s: ", file);
    if (line) {
        if (col)
            sb_printf(sb, "%u:%u: ", (unsigned)line, (unsigned)col);
        else
            sb_printf(sb, "%u: ", (unsigned)line);
    }
}

/* Cuts |sb| to CFG_ERR_MAX_TEXT bytes on a UTF-8 boundary and marks the cut with "...". */
static void clip(struct strbuf *sb)
{
    if (sb->failed || sb->len <= CFG_ERR_MAX_TEXT)
        return;
    size_t cut = CFG_ERR_MAX_TEXT - 3;
    while (cut > 0 && ((unsigned char)sb->data[cut] & 0xc0) == 0x80)
        cut--;
    sb->len = cut;
    sb->data[cut] = '\0';
    sb_append(sb, "...", 3);
}

static void add_entry(struct cfg_err *e, enum cfg_sev sev, const char *file, uint32_t line,
                      uint32_t col, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

static void add_entry(struct cfg_err *e, enum cfg_sev sev, const char *file, uint32_t line,
                      uint32_t col, const char *path, const char *fmt, va_list ap)
{
    if (sev == CFG_ERROR)
        e->n_errors++;
    else
        e->n_warnings++;
    if (e->n >= CFG_ERR_MAX_MSGS)
        return;
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 8;
        if (ncap > CFG_ERR_MAX_MSGS)
            ncap = CFG_ERR_MAX_MSGS;
        struct cfg_msg *m = realloc(e->msgs, ncap * sizeof(*m));
        if (!m)
            return; /* counted above; cfg_err_print() reports the shortfall */
        e->msgs = m;
        e->cap = ncap;
    }

    struct strbuf sb;
    sb_init(&sb);
    put_position(&sb, file, line, col);
    if (path && path[0])
        sb_printf(&sb, "%s: ", path);
    sb_vprintf(&sb, fmt, ap);
    clip(&sb);
    char *text = sb_steal(&sb);

    e->msgs[e->n].sev = sev;
    e->msgs[e->n].text = text ? text : cfg_err_oom_text;
    e->n++;
}

void cfg_err_add(struct cfg_err *e, const struct vt_node *node, const char *path, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (node)
        add_entry(e, CFG_ERROR, node->pos.file, node->pos.line, node->pos.col, path, fmt, ap);
    else
        add_entry(e, CFG_ERROR, NULL, 0, 0, path, fmt, ap);
    va_end(ap);
}

void cfg_warn_add(struct cfg_err *e, const struct vt_node *node, const char *path, const char *fmt,
                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (node)
        add_entry(e, CFG_WARNING, node->pos.file, node->pos.line, node->pos.col, path, fmt, ap);
    else
        add_entry(e, CFG_WARNING, NULL, 0, 0, path, fmt, ap);
    va_end(ap);
}

void cfg_err_add_at(struct cfg_err *e, const char *file, uint32_t line, uint32_t col,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_entry(e, CFG_ERROR, file, line, col, NULL, fmt, ap);
    va_end(ap);
}

void cfg_err_print(const struct cfg_err *e, FILE *out)
{
    size_t shown_errors = 0, shown_warnings = 0;
    for (size_t i = 0; i < e->n; i++) {
        bool is_err = e->msgs[i].sev == CFG_ERROR;
        fprintf(out, "%s: %s\n", is_err ? "error" : "warning", e->msgs[i].text);
        if (is_err)
            shown_errors++;
        else
            shown_warnings++;
    }
    if (e->n_errors > shown_errors)
        fprintf(out, "error: ... and %zu more error(s) not shown\n", e->n_errors - shown_errors);
    if (e->n_warnings > shown_warnings)
        fprintf(out, "warning: ... and %zu more warning(s) not shown\n",
                e->n_warnings - shown_warnings);
}
