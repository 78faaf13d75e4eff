/* Conversion of a VM's state directory from the layout before vm/ (see
 * broker/vm_dirs.h), at the broker's start or, for a VM whose supervisor ran
 * across the upgrade, once it has stopped. */
#ifndef CORRAL_VM_MIGRATE_H
#define CORRAL_VM_MIGRATE_H

#include <stdbool.h>

#include "broker/registry.h"

/* Whether STATE/vms/NAME (dir) is, even in part, in the old layout: not
 * root's, no vm/, or a file of the supervisor's beside the broker's. */
bool vm_migrate_needed(const char *dir);
/* Converts dir (STATE/vms/NAME of the VM name).  Only for a VM no
 * supervisor runs for. */
int vm_migrate(const struct broker *b, const char *dir, const char *name, struct cerr *e);
/* Migrates vm if it was left in the old layout (vm->old_layout) while its
 * supervisor ran, and points vm->vm_dir at vm/. */
int vm_migrate_stopped(struct bvm *vm, struct cerr *e);

#endif
