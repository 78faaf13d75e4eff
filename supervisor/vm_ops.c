/* What a user asks of a running VM: pause, resume, shut down, destroy,
 * a state refresh after snapshot work, raw QMP.  Built on supervisor/vm.c,
 * which owns QEMU's life and completes the waiters when QEMU ends. */
#include "supervisor/vm.h"
#include "supervisor/vm_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "supervisor/qmp.h"
#include "supervisor/snapshot_qmp_jobs.h"

/* Each step of destroy: quit, then SIGTERM, then SIGKILL. */
#define DESTROY_STEP_S 3

static int require_active(const struct vm *vm, struct cerr *e)
{
    if (vm->maintenance) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s is shut off (its disks are open for snapshot work)", vm->def->name);
        return -1;
    }
    if (vm_is_active(vm))
        return 0;
    cerr_set(e, CE_OPERATION_INVALID, "VM %s is not running (state: %s)", vm->def->name,
             vm_state_name(vm->state));
    return -1;
}

struct op {
    struct vm *vm;
    vm_done_cb cb;
    void *arg;
    const char *what;
    int timeout_s; /* shutdown: wait this long for QEMU to end, 0 = do not wait */
};

static struct op *op_new(struct vm *vm, vm_done_cb cb, void *arg, const char *what)
{
    struct op *op = xcalloc(1, sizeof(*op));

    op->vm = vm;
    op->cb = cb;
    op->arg = arg;
    op->what = what;
    return op;
}

static void state_op_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct op *op = arg;
    struct vm *vm = op->vm;
    struct cerr err;

    if (e == NULL && qmp_reply_check(reply, op->what, &err) < 0)
        e = &err;
    if (e != NULL) {
        vm->stop_requested = vm->resume_requested = false;
        op->cb(op->arg, NULL, e);
    } else {
        if (strcmp(op->what, "stop") == 0)
            vm_set_state(vm, VM_PAUSED, "user");
        else
            vm_set_state(vm, VM_RUNNING, "unpaused");
        vm->stop_requested = vm->resume_requested = false;
        op->cb(op->arg, vm_state_json(vm), NULL);
    }
    free(op);
}

