/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/runtime.c — see runtime.h. Main thread only, except runtime_get_uint() /
 * runtime_snap_get() / runtime_snap_unref() on a published snapshot.
 *
 * Envoy's loader (source/common/runtime/runtime_impl.cc, LoaderImpl::createNewSnapshot)
 * rebuilds every layer for each snapshot; so does load(). The one deliberate difference: a
 * disk layer that fails to load keeps its last good values here, where Envoy leaves the
 * layer out until the next good read (its own TODO suggests latching). Counting, logging and
 * the stats are otherwise Envoy's. */
#include "proxy/runtime.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/model.h"
#include "config/value.h"
#include "proxy/err.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "proxy/stats.h"
#include "proxy/strbuf.h"
#include "proxy/worker.h"

/* ---- key/value lists and snapshots ---------------------------------------------------------- */

/* A growable list of owned key/value strings (a layer being built, the admin layer). */
struct kvlist {
    size_t n, cap;
    char **keys, **vals;
};

static void kv_fini(struct kvlist *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->keys[i]);
        free(kv->vals[i]);
    }
    free(kv->keys);
    free(kv->vals);
    memset(kv, 0, sizeof(*kv));
}

/* Appends copies of |key| → |val| (|vlen| bytes). Duplicates are resolved by snap_from_kv. */
static int kv_add(struct kvlist *kv, const char *key, const char *val, size_t vlen)
{
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? kv->cap * 2 : 8;
        char **k = realloc(kv->keys, cap * sizeof(*k));
        if (!k)
            return -RM_ENOMEM;
        kv->keys = k;
        char **v = realloc(kv->vals, cap * sizeof(*v));
        if (!v)
            return -RM_ENOMEM;
        kv->vals = v;
        kv->cap = cap;
    }
    char *k = strdup(key), *v = strndup(val, vlen);
    if (!k || !v) {
        free(k);
        free(v);
        return -RM_ENOMEM;
    }
    kv->keys[kv->n] = k;
    kv->vals[kv->n] = v;
    kv->n++;
    return 0;
}

/* Admin layer edits: set replaces in place, unset removes. */
static int kv_set(struct kvlist *kv, const char *key, const char *val)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->keys[i], key) == 0) {
            char *v = strdup(val);
            if (!v)
                return -RM_ENOMEM;
            free(kv->vals[i]);
            kv->vals[i] = v;
            return 0;
        }
    return kv_add(kv, key, val, strlen(val));
}

static void kv_unset(struct kvlist *kv, const char *key)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->keys[i], key) == 0) {
            free(kv->keys[i]);
            free(kv->vals[i]);
            kv->keys[i] = kv->keys[kv->n - 1];
            kv->vals[i] = kv->vals[kv->n - 1];
            kv->n--;
            return;
        }
}

void runtime_snap_unref(struct runtime_snap *rs)
{
    if (!rs || __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->keys[i]);
        free(rs->vals[i]);
    }
    free(rs->keys);
    free(rs->vals);
    free(rs);
}

static int cmp_idx(const void *a, const void *b, void *keys)
{
    char **k = keys;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(k[x], k[y]);
    return c ? c : (x < y ? -1 : x > y); /* stable: equal keys keep their order */
}

/* A snapshot of |kv| sorted by key; for a key given more than once the last one wins (a
 * later layer, a later file of the walk). Takes the strings of |kv|, which is left empty. */
static struct runtime_snap *snap_from_kv(struct kvlist *kv)
{
    size_t n = kv->n;
    struct runtime_snap *rs = calloc(1, sizeof(*rs));
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    if (rs) {
        rs->keys = malloc((n ? n : 1) * sizeof(char *));
        rs->vals = malloc((n ? n : 1) * sizeof(char *));
    }
    if (!rs || !idx || !rs->keys || !rs->vals) {
        if (rs) {
            free(rs->keys);
            free(rs->vals);
        }
        free(rs);
        free(idx);
        kv_fini(kv);
        return NULL;
    }
    rs->refs = 1;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), cmp_idx, kv->keys);
    for (size_t i = 0; i < n; i++) {
        size_t j = idx[i];
        if (i + 1 < n && strcmp(kv->keys[j], kv->keys[idx[i + 1]]) == 0) {
            free(kv->keys[j]); /* overridden by the next one */
            free(kv->vals[j]);
            continue;
        }
        rs->keys[rs->n] = kv->keys[j];
        rs->vals[rs->n] = kv->vals[j];
        rs->n++;
    }
    free(idx);
    free(kv->keys);
    free(kv->vals);
    memset(kv, 0, sizeof(*kv));
    return rs;
}

