/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_access_log.c — envoy.config.accesslog.v3.AccessLog → struct
 * cfg_access_log: the file, stdout and stderr loggers and their format (text with
 * %OPERATORS% or a JSON dictionary) and its filter (config/translate_alog_filter.c). Used by
 * admin, tcp_proxy and the HTTP connection manager. Main thread only. */
#include "config/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/alog_filter.h"
#include "config/err.h"
#include "proxy/err.h"

/* Largest format file (text_format_source.filename) read at load. */
#define FORMAT_FILE_MAX (1024 * 1024)

#define FILE_LOGGER "envoy.access_loggers.file"
#define STDOUT_LOGGER "envoy.access_loggers.stdout"
#define STDERR_LOGGER "envoy.access_loggers.stderr"
#define FILE_TYPE "envoy.extensions.access_loggers.file.v3.FileAccessLog"
#define STDOUT_TYPE "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
#define STDERR_TYPE "envoy.extensions.access_loggers.stream.v3.StderrAccessLog"

static const struct cfg_field access_log_fields[] = {
    {"name", CFG_SUPPORTED, NULL, NULL},
    {"filter", CFG_SUPPORTED, NULL, NULL},
    {"typed_config", CFG_SUPPORTED, NULL, NULL},
    {"config", CFG_REMOVED, NULL, "removed in the v3 API: use typed_config"},
};
CFG_TYPE(access_log_msg, "envoy.config.accesslog.v3.AccessLog", access_log_fields);

