/* The primitives every path through a supervisor's life uses: spawning
 * one, watching it through a pidfd, reading its start-up status line,
 * connecting to its control socket, watching its QEMU, and closing what
 * belongs to it.  The phase-aware handling of a status line and of a
 * supervisor that is gone is the caller's, through broker.spawn_hooks
 * (set by supervise_init). */
#include "broker/spawn.h"

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

#include "broker/chardev_log.h"
#include "broker/identity.h"
#include "broker/lifecycle.h"
#include "broker/policy.h"
#include "broker/proc.h"
#include "broker/redefine.h"
#include "broker/reports.h"
#include "broker/settle.h"
#include "broker/tap.h"
#include "broker/vm_dirs.h"
#include "broker/vm_migrate.h"
#include "common/domain_handover.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/runrec.h"
#include "common/procfs.h"
#include "proto/conn.h"
#include "proto/rpc.h"
#include "proto/server.h"

#define STATUS_MAX (64 * 1024)

void spawn_finish_start(struct bvm *vm, cJSON *result, const struct cerr *e)
{
    while (vm->start_waiters != NULL) {
        struct start_waiter *w = vm->start_waiters;
        vm->start_waiters = w->next;
        rpc_req_done(w->req, result ? json_dup(result) : NULL, e);
        free(w);
    }
    cJSON_Delete(result);
    /* A supervisor that failed its start-up exits, and is settled from
     * here. */
    if (vm->phase == LIFECYCLE_STARTING)
        lifecycle_set(vm, LIFECYCLE_RUNNING);
    else if (vm->phase == LIFECYCLE_MAINT_STARTING)
        lifecycle_set(vm, LIFECYCLE_MAINT_READY);
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

void spawn_drop(struct bvm *vm)
{
    struct rpc_conn *c = vm->sup_conn;

    close_status(vm);
    if (vm->maint_idle != NULL) {
        event_free(vm->maint_idle);
        vm->maint_idle = NULL;
    }
    reports_drop(vm);
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

void spawn_release(struct bvm *vm)
{
    struct cerr e;

    spawn_drop(vm);
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
    lifecycle_set(vm, LIFECYCLE_OFF);
    cerr_set(&e, CE_SUPERVISOR, "VM %s: the broker stopped watching it", vm->def->name);
    settle_fail(vm, &e);
    while (vm->destroy_waiters != NULL) {
        struct start_waiter *w = vm->destroy_waiters;
        vm->destroy_waiters = w->next;
        rpc_req_done(w->req, NULL, &e);
        free(w);
    }
}

void spawn_finish(struct bvm *vm)
{
    struct cerr e;

    /* First, so that the disks go back as a checked record says. */
    if (vm_migrate_stopped(vm, &e) < 0)
        log_err_code(cerr_name(e.code), "%s", e.msg);
    identity_release(vm);
    tap_remove_recorded(vm->def->name, vm->state_dir);
    /* Its disks are back: held replies go out before spawn_release would
     * fail them, and before any other request is read; dropping the
     * connection first lets a destroy whose answer it still held join
     * them (the supervisor's pidfd may be seen before its socket). */
    spawn_drop(vm);
    settle_done(vm);
    spawn_release(vm);
    redefine_apply(vm);
    if (rm_rf(vm->run_dir, &e) < 0)
        log_warn_code(cerr_name(e.code), "VM %s: %s", vm->def->name, e.msg);
}

bool spawn_kill_qemu(struct bvm *vm)
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
        reports_receive(vm, m.params);
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
        log_warn_code(cerr_name(e.code), "VM %s: malformed vm.state event from the supervisor: %s",
                      vm->def->name, e.msg);
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
        log_warn_code(cerr_name(e->code), "VM %s: cannot subscribe to supervisor events: %s",
                      vm->def->name, e->msg);
}

int spawn_connect(struct bvm *vm, rpc_reply_cb subscribed, int timeout_ms, struct cerr *e)
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

void spawn_watch_qemu(struct bvm *vm, pid_t pid, unsigned long long start)
{
    char *qmp = xasprintf("%s/qmp.sock", vm->run_dir);

    vm->qemu_pid = pid;
    vm->qemu_exit[0] = '\0';
    /* Its QMP socket lives in the VM's run directory: a reused pid will not
     * name it, nor have its start time. */
    if (pid > 0 && !proc_matches(pid, start, qmp))
        log_warn("VM %s: pid %ld is not this VM's QEMU any more", vm->def->name, (long)pid);
    else if (pid > 0) {
        vm->qemu_start = start != 0 ? start : procfs_start_time(pid);
        vm->qemu_pidfd = pidfd_open(pid, 0);
        if (vm->qemu_pidfd < 0)
            log_warn("VM %s: cannot watch QEMU pid %ld: %s", vm->def->name, (long)pid,
                     strerror(errno));
    }
    free(qmp);
}

bool spawn_qemu_alive(const struct bvm *vm)
{
    char *qmp = xasprintf("%s/qmp.sock", vm->run_dir);
    bool alive = vm->qemu_pidfd >= 0 && !pidfd_ended(vm->qemu_pidfd) &&
                 proc_matches(vm->qemu_pid, vm->qemu_start, qmp);

    free(qmp);
    return alive;
}

static void status_cb(evutil_socket_t fd, short what, void *arg);

bool spawn_reap(struct bvm *vm)
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
    vm->b->spawn_hooks->gone(vm, how);
    return reaped;
}

