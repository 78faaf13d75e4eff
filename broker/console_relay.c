#include "broker/console_relay.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/vm_dirs.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "proto/conn.h"
#include "proto/rpc.h"

/* Asking the supervisor: from the client's request to both upgrades. */
struct ask {
    char *vm;
    uid_t uid; /* the client's */
    struct rpc_req *req;
    struct rpc_conn *conn;
    bool closing;            /* conn is being freed: its callbacks must not touch it */
    cJSON *result;           /* the supervisor's answer, passed on to the client */
    struct bufferevent *sup; /* the supervisor's side, once upgraded */
};

/* Relaying: each side's input goes to the other's output. */
struct relay {
    struct relay *next, **prev; /* in relays */
    char *vm;
    uid_t uid;                   /* the client's */
    struct bufferevent *side[2]; /* 0: the client, 1: the supervisor */
    struct event *drain;         /* bounds the flush once one side is gone */
};

/* Every relay running, for console_relay_free_all at exit. */
static struct relay *relays;

static void relay_free(struct relay *r)
{
    *r->prev = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    for (int i = 0; i < 2; i++) {
        if (r->side[i] != NULL)
            bufferevent_free(r->side[i]);
    }
    if (r->drain != NULL)
        event_free(r->drain);
    log_info("VM %s: console relay ended", r->vm);
    free(r->vm);
    free(r);
}

static int side_of(const struct relay *r, const struct bufferevent *bev)
{
    return r->side[0] == bev ? 0 : 1;
}

/* Passes side i's input on; -1 when r had to be freed. */
static int relay_pass(struct relay *r, int i)
{
    struct bufferevent *from = r->side[i], *to = r->side[1 - i];

    if (to == NULL) {
        struct evbuffer *in = bufferevent_get_input(from);
        evbuffer_drain(in, evbuffer_get_length(in));
        return 0;
    }
    if (evbuffer_add_buffer(bufferevent_get_output(to), bufferevent_get_input(from)) < 0) {
        log_warn("VM %s: console relay: out of memory", r->vm);
        relay_free(r);
        return -1;
    }
    /* The peer is slow: wait for it (relay_write_cb) rather than buffer. */
    if (evbuffer_get_length(bufferevent_get_output(to)) >= CONSOLE_RELAY_BUFFER &&
        bufferevent_disable(from, EV_READ) < 0) {
        log_warn("VM %s: console relay: cannot pause reading", r->vm);
        relay_free(r);
        return -1;
    }
    return 0;
}

static void relay_read_cb(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;

    relay_pass(r, side_of(r, bev));
}

/* Called once bev's output has drained to the low watermark. */
static void relay_write_cb(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    int i = side_of(r, bev);
    struct bufferevent *from = r->side[1 - i];

    if (from == NULL) {
        /* Its peer is gone and everything has been passed on. */
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            relay_free(r);
        return;
    }
    if (bufferevent_enable(from, EV_READ) < 0) {
        log_warn("VM %s: console relay: cannot resume reading", r->vm);
        relay_free(r);
    }
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    relay_free(arg);
}

/* One side has gone: the other gets what is left for it, boundedly. */
static void relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct relay *r = arg;
    int i = side_of(r, bev);
    struct bufferevent *other = r->side[1 - i];
    struct timeval tv = {CONSOLE_RELAY_DRAIN_MS / 1000, (CONSOLE_RELAY_DRAIN_MS % 1000) * 1000};

    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    bufferevent_free(bev);
    r->side[i] = NULL;
    if (other == NULL || evbuffer_get_length(bufferevent_get_output(other)) == 0) {
        relay_free(r);
        return;
    }
    bufferevent_setwatermark(other, EV_WRITE, 0, 0);
    r->drain = evtimer_new(bufferevent_get_base(other), drain_cb, r);
    if (bufferevent_disable(other, EV_READ) < 0 || r->drain == NULL ||
        evtimer_add(r->drain, &tv) < 0)
        relay_free(r);
}

static void relay_begin(const char *vm, uid_t uid, struct bufferevent *client,
                        struct bufferevent *sup)
{
    struct relay *r = xcalloc(1, sizeof(*r));

