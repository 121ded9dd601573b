/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/route.c — per-request route table lookups (see route.h): virtual host by domain,
 * first matching route, runtime fractions, weighted picks, path rewrites and redirect
 * Locations, with Envoy's semantics (source/common/router/config_impl.cc, header_utility.cc,
 * http/utility.cc). Reads immutable config; any worker thread. */
#include "proxy/route.h"

#include <stdio.h>
#include <string.h>

#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/regex.h"

/* ---- small helpers --------------------------------------------------------------------------- */

/* Case-insensitive (ASCII) equality of |n| bytes. */
static bool eq_ci(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (http_lower[(unsigned char)a[i]] != http_lower[(unsigned char)b[i]])
            return false;
    return true;
}

static bool eq(const char *a, const char *b, size_t n, bool ignore_case)
{
    if (n == 0)
        return true;
    return ignore_case ? eq_ci(a, b, n) : memcmp(a, b, n) == 0;
}

/* Appends |n| bytes (|s| may be NULL when |n| is 0). */
static void put(char *dst, size_t *o, const char *s, size_t n)
{
    if (n)
        memcpy(dst + *o, s, n);
    *o += n;
}

/* Length of |p| up to the query or fragment (Envoy's PathUtil::removeQueryAndFragment). */
static size_t path_only_len(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '?' || p[i] == '#')
            return i;
    return n;
}

/* ---- virtual hosts --------------------------------------------------------------------------- */

const struct cfg_vhost *route_find_vhost(const struct cfg_route_config *rc, const char *host,
                                         size_t n)
{
    if (!rc)
        return NULL;
    if (rc->ignore_port_in_host_matching && n) {
        /* "host:port" → "host"; an IPv6 literal "[::1]:80" keeps its brackets. */
        for (size_t k = n; k-- > 0;) {
            if (host[k] == ':') {
                if (host[0] != '[' || (k > 0 && host[k - 1] == ']'))
                    n = k;
                break;
            }
            if (host[k] < '0' || host[k] > '9')
                break;
        }
    }
    const struct cfg_vhost *star = NULL, *suffix = NULL, *prefix = NULL;
    size_t suffix_len = 0, prefix_len = 0;
    bool others = false;
    for (size_t i = 0; i < rc->n_vhosts; i++) {
        const struct cfg_vhost *vh = &rc->vhosts[i];
        for (size_t j = 0; j < vh->n_domains; j++) {
            const char *d = vh->domains[j];
            size_t dl = strlen(d);
            if (dl == 1 && d[0] == '*') {
                if (!star)
                    star = vh;
                continue;
            }
            others = true;
            if (n == 0)
                continue;
            if (dl && d[0] == '*') {
                /* Suffix wildcard "*.foo.com": the host must be longer than ".foo.com". */
                size_t wl = dl - 1;
                if (wl < n && wl > suffix_len && eq_ci(host + n - wl, d + 1, wl)) {
                    suffix = vh;
                    suffix_len = wl;
                }
            } else if (dl && d[dl - 1] == '*') {
                size_t wl = dl - 1;
                if (wl < n && wl > prefix_len && eq_ci(host, d, wl)) {
                    prefix = vh;
                    prefix_len = wl;
                }
            } else if (dl == n && eq_ci(host, d, n)) {
                return vh; /* domains are unique: the first exact match is the only one */
            }
        }
    }
    if (n == 0)
        return others ? NULL : star; /* Envoy: no Host only works with a lone "*" */
    if (suffix)
        return suffix;
    if (prefix)
        return prefix;
    return star;
}

/* ---- string and header matchers -------------------------------------------------------------- */

