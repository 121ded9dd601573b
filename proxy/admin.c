/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/admin.c — see admin.h. A deliberately small HTTP/1.1 server: one request per
 * connection, request head capped at 64 KiB, no request bodies needed by any endpoint. */
#include "proxy/admin.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/model.h"
#include "config/value.h"
#include "proxy/cluster.h"
#include "proxy/conn.h"
#include "proxy/err.h"
#include "proxy/list.h"
#include "proxy/log.h"
#include "proxy/runtime.h"
#include "proxy/server.h"
#include "proxy/stats.h"
#include "proxy/strbuf.h"
#include "proxy/worker.h"

#define ADMIN_MAX_HEAD (64 * 1024)
#define ADMIN_TIMEOUT_S 30

struct admin {
    struct server *srv;
    int fd;
    struct event *ev;
    char addr[80];
    struct list_head conns; /* open admin connections, freed at admin_stop() */
    struct event *backoff;  /* re-arms ev after accept ran out of fds */
};

struct admin_conn {
    struct admin *a;
    int fd;
    struct event *rev, *wev, *timer;
    struct evbuffer *in, *out;
    bool closing;
    struct list_head node;
};

struct admin_req {
    const char *method;
    char path[1024];  /* without the query */
    char query[4096]; /* after '?', "" when none */
};

struct admin_resp {
    int status;
    const char *content_type;
    struct strbuf body;
};

/* ---- query helpers -------------------------------------------------------------------------- */

/* Finds query parameter |key|; copies its decoded value into |out|. Returns true when the
 * key is present (with or without a value). */
static bool query_get(const struct admin_req *r, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = r->query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len >= klen && strncmp(p, key, klen) == 0 && (len == klen || p[klen] == '=')) {
            if (out && cap) {
                size_t vlen = len > klen ? len - klen - 1 : 0;
                if (vlen >= cap)
                    vlen = cap - 1;
                memcpy(out, p + klen + (len > klen ? 1 : 0), vlen);
                out[vlen] = '\0';
                rm_url_decode(out);
            }
            return true;
        }
        p += len + (amp ? 1 : 0);
    }
    return false;
}

/* ---- handlers ------------------------------------------------------------------------------- */

typedef void (*admin_handler_fn)(struct admin *a, const struct admin_req *r,
                                 struct admin_resp *resp);

struct admin_handler {
    const char *path;
    const char *help;
    bool post_only; /* mutates server state */
    admin_handler_fn fn;
};

static void h_help(struct admin *a, const struct admin_req *r, struct admin_resp *resp);

static void h_ready(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)r;
    enum server_state st = a->srv->state;
    resp->status = st == SERVER_LIVE ? 200 : 503;
    sb_printf(&resp->body, "%s\n", server_state_name(st));
}

static void update_server_gauges(struct server *srv)
{
    struct stats_block *s = srv->server_stats;
    stats_gauge_set(s, SERVER_uptime, (int64_t)server_uptime(srv));
    stats_gauge_set(s, SERVER_state, srv->state);
    stats_gauge_set(s, SERVER_live, srv->state == SERVER_LIVE);
    stats_gauge_set(s, SERVER_concurrency, srv->n_workers);
    struct mallinfo2 mi = mallinfo2();
    stats_gauge_set(s, SERVER_memory_allocated, (int64_t)(mi.uordblks + mi.hblkhd));
    stats_gauge_set(s, SERVER_memory_heap_size, (int64_t)(mi.arena + mi.hblkhd));
    long rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2)
            rss_pages = 0;
        fclose(f);
    }
    stats_gauge_set(s, SERVER_memory_physical_size, rss_pages * sysconf(_SC_PAGESIZE));
    int64_t total = 0;
    for (unsigned i = 0; i < srv->n_workers; i++)
        total += (int64_t)__atomic_load_n(&srv->workers[i].n_conns, __ATOMIC_RELAXED);
    stats_gauge_set(s, SERVER_total_connections, total);
}

