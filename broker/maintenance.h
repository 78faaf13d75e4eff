/* Snapshot work on a shut-off VM through a maintenance supervisor
 * (LIFECYCLE_MAINT_*), started on demand and stopped when idle. */
#ifndef CORRAL_MAINTENANCE_H
#define CORRAL_MAINTENANCE_H

#include <cjson/cJSON.h>

#include "broker/registry.h"
#include "common/error.h"

/* Runs a snapshot request on shut-off vm; completes req (an rpc_req). */
void maintenance_request(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                         void *req);
/* A start (req) waits for the maintenance QEMU to let go of the disks. */
void maintenance_wait_start(struct bvm *vm, void *req);
/* Tells the maintenance supervisor to stop now. */
void maintenance_stop(struct bvm *vm);
/* Its status line said it runs (info: what it said). */
void maintenance_ready(struct bvm *vm, const cJSON *info);
/* The VM finished starting (e: why it failed, else NULL): a revert that
 * waited for it goes to its supervisor. */
void maintenance_started(struct bvm *vm, const struct cerr *e);
/* Fails every queued request with e, and a revert waiting for a start. */
void maintenance_fail_queue(struct bvm *vm, const struct cerr *e);
/* The maintenance supervisor is gone (how: "exited"...): what waited for
 * it goes on, a start first. */
void maintenance_gone(struct bvm *vm, const char *how);

#endif
