#include "proto/conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evline.h"
#include "common/fileutil.h"
#include "common/json_scan.h"
#include "common/log.h"
#include "proto/rpc.h"

struct pending_call {
    long long id;
    rpc_reply_cb cb;
    rpc_raw_reply_cb raw_cb; /* instead of cb: the result relayed as bytes */
    void *cbarg;
    struct event *timer;
    struct rpc_conn *conn;
    struct pending_call *next;
};

struct rpc_conn {
    struct bufferevent *bev;
    rpc_message_cb on_msg;
    rpc_close_cb on_close;
    void *arg;
    struct ucred cred;
    bool discarding;    /* skipping the rest of an oversized line */
    struct evline line; /* how far the input was searched for a newline */
    bool closing;
    bool dead;       /* on_close scheduled or called */
    bool held;       /* by the owner */
    size_t pause_at; /* 0: never paused for unread output */
    size_t max_output;
    char why[128];
    rpc_upgrade_cb upgrade_cb; /* pending hand-over of the socket */
    void *upgrade_arg;
    bool upgraded; /* the bufferevent goes to upgrade_cb, not to on_close */
    struct event *close_ev;
    struct event *resume_ev; /* parses input buffered while reading waited */
    struct event *flush_ev;  /* closes, from the loop, a closing connection with nothing queued */
    long long next_id;
    struct pending_call *calls;
    size_t raw_calls; /* of calls, those with raw_cb */
};

/* Hands the socket over to whoever asked for the upgrade, exactly once:
 * NULL when the connection had failed first. */
static void conn_hand_over(struct rpc_conn *c)
{
    rpc_upgrade_cb cb = c->upgrade_cb;
    struct bufferevent *bev = NULL;

    if (cb == NULL)
        return;
    c->upgrade_cb = NULL;
    if (c->upgraded) {
        bev = c->bev;
        c->bev = NULL;
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        bufferevent_setwatermark(bev, EV_READ | EV_WRITE, 0, 0);
    }
    cb(bev, c->upgrade_arg);
}

static void conn_close_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *c = arg;

    (void)fd;
    (void)what;
    conn_hand_over(c);
    c->on_close(c, c->why, c->arg);
}

/* The owner's on_close frees the connection, so it runs from the loop and
 * never under a caller that still holds c (a send inside a message
 * handler, say). */
static void conn_fail(struct rpc_conn *c, const char *why)
{
    if (c->dead)
        return;
    c->dead = true;
    snprintf(c->why, sizeof(c->why), "%s", why);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_active(c->close_ev, 0, 0);
}

static void call_finish(struct pending_call *pc, const cJSON *result, const struct cerr *e)
{
    struct rpc_conn *c = pc->conn;
    struct pending_call **pp;

    for (pp = &c->calls; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == pc) {
            *pp = pc->next;
            break;
        }
    }
    if (pc->timer != NULL)
        event_free(pc->timer);
    if (pc->raw_cb != NULL) {
        /* The result came in a form the relay did not take as it was:
         * passed on as cJSON prints it. */
        char *text = result != NULL ? cJSON_PrintUnformatted(result) : NULL;
        struct cerr oom;

        c->raw_calls--;
        if (result != NULL && text == NULL) {
            cerr_set(&oom, CE_SYSTEM, "out of memory relaying a reply");
            e = &oom;
        }
        pc->raw_cb(text, text != NULL ? strlen(text) : 0, text != NULL ? NULL : e, pc->cbarg);
        cJSON_free(text);
    } else if (pc->cb != NULL)
        pc->cb(result, e, pc->cbarg);
    free(pc);
}

/* The pending raw call whose id a response carries as the text id. */
static struct pending_call *raw_call_of(struct rpc_conn *c, const struct json_scan_member *id)
{
    char want[24];

    if (id == NULL || id->value_len >= sizeof(want))
        return NULL;
    for (struct pending_call *pc = c->calls; pc != NULL; pc = pc->next) {
        if (pc->raw_cb == NULL)
            continue;
        snprintf(want, sizeof(want), "%lld", pc->id);
        if (json_scan_value_is(id, want))
            return pc;
    }
    return NULL;
}

