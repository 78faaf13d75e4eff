/* The transport as a peer sees it: line framing and error replies of
 * proto/conn.c over a socketpair, call/response matching, timeouts and
 * closing; proto/server.c over a real listening Unix socket; and the
 * blocking client of proto/client.c against a server in a thread. */
#include "proto/conn.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "proto/client.h"
#include "proto/listen.h"
#include "proto/rpc.h"
#include "proto/server.h"
#include "tests/unit/unit.h"

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop for about ms milliseconds (blocking in the backend, not
 * spinning). */
static void pump(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_loop(base, 0);
}

/* Runs the loop until *flag reaches want or ms pass. */
static void pump_until(struct event_base *base, const int *flag, int want, int ms)
{
    long long end = now_ms() + ms;

    while (*flag < want && now_ms() < end) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (*flag < want)
            pump(base, 1);
    }
}

/* The far end of a connection, driven by the test: raw bytes out, parsed
 * lines in. */
struct peer {
    int fd;
    struct event_base *base; /* pumped while waiting */
    char *buf;
    size_t len, cap;
    bool eof;
};

static void peer_init(struct peer *p, int fd, struct event_base *base)
{
    memset(p, 0, sizeof(*p));
    p->fd = fd;
    p->base = base;
    p->cap = 65536;
    p->buf = xcalloc(1, p->cap);
}

static void peer_close(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static void peer_free(struct peer *p)
{
    peer_close(p);
    free(p->buf);
    p->buf = NULL;
}

/* Writes everything, running the loop whenever the socket is full. */
static void peer_write(struct peer *p, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(p->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                printf("# peer write failed: %s\n", strerror(errno));
                return;
            }
            if (p->base != NULL)
                event_base_loop(p->base, EVLOOP_NONBLOCK);
            else {
                struct pollfd pfd = {.fd = p->fd, .events = POLLOUT};
                poll(&pfd, 1, 10);
            }
            continue;
        }
        data += n;
        len -= (size_t)n;
    }
}

static void peer_write_str(struct peer *p, const char *s)
{
    peer_write(p, s, strlen(s));
}

