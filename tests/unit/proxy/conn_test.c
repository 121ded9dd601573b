/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/conn_test.c — proxy/conn.c's write event on a socketpair, driven step by
 * step: output that drains inside conn_flush() while over the high mark defers on_write_low
 * through the write event (made active by hand); more output queued before that callback
 * runs must still leave once the peer reads. libevent ignores event_add() on an event that
 * is active but not added, so the write event used to end up unregistered with epoll, the
 * output stuck for good (a 1 GiB upload stalled that way under CPU load). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/conn.h"
#include "proxy/worker.h"

static int write_lows;

static void on_read(struct conn *c)
{
    (void)c;
}

static void on_write_low(struct conn *c)
{
    (void)c;
    write_lows++;
}

static void on_event(struct conn *c, enum conn_event ev)
{
    (void)c;
    (void)ev;
}

static const struct conn_cbs cbs = {
    .on_read = on_read, .on_write_low = on_write_low, .on_event = on_event};

/* Writes to |fd| until the socket is full; returns the bytes written. */
static size_t fill(int fd)
{
    static char junk[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, junk, sizeof(junk));
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            return total;
        }
        total += (size_t)n;
    }
}

/* Reads everything |fd| has; returns the bytes read. */
static size_t drain(int fd)
{
    static char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return total;
        total += (size_t)n;
    }
}

static void add_bytes(struct evbuffer *b, size_t n)
{
    static const char x[4096];
    while (n) {
        size_t k = n < sizeof(x) ? n : sizeof(x);
        assert_int_equal(evbuffer_add(b, x, k), 0);
        n -= k;
    }
}

static void output_queued_while_the_write_event_is_kicked_leaves(void **state)
{
    (void)state;
    struct worker w;
    memset(&w, 0, sizeof(w));
    list_init(&w.conns);
    list_init(&w.reap);
    w.base = event_base_new();
    assert_non_null(w.base);
    w.reap_ev = event_new(w.base, -1, 0, NULL, NULL);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    const uint32_t limit = 4096;
    struct conn *c;
    union rm_addr a;
    memset(&a, 0, sizeof(a));
    assert_int_equal(conn_new_accepted(&w, sv[0], limit, &a, &a, &c), 0);
    conn_set_cbs(c, &cbs, NULL);

    /* 1. The socket is full: limit + 1 bytes stay queued, over the high mark. */
    fill(sv[0]);
    add_bytes(c->out, limit + 1);
    conn_flush(c);
    assert_int_equal(conn_out_len(c), limit + 1);
    assert_true(conn_is_above_high(c));

    /* 2. The peer reads; a flush from inside the owner's call writes everything and defers
     *    on_write_low through the write event. */
    drain(sv[1]);
    conn_flush(c);
    assert_int_equal(conn_out_len(c), 0);
    assert_int_equal(write_lows, 0);

    /* 3. Before that callback runs, the socket fills again and more output is queued. */
    fill(sv[0]);
    add_bytes(c->out, 100);
    conn_flush(c);
    assert_int_equal(conn_out_len(c), 100);

    /* 4. The loop runs the deferred callback (the socket is still full). */
    event_base_loop(w.base, EVLOOP_NONBLOCK);
    assert_int_equal(write_lows, 1);
    assert_int_equal(conn_out_len(c), 100);

    /* 5. The peer reads: the 100 bytes must leave once the loop sees the socket writable. */
    drain(sv[1]);
    for (int i = 0; i < 20 && conn_out_len(c) > 0; i++) {
        struct timeval tv = {0, 20 * 1000};
        event_base_loopexit(w.base, &tv);
        event_base_loop(w.base, 0);
    }
    assert_int_equal(conn_out_len(c), 0);
    size_t got = 0;
    for (int i = 0; i < 20 && got < 100; i++) {
        got += drain(sv[1]);
        if (got < 100)
            usleep(1000);
    }
    assert_true(got >= 100);

    conn_close(c, false);
    conn_free(c); /* what the worker's reap event does */
    close(sv[1]);
    event_free(w.reap_ev);
    event_base_free(w.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(output_queued_while_the_write_event_is_kicked_leaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