/* A successful response to a raw call is relayed without a parse: the
 * line must be one well-formed JSON object (json_scan.h) whose members are
 * "jsonrpc": "2.0", "id" with the call's id as the broker wrote it, and
 * "result", and nothing else.  Anything else (an error, a notification, a
 * member more, an id written another way) takes the parsing path, which
 * checks it as it always did.  Returns whether the line was taken. */
static bool relay_raw(struct rpc_conn *c, const char *line, size_t len)
{
    struct json_scan_object o;
    const struct json_scan_member *result;
    struct pending_call *pc, **pp;

    if (!json_scan_object(line, len, &o) || o.n != 3 ||
        !json_scan_value_is(json_scan_find(&o, "jsonrpc"), "\"2.0\"") ||
        (result = json_scan_find(&o, "result")) == NULL ||
        (pc = raw_call_of(c, json_scan_find(&o, "id"))) == NULL)
        return false;
    for (pp = &c->calls; *pp != pc; pp = &(*pp)->next)
        ;
    *pp = pc->next;
    c->raw_calls--;
    if (pc->timer != NULL)
        event_free(pc->timer);
    pc->raw_cb(result->value, result->value_len, NULL, pc->cbarg);
    free(pc);
    return true;
}

static void handle_response(struct rpc_conn *c, const struct rpc_msg *m)
{
    struct cerr e;

    if (!cJSON_IsNumber(m->id))
        return;
    for (struct pending_call *pc = c->calls; pc != NULL; pc = pc->next) {
        if ((double)pc->id != m->id->valuedouble)
            continue;
        if (m->error != NULL) {
            rpc_error_to_cerr(m->error, &e);
            call_finish(pc, NULL, &e);
        } else
            call_finish(pc, m->result, NULL);
        return;
    }
    log_debug("dropping a response to unknown request id %g", m->id->valuedouble);
}

static void handle_line(struct rpc_conn *c, const char *line, size_t len)
{
    struct cerr e;
    struct rpc_msg m;
    cJSON *msg;

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    if (c->raw_calls > 0 && relay_raw(c, line, len))
        return;
    msg = json_parse(line, len, &e);
    if (msg == NULL) {
        rpc_conn_reply_error(c, NULL, &e);
        return;
    }
    if (rpc_classify(msg, &m, &e) < 0) {
        const cJSON *id = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "id") : NULL;
        rpc_conn_reply_error(c, cJSON_IsNumber(id) || cJSON_IsString(id) ? id : NULL, &e);
    } else if (m.kind == RPC_KIND_RESPONSE)
        handle_response(c, &m);
    else
        c->on_msg(c, msg, c->arg);
    cJSON_Delete(msg);
}

static bool backlogged(const struct rpc_conn *c)
{
    return c->pause_at > 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) > c->pause_at;
}