const char *runtime_snap_get(const struct runtime_snap *rs, const char *key)
{
    size_t lo = 0, hi = rs ? rs->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(rs->keys[mid], key);
        if (c == 0)
            return rs->vals[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

uint64_t runtime_get_uint(const struct runtime_snap *rs, const char *key, uint64_t dflt)
{
    const char *v = runtime_snap_get(rs, key);
    if (!v)
        return dflt;
    while (isspace((unsigned char)*v))
        v++;
    if (!isdigit((unsigned char)*v))
        return dflt;
    uint64_t x = 0;
    for (; isdigit((unsigned char)*v); v++) {
        if (x > (UINT64_MAX - 9) / 10)
            return dflt;
        x = x * 10 + (uint64_t)(*v - '0');
    }
    if (*v == '.') /* Envoy keeps a double and rounds it down for integer reads */
        for (v++; isdigit((unsigned char)*v); v++)
            ;
    while (isspace((unsigned char)*v))
        v++;
    return *v ? dflt : x;
}

/* ---- disk layers: reading a tree --------------------------------------------------------- */

struct walk {
    struct kvlist kv;
    size_t entries, bytes;
    char *err;
    size_t errlen;
};

static int walk_fail(struct walk *w, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int walk_fail(struct walk *w, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, w->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Envoy's illegalPath(): the canonical path must exist and not be under /dev, /proc, /sys. */
static int check_path(struct walk *w, const char *path)
{
    char *real = realpath(path, NULL);
    if (!real)
        return walk_fail(w, errno == ENOMEM ? -RM_ENOMEM : -RM_EIO, "invalid path %s: %s", path,
                         strerror(errno));
    bool bad = under(real, "/dev") || under(real, "/proc") || under(real, "/sys");
    if (bad)
        walk_fail(w, -RM_EINVAL, "invalid path %s (resolves to %s)", path, real);
    free(real);
    return bad ? -RM_EINVAL : 0;
}

/* Envoy's value of a runtime file: the lines (split on '\n', empty ones dropped) that do not
 * start with '#', each followed by '\n' except the one equal to the last line, which is
 * right-trimmed instead. Writes the value over |buf| and returns its length. */
static size_t file_value(char *buf, size_t n)
{
    const char *last = NULL;
    size_t last_len = 0;
    for (size_t i = 0; i < n;) { /* find the last non-empty line */
        size_t e = i;
        while (e < n && buf[e] != '\n')
            e++;
        if (e > i) {
            last = buf + i;
            last_len = e - i;
        }
        i = e + 1;
    }
    char *out = buf;
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && buf[e] != '\n')
            e++;
        const char *line = buf + i;
        size_t ll = e - i;
        i = e + 1;
        if (ll == 0 || line[0] == '#')
            continue;
        bool is_last = ll == last_len && memcmp(line, last, ll) == 0;
        if (is_last)
            while (ll > 0 && strchr(" \t\f\v\r\n", line[ll - 1]))
                ll--;
        memmove(out + len, line, ll); /* the output never overtakes the input */
        len += ll;
        if (!is_last)
            out[len++] = '\n';
    }
    return len;
}

static int read_file(struct walk *w, const char *path, const char *key)
{
    if (w->kv.n >= RUNTIME_DISK_MAX_KEYS)
        return walk_fail(w, -RM_ELIMIT, "more than %d keys (files) in the layer, at %s",
                         RUNTIME_DISK_MAX_KEYS, path);
    /* O_NONBLOCK: a FIFO swapped in after stat() must not block the main thread. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return walk_fail(w, -RM_EIO, "unable to read file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return walk_fail(w, -RM_EIO, "unable to read file %s: not a regular file", path);
    }
    if (st.st_size > RUNTIME_DISK_MAX_FILE_BYTES) {
        close(fd);
        return walk_fail(w, -RM_ELIMIT, "file %s is %lld bytes, above the limit of %d bytes", path,
                         (long long)st.st_size, RUNTIME_DISK_MAX_FILE_BYTES);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0; /* +1: notices a file that grew */
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return walk_fail(w, -RM_ENOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return walk_fail(w, -RM_EIO, "unable to read file %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            if (cap > RUNTIME_DISK_MAX_FILE_BYTES) {
                close(fd);
                free(buf);
                return walk_fail(w, -RM_ELIMIT, "file %s grew above the limit of %d bytes", path,
                                 RUNTIME_DISK_MAX_FILE_BYTES);
            }
            size_t ncap = cap * 2 > RUNTIME_DISK_MAX_FILE_BYTES + 1
                              ? RUNTIME_DISK_MAX_FILE_BYTES + 1
                              : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                close(fd);
                free(buf);
                return walk_fail(w, -RM_ENOMEM, "out of memory reading %s", path);
            }
            buf = nb;
            cap = ncap;
        }
    }
    close(fd);
    size_t len = file_value(buf, n);
    if (w->bytes + len > RUNTIME_DISK_MAX_BYTES) {
        free(buf);
        return walk_fail(w, -RM_ELIMIT, "the layer's values pass %d bytes, at %s",
                         RUNTIME_DISK_MAX_BYTES, path);
    }
    w->bytes += len;
    log_debug(LC_RUNTIME, "runtime: reading file %s (key %s)", path, key);
    int rc = kv_add(&w->kv, key, buf, len);
    free(buf);
    return rc < 0 ? walk_fail(w, rc, "out of memory reading %s", path) : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists |path| into a sorted array of names (without "." and ".."). Sorting makes the
 * layer deterministic where Envoy follows readdir order (it only matters when "a.b" is both
 * a file and the file b of directory a: the later one wins). */
static int list_dir(struct walk *w, const char *path, char ***names_out, size_t *n_out)
{
    DIR *d = opendir(path);
    if (!d)
        return walk_fail(w, -RM_EIO, "unable to open directory %s: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = walk_fail(w, -RM_EIO, "unable to iterate directory %s: %s", path,
                               strerror(errno));
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (++w->entries > RUNTIME_DISK_MAX_ENTRIES) {
            rc = walk_fail(w, -RM_ELIMIT, "more than %d directory entries in the layer, at %s",
                           RUNTIME_DISK_MAX_ENTRIES, path);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                rc = walk_fail(w, -RM_ENOMEM, "out of memory listing %s", path);
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = walk_fail(w, -RM_ENOMEM, "out of memory listing %s", path);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    *names_out = names;
    *n_out = n;
    return 0;
}

/* Envoy's DiskLayer::walkDirectory: |path| is the directory, |key| the key prefix ("" at
 * the layer root). Both buffers are PATH_MAX bytes and restored on return. */
static int walk_dir(struct walk *w, char *path, char *key, unsigned depth)
{
    if (depth > RUNTIME_DISK_MAX_DEPTH)
        return walk_fail(w, -RM_ELIMIT, "walk recursion depth exceeded %d at %s",
                         RUNTIME_DISK_MAX_DEPTH, path);
    int rc = check_path(w, path);
    if (rc < 0)
        return rc;
    char **names = NULL;
    size_t n = 0;
    if ((rc = list_dir(w, path, &names, &n)) < 0)
        return rc;
    size_t plen = strlen(path), klen = strlen(key);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = names[i];
        int pl = snprintf(path + plen, PATH_MAX - plen, "/%s", name);
        int kl = snprintf(key + klen, PATH_MAX - klen, "%s%s", klen ? "." : "", name);
        if (pl < 0 || (size_t)pl >= PATH_MAX - plen || kl < 0 || (size_t)kl >= PATH_MAX - klen) {
            path[plen] = '\0';
            rc = walk_fail(w, -RM_ELIMIT, "path too long under %s", path);
            break;
        }
        struct stat st;
        bool regular = false, dir = false;
        if (stat(path, &st) == 0) {
            dir = S_ISDIR(st.st_mode);
            regular = S_ISREG(st.st_mode);
        } else if (errno == ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
            regular = true; /* a dangling symlink: Envoy reads it, and fails */
        } else {
            rc = walk_fail(w, -RM_EIO, "unable to stat file %s: %s", path, strerror(errno));
        }
        if (rc == 0 && dir)
            rc = walk_dir(w, path, key, depth + 1);
        else if (rc == 0 && regular)
            rc = read_file(w, path, key);
        else if (rc == 0)
            log_debug(LC_RUNTIME, "runtime: skipping %s (not a file or directory)", path);
        path[plen] = '\0';
        key[klen] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int runtime_disk_load(const char *dir, struct runtime_snap **out, char *err, size_t errlen)
{
    struct walk w = {.err = err, .errlen = errlen};
    char *path = malloc(PATH_MAX), *key = malloc(PATH_MAX);
    int rc;
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (!path || !key) {
        rc = walk_fail(&w, -RM_ENOMEM, "out of memory");
    } else if (strlen(dir) >= PATH_MAX) {
        rc = walk_fail(&w, -RM_ELIMIT, "path too long: %s", dir);
    } else {
        strcpy(path, dir);
        key[0] = '\0';
        rc = walk_dir(&w, path, key, 1);
    }
    free(path);
    free(key);
    if (rc < 0) {
        kv_fini(&w.kv);
        return rc;
    }
    if (!(*out = snap_from_kv(&w.kv)))
        return walk_fail(&w, -RM_ENOMEM, "out of memory");
    return 0;
}

/* ---- the layers --------------------------------------------------------------------------- */

struct rt_layer {
    const struct cfg_runtime_layer *cfg;
    bool active;               /* part of the current snapshot */
    struct runtime_snap *vals; /* static, disk (last good read): sorted; NULL when none */
    struct kvlist admin;       /* RUNTIME_ADMIN: the overrides, unsorted */
    char *dir;                 /* RUNTIME_DISK: the directory read */
};

/* One inotify watch per distinct symlink root: Envoy's watcher watches the directory and
 * raises the event for the file name. */
struct rt_watch {
    int wd;
    char *dir;  /* dirname(symlink_root) */
    char *name; /* basename(symlink_root) */
};

static struct {
    struct server *srv;
    struct rt_layer *layers;
    size_t n_layers;
    struct runtime_snap *cur; /* the merged values last published (main thread's reference) */
    struct stats_block *stats;
    int ifd;
    struct event *ev;
    struct rt_watch *watches;
    size_t n_watches;
} rt = {.ifd = -1};

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int load_disk_layer(struct rt_layer *l, bool *ok)
{
    *ok = false;
    if (!dir_exists(l->dir)) {
        if (l->vals)
            log_info(LC_RUNTIME, "runtime: layer %s: %s no longer exists", l->cfg->name, l->dir);
        runtime_snap_unref(l->vals);
        l->vals = NULL;
        l->active = false;
        return 0;
    }
    struct runtime_snap *rs;
    char err[PATH_MAX + 128];
    int rc = runtime_disk_load(l->dir, &rs, err, sizeof(err));
    if (rc == 0) {
        runtime_snap_unref(l->vals);
        l->vals = rs;
        l->active = true;
        *ok = true;
        log_debug(LC_RUNTIME, "runtime: layer %s: %zu keys from %s", l->cfg->name, rs->n, l->dir);
        return 0;
    }
    /* The layer keeps its last good values (if it ever had any). */
    l->active = l->vals != NULL;
    log_warn(LC_RUNTIME, "runtime: error loading layer %s from %s: %s (%s)", l->cfg->name, l->dir,
             err, l->vals ? "keeping its last good values" : "the layer stays empty");
    return rc == -RM_ENOMEM ? rc : 1;
}

/* The final value of every key from the active layers: the last layer that has it wins. */
static struct runtime_snap *merge(void)
{
    struct kvlist kv = {0};
    for (size_t i = 0; i < rt.n_layers; i++) {
        const struct rt_layer *l = &rt.layers[i];
        if (!l->active)
            continue;
        if (l->cfg->kind == RUNTIME_ADMIN) {
            for (size_t j = 0; j < l->admin.n; j++)
                if (kv_add(&kv, l->admin.keys[j], l->admin.vals[j], strlen(l->admin.vals[j])) < 0)
                    goto oom;
        } else if (l->vals) {
            for (size_t j = 0; j < l->vals->n; j++)
                if (kv_add(&kv, l->vals->keys[j], l->vals->vals[j], strlen(l->vals->vals[j])) < 0)
                    goto oom;
        }
    }
    return snap_from_kv(&kv);
oom:
    kv_fini(&kv);
    return NULL;
}

static void on_worker_snap(struct worker *w, void *arg)
{
    struct runtime_snap *old = w->runtime;
    w->runtime = arg;
    runtime_snap_unref(old);
}

/* Envoy's loadNewSnapshot(): every layer re-read, the merged values posted to each worker,
 * then the stats. */
static int load(void)
{
    unsigned errors = 0, disk_ok = 0;
    for (size_t i = 0; i < rt.n_layers; i++) {
        struct rt_layer *l = &rt.layers[i];
        if (l->cfg->kind != RUNTIME_DISK) {
            l->active = true;
            continue;
        }
        bool ok;
        int rc = load_disk_layer(l, &ok);
        if (rc < 0)
            return rc;
        errors += rc > 0;
        disk_ok += ok;
    }
    struct runtime_snap *rs = merge();
    if (!rs)
        return -RM_ENOMEM;
    struct server *srv = rt.srv;
    for (unsigned i = 0; i < srv->n_workers; i++) {
        __atomic_add_fetch(&rs->refs, 1, __ATOMIC_RELAXED);
        if (mbox_call(&srv->workers[i], on_worker_snap, rs) < 0) {
            runtime_snap_unref(rs);
            runtime_snap_unref(rs);
            return -RM_ENOMEM; /* workers keep their previous values, as does |rt.cur| */
        }
    }
    runtime_snap_unref(rt.cur);
    rt.cur = rs;
    size_t active = 0;
    bool admin_overrides = false;
    for (size_t i = 0; i < rt.n_layers; i++) {
        active += rt.layers[i].active;
        admin_overrides |= rt.layers[i].cfg->kind == RUNTIME_ADMIN && rt.layers[i].admin.n > 0;
    }
    stats_gauge_set(rt.stats, RUNTIME_num_layers, (int64_t)active);
    stats_gauge_set(rt.stats, RUNTIME_num_keys, (int64_t)rs->n);
    stats_gauge_set(rt.stats, RUNTIME_admin_overrides_active, admin_overrides);
    stats_inc(rt.stats, errors ? RUNTIME_load_error : RUNTIME_load_success);
    /* Envoy's naming from the old runtime's override_subdirectory: "exists" once more than
     * one disk layer loaded. */
    stats_inc(rt.stats,
              disk_ok > 1 ? RUNTIME_override_dir_exists : RUNTIME_override_dir_not_exists);
    return 0;
}

int runtime_reload(struct server *srv)
{
    (void)srv;
    int rc = load();
    if (rc < 0)
        log_error(LC_RUNTIME, "runtime: reload failed: %s", rm_strerror(rc));
    return rc;
}

/* ---- watching symlink roots ----------------------------------------------------------------- */

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    bool swap = false;
    char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
        __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* EAGAIN: drained */
        for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)r;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            off += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                swap = true; /* events lost: reload to be safe */
                continue;
            }
            if (!(ev->mask & IN_MOVED_TO) || !ev->len)
                continue;
            for (size_t i = 0; i < rt.n_watches; i++)
                if (rt.watches[i].wd == ev->wd && strcmp(rt.watches[i].name, ev->name) == 0) {
                    log_info(LC_RUNTIME, "runtime: %s/%s was swapped: reloading", rt.watches[i].dir,
                             ev->name);
                    swap = true;
                }
        }
    }
    if (swap) /* one reload per wake-up, however many roots or events matched */
        runtime_reload(rt.srv);
}