static void h_stats(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    char filter[1024] = "", format[32] = "";
    query_get(r, "filter", filter, sizeof(filter));
    query_get(r, "format", format, sizeof(format));
    bool used = query_get(r, "usedonly", NULL, 0);
    update_server_gauges(a->srv);
    int rc;
    if (strcmp(format, "json") == 0) {
        resp->content_type = "application/json";
        rc = stats_render_json(&resp->body, filter, used);
    } else if (strcmp(format, "prometheus") == 0) {
        rc = stats_render_prometheus(&resp->body, filter, used);
    } else if (format[0] && strcmp(format, "text") != 0) {
        resp->status = 400;
        sb_printf(&resp->body, "usage: /stats?format=(json|prometheus|text)\n");
        return;
    } else {
        rc = stats_render_text(&resp->body, filter, used);
    }
    if (rc < 0)
        resp->status = 400;
}

static void h_prometheus(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    char filter[1024] = "";
    query_get(r, "filter", filter, sizeof(filter));
    update_server_gauges(a->srv);
    if (stats_render_prometheus(&resp->body, filter, query_get(r, "usedonly", NULL, 0)) < 0)
        resp->status = 400;
}

static void h_clusters(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    char format[32] = "";
    query_get(r, "format", format, sizeof(format));
    bool json = strcmp(format, "json") == 0;
    if (json)
        resp->content_type = "application/json";
    cluster_render_admin(a->srv, &resp->body, json);
}

static void h_listeners(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    char format[32] = "";
    query_get(r, "format", format, sizeof(format));
    struct server *srv = a->srv;
    if (strcmp(format, "json") == 0) {
        resp->content_type = "application/json";
        sb_puts(&resp->body, "{\"listener_statuses\":[");
        for (size_t i = 0; i < srv->n_lsets; i++) {
            const struct listen_set *ls = &srv->lsets[i];
            sb_puts(&resp->body, i ? ",{\"name\":" : "{\"name\":");
            sb_json_str(&resp->body, ls->cfg->name, strlen(ls->cfg->name));
            /* bound_str is ip:port or [ip]:port; split at the last colon */
            const char *colon = strrchr(ls->bound_str, ':');
            size_t iplen = colon ? (size_t)(colon - ls->bound_str) : strlen(ls->bound_str);
            const char *ip = ls->bound_str;
            if (iplen >= 2 && ip[0] == '[') {
                ip++;
                iplen -= 2;
            }
            sb_puts(&resp->body, ",\"local_address\":{\"socket_address\":{\"address\":");
            sb_json_str(&resp->body, ip, iplen);
            sb_printf(&resp->body, ",\"port_value\":%s}}}", colon ? colon + 1 : "0");
        }
        sb_puts(&resp->body, "]}\n");
        return;
    }
    for (size_t i = 0; i < srv->n_lsets; i++)
        sb_printf(&resp->body, "%s::%s\n", srv->lsets[i].cfg->name, srv->lsets[i].bound_str);
}

