/* The supervisor's per-VM control socket: who may connect and which
 * methods it serves (policy); proto/server.c does the serving. */
#ifndef CORRAL_CONTROL_H
#define CORRAL_CONTROL_H

#include <event2/event.h>

#include "common/error.h"
#include "proto/server.h"
#include "supervisor/vm.h"

/* Serves listen_fd (taken) for vm (borrowed, must outlive the server). */
struct rpc_server *control_serve(struct event_base *base, struct vm *vm, int listen_fd,
                                 struct cerr *e);

#endif
