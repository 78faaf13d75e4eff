/* The QMP transport's command ids against a scripted peer playing QEMU on
 * a real Unix socket: they stay short (QEMU reads a command one byte at a
 * time), and a command that timed out keeps its id until its late reply
 * comes, which then reaches nobody, and never the command sent after. */
#include "supervisor/qmp.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "tests/unit/unit.h"

#define WAIT_MS 10000

static struct event_base *base;
static struct event *tick;
static char dir[] = "/tmp/corral-qmp-XXXXXX";
static char path[128];

struct peer {
    int listen_fd, fd;
    char buf[4096];
    size_t len;
};

struct outcome {
    int calls;
    char text[CERR_MSG_MAX + 64]; /* the reply printed, or the error's message */
    enum corral_err code;
};

static bool ready;

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void loop_once(void)
{
    struct timeval tv = {0, 5000};

    if (evtimer_add(tick, &tv) < 0 || event_base_loop(base, EVLOOP_ONCE) < 0) {
        printf("# the event loop failed\n");
        exit(2);
    }
}

static bool wait_for(const bool *flag)
{
    long long end = now_ms() + WAIT_MS;

    while (!*flag && now_ms() < end)
        loop_once();
    return *flag;
}

static bool wait_calls(const struct outcome *o, int n)
{
    long long end = now_ms() + WAIT_MS;

    while (o->calls < n && now_ms() < end)
        loop_once();
    return o->calls >= n;
}

static void on_event(const char *event, const cJSON *data, void *arg)
{
    (void)event;
    (void)data;
    (void)arg;
}

static void on_ready(void *arg)
{
    (void)arg;
    ready = true;
}

static void on_closed(const char *why, void *arg)
{
    (void)why;
    (void)arg;
}

static void reply_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct outcome *o = arg;
    char *text = reply != NULL ? cJSON_PrintUnformatted(reply) : NULL;

    o->calls++;
    o->code = e != NULL ? e->code : CE_OK;
    snprintf(o->text, sizeof(o->text), "%s", text != NULL ? text : e != NULL ? e->msg : "");
    cJSON_free(text);
}

/* The next command line the supervisor sent, parsed (caller deletes), the
 * loop running meanwhile. */
static cJSON *peer_read(struct peer *p)
{
    long long end = now_ms() + WAIT_MS;

    for (;;) {
        char *nl = memchr(p->buf, '\n', p->len);

        if (nl != NULL) {
            cJSON *j = cJSON_ParseWithLength(p->buf, (size_t)(nl - p->buf));
            size_t used = (size_t)(nl - p->buf) + 1;

            memmove(p->buf, p->buf + used, p->len - used);
            p->len -= used;
            return j;
        }
        if (now_ms() > end || p->len == sizeof(p->buf))
            return NULL;
        loop_once();
        ssize_t n = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);
        if (n > 0)
            p->len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            return NULL;
    }
}

static void peer_send(struct peer *p, const char *line)
{
    size_t len = strlen(line);

    if (write(p->fd, line, len) != (ssize_t)len) {
        printf("# the peer cannot write: %s\n", strerror(errno));
        exit(2);
    }
}

/* The id of the command cmd, printed as QEMU echoes it. */
static void id_text(const cJSON *cmd, char *buf, size_t len)
{
    char *t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(cmd, "id"));

    snprintf(buf, len, "%s", t != NULL ? t : "");
    cJSON_free(t);
}

/* A connected and negotiated transport with its peer. */
static struct qmp *connect_peer(struct peer *p)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct qmp *q = qmp_new(base, on_event, on_ready, on_closed, NULL);
    cJSON *caps;
    char id[32], line[128];

    memset(p, 0, sizeof(*p));
    memcpy(sa.sun_path, path, strlen(path) + 1); /* main made it short enough */
    unlink(path);
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(p->listen_fd, 1) < 0 || qmp_connect(q, path) < 0 ||
        (p->fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
        printf("# cannot set up the peer: %s\n", strerror(errno));
        exit(2);
    }
    ready = false;
    peer_send(p, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n");
    caps = peer_read(p);
    if (caps == NULL) {
        printf("# no qmp_capabilities\n");
        exit(2);
    }
    id_text(caps, id, sizeof(id));
    cJSON_Delete(caps);
    snprintf(line, sizeof(line), "{\"return\": {}, \"id\": %s}\r\n", id);
    peer_send(p, line);
    if (!wait_for(&ready)) {
        printf("# negotiation did not finish\n");
        exit(2);
    }
    return q;
}

static void peer_close(struct peer *p)
{
    close(p->fd);
    close(p->listen_fd);
}

/* The id of the next command the supervisor sent, as QEMU echoes it; false
 * when none came. */
static bool next_id(struct peer *p, char *id, size_t len)
{
    cJSON *cmd = peer_read(p);

    if (cmd == NULL)
        return false;
    id_text(cmd, id, len);
    cJSON_Delete(cmd);
    return true;
}

