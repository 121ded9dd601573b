/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/cluster.c — see cluster.h. Main thread only, except host/host_set refcounts. */
#include "proxy/cluster.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "config/model.h"
#include "proxy/conn.h"
#include "proxy/dns.h"
#include "proxy/err.h"
#include "proxy/hist.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "proxy/stats.h"
#include "proxy/strbuf.h"
#include "proxy/worker.h"

static void (*ready_cb)(struct server *srv);

/* ---- hosts and host sets ---------------------------------------------------------------- */

struct host *host_ref(struct host *h)
{
    __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
    return h;
}

void host_unref(struct host *h)
{
    if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free((char *)h->hostname);
    stats_block_free(h->stats);
    free(h->idle);
    free(h);
}

static struct host *host_new(const struct sockaddr *sa, socklen_t len, uint32_t port,
                             const char *hostname, uint32_t weight, uint32_t priority)
{
    struct host *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->stats = stats_host_block_new();
    if (!h->stats) {
        free(h);
        return NULL;
    }
    if (hostname && !(h->hostname = strdup(hostname))) {
        stats_block_free(h->stats);
        free(h);
        return NULL;
    }
    memcpy(&h->addr, sa, len);
    h->addr_len = len;
    if (sa->sa_family == AF_INET)
        ((struct sockaddr_in *)&h->addr)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&h->addr)->sin6_port = htons((uint16_t)port);
    conn_addr_str(&h->addr, h->addr_str, sizeof(h->addr_str));
    unsigned nw = stats_n_slots > 1 ? stats_n_slots - 1 : 1;
    h->idle = calloc(nw, sizeof(*h->idle));
    if (!h->idle) {
        free((char *)h->hostname);
        stats_block_free(h->stats);
        free(h);
        return NULL;
    }
    for (unsigned i = 0; i < nw; i++)
        list_init(&h->idle[i]);
    h->weight = weight ? weight : 1;
    h->priority = priority;
    h->refs = 1;
    return h;
}

struct host_set *host_set_ref(struct host_set *hs)
{
    __atomic_add_fetch(&hs->refs, 1, __ATOMIC_RELAXED);
    return hs;
}

void host_set_unref(struct host_set *hs)
{
    if (!hs || __atomic_sub_fetch(&hs->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < hs->n; i++)
        host_unref(hs->hosts[i]);
    free(hs->hosts);
    free(hs);
}

static int cmp_priority(const void *a, const void *b)
{
    const struct host *x = *(struct host *const *)a, *y = *(struct host *const *)b;
    return (x->priority > y->priority) - (x->priority < y->priority);
}

/* Takes ownership of the |n| host references in |hosts|. */
static struct host_set *host_set_new(struct host **hosts, size_t n, uint64_t version)
{
    struct host_set *hs = calloc(1, sizeof(*hs));
    if (!hs) {
        for (size_t i = 0; i < n; i++)
            host_unref(hosts[i]);
        free(hosts);
        return NULL;
    }
    hs->refs = 1;
    hs->version = version;
    hs->hosts = hosts;
    hs->n = n;
    if (n) {
        /* Stable order inside a priority keeps round robin fair across updates. */
        qsort(hosts, n, sizeof(*hosts), cmp_priority);
        uint32_t p0 = hosts[0]->priority;
        while (hs->n_p0 < n && hosts[hs->n_p0]->priority == p0) {
            hs->total_weight_p0 += hosts[hs->n_p0]->weight;
            if (hosts[hs->n_p0]->weight != hosts[0]->weight)
                hs->weighted = true;
            hs->n_p0++;
        }
    }
    return hs;
}

/* ---- publishing --------------------------------------------------------------------------- */

static void maybe_ready(struct server *srv)
{
    for (size_t i = 0; i < srv->n_clusters; i++)
        if (!srv->clusters[i].initialized)
            return;
    if (ready_cb) {
        void (*cb)(struct server *) = ready_cb;
        ready_cb = NULL;
        cb(srv);
    }
}

static void publish(struct cluster *cl, struct host_set *hs)
{
    struct server *srv = cl->srv;
    struct host_set *old = cl->hs;
    cl->hs = hs;
    uint32_t max_w = 0;
    for (size_t i = 0; i < hs->n; i++)
        if (hs->hosts[i]->weight > max_w)
            max_w = hs->hosts[i]->weight;
    stats_gauge_set(cl->stats, CLUSTER_membership_total, (int64_t)hs->n);
    stats_gauge_set(cl->stats, CLUSTER_membership_healthy, (int64_t)hs->n);
    stats_gauge_set(cl->stats, CLUSTER_max_host_weight, max_w);
    if (old)
        stats_inc(cl->stats, CLUSTER_membership_change);
    for (unsigned k = 0; k < srv->n_workers; k++)
        mbox_post(&srv->workers[k], MSG_HOST_SET, host_set_ref(hs), cl->index);
    if (old)
        host_set_unref(old);
    if (!cl->initialized) {
        cl->initialized = true;
        maybe_ready(srv);
    }
}

/* ---- DNS clusters ------------------------------------------------------------------------ */

struct dns_job {
    struct cluster *cl;
    const struct cfg_endpoint *ep;
    uint32_t priority;
    int families[2]; /* resolution order; AF_UNSPEC terminates */
    int step;
    size_t found;
};

static void start_refresh(struct cluster *cl);

static void on_dns_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_refresh(arg);
}

