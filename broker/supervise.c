#include "broker/supervise.h"

#include "broker/identity.h"
#include "broker/ledger.h"
#include "broker/proc.h"
#include "broker/supervise_int.h"
#include "broker/vm_dirs.h"
#include "broker/vm_migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "proto/conn.h"
#include "proto/listen.h"
#include "proto/rpc.h"
#include "proto/server.h"

#define STATUS_MAX (64 * 1024)

static void maint_fail_queue(struct bvm *vm, const struct cerr *e);
static void maint_flush(struct bvm *vm);
static void maint_begin(struct bvm *vm);
static void maint_idle_cb(evutil_socket_t fd, short what, void *arg);

void sup_finish_start(struct bvm *vm, cJSON *result, const struct cerr *e)
{
    while (vm->start_waiters != NULL) {
        struct start_waiter *w = vm->start_waiters;
        vm->start_waiters = w->next;
        rpc_req_done(w->req, result ? json_dup(result) : NULL, e);
        free(w);
    }
    cJSON_Delete(result);
    vm->starting = false;
}

static void close_status(struct bvm *vm)
{
    if (vm->status_ev != NULL) {
        event_free(vm->status_ev);
        vm->status_ev = NULL;
    }
    if (vm->status_fd >= 0) {
        close(vm->status_fd);
        vm->status_fd = -1;
    }
    free(vm->status_buf);
    vm->status_buf = NULL;
    vm->status_len = 0;
}

void sup_drop(struct bvm *vm)
{
    struct rpc_conn *c = vm->sup_conn;

    close_status(vm);
    if (vm->maint_idle != NULL) {
        event_free(vm->maint_idle);
        vm->maint_idle = NULL;
    }
    if (vm->report_retry != NULL) {
        event_free(vm->report_retry);
        vm->report_retry = NULL;
    }
    vm->reports_held = false;
    /* Freeing the connection fails its pending calls, whose callbacks must
     * find it gone already. */
    vm->sup_conn = NULL;
    if (c != NULL)
        rpc_conn_free(c);
    if (vm->sup_ev != NULL) {
        event_free(vm->sup_ev);
        vm->sup_ev = NULL;
    }
    if (vm->sup_pidfd >= 0) {
        close(vm->sup_pidfd);
        vm->sup_pidfd = -1;
    }
    vm->sup_pid = 0;
    vm->sup_kill_why[0] = '\0';
}

void supervise_release(struct bvm *vm)
{
    struct cerr e;

    sup_drop(vm);
    if (vm->qemu_ev != NULL) {
        event_free(vm->qemu_ev);
        vm->qemu_ev = NULL;
    }
    if (vm->kill_timer != NULL) {
        event_free(vm->kill_timer);
        vm->kill_timer = NULL;
    }
    if (vm->qemu_pidfd >= 0) {
        close(vm->qemu_pidfd);
        vm->qemu_pidfd = -1;
    }
    vm->qemu_pid = 0;
    vm->degraded = vm->destroying = false;
    cerr_set(&e, CE_SUPERVISOR, "VM %s: the broker stopped watching it", vm->def->name);
    while (vm->destroy_waiters != NULL) {
        struct start_waiter *w = vm->destroy_waiters;
        vm->destroy_waiters = w->next;
        rpc_req_done(w->req, NULL, &e);
        free(w);
    }
}

void sup_finish(struct bvm *vm)
{
    struct cerr e;

    /* First, so that the disks go back as a checked record says. */
    if (vm_migrate_stopped(vm, &e) < 0)
        log_err("%s", e.msg);
    identity_release(vm);
    supervise_release(vm);
    if (rm_rf(vm->run_dir, &e) < 0)
        log_warn("VM %s: %s", vm->def->name, e.msg);
}

bool sup_kill_qemu(struct bvm *vm)
{
    if (vm->qemu_pidfd < 0 || pidfd_ended(vm->qemu_pidfd))
        return false;
    if (pidfd_send_signal(vm->qemu_pidfd, SIGKILL, NULL, 0) < 0) {
        log_err("VM %s: cannot kill QEMU pid %ld: %s", vm->def->name, (long)vm->qemu_pid,
                strerror(errno));
        return false;
    }
    return true;
}

static void acked_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct bvm *vm = arg;

    (void)result;
    if (e != NULL)
        log_warn("VM %s: the supervisor did not take the report receipt: %s", vm->def->name,
                 e->msg);
}

/* "job|kind|disks" of a report about one QEMU job (new), or NULL. */
static char *job_report_key(const cJSON *report)
{
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(report, "job");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(report, "kind");
    char *disks, *key;

    if (!cJSON_IsString(job) || !cJSON_IsString(kind))
        return NULL;
    disks = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(report, "disks"));
    key = xasprintf("%s|%s|%s", job->valuestring, kind->valuestring, disks ? disks : "[]");
    cJSON_free(disks);
    return key;
}

