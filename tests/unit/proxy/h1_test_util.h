/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/h1_test_util.h — a driver that feeds bytes to an h1_parser the way the
 * connection code will (drain |consumed|, take body ranges, a fresh http_msg per message)
 * and renders everything that happened as one string, so that "fed whole" and "fed in
 * pieces" can be compared byte for byte. Header-only, shared by the unit test and the
 * fuzzers. */
#ifndef RM_TESTS_H1_TEST_UTIL_H
#define RM_TESTS_H1_TEST_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/h1_codec.h"
#include "proxy/http_msg.h"

#define H1T_MAX_MSGS 16

struct h1t_out {
    char *s; /* rendering of every event */
    size_t n;
    size_t cap;
    int rc;     /* last return: 0 ok, or the negative error */
    int status; /* err_status after an error */
    const char *detail;
    int n_msgs; /* complete messages */
    int n_heads;
    uint32_t flags[H1T_MAX_MSGS]; /* p->flags at each HEAD */
    bool head[H1T_MAX_MSGS];      /* message i had a head (not tunnel bytes after an upgrade) */
    struct http_msg msgs[H1T_MAX_MSGS]; /* heads as parsed */
    char body[H1T_MAX_MSGS][512];       /* first bytes of each body */
    size_t body_len[H1T_MAX_MSGS];      /* total body bytes */
    bool paused;
    struct arena arena;
};

static inline void h1t_printf(struct h1t_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void h1t_printf(struct h1t_out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->s ? o->s + o->n : NULL, o->s ? o->cap - o->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if (o->s && o->n + (size_t)k < o->cap) {
            o->n += (size_t)k;
            return;
        }
        size_t ncap = o->cap ? o->cap * 2 : 1024;
        while (ncap < o->n + (size_t)k + 1)
            ncap *= 2;
        char *ns = realloc(o->s, ncap);
        if (!ns)
            abort();
        o->s = ns;
        o->cap = ncap;
    }
}

static inline void h1t_slice(struct h1t_out *o, struct http_slice s)
{
    h1t_printf(o, "%.*s", (int)s.n, s.p ? s.p : "");
}

static inline void h1t_render_head(struct h1t_out *o, const struct http_msg *m, uint32_t flags)
{
    h1t_printf(o, "HEAD[");
    if (m->is_request) {
        h1t_slice(o, m->method_name);
        h1t_printf(o, " m=%d s=", (int)m->method);
        h1t_slice(o, m->scheme);
        h1t_printf(o, " a=");
        h1t_slice(o, m->authority);
        h1t_printf(o, " p=");
        h1t_slice(o, m->path);
    } else {
        h1t_printf(o, "%d ", m->status);
        h1t_slice(o, m->reason);
    }
    h1t_printf(o, " v=%d body=%d cl=%llu es=%d f=%#x |", (int)m->version, (int)m->body,
               (unsigned long long)m->content_length, (int)m->end_stream, flags);
    for (uint32_t i = 0; i < m->headers.n; i++) {
        h1t_slice(o, m->headers.v[i].name);
        h1t_printf(o, "=");
        h1t_slice(o, m->headers.v[i].value);
        h1t_printf(o, "|");
    }
    h1t_printf(o, "]");
}

static inline void h1t_end_msg(struct h1t_out *o, const struct http_msg *m)
{
    int i = o->n_msgs;
    h1t_printf(o, " BODY(%zu:%.*s)", o->body_len[i],
               (int)(o->body_len[i] < sizeof(o->body[i]) ? o->body_len[i] : sizeof(o->body[i])),
               o->body[i]);
    if (m->trailers.n) {
        h1t_printf(o, " TRAILERS[");
        for (uint32_t k = 0; k < m->trailers.n; k++) {
            h1t_slice(o, m->trailers.v[k].name);
            h1t_printf(o, "=");
            h1t_slice(o, m->trailers.v[k].value);
            h1t_printf(o, "|");
        }
        h1t_printf(o, "]");
    }
    h1t_printf(o, " END\n");
    o->n_msgs++;
}

/* Client role: the methods of the requests the responses answer (NULL = all GET). */
struct h1t_opts {
    size_t step;                     /* bytes delivered per feed; 0 = all at once */
    size_t split;                    /* if > 0 and step == 0: two feeds, split here */
    const enum http_method *methods; /* client role, one per response */
    bool upgrade;                    /* client role: requests asked for upgrade */
    bool eof;                        /* signal EOF once everything was delivered */
    int resume;                      /* on PAUSED: 0 stop, 1 resume(false), 2 tunnel */
};

