/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/access_log.h — Envoy access logs: format strings compiled once at config time
 * (%OPERATOR% substitution, text or json_format), a per-request/per-connection context (Envoy's
 * StreamInfo subset) filled by the HCM / tcp_proxy, and an asynchronous file writer.
 * Threads: formats and loggers are immutable after config load and used from any worker;
 * sinks are opened on the main thread and shared; one background flusher thread per process
 * does every write(2), so a worker never blocks on disk (it drops and counts instead).
 * Doc: docs/internals/access_log.md; Envoy: configuration/observability/access_log/usage. */
#ifndef RM_ACCESS_LOG_H
#define RM_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct arena;
struct strbuf;
struct vt_node;
struct cfg_access_log;
struct cfg_alog_filter;
struct http_msg;

/* Envoy's default text format (SubstitutionFormatUtils::DEFAULT_FORMAT), byte for byte. */
#define ALOG_DEFAULT_FORMAT                                                                        \
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "             \
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "                   \
    "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "                                                       \
    "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" "                    \
    "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n"

#define ALOG_LINE_MAX (256u * 1024u)       /* a formatted line larger than this is dropped */
#define ALOG_FLUSH_MIN_BYTES (64u * 1024u) /* buffered bytes that wake the flusher (Envoy's) */
/* Per sink buffer (there are two per sink); when full, lines are dropped, never waited for. */
#define ALOG_SINK_BUFFER_MAX (2u * 1024u * 1024u)

/*
 * Looks a header up for %REQ% / %RESP% / %TRAILER%. |lname| is the lower-case name,
 * NUL-terminated, pseudo-headers included (":path", ":authority", ":method"). Returns the first
 * value and its length in |*len| (not necessarily NUL-terminated), or NULL when absent. The
 * pointer must stay valid until the log line is formatted. The HTTP layer (http_msg) plugs in
 * here; TCP contexts leave the callbacks NULL and every header operator prints "-".
 */
typedef const char *(*alog_header_fn)(const void *stream, const char *lname, size_t *len);

/*
 * Everything an access log line can show about one request (HTTP) or connection (TCP):
 * Envoy's StreamInfo subset. Zero-initialise (alog_ctx_init()), fill as the exchange goes,
 * format at the end. Strings are borrowed (NULL = unknown; "" counts as unknown where Envoy
 * treats empty as absent) and must outlive the alog_logger_log() call. Monotonic stamps are
 * CLOCK_MONOTONIC nanoseconds from alog_mono_ns(); 0 = the event did not happen, and the
 * matching duration operator prints "-". An address with ss_family == AF_UNSPEC is unknown.
 */
struct alog_ctx {
    struct timespec start_time;      /* CLOCK_REALTIME at the first downstream byte; 0 = unset */
    int64_t start_mono_ns;           /* CLOCK_MONOTONIC ns at the same instant */
    int64_t last_downstream_rx_ns;   /* request fully received: %REQUEST_DURATION% */
    int64_t last_upstream_tx_ns;     /* request fully sent upstream: %REQUEST_TX_DURATION% */
    int64_t first_upstream_rx_ns;    /* first upstream response byte: %RESPONSE_DURATION% */
    int64_t last_downstream_tx_ns;   /* response fully sent: %RESPONSE_TX_DURATION% */
    int64_t complete_ns;             /* stream/connection finished: %DURATION% */
    int64_t downstream_handshake_ns; /* TLS handshake done: %DOWNSTREAM_HANDSHAKE_DURATION% */

    uint64_t bytes_received; /* body bytes (HTTP) / payload bytes (TCP) from downstream */
    uint64_t bytes_sent;     /* body bytes (HTTP) / payload bytes (TCP) to downstream */
    uint32_t response_code;  /* HTTP status sent downstream; 0 = none (prints 0, as Envoy) */
    uint32_t response_flags; /* RF_* bits (proxy/response_flags.h) */
    uint32_t attempt_count;  /* upstream attempts incl. retries; 0 = unset (prints 0) */
    uint64_t connection_id;  /* downstream connection id; 0 = unset (prints 0) */

    const char *response_code_details;             /* "via_upstream", "route_not_found", ... */
    const char *connection_termination_details;    /* why we closed the connection */
    const char *protocol;                          /* "HTTP/1.0", "HTTP/1.1", "HTTP/2"; TCP: NULL */
    const char *upstream_cluster;                  /* cluster name (observability name) */
    const char *upstream_transport_failure_reason; /* spaces print as '_' (Envoy) */
    const char *route_name;
    const char *requested_server_name;   /* SNI */
    const char *downstream_peer_uri_san; /* comma-joined URI SANs of the client cert */
    const char *downstream_peer_subject;
    const char *downstream_tls_version; /* "TLSv1.3" */