static void schedule_refresh(struct cluster *cl)
{
    uint64_t ms = cl->cfg->dns_refresh_rate_ms;
    if (cl->cfg->respect_dns_ttl && !cl->dns_failed && cl->dns_min_ttl > 0)
        ms = (uint64_t)cl->dns_min_ttl * 1000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(cl->dns_timer, &tv);
}

static bool same_hosts(const struct host_set *hs, struct host **hosts, size_t n)
{
    if (!hs || hs->n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < hs->n && !found; j++)
            found = hs->hosts[j]->addr_len == hosts[i]->addr_len &&
                    memcmp(&hs->hosts[j]->addr, &hosts[i]->addr, hosts[i]->addr_len) == 0 &&
                    hs->hosts[j]->weight == hosts[i]->weight;
        if (!found)
            return false;
    }
    return true;
}

void cluster_dns_done(struct cluster *cl, bool failed)
{
    struct host **hosts = cl->dns_new;
    size_t n = cl->dns_n;
    cl->dns_new = NULL;
    cl->dns_n = cl->dns_cap = 0;
    cl->dns_failed = failed;
    if (failed) {
        /* Envoy keeps the last answer when resolution fails. */
        stats_inc(cl->stats, CLUSTER_update_failure);
        for (size_t i = 0; i < n; i++)
            host_unref(hosts[i]);
        free(hosts);
        if (!cl->initialized) {
            log_warn(LC_UPSTREAM, "cluster '%s': initial DNS resolution failed; no hosts yet",
                     cl->cfg->name);
            struct host_set *empty = host_set_new(NULL, 0, 1);
            if (empty)
                publish(cl, empty);
        }
    } else if (same_hosts(cl->hs, hosts, n)) {
        stats_inc(cl->stats, CLUSTER_update_success);
        stats_inc(cl->stats, CLUSTER_update_no_rebuild);
        for (size_t i = 0; i < n; i++)
            host_unref(hosts[i]);
        free(hosts);
    } else {
        stats_inc(cl->stats, CLUSTER_update_success);
        if (n == 0)
            stats_inc(cl->stats, CLUSTER_update_empty);
        /* Keep the identity (and stats) of hosts whose address did not change. */
        for (size_t i = 0; cl->hs && i < n; i++)
            for (size_t j = 0; j < cl->hs->n; j++) {
                struct host *old = cl->hs->hosts[j];
                if (old->addr_len == hosts[i]->addr_len &&
                    memcmp(&old->addr, &hosts[i]->addr, old->addr_len) == 0 &&
                    old->weight == hosts[i]->weight && old->priority == hosts[i]->priority) {
                    host_unref(hosts[i]);
                    hosts[i] = host_ref(old);
                    break;
                }
            }
        struct host_set *hs = host_set_new(hosts, n, cl->hs ? cl->hs->version + 1 : 1);
        if (hs) {
            log_info(LC_UPSTREAM, "cluster '%s': DNS update, %zu host%s", cl->cfg->name, n,
                     n == 1 ? "" : "s");
            publish(cl, hs);
        }
    }
    schedule_refresh(cl);
}

static bool same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