static bool job_report_seen(const struct bvm *vm, const char *key)
{
    const cJSON *k;

    cJSON_ArrayForEach(k, vm->job_reports)
    {
        if (strcmp(k->valuestring, key) == 0)
            return true;
    }
    return false;
}

static void load_report_record(struct bvm *vm)
{
    struct cerr e;
    cJSON *all = registry_reports(vm, &e), *r;

    vm->last_seq = -1;
    vm->job_reports = json_arr();
    cJSON_ArrayForEach(r, all)
    {
        unsigned long long rs;
        char *key = job_report_key(r);
        if (json_get_uint(r, "seq", JSON_UINT_MAX, &rs) == 0 && (long long)rs > vm->last_seq)
            vm->last_seq = (long long)rs;
        if (key != NULL)
            json_arr_add(vm->job_reports, json_str(key));
        free(key);
    }
    cJSON_Delete(all);
    vm->last_seq_known = true;
}

static void ack_report(struct bvm *vm, long long seq)
{
    cJSON *ack;

    if (seq < 0 || vm->sup_conn == NULL)
        return;
    ack = json_obj();
    json_add_num(ack, "seq", (double)seq);
    rpc_conn_call(vm->sup_conn, "journal.ack", ack, SUP_CALL_TIMEOUT_MS, acked_cb, vm);
}

static void resent_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct bvm *vm = arg;

    (void)result;
    if (e != NULL)
        log_warn("VM %s: cannot ask the supervisor for its reports again: %s", vm->def->name,
                 e->msg);
}

/* Subscribing again makes the supervisor resend every report it has not
 * had acknowledged. */
static void report_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bvm *vm = arg;

    (void)fd;
    (void)what;
    vm->reports_held = false;
    if (vm->sup_conn != NULL)
        rpc_conn_call(vm->sup_conn, "events.subscribe", NULL, SUP_CALL_TIMEOUT_MS, resent_cb, vm);
}

/* Reports are not taken for now: the supervisor keeps them in its journal
 * and is asked for them again later. */
static void hold_reports(struct bvm *vm, long long seq, const char *why)
{
    struct timeval tv = {LEDGER_RETRY_MS / 1000, (LEDGER_RETRY_MS % 1000) * 1000};

    vm->reports_held = true;
    if (seq < 0)
        log_err("VM %s: an unjournalled inconsistency report is lost: %s", vm->def->name, why);
    else
        log_warn("VM %s: inconsistency report %lld and those after it not kept now: %s; they "
                 "stay in the supervisor's journal and are asked for again in %d s",
                 vm->def->name, seq, why, LEDGER_RETRY_MS / 1000);
    if (vm->report_retry == NULL)
        vm->report_retry = evtimer_new(vm->b->base, report_retry_cb, vm);
    if (vm->report_retry == NULL || evtimer_add(vm->report_retry, &tv) < 0)
        log_err("VM %s: cannot arm the timer that asks for held reports again", vm->def->name);
}

/* A report is checked, persisted and fanned out once, then acknowledged so
 * that the supervisor drops it from its journal; one seen before (resent
 * after a restart of either side), or one saying again what an earlier
 * report said about the same job, is only acknowledged.  A report over the
 * VM's rate, or one the ledger cannot take, is not acknowledged, and
 * neither is any after it until the supervisor resends them all: a later
 * seq kept first would make the earlier one look like a resend. */
static void receive_report(struct bvm *vm, const cJSON *report)
{
    char *path, *key;
    long long seq;
    struct cerr e;

    if (!vm->last_seq_known)
        load_report_record(vm);
    if (ledger_check_report(report, vm->def->name, &seq, &e) < 0) {
        unsigned long long n;
        log_err("VM %s: dropped a malformed inconsistency report from the supervisor: %s",
                vm->def->name, e.msg);
        /* Malformed it stays: taken off the journal rather than resent for
         * good. */
        if (json_get_uint(report, "seq", JSON_UINT_MAX, &n) == 0)
            ack_report(vm, (long long)n);
        return;
    }
    if (seq >= 0 && seq <= vm->last_seq) {
        /* Resent: kept already. */
        ack_report(vm, seq);
        return;
    }
    if (vm->reports_held) {
        if (seq < 0)
            log_err("VM %s: an unjournalled inconsistency report is lost: reports are held",
                    vm->def->name);
        return;
    }
    key = job_report_key(report);
    if (key != NULL && job_report_seen(vm, key)) {
        log_info("VM %s: report %lld repeats what job %s was reported to have done; not kept "
                 "twice",
                 vm->def->name, seq, cJSON_GetObjectItemCaseSensitive(report, "job")->valuestring);
        free(key);
        if (seq >= 0)
            vm->last_seq = seq;
        ack_report(vm, seq);
        return;
    }
    if (!ledger_take(&vm->report_bucket, ledger_now())) {
        char why[128];
        snprintf(why, sizeof(why), "the supervisor sends more than %d reports a second (burst %d)",
                 LEDGER_RATE, LEDGER_BURST);
        free(key);
        hold_reports(vm, seq, why);
        return;
    }
    path = xasprintf("%s/inconsistencies.jsonl", vm->state_dir);
    if (ledger_append(path, report, &e) < 0) {
        free(path);
        free(key);
        hold_reports(vm, seq, e.msg);
        return;
    }
    free(path);
    log_warn("VM %s: inconsistency %lld: %s: %s", vm->def->name, seq,
             cJSON_GetObjectItemCaseSensitive(report, "kind")->valuestring,
             cJSON_GetObjectItemCaseSensitive(report, "detail")->valuestring);
    if (key != NULL)
        json_arr_add(vm->job_reports, json_str(key));
    free(key);
    if (seq >= 0)
        vm->last_seq = seq;
    rpc_server_broadcast(vm->b->srv, vm->def->uuid, "snapshot.inconsistency", json_dup(report));
    ack_report(vm, seq);
}

