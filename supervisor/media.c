#include "supervisor/media.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/names.h"
#include "supervisor/qmp.h"

#define MEDIA_TIMEOUT_MS 30000

struct media_op {
    struct vm *vm;
    size_t disk;  /* index in the definition */
    char *file;   /* the new medium, or NULL */
    char *target; /* the device's id */
    bool force;
    vm_done_cb cb;
    void *arg;
};

static void op_finish(struct media_op *op, const struct cerr *e)
{
    if (e != NULL)
        op->cb(op->arg, NULL, e);
    else {
        cJSON *r = json_obj();
        vm_set_disk_source(op->vm, op->disk, op->file);
        log_info("VM %s: disk %s: %s%s", vm_name(op->vm), op->target,
                 op->file ? "medium changed to " : "medium ejected", op->file ? op->file : "");
        json_add_str(r, "target", op->target);
        json_add_str(r, "source", op->file);
        op->cb(op->arg, r, NULL);
    }
    free(op->file);
    free(op->target);
    free(op);
}

static int reply_error(const struct media_op *op, const cJSON *reply, const struct cerr *e,
                       const char *what, struct cerr *out)
{
    struct cerr why;

    if (e == NULL && qmp_reply_check(reply, what, &why) == 0)
        return 0;
    cerr_set(out, e != NULL ? e->code : why.code, "VM %s: disk %s: %s", vm_name(op->vm), op->target,
             e != NULL ? e->msg : why.msg);
    return -1;
}

static void removed_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct media_op *op = arg;
    struct cerr err;

    if (reply_error(op, reply, e, "blockdev-remove-medium", &err) < 0) {
        /* QEMU opens a tray the guest has locked only once the guest lets
         * it: the medium stays until then. */
        if (!op->force && strstr(err.msg, "not open") != NULL)
            cerr_set(&err, CE_QEMU_FAILED,
                     "VM %s: disk %s: the guest holds the tray locked; it opens when the guest "
                     "allows it (or eject with --force)",
                     vm_name(op->vm), op->target);
        op_finish(op, &err);
        return;
    }
    op_finish(op, NULL);
}

static void tray_opened_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct media_op *op = arg;
    struct cerr err;
    cJSON *args;

    if (reply_error(op, reply, e, "blockdev-open-tray", &err) < 0) {
        op_finish(op, &err);
        return;
    }
    args = json_obj();
    json_add_str(args, "id", op->target);
    qmp_command(vm_qmp_conn(op->vm), "blockdev-remove-medium", args, MEDIA_TIMEOUT_MS, removed_cb,
                op);
}

static void changed_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct media_op *op = arg;
    struct cerr err;

    op_finish(op, reply_error(op, reply, e, "blockdev-change-medium", &err) < 0 ? &err : NULL);
}

static bool path_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

/* The disk named by target or by its current source; -1 with e set. */
static int find_disk(const struct domain_def *def, const char *disk, struct cerr *e)
{
    char shown[256];

    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        if (strcmp(d->target, disk) == 0 || (d->source != NULL && strcmp(d->source, disk) == 0))
            return (int)i;
    }
    name_escape(disk, shown, sizeof(shown));
    cerr_set(e, CE_INVALID_PARAMS, "VM %s has no disk '%s' (a target such as hdc, or a source)",
             def->name, shown);
    return -1;
}

/* virsh's rules for each mode, and what corral's cdroms can take. */
static int check_request(const struct vm *vm, const struct disk_def *d, const char *file,
                         enum media_mode mode, struct cerr *e)
{
    const char *name = vm_name(vm);

    if (vm_is_maintenance(vm) || !vm_is_active(vm)) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s is not running: change-media changes a running VM's medium", name);
        return -1;
    }
    if (d->device != DISK_DEVICE_CDROM) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s: disk %s is not removable (device='%s'); only a cdrom's medium changes",
                 name, d->target, disk_device_names[d->device]);
        return -1;
    }
    if (d->type != DISK_TYPE_FILE) {
        cerr_set(e, CE_UNSUPPORTED,
                 "VM %s: disk %s is a host drive (type='block'); its medium changes in the drive",
                 name, d->target);
        return -1;
    }
    if (file == NULL && d->source == NULL) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s: the disk device '%s' doesn't have media", name,
                 d->target);
        return -1;
    }
    if (mode == MEDIA_INSERT && d->source != NULL) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s: the disk device '%s' already has media", name,
                 d->target);
        return -1;
    }
    if (mode == MEDIA_INSERT && file == NULL) {
        cerr_set(e, CE_INVALID_PARAMS, "VM %s: no source is given to insert in %s", name,
                 d->target);
        return -1;
    }
    /* The broker checked the file; a path QEMU would read as a protocol
     * or an option ("json:", "nbd:") is refused here too. */
    if (file != NULL && (file[0] != '/' || strlen(file) > 4096 || !path_printable(file))) {
        cerr_set(e, CE_INVALID_PARAMS, "VM %s: the new medium must be an absolute path", name);
        return -1;
    }
    return 0;
}

void media_change(struct vm *vm, const char *disk, const char *file, enum media_mode mode,
                  bool force, vm_done_cb cb, void *arg)
{
    const struct domain_def *def = vm_def(vm);
    struct media_op *op;
    struct cerr e;
    cJSON *args;
    int i = find_disk(def, disk, &e);

    if (mode == MEDIA_EJECT)
        file = NULL;
    if (i < 0 || check_request(vm, &def->disks[i], file, mode, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    op = xcalloc(1, sizeof(*op));
    op->vm = vm;
    op->disk = (size_t)i;
    op->file = file != NULL ? xstrdup(file) : NULL;
    op->target = xstrdup(def->disks[i].target);
    op->force = force;
    op->cb = cb;
    op->arg = arg;
    args = json_obj();
    json_add_str(args, "id", op->target);
    if (file == NULL) {
        /* libvirt's eject with -blockdev: open the tray, take the medium
         * out, and leave the tray open. */
        json_add_bool(args, "force", force);
        qmp_command(vm_qmp_conn(vm), "blockdev-open-tray", args, MEDIA_TIMEOUT_MS, tray_opened_cb,
                    op);
        return;
    }
    json_add_str(args, "filename", file);
    /* Never probed: a raw image is what a cdrom reads. */
    json_add_str(args, "format", "raw");
    json_add_str(args, "read-only-mode", "read-only");
    json_add_bool(args, "force", force);
    qmp_command(vm_qmp_conn(vm), "blockdev-change-medium", args, MEDIA_TIMEOUT_MS, changed_cb, op);
}
