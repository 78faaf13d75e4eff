/* A supervisor died while its QEMU runs on: the guest is not to pay for a
 * bug or a kill in the process that merely manages it.  A new supervisor
 * re-adopts QEMU (corral-supervisor --adopt); one that keeps dying leaves
 * the VM degraded, QEMU running unmanaged and watched by the broker, until
 * the user destroys it or starts it again. */
#include "broker/readopt.h"

#include "broker/lifecycle.h"
#include "broker/proc.h"
#include "broker/settle.h"
#include "broker/spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "proto/rpc.h"
#include "proto/server.h"

/* As for a managed destroy: QEMU gets this long to exit after SIGTERM. */
#define DESTROY_GRACE_S 3

/* Nobody will manage QEMU: it is stopped rather than left to run unseen. */
static void give_up(struct bvm *vm, const char *msg)
{
    struct cerr e;

    lifecycle_set(vm, LIFECYCLE_OFF);
    spawn_kill_qemu(vm);
    cerr_set(&e, CE_SUPERVISOR, "VM %s: supervisor could not re-adopt QEMU: %s", vm->def->name,
             msg);
    spawn_finish_start(vm, NULL, &e);
    bvm_set_state(vm, "crashed", "crashed: supervisor could not re-adopt QEMU: %s", msg);
}

static void begin(struct bvm *vm)
{
    char state[sizeof(vm->state)];
    struct cerr e;

    /* The guest runs on as it was; only the reason says what happens. */
    snprintf(state, sizeof(state), "%s", vm->state);
    lifecycle_set(vm, LIFECYCLE_READOPTING);
    vm->readopt_error[0] = '\0';
    bvm_set_state(vm, state, "supervisor restarting");
    if (spawn_start(vm, true, &e) == 0)
        return;
    log_err_code(cerr_name(e.code), "VM %s: %s", vm->def->name, e.msg);
    give_up(vm, e.msg);
    lifecycle_adopt_settled(vm, false);
    spawn_finish(vm);
}

static void qemu_ended_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bvm *vm = arg;
    char desc[sizeof(vm->qemu_exit)];
    siginfo_t si;

    (void)what;
    memset(&si, 0, sizeof(si));
    /* QEMU orphaned by a supervisor of this broker is its child now: its
     * exit status is there to read, unless the SIGCHLD handler got it. */
    if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
        describe_exit(&si, desc, sizeof(desc));
    else
        snprintf(desc, sizeof(desc), "%s",
                 vm->qemu_exit[0] != '\0' ? vm->qemu_exit : "exit status unknown");
    log_info("VM %s: unmanaged QEMU pid %ld %s", vm->def->name, (long)vm->qemu_pid, desc);
    if (vm->phase == LIFECYCLE_DESTROYING) {
        bvm_set_state(vm, "shut off", "destroyed");
        /* Answered once spawn_finish has settled the VM. */
        while (vm->destroy_waiters != NULL) {
            struct start_waiter *w = vm->destroy_waiters;
            cJSON *res = json_obj();
            vm->destroy_waiters = w->next;
            json_add_str(res, "name", vm->def->name);
            settle_wait(vm, w->req, res);
            free(w);
        }
    } else
        bvm_set_state(vm, "crashed", "crashed: QEMU pid %ld ended while unmanaged (%s)",
                      (long)vm->qemu_pid, desc);
    spawn_finish(vm);
}

static void degrade(struct bvm *vm, const char *how)
{
    struct cerr e;

    lifecycle_set(vm, LIFECYCLE_DEGRADED);
    vm->qemu_ev = event_new(vm->b->base, vm->qemu_pidfd, EV_READ, qemu_ended_cb, vm);
    if (vm->qemu_ev == NULL || event_add(vm->qemu_ev, NULL) < 0) {
        log_err("VM %s: cannot watch QEMU pid %ld; killing it rather than leave it unseen",
                vm->def->name, (long)vm->qemu_pid);
        lifecycle_set(vm, LIFECYCLE_OFF);
        spawn_kill_qemu(vm);
        bvm_set_state(vm, "crashed",
                      "crashed: supervisor %s; QEMU could not be watched and was killed", how);
    } else
        bvm_set_state(vm, "degraded",
                      "supervisor crashed %u time%s in %u s (last: %s); QEMU pid %ld left "
                      "running unmanaged; destroy it, or start to re-adopt",
                      vm->crash_window_count, vm->crash_window_count == 1 ? "" : "s",
                      vm->b->restart_interval, how, (long)vm->qemu_pid);
    /* A start that was re-adopting QEMU, whose new supervisor died too. */
    cerr_set(&e, CE_SUPERVISOR, "VM %s: %s", vm->def->name, vm->reason);
    spawn_finish_start(vm, NULL, &e);
    lifecycle_adopt_settled(vm, false);
    if (!lifecycle_degraded(vm->phase))
        spawn_finish(vm);
}