void cluster_dns_add(struct cluster *cl, const struct sockaddr *sa, socklen_t len, uint32_t ttl,
                     const char *hostname, uint32_t port, uint32_t weight, uint32_t priority)
{
    if (cl->cfg->type == CLUSTER_LOGICAL_DNS && cl->dns_n >= 1)
        return;                            /* LOGICAL_DNS uses only the first address */
    for (size_t i = 0; i < cl->dns_n; i++) /* the same address from another endpoint/family */
        if (same_ip((const struct sockaddr *)&cl->dns_new[i]->addr, sa) &&
            cl->dns_new[i]->priority == priority &&
            ntohs(((const struct sockaddr_in *)&cl->dns_new[i]->addr)->sin_port) == port)
            return;
    if (cl->dns_n == cl->dns_cap) {
        size_t cap = cl->dns_cap ? cl->dns_cap * 2 : 8;
        struct host **nh = realloc(cl->dns_new, cap * sizeof(*nh));
        if (!nh)
            return;
        cl->dns_new = nh;
        cl->dns_cap = cap;
    }
    struct host *h = host_new(sa, len, port, hostname, weight, priority);
    if (!h)
        return;
    cl->dns_new[cl->dns_n++] = h;
    if (ttl && (cl->dns_min_ttl == 0 || ttl < cl->dns_min_ttl))
        cl->dns_min_ttl = ttl;
}

static void job_resolve(struct dns_job *job);

static void on_job_answer(void *arg, int status, const struct sockaddr *sa, socklen_t len,
                          uint32_t ttl)
{
    struct dns_job *job = arg;
    struct cluster *cl = job->cl;
    if (status == -RM_ECLOSED) { /* shutting down */
        free(job);
        return;
    }
    if (sa) {
        job->found++;
        cluster_dns_add(cl, sa, len, ttl, job->ep->host, job->ep->port, job->ep->weight,
                        job->priority);
        return;
    }
    if (status == 0 && job->found == 0 && job->step == 0 && job->families[1] != AF_UNSPEC) {
        job->step = 1; /* AUTO / V4_PREFERRED: fall back to the other family */
        job_resolve(job);
        return;
    }
    if (status < 0) {
        /* Envoy keeps the last answer of an endpoint whose resolution failed. */
        cl->dns_failed = true;
        for (size_t i = 0; cl->hs && i < cl->hs->n; i++) {
            const struct host *h = cl->hs->hosts[i];
            if (h->hostname && strcmp(h->hostname, job->ep->host) == 0 &&
                ntohs(((const struct sockaddr_in *)&h->addr)->sin_port) == job->ep->port)
                cluster_dns_add(cl, (const struct sockaddr *)&h->addr, h->addr_len, 0, h->hostname,
                                job->ep->port, h->weight, h->priority);
        }
    }
    free(job);
    if (--cl->dns_pending == 0)
        cluster_dns_done(cl, cl->dns_failed && cl->dns_n == 0);
}

static void job_resolve(struct dns_job *job)
{
    if (dns_resolve(job->cl->srv->dns, job->ep->host, job->families[job->step], on_job_answer,
                    job) < 0)
        on_job_answer(job, -RM_ENOMEM, NULL, 0, 0);
}

static void start_refresh(struct cluster *cl)
{
    const struct cfg_cluster *cfg = cl->cfg;
    stats_inc(cl->stats, CLUSTER_update_attempt);
    cl->dns_failed = false;
    cl->dns_min_ttl = 0;
    cl->dns_pending = 1; /* guard: answers may arrive synchronously */
    for (size_t li = 0; li < cfg->n_localities; li++) {
        const struct cfg_locality_endpoints *loc = &cfg->localities[li];
        for (size_t ei = 0; ei < loc->n_endpoints; ei++) {
            struct dns_job *job = calloc(1, sizeof(*job));
            if (!job) {
                cl->dns_failed = true;
                continue;
            }
            job->cl = cl;
            job->ep = &loc->endpoints[ei];
            job->priority = loc->priority;
            switch (cfg->dns_lookup_family) {
            case DNS_V4_ONLY:
                job->families[0] = AF_INET, job->families[1] = AF_UNSPEC;
                break;
            case DNS_V6_ONLY:
                job->families[0] = AF_INET6, job->families[1] = AF_UNSPEC;
                break;
            case DNS_V4_PREFERRED:
                job->families[0] = AF_INET, job->families[1] = AF_INET6;
                break;
            case DNS_ALL:
                job->families[0] = AF_UNSPEC, job->families[1] = AF_UNSPEC;
                break;
            case DNS_AUTO:
            default:
                job->families[0] = AF_INET6, job->families[1] = AF_INET;
                break;
            }
            cl->dns_pending++;
            job_resolve(job);
        }
    }
    if (--cl->dns_pending == 0)
        cluster_dns_done(cl, cl->dns_failed && cl->dns_n == 0);
}

