#ifndef CORRAL_SNAPSHOT_DELETE_H
#define CORRAL_SNAPSHOT_DELETE_H

#include <cjson/cJSON.h>

#include "supervisor/snapshot_ops.h"

/* snapshot-delete (with children, children only, metadata only, --force):
 * per snapshot, compare metadata with what the disks hold, report the
 * differences, delete where QEMU holds the tag, remove the metadata.
 * Completes through cb exactly once (maybe before returning). */
void snapdelete_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

#endif