bool route_string_matches(const struct cfg_string_matcher *m, const char *s, size_t n)
{
    switch (m->kind) {
    case STRM_EXACT:
        return n == m->len && eq(s, m->value, n, m->ignore_case);
    case STRM_PREFIX:
        return n >= m->len && eq(s, m->value, m->len, m->ignore_case);
    case STRM_SUFFIX:
        return n >= m->len && eq(s + n - m->len, m->value, m->len, m->ignore_case);
    case STRM_CONTAINS:
        if (m->len > n)
            return false;
        for (size_t i = 0; i + m->len <= n; i++)
            if (eq(s + i, m->value, m->len, m->ignore_case))
                return true;
        return false;
    case STRM_REGEX:
        return m->regex && rm_regex_full_match(m->regex, s, n);
    }
    return false;
}

/* The value of |name| in |msg|: pseudo-headers from the message fields, others joined with
 * ',' when repeated (in msg->arena). |buf| (>= 4 bytes) holds a formatted :status. Returns
 * false when absent (or when joining ran out of memory, which matches nothing). */
static bool header_value(const struct http_msg *msg, const char *name, struct http_slice *out,
                         char *buf)
{
    if (name[0] == ':') {
        const struct http_slice *v = NULL;
        if (strcmp(name, ":path") == 0)
            v = &msg->path;
        else if (strcmp(name, ":authority") == 0)
            v = &msg->authority;
        else if (strcmp(name, ":scheme") == 0)
            v = &msg->scheme;
        else if (strcmp(name, ":method") == 0) {
            if (msg->method_name.n) {
                v = &msg->method_name;
            } else if (http_method_name(msg->method)) {
                out->p = http_method_name(msg->method);
                out->n = strlen(out->p);
                return msg->is_request;
            }
        } else if (strcmp(name, ":status") == 0 && !msg->is_request && msg->status > 0 &&
                   msg->status < 1000) {
            out->n = (size_t)snprintf(buf, 4, "%d", msg->status);
            out->p = buf;
            return true;
        }
        if (!v || !v->n)
            return false;
        *out = *v;
        return true;
    }
    size_t nl = strlen(name);
    long first = http_hdrs_find(&msg->headers, name, nl, 0);
    if (first < 0)
        return false;
    long next = http_hdrs_find(&msg->headers, name, nl, (size_t)first + 1);
    if (next < 0) {
        *out = msg->headers.v[first].value;
        return true;
    }
    /* Several fields: Envoy's getAllOfHeaderAsString joins them with ','. */
    size_t total = 0;
    for (long i = first; i >= 0; i = http_hdrs_find(&msg->headers, name, nl, (size_t)i + 1))
        total += msg->headers.v[i].value.n + 1;
    char *p = msg->arena ? arena_alloc(msg->arena, total) : NULL;
    if (!p)
        return false;
    size_t o = 0;
    for (long i = first; i >= 0; i = http_hdrs_find(&msg->headers, name, nl, (size_t)i + 1)) {
        if (o)
            p[o++] = ',';
        put(p, &o, msg->headers.v[i].value.p, msg->headers.v[i].value.n);
    }
    p[o] = '\0';
    out->p = p;
    out->n = o;
    return true;
}

/* absl::SimpleAtoi on int64: optional surrounding ASCII whitespace, optional sign, digits. */
static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' ||
                     s[i] == '\v'))
        i++;
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r' ||
                     s[n - 1] == '\f' || s[n - 1] == '\v'))
        n--;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i >= n)
        return false;
    uint64_t v = 0;
    const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool route_header_matches(const struct cfg_header_matcher *m, const struct http_msg *msg)
{
    struct http_slice v;
    char buf[8];
    if (!header_value(msg, m->name, &v, buf)) {
        if (!m->treat_missing_header_as_empty) {
            /* Envoy: a missing header only satisfies present_match: false (and, inverted,
             * present_match: true); every other matcher fails, inverted or not. */
            if (m->kind != HDRM_PRESENT)
                return false;
            return m->invert_match ? m->present : !m->present;
        }
        v.p = "";
        v.n = 0;
    }
    bool match = false;
    switch (m->kind) {
    case HDRM_PRESENT:
        match = m->present;
        break;
    case HDRM_STRING:
        match = route_string_matches(&m->str, v.p, v.n);
        break;
    case HDRM_RANGE: {
        int64_t x;
        match = parse_i64(v.p, v.n, &x) && x >= m->range_start && x < m->range_end;
        break;
    }
    }
    return match != m->invert_match;
}

