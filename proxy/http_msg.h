/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/http_msg.h — the codec-neutral HTTP message head (HAProxy's HTX idea): one request or
 * response head + header map + trailers that the HTTP/1.1 and HTTP/2 codecs produce and
 * consume, and that filters and the router work on without knowing the wire version.
 * Pseudo-header style: method/scheme/authority/path map 1:1 to HTTP/2's :method, :scheme,
 * :authority, :path; HTTP/1's Host lives in |authority|, never in the header map.
 * Everything a message points to lives in its per-stream arena (or is static); nothing is
 * freed individually. Runs on the worker that owns the stream. Bodies are not here: they are
 * evbuffer chains moved by the connection manager. */
#ifndef RM_HTTP_MSG_H
#define RM_HTTP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct arena;

/* A byte range. Not necessarily NUL-terminated, but every slice produced by the parser or
 * by the copying functions below is (p[n] == '\0'). An empty slice has n == 0. */
struct http_slice {
    const char *p;
    size_t n;
};

enum http_method {
    HTTP_METHOD_OTHER = 0, /* extension method: see http_msg.method_name */
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_CONNECT,
    HTTP_METHOD_OPTIONS,
    HTTP_METHOD_TRACE,
    HTTP_METHOD_PATCH,
};

enum http_version {
    HTTP_VERSION_NONE = 0,
    HTTP_VERSION_1_0 = 10,
    HTTP_VERSION_1_1 = 11,
    HTTP_VERSION_2 = 20,
};

/* How the body after a head is delimited (RFC 9112 §6.3). Codec-neutral meaning:
 * NONE = no body follows (end_stream on the head); LENGTH = exactly |content_length| bytes;
 * CHUNKED = length unknown, ends with an explicit end of stream (HTTP/1 chunked, HTTP/2
 * END_STREAM); UNTIL_CLOSE = a response read until the connection closes; TUNNEL = raw bytes
 * both ways after CONNECT 2xx / 101 Switching Protocols, until either side closes. */
enum http_body_kind {
    HTTP_BODY_NONE = 0,
    HTTP_BODY_LENGTH,
    HTTP_BODY_CHUNKED,
    HTTP_BODY_UNTIL_CLOSE,
    HTTP_BODY_TUNNEL,
};

struct http_field {
    struct http_slice name;  /* lowercase token (RFC 9110 §5.1; RFC 9113 §8.2.1) */
    struct http_slice value; /* OWS-trimmed field value */
};

/* Ordered header (or trailer) map. Lookups are case-insensitive on |name|; stored names are
 * lowercase. Multiple fields with one name keep their order. Iterate with
 * `for (size_t i = 0; i < h->n; i++) h->v[i]`. The array grows in |arena|. */
struct http_hdrs {
    struct http_field *v;
    uint32_t n;          /* fields in use */
    uint32_t cap;        /* fields allocated */
    struct arena *arena; /* not owned */
};

struct http_msg {
    struct arena *arena; /* per-stream arena, not owned; everything below lives here */
    bool is_request;
    bool end_stream;               /* no body follows this head (set by the codec) */
    enum http_method method;       /* requests */
    struct http_slice method_name; /* requests: the method token, exact case (RFC 9110 §9.1) */
    struct http_slice scheme;      /* requests: "http"/"https"; empty = not known from the wire
                                    * (HTTP/1 origin-form: the connection manager sets it) */
    struct http_slice authority;   /* requests: Host / absolute-form authority / CONNECT target */
    struct http_slice path;        /* requests: origin-form path+query, "*" for OPTIONS *,
                                    * empty for CONNECT */
    int status;                    /* responses: 100..599; 0 in requests */
    struct http_slice reason;      /* responses: reason phrase as received (may be empty) */
    enum http_version version;     /* for logs (%PROTOCOL%) and HTTP/1.0 keep-alive rules */
    enum http_body_kind body;      /* framing of the body that follows */
    uint64_t content_length;       /* valid when body == HTTP_BODY_LENGTH */
    struct http_hdrs headers;
    struct http_hdrs trailers; /* filled when the body ends with trailers */
};

/* ---- message ------------------------------------------------------------------------------ */

/* Initialises |msg| as an empty request (|is_request|) or response head whose storage comes
 * from |arena|. Allocates nothing. |arena| must outlive |msg|. */
void http_msg_init(struct http_msg *msg, struct arena *arena, bool is_request);

/* Forgets everything |msg| holds (the memory stays in the arena until it is freed) and
 * makes it an empty head of the same kind, e.g. after an informational 1xx response. */
void http_msg_reset(struct http_msg *msg);

/* Sets the method from the token |s| of |n| bytes. Known methods (exact, case-sensitive per
 * RFC 9110 §9.1) point to static text; others are copied into |msg|'s arena. Does not
 * validate the token. Returns 0 or -RM_ENOMEM. */
int http_msg_set_method(struct http_msg *msg, const char *s, size_t n);

/* Copy |n| bytes of |s| into |msg|'s arena and point the scheme / authority / path / reason
 * at the copy. The caller keeps ownership of |s|. No validation: callers that take these
 * from untrusted input validate first (the codecs do). Return 0 or -RM_ENOMEM. */
int http_msg_set_scheme(struct http_msg *msg, const char *s, size_t n);
int http_msg_set_authority(struct http_msg *msg, const char *s, size_t n);
int http_msg_set_path(struct http_msg *msg, const char *s, size_t n);
int http_msg_set_reason(struct http_msg *msg, const char *s, size_t n);

/* Returns the method enum for the token |s| of |n| bytes (case-sensitive), or
 * HTTP_METHOD_OTHER. */
enum http_method http_method_from(const char *s, size_t n);
/* Returns the static token of |m| ("GET"...), or NULL for HTTP_METHOD_OTHER. */
const char *http_method_name(enum http_method m);
/* Returns "HTTP/1.0", "HTTP/1.1", "HTTP/2" or "-" (static). */
const char *http_version_str(enum http_version v);
/* Returns the standard reason phrase for |status| (RFC 9110 §15), or "Unknown" (static). */
const char *http_reason_phrase(int status);

/* ---- validation (RFC 9110 §5.1, §5.5) ------------------------------------------------ */

/* Byte classes, one bit each, for tight validation loops in the codecs. */
enum http_ctype_bits {
    HTTP_CT_TCHAR = 0x01,  /* token: ALPHA DIGIT !#$%&'*+-.^_`|~ (RFC 9110 §5.6.2) */
    HTTP_CT_FVAL = 0x02,   /* field value: HTAB SP VCHAR obs-text (RFC 9110 §5.5) */
    HTTP_CT_TARGET = 0x04, /* request-target byte: VCHAR (0x21-0x7E), RFC 9112 §3.2 */
    HTTP_CT_HOST = 0x08,   /* authority: unreserved sub-delims ":" "[" "]" "%" (RFC 3986 §3.2) */
    HTTP_CT_HEX = 0x10,    /* HEXDIG */
    HTTP_CT_QDTEXT = 0x20, /* quoted-string qdtext: HTAB SP ! #-[ ]-~ obs-text (§5.6.4) */
};
extern const uint8_t http_ctype[256];
/* ASCII lowercase of every byte (other bytes unchanged). */
extern const uint8_t http_lower[256];
/* For a tchar byte, its lowercase; 0 for any other byte: validates and lowercases a field
 * name in one lookup per byte. */
extern const uint8_t http_tchar_lower[256];

/* Content-Length = 1*DIGIT (RFC 9110 §8.6). Lists ("1,1"), signs and inner spaces are
 * refused rather than reconciled. Fits int64. True with the value in *|out|. */
bool http_parse_content_length(const char *v, size_t n, uint64_t *out);

/* True when |s| of |n| bytes is a non-empty token (tchar only). */
bool http_is_token(const char *s, size_t n);
/* True when |s| of |n| bytes is a valid field value: SP, HTAB, VCHAR and obs-text only (no
 * NUL, CR, LF or other CTL), without leading or trailing whitespace. */
bool http_is_field_value(const char *s, size_t n);

/* ---- header map ---------------------------------------------------------------------------- */

/* Initialises an empty map that allocates from |arena|. */
void http_hdrs_init(struct http_hdrs *h, struct arena *arena);

/* Returns the index of the first field named |name| (|n| bytes, any case) at index >= |from|,
 * or -1. Use to walk multiple values: for (i = find(h,k,n,0); i >= 0; i = find(h,k,n,i+1)). */
long http_hdrs_find(const struct http_hdrs *h, const char *name, size_t n, size_t from);

/* Returns the value of the first field named |name| (any case), or NULL when absent. The
 * slice points into |h|'s arena and stays valid until the arena is freed, even if the field
 * is removed later. */
const struct http_slice *http_hdrs_get(const struct http_hdrs *h, const char *name, size_t n);

/* Returns how many fields are named |name| (any case). */
size_t http_hdrs_count(const struct http_hdrs *h, const char *name, size_t n);

/* Appends the field |name|: |value|. Both are validated (name: token; value: field value;
 * leading/trailing whitespace of |value| is trimmed first), the name is lowercased, and both
 * are copied into |h|'s arena; the caller keeps ownership of its bytes.
 *
 * Returns 0, -RM_EINVAL when name or value is not valid (nothing added; this is what keeps
 * a filter from injecting CR/LF into the serialized head), or -RM_ENOMEM. */
int http_hdrs_add(struct http_hdrs *h, const char *name, size_t nlen, const char *value,
                  size_t vlen);

/* Appends a field that is already valid, lowercase and stored in memory that outlives |h|
 * (its arena or static storage). Nothing is copied or checked: this is the codecs' path for
 * bytes they validated themselves. Returns 0 or -RM_ENOMEM. */
int http_hdrs_add_ref(struct http_hdrs *h, struct http_slice name, struct http_slice value);

/* Sets |name| to |value|: the first field of that name gets the new value (keeping its
 * position), any further ones are removed; when absent, the field is appended. Validation,
 * lowercasing and copying as in http_hdrs_add(). Returns 0, -RM_EINVAL or -RM_ENOMEM. */
int http_hdrs_set(struct http_hdrs *h, const char *name, size_t nlen, const char *value,
                  size_t vlen);

/* http_hdrs_set() for the fields Remora writes itself (x-request-id, date, server,
 * x-envoy-*): |name| is a lowercase token in static storage (referenced, not copied) and
 * |value| a field value Remora generated or validated at config load. With |copy| the value
 * is copied into the arena, else referenced (it must outlive |h|: static, or the config
 * snapshot the stream holds). Nothing is validated: callers must never pass peer bytes.
 * Returns 0 or -RM_ENOMEM. */
int http_hdrs_set_own(struct http_hdrs *h, const char *name, size_t nlen, const char *value,
                      size_t vlen, bool copy);

#define HTTP_HDRS_SET_LIT(h, lit, value, vlen, copy)                                               \
    http_hdrs_set_own((h), (lit), sizeof(lit) - 1, (value), (vlen), (copy))

/* Removes every field named |name| (any case), keeping the order of the others. Returns the
 * number removed. */
size_t http_hdrs_remove(struct http_hdrs *h, const char *name, size_t n);

/* Removes the field at |idx| (< h->n), keeping the order of the others. */
void http_hdrs_remove_at(struct http_hdrs *h, size_t idx);

/* True when the comma-separated list value(s) of every field named |name| contain the token
 * |tok| (case-insensitive, RFC 9110 §5.6.1 lists), e.g. ("connection", "close"). */
bool http_hdrs_has_token(const struct http_hdrs *h, const char *name, size_t nlen, const char *tok,
                         size_t toklen);

/* Removes hop-by-hop fields before a message is forwarded (RFC 9110 §7.6.1): every field
 * nominated by a Connection token, then connection, keep-alive, proxy-connection,
 * transfer-encoding and upgrade; te is removed unless it lists "trailers", in which case it
 * becomes exactly "te: trailers" (the only TE HTTP/2 allows, RFC 9113 §8.2.2). When
 * |keep_upgrade| (an upgrade being forwarded), the upgrade field and a nominated "upgrade"
 * stay; the serializer then writes "connection: upgrade" itself.
 * Returns 0 or -RM_ENOMEM. */
int http_msg_strip_hop_by_hop(struct http_msg *msg, bool keep_upgrade);

/* ---- conveniences on msg->headers with NUL-terminated names/values (filters) ---------------- */

static inline const struct http_slice *http_msg_get(const struct http_msg *msg, const char *name)
{
    return http_hdrs_get(&msg->headers, name, strlen(name));
}

static inline bool http_msg_has(const struct http_msg *msg, const char *name)
{
    return http_hdrs_find(&msg->headers, name, strlen(name), 0) >= 0;
}

static inline int http_msg_add(struct http_msg *msg, const char *name, const char *value)
{
    return http_hdrs_add(&msg->headers, name, strlen(name), value, strlen(value));
}

static inline int http_msg_set(struct http_msg *msg, const char *name, const char *value)
{
    return http_hdrs_set(&msg->headers, name, strlen(name), value, strlen(value));
}

static inline size_t http_msg_remove(struct http_msg *msg, const char *name)
{
    return http_hdrs_remove(&msg->headers, name, strlen(name));
}

#endif
