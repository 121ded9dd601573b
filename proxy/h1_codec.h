/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/h1_codec.h — HTTP/1.1 parser and serializer (RFC 9112), strict by design: every
 * framing ambiguity is refused with a status and an Envoy-like detail, never forwarded.
 * A plain state machine over byte slices: no I/O, no callbacks, no timers, so it can be unit
 * tested and fuzzed. Heads go into a struct http_msg (copied once into the stream's arena);
 * bodies are never copied: the parser reports which input bytes are body so the caller can
 * move them (evbuffer_remove_buffer). One parser per connection direction; runs on the worker
 * owning the connection. State machine, limits and the rejection table:
 * docs/internals/h1_codec.md. */
#ifndef RM_H1_CODEC_H
#define RM_H1_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/http_msg.h"

struct evbuffer;

enum h1_role {
    H1_ROLE_SERVER, /* downstream side: parses requests, answers with 4xx/5xx on error */
    H1_ROLE_CLIENT, /* upstream side: parses responses; every error maps to 502 */
};

/* Envoy's HttpProtocolOptions.headers_with_underscores_action (requests only). */
enum h1_underscores_action {
    H1_UNDERSCORES_ALLOW = 0,      /* keep the field */
    H1_UNDERSCORES_REJECT_REQUEST, /* 400 http1.unexpected_underscore */
    H1_UNDERSCORES_DROP_HEADER,    /* drop the field, count it in h1_parser.dropped_headers */
};

#define H1_DEFAULT_MAX_REQUEST_HEADERS_KB 60  /* Envoy max_request_headers_kb default */
#define H1_DEFAULT_MAX_RESPONSE_HEADERS_KB 80 /* Envoy's fixed MAX_RESPONSE_HEADERS_KB */
#define H1_DEFAULT_MAX_HEADERS_COUNT 100      /* Envoy max_headers_count default */
#define H1_MAX_METHOD_LEN 32                  /* longer methods: 501 (RFC 9112 §3) */
#define H1_MAX_CHUNK_LINE 4096                /* chunk-size + chunk-ext bytes per chunk line */

/* Limits and knobs. Usually lives in the immutable config snapshot; the parser keeps a
 * pointer, so it must outlive every parser that uses it. */
struct h1_config {
    uint32_t max_headers_kb;    /* head bytes (start line + field lines + CRLFs), KiB;
                                 * also the trailer section's cap. Over → 431 */
    uint32_t max_headers_count; /* fields per head (and per trailer section). Over → 431 */
    uint32_t max_uri_len;       /* request-target bytes; 0 = bounded by max_headers_kb. → 414 */
    uint64_t max_body_len;      /* request body bytes (Content-Length or chunk sum);
                                 * 0 = unlimited. Over → 413 */
    enum h1_underscores_action underscores;
    bool allow_connect;        /* CONNECT accepted (tunnel); false → 405 */
    bool allow_absolute_url;   /* absolute-form targets (forward proxy); false → 400.
                                * Envoy http_protocol_options.allow_absolute_url, default on */
    bool accept_http_10;       /* HTTP/1.0 requests; false → 426 (Envoy accept_http_10,
                                * default off). Responses are always accepted in 1.0 */
    bool allow_chunked_length; /* CL + TE: chunked → drop CL instead of 400 (Envoy
                                * allow_chunked_length, default off) */
};

/* Fills |cfg| with Envoy's defaults for |role| (60 KiB request / 80 KiB response heads, 100
 * fields, underscores allowed, absolute URLs allowed, CONNECT and HTTP/1.0 refused). */
void h1_config_init(struct h1_config *cfg, enum h1_role role);

/* What one h1_parse() call produced. */
enum h1_event {
    H1_EV_NEED_MORE = 0, /* all input consumed (partial head bytes are kept by the parser);
                          * call again with more data */
    H1_EV_HEAD,          /* a head is complete in |msg| (see h1_parser.flags);
                          * res.end_stream when no body follows */
    H1_EV_BODY,          /* body bytes: input[body_off, body_off + body_len) */
    H1_EV_DONE,          /* the body ended (last chunk + trailers in msg->trailers, or EOF
                          * for an until-close body); res.end_stream is set */
    H1_EV_PAUSED,        /* an upgrade request is complete: nothing consumed until
                          * h1_parser_resume() says whether the upgrade happened */
};

struct h1_result {
    size_t consumed; /* input bytes the caller removes now: drain [0, body_off), move
                      * [body_off, body_off + body_len) into the body sink, drain the rest */
    size_t body_off; /* H1_EV_BODY only */
    size_t body_len; /* H1_EV_BODY only; > 0 */
    bool end_stream; /* the message is complete with this event */
};

/* h1_parser.flags: facts about the current message, valid from H1_EV_HEAD until the next
 * message starts. */
enum h1_msg_flags {
    /* the connection persists after this message (RFC 9112 §9.3) */
    H1_MF_KEEP_ALIVE = 0x0001,
    /* Connection: close was received */
    H1_MF_CONN_CLOSE = 0x0002,
    /* Expect: 100-continue in an HTTP/1.1 request */
    H1_MF_EXPECT_CONTINUE = 0x0004,
    /* Upgrade + Connection: upgrade (request), or the 101 / CONNECT 2xx response that
     * starts a tunnel */
    H1_MF_UPGRADE = 0x0008,
    /* a Connection field is present: strip the fields it nominates with
     * http_msg_strip_hop_by_hop() before forwarding */
    H1_MF_CONNECTION = 0x0010,
    /* a 1xx (not 101) response head: forward or swallow it, reset |msg| and keep parsing;
     * the final response follows */
    H1_MF_INFORMATIONAL = 0x0020,
    /* the request-target was in absolute-form (a forward-proxy request) */
    H1_MF_ABSOLUTE_FORM = 0x0040,
    /* msg->trailers holds a trailer section */
    H1_MF_TRAILERS = 0x0080,
    /* an x-forwarded-client-cert field is present (the connection manager sanitizes it
     * without scanning every request's fields) */
    H1_MF_XFCC = 0x0100,
};

/* Parser state. Fields are readable by the caller where documented; the rest is private. */
struct h1_parser {
    const struct h1_config *cfg; /* not owned */
    enum h1_role role;
    uint8_t state;            /* private: H1_S_* in h1_codec.c */
    uint8_t cx;               /* private: chunk-ext sub-state */
    uint32_t flags;           /* H1_MF_* of the current message */
    int err_status;           /* after an error: the status to answer (400, 413, 414, 431,
                               * 501, 505, 426, 405 for requests; 502 for responses) */
    const char *err_detail;   /* after an error: static detail, e.g. "http1.codec_error"
                               * (Envoy's %RESPONSE_CODE_DETAILS%) */
    uint64_t dropped_headers; /* fields dropped by H1_UNDERSCORES_DROP_HEADER, cumulative */
    uint64_t messages;        /* messages completed on this parser, cumulative */
    int err_code;             /* private: the negative code returned by every call once
                               * the parser has failed */

    /* private: current head / trailer section */
    uint32_t head_bytes;                /* bytes of complete lines in the current section */
    uint32_t max_head;                  /* byte cap of a section */
    uint32_t n_fields;                  /* fields in the current section */
    uint16_t mf;                        /* seen-field bits (Host, CL, TE...) */
    uint8_t te_state;                   /* Transfer-Encoding verdict so far */
    uint8_t target_form;                /* request-target form */
    uint64_t content_length;            /* Content-Length value */
    struct http_slice target_authority; /* absolute-form authority, for the Host check */
    struct http_slice host;             /* Host value */

    /* private: a line split across feeds, copied here until its LF arrives */
    char *lbuf; /* malloc'd, grows to the section cap; freed by fini */
    uint32_t llen;
    uint32_t lcap;

    /* private: body */
    uint64_t remaining;  /* bytes left in the Content-Length body or current chunk */
    uint64_t body_total; /* request body bytes announced so far (max_body_len) */
    uint64_t chunk_size; /* chunk-size being parsed */
    uint32_t chunk_line; /* bytes on the current chunk line */

    /* private: response side */
    enum http_method req_method; /* method of the request this response answers */
    bool req_upgrade;            /* that request asked for an upgrade */
};

/* Initialises |p| for |role| with the limits in |cfg| (NULL: static Envoy defaults for the
 * role). Allocates nothing until a head is split across feeds. */
void h1_parser_init(struct h1_parser *p, enum h1_role role, const struct h1_config *cfg);

/* Frees the parser's line buffer. |p| may be re-initialised after. */
void h1_parser_fini(struct h1_parser *p);

/* Feeds |len| bytes of |data| and runs the state machine until one event.
 *
 * |msg| receives the head (and trailers) of the message being parsed; it must be an empty
 * http_msg (http_msg_init, is_request matching the role) when a new message starts and the
 * same object until that message is DONE or its HEAD had end_stream. Header bytes are copied
 * into |msg|'s arena; |data| is only read during the call and never retained.
 *
 * On success returns an enum h1_event >= 0 and fills |res|; the caller must then remove
 * res->consumed bytes from the front of its input (body bytes as described in h1_result) and
 * call again with what remains (or more data) until H1_EV_NEED_MORE. At most one non-
 * NEED_MORE event is returned per call, so the caller can stop after a complete message
 * (HEAD with end_stream, BODY with end_stream, DONE) to answer pipelined requests in order.
 *
 * Returns a negative code on error, after which the parser stays failed and the connection
 * must be closed after answering p->err_status (server role) or resetting the stream:
 *   -RM_EPROTO  malformed or ambiguous message (400, 405, 426, 501, 505; 502 for responses)
 *   -RM_ELIMIT  a limit was exceeded (413, 414, 431; 502 for responses)
 *   -RM_ENOMEM  the arena or the line buffer could not grow (500)
 */
int h1_parse(struct h1_parser *p, struct http_msg *msg, const char *data, size_t len,
             struct h1_result *res);

/* Tells the parser that the peer closed its sending side.
 *
 * Returns H1_EV_DONE (res->end_stream set) when this ends an until-close response body or a
 * tunnel; H1_EV_NEED_MORE when no message was in progress (a clean close between messages);
 * or -RM_ECLOSED when a message was cut short (err_detail "http1.premature_close"). */
int h1_parse_eof(struct h1_parser *p, struct http_msg *msg, struct h1_result *res);

/* Client role: describes the request the next response answers, before its first byte is fed
 * (HEAD and CONNECT change the framing; |upgrade| allows a 101). Default: GET, no upgrade. */
void h1_parser_expect_response(struct h1_parser *p, enum http_method method, bool upgrade);

/* After H1_EV_PAUSED (an upgrade request is complete): |tunnel| true when the upstream
 * switched protocols, so every further byte is raw H1_EV_BODY data until EOF; false when it
 * declined, so the next request is parsed normally. Called with |tunnel| false before the
 * upgrade request is complete, it declines the upgrade in advance (no pause). */
void h1_parser_resume(struct h1_parser *p, bool tunnel);

/* True when no message is in progress (no byte of a new one seen): the connection may be
 * closed or reused without cutting a message. */
bool h1_parser_idle(const struct h1_parser *p);

/* ---- serializer ------------------------------------------------------------------------------
 * Heads are written with lowercase field names, one reservation in |out|. The framing header
 * (content-length / transfer-encoding: chunked) is written from |framing| only; fields of
 * those names in |msg| are skipped, so the framing the caller chose is the only one on the
 * wire. Callers strip hop-by-hop fields first (http_msg_strip_hop_by_hop). */

#define H1_WF_CONN_CLOSE 0x01 /* write "connection: close" (drops msg's connection fields) */
#define H1_WF_KEEP_ALIVE 0x02 /* write "connection: keep-alive" (answering HTTP/1.0) */
#define H1_WF_UPGRADE 0x04    /* write "connection: upgrade" (forwarding an upgrade) */
#define H1_WF_HTTP10 0x08     /* write HTTP/1.0 in the start line instead of HTTP/1.1 */

/* Appends the request head of |msg| to |out|: "METHOD target HTTP/1.1", "host: authority",
 * the fields, the framing header, CRLF. The target is the authority for CONNECT, otherwise
 * the path. |framing|: HTTP_BODY_LENGTH writes content-length: |content_length|;
 * HTTP_BODY_CHUNKED writes transfer-encoding: chunked; NONE/TUNNEL write neither.
 * Returns 0, -RM_EINVAL when the method, path or authority would not survive the trip (CR,
 * LF, SP, CTL: a bug or a bad rewrite upstream of the codec) or |framing| is
 * HTTP_BODY_UNTIL_CLOSE, or -RM_ENOMEM. Nothing is appended on error. */
int h1_write_request_head(struct evbuffer *out, const struct http_msg *msg,
                          enum http_body_kind framing, uint64_t content_length, unsigned flags);

/* Appends the response head of |msg| to |out|: "HTTP/1.1 status reason" (msg->reason, or
 * the standard phrase when empty), the fields, the framing header, CRLF. |framing| as for
 * requests; HTTP_BODY_UNTIL_CLOSE writes no framing header (the caller closes after the
 * body). A body-less 2xx-5xx answer on a persistent connection needs HTTP_BODY_LENGTH with 0.
 * Returns 0, -RM_EINVAL (status outside 100..599, a bad reason, or a framing header on a
 * 1xx/204 response, RFC 9110 §8.6, RFC 9112 §6.1), or -RM_ENOMEM. */
int h1_write_response_head(struct evbuffer *out, const struct http_msg *msg,
                           enum http_body_kind framing, uint64_t content_length, unsigned flags);

/* Moves |n| bytes from the front of |data| to |out| as one chunk ("<hex>\r\n" data "\r\n",
 * RFC 9112 §7.1) without copying the bytes. |n| 0 writes nothing (a zero-size chunk would end
 * the body). Returns 0, -RM_EINVAL when |data| holds fewer than |n| bytes, or -RM_ENOMEM. */
int h1_write_chunk(struct evbuffer *out, struct evbuffer *data, size_t n);

/* Appends the last chunk, the trailer section from |trailers| (NULL or empty for none) and
 * the final CRLF. Returns 0 or -RM_ENOMEM. */
int h1_write_last_chunk(struct evbuffer *out, const struct http_hdrs *trailers);

/* Appends "HTTP/1.1 100 Continue\r\n\r\n" (answer to H1_MF_EXPECT_CONTINUE, RFC 9110
 * §10.1.1). Returns 0 or -RM_ENOMEM. */
int h1_write_continue(struct evbuffer *out);

#endif
