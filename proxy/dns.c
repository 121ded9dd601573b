/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/dns.c — see dns.h. */
#include "proxy/dns.h"

#include <ares.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/err.h"
#include "proxy/log.h"

#define DNS_MAX_SOCKS 16

struct dns_sock {
    ares_socket_t fd;
    struct event *ev;
};

struct dns {
    struct event_base *base;
    ares_channel channel;
    struct event *timer;
    struct dns_sock socks[DNS_MAX_SOCKS];
};

struct dns_req {
    struct dns *d;
    dns_cb cb;
    void *arg;
};

static void reschedule(struct dns *d)
{
    struct timeval tv, *tvp = ares_timeout(d->channel, NULL, &tv);
    if (tvp)
        evtimer_add(d->timer, tvp);
    else
        evtimer_del(d->timer);
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct dns *d = arg;
    ares_process_fd(d->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    reschedule(d);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct dns *d = arg;
    (void)fd;
    (void)what;
    ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    reschedule(d);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns *d = data;
    struct dns_sock *slot = NULL, *free_slot = NULL;
    for (int i = 0; i < DNS_MAX_SOCKS; i++) {
        if (d->socks[i].ev && d->socks[i].fd == fd)
            slot = &d->socks[i];
        else if (!d->socks[i].ev && !free_slot)
            free_slot = &d->socks[i];
    }
    if (slot) {
        event_free(slot->ev);
        slot->ev = NULL;
    }
    if (!readable && !writable)
        return;
    if (!slot)
        slot = free_slot;
    if (!slot) {
        log_error(LC_DNS, "too many DNS sockets");
        return;
    }
    short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    slot->fd = fd;
    slot->ev = event_new(d->base, fd, what, on_sock, d);
    if (slot->ev)
        event_add(slot->ev, NULL);
}

int dns_new(struct event_base *base, struct dns **out)
{
    static int lib_init;
    if (!lib_init) {
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
            return -RM_ENOMEM;
        lib_init = 1;
    }
    struct dns *d = calloc(1, sizeof(*d));
    if (!d)
        return -RM_ENOMEM;
    d->base = base;
    struct ares_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.sock_state_cb = sock_state_cb;
    opts.sock_state_cb_data = d;
    int rc = ares_init_options(&d->channel, &opts, ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        log_error(LC_DNS, "c-ares init: %s", ares_strerror(rc));
        free(d);
        return -RM_EIO;
    }
    d->timer = evtimer_new(base, on_timeout, d);
    if (!d->timer) {
        ares_destroy(d->channel);
        free(d);
        return -RM_ENOMEM;
    }
    *out = d;
    return 0;
}

void dns_free(struct dns *d)
{
    if (!d)
        return;
    ares_destroy(d->channel); /* runs pending callbacks with ARES_EDESTRUCTION */
    for (int i = 0; i < DNS_MAX_SOCKS; i++)
        if (d->socks[i].ev)
            event_free(d->socks[i].ev);
    event_free(d->timer);
    free(d);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct dns_req *r = arg;
    (void)timeouts;
    if (status == ARES_EDESTRUCTION) {
        r->cb(r->arg, -RM_ECLOSED, NULL, 0, 0);
        free(r);
        if (res)
            ares_freeaddrinfo(res);
        return;
    }
    if (status == ARES_SUCCESS && res) {
        for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next)
            r->cb(r->arg, 0, n->ai_addr, (socklen_t)n->ai_addrlen,
                  n->ai_ttl > 0 ? (uint32_t)n->ai_ttl : 0);
        r->cb(r->arg, 0, NULL, 0, 0);
    } else if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
        log_debug(LC_DNS, "no addresses: %s", ares_strerror(status));
        r->cb(r->arg, 0, NULL, 0, 0);
    } else {
        log_warn(LC_DNS, "resolution failed: %s", ares_strerror(status));
        r->cb(r->arg, -RM_EIO, NULL, 0, 0);
    }
    if (res)
        ares_freeaddrinfo(res);
    free(r);
}

int dns_resolve(struct dns *d, const char *name, int family, dns_cb cb, void *arg)
{
    struct dns_req *r = malloc(sizeof(*r));
    if (!r)
        return -RM_ENOMEM;
    r->d = d;
    r->cb = cb;
    r->arg = arg;
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    ares_getaddrinfo(d->channel, name, NULL, &hints, on_addrinfo, r);
    reschedule(d);
    return 0;
}
