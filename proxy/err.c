/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/err.c — names for the RM_E* codes of err.h. Pure table lookup; any thread. */
#include "proxy/err.h"

#include <stddef.h>

static const char *const rm_err_names[] = {
    [RM_OK] = "success",
    [RM_ENOMEM] = "out of memory",
    [RM_ELIMIT] = "limit exceeded",
    [RM_EPROTO] = "protocol error",
    [RM_EIO] = "I/O error",
    [RM_ETIMEOUT] = "timed out",
    [RM_ECONFIG] = "invalid configuration",
    [RM_ENOTFOUND] = "not found",
    [RM_EINVAL] = "invalid argument",
    [RM_EAGAIN] = "try again",
    [RM_ECLOSED] = "connection closed by peer",
};

const char *rm_strerror(int code)
{
    /* Accept both signs; negate through long long so INT_MIN does not overflow. */
    long long c = code < 0 ? -(long long)code : code;
    if (c < (long long)(sizeof(rm_err_names) / sizeof(rm_err_names[0])) && rm_err_names[c])
        return rm_err_names[c];
    return "unknown error";
}
