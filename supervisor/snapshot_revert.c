#include "supervisor/snapshot_revert.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_intent.h"

/* ---- revert ------------------------------------------------------------- */

#define REVERT_CUT_ADVICE                                                                          \
    "if QEMU died during it, repair the disk images (qemu-img check -r all) before the VM "        \
    "starts again: QEMU does not revert a qcow2 image crash-safely"

struct revert {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    char *name;
    struct disks disks;
    bool was_running, want_paused;
    /* A live snapshot on a shut-off VM: its guest state loads only into the
     * VM's own machine, so the broker starts the VM (paused) to revert. */
    bool needs_start;
    /* An offline snapshot with running or paused: the broker starts the VM
     * once the disks are reverted (libvirt boots it). */
    bool start_after;
    struct cerr failure; /* set when the load failed: reported after recovery */
    bool failed;
};

static void revert_finish(struct revert *rv, cJSON *result, const struct cerr *e)
{
    rv->so->busy = false;
    rv->cb(rv->arg, result, e);
    free(rv->name);
    free(rv);
}

static void revert_final(void *arg, cJSON *result, const struct cerr *e)
{
    struct revert *rv = arg;

    if (rv->failed) {
        cJSON_Delete(result);
        revert_finish(rv, NULL, &rv->failure);
        return;
    }
    if (e != NULL) {
        revert_finish(rv, NULL, e);
        return;
    }
    cJSON_Delete(result);
    cJSON *r = vm_state_json(rv->so->vm);
    json_add_str(r, "snapshot", rv->name);
    if (rv->start_after) {
        json_add_bool(r, "start_after", true);
        json_add_bool(r, "paused", rv->want_paused);
    }
    log_info("VM %s: reverted to snapshot %s", rv->so->name, rv->name);
    revert_finish(rv, r, NULL);
}

/* QEMU's view is now in the VM's state; bring the run state to what the
 * snapshot had (after success) or back to what it was (after a harmless
 * failure). */
static void revert_synced(void *arg, cJSON *result, const struct cerr *e)
{
    struct revert *rv = arg;
    struct vm *vm = rv->so->vm;
    bool paused = vm_get_state(vm) == VM_PAUSED;
    bool want_paused = rv->failed ? !rv->was_running : rv->want_paused;

    cJSON_Delete(result);
    if (e != NULL) {
        revert_finish(rv, NULL, e);
        return;
    }
    if (paused && !want_paused)
        vm_resume(vm, revert_final, rv);
    else if (!paused && want_paused)
        vm_suspend(vm, revert_final, rv);
    else
        revert_final(rv, NULL, NULL);
}

/* Whether a job's qemu_error is one of the checks QEMU 7.2's load_snapshot()
 * (migration/savevm.c) makes before bdrv_all_goto_snapshot() reverts the
 * first disk.  Any other failure, or none given, may come after some disks
 * were reverted (that loop stops at the disk that fails), and a guest run
 * on such disks would corrupt its file systems. */
static bool load_failed_untouched(const char *qemu_error)
{
    static const char *const before_disks[] = {
        "does not exist in one or more devices",
        "is writable but does not support snapshots",
        "No block device can accept snapshots",
        "This is a disk-only snapshot",
        "Record/replay does not allow loading snapshot",
    };

    for (size_t i = 0; qemu_error != NULL && i < sizeof(before_disks) / sizeof(*before_disks); i++)
        if (strstr(qemu_error, before_disks[i]) != NULL)
            return true;
    return false;
}