static void sup_exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    spawn_reap(arg);
}
static void status_line(struct bvm *vm, const char *line, size_t len)
{
    struct cerr e;
    cJSON *info = NULL;
    int rc = runrec_status_parse(line, len, &info, &e);

    if (rc < 0)
        cerr_set(&e, CE_SUPERVISOR, "VM %s: the supervisor sent a malformed start-up status",
                 vm->def->name);
    vm->b->spawn_hooks->status(vm, info, rc == 1 ? NULL : &e);
    cJSON_Delete(info);
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
    if (nl != NULL && (lifecycle_starting(vm->phase) || vm->phase == LIFECYCLE_READOPTING))
        status_line(vm, vm->status_buf, (size_t)(nl - vm->status_buf));
    if (nl != NULL || eof)
        close_status(vm);
}

int spawn_watch(struct bvm *vm, pid_t pid, struct cerr *e)
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

    if (!vm->has_identity || lifecycle_maintenance(vm->phase) || vm->def->virt != DOMAIN_VIRT_KVM ||
        stat("/dev/kvm", &st) < 0 || !S_ISCHR(st.st_mode) || st.st_gid == 0 ||
        (st.st_mode & (S_IRGRP | S_IWGRP)) != (S_IRGRP | S_IWGRP))
        return 0;
    return st.st_gid;
}

/* The supervisor's first tap descriptor; the others, then the console
 * logs, the definition and the go-ahead, follow in order. */
#define TAP_FD_FIRST 4
#define PASSED_MAX (DOMAIN_MAX_NETS + CHARDEV_LOG_N + 2)
/* Its options with their arguments, the NULL, and --tap-fd N per tap,
 * --log-fd NAME=N per log, --definition-fd N and --go-fd N. */
#define SPAWN_ARGV_MAX (26 + 2 * PASSED_MAX)

/* In the child: the passed descriptors move to TAP_FD_FIRST,
 * TAP_FD_FIRST+1... in order (dup2 leaves them without FD_CLOEXEC), the
 * status pipe to 3, and every other descriptor is closed.  Each goes above
 * the target range first, so that none is overwritten before it is moved.
 * Only async-signal-safe calls. */
static int child_fds(int status_w, const int *fds, size_t n)
{
    int high[PASSED_MAX];

    for (size_t i = 0; i < n; i++) {
        high[i] = fcntl(fds[i], F_DUPFD, TAP_FD_FIRST + (int)n);
        if (high[i] < 0)
            return -1;
    }
    if (dup2(status_w, 3) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (dup2(high[i], TAP_FD_FIRST + (int)i) < 0)
            return -1;
    }
    return close_range(TAP_FD_FIRST + (unsigned)n, ~0U, 0) < 0 ? -1 : 0;
}

/* The taps, then the logs, then the definition and the go-ahead (each
 * when >= 0), as child_fds numbers them; their options go in argv from *n
 * on. */
