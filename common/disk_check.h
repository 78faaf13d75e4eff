/* A VM's disk image as root may use it: found without following symlinks,
 * one regular file (type='file') or block device node (type='block') with
 * one link, owned as required, and for qcow2 with no
 * external data file that QEMU would open on the header's word. */
#ifndef CORRAL_DISK_CHECK_H
#define CORRAL_DISK_CHECK_H

#include <stdbool.h>
#include <sys/stat.h>

#include "common/domain_xml.h"
#include "common/error.h"

struct disk_check {
    int fd;         /* O_PATH fd of the image: the caller closes it */
    struct stat st; /* as it was when opened */
    bool backing;   /* a qcow2 header naming a backing file */
};

/* Opens d's image through safe_open_path and checks it; owner is the uid
 * that must own it, unless any_owner.  On failure e names the disk and why
 * ("is a symlink", "has 2 links", "is not a file owned by uid N", "is not a
 * regular file"); CE_PERMISSION when only the owner is wrong. */
int disk_check_open(const struct disk_def *d, bool any_owner, uid_t owner, struct disk_check *out,
                    struct cerr *e);
/* The rules behind disk_check_open for a node st that safe_open_path (or
 * an fstat of an fd opened without following links) found: not a symlink,
 * a regular file (a block device with block), one link, owned by owner
 * unless any_owner.  what and shown (the escaped path) name it in e:
 * "disk vda: '/img' has 2 links"; CE_PERMISSION when only the owner is
 * wrong.  Other files root opens for a VM's owner follow the same rules. */
int disk_check_node(const char *what, const char *shown, const struct stat *st, bool block,
                    bool any_owner, uid_t owner, struct cerr *e);
/* Whether the broker hands d's source to the VM's uid while it runs: every
 * disk and block device, but not a cdrom's image file, which is read-only
 * and often shared by many VMs; it must be readable by others instead, as
 * a kernel is.  False for an empty tray. */
bool disk_handed_over(const struct disk_def *d);

#endif
