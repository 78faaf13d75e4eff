/* Round trips on a Unix socket, for make bench: sends one JSON line COUNT
 * times, each after the previous reply, and prints the mean round trip in
 * milliseconds.  In C, so that the client's own cost does not hide a hop's.
 *   bench_rtt qmp|rpc SOCKET COUNT LINE
 * qmp: reads QEMU's greeting and negotiates capabilities first, and skips
 * events; rpc: skips notifications (lines without an "id"). */
#define BENCH_TOOL "bench_rtt"
#include "tests/tools/bench_io.h"

/* Reads lines up to the reply: QMP events and JSON-RPC notifications are
 * skipped. */
static void read_reply(struct bench_reader *r, int qmp)
{
    for (;;) {
        const char *line = bench_read_line(r);

        if (qmp ? strstr(line, "\"event\"") == NULL : strstr(line, "\"id\"") != NULL)
            return;
    }
}

int main(int argc, char **argv)
{
    static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
    struct bench_reader r = {0};
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
    r.fd = bench_connect_unix(argv[2]);
    r.buf = malloc(BENCH_LINE_MAX);
    len = strlen(argv[4]);
    line = malloc(len + 2);
    if (r.buf == NULL || line == NULL)
        bench_die("malloc");
    memcpy(line, argv[4], len);
    line[len++] = '\n';
    if (qmp) {
        bench_read_line(&r);
        bench_write_all(r.fd, caps, sizeof(caps) - 1);
        read_reply(&r, qmp);
    }
    start = bench_now_s();
    for (long i = 0; i < count; i++) {
        bench_write_all(r.fd, line, len);
        read_reply(&r, qmp);
    }
    printf("%.4f\n", (bench_now_s() - start) * 1000 / (double)count);
    free(line);
    free(r.buf);
    if (close(r.fd) < 0)
        bench_die("close");
    return 0;
}
