/* Per-VM runtime identities.  With a uid range configured, each VM runs its
 * supervisor and QEMU under its own uid and gid, allocated from the range and
 * recorded in STATE/vms/NAME/identity.json so that the VM keeps it.  Before a
 * start the broker hands the VM's disk images to that identity (its
 * directories: broker/vm_dirs.h); after the stop it gives the images back to
 * their previous owners, as libvirt's DAC driver does with dynamic
 * ownership. */
#ifndef CORRAL_IDENTITY_H
#define CORRAL_IDENTITY_H

#include "broker/registry.h"

/* Loads vm's recorded identity or allocates a free one from the range. */
int identity_assign(struct broker *b, struct bvm *vm, struct cerr *e);
/* Hands the VM's disks to its identity, recording their previous owners
 * durably first. */
int identity_prepare(struct bvm *vm, struct cerr *e);
/* Gives the disks back to their recorded owners (after the VM stopped). */
void identity_release(struct bvm *vm);

#endif