/* ---- manager ----------------------------------------------------------------------------- */

static int init_static(struct cluster *cl)
{
    const struct cfg_cluster *cfg = cl->cfg;
    size_t n = 0;
    for (size_t li = 0; li < cfg->n_localities; li++)
        n += cfg->localities[li].n_endpoints;
    struct host **hosts = calloc(n ? n : 1, sizeof(*hosts));
    if (!hosts)
        return -RM_ENOMEM;
    size_t k = 0;
    for (size_t li = 0; li < cfg->n_localities; li++) {
        const struct cfg_locality_endpoints *loc = &cfg->localities[li];
        for (size_t ei = 0; ei < loc->n_endpoints; ei++) {
            const struct cfg_endpoint *ep = &loc->endpoints[ei];
            struct host *h = host_new((const struct sockaddr *)&ep->addr.ss, ep->addr.len, ep->port,
                                      NULL, ep->weight, loc->priority);
            if (!h) {
                for (size_t i = 0; i < k; i++)
                    host_unref(hosts[i]);
                free(hosts);
                return -RM_ENOMEM;
            }
            hosts[k++] = h;
        }
    }
    struct host_set *hs = host_set_new(hosts, k, 1);
    if (!hs)
        return -RM_ENOMEM;
    stats_inc(cl->stats, CLUSTER_update_attempt);
    stats_inc(cl->stats, CLUSTER_update_success);
    publish(cl, hs);
    return 0;
}

int cluster_manager_init(struct server *srv)
{
    const struct cfg_bootstrap *bs = srv->snap->bs;
    srv->clusters = calloc(bs->n_clusters ? bs->n_clusters : 1, sizeof(*srv->clusters));
    if (!srv->clusters)
        return -RM_ENOMEM;
    srv->n_clusters = bs->n_clusters;
    for (size_t i = 0; i < bs->n_clusters; i++) {
        struct cluster *cl = &srv->clusters[i];
        cl->cfg = &bs->clusters[i];
        cl->index = i;
        cl->srv = srv;
        const char *stat_name = cl->cfg->alt_stat_name && cl->cfg->alt_stat_name[0]
                                    ? cl->cfg->alt_stat_name
                                    : cl->cfg->name;
        cl->stats = stats_block_get(STATS_CLUSTER, stat_name);
        cl->rq_time = hist_get(STATS_CLUSTER, stat_name, "upstream_rq_time");
        if (!cl->stats || !cl->rq_time)
            return -RM_ENOMEM;
        stats_inc(srv->cm_stats, CM_cluster_added);
    }
    stats_gauge_set(srv->cm_stats, CM_active_clusters, (int64_t)bs->n_clusters);
    for (size_t i = 0; i < bs->n_clusters; i++) {
        struct cluster *cl = &srv->clusters[i];
        if (cl->cfg->type == CLUSTER_STATIC) {
            int rc = init_static(cl);
            if (rc < 0)
                return rc;
        } else {
            cl->dns_timer = evtimer_new(srv->base, on_dns_timer, cl);
            if (!cl->dns_timer)
                return -RM_ENOMEM;
            start_refresh(cl);
        }
    }
    maybe_ready(srv);
    return 0;
}

void cluster_manager_set_ready_cb(struct server *srv, void (*on_ready)(struct server *srv))
{
    ready_cb = on_ready;
    maybe_ready(srv);
}

void cluster_manager_fini(struct server *srv)
{
    for (size_t i = 0; i < srv->n_clusters; i++) {
        struct cluster *cl = &srv->clusters[i];
        if (cl->dns_timer)
            event_free(cl->dns_timer);
        for (size_t k = 0; k < cl->dns_n; k++)
            host_unref(cl->dns_new[k]);
        free(cl->dns_new);
        host_set_unref(cl->hs);
    }
    free(srv->clusters);
    srv->clusters = NULL;
    srv->n_clusters = 0;
}

