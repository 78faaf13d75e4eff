#include "supervisor/qmp.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/json_scan.h"
#include "common/log.h"

/* Command ids cycle below this while they can: QEMU reads a command one
 * byte per read, a few microseconds each, so the id is kept short (one or
 * two digits). */
#define QMP_ID_CYCLE 100

struct qmp_pending {
    unsigned id;
    qmp_reply_cb cb;
    qmp_raw_reply_cb raw_cb; /* instead of cb: the reply relayed as bytes */
    void *cbarg;
    struct event *timer;
    struct qmp *q;
    struct qmp_pending *next;
};

struct qmp_queued {
    char *line; /* serialized command, sent once negotiation is done */
    size_t len;
    struct qmp_queued *next;
};

struct qmp {
    struct event_base *base;
    struct bufferevent *bev;
    qmp_event_cb on_event;
    qmp_ready_cb on_ready;
    qmp_closed_cb on_closed;
    void *arg;
    enum { QMP_GREETING, QMP_NEGOTIATING, QMP_READY, QMP_CLOSED } phase;
    unsigned next_id; /* where the search for a free id starts */
    struct qmp_pending *pending;
    struct qmp_queued *queue, **queue_tail;
    bool discarding;
    size_t raw_pending; /* of pending, those with raw_cb */
};

struct qmp *qmp_new(struct event_base *base, qmp_event_cb on_event, qmp_ready_cb on_ready,
                    qmp_closed_cb on_closed, void *arg)
{
    struct qmp *q = xcalloc(1, sizeof(*q));

    q->base = base;
    q->on_event = on_event;
    q->on_ready = on_ready;
    q->on_closed = on_closed;
    q->arg = arg;
    q->phase = QMP_CLOSED;
    q->queue_tail = &q->queue;
    return q;
}

static bool id_in_use(const struct qmp *q, unsigned id)
{
    for (const struct qmp_pending *p = q->pending; p != NULL; p = p->next)
        if (p->id == id)
            return true;
    return false;
}

/* The next id below QMP_ID_CYCLE no pending command has; past it when
 * every one is taken. */
static unsigned alloc_id(struct qmp *q)
{
    for (unsigned k = 0;; k++) {
        unsigned id = k < QMP_ID_CYCLE ? (q->next_id + k) % QMP_ID_CYCLE : k;

        if (!id_in_use(q, id)) {
            q->next_id = (id + 1) % QMP_ID_CYCLE;
            return id;
        }
    }
}

