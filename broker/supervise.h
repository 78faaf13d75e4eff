/* Supervisors as the broker sees them, from the top: starting one per
 * start, and settling the VM by phase when its status line arrives or it
 * is gone (supervise.c).  Below: readopt.c, maintenance.c, forward.c and
 * spawn.c; above: adopt.c (re-attaching after a broker restart). */
#ifndef CORRAL_SUPERVISE_H
#define CORRAL_SUPERVISE_H

#include "broker/registry.h"

/* Sets broker.spawn_hooks: before any supervisor is spawned or adopted. */
void supervise_init(struct broker *b);
/* Starts vm's supervisor; req (an rpc_req) is completed when the guest runs
 * or start-up failed. */
void supervise_start(struct bvm *vm, void *req);
/* The supervisor is gone (how: "killed by signal 9"...): settles the VM as
 * its phase says. */
void supervise_gone(struct bvm *vm, const char *how);

#endif