/* ---- admin ---------------------------------------------------------------------------------- */

static const char *const host_stat_names[] = {
#define N(n) #n,
    HOST_STATS(N, N)
#undef N
};

void cluster_render_admin(struct server *srv, struct strbuf *out, bool json)
{
    if (json)
        sb_puts(out, "{\"cluster_statuses\":[");
    for (size_t i = 0; i < srv->n_clusters; i++) {
        struct cluster *cl = &srv->clusters[i];
        const struct cfg_cluster *cfg = cl->cfg;
        const char *name = cfg->name;
        if (json) {
            sb_puts(out, i ? ",{\"name\":" : "{\"name\":");
            sb_json_str(out, name, strlen(name));
            sb_puts(out, ",\"host_statuses\":[");
        } else {
            sb_printf(out, "%s::observability_name::%s\n", name, name);
            sb_printf(out, "%s::default_priority::max_connections::%u\n", name,
                      cfg->cb.max_connections);
            sb_printf(out, "%s::default_priority::max_pending_requests::%u\n", name,
                      cfg->cb.max_pending_requests);
            sb_printf(out, "%s::default_priority::max_requests::%u\n", name, cfg->cb.max_requests);
            sb_printf(out, "%s::default_priority::max_retries::%u\n", name, cfg->cb.max_retries);
            sb_printf(out, "%s::high_priority::max_connections::1024\n", name);
            sb_printf(out, "%s::high_priority::max_pending_requests::1024\n", name);
            sb_printf(out, "%s::high_priority::max_requests::1024\n", name);
            sb_printf(out, "%s::high_priority::max_retries::3\n", name);
            sb_printf(out, "%s::added_via_api::false\n", name);
        }
        for (size_t h = 0; cl->hs && h < cl->hs->n; h++) {
            const struct host *ho = cl->hs->hosts[h];
            if (json) {
                sb_puts(out, h ? ",{\"address\":" : "{\"address\":");
                sb_json_str(out, ho->addr_str, strlen(ho->addr_str));
                sb_puts(out, ",\"stats\":[");
                for (unsigned s = 0; s < ho->stats->n; s++)
                    sb_printf(out, "%s{\"name\":\"%s\",\"value\":%lld}", s ? "," : "",
                              host_stat_names[s], (long long)stats_value(ho->stats, s));
                sb_printf(out,
                          "],\"health_status\":{\"eds_health_status\":\"HEALTHY\"},"
                          "\"weight\":%u,\"priority\":%u",
                          ho->weight, ho->priority);
                if (ho->hostname) {
                    sb_puts(out, ",\"hostname\":");
                    sb_json_str(out, ho->hostname, strlen(ho->hostname));
                }
                sb_puts(out, "}");
                continue;
            }
            for (unsigned s = 0; s < ho->stats->n; s++)
                sb_printf(out, "%s::%s::%s::%lld\n", name, ho->addr_str, host_stat_names[s],
                          (long long)stats_value(ho->stats, s));
            sb_printf(out, "%s::%s::hostname::%s\n", name, ho->addr_str,
                      ho->hostname ? ho->hostname : "");
            sb_printf(out, "%s::%s::health_flags::healthy\n", name, ho->addr_str);
            sb_printf(out, "%s::%s::weight::%u\n", name, ho->addr_str, ho->weight);
            sb_printf(out, "%s::%s::region::\n", name, ho->addr_str);
            sb_printf(out, "%s::%s::zone::\n", name, ho->addr_str);
            sb_printf(out, "%s::%s::sub_zone::\n", name, ho->addr_str);
            sb_printf(out, "%s::%s::canary::false\n", name, ho->addr_str);
            sb_printf(out, "%s::%s::priority::%u\n", name, ho->addr_str, ho->priority);
            sb_printf(out, "%s::%s::success_rate::-1\n", name, ho->addr_str);
            sb_printf(out, "%s::%s::local_origin_success_rate::-1\n", name, ho->addr_str);
        }
        if (json)
            sb_puts(out, "]}");
    }
    if (json)
        sb_puts(out, "]}\n");
}