static int add_watch(const char *root)
{
    const char *slash = strrchr(root, '/'); /* translate_bootstrap.c guarantees one */
    char *dir = slash == root ? strdup("/") : strndup(root, (size_t)(slash - root));
    char *name = strdup(slash + 1);
    struct rt_watch *nw = realloc(rt.watches, (rt.n_watches + 1) * sizeof(*nw));
    if (!dir || !name || !nw) {
        free(dir);
        free(name);
        if (nw)
            rt.watches = nw;
        return -RM_ENOMEM;
    }
    rt.watches = nw;
    for (size_t i = 0; i < rt.n_watches; i++)
        if (strcmp(rt.watches[i].dir, dir) == 0 && strcmp(rt.watches[i].name, name) == 0) {
            free(dir); /* the same symlink root: one watch, one reload */
            free(name);
            return 0;
        }
    int wd = inotify_add_watch(rt.ifd, dir, IN_MOVED_TO);
    if (wd < 0) {
        log_critical(LC_RUNTIME,
                     "runtime: unable to add filesystem watch for %s (directory %s): %s", root, dir,
                     strerror(errno));
        free(dir);
        free(name);
        return -RM_EIO;
    }
    rt.watches[rt.n_watches++] = (struct rt_watch){wd, dir, name};
    return 0;
}

