/* Snapshot work on a shut-off VM: a maintenance supervisor (QEMU with the
 * disks only) is started on demand, takes the queued requests, and is
 * stopped when idle or when a start waits for the disks. */
#include "broker/maintenance.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>

#include "broker/leftovers.h"
#include "broker/lifecycle.h"
#include "broker/spawn.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/runrec.h"
#include "proto/conn.h"
#include "proto/rpc.h"
#include "proto/server.h"

#define MAINT_IDLE_MS 1000
/* How long a maintenance supervisor told to stop has before it is killed:
 * it is told only when no request is in flight, so its QEMU runs no job and
 * only has the disks to close. */
#define MAINT_STOP_MS 10000
/* Snapshot requests one shut-off VM may have queued or in flight at once:
 * each holds a copy of its parameters until the maintenance supervisor
 * answers. */
#define MAINT_MAX_OPS 32

static void maint_timer_cb(evutil_socket_t fd, short what, void *arg);

static void op_free(struct maint_op *op)
{
    free(op->method);
    cJSON_Delete(op->params);
    free(op);
}

/* A revert waiting for the start is answered with e. */
static void fail_revert(struct bvm *vm, const struct cerr *e)
{
    struct maint_op *op = vm->revert_after_start;

    if (op == NULL)
        return;
    vm->revert_after_start = NULL;
    /* The next start is the user's, as asked. */
    vm->start_paused = false;
    rpc_req_done(op->req, NULL, e);
    op_free(op);
}

void maintenance_fail_queue(struct bvm *vm, const struct cerr *e)
{
    while (vm->maint_queue != NULL) {
        struct maint_op *op = vm->maint_queue;
        vm->maint_queue = op->next;
        rpc_req_done(op->req, NULL, e);
        op_free(op);
    }
    fail_revert(vm, e);
}

/* A maintenance supervisor that cannot be reached, or does not go when
 * told, holds the disks from every start and every queued request: killed,
 * it goes the way of any that dies (maintenance_gone), and what waits
 * proceeds. */
static void maint_kill(struct bvm *vm, const char *why)
{
    lifecycle_set(vm, LIFECYCLE_MAINT_CLOSING);
    log_warn("VM %s: maintenance supervisor pid %ld %s; killing it", vm->def->name,
             (long)vm->sup_pid, why);
    if (pidfd_send_signal(vm->sup_pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        log_err("VM %s: cannot kill maintenance supervisor pid %ld: %s", vm->def->name,
                (long)vm->sup_pid, strerror(errno));
}

/* Whether the maintenance supervisor can be talked to: its connection may
 * have closed while it lives on (it is the VM uid's, so it may close it at
 * will), and nothing else would open another.  Killed when it cannot. */
static bool maint_connected(struct bvm *vm)
{
    struct cerr e;
    char why[400];

    if (vm->sup_conn != NULL)
        return true;
    if (spawn_connect(vm, NULL, BVM_CALL_TIMEOUT_MS, &e) == 0)
        return true;
    snprintf(why, sizeof(why), "cannot be reached: %.300s", e.msg);
    maint_kill(vm, why);
    return false;
}

static void maint_timer_add(struct bvm *vm, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (vm->maint_idle == NULL)
        vm->maint_idle = evtimer_new(vm->b->base, maint_timer_cb, vm);
    if (vm->maint_idle == NULL || evtimer_add(vm->maint_idle, &tv) < 0)
        log_err("VM %s: cannot arm the maintenance supervisor's timer", vm->def->name);
}

/* Its answer to the stop: only the state matters, the end itself is seen
 * on its pidfd. */
static void maint_stopped_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct bvm *vm = arg;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(result, "state");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(result, "reason");

    if (e == NULL && cJSON_IsString(s) && cJSON_IsString(r))
        bvm_set_state(vm, s->valuestring, "%s", r->valuestring);
}

/* Idle, or wanted gone: told to stop, and killed if it has not gone
 * MAINT_STOP_MS later. */
static void maint_stop(struct bvm *vm)
{
    if (vm->phase != LIFECYCLE_MAINT_READY || vm->maint_inflight > 0 || !maint_connected(vm))
        return;
    lifecycle_set(vm, LIFECYCLE_MAINT_CLOSING);
    log_debug("VM %s: maintenance supervisor idle; stopping it", vm->def->name);
    rpc_conn_call(vm->sup_conn, "vm.destroy", json_obj(), MAINT_STOP_MS, maint_stopped_cb, vm);
    maint_timer_add(vm, MAINT_STOP_MS);
}

/* One timer for both: idle long enough, or told to stop long ago. */
static void maint_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bvm *vm = arg;

    (void)fd;
    (void)what;
    if (vm->phase == LIFECYCLE_MAINT_CLOSING)
        maint_kill(vm, "did not stop when told to");
    else
        maint_stop(vm);
}