static void pending_unlink(struct qmp_pending *p)
{
    struct qmp *q = p->q;

    for (struct qmp_pending **pp = &q->pending; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    q->raw_pending -= p->raw_cb != NULL;
    if (p->timer != NULL)
        event_free(p->timer);
}

/* A parsed reply to a raw command: passed on as cJSON prints it, without
 * its id. */
static void finish_raw_parsed(struct qmp_pending *p, const cJSON *reply, const struct cerr *e)
{
    cJSON *copy = reply != NULL ? json_dup(reply) : NULL;
    char *text;
    struct cerr oom;

    cJSON_DeleteItemFromObjectCaseSensitive(copy, "id");
    text = copy != NULL ? cJSON_PrintUnformatted(copy) : NULL;
    cJSON_Delete(copy);
    if (reply != NULL && text == NULL) {
        cerr_set(&oom, CE_SYSTEM, "out of memory relaying a QMP reply");
        e = &oom;
    }
    p->raw_cb(text, text != NULL ? strlen(text) : 0, text != NULL ? NULL : e, p->cbarg);
    cJSON_free(text);
}

static void pending_finish(struct qmp_pending *p, const cJSON *reply, const struct cerr *e)
{
    pending_unlink(p);
    if (p->raw_cb != NULL)
        finish_raw_parsed(p, reply, e);
    else if (p->cb != NULL)
        p->cb(reply, e, p->cbarg);
    free(p);
}

/* A reply to a raw command is relayed without a parse when the line is
 * one well-formed JSON object (json_scan.h) with "id" the command's, as
 * corral wrote it, and "return" or "error": the relay gets the object
 * without its "id".  Anything else takes the parsing path.  Returns
 * whether the line was taken. */
static bool relay_raw(struct qmp *q, const char *line, size_t len)
{
    struct json_scan_object o;
    const struct json_scan_member *id;
    struct qmp_pending *p;
    size_t n;
    char *out;

    if (!json_scan_object(line, len, &o) || (id = json_scan_find(&o, "id")) == NULL ||
        (json_scan_find(&o, "return") == NULL) == (json_scan_find(&o, "error") == NULL) ||
        json_scan_find(&o, "event") != NULL)
        return false;
    for (p = q->pending; p != NULL; p = p->next) {
        char want[16];

        snprintf(want, sizeof(want), "%u", p->id);
        if (p->raw_cb != NULL && json_scan_value_is(id, want))
            break;
    }
    if (p == NULL)
        return false;
    out = malloc(len + 2);
    if (out == NULL)
        return false;
    n = 0;
    out[n++] = '{';
    for (size_t i = 0; i < o.n; i++) {
        if (&o.m[i] == id)
            continue;
        if (n > 1)
            out[n++] = ',';
        memcpy(out + n, o.m[i].key, o.m[i].key_len);
        n += o.m[i].key_len;
        out[n++] = ':';
        memcpy(out + n, o.m[i].value, o.m[i].value_len);
        n += o.m[i].value_len;
    }
    out[n++] = '}';
    pending_unlink(p);
    p->raw_cb(out, n, NULL, p->cbarg);
    free(out);
    free(p);
    return true;
}

static void fail_all(struct qmp *q, const char *why)
{
    struct cerr e;

    cerr_set(&e, CE_QEMU_FAILED, "connection to QEMU's monitor lost: %s", why);
    while (q->pending != NULL)
        pending_finish(q->pending, NULL, &e);
    while (q->queue != NULL) {
        struct qmp_queued *n = q->queue->next;
        free(q->queue->line);
        free(q->queue);
        q->queue = n;
    }
    q->queue_tail = &q->queue;
}

static void qmp_close(struct qmp *q, const char *why)
{
    if (q->phase == QMP_CLOSED)
        return;
    q->phase = QMP_CLOSED;
    if (q->bev != NULL) {
        bufferevent_free(q->bev);
        q->bev = NULL;
    }
    fail_all(q, why);
    q->on_closed(why, q->arg);
}

void qmp_free(struct qmp *q)
{
    if (q == NULL)
        return;
    if (q->bev != NULL)
        bufferevent_free(q->bev);
    q->bev = NULL;
    q->phase = QMP_CLOSED;
    fail_all(q, "supervisor shutting down");
    free(q);
}

/* Writes at once what the socket takes when nothing waits before it (as
 * proto/conn.c does: no loop round of arming, waking for and disarming the
 * write event per command); the bufferevent sends the rest and meets any
 * error. */
static void send_line(struct qmp *q, const char *line, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(q->bev);

    if (evbuffer_get_length(out) == 0) {
        ssize_t n = send(bufferevent_getfd(q->bev), line, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            line += n;
            len -= (size_t)n;
        }
    }
    if (len > 0 && evbuffer_add(out, line, len) < 0)
        log_err("cannot queue a QMP command: out of memory");
}

static void flush_queue(struct qmp *q)
{
    while (q->queue != NULL) {
        struct qmp_queued *n = q->queue->next;
        send_line(q, q->queue->line, q->queue->len);
        free(q->queue->line);
        free(q->queue);
        q->queue = n;
    }
    q->queue_tail = &q->queue;
}

/* msg as one line with its newline, to go out in one write (new), or
 * NULL when out of memory. */
static char *print_line(const cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);
    size_t n;
    char *line;

    if (text == NULL)
        return NULL;
    n = strlen(text);
    line = malloc(n + 2);
    if (line != NULL) {
        memcpy(line, text, n);
        memcpy(line + n, "\n", 2);
    }
    cJSON_free(text);
    return line;
}

static void handle_reply(struct qmp *q, const cJSON *msg)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");

    if (!cJSON_IsNumber(id)) {
        /* QEMU answers unparseable input with id-less errors; none of ours
         * lack an id, so these are noise. */
        log_warn("ignoring a QMP reply without our id: %.200s",
                 cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "error")) ? "error"
                                                                                : "return");
        return;
    }
    for (struct qmp_pending *p = q->pending; p != NULL; p = p->next) {
        if ((double)p->id == id->valuedouble) {
            pending_finish(p, msg, NULL);
            return;
        }
    }
    log_warn("ignoring a QMP reply to unknown id %.0f", id->valuedouble);
}

static void negotiated_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct qmp *q = arg;
    struct cerr err;

    if (e != NULL)
        return; /* the connection is already being torn down */
    if (qmp_reply_check(reply, "qmp_capabilities", &err) < 0) {
        log_err_code(cerr_name(err.code), "%s", err.msg);
        qmp_close(q, "capabilities negotiation failed");
        return;
    }
    q->phase = QMP_READY;
    flush_queue(q);
    q->on_ready(q->arg);
}

