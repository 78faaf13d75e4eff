#include "proto/server.h"

#include <errno.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "proto/conn.h"
#include "proto/rpc.h"

#define DRAIN_GRACE_MS 2000

struct client;

struct rpc_req {
    struct client *cl; /* NULL once the client has gone */
    uid_t uid;
    const char *method; /* from the method table */
    cJSON *id;
    struct rpc_req *next;
};

struct client {
    struct rpc_server *srv;
    struct rpc_conn *conn;
    uid_t uid;
    bool refused; /* over its uid's connection cap: told so, then closed */
    bool subscribed;
    char *key; /* subscribed to one VM only */
    struct rpc_req *requests;
    int inflight;
    struct event *idle;
    struct client *next;
};

struct rpc_server {
    struct event_base *base;
    struct evconnlistener *listener;
    const struct rpc_method *methods;
    size_t nmethods;
    struct rpc_server_ops ops;
    void *arg;
    struct client *clients;
    void (*drained)(void *);
    void *drained_arg;
    struct event *drain_timer;
    struct event *accept_retry;
    bool accept_starved; /* logged once per episode */
};

static void client_remove(struct rpc_server *srv, struct client *cl)
{
    for (struct client **pp = &srv->clients; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    }
    for (struct rpc_req *r = cl->requests; r != NULL; r = r->next)
        r->cl = NULL;
    rpc_conn_free(cl->conn);
    if (cl->idle != NULL)
        event_free(cl->idle);
    free(cl->key);
    free(cl);
    if (srv->drained != NULL && srv->clients == NULL) {
        void (*done)(void *) = srv->drained;
        srv->drained = NULL;
        done(srv->drained_arg);
    }
}

/* Takes req off its client's list, the client (or NULL when it has gone)
 * then answers it. */
static struct client *req_unlink(struct rpc_req *req)
{
    struct client *cl = req->cl;

    if (cl == NULL)
        return NULL;
    for (struct rpc_req **pp = &cl->requests; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == req) {
            *pp = req->next;
            break;
        }
    }
    if (cl->inflight-- == RPC_MAX_INFLIGHT)
        rpc_conn_hold(cl->conn, false);
    return cl;
}

void rpc_req_done_raw(void *arg, const char *result, size_t len, const struct cerr *e)
{
    struct rpc_req *req = arg;
    struct client *cl = req_unlink(req);

    if (cl != NULL && e != NULL)
        rpc_conn_reply_error(cl->conn, req->id, e);
    else if (cl != NULL)
        rpc_conn_reply_raw(cl->conn, req->id, result, len);
    cJSON_Delete(req->id);
    free(req);
}

void rpc_req_done(void *arg, cJSON *result, const struct cerr *e)
{
    struct rpc_req *req = arg;
    struct client *cl = req_unlink(req);

    if (cl != NULL) {
        if (e != NULL)
            rpc_conn_reply_error(cl->conn, req->id, e);
        else {
            rpc_conn_reply(cl->conn, req->id, result ? result : json_obj());
            result = NULL;
        }
    }
    cJSON_Delete(result);
    cJSON_Delete(req->id);
    free(req);
}

void rpc_req_upgrade(struct rpc_req *req, cJSON *result, rpc_upgrade_cb cb, void *arg)
{
    struct rpc_conn *conn = req->cl != NULL ? req->cl->conn : NULL;

    rpc_req_done(req, result, NULL);
    if (conn == NULL)
        cb(NULL, arg);
    else
        rpc_conn_upgrade(conn, cb, arg);
}

uid_t rpc_req_uid(const struct rpc_req *req)
{
    return req->uid;
}

const char *rpc_req_method(const struct rpc_req *req)
{
    return req->method;
}

void rpc_req_subscribe(struct rpc_req *req, const char *key)
{
    if (req->cl == NULL)
        return;
    req->cl->subscribed = true;
    free(req->cl->key);
    req->cl->key = key ? xstrdup(key) : NULL;
}

static void idle_arm(struct client *cl)
{
    struct timeval tv = {RPC_IDLE_TIMEOUT_MS / 1000, (RPC_IDLE_TIMEOUT_MS % 1000) * 1000};

    if (cl->idle != NULL && evtimer_add(cl->idle, &tv) < 0)
        log_err("cannot arm the idle timer of a client of uid %ld", (long)cl->uid);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *cl = arg;
    struct cerr e;

    (void)fd;
    (void)what;
    /* Following events or waiting for an answer is not idling. */
    if (cl->subscribed || cl->requests != NULL) {
        idle_arm(cl);
        return;
    }
    log_info("closing an idle connection of uid %ld", (long)cl->uid);
    cerr_set(&e, CE_TIMEOUT, "connection idle for %d s without a request: closed",
             RPC_IDLE_TIMEOUT_MS / 1000);
    rpc_conn_reply_error(cl->conn, NULL, &e);
    rpc_conn_close_after_flush(cl->conn);
}