static size_t passed_fds(const struct tap_set *taps, const struct chardev_logs *logs, int def_fd,
                         int go_fd, char (*opt)[32], int *fds, char **argv, int *n)
{
    size_t k = 0;

    for (size_t i = 0; i < taps->n; i++, k++) {
        fds[k] = taps->fds[i];
        snprintf(opt[k], sizeof(opt[k]), "%d", TAP_FD_FIRST + (int)k);
        argv[(*n)++] = "--tap-fd";
        argv[(*n)++] = opt[k];
    }
    for (int i = 0; i < CHARDEV_LOG_N; i++) {
        if (logs->fds[i] < 0)
            continue;
        fds[k] = logs->fds[i];
        snprintf(opt[k], sizeof(opt[k]), "%s=%d", chardev_log_name((enum chardev_log_which)i),
                 TAP_FD_FIRST + (int)k);
        argv[(*n)++] = "--log-fd";
        argv[(*n)++] = opt[k++];
    }
    if (def_fd >= 0) {
        fds[k] = def_fd;
        snprintf(opt[k], sizeof(opt[k]), "%d", TAP_FD_FIRST + (int)k);
        argv[(*n)++] = "--definition-fd";
        argv[(*n)++] = opt[k++];
    }
    if (go_fd >= 0) {
        fds[k] = go_fd;
        snprintf(opt[k], sizeof(opt[k]), "%d", TAP_FD_FIRST + (int)k);
        argv[(*n)++] = "--go-fd";
        argv[(*n)++] = opt[k++];
    }
    return k;
}

