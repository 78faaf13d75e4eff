/* Blocking JSON-RPC client for corralctl and the tests' tools. */
#ifndef CORRAL_CLIENT_H
#define CORRAL_CLIENT_H

#include <cjson/cJSON.h>

#include "common/error.h"

struct rpc_client;

/* Called for each notification that arrives while waiting for a reply;
 * msg is borrowed. */
typedef void (*rpc_client_notify_cb)(const cJSON *msg, void *arg);

/* A connected Unix stream socket (close-on-exec) to path, or -1 with e set. */
int rpc_client_unix_socket(const char *path, struct cerr *e);
/* A client on fd, a connected stream socket it takes (rpc_client_close
 * closes it). */
struct rpc_client *rpc_client_new(int fd);
/* rpc_client_unix_socket then rpc_client_new. */
struct rpc_client *rpc_client_connect(const char *path, struct cerr *e);
void rpc_client_close(struct rpc_client *c);
/* For a connection upgraded to a byte stream (vm.console): frees c and
 * returns its socket (taken by the caller), with the bytes c had read past
 * the last reply in *rest (caller frees, may be NULL when *restlen is 0). */
int rpc_client_release(struct rpc_client *c, char **rest, size_t *restlen);
void rpc_client_on_notify(struct rpc_client *c, rpc_client_notify_cb cb, void *arg);
/* Sends a request (params consumed) and waits up to timeout_ms (-1: no limit)
 * for its reply.  Returns the result, which the caller frees with
 * cJSON_Delete, or NULL with e set from the error reply or the failure. */
cJSON *rpc_client_call(struct rpc_client *c, const char *method, cJSON *params, int timeout_ms,
                       struct cerr *e);
/* Waits for the next message of any kind; caller frees it.  NULL with e set
 * on timeout (CE_TIMEOUT) or when the peer closed (CE_SUPERVISOR). */
cJSON *rpc_client_next(struct rpc_client *c, int timeout_ms, struct cerr *e);

#endif
