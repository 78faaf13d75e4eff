/* VMs that start when the host boots (virsh autostart): a record of
 * root's in the VM's state directory, REGISTRY_AUTOSTART_FILE, acted on
 * by the first broker start after a boot, as libvirt's drivers do: RUN
 * is a tmpfs the boot empties, and RUN/autostarted says a broker of this
 * boot went through the autostart VMs already. */
#ifndef CORRAL_AUTOSTART_H
#define CORRAL_AUTOSTART_H

#include <stdbool.h>

#include "common/error.h"

struct broker;
struct bvm;

/* Records (enable) or removes vm's autostart, durably. */
int autostart_set(struct bvm *vm, bool enable, struct cerr *e);
/* At the broker's start, once its VMs are re-attached: starts every
 * autostart VM, unless this is not the first start since the host booted
 * or a VM runs already (a restart that re-attaches). */
void autostart_boot(struct broker *b);

#endif