static void revert_loaded(const struct snapjob_result *r, void *arg)
{
    struct revert *rv = arg;
    struct snapops *so = rv->so;
    const char *why = r->qemu_error ? r->qemu_error : r->err.msg;
    struct cerr e;

    if (r->outcome == SNAPJOB_UNKNOWN) {
        /* QEMU (7.2) rewrites a qcow2 image's L1 table before the raised
         * refcounts of the snapshot's clusters reach the disk: killed in
         * between, it leaves refcounts too low, and the next QEMU's writes
         * land in the snapshot's own clusters.  Only a repair before the
         * next start prevents that, and only the user can order it. */
        snapintent_report_unknown(so, rv->name, "snapshot-load", r, NULL,
                                  "the current snapshot is unchanged; " REVERT_CUT_ADVICE);
        cerr_set(&e, CE_JOB_FAILED, "VM %s: revert to %s was cut short: %s; %s", so->name, rv->name,
                 r->err.msg, REVERT_CUT_ADVICE);
        revert_finish(rv, NULL, &e);
        return;
    }
    if (r->ok) {
        if (snapshot_tree_set_current(so->tree, so->dir, rv->name, &e) < 0)
            log_err_code(cerr_name(e.code), "VM %s: reverted to %s but cannot mark it current: %s",
                         so->name, rv->name, e.msg);
        snapintent_end(so);
        if (vm_is_maintenance(so->vm))
            revert_final(rv, NULL, NULL);
        else
            vm_sync_state(so->vm, "reverted", revert_synced, rv);
        return;
    }
    /* Failed with QEMU's word: the reply says what happened. */
    snapintent_end(so);
    if (vm_is_maintenance(so->vm)) {
        cerr_set(&e, CE_JOB_FAILED, "VM %s: revert to %s failed: %s", so->name, rv->name, why);
        revert_finish(rv, NULL, &e);
        return;
    }
    rv->failed = true;
    if (r->outcome != SNAPJOB_REFUSED && !load_failed_untouched(r->qemu_error)) {
        bool state_load = r->qemu_error != NULL && strstr(r->qemu_error, "while loading VM state");
        const char *reason = state_load ? "revert failed: guest state unusable"
                                        : "revert failed: disks may be partly reverted";

        if (state_load)
            cerr_set(&rv->failure, CE_JOB_FAILED,
                     "VM %s: revert to %s failed while loading the VM state (%s); the disks are "
                     "already reverted, so the guest was left paused: revert to another snapshot "
                     "or destroy it",
                     so->name, rv->name, why);
        else
            cerr_set(&rv->failure, CE_JOB_FAILED,
                     "VM %s: revert to %s failed (%s); some disks may already be reverted, so "
                     "the guest was left paused: revert to another snapshot or destroy it",
                     so->name, rv->name, why);
        vm_set_paused_reason(so->vm, reason);
        rv->was_running = false;
        vm_sync_state(so->vm, reason, revert_synced, rv);
        return;
    }
    cerr_set(&rv->failure, CE_JOB_FAILED, "VM %s: revert to %s failed (%s); nothing was changed%s",
             so->name, rv->name, why, rv->was_running ? " and the VM was resumed" : "");
    vm_sync_state(so->vm, "revert failed", revert_synced, rv);
}

