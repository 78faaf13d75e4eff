#include "supervisor/media.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/names.h"
#include "supervisor/qmp.h"
#include "supervisor/snapshot_qmp_jobs.h"

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

/* virsh's rules for each mode (domain_def_find_medium), on a running VM. */
static int check_request(const struct vm *vm, const char *disk, const char *file,
                         enum media_mode mode, struct cerr *e)
{
    if (vm_is_maintenance(vm) || !vm_is_active(vm)) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s is not running: change-media changes a running VM's medium", vm_name(vm));
        return -1;
    }
    return domain_def_find_medium(vm_def(vm), disk, file, mode == MEDIA_INSERT, e);
}

void media_change(struct vm *vm, const char *disk, const char *file, enum media_mode mode,
                  bool force, vm_done_cb cb, void *arg)
{
    const struct domain_def *def = vm_def(vm);
    struct media_op *op;
    struct cerr e;
    cJSON *args;
    int i;

    if (mode == MEDIA_EJECT)
        file = NULL;
    i = check_request(vm, disk, file, mode, &e);
    if (i < 0) {
        cb(arg, NULL, &e);
        return;
    }
    /* What the snapshot operations knew of the disks is not trusted
     * across a change of them. */
    snapshot_tags_forget(snapshot_qmp_jobs_tags(vm_snapjobs(vm)));
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
