/* snapshot.list: virsh snapshot-list's selections (--from, --current,
 * --roots, --descendants), its filters (--leaves, --no-leaves, --metadata,
 * --no-metadata, --active, --inactive, --disk-only, --internal, --external)
 * and its two orders (by name, or --topological), done where libvirt does
 * them: on the server side, a page at a time (PROTOCOL.md, Paging). */
#ifndef CORRAL_SNAPSHOT_LIST_H
#define CORRAL_SNAPSHOT_LIST_H

#include <cjson/cJSON.h>

#include "supervisor/snapshot_ops.h"

/* Most snapshots one page holds (the limit param's maximum and default);
 * a page also ends before it passes JSON_SIZE_PAGE_BUDGET bytes. */
#define SNAPLIST_PAGE_MAX 1000

/* One page of the listing, from after's cursor on.  Completes through cb exactly once, before
 * returning. */
void snaplist_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

#endif
