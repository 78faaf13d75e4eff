/* Supervisors as the broker sees them: spawning one per start, watching it
 * with a pidfd, reading its start-up status, keeping a connection to its
 * control socket for forwarding and events, re-attaching after a broker
 * restart, and settling the VM's state when it goes away. */
#ifndef CORRAL_SUPERVISE_H
#define CORRAL_SUPERVISE_H

#include "broker/registry.h"

/* Starts vm's supervisor; req (an rpc_req) is completed when the guest runs
 * or start-up failed. */
void supervise_start(struct bvm *vm, void *req);
/* Re-attaches to a supervisor that a previous broker started, found from
 * its run record; a record whose supervisor is gone is settled as a crash. */
void supervise_adopt(struct bvm *vm);
/* Forwards a per-VM request to the running supervisor and completes req
 * with its reply. */
void supervise_forward(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                       void *req);
/* Runs a snapshot request on a shut-off VM through a maintenance
 * supervisor, started on demand and stopped when idle. */
void supervise_maintenance(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                           void *req);
/* Releases every handle without touching the processes (broker exit). */
void supervise_release(struct bvm *vm);

#endif
