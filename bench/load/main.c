/* SPDX-License-Identifier: Apache-2.0 */
/* bench/load/main.c — remora-load: argv, targets, the run clock, worker threads, the live
 * progress line and the final report. The main thread only waits (sigtimedwait: SIGINT/SIGTERM
 * stop the run early, SIGUSR1 says a worker finished, the 1 s timeout drives progress). */
#include "bench/load/load.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "bench/common/evbase.h"
#include "bench/common/tls.h"

struct load_opts lopt;
struct run_clock run_clock;

static pthread_t main_tid;
static _Atomic int workers_done;

static void usage(FILE *f)
{
    fputs("usage: remora-load [options] URL[@weight] [URL[@weight] ...]\n"
          "       remora-load --tcp [options] HOST:PORT\n"
          "load shape:\n"
          "  -c N              connections in total (default 10)\n"
          "  -t N              threads (default 1)\n"
          "  -m N              concurrent streams per HTTP/2 connection (default 1)\n"
          "  -d DURATION       measured duration: 10, 10s, 500ms, 2m (default 10s without -n)\n"
          "  -n N              measured requests (exact); with -d, whichever comes first\n"
          "  --warmup DURATION load before measuring, not counted\n"
          "  -R RATE           open loop at RATE req/s in total; latency from the intended send\n"
          "                    time (coordinated omission corrected, as wrk2)\n"
          "  --timeout DURATION per request and per connect (default 5s)\n"
          "  --pipeline N      HTTP/1.1 requests in flight per connection (default 1)\n"
          "  --new-conn        one connection per request (Connection: close)\n"
          "protocol:\n"
          "  --h2              HTTP/2: prior knowledge on http://, ALPN h2 on https://\n"
          "  --cacert FILE     trust this CA (default: system store)\n"
          "  --cert FILE, --key FILE   client certificate (mTLS)\n"
          "  -k, --insecure    do not verify the server certificate\n"
          "  --no-verify-cache verify the server's chain in full on every handshake (default:\n"
          "                    a chain that verified is remembered per thread for its server\n"
          "                    name; identical chain bytes skip the chain check, the server's\n"
          "                    CertificateVerify signature is still checked every time)\n"
          "  --tcp             raw TCP throughput to HOST:PORT (echo or sink)\n"
          "  --bytes N         --tcp: total bytes to send (K/M/G suffixes, 1024-based)\n"
          "  --tcp-chunk N     --tcp: bytes per write (default 65536, max 65536)\n"
          "request:\n"
          "  -X METHOD         (default GET)\n"
          "  -H 'Name: value'  extra request header (repeatable)\n"
          "  --body FILE       request body\n"
          "output:\n"
          "  --json            machine-readable result (schema remora-load/1) on stdout\n"
          "  --check-status N  count responses whose status is not N; exit 3 on any mismatch\n"
          "                    or failed request\n"
          "  -q, --quiet       no live progress line (it is off anyway unless stderr is a\n"
          "                    terminal and CI is unset)\n"
          "  -h, --help\n",
          f);
}

static bool parse_duration(const char *s, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || d < 0)
        return false;
    if (*end == '\0' || strcmp(end, "s") == 0)
        *out = d;
    else if (strcmp(end, "ms") == 0)
        *out = d / 1e3;
    else if (strcmp(end, "us") == 0)
        *out = d / 1e6;
    else if (strcmp(end, "m") == 0)
        *out = d * 60;
    else if (strcmp(end, "h") == 0)
        *out = d * 3600;
    else
        return false;
    return true;
}