/* The next line the conn under test sent, parsed; NULL after ms or on EOF. */
static cJSON *peer_read(struct peer *p, int ms)
{
    long long end = now_ms() + ms;

    for (;;) {
        char *nl = memchr(p->buf, '\n', p->len);
        if (nl != NULL) {
            size_t linelen = (size_t)(nl - p->buf);
            struct cerr e = {0};
            cJSON *msg = json_parse(p->buf, linelen, &e);
            if (msg == NULL)
                printf("# the conn sent invalid JSON: %s\n", e.msg);
            memmove(p->buf, nl + 1, p->len - linelen - 1);
            p->len -= linelen + 1;
            return msg;
        }
        if (p->len == p->cap) {
            p->cap *= 2;
            p->buf = xreallocarray(p->buf, p->cap, 1);
        }
        ssize_t n = recv(p->fd, p->buf + p->len, p->cap - p->len, MSG_DONTWAIT);
        if (n > 0) {
            p->len += (size_t)n;
            continue;
        }
        if (n == 0) {
            p->eof = true;
            return NULL;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return NULL;
        if (now_ms() >= end)
            return NULL;
        if (p->base != NULL)
            pump(p->base, 1);
        else {
            struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
            poll(&pfd, 1, 1);
        }
    }
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* An error reply with this code, id (number; -1 for null) and data.name. */
static int is_error(const cJSON *m, int code, double id)
{
    const cJSON *err = get(m, "error"), *mid = get(m, "id");
    const cJSON *name = get(get(err, "data"), "name");

    if (m == NULL) {
        printf("# no message, want error %d\n", code);
        return 0;
    }
    if (!cJSON_IsObject(err) || !cJSON_IsNumber(get(err, "code")) ||
        get(err, "code")->valueint != code || !cJSON_IsString(get(err, "message")) ||
        !cJSON_IsString(name) || strcmp(name->valuestring, cerr_name((enum corral_err)code)) != 0 ||
        (id < 0 ? !cJSON_IsNull(mid) : !(cJSON_IsNumber(mid) && mid->valuedouble == id))) {
        char *s = cJSON_PrintUnformatted(m);
        printf("# got %s, want error %d with id %g\n", s, code, id);
        cJSON_free(s);
        return 0;
    }
    return 1;
}

static int is_result(const cJSON *m, double id)
{
    const cJSON *mid = get(m, "id");

    if (m == NULL || get(m, "result") == NULL || get(m, "error") != NULL || !cJSON_IsNumber(mid) ||
        mid->valuedouble != id) {
        char *s = m ? cJSON_PrintUnformatted(m) : NULL;
        printf("# got %s, want a result with id %g\n", s ? s : "nothing", id);
        cJSON_free(s);
        return 0;
    }
    return 1;
}

/* ---- rpc_conn over a socketpair ---- */

#define MAX_SEEN 16

struct fx {
    struct event_base *base;
    struct rpc_conn *conn;
    struct peer peer;
    cJSON *seen[MAX_SEEN]; /* requests and notifications, in order */
    int nseen;
    int closed;
    int closed_in_handler; /* on_close ran while a message handler was active */
    int in_handler;
    char why[128];
};

/* Records each message; answers requests with {"method": M}, and "bye"
 * with a reply followed by close-after-flush. */
static void fx_on_msg(struct rpc_conn *c, const cJSON *msg, void *arg)
{
    struct fx *f = arg;
    const cJSON *id = get(msg, "id");
    const char *method = get(msg, "method")->valuestring;

    f->in_handler = 1;
    if (f->nseen < MAX_SEEN)
        f->seen[f->nseen] = json_dup(msg);
    f->nseen++;
    if (id == NULL && strcmp(method, "quit") == 0) {
        /* Nothing queued: the close is due at once, but must wait for the
         * loop. */
        rpc_conn_close_after_flush(c);
        if (f->closed)
            f->closed_in_handler = 1;
    } else if (id != NULL) {
        cJSON *r = json_obj();
        json_add_str(r, "method", method);
        rpc_conn_reply(c, id, r);
        if (strcmp(method, "bye") == 0) {
            rpc_conn_close_after_flush(c);
            /* The connection must still be valid here. */
            if (f->closed)
                f->closed_in_handler = 1;
        }
    }
    f->in_handler = 0;
}

static void fx_on_close(struct rpc_conn *c, const char *why, void *arg)
{
    struct fx *f = arg;

    if (f->in_handler)
        f->closed_in_handler = 1;
    f->closed++;
    snprintf(f->why, sizeof(f->why), "%s", why);
    rpc_conn_free(c);
    f->conn = NULL;
}

static void fx_setup(struct fx *f)
{
    int sv[2];

    memset(f, 0, sizeof(*f));
    f->base = event_base_new();
    if (f->base == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    f->conn = rpc_conn_new(f->base, sv[0], fx_on_msg, fx_on_close, f);
    if (f->conn == NULL)
        abort();
    peer_init(&f->peer, sv[1], f->base);
}

static void fx_teardown(struct fx *f)
{
    rpc_conn_free(f->conn);
    peer_free(&f->peer);
    for (int i = 0; i < f->nseen && i < MAX_SEEN; i++)
        cJSON_Delete(f->seen[i]);
    event_base_free(f->base);
}

/* A test body gets a fresh connection and its peer; teardown runs even
 * when an EXPECT returns early. */
#define CONN_TEST(name)                                                                            \
    static void name##_body(struct fx *f);                                                         \
    static void name(void)                                                                         \
    {                                                                                              \
        struct fx f;                                                                               \
        fx_setup(&f);                                                                              \
        name##_body(&f);                                                                           \
        fx_teardown(&f);                                                                           \
    }                                                                                              \
    static void name##_body(struct fx *f)

static const char *seen_method(const struct fx *f, int i)
{
    if (i >= f->nseen || i >= MAX_SEEN)
        return NULL;
    return get(f->seen[i], "method")->valuestring;
}

/* Nothing else was answered or delivered: a request sent now is the next
 * thing answered, and the only new one delivered (an ordering, not a quiet
 * spell that a slow machine could outlast). */
static int next_is_sentinel(struct fx *f, int id)
{
    char line[96];
    int before = f->nseen, ok;
    cJSON *reply;

    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":\"sentinel\",\"id\":%d}\n", id);
    peer_write_str(&f->peer, line);
    reply = peer_read(&f->peer, 5000);
    ok = is_result(reply, id) && f->nseen == before + 1 &&
         strcmp(seen_method(f, before), "sentinel") == 0;
    cJSON_Delete(reply);
    return ok;
}

CONN_TEST(split_line_delivered_once)
{
    const char *parts[] = {"{\"jsonrpc\":\"2.0\",\"meth", "od\":\"vm.list\",\"params\":{\"a\"",
                           ":[1,2]},\"id\":5}", "\n"};
    cJSON *reply;
    int ok;

    for (size_t i = 0; i < 4; i++) {
        EXPECT(f->nseen == 0);
        peer_write_str(&f->peer, parts[i]);
        pump(f->base, 2);
    }
    pump_until(f->base, &f->nseen, 1, 1000);
    EXPECT(f->nseen == 1);
    EXPECT_STR(seen_method(f, 0), "vm.list");
    EXPECT(cJSON_GetArraySize(get(get(f->seen[0], "params"), "a")) == 2);
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 5);
    cJSON_Delete(reply);
    EXPECT(ok);
    /* Nothing more: the line was delivered once. */
    EXPECT(next_is_sentinel(f, 90));
    EXPECT(f->nseen == 2);
}

CONN_TEST(crlf_accepted)
{
    cJSON *reply;
    int ok;

    /* Blank lines (bare CRLF) are ignored, not answered. */
    peer_write_str(&f->peer, "\r\n{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1}\r\n\r\n"
                             "{\"jsonrpc\":\"2.0\",\"method\":\"b\",\"id\":2}\r\n");
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 1);
    cJSON_Delete(reply);
    EXPECT(ok);
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 2);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(f->nseen == 2);
    EXPECT_STR(seen_method(f, 0), "a");
    EXPECT_STR(seen_method(f, 1), "b");
}

CONN_TEST(two_messages_one_write)
{
    cJSON *reply;
    int ok;

    peer_write_str(&f->peer, "{\"jsonrpc\":\"2.0\",\"method\":\"first\",\"id\":1}\n"
                             "{\"jsonrpc\":\"2.0\",\"method\":\"note\"}\n"
                             "{\"jsonrpc\":\"2.0\",\"method\":\"second\",\"id\":2}\n");
    pump_until(f->base, &f->nseen, 3, 1000);
    EXPECT(f->nseen == 3);
    EXPECT_STR(seen_method(f, 0), "first");
    EXPECT_STR(seen_method(f, 1), "note");
    EXPECT_STR(seen_method(f, 2), "second");
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 1);
    cJSON_Delete(reply);
    EXPECT(ok);
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 2);
    cJSON_Delete(reply);
    EXPECT(ok);
}

CONN_TEST(invalid_json_answered)
{
    cJSON *reply;
    int ok;

    peer_write_str(&f->peer, "{\"jsonrpc\":\"2.0\",\"method\":\n");
    reply = peer_read(&f->peer, 1000);
    ok = is_error(reply, CE_PARSE, -1);
    cJSON_Delete(reply);
    EXPECT(ok);
    /* Two values on one line are not one message. */
    peer_write_str(&f->peer, "{}{}\n");
    reply = peer_read(&f->peer, 1000);
    ok = is_error(reply, CE_PARSE, -1);
    cJSON_Delete(reply);
    EXPECT(ok);
    /* Valid JSON that is not JSON-RPC: -32600, with the id when it has a
     * usable one. */
    peer_write_str(&f->peer, "[1,2]\n{\"jsonrpc\":\"1.0\",\"method\":\"m\",\"id\":7}\n");
    reply = peer_read(&f->peer, 1000);
    ok = is_error(reply, CE_INVALID_REQUEST, -1);
    cJSON_Delete(reply);
    EXPECT(ok);
    reply = peer_read(&f->peer, 1000);
    ok = is_error(reply, CE_INVALID_REQUEST, 7);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(f->nseen == 0);
    /* The connection still works. */
    peer_write_str(&f->peer, "{\"jsonrpc\":\"2.0\",\"method\":\"ok\",\"id\":8}\n");
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 8);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(f->nseen == 1);
    EXPECT(f->closed == 0);
}

