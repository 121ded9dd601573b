/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/url.c — remora-load's targets: "URL[@weight]" parsing, grouping into endpoints
 * (scheme, host, port) and the pre-built HTTP/1.1 and HTTP/2 requests for each target.
 * Main thread, startup only. */
#include "bench/load/load.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

static int add_ep(bool tls, const char *host, int port, unsigned *out)
{
    for (unsigned i = 0; i < lopt.n_eps; i++) {
        struct endpoint *e = &lopt.eps[i];
        if (e->tls == tls && e->port == port && strcmp(e->host, host) == 0) {
            *out = i;
            return 0;
        }
    }
    struct endpoint *n = realloc(lopt.eps, (lopt.n_eps + 1) * sizeof(*n));
    if (!n)
        return -RM_ENOMEM;
    lopt.eps = n;
    struct endpoint *e = &n[lopt.n_eps];
    memset(e, 0, sizeof(*e));
    e->tls = tls;
    e->host = strdup(host);
    e->port = port;
    bool v6 = strchr(host, ':') != NULL;
    bool dflt = port == (tls ? 443 : 80);
    size_t al = strlen(host) + 16;
    e->authority = malloc(al);
    if (!e->host || !e->authority)
        return -RM_ENOMEM;
    if (dflt)
        snprintf(e->authority, al, v6 ? "[%s]" : "%s", host);
    else
        snprintf(e->authority, al, v6 ? "[%s]:%d" : "%s:%d", host, port);
    int rc = net_addr_resolve(host, port, &e->addr);
    if (rc < 0) {
        fprintf(stderr, "remora-load: cannot resolve %s\n", host);
        return rc;
    }
    *out = lopt.n_eps++;
    return 0;
}

