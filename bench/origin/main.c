/* SPDX-License-Identifier: Apache-2.0 */
/* bench/origin/main.c — remora-origin: argv, listeners, worker threads and signals. The main
 * thread only waits for SIGTERM/SIGINT; each worker runs its own event_base with its own
 * SO_REUSEPORT listener on the same port. */
#include "bench/origin/origin.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "bench/common/evbase.h"
#include "bench/common/tls.h"

struct origin_opts origin_opts;
const char origin_body_block[BODY_CHUNK] = {[0 ... BODY_CHUNK - 1] = 'x'};

static void usage(FILE *f)
{
    fputs(
        "usage: remora-origin [options]\n"
        "  --listen ADDR:PORT       listen address (default 127.0.0.1:8080; port 0 = any)\n"
        "  --name NAME              instance name (x-origin-name, echo \"name\"; default origin)\n"
        "  --threads N              worker threads sharing the port (SO_REUSEPORT; default 1)\n"
        "  --size N                 response body bytes (default 0)\n"
        "  --status N               response status (default 200)\n"
        "  --latency-ms N           response delay in ms (default 0)\n"
        "  --latency-ms-max N       with --latency-ms: uniform random delay in [N1, N]\n"
        "  --fail-fraction F        answer this share of requests with 503 (0..1)\n"
        "  --tcp-echo               raw TCP echo server instead of HTTP\n"
        "  --tls-cert FILE          serve TLS with this certificate chain (PEM)\n"
        "  --tls-key FILE           private key for --tls-cert (PEM)\n"
        "  --tls-client-ca FILE     require client certificates signed by this CA (mTLS)\n"
        "  --no-h2                  HTTP/1.1 only (no h2 preface detection, no h2 ALPN)\n"
        "  -h, --help\n"
        "Per-request overrides (request headers): x-origin-size, x-origin-status,\n"
        "x-origin-latency-ms, x-origin-fail (fraction), x-origin-reset (before-headers |\n"
        "after-headers | mid-body | N body bytes), x-origin-close (1: after this response;\n"
        "after-headers | mid-body | mid-body=N: cut the response short with a FIN).\n"
        "GET /echo answers JSON.\n",
        f);
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || d < lo || d > hi)
        return false;
    *out = d;
    return true;
}

enum {
    OPT_LISTEN = 256,
    OPT_NAME,
    OPT_THREADS,
    OPT_SIZE,
    OPT_STATUS,
    OPT_LAT,
    OPT_LAT_MAX,
    OPT_FAIL,
    OPT_TCP_ECHO,
    OPT_CERT,
    OPT_KEY,
    OPT_CLIENT_CA,
    OPT_NO_H2,
};

