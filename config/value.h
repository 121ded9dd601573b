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

/* Deepest nesting of maps/lists any loader produces and vt_merge()/vt_to_json() accept
 * (a scalar at the bottom does not count). Deeper input is a config error, not a crash. */
#define VT_MAX_DEPTH 256

/* Creates an empty document (root NULL, fresh arena) for loaders that build trees by hand
 * (protobuf, tests). Returns 0 and the document in |*out|, or -RM_ENOMEM. */
int vt_doc_new(struct vt_doc **out);

/* Parses YAML (and therefore JSON, which the loader also accepts as flow YAML) from the
 * file at |path|. |display| names the file in positions (NULL = |path|). On success returns
 * 0 and a new document in |*out| (free with vt_doc_free()). On failure returns -RM_ECONFIG
 * (or -RM_EIO when the file cannot be read, -RM_ENOMEM when memory ran out), sets |*out| to
 * NULL and adds "file:line:col: message" entries to |err|. Multi-document streams, anchors
 * that loop, and non-string map keys are errors.
 * YAML aliases are expanded; the tag "!ignore" drops the key it is attached to.
 * Details (config/yaml.c):
 *  - Positions are 1-based; a map/list/scalar starts at its first character, including an
 *    anchor or tag written before it; an alias copy keeps the anchored text's positions.
 *  - Plain null, Null, NULL, ~ and an empty plain value are VT_NULL (their text is kept in
 *    scalar.s so they can still serve as map keys); every other scalar is VT_SCALAR with
 *    quoted = (style is not plain). Tags other than !ignore are ignored, like Envoy does.
 *  - "!ignore" on a map key or on its value drops the pair (on a list item it is ignored).
 *  - An empty stream, or a document whose root is null, is "empty configuration".
 *  - Limits: nesting deeper than VT_MAX_DEPTH, more than 1,000,000 nodes created by alias
 *    expansion, and files above 64 MiB are errors. Errors that do not stop the parser
 *    (bad keys, unknown aliases) are all reported before failing. */
int vt_parse_file(const char *path, const char *display, struct vt_doc **out, struct cfg_err *err);
/* Same for text already in memory; |display| names it ("--config-yaml"). */
int vt_parse_string(const char *display, const char *text, size_t len, struct vt_doc **out,
                    struct cfg_err *err);
/* Releases |doc| and every node and string in it; NULL is a no-op. */
void vt_doc_free(struct vt_doc *doc);

/* Looks up |snake_key| in |map| (a VT_MAP; returns NULL for any other kind), accepting the
 * key written in snake_case or in lowerCamelCase ("per_connection_buffer_limit_bytes" or
 * "perConnectionBufferLimitBytes"). With duplicates the last one wins. Returns NULL when
 * absent. A present key whose value is VT_NULL is returned as is (callers treat as unset). */
const struct vt_node *vt_map_get(const struct vt_node *map, const char *snake_key);

/* Writes the snake_case form of |key| ("perConnectionBufferLimitBytes" →
 * "per_connection_buffer_limit_bytes") into |out| (|cap| bytes, NUL-terminated). Returns
 * the length, or -1 if it did not fit. Keys already in snake_case come back unchanged.
 * Rule: each ASCII capital becomes '_' + its lower case, without the '_' at the start of
 * the key or right after a '_' ("URL" → "u_r_l", "Foo" → "foo", "a_B" → "a_b").
 * Note vt_map_get() matches the protobuf way (the key equals |snake_key| or its JSON name,
 * protobuf's ToJsonName), which also covers "foo2bar" for "foo_2bar". */
int vt_key_to_snake(const char *key, char *out, size_t cap);

/* Merges |overlay| into |base| with protobuf MergeFrom semantics, which is what Envoy does
 * for --config-yaml over --config-path: maps merge key by key (recursively), lists are
 * appended, scalars and nulls replace. Keys are compared in snake_case form. Nodes of
 * |overlay| are copied into |doc|'s arena. Returns 0 or -RM_ENOMEM. */
int vt_merge(struct vt_doc *doc, struct vt_node *base, const struct vt_node *overlay);
/* Notes on vt_merge(): when |overlay| repeats a key, only its last occurrence is merged
 * (that is the one that counts); in |base| the last occurrence is the one merged into. A
 * replaced value takes the overlay's key spelling and position, so later errors point at
 * the text that set it. |base| and |overlay| may be the same node; a NULL |overlay| is a
 * no-op. Also returns -RM_ELIMIT if the result would nest deeper than VT_MAX_DEPTH, and
 * -RM_EINVAL if |base| is NULL. After any failure |base| may be partly merged (still a
 * valid tree): report the error and drop the document. */

/* Scalar helpers. Each returns true when |n| is a VT_SCALAR of the right form. */
bool vt_scalar_is(const struct vt_node *n, const char *s); /* exact text match */

/* Appends |n| as compact JSON to a malloc'd growing buffer (keys converted to snake_case,
 * scalars that are not quoted and look like numbers/bools emitted bare). Returns 0 or
 * -RM_ENOMEM. Used by /config_dump.
 * Details: a bare scalar is exactly "true", "false" or an RFC 8259 number
 * (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?); anything else is a JSON string. VT_NULL
 * and a NULL |n| give null. Duplicate keys (also "fooBar" next to "foo_bar") are written
 * once, with the last value, which is the one translators see. Every key is rewritten to
 * snake_case, including keys of free-form Struct maps (metadata). Also returns -RM_ELIMIT
 * when |out|'s limit is reached or the tree nests deeper than VT_MAX_DEPTH; after a failure
 * the contents of |out| are unspecified (out->failed says why). */
struct strbuf;
int vt_to_json(const struct vt_node *n, struct strbuf *out);

#endif