static void on_message(struct rpc_conn *c, const cJSON *msg, void *arg)
{
    struct client *cl = arg;
    struct rpc_server *srv = cl->srv;
    uid_t uid = rpc_conn_peer_uid(c);
    struct rpc_msg m;
    struct cerr e;

    if (rpc_classify(msg, &m, &e) < 0 || m.kind != RPC_KIND_REQUEST)
        return; /* notifications from clients mean nothing */
    idle_arm(cl);
    for (size_t i = 0; i < srv->nmethods; i++) {
        const struct rpc_method *me = &srv->methods[i];
        struct rpc_req *req;

        if (strcmp(me->name, m.method) != 0)
            continue;
        if (srv->ops.authorize != NULL && srv->ops.authorize(uid, me, m.params, &e, srv->arg) < 0) {
            log_warn_code(cerr_name(e.code), "refused %s from uid %ld: %s", m.method, (long)uid,
                          e.msg);
            rpc_conn_reply_error(c, m.id, &e);
            return;
        }
        req = xcalloc(1, sizeof(*req));
        req->cl = cl;
        req->uid = uid;
        req->method = me->name;
        req->id = json_dup(m.id);
        req->next = cl->requests;
        cl->requests = req;
        cl->inflight++;
        me->fn(req, m.params, srv->arg);
        /* More requests wait in the socket until one of these is done. */
        if (cl->inflight >= RPC_MAX_INFLIGHT)
            rpc_conn_hold(c, true);
        return;
    }
    cerr_set(&e, CE_NO_METHOD, "unknown method '%.64s'", m.method);
    rpc_conn_reply_error(c, m.id, &e);
}

static void on_close(struct rpc_conn *c, const char *why, void *arg)
{
    struct client *cl = arg;

    (void)c;
    log_debug("client left: %s", why);
    client_remove(cl->srv, cl);
}

static int connections_of(const struct rpc_server *srv, uid_t uid)
{
    int n = 0;

    for (const struct client *cl = srv->clients; cl != NULL; cl = cl->next)
        n += cl->uid == uid && !cl->refused;
    return n;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    struct rpc_server *srv = arg;
    struct client *cl = xcalloc(1, sizeof(*cl));

    (void)l;
    (void)sa;
    (void)socklen;
    if (srv->accept_starved) {
        log_info("accepting connections again");
        srv->accept_starved = false;
    }
    cl->srv = srv;
    cl->conn = rpc_conn_new(srv->base, fd, on_message, on_close, cl);
    if (cl->conn == NULL) {
        log_err("cannot set up a client connection");
        free(cl);
        return;
    }
    cl->uid = rpc_conn_peer_uid(cl->conn);
    if (srv->ops.admit != NULL && !srv->ops.admit(cl->uid, rpc_conn_peer_pid(cl->conn), srv->arg)) {
        log_warn("refused a connection from uid %ld pid %ld", (long)cl->uid,
                 (long)rpc_conn_peer_pid(cl->conn));
        rpc_conn_free(cl->conn);
        free(cl);
        return;
    }
    if (cl->uid != 0)
        rpc_conn_set_backpressure(cl->conn, RPC_CLIENT_PAUSE_OUTPUT, RPC_CLIENT_MAX_OUTPUT);
    else
        rpc_conn_set_backpressure(cl->conn, RPC_CLIENT_PAUSE_OUTPUT, RPC_MAX_OUTPUT);
    cl->next = srv->clients;
    srv->clients = cl;
    if (cl->uid != 0 && connections_of(srv, cl->uid) > RPC_MAX_CONNS_PER_UID) {
        struct cerr e;
        /* Told why in a line it can read, then closed; it holds nothing
         * meanwhile and does not count. */
        cl->refused = true;
        log_warn("refused a connection from uid %ld: it has %d open already", (long)cl->uid,
                 RPC_MAX_CONNS_PER_UID);
        cerr_set(&e, CE_BUSY,
                 "too many connections: uid %ld has %d open, the most one user may; close some "
                 "and try again",
                 (long)cl->uid, RPC_MAX_CONNS_PER_UID);
        rpc_conn_reply_error(cl->conn, NULL, &e);
        rpc_conn_close_after_flush(cl->conn);
        return;
    }
    cl->idle = evtimer_new(srv->base, idle_cb, cl);
    if (cl->idle == NULL)
        log_err("cannot create the idle timer of a client of uid %ld", (long)cl->uid);
    idle_arm(cl);
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_server *srv = arg;

    (void)fd;
    (void)what;
    if (srv->listener != NULL && evconnlistener_enable(srv->listener) < 0)
        log_err("cannot accept connections again");
}