static bool reading_paused(const struct rpc_conn *c)
{
    return c->held || backlogged(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct rpc_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (!c->dead && !c->closing) {
        if (reading_paused(c)) {
            /* Taken up again by conn_resume. */
            bufferevent_disable(bev, EV_READ);
            return;
        }
        size_t eol_len = 0;
        ssize_t pos = evline_find(&c->line, in, EVBUFFER_EOL_LF, &eol_len);

        if (pos < 0) {
            size_t have = evbuffer_get_length(in);
            if (have > RPC_MAX_MESSAGE) {
                /* Drop what we have and skip to the next newline, so the
                 * peer gets one error and the stream stays usable. */
                evbuffer_drain(in, have);
                evline_reset(&c->line);
                c->discarding = true;
            }
            return;
        }
        evline_reset(&c->line);
        if (c->discarding || (size_t)pos + eol_len > RPC_MAX_MESSAGE) {
            struct cerr e;
            evbuffer_drain(in, (size_t)pos + eol_len);
            c->discarding = false;
            cerr_set(&e, CE_TOO_LARGE, "message exceeds the limit of %d bytes and was discarded",
                     RPC_MAX_MESSAGE);
            rpc_conn_reply_error(c, NULL, &e);
            continue;
        }
        size_t len = (size_t)pos;
        char *line = malloc(len + 1);
        if (line == NULL) {
            conn_fail(c, "out of memory reading a message");
            return;
        }
        evbuffer_remove(in, line, len);
        evbuffer_drain(in, eol_len);
        line[len] = '\0';
        handle_line(c, line, len);
        free(line);
    }
}

/* Input that arrived while reading waited is parsed from the loop, never
 * from under a caller (a request's completion inside a message handler). */
static void conn_resume(struct rpc_conn *c)
{
    if (c->dead || c->closing || reading_paused(c))
        return;
    if (bufferevent_enable(c->bev, EV_READ) < 0) {
        conn_fail(c, "cannot resume reading");
        return;
    }
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        event_active(c->resume_ev, 0, 0);
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *c = arg;

    (void)fd;
    (void)what;
    conn_read_cb(c->bev, c);
}

static void conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *c = arg;

    (void)fd;
    (void)what;
    if (!c->dead && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_fail(c, "closed after reply");
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct rpc_conn *c = arg;

    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_fail(c, "closed after reply");
    else
        conn_resume(c);
}

/* A write that failed on a peer's closed socket must not lose what the
 * peer sent before it closed (a supervisor's last reply): that is read and
 * handled first, within the bound reading always has. */
static void conn_read_last(struct rpc_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    /* The bufferevent keeps its input's end frozen outside its own reads. */
    if (evbuffer_unfreeze(in, 0) < 0)
        return;
    while (evbuffer_get_length(in) <= RPC_MAX_MESSAGE + 4096 && evbuffer_read(in, fd, 65536) > 0)
        ;
    if (evbuffer_freeze(in, 0) < 0)
        log_warn("cannot freeze a connection's input again");
    conn_read_cb(c->bev, c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rpc_conn *c = arg;

    (void)bev;
    if ((what & BEV_EVENT_ERROR) && (what & BEV_EVENT_WRITING) && !c->held && !c->upgraded)
        conn_read_last(c);
    if (what & BEV_EVENT_EOF)
        conn_fail(c, "peer closed the connection");
    else if (what & BEV_EVENT_ERROR)
        conn_fail(c, strerror(EVUTIL_SOCKET_ERROR()));
}

struct rpc_conn *rpc_conn_new(struct event_base *base, int fd, rpc_message_cb on_msg,
                              rpc_close_cb on_close, void *arg)
{
    struct rpc_conn *c = calloc(1, sizeof(*c));
    socklen_t sl = sizeof(struct ucred);

    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->cred.uid = (uid_t)-1;
    c->cred.pid = -1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &sl) < 0) {
        log_warn("cannot read the peer credentials of fd %d: %s", fd, strerror(errno));
        c->cred.uid = (uid_t)-1;
    }
    if (evutil_make_socket_nonblocking(fd) < 0) {
        log_err("cannot make fd %d non-blocking", fd);
        close(fd);
        free(c);
        return NULL;
    }
    c->close_ev = event_new(base, -1, 0, conn_close_cb, c);
    c->resume_ev = event_new(base, -1, 0, conn_resume_cb, c);
    c->flush_ev = event_new(base, -1, 0, conn_flush_cb, c);
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL || c->close_ev == NULL || c->resume_ev == NULL || c->flush_ev == NULL) {
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->close_ev != NULL)
            event_free(c->close_ev);
        if (c->resume_ev != NULL)
            event_free(c->resume_ev);
        if (c->flush_ev != NULL)
            event_free(c->flush_ev);
        free(c);
        return NULL;
    }
    c->max_output = RPC_MAX_OUTPUT;
    c->on_msg = on_msg;
    c->on_close = on_close;
    c->arg = arg;
    c->next_id = 1;
    /* Bound how much libevent reads ahead of the parser. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, RPC_MAX_MESSAGE + 4096);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
        bufferevent_free(c->bev);
        event_free(c->close_ev);
        event_free(c->resume_ev);
        event_free(c->flush_ev);
        free(c);
        return NULL;
    }
    return c;
}

void rpc_conn_free(struct rpc_conn *c)
{
    struct cerr e;

    if (c == NULL)
        return;
    c->dead = true;
    c->upgraded = false;
    conn_hand_over(c);
    cerr_set(&e, CE_SUPERVISOR, "connection closed before the reply arrived");
    while (c->calls != NULL)
        call_finish(c->calls, NULL, &e);
    event_free(c->close_ev);
    event_free(c->resume_ev);
    event_free(c->flush_ev);
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    free(c);
}

/* Writes what it can of line at once when nothing waits before it, and
 * leaves the rest to the bufferevent: a reply then leaves in the handler
 * that made it, without the loop's round of arming the write event, waking
 * for it and disarming it again (three syscalls and a loop iteration per
 * message).  A failed write is left for the bufferevent to meet and report
 * as it does any other. */
