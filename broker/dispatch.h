/* The broker's methods and the one table that says which permission each
 * needs; the dispatcher consults it and nothing else does. */
#ifndef CORRAL_DISPATCH_H
#define CORRAL_DISPATCH_H

#include <event2/event.h>

#include "broker/registry.h"
#include "proto/server.h"

struct rpc_server *dispatch_serve(struct broker *b, int listen_fd, struct cerr *e);

#endif