static void iso_time(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Emits |n| as JSON with "@type" first (Envoy's Any rendering). */
static void typed_json(struct strbuf *out, const char *type, const struct vt_node *n)
{
    struct strbuf tmp;
    sb_init(&tmp);
    vt_to_json(n, &tmp);
    sb_printf(out, "{\"@type\":\"type.googleapis.com/%s\"", type);
    if (tmp.len > 2 && tmp.data[0] == '{') {
        sb_putc(out, ',');
        sb_append(out, tmp.data + 1, tmp.len - 1);
    } else {
        sb_putc(out, '}');
    }
    sb_fini(&tmp);
}

static void h_config_dump(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)r;
    const struct cfg_bootstrap *bs = a->srv->snap->bs;
    struct strbuf *b = &resp->body;
    char when[64];
    iso_time(a->srv->start_time, when, sizeof(when));
    resp->content_type = "application/json";
    sb_puts(b,
            "{\"configs\":[{\"@type\":\"type.googleapis.com/envoy.admin.v3.BootstrapConfigDump\","
            "\"bootstrap\":");
    vt_to_json(bs->src, b);
    sb_printf(b, ",\"last_updated\":\"%s\"}", when);
    sb_puts(b, ",{\"@type\":\"type.googleapis.com/envoy.admin.v3.ClustersConfigDump\","
               "\"static_clusters\":[");
    for (size_t i = 0; i < bs->n_clusters; i++) {
        sb_puts(b, i ? ",{\"cluster\":" : "{\"cluster\":");
        typed_json(b, "envoy.config.cluster.v3.Cluster", bs->clusters[i].src);
        sb_printf(b, ",\"last_updated\":\"%s\"}", when);
    }
    sb_puts(b, "]},{\"@type\":\"type.googleapis.com/envoy.admin.v3.ListenersConfigDump\","
               "\"static_listeners\":[");
    for (size_t i = 0; i < bs->n_listeners; i++) {
        sb_puts(b, i ? ",{\"listener\":" : "{\"listener\":");
        typed_json(b, "envoy.config.listener.v3.Listener", bs->listeners[i].src);
        sb_printf(b, ",\"last_updated\":\"%s\"}", when);
    }
    sb_puts(b, "]}]}\n");
}

static void json_kv(struct strbuf *b, const char *k, const char *v, bool comma)
{
    if (comma)
        sb_putc(b, ',');
    sb_json_str(b, k, strlen(k));
    sb_putc(b, ':');
    sb_json_str(b, v ? v : "", v ? strlen(v) : 0);
}

static void h_server_info(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)r;
    struct server *srv = a->srv;
    const struct server_options *o = &srv->opt;
    const struct cfg_node *node = &srv->snap->bs->node;
    struct strbuf *b = &resp->body;
    static const char *const modes[] = {"Serve", "Validate", "InitOnly"};
    resp->content_type = "application/json";
    sb_puts(b, "{");
    json_kv(b, "version", "remora/" REMORA_VERSION "/envoy-compatible", false);
    json_kv(b, "state", server_state_name(srv->state), true);
    json_kv(b, "hot_restart_version", "disabled", true);
    sb_puts(b, ",\"command_line_options\":{");
    json_kv(b, "config_path", o->load.config_path, false);
    json_kv(b, "config_yaml", o->load.config_yaml, true);
    sb_printf(b, ",\"concurrency\":%u", o->concurrency);
    json_kv(b, "log_level", o->log_level ? o->log_level : "info", true);
    json_kv(b, "component_log_level", o->component_log_level, true);
    json_kv(b, "log_path", o->log_path, true);
    json_kv(b, "service_cluster", o->load.service_cluster, true);
    json_kv(b, "service_node", o->load.service_node, true);
    json_kv(b, "service_zone", o->load.service_zone, true);
    json_kv(b, "mode", modes[o->mode], true);
    sb_printf(b, ",\"drain_time\":\"%us\"", o->drain_time_s);
    json_kv(b, "drain_strategy", "Gradual", true);
    json_kv(b, "command_line", o->command_line, true);
    sb_puts(b, "},\"node\":{");
    json_kv(b, "id", node->id, false);
    json_kv(b, "cluster", node->cluster, true);
    sb_puts(b, ",\"locality\":{");
    json_kv(b, "region", node->region, false);
    json_kv(b, "zone", node->zone, true);
    json_kv(b, "sub_zone", node->sub_zone, true);
    sb_puts(b, "}");
    if (node->metadata) {
        sb_puts(b, ",\"metadata\":");
        vt_to_json(node->metadata, b);
    }
    json_kv(b, "user_agent_name", "remora", true);
    json_kv(b, "user_agent_version", REMORA_VERSION, true);
    sb_printf(b, "},\"uptime_current_epoch\":\"%llus\",\"uptime_all_epochs\":\"%llus\"}\n",
              (unsigned long long)server_uptime(srv), (unsigned long long)server_uptime(srv));
}

static void h_hc_fail(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)r;
    a->srv->healthcheck_failed = true;
    log_info(LC_ADMIN, "health check failed by admin request");
    sb_puts(&resp->body, "OK\n");
}

static void h_hc_ok(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)r;
    a->srv->healthcheck_failed = false;
    log_info(LC_ADMIN, "health check restored by admin request");
    sb_puts(&resp->body, "OK\n");
}

static void h_drain(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    bool graceful = query_get(r, "graceful", NULL, 0);
    bool skip_exit = query_get(r, "skip_exit", NULL, 0);
    if (query_get(r, "inboundonly", NULL, 0)) {
        /* Only listeners with traffic_direction INBOUND drain; Remora's listeners have no
         * direction (the field is refused at load), so there is nothing to drain. */
        sb_puts(&resp->body, "OK\n");
        return;
    }
    if (graceful) {
        server_drain(a->srv, 0, skip_exit);
    } else {
        /* Stop accepting now; open connections keep going and the process keeps running. */
        for (unsigned i = 0; i < a->srv->n_workers; i++)
            mbox_post(&a->srv->workers[i], MSG_DRAIN, NULL, 0);
        log_info(LC_ADMIN, "listeners drained by admin request");
    }
    sb_puts(&resp->body, "OK\n");
}