/* Sends a request line of exactly total bytes, newline included. */
static void send_padded(struct peer *p, size_t total, int id, bool newline)
{
    char head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"params\":{\"pad\":\"";
    char tail[64];
    size_t hl = strlen(head), tl, pad;
    char *line;

    snprintf(tail, sizeof(tail), "\"},\"id\":%d}\n", id);
    tl = strlen(tail);
    pad = total - hl - tl;
    line = malloc(total);
    if (line == NULL)
        abort();
    memcpy(line, head, hl);
    memset(line + hl, 'x', pad);
    memcpy(line + hl + pad, tail, tl);
    /* In chunks, letting the loop read between them. */
    for (size_t off = 0; off < total - (newline ? 0 : 1); off += 65536) {
        size_t n = total - (newline ? 0 : 1) - off;
        peer_write(p, line + off, n < 65536 ? n : 65536);
        if (p->base != NULL)
            event_base_loop(p->base, EVLOOP_NONBLOCK);
    }
    free(line);
}

CONN_TEST(line_at_limit_accepted)
{
    cJSON *reply;
    int ok;

    send_padded(&f->peer, RPC_MAX_MESSAGE, 3, true);
    reply = peer_read(&f->peer, 2000);
    ok = is_result(reply, 3);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(f->nseen == 1);
}

CONN_TEST(oversized_line_refused_once)
{
    cJSON *reply;
    int ok;

    /* 2.5 MiB without a newline (the conn must drop what it buffered more
     * than once), then the newline, then a valid request in the same
     * write. */
    send_padded(&f->peer, RPC_MAX_MESSAGE * 5 / 2, 4, false);
    EXPECT(f->nseen == 0);
    peer_write_str(&f->peer, "\n{\"jsonrpc\":\"2.0\",\"method\":\"after\",\"id\":5}\n");
    reply = peer_read(&f->peer, 2000);
    ok = is_error(reply, CE_TOO_LARGE, -1);
    cJSON_Delete(reply);
    EXPECT(ok);
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 5);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(next_is_sentinel(f, 91));
    EXPECT(f->nseen == 2);
    EXPECT_STR(seen_method(f, 0), "after");
    /* One byte over the limit, newline included, sent whole. */
    send_padded(&f->peer, RPC_MAX_MESSAGE + 1, 6, true);
    peer_write_str(&f->peer, "{\"jsonrpc\":\"2.0\",\"method\":\"again\",\"id\":7}\n");
    reply = peer_read(&f->peer, 2000);
    ok = is_error(reply, CE_TOO_LARGE, -1);
    cJSON_Delete(reply);
    EXPECT(ok);
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 7);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(next_is_sentinel(f, 92));
    EXPECT(f->closed == 0);
}

struct call_slot {
    int calls;
    cJSON *result;
    struct cerr e;
    long long at;
    struct rpc_conn *conn; /* when set: whether it was dead at the callback */
    bool conn_dead;
};

static void slot_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct call_slot *s = arg;

    s->calls++;
    s->at = now_ms();
    if (s->conn != NULL)
        s->conn_dead = rpc_conn_dead(s->conn);
    cJSON_Delete(s->result);
    s->result = result ? json_dup(result) : NULL;
    if (e != NULL)
        s->e = *e;
    else
        cerr_clear(&s->e);
}

static void slot_free(struct call_slot *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(s[i].result);
}

static int slot_got(const struct call_slot *s, const char *want)
{
    const cJSON *m = get(s->result, "m");

    if (s->calls != 1 || !cJSON_IsString(m) || strcmp(m->valuestring, want) != 0) {
        char *txt = s->result ? cJSON_PrintUnformatted(s->result) : NULL;
        printf("# %d calls, result %s (%s), want m=%s\n", s->calls, txt ? txt : "none", s->e.msg,
               want);
        cJSON_free(txt);
        return 0;
    }
    return 1;
}

/* Reads n requests the conn sent; stores their ids and methods. */
static int read_requests(struct peer *p, int n, long long *ids, char methods[][16])
{
    for (int i = 0; i < n; i++) {
        cJSON *m = peer_read(p, 1000);
        const cJSON *id = get(m, "id"), *method = get(m, "method");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(method)) {
            cJSON_Delete(m);
            printf("# request %d missing\n", i);
            return 0;
        }
        ids[i] = (long long)id->valuedouble;
        snprintf(methods[i], 16, "%s", method->valuestring);
        cJSON_Delete(m);
    }
    return 1;
}

static void respond(struct peer *p, long long id, const char *m)
{
    char line[160];

    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"result\":{\"m\":\"%s\"},\"id\":%lld}\n", m,
             id);
    peer_write_str(p, line);
}

