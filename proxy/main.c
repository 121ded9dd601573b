/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/main.c — the command line (Envoy's flags), --help, config loading, then the server.
 * Nothing else lives here. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/err.h"
#include "config/snapshot.h"
#include "proxy/cpu.h"
#include "proxy/evmem.h"
#include "proxy/log.h"
#include "proxy/server.h"

enum {
    OPT_CONFIG_YAML = 256,
    OPT_MODE,
    OPT_CONCURRENCY,
    OPT_COMPONENT_LOG_LEVEL,
    OPT_LOG_PATH,
    OPT_DRAIN_TIME,
    OPT_SERVICE_CLUSTER,
    OPT_SERVICE_NODE,
    OPT_SERVICE_ZONE,
    OPT_VERSION,
    OPT_DISABLE_HOT_RESTART,
};

static const struct option long_opts[] = {
    {"config-path", required_argument, NULL, 'c'},
    {"config-yaml", required_argument, NULL, OPT_CONFIG_YAML},
    {"mode", required_argument, NULL, OPT_MODE},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"log-level", required_argument, NULL, 'l'},
    {"component-log-level", required_argument, NULL, OPT_COMPONENT_LOG_LEVEL},
    {"log-path", required_argument, NULL, OPT_LOG_PATH},
    {"drain-time-s", required_argument, NULL, OPT_DRAIN_TIME},
    {"service-cluster", required_argument, NULL, OPT_SERVICE_CLUSTER},
    {"service-node", required_argument, NULL, OPT_SERVICE_NODE},
    {"service-zone", required_argument, NULL, OPT_SERVICE_ZONE},
    {"disable-hot-restart", no_argument, NULL, OPT_DISABLE_HOT_RESTART},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: remora [options]\n"
            "Remora " REMORA_VERSION " - a lightweight Envoy-compatible sidecar and edge proxy.\n"
            "\n"
            "  -c, --config-path PATH       bootstrap config file (Envoy v3 YAML or JSON)\n"
            "      --config-yaml YAML       inline YAML merged over --config-path\n"
            "      --mode MODE              serve (default) | validate | init_only\n"
            "      --concurrency N          worker threads (default: the CPUs this process may\n"
            "                               use: affinity mask and cgroup CPU quota)\n"
            "  -l, --log-level LEVEL        trace|debug|info|warning|error|critical|off (info)\n"
            "      --component-log-level L  per component, e.g. upstream:debug,connection:trace\n"
            "      --log-path PATH          write logs to PATH instead of stderr (SIGUSR1 "
            "reopens)\n"
            "      --drain-time-s N         graceful drain on SIGTERM/SIGINT, seconds (600)\n"
            "      --service-cluster NAME   node.cluster\n"
            "      --service-node NAME      node.id\n"
            "      --service-zone NAME      node.locality.zone\n"
            "      --disable-hot-restart    accepted for Envoy compatibility (no hot restart)\n"
            "      --version                print the version and exit\n"
            "  -h, --help                   this help\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain then exit 0 (twice: exit now); SIGUSR1 reopens logs.\n"
            "Admin: see the admin.address of the config; GET /help lists the endpoints.\n");
}

static unsigned edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    unsigned d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            unsigned x = d[i - 1][j] + 1, y = d[i][j - 1] + 1;
            d[i][j] = c < x ? (c < y ? c : y) : (x < y ? x : y);
        }
    return d[la][lb];
}

static void unknown_flag(const char *arg)
{
    const char *name = arg;
    while (*name == '-')
        name++;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", name);
    char *eq = strchr(buf, '=');
    if (eq)
        *eq = '\0';
    const char *best = NULL;
    unsigned best_d = 4;
    for (const struct option *o = long_opts; o->name; o++) {
        unsigned d = edit_distance(buf, o->name);
        if (d < best_d) {
            best_d = d;
            best = o->name;
        }
    }
    fprintf(stderr, "remora: unknown option '%s'", arg);
    if (best)
        fprintf(stderr, "; did you mean '--%s'?", best);
    fprintf(stderr, "\nTry 'remora --help' for the list of options.\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static char *join_argv(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        memcpy(p, argv[i], n);
        p += n;
        *p++ = i + 1 < argc ? ' ' : '\0';
    }
    if (argc == 0)
        *p = '\0';
    return s;
}

