/* Round trips on a Unix socket, for make bench: sends one JSON line COUNT
 * times, each after the previous reply, and prints the mean round trip in
 * milliseconds.  In C, so that the client's own cost does not hide a hop's.
 *   bench_rtt qmp|rpc SOCKET COUNT LINE
 * qmp: reads QEMU's greeting and negotiates capabilities first, and skips
 * events; rpc: skips notifications (lines without an "id"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (4 << 20)

struct reader {
    int fd;
    char *buf;
    size_t len, off;
};

static void die(const char *what)
{
    fprintf(stderr, "bench_rtt: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The next line (NUL-terminated, without its newline), borrowed from r. */
static char *read_line(struct reader *r)
{
    for (;;) {
        char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
        ssize_t n;

        if (nl != NULL) {
            char *line = r->buf + r->off;

            *nl = '\0';
            r->off = (size_t)(nl - r->buf) + 1;
            return line;
        }
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
        if (r->len == LINE_MAX_BYTES) {
            errno = EMSGSIZE;
            die("reply line");
        }
        n = read(r->fd, r->buf + r->len, LINE_MAX_BYTES - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ECONNRESET;
            die("read");
        }
        r->len += (size_t)n;
    }
}

static void write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, s, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("write");
        s += n;
        len -= (size_t)n;
    }
}

/* Reads lines up to the reply: QMP events and JSON-RPC notifications are
 * skipped. */
static void read_reply(struct reader *r, int qmp)
{
    for (;;) {
        const char *line = read_line(r);

        if (qmp ? strstr(line, "\"event\"") == NULL : strstr(line, "\"id\"") != NULL)
            return;
    }
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        die(path);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die(path);
    return fd;
}

static double now_s(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        die("clock_gettime");
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
    struct reader r = {0};
    char *line;
    size_t len;
    long count;
    int qmp;
    double start;

    if (argc != 5 || (strcmp(argv[1], "qmp") != 0 && strcmp(argv[1], "rpc") != 0) ||
        (count = strtol(argv[3], NULL, 10)) <= 0) {
        fprintf(stderr, "usage: bench_rtt qmp|rpc SOCKET COUNT LINE\n");
        return 2;
    }
    qmp = strcmp(argv[1], "qmp") == 0;
    r.fd = connect_unix(argv[2]);
    r.buf = malloc(LINE_MAX_BYTES);
    len = strlen(argv[4]);
    line = malloc(len + 2);
    if (r.buf == NULL || line == NULL)
        die("malloc");
    memcpy(line, argv[4], len);
    line[len++] = '\n';
    if (qmp) {
        read_line(&r);
        write_all(r.fd, caps, sizeof(caps) - 1);
        read_reply(&r, qmp);
    }
    start = now_s();
    for (long i = 0; i < count; i++) {
        write_all(r.fd, line, len);
        read_reply(&r, qmp);
    }
    printf("%.4f\n", (now_s() - start) * 1000 / (double)count);
    free(line);
    free(r.buf);
    if (close(r.fd) < 0)
        die("close");
    return 0;
}
