/* snapshot-check: every difference between the metadata and what the
 * disks hold.  Recovery compares the same way. */
#ifndef CORRAL_SNAPSHOT_CHECK_H
#define CORRAL_SNAPSHOT_CHECK_H

#include <cjson/cJSON.h>

#include "supervisor/snapshot_core.h"

/* Appends to reports (unjournalled objects) every difference between the
 * metadata and what l says the disks hold. */
void snapcheck_differences(const struct snapops *so, const struct disks *ds,
                           const struct snapshot_qmp_nodes *l, cJSON *reports);
/* Most reports one page of snapshot.check holds (limit's maximum and
 * default); a page also ends before JSON_SIZE_PAGE_BUDGET bytes. */
#define SNAPCHECK_PAGE_MAX 1000

/* The verb, a page of its reports at a time; completes through cb exactly once (maybe before
 * returning). */
void snapcheck_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

#endif