static int conn_queue(struct rpc_conn *c, const char *line, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    if (evbuffer_get_length(out) == 0 && !c->upgraded) {
        ssize_t n = send(bufferevent_getfd(c->bev), line, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            line += n;
            len -= (size_t)n;
        }
    }
    if (len > 0 && evbuffer_add(out, line, len) < 0) {
        conn_fail(c, "out of memory queueing a message");
        return -1;
    }
    return 0;
}

/* Whether c can take more output: not when dead, nor when its peer has
 * stopped reading (then it fails). */
static bool conn_writable(struct rpc_conn *c)
{
    if (c->dead)
        return false;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > c->max_output) {
        conn_fail(c, "peer stopped reading: output limit reached");
        return false;
    }
    return true;
}

int rpc_conn_send(struct rpc_conn *c, const cJSON *msg)
{
    struct cerr e;
    size_t len;
    char *line;

    if (!conn_writable(c))
        return -1;
    line = rpc_serialize(msg, &len, &e);
    if (line == NULL) {
        /* A reply too large to send becomes an error the peer can read. */
        cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
        cJSON *err = rpc_error(id, e.code, e.msg);
        line = rpc_serialize(err, &len, &e);
        cJSON_Delete(err);
        if (line == NULL) {
            conn_fail(c, "cannot serialize a reply");
            return -1;
        }
    }
    if (conn_queue(c, line, len) < 0) {
        free(line);
        return -1;
    }
    free(line);
    return 0;
}

int rpc_conn_reply(struct rpc_conn *c, const cJSON *id, cJSON *result)
{
    cJSON *m = rpc_result(id, result);
    int rc = rpc_conn_send(c, m);

    cJSON_Delete(m);
    return rc;
}

int rpc_conn_reply_raw(struct rpc_conn *c, const cJSON *id, const char *result, size_t len)
{
    struct cerr e;
    size_t n;
    char *line;

    if (!conn_writable(c))
        return -1;
    line = rpc_result_line(id, result, len, &n, &e);
    if (line == NULL)
        return rpc_conn_reply_error(c, id, &e);
    if (conn_queue(c, line, n) < 0) {
        free(line);
        return -1;
    }
    free(line);
    return 0;
}

int rpc_conn_reply_error(struct rpc_conn *c, const cJSON *id, const struct cerr *e)
{
    cJSON *m = rpc_error_cerr(id, e);
    int rc = rpc_conn_send(c, m);

    cJSON_Delete(m);
    return rc;
}

static void call_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pending_call *pc = arg;
    struct cerr e;

    (void)fd;
    (void)what;
    cerr_set(&e, CE_TIMEOUT, "no reply within the time limit");
    call_finish(pc, NULL, &e);
}

