#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "corral";
static enum log_level log_min = LOG_LVL_INFO;

void log_init(const char *prog, enum log_level min)
{
    log_prog = prog;
    log_min = min;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    char stamp[32] = "";
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (lvl < log_min)
        return;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && localtime_r(&ts.tv_sec, &tm) != NULL)
        strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    /* One fprintf per line keeps lines from several processes sharing a
     * stderr from interleaving mid-line. */
    char line[2048];
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ld %s[%ld]: %s: %s\n", stamp, ts.tv_nsec / 1000000L, log_prog,
            (long)getpid(), names[lvl], line);
}
