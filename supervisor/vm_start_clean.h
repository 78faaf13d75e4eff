/* A start with nothing for snapshot recovery to settle.  Recovery asks QEMU
 * for every disk's snapshots (query-named-block-nodes) to settle an
 * operation cut short and to compare the disks with the metadata; a QEMU
 * that is still starting reads that command a byte at a time, 2-3 ms of
 * every start under TCG.  When no operation was under way, corral knows no
 * snapshot and no disk image holds one, there is nothing to compare, and
 * the answer is known without asking. */
#ifndef CORRAL_VM_START_CLEAN_H
#define CORRAL_VM_START_CLEAN_H

#include <stdbool.h>

#include "supervisor/snapshot_core.h"

/* True when the QEMU so's VM is starting is its own, fresh one, no
 * pending.json is left, the snapshot tree is empty and every writable
 * disk is a qcow2 image whose header counts no snapshot; what an earlier
 * check reported is then settled as resolved, as a check finding nothing
 * would.  False (nothing done) whenever recovery is to run as usual. */
bool vm_start_clean(struct snapops *so);

#endif
