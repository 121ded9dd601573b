/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/alog_filter.h — evaluates an access log filter (envoy.config.accesslog.v3.
 * AccessLogFilter, translated into struct cfg_alog_filter by config/translate_alog_filter.c)
 * against a struct alog_ctx: whether an access log entry is written, and which HCM
 * local_reply_config mapper applies. Semantics are Envoy's
 * (source/common/access_log/access_log_impl.cc). Pure reads of immutable config plus the
 * caller's runtime snapshot; never allocates (see alog_filter_eval()); any worker thread. */
#ifndef RM_ALOG_FILTER_H
#define RM_ALOG_FILTER_H

#include <stdbool.h>
#include <stdint.h>

struct cfg_alog_filter;
struct alog_ctx;
struct runtime_snap;

/* What a filter reads besides the context: the runtime (status/duration runtime_key,
 * runtime_filter) and a random source (runtime_filter). */
struct alog_filter_env {
    const struct runtime_snap *runtime; /* NULL = every key reads as its default */
    uint64_t (*random)(void *arg);      /* NULL = a per-thread xorshift generator */
    void *random_arg;
};

/* The calling worker's runtime snapshot and random generator (proxy/worker.h
 * current_worker); on a thread without a worker: no runtime, per-thread randomness. */
void alog_filter_env_current(struct alog_filter_env *env);

/*
 * True when |ctx| passes |f|:
 *  - status_code_filter: response_code (0 when none) compared with the value (EQ/GE/LE);
 *  - duration_filter: ms from start_mono_ns to complete_ns (to now when not complete),
 *    truncated; false when the start is unknown;
 *    both read value.runtime_key from |env|->runtime (an integer), else default_value;
 *  - not_health_check_filter: true (Remora has no health_check HTTP filter, so no request is
 *    ever marked as a health check);
 *  - runtime_filter: runtime value of runtime_key (else percent_sampled.numerator) compared
 *    with random % denominator, where random is the first 8 hex digits of x-request-id unless
 *    use_independent_randomness or the id is missing or not hex (then |env|'s generator);
 *  - and_filter / or_filter: short-circuit, in order;
 *  - header_filter: the request header matcher (proxy/route.h route_header_matches()), on
 *    ctx->request when set, else on the value req_header returns;
 *  - response_flag_filter: any listed flag set; an empty list: any flag set;
 *  - grpc_status_filter: grpc-status from the response trailers, else headers (a value that
 *    is not an integer in 0..16 matches no status), else Envoy's HTTP→gRPC mapping of
 *    response_code, else UNKNOWN; |exclude| inverts.
 * Allocation: none, except that header_filter on ctx->request with a header repeated in the
 * request joins the values in the request's arena, as route matching does.
 */
bool alog_filter_eval(const struct cfg_alog_filter *f, const struct alog_ctx *ctx,
                      const struct alog_filter_env *env);

/* Envoy's Grpc::Utility::httpToGrpcStatus(): 400→13, 401→16, 403→7, 404→12,
 * 429/502/503/504→14, anything else 2 (UNKNOWN). */
int alog_http_to_grpc_status(uint32_t http_status);

#endif