static const struct cfg_field file_fields[] = {
    {"path", CFG_SUPPORTED, NULL, NULL},
    {"format", CFG_DEPRECATED, NULL, "use log_format.text_format_source.inline_string"},
    {"json_format", CFG_DEPRECATED, NULL, "use log_format.json_format"},
    {"typed_json_format", CFG_DEPRECATED, NULL, "use log_format.json_format"},
    {"log_format", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(file_msg, FILE_TYPE, file_fields);

static const struct cfg_field stdout_fields[] = {
    {"log_format", CFG_SUPPORTED, NULL, NULL},
};
CFG_TYPE(stdout_msg, STDOUT_TYPE, stdout_fields);
CFG_TYPE(stderr_msg, STDERR_TYPE, stdout_fields);

static const struct cfg_field format_fields[] = {
    {"text_format", CFG_DEPRECATED, NULL, "use text_format_source.inline_string"},
    {"json_format", CFG_SUPPORTED, NULL, NULL},
    {"text_format_source", CFG_SUPPORTED, NULL, NULL},
    {"omit_empty_values", CFG_SUPPORTED, NULL, NULL},
    {"content_type", CFG_IGNORED, NULL, "it only applies to local reply bodies"},
    {"formatters", CFG_UNSUPPORTED, "[]", "formatter extensions are not implemented"},
    {"json_format_options", CFG_UNSUPPORTED, "{}", NULL},
};
CFG_TYPE(format_msg, "envoy.config.core.v3.SubstitutionFormatString", format_fields);

static const struct cfg_field data_source_fields[] = {
    {"filename", CFG_SUPPORTED, NULL, NULL},
    {"inline_bytes", CFG_UNSUPPORTED, NULL, "use inline_string"},
    {"inline_string", CFG_SUPPORTED, NULL, NULL},
    {"environment_variable", CFG_SUPPORTED, NULL, NULL},
    {"watched_directory", CFG_UNSUPPORTED, NULL, NULL},
};
CFG_TYPE(data_source_msg, "envoy.config.core.v3.DataSource", data_source_fields);

/* Access loggers Envoy has and Remora does not implement yet (name, type). */
static const char *const unsupported_loggers[][2] = {
    {"envoy.access_loggers.http_grpc", "envoy.extensions.access_loggers.grpc.v3."
                                       "HttpGrpcAccessLogConfig"},
    {"envoy.access_loggers.tcp_grpc", "envoy.extensions.access_loggers.grpc.v3."
                                      "TcpGrpcAccessLogConfig"},
    {"envoy.access_loggers.open_telemetry", "envoy.extensions.access_loggers.open_telemetry.v3."
                                            "OpenTelemetryAccessLogConfig"},
    {"envoy.access_loggers.fluentd", "envoy.extensions.access_loggers.fluentd.v3."
                                     "FluentdAccessLogConfig"},
    {"envoy.access_loggers.wasm", "envoy.extensions.access_loggers.wasm.v3.WasmAccessLog"},
};

/* Reads the whole file |fname| (at most FORMAT_FILE_MAX bytes) into ctx->arena. */
static const char *read_format_file(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                                    const char *fname)
{
    FILE *f = fopen(fname, "rb");
    if (!f) {
        cfg_err_add(ctx->err, n, path, "cannot read %s: %m", fname);
        return NULL;
    }
    char *buf = malloc(FORMAT_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, FORMAT_FILE_MAX + 1, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    const char *text = NULL;
    if (bad)
        cfg_err_add(ctx->err, n, path, "cannot read %s", fname);
    else if (len > FORMAT_FILE_MAX)
        cfg_err_add(ctx->err, n, path, "%s is larger than %d bytes", fname, FORMAT_FILE_MAX);
    else if (!(text = arena_strndup(ctx->arena, buf, len)))
        cfg_oom(ctx);
    free(buf);
    return text;
}

/* envoy.config.core.v3.DataSource → text. */
static bool data_source(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                        const char **out)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *fname = NULL, *inl = NULL, *env = NULL;
    if (!cfg_obj_init(ctx, &o, &data_source_msg, n, path, 0))
        return false;
    cfg_f_str(ctx, &o, "filename", &fname);
    cfg_f_str(ctx, &o, "inline_string", &inl);
    cfg_f_str(ctx, &o, "environment_variable", &env);
    if (cfg_errors(ctx) != mark)
        return false;
    int set = (fname != NULL) + (inl != NULL) + (env != NULL);
    if (set == 0) {
        cfg_err_add(ctx->err, n, path,
                    "one of inline_string, filename or environment_variable is required");
        return false;
    }
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of inline_string, filename and environment_variable may be set");
        return false;
    }
    if (inl) {
        *out = inl;
        return true;
    }
    if (fname) {
        if (!fname[0]) {
            cfg_obj_error(ctx, &o, "filename", "filename must not be empty");
            return false;
        }
        const char *text = read_format_file(ctx, cfg_obj_get(&o, "filename"),
                                            cfg_obj_path(ctx, &o, "filename"), fname);
        if (!text)
            return false;
        *out = text;
        return true;
    }
    const char *v = env[0] ? getenv(env) : NULL;
    if (!v) {
        cfg_obj_error(ctx, &o, "environment_variable", "environment variable %s is not set",
                      env[0] ? env : "\"\"");
        return false;
    }
    *out = cfg_strdup(ctx, v);
    return *out != NULL;
}

/* envoy.config.core.v3.SubstitutionFormatString → format / json_format. */
static bool log_format(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                       struct cfg_access_log *al)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *text = NULL;
    const struct vt_node *json = NULL;
    if (!cfg_obj_init(ctx, &o, &format_msg, n, path, 0))
        return false;
    cfg_f_str(ctx, &o, "text_format", &text);
    cfg_val_struct(ctx, cfg_obj_get(&o, "json_format"), cfg_obj_path(ctx, &o, "json_format"),
                   &json);
    const struct vt_node *src = cfg_obj_get(&o, "text_format_source");
    cfg_f_bool(ctx, &o, "omit_empty_values", &al->omit_empty_values);
    if (cfg_errors(ctx) != mark)
        return false;
    int set = (text != NULL) + (json != NULL) + (src != NULL);
    if (set == 0) {
        cfg_err_add(ctx->err, n, path,
                    "one of text_format_source, json_format or text_format is required");
        return false;
    }
    if (set > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of text_format_source, json_format and "
                    "text_format may be set (oneof format)");
        return false;
    }
    if (src && !data_source(ctx, src, cfg_obj_path(ctx, &o, "text_format_source"), &text))
        return false;
    al->format = text;
    al->json_format = json;
    return true;
}

