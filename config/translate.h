/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate.h — the value tree → typed model translators (translate_*.c) and the
 * small machinery they share: a field table per Envoy message (every field Envoy's v3 proto
 * has, each marked supported / not supported yet / deprecated / ignored), typed value
 * readers with proto3-JSON rules, and field paths for errors. Translators never stop at the
 * first problem: every error goes to ctx->err with file:line:col and the field path, and
 * translation goes on so one load reports everything. Main thread only. */
#ifndef RM_CONFIG_TRANSLATE_H
#define RM_CONFIG_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/model.h"
#include "config/value.h"
#include "proxy/arena.h"

struct cfg_err;
struct net_filter_def;
struct cfg_check;
struct cfg_tls_server;

/* One translation run (a bootstrap load; later one xDS update). */
struct cfg_ctx {
    struct arena *arena;      /* model objects go here: the snapshot's arena */
    struct cfg_err *err;      /* every error and warning of the run */
    struct cfg_bootstrap *bs; /* the bootstrap being built (complete when checks run) */
    struct arena scratch;     /* field paths and other run-lifetime temporaries */
    struct cfg_check *checks; /* deferred net_filter_def.config_check calls, oldest first */
    struct cfg_check *checks_tail;
    /* While a config_check runs: the typed_config map its config was parsed from, so the
     * check can point errors at the right line (e.g. the cluster name it cannot find). */
    const struct vt_node *check_node;
    bool oom; /* an allocation failed; reported once */
};

/* |arena| receives model objects, |err| the messages, |bs| is the bootstrap under
 * construction (may be NULL for single-resource translations). */
void cfg_ctx_init(struct cfg_ctx *ctx, struct arena *arena, struct cfg_err *err,
                  struct cfg_bootstrap *bs);
/* Releases the scratch arena (field paths die here; model objects do not). */
void cfg_ctx_fini(struct cfg_ctx *ctx);

/* Zeroed model memory from ctx->arena. On failure reports "out of memory" once and returns
 * NULL; callers return -RM_ENOMEM. */
void *cfg_alloc(struct cfg_ctx *ctx, size_t n);
/* Reports "out of memory" (once per run). */
void cfg_oom(struct cfg_ctx *ctx);
/* Copies |s| into ctx->arena (NULL → ""). Returns NULL only on allocation failure. */
const char *cfg_strdup(struct cfg_ctx *ctx, const char *s);

/* Number of errors so far; compare before/after to know whether a step failed. */
size_t cfg_errors(const struct cfg_ctx *ctx);

/* ---- field paths ------------------------------------------------------------------------ */

/* "base.field" ("field" when |base| is empty), in the scratch arena. Never NULL. */
const char *cfg_path(struct cfg_ctx *ctx, const char *base, const char *field);
/* "base[idx]". Never NULL. */
const char *cfg_path_idx(struct cfg_ctx *ctx, const char *base, size_t idx);

/* ---- message field tables --------------------------------------------------------------- */

enum cfg_use {
    CFG_SUPPORTED,    /* translated by Remora */
    CFG_UNSUPPORTED,  /* Envoy knows it, Remora does not implement it yet: error, unless
                       * the value is |inert| (equal to Envoy's default behaviour) */
    CFG_DEPRECATED,   /* deprecated in Envoy's v3 API, still translated: warning */
    CFG_DEPR_IGNORED, /* deprecated in Envoy and without effect in Remora: warning */
    CFG_IGNORED,      /* accepted, no effect in Remora and no effect on traffic: warning */
    CFG_NOOP,         /* informational (or no effect by construction): accepted silently */
    CFG_REMOVED,      /* reserved in the v3 API (removed v2 field): unknown, with a hint */
};

struct cfg_field {
    const char *name; /* snake_case, as in Envoy's .proto; lowerCamelCase is accepted too */
    enum cfg_use use;
    const char *inert; /* CFG_UNSUPPORTED: value accepted silently: "false", "0", "DEFAULT"
                        * (enum names compare case-insensitively), "" (empty string),
                        * "[]" (empty list), "{}" (empty map); NULL = none */
    const char *note;  /* appended to the message: why, or what to use instead; may be NULL */
};

/* One Envoy message: its full proto name (for "unknown field" errors) and field table. */
struct cfg_type {
    const char *type;
    const struct cfg_field *fields;
    size_t n_fields;
};

#define CFG_TYPE(var, type_name, table)                                                            \
    static const struct cfg_type var = {(type_name), (table), sizeof(table) / sizeof(table[0])}

#define CFG_FIELDS_MAX 64

