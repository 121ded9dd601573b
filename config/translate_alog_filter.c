/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_alog_filter.c — envoy.config.accesslog.v3.AccessLogFilter → struct
 * cfg_alog_filter, with Envoy's validation (api/envoy/config/accesslog/v3/accesslog.proto and
 * source/common/access_log/access_log_impl.cc FilterFactory::fromProto). Main thread only. */
#include "config/alog_filter.h"

#include <string.h>

#include "config/err.h"
#include "config/translate.h"
#include "config/translate_http.h"
#include "proxy/response_flags.h"

#define PKG "envoy.config.accesslog.v3."

/* and_filter / or_filter nesting deeper than this is refused (the value tree is bounded too,
 * but the evaluator recurses, so the bound is stated here). */
#define FILTER_DEPTH_MAX 32

static const struct cfg_field filter_fields[] = {
    {"status_code_filter", CFG_SUPPORTED, NULL, NULL},
    {"duration_filter", CFG_SUPPORTED, NULL, NULL},
    {"not_health_check_filter", CFG_SUPPORTED, NULL, NULL},
    {"traceable_filter", CFG_UNSUPPORTED, NULL, "Remora has no tracing"},
    {"runtime_filter", CFG_SUPPORTED, NULL, NULL},
    {"and_filter", CFG_SUPPORTED, NULL, NULL},
    {"or_filter", CFG_SUPPORTED, NULL, NULL},
    {"header_filter", CFG_SUPPORTED, NULL, NULL},
    {"response_flag_filter", CFG_SUPPORTED, NULL, NULL},
    {"grpc_status_filter", CFG_SUPPORTED, NULL, NULL},
    {"extension_filter", CFG_UNSUPPORTED, NULL, "no access log filter extensions are built in"},
    {"metadata_filter", CFG_UNSUPPORTED, NULL, "Remora keeps no dynamic metadata"},
    {"log_type_filter", CFG_UNSUPPORTED, NULL, NULL},
};
CFG_TYPE(filter_msg, PKG "AccessLogFilter", filter_fields);

