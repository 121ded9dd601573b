/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/log.h — structured application logs (not access logs): one line per event,
 *   [2026-11-25T08:05:23.123Z] [info] [main] message key=value
 * Levels and component names follow Envoy's (trace, debug, info, warning|warn, error,
 * critical, off; components "main", "config", "upstream", "connection", "admin", "dns",
 * "filter"...). Thread-safe: each line is one write(2) to the log fd (stderr by default,
 * or --log-path), so lines from workers never interleave. */
#ifndef RM_LOG_H
#define RM_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_CRITICAL, LOG_OFF };

/* Components, with Envoy's logger names. */
#define LOG_COMPONENTS(X)                                                                          \
    X(LC_MAIN, "main")                                                                             \
    X(LC_CONFIG, "config")                                                                         \
    X(LC_UPSTREAM, "upstream")                                                                     \
    X(LC_CONNECTION, "connection")                                                                 \
    X(LC_ADMIN, "admin")                                                                           \
    X(LC_DNS, "dns")                                                                               \
    X(LC_FILTER, "filter")                                                                         \
    X(LC_POOL, "pool")                                                                             \
    X(LC_RUNTIME, "runtime")

enum log_component {
#define X(id, name) id,
    LOG_COMPONENTS(X)
#undef X
        LC_COUNT
};

extern enum log_level log_levels[LC_COUNT]; /* per-component threshold */

/* Parses "info", "warn", "warning", ... Returns 0 and the level, or -1. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);
const char *log_component_name(enum log_component c);
/* Finds a component by Envoy logger name; returns -1 when unknown. */
int log_component_find(const char *name);

/* Sets every component's level. */
void log_set_level(enum log_level l);
/* Applies Envoy's --component-log-level syntax "upstream:debug,connection:trace".
 * Returns 0, or -1 with a message in |err| (|errlen| bytes). */
int log_set_component_levels(const char *spec, char *err, size_t errlen);

/* Opens |path| for appending as the log destination (NULL = stderr). Returns 0 or -errno. */
int log_open(const char *path);
/* Reopens the log file (SIGUSR1, after logrotate). Safe from the main loop only. */
void log_reopen(void);

void log_write(enum log_component c, enum log_level l, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_ENABLED(c, l) ((l) >= log_levels[(c)])
#define rm_log(c, l, ...)                                                                          \
    do {                                                                                           \
        if (LOG_ENABLED((c), (l)))                                                                 \
            log_write((c), (l), __VA_ARGS__);                                                      \
    } while (0)
#define log_trace(c, ...) rm_log(c, LOG_TRACE, __VA_ARGS__)
#define log_debug(c, ...) rm_log(c, LOG_DEBUG, __VA_ARGS__)
#define log_info(c, ...) rm_log(c, LOG_INFO, __VA_ARGS__)
#define log_warn(c, ...) rm_log(c, LOG_WARN, __VA_ARGS__)
#define log_error(c, ...) rm_log(c, LOG_ERROR, __VA_ARGS__)
#define log_critical(c, ...) rm_log(c, LOG_CRITICAL, __VA_ARGS__)

#endif
