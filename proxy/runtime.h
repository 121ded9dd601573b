/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/runtime.h — Envoy's layered runtime: key → value entries from static layers (nested
 * maps flattened to dotted keys), disk layers (a file tree: the file's path under the layer
 * directory with '/' → '.' is the key, its contents the value) and an admin layer changed
 * live by POST /runtime_modify, later layers overriding earlier ones. The main thread owns
 * the layers and publishes an immutable, refcounted snapshot of the final values to every
 * worker, which the router reads for runtime_fraction keys and
 * weighted_clusters.runtime_key_prefix weights: operators shift canary traffic without a
 * config push.
 *
 * Every snapshot (boot, an atomic swap of a disk layer's symlink_root seen by inotify, each
 * /runtime_modify) re-reads every disk layer, as Envoy's loader does. A disk layer whose
 * directory does not exist is left out of the snapshot (not an error); one that cannot be
 * read (I/O error, a limit below) counts runtime.load_error, is logged, and keeps the values
 * of its last good read (Envoy drops such a layer instead: see runtime.c).
 *
 * Files touched (for a sandbox allowlist, see runtime_fs_paths()): per disk layer, the
 * directory holding symlink_root (an inotify watch: IN_MOVED_TO) and, read-only, the tree
 * symlink_root/subdirectory[/<service cluster>] reached through the symlink (opendir,
 * readdir, stat, lstat, realpath, open O_RDONLY|O_NONBLOCK, read). Nothing is written. */
#ifndef RM_RUNTIME_H
#define RM_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct strbuf;
struct worker;

/* Limits on one disk layer read: past any of them the read fails (runtime.load_error) and
 * the layer keeps its last good values, so a runaway directory cannot exhaust memory. */
#define RUNTIME_DISK_MAX_DEPTH 16                /* Envoy's MaxWalkDepth (directory levels) */
#define RUNTIME_DISK_MAX_FILE_BYTES (64 * 1024)  /* one file */
#define RUNTIME_DISK_MAX_KEYS 10000              /* files read as keys */
#define RUNTIME_DISK_MAX_ENTRIES 100000          /* directory entries looked at, of any type */
#define RUNTIME_DISK_MAX_BYTES (4 * 1024 * 1024) /* sum of the values */

/* Immutable values, sorted by key (binary search), keys unique. */
struct runtime_snap {
    int refs; /* atomic */
    size_t n;
    char **keys;
    char **vals;
};

/* Builds the layers from the bootstrap, starts watching the disk layers' symlink roots on
 * srv->base and publishes the first snapshot (main thread). Returns 0, -RM_ENOMEM, or
 * -RM_EIO when a symlink root's directory cannot be watched (logged; Envoy fails too). */
int runtime_init(struct server *srv);
void runtime_fini(struct server *srv);

/* Re-reads every disk layer, rebuilds the merged values and posts them to the workers:
 * what the inotify watch does on a symlink swap. Returns 0 or -RM_ENOMEM. */
int runtime_reload(struct server *srv);

/* Admin: GET /runtime (Envoy's JSON: the layers of the current snapshot and, per key, the
 * final value and each layer's value) and POST /runtime_modify?k=v&... (an empty value
 * removes the admin override). runtime_modify returns an HTTP status (200, or 503 without an
 * admin layer, 400 for a bad query) and writes the body. */
void runtime_render(struct server *srv, struct strbuf *out);
int runtime_modify(struct server *srv, const char *query, struct strbuf *out);

void runtime_snap_unref(struct runtime_snap *rs);
/* The value of |key| in |rs|, or NULL. */
const char *runtime_snap_get(const struct runtime_snap *rs, const char *key);
/* Worker side: the integer value of |key| in |rs|, or |dflt| when absent or not a number.
 * As Envoy reads a runtime number: surrounding whitespace is ignored and a non-negative
 * decimal fraction is rounded down ("12.7" → 12); anything else ("-1", "true", "5%") is not
 * an integer. */
uint64_t runtime_get_uint(const struct runtime_snap *rs, const char *key, uint64_t dflt);

/* Reads the disk layer tree rooted at |dir| (Envoy's DiskLayer walk): every regular file
 * (symlinks followed) at most RUNTIME_DISK_MAX_DEPTH levels down is a key; hidden files are
 * read like any other; other file types are skipped. The value is the file's lines, minus
 * empty lines and lines starting with '#', joined with '\n', the last one with trailing
 * whitespace removed. On success stores a new snapshot (refs 1) in |*out| and returns 0;
 * otherwise writes the reason to |err| and returns -RM_EIO (unreadable), -RM_ELIMIT (a limit
 * above), -RM_EINVAL (a path under /dev, /proc or /sys) or -RM_ENOMEM. */
int runtime_disk_load(const char *dir, struct runtime_snap **out, char *err, size_t errlen);

/* What a sandbox must allow for the configured disk layers (main thread, after
 * runtime_init): calls |fn| once per path. The tree is reached through the symlink, and
 * Landlock checks resolved paths: the rule must also cover where symlink_root points
 * (usually the version directories beside it, i.e. beneath the RUNTIME_FS_WATCH_DIR one). */
enum runtime_fs_access {
    RUNTIME_FS_WATCH_DIR, /* inotify watch on this directory (needs read access to it) */
    RUNTIME_FS_READ_TREE, /* read-only, recursively, through symlinks: the layer directory */
};
void runtime_fs_paths(void (*fn)(void *arg, const char *path, enum runtime_fs_access acc),
                      void *arg);

#endif