bool route_headers_match(const struct cfg_header_matcher *m, size_t n, const struct http_msg *msg)
{
    for (size_t i = 0; i < n; i++)
        if (!route_header_matches(&m[i], msg))
            return false;
    return true;
}

/* ---- query parameters ------------------------------------------------------------------------ */

/* The first value of parameter |name| in the query of |path| (Envoy's
 * QueryParamsMulti::parseQueryString: after the first '?', '&'-separated, "k" alone has the
 * value "", nothing decoded). */
static bool query_param(const char *path, size_t n, const char *name, struct http_slice *out)
{
    const char *q = memchr(path, '?', n);
    if (!q)
        return false;
    size_t nl = strlen(name);
    const char *end = path + n;
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eqs = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eqs ? eqs : pe;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0) {
            out->p = eqs ? eqs + 1 : pe;
            out->n = eqs ? (size_t)(pe - eqs - 1) : 0;
            return true;
        }
        p = pe + 1;
    }
    return false;
}

static bool query_matches(const struct cfg_route_match *m, const char *path, size_t n)
{
    for (size_t i = 0; i < m->n_query; i++) {
        const struct cfg_query_matcher *qm = &m->query[i];
        struct http_slice v;
        if (!query_param(path, n, qm->name, &v))
            return false;
        if (!qm->present_match && !route_string_matches(&qm->str, v.p, v.n))
            return false;
    }
    return true;
}

/* ---- routes ---------------------------------------------------------------------------------- */

bool route_fraction_enabled(const struct cfg_fraction *f, uint64_t random_value,
                            const struct route_runtime *rt)
{
    uint64_t num = f->numerator, den = f->denominator ? f->denominator : 100;
    if (rt && rt->get_uint && f->runtime_key) {
        uint64_t v = rt->get_uint(rt->ctx, f->runtime_key, UINT64_MAX);
        if (v != UINT64_MAX) {
            /* Envoy: an integer runtime value is a percentage; above 100 always passes. */
            if (v > 100)
                return true;
            num = v;
            den = 100;
        }
    }
    return random_value % den < num;
}

static bool path_matches(const struct cfg_route_match *m, const char *p, size_t n)
{
    size_t pl = path_only_len(p, n);
    bool ic = !m->case_sensitive;
    switch (m->kind) {
    case PATHM_PREFIX:
        return pl >= m->len && eq(p, m->value, m->len, ic);
    case PATHM_PATH:
        return pl == m->len && eq(p, m->value, m->len, ic);
    case PATHM_PATH_SEPARATED_PREFIX:
        return pl >= m->len && eq(p, m->value, m->len, ic) && (pl == m->len || p[m->len] == '/');
    case PATHM_SAFE_REGEX:
        return m->regex && rm_regex_full_match(m->regex, p, pl);
    case PATHM_CONNECT:
        return false; /* route_match() handles it: CONNECT requests only */
    }
    return false;
}

const struct cfg_route *route_match(const struct cfg_vhost *vh, const struct http_msg *req,
                                    uint64_t random_value, const struct route_runtime *rt)
{
    /* An HTTP/1.1 CONNECT has no path: only connect_matcher routes (or an empty prefix, as
     * in Envoy) can match it, and connect_matcher matches nothing else. */
    bool connect = req->method == HTTP_METHOD_CONNECT;
    if (!vh || (!req->path.n && !connect))
        return NULL;
    for (size_t i = 0; i < vh->n_routes; i++) {
        const struct cfg_route *r = &vh->routes[i];
        const struct cfg_route_match *m = &r->match;
        if (m->kind == PATHM_CONNECT ? !connect : !path_matches(m, req->path.p, req->path.n))
            continue;
        if (m->has_runtime_fraction &&
            !route_fraction_enabled(&m->runtime_fraction, random_value, rt))
            continue;
        if (!route_headers_match(m->headers, m->n_headers, req))
            continue;
        if (m->n_query && !query_matches(m, req->path.p, req->path.n))
            continue;
        return r;
    }
    return NULL;
}

