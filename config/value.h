/* SPDX-License-Identifier: Apache-2.0 */
/* config/value.h — the generic value tree every config source becomes (YAML and JSON text
 * now, protobuf from xDS later): maps, lists, scalars and nulls, each with its source
 * position. Translators (translate_*.c) turn a tree into the typed model (model.h).
 * A tree lives in its document's arena; nodes are immutable once the loader returns,
 * except through vt_merge(). Not thread-safe; built and read on the main thread. */
#ifndef RM_CONFIG_VALUE_H
#define RM_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/arena.h"

struct cfg_err;

enum vt_kind {
    VT_NULL,   /* YAML null/~/empty or JSON null: "unset" under proto3-JSON rules */
    VT_SCALAR, /* every YAML scalar and JSON string/number/bool, kept as text */
    VT_MAP,
    VT_LIST,
};

struct vt_pos {
    const char *file; /* display name ("bootstrap.yaml", "--config-yaml"); arena-owned */
    uint32_t line;    /* 1-based; 0 = unknown (e.g. from protobuf) */
    uint32_t col;     /* 1-based */
};

struct vt_node;

struct vt_pair {
    const char *key; /* as written (snake_case or lowerCamelCase), NUL-terminated */
    struct vt_pos key_pos;
    struct vt_node *val;
};

struct vt_node {
    enum vt_kind kind;
    struct vt_pos pos;
    union {
        struct {
            const char *s; /* NUL-terminated; may contain NUL for base64 bytes? no: text */
            size_t len;
            bool quoted; /* YAML quoted/literal scalar or JSON string (never null/bool/num) */
        } scalar;
        struct {
            struct vt_pair *items; /* in document order; duplicates kept, last one wins */
            size_t n;
        } map;
        struct {
            struct vt_node **items;
            size_t n;
        } list;
    };
};

struct vt_doc {
    struct arena arena; /* owns every node, string and position of this document */
    struct vt_node *root;
};

/* Parses YAML (and therefore JSON, which the loader also accepts as flow YAML) from the
 * file at |path|. |display| names the file in positions (NULL = |path|). On success returns
 * 0 and a new document in |*out| (free with vt_doc_free()). On failure returns -RM_ECONFIG
 * (or -RM_EIO when the file cannot be read) and adds "file:line:col: message" entries to
 * |err|. Multi-document streams, anchors that loop, and non-string map keys are errors.
 * YAML aliases are expanded; the tag "!ignore" drops the key it is attached to. */
int vt_parse_file(const char *path, const char *display, struct vt_doc **out,
                  struct cfg_err *err);
/* Same for text already in memory; |display| names it ("--config-yaml"). */
int vt_parse_string(const char *display, const char *text, size_t len, struct vt_doc **out,
                    struct cfg_err *err);
void vt_doc_free(struct vt_doc *doc);

/* Looks up |snake_key| in |map| (a VT_MAP; returns NULL for any other kind), accepting the
 * key written in snake_case or in lowerCamelCase ("per_connection_buffer_limit_bytes" or
 * "perConnectionBufferLimitBytes"). With duplicates the last one wins. Returns NULL when
 * absent. A present key whose value is VT_NULL is returned as is (callers treat as unset). */
const struct vt_node *vt_map_get(const struct vt_node *map, const char *snake_key);

/* Writes the snake_case form of |key| ("perConnectionBufferLimitBytes" →
 * "per_connection_buffer_limit_bytes") into |out| (|cap| bytes, NUL-terminated). Returns
 * the length, or -1 if it did not fit. Keys already in snake_case come back unchanged. */
int vt_key_to_snake(const char *key, char *out, size_t cap);

/* Merges |overlay| into |base| with protobuf MergeFrom semantics, which is what Envoy does
 * for --config-yaml over --config-path: maps merge key by key (recursively), lists are
 * appended, scalars and nulls replace. Keys are compared in snake_case form. Nodes of
 * |overlay| are copied into |doc|'s arena. Returns 0 or -RM_ENOMEM. */
int vt_merge(struct vt_doc *doc, struct vt_node *base, const struct vt_node *overlay);

/* Scalar helpers. Each returns true when |n| is a VT_SCALAR of the right form. */
bool vt_scalar_is(const struct vt_node *n, const char *s); /* exact text match */

/* Appends |n| as compact JSON to a malloc'd growing buffer (keys converted to snake_case,
 * scalars that are not quoted and look like numbers/bools emitted bare). Returns 0 or
 * -RM_ENOMEM. Used by /config_dump. */
struct strbuf;
int vt_to_json(const struct vt_node *n, struct strbuf *out);

#endif
