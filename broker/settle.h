/* Requests held until a VM has settled shut off.  A supervisor answers
 * vm.destroy (and a vm.shutdown that waited) when QEMU has gone, moments
 * before it exits itself; until the broker has reaped it, given its disks
 * back and moved the VM to LIFECYCLE_OFF, a start or an undefine would be
 * refused.  So the answer waits here for spawn_finish, or for a timeout.
 * An undefine of a VM whose disks a maintenance supervisor holds waits
 * the same way, and then runs. */
#ifndef CORRAL_SETTLE_H
#define CORRAL_SETTLE_H

#include <cjson/cJSON.h>

#include "common/error.h"

struct broker;
struct bvm;

/* Runs a held request again once its VM has settled, from the event loop
 * (the VM may have been undefined meanwhile: looked up by name).  params
 * are borrowed for the call. */
typedef void (*settle_then_fn)(struct broker *b, const char *name, void *req, const cJSON *params);

/* How long a supervisor has to exit after it said its QEMU had gone. */
#define SETTLE_TIMEOUT_MS 30000

/* Holds req (an rpc_req) until vm is settled; result (consumed, may be
 * NULL) is what it is answered with, its state and reason then the
 * broker's. */
void settle_wait(struct bvm *vm, void *req, cJSON *result);
/* Holds req until vm is settled, then runs fn(req, params); params are
 * copied. */
void settle_then(struct bvm *vm, void *req, const cJSON *params, settle_then_fn fn);
/* vm has settled: every held request gets its result, or runs again. */
void settle_done(struct bvm *vm);
/* vm will not settle as expected: every held request fails with e. */
void settle_fail(struct bvm *vm, const struct cerr *e);

#endif