/* ---- weighted clusters ----------------------------------------------------------------------- */

static uint64_t cluster_weight(const struct cfg_route_action *a,
                               const struct cfg_weighted_cluster_http *w,
                               const struct route_runtime *rt)
{
    if (!a->runtime_key_prefix || !rt || !rt->get_uint)
        return w->weight;
    char key[512];
    int len = snprintf(key, sizeof(key), "%s.%s", a->runtime_key_prefix, w->name);
    if (len < 0 || (size_t)len >= sizeof(key))
        return w->weight; /* no runtime key can be that long */
    return rt->get_uint(rt->ctx, key, w->weight);
}

const struct cfg_weighted_cluster_http *route_pick_weighted(const struct cfg_route_action *a,
                                                            uint64_t random_value,
                                                            const struct route_runtime *rt)
{
    if (!a->n_weighted)
        return NULL;
    uint64_t total = 0;
    bool dynamic = a->runtime_key_prefix && rt && rt->get_uint;
    if (dynamic) {
        for (size_t i = 0; i < a->n_weighted; i++)
            total += cluster_weight(a, &a->weighted[i], rt);
    } else {
        total = a->total_weight;
    }
    if (!total)
        return NULL;
    uint64_t sel = random_value % total, begin = 0;
    for (size_t i = 0; i < a->n_weighted; i++) {
        uint64_t end = begin + cluster_weight(a, &a->weighted[i], dynamic ? rt : NULL);
        if (sel >= begin && sel < end)
            return &a->weighted[i];
        begin = end;
    }
    return NULL; /* a runtime value changed between the two passes */
}

/* ---- rewrites -------------------------------------------------------------------------------- */

static int rewrite(const struct cfg_route_match *m, const char *prefix_rewrite,
                   const struct rm_regex *re, const char *sub, const char *path, size_t n,
                   struct arena *a, struct http_slice *out)
{
    out->p = NULL;
    out->n = 0;
    size_t pl = path_only_len(path, n);
    if (prefix_rewrite) {
        size_t matched = m->kind == PATHM_SAFE_REGEX ? pl : m->len;
        if (matched > n)
            matched = n;
        size_t rl = strlen(prefix_rewrite);
        char *p = arena_alloc(a, rl + (n - matched) + 1);
        if (!p)
            return -RM_ENOMEM;
        size_t o = 0;
        put(p, &o, prefix_rewrite, rl);
        put(p, &o, path + matched, n - matched);
        p[o] = '\0';
        out->p = p;
        out->n = o;
        return 0;
    }
    if (re) {
        char *np;
        size_t nl;
        int rc = rm_regex_replace_all(re, path, pl, sub ? sub : "", a, &np, &nl, NULL);
        if (rc)
            return rc;
        char *p = arena_alloc(a, nl + (n - pl) + 1);
        if (!p)
            return -RM_ENOMEM;
        size_t o = 0;
        put(p, &o, np, nl);
        put(p, &o, path + pl, n - pl);
        p[o] = '\0';
        out->p = p;
        out->n = o;
    }
    return 0;
}

int route_path_rewrite(const struct cfg_route *r, const char *path, size_t n, struct arena *a,
                       struct http_slice *out)
{
    out->p = NULL;
    out->n = 0;
    if (r->kind == ROUTE_FORWARD)
        return rewrite(&r->match, r->action.prefix_rewrite, r->action.regex_rewrite,
                       r->action.regex_rewrite_substitution, path, n, a, out);
    if (r->kind == ROUTE_REDIRECT)
        return rewrite(&r->match, r->redirect.prefix_rewrite, NULL, NULL, path, n, a, out);
    return 0;
}

