/* SPDX-License-Identifier: Apache-2.0 */
/* config/snapshot.c — reference counting of config snapshots (see snapshot.h). The last
 * snap_unref() may run on any thread: it only frees memory (the model arena and the source
 * document), never touches thread-affine state. */
#include "config/snapshot.h"

#include <stdlib.h>

#include "config/value.h"

struct snapshot *snap_ref(struct snapshot *s)
{
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void snap_unref(struct snapshot *s)
{
    if (!s)
        return;
    /* Release: our writes happen-before the free; acquire on the last one: theirs too. */
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    arena_fini(&s->arena);
    vt_doc_free(s->doc);
    free(s);
}