static void h_quit(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)r;
    log_info(LC_ADMIN, "shutting down by admin request (/quitquitquit)");
    server_quit(a->srv);
    sb_puts(&resp->body, "OK\n");
}

static void list_loggers(struct strbuf *b)
{
    sb_puts(b, "active loggers:\n");
    for (int i = 0; i < LC_COUNT; i++)
        sb_printf(b, "  %s: %s\n", log_component_name((enum log_component)i),
                  log_level_name(log_levels[i]));
}

static void h_logging(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)a;
    char val[512];
    enum log_level l;
    if (!r->query[0]) {
        list_loggers(&resp->body);
        return;
    }
    if (query_get(r, "level", val, sizeof(val))) {
        if (log_level_parse(val, &l) < 0)
            goto usage;
        log_set_level(l);
        log_info(LC_ADMIN, "all loggers set to %s", log_level_name(l));
    } else if (query_get(r, "paths", val, sizeof(val))) {
        char err[256];
        if (log_set_component_levels(val, err, sizeof(err)) < 0) {
            resp->status = 400;
            sb_printf(&resp->body, "error: %s\n", err);
            return;
        }
    } else {
        /* ?<logger>=<level> */
        char key[128];
        const char *eq = strchr(r->query, '=');
        size_t kl = eq ? (size_t)(eq - r->query) : strlen(r->query);
        if (!eq || kl >= sizeof(key) || strchr(r->query, '&'))
            goto usage;
        memcpy(key, r->query, kl);
        key[kl] = '\0';
        int c = log_component_find(key);
        if (c < 0 || !query_get(r, key, val, sizeof(val)) || log_level_parse(val, &l) < 0)
            goto usage;
        log_levels[c] = l;
    }
    list_loggers(&resp->body);
    return;
usage:
    resp->status = 404;
    sb_puts(&resp->body, "usage: /logging?<name>=<level> (change single level)\n"
                         "usage: /logging?paths=name1:level1,name2:level2,... (change multiple "
                         "levels)\n"
                         "usage: /logging?level=<level> (change all levels)\n"
                         "levels: trace debug info warning error critical off\n");
    list_loggers(&resp->body);
}

static void h_memory(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)r;
    update_server_gauges(a->srv);
    struct stats_block *s = a->srv->server_stats;
    resp->content_type = "application/json";
    sb_printf(&resp->body,
              "{\"allocated\":\"%lld\",\"heap_size\":\"%lld\",\"physical_size\":\"%lld\"}\n",
              (long long)stats_value(s, SERVER_memory_allocated),
              (long long)stats_value(s, SERVER_memory_heap_size),
              (long long)stats_value(s, SERVER_memory_physical_size));
}

static void h_runtime(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)r;
    resp->content_type = "application/json";
    runtime_render(a->srv, &resp->body);
}

static void h_runtime_modify(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    resp->status = runtime_modify(a->srv, r->query, &resp->body);
}

static const struct admin_handler handlers[] = {
    {"/", "Admin home page (this help)", false, h_help},
    {"/clusters", "upstream cluster status (?format=json)", false, h_clusters},
    {"/config_dump", "dump current Envoy configs", false, h_config_dump},
    {"/drain_listeners", "drain listeners (?graceful, ?inboundonly, ?skip_exit)", true, h_drain},
    {"/healthcheck/fail", "cause the server to fail health checks", true, h_hc_fail},
    {"/healthcheck/ok", "cause the server to pass health checks", true, h_hc_ok},
    {"/help", "print out list of admin commands", false, h_help},
    {"/listeners", "print listener info (?format=json)", false, h_listeners},
    {"/logging", "query/change logging levels", true, h_logging},
    {"/memory", "print current allocation/heap usage", false, h_memory},
    {"/quitquitquit", "exit the server", true, h_quit},
    {"/ready", "print server state, return 200 if LIVE, otherwise return 503", false, h_ready},
    {"/runtime", "print runtime values", false, h_runtime},
    {"/runtime_modify", "modify runtime values (?key=value; empty value removes)", true,
     h_runtime_modify},
    {"/server_info", "print server version/status information", false, h_server_info},
    {"/stats", "print server stats (?filter=<regex>, ?format=json|prometheus, ?usedonly)", false,
     h_stats},
    {"/stats/prometheus", "print server stats in prometheus format", false, h_prometheus},
};