void vm_suspend(struct vm *vm, vm_done_cb cb, void *arg)
{
    struct cerr e;

    if (require_active(vm, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    if (vm->state == VM_PAUSED) {
        cerr_set(&e, CE_OPERATION_INVALID, "VM %s is already paused", vm->def->name);
        cb(arg, NULL, &e);
        return;
    }
    vm->stop_requested = true;
    qmp_command(vm->qmp, "stop", NULL, QMP_COMMAND_TIMEOUT_MS, state_op_cb,
                op_new(vm, cb, arg, "stop"));
}

void vm_resume(struct vm *vm, vm_done_cb cb, void *arg)
{
    struct cerr e;

    if (require_active(vm, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    if (vm->state == VM_RUNNING) {
        cerr_set(&e, CE_OPERATION_INVALID, "VM %s is already running", vm->def->name);
        cb(arg, NULL, &e);
        return;
    }
    vm->resume_requested = true;
    qmp_command(vm->qmp, "cont", NULL, QMP_COMMAND_TIMEOUT_MS, state_op_cb,
                op_new(vm, cb, arg, "cont"));
}

static void waiter_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct waiter *w = arg;
    struct vm *vm = w->vm;
    struct cerr e;

    (void)fd;
    (void)what;
    for (struct waiter **pp = &vm->waiters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    event_free(w->timer);
    cerr_set(&e, CE_TIMEOUT,
             "VM %s did not shut down within the timeout; it is still %s (the guest may ignore "
             "ACPI; use destroy to stop it)",
             vm->def->name, vm_state_name(vm->state));
    w->cb(w->arg, NULL, &e);
    free(w);
}

static void add_waiter(struct vm *vm, vm_done_cb cb, void *arg, int timeout_s)
{
    struct waiter *w = xcalloc(1, sizeof(*w));

    w->cb = cb;
    w->arg = arg;
    w->vm = vm;
    if (timeout_s > 0) {
        struct timeval tv = {timeout_s, 0};
        w->timer = evtimer_new(vm->base, waiter_timeout_cb, w);
        if (w->timer == NULL || evtimer_add(w->timer, &tv) < 0)
            log_err("VM %s: cannot arm the shutdown timer", vm->def->name);
    }
    w->next = vm->waiters;
    vm->waiters = w;
}

static void powerdown_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct op *op = arg;
    struct cerr err;

    if (e == NULL && qmp_reply_check(reply, "system_powerdown", &err) < 0)
        e = &err;
    if (e != NULL)
        op->cb(op->arg, NULL, e);
    else if (op->timeout_s == 0) {
        cJSON *r = vm_state_json(op->vm);
        json_add_bool(r, "shutdown_requested", true);
        op->cb(op->arg, r, NULL);
    } else
        add_waiter(op->vm, op->cb, op->arg, op->timeout_s);
    free(op);
}

static void ignore_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct vm *vm = arg;
    struct cerr err;

    if (e != NULL || qmp_reply_check(reply, "set-action", &err) < 0)
        log_warn("VM %s: cannot set QEMU's shutdown action back to power-off: %s", vm->def->name,
                 e != NULL ? e->msg : err.msg);
}

/* The guest's power-off ends QEMU again (QEMU's default action). */
static void power_off_on_shutdown(struct vm *vm)
{
    cJSON *args = json_obj();

    json_add_str(args, "shutdown", "poweroff");
    qmp_command(vm->qmp, "set-action", args, QMP_COMMAND_TIMEOUT_MS, ignore_cb, vm);
}

void vm_shutdown(struct vm *vm, int timeout_s, vm_done_cb cb, void *arg)
{
    struct cerr e;
    struct op *op;

    if (require_active(vm, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    /* A shutdown supersedes a reboot the guest did not act on, as in
     * libvirt. */
    if (vm->shutdown_hook != NULL) {
        vm->shutdown_hook = NULL;
        power_off_on_shutdown(vm);
    }
    op = op_new(vm, cb, arg, "system_powerdown");
    op->timeout_s = timeout_s;
    qmp_command(vm->qmp, "system_powerdown", NULL, QMP_COMMAND_TIMEOUT_MS, powerdown_cb, op);
}

static void kill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vm *vm = arg;
    struct timeval tv = {DESTROY_STEP_S, 0};

    (void)fd;
    (void)what;
    if (!vm->proc_alive)
        return;
    vm->kill_stage++;
    if (vm->kill_stage == 1) {
        log_warn("VM %s: QEMU ignored quit; sending SIGTERM", vm->def->name);
        qemu_signal(&vm->proc, SIGTERM);
        evtimer_add(vm->kill_timer, &tv);
    } else {
        log_warn("VM %s: QEMU ignored SIGTERM; sending SIGKILL", vm->def->name);
        qemu_signal(&vm->proc, SIGKILL);
    }
}

static void quit_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    (void)reply;
    (void)e;
    (void)arg;
    /* The outcome is QEMU's exit, seen through the pidfd. */
}

void vm_destroy(struct vm *vm, vm_done_cb cb, void *arg)
{
    struct timeval tv = {DESTROY_STEP_S, 0};
    struct cerr e;

    if (!vm->proc_alive) {
        cerr_set(&e, CE_OPERATION_INVALID, "VM %s is not running", vm->def->name);
        cb(arg, NULL, &e);
        return;
    }
    add_waiter(vm, cb, arg, 0);
    if (vm->destroying)
        return;
    vm->destroying = true;
    log_info("VM %s: destroying QEMU pid %ld", vm->def->name, (long)vm->proc.pid);
    if (vm->kill_timer == NULL)
        vm->kill_timer = evtimer_new(vm->base, kill_timer_cb, vm);
    if (vm->kill_timer == NULL || evtimer_add(vm->kill_timer, &tv) < 0) {
        log_err("VM %s: cannot arm the destroy timer; sending SIGKILL now", vm->def->name);
        qemu_signal(&vm->proc, SIGKILL);
        return;
    }
    /* A snapshot save or load blocks QEMU's monitor (and its main loop):
     * quit would wait behind it, so signals go first. */
    if (vm->state == VM_STARTING || !qmp_is_ready(vm->qmp) || snapshot_qmp_jobs_busy(vm->snapjobs))
        qemu_signal(&vm->proc, SIGTERM);
    else
        qmp_command(vm->qmp, "quit", NULL, 0, quit_cb, NULL);
}

struct sync {
    struct vm *vm;
    char reason[128];
    vm_done_cb cb;
    void *arg;
};

static void sync_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct sync *sy = arg;
    struct vm *vm = sy->vm;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(qmp_reply_return(reply), "status");
    struct cerr err;

    if (e == NULL && !cJSON_IsString(status)) {
        cerr_set(&err, CE_QEMU_FAILED, "VM %s: query-status gave no status", vm->def->name);
        e = &err;
    }
    if (e != NULL) {
        sy->cb(sy->arg, NULL, e);
        free(sy);
        return;
    }
    if (strcmp(status->valuestring, "running") == 0)
        vm_set_state(vm, VM_RUNNING, "%s", sy->reason);
    else
        vm_set_state(vm, VM_PAUSED, "%s", sy->reason);
    sy->cb(sy->arg, vm_state_json(vm), NULL);
    free(sy);
}

void vm_sync_state(struct vm *vm, const char *reason, vm_done_cb cb, void *arg)
{
    struct sync *sy = xcalloc(1, sizeof(*sy));

    sy->vm = vm;
    snprintf(sy->reason, sizeof(sy->reason), "%s", reason);
    sy->cb = cb;
    sy->arg = arg;
    qmp_command(vm->qmp, "query-status", NULL, QMP_COMMAND_TIMEOUT_MS, sync_cb, sy);
}

void vm_set_paused_reason(struct vm *vm, const char *reason)
{
    vm_set_state(vm, VM_PAUSED, "%s", reason);
}

struct passthrough {
    vm_raw_done_cb cb;
    void *arg;
};

/* QEMU's reply goes on as the bytes it sent, checked by qmp.c, wrapped in
 * the result object without a parse and a print. */
static void passthrough_cb(const char *reply, size_t len, const struct cerr *e, void *arg)
{
    static const char head[] = "{\"reply\":";
    struct passthrough *pt = arg;
    struct cerr oom;
    char *r;

    if (e != NULL) {
        pt->cb(pt->arg, NULL, 0, e);
        free(pt);
        return;
    }
    r = malloc(sizeof(head) - 1 + len + 1);
    if (r == NULL) {
        cerr_set(&oom, CE_SYSTEM, "out of memory relaying a QMP reply");
        pt->cb(pt->arg, NULL, 0, &oom);
        free(pt);
        return;
    }
    memcpy(r, head, sizeof(head) - 1);
    memcpy(r + sizeof(head) - 1, reply, len);
    r[sizeof(head) - 1 + len] = '}';
    pt->cb(pt->arg, r, sizeof(head) - 1 + len + 1, NULL);
    free(r);
    free(pt);
}

void vm_qmp(struct vm *vm, const cJSON *cmd, vm_raw_done_cb cb, void *arg)
{
    const cJSON *exec = cJSON_GetObjectItemCaseSensitive(cmd, "execute");
    struct cerr e;

    struct passthrough *pt;

    if (!cJSON_IsObject(cmd) || !cJSON_IsString(exec)) {
        cerr_set(&e, CE_INVALID_PARAMS,
                 "\"command\" must be a QMP command object with "
                 "\"execute\"");
        cb(arg, NULL, 0, &e);
        return;
    }
    if (strcmp(exec->valuestring, "qmp_capabilities") == 0) {
        cerr_set(&e, CE_INVALID_PARAMS, "qmp_capabilities is negotiated by the supervisor");
        cb(arg, NULL, 0, &e);
        return;
    }
    if (require_active(vm, &e) < 0) {
        cb(arg, NULL, 0, &e);
        return;
    }
    /* Root may change the disks' snapshots there, at once or through a
     * job that runs on after the reply. */
    snapshot_tags_forget(snapshot_qmp_jobs_tags(vm->snapjobs));
    pt = xcalloc(1, sizeof(*pt));
    pt->cb = cb;
    pt->arg = arg;
    qmp_command_relay(vm->qmp, cmd, QMP_COMMAND_TIMEOUT_MS, passthrough_cb, pt);
}

void vm_set_start_paused(struct vm *vm)
{
    vm->start_paused = true;
}

static void reset_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct op *op = arg;
    struct cerr err;

    if (e == NULL && qmp_reply_check(reply, "system_reset", &err) < 0)
        e = &err;
    if (e != NULL)
        op->cb(op->arg, NULL, e);
    else
        op->cb(op->arg, vm_state_json(op->vm), NULL);
    free(op);
}

