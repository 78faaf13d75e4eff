/* Per-VM runtime identities.  With a uid range configured, each VM runs its
 * supervisor and QEMU under its own uid and gid, allocated from the range and
 * recorded in STATE/vms/NAME/identity.json so that the VM keeps it.  Before a
 * start the broker hands the VM's disk images to that identity (its
 * directories: broker/vm_dirs.h); after the stop it gives the images back to
 * their previous owners, as libvirt's DAC driver does with dynamic
 * ownership, but acting on files found without following symlinks and
 * through their fds only. */
#ifndef CORRAL_IDENTITY_H
#define CORRAL_IDENTITY_H

#include "broker/registry.h"

/* Loads vm's recorded identity or allocates a free one from the range. */
int identity_assign(struct broker *b, struct bvm *vm, struct cerr *e);
/* Hands the VM's disks to its identity (its directories: broker/vm_dirs.h).
 * Each disk is found and checked as common/disk_check.h says (owned by the
 * VM's owner unless that is an admin), must not be another disk of it or
 * held by another VM (by device and inode), and is recorded (owner, mode,
 * device, inode) durably before it changes hands through its fd.  Refused
 * while a disk of an earlier run could not be given back. */
int identity_prepare(struct bvm *vm, struct cerr *e);
/* Gives each recorded disk back to its previous owner when its path still
 * leads, without symlinks, to the same file, owned by the VM's uid; what
 * cannot be given back stays recorded (and in vm->handed) for the next
 * try, and is logged. */
void identity_release(struct bvm *vm);
/* Checks file as the new medium of vm's cdrom disk (a target or source,
 * for messages), asked for by caller: as a disk image at define (found
 * without symlinks, a regular file with one link, owned by caller unless
 * an admin asks), and, since a medium is not handed over, readable by the
 * VM's uid (o+r, every directory searchable). */
int identity_check_medium(const struct bvm *vm, uid_t caller, const char *disk, const char *file,
                          struct cerr *e);

#endif
