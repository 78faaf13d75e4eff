/* A broker that starts finds the supervisors a previous one left running
 * from their run records, checks that each pid still is the process the
 * record names, and re-attaches to all of them at once.  One that does not
 * answer in time is killed and replaced like any supervisor that dies
 * (readopt.c); a maintenance one is told to stop. */
#include "broker/adopt.h"

#include "broker/identity.h"
#include "broker/leftovers.h"
#include "broker/lifecycle.h"
#include "broker/maintenance.h"
#include "broker/proc.h"
#include "broker/spawn.h"
#include "broker/supervise.h"
#include "broker/tap.h"
#include "broker/vm_dirs.h"
#include "broker/vm_migrate.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <time.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/runrec.h"
#include "common/monotime.h"
#include "proto/rpc.h"
#include "proto/server.h"

/* The supervisor is alive but of no use: killed, it is replaced through
 * the path of any supervisor that dies, and its QEMU re-adopted. */
static void reattach_fail(struct bvm *vm, const char *why)
{
    if (vm->phase == LIFECYCLE_REATTACHING)
        lifecycle_set(vm, LIFECYCLE_RUNNING);
    snprintf(vm->sup_kill_why, sizeof(vm->sup_kill_why), "killed by the broker (%s)", why);
    log_warn("VM %s: supervisor pid %ld: %s; killing it so that a new one takes over QEMU",
             vm->def->name, (long)vm->sup_pid, why);
    if (pidfd_send_signal(vm->sup_pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        log_err("VM %s: cannot kill supervisor pid %ld: %s", vm->def->name, (long)vm->sup_pid,
                strerror(errno));
}

/* The VMs re-attached whose status files (the state vm.state answered,
 * the re-attach counter) are still to be written, together once every VM
 * has settled: written as each settled, even unsynced, they held up the
 * others (a thousand VMs back in 600 ms instead of 220).  Nothing depends
 * on them before that: a broker that dies first re-attaches and asks
 * again.  One broker per process, so one batch. */
static struct {
    char **names; /* a VM may be gone by then: looked up again */
    size_t n, cap;
    struct event *timer;
} batch;

/* Written at the latest this long after the first re-attachment, should
 * some VM never settle through reattach_answer. */
#define BATCH_WAIT_S 1
/* Status files written per turn of the event loop, which answers requests
 * in between: a thousand at once held it for seconds on a busy disk. */
#define BATCH_CHUNK 200

static void flush_status(evutil_socket_t fd, short what, void *arg)
{
    static const struct timeval now = {0, 0};
    struct broker *b = arg;
    size_t take = batch.n < BATCH_CHUNK ? batch.n : BATCH_CHUNK, n = 0;
    struct bvm **vms = xcalloc(take + 1, sizeof(*vms));

    (void)fd;
    (void)what;
    for (size_t i = batch.n - take; i < batch.n; i++) {
        struct bvm *vm = registry_find(b, batch.names[i]);

        if (vm != NULL)
            vms[n++] = vm;
        free(batch.names[i]);
    }
    batch.n -= take;
    bvm_persist_status_many(vms, n);
    free(vms);
    if (batch.n == 0 || (batch.timer != NULL && evtimer_add(batch.timer, &now) == 0))
        return;
    flush_status(-1, 0, b);
}

static void persist_later(struct bvm *vm)
{
    struct timeval tv = {BATCH_WAIT_S, 0};

    if (batch.n == batch.cap) {
        batch.cap = batch.cap ? batch.cap * 2 : 64;
        batch.names = xreallocarray(batch.names, batch.cap, sizeof(*batch.names));
    }
    batch.names[batch.n++] = xstrdup(vm->def->name);
    if (batch.timer == NULL &&
        (batch.timer = evtimer_new(vm->b->base, flush_status, vm->b)) == NULL) {
        log_err("VM %s: cannot schedule the status writes; writing now", vm->def->name);
        flush_status(-1, 0, vm->b);
        return;
    }
    /* The last VM still adopting: written from the next turn of the loop. */
    if (vm->b->adopting <= 1)
        tv.tv_sec = 0;
    if ((vm->b->adopting <= 1 || !evtimer_pending(batch.timer, NULL)) &&
        evtimer_add(batch.timer, &tv) < 0) {
        log_err("VM %s: cannot schedule the status writes; writing now", vm->def->name);
        flush_status(-1, 0, vm->b);
    }
}

static void reattach_answer(struct bvm *vm, const char *method, const struct cerr *e)
{
    char why[192];

    if (vm->phase != LIFECYCLE_REATTACHING)
        return;
    if (e != NULL) {
        if (e->code == CE_TIMEOUT)
            snprintf(why, sizeof(why), "no answer to %s within %u s", method, vm->b->adopt_timeout);
        else
            snprintf(why, sizeof(why), "%s failed: %.120s", method, e->msg);
        reattach_fail(vm, why);
        return;
    }
    if (--vm->reattach_pending > 0)
        return;
    lifecycle_set(vm, LIFECYCLE_RUNNING);
    bvm_count_restart(vm, &vm->reattached, "the broker restarted");
    persist_later(vm);
    if (vm->b->srv != NULL) {
        cJSON *ev = bvm_state_json(vm);
        json_add_num(ev, "time", (double)time(NULL));
        rpc_server_broadcast(vm->b->srv, vm->def->uuid, "vm.state", ev);
    }
    log_info("VM %s: re-attached to supervisor pid %ld (QEMU pid %ld): %s (%s)", vm->def->name,
             (long)vm->sup_pid, (long)vm->qemu_pid, vm->state, vm->reason);
    lifecycle_adopt_settled(vm, true);
}

static void subscribed_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    (void)result;
    reattach_answer(arg, "events.subscribe", e);
}

static void state_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct bvm *vm = arg;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(result, "state");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(result, "reason");

    /* Written down and told with the re-attachment (reattach_answer). */
    if (vm->phase == LIFECYCLE_REATTACHING && e == NULL && cJSON_IsString(s) && cJSON_IsString(r)) {
        snprintf(vm->state, sizeof(vm->state), "%s", s->valuestring);
        snprintf(vm->reason, sizeof(vm->reason), "%s", r->valuestring);
    }
    reattach_answer(vm, "vm.state", e);
}

