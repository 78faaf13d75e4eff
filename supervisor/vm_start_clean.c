#include "supervisor/vm_start_clean.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/qcow2_header.h"
#include "supervisor/snapshot_intent.h"
#include "supervisor/snapshot_report.h"
#include "supervisor/snapshot_tree.h"
#include "supervisor/vm.h"

/* Whether the image at path is qcow2 and its header counts no snapshot.
 * Read as the VM's uid, as QEMU opened it; whatever it says is only
 * believed to the extent QEMU believes it too (QEMU lists the
 * nb_snapshots entries of the table). */
static bool image_has_none(const char *vm, const char *target, const char *path)
{
    struct qcow2_header h;
    struct cerr e;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        log_debug("VM %s: disk %s: cannot read its header (%s); asking QEMU instead", vm, target,
                  strerror(errno));
        return false;
    }
    rc = qcow2_header_read(fd, &h, &e);
    close(fd);
    if (rc < 0) {
        log_debug("VM %s: disk %s: %s; asking QEMU instead", vm, target, e.msg);
        return false;
    }
    return h.nb_snapshots == 0;
}

bool vm_start_clean(struct snapops *so)
{
    const struct domain_def *def = vm_def(so->vm);
    cJSON *intent, *none;
    size_t writable = 0;

    if (!vm_qemu_fresh(so->vm) || so->busy || snapshot_tree_count(so->tree) > 0)
        return false;
    intent = snapintent_load(so);
    if (intent != NULL) {
        cJSON_Delete(intent);
        return false;
    }
    /* The disks recovery would ask about (snapcore_disks): a raw writable
     * one makes recovery end at once, as it does without this. */
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];

        if (d->readonly)
            continue;
        if (d->format != DISK_FORMAT_QCOW2 || d->source == NULL ||
            !image_has_none(def->name, d->target, d->source))
            return false;
        writable++;
    }
    if (writable == 0)
        return false;
    none = json_arr();
    snapreport_findings(so, "check", none);
    cJSON_Delete(none);
    return true;
}