static int file_logger(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                       const struct vt_node *at, struct cfg_access_log *al)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    const char *fpath = NULL, *format = NULL;
    const struct vt_node *json = NULL, *typed_json = NULL;
    al->sink = ALOG_SINK_FILE;
    cfg_obj_init(ctx, &o, &file_msg, n, path, CFG_OBJ_ANY);
    cfg_f_str(ctx, &o, "path", &fpath);
    cfg_f_str(ctx, &o, "format", &format);
    cfg_val_struct(ctx, cfg_obj_get(&o, "json_format"), cfg_obj_path(ctx, &o, "json_format"),
                   &json);
    cfg_val_struct(ctx, cfg_obj_get(&o, "typed_json_format"),
                   cfg_obj_path(ctx, &o, "typed_json_format"), &typed_json);
    const struct vt_node *lf = cfg_obj_get(&o, "log_format");
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    if (!fpath || !fpath[0]) {
        cfg_err_add(ctx->err, cfg_obj_get(&o, "path") ? cfg_obj_get(&o, "path") : at,
                    cfg_obj_path(ctx, &o, "path"),
                    "path is required: the file access logger needs a file to write to");
        return -RM_ECONFIG;
    }
    al->path = fpath;
    if ((format != NULL) + (json != NULL) + (typed_json != NULL) + (lf != NULL) > 1) {
        cfg_err_add(ctx->err, n, path,
                    "only one of log_format, format, json_format and "
                    "typed_json_format may be set (oneof access_log_format)");
        return -RM_ECONFIG;
    }
    if (lf)
        return log_format(ctx, lf, cfg_obj_path(ctx, &o, "log_format"), al) ? 0 : -RM_ECONFIG;
    /* An empty deprecated format means Envoy's default format, as in Envoy. */
    al->format = format && format[0] ? format : NULL;
    al->json_format = json ? json : typed_json;
    return 0;
}

static int stream_logger(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                         enum cfg_alog_sink sink, struct cfg_access_log *al)
{
    struct cfg_obj o;
    size_t mark = cfg_errors(ctx);
    al->sink = sink;
    cfg_obj_init(ctx, &o, sink == ALOG_SINK_STDOUT ? &stdout_msg : &stderr_msg, n, path,
                 CFG_OBJ_ANY);
    const struct vt_node *lf = cfg_obj_get(&o, "log_format");
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    if (lf && !log_format(ctx, lf, cfg_obj_path(ctx, &o, "log_format"), al))
        return -RM_ECONFIG;
    return 0;
}

static bool logger_unsupported(const char *type_name, const char *name)
{
    for (size_t i = 0; i < sizeof(unsupported_loggers) / sizeof(unsupported_loggers[0]); i++) {
        if (type_name && strcmp(type_name, unsupported_loggers[i][1]) == 0)
            return true;
        if (!type_name && name && strcmp(name, unsupported_loggers[i][0]) == 0)
            return true;
    }
    return false;
}

static int access_log_sink(struct cfg_ctx *ctx, const struct cfg_obj *ao, const struct vt_node *n,
                           const char *path, struct cfg_access_log *al);

/* One AccessLog: the filter, then the logger (both are checked, so one load reports both). */
static int access_log(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                      struct cfg_access_log *al)
{
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &access_log_msg, n, path, 0))
        return -RM_ECONFIG;
    const struct vt_node *flt = cfg_obj_get(&o, "filter");
    bool filter_ok =
        !flt || cfg_translate_alog_filter(ctx, flt, cfg_obj_path(ctx, &o, "filter"), &al->filter);
    int rc = access_log_sink(ctx, &o, n, path, al);
    if (rc == 0 && !filter_ok)
        rc = ctx->oom ? -RM_ENOMEM : -RM_ECONFIG;
    return rc;
}