static void sup_message(struct rpc_conn *c, const cJSON *msg, void *arg)
{
    struct bvm *vm = arg;
    struct rpc_msg m;
    struct cerr e;
    const char *state = NULL, *reason = NULL;

    (void)c;
    if (rpc_classify(msg, &m, &e) < 0 || m.kind != RPC_KIND_NOTIFICATION)
        return;
    if (strcmp(m.method, "snapshot.inconsistency") == 0) {
        receive_report(vm, m.params);
        return;
    }
    if (strncmp(m.method, "snapshot.", 9) == 0 || strcmp(m.method, "job.progress") == 0) {
        rpc_server_broadcast(vm->b->srv, vm->def->uuid, m.method,
                             m.params ? json_dup(m.params) : json_obj());
        return;
    }
    if (strcmp(m.method, "vm.state") != 0)
        return;
    if (rpc_param_string(m.params, "state", true, &state, &e) < 0 ||
        rpc_param_string(m.params, "reason", true, &reason, &e) < 0) {
        log_warn("VM %s: malformed vm.state event from the supervisor: %s", vm->def->name, e.msg);
        return;
    }
    /* The final state is settled from the exit facts when the supervisor
     * is gone; here only live transitions count. */
    if (strcmp(state, "running") == 0 || strcmp(state, "paused") == 0)
        bvm_set_state(vm, state, "%s", reason);
}

static void sup_closed(struct rpc_conn *c, const char *why, void *arg)
{
    struct bvm *vm = arg;

    log_debug("VM %s: supervisor connection closed: %s", vm->def->name, why);
    if (vm->sup_conn == c) {
        rpc_conn_free(c);
        vm->sup_conn = NULL;
    }
}

static void subscribed_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct bvm *vm = arg;

    (void)result;
    if (e != NULL)
        log_warn("VM %s: cannot subscribe to supervisor events: %s", vm->def->name, e->msg);
}

int sup_connect(struct bvm *vm, rpc_reply_cb subscribed, int timeout_ms, struct cerr *e)
{
    int fd = vm_dirs_connect(vm, e);

    if (fd < 0)
        return -1;
    vm->sup_conn = rpc_conn_new(vm->b->base, fd, sup_message, sup_closed, vm);
    if (vm->sup_conn == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot set up the connection to VM %s's supervisor", vm->def->name);
        return -1;
    }
    /* Subscribing makes the supervisor resend every report it holds. */
    vm->reports_held = false;
    rpc_conn_call(vm->sup_conn, "events.subscribe", NULL, timeout_ms,
                  subscribed ? subscribed : subscribed_cb, vm);
    return 0;
}

void sup_watch_qemu(struct bvm *vm, pid_t pid, unsigned long long start)
{
    char *qmp = xasprintf("%s/qmp.sock", vm->run_dir);

    vm->qemu_pid = pid;
    vm->qemu_exit[0] = '\0';
    /* Its QMP socket lives in the VM's run directory: a reused pid will not
     * name it, nor have its start time. */
    if (pid > 0 && !proc_matches(pid, start, qmp))
        log_warn("VM %s: pid %ld is not this VM's QEMU any more", vm->def->name, (long)pid);
    else if (pid > 0) {
        vm->qemu_start = start != 0 ? start : proc_start_time(pid);
        vm->qemu_pidfd = pidfd_open(pid, 0);
        if (vm->qemu_pidfd < 0)
            log_warn("VM %s: cannot watch QEMU pid %ld: %s", vm->def->name, (long)pid,
                     strerror(errno));
    }
    free(qmp);
}

