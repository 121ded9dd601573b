/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/strbuf.h — a growable, NUL-terminated byte buffer for building text (admin pages,
 * JSON, log lines) off the data path. Capped: appends beyond |limit| fail with -RM_ELIMIT
 * (curl's "toobig"). Not for bodies: those are evbuffer chains. */
#ifndef RM_STRBUF_H
#define RM_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* |data| is always NUL-terminated and never NULL; until the first append it points at a
 * static "" (cap == 0), so release it only through sb_fini() or take it with sb_steal(). */
struct strbuf {
    char *data;   /* NUL-terminated; malloc'd once cap > 0 */
    size_t len;   /* bytes used, excluding the NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* maximum len; 0 = 64 MiB */
    int failed;   /* sticky RM_E* code (> 0) of the first failed append; 0 = none */
};

void sb_init(struct strbuf *sb);  /* limit = 0 (64 MiB); allocates nothing */
void sb_fini(struct strbuf *sb);  /* frees data and re-initialises (limit kept); idempotent */
void sb_reset(struct strbuf *sb); /* len = 0, failed = 0; keeps memory and limit */
/* Hands the text to the caller: returns the contents as a malloc'd NUL-terminated string
 * (the caller frees it; no copy is made when cap > 0), or NULL when sb->failed is set or
 * memory runs out. Either way |sb| is left re-initialised (limit kept), holding nothing. */
char *sb_steal(struct strbuf *sb);
/* Each returns 0 or a negative RM_E* code: -RM_ELIMIT when len would exceed the limit,
 * -RM_ENOMEM, -RM_EINVAL for a printf encoding error. A failed append adds nothing, sets
 * sb->failed to the (positive) code; every later append then changes nothing and returns
 * -sb->failed, so a builder may check once at the end. */
int sb_append(struct strbuf *sb, const char *s, size_t n);
int sb_puts(struct strbuf *sb, const char *s);
int sb_putc(struct strbuf *sb, char c);
int sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* The value of hex digit |c|, or -1. */
int rm_hexval(int c);
/* Writes |v| in decimal to |buf| (at least 20 bytes; no NUL) and returns the length. */
size_t rm_u64_dec(char *buf, uint64_t v);
/* Decodes a query-string component in place: %XX escapes, '+' as a space. */
void rm_url_decode(char *s);

/* Appends |s| (|n| bytes, may contain NUL) as a JSON string literal per RFC 8259 §7: quotes
 * included; '"' and '\\' escaped; control bytes as \b \f \n \r \t or \u00XX. Valid UTF-8
 * is copied as is; each byte that is not part of a valid UTF-8 sequence (RFC 3629: no
 * overlongs, surrogates or code points above U+10FFFF) becomes \ufffd, so the output is
 * always valid JSON text. */
int sb_json_str(struct strbuf *sb, const char *s, size_t n);

#endif