static void handle_message(struct qmp *q, const cJSON *msg)
{
    const cJSON *ev;

    if (!cJSON_IsObject(msg)) {
        log_warn("ignoring QMP output that is not a JSON object");
        return;
    }
    if (q->phase == QMP_GREETING) {
        if (cJSON_GetObjectItemCaseSensitive(msg, "QMP") == NULL) {
            log_warn("ignoring QMP output before the greeting");
            return;
        }
        q->phase = QMP_NEGOTIATING;
        /* Bypasses the queue: everything else waits for this reply. */
        struct qmp_pending *p = xcalloc(1, sizeof(*p));
        cJSON *cmd = json_obj();
        char *text;

        p->id = alloc_id(q);
        p->cb = negotiated_cb;
        p->cbarg = q;
        p->q = q;
        p->next = q->pending;
        q->pending = p;
        json_add_str(cmd, "execute", "qmp_capabilities");
        json_add_num(cmd, "id", p->id);
        text = print_line(cmd);
        cJSON_Delete(cmd);
        if (text == NULL) {
            qmp_close(q, "out of memory");
            return;
        }
        send_line(q, text, strlen(text));
        free(text);
        return;
    }
    ev = cJSON_GetObjectItemCaseSensitive(msg, "event");
    if (cJSON_IsString(ev)) {
        q->on_event(ev->valuestring, cJSON_GetObjectItemCaseSensitive(msg, "data"), q->arg);
        return;
    }
    if (cJSON_GetObjectItemCaseSensitive(msg, "return") != NULL ||
        cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "error"))) {
        handle_reply(q, msg);
        return;
    }
    log_warn("ignoring QMP output that is neither event nor reply");
}

static void qmp_read_cb(struct bufferevent *bev, void *arg)
{
    struct qmp *q = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (q->phase != QMP_CLOSED) {
        size_t eol_len = 0;
        struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
        cJSON *msg;
        char *line;

        if (p.pos < 0) {
            if (evbuffer_get_length(in) > QMP_MAX_LINE) {
                log_warn("QEMU sent a line over %d bytes; discarding it", QMP_MAX_LINE);
                evbuffer_drain(in, evbuffer_get_length(in));
                q->discarding = true;
            }
            return;
        }
        if (q->discarding) {
            evbuffer_drain(in, (size_t)p.pos + eol_len);
            q->discarding = false;
            continue;
        }
        line = malloc((size_t)p.pos + 1);
        if (line == NULL) {
            qmp_close(q, "out of memory reading QMP");
            return;
        }
        evbuffer_remove(in, line, (size_t)p.pos);
        evbuffer_drain(in, eol_len);
        line[p.pos] = '\0';
        if (q->raw_pending > 0 && relay_raw(q, line, (size_t)p.pos)) {
            free(line);
            continue;
        }
        msg = p.pos > 0 ? cJSON_ParseWithLength(line, (size_t)p.pos) : NULL;
        if (msg == NULL && p.pos > 0)
            log_warn("ignoring QMP output that is not JSON: %.120s", line);
        free(line);
        if (msg != NULL) {
            handle_message(q, msg);
            cJSON_Delete(msg);
        }
    }
}

static void qmp_event_cb_(struct bufferevent *bev, short what, void *arg)
{
    struct qmp *q = arg;

    (void)bev;
    if (what & BEV_EVENT_EOF)
        qmp_close(q, "QEMU closed the monitor");
    else if (what & BEV_EVENT_ERROR)
        qmp_close(q, strerror(EVUTIL_SOCKET_ERROR()));
}

