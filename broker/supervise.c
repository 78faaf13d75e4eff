/* A VM's supervisor from start to end: starting one, and what its status
 * line and its going away mean in each phase of its life
 * (broker/lifecycle.h).  The paths that phase leads to live below it:
 * readopt.c (a supervisor died while QEMU runs on), maintenance.c
 * (snapshot work on a shut-off VM), on top of spawn.c's primitives. */
#include "broker/supervise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/leftovers.h"
#include "broker/lifecycle.h"
#include "broker/maintenance.h"
#include "broker/proc.h"
#include "broker/readopt.h"
#include "broker/spawn.h"
#include "broker/vm_dirs.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/runrec.h"
#include "proto/rpc.h"
#include "proto/server.h"

static bool state_is(const cJSON *info, const char *state)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(info, "state");

    return cJSON_IsString(s) && strcmp(s->valuestring, state) == 0;
}

/* The status line arrived: said in STARTING, MAINT_STARTING or READOPTING
 * (e: why start-up failed, or NULL). */
static void status_arrived(struct bvm *vm, const cJSON *info, const struct cerr *e)
{
    struct cerr ce;
    cJSON *res;

    if (vm->phase == LIFECYCLE_READOPTING) {
        readopt_status(vm, info, e);
        return;
    }
    if (e != NULL) {
        /* The supervisor exits after saying so, and is settled then. */
        spawn_finish_start(vm, NULL, e);
        maintenance_fail_queue(vm, e);
        return;
    }
    if (lifecycle_maintenance(vm->phase)) {
        maintenance_ready(vm, info);
        return;
    }
    res = json_obj();
    spawn_watch_qemu(vm, runrec_status_qemu_pid(info), 0);
    if (spawn_connect(vm, NULL, BVM_CALL_TIMEOUT_MS, &ce) < 0)
        log_warn_code(cerr_name(ce.code), "VM %s: %s", vm->def->name, ce.msg);
    /* Said by the supervisor: only a start asked to stay paused is. */
    if (vm->start_paused && state_is(info, "paused"))
        bvm_set_state(vm, "paused", "user");
    else
        bvm_set_state(vm, "running", "booted");
    json_add_str(res, "name", vm->def->name);
    json_add_str(res, "state", vm->state);
    json_add_num(res, "supervisor_pid", vm->sup_pid);
    json_add_num(res, "qemu_pid", vm->qemu_pid);
    spawn_finish_start(vm, res, NULL);
    maintenance_started(vm, NULL);
}

/* By phase: a maintenance supervisor ends no VM (maintenance_gone); one
 * still STARTING fails the start; a READOPTING one that said it could not
 * take QEMU over ends it (readopt_failed); REATTACHING and READOPTING ones
 * are otherwise settled as RUNNING ones: by the exit facts they wrote, or,
 * when QEMU lives on, by a new supervisor (readopt_after_crash). */
void supervise_gone(struct bvm *vm, const char *how)
{
    struct cerr re;
    /* Written by the supervisor: untrusted, and absent after a crash. */
    cJSON *facts = vm_dirs_read_json(vm->vm_dir, RUNREC_EXIT_FILE, RUNREC_MAX, &re);
    struct runrec_exit x;
    /* Written by this run: the time alone cannot tell a run from the one
     * that ended the second before it started; the QEMU pid can. */
    bool fresh = runrec_exit_parse(facts, &x) && x.time >= vm->started - 1 &&
                 (vm->qemu_pid <= 0 || x.qemu_pid == 0 || x.qemu_pid == vm->qemu_pid);
    bool was_starting = vm->phase == LIFECYCLE_STARTING;
    /* A supervisor that said it cannot re-adopt QEMU is believed; one that
     * died before saying anything crashed like its predecessor. */
    bool refused = vm->phase == LIFECYCLE_READOPTING && vm->readopt_error[0] != '\0';

    /* Answers still on their way from it no longer count: it is settled
     * as a running supervisor that is gone. */
    if (vm->phase == LIFECYCLE_REATTACHING || vm->phase == LIFECYCLE_READOPTING)
        lifecycle_set(vm, LIFECYCLE_RUNNING);
    cJSON_Delete(facts);
    if (lifecycle_maintenance(vm->phase)) {
        maintenance_gone(vm, how);
        return;
    }
    if (was_starting) {
        struct cerr se;
        cerr_set(&se, CE_SUPERVISOR, "the supervisor of VM %s %s during start-up", vm->def->name,
                 how);
        spawn_finish_start(vm, NULL, &se);
        maintenance_started(vm, &se);
    }
    if (refused)
        readopt_failed(vm);
    else if (fresh) {
        /* An adopted QEMU's exit status is only known to the broker, which
         * reaped it. */
        bool add = strcmp(x.state, "crashed") == 0 && vm->qemu_exit[0] != '\0';
        bvm_set_state(vm, x.state, "%s%s%s%s", x.reason, add ? " (QEMU " : "",
                      add ? vm->qemu_exit : "", add ? ")" : "");
    } else if (!was_starting && spawn_qemu_alive(vm)) {
        /* QEMU runs on: a new supervisor takes it over. */
        readopt_after_crash(vm, how);
        return;
    } else if (!was_starting && vm->qemu_pid > 0 &&
               (vm->qemu_pidfd < 0 || pidfd_ended(vm->qemu_pidfd))) {
        bool known = vm->qemu_exit[0] != '\0';
        bvm_set_state(vm, "crashed", "crashed: supervisor %s, and QEMU pid %ld is gone too%s%s%s",
                      how, (long)vm->qemu_pid, known ? " (QEMU " : "", known ? vm->qemu_exit : "",
                      known ? ")" : "");
    } else {
        /* Without its supervisor nobody manages QEMU: stop it rather than
         * leave a guest nobody can see. */
        bool killed = spawn_kill_qemu(vm);
        if (was_starting)
            leftovers_kill_vm(vm->b, vm->run_dir);
        bvm_set_state(vm, "crashed", "crashed: supervisor %s%s", how,
                      killed ? "; its QEMU was killed" : "");
    }
    if (vm->start_waiters != NULL) {
        /* A start that was re-adopting QEMU of a degraded VM. */
        struct cerr se;
        cerr_set(&se, CE_SUPERVISOR, "VM %s: %s", vm->def->name, vm->reason);
        spawn_finish_start(vm, NULL, &se);
    }
    lifecycle_adopt_settled(vm, false);
    spawn_finish(vm);
}

void supervise_start(struct bvm *vm, void *req)
{
    struct start_waiter *w;
    struct cerr e;

    if (lifecycle_maintenance(vm->phase)) {
        maintenance_wait_start(vm, req);
        return;
    }
    if (lifecycle_degraded(vm->phase)) {
        readopt_start(vm, req);
        return;
    }
    if (vm->phase == LIFECYCLE_READOPTING) {
        cerr_set(&e, CE_BUSY, "VM %s: its supervisor is being restarted; try again", vm->def->name);
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (bvm_active(vm) || lifecycle_starting(vm->phase)) {
        cerr_set(&e, CE_OPERATION_INVALID, "VM %s is already %s", vm->def->name,
                 lifecycle_starting(vm->phase) ? "starting" : vm->state);
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (spawn_start(vm, false, &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->req = req;
    vm->start_waiters = w;
}

void supervise_init(struct broker *b)
{
    static const struct spawn_hooks hooks = {status_arrived, supervise_gone};

    b->spawn_hooks = &hooks;
}