static const struct cfg_field comparison_holder_fields[] = {
    {"comparison", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(status_code_msg, PKG "StatusCodeFilter", comparison_holder_fields);
CFG_TYPE(duration_msg, PKG "DurationFilter", comparison_holder_fields);

static const struct cfg_field comparison_fields[] = {
    {"op", CFG_SUPPORTED, NULL, NULL},
    {"value", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(comparison_msg, PKG "ComparisonFilter", comparison_fields);

static const struct cfg_field runtime_uint32_fields[] = {
    {"default_value", CFG_SUPPORTED, NULL, NULL},
    {"runtime_key", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(runtime_uint32_msg, "envoy.config.core.v3.RuntimeUInt32", runtime_uint32_fields);

/* NotHealthCheckFilter has no fields. */
static const struct cfg_type not_health_check_msg = {PKG "NotHealthCheckFilter", NULL, 0};

static const struct cfg_field runtime_fields[] = {
    {"runtime_key", CFG_SUPPORTED, NULL, NULL},
    {"percent_sampled", CFG_SUPPORTED, NULL, NULL},
    {"use_independent_randomness", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(runtime_msg, PKG "RuntimeFilter", runtime_fields);

static const struct cfg_field and_fields[] = {
    {"filters", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(and_msg, PKG "AndFilter", and_fields);
CFG_TYPE(or_msg, PKG "OrFilter", and_fields);

static const struct cfg_field header_fields[] = {
    {"header", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(header_msg, PKG "HeaderFilter", header_fields);

static const struct cfg_field response_flag_fields[] = {
    {"flags", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(response_flag_msg, PKG "ResponseFlagFilter", response_flag_fields);

static const struct cfg_field grpc_status_fields[] = {
    {"statuses", CFG_SUPPORTED, NULL, NULL},
    {"exclude", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(grpc_status_msg, PKG "GrpcStatusFilter", grpc_status_fields);

static const struct cfg_enum_val op_vals[] = {
    {"EQ", ALOG_CMP_EQ, true},
    {"GE", ALOG_CMP_GE, true},
    {"LE", ALOG_CMP_LE, true},
};
CFG_ENUM(op_enum, PKG "ComparisonFilter.Op", op_vals);

static const struct cfg_enum_val grpc_status_vals[] = {
    {"OK", 0, true},
    {"CANCELED", 1, true},
    {"UNKNOWN", 2, true},
    {"INVALID_ARGUMENT", 3, true},
    {"DEADLINE_EXCEEDED", 4, true},
    {"NOT_FOUND", 5, true},
    {"ALREADY_EXISTS", 6, true},
    {"PERMISSION_DENIED", 7, true},
    {"RESOURCE_EXHAUSTED", 8, true},
    {"FAILED_PRECONDITION", 9, true},
    {"ABORTED", 10, true},
    {"OUT_OF_RANGE", 11, true},
    {"UNIMPLEMENTED", 12, true},
    {"INTERNAL", 13, true},
    {"UNAVAILABLE", 14, true},
    {"DATA_LOSS", 15, true},
    {"UNAUTHENTICATED", 16, true},
};
CFG_ENUM(grpc_status_enum, PKG "GrpcStatusFilter.Status", grpc_status_vals);

static bool filter_at(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, int depth,
                      struct cfg_alog_filter *f);

/* StatusCodeFilter / DurationFilter: {comparison: {op, value: {default_value, runtime_key}}}. */
static bool comparison(struct cfg_ctx *ctx, const struct cfg_type *msg, const struct vt_node *n,
                       const char *path, struct cfg_alog_filter *f)
{
    struct cfg_obj o, c, v;
    size_t mark = cfg_errors(ctx);
    if (!cfg_obj_init(ctx, &o, msg, n, path, 0))
        return false;
    const struct vt_node *cn = cfg_obj_get(&o, "comparison");
    if (cfg_errors(ctx) != mark)
        return false;
    if (!cn) { /* PGV: message.required */
        cfg_obj_error(ctx, &o, "comparison", "comparison is required");
        return false;
    }
    if (!cfg_obj_init(ctx, &c, &comparison_msg, cn, cfg_obj_path(ctx, &o, "comparison"), 0))
        return false;
    int op = ALOG_CMP_EQ;
    cfg_f_enum(ctx, &c, "op", &op_enum, &op);
    f->u.cmp.op = (enum cfg_alog_cmp_op)op;
    if (!cfg_obj_init(ctx, &v, &runtime_uint32_msg, cfg_obj_get(&c, "value"),
                      cfg_obj_path(ctx, &c, "value"), 0))
        return false;
    const char *key = NULL;
    cfg_f_u32(ctx, &v, "default_value", &f->u.cmp.value);
    cfg_f_str(ctx, &v, "runtime_key", &key);
    /* Envoy reads the runtime only when the key is non-empty (ComparisonFilter). */
    f->u.cmp.runtime_key = key && key[0] ? key : NULL;
    return cfg_errors(ctx) == mark;
}

static bool runtime_filter(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           struct cfg_alog_filter *f)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    if (!cfg_obj_init(ctx, &o, &runtime_msg, n, path, 0))
        return false;
    const char *key = NULL;
    cfg_f_str(ctx, &o, "runtime_key", &key);
    cfg_f_bool(ctx, &o, "use_independent_randomness", &f->u.runtime.independent);
    /* "If not specified, defaults to 0% with denominator of 100." */
    struct cfg_fraction pct = {.numerator = 0, .denominator = 100};
    const struct vt_node *ps = cfg_obj_get(&o, "percent_sampled");
    if (ps)
        cfg_translate_fractional_percent(ctx, ps, cfg_obj_path(ctx, &o, "percent_sampled"), &pct);
    if (cfg_errors(ctx) != mark)
        return false;
    if (!key || !key[0]) { /* PGV: string.min_bytes 1 */
        cfg_obj_error(ctx, &o, "runtime_key", "runtime_key must not be empty");
        return false;
    }
    f->u.runtime.runtime_key = key;
    f->u.runtime.numerator = pct.numerator;
    f->u.runtime.denominator = pct.denominator;
    return true;
}

static bool list_filter(struct cfg_ctx *ctx, const struct cfg_type *msg, const struct vt_node *n,
                        const char *path, int depth, struct cfg_alog_filter *f)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    size_t count = 0;
    if (!cfg_obj_init(ctx, &o, msg, n, path, 0))
        return false;
    cfg_f_list(ctx, &o, "filters", &count);
    if (cfg_errors(ctx) != mark)
        return false;
    if (count < 2) { /* PGV: repeated.min_items 2 */
        cfg_obj_error(ctx, &o, "filters", "filters must have at least 2 items, got %zu", count);
        return false;
    }
    if (depth >= FILTER_DEPTH_MAX) {
        cfg_err_add(ctx->err, n, path, "access log filters nest deeper than %d levels",
                    FILTER_DEPTH_MAX);
        return false;
    }
    struct cfg_alog_filter *arr = cfg_alloc(ctx, count * sizeof(*arr));
    if (!arr)
        return false;
    const struct vt_node *list = cfg_obj_get(&o, "filters");
    const char *lpath = cfg_obj_path(ctx, &o, "filters");
    bool ok = true;
    for (size_t i = 0; i < count; i++)
        ok &= filter_at(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), depth + 1, &arr[i]);
    f->u.list.filters = arr;
    f->u.list.n = count;
    return ok;
}

static bool header_filter(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                          struct cfg_alog_filter *f)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    if (!cfg_obj_init(ctx, &o, &header_msg, n, path, 0))
        return false;
    const struct vt_node *h = cfg_obj_get(&o, "header");
    if (cfg_errors(ctx) != mark)
        return false;
    if (!h) { /* PGV: message.required */
        cfg_obj_error(ctx, &o, "header", "header is required");
        return false;
    }
    struct cfg_header_matcher *m = cfg_alloc(ctx, sizeof(*m));
    if (!m)
        return false;
    if (!cfg_translate_header_matcher(ctx, h, cfg_obj_path(ctx, &o, "header"), m))
        return false;
    f->u.header = m;
    return true;
}

static bool response_flag_filter(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                 struct cfg_alog_filter *f)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    size_t count = 0;
    if (!cfg_obj_init(ctx, &o, &response_flag_msg, n, path, 0))
        return false;
    cfg_f_list(ctx, &o, "flags", &count);
    if (cfg_errors(ctx) != mark)
        return false;
    const struct vt_node *list = cfg_obj_get(&o, "flags");
    const char *lpath = cfg_obj_path(ctx, &o, "flags");
    uint32_t flags = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = NULL;
        const char *ipath = cfg_path_idx(ctx, lpath, i);
        if (!cfg_val_str(ctx, list->list.items[i], ipath, &name) || !name)
            continue;
        /* PGV string.in over Envoy's short flag names; case-sensitive like Envoy. */
        uint32_t bit = rf_from_short(name, strlen(name));
        if (!bit)
            cfg_err_add(ctx->err, list->list.items[i], ipath,
                        "\"%s\" is not a response flag (expected one of Envoy's short names: "
                        "UH, UF, UO, NR, URX, ...)",
                        name);
        flags |= bit;
    }
    f->u.response_flags = flags; /* 0 = any flag set, as Envoy */
    return cfg_errors(ctx) == mark;
}

static bool grpc_status_filter(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                               struct cfg_alog_filter *f)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    size_t count = 0;
    if (!cfg_obj_init(ctx, &o, &grpc_status_msg, n, path, 0))
        return false;
    cfg_f_list(ctx, &o, "statuses", &count);
    cfg_f_bool(ctx, &o, "exclude", &f->u.grpc.exclude);
    if (cfg_errors(ctx) != mark)
        return false;
    const struct vt_node *list = cfg_obj_get(&o, "statuses");
    const char *lpath = cfg_obj_path(ctx, &o, "statuses");
    for (size_t i = 0; i < count; i++) {
        int st = -1;
        if (cfg_val_enum(ctx, list->list.items[i], cfg_path_idx(ctx, lpath, i), &grpc_status_enum,
                         &st) &&
            st >= 0 && st <= 16)
            f->u.grpc.statuses |= UINT32_C(1) << st;
    }
    return cfg_errors(ctx) == mark;
}

/* The supported members of oneof filter_specifier. */
static const struct {
    const char *field;
    enum cfg_alog_filter_kind kind;
} kinds[] = {
    {"status_code_filter", ALOGF_STATUS_CODE},
    {"duration_filter", ALOGF_DURATION},
    {"not_health_check_filter", ALOGF_NOT_HEALTH_CHECK},
    {"runtime_filter", ALOGF_RUNTIME},
    {"and_filter", ALOGF_AND},
    {"or_filter", ALOGF_OR},
    {"header_filter", ALOGF_HEADER},
    {"response_flag_filter", ALOGF_RESPONSE_FLAG},
    {"grpc_status_filter", ALOGF_GRPC_STATUS},
};

static bool filter_at(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, int depth,
                      struct cfg_alog_filter *f)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    memset(f, 0, sizeof(*f));
    if (!cfg_obj_init(ctx, &o, &filter_msg, n, path, 0))
        return false;
    if (cfg_errors(ctx) != mark)
        return false; /* unknown or not supported member: already reported */
    const char *field = NULL;
    int set = 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (cfg_obj_get(&o, kinds[i].field)) {
            if (!set)
                field = kinds[i].field;
            f->kind = !set ? kinds[i].kind : f->kind;
            set++;
        }
    }
    if (set == 0) { /* oneof filter_specifier is validate.required */
        cfg_err_add(ctx->err, n, path,
                    "one of status_code_filter, duration_filter, not_health_check_filter, "
                    "runtime_filter, and_filter, or_filter, header_filter, response_flag_filter "
                    "or grpc_status_filter is required (oneof filter_specifier)");
        return false;
    }
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one access log filter may be set per AccessLogFilter (oneof "
                    "filter_specifier); combine them with and_filter or or_filter");
        return false;
    }
    const struct vt_node *v = cfg_obj_get(&o, field);
    const char *vpath = cfg_obj_path(ctx, &o, field);
    switch (f->kind) {
    case ALOGF_STATUS_CODE:
        return comparison(ctx, &status_code_msg, v, vpath, f);
    case ALOGF_DURATION:
        return comparison(ctx, &duration_msg, v, vpath, f);
    case ALOGF_NOT_HEALTH_CHECK: {
        struct cfg_obj e;
        return cfg_obj_init(ctx, &e, &not_health_check_msg, v, vpath, 0) && cfg_errors(ctx) == mark;
    }
    case ALOGF_RUNTIME:
        return runtime_filter(ctx, v, vpath, f);
    case ALOGF_AND:
        return list_filter(ctx, &and_msg, v, vpath, depth, f);
    case ALOGF_OR:
        return list_filter(ctx, &or_msg, v, vpath, depth, f);
    case ALOGF_HEADER:
        return header_filter(ctx, v, vpath, f);
    case ALOGF_RESPONSE_FLAG:
        return response_flag_filter(ctx, v, vpath, f);
    case ALOGF_GRPC_STATUS:
        return grpc_status_filter(ctx, v, vpath, f);
    }
    return false;
}

bool cfg_translate_alog_filter(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                               const struct cfg_alog_filter **out)
{
    struct cfg_alog_filter *f = cfg_alloc(ctx, sizeof(*f));
    if (!f)
        return false;
    if (!filter_at(ctx, n, path, 0, f))
        return false;
    *out = f;
    return true;
}