bool sup_qemu_alive(const struct bvm *vm)
{
    char *qmp = xasprintf("%s/qmp.sock", vm->run_dir);
    bool alive = vm->qemu_pidfd >= 0 && !pidfd_ended(vm->qemu_pidfd) &&
                 proc_matches(vm->qemu_pid, vm->qemu_start, qmp);

    free(qmp);
    return alive;
}

/* A maintenance supervisor is gone: not the VM's end, so its state and
 * exit facts stay as they were; its QEMU, which only held the disks, goes
 * with it. */
static void settle_maintenance(struct bvm *vm, const char *how)
{
    if (vm->starting) {
        struct cerr se;
        cerr_set(&se, CE_SUPERVISOR, "the maintenance supervisor of VM %s %s during start-up",
                 vm->def->name, how);
        /* Not retried: whatever failed would fail again. */
        maint_fail_queue(vm, &se);
        sup_finish_start(vm, NULL, &se);
        leftovers_kill_vm(vm->b, vm->run_dir);
    }
    sup_kill_qemu(vm);
    vm->maintenance = vm->starting = false;
    vm->maint_inflight = 0;
    adopt_settled(vm, false);
    sup_finish(vm);
    if (vm->start_waiters != NULL) {
        struct cerr se;
        if (sup_spawn(vm, false, &se) < 0)
            sup_finish_start(vm, NULL, &se);
    } else if (vm->maint_queue != NULL)
        maint_begin(vm);
}

/* A pid the supervisor wrote (a VM uid may have): 0 unless a plausible
 * one. */
static pid_t untrusted_pid(const cJSON *obj, const char *key)
{
    unsigned long long n;

    return json_get_uint(obj, key, INT_MAX, &n) == 0 ? (pid_t)n : 0;
}

void sup_settle(struct bvm *vm, const char *how)
{
    struct cerr re;
    /* Written by the supervisor: untrusted, and absent after a crash. */
    cJSON *facts = vm_dirs_read_json(vm->vm_dir, "last-exit.json", VM_DIRS_RECORD_MAX, &re);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(facts, "state");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(facts, "reason");
    const cJSON *when = cJSON_GetObjectItemCaseSensitive(facts, "time");
    const cJSON *qpid = cJSON_GetObjectItemCaseSensitive(facts, "qemu_pid");
    /* Written by this run: the time alone cannot tell a run from the one
     * that ended the second before it started; the QEMU pid can. */
    bool fresh = cJSON_IsNumber(when) && when->valuedouble >= (double)vm->started - 1 &&
                 (vm->qemu_pid <= 0 || !cJSON_IsNumber(qpid) ||
                  untrusted_pid(facts, "qemu_pid") == vm->qemu_pid);
    bool was_starting = vm->starting;
    /* A supervisor that said it cannot re-adopt QEMU is believed; one that
     * died before saying anything crashed like its predecessor. */
    bool refused = vm->readopting && vm->readopt_error[0] != '\0';

    /* Answers still on their way from it no longer count. */
    vm->reattaching = false;
    vm->readopting = false;
    if (vm->maintenance) {
        cJSON_Delete(facts);
        settle_maintenance(vm, how);
        return;
    }
    if (was_starting) {
        struct cerr se;
        cerr_set(&se, CE_SUPERVISOR, "the supervisor of VM %s %s during start-up", vm->def->name,
                 how);
        sup_finish_start(vm, NULL, &se);
    }
    if (refused)
        readopt_failed(vm);
    else if (fresh && cJSON_IsString(state) && cJSON_IsString(reason)) {
        /* An adopted QEMU's exit status is only known to the broker, which
         * reaped it. */
        bool add = strcmp(state->valuestring, "crashed") == 0 && vm->qemu_exit[0] != '\0';
        bvm_set_state(vm, state->valuestring, "%s%s%s%s", reason->valuestring, add ? " (QEMU " : "",
                      add ? vm->qemu_exit : "", add ? ")" : "");
    } else if (!was_starting && sup_qemu_alive(vm)) {
        /* QEMU runs on: a new supervisor takes it over. */
        cJSON_Delete(facts);
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
        bool killed = sup_kill_qemu(vm);
        if (was_starting)
            leftovers_kill_vm(vm->b, vm->run_dir);
        bvm_set_state(vm, "crashed", "crashed: supervisor %s%s", how,
                      killed ? "; its QEMU was killed" : "");
    }
    cJSON_Delete(facts);
    if (vm->start_waiters != NULL) {
        /* A start that was re-adopting QEMU of a degraded VM. */
        struct cerr se;
        cerr_set(&se, CE_SUPERVISOR, "VM %s: %s", vm->def->name, vm->reason);
        sup_finish_start(vm, NULL, &se);
    }
    adopt_settled(vm, false);
    sup_finish(vm);
}

static void status_cb(evutil_socket_t fd, short what, void *arg);

