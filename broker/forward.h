/* Requests forwarded to a VM's supervisor, answered with its reply (and
 * what only the broker knows, for vm.info and vm.sandbox). */
#ifndef CORRAL_FORWARD_H
#define CORRAL_FORWARD_H

#include <cjson/cJSON.h>

#include "broker/registry.h"

/* Forwards method to vm's supervisor and completes req (an rpc_req) with
 * its reply. */
void forward_call(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                  void *req);

#endif
