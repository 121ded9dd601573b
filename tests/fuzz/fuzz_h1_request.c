/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_h1_request.c — libFuzzer target for the request side of proxy/h1_codec.
 * Input: byte 0 picks config knobs, byte 1 the split point, byte 2 a feed step; the rest is
 * what a client sent. Checks: no crash/leak/UB, identical results for whole / split / stepped
 * feeds, and every complete request head re-serialized parses back to the same message.
 * Run: ./build/fuzz/fuzz_h1_request -dict=tests/fuzz/http.dict build/fuzz/work_h1 \
 *      tests/fuzz/corpus/fuzz_h1_request */
#include <stdint.h>

#include "tests/fuzz/h1_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct h1t_out *o, const struct h1_config *cfg)
{
    /* Re-serialized heads may be a little longer ("a:b" → "a: b"): looser limits. */
    struct h1_config rcfg = *cfg;
    rcfg.max_headers_kb = cfg->max_headers_kb * 2 + 1;
    rcfg.max_headers_count = cfg->max_headers_count + 2; /* + host (1.0) + framing */
    rcfg.max_uri_len = 0;
    rcfg.max_body_len = 0;
    rcfg.accept_http_10 = true;
    struct evbuffer *out = evbuffer_new();
    if (!out)
        abort();
    for (int i = 0; i < o->n_msgs; i++) {
        const struct http_msg *m = &o->msgs[i];
        if (!o->head[i])
            continue;
        enum http_body_kind fr = HTTP_BODY_NONE;
        if (m->body == HTTP_BODY_LENGTH) {
            if (m->content_length > 4096)
                continue;
            fr = HTTP_BODY_LENGTH;
        } else if (m->body == HTTP_BODY_CHUNKED) {
            fr = HTTP_BODY_CHUNKED;
        }
        int rc = h1_write_request_head(out, m, fr, m->content_length, 0);
        H1F_CHECK(rc == 0, "serializer refused a parsed request: %d\n", rc);
        if (fr == HTTP_BODY_LENGTH) {
            char zeros[4096];
            memset(zeros, 'z', sizeof(zeros));
            evbuffer_add(out, zeros, (size_t)m->content_length);
        } else if (fr == HTTP_BODY_CHUNKED) {
            H1F_CHECK(h1_write_last_chunk(out, &m->trailers) == 0, "last chunk\n");
        }
        size_t len;
        char *wire = h1f_drain(out, &len);
        struct h1t_out r;
        struct h1t_opts opt = {.eof = true}; /* a CONNECT tunnel completes at EOF */
        h1t_run(&r, H1_ROLE_SERVER, &rcfg, wire, len, &opt);
        H1F_CHECK(r.rc == 0 && r.n_msgs >= 1, "reparse failed: %s\nwire:\n%s\n", r.s, wire);
        const struct http_msg *b = &r.msgs[0];
        H1F_CHECK(h1f_slice_eq(m->method_name, b->method_name), "method\n%s", wire);
        H1F_CHECK(m->method == b->method, "method enum\n%s", wire);
        H1F_CHECK(h1f_slice_eq(m->path, b->path), "path\n%s", wire);
        H1F_CHECK(h1f_slice_eq(m->authority, b->authority), "authority\n%s", wire);
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

    struct h1_config cfg;
    h1_config_init(&cfg, H1_ROLE_SERVER);
    cfg.accept_http_10 = knobs & 0x01;
    cfg.allow_connect = knobs & 0x02;
    cfg.allow_absolute_url = !(knobs & 0x04);
    cfg.allow_chunked_length = knobs & 0x08;
    cfg.underscores = (enum h1_underscores_action)((knobs >> 4) % 3);
    if (knobs & 0x40) { /* small limits so the fuzzer reaches them */
        cfg.max_headers_kb = 1;
        cfg.max_headers_count = 8;
        cfg.max_uri_len = 40;
        cfg.max_body_len = 64;
    }
    struct h1t_opts opt = {.eof = knobs & 0x80, .resume = 1 + (stepb & 1)};

    size_t split = len ? (size_t)splitb * len / 256 + 1 : 0;
    size_t step = len <= 2048 ? 1 + (size_t)(stepb >> 1) % 16 : 0;
    h1f_check_splits(H1_ROLE_SERVER, &cfg, &opt, in, len, split, step);

    struct h1t_out o;
    h1t_run(&o, H1_ROLE_SERVER, &cfg, in, len, &opt);
    roundtrip(&o, &cfg);
    h1t_free(&o);
    return 0;
}