    struct sockaddr_storage downstream_remote;        /* after XFF/PROXY protocol handling */
    struct sockaddr_storage downstream_direct_remote; /* the socket peer */
    struct sockaddr_storage downstream_local;
    struct sockaddr_storage upstream_host;  /* selected host: %UPSTREAM_HOST% */
    struct sockaddr_storage upstream_local; /* local side of the upstream connection */

    /* %LOCAL_REPLY_BODY%: the body of the local reply being formatted (HCM
     * local_reply_config body_format); NULL outside local replies (prints ""). */
    const char *local_reply_body;
    size_t local_reply_body_len;
    /* The request head, for access log header_filter (proxy/alog_filter.h): all fields of a
     * repeated header, joined as Envoy does. NULL = header_filter falls back to req_header
     * (first value of each header). */
    const struct http_msg *request;

    const void *stream;         /* opaque argument of the callbacks below */
    alog_header_fn req_header;  /* NULL = no request headers (TCP) */
    alog_header_fn resp_header; /* NULL = no response headers */
    alog_header_fn resp_trailer;
};

/* CLOCK_MONOTONIC now, in nanoseconds (never 0). Between alog_clock_hold() and
 * alog_clock_release() on this thread, every call returns the same reading (taken at the
 * first call): one socket callback then reads the clock once, not a dozen times (the reads
 * were ~4% of a proxy's CPU under load in a VM). */
extern __thread int64_t alog_clock_held_ns; /* private to the inline below */
int64_t alog_mono_ns_read(void);
static inline int64_t alog_mono_ns(void)
{
    int64_t held = alog_clock_held_ns;
    return held ? held : alog_mono_ns_read();
}

/* Brackets one I/O callback (proxy/conn.c); nests. */
void alog_clock_hold(void);
void alog_clock_release(void);

/* Zeroes |ctx| and stamps start_time (CLOCK_REALTIME) and start_mono_ns (CLOCK_MONOTONIC). */
void alog_ctx_init(struct alog_ctx *ctx);

/* ---- formats ------------------------------------------------------------------------------ */

struct alog_format; /* opaque, immutable once compiled; lives in the arena given to compile */

/*
 * Compiles an access log format once, at config time.
 *   - |json_format| non-NULL (a VT_MAP, Envoy's log_format.json_format Struct): JSON lines;
 *     keys are emitted sorted (as Envoy does), a value that is a single %OPERATOR% keeps its
 *     type (numbers stay numbers, a missing value is null), other strings with operators are
 *     strings, constants are copied. |fmt| is ignored.
 *   - otherwise |fmt| is a text format (NULL = ALOG_DEFAULT_FORMAT). No newline is added:
 *     Envoy writes exactly what the format produces.
 * |omit_empty_values|: text missing values print "" instead of "-"; JSON drops keys whose
 * value is null (and objects left empty), as Envoy's omit_empty_values.
 * Everything is allocated from |a|; the format is valid until arena_fini(a).
 * Returns 0 and |*out|, or -RM_ECONFIG with Envoy's message in |err| (|errlen| bytes), e.g.
 * "Not supported field in StreamInfo: FOO", or -RM_ENOMEM.
 */
int alog_format_compile(const char *fmt, const struct vt_node *json_format, bool omit_empty_values,
                        struct arena *a, struct alog_format **out, char *err, size_t errlen);

/* True when |f| produces JSON lines. */
bool alog_format_is_json(const struct alog_format *f);

/*
 * Appends the line for |ctx| to |out| (JSON lines end with '\n'; text lines end with whatever
 * the format ends with). Thread-safe: |f| is read-only. Returns 0, or the strbuf's negative
 * RM_E* code (-RM_ENOMEM, -RM_ELIMIT) when |out| could not take the line.
 */
int alog_format_write(const struct alog_format *f, const struct alog_ctx *ctx, struct strbuf *out);

/*
 * Formats |ctx| with |f| (as alog_format_write()) and copies the result, NUL-terminated,
 * into |a|: for header values and local reply bodies built per request. Formats in a
 * per-thread scratch buffer, so once that buffer has grown nothing but |a| is allocated.
 * Returns 0 with |*out| and |*len| (NUL excluded), or -RM_ENOMEM / -RM_ELIMIT (longer than
 * ALOG_LINE_MAX). Any thread.
 */
int alog_format_to_arena(const struct alog_format *f, const struct alog_ctx *ctx, struct arena *a,
                         const char **out, size_t *len);

/* ---- sinks: asynchronous, shared writers ---------------------------------------------------- */

struct alog_sink; /* opaque, refcounted, shared by every logger with the same path */