static void calls_matched(struct fx *f, struct call_slot *s)
{
    long long ids[3];
    char methods[3][16];
    char line[256];

    rpc_conn_call(f->conn, "alpha", NULL, 0, slot_cb, &s[0]);
    rpc_conn_call(f->conn, "beta", NULL, 5000, slot_cb, &s[1]);
    rpc_conn_call(f->conn, "gamma", json_obj(), 0, slot_cb, &s[2]);
    EXPECT(s[0].calls + s[1].calls + s[2].calls == 0);
    EXPECT(read_requests(&f->peer, 3, ids, methods));
    EXPECT_STR(methods[0], "alpha");
    EXPECT_STR(methods[1], "beta");
    EXPECT_STR(methods[2], "gamma");
    EXPECT(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    /* Last first, with notifications and a response nobody asked for in
     * between; alpha's answer split over two writes. */
    respond(&f->peer, ids[2], "gamma");
    peer_write_str(&f->peer, "{\"jsonrpc\":\"2.0\",\"method\":\"event.one\",\"params\":{}}\n");
    respond(&f->peer, 999999, "nobody");
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1001,\"message\":\"no VM named 'b'\"},"
             "\"id\":%lld}\n{\"jsonrpc\":\"2.0\",\"method\":\"event.two\"}\n{\"jsonrpc\":\"2.0\","
             "\"result\":{\"m\":\"al",
             ids[1]);
    peer_write_str(&f->peer, line);
    pump(f->base, 2);
    EXPECT(s[0].calls == 0);
    snprintf(line, sizeof(line), "pha\"},\"id\":%lld}\n", ids[0]);
    peer_write_str(&f->peer, line);
    pump_until(f->base, &s[0].calls, 1, 1000);
    pump(f->base, 5);
    EXPECT(slot_got(&s[0], "alpha"));
    EXPECT(slot_got(&s[2], "gamma"));
    EXPECT(s[1].calls == 1);
    EXPECT(s[1].result == NULL);
    EXPECT(s[1].e.code == CE_NO_DOMAIN);
    EXPECT_STR(s[1].e.msg, "no VM named 'b'");
    EXPECT(s[2].at <= s[1].at && s[1].at <= s[0].at);
    /* Notifications reach on_msg, in order; responses do not. */
    EXPECT(f->nseen == 2);
    EXPECT_STR(seen_method(f, 0), "event.one");
    EXPECT_STR(seen_method(f, 1), "event.two");
    /* No error went back for the stray response. */
    EXPECT(peer_read(&f->peer, 10) == NULL);
}

CONN_TEST(calls_matched_by_id)
{
    struct call_slot s[3] = {0};

    calls_matched(f, s);
    /* Pending calls end here, while s still exists. */
    rpc_conn_free(f->conn);
    f->conn = NULL;
    slot_free(s, 3);
}

struct raw_slot {
    int calls;
    char text[256];
    struct cerr e;
};

static void raw_slot_cb(const char *result, size_t len, const struct cerr *e, void *arg)
{
    struct raw_slot *s = arg;

    s->calls++;
    snprintf(s->text, sizeof(s->text), "%.*s", result != NULL ? (int)len : 0,
             result != NULL ? result : "");
    if (e != NULL)
        s->e = *e;
    else
        cerr_clear(&s->e);
}

/* A relayed result is the peer's bytes only when the line is exactly a
 * well-formed reply to that call; anything else is parsed (and printed
 * again) or refused as before, and never answers another call. */
static void raw_calls_run(struct fx *f, struct raw_slot *s)
{
    long long ids[5];
    char methods[5][16];
    char line[512];
    cJSON *reply;
    int ok;

    for (int i = 0; i < 5; i++)
        rpc_conn_call_raw(f->conn, "vm.qmp", NULL, 0, raw_slot_cb, &s[i]);
    EXPECT(read_requests(&f->peer, 5, ids, methods));
    /* Relayed as written, spaces and all. */
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"result\": {\"reply\" : [1, 2.50]} ,\"id\":%lld}\n", ids[0]);
    peer_write_str(&f->peer, line);
    /* A member more: parsed, printed again. */
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"result\": {\"reply\" : [1, 2.50]},\"x\":1,\"id\":%lld}\n",
             ids[1]);
    peer_write_str(&f->peer, line);
    /* Malformed, claiming call 2's id: refused, call 2 still waits. */
    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"result\":{\"a\":},\"id\":%lld}\n", ids[2]);
    peer_write_str(&f->peer, line);
    /* An id of no call, then the 1.0 version: neither answers anything. */
    peer_write_str(&f->peer, "{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":99999}\n");
    snprintf(line, sizeof(line), "{\"jsonrpc\":\"1.0\",\"result\":1,\"id\":%lld}\n", ids[2]);
    peer_write_str(&f->peer, line);
    /* An error reply. */
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1001,\"message\":\"no VM\"},\"id\":%lld}\n",
             ids[3]);
    peer_write_str(&f->peer, line);
    pump_until(f->base, &s[3].calls, 1, 1000);
    pump(f->base, 5);
    EXPECT(s[0].calls == 1);
    EXPECT_STR(s[0].text, "{\"reply\" : [1, 2.50]}");
    EXPECT(s[1].calls == 1);
    EXPECT_STR(s[1].text, "{\"reply\":[1,2.5]}");
    EXPECT(s[2].calls == 0);
    EXPECT(s[3].calls == 1 && s[3].e.code == CE_NO_DOMAIN);
    EXPECT_STR(s[3].e.msg, "no VM");
    EXPECT(s[4].calls == 0);
    /* The malformed line got its error back. */
    reply = peer_read(&f->peer, 1000);
    ok = is_error(reply, CE_PARSE, -1);
    cJSON_Delete(reply);
    EXPECT(ok);
    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"result\":\"late\",\"id\":%lld}\n", ids[2]);
    peer_write_str(&f->peer, line);
    pump_until(f->base, &s[2].calls, 1, 1000);
    EXPECT_STR(s[2].text, "\"late\"");
}

CONN_TEST(raw_calls_relayed_only_when_well_formed)
{
    struct raw_slot s[5] = {0};

    raw_calls_run(f, s);
    /* The one left unanswered fails here, while s still exists. */
    rpc_conn_free(f->conn);
    f->conn = NULL;
    EXPECT(s[4].calls == 1 && s[4].e.code == CE_SUPERVISOR);
}

