/* Supervisors as the broker sees them: spawning one per start, watching it
 * with a pidfd, reading its start-up status, keeping a connection to its
 * control socket for forwarding and events, and settling the VM's state
 * when it goes away (supervise.c); replacing one that died while its QEMU
 * runs on (readopt.c); re-attaching after a broker restart (adopt.c) and
 * clearing what no VM owns (leftovers.c). */
#ifndef CORRAL_SUPERVISE_H
#define CORRAL_SUPERVISE_H

#include "broker/registry.h"

/* Starts vm's supervisor; req (an rpc_req) is completed when the guest runs
 * or start-up failed. */
void supervise_start(struct bvm *vm, void *req);
/* At the broker's start: re-attaches to the supervisors a previous broker
 * started, found from their run records (one whose supervisor is gone gets
 * a new one for its QEMU), then kills what no VM owns in the run
 * directory.  Re-attachments go on in the event loop (broker.adopting). */
void supervise_adopt_all(struct broker *b);
/* Forwards a per-VM request to the running supervisor and completes req
 * with its reply. */
void supervise_forward(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                       void *req);
/* Runs a snapshot request on a shut-off VM through a maintenance
 * supervisor, started on demand and stopped when idle. */
void supervise_maintenance(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                           void *req);
/* Destroys a degraded VM's unmanaged QEMU: SIGTERM, then SIGKILL. */
void supervise_destroy_degraded(struct bvm *vm, void *req);
/* vm's supervisor has exited: reaps it when it is the broker's child and
 * settles the VM.  Returns whether it reaped it. */
bool supervise_reap(struct bvm *vm);
/* Releases every handle without touching the processes (broker exit). */
void supervise_release(struct bvm *vm);

#endif