bool supervise_reap(struct bvm *vm)
{
    char how[160] = "exited";
    bool reaped = false;
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (vm->sup_is_child) {
        if (waitid(P_PIDFD, (id_t)vm->sup_pidfd, &si, WEXITED | WNOHANG) < 0)
            /* Somebody reaped it already: it is gone all the same. */
            log_warn("VM %s: waitid on supervisor pid %ld: %s", vm->def->name, (long)vm->sup_pid,
                     strerror(errno));
        else if (si.si_pid == 0)
            return false;
        else {
            describe_exit(&si, how, sizeof(how));
            reaped = true;
        }
    }
    if (vm->sup_kill_why[0] != '\0')
        snprintf(how, sizeof(how), "%s", vm->sup_kill_why);
    log_info("VM %s: supervisor pid %ld %s", vm->def->name, (long)vm->sup_pid, how);
    /* Read whatever start-up status is still in the pipe first: the writer
     * is gone, so this reaches EOF at once. */
    if (vm->status_fd >= 0)
        status_cb(vm->status_fd, EV_READ, vm);
    sup_settle(vm, how);
    return reaped;
}

static void sup_exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    supervise_reap(arg);
}

static void status_line(struct bvm *vm, const char *line, size_t len)
{
    struct cerr e;
    cJSON *st = json_parse(line, len, &e);
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(st, "ok");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(st, "info");
    bool good = cJSON_IsTrue(ok);

    if (!cJSON_IsBool(ok))
        cerr_set(&e, CE_SUPERVISOR, "VM %s: the supervisor sent a malformed start-up status",
                 vm->def->name);
    else if (!good) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(st, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(st, "message");
        cerr_set(&e, cJSON_IsNumber(code) ? (enum corral_err)code->valueint : CE_SUPERVISOR, "%s",
                 cJSON_IsString(msg) ? msg->valuestring : "start-up failed");
    }
    if (vm->readopting)
        readopt_status(vm, info, good ? NULL : &e);
    else if (!good) {
        sup_finish_start(vm, NULL, &e);
        maint_fail_queue(vm, &e);
    } else if (vm->maintenance) {
        sup_watch_qemu(vm, untrusted_pid(info, "qemu_pid"), 0);
        vm->starting = false;
        if (vm->maint_idle == NULL)
            vm->maint_idle = evtimer_new(vm->b->base, maint_idle_cb, vm);
        if (sup_connect(vm, NULL, SUP_CALL_TIMEOUT_MS, &e) < 0)
            maint_fail_queue(vm, &e);
        else
            maint_flush(vm);
    } else {
        cJSON *res = json_obj();
        sup_watch_qemu(vm, untrusted_pid(info, "qemu_pid"), 0);
        if (sup_connect(vm, NULL, SUP_CALL_TIMEOUT_MS, &e) < 0)
            log_warn("VM %s: %s", vm->def->name, e.msg);
        bvm_set_state(vm, "running", "booted");
        json_add_str(res, "name", vm->def->name);
        json_add_str(res, "state", vm->state);
        json_add_num(res, "supervisor_pid", vm->sup_pid);
        json_add_num(res, "qemu_pid", vm->qemu_pid);
        sup_finish_start(vm, res, NULL);
    }
    cJSON_Delete(st);
}

static void status_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bvm *vm = arg;
    char buf[4096];
    bool eof = false;
    ssize_t n;

    (void)what;
    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0 || vm->status_len + (size_t)n > STATUS_MAX) {
            if (n > 0)
                log_warn("VM %s: start-up status too long", vm->def->name);
            eof = true;
            break;
        }
        vm->status_buf = xreallocarray(vm->status_buf, vm->status_len + (size_t)n + 1, 1);
        memcpy(vm->status_buf + vm->status_len, buf, (size_t)n);
        vm->status_len += (size_t)n;
    }
    /* One line says all the supervisor will say about start-up; EOF without
     * it means the supervisor died, which its pidfd reports. */
    char *nl = vm->status_buf ? memchr(vm->status_buf, '\n', vm->status_len) : NULL;
    if (nl != NULL && (vm->starting || vm->readopting))
        status_line(vm, vm->status_buf, (size_t)(nl - vm->status_buf));
    if (nl != NULL || eof)
        close_status(vm);
}

int sup_watch(struct bvm *vm, pid_t pid, struct cerr *e)
{
    vm->sup_pid = pid;
    vm->sup_pidfd = pidfd_open(pid, 0);
    if (vm->sup_pidfd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot watch supervisor pid %ld of VM %s: %s", (long)pid,
                 vm->def->name, strerror(errno));
        return -1;
    }
    vm->sup_ev = event_new(vm->b->base, vm->sup_pidfd, EV_READ | EV_PERSIST, sup_exit_cb, vm);
    if (vm->sup_ev == NULL || event_add(vm->sup_ev, NULL) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot watch the supervisor of VM %s", vm->def->name);
        return -1;
    }
    return 0;
}