static void reattach(struct bvm *vm)
{
    int timeout_ms = (int)vm->b->adopt_timeout * 1000;
    struct cerr e;

    lifecycle_set(vm, LIFECYCLE_REATTACHING);
    vm->reattach_pending = 2;
    if (spawn_connect(vm, subscribed_cb, timeout_ms, &e) < 0) {
        reattach_fail(vm, e.msg);
        return;
    }
    /* Answered from the supervisor's own state: a QEMU monitor blocked in
     * a snapshot save does not hold it up. */
    rpc_conn_call(vm->sup_conn, "vm.state", NULL, timeout_ms, state_cb, vm);
}

static void adopt_one(struct bvm *vm)
{
    struct cerr re;
    /* Written by the supervisor, as the VM's uid. */
    cJSON *rec = vm_dirs_read_json(vm->run_dir, RUNREC_RUN_FILE, RUNREC_MAX, &re);
    struct runrec_run r;
    bool maint = false, live;
    struct cerr e;

    if (rec == NULL) {
        /* Nothing of it runs under a supervisor (what runs all the same
         * is killed as a leftover): disks handed over by a run that never
         * ended properly go back. */
        if (vm_migrate_stopped(vm, &e) < 0)
            log_err_code(cerr_name(e.code), "%s", e.msg);
        identity_release(vm);
        tap_remove_recorded(vm->def->name, vm->state_dir);
        if (path_exists(vm->run_dir) && rm_rf(vm->run_dir, &e) == 0)
            log_info("VM %s: removed leftover run directory %s", vm->def->name, vm->run_dir);
        return;
    }
    runrec_run_parse(rec, &r);
    cJSON_Delete(rec);
    if (r.protocol >= 0 && r.protocol != RPC_PROTOCOL_VERSION)
        log_warn("VM %s: its supervisor's run record says protocol %d, this broker speaks %d; "
                 "re-attaching all the same",
                 vm->def->name, r.protocol, RPC_PROTOCOL_VERSION);
    vm->adopting = true;
    vm->b->adopting++;
    vm->started = r.started;
    vm->sup_is_child = false;
    live = proc_is_supervisor(r.supervisor_pid, r.supervisor_start, vm->run_dir, &maint);
    maint = maint || r.maintenance;
    spawn_watch_qemu(vm, r.qemu_pid, r.qemu_start);
    lifecycle_set(vm, maint ? LIFECYCLE_MAINT_READY : LIFECYCLE_RUNNING);
    if (!maint) {
        /* Until the supervisor says otherwise. */
        snprintf(vm->state, sizeof(vm->state), "running");
        snprintf(vm->reason, sizeof(vm->reason), "re-attached");
    }
    if (!live) {
        supervise_gone(vm, "died while the broker was away");
        return;
    }
    if (spawn_watch(vm, r.supervisor_pid, &e) < 0) {
        /* Unwatched, it would fight the one that replaces it. */
        log_err("%s; killing it", e.msg);
        if (kill(r.supervisor_pid, SIGKILL) < 0)
            log_err("VM %s: cannot kill supervisor pid %ld: %s", vm->def->name,
                    (long)r.supervisor_pid, strerror(errno));
        spawn_drop(vm);
        supervise_gone(vm, "could not be watched after the broker restarted");
        return;
    }
    if (!maint) {
        reattach(vm);
        return;
    }
    /* A maintenance QEMU only held the disks for a request that is gone
     * with the previous broker. */
    if (spawn_connect(vm, NULL, BVM_CALL_TIMEOUT_MS, &e) < 0)
        reattach_fail(vm, e.msg);
    else {
        log_info("VM %s: re-attached to maintenance supervisor pid %ld; stopping it", vm->def->name,
                 (long)r.supervisor_pid);
        maintenance_stop(vm);
    }
    lifecycle_adopt_settled(vm, false);
}

void adopt_all(struct broker *b)
{
    b->adopt_t0_ms = monotime_ms();
    /* Held while the VMs are gone through, so that the summary waits for
     * every one of them. */
    b->adopting++;
    for (struct bvm *vm = b->vms; vm != NULL; vm = vm->next)
        adopt_one(vm);
    leftovers_clean(b);
    b->adopting--;
    lifecycle_adopt_report(b);
}