static pid_t spawn(struct bvm *vm, bool adopt, int status_w, int go_r, const struct tap_set *taps,
                   const struct chardev_logs *logs, struct cerr *e)
{
    char qemu[24], kvm[24], fdopt[PASSED_MAX][32];
    int fds[PASSED_MAX];
    size_t nfds;
    gid_t kvm_gid = kvm_group(vm);
    /* Opened by the supervisor before it drops root: the VM's uid cannot
     * read the state directory it lives in. */
    char *definition = redefine_definition_path(vm, adopt);
    /* The same definition, parsed: the supervisor then starts without
     * libxml2 (common/domain_handover.h), and falls back on the file. */
    struct cerr he;
    int def_fd = domain_handover_memfd(adopt && vm->live_def != NULL ? vm->live_def : vm->def, &he);
    pid_t pid;

    if (def_fd < 0)
        log_warn_code(cerr_name(he.code), "%s; its supervisor parses %s instead", he.msg,
                      definition);

    snprintf(qemu, sizeof(qemu), "%ld", (long)vm->qemu_pid);
    snprintf(kvm, sizeof(kvm), "%ld", (long)kvm_gid);
    pid = fork();
    if (pid < 0) {
        cerr_set(e, CE_SYSTEM, "cannot fork a supervisor for VM %s: %s", vm->def->name,
                 strerror(errno));
        free(definition);
        if (def_fd >= 0)
            close(def_fd);
        return -1;
    }
    if (pid == 0) {
        /* Its own session, so that the broker's terminal or process group
         * going away does not take the VM with it. */
        char *argv[SPAWN_ARGV_MAX] = {vm->b->supervisor_path,
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
        if (lifecycle_maintenance(vm->phase))
            argv[n++] = "--maintenance";
        if (vm->start_paused && !adopt && !lifecycle_maintenance(vm->phase))
            argv[n++] = "--paused";
        if (adopt) {
            argv[n++] = "--adopt";
            argv[n++] = qemu;
        }
        nfds = passed_fds(taps, logs, def_fd, go_r, fdopt, fds, argv, &n);
        if (vm->b->debug)
            argv[n++] = "--debug";
        argv[n] = NULL;
        setsid();
        if (child_fds(status_w, fds, nfds) < 0)
            _exit(127);
        execv(argv[0], argv);
        dprintf(2, "corrald: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(definition);
    if (def_fd >= 0)
        close(def_fd);
    return pid;
}

/* Run and state directories for a new run: the previous run's leftovers
 * go, and the VM gets its identity.  Its disks are handed over later
 * (hand_over_then_go), while its supervisor starts. */
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
    vm->started = time(NULL);
    if (!lifecycle_maintenance(vm->phase)) {
        /* The restart counters are the run's. */
        vm->sup_restarts = vm->reattached = 0;
        vm->last_restart_time = 0;
        vm->last_restart_why[0] = '\0';
        vm->crash_window_count = 0;
    }
    return 0;
}

/* The console logs of a guest that runs (a maintenance QEMU has none).  A
 * re-adopting supervisor continues this run's logs, and goes on without
 * one it can no longer have rather than fail a running VM. */
static int open_logs(struct bvm *vm, bool adopt, struct chardev_logs *logs, struct cerr *e)
{
    for (int i = 0; i < CHARDEV_LOG_N; i++)
        logs->fds[i] = -1;
    if (lifecycle_maintenance(vm->phase) ||
        chardev_log_open_all(adopt ? redefine_live(vm) : vm->def, vm->owner,
                             policy_is_admin(vm->b, vm->owner), adopt, logs, e) == 0)
        return 0;
    if (!adopt)
        return -1;
    log_warn("%s; the new supervisor keeps no console log", e->msg);
    return 0;
}

/* Hands the disks (and the NVRAM file) to the VM's identity, durably
 * recorded first (broker/identity.h), then lets the supervisor, which
 * waits for it before it starts QEMU, go ahead: the record's two syncs
 * take place while the supervisor starts up instead of before.  go_w is
 * closed either way; without the byte the supervisor exits. */
static int hand_over_then_go(struct bvm *vm, int go_w, struct cerr *e)
{
    ssize_t n;

    if (identity_prepare(vm, e) < 0) {
        close(go_w);
        /* Whatever was handed over already goes back. */
        identity_release(vm);
        return -1;
    }
    do
        n = write(go_w, "1", 1);
    while (n < 0 && errno == EINTR);
    close(go_w);
    /* A supervisor that failed already said why on its status pipe: it is
     * settled as any start that fails, the disks going back with it. */
    if (n != 1 && !(n < 0 && errno == EPIPE)) {
        cerr_set(e, CE_SYSTEM, "cannot tell VM %s's supervisor to start QEMU: %s", vm->def->name,
                 n < 0 ? strerror(errno) : "short write");
        identity_release(vm);
        return -1;
    }
    return 0;
}

int spawn_start(struct bvm *vm, bool adopt, struct cerr *e)
{
    struct chardev_logs logs;
    struct tap_set taps = {0};
    int pipefd[2], gofd[2] = {-1, -1};
    pid_t pid;

    /* A re-adopting supervisor finds QEMU's socket, disks and taps as they
     * are; a maintenance QEMU has no network.  The taps come first (what a
     * crash left of the last run's goes): a bridge that is missing fails
     * the start before anything is handed over. */
    if (!adopt)
        tap_remove_recorded(vm->def->name, vm->state_dir);
    if (!adopt && !lifecycle_maintenance(vm->phase) &&
        (tap_create_all(vm->def, &taps, e) < 0 ||
         (taps.n > 0 && tap_record(&taps, vm->def->name, vm->state_dir, e) < 0))) {
        tap_close_all(&taps);
        return -1;
    }
    if ((!adopt && prepare_run(vm, e) < 0) || open_logs(vm, adopt, &logs, e) < 0) {
        tap_close_all(&taps);
        return -1;
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a pipe for VM %s's supervisor: %s", vm->def->name,
                 strerror(errno));
        tap_close_all(&taps);
        chardev_log_close_all(&logs);
        return -1;
    }
    if (!adopt && pipe2(gofd, O_CLOEXEC) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a pipe for VM %s's supervisor: %s", vm->def->name,
                 strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        tap_close_all(&taps);
        chardev_log_close_all(&logs);
        return -1;
    }
    pid = spawn(vm, adopt, pipefd[1], gofd[0], &taps, &logs, e);
    /* From here QEMU (through the supervisor) holds the only copies: its
     * end removes the taps. */
    tap_close_all(&taps);
    chardev_log_close_all(&logs);
    close(pipefd[1]);
    if (gofd[0] >= 0)
        close(gofd[0]);
    if (pid < 0) {
        close(pipefd[0]);
        if (gofd[1] >= 0)
            close(gofd[1]);
        return -1;
    }
    vm->sup_is_child = true;
    vm->status_fd = pipefd[0];
    if (fcntl(vm->status_fd, F_SETFL, O_NONBLOCK) < 0 ||
        (vm->status_ev =
             event_new(vm->b->base, vm->status_fd, EV_READ | EV_PERSIST, status_cb, vm)) == NULL ||
        event_add(vm->status_ev, NULL) < 0 || spawn_watch(vm, pid, e) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot watch the supervisor of VM %s", vm->def->name);
        if (gofd[1] >= 0)
            close(gofd[1]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        spawn_drop(vm);
        return -1;
    }
    if (gofd[1] >= 0 && hand_over_then_go(vm, gofd[1], e) < 0) {
        /* It waits for the go-ahead before it starts QEMU: only the
         * supervisor goes. */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        spawn_drop(vm);
        return -1;
    }
    /* A re-adopting one is READOPTING already, a maintenance one
     * MAINT_STARTING. */
    if (vm->phase == LIFECYCLE_OFF)
        lifecycle_set(vm, LIFECYCLE_STARTING);
    log_info("VM %s: %ssupervisor pid %ld started%s", vm->def->name,
             lifecycle_maintenance(vm->phase) ? "maintenance " : "", (long)pid,
             adopt ? " to re-adopt QEMU" : "");
    return 0;
}