static void call_timeout_run(struct fx *f, struct call_slot *s)
{
    long long ids[2], start = now_ms();
    char methods[2][16];

    rpc_conn_call(f->conn, "slow", NULL, 60, slot_cb, &s[0]);
    rpc_conn_call(f->conn, "quick", NULL, 60, slot_cb, &s[1]);
    EXPECT(read_requests(&f->peer, 2, ids, methods));
    /* quick is answered in time: its timer must not fire later. */
    respond(&f->peer, ids[1], "quick");
    pump_until(f->base, &s[0].calls, 1, 2000);
    EXPECT(s[0].calls == 1);
    EXPECT(s[0].result == NULL);
    EXPECT(s[0].e.code == CE_TIMEOUT);
    EXPECT(s[0].at - start >= 50);
    EXPECT(slot_got(&s[1], "quick"));
    /* A late answer is dropped: the callback ran exactly once. */
    respond(&f->peer, ids[0], "slow");
    pump(f->base, 80);
    EXPECT(s[0].calls == 1);
    EXPECT(s[1].calls == 1);
    EXPECT(f->closed == 0);
}

CONN_TEST(call_timeout)
{
    struct call_slot s[2] = {0};

    call_timeout_run(f, s);
    /* Pending calls end here, while s still exists. */
    rpc_conn_free(f->conn);
    f->conn = NULL;
    slot_free(s, 2);
}

static void peer_close_run(struct fx *f, struct call_slot *s)
{
    long long ids[3];
    char methods[3][16];
    char line[192];

    s[0].conn = s[1].conn = s[2].conn = f->conn;
    rpc_conn_call(f->conn, "pending", NULL, 0, slot_cb, &s[0]);
    rpc_conn_call(f->conn, "pending2", NULL, 10000, slot_cb, &s[1]);
    rpc_conn_call(f->conn, "refused", NULL, 0, slot_cb, &s[2]);
    EXPECT(read_requests(&f->peer, 3, ids, methods));
    /* The peer's own 1011 is its answer, on a connection that lives on. */
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1011,\"message\":\"exiting\"},"
             "\"id\":%lld}\n",
             ids[2]);
    peer_write_str(&f->peer, line);
    pump_until(f->base, &s[2].calls, 1, 1000);
    EXPECT(s[2].calls == 1 && s[2].e.code == CE_SUPERVISOR && !s[2].conn_dead);
    EXPECT_STR(s[2].e.msg, "exiting");
    peer_close(&f->peer);
    EXPECT(f->closed == 0);
    pump_until(f->base, &f->closed, 1, 1000);
    EXPECT(f->closed == 1);
    EXPECT(f->closed_in_handler == 0);
    EXPECT(f->conn == NULL);
    EXPECT(s[0].calls == 1 && s[0].result == NULL && s[0].e.code == CE_SUPERVISOR);
    EXPECT(s[1].calls == 1 && s[1].result == NULL && s[1].e.code == CE_SUPERVISOR);
    /* The connection's own failure: dead while the callbacks run. */
    EXPECT(s[0].conn_dead && s[1].conn_dead);
    pump(f->base, 5);
    EXPECT(f->closed == 1);
}

CONN_TEST(peer_close_fails_pending_calls)
{
    struct call_slot s[3] = {0};

    peer_close_run(f, s);
    /* Pending calls end here, while s still exists. */
    rpc_conn_free(f->conn);
    f->conn = NULL;
    slot_free(s, 3);
}

/* close-after-flush inside a handler: the reply still goes out, and
 * on_close (which frees the conn) runs later from the loop. */
CONN_TEST(close_after_flush_deferred)
{
    cJSON *reply;
    int ok;

    peer_write_str(&f->peer, "{\"jsonrpc\":\"2.0\",\"method\":\"bye\",\"id\":1}\n"
                             "{\"jsonrpc\":\"2.0\",\"method\":\"ignored\",\"id\":2}\n");
    reply = peer_read(&f->peer, 1000);
    ok = is_result(reply, 1);
    cJSON_Delete(reply);
    EXPECT(ok);
    pump_until(f->base, &f->closed, 1, 1000);
    EXPECT(f->closed == 1);
    EXPECT(f->closed_in_handler == 0);
    EXPECT(f->nseen == 1);
    reply = peer_read(&f->peer, 1000);
    EXPECT(reply == NULL);
    EXPECT(f->peer.eof);
}

CONN_TEST(close_with_nothing_queued_deferred)
{
    cJSON *reply;

    peer_write_str(&f->peer, "{\"jsonrpc\":\"2.0\",\"method\":\"quit\"}\n"
                             "{\"jsonrpc\":\"2.0\",\"method\":\"ignored\",\"id\":2}\n");
    pump_until(f->base, &f->closed, 1, 1000);
    EXPECT(f->closed == 1);
    EXPECT(f->closed_in_handler == 0);
    EXPECT(f->nseen == 1);
    reply = peer_read(&f->peer, 1000);
    EXPECT(reply == NULL);
    EXPECT(f->peer.eof);
}

/* ---- rpc_server over a listening Unix socket ---- */

struct srv_fx {
    char dir[64];
    char path[128];
    struct event_base *base;
    struct rpc_server *srv;
    struct rpc_req *held;
    int nheld;
    struct rpc_req *piled[RPC_MAX_INFLIGHT + 8];
    int npiled;
    int echo_calls, admin_calls, authorize_calls;
    uid_t auth_uid;
    int drained;
};

static void m_echo(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct srv_fx *s = arg;

    s->echo_calls++;
    rpc_req_done(req, params ? json_dup(params) : NULL, NULL);
}

static void m_admin(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct srv_fx *s = arg;

    s->admin_calls++;
    rpc_req_done(req, NULL, NULL);
}

static void m_hold(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct srv_fx *s = arg;

    s->held = req;
    s->nheld++;
}

static void m_pile(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct srv_fx *s = arg;

    if (s->npiled < (int)(sizeof(s->piled) / sizeof(s->piled[0])))
        s->piled[s->npiled++] = req;
    else
        rpc_req_done(req, NULL, NULL);
}

