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
 * peer of a control socket before believing it.  The layout before vm/
 * existed is converted by broker/vm_migrate.h. */
#ifndef CORRAL_VM_DIRS_H
#define CORRAL_VM_DIRS_H

#include <cjson/cJSON.h>
#include <sys/types.h>

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
 * connected fd, or -1 with errno ENOENT or ECONNREFUSED when nobody
 * listens there (a supervisor that is exiting), another errno otherwise. */
int vm_dirs_connect(const struct bvm *vm, struct cerr *e);
/* Opens the directory path without following a link as its last
 * component (its parents are root's). */
int vm_dirs_open(const char *path, struct cerr *e);
/* Opens dirfd's subdirectory sub, creating it with mode when missing;
 * never through a link.  what names it in errors. */
int vm_dirs_open_sub(int dirfd, const char *sub, mode_t mode, const char *what, struct cerr *e);
/* Gives the directory fd to uid:gid with mode, unless it has them. */
int vm_dirs_give(int fd, const char *what, uid_t uid, gid_t gid, mode_t mode, struct cerr *e);

#endif