/* accept() failing for want of descriptors or memory would fail again at
 * once, with the connection still queued: accepting waits a moment instead
 * of spinning, and the loop serves the clients it has meanwhile. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct rpc_server *srv = arg;
    struct timeval tv = {RPC_ACCEPT_RETRY_MS / 1000, (RPC_ACCEPT_RETRY_MS % 1000) * 1000};
    int err = EVUTIL_SOCKET_ERROR();

    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        log_warn("cannot accept a connection: %s", strerror(err));
        return;
    }
    if (!srv->accept_starved)
        log_err("cannot accept connections: %s; trying again every %d ms until some close",
                strerror(err), RPC_ACCEPT_RETRY_MS);
    srv->accept_starved = true;
    if (evconnlistener_disable(l) < 0 || evtimer_add(srv->accept_retry, &tv) < 0)
        log_err("cannot pause accepting connections");
}

struct rpc_server *rpc_server_new(struct event_base *base, int listen_fd,
                                  const struct rpc_method *methods, size_t nmethods,
                                  const struct rpc_server_ops *ops, void *arg, struct cerr *e)
{
    struct rpc_server *srv = xcalloc(1, sizeof(*srv));

    srv->base = base;
    srv->methods = methods;
    srv->nmethods = nmethods;
    if (ops != NULL)
        srv->ops = *ops;
    srv->arg = arg;
    srv->accept_retry = evtimer_new(base, accept_retry_cb, srv);
    if (srv->accept_retry == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot create the accept retry timer");
        close(listen_fd);
        free(srv);
        return NULL;
    }
    srv->listener = evconnlistener_new(base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE, -1, listen_fd);
    if (srv->listener == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot serve the listening socket");
        event_free(srv->accept_retry);
        close(listen_fd);
        free(srv);
        return NULL;
    }
    evconnlistener_set_error_cb(srv->listener, on_accept_error);
    return srv;
}

static int broadcast(struct rpc_server *srv, const char *key, const char *method, cJSON *params,
                     bool last)
{
    cJSON *n = rpc_notification(method, params);
    int sent = 0;

    for (struct client *cl = srv->clients; cl != NULL; cl = cl->next) {
        if (!cl->subscribed)
            continue;
        if (cl->key != NULL && (key == NULL || strcmp(cl->key, key) != 0))
            continue;
        if (rpc_conn_send(cl->conn, n) == 0)
            sent++;
        if (last && cl->key != NULL) {
            cl->subscribed = false;
            free(cl->key);
            cl->key = NULL;
        }
    }
    cJSON_Delete(n);
    return sent;
}

int rpc_server_broadcast(struct rpc_server *srv, const char *key, const char *method, cJSON *params)
{
    return broadcast(srv, key, method, params, false);
}

int rpc_server_end_subscriptions(struct rpc_server *srv, const char *key, const char *method,
                                 cJSON *params)
{
    return broadcast(srv, key, method, params, true);
}

static void drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_server *srv = arg;
    void (*done)(void *) = srv->drained;

    (void)fd;
    (void)what;
    if (done == NULL)
        return;
    srv->drained = NULL;
    done(srv->drained_arg);
}

void rpc_server_drain(struct rpc_server *srv, void (*done)(void *), void *arg)
{
    struct timeval tv = {DRAIN_GRACE_MS / 1000, (DRAIN_GRACE_MS % 1000) * 1000};

    if (srv->listener != NULL) {
        evconnlistener_free(srv->listener);
        srv->listener = NULL;
    }
    evtimer_del(srv->accept_retry);
    if (srv->clients == NULL) {
        done(arg);
        return;
    }
    srv->drained = done;
    srv->drained_arg = arg;
    for (struct client *cl = srv->clients; cl != NULL; cl = cl->next)
        rpc_conn_close_after_flush(cl->conn);
    srv->drain_timer = evtimer_new(srv->base, drain_timeout, srv);
    if (srv->drain_timer == NULL || evtimer_add(srv->drain_timer, &tv) < 0)
        log_err("cannot arm the drain timer");
}

void rpc_server_free(struct rpc_server *srv)
{
    if (srv == NULL)
        return;
    srv->drained = NULL;
    while (srv->clients != NULL)
        client_remove(srv, srv->clients);
    if (srv->listener != NULL)
        evconnlistener_free(srv->listener);
    if (srv->drain_timer != NULL)
        event_free(srv->drain_timer);
    event_free(srv->accept_retry);
    free(srv);
}

cJSON *rpc_hello_result(const cJSON *params, const char *server, uid_t uid, struct cerr *e)
{
    long long version = RPC_PROTOCOL_VERSION;
    cJSON *r, *caps;

    if (rpc_param_int(params, "version", 0, 1000000, &version, e) < 0)
        return NULL;
    if (version != RPC_PROTOCOL_VERSION) {
        cerr_set(e, CE_VERSION, "client speaks protocol %lld, %s speaks %d", version, server,
                 RPC_PROTOCOL_VERSION);
        return NULL;
    }
    r = json_obj();
    caps = json_arr();
    json_arr_add(caps, json_str("events"));
    json_add_num(r, "protocol", RPC_PROTOCOL_VERSION);
    json_add_str(r, "server", server);
    json_add(r, "capabilities", caps);
    json_add_num(r, "uid", uid);
    return r;
}