int main(int argc, char **argv)
{
    evmem_install(); /* before any libevent call */
    struct server_options opt;
    memset(&opt, 0, sizeof(opt));
    opt.mode = MODE_SERVE;
    opt.drain_time_s = 600;
    opt.argc = argc;
    opt.argv = argv;
    unsigned concurrency = 0;
    bool concurrency_set = false;

    opterr = 0;
    int ch, idx;
    while ((ch = getopt_long(argc, argv, ":c:l:h", long_opts, &idx)) != -1) {
        switch (ch) {
        case 'c':
            opt.load.config_path = optarg;
            break;
        case OPT_CONFIG_YAML:
            opt.load.config_yaml = optarg;
            break;
        case OPT_MODE:
            if (strcmp(optarg, "serve") == 0)
                opt.mode = MODE_SERVE;
            else if (strcmp(optarg, "validate") == 0)
                opt.mode = MODE_VALIDATE;
            else if (strcmp(optarg, "init_only") == 0)
                opt.mode = MODE_INIT_ONLY;
            else {
                fprintf(stderr, "remora: --mode: '%s' is not one of serve, validate, init_only\n",
                        optarg);
                return 1;
            }
            break;
        case OPT_CONCURRENCY:
            if (parse_uint(optarg, 1024, &concurrency) < 0 || concurrency == 0) {
                fprintf(stderr, "remora: --concurrency: '%s' is not a number from 1 to 1024\n",
                        optarg);
                return 1;
            }
            concurrency_set = true;
            break;
        case 'l': {
            enum log_level l;
            if (log_level_parse(optarg, &l) < 0) {
                fprintf(stderr,
                        "remora: --log-level: '%s' is not one of trace, debug, info, warning, "
                        "error, critical, off\n",
                        optarg);
                return 1;
            }
            opt.log_level = optarg;
            log_set_level(l);
            break;
        }
        case OPT_COMPONENT_LOG_LEVEL:
            opt.component_log_level = optarg;
            break;
        case OPT_LOG_PATH:
            opt.log_path = optarg;
            break;
        case OPT_DRAIN_TIME:
            if (parse_uint(optarg, 86400 * 7, &opt.drain_time_s) < 0) {
                fprintf(stderr, "remora: --drain-time-s: '%s' is not a number of seconds\n",
                        optarg);
                return 1;
            }
            break;
        case OPT_SERVICE_CLUSTER:
            opt.load.service_cluster = optarg;
            break;
        case OPT_SERVICE_NODE:
            opt.load.service_node = optarg;
            break;
        case OPT_SERVICE_ZONE:
            opt.load.service_zone = optarg;
            break;
        case OPT_DISABLE_HOT_RESTART:
            break;
        case OPT_VERSION:
            printf("remora version: " REMORA_VERSION "/envoy-v3-compatible/RELEASE\n");
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "remora: option '%s' needs a value\nTry 'remora --help'.\n",
                    argv[optind - 1]);
            return 1;
        case '?':
        default:
            unknown_flag(argv[optind - 1]);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "remora: unexpected argument '%s'\nTry 'remora --help'.\n", argv[optind]);
        return 1;
    }
    if (opt.component_log_level) {
        char err[256];
        if (log_set_component_levels(opt.component_log_level, err, sizeof(err)) < 0) {
            fprintf(stderr, "remora: --component-log-level: %s\n", err);
            return 1;
        }
    }
    if (opt.log_path) {
        int rc = log_open(opt.log_path);
        if (rc < 0) {
            fprintf(stderr, "remora: --log-path: cannot open '%s': %s\n", opt.log_path,
                    strerror(-rc));
            return 1;
        }
    }
    if (!opt.load.config_path && !opt.load.config_yaml) {
        fprintf(stderr, "remora: no configuration: give -c/--config-path and/or --config-yaml\n"
                        "Try 'remora --help'.\n");
        return 1;
    }
    opt.concurrency = concurrency_set ? concurrency : cpu_available("/sys/fs/cgroup");

    struct cfg_err err;
    cfg_err_init(&err);
    struct snapshot *snap = NULL;
    int rc = config_load(&opt.load, &snap, &err);
    const char *name = opt.load.config_path ? opt.load.config_path : "--config-yaml";
    if (opt.mode == MODE_VALIDATE) {
        cfg_err_print(&err, stderr);
        if (rc < 0) {
            fprintf(stderr, "configuration '%s' is invalid: %zu error%s\n", name, err.n_errors,
                    err.n_errors == 1 ? "" : "s");
        } else {
            printf("configuration '%s' OK\n", name);
            snap_unref(snap);
        }
        cfg_err_fini(&err);
        return rc < 0 ? 1 : 0;
    }
    if (rc < 0) {
        cfg_err_print(&err, stderr);
        fprintf(stderr, "remora: configuration '%s' rejected: %zu error%s\n", name, err.n_errors,
                err.n_errors == 1 ? "" : "s");
        cfg_err_fini(&err);
        return 1;
    }
    for (size_t i = 0; i < err.n; i++)
        log_warn(LC_CONFIG, "%s", err.msgs[i].text);
    cfg_err_fini(&err);
    opt.command_line = join_argv(argc, argv);
    log_info(LC_MAIN, "remora " REMORA_VERSION " starting: config '%s', concurrency %u", name,
             opt.concurrency);
    rc = server_run(&opt, snap);
    free(opt.command_line);
    return rc;
}
