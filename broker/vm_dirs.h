/* A VM's directories and what the broker does in them as root.
 *
 * STATE/vms/NAME is the broker's: its records (domain.xml, owner.json,
 * identity.json, status.json, inconsistencies.jsonl) live there, owned by
 * root, and the VM's uid may only pass through it (root:VMGID 0710).  Its
 * subdirectory vm/ (bvm.vm_dir) and the run directory RUN/vm/NAME are the
 * VM uid's: the supervisor writes snapshot metadata, journal, exit facts
 * and QEMU's log in the first, its sockets and run record in the second.
 * The broker reaches both only through directory fds opened without
 * following links, reads what is there as untrusted input, and checks the
 * peer of a control socket before believing it. */
#ifndef CORRAL_VM_DIRS_H
#define CORRAL_VM_DIRS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "broker/registry.h"

/* Largest file of a VM's the broker reads from a directory its uid writes. */
#define VM_DIRS_RECORD_MAX (64 * 1024)

/* Creates vm/ and hands it and the run directory to the VM's identity (the
 * run directory's group is the owner's, who reaches the control socket
 * through it); the state directory stays root's. */
int vm_dirs_prepare(struct bvm *vm, struct cerr *e);
/* The JSON object in dir/name, a file a VM uid may have written (or
 * planted): NULL when missing, not a regular file, over max, or not an
 * object; e says which. */
cJSON *vm_dirs_read_json(const char *dir, const char *name, size_t max, struct cerr *e);
/* Connects to vm's control socket without blocking and checks that its
 * peer is vm's supervisor (pid vm->sup_pid, the VM's uid); returns the
 * connected fd. */
int vm_dirs_connect(const struct bvm *vm, struct cerr *e);
/* Whether STATE/vms/NAME (dir) is in the layout before vm/ existed: the
 * whole tree the VM uid's, the supervisor's files next to the broker's. */
bool vm_dirs_old_layout(const char *dir);
/* Converts dir (STATE/vms/NAME of the VM name) to the current layout:
 * takes it back for root, keeps the broker's records as root-owned copies
 * after checking them (they could have been forged), and moves everything
 * else into vm/.  Only for a VM no supervisor runs for. */
int vm_dirs_migrate(const struct broker *b, const char *dir, const char *name, struct cerr *e);
/* A VM left in the old layout while its supervisor ran (vm->old_layout) is
 * migrated once it has stopped. */
void vm_dirs_migrate_stopped(struct bvm *vm);

#endif