void readopt_after_crash(struct bvm *vm, const char *how)
{
    struct broker *b = vm->b;
    time_t now = time(NULL);

    spawn_drop(vm);
    /* Counted as systemd counts start bursts: within an interval that
     * starts at the first crash. */
    if (vm->crash_window_count == 0 ||
        now - vm->crash_window_start >= (time_t)b->restart_interval) {
        vm->crash_window_start = now;
        vm->crash_window_count = 0;
    }
    vm->crash_window_count++;
    if (vm->crash_window_count > b->restart_limit) {
        degrade(vm, how);
        return;
    }
    snprintf(vm->restart_why, sizeof(vm->restart_why), "supervisor %s", how);
    log_warn("VM %s: supervisor %s; QEMU pid %ld runs on, and a new supervisor re-adopts it",
             vm->def->name, how, (long)vm->qemu_pid);
    begin(vm);
}

void readopt_status(struct bvm *vm, const cJSON *info, const struct cerr *e)
{
    const cJSON *qpid = cJSON_GetObjectItemCaseSensitive(info, "qemu_pid");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(info, "state");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(info, "reason");
    struct cerr ce;
    cJSON *res;

    if (e != NULL) {
        /* The supervisor exits after saying so; its settling finishes the
         * VM with this message (readopt_failed).  QEMU goes now: nobody
         * will manage it. */
        snprintf(vm->readopt_error, sizeof(vm->readopt_error), "%.255s", e->msg);
        spawn_kill_qemu(vm);
        return;
    }
    lifecycle_set(vm, LIFECYCLE_RUNNING);
    if (!cJSON_IsNumber(qpid) || (pid_t)qpid->valueint != vm->qemu_pid)
        log_warn("VM %s: the new supervisor does not report QEMU pid %ld as its own", vm->def->name,
                 (long)vm->qemu_pid);
    if (spawn_connect(vm, NULL, BVM_CALL_TIMEOUT_MS, &ce) < 0)
        log_warn_code(cerr_name(ce.code), "VM %s: %s", vm->def->name, ce.msg);
    bvm_note_restart(vm, &vm->sup_restarts, vm->restart_why);
    log_info("VM %s: supervisor re-adopted QEMU pid %ld (restart %u)", vm->def->name,
             (long)vm->qemu_pid, vm->sup_restarts);
    bvm_set_state(vm, cJSON_IsString(state) ? state->valuestring : "running", "%s",
                  cJSON_IsString(reason) ? reason->valuestring : "re-adopted");
    res = json_obj();
    json_add_str(res, "name", vm->def->name);
    json_add_str(res, "state", vm->state);
    json_add_num(res, "supervisor_pid", vm->sup_pid);
    json_add_num(res, "qemu_pid", vm->qemu_pid);
    spawn_finish_start(vm, res, NULL);
    lifecycle_adopt_settled(vm, true);
}

void readopt_failed(struct bvm *vm)
{
    give_up(vm, vm->readopt_error);
}

void readopt_start(struct bvm *vm, void *req)
{
    struct start_waiter *w;
    struct cerr e;

    if (vm->phase == LIFECYCLE_DESTROYING) {
        cerr_set(&e, CE_OPERATION_INVALID, "VM %s is being destroyed", vm->def->name);
        rpc_req_done(req, NULL, &e);
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->req = req;
    w->next = vm->start_waiters;
    vm->start_waiters = w;
    event_free(vm->qemu_ev);
    vm->qemu_ev = NULL;
    vm->crash_window_count = 0;
    snprintf(vm->restart_why, sizeof(vm->restart_why),
             "started again after the supervisor kept crashing");
    log_info("VM %s: start while degraded: a new supervisor re-adopts QEMU pid %ld", vm->def->name,
             (long)vm->qemu_pid);
    begin(vm);
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bvm *vm = arg;

    (void)fd;
    (void)what;
    log_warn("VM %s: QEMU pid %ld ignored SIGTERM for %d s; sending SIGKILL", vm->def->name,
             (long)vm->qemu_pid, DESTROY_GRACE_S);
    spawn_kill_qemu(vm);
}

void readopt_destroy(struct bvm *vm, void *req)
{
    struct timeval tv = {DESTROY_GRACE_S, 0};
    struct start_waiter *w = xcalloc(1, sizeof(*w));

    w->req = req;
    w->next = vm->destroy_waiters;
    vm->destroy_waiters = w;
    if (vm->phase == LIFECYCLE_DESTROYING)
        return;
    lifecycle_set(vm, LIFECYCLE_DESTROYING);
    log_info("VM %s: destroying unmanaged QEMU pid %ld", vm->def->name, (long)vm->qemu_pid);
    if (pidfd_send_signal(vm->qemu_pidfd, SIGTERM, NULL, 0) < 0 && errno != ESRCH)
        log_warn("VM %s: cannot send SIGTERM to QEMU pid %ld: %s", vm->def->name,
                 (long)vm->qemu_pid, strerror(errno));
    vm->kill_timer = evtimer_new(vm->b->base, kill_cb, vm);
    if (vm->kill_timer == NULL || evtimer_add(vm->kill_timer, &tv) < 0) {
        log_err("VM %s: cannot arm the kill timer; sending SIGKILL now", vm->def->name);
        spawn_kill_qemu(vm);
    }
}
