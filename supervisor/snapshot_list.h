/* snapshot.list: virsh snapshot-list's selections (--from, --current,
 * --roots, --descendants), its filters (--leaves, --no-leaves, --metadata,
 * --no-metadata, --active, --inactive, --disk-only, --internal, --external)
 * and its two orders (by name, or --topological), done where libvirt does
 * them: on the server side. */
#ifndef CORRAL_SNAPSHOT_LIST_H
#define CORRAL_SNAPSHOT_LIST_H

#include <cjson/cJSON.h>

#include "supervisor/snapshot_ops.h"

/* Completes through cb exactly once, before returning. */
void snaplist_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

#endif