static inline void h1t_run(struct h1t_out *o, enum h1_role role, const struct h1_config *cfg,
                           const char *in, size_t len, const struct h1t_opts *opt)
{
    struct h1_parser p;
    memset(o, 0, sizeof(*o));
    arena_init(&o->arena, 0);
    h1_parser_init(&p, role, cfg);
    bool req = role == H1_ROLE_SERVER;
    struct http_msg *m = &o->msgs[0];
    http_msg_init(m, &o->arena, req);
    if (!req)
        h1_parser_expect_response(&p, opt->methods ? opt->methods[0] : HTTP_METHOD_GET,
                                  opt->upgrade);
    size_t delivered = opt->step ? (opt->step < len ? opt->step : len)
                                 : (opt->split && opt->split < len ? opt->split : len);
    size_t off = 0;
    int guard = 0;
    for (;;) {
        if (++guard > 10000000)
            abort(); /* no progress: a parser bug */
        struct h1_result res;
        int ev = h1_parse(&p, m, in + off, delivered - off, &res);
        if (ev < 0) {
            o->rc = ev;
            o->status = p.err_status;
            o->detail = p.err_detail;
            h1t_printf(o, "ERROR %d %d %s\n", ev, p.err_status, p.err_detail);
            break;
        }
        if (res.consumed > delivered - off || res.body_off + res.body_len > res.consumed)
            abort(); /* contract violated */
        int i = o->n_msgs;
        if (ev == H1_EV_BODY && i < H1T_MAX_MSGS) {
            size_t have = o->body_len[i] < sizeof(o->body[i]) ? o->body_len[i] : sizeof(o->body[i]);
            size_t room = sizeof(o->body[i]) - have;
            size_t c = res.body_len < room ? res.body_len : room;
            memcpy(o->body[i] + have, in + off + res.body_off, c);
            o->body_len[i] += res.body_len;
        }
        off += res.consumed;
        if (ev == H1_EV_HEAD) {
            o->flags[i] = p.flags;
            o->head[i] = true;
            o->n_heads++;
            h1t_render_head(o, m, p.flags);
            if (p.flags & H1_MF_INFORMATIONAL) {
                h1t_printf(o, " INFO\n");
                http_msg_reset(m);
                continue;
            }
        }
        bool done = (ev == H1_EV_HEAD || ev == H1_EV_BODY || ev == H1_EV_DONE) && res.end_stream;
        if (done) {
            h1t_end_msg(o, m);
            if (o->n_msgs >= H1T_MAX_MSGS) {
                h1t_printf(o, "TOO MANY\n");
                break;
            }
            m = &o->msgs[o->n_msgs];
            http_msg_init(m, &o->arena, req);
            if (!req)
                h1_parser_expect_response(
                    &p, opt->methods ? opt->methods[o->n_msgs] : HTTP_METHOD_GET, opt->upgrade);
            continue;
        }
        if (ev == H1_EV_PAUSED) {
            h1t_printf(o, "PAUSED\n");
            if (opt->resume == 0) {
                o->paused = true;
                break;
            }
            h1_parser_resume(&p, opt->resume == 2);
            continue;
        }
        if (ev == H1_EV_NEED_MORE) {
            if (delivered == len) {
                if (opt->eof) {
                    ev = h1_parse_eof(&p, m, &res);
                    if (ev < 0) {
                        o->rc = ev;
                        o->status = p.err_status;
                        o->detail = p.err_detail;
                        h1t_printf(o, "EOF-ERROR %d %s\n", ev, p.err_detail);
                    } else if (ev == H1_EV_DONE) {
                        h1t_end_msg(o, m);
                    } else {
                        h1t_printf(o, "EOF-IDLE\n");
                    }
                } else {
                    h1t_printf(o, "MORE idle=%d\n", (int)h1_parser_idle(&p));
                }
                break;
            }
            delivered =
                opt->step ? (delivered + opt->step < len ? delivered + opt->step : len) : len;
        }
    }
    h1_parser_fini(&p);
}

static inline void h1t_free(struct h1t_out *o)
{
    free(o->s);
    o->s = NULL;
    arena_fini(&o->arena);
}

#endif