/* ---- init / fini ---------------------------------------------------------------------------- */

/* Envoy flattens nested static_layer maps into dotted keys. */
static int flatten(struct kvlist *kv, const struct vt_node *n, char *prefix, size_t plen,
                   size_t cap)
{
    if (n->kind == VT_MAP) {
        for (size_t i = 0; i < n->map.n; i++) {
            const char *k = n->map.items[i].key;
            size_t kl = strlen(k);
            if (plen + kl + 2 >= cap)
                continue;
            size_t np = plen;
            if (plen)
                prefix[np++] = '.';
            memcpy(prefix + np, k, kl + 1);
            int rc = flatten(kv, n->map.items[i].val, prefix, np + kl, cap);
            prefix[plen] = '\0';
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (n->kind == VT_SCALAR && plen)
        return kv_add(kv, prefix, n->scalar.s, strlen(n->scalar.s));
    return 0; /* lists and nulls carry no runtime value */
}

static char *disk_dir(const struct cfg_runtime_layer *cl, const char *service_cluster)
{
    /* Envoy: symlink_root + "/" + subdirectory [+ "/" + local_info.clusterName()]. */
    struct strbuf sb;
    sb_init(&sb);
    sb_printf(&sb, "%s/%s", cl->symlink_root, cl->subdirectory);
    if (cl->append_service_cluster)
        sb_printf(&sb, "/%s", service_cluster);
    char *s = sb.failed ? NULL : strndup(sb.data, sb.len);
    sb_fini(&sb);
    return s;
}

int runtime_init(struct server *srv)
{
    const struct cfg_bootstrap *bs = srv->snap->bs;
    rt.srv = srv;
    rt.stats = stats_block_get(STATS_RUNTIME, "");
    rt.n_layers = bs->n_runtime_layers;
    rt.layers = calloc(rt.n_layers ? rt.n_layers : 1, sizeof(*rt.layers));
    if (!rt.stats || !rt.layers)
        return -RM_ENOMEM;
    for (size_t i = 0; i < rt.n_layers; i++) {
        struct rt_layer *l = &rt.layers[i];
        const struct cfg_runtime_layer *cl = &bs->runtime_layers[i];
        l->cfg = cl;
        if (cl->kind == RUNTIME_STATIC) {
            struct kvlist kv = {0};
            char prefix[512] = "";
            if (cl->values && flatten(&kv, cl->values, prefix, 0, sizeof(prefix)) < 0) {
                kv_fini(&kv);
                return -RM_ENOMEM;
            }
            if (!(l->vals = snap_from_kv(&kv)))
                return -RM_ENOMEM;
        } else if (cl->kind == RUNTIME_DISK) {
            if (!(l->dir = disk_dir(cl, bs->node.cluster ? bs->node.cluster : "")))
                return -RM_ENOMEM;
            if (rt.ifd < 0) {
                rt.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
                if (rt.ifd < 0) {
                    log_critical(LC_RUNTIME, "runtime: inotify_init1: %s", strerror(errno));
                    return -RM_EIO;
                }
            }
            int rc = add_watch(cl->symlink_root);
            if (rc < 0)
                return rc;
        }
    }
    if (rt.ifd >= 0) {
        rt.ev = event_new(srv->base, rt.ifd, EV_READ | EV_PERSIST, on_inotify, NULL);
        if (!rt.ev || event_add(rt.ev, NULL) < 0)
            return -RM_ENOMEM;
    }
    return load();
}

void runtime_fini(struct server *srv)
{
    (void)srv;
    if (rt.ev)
        event_free(rt.ev);
    if (rt.ifd >= 0)
        close(rt.ifd);
    for (size_t i = 0; i < rt.n_watches; i++) {
        free(rt.watches[i].dir);
        free(rt.watches[i].name);
    }
    free(rt.watches);
    for (size_t i = 0; i < rt.n_layers; i++) {
        runtime_snap_unref(rt.layers[i].vals);
        kv_fini(&rt.layers[i].admin);
        free(rt.layers[i].dir);
    }
    free(rt.layers);
    runtime_snap_unref(rt.cur);
    memset(&rt, 0, sizeof(rt));
    rt.ifd = -1;
}

void runtime_fs_paths(void (*fn)(void *arg, const char *path, enum runtime_fs_access acc),
                      void *arg)
{
    for (size_t i = 0; i < rt.n_watches; i++)
        fn(arg, rt.watches[i].dir, RUNTIME_FS_WATCH_DIR);
    for (size_t i = 0; i < rt.n_layers; i++)
        if (rt.layers[i].dir)
            fn(arg, rt.layers[i].dir, RUNTIME_FS_READ_TREE);
}

/* ---- admin ---------------------------------------------------------------------------------- */

static const char *layer_value(const struct rt_layer *l, const char *key)
{
    if (l->cfg->kind != RUNTIME_ADMIN)
        return runtime_snap_get(l->vals, key);
    for (size_t i = 0; i < l->admin.n; i++)
        if (strcmp(l->admin.keys[i], key) == 0)
            return l->admin.vals[i];
    return NULL;
}

void runtime_render(struct server *srv, struct strbuf *out)
{
    (void)srv;
    const struct runtime_snap *rs = rt.cur;
    sb_puts(out, "{\"layers\":[");
    bool first = true;
    for (size_t i = 0; i < rt.n_layers; i++) {
        if (!rt.layers[i].active)
            continue; /* Envoy lists the snapshot's layers: a missing directory is none */
        if (!first)
            sb_putc(out, ',');
        first = false;
        sb_json_str(out, rt.layers[i].cfg->name, strlen(rt.layers[i].cfg->name));
    }
    sb_puts(out, "],\"entries\":{");
    for (size_t k = 0; rs && k < rs->n; k++) {
        if (k)
            sb_putc(out, ',');
        sb_json_str(out, rs->keys[k], strlen(rs->keys[k]));
        sb_puts(out, ":{\"final_value\":");
        sb_json_str(out, rs->vals[k], strlen(rs->vals[k]));
        sb_puts(out, ",\"layer_values\":[");
        first = true;
        for (size_t i = 0; i < rt.n_layers; i++) {
            if (!rt.layers[i].active)
                continue;
            const char *v = layer_value(&rt.layers[i], rs->keys[k]);
            if (!first)
                sb_putc(out, ',');
            first = false;
            sb_json_str(out, v ? v : "", v ? strlen(v) : 0);
        }
        sb_puts(out, "]}");
    }
    sb_puts(out, "}}\n");
}

int runtime_modify(struct server *srv, const char *query, struct strbuf *out)
{
    (void)srv;
    struct rt_layer *admin = NULL;
    for (size_t i = rt.n_layers; i-- > 0;)
        if (rt.layers[i].cfg->kind == RUNTIME_ADMIN) {
            admin = &rt.layers[i];
            break;
        }
    if (!admin) {
        sb_puts(out, "No admin layer specified\n");
        return 503;
    }
    if (!query || !*query) {
        sb_puts(out, "usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n"
                     "       use an empty value to remove a previously added override\n");
        return 400;
    }
    char *q = strdup(query), *save = NULL;
    if (!q)
        return 500;
    int rc = 0;
    for (char *kv = strtok_r(q, "&", &save); kv && rc == 0; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        const char *val = "";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        rm_url_decode(kv);
        rm_url_decode((char *)val);
        if (!*kv)
            continue;
        if (*val)
            rc = kv_set(&admin->admin, kv, val);
        else
            kv_unset(&admin->admin, kv);
        log_info(LC_RUNTIME, "runtime: %s %s%s%s", *val ? "set" : "removed", kv, *val ? " = " : "",
                 val);
    }
    free(q);
    /* As Envoy's mergeValues(): a new snapshot, every disk layer read again. */
    if (rc < 0 || load() < 0) {
        sb_puts(out, "out of memory\n");
        return 500;
    }
    sb_puts(out, "OK\n");
    return 200;
}