/* The group through which a VM's own uid may use /dev/kvm, as Debian's
 * udev rules make it (root:kvm 0660) and as libvirt's qemu user is in
 * group kvm; 0 when there is none: then a type='kvm' VM fails to start
 * with a clear error. */
static gid_t kvm_group(const struct bvm *vm)
{
    struct stat st;

    if (!vm->has_identity || vm->maintenance || vm->def->virt != DOMAIN_VIRT_KVM ||
        stat("/dev/kvm", &st) < 0 || !S_ISCHR(st.st_mode) || st.st_gid == 0 ||
        (st.st_mode & (S_IRGRP | S_IWGRP)) != (S_IRGRP | S_IWGRP))
        return 0;
    return st.st_gid;
}

static pid_t spawn(struct bvm *vm, bool adopt, int status_w, struct cerr *e)
{
    char qemu[24], kvm[24];
    gid_t kvm_gid = kvm_group(vm);
    /* Opened by the supervisor before it drops root: the VM's uid cannot
     * read the state directory it lives in. */
    char *definition = xasprintf("%s/domain.xml", vm->state_dir);
    pid_t pid;

    snprintf(qemu, sizeof(qemu), "%ld", (long)vm->qemu_pid);
    snprintf(kvm, sizeof(kvm), "%ld", (long)kvm_gid);
    pid = fork();
    if (pid < 0) {
        cerr_set(e, CE_SYSTEM, "cannot fork a supervisor for VM %s: %s", vm->def->name,
                 strerror(errno));
        free(definition);
        return -1;
    }
    if (pid == 0) {
        /* Its own session, so that the broker's terminal or process group
         * going away does not take the VM with it. */
        char *argv[26] = {vm->b->supervisor_path,
                          "--name",
                          vm->def->name,
                          "--definition",
                          definition,
                          "--state-dir",
                          vm->vm_dir,
                          "--run-dir",
                          vm->run_dir,
                          "--status-fd",
                          "3"};
        char uid[24], gid[24], owner[24];
        int n = 11;
        snprintf(owner, sizeof(owner), "%ld", (long)vm->owner);
        argv[n++] = "--owner";
        argv[n++] = owner;
        if (vm->has_identity) {
            snprintf(uid, sizeof(uid), "%ld", (long)vm->uid);
            snprintf(gid, sizeof(gid), "%ld", (long)vm->gid);
            argv[n++] = "--uid";
            argv[n++] = uid;
            argv[n++] = "--gid";
            argv[n++] = gid;
            if (kvm_gid != 0) {
                argv[n++] = "--group";
                argv[n++] = kvm;
            }
        }
        if (vm->maintenance)
            argv[n++] = "--maintenance";
        if (adopt) {
            argv[n++] = "--adopt";
            argv[n++] = qemu;
        }
        if (vm->b->debug)
            argv[n++] = "--debug";
        argv[n] = NULL;
        setsid();
        if (dup2(status_w, 3) < 0)
            _exit(127);
        close_range(4, ~0U, 0);
        execv(argv[0], argv);
        dprintf(2, "corrald: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(definition);
    return pid;
}

/* Run and state directories for a new run: the previous run's leftovers
 * go, and the VM's identity gets what it needs. */
static int prepare_run(struct bvm *vm, struct cerr *e)
{
    char *vmdirs = xasprintf("%s/vm", vm->b->run_dir);
    /* Every VM's uid must traverse RUN/vm to reach its own directory. */
    int rc = mkdir_p(vmdirs, 0755, e);

    free(vmdirs);
    /* A VM left in the old layout while it ran is migrated before its
     * identity is read again. */
    if (rc < 0 || rm_rf(vm->run_dir, e) < 0 || mkdir_p(vm->run_dir, 0750, e) < 0 ||
        vm_migrate_stopped(vm, e) < 0 || identity_assign(vm->b, vm, e) < 0 ||
        vm_dirs_prepare(vm, e) < 0)
        return -1;
    if (identity_prepare(vm, e) < 0) {
        /* Whatever was handed over already goes back. */
        identity_release(vm);
        return -1;
    }
    vm->started = time(NULL);
    if (!vm->maintenance) {
        /* The restart counters are the run's. */
        vm->sup_restarts = vm->reattached = 0;
        vm->last_restart_time = 0;
        vm->last_restart_why[0] = '\0';
        vm->crash_window_count = 0;
    }
    return 0;
}

int sup_spawn(struct bvm *vm, bool adopt, struct cerr *e)
{
    int pipefd[2];
    pid_t pid;

    /* A re-adopting supervisor finds QEMU's socket and disks as they are. */
    if (!adopt && prepare_run(vm, e) < 0)
        return -1;
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a pipe for VM %s's supervisor: %s", vm->def->name,
                 strerror(errno));
        return -1;
    }
    pid = spawn(vm, adopt, pipefd[1], e);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        return -1;
    }
    vm->sup_is_child = true;
    vm->starting = !adopt;
    vm->status_fd = pipefd[0];
    if (fcntl(vm->status_fd, F_SETFL, O_NONBLOCK) < 0 ||
        (vm->status_ev =
             event_new(vm->b->base, vm->status_fd, EV_READ | EV_PERSIST, status_cb, vm)) == NULL ||
        event_add(vm->status_ev, NULL) < 0 || sup_watch(vm, pid, e) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot watch the supervisor of VM %s", vm->def->name);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        vm->starting = false;
        sup_drop(vm);
        return -1;
    }
    log_info("VM %s: %ssupervisor pid %ld started%s", vm->def->name,
             vm->maintenance ? "maintenance " : "", (long)pid, adopt ? " to re-adopt QEMU" : "");
    return 0;
}

