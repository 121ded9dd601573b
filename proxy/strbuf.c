/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/strbuf.c — growable, capped text buffer (see strbuf.h). The buffer owns its malloc'd
 * bytes; an empty buffer points at a static "" so it never needs an allocation to be valid.
 * Not thread-safe; one owner at a time. */
#include "proxy/strbuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/err.h"

#define SB_DEFAULT_LIMIT ((size_t)64 * 1024 * 1024)
#define SB_MIN_CAP 64u

static char sb_empty[1]; /* shared "" of every buffer with cap == 0; never written */

static size_t sb_limit(const struct strbuf *sb)
{
    return sb->limit ? sb->limit : SB_DEFAULT_LIMIT;
}

void sb_init(struct strbuf *sb)
{
    sb->data = sb_empty;
    sb->len = 0;
    sb->cap = 0;
    sb->limit = 0;
    sb->failed = 0;
}

void sb_fini(struct strbuf *sb)
{
    size_t limit = sb->limit;
    if (sb->cap > 0)
        free(sb->data);
    sb_init(sb);
    sb->limit = limit;
}

void sb_reset(struct strbuf *sb)
{
    sb->len = 0;
    sb->failed = 0;
    if (sb->cap > 0)
        sb->data[0] = '\0';
}

char *sb_steal(struct strbuf *sb)
{
    char *s = NULL;
    if (!sb->failed) {
        if (sb->cap > 0) {
            s = sb->data;
            sb->cap = 0; /* ownership moves to the caller: sb_fini() must not free it */
        } else {
            s = strdup("");
        }
    }
    sb_fini(sb);
    return s;
}

static int sb_fail(struct strbuf *sb, int code)
{
    sb->failed = code;
    return -code;
}

/* Makes room for |n| more bytes plus the NUL, or fails (sticky) without changing content. */
static int sb_reserve(struct strbuf *sb, size_t n)
{
    size_t limit = sb_limit(sb);
    if (n > limit || sb->len > limit - n)
        return sb_fail(sb, RM_ELIMIT);
    size_t need = sb->len + n + 1;
    if (need <= sb->cap)
        return 0;
    size_t ncap = sb->cap ? sb->cap : SB_MIN_CAP;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > limit + 1)
        ncap = limit + 1; /* need <= limit + 1 holds, so this still fits */
    char *p = sb->cap ? realloc(sb->data, ncap) : malloc(ncap);
    if (!p)
        return sb_fail(sb, RM_ENOMEM);
    if (!sb->cap)
        p[0] = '\0';
    sb->data = p;
    sb->cap = ncap;
    return 0;
}

int sb_append(struct strbuf *sb, const char *s, size_t n)
{
    if (sb->failed)
        return -sb->failed;
    if (n == 0)
        return 0;
    int rc = sb_reserve(sb, n);
    if (rc)
        return rc;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
    return 0;
}

int sb_puts(struct strbuf *sb, const char *s)
{
    return sb_append(sb, s, strlen(s));
}

int sb_putc(struct strbuf *sb, char c)
{
    return sb_append(sb, &c, 1);
}

int sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
    if (sb->failed)
        return -sb->failed;
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = sb->cap > sb->len ? sb->cap - sb->len : 0;
    int n = vsnprintf(room ? sb->data + sb->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        if (room)
            sb->data[sb->len] = '\0';
        return sb_fail(sb, RM_EINVAL);
    }
    if ((size_t)n < room) {
        /* Fitted in place; still honour the limit. */
        if ((size_t)n > sb_limit(sb) || sb->len > sb_limit(sb) - (size_t)n) {
            sb->data[sb->len] = '\0';
            return sb_fail(sb, RM_ELIMIT);
        }
        sb->len += (size_t)n;
        return 0;
    }
    if (room)
        sb->data[sb->len] = '\0'; /* drop the truncated attempt */
    int rc = sb_reserve(sb, (size_t)n);
    if (rc)
        return rc;
    va_copy(ap2, ap);
    int m = vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (m != n) {
        sb->data[sb->len] = '\0';
        return sb_fail(sb, RM_EINVAL);
    }
    sb->len += (size_t)n;
    return 0;
}

int sb_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sb_vprintf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

/* Length of the valid UTF-8 sequence at |p| (|n| bytes left), or 0 when it is not valid
 * (RFC 3629 §4: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && p[1] < 0xa0) /* overlong */
            return 0;
        if (c == 0xed && p[1] > 0x9f) /* U+D800..U+DFFF */
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && p[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xf4 && p[1] > 0x8f) /* above U+10FFFF */
            return 0;
        return 4;
    }
    return 0; /* continuation byte, 0xc0/0xc1 or 0xf5..0xff */
}

int sb_json_str(struct strbuf *sb, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start_len = sb->len;
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    size_t i = 0;

    int rc = sb_putc(sb, '"');
    while (rc == 0 && i < n) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t adv = 1;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            adv = utf8_seq_len(p + i, n - i);
            if (adv) {
                i += adv;
                continue;
            }
            adv = 1;
            esc = "\\ufffd";
        } else if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c == '\b') {
            esc = "\\b";
        } else if (c == '\f') {
            esc = "\\f";
        } else if (c == '\n') {
            esc = "\\n";
        } else if (c == '\r') {
            esc = "\\r";
        } else if (c == '\t') {
            esc = "\\t";
        } else {
            memcpy(ubuf, "\\u00", 4);
            ubuf[4] = hex[c >> 4];
            ubuf[5] = hex[c & 0xf];
            ubuf[6] = '\0';
            esc = ubuf;
        }
        if (i > run)
            rc = sb_append(sb, s + run, i - run);
        if (rc == 0)
            rc = sb_puts(sb, esc);
        i += adv;
        run = i;
    }
    if (rc == 0 && n > run)
        rc = sb_append(sb, s + run, n - run);
    if (rc == 0)
        rc = sb_putc(sb, '"');
    if (rc && sb->len > start_len) {
        /* Never leave half a literal behind: the buffer keeps what it had before. */
        sb->len = start_len;
        sb->data[start_len] = '\0';
    }
    return rc;
}

size_t rm_u64_dec(char *buf, uint64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    char tmp[20];
    size_t i = sizeof(tmp);
    while (v >= 100) {
        i -= 2;
        memcpy(tmp + i, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        i -= 2;
        memcpy(tmp + i, pairs + 2 * v, 2);
    } else {
        tmp[--i] = (char)('0' + v);
    }
    memcpy(buf, tmp + i, sizeof(tmp) - i);
    return sizeof(tmp) - i;
}

int rm_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void rm_url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && rm_hexval((unsigned char)s[1]) >= 0 &&
            rm_hexval((unsigned char)s[2]) >= 0) {
            *o++ = (char)(rm_hexval((unsigned char)s[1]) * 16 + rm_hexval((unsigned char)s[2]));
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
}
