/* JSON-RPC 2.0 message meaning: building, classifying and reading
 * parameters.  Transport lives in proto/conn.c (event loop) and
 * proto/client.c (blocking). */
#ifndef CORRAL_RPC_H
#define CORRAL_RPC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/json.h"

#define RPC_PROTOCOL_VERSION 1
/* Largest message, newline included, either side accepts. */
#define RPC_MAX_MESSAGE JSON_MAX_TEXT
/* Largest backlog of unsent output before a peer that does not read is
 * dropped: root's connections (the broker's to supervisors, whose report
 * resends come in bursts).  Other users' clients get less (proto/server.h). */
#define RPC_MAX_OUTPUT (16 * 1024 * 1024)

enum rpc_kind { RPC_KIND_REQUEST, RPC_KIND_NOTIFICATION, RPC_KIND_RESPONSE };

/* A classified message; every pointer borrows from the cJSON it came from. */
struct rpc_msg {
    enum rpc_kind kind;
    const char *method;  /* requests and notifications */
    const cJSON *params; /* object or NULL */
    const cJSON *id;     /* requests and responses */
    const cJSON *result; /* successful responses */
    const cJSON *error;  /* failed responses */
};

/* Checks that msg is a JSON-RPC 2.0 request, notification or response;
 * fills out on success, sets e (CE_INVALID_REQUEST) otherwise. */
int rpc_classify(const cJSON *msg, struct rpc_msg *out, struct cerr *e);

/* Builders return a new object the caller owns; params/result are consumed
 * (may be NULL). */
cJSON *rpc_request(const char *method, cJSON *params, long long id);
cJSON *rpc_notification(const char *method, cJSON *params);
cJSON *rpc_result(const cJSON *id, cJSON *result);
cJSON *rpc_error(const cJSON *id, enum corral_err code, const char *msg);
cJSON *rpc_error_cerr(const cJSON *id, const struct cerr *e);
/* Turns a response's error member back into a cerr. */
void rpc_error_to_cerr(const cJSON *error, struct cerr *e);

/* One line of wire data with its newline; malloc'd, caller frees.  NULL with e
 * set when the message would exceed RPC_MAX_MESSAGE. */
char *rpc_serialize(const cJSON *msg, size_t *len, struct cerr *e);
/* The line of a success reply to id (borrowed; NULL: null) whose result
 * is the text of one well-formed JSON value, result (len bytes), copied as
 * it is; its length with the newline in *n.  malloc'd, caller frees; NULL
 * with e set as rpc_serialize. */
char *rpc_result_line(const cJSON *id, const char *result, size_t len, size_t *n, struct cerr *e);

/* Parameter readers: a missing optional parameter leaves *out as given;
 * a wrong type or a missing required one sets e (CE_INVALID_PARAMS). */
int rpc_param_string(const cJSON *params, const char *key, bool required, const char **out,
                     struct cerr *e);
int rpc_param_bool(const cJSON *params, const char *key, bool *out, struct cerr *e);
int rpc_param_int(const cJSON *params, const char *key, long long min, long long max,
                  long long *out, struct cerr *e);

#endif