static int access_log_sink(struct cfg_ctx *ctx, const struct cfg_obj *ao, const struct vt_node *n,
                           const char *path, struct cfg_access_log *al)
{
    struct cfg_obj o = *ao;
    size_t mark = cfg_errors(ctx);
    const char *name = NULL;
    cfg_f_str(ctx, &o, "name", &name);
    const struct vt_node *tc = cfg_obj_get(&o, "typed_config");
    if (cfg_errors(ctx) != mark)
        return -RM_ECONFIG;
    if (!o.node) {
        cfg_err_add(ctx->err, n, path, "an access log entry needs a name and a typed_config");
        return -RM_ECONFIG;
    }

    static const struct vt_node empty_map = {.kind = VT_MAP};
    if (tc) {
        /* Envoy resolves extensions by the typed_config type; the name is informational. */
        struct cfg_any any;
        const char *tpath = cfg_obj_path(ctx, &o, "typed_config");
        if (!cfg_val_any(ctx, tc, tpath, &any))
            return -RM_ECONFIG;
        if (strcmp(any.type_name, FILE_TYPE) == 0)
            return file_logger(ctx, any.msg, any.path, any.msg, al);
        if (strcmp(any.type_name, STDOUT_TYPE) == 0)
            return stream_logger(ctx, any.msg, any.path, ALOG_SINK_STDOUT, al);
        if (strcmp(any.type_name, STDERR_TYPE) == 0)
            return stream_logger(ctx, any.msg, any.path, ALOG_SINK_STDERR, al);
        if (logger_unsupported(any.type_name, NULL))
            cfg_err_add(ctx->err, tc, tpath, "access logger %s is not supported by Remora yet",
                        any.type_name);
        else
            cfg_err_add(ctx->err, tc, tpath,
                        "Didn't find a registered implementation for '%s' with type URL: '%s'",
                        name ? name : "", any.type_name);
        return -RM_ECONFIG;
    }
    if (!name || !name[0]) {
        cfg_err_add(ctx->err, n, path, "an access log entry needs a typed_config (or a name)");
        return -RM_ECONFIG;
    }
    const char *tpath = cfg_obj_path(ctx, &o, "typed_config");
    if (strcmp(name, FILE_LOGGER) == 0)
        return file_logger(ctx, &empty_map, tpath, n, al);
    if (strcmp(name, STDOUT_LOGGER) == 0)
        return stream_logger(ctx, &empty_map, tpath, ALOG_SINK_STDOUT, al);
    if (strcmp(name, STDERR_LOGGER) == 0)
        return stream_logger(ctx, &empty_map, tpath, ALOG_SINK_STDERR, al);
    if (logger_unsupported(NULL, name))
        cfg_obj_error(ctx, &o, "name", "access logger %s is not supported by Remora yet", name);
    else
        cfg_obj_error(ctx, &o, "name", "Didn't find a registered implementation for name: '%s'",
                      name);
    return -RM_ECONFIG;
}

int cfg_translate_access_logs(struct cfg_ctx *ctx, const struct vt_node *list, const char *path,
                              struct cfg_access_log **out, size_t *n)
{
    size_t count;
    if (!cfg_val_list(ctx, list, path, &count))
        return -RM_ECONFIG;
    if (count == 0)
        return 0;
    struct cfg_access_log *arr = cfg_alloc(ctx, (*n + count) * sizeof(*arr));
    if (!arr)
        return -RM_ENOMEM;
    if (*n)
        memcpy(arr, *out, *n * sizeof(*arr));
    int rc = 0;
    size_t used = *n;
    for (size_t i = 0; i < count; i++) {
        struct cfg_access_log *al = &arr[used];
        int r = access_log(ctx, list->list.items[i], cfg_path_idx(ctx, path, i), al);
        if (r == 0) {
            used++;
            continue;
        }
        memset(al, 0, sizeof(*al)); /* the slot is reused by the next entry */
        if (rc == 0 || r == -RM_ENOMEM)
            rc = r;
    }
    *out = arr;
    *n = used;
    return rc;
}
