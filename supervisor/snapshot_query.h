/* The snapshot verbs that work on the metadata: info, dumpxml,
 * current, parent and redefine.  Only info asks QEMU (for the size of the
 * saved VM state).  Each completes through cb exactly once (maybe before
 * returning). */
#ifndef CORRAL_SNAPSHOT_QUERY_H
#define CORRAL_SNAPSHOT_QUERY_H

#include <cjson/cJSON.h>

#include "supervisor/snapshot_ops.h"

void snapquery_info(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapquery_dumpxml(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapquery_current(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapquery_parent(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapquery_redefine(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

#endif
