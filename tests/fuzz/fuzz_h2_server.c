/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_h2_server.c — libFuzzer target for downstream HTTP/2 (proxy/hcm_h2.c and
 * everything a stream reaches: sanitizing, routing, the router, local replies).
 *
 * The whole proxy runs in this process: server_run() on a thread, with one worker and an
 * inline config (config below). Listener "front" speaks HTTP/2 (codec AUTO, so the preface
 * detection runs too) and routes /direct to a direct response, /dead to a cluster nobody
 * listens on (503 UF), and everything else to cluster "back": Remora's own HTTP/1.1 listener
 * "back" in the same process answering with a 3000-byte body, so responses travel the real
 * upstream path. Each input is what a client sends after the connection preface (which is
 * prepended); the harness then reads until the proxy closes or is quiet for 20 ms, half-closes,
 * reads again and closes. Checks: no crash, leak or undefined behaviour in the proxy thread.
 * Seeds: tests/fuzz/corpus/fuzz_h2_server (client byte streams made with python3-h2).
 * Run: ./build/fuzz/fuzz_h2_server -max_len=8192 build/fuzz/work_h2 \
 *      tests/fuzz/corpus/fuzz_h2_server */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/err.h"
#include "config/snapshot.h"
#include "proxy/log.h"
#include "proxy/server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static struct sockaddr_in g_front;
static struct server_options g_opt;
static char g_yaml[8192];

/* The parts both listeners' configs share. */
#define HCM_HEAD                                                                                   \
    "    filter_chains:\n"                                                                         \
    "    - filters:\n"                                                                             \
    "      - name: envoy.filters.network.http_connection_manager\n"                                \
    "        typed_config:\n"                                                                      \
    "          '@type': type.googleapis.com/envoy.extensions.filters.network."                     \
    "http_connection_manager.v3.HttpConnectionManager\n"
#define ROUTER_FILTER                                                                              \
    "          http_filters:\n"                                                                    \
    "          - name: envoy.filters.http.router\n"                                                \
    "            typed_config:\n"                                                                  \
    "              '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n"

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("fuzz_h2_server: free port");
        abort();
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void *server_thread(void *arg)
{
    struct snapshot *snap = arg;
    server_run(&g_opt, snap); /* returns only if the server fails */
    fprintf(stderr, "fuzz_h2_server: the server stopped\n");
    abort();
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&g_front, sizeof(g_front)) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    uint16_t front = free_port(), back = free_port(), dead = free_port();
    char body[3001];
    memset(body, 'b', 3000);
    body[3000] = 0;
    snprintf(
        g_yaml, sizeof(g_yaml),
        "static_resources:\n"
        "  listeners:\n"
        "  - name: front\n"
        "    address: {socket_address: {address: 127.0.0.1, port_value: %u}}\n" HCM_HEAD
        "          stat_prefix: front\n"
        "          codec_type: AUTO\n"
        "          stream_idle_timeout: 1s\n"
        "          request_timeout: 2s\n"
        "          common_http_protocol_options: {idle_timeout: 2s, max_headers_count: 40}\n"
        "          max_request_headers_kb: 4\n"
        "          http2_protocol_options: {max_concurrent_streams: 16,"
        " initial_stream_window_size: 65535, initial_connection_window_size: 65535}\n"
        "          route_config:\n"
        "            virtual_hosts:\n"
        "            - name: all\n"
        "              domains: ['*']\n"
        "              routes:\n"
        "              - match: {prefix: /direct}\n"
        "                direct_response: {status: 200, body: {inline_string: direct}}\n"
        "              - match: {prefix: /dead}\n"
        "                route: {cluster: dead}\n"
        "              - match: {prefix: /}\n"
        "                route:\n"
        "                  cluster: back\n"
        "                  timeout: 2s\n"
        "                  retry_policy: {retry_on: 5xx, num_retries: 1}\n" ROUTER_FILTER
        "  - name: back\n"
        "    address: {socket_address: {address: 127.0.0.1, port_value: %u}}\n" HCM_HEAD
        "          stat_prefix: back\n"
        "          codec_type: HTTP1\n"
        "          route_config:\n"
        "            virtual_hosts:\n"
        "            - name: all\n"
        "              domains: ['*']\n"
        "              routes:\n"
        "              - match: {prefix: /}\n"
        "                direct_response: {status: 200, body: {inline_string: %s}}\n" ROUTER_FILTER
        "  clusters:\n"
        "  - name: back\n"
        "    type: STATIC\n"
        "    connect_timeout: 1s\n"
        "    load_assignment:\n"
        "      cluster_name: back\n"
        "      endpoints:\n"
        "      - lb_endpoints:\n"
        "        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %u}}}\n"
        "  - name: dead\n"
        "    type: STATIC\n"
        "    connect_timeout: 1s\n"
        "    load_assignment:\n"
        "      cluster_name: dead\n"
        "      endpoints:\n"
        "      - lb_endpoints:\n"
        "        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %u}}}\n",
        front, back, body, back, dead);

    log_set_level(getenv("FUZZ_H2_LOG") ? LOG_DEBUG : LOG_OFF);
    g_opt.load.config_yaml = g_yaml;
    g_opt.mode = MODE_SERVE;
    g_opt.concurrency = 1;
    g_opt.drain_time_s = 0;
    struct snapshot *snap = NULL;
    struct cfg_err err;
    cfg_err_init(&err);
    if (config_load(&g_opt.load, &snap, &err) < 0 || cfg_err_failed(&err)) {
        cfg_err_print(&err, stderr);
        abort();
    }
    cfg_err_fini(&err);
    pthread_t t;
    if (pthread_create(&t, NULL, server_thread, snap) != 0)
        abort();
    pthread_detach(t);

    g_front = (struct sockaddr_in){
        .sin_family = AF_INET, .sin_port = htons(front), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 500; i++) { /* up to 5 s for the listener */
        int fd = dial();
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(10000);
    }
    fprintf(stderr, "fuzz_h2_server: the proxy did not listen on %u\n", front);
    abort();
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read until EOF/error, |quiet_ms| without a byte, or |cap_ms| in all. 1 = EOF seen. */
static int drain(int fd, int quiet_ms, int cap_ms)
{
    char buf[16384];
    int64_t end = now_ms() + cap_ms;
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(left < quiet_ms ? left : quiet_ms));
        if (r <= 0)
            return 0;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
    }
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        /* The proxy may stop reading (flow control, a closed connection): never block. */
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, 200) <= 0 || (pf.revents & (POLLERR | POLLHUP)))
            return;
        ssize_t w = send(fd, c, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return;
        }
        c += w;
        n -= (size_t)w;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return -1;
    int fd = -1;
    for (int i = 0; i < 100 && (fd = dial()) < 0; i++)
        usleep(10000); /* a local port may be briefly short */
    if (fd < 0) {
        fprintf(stderr, "fuzz_h2_server: connect: %s\n", strerror(errno));
        abort(); /* the proxy must keep accepting */
    }
    send_all(fd, PREFACE, sizeof(PREFACE) - 1);
    send_all(fd, data, size);
    if (!drain(fd, 20, 1000)) {
        shutdown(fd, SHUT_WR);
        drain(fd, 20, 500);
    }
    /* Close with a reset: no TIME_WAIT piles up on this side at hundreds of runs a second. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    return 0;
}