static void h_help(struct admin *a, const struct admin_req *r, struct admin_resp *resp)
{
    (void)a;
    (void)r;
    sb_puts(&resp->body, "admin commands are:\n");
    for (size_t i = 1; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        sb_printf(&resp->body, "  %s%s: %s\n", handlers[i].post_only ? "POST " : "",
                  handlers[i].path, handlers[i].help);
}

/* ---- connection handling ---------------------------------------------------------------- */

static void ac_free(struct admin_conn *ac)
{
    list_del(&ac->node);
    event_free(ac->rev);
    event_free(ac->wev);
    event_free(ac->timer);
    evbuffer_free(ac->in);
    evbuffer_free(ac->out);
    close(ac->fd);
    free(ac);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

static void send_response(struct admin_conn *ac, struct admin_resp *resp, bool head_only)
{
    evbuffer_add_printf(ac->out,
                        "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                        "cache-control: no-cache, max-age=0\r\nx-content-type-options: nosniff\r\n"
                        "server: remora\r\nconnection: close\r\n\r\n",
                        resp->status, reason(resp->status), resp->content_type, resp->body.len);
    if (!head_only && resp->body.len)
        evbuffer_add(ac->out, resp->body.data, resp->body.len);
    ac->closing = true;
    event_del(ac->rev);
    /* Small responses leave at once; the rest when the socket is writable. */
    evbuffer_write(ac->out, ac->fd);
    event_add(ac->wev, NULL);
}

static void simple_reply(struct admin_conn *ac, int status, const char *msg)
{
    struct admin_resp resp = {.status = status, .content_type = "text/plain; charset=UTF-8"};
    sb_init(&resp.body);
    sb_puts(&resp.body, msg);
    send_response(ac, &resp, false);
    sb_fini(&resp.body);
}

static void dispatch(struct admin_conn *ac, char *head)
{
    /* Request line: METHOD SP target SP HTTP/1.x */
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *eol = strstr(head, "\r\n");
    if (!sp1 || !sp2 || !eol || sp2 > eol || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        simple_reply(ac, 400, "bad request\n");
        return;
    }
    *sp1 = *sp2 = '\0';
    struct admin_req req = {.method = head};
    const char *target = sp1 + 1;
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    if (plen >= sizeof(req.path) || (q && strlen(q + 1) >= sizeof(req.query))) {
        simple_reply(ac, 414, "URI too long\n");
        return;
    }
    memcpy(req.path, target, plen);
    req.path[plen] = '\0';
    if (q)
        strncpy(req.query, q + 1, sizeof(req.query) - 1);
    bool is_head = strcmp(req.method, "HEAD") == 0;
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        if (strcmp(handlers[i].path, req.path) != 0)
            continue;
        struct admin_resp resp = {.status = 200, .content_type = "text/plain; charset=UTF-8"};
        sb_init(&resp.body);
        if (handlers[i].post_only && strcmp(req.method, "POST") != 0) {
            resp.status = 405;
            sb_printf(&resp.body, "Method %s not allowed, POST required.\n", req.method);
        } else {
            handlers[i].fn(ac->a, &req, &resp);
        }
        log_debug(LC_ADMIN, "%s %s -> %d", req.method, target, resp.status);
        send_response(ac, &resp, is_head);
        sb_fini(&resp.body);
        return;
    }
    struct admin_resp resp = {.status = 404, .content_type = "text/plain; charset=UTF-8"};
    sb_init(&resp.body);
    sb_puts(&resp.body, "invalid path. ");
    h_help(ac->a, &req, &resp);
    send_response(ac, &resp, is_head);
    sb_fini(&resp.body);
}

static void ac_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct admin_conn *ac = arg;
    (void)what;
    int n = evbuffer_read(ac->in, fd, 16384);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        ac_free(ac);
        return;
    }
    struct evbuffer_ptr end = evbuffer_search(ac->in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(ac->in) > ADMIN_MAX_HEAD)
            simple_reply(ac, 431, "request header too large\n");
        return;
    }
    size_t len = (size_t)end.pos + 4;
    char *head = malloc(len + 1);
    if (!head) {
        ac_free(ac);
        return;
    }
    evbuffer_remove(ac->in, head, len);
    head[len] = '\0';
    if (memchr(head, '\0', len)) {
        simple_reply(ac, 400, "bad request\n");
    } else {
        dispatch(ac, head);
    }
    free(head);
}

