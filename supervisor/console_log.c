#include "supervisor/console_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"

/* The last line of a capped log, within the cap. */
#define CAPPED_NOTE "\r\n[corral: this run's console log reached its 1 MiB cap; output goes on]\r\n"

struct console_log {
    char *vm, *dev;
    int fd;
    size_t used;  /* bytes this run has written, the note included */
    bool stopped; /* capped or failed: nothing more is written */
};

struct console_log *console_log_new(const char *vm, const char *dev, int fd, bool continued)
{
    struct console_log *l = xcalloc(1, sizeof(*l));
    struct stat st;

    l->vm = xstrdup(vm);
    l->dev = xstrdup(dev);
    l->fd = fd;
    if (continued && fstat(fd, &st) == 0 && st.st_size > 0)
        l->used = (size_t)st.st_size < CONSOLE_LOG_CAP ? (size_t)st.st_size : CONSOLE_LOG_CAP;
    l->stopped = l->used >= CONSOLE_LOG_CAP - (sizeof(CAPPED_NOTE) - 1);
    return l;
}

/* All of data, or false (errno set) on the first failure. */
static bool put(struct console_log *l, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(l->fd, data, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return false;
        }
        l->used += (size_t)w;
        data += w;
        n -= (size_t)w;
    }
    return true;
}

void console_log_write(struct console_log *l, const void *data, size_t n)
{
    size_t room;

    if (l == NULL || l->stopped)
        return;
    room = CONSOLE_LOG_CAP - (sizeof(CAPPED_NOTE) - 1) - l->used;
    if (!put(l, data, n < room ? n : room)) {
        log_err("VM %s: console %s: cannot write its log, which stops here: %s", l->vm, l->dev,
                strerror(errno));
        l->stopped = true;
        return;
    }
    if (n < room)
        return;
    l->stopped = true;
    if (!put(l, CAPPED_NOTE, sizeof(CAPPED_NOTE) - 1))
        log_err("VM %s: console %s: cannot write the end of its log: %s", l->vm, l->dev,
                strerror(errno));
    log_warn("VM %s: console %s: its log reached %d bytes, the cap of one run; the rest of the "
             "output is not copied",
             l->vm, l->dev, CONSOLE_LOG_CAP);
}

void console_log_free(struct console_log *l)
{
    if (l == NULL)
        return;
    if (close(l->fd) < 0)
        log_warn("VM %s: console %s: closing its log: %s", l->vm, l->dev, strerror(errno));
    free(l->vm);
    free(l->dev);
    free(l);
}
