/* Processes and directories under this broker's run directory that no VM
 * owns. */
#ifndef CORRAL_LEFTOVERS_H
#define CORRAL_LEFTOVERS_H

#include "broker/registry.h"

/* SIGKILLs every process that serves run_dir (a VM's), whoever it is: what
 * a supervisor that died during its start-up left. */
void leftovers_kill_vm(struct broker *b, const char *run_dir);
/* Removes the run directories of VMs that are not defined, and SIGKILLs
 * every supervisor and QEMU of this broker's run directory that no VM
 * owns; logs each. */
void leftovers_clean(struct broker *b);

#endif
