/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/alog_filter.c — access log filter evaluation (see alog_filter.h), after Envoy's
 * source/common/access_log/access_log_impl.cc, source/common/grpc/common.cc (getGrpcStatus)
 * and source/extensions/request_id/uuid (toInteger). Any worker thread; no allocation. */
#include "proxy/alog_filter.h"

#include <string.h>

#include "config/model.h"
#include "config/model_http.h"
#include "proxy/access_log.h"
#include "proxy/http_msg.h"
#include "proxy/route.h"
#include "proxy/runtime.h"
#include "proxy/worker.h"
#include "proxy/strbuf.h"

/* ---- environment ----------------------------------------------------------------------- */

static uint64_t thread_random(void *arg)
{
    (void)arg;
    static __thread uint64_t state;
    if (!state)
        state = (uint64_t)alog_mono_ns() ^ (uint64_t)(uintptr_t)&state ^ 0x9E3779B97F4A7C15ull;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

static uint64_t worker_random(void *arg)
{
    return worker_rand(arg);
}

void alog_filter_env_current(struct alog_filter_env *env)
{
    struct worker *w = current_worker;
    env->runtime = w ? w->runtime : NULL;
    env->random = w ? worker_random : thread_random;
    env->random_arg = w;
}

static uint64_t env_random(const struct alog_filter_env *env)
{
    if (env && env->random)
        return env->random(env->random_arg);
    return thread_random(NULL);
}

static uint64_t env_uint(const struct alog_filter_env *env, const char *key, uint64_t dflt)
{
    if (!key || !env)
        return dflt;
    return runtime_get_uint(env->runtime, key, dflt);
}

/* ---- the filters ------------------------------------------------------------------------ */

/* Envoy's ComparisonFilter::compareAgainstValue(). */
static bool compare(const struct cfg_alog_filter *f, uint64_t lhs,
                    const struct alog_filter_env *env)
{
    uint64_t value = env_uint(env, f->u.cmp.runtime_key, f->u.cmp.value);
    switch (f->u.cmp.op) {
    case ALOG_CMP_EQ:
        return lhs == value;
    case ALOG_CMP_GE:
        return lhs >= value;
    case ALOG_CMP_LE:
        return lhs <= value;
    }
    return false;
}

/* StreamInfo::currentDuration(): to the completion when known, else to now. */
static bool duration_ms(const struct alog_ctx *ctx, uint64_t *out)
{
    if (!ctx->start_mono_ns)
        return false;
    int64_t end = ctx->complete_ns ? ctx->complete_ns : alog_mono_ns();
    int64_t d = end - ctx->start_mono_ns;
    *out = d > 0 ? (uint64_t)d / 1000000u : 0;
    return true;
}

/* UUIDRequestIDExtension::toInteger(): the first 8 characters of x-request-id as hex. */
static bool request_id_integer(const struct alog_ctx *ctx, uint64_t *out)
{
    if (!ctx->req_header)
        return false; /* TCP: no request id, Envoy samples at random */
    size_t len = 0;
    const char *id = ctx->req_header(ctx->stream, "x-request-id", &len);
    if (!id || len < 8)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) {
        int h = rm_hexval((unsigned char)id[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint64_t)h;
    }
    *out = v;
    return true;
}

/* RuntimeFilter::evaluate() + Snapshot::featureEnabled(key, default, random, buckets): the
 * runtime value replaces the numerator and shares percent_sampled's denominator. */
static bool runtime_filter(const struct cfg_alog_filter *f, const struct alog_ctx *ctx,
                           const struct alog_filter_env *env)
{
    uint64_t denom = f->u.runtime.denominator ? f->u.runtime.denominator : 100;
    uint64_t r;
    if (f->u.runtime.independent || !request_id_integer(ctx, &r))
        r = env_random(env);
    uint64_t numerator = env_uint(env, f->u.runtime.runtime_key, f->u.runtime.numerator);
    return r % denom < numerator;
}

/* HeaderFilter::evaluate(): the matcher on the request headers. Without ctx->request a
 * one-field message is built on the stack from req_header (no allocation). */
static bool header_filter(const struct cfg_header_matcher *m, const struct alog_ctx *ctx)
{
    if (ctx->request)
        return route_header_matches(m, ctx->request);
    struct http_msg msg;
    struct http_field field;
    memset(&msg, 0, sizeof(msg));
    msg.is_request = true;
    size_t len = 0;
    const char *v = ctx->req_header ? ctx->req_header(ctx->stream, m->name, &len) : NULL;
    if (v) {
        struct http_slice s = {v, len};
        if (strcmp(m->name, ":path") == 0) {
            msg.path = s;
        } else if (strcmp(m->name, ":authority") == 0) {
            msg.authority = s;
        } else if (strcmp(m->name, ":scheme") == 0) {
            msg.scheme = s;
        } else if (strcmp(m->name, ":method") == 0) {
            msg.method_name = s;
        } else if (m->name[0] != ':') {
            field.name.p = m->name;
            field.name.n = strlen(m->name);
            field.value = s;
            msg.headers.v = &field;
            msg.headers.n = 1;
            msg.headers.cap = 1;
        }
    }
    return route_header_matches(m, &msg);
}

/* absl::SimpleAtoi on uint64: surrounding ASCII whitespace, an optional '+', digits. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    size_t i = 0;
    while (i < n && strchr(" \t\n\v\f\r", s[i]) && s[i])
        i++;
    while (n > i && strchr(" \t\n\v\f\r", s[n - 1]) && s[n - 1])
        n--;
    if (i < n && s[i] == '+')
        i++;
    if (i >= n)
        return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

#define GRPC_MAX_KNOWN 16 /* UNAUTHENTICATED */
#define GRPC_UNKNOWN 2
#define GRPC_INVALID (-1) /* Envoy's WellKnownGrpcStatus::InvalidCode */

int alog_http_to_grpc_status(uint32_t http_status)
{
    /* github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md, as Envoy has it. */
    switch (http_status) {
    case 400:
        return 13; /* INTERNAL */
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 403:
        return 7; /* PERMISSION_DENIED */
    case 404:
        return 12; /* UNIMPLEMENTED */
    case 429:
    case 502:
    case 503:
    case 504:
        return 14; /* UNAVAILABLE */
    default:
        return GRPC_UNKNOWN;
    }
}

/* Grpc::Common::getGrpcStatus(trailers, headers, info): trailers, headers, then the HTTP
 * status; UNKNOWN when there is none of them. */
static int grpc_status(const struct alog_ctx *ctx)
{
    for (int i = 0; i < 2; i++) {
        alog_header_fn fn = i == 0 ? ctx->resp_trailer : ctx->resp_header;
        size_t len = 0;
        const char *v = fn ? fn(ctx->stream, "grpc-status", &len) : NULL;
        if (!v)
            continue;
        uint64_t code;
        if (!parse_u64(v, len, &code) || code > GRPC_MAX_KNOWN)
            return GRPC_INVALID;
        return (int)code;
    }
    if (ctx->response_code)
        return alog_http_to_grpc_status(ctx->response_code);
    return GRPC_UNKNOWN;
}

bool alog_filter_eval(const struct cfg_alog_filter *f, const struct alog_ctx *ctx,
                      const struct alog_filter_env *env)
{
    switch (f->kind) {
    case ALOGF_STATUS_CODE:
        return compare(f, ctx->response_code, env);
    case ALOGF_DURATION: {
        uint64_t ms;
        return duration_ms(ctx, &ms) && compare(f, ms, env);
    }
    case ALOGF_NOT_HEALTH_CHECK:
        /* Envoy: !info.healthCheck(). Only the health_check HTTP filter marks a request as a
         * health check, and Remora has none, so every request passes. */
        return true;
    case ALOGF_RUNTIME:
        return runtime_filter(f, ctx, env);
    case ALOGF_AND:
        for (size_t i = 0; i < f->u.list.n; i++)
            if (!alog_filter_eval(&f->u.list.filters[i], ctx, env))
                return false;
        return true;
    case ALOGF_OR:
        for (size_t i = 0; i < f->u.list.n; i++)
            if (alog_filter_eval(&f->u.list.filters[i], ctx, env))
                return true;
        return false;
    case ALOGF_HEADER:
        return header_filter(f->u.header, ctx);
    case ALOGF_RESPONSE_FLAG:
        if (f->u.response_flags)
            return (ctx->response_flags & f->u.response_flags) != 0;
        return ctx->response_flags != 0;
    case ALOGF_GRPC_STATUS: {
        int st = grpc_status(ctx);
        bool found = st >= 0 && (f->u.grpc.statuses & (UINT32_C(1) << st));
        return f->u.grpc.exclude ? !found : found;
    }
    }
    return false;
}
