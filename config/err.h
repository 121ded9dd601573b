/* SPDX-License-Identifier: Apache-2.0 */
/* config/err.h — an accumulating list of configuration errors and warnings.
 * Every entry carries file:line:column (when the value came from text) and the field path,
 * so an operator can go straight to the mistake. Translators never stop at the first error.
 * The same list becomes an xDS NACK's error_detail later. Not thread-safe: one list per load. */
#ifndef RM_CONFIG_ERR_H
#define RM_CONFIG_ERR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct vt_node;

enum cfg_sev { CFG_ERROR, CFG_WARNING };

/* Text format: "<file>:<line>:<col>: <path>: <message>". Parts that are missing are left
 * out with their separator: no position → "<path>: <message>"; no path →
 * "<file>:<line>:<col>: <message>"; a file without a line → "<file>: ..."; col 0 → no col.
 * Limits: at most 1000 entries are stored (later ones are still counted in n_errors /
 * n_warnings, and cfg_err_print() says how many were not shown); a text longer than 4 KiB
 * is cut and ends in "...". */
struct cfg_msg {
    enum cfg_sev sev;
    char *text; /* fully formatted (see above); owned by the list, freed by cfg_err_fini() */
};

struct cfg_err {
    struct cfg_msg *msgs; /* malloc'd array */
    size_t n, cap;
    size_t n_errors;   /* entries with sev == CFG_ERROR */
    size_t n_warnings; /* entries with sev == CFG_WARNING */
};

void cfg_err_init(struct cfg_err *e);
void cfg_err_fini(struct cfg_err *e);

/* Adds an error located at |node| (may be NULL: no position) whose field path is |path|
 * (may be NULL or ""). The message is printf-formatted. Never fails: on allocation failure
 * the message is replaced by a static "out of memory" entry so the error count stays right. */
void cfg_err_add(struct cfg_err *e, const struct vt_node *node, const char *path, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
void cfg_warn_add(struct cfg_err *e, const struct vt_node *node, const char *path, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* Adds an error at an explicit position (used by the YAML/JSON loaders before a node exists). */
void cfg_err_add_at(struct cfg_err *e, const char *file, uint32_t line, uint32_t col,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static inline bool cfg_err_failed(const struct cfg_err *e)
{
    return e->n_errors > 0;
}

/* Prints every message, one per line, prefixed "error: " or "warning: ", in the order they
 * were added; then one "... and N more" line per severity when entries were not stored. */
void cfg_err_print(const struct cfg_err *e, FILE *out);

#endif