static int parse_args(int argc, char **argv, const char **cert, const char **key,
                      const char **client_ca)
{
    static const struct option lopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"name", required_argument, NULL, OPT_NAME},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"size", required_argument, NULL, OPT_SIZE},
        {"status", required_argument, NULL, OPT_STATUS},
        {"latency-ms", required_argument, NULL, OPT_LAT},
        {"latency-ms-max", required_argument, NULL, OPT_LAT_MAX},
        {"fail-fraction", required_argument, NULL, OPT_FAIL},
        {"tcp-echo", no_argument, NULL, OPT_TCP_ECHO},
        {"tls-cert", required_argument, NULL, OPT_CERT},
        {"tls-key", required_argument, NULL, OPT_KEY},
        {"tls-client-ca", required_argument, NULL, OPT_CLIENT_CA},
        {"no-h2", no_argument, NULL, OPT_NO_H2},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = "127.0.0.1:8080";
    double d;
    int o;

    origin_opts.name = "origin";
    origin_opts.threads = 1;
    origin_opts.status = 200;
    while ((o = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (o) {
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_NAME:
            origin_opts.name = optarg;
            break;
        case OPT_THREADS:
            if (!parse_num(optarg, 1, 256, &d))
                goto bad;
            origin_opts.threads = (int)d;
            break;
        case OPT_SIZE:
            if (!parse_num(optarg, 0, 1e15, &d))
                goto bad;
            origin_opts.size = (uint64_t)d;
            break;
        case OPT_STATUS:
            if (!parse_num(optarg, 200, 999, &d))
                goto bad;
            origin_opts.status = (int)d;
            break;
        case OPT_LAT:
            if (!parse_num(optarg, 0, 3600e3, &d))
                goto bad;
            origin_opts.latency_ms = (uint32_t)d;
            break;
        case OPT_LAT_MAX:
            if (!parse_num(optarg, 0, 3600e3, &d))
                goto bad;
            origin_opts.latency_ms_max = (uint32_t)d;
            break;
        case OPT_FAIL:
            if (!parse_num(optarg, 0, 1, &origin_opts.fail_fraction))
                goto bad;
            break;
        case OPT_TCP_ECHO:
            origin_opts.tcp_echo = true;
            break;
        case OPT_CERT:
            *cert = optarg;
            break;
        case OPT_KEY:
            *key = optarg;
            break;
        case OPT_CLIENT_CA:
            *client_ca = optarg;
            break;
        case OPT_NO_H2:
            origin_opts.no_h2 = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return -1;
    }
    if (origin_opts.latency_ms_max && origin_opts.latency_ms_max < origin_opts.latency_ms) {
        fprintf(stderr, "remora-origin: --latency-ms-max must be >= --latency-ms\n");
        return -1;
    }
    if (!*cert != !*key) {
        fprintf(stderr, "remora-origin: --tls-cert and --tls-key go together\n");
        return -1;
    }
    int rc = net_addr_parse(listen, &origin_opts.listen);
    if (rc < 0) {
        fprintf(stderr, "remora-origin: bad --listen %s: %s\n", listen, strerror(-rc));
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "remora-origin: bad value for --%s: %s\n", lopts[o - OPT_LISTEN].name, optarg);
    return -1;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE and friends: retried on the next event */
        conn_accept(w, fd);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *client_ca = NULL;
    if (parse_args(argc, argv, &cert, &key, &client_ca) < 0)
        return 2;
    if (cert) {
        origin_opts.tls = tls_server_ctx_new(cert, key, client_ca, !origin_opts.no_h2);
        if (!origin_opts.tls)
            return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();

    int nt = origin_opts.threads;
    struct worker *ws = calloc((size_t)nt, sizeof(*ws));
    pthread_t *tids = calloc((size_t)nt, sizeof(*tids));
    if (!ws || !tids)
        return 1;
    struct net_addr addr = origin_opts.listen;
    for (int i = 0; i < nt; i++) {
        int fd = net_listen(&addr, nt > 1, 4096);
        if (fd < 0) {
            char a[128];
            net_addr_str((struct sockaddr *)&addr.ss, a, sizeof(a));
            fprintf(stderr, "remora-origin: listen %s: %s\n", a, strerror(-fd));
            return 1;
        }
        if (i == 0) { /* port 0: later listeners join the port the kernel chose */
            addr.len = sizeof(addr.ss);
            getsockname(fd, (struct sockaddr *)&addr.ss, &addr.len);
        }
        ws[i].lfd = fd;
        ws[i].rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)time(NULL) << 16) ^ (uint64_t)i ^
                    ((uint64_t)getpid() << 40);
        ws[i].base = bench_base_new();
        if (!ws[i].base)
            return 1;
        ws[i].ev_accept = event_new(ws[i].base, fd, EV_READ | EV_PERSIST, on_accept, &ws[i]);
        event_add(ws[i].ev_accept, NULL);
    }
    char a[128];
    net_addr_str((struct sockaddr *)&addr.ss, a, sizeof(a));
    printf("listening on %s\n", a);
    fflush(stdout);

    /* Workers inherit the blocked mask; only this thread takes SIGTERM/SIGINT. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < nt; i++)
        pthread_create(&tids[i], NULL, worker_main, &ws[i]);
    int sig = 0;
    sigwait(&set, &sig);

    uint64_t total = 0;
    for (int i = 0; i < nt; i++)
        event_base_loopbreak(ws[i].base);
    for (int i = 0; i < nt; i++) {
        pthread_join(tids[i], NULL);
        while (ws[i].conns)
            conn_free(ws[i].conns, false);
        event_free(ws[i].ev_accept);
        close(ws[i].lfd);
        event_base_free(ws[i].base);
        total += ws[i].requests;
    }
    fprintf(stderr, "remora-origin: %s: exiting on signal %d after %llu requests\n",
            origin_opts.name, sig, (unsigned long long)total);
    free(ws);
    free(tids);
    if (origin_opts.tls)
        SSL_CTX_free(origin_opts.tls);
    libevent_global_shutdown();
    return 0;
}