/* ---- redirects ------------------------------------------------------------------------------- */

/* Where the port of |h| starts (at its ':'), or |n| when it has none; "[v6]:port" aware. */
static size_t port_start(const char *h, size_t n)
{
    if (n && h[0] == '[') {
        for (size_t i = n; i-- > 1;)
            if (h[i] == ':' && h[i - 1] == ']')
                return i;
        return n;
    }
    for (size_t i = n; i-- > 0;)
        if (h[i] == ':')
            return i;
    return n;
}

static bool slice_is(struct http_slice s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

int route_redirect_location(const struct cfg_route *r, const struct http_msg *req, struct arena *a,
                            struct http_slice *out)
{
    if (r->kind != ROUTE_REDIRECT)
        return -RM_EINVAL;
    const struct cfg_redirect *rd = &r->redirect;

    /* The request's protocol: x-forwarded-proto (set by the connection manager), else
     * :scheme. */
    struct http_slice proto = {"", 0};
    const struct http_slice *xfp = http_msg_get(req, "x-forwarded-proto");
    if (xfp && xfp->n)
        proto = *xfp;
    else if (req->scheme.n)
        proto = req->scheme;

    struct http_slice scheme = proto;
    if (rd->scheme) {
        scheme.p = rd->scheme;
        scheme.n = strlen(rd->scheme);
    } else if (!scheme.n) {
        scheme.p = "http";
        scheme.n = 4;
    }

    char port[16] = "";
    if (rd->port)
        snprintf(port, sizeof(port), ":%u", (unsigned)rd->port);

    struct http_slice host;
    if (rd->host) {
        host.p = rd->host;
        host.n = strlen(rd->host);
        if (port[0]) /* a port_redirect replaces a port written in host_redirect */
            host.n = port_start(host.p, host.n);
    } else {
        /* Envoy's processRequestHost(). */
        host = req->authority;
        size_t ps = port_start(host.p, host.n);
        if (ps < host.n) {
            struct http_slice rport = {host.p + ps, host.n - ps};
            bool remove = port[0] != '\0';
            if (!(scheme.n == proto.n && memcmp(scheme.p, proto.p, proto.n) == 0)) {
                remove |= slice_is(proto, "https") && slice_is(rport, ":443");
                remove |= slice_is(proto, "http") && slice_is(rport, ":80");
            }
            if (remove)
                host.n = ps;
        }
    }

    /* The path: path_redirect, else the (prefix-rewritten) request path. */
    struct http_slice path = req->path;
    struct http_slice rewritten;
    int rc = route_path_rewrite(r, req->path.p, req->path.n, a, &rewritten);
    if (rc)
        return rc;
    if (rewritten.p)
        path = rewritten;
    struct http_slice query = {"", 0};
    bool own_query = false;
    if (rd->path) {
        own_query = strchr(rd->path, '?') != NULL;
        const char *q = req->path.n ? memchr(req->path.p, '?', req->path.n) : NULL;
        path.p = rd->path;
        path.n = strlen(rd->path);
        if (!own_query && q) {
            query.p = q;
            query.n = req->path.n - (size_t)(q - req->path.p);
        }
    }
    bool slash = !(path.n && path.p[0] == '/');
    if (rd->strip_query && !own_query) {
        const char *q = path.n ? memchr(path.p, '?', path.n) : NULL;
        if (q)
            path.n = (size_t)(q - path.p);
        query.n = 0;
    }

    size_t pl = strlen(port);
    size_t len = scheme.n + 3 + host.n + pl + slash + path.n + query.n;
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return -RM_ENOMEM;
    size_t o = 0;
    put(p, &o, scheme.p, scheme.n);
    put(p, &o, "://", 3);
    put(p, &o, host.p, host.n);
    put(p, &o, port, pl);
    put(p, &o, "/", slash);
    put(p, &o, path.p, path.n);
    put(p, &o, query.p, query.n);
    p[o] = '\0';
    out->p = p;
    out->n = o;
    return 0;
}
