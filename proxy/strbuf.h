/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/strbuf.h — a growable, NUL-terminated byte buffer for building text (admin pages,
 * JSON, log lines) off the data path. Capped: appends beyond |limit| fail with -RM_ELIMIT
 * (curl's "toobig"). Not for bodies: those are evbuffer chains. */
#ifndef RM_STRBUF_H
#define RM_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
    char *data;   /* NUL-terminated when len > 0 or after sb_init(); malloc'd */
    size_t len;   /* bytes used, excluding the NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* maximum len; 0 = 64 MiB */
    int failed;   /* sticky: an append failed (ENOMEM or limit); later appends are no-ops */
};

void sb_init(struct strbuf *sb);
void sb_fini(struct strbuf *sb);
void sb_reset(struct strbuf *sb); /* len = 0, keeps memory */
/* Each returns 0 or a negative RM_E* code; after a failure sb->failed stays set. */
int sb_append(struct strbuf *sb, const char *s, size_t n);
int sb_puts(struct strbuf *sb, const char *s);
int sb_putc(struct strbuf *sb, char c);
int sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap);
/* Appends |s| as a JSON string literal (quotes included, control bytes escaped). */
int sb_json_str(struct strbuf *sb, const char *s, size_t n);

#endif
