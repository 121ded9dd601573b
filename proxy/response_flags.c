/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/response_flags.c — name tables and printers for Envoy's response flags (see
 * response_flags.h). Constant data only; every function is thread-safe. */
#include "proxy/response_flags.h"

#include <string.h>

/* Enum constants are ints: one more flag than 31 needs a wider type. */
_Static_assert(RF_COUNT <= 31, "response flags no longer fit an int enum");

#define RF_SHORT_ENTRY(bit, name, s, l) [bit] = s,
static const char *const rf_short[RF_COUNT] = {RF_LIST(RF_SHORT_ENTRY)};
#undef RF_SHORT_ENTRY

#define RF_LONG_ENTRY(bit, name, s, l) [bit] = l,
static const char *const rf_long[RF_COUNT] = {RF_LIST(RF_LONG_ENTRY)};
#undef RF_LONG_ENTRY

const char *rf_short_name(unsigned bit)
{
    return bit < RF_COUNT ? rf_short[bit] : NULL;
}

const char *rf_long_name(unsigned bit)
{
    return bit < RF_COUNT ? rf_long[bit] : NULL;
}

/* Appends |s| at |*len| within |cap|, keeping the would-be length (snprintf convention). */
static void put(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len < cap) {
        size_t room = cap - *len - 1; /* keep one byte for the NUL */
        memcpy(buf + *len, s, n < room ? n : room);
    }
    *len += n;
}

static size_t format_flags(uint32_t flags, const char *const *names, char *buf, size_t cap)
{
    size_t len = 0;
    int any = 0;
    for (unsigned bit = 0; bit < RF_COUNT; bit++) {
        if (!(flags & (UINT32_C(1) << bit)))
            continue;
        if (any)
            put(buf, cap, &len, ",");
        put(buf, cap, &len, names[bit]);
        any = 1;
    }
    if (!any)
        put(buf, cap, &len, "-"); /* Envoy's ResponseFlagUtils::NONE */
    if (cap > 0)
        buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

size_t rf_format_short(uint32_t flags, char *buf, size_t cap)
{
    return format_flags(flags, rf_short, buf, cap);
}

size_t rf_format_long(uint32_t flags, char *buf, size_t cap)
{
    return format_flags(flags, rf_long, buf, cap);
}

uint32_t rf_from_short(const char *name, size_t len)
{
    for (unsigned bit = 0; bit < RF_COUNT; bit++) {
        if (strlen(rf_short[bit]) == len && memcmp(rf_short[bit], name, len) == 0)
            return UINT32_C(1) << bit;
    }
    return 0;
}
