#include "proto/server.h"

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
    bool subscribed;
    char *filter; /* subscribed to one VM only */
    struct rpc_req *requests;
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
    free(cl->filter);
    free(cl);
    if (srv->drained != NULL && srv->clients == NULL) {
        void (*done)(void *) = srv->drained;
        srv->drained = NULL;
        done(srv->drained_arg);
    }
}

void rpc_req_done(void *arg, cJSON *result, const struct cerr *e)
{
    struct rpc_req *req = arg;
    struct client *cl = req->cl;

    if (cl != NULL) {
        for (struct rpc_req **pp = &cl->requests; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == req) {
                *pp = req->next;
                break;
            }
        }
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

uid_t rpc_req_uid(const struct rpc_req *req)
{
    return req->uid;
}

const char *rpc_req_method(const struct rpc_req *req)
{
    return req->method;
}

void rpc_req_subscribe(struct rpc_req *req, const char *name)
{
    if (req->cl == NULL)
        return;
    req->cl->subscribed = true;
    free(req->cl->filter);
    req->cl->filter = name ? xstrdup(name) : NULL;
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
    for (size_t i = 0; i < srv->nmethods; i++) {
        const struct rpc_method *me = &srv->methods[i];
        struct rpc_req *req;

        if (strcmp(me->name, m.method) != 0)
            continue;
        if (srv->ops.authorize != NULL && srv->ops.authorize(uid, me, m.params, &e, srv->arg) < 0) {
            log_warn("refused %s from uid %ld: %s", m.method, (long)uid, e.msg);
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
        me->fn(req, m.params, srv->arg);
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

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    struct rpc_server *srv = arg;
    struct client *cl = xcalloc(1, sizeof(*cl));

    (void)l;
    (void)sa;
    (void)socklen;
    cl->srv = srv;
    cl->conn = rpc_conn_new(srv->base, fd, on_message, on_close, cl);
    if (cl->conn == NULL) {
        log_err("cannot set up a client connection");
        free(cl);
        return;
    }
    if (srv->ops.admit != NULL &&
        !srv->ops.admit(rpc_conn_peer_uid(cl->conn), rpc_conn_peer_pid(cl->conn), srv->arg)) {
        log_warn("refused a connection from uid %ld pid %ld", (long)rpc_conn_peer_uid(cl->conn),
                 (long)rpc_conn_peer_pid(cl->conn));
        rpc_conn_free(cl->conn);
        free(cl);
        return;
    }
    cl->next = srv->clients;
    srv->clients = cl;
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
    srv->listener = evconnlistener_new(base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE, -1, listen_fd);
    if (srv->listener == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot serve the listening socket");
        close(listen_fd);
        free(srv);
        return NULL;
    }
    return srv;
}

int rpc_server_broadcast(struct rpc_server *srv, const char *vm, const char *method, cJSON *params)
{
    cJSON *n = rpc_notification(method, params);
    int sent = 0;

    for (struct client *cl = srv->clients; cl != NULL; cl = cl->next) {
        if (!cl->subscribed)
            continue;
        if (cl->filter != NULL && (vm == NULL || strcmp(cl->filter, vm) != 0))
            continue;
        if (rpc_conn_send(cl->conn, n) == 0)
            sent++;
    }
    cJSON_Delete(n);
    return sent;
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