int url_add_target(const char *spec)
{
    char *s = strdup(spec);
    unsigned weight = 1;
    if (!s)
        return -RM_ENOMEM;
    char *at = strrchr(s, '@');
    if (at && at[1] && strspn(at + 1, "0123456789") == strlen(at + 1)) {
        long w = strtol(at + 1, NULL, 10);
        if (w <= 0 || w > 1000000) {
            fprintf(stderr, "remora-load: bad weight in %s\n", spec);
            free(s);
            return -RM_EINVAL;
        }
        weight = (unsigned)w;
        *at = '\0';
    }
    bool tls;
    char *p;
    if (strncasecmp(s, "http://", 7) == 0) {
        tls = false;
        p = s + 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        tls = true;
        p = s + 8;
    } else {
        fprintf(stderr, "remora-load: URL must start with http:// or https://: %s\n", spec);
        free(s);
        return -RM_EINVAL;
    }
    char *path = strpbrk(p, "/?");
    char host[256];
    size_t hl = path ? (size_t)(path - p) : strlen(p);
    if (hl == 0 || hl >= sizeof(host)) {
        fprintf(stderr, "remora-load: bad host in %s\n", spec);
        free(s);
        return -RM_EINVAL;
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    int port = tls ? 443 : 80;
    char *h = host, *colon;
    if (host[0] == '[') {
        char *rb = strchr(host, ']');
        if (!rb) {
            free(s);
            return -RM_EINVAL;
        }
        *rb = '\0';
        h = host + 1;
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = strrchr(host, ':');
        if (colon)
            *colon = '\0';
    }
    if (colon) {
        char *end;
        long pv = strtol(colon + 1, &end, 10);
        if (*end || pv <= 0 || pv > 65535) {
            fprintf(stderr, "remora-load: bad port in %s\n", spec);
            free(s);
            return -RM_EINVAL;
        }
        port = (int)pv;
    }
    unsigned ep;
    int rc = add_ep(tls, h, port, &ep);
    if (rc < 0) {
        free(s);
        return rc;
    }
    struct target *n = realloc(lopt.targets, (lopt.n_targets + 1) * sizeof(*n));
    if (!n) {
        free(s);
        return -RM_ENOMEM;
    }
    lopt.targets = n;
    struct target *t = &n[lopt.n_targets];
    memset(t, 0, sizeof(*t));
    t->url = s;
    t->ep = ep;
    t->weight = weight;
    if (!path) {
        t->path = strdup("/");
    } else if (*path == '?') {
        size_t l = strlen(path) + 2;
        t->path = malloc(l);
        if (t->path)
            snprintf(t->path, l, "/%s", path);
    } else {
        t->path = strdup(path);
    }
    if (!t->path)
        return -RM_ENOMEM;
    struct endpoint *e = &lopt.eps[ep];
    unsigned *ti = realloc(e->targets, (e->n_targets + 1) * sizeof(*ti));
    if (!ti)
        return -RM_ENOMEM;
    e->targets = ti;
    e->targets[e->n_targets++] = lopt.n_targets;
    e->weight += weight;
    lopt.n_targets++;
    return 0;
}

static char body_clen[24]; /* HTTP/2 content-length value shared by all targets */

static bool is_hop_header(const char *n, size_t nl)
{
    /* RFC 9113 §8.2.2: connection-specific fields are not sent on HTTP/2. */
    static const char *const hop[] = {"connection",        "keep-alive", "proxy-connection",
                                      "transfer-encoding", "upgrade",    "host"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (strlen(hop[i]) == nl && strncasecmp(n, hop[i], nl) == 0)
            return true;
    return false;
}

static nghttp2_nv mknv(const char *n, size_t nl, const char *v, size_t vl)
{
    nghttp2_nv nv = {(uint8_t *)(uintptr_t)n, (uint8_t *)(uintptr_t)v, nl, vl,
                     NGHTTP2_NV_FLAG_NONE};
    return nv;
}

static int build_one(struct target *t)
{
    struct endpoint *e = &lopt.eps[t->ep];
    const char *method = lopt.method;
    bool user_host = false, user_cl = false;
    size_t cap = 256 + strlen(t->path) + strlen(e->authority) + lopt.body_len;
    char clen[32];

    for (int i = 0; i < lopt.n_headers; i++) {
        cap += strlen(lopt.headers[i]) + 2;
        if (strncasecmp(lopt.headers[i], "host:", 5) == 0)
            user_host = true;
        if (strncasecmp(lopt.headers[i], "content-length:", 15) == 0)
            user_cl = true;
    }
    snprintf(clen, sizeof(clen), "%zu", lopt.body_len);
    t->h1_req = malloc(cap);
    if (!t->h1_req)
        return -RM_ENOMEM;
    int n = snprintf(t->h1_req, cap, "%s %s HTTP/1.1\r\n", method, t->path);
    if (!user_host)
        n += snprintf(t->h1_req + n, cap - (size_t)n, "Host: %s\r\n", e->authority);
    for (int i = 0; i < lopt.n_headers; i++)
        n += snprintf(t->h1_req + n, cap - (size_t)n, "%s\r\n", lopt.headers[i]);
    if (lopt.body && !user_cl)
        n += snprintf(t->h1_req + n, cap - (size_t)n, "Content-Length: %s\r\n", clen);
    if (lopt.new_conn)
        n += snprintf(t->h1_req + n, cap - (size_t)n, "Connection: close\r\n");
    n += snprintf(t->h1_req + n, cap - (size_t)n, "\r\n");
    if (lopt.body) {
        memcpy(t->h1_req + n, lopt.body, lopt.body_len);
        n += (int)lopt.body_len;
    }
    t->h1_len = (size_t)n;

    /* HTTP/2: pseudo-headers first, names lowercased in place in a private copy. */
    t->nva = calloc((size_t)lopt.n_headers + 6, sizeof(nghttp2_nv));
    if (!t->nva)
        return -RM_ENOMEM;
    const char *authority = e->authority;
    size_t k = 0;
    t->nva[k++] = mknv(":method", 7, method, strlen(method));
    t->nva[k++] = mknv(":path", 5, t->path, strlen(t->path));
    t->nva[k++] = mknv(":scheme", 7, e->tls ? "https" : "http", e->tls ? 5 : 4);
    size_t auth_i = k++;
    for (int i = 0; i < lopt.n_headers; i++) {
        const char *h = lopt.headers[i], *colon = strchr(h, ':');
        size_t nl = (size_t)(colon - h);
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (nl == 4 && strncasecmp(h, "host", 4) == 0)
            authority = v;
        if (is_hop_header(h, nl))
            continue;
        t->nva[k++] = mknv(h, nl, v, strlen(v));
    }
    t->nva[auth_i] = mknv(":authority", 10, authority, strlen(authority));
    if (lopt.body && !user_cl) {
        snprintf(body_clen, sizeof(body_clen), "%zu", lopt.body_len);
        t->nva[k++] = mknv("content-length", 14, body_clen, strlen(body_clen));
    }
    t->n_nva = k;
    return 0;
}

int url_build_requests(void)
{
    /* HTTP/2 field names must be lowercase (RFC 9113 §8.2.1): lowercase -H names once. */
    for (int i = 0; i < lopt.n_headers; i++) {
        char *h = lopt.headers[i];
        for (char *p = h; *p && *p != ':'; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    for (unsigned i = 0; i < lopt.n_targets; i++) {
        int rc = build_one(&lopt.targets[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void url_free_all(void)
{
    for (unsigned i = 0; i < lopt.n_targets; i++) {
        struct target *t = &lopt.targets[i];
        free(t->nva);
        free(t->h1_req);
        free(t->path);
        free(t->url);
    }
    for (unsigned i = 0; i < lopt.n_eps; i++) {
        free(lopt.eps[i].host);
        free(lopt.eps[i].authority);
        free(lopt.eps[i].targets);
    }
    free(lopt.targets);
    free(lopt.eps);
    lopt.targets = NULL;
    lopt.eps = NULL;
}
