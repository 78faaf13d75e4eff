#ifndef CORRAL_SNAPSHOT_REVERT_H
#define CORRAL_SNAPSHOT_REVERT_H

#include <cjson/cJSON.h>

#include "supervisor/snapshot_ops.h"

/* snapshot-revert: check every disk holds the snapshot (and the VM state
 * when it is needed), load it, mark it current, bring the run state to the
 * snapshot's.  Completes through cb exactly once (maybe before
 * returning). */
void snaprevert_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

#endif
