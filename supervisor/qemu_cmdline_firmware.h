/* The UEFI part of QEMU's command line: the read-only code and the VM's
 * own variables as two pflash block nodes the machine takes by name, as
 * libvirt gives them (-blockdev plus -machine pflash0=,pflash1=). */
#ifndef CORRAL_QEMU_CMDLINE_FIRMWARE_H
#define CORRAL_QEMU_CMDLINE_FIRMWARE_H

#include <stdbool.h>

#include "common/domain_xml.h"

/* Block node names of the code and the variables. */
#define QEMU_PFLASH_CODE_NODE "pflash0-code"
#define QEMU_PFLASH_VARS_NODE "pflash1-vars"
#define QEMU_FIRMWARE_BLOCKDEVS 4

/* malloc'd pieces the caller places; freed by qemu_firmware_args_free. */
struct qemu_firmware_args {
    char *machine_opts; /* appended to -machine: ",pflash0=...,pflash1=...[,smm=on]" */
    char *blockdev[QEMU_FIRMWARE_BLOCKDEVS]; /* -blockdev values, in order */
    /* -global driver=cfi.pflash01,property=secure,value=on: only code
     * running in SMM may write the variables (Secure Boot's guarantee). */
    bool secure_pflash;
};

/* Fills out for a definition with a <loader>; nvram is the VM's variables
 * file.  Returns 0 and an empty out (all NULL) for a BIOS guest. */
int qemu_firmware_build(const struct domain_def *def, const char *nvram,
                        struct qemu_firmware_args *out, struct cerr *e);
void qemu_firmware_args_free(struct qemu_firmware_args *f);

#endif