void vm_reset(struct vm *vm, vm_done_cb cb, void *arg)
{
    struct cerr e;

    if (require_active(vm, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    log_info("VM %s: reset", vm->def->name);
    qmp_command(vm->qmp, "system_reset", NULL, QMP_COMMAND_TIMEOUT_MS, reset_cb,
                op_new(vm, cb, arg, "system_reset"));
}

/* The reboot could not be completed: the guest has powered off, and QEMU,
 * paused, is made to end as a power-off would have ended it. */
static void reboot_failed(struct vm *vm, const char *step, const struct cerr *e)
{
    log_err("VM %s: reboot failed at %s (%s); the guest powered off, so QEMU is stopped",
            vm->def->name, step, e->msg);
    vm->rebooting = false;
    vm->shutdown_seen = true;
    vm->shutdown_guest = true;
    qemu_signal(&vm->proc, SIGTERM);
}

static void reboot_cont_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct vm *vm = arg;
    struct cerr err;

    if (e == NULL && qmp_reply_check(reply, "cont", &err) < 0)
        e = &err;
    if (e != NULL) {
        reboot_failed(vm, "cont", e);
        return;
    }
    vm->rebooting = false;
    vm_set_state(vm, VM_RUNNING, "booted");
}

/* After the reset, the guest's next power-off ends QEMU again, and only
 * then does it run. */
static void reboot_reset_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct vm *vm = arg;
    struct cerr err;

    if (e == NULL && qmp_reply_check(reply, "system_reset", &err) < 0)
        e = &err;
    if (e != NULL) {
        reboot_failed(vm, "system_reset", e);
        return;
    }
    power_off_on_shutdown(vm);
    qmp_command(vm->qmp, "cont", NULL, QMP_COMMAND_TIMEOUT_MS, reboot_cont_cb, vm);
}