static void revert_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct revert *rv = arg;
    struct snapops *so = rv->so;
    const struct snapshot_qmp_node *vmstate;
    bool has_state;
    struct cerr err;

    if (e != NULL) {
        cerr_set(&err, e->code, "VM %s: reverting to snapshot %s: %s", so->name, rv->name, e->msg);
        revert_finish(rv, NULL, &err);
        return;
    }
    /* Everything QEMU would trip over is checked first: a failed
     * snapshot-load leaves the guest paused, sometimes half-loaded. */
    for (size_t i = 0; i < rv->disks.n; i++) {
        if (snapshot_qmp_count(l, rv->disks.d[i].node, rv->name) == 0) {
            cerr_set(&err, CE_OPERATION_INVALID,
                     "VM %s cannot be reverted to %s: disk %s does not hold it (see "
                     "snapshot-check); nothing was changed",
                     so->name, rv->name, rv->disks.d[i].target);
            snapshot_qmp_nodes_free(l);
            revert_finish(rv, NULL, &err);
            return;
        }
    }
    vmstate = snapshot_qmp_find_node(l, rv->disks.d[0].node);
    has_state = false;
    for (size_t i = 0; vmstate != NULL && i < vmstate->nsnaps; i++)
        has_state |=
            strcmp(vmstate->snaps[i].name, rv->name) == 0 && vmstate->snaps[i].vm_state_size > 0;
    snapshot_qmp_nodes_free(l);
    if (!has_state) {
        cerr_set(&err, CE_OPERATION_INVALID,
                 "VM %s cannot be reverted to %s: disk %s holds no VM state for it; nothing "
                 "was changed",
                 so->name, rv->name, rv->disks.d[0].target);
        revert_finish(rv, NULL, &err);
        return;
    }
    if (rv->needs_start) {
        /* Checked as above, so that the start the broker does for it is
         * not in vain. */
        cJSON *r = json_obj();
        json_add_str(r, "snapshot", rv->name);
        json_add_bool(r, "start_to_revert", true);
        revert_finish(rv, r, NULL);
        return;
    }
    char job_id[SNAPJOB_ID_MAX];
    snapshot_qmp_jobs_make_id(SNAPJOB_LOAD, job_id);
    if (snapintent_begin(
            so,
            snapintent_new("revert", rv->name, job_id, &rv->disks, rv->disks.nodes, rv->disks.n),
            &err) < 0) {
        revert_finish(rv, NULL, &err);
        return;
    }
    if (snapshot_qmp_jobs_start(vm_snapjobs(so->vm), SNAPJOB_LOAD, job_id, rv->name,
                                rv->disks.nodes[0], rv->disks.nodes, rv->disks.n,
                                snapcore_ram_timeout_ms(so), snapcore_job_progress, revert_loaded,
                                rv, &err) < 0) {
        snapintent_end(so);
        revert_finish(rv, NULL, &err);
    }
}

void snaprevert_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const struct snapshot_def *d;
    const char *name;
    struct revert *rv;
    struct cerr e;

    bool running = false, paused = false, force = false;

    d = snapcore_param_snapshot(so, params, &name, &e);
    if (d == NULL || rpc_param_bool(params, "running", &running, &e) < 0 ||
        rpc_param_bool(params, "paused", &paused, &e) < 0 ||
        rpc_param_bool(params, "force", &force, &e) < 0 || snapcore_require_ready(so, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    if (running && paused) {
        cerr_set(&e, CE_INVALID_PARAMS, "running and paused cannot be combined");
        cb(arg, NULL, &e);
        return;
    }
    /* A saved VM state only loads into the machine that wrote it: an
     * offline snapshot's comes from the maintenance QEMU, a live one's
     * from the guest. */
    if (d->state == SNAPSHOT_STATE_SHUTOFF && !vm_is_maintenance(so->vm)) {
        cerr_set(&e, CE_OPERATION_INVALID,
                 "VM %s: snapshot %s was taken while the VM was shut off; shut the VM down to "
                 "revert to it (nothing was changed)",
                 so->name, name);
        cb(arg, NULL, &e);
        return;
    }
    rv = xcalloc(1, sizeof(*rv));
    if (snapcore_disks(so, &rv->disks, &e) < 0) {
        free(rv);
        cb(arg, NULL, &e);
        return;
    }
    rv->so = so;
    rv->cb = cb;
    rv->arg = arg;
    rv->name = xstrdup(name);
    rv->was_running = vm_get_state(so->vm) == VM_RUNNING;
    /* virsh's --running and --paused override the snapshot's own state. */
    rv->want_paused = paused || (!running && d->state == SNAPSHOT_STATE_PAUSED);
    rv->needs_start = vm_is_maintenance(so->vm) && d->state != SNAPSHOT_STATE_SHUTOFF;
    rv->start_after = vm_is_maintenance(so->vm) && !rv->needs_start && (running || paused);
    so->busy = true;
    snapshot_qmp_list(vm_qmp_conn(so->vm), rv->disks.nodes, rv->disks.n, SNAPCORE_LIST_TIMEOUT_MS,
                      revert_listed, rv);
}