static void ac_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct admin_conn *ac = arg;
    (void)what;
    if (evbuffer_write(ac->out, fd) < 0 && errno != EAGAIN && errno != EINTR) {
        ac_free(ac);
        return;
    }
    if (evbuffer_get_length(ac->out) == 0)
        ac_free(ac); /* the response says connection: close */
}

static void ac_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ac_free(arg);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    (void)what;
    for (int i = 0; i < 16; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of fds: stop polling the socket for a moment instead of spinning. */
                event_del(a->ev);
                struct timeval tv = {0, 200 * 1000};
                evtimer_add(a->backoff, &tv);
            }
            return;
        }
        struct admin_conn *ac = calloc(1, sizeof(*ac));
        if (!ac) {
            close(cfd);
            continue;
        }
        ac->a = a;
        ac->fd = cfd;
        list_init(&ac->node);
        ac->in = evbuffer_new();
        ac->out = evbuffer_new();
        ac->rev = event_new(a->srv->base, cfd, EV_READ | EV_PERSIST, ac_on_read, ac);
        ac->wev = event_new(a->srv->base, cfd, EV_WRITE | EV_PERSIST, ac_on_write, ac);
        ac->timer = evtimer_new(a->srv->base, ac_on_timeout, ac);
        if (!ac->in || !ac->out || !ac->rev || !ac->wev || !ac->timer) {
            if (ac->in)
                evbuffer_free(ac->in);
            if (ac->out)
                evbuffer_free(ac->out);
            if (ac->rev)
                event_free(ac->rev);
            if (ac->wev)
                event_free(ac->wev);
            if (ac->timer)
                event_free(ac->timer);
            close(cfd);
            free(ac);
            continue;
        }
        struct timeval tv = {ADMIN_TIMEOUT_S, 0};
        list_add_tail(&a->conns, &ac->node);
        event_add(ac->rev, NULL);
        evtimer_add(ac->timer, &tv);
    }
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    (void)fd;
    (void)what;
    event_add(a->ev, NULL);
}

int admin_start(struct server *srv, struct admin **out)
{
    const struct cfg_admin *cfg = &srv->snap->bs->admin;
    *out = NULL;
    if (!cfg->enabled)
        return 0;
    struct admin *a = calloc(1, sizeof(*a));
    if (!a)
        return -RM_ENOMEM;
    a->srv = srv;
    list_init(&a->conns);
    int fd = socket(cfg->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (const struct sockaddr *)&cfg->addr.ss, cfg->addr.len) < 0 ||
        listen(fd, 128) < 0) {
        log_critical(LC_ADMIN, "cannot bind admin address %s: %s", cfg->addr.str, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(a);
        return -RM_EIO;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    conn_addr_str(&ss, a->addr, sizeof(a->addr));
    a->fd = fd;
    a->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_accept, a);
    a->backoff = evtimer_new(srv->base, on_backoff, a);
    if (!a->ev || !a->backoff) {
        if (a->ev)
            event_free(a->ev);
        if (a->backoff)
            event_free(a->backoff);
        close(fd);
        free(a);
        return -RM_ENOMEM;
    }
    event_add(a->ev, NULL);
    log_info(LC_ADMIN, "admin address: %s", a->addr);
    *out = a;
    return 0;
}

void admin_stop(struct admin *a)
{
    if (!a)
        return;
    while (!list_empty(&a->conns))
        ac_free(list_entry(a->conns.next, struct admin_conn, node));
    event_free(a->ev);
    event_free(a->backoff);
    close(a->fd);
    free(a);
}
