/* A JSON-RPC server on a listening Unix socket: accepts clients, checks
 * each against the owner's policy, dispatches requests through a method
 * table, keeps requests safe when their client leaves before the reply,
 * and fans events out to subscribers.  Both the broker and the supervisor
 * serve their sockets with it. */
#ifndef CORRAL_SERVER_H
#define CORRAL_SERVER_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "proto/conn.h"

/* Limits on what one client may make a server hold (PROTOCOL.md, "Limits").
 * Root is exempt from the connection cap and gets RPC_MAX_OUTPUT. */
#define RPC_MAX_CONNS_PER_UID 64
/* A connection that neither sends a request, nor follows events, nor waits
 * for a reply for this long is closed. */
#define RPC_IDLE_TIMEOUT_MS (10 * 60 * 1000)
/* Requests of one connection in flight at once; reading waits beyond it. */
#define RPC_MAX_INFLIGHT 64
/* Unread output at which reading a client's requests waits, and at which a
 * client that still does not read is dropped. */
#define RPC_CLIENT_PAUSE_OUTPUT (1024 * 1024)
#define RPC_CLIENT_MAX_OUTPUT (4 * 1024 * 1024)
/* Out of file descriptors, accepting waits this long before trying again. */
#define RPC_ACCEPT_RETRY_MS 250

struct rpc_server;
struct rpc_req;

typedef void (*rpc_method_fn)(struct rpc_req *req, const cJSON *params, void *arg);

struct rpc_method {
    const char *name;
    rpc_method_fn fn;
    unsigned perm; /* meaning is the owner's; passed to authorize */
};

struct rpc_server_ops {
    /* May this peer connect at all?  NULL admits everyone. */
    bool (*admit)(uid_t uid, pid_t pid, void *arg);
    /* May this peer call this method with these params?  Sets e on refusal.
     * NULL allows everything. */
    int (*authorize)(uid_t uid, const struct rpc_method *m, const cJSON *params, struct cerr *e,
                     void *arg);
};

/* Serves listen_fd (taken).  methods must outlive the server. */
struct rpc_server *rpc_server_new(struct event_base *base, int listen_fd,
                                  const struct rpc_method *methods, size_t nmethods,
                                  const struct rpc_server_ops *ops, void *arg, struct cerr *e);
void rpc_server_free(struct rpc_server *srv);

/* Completes a request exactly once; result is consumed.  Has the shape of
 * the supervisor's vm_done_cb so it can be passed straight through. */
void rpc_req_done(void *req, cJSON *result, const struct cerr *e);
/* As rpc_req_done, with the result as the text of one well-formed JSON
 * value (len bytes, borrowed) sent as it is: a reply relayed unparsed. */
void rpc_req_done_raw(void *req, const char *result, size_t len, const struct cerr *e);
/* Completes a request whose success turns its connection into a raw byte
 * stream (vm.console): result (consumed) is the reply, the last message
 * on it; then the client leaves the server (a subscription ends, its other
 * requests are answered nowhere) and cb gets the socket as in
 * rpc_conn_upgrade, exactly once, NULL when the client has gone (perhaps
 * before this returns). */
void rpc_req_upgrade(struct rpc_req *req, cJSON *result, rpc_upgrade_cb cb, void *arg);
uid_t rpc_req_uid(const struct rpc_req *req);
const char *rpc_req_method(const struct rpc_req *req);
/* Subscribes the request's client to events, for one VM or all (key NULL).
 * key is whatever the owner broadcasts with: the broker uses the VM's uuid,
 * so that a subscription follows the VM, never a name reused later. */
void rpc_req_subscribe(struct rpc_req *req, const char *key);

/* Answers `hello` the same way on every socket: checks the client's
 * protocol version and returns the result object (caller owns it), or NULL
 * with e set (CE_VERSION, CE_INVALID_PARAMS). */
cJSON *rpc_hello_result(const cJSON *params, const char *server, uid_t uid, struct cerr *e);

/* Sends a notification (params consumed) to every subscriber whose key
 * matches key (NULL matches only unfiltered subscribers); returns how many
 * it was sent to. */
int rpc_server_broadcast(struct rpc_server *srv, const char *key, const char *method,
                         cJSON *params);
/* The VM of key is gone: broadcasts this last notification (params
 * consumed) like rpc_server_broadcast, then ends every subscription to key
 * alone (unfiltered ones go on).  Returns how many it was sent to. */
int rpc_server_end_subscriptions(struct rpc_server *srv, const char *key, const char *method,
                                 cJSON *params);
/* Stops accepting and closes clients once their output is flushed; done
 * runs when all are gone or after a grace period. */
void rpc_server_drain(struct rpc_server *srv, void (*done)(void *), void *arg);

#endif