/* A query-status answered as QEMU would, its id in id; whether its reply
 * reached the caller as a success. */
static bool round_trip(struct qmp *q, struct peer *p, char *id, size_t len)
{
    struct outcome o = {0};
    char line[128];

    qmp_command(q, "query-status", NULL, 0, reply_cb, &o);
    if (!next_id(p, id, len))
        return false;
    snprintf(line, sizeof(line), "{\"return\": {}, \"id\": %s}\r\n", id);
    peer_send(p, line);
    return wait_calls(&o, 1) && o.code == CE_OK;
}

static void test_ids_stay_short(void)
{
    struct peer p;
    struct qmp *q = connect_peer(&p);
    size_t longest = 0;

    for (int i = 0; i < 250; i++) {
        char id[32];

        EXPECT(round_trip(q, &p, id, sizeof(id)));
        if (strlen(id) > longest)
            longest = strlen(id);
    }
    EXPECT(longest <= 2);
    qmp_free(q);
    peer_close(&p);
}

static void test_late_reply_reaches_nobody(void)
{
    struct peer p;
    struct qmp *q = connect_peer(&p);
    struct outcome first = {0}, second = {0};
    char id1[32], id2[32], line[128];

    qmp_command(q, "query-status", NULL, 50, reply_cb, &first);
    EXPECT(next_id(&p, id1, sizeof(id1)));
    EXPECT(wait_calls(&first, 1));
    EXPECT(first.code == CE_TIMEOUT);
    /* A hundred commands later the timed-out one's id is still not taken. */
    for (int i = 0; i < 100; i++) {
        char id[32];

        EXPECT(round_trip(q, &p, id, sizeof(id)));
        EXPECT(strcmp(id, id1) != 0);
    }
    qmp_command(q, "query-name", NULL, 0, reply_cb, &second);
    EXPECT(next_id(&p, id2, sizeof(id2)));
    /* QEMU answers in order: the late reply first, then the new one's. */
    snprintf(line, sizeof(line), "{\"return\": {\"late\": true}, \"id\": %s}\r\n", id1);
    peer_send(&p, line);
    snprintf(line, sizeof(line), "{\"return\": {\"name\": \"vm\"}, \"id\": %s}\r\n", id2);
    peer_send(&p, line);
    EXPECT(wait_calls(&second, 1));
    EXPECT(first.calls == 1);
    EXPECT_CONTAINS(second.text, "\"name\":\"vm\"");
    EXPECT(strstr(second.text, "late") == NULL);
    qmp_free(q);
    peer_close(&p);
}

/* Each command keeps its own deadline: a short one times out while a long
 * one waits on, and an answered one leaves the next one's in force. */
static void test_deadlines_kept_apart(void)
{
    struct peer p;
    struct qmp *q = connect_peer(&p);
    struct outcome slow = {0}, fast = {0}, answered = {0}, late = {0};
    char id[32], line[128];

    qmp_command(q, "query-status", NULL, 600000, reply_cb, &slow);
    EXPECT(next_id(&p, id, sizeof(id)));
    qmp_command(q, "query-name", NULL, 50, reply_cb, &fast);
    EXPECT(next_id(&p, id, sizeof(id)));
    EXPECT(wait_calls(&fast, 1));
    EXPECT(fast.code == CE_TIMEOUT);
    EXPECT(slow.calls == 0);
    qmp_command(q, "query-kvm", NULL, 50, reply_cb, &answered);
    EXPECT(next_id(&p, id, sizeof(id)));
    snprintf(line, sizeof(line), "{\"return\": {}, \"id\": %s}\r\n", id);
    peer_send(&p, line);
    EXPECT(wait_calls(&answered, 1));
    EXPECT(answered.code == CE_OK);
    qmp_command(q, "query-uuid", NULL, 200, reply_cb, &late);
    EXPECT(next_id(&p, id, sizeof(id)));
    EXPECT(wait_calls(&late, 1));
    EXPECT(late.code == CE_TIMEOUT);
    EXPECT(slow.calls == 0);
    qmp_free(q);
    EXPECT(slow.calls == 1);
    peer_close(&p);
}

int main(void)
{
    base = event_base_new();
    tick = base != NULL ? evtimer_new(base, tick_cb, NULL) : NULL;
    if (tick == NULL || mkdtemp(dir) == NULL) {
        printf("# cannot set up: %s\n", strerror(errno));
        return 2;
    }
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    unit_run("ids_stay_short", test_ids_stay_short);
    unit_run("late_reply_reaches_nobody", test_late_reply_reaches_nobody);
    unit_run("deadlines_kept_apart", test_deadlines_kept_apart);
    unlink(path);
    rmdir(dir);
    event_free(tick);
    event_base_free(base);
    return unit_done();
}