static int srv_authorize(uid_t uid, const struct rpc_method *m, const cJSON *params, struct cerr *e,
                         void *arg)
{
    struct srv_fx *s = arg;

    s->authorize_calls++;
    s->auth_uid = uid;
    if (m->perm != 0) {
        cerr_set(e, CE_PERMISSION, "%s needs the admin permission", m->name);
        return -1;
    }
    return 0;
}

static const struct rpc_method srv_methods[] = {
    {"test.echo", m_echo, 0},
    {"test.admin", m_admin, 1},
    {"test.hold", m_hold, 0},
    {"test.pile", m_pile, 0},
};

static const struct rpc_server_ops srv_ops = {.authorize = srv_authorize};

static void srv_setup(struct srv_fx *s, const struct rpc_method *methods, size_t nmethods)
{
    struct cerr e = {0};
    int fd;

    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/corral-test-conn.XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        abort();
    snprintf(s->path, sizeof(s->path), "%s/test.sock", s->dir);
    s->base = event_base_new();
    fd = unix_listen(s->path, 0600, &e);
    if (s->base == NULL || fd < 0) {
        printf("# cannot listen on %s: %s\n", s->path, e.msg);
        abort();
    }
    s->srv = rpc_server_new(s->base, fd, methods, nmethods, &srv_ops, s, &e);
    if (s->srv == NULL)
        abort();
}

static void srv_teardown(struct srv_fx *s)
{
    struct cerr e = {0};

    rpc_server_free(s->srv);
    if (s->held != NULL)
        rpc_req_done(s->held, NULL, NULL);
    for (int i = 0; i < s->npiled; i++)
        rpc_req_done(s->piled[i], NULL, NULL);
    event_base_free(s->base);
    unlink(s->path);
    if (rm_rf(s->dir, &e) < 0)
        printf("# cannot remove %s: %s\n", s->dir, e.msg);
}

static int srv_connect(struct srv_fx *s, struct peer *p)
{
    struct cerr e = {0};
    int fd = unix_connect(s->path, &e);

    if (fd < 0) {
        printf("# cannot connect: %s\n", e.msg);
        return 0;
    }
    peer_init(p, fd, s->base);
    return 1;
}

#define SRV_TEST(name)                                                                             \
    static void name##_body(struct srv_fx *s, struct peer *p);                                     \
    static void name(void)                                                                         \
    {                                                                                              \
        struct srv_fx s;                                                                           \
        struct peer p = {.fd = -1};                                                                \
        srv_setup(&s, srv_methods, sizeof(srv_methods) / sizeof(srv_methods[0]));                  \
        if (srv_connect(&s, &p))                                                                   \
            name##_body(&s, &p);                                                                   \
        else                                                                                       \
            unit_fail(__FILE__, __LINE__, "connect");                                              \
        peer_free(&p);                                                                             \
        srv_teardown(&s);                                                                          \
    }                                                                                              \
    static void name##_body(struct srv_fx *s, struct peer *p)

SRV_TEST(server_dispatches_methods)
{
    cJSON *reply;
    const cJSON *r;
    int ok;

    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":{\"x\":41},"
                      "\"id\":1}\n");
    reply = peer_read(p, 1000);
    r = get(reply, "result");
    ok = is_result(reply, 1) && cJSON_IsNumber(get(r, "x")) && get(r, "x")->valueint == 41;
    cJSON_Delete(reply);
    EXPECT(ok);
    /* A string id comes back as it was sent. */
    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"id\":\"req-a\"}\n");
    reply = peer_read(p, 1000);
    ok = cJSON_IsString(get(reply, "id")) && strcmp(get(reply, "id")->valuestring, "req-a") == 0 &&
         cJSON_IsObject(get(reply, "result"));
    cJSON_Delete(reply);
    EXPECT(ok);
    /* A notification from a client runs nothing and gets no answer. */
    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":{}}\n");
    /* The next answer is the next request's (ordering, not a quiet spell). */
    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"id\":93}\n");
    reply = peer_read(p, 5000);
    ok = is_result(reply, 93);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(s->echo_calls == 3);
    EXPECT(s->auth_uid == getuid());
}

SRV_TEST(server_unknown_method)
{
    cJSON *reply;
    int ok;

    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.nope\",\"id\":9}\n");
    reply = peer_read(p, 1000);
    ok = is_error(reply, CE_NO_METHOD, 9);
    if (ok && strstr(get(get(reply, "error"), "message")->valuestring, "test.nope") == NULL) {
        printf("# the message does not name the method\n");
        ok = 0;
    }
    cJSON_Delete(reply);
    EXPECT(ok);
    /* A method name is matched whole. */
    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.echoo\",\"id\":10}\n"
                      "{\"jsonrpc\":\"2.0\",\"method\":\"test\",\"id\":11}\n");
    reply = peer_read(p, 1000);
    ok = is_error(reply, CE_NO_METHOD, 10);
    cJSON_Delete(reply);
    EXPECT(ok);
    reply = peer_read(p, 1000);
    ok = is_error(reply, CE_NO_METHOD, 11);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(s->echo_calls == 0);
}

SRV_TEST(server_authorize_refuses)
{
    cJSON *reply;
    int ok;

    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.admin\",\"id\":3}\n");
    reply = peer_read(p, 1000);
    ok = is_error(reply, CE_PERMISSION, 3);
    if (ok && strstr(get(get(reply, "error"), "message")->valuestring, "admin permission") == NULL)
        ok = 0;
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(s->admin_calls == 0);
    EXPECT(s->authorize_calls == 1);
    /* Allowed methods still run on the same connection. */
    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"id\":4}\n");
    reply = peer_read(p, 1000);
    ok = is_result(reply, 4);
    cJSON_Delete(reply);
    EXPECT(ok);
    EXPECT(s->echo_calls == 1);
    EXPECT(s->authorize_calls == 2);
}