static void call(struct rpc_conn *c, const char *method, cJSON *params, int timeout_ms,
                 rpc_reply_cb cb, rpc_raw_reply_cb raw_cb, void *cbarg)
{
    struct pending_call *pc = xcalloc(1, sizeof(*pc));
    struct cerr e;
    size_t len;
    cJSON *req;
    char *line;

    pc->id = c->next_id++;
    pc->cb = cb;
    pc->raw_cb = raw_cb;
    c->raw_calls += raw_cb != NULL;
    pc->cbarg = cbarg;
    pc->conn = c;
    pc->next = c->calls;
    c->calls = pc;
    if (timeout_ms > 0) {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        pc->timer = evtimer_new(bufferevent_get_base(c->bev), call_timeout_cb, pc);
        if (pc->timer == NULL || evtimer_add(pc->timer, &tv) < 0) {
            cJSON_Delete(params);
            cerr_set(&e, CE_SYSTEM, "cannot arm a timer for %s", method);
            call_finish(pc, NULL, &e);
            return;
        }
    }
    req = rpc_request(method, params, pc->id);
    line = rpc_serialize(req, &len, &e);
    cJSON_Delete(req);
    /* A request over the limit fails at once: sent, it would be refused
     * by the peer, and the call would wait for its timeout. */
    if (line == NULL) {
        struct cerr se;

        cerr_set(&se, e.code, "cannot send %s: %s", method, e.msg);
        call_finish(pc, NULL, &se);
        return;
    }
    if (!conn_writable(c) || conn_queue(c, line, len) < 0) {
        cerr_set(&e, CE_SUPERVISOR, "cannot send %s: connection lost", method);
        call_finish(pc, NULL, &e);
    }
    free(line);
}

void rpc_conn_call(struct rpc_conn *c, const char *method, cJSON *params, int timeout_ms,
                   rpc_reply_cb cb, void *cbarg)
{
    call(c, method, params, timeout_ms, cb, NULL, cbarg);
}

void rpc_conn_call_raw(struct rpc_conn *c, const char *method, cJSON *params, int timeout_ms,
                       rpc_raw_reply_cb cb, void *cbarg)
{
    call(c, method, params, timeout_ms, NULL, cb, cbarg);
}

bool rpc_conn_dead(const struct rpc_conn *c)
{
    return c->dead;
}

void rpc_conn_set_backpressure(struct rpc_conn *c, size_t pause_at, size_t max_output)
{
    c->pause_at = pause_at;
    c->max_output = max_output;
    /* Told when the backlog has drained to pause_at, to read again. */
    bufferevent_setwatermark(c->bev, EV_WRITE, pause_at, 0);
}

void rpc_conn_hold(struct rpc_conn *c, bool hold)
{
    c->held = hold;
    if (hold)
        bufferevent_disable(c->bev, EV_READ);
    else
        conn_resume(c);
}

void rpc_conn_upgrade(struct rpc_conn *c, rpc_upgrade_cb cb, void *arg)
{
    if (c->upgrade_cb != NULL) {
        cb(NULL, arg);
        return;
    }
    c->upgrade_cb = cb;
    c->upgrade_arg = arg;
    if (c->dead)
        return; /* on_close is on its way and hands over NULL */
    c->upgraded = true;
    /* Parsing stops here: the rest of the input belongs to the stream. */
    if (bufferevent_disable(c->bev, EV_READ) < 0)
        log_warn("cannot stop reading a connection being upgraded");
    conn_fail(c, "upgraded to a byte stream");
}

/* With nothing queued, the close waits for the loop all the same: what
 * is already due to run there (a job's outcome an exiting supervisor
 * delivers) may still answer, as it could when replies waited in the
 * output buffer for the loop to write them. */
void rpc_conn_close_after_flush(struct rpc_conn *c)
{
    c->closing = true;
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        event_active(c->flush_ev, 0, 0);
}

uid_t rpc_conn_peer_uid(const struct rpc_conn *c)
{
    return c->cred.uid;
}

pid_t rpc_conn_peer_pid(const struct rpc_conn *c)
{
    return c->cred.pid;
}

void rpc_conn_set_arg(struct rpc_conn *c, void *arg)
{
    c->arg = arg;
}