void supervise_start(struct bvm *vm, void *req)
{
    struct start_waiter *w;
    struct cerr e;

    if (vm->maintenance) {
        /* The start waits for the maintenance QEMU to let go of the disks. */
        w = xcalloc(1, sizeof(*w));
        w->req = req;
        w->next = vm->start_waiters;
        vm->start_waiters = w;
        if (vm->maint_inflight == 0 && !vm->starting && !vm->maint_closing)
            maint_idle_cb(-1, 0, vm);
        return;
    }
    if (vm->degraded) {
        readopt_start(vm, req);
        return;
    }
    if (vm->readopting) {
        cerr_set(&e, CE_BUSY, "VM %s: its supervisor is being restarted; try again", vm->def->name);
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (bvm_active(vm) || vm->starting) {
        cerr_set(&e, CE_OPERATION_INVALID, "VM %s is already %s", vm->def->name,
                 vm->starting ? "starting" : vm->state);
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (sup_spawn(vm, false, &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->req = req;
    vm->start_waiters = w;
}

#define MAINT_IDLE_MS 1000
/* Snapshot requests one shut-off VM may have queued or in flight at once:
 * each holds a copy of its parameters until the maintenance supervisor
 * answers. */
#define MAINT_MAX_OPS 32

static void maint_fail_queue(struct bvm *vm, const struct cerr *e)
{
    while (vm->maint_queue != NULL) {
        struct maint_op *op = vm->maint_queue;
        vm->maint_queue = op->next;
        rpc_req_done(op->req, NULL, e);
        free(op->method);
        cJSON_Delete(op->params);
        free(op);
    }
}

static void maint_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bvm *vm = arg;

    (void)fd;
    (void)what;
    if (vm->maint_inflight > 0 || vm->sup_conn == NULL)
        return;
    vm->maint_closing = true;
    log_debug("VM %s: maintenance supervisor idle; stopping it", vm->def->name);
    supervise_forward(vm, "vm.destroy", NULL, 30000, NULL);
}

void sup_maint_stop(struct bvm *vm)
{
    maint_idle_cb(-1, 0, vm);
}

struct maint_call {
    struct bvm *vm;
    void *req;
};

static void maint_reply_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct maint_call *mc = arg;
    struct bvm *vm = mc->vm;
    struct timeval tv = {MAINT_IDLE_MS / 1000, (MAINT_IDLE_MS % 1000) * 1000};

    rpc_req_done(mc->req, result ? json_dup(result) : NULL, e);
    free(mc);
    if (--vm->maint_inflight == 0 && vm->maint_idle != NULL)
        evtimer_add(vm->maint_idle, &tv);
}

static void maint_send(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                       void *req)
{
    struct maint_call *mc = xcalloc(1, sizeof(*mc));
    cJSON *p = params ? json_dup(params) : json_obj();

    mc->vm = vm;
    mc->req = req;
    vm->maint_inflight++;
    if (vm->maint_idle != NULL)
        evtimer_del(vm->maint_idle);
    cJSON_DeleteItemFromObjectCaseSensitive(p, "name");
    rpc_conn_call(vm->sup_conn, method, p, timeout_ms, maint_reply_cb, mc);
}

static void maint_flush(struct bvm *vm)
{
    while (vm->maint_queue != NULL) {
        struct maint_op *op = vm->maint_queue;
        vm->maint_queue = op->next;
        maint_send(vm, op->method, op->params, op->timeout_ms, op->req);
        free(op->method);
        cJSON_Delete(op->params);
        free(op);
    }
}

static void maint_begin(struct bvm *vm)
{
    struct cerr e;

    vm->maintenance = true;
    vm->maint_closing = false;
    if (sup_spawn(vm, false, &e) < 0) {
        vm->maintenance = false;
        maint_fail_queue(vm, &e);
    }
}

void supervise_maintenance(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                           void *req)
{
    struct maint_op *op, **pp;

    if (vm->start_waiters != NULL) {
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
    if (vm->maintenance && !vm->starting && !vm->maint_closing && vm->sup_conn != NULL) {
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
    if (!vm->maintenance)
        maint_begin(vm);
}

struct forward {
    struct bvm *vm;
    void *req;
    struct rpc_conn *conn; /* the call's; valid while its callback runs */
    bool info;             /* vm.info: the broker adds what only it knows */
    bool sandbox;          /* vm.sandbox: the broker adds what /proc says */
};

/* The supervisor shares its uid with QEMU, so what it says about its own
 * confinement is only as good as QEMU's: the broker adds what the kernel
 * says of both processes, read as root from /proc. */
static void add_verified_confinement(const struct bvm *vm, cJSON *res)
{
    char sup[1024], qemu[1024];
    char *text;

    if (!proc_confinement(vm->sup_pid, sup, sizeof(sup)))
        snprintf(sup, sizeof(sup), "gone\n");
    if (vm->qemu_pid <= 0 || !proc_confinement(vm->qemu_pid, qemu, sizeof(qemu)))
        snprintf(qemu, sizeof(qemu), "not known to the broker\n");
    text = xasprintf("supervisor (pid %ld):\n%sqemu (pid %ld):\n%s", (long)vm->sup_pid, sup,
                     (long)vm->qemu_pid, qemu);
    cJSON_DeleteItemFromObjectCaseSensitive(res, "verified");
    json_add_str(res, "verified", text);
    free(text);
}

static void forward_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct forward *f = arg;

    if (f->req == NULL) {
        /* A request of the broker's own (stopping a maintenance
         * supervisor): its answer is the VM's state. */
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(result, "state");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(result, "reason");
        if (e == NULL && cJSON_IsString(s) && cJSON_IsString(r))
            bvm_set_state(f->vm, s->valuestring, "%s", r->valuestring);
    } else if (e != NULL && e->code == CE_SUPERVISOR && rpc_conn_dead(f->conn)) {
        struct cerr de;
        /* The connection went, not the supervisor's own refusal.  A dying
         * supervisor's socket closes before its pidfd says it ended, so
         * whether it died cannot be told yet; either way the request's
         * fate is unknown. */
        cerr_set(&de, CE_SUPERVISOR,
                 "VM %s: its supervisor went away before answering (it died or closed the "
                 "connection); whether the request took effect is unknown (a new supervisor "
                 "takes over a QEMU that runs on): check, and try again",
                 f->vm->def->name);
        rpc_req_done(f->req, NULL, &de);
    } else {
        cJSON *res = result ? json_dup(result) : NULL;
        if (f->info && cJSON_IsObject(res))
            bvm_add_restarts(f->vm, res);
        if (f->sandbox && cJSON_IsObject(res))
            add_verified_confinement(f->vm, res);
        rpc_req_done(f->req, res, e);
    }
    free(f);
}

void supervise_forward(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                       void *req)
{
    struct forward *f;
    struct cerr e;
    cJSON *p;

    /* The new supervisor is not ready to serve yet, or the old one has
     * just died and is about to be replaced. */
    if (vm->readopting || (vm->sup_conn == NULL && vm->sup_pidfd >= 0 && !vm->maintenance &&
                           pidfd_ended(vm->sup_pidfd))) {
        cerr_set(&e, CE_BUSY, "VM %s: its supervisor is being restarted; try again", vm->def->name);
        if (req != NULL)
            rpc_req_done(req, NULL, &e);
        return;
    }
    if (vm->sup_conn == NULL) {
        struct cerr ce;
        /* The connection may have dropped while the supervisor lives on
         * (it restarted its socket, or a transient error): try once more. */
        if (vm->sup_pidfd < 0 || sup_connect(vm, NULL, SUP_CALL_TIMEOUT_MS, &ce) < 0) {
            if (vm->sup_pidfd < 0)
                cerr_set(&e, CE_OPERATION_INVALID, "VM %s is not running", vm->def->name);
            else if (pidfd_ended(vm->sup_pidfd))
                /* It was dying: its socket went before its pidfd said so. */
                cerr_set(&e, CE_BUSY, "VM %s: its supervisor is being restarted; try again",
                         vm->def->name);
            else
                cerr_set(&e, CE_SUPERVISOR, "cannot reach the supervisor of VM %s: %.300s",
                         vm->def->name, ce.msg);
            if (req != NULL)
                rpc_req_done(req, NULL, &e);
            return;
        }
    }
    f = xcalloc(1, sizeof(*f));
    f->vm = vm;
    f->req = req;
    f->conn = vm->sup_conn;
    f->info = strcmp(method, "vm.info") == 0;
    f->sandbox = strcmp(method, "vm.sandbox") == 0;
    p = params ? json_dup(params) : json_obj();
    cJSON_DeleteItemFromObjectCaseSensitive(p, "name");
    rpc_conn_call(vm->sup_conn, method, p, timeout_ms, forward_cb, f);
}