static void drained(void *arg)
{
    struct srv_fx *s = arg;

    s->drained++;
}

/* A method that completes later (a VM operation) may finish after its
 * client left: the reply goes nowhere, and nothing touches freed memory
 * (ASan). */
SRV_TEST(server_request_outlives_client)
{
    struct rpc_req *req;

    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.hold\",\"params\":{\"n\":1},"
                      "\"id\":2}\n");
    pump_until(s->base, &s->nheld, 1, 1000);
    EXPECT(s->held != NULL);
    EXPECT_STR(rpc_req_method(s->held), "test.hold");
    EXPECT(rpc_req_uid(s->held) == getuid());
    peer_close(p);
    /* A turn of the loop for the server to see the hang-up itself (the
     * path under test); should it not within 20 ms, the drain closes the
     * client instead and what is checked below holds all the same. */
    pump(s->base, 20);
    rpc_server_drain(s->srv, drained, s);
    pump_until(s->base, &s->drained, 1, 3000);
    EXPECT(s->drained == 1);
    req = s->held;
    s->held = NULL;
    rpc_req_subscribe(req, NULL);
    rpc_req_done(req, json_obj(), NULL);
    pump(s->base, 5);
}

SRV_TEST(server_error_after_client_left)
{
    struct rpc_req *req;
    struct cerr e = {0};

    peer_write_str(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.hold\",\"id\":2}\n");
    pump_until(s->base, &s->nheld, 1, 1000);
    EXPECT(s->held != NULL);
    peer_close(p);
    /* As in server_request_outlives_client: a turn to see the hang-up. */
    pump(s->base, 20);
    rpc_server_drain(s->srv, drained, s);
    pump_until(s->base, &s->drained, 1, 3000);
    EXPECT(s->drained == 1);
    req = s->held;
    s->held = NULL;
    cerr_set(&e, CE_QEMU_FAILED, "QEMU exited");
    rpc_req_done(req, NULL, &e);
}

/* A client that pipelines requests which are not answered yet: the server
 * takes RPC_MAX_INFLIGHT of them, reads no more until one is done, then
 * takes the next from what waited in the socket. */
SRV_TEST(server_inflight_cap)
{
    int want = RPC_MAX_INFLIGHT, got = 0;

    for (int i = 0; i < RPC_MAX_INFLIGHT + 5; i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":\"test.pile\",\"id\":%d}\n",
                 i);
        peer_write_str(p, line);
    }
    pump_until(s->base, &s->npiled, want, 2000);
    /* The server's chance to read past the cap: what is under test is that
     * it does not, and an absence has no event to wait for. */
    pump(s->base, 50);
    EXPECT(s->npiled == RPC_MAX_INFLIGHT);
    /* One answered: one more is read. */
    rpc_req_done(s->piled[0], json_obj(), NULL);
    s->piled[0] = s->piled[--s->npiled];
    s->piled[s->npiled] = NULL;
    pump_until(s->base, &s->npiled, want, 2000);
    pump(s->base, 50);
    EXPECT(s->npiled == RPC_MAX_INFLIGHT);
    /* All answered: the rest are read. */
    while (s->npiled > 0) {
        rpc_req_done(s->piled[--s->npiled], json_obj(), NULL);
        got++;
    }
    pump_until(s->base, &s->npiled, 4, 2000);
    EXPECT(s->npiled == 4);
    EXPECT(got == RPC_MAX_INFLIGHT);
    cJSON *reply = peer_read(p, 1000);
    int ok = is_result(reply, 0);
    cJSON_Delete(reply);
    EXPECT(ok);
}

/* ---- the blocking client against a server in a thread ---- */

struct thread_srv {
    struct srv_fx fx;
    int stop[2];
    struct event *stop_ev;
    struct event *slow_ev;
    struct rpc_req *slow_req;
    atomic_int slow_sent;
    pthread_t thread;
};

static struct thread_srv *tsrv;

static void slow_done(evutil_socket_t fd, short what, void *arg)
{
    struct thread_srv *t = arg;
    cJSON *r = json_obj();

    json_add_str(r, "from", "slow");
    rpc_req_done(t->slow_req, r, NULL);
    t->slow_req = NULL;
    atomic_store(&t->slow_sent, 1);
}

/* Answers 100 ms later. */
static void m_slow(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct timeval tv = {0, 100 * 1000};

    tsrv->slow_req = req;
    evtimer_add(tsrv->slow_ev, &tv);
}

static void m_fail(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct cerr e = {0};

    cerr_set(&e, CE_NO_DOMAIN, "no VM named 'ghost'");
    rpc_req_done(req, NULL, &e);
}

/* Sends an event to subscribers, then answers. */
static void m_sub(struct rpc_req *req, const cJSON *params, void *arg)
{
    cJSON *ev = json_obj();

    json_add_str(ev, "state", "running");
    rpc_req_subscribe(req, NULL);
    rpc_server_broadcast(tsrv->fx.srv, "demo", "vm.state", ev);
    rpc_req_done(req, NULL, NULL);
}

static const struct rpc_method thread_methods[] = {
    {"test.echo", m_echo, 0}, {"test.admin", m_admin, 1}, {"test.slow", m_slow, 0},
    {"test.fail", m_fail, 0}, {"test.sub", m_sub, 0},
};

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static void *server_thread(void *arg)
{
    struct thread_srv *t = arg;

    event_base_dispatch(t->fx.base);
    return NULL;
}

static int thread_srv_start(struct thread_srv *t)
{
    tsrv = t;
    srv_setup(&t->fx, thread_methods, sizeof(thread_methods) / sizeof(thread_methods[0]));
    if (pipe(t->stop) < 0)
        abort();
    t->stop_ev = event_new(t->fx.base, t->stop[0], EV_READ, stop_cb, t->fx.base);
    t->slow_ev = evtimer_new(t->fx.base, slow_done, t);
    if (t->stop_ev == NULL || t->slow_ev == NULL || event_add(t->stop_ev, NULL) < 0)
        abort();
    return pthread_create(&t->thread, NULL, server_thread, t) == 0;
}