/* A walked message: the value of each field of msg->fields (NULL when absent or null). */
struct cfg_obj {
    const struct cfg_type *msg;
    const struct vt_node *node; /* the map; NULL when the message is unset */
    const char *path;
    const struct vt_node *vals[CFG_FIELDS_MAX];
};

#define CFG_OBJ_ANY 0x1u /* |node| is the body of a google.protobuf.Any: skip "@type" */

/* Walks |node| as message |msg| at |path|: reports unknown fields (Envoy's wording:
 * `unknown field "x" in envoy.config...`), fields Remora does not support yet, deprecated and
 * ignored fields; the last of duplicate keys wins and a null value means unset. Fields that
 * are not CFG_SUPPORTED/CFG_DEPRECATED read as NULL afterwards. Returns false (error added)
 * when |node| is neither unset nor a map; then |o| reads as an unset message. */
bool cfg_obj_init(struct cfg_ctx *ctx, struct cfg_obj *o, const struct cfg_type *msg,
                  const struct vt_node *node, const char *path, unsigned flags);
/* The value of |field| (which must be in the table), or NULL. */
const struct vt_node *cfg_obj_get(const struct cfg_obj *o, const char *field);
/* Path of |field| of |o|. */
const char *cfg_obj_path(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field);
/* Adds an error about |field| of |o|, located at its value (or at the message when the
 * field is absent, e.g. "x is required"). */
