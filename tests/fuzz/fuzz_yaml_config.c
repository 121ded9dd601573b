/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_yaml_config.c — libFuzzer target for the config text loader: any bytes
 * through vt_parse_string() (config/yaml.c), then vt_to_json(), a self-merge (vt_merge())
 * and a few lookups on what loaded. Must never crash, leak or hang; errors are fine. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/err.h"
#include "config/value.h"
#include "proxy/err.h"
#include "proxy/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_err err;
    struct vt_doc *doc = NULL;
    struct strbuf sb;

    cfg_err_init(&err);
    sb_init(&sb);
    if (vt_parse_string("fuzz.yaml", (const char *)data, size, &doc, &err) == 0) {
        /* A document that loads must serialise (the limit only guards the fuzzer's RSS). */
        sb.limit = 16u << 20;
        int rc = vt_to_json(doc->root, &sb);
        if (rc != 0 && rc != -RM_ELIMIT)
            __builtin_trap();
        (void)vt_map_get(doc->root, "static_resources");
        (void)vt_map_get(doc->root, "admin");
        /* Merging a tree into itself exercises deep merge, list append and replace on
         * arbitrary shapes (and aliasing between base and overlay). */
        rc = vt_merge(doc, doc->root, doc->root);
        if (rc != 0 && rc != -RM_ENOMEM && rc != -RM_ELIMIT)
            __builtin_trap();
        sb_reset(&sb);
        (void)vt_to_json(doc->root, &sb);
        vt_doc_free(doc);
    } else if (doc != NULL || !cfg_err_failed(&err)) {
        __builtin_trap(); /* a failed load must say why and return nothing */
    }
    sb_fini(&sb);
    cfg_err_fini(&err);
    return 0;
}
