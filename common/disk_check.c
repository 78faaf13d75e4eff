#include "common/disk_check.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "common/names.h"
#include "common/qcow2_header.h"
#include "common/safe_open.h"

static int refuse(struct disk_check *out, struct cerr *e)
{
    close(out->fd);
    out->fd = -1;
    return -1;
}

/* A header that asks for an external data file is refused; one that is no
 * qcow2 header at all is left to QEMU, which refuses it with its own
 * words. */
static int check_qcow2(const struct disk_def *d, const char *shown, struct disk_check *out,
                       struct cerr *e)
{
    struct qcow2_header h;
    struct cerr why;
    int fd = safe_reopen(out->fd, &out->st, O_RDONLY, &why);

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "disk %s: '%s': %s", d->target, shown, why.msg);
        return -1;
    }
    if (qcow2_header_read(fd, &h, &why) < 0) {
        close(fd);
        return 0;
    }
    close(fd);
    if (h.incompatible_features & QCOW2_INCOMPAT_DATA_FILE) {
        cerr_set(e, CE_UNSUPPORTED,
                 "disk %s: '%s' is a qcow2 image with an external data file, which corral "
                 "refuses: QEMU would open the file its header names",
                 d->target, shown);
        return -1;
    }
    out->backing = h.backing_file_offset != 0;
    return 0;
}

int disk_check_node(const char *what, const char *shown, const struct stat *st, bool block,
                    bool any_owner, uid_t owner, struct cerr *e)
{
    if (S_ISLNK(st->st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' is a symlink", what, shown);
        return -1;
    }
    if (block ? !S_ISBLK(st->st_mode) : !S_ISREG(st->st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' is not a %s", what, shown,
                 block ? "block device (type='block')" : "regular file");
        return -1;
    }
    /* Another name for it may be in a place its owner does not control.
     * A device node has one link in devtmpfs; a second name for it could
     * only be made on the same filesystem, so the rule costs a block
     * device nothing and keeps one rule for every file. */
    if (st->st_nlink != 1) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' has %lu links (only a file with one is used)", what, shown,
                 (unsigned long)st->st_nlink);
        return -1;
    }
    if (!any_owner && st->st_uid != owner) {
        cerr_set(e, CE_PERMISSION,
                 "permission denied: %s: '%s' is not a %s owned by uid %ld (its owner is uid "
                 "%ld)",
                 what, shown, block ? "block device" : "file", (long)owner, (long)st->st_uid);
        return -1;
    }
    return 0;
}

int disk_check_open(const struct disk_def *d, bool any_owner, uid_t owner, struct disk_check *out,
                    struct cerr *e)
{
    char shown[512], what[128];
    struct cerr why;

    out->backing = false;
    out->fd = safe_open_path(d->source, &out->st, &why);
    if (out->fd < 0) {
        cerr_set(e, CE_SYSTEM, "disk %s: %s", d->target, why.msg);
        return -1;
    }
    name_escape(d->source, shown, sizeof(shown));
    snprintf(what, sizeof(what), "disk %s", d->target);
    if (d->type == DISK_TYPE_FILE && S_ISBLK(out->st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' is not a regular file (a block device needs type='block')",
                 what, shown);
        return refuse(out, e);
    }
    if (disk_check_node(what, shown, &out->st, d->type == DISK_TYPE_BLOCK, any_owner, owner, e) < 0)
        return refuse(out, e);
    /* A block device's header is read the same way: opened O_NONBLOCK
     * through the checked node, which neither waits for media nor
     * changes the device. */
    if (d->format == DISK_FORMAT_QCOW2 && check_qcow2(d, shown, out, e) < 0)
        return refuse(out, e);
    return 0;
}

bool disk_handed_over(const struct disk_def *d)
{
    return d->source != NULL && !(d->device == DISK_DEVICE_CDROM && d->type == DISK_TYPE_FILE);
}