void cfg_obj_error(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

/* ---- typed values ------------------------------------------------------------------------
 * Every reader takes the value node |n| and its |path|. An unset value (NULL or VT_NULL)
 * leaves *out alone (the caller's default) and returns true. A value of the wrong form adds
 * an error and returns false, leaving *out alone. The cfg_f_* forms read field |field| of a
 * walked message. */

/* Strings. YAML scalars written without quotes ("name: 8080") are taken as written.
 * The result is copied into ctx->arena. */
bool cfg_val_str(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, const char **out);
/* Booleans: true/false (YAML also y/n/yes/no/on/off, as yaml-cpp reads them for Envoy). */
bool cfg_val_bool(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, bool *out);
/* Integers: numbers (YAML hex 0x1f and octal 017 as in Envoy) or decimal strings (proto3
 * JSON writes 64-bit integers as strings). Also the wrapper types (UInt32Value etc.), which
 * proto3 JSON writes as plain numbers. Range-checked against the type. */
bool cfg_val_u32(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, uint32_t *out);
bool cfg_val_u64(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, uint64_t *out);
bool cfg_val_i64(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, int64_t *out);

/* google.protobuf.Duration: proto3 JSON string "1.5s", "0.25s", "15s" (up to 9 fraction
 * digits, 's' required), or the map form {seconds, nanos}. Negative durations are errors
 * everywhere (as in Envoy). */
struct cfg_duration {
    int64_t seconds;
    int32_t nanos;
};
bool cfg_val_duration(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                      struct cfg_duration *out);
/* The same, converted to milliseconds (truncated, as Envoy's PROTOBUF_GET_MS does). */
bool cfg_val_duration_ms(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                         uint64_t *out_ms);
uint64_t cfg_duration_to_ms(const struct cfg_duration *d);

/* Enums: names case-insensitively (Envoy parses with case_insensitive_enum_parsing) or
 * numbers. Values Envoy has but Remora does not support are errors "X is not supported by
 * Remora yet". */
struct cfg_enum_val {
    const char *name;
    int num;
    bool supported;
};
struct cfg_enum {
    const char *type; /* full proto name, for errors */
    const struct cfg_enum_val *vals;
    size_t n;
};
#define CFG_ENUM(var, type_name, table)                                                            \
    static const struct cfg_enum var = {(type_name), (table), sizeof(table) / sizeof(table[0])}
bool cfg_val_enum(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                  const struct cfg_enum *e, int *out);

/* Lists: sets *count to the number of items (0 when unset). False when |n| is not a list. */
bool cfg_val_list(struct cfg_ctx *ctx, const struct vt_node *n, const char *path, size_t *count);

bool cfg_f_str(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, const char **out);
bool cfg_f_bool(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, bool *out);
bool cfg_f_u32(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, uint32_t *out);
bool cfg_f_u64(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, uint64_t *out);
bool cfg_f_duration_ms(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field,
                       uint64_t *out_ms);
bool cfg_f_enum(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field,
                const struct cfg_enum *e, int *out);
bool cfg_f_list(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, size_t *count);

/* google.protobuf.Struct (node metadata, json_format): must be a map; kept as written. */
bool cfg_val_struct(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                    const struct vt_node **out);

/* ---- google.protobuf.Any ----------------------------------------------------------------- */

struct cfg_any {
    const char *type_url;      /* "type.googleapis.com/envoy.extensions....TcpProxy" */
    const char *type_name;     /* the part after the last '/' */
    const struct vt_node *msg; /* map holding the message fields (may contain "@type") */
    const char *path;          /* path of |msg| */
};
/* Reads an Any: a map with "@type". xds.type.v3.TypedStruct / udpa.type.v1.TypedStruct
 * wrappers are unwrapped (type_url + value), as Envoy does for extension configs.
 * Returns false (error added) when |n| is not such a map. |n| must be set. */
bool cfg_val_any(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                 struct cfg_any *out);

/* ---- addresses --------------------------------------------------------------------------- */

enum cfg_addr_use {
    CFG_ADDR_BIND,     /* listener/admin: IP literal, port 0..65535 (0 = ephemeral) */
    CFG_ADDR_STATIC,   /* STATIC endpoint: IP literal, port 1..65535 */
    CFG_ADDR_DNS_NAME, /* STRICT_DNS/LOGICAL_DNS endpoint: IP literal or hostname, port 1.. */
};

/* Reads an envoy.config.core.v3.Address (socket_address only; pipe and internal addresses
 * are not supported yet). Fills *host (as written) and *port, and |addr| when the host is an
 * IP literal (always, unless |use| is CFG_ADDR_DNS_NAME). |n| must be set. Returns false
 * with errors added when the address is unusable. */
bool cfg_val_address(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                     enum cfg_addr_use use, struct cfg_addr *addr, const char **host,
                     uint32_t *port);
/* Fills |a| from an IP literal and port (strings in ctx->arena). Returns false when |ip| is
 * not an IPv4/IPv6 literal (no error added) and on allocation failure. */
bool cfg_addr_set(struct cfg_ctx *ctx, struct cfg_addr *a, const char *ip, uint32_t port);

/* Reads a core.v3.TransportSocket: the plaintext socket (envoy.transport_sockets.
 * raw_buffer), or, where |tls| is given (listeners), a DownstreamTlsContext into *tls
 * (config/translate_tls.c). Anything else is reported as not supported yet.
 * Returns true when the socket is plaintext. |n| must be set. */
bool cfg_val_transport_socket(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                              const struct cfg_tls_server **tls);

/* config/translate_tls.c */
bool cfg_tls_downstream_is(const char *type_name);
const struct cfg_tls_server *
cfg_translate_downstream_tls(struct cfg_ctx *ctx, const struct vt_node *msg, const char *path);

/* ---- deferred cross-reference checks ----------------------------------------------------- */

/* Records def->config_check(ctx, config, path) to run once the whole bootstrap is built.
 * |node| is the typed_config map |config| came from (ctx->check_node during the check). */
void cfg_defer_check(struct cfg_ctx *ctx, const struct net_filter_def *def, const void *config,
                     const struct vt_node *node, const char *path);
/* Runs the recorded checks in order. */
void cfg_run_checks(struct cfg_ctx *ctx);

/* ---- translators (0, -RM_ECONFIG with errors in ctx->err, or -RM_ENOMEM) ----------------- */

/* envoy.config.bootstrap.v3.Bootstrap at |root| into ctx->bs (translate_bootstrap.c). */
int cfg_translate_bootstrap(struct cfg_ctx *ctx, const struct vt_node *root);

/* static_resources.listeners: every listener, then Envoy's cross-listener validation
 * (duplicate names, duplicate addresses). Fills ctx->bs->listeners (translate_listener.c). */
int cfg_translate_listeners(struct cfg_ctx *ctx, const struct vt_node *list, const char *path);
/* One envoy.config.listener.v3.Listener (an unnamed one gets a UUID name, as in Envoy). */
int cfg_translate_listener(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                           struct cfg_listener *out);

/* static_resources.clusters: every cluster, then duplicate names. Fills ctx->bs->clusters
 * (translate_cluster.c). A cluster with errors still enters the list when it has a name, so
 * references to it do not add "unknown cluster" noise. */
int cfg_translate_clusters(struct cfg_ctx *ctx, const struct vt_node *list, const char *path);
int cfg_translate_cluster(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                          struct cfg_cluster *out);

/* repeated envoy.config.accesslog.v3.AccessLog at |list| (translate_access_log.c). Appends
 * to (*out, *n), which may already hold entries (allocated from ctx->arena). */
int cfg_translate_access_logs(struct cfg_ctx *ctx, const struct vt_node *list, const char *path,
                              struct cfg_access_log **out, size_t *n);

#endif
