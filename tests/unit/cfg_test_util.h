/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/cfg_test_util.h — the scaffolding every config-translation unit test repeats:
 * parse a YAML snippet into a document, open a translation context on a fresh arena and
 * error list, and release all of it. Header-only; include after <cmocka.h>. */
#ifndef RM_TESTS_CFG_TEST_UTIL_H
#define RM_TESTS_CFG_TEST_UTIL_H

#include <string.h>

#include "config/err.h"
#include "config/translate.h"
#include "config/value.h"
#include "proxy/arena.h"

/* What a translated snippet keeps alive: the model's arena, the messages, the document. */
struct cfg_doc {
    struct arena arena;
    struct vt_doc *doc;
    struct cfg_err err;
};

/* Parses |yaml| (|file| names it in messages; the parse must succeed) and opens |ctx| on
 * |d|'s arena and error list, with no bootstrap. Translate, then cfg_ctx_fini(ctx). */
static inline void cfg_doc_open(struct cfg_doc *d, const char *file, const char *yaml,
                                struct cfg_ctx *ctx)
{
    arena_init(&d->arena, 0);
    cfg_err_init(&d->err);
    assert_int_equal(vt_parse_string(file, yaml, strlen(yaml), &d->doc, &d->err), 0);
    cfg_ctx_init(ctx, &d->arena, &d->err, NULL);
}

static inline void cfg_doc_close(struct cfg_doc *d)
{
    vt_doc_free(d->doc);
    cfg_err_fini(&d->err);
    arena_fini(&d->arena);
}

#endif