/* Process-wide writer counters (Envoy's access_log_file.* stats, plus |dropped|). */
struct alog_stats {
    uint64_t write_buffered;   /* lines accepted into a buffer */
    uint64_t write_completed;  /* write(2) batches that completed */
    uint64_t write_failed;     /* write(2) batches that failed (their bytes are lost) */
    uint64_t flushed_by_timer; /* flushes triggered by the flush interval, not by size */
    uint64_t reopen_failed;    /* reopen after SIGUSR1 failed; the old fd stays in use */
    uint64_t dropped;          /* lines dropped: buffer full, line too long, after shutdown */
    uint64_t total_buffered;   /* gauge: bytes waiting in buffers now */
};

/*
 * Opens (or shares) the sink writing to |path|, creating the file (0644, O_APPEND) if needed;
 * "/dev/stdout" and "/dev/stderr" duplicate fd 1 / 2 instead of opening the path, so they
 * work when stdout is a pipe or socket. Starts the flusher thread on first use. Main thread
 * (config load) only. Returns 0 and a new reference in |*out|, or -RM_EIO with
 * "cannot open access log file '<path>': <strerror>" in |err|, or -RM_ENOMEM.
 */
int alog_sink_open(const char *path, struct alog_sink **out, char *err, size_t errlen);

/* Takes another reference. Any thread. */
struct alog_sink *alog_sink_ref(struct alog_sink *s);

/* Drops a reference; at the last one the flusher writes what is left, closes the file and
 * frees the sink. Any thread; never blocks on I/O. */
void alog_sink_unref(struct alog_sink *s);

/*
 * Queues |n| bytes (one or more whole lines) for writing. Never blocks on I/O: holds the
 * sink's mutex only for a memcpy. Thread-safe. Returns 0, or -RM_ELIMIT when the line was
 * dropped (buffer full because the flusher is behind, line larger than the buffer, sink shut
 * down) and counted in alog_sink_dropped() / alog_stats.dropped.
 */
int alog_sink_write(struct alog_sink *s, const char *data, size_t n);

/* Lines dropped by |s| so far. */
uint64_t alog_sink_dropped(const struct alog_sink *s);

/* Asks the flusher to reopen every file sink (SIGUSR1, after logrotate moved the file): it
 * opens |path| anew, then writes what is buffered into the new file (Envoy's order).
 * Asynchronous; stdout and stderr sinks are left alone. Any thread; never blocks on I/O. */
void alog_reopen_all(void);

/* Blocks until the flusher has completed a full cycle that started after this call: every
 * line queued before the call is written and pending reopens are done. For tests, drain and
 * the admin endpoint; never call it on a worker. No-op when no sink was ever opened. */
void alog_flush_all(void);

/* Flush interval (Envoy's --file-flush-interval-msec); 0 restores the default of 1000 ms.
 * Takes effect at the flusher's next wait. */
void alog_set_flush_interval_ms(unsigned ms);

/* Snapshot of the process-wide counters. Any thread. */
void alog_stats_get(struct alog_stats *out);

/*
 * Flushes every sink, joins the flusher and closes every file. Call once at exit, after the
 * workers stopped logging. Sinks still referenced stay allocated until their last unref but
 * drop further lines. A later alog_sink_open() starts afresh (tests rely on this).
 */
void alog_shutdown(void);

/* ---- loggers: format + sink from the config model ------------------------------------------- */

struct alog_logger {
    const struct cfg_alog_filter *filter; /* AccessLog.filter (config model); NULL = log all */
    const struct alog_format *format;
    struct alog_sink *sink; /* one reference, dropped when the arena is freed */
};

/*
 * Builds a logger for one envoy.access_loggers.{file,stdout,stderr} entry: compiles the
 * format (cfg->json_format, else cfg->format, else the default) and opens or shares the sink.
 * Allocated from |a|; the sink reference is released by an arena cleanup, so arena_fini(a)
 * is the only teardown. Main thread (config load). Returns 0, or -RM_ECONFIG / -RM_EIO with
 * a message in |err|, or -RM_ENOMEM.
 */
int alog_logger_new(const struct cfg_access_log *cfg, struct arena *a, struct alog_logger **out,
                    char *err, size_t errlen);

/*
 * Evaluates |l|'s filter (proxy/alog_filter.h, with the calling worker's runtime snapshot)
 * and, when it passes, formats |ctx| with |l|'s format into a per-thread buffer and queues
 * the line on its sink. Any thread; never blocks on I/O. A line that cannot be formatted (too
 * long, no memory) or queued is dropped and counted; a filtered-out entry is not counted.
 */
void alog_logger_log(const struct alog_logger *l, const struct alog_ctx *ctx);

#endif
