/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/ssl_lazy.c — see ssl_lazy.h. */
#define SSL_LAZY_IMPL
#include "proxy/ssl_lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* The soname Debian's android-libboringssl ships, loaded from the directory the binary was
 * linked against (RM_BSSL_LIB, from the Makefile): under ASan dlopen() is called from the
 * sanitizer runtime, whose search path does not include the binary's RUNPATH. */
#define LIBSSL_NAME "libssl.so.0"
#ifndef RM_BSSL_LIB
#define RM_BSSL_LIB "/usr/lib/x86_64-linux-gnu/android"
#endif

#define SSL_LAZY_DEF(f) __typeof__(&f) rm_lazy_##f;
SSL_LAZY_SYMS(SSL_LAZY_DEF)
#undef SSL_LAZY_DEF

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded; /* 1 done, -1 failed */
static char load_err[256];

int ssl_lazy_load(char *err, size_t cap)
{
    pthread_mutex_lock(&lock);
    if (!loaded) {
        void *h = dlopen(RM_BSSL_LIB "/" LIBSSL_NAME, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            h = dlopen(LIBSSL_NAME, RTLD_NOW | RTLD_LOCAL); /* the search path, then */
        if (!h) {
            snprintf(load_err, sizeof(load_err), "cannot load BoringSSL's %s: %s", LIBSSL_NAME,
                     dlerror());
            loaded = -1;
        }
#define SSL_LAZY_RESOLVE(f)                                                                        \
    if (h && !(rm_lazy_##f = (__typeof__(&f))dlsym(h, #f))) {                                      \
        snprintf(load_err, sizeof(load_err), "%s has no %s: %s", LIBSSL_NAME, #f, dlerror());      \
        h = NULL;                                                                                  \
        loaded = -1;                                                                               \
    }
        SSL_LAZY_SYMS(SSL_LAZY_RESOLVE)
#undef SSL_LAZY_RESOLVE
        if (h)
            loaded = 1;
    }
    int rc = loaded == 1 ? 0 : -1;
    if (rc && err && cap)
        snprintf(err, cap, "%s", load_err);
    pthread_mutex_unlock(&lock);
    return rc;
}