void maintenance_stop(struct bvm *vm)
{
    maint_stop(vm);
}

void maintenance_wait_start(struct bvm *vm, void *req)
{
    struct start_waiter *w = xcalloc(1, sizeof(*w));

    w->req = req;
    w->next = vm->start_waiters;
    vm->start_waiters = w;
    if (vm->maint_inflight == 0 && vm->phase == LIFECYCLE_MAINT_READY)
        maint_stop(vm);
}

struct maint_call {
    struct bvm *vm;
    void *req;
    struct maint_op *revert; /* a snapshot.revert's method and params */
};

/* The maintenance supervisor checked the disks and says the snapshot holds
 * a running guest, whose state loads only into the VM's own machine: as
 * libvirt, the VM is started and the revert done there (supervise.c calls
 * maintenance_started).  Nothing else may queue meanwhile. */
static void revert_by_start(struct bvm *vm, struct maint_op *op, bool paused)
{
    struct cerr e;

    if (vm->revert_after_start != NULL || vm->start_waiters != NULL) {
        cerr_set(&e, CE_BUSY, "VM %s is starting; try again once it runs", vm->def->name);
        rpc_req_done(op->req, NULL, &e);
        op_free(op);
        return;
    }
    log_info("VM %s: starting it %s", vm->def->name,
             op->method != NULL ? "paused to revert to a snapshot of the running guest"
                                : "after reverting its disks to a snapshot");
    vm->revert_after_start = op;
    /* As libvirt: QEMU waits at -S, so the guest never runs before the
     * load. */
    vm->start_paused = paused;
    if (vm->maint_inflight == 0 && vm->phase == LIFECYCLE_MAINT_READY)
        maint_stop(vm);
}

static bool said(const cJSON *result, const char *flag)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, flag));
}

static void maint_reply_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct maint_call *mc = arg;
    struct bvm *vm = mc->vm;

    vm->maint_inflight--;
    if (mc->revert != NULL && e == NULL && said(result, "start_to_revert")) {
        mc->revert->req = mc->req;
        revert_by_start(vm, mc->revert, true);
    } else if (mc->revert != NULL && e == NULL && said(result, "start_after")) {
        /* The disks are reverted: only the start is left to do. */
        mc->revert->req = mc->req;
        free(mc->revert->method);
        mc->revert->method = NULL;
        revert_by_start(vm, mc->revert, said(result, "paused"));
    } else {
        rpc_req_done(mc->req, result ? json_dup(result) : NULL, e);
        if (mc->revert != NULL)
            op_free(mc->revert);
    }
    free(mc);
    if (vm->maint_inflight > 0)
        return;
    /* What waits for the disks goes first; otherwise linger a while. */
    if (vm->revert_after_start != NULL || vm->start_waiters != NULL) {
        if (vm->phase == LIFECYCLE_MAINT_READY)
            maint_stop(vm);
    } else if (vm->phase == LIFECYCLE_MAINT_READY)
        maint_timer_add(vm, MAINT_IDLE_MS);
}

static void maint_send(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                       void *req)
{
    struct maint_call *mc = xcalloc(1, sizeof(*mc));
    cJSON *p = params ? json_dup(params) : json_obj();

    mc->vm = vm;
    mc->req = req;
    cJSON_DeleteItemFromObjectCaseSensitive(p, "name");
    /* The caller's own params, kept in case the revert needs the VM
     * started: nothing the maintenance supervisor says goes into them. */
    if (strcmp(method, "snapshot.revert") == 0) {
        mc->revert = xcalloc(1, sizeof(*mc->revert));
        mc->revert->method = xstrdup(method);
        mc->revert->params = json_dup(p);
        mc->revert->timeout_ms = timeout_ms;
    }
    vm->maint_inflight++;
    if (vm->maint_idle != NULL)
        evtimer_del(vm->maint_idle);
    rpc_conn_call(vm->sup_conn, method, p, timeout_ms, maint_reply_cb, mc);
}

static void maint_flush(struct bvm *vm)
{
    while (vm->maint_queue != NULL) {
        struct maint_op *op = vm->maint_queue;
        vm->maint_queue = op->next;
        maint_send(vm, op->method, op->params, op->timeout_ms, op->req);
        op_free(op);
    }
}

static void maint_begin(struct bvm *vm)
{
    struct cerr e;

    lifecycle_set(vm, LIFECYCLE_MAINT_STARTING);
    if (spawn_start(vm, false, &e) < 0) {
        lifecycle_set(vm, LIFECYCLE_OFF);
        maintenance_fail_queue(vm, &e);
    }
}

