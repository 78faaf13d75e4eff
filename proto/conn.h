/* Newline-delimited JSON-RPC over a non-blocking Unix stream socket on a
 * libevent loop, with bounded input and output buffers.  Used by the broker
 * (clients, supervisors) and the supervisor (its control socket). */
#ifndef CORRAL_CONN_H
#define CORRAL_CONN_H

#include <cjson/cJSON.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

struct rpc_conn;

/* A request or notification arrived; msg is borrowed for the call. */
typedef void (*rpc_message_cb)(struct rpc_conn *c, const cJSON *msg, void *arg);
/* The peer went away or was dropped; the callback must rpc_conn_free(c). */
typedef void (*rpc_close_cb)(struct rpc_conn *c, const char *why, void *arg);
/* Reply to rpc_conn_call: result on success, or NULL with e set (the
 * peer's error, CE_TIMEOUT, or CE_SUPERVISOR when the connection closed). */
typedef void (*rpc_reply_cb)(const cJSON *result, const struct cerr *e, void *arg);
/* Reply to rpc_conn_call_raw: result is the text of one well-formed JSON
 * value (len bytes, not NUL-terminated, borrowed for the call), or NULL
 * with e set as for rpc_reply_cb. */
typedef void (*rpc_raw_reply_cb)(const char *result, size_t len, const struct cerr *e, void *arg);

/* Takes ownership of fd.  Returns NULL only on allocation failure. */
struct rpc_conn *rpc_conn_new(struct event_base *base, int fd, rpc_message_cb on_msg,
                              rpc_close_cb on_close, void *arg);
/* Fails pending calls with CE_SUPERVISOR, closes the socket, frees c. */
void rpc_conn_free(struct rpc_conn *c);
/* Queues msg (borrowed).  Returns -1 when the peer has stopped reading and
 * the output cap is reached: the connection is then closed via on_close. */
int rpc_conn_send(struct rpc_conn *c, const cJSON *msg);
/* Convenience replies to request id (borrowed). */
int rpc_conn_reply(struct rpc_conn *c, const cJSON *id, cJSON *result);
int rpc_conn_reply_error(struct rpc_conn *c, const cJSON *id, const struct cerr *e);
/* A reply to id whose result is the text of one well-formed JSON value
 * (len bytes, borrowed), sent as it is; a CE_TOO_LARGE error instead when
 * the line would pass RPC_MAX_MESSAGE. */
int rpc_conn_reply_raw(struct rpc_conn *c, const cJSON *id, const char *result, size_t len);
/* Sends a request and calls cb exactly once with its reply; timeout_ms 0
 * means no timeout.  params are consumed. */
void rpc_conn_call(struct rpc_conn *c, const char *method, cJSON *params, int timeout_ms,
                   rpc_reply_cb cb, void *cbarg);
/* As rpc_conn_call, for a result only passed on: a well-formed success
 * reaches cb as the bytes the peer sent, unparsed (conn.c, relay_raw). */
void rpc_conn_call_raw(struct rpc_conn *c, const char *method, cJSON *params, int timeout_ms,
                       rpc_raw_reply_cb cb, void *cbarg);
/* Whether c has failed or is closing.  A call that fails with CE_SUPERVISOR
 * while it is failed because of the connection itself; one that fails on a
 * live connection carries the peer's own error. */
bool rpc_conn_dead(const struct rpc_conn *c);
/* Server side of a connection: reading stops while more than pause_at bytes
 * of output wait for the peer, and starts again once they have gone; the
 * connection is dropped when the backlog passes max_output.  A client that
 * pipelines requests without reading the replies is thus slowed down, not
 * buffered for; a subscriber that does not read its events is dropped. */
void rpc_conn_set_backpressure(struct rpc_conn *c, size_t pause_at, size_t max_output);
/* Stops (hold) or resumes reading messages, as the owner decides (too many
 * requests in flight); input already buffered waits. */
void rpc_conn_hold(struct rpc_conn *c, bool hold);
/* Gets the socket of an upgraded connection (below), taken; NULL when the
 * connection failed before it could be handed over. */
typedef void (*rpc_upgrade_cb)(struct bufferevent *bev, void *arg);
/* Turns c into a raw byte stream (PROTOCOL.md, "Byte streams"): parsing
 * stops at once, and from the loop cb gets the socket's bufferevent, with
 * the bytes read but not parsed still in its input, what was queued still
 * in its output, no callbacks or watermarks, and reading and writing
 * disabled until the new owner enables them; then on_close runs as
 * for any end of c (why: "upgraded to a byte stream") and its owner frees
 * c.  cb runs exactly once, with NULL if c fails or is freed first. */
void rpc_conn_upgrade(struct rpc_conn *c, rpc_upgrade_cb cb, void *arg);
/* Stops reading and closes once the output is flushed. */
void rpc_conn_close_after_flush(struct rpc_conn *c);
/* Peer credentials from SO_PEERCRED, read once at creation. */
uid_t rpc_conn_peer_uid(const struct rpc_conn *c);
pid_t rpc_conn_peer_pid(const struct rpc_conn *c);
void rpc_conn_set_arg(struct rpc_conn *c, void *arg);

#endif
