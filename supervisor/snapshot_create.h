#ifndef CORRAL_SNAPSHOT_CREATE_H
#define CORRAL_SNAPSHOT_CREATE_H

#include <cjson/cJSON.h>

#include "supervisor/snapshot_ops.h"

/* snapshot-create: check the name is free on every disk, record the intent,
 * save with QEMU, write the metadata.  Completes through cb exactly once
 * (maybe before returning). */
void snapcreate_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

#endif
