/* UEFI firmware chosen the way libvirt chooses it: from QEMU's firmware
 * descriptors (QEMU's docs/interop/firmware.json), JSON files in a list of
 * directories, the first directory winning for a file name, read in file
 * name order, the first descriptor that fits the VM taken. */
#ifndef CORRAL_FIRMWARE_H
#define CORRAL_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* The system's descriptor directories, highest priority first; QEMU's own
 * list without the per-user one (a root broker has no user to ask). */
extern const char *const firmware_default_dirs[];
extern const size_t firmware_default_ndirs;

/* A <firmware><feature enabled=> of the domain: not said, wanted, refused. */
enum firmware_want { FIRMWARE_WANT_ANY, FIRMWARE_WANT_YES, FIRMWARE_WANT_NO };

struct firmware_request {
    const char *machine; /* the domain's machine type: q35, pc, pc-q35-7.2... */
    enum firmware_want secure_boot, enrolled_keys;
    /* Manual mode: only a descriptor whose code is this path (as the
     * descriptor spells it, or resolved) fits; NULL for autoselection. */
    const char *code;
};

/* What was chosen; malloc'd strings, freed by firmware_choice_free. */
struct firmware_choice {
    char *descriptor;    /* the descriptor's path, for messages */
    char *code;          /* resolved path of the read-only code */
    char *vars_template; /* resolved path of the NVRAM template */
    bool requires_smm;   /* QEMU needs smm=on and a secure pflash */
    bool secure_boot, enrolled_keys;
};

/* Chooses a descriptor from dirs (ndirs of them, highest priority first).
 * Returns 1 with *out filled, 0 when none fits (e says what was looked
 * for), -1 when a directory cannot be read. */
int firmware_select(const char *const *dirs, size_t ndirs, const struct firmware_request *req,
                    struct firmware_choice *out, struct cerr *e);
void firmware_choice_free(struct firmware_choice *c);
/* The machine type as descriptors' globs name it: the aliases q35 and pc
 * become pc-q35-* and pc-i440fx-* machines.  Writes into buf. */
void firmware_canonical_machine(const char *machine, char *buf, size_t len);
/* A loader or NVRAM template named by a definition: found without a
 * symlink in any component, a regular file, readable by every uid (QEMU
 * reads the code as the VM's uid; root copies the template only when
 * anybody could read it).  what names the element in e. */
int firmware_check_file(const char *what, const char *path, struct cerr *e);
/* The VM's own NVRAM file name in its state directory (NAME_VARS.fd, as
 * libvirt names it); malloc'd. */
char *firmware_nvram_name(const char *vm_name);

#endif
