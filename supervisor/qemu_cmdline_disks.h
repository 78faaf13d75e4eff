/* The disks' part of QEMU's command line: for each disk a protocol node
 * (file or host_device) and a format node named after its target, the
 * controller its bus needs, and the guest device, as libvirt builds them
 * with -blockdev. */
#ifndef CORRAL_QEMU_CMDLINE_DISKS_H
#define CORRAL_QEMU_CMDLINE_DISKS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/domain_xml.h"
#include "supervisor/qemu_argv.h"

/* Format node name of a disk ("drive-vda"); writes into buf. */
void qemu_node_name(const struct disk_def *d, char *buf, size_t len);

/* Each disk's bootindex into boot (def->ndisks entries): its <boot order>,
 * else the position of <os><boot dev='hd'> for the first disk and of
 * dev='cdrom' for the first cdrom, as libvirt gives them. */
void qemu_disk_boot_indexes(const struct domain_def *def, unsigned int *boot);

/* Adds every disk.  devices: with controllers and guest devices (a VM on
 * a machine with buses); without, the nodes alone, and no cdrom, which no
 * snapshot job touches.  boot is from qemu_disk_boot_indexes.  Fails
 * (CE_UNSUPPORTED) on what the machine cannot hold: IDE on q35, a target
 * beyond IDE's four units or AHCI's six ports. */
int qemu_add_disks(struct argv_list *a, const struct domain_def *def, bool devices,
                   const unsigned int *boot, struct cerr *e);

#endif
