/* The supervisor's per-VM control socket: who may connect and which
 * methods it serves (policy); proto/server.c does the serving. */
#ifndef CORRAL_CONTROL_H
#define CORRAL_CONTROL_H

#include <event2/event.h>
#include <sys/types.h>

#include "common/error.h"
#include "proto/server.h"
#include "supervisor/snapshot_ops.h"
#include "supervisor/vm.h"

/* What the methods act on; borrowed, must outlive the server. */
struct control_ctx {
    struct vm *vm;
    struct snapops *snapops;
    uid_t owner; /* the VM's owner may use the control socket too */
    /* A client subscribed to events: hand it what nobody has seen yet. */
    void (*subscribed)(struct control_ctx *ctx);
};

/* Serves listen_fd (taken) for ctx. */
struct rpc_server *control_serve(struct event_base *base, struct control_ctx *ctx, int listen_fd,
                                 struct cerr *e);

#endif