void maintenance_ready(struct bvm *vm, const cJSON *info)
{
    struct cerr e;

    spawn_watch_qemu(vm, runrec_status_qemu_pid(info), 0);
    lifecycle_set(vm, LIFECYCLE_MAINT_READY);
    if (spawn_connect(vm, NULL, BVM_CALL_TIMEOUT_MS, &e) < 0) {
        maintenance_fail_queue(vm, &e);
        maint_kill(vm, "cannot be reached once ready");
        return;
    }
    maint_flush(vm);
    /* Whatever it was started for may have been answered already. */
    if (vm->maint_inflight == 0)
        maint_timer_add(vm, MAINT_IDLE_MS);
}

/* A maintenance supervisor is gone: not the VM's end, so its state and
 * exit facts stay as they were; its QEMU, which only held the disks, goes
 * with it. */
void maintenance_gone(struct bvm *vm, const char *how)
{
    if (vm->phase == LIFECYCLE_MAINT_STARTING) {
        struct cerr se;
        cerr_set(&se, CE_SUPERVISOR, "the maintenance supervisor of VM %s %s during start-up",
                 vm->def->name, how);
        /* Not retried: whatever failed would fail again. */
        maintenance_fail_queue(vm, &se);
        spawn_finish_start(vm, NULL, &se);
        leftovers_kill_vm(vm->b, vm->run_dir);
    }
    spawn_kill_qemu(vm);
    lifecycle_set(vm, LIFECYCLE_OFF);
    vm->maint_inflight = 0;
    lifecycle_adopt_settled(vm, false);
    spawn_finish(vm);
    if (vm->start_waiters != NULL || vm->revert_after_start != NULL) {
        struct cerr se;
        if (spawn_start(vm, false, &se) < 0) {
            spawn_finish_start(vm, NULL, &se);
            fail_revert(vm, &se);
        }
    } else if (vm->maint_queue != NULL)
        maint_begin(vm);
}

static void reverted_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct maint_op *op = arg;

    rpc_req_done(op->req, result ? json_dup(result) : NULL, e);
    op_free(op);
}

void maintenance_started(struct bvm *vm, const struct cerr *e)
{
    struct maint_op *op = vm->revert_after_start;
    struct cerr ce;

    if (op == NULL)
        return;
    if (e != NULL) {
        fail_revert(vm, e);
        return;
    }
    vm->start_paused = false;
    vm->revert_after_start = NULL;
    if (op->method == NULL) {
        const cJSON *snap = cJSON_GetObjectItemCaseSensitive(op->params, "snapshot");
        cJSON *r = json_obj();
        json_add_str(r, "snapshot", cJSON_IsString(snap) ? snap->valuestring : NULL);
        json_add_str(r, "state", vm->state);
        json_add_str(r, "reason", vm->reason);
        rpc_req_done(op->req, r, NULL);
        op_free(op);
        return;
    }
    if (vm->sup_conn == NULL) {
        cerr_set(&ce, CE_SUPERVISOR, "VM %s started but its supervisor cannot be reached to revert",
                 vm->def->name);
        rpc_req_done(op->req, NULL, &ce);
        op_free(op);
        return;
    }
    /* The caller's params, without the name, as forward.c sends them. */
    rpc_conn_call(vm->sup_conn, op->method, json_dup(op->params), op->timeout_ms, reverted_cb, op);
}

void maintenance_request(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                         void *req)
{
    struct maint_op *op, **pp;

    if (vm->start_waiters != NULL || vm->revert_after_start != NULL) {
        struct cerr e;
        /* Otherwise a stream of snapshot requests would keep the
         * maintenance QEMU, and the disks, from the start for good. */
        cerr_set(&e, CE_BUSY, "VM %s is starting; try again once it runs", vm->def->name);
        rpc_req_done(req, NULL, &e);
        return;
    }
    int queued = vm->maint_inflight;
    for (pp = &vm->maint_queue; *pp != NULL; pp = &(*pp)->next)
        queued++;
    if (queued >= MAINT_MAX_OPS) {
        struct cerr e;
        cerr_set(&e, CE_BUSY,
                 "VM %s has %d snapshot requests waiting, the most it takes; try again once some "
                 "are answered",
                 vm->def->name, MAINT_MAX_OPS);
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (vm->phase == LIFECYCLE_MAINT_READY && maint_connected(vm)) {
        maint_send(vm, method, params, timeout_ms, req);
        return;
    }
    op = xcalloc(1, sizeof(*op));
    op->method = xstrdup(method);
    op->params = params ? json_dup(params) : json_obj();
    op->timeout_ms = timeout_ms;
    op->req = req;
    for (pp = &vm->maint_queue; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = op;
    /* A supervisor on its way out is replaced when it has gone (settle). */
    if (!lifecycle_maintenance(vm->phase))
        maint_begin(vm);
}