int qmp_connect(struct qmp *q, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* A local connect either succeeds or fails at once; only the rest of
     * the conversation needs to be non-blocking. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (evutil_make_socket_nonblocking(fd) < 0) {
        close(fd);
        errno = EIO;
        return -1;
    }
    q->bev = bufferevent_socket_new(q->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (q->bev == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    bufferevent_setwatermark(q->bev, EV_READ, 0, QMP_MAX_LINE + 4096);
    bufferevent_setcb(q->bev, qmp_read_cb, NULL, qmp_event_cb_, q);
    if (bufferevent_enable(q->bev, EV_READ | EV_WRITE) < 0) {
        bufferevent_free(q->bev);
        q->bev = NULL;
        errno = EIO;
        return -1;
    }
    q->phase = QMP_GREETING;
    return 0;
}

/* Fails p, never sent nor pending, and frees it. */
static void finish_unsent(struct qmp_pending *p, const struct cerr *e)
{
    if (p->raw_cb != NULL)
        p->raw_cb(NULL, 0, e, p->cbarg);
    else if (p->cb != NULL)
        p->cb(NULL, e, p->cbarg);
    free(p);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct qmp_pending *p = arg;
    struct cerr e;

    qmp_reply_cb cb = p->cb;
    qmp_raw_reply_cb raw_cb = p->raw_cb;
    void *cbarg = p->cbarg;

    (void)fd;
    (void)what;
    cerr_set(&e, CE_TIMEOUT, "QEMU did not answer command %u in time", p->id);
    event_free(p->timer);
    p->timer = NULL;
    p->q->raw_pending -= raw_cb != NULL;
    /* The entry, calling nobody now, stays until the late reply comes, so
     * that no new command takes its id before then. */
    p->cb = NULL;
    p->raw_cb = NULL;
    /* Last: the caller may close the connection, which frees p. */
    if (raw_cb != NULL)
        raw_cb(NULL, 0, &e, cbarg);
    else if (cb != NULL)
        cb(NULL, &e, cbarg);
}

static void command(struct qmp *q, const cJSON *cmd, int timeout_ms, qmp_reply_cb cb,
                    qmp_raw_reply_cb raw_cb, void *cbarg)
{
    struct qmp_pending *p;
    cJSON *copy;
    char *text;
    struct cerr e;

    p = xcalloc(1, sizeof(*p));
    p->cb = cb;
    p->raw_cb = raw_cb;
    p->cbarg = cbarg;
    p->q = q;
    if (q->phase == QMP_CLOSED) {
        cerr_set(&e, CE_QEMU_FAILED, "QEMU's monitor is not connected");
        finish_unsent(p, &e);
        return;
    }
    p->id = alloc_id(q);
    copy = json_dup(cmd);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "id");
    json_add_num(copy, "id", p->id);
    text = print_line(copy);
    cJSON_Delete(copy);
    if (text == NULL) {
        cerr_set(&e, CE_SYSTEM, "out of memory serializing a QMP command");
        finish_unsent(p, &e);
        return;
    }
    if (timeout_ms > 0) {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        p->timer = evtimer_new(q->base, timeout_cb, p);
        if (p->timer == NULL || evtimer_add(p->timer, &tv) < 0) {
            if (p->timer != NULL)
                event_free(p->timer);
            p->timer = NULL;
            free(text);
            cerr_set(&e, CE_SYSTEM, "cannot arm a QMP command timer");
            finish_unsent(p, &e);
            return;
        }
    }
    p->next = q->pending;
    q->pending = p;
    q->raw_pending += raw_cb != NULL;
    size_t n = strlen(text);
    if (q->phase == QMP_READY) {
        send_line(q, text, n);
        free(text);
        return;
    }
    struct qmp_queued *qq = xcalloc(1, sizeof(*qq));
    qq->line = text;
    qq->len = n;
    *q->queue_tail = qq;
    q->queue_tail = &qq->next;
}

void qmp_command_raw(struct qmp *q, const cJSON *cmd, int timeout_ms, qmp_reply_cb cb, void *cbarg)
{
    command(q, cmd, timeout_ms, cb, NULL, cbarg);
}

void qmp_command_relay(struct qmp *q, const cJSON *cmd, int timeout_ms, qmp_raw_reply_cb cb,
                       void *cbarg)
{
    command(q, cmd, timeout_ms, NULL, cb, cbarg);
}

void qmp_command(struct qmp *q, const char *execute, cJSON *args, int timeout_ms, qmp_reply_cb cb,
                 void *cbarg)
{
    cJSON *cmd = json_obj();

    json_add_str(cmd, "execute", execute);
    if (args != NULL)
        json_add(cmd, "arguments", args);
    qmp_command_raw(q, cmd, timeout_ms, cb, cbarg);
    cJSON_Delete(cmd);
}

int qmp_reply_check(const cJSON *reply, const char *what, struct cerr *e)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
    const cJSON *desc;

    if (err == NULL)
        return 0;
    desc = cJSON_GetObjectItemCaseSensitive(err, "desc");
    cerr_set(e, CE_QEMU_FAILED, "QEMU refused %s: %s", what,
             cJSON_IsString(desc) ? desc->valuestring : "(no description)");
    return -1;
}

const cJSON *qmp_reply_return(const cJSON *reply)
{
    return reply ? cJSON_GetObjectItemCaseSensitive(reply, "return") : NULL;
}

int qmp_is_ready(const struct qmp *q)
{
    return q->phase == QMP_READY;
}

void qmp_disconnect(struct qmp *q, const char *why)
{
    qmp_close(q, why);
}
