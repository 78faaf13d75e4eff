/* What the bench tools share: a blocking line reader, whole writes, a
 * Unix socket connection and a clock, each ending the program with the
 * tool's name and errno's text when it fails.  Each tool defines
 * BENCH_TOOL (its name) before including this. */
#ifndef CORRAL_BENCH_IO_H
#define CORRAL_BENCH_IO_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BENCH_LINE_MAX (4 << 20)

struct bench_reader {
    int fd;
    char *buf;             /* BENCH_LINE_MAX bytes, the caller's */
    size_t len, off, seen; /* seen: bytes after off known to hold no newline */
};

_Noreturn static inline void bench_die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", BENCH_TOOL, what, strerror(errno));
    exit(1);
}

/* The next line (NUL-terminated, without its newline), borrowed from r. */
static inline char *bench_read_line(struct bench_reader *r)
{
    for (;;) {
        char *nl = memchr(r->buf + r->off + r->seen, '\n', r->len - r->off - r->seen);
        ssize_t n;

        if (nl != NULL) {
            char *line = r->buf + r->off;

            *nl = '\0';
            r->off = (size_t)(nl - r->buf) + 1;
            r->seen = 0;
            return line;
        }
        r->seen = r->len - r->off;
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
        if (r->len == BENCH_LINE_MAX) {
            errno = EMSGSIZE;
            bench_die("reply line");
        }
        n = read(r->fd, r->buf + r->len, BENCH_LINE_MAX - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ECONNRESET;
            bench_die("read");
        }
        r->len += (size_t)n;
    }
}

static inline void bench_write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, s, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            bench_die("write");
        s += n;
        len -= (size_t)n;
    }
}

static inline int bench_connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        bench_die(path);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        bench_die("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        bench_die(path);
    return fd;
}

static inline double bench_now_s(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        bench_die("clock_gettime");
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