    r->vm = xstrdup(vm);
    r->uid = uid;
    r->next = relays;
    r->prev = &relays;
    if (relays != NULL)
        relays->prev = &r->next;
    relays = r;
    r->side[0] = client;
    r->side[1] = sup;
    for (int i = 0; i < 2; i++) {
        bufferevent_setcb(r->side[i], relay_read_cb, relay_write_cb, relay_event_cb, r);
        bufferevent_setwatermark(r->side[i], EV_WRITE, CONSOLE_RELAY_BUFFER / 2, 0);
        if (bufferevent_enable(r->side[i], EV_READ | EV_WRITE) < 0) {
            log_warn("VM %s: console relay: cannot start", vm);
            relay_free(r);
            return;
        }
    }
    log_info("VM %s: console relay started", vm);
    /* What came with the answers: the start of the stream, keystrokes. */
    if (relay_pass(r, 1) == 0)
        relay_pass(r, 0);
}

void console_relay_free_all(void)
{
    while (relays != NULL)
        relay_free(relays);
}

static void ask_free(struct ask *a)
{
    if (a->sup != NULL)
        bufferevent_free(a->sup);
    cJSON_Delete(a->result);
    free(a->vm);
    free(a);
}

static void client_upgraded(struct bufferevent *bev, void *arg)
{
    struct ask *a = arg;

    if (bev == NULL)
        log_info("VM %s: the console's client left before it was attached", a->vm);
    else {
        relay_begin(a->vm, a->uid, bev, a->sup);
        a->sup = NULL;
    }
    ask_free(a);
}

static void sup_upgraded(struct bufferevent *bev, void *arg)
{
    struct ask *a = arg;
    struct rpc_req *req = a->req;
    cJSON *result = a->result;
    struct cerr e;

    a->req = NULL;
    a->result = NULL;
    if (bev == NULL) {
        cerr_set(&e, CE_SUPERVISOR, "VM %s: its supervisor went away while attaching the console",
                 a->vm);
        rpc_req_done(req, NULL, &e);
        cJSON_Delete(result);
        ask_free(a);
        return;
    }
    a->sup = bev;
    rpc_req_upgrade(req, result, client_upgraded, a);
}

static void ask_reply_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct ask *a = arg;

    if (e != NULL) {
        rpc_req_done(a->req, NULL, e);
        a->req = NULL;
        if (!a->closing)
            rpc_conn_close_after_flush(a->conn);
        return;
    }
    a->result = json_dup(result);
    /* From here the connection's end frees it alone; a lives on in the
     * upgrade callbacks. */
    rpc_conn_set_arg(a->conn, NULL);
    rpc_conn_upgrade(a->conn, sup_upgraded, a);
}

static void ask_message(struct rpc_conn *c, const cJSON *msg, void *arg)
{
    (void)c;
    (void)msg;
    (void)arg;
}

static void ask_closed(struct rpc_conn *c, const char *why, void *arg)
{
    struct ask *a = arg;

    (void)why;
    if (a == NULL) {
        rpc_conn_free(c);
        return;
    }
    /* Fails the call still pending, if any, through ask_reply_cb. */
    a->closing = true;
    rpc_conn_free(c);
    ask_free(a);
}

/* A relay's client no longer counts among its uid's connections to the
 * server, so relays are counted here against the same cap. */
static int relays_of(uid_t uid)
{
    int n = 0;

    for (const struct relay *r = relays; r != NULL; r = r->next)
        n += r->uid == uid;
    return n;
}

void console_relay_start(struct bvm *vm, const cJSON *params, struct rpc_req *req)
{
    uid_t uid = rpc_req_uid(req);
    struct cerr e;
    struct ask *a;
    cJSON *p;
    int fd;

    if (uid != 0 && relays_of(uid) >= RPC_MAX_CONNS_PER_UID) {
        cerr_set(&e, CE_BUSY,
                 "too many consoles: uid %ld has %d attached or closing, the most one user may; "
                 "detach some and try again",
                 (long)uid, RPC_MAX_CONNS_PER_UID);
        rpc_req_done(req, NULL, &e);
        return;
    }
    fd = vm_dirs_connect(vm, &e);
    if (fd < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    a = xcalloc(1, sizeof(*a));
    a->vm = xstrdup(vm->def->name);
    a->uid = uid;
    a->req = req;
    a->conn = rpc_conn_new(vm->b->base, fd, ask_message, ask_closed, a);
    if (a->conn == NULL) {
        cerr_set(&e, CE_SYSTEM, "cannot set up a connection to VM %s's supervisor", vm->def->name);
        rpc_req_done(req, NULL, &e);
        ask_free(a);
        return;
    }
    p = params ? json_dup(params) : json_obj();
    cJSON_DeleteItemFromObjectCaseSensitive(p, "name");
    rpc_conn_call(a->conn, "vm.console", p, BVM_CALL_TIMEOUT_MS, ask_reply_cb, a);
}
