/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_h1_response.c — libFuzzer target for the response side of proxy/h1_codec.
 * Input: byte 0 picks the requests' method (GET/HEAD/CONNECT/POST) and upgrade, byte 1 the
 * split point, byte 2 a feed step; the rest is what an upstream sent. Checks: no crash, leak
 * or UB, identical results for whole / split / stepped feeds, every error maps to 502, and
 * every complete final response head re-serialized parses back to the same message. */
#include <stdint.h>

#include "tests/fuzz/h1_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct h1t_out *o, const struct h1_config *cfg,
                      const enum http_method *methods, bool upgrade)
{
    struct h1_config rcfg = *cfg;
    rcfg.max_headers_kb = cfg->max_headers_kb * 2 + 1;
    struct evbuffer *out = evbuffer_new();
    if (!out)
        abort();
    for (int i = 0; i < o->n_msgs; i++) {
        const struct http_msg *m = &o->msgs[i];
        if (!o->head[i])
            continue;
        enum http_method method = methods[i];
        enum http_body_kind fr;
        switch (m->body) {
        case HTTP_BODY_LENGTH:
        case HTTP_BODY_CHUNKED:
            fr = m->body;
            break;
        case HTTP_BODY_UNTIL_CLOSE:
            fr = HTTP_BODY_UNTIL_CLOSE;
            break;
        case HTTP_BODY_NONE:
            /* Without a length a body-less 200 would read until close on the way back. */
            fr = (m->status >= 200 && m->status != 204 && m->status != 304 &&
                  method != HTTP_METHOD_HEAD)
                     ? HTTP_BODY_LENGTH
                     : HTTP_BODY_NONE;
            break;
        default:
            fr = HTTP_BODY_NONE;
            break;
        }
        if (fr == HTTP_BODY_LENGTH && m->content_length > 4096)
            continue;
        uint64_t cl = m->body == HTTP_BODY_LENGTH ? m->content_length : 0;
        unsigned flags = m->version == HTTP_VERSION_1_0 ? H1_WF_HTTP10 : 0;
        int rc = h1_write_response_head(out, m, fr, cl, flags);
        H1F_CHECK(rc == 0, "serializer refused a parsed response: %d\n", rc);
        if (fr == HTTP_BODY_LENGTH && cl) {
            char zeros[4096];
            memset(zeros, 'z', sizeof(zeros));
            evbuffer_add(out, zeros, (size_t)cl);
        } else if (fr == HTTP_BODY_CHUNKED) {
            H1F_CHECK(h1_write_last_chunk(out, &m->trailers) == 0, "last chunk\n");
        }
        size_t len;
        char *wire = h1f_drain(out, &len);
        struct h1t_out r;
        struct h1t_opts opt = {.methods = &methods[i], .upgrade = upgrade, .eof = true};
        h1t_run(&r, H1_ROLE_CLIENT, &rcfg, wire, len, &opt);
        H1F_CHECK(r.rc == 0 && r.n_msgs >= 1, "reparse failed: %s\nwire:\n%s\n", r.s, wire);
        const struct http_msg *b = &r.msgs[0];
        H1F_CHECK(m->status == b->status, "status\n%s", wire);
        H1F_CHECK(m->version == b->version, "version\n%s", wire);
        H1F_CHECK(!m->reason.n || h1f_slice_eq(m->reason, b->reason), "reason\n%s", wire);
        H1F_CHECK(m->body == b->body, "body kind %d vs %d\n%s", m->body, b->body, wire);
        H1F_CHECK(m->body != HTTP_BODY_LENGTH || m->content_length == b->content_length,
                  "content length\n%s", wire);
        H1F_CHECK(h1f_fields_eq(&m->headers, &b->headers), "fields\n%s\n%s", o->s, r.s);
        H1F_CHECK(h1f_fields_eq(&m->trailers, &b->trailers), "trailers\n%s\n%s", o->s, r.s);
        free(wire);
        h1t_free(&r);
    }
    evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t knobs = data[0], splitb = data[1], stepb = data[2];
    const char *in = (const char *)data + 3;
    size_t len = size - 3;

    static const enum http_method pick[4] = {HTTP_METHOD_GET, HTTP_METHOD_HEAD, HTTP_METHOD_CONNECT,
                                             HTTP_METHOD_POST};
    enum http_method methods[H1T_MAX_MSGS + 1];
    for (int i = 0; i <= H1T_MAX_MSGS; i++) /* varies per response, from the knob byte */
        methods[i] = pick[((unsigned)knobs >> (i % 4 * 2)) & 3];
    bool upgrade = stepb & 0x80;

    struct h1_config cfg;
    h1_config_init(&cfg, H1_ROLE_CLIENT);
    cfg.allow_chunked_length = splitb & 1;
    if (stepb & 0x40) {
        cfg.max_headers_kb = 1;
        cfg.max_headers_count = 8;
    }
    struct h1t_opts opt = {.methods = methods, .upgrade = upgrade, .eof = stepb & 0x20};

    size_t split = len ? (size_t)splitb * len / 256 + 1 : 0;
    size_t step = len <= 2048 ? 1 + (size_t)(stepb & 0x1f) % 16 : 0;
    h1f_check_splits(H1_ROLE_CLIENT, &cfg, &opt, in, len, split, step);

    struct h1t_out o;
    h1t_run(&o, H1_ROLE_CLIENT, &cfg, in, len, &opt);
    H1F_CHECK(o.rc >= 0 || o.status == 502 || o.status == 500, "status %d\n%s", o.status, o.s);
    roundtrip(&o, &cfg, methods, upgrade);
    h1t_free(&o);
    return 0;
}