static void thread_srv_stop(struct thread_srv *t)
{
    if (write(t->stop[1], "x", 1) != 1)
        abort();
    pthread_join(t->thread, NULL);
    /* The loop has stopped: free the server and its clients here, so a
     * client still connected sees the connection close. */
    rpc_server_free(t->fx.srv);
    t->fx.srv = NULL;
    if (t->slow_req != NULL)
        rpc_req_done(t->slow_req, NULL, NULL);
    event_free(t->slow_ev);
    event_free(t->stop_ev);
    close(t->stop[0]);
    close(t->stop[1]);
    srv_teardown(&t->fx);
    tsrv = NULL;
}

struct notes {
    int n;
    char method[32];
};

static void on_note(const cJSON *msg, void *arg)
{
    struct notes *nt = arg;

    nt->n++;
    snprintf(nt->method, sizeof(nt->method), "%s", get(msg, "method")->valuestring);
}

static void client_body(struct rpc_client *c, struct thread_srv *t)
{
    struct cerr e = {0};
    struct notes nt = {0};
    cJSON *params = json_obj(), *r;
    int ok;
    long long start;

    json_add_num(params, "x", 1);
    r = rpc_client_call(c, "test.echo", params, 2000, &e);
    ok = r != NULL && cJSON_IsNumber(get(r, "x")) && get(r, "x")->valueint == 1;
    if (r == NULL)
        printf("# test.echo: %s\n", e.msg);
    cJSON_Delete(r);
    EXPECT(ok);

    /* Server errors come back as a cerr with the server's code and text. */
    r = rpc_client_call(c, "test.fail", NULL, 2000, &e);
    EXPECT(r == NULL);
    EXPECT(e.code == CE_NO_DOMAIN);
    EXPECT_STR(e.msg, "no VM named 'ghost'");
    r = rpc_client_call(c, "test.missing", NULL, 2000, &e);
    EXPECT(r == NULL);
    EXPECT(e.code == CE_NO_METHOD);
    r = rpc_client_call(c, "test.admin", NULL, 2000, &e);
    EXPECT(r == NULL);
    EXPECT(e.code == CE_PERMISSION);

    /* An event that arrives while waiting goes to the notify callback. */
    rpc_client_on_notify(c, on_note, &nt);
    r = rpc_client_call(c, "test.sub", NULL, 2000, &e);
    ok = r != NULL && cJSON_IsObject(r);
    cJSON_Delete(r);
    EXPECT(ok);
    EXPECT(nt.n == 1);
    EXPECT_STR(nt.method, "vm.state");

    /* A timeout, then a late reply that must not be taken for the next
     * call's. */
    start = now_ms();
    r = rpc_client_call(c, "test.slow", NULL, 50, &e);
    EXPECT(r == NULL);
    EXPECT(e.code == CE_TIMEOUT);
    /* Never before its time (the thing under test); how late is the
     * machine's business, so the upper bound only catches a hang. */
    EXPECT(now_ms() - start >= 45 && now_ms() - start < 30000);
    params = json_obj();
    json_add_num(params, "x", 2);
    /* Sent once the server has queued slow's reply: that reply arrives
     * first and must be skipped. */
    while (!atomic_load(&t->slow_sent) && now_ms() - start < 2000)
        usleep(1000);
    r = rpc_client_call(c, "test.echo", params, 2000, &e);
    ok = r != NULL && cJSON_IsNumber(get(r, "x")) && get(r, "x")->valueint == 2 &&
         get(r, "from") == NULL;
    cJSON_Delete(r);
    EXPECT(ok);

    /* The server going away: the client sees CE_SUPERVISOR. */
    thread_srv_stop(t);
    r = rpc_client_next(c, 1000, &e);
    EXPECT(r == NULL);
    EXPECT(e.code == CE_SUPERVISOR);
}

static void blocking_client(void)
{
    struct thread_srv *t = xcalloc(1, sizeof(*t));
    struct rpc_client *c;
    struct cerr e = {0};

    if (!thread_srv_start(t)) {
        free(t);
        UNIT_SKIP("cannot start a thread");
    }
    c = rpc_client_connect(t->fx.path, &e);
    if (c == NULL) {
        printf("# cannot connect: %s\n", e.msg);
        unit_fail(__FILE__, __LINE__, "connect");
    } else
        client_body(c, t);
    rpc_client_close(c);
    if (tsrv != NULL)
        thread_srv_stop(t);
    free(t);
}

static void blocking_client_no_server(void)
{
    char dir[] = "/tmp/corral-test-conn.XXXXXX";
    char path[128];
    struct cerr e = {0};
    struct rpc_client *c;

    EXPECT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/none.sock", dir);
    c = rpc_client_connect(path, &e);
    rmdir(dir);
    rpc_client_close(c);
    EXPECT(c == NULL);
    EXPECT(e.code != CE_OK);
    EXPECT_CONTAINS(e.msg, path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_init("test_conn", LOG_LVL_ERR);
    RUN(split_line_delivered_once);
    RUN(crlf_accepted);
    RUN(two_messages_one_write);
    RUN(invalid_json_answered);
    RUN(line_at_limit_accepted);
    RUN(oversized_line_refused_once);
    RUN(calls_matched_by_id);
    RUN(raw_calls_relayed_only_when_well_formed);
    RUN(call_timeout);
    RUN(peer_close_fails_pending_calls);
    RUN(close_after_flush_deferred);
    RUN(close_with_nothing_queued_deferred);
    RUN(server_dispatches_methods);
    RUN(server_unknown_method);
    RUN(server_authorize_refuses);
    RUN(server_request_outlives_client);
    RUN(server_error_after_client_left);
    RUN(server_inflight_cap);
    RUN(blocking_client);
    RUN(blocking_client_no_server);
    return unit_done();
}
