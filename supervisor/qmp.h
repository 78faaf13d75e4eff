/* QMP transport: one connection to QEMU's monitor socket on the event loop.
 * Handles the greeting and capabilities negotiation, gives every command a
 * unique id and matches replies by id, and hands events to the owner.
 * What the commands mean lives in qemu_monitor.c and the callers. */
#ifndef CORRAL_QMP_H
#define CORRAL_QMP_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stddef.h>

#include "common/error.h"

/* Largest line accepted from QEMU; query-named-block-nodes on images with
 * many snapshots is the biggest reply corral asks for. */
#define QMP_MAX_LINE (16 * 1024 * 1024)

struct qmp;

/* An event from QEMU: name and data (borrowed, data may be NULL). */
typedef void (*qmp_event_cb)(const char *event, const cJSON *data, void *arg);
/* Negotiation finished: commands may flow. */
typedef void (*qmp_ready_cb)(void *arg);
/* The connection is gone (EOF, ECONNRESET, error); pending commands have
 * already been failed. */
typedef void (*qmp_closed_cb)(const char *why, void *arg);
/* A command's outcome: reply is QEMU's whole reply object (with "return"
 * or "error"), or NULL with e set when no reply came (timeout, lost
 * connection). */
typedef void (*qmp_reply_cb)(const cJSON *reply, const struct cerr *e, void *arg);
/* A relayed command's outcome: reply is the text of QEMU's reply object
 * without its "id" member (len bytes, well-formed JSON, borrowed), or NULL
 * with e set as for qmp_reply_cb. */
typedef void (*qmp_raw_reply_cb)(const char *reply, size_t len, const struct cerr *e, void *arg);

struct qmp *qmp_new(struct event_base *base, qmp_event_cb on_event, qmp_ready_cb on_ready,
                    qmp_closed_cb on_closed, void *arg);
void qmp_free(struct qmp *q);
/* Connects without blocking; -1 with errno (ENOENT, ECONNREFUSED while QEMU
 * is still starting) when the socket is not there yet. */
int qmp_connect(struct qmp *q, const char *path);
/* Sends one command (args consumed, may be NULL).  cb runs exactly once;
 * timeout_ms 0 means no limit. */
void qmp_command(struct qmp *q, const char *execute, cJSON *args, int timeout_ms, qmp_reply_cb cb,
                 void *cbarg);
/* Sends a caller-built command object (borrowed; its id is replaced). */
void qmp_command_raw(struct qmp *q, const cJSON *cmd, int timeout_ms, qmp_reply_cb cb, void *cbarg);
/* As qmp_command_raw, for a reply only passed on: it reaches cb as the
 * bytes QEMU sent, checked but not parsed (qmp.c, relay_raw). */
void qmp_command_relay(struct qmp *q, const cJSON *cmd, int timeout_ms, qmp_raw_reply_cb cb,
                       void *cbarg);
/* Converts QEMU's error reply into e (CE_QEMU_FAILED with QEMU's desc);
 * returns 0 when the reply is a success. */
int qmp_reply_check(const cJSON *reply, const char *what, struct cerr *e);
/* The reply's "return" member, or NULL. */
const cJSON *qmp_reply_return(const cJSON *reply);
int qmp_is_ready(const struct qmp *q);
/* Closes the connection now, as if QEMU had: pending commands fail and
 * on_closed runs (QEMU has exited; nothing more will come). */
void qmp_disconnect(struct qmp *q, const char *why);

#endif
