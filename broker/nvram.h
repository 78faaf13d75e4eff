/* A UEFI VM's own variables: STATE/vms/NAME/NAME_VARS.fd, in the broker's
 * directory of the VM (root's; the VM's uid may only pass through it), so
 * that no path to it is ever the VM uid's to change.  Created from the
 * definition's template at the first start, handed to the VM's uid for each
 * run and given back to root after it, as libvirt does with its
 * /var/lib/libvirt/qemu/nvram files; every step through fds opened without
 * following links. */
#ifndef CORRAL_NVRAM_H
#define CORRAL_NVRAM_H

#include <stdbool.h>

#include "broker/registry.h"

/* For a VM with a <loader>, outside maintenance: creates the file from the
 * template when missing (readable by every uid, copied to a new file made
 * O_EXCL|O_NOFOLLOW, then renamed into place) and hands it to the VM's
 * identity, mode 0600. */
int nvram_prepare(struct bvm *vm, struct cerr *e);
/* Gives the file back to root, mode 0600; a failure is logged. */
void nvram_release(struct bvm *vm);
/* Whether the VM has an NVRAM file; -1 with e set when that cannot be
 * told. */
int nvram_exists(const struct bvm *vm, struct cerr *e);
/* Moves the file out of the VM's directory before an undefine
 * --keep-nvram, to STATE/nvram/NAME-UUID_VARS.fd (root's, 0700; never
 * reused by a later VM, which may be another user's). */
int nvram_keep(struct bvm *vm, struct cerr *e);

#endif