/* The guest powered off, and QEMU paused instead of ending: libvirt's
 * "fake reboot", a reset and a continue. */
static void fake_reboot(struct vm *vm)
{
    log_info("VM %s: the guest powered off for its reboot; resetting it", vm->def->name);
    vm->rebooting = true;
    qmp_command(vm->qmp, "system_reset", NULL, QMP_COMMAND_TIMEOUT_MS, reboot_reset_cb, vm);
}

static void reboot_powerdown_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct op *op = arg;
    struct vm *vm = op->vm;
    struct cerr err;

    if (e == NULL && qmp_reply_check(reply, "system_powerdown", &err) < 0)
        e = &err;
    if (e != NULL) {
        vm->shutdown_hook = NULL;
        power_off_on_shutdown(vm);
        op->cb(op->arg, NULL, e);
    } else {
        cJSON *r = vm_state_json(vm);
        json_add_bool(r, "reboot_requested", true);
        op->cb(op->arg, r, NULL);
    }
    free(op);
}

static void reboot_action_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct op *op = arg;
    struct vm *vm = op->vm;
    struct cerr err;

    if (e == NULL && qmp_reply_check(reply, "set-action", &err) < 0)
        e = &err;
    if (e != NULL) {
        cerr_set(&err, e->code,
                 "VM %s: QEMU cannot pause on the guest's power-off for a reboot: %s",
                 vm->def->name, e->msg);
        op->cb(op->arg, NULL, &err);
        free(op);
        return;
    }
    vm->shutdown_hook = fake_reboot;
    qmp_command(vm->qmp, "system_powerdown", NULL, QMP_COMMAND_TIMEOUT_MS, reboot_powerdown_cb, op);
}

void vm_reboot(struct vm *vm, vm_done_cb cb, void *arg)
{
    struct cerr e;
    cJSON *args;

    if (require_active(vm, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    if (vm->rebooting) {
        cerr_set(&e, CE_OPERATION_INVALID, "VM %s is rebooting already", vm->def->name);
        cb(arg, NULL, &e);
        return;
    }
    /* QEMU's -no-shutdown, for this power-off only. */
    args = json_obj();
    json_add_str(args, "shutdown", "pause");
    qmp_command(vm->qmp, "set-action", args, QMP_COMMAND_TIMEOUT_MS, reboot_action_cb,
                op_new(vm, cb, arg, "set-action"));
}