static bool parse_count(const char *s, bool binary, uint64_t *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    double k = binary ? 1024 : 1000;
    if (errno || end == s || d < 0)
        return false;
    if (*end == 'k' || *end == 'K')
        d *= k, end++;
    else if (*end == 'm' || *end == 'M')
        d *= k * k, end++;
    else if (*end == 'g' || *end == 'G')
        d *= k * k * k, end++;
    if (*end || d > 9e18)
        return false;
    *out = (uint64_t)d;
    return true;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            if (cap >= (64u << 20)) {
                free(buf);
                fclose(f);
                return -EFBIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return -ENOMEM;
    *out = buf;
    *len = n;
    return 0;
}

enum {
    OPT_WARMUP = 256,
    OPT_TIMEOUT,
    OPT_PIPELINE,
    OPT_NEW_CONN,
    OPT_H2,
    OPT_CACERT,
    OPT_CERT,
    OPT_KEY,
    OPT_TCP,
    OPT_BYTES,
    OPT_TCP_CHUNK,
    OPT_BODY,
    OPT_JSON,
    OPT_CHECK_STATUS,
    OPT_NO_VERIFY_CACHE,
};

/* parse_args() failures: bad usage (exit 2), or a setup failure such as an unreadable --body
 * file or a host that does not resolve (exit 1). */
enum { ARGS_USAGE = -1, ARGS_SETUP = -2 };

static int parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"pipeline", required_argument, NULL, OPT_PIPELINE},
        {"new-conn", no_argument, NULL, OPT_NEW_CONN},
        {"h2", no_argument, NULL, OPT_H2},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"insecure", no_argument, NULL, 'k'},
        {"tcp", no_argument, NULL, OPT_TCP},
        {"bytes", required_argument, NULL, OPT_BYTES},
        {"tcp-chunk", required_argument, NULL, OPT_TCP_CHUNK},
        {"body", required_argument, NULL, OPT_BODY},
        {"json", no_argument, NULL, OPT_JSON},
        {"check-status", required_argument, NULL, OPT_CHECK_STATUS},
        {"no-verify-cache", no_argument, NULL, OPT_NO_VERIFY_CACHE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t u;
    bool quiet = false;
    bool have_d = false;
    int o;

    lopt.conns = 10;
    lopt.threads = 1;
    lopt.streams = 1;
    lopt.pipeline = 1;
    lopt.timeout = 5;
    lopt.method = "GET";
    while ((o = getopt_long(argc, argv, "c:t:m:d:n:R:X:H:kqh", lo, NULL)) != -1) {
        switch (o) {
        case 'c':
        case 't':
        case 'm':
        case OPT_PIPELINE:
            if (!parse_count(optarg, false, &u) || u < 1 || u > 1000000)
                goto bad;
            *(o == 'c'   ? &lopt.conns
              : o == 't' ? &lopt.threads
              : o == 'm' ? &lopt.streams
                         : &lopt.pipeline) = (int)u;
            break;
        case 'd':
            if (!parse_duration(optarg, &lopt.duration) || lopt.duration <= 0)
                goto bad;
            have_d = true;
            break;
        case 'n':
            if (!parse_count(optarg, false, &lopt.requests) || lopt.requests == 0)
                goto bad;
            break;
        case 'R': {
            char *end;
            lopt.rate = strtod(optarg, &end);
            if (*end || !(lopt.rate > 0))
                goto bad;
            break;
        }
        case 'X':
            lopt.method = optarg;
            break;
        case 'H':
            if (lopt.n_headers == LOAD_MAX_HEADERS || !strchr(optarg, ':') || optarg[0] == ':')
                goto bad;
            lopt.headers[lopt.n_headers++] = optarg;
            break;
        case 'k':
            lopt.insecure = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case OPT_WARMUP:
            if (!parse_duration(optarg, &lopt.warmup))
                goto bad;
            break;
        case OPT_TIMEOUT:
            if (!parse_duration(optarg, &lopt.timeout) || lopt.timeout <= 0)
                goto bad;
            break;
        case OPT_NEW_CONN:
            lopt.new_conn = true;
            break;
        case OPT_H2:
            lopt.h2 = true;
            break;
        case OPT_CACERT:
            lopt.cacert = optarg;
            break;
        case OPT_CERT:
            lopt.cert = optarg;
            break;
        case OPT_KEY:
            lopt.key = optarg;
            break;
        case OPT_TCP:
            lopt.tcp = true;
            break;
        case OPT_BYTES:
            if (!parse_count(optarg, true, &lopt.tcp_bytes) || lopt.tcp_bytes == 0)
                goto bad;
            break;
        case OPT_TCP_CHUNK:
            if (!parse_count(optarg, true, &u) || u < 1 || u > 65536)
                goto bad;
            lopt.tcp_chunk = (size_t)u;
            break;
        case OPT_BODY: {
            int rc = read_file(optarg, &lopt.body, &lopt.body_len);
            if (rc < 0) {
                fprintf(stderr, "remora-load: --body %s: %s\n", optarg, strerror(-rc));
                return ARGS_SETUP;
            }
            break;
        }
        case OPT_JSON:
            lopt.json = true;
            break;
        case OPT_NO_VERIFY_CACHE:
            lopt.no_verify_cache = true;
            break;
        case OPT_CHECK_STATUS:
            if (!parse_count(optarg, false, &u) || u < 100 || u > 999)
                goto bad;
            lopt.check_status = (int)u;
            break;
        default:
            usage(stderr);
            return ARGS_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return ARGS_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        int rc;
        if (lopt.tcp) {
            /* tcp://host:port or host:port become an endpoint with a dummy target. */
            const char *hp = strncmp(argv[i], "tcp://", 6) == 0 ? argv[i] + 6 : argv[i];
            if (strstr(hp, "://") || strchr(hp, '/')) {
                fprintf(stderr, "remora-load: --tcp takes HOST:PORT or tcp://HOST:PORT, not %s\n",
                        argv[i]);
                return ARGS_USAGE;
            }
            char url[512];
            snprintf(url, sizeof(url), "http://%s", hp);
            rc = url_add_target(url);
        } else {
            rc = url_add_target(argv[i]);
        }
        if (rc == -EADDRNOTAVAIL)
            return ARGS_SETUP; /* the host does not resolve */
        if (rc < 0)
            return ARGS_USAGE;
    }
    if (!have_d && !lopt.requests && !(lopt.tcp && lopt.tcp_bytes))
        lopt.duration = 10;
    if (lopt.threads > lopt.conns)
        lopt.threads = lopt.conns;
    if ((int)lopt.n_eps > lopt.conns) {
        fprintf(stderr, "remora-load: need at least one connection per host (-c %u)\n", lopt.n_eps);
        return ARGS_USAGE;
    }
    /* A flag that would be dropped is refused: the run would not measure what was asked. */
    const char *clash = NULL;
    if (lopt.h2 && lopt.pipeline > 1)
        clash = "--pipeline is for HTTP/1.1; use -m with --h2";
    else if (!lopt.h2 && !lopt.tcp && lopt.streams > 1)
        clash = "-m is for HTTP/2 (--h2); use --pipeline with HTTP/1.1";
    else if (lopt.new_conn && (lopt.pipeline > 1 || lopt.streams > 1))
        clash = "--new-conn sends one request per connection; drop --pipeline / -m";
    else if (lopt.tcp &&
             (lopt.h2 || lopt.new_conn || lopt.pipeline > 1 || lopt.streams > 1 || lopt.body ||
              lopt.check_status || lopt.n_headers || strcmp(lopt.method, "GET") != 0))
        clash = "--tcp streams raw bytes: HTTP flags (--h2, -m, --pipeline, --new-conn, -X, -H, "
                "--body, --check-status) do not apply";
    else if (lopt.tcp && lopt.rate > 0)
        clash = "-R (open loop) is for HTTP requests, not --tcp";
    if (clash) {
        fprintf(stderr, "remora-load: %s\n", clash);
        return ARGS_USAGE;
    }
    if (!!lopt.cert != !!lopt.key) {
        fprintf(stderr, "remora-load: --cert and --key go together\n");
        return ARGS_USAGE;
    }
    lopt.progress = !quiet && isatty(2) && !getenv("CI");
    return 0;
bad:
    for (const struct option *p = lo; p->name; p++)
        if (p->val == o) {
            fprintf(stderr, "remora-load: bad value for --%s: %s\n", p->name, optarg ? optarg : "");
            return ARGS_USAGE;
        }
    fprintf(stderr, "remora-load: bad value for -%c: %s\n", o, optarg ? optarg : "");
    return ARGS_USAGE;
}

struct thread_arg {
    struct worker *w;
    int rc;
};

static void *worker_main(void *arg)
{
    struct thread_arg *ta = arg;
    ta->rc = worker_run(ta->w);
    atomic_fetch_add(&workers_done, 1);
    pthread_kill(main_tid, SIGUSR1);
    return NULL;
}

int main(int argc, char **argv)
{
    int prc = parse_args(argc, argv);
    if (prc < 0)
        return prc == ARGS_SETUP ? 1 : 2;
    if (url_build_requests() < 0)
        return 1;
    bool any_tls = false;
    for (unsigned i = 0; i < lopt.n_eps; i++)
        any_tls |= lopt.eps[i].tls;
    if (any_tls) {
        struct tls_client_cfg tc = {
            .alpn = lopt.h2 ? "h2" : "http/1.1",
            .cacert = lopt.cacert,
            .cert = lopt.cert,
            .key = lopt.key,
            .insecure = lopt.insecure,
            .verify_cache = !lopt.no_verify_cache,
        };
        lopt.tls = tls_client_new(&tc);
        if (!lopt.tls)
            return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    main_tid = pthread_self();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    int nt = lopt.threads;
    struct worker *ws = calloc((size_t)nt, sizeof(*ws));
    struct lconn *conns = calloc((size_t)lopt.conns, sizeof(*conns));
    struct thread_arg *ta = calloc((size_t)nt, sizeof(*ta));
    pthread_t *tids = calloc((size_t)nt, sizeof(*tids));
    if (!ws || !conns || !ta || !tids)
        return 1;
    /* Connections go to endpoints in proportion to their weights (smooth WRR). */
    int64_t *cur = calloc(lopt.n_eps, sizeof(*cur));
    unsigned wsum = 0;
    for (unsigned e = 0; e < lopt.n_eps; e++)
        wsum += lopt.eps[e].weight;
    for (int k = 0; k < lopt.conns; k++) {
        unsigned best = 0;
        for (unsigned e = 0; e < lopt.n_eps; e++) {
            cur[e] += lopt.eps[e].weight;
            if (cur[e] > cur[best])
                best = e;
        }
        /* Every endpoint gets at least one connection. */
        if (k < (int)lopt.n_eps)
            best = (unsigned)k;
        else
            cur[best] -= wsum;
        conns[k].ep = &lopt.eps[best];
    }
    free(cur);

    uint64_t now = now_ns();
    run_clock.start = now;
    run_clock.measure = now + (uint64_t)(lopt.warmup * 1e9);
    run_clock.end =
        lopt.duration > 0 ? run_clock.measure + (uint64_t)(lopt.duration * 1e9) : UINT64_MAX;
    atomic_store(&run_clock.tokens, (int64_t)lopt.requests);

    int first = 0;
    for (int i = 0; i < nt; i++) {
        int n = lopt.conns / nt + (i < lopt.conns % nt ? 1 : 0);
        ws[i].id = i;
        ws[i].conns = conns + first;
        ws[i].n_conns = n;
        ws[i].first_conn = first;
        first += n;
        ws[i].base = bench_base_new();
        if (stats_init(&ws[i].st) < 0 || !ws[i].base)
            return 1;
        if (lopt.tls && !(ws[i].tls = tls_client_ctx_new(lopt.tls)))
            return 1;
        ta[i].w = &ws[i];
        pthread_create(&tids[i], NULL, worker_main, &ta[i]);
    }

    bool interrupted = false;
    uint64_t last_t = now, last_resp = 0;
    while (atomic_load(&workers_done) < nt) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            interrupted = true;
            for (int i = 0; i < nt; i++) /* stop at once; the stats so far are reported */
                event_base_loopbreak(ws[i].base);
            break;
        }
        if (lopt.progress && sig < 0) {
            uint64_t t = now_ns(), resp = 0, errs = 0;
            for (int i = 0; i < nt; i++) {
                resp += atomic_load_explicit(&ws[i].live_responses, memory_order_relaxed);
                errs += atomic_load_explicit(&ws[i].live_errors, memory_order_relaxed);
            }
            double rps = (double)(resp - last_resp) / ((double)(t - last_t) / 1e9);
            report_progress((double)(t - run_clock.start) / 1e9, resp, errs, rps);
            last_t = t;
            last_resp = resp;
        }
    }
    int rc = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(tids[i], NULL);
        event_base_free(ws[i].base);
        tls_client_ctx_free(ws[i].tls);
        if (ta[i].rc < 0)
            rc = 1;
    }
    uint64_t t_end = now_ns();
    if (lopt.progress)
        fprintf(stderr, "\r\x1b[K");

    struct stats total;
    if (stats_init(&total) < 0)
        return 1;
    for (int i = 0; i < nt; i++) {
        stats_merge(&total, &ws[i].st);
        stats_fini(&ws[i].st);
    }
    /* Elapsed: the -d window when it ran out, else up to the last completion. */
    uint64_t stop = t_end < run_clock.end ? t_end : run_clock.end;
    if (!interrupted && t_end < run_clock.end && total.last_ns > run_clock.measure)
        stop = total.last_ns;
    double elapsed = stop > run_clock.measure ? (double)(stop - run_clock.measure) / 1e9 : 0;

    if (lopt.json)
        report_json(&total, elapsed);
    else
        report_human(&total, elapsed);
    fflush(stdout);
    if (rc == 0 && lopt.check_status && (total.mismatches > 0 || total.req_errors > 0))
        rc = 3;
    if (total.late)
        fprintf(stderr,
                "remora-load: open loop fell behind: %llu requests due in the window were never "
                "sent (the target is slower than -R %.0f); the latency covers only what was sent\n",
                (unsigned long long)total.late, lopt.rate);
    uint64_t n_err = stats_errors(&total);
    if (rc == 0 && total.responses == 0 && n_err > 0 && !lopt.tcp) {
        /* Nothing answered: a script must not read this as a measurement. */
        fprintf(stderr, "remora-load: no responses (%llu errors)\n", (unsigned long long)n_err);
        rc = 1;
    }

    stats_fini(&total);
    free(ws);
    free(conns);
    free(ta);
    free(tids);
    url_free_all();
    free(lopt.body);
    tls_client_free(lopt.tls);
    libevent_global_shutdown();
    return rc;
}
