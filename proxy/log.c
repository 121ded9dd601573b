/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/log.c — see log.h. */
#include "proxy/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_levels[LC_COUNT] = {
#define X(id, name) [id] = LOG_INFO,
    LOG_COMPONENTS(X)
#undef X
};

static const char *const component_names[LC_COUNT] = {
#define X(id, name) [id] = name,
    LOG_COMPONENTS(X)
#undef X
};

static const char *const level_names[] = {"trace", "debug",    "info", "warning",
                                          "error", "critical", "off"};

static int log_fd = STDERR_FILENO;
static char *log_path;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER; /* guards fd swap only */

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    if (strcasecmp(s, "warn") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    if (strcasecmp(s, "err") == 0) {
        *out = LOG_ERROR;
        return 0;
    }
    return -1;
}

const char *log_level_name(enum log_level l)
{
    return level_names[l];
}

const char *log_component_name(enum log_component c)
{
    return component_names[c];
}

int log_component_find(const char *name)
{
    for (int i = 0; i < LC_COUNT; i++)
        if (strcmp(component_names[i], name) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level l)
{
    for (int i = 0; i < LC_COUNT; i++)
        log_levels[i] = l;
}

int log_set_component_levels(const char *spec, char *err, size_t errlen)
{
    char buf[512];
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "component log level list too long");
        return -1;
    }
    memcpy(buf, spec, strlen(spec) + 1); /* length checked above */
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        if (!colon) {
            snprintf(err, errlen, "'%s' is not of the form <component>:<level>", tok);
            return -1;
        }
        *colon = '\0';
        int c = log_component_find(tok);
        enum log_level l;
        if (c < 0) {
            snprintf(err, errlen, "unknown log component '%s'", tok);
            return -1;
        }
        if (log_level_parse(colon + 1, &l) < 0) {
            snprintf(err, errlen, "unknown log level '%s'", colon + 1);
            return -1;
        }
        log_levels[c] = l;
    }
    return 0;
}

int log_open(const char *path)
{
    if (!path)
        return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    pthread_mutex_lock(&log_lock);
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    free(log_path);
    log_path = strdup(path);
    pthread_mutex_unlock(&log_lock);
    return 0;
}

void log_reopen(void)
{
    if (!log_path)
        return;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return;
    /* dup2 keeps the fd number stable, so a worker mid-write never sees a closed fd. */
    pthread_mutex_lock(&log_lock);
    dup2(fd, log_fd);
    pthread_mutex_unlock(&log_lock);
    close(fd);
}

void log_write(enum log_component c, enum log_level l, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "[%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ] [%s] [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), level_names[l], component_names[c]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w;
    do {
        w = write(log_fd, line, len);
    } while (w < 0 && errno == EINTR);
}
