#include "supervisor/vm.h"
#include "supervisor/vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/firmware.h"
#include "common/log.h"
#include "common/procfs.h"
#include "common/runrec.h"
#include "common/monotime.h"
#include "proto/rpc.h"
#include "supervisor/qemu_cmdline.h"
#include "supervisor/qemu_process.h"
#include "supervisor/qmp.h"
#include "supervisor/snapshot_qmp.h"
#include "supervisor/snapshot_qmp_jobs.h"

#define QMP_CONNECT_TIMEOUT_MS 30000
/* A fresh QEMU is connected to before it runs (vm_start).  A monitor
 * lost during start-up, or one a re-adopted QEMU is asked for, is polled
 * this often for the first second, then at QMP_RETRY_MS. */
#define QMP_FAST_RETRY_MS 2
#define QMP_FAST_WINDOW_MS 1000
#define QMP_RETRY_MS 50
#define QMP_RECONNECT_MS 1000

void vm_set_state(struct vm *vm, enum vm_state s, const char *fmt, ...)
{
    char reason[sizeof(vm->reason)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (vm->state == s && strcmp(vm->reason, reason) == 0)
        return;
    vm->state = s;
    snprintf(vm->reason, sizeof(vm->reason), "%s", reason);
    log_info("VM %s: %s (%s)", vm->def->name, vm_state_name(s), reason);
    if (vm->hooks.state_changed != NULL)
        vm->hooks.state_changed(vm, vm->hooks.arg);
}

void vm_give_taps(struct vm *vm, const int *fds, size_t n)
{
    for (size_t i = 0; i < n && i < DOMAIN_MAX_NETS; i++)
        vm->tap_fds[vm->ntap_fds++] = fds[i];
}

/* Once QEMU holds them, the taps must go with QEMU alone. */
static void close_taps(struct vm *vm)
{
    for (size_t i = 0; i < vm->ntap_fds; i++)
        close(vm->tap_fds[i]);
    vm->ntap_fds = 0;
}

struct vm *vm_new(struct event_base *base, struct domain_def *def, const char *state_dir,
                  const char *run_dir, bool maintenance, const struct vm_hooks *hooks)
{
    struct vm *vm = xcalloc(1, sizeof(*vm));

    vm->base = base;
    vm->def = def;
    vm->state_dir = xstrdup(state_dir);
    vm->run_dir = xstrdup(run_dir);
    vm->qmp_path = xasprintf("%s/qmp.sock", run_dir);
    vm->control_path = xasprintf("%s/control.sock", run_dir);
    vm->log_path = xasprintf("%s/qemu.log", state_dir);
    vm->out_path = xasprintf("%s/qemu.out", run_dir);
    vm->hooks = *hooks;
    vm->maintenance = maintenance;
    vm->state = VM_SHUTOFF;
    snprintf(vm->reason, sizeof(vm->reason), "not started");
    vm->proc.pidfd = -1;
    /* A console QEMU does not have would be tried for every 200 ms. */
    bool consoles = !maintenance && qemu_machine_has_devices(def);

    if (consoles && def->serial) {
        char *path = xasprintf("%s/%s", run_dir, QEMU_SERIAL_SOCKET);
        vm->serial = console_new(base, def->name, "serial0", path);
        free(path);
    }
    if (consoles && def->virtio_console) {
        char *path = xasprintf("%s/%s", run_dir, QEMU_CONSOLE_SOCKET);
        vm->vconsole = console_new(base, def->name, def->serial ? "console1" : "console0", path);
        free(path);
    }
    return vm;
}

struct console *vm_console(struct vm *vm, const char *devname, struct cerr *e)
{
    struct console *first = vm->serial != NULL ? vm->serial : vm->vconsole;
    struct console *c = NULL;

    if (devname == NULL || strcmp(devname, "console0") == 0)
        c = first;
    else if (strcmp(devname, "serial0") == 0)
        c = vm->serial;
    else if (strcmp(devname, "console1") == 0 && vm->serial != NULL)
        c = vm->vconsole;
    if (c == NULL && devname == NULL)
        cerr_set(e, CE_OPERATION_INVALID, "VM %s has no console", vm->def->name);
    else if (c == NULL)
        cerr_set(e, CE_INVALID_PARAMS, "VM %s has no console called '%.32s'", vm->def->name,
                 devname);
    return c;
}

static void consoles_start(struct vm *vm)
{
    if (vm->serial != NULL)
        console_start(vm->serial);
    if (vm->vconsole != NULL)
        console_start(vm->vconsole);
}

void vm_waiters_finish(struct vm *vm, cJSON *result, const struct cerr *e)
{
    while (vm->waiters != NULL) {
        struct waiter *w = vm->waiters;
        vm->waiters = w->next;
        if (w->timer != NULL)
            event_free(w->timer);
        w->cb(w->arg, result ? json_dup(result) : NULL, e);
        free(w);
    }
    cJSON_Delete(result);
}

void vm_free(struct vm *vm)
{
    struct cerr e;

    if (vm == NULL)
        return;
    cerr_set(&e, CE_SUPERVISOR, "supervisor of VM %s is exiting", vm->def->name);
    vm_waiters_finish(vm, NULL, &e);
    snapshot_qmp_jobs_free(vm->snapjobs);
    qmp_free(vm->qmp);
    console_free(vm->serial);
    console_free(vm->vconsole);
    if (vm->connect_timer != NULL)
        event_free(vm->connect_timer);
    if (vm->kill_timer != NULL)
        event_free(vm->kill_timer);
    if (vm->ready_timer != NULL)
        event_free(vm->ready_timer);
    qemu_process_release(&vm->proc);
    close_taps(vm);
    domain_def_free(vm->def);
    free(vm->state_dir);
    free(vm->run_dir);
    free(vm->qmp_path);
    free(vm->control_path);
    free(vm->log_path);
    free(vm->out_path);
    free(vm);
}

static void write_record(struct vm *vm)
{
    struct runrec_run r = {
        .protocol = RPC_PROTOCOL_VERSION,
        .supervisor_pid = getpid(),
        .supervisor_start = procfs_start_time(getpid()),
        .qemu_pid = vm->proc.pid,
        .qemu_start = procfs_start_time(vm->proc.pid),
        .maintenance = vm->maintenance,
        .adopted = vm->adopted,
        .started = vm->started,
    };
    struct cerr e;

    if (runrec_run_write(vm->run_dir, vm->def->name, &r, &e) < 0)
        log_err_code(cerr_name(e.code), "VM %s: cannot write run record: %s", vm->def->name, e.msg);
}

/* Exit facts outlive this process: the broker (or a later supervisor)
 * reads them to tell the user how QEMU ended. */
static void write_exit_facts(struct vm *vm, const struct qemu_exit *ex)
{
    struct runrec_exit x = {
        .time = time(NULL),
        .qemu_pid = vm->proc.pid,
        .code_known = ex != NULL && !ex->unknown,
        .signaled = ex != NULL && ex->signaled,
        .code = ex != NULL ? ex->code : 0,
    };
    struct cerr e;

    snprintf(x.state, sizeof(x.state), "%s", vm_state_name(vm->state));
    snprintf(x.reason, sizeof(x.reason), "%s", vm->reason);
    if (runrec_exit_write(vm->state_dir, &x, &e) < 0)
        log_err_code(cerr_name(e.code), "VM %s: cannot record how QEMU ended: %s", vm->def->name,
                     e.msg);
}

static void fail_start(struct vm *vm, const struct cerr *e)
{
    bool adopting = vm->adopting;

    log_err_code(cerr_name(e->code), "VM %s: %s failed: %s", vm->def->name,
                 adopting ? "re-adoption" : "start", e->msg);
    if (vm->connect_timer != NULL)
        event_del(vm->connect_timer);
    if (vm->ready_timer != NULL)
        event_del(vm->ready_timer);
    vm->adopting = false;
    if (adopting) {
        /* QEMU is not ours to stop: the broker decides what becomes of it. */
        vm->proc_alive = false;
        qemu_process_release(&vm->proc);
        vm->hooks.started(vm, e, vm->hooks.arg);
        vm->hooks.gone(vm, vm->hooks.arg);
        return;
    }
    if (vm->proc_alive) {
        qemu_signal(&vm->proc, SIGKILL);
        vm->start_killed = true;
    }
    vm->state = VM_SHUTOFF;
    snprintf(vm->reason, sizeof(vm->reason), "failed to start");
    write_exit_facts(vm, NULL);
    vm->hooks.started(vm, e, vm->hooks.arg);
}

/* The state a QEMU's exit leaves the VM in, from what was asked of it and
 * how it ended. */
static void set_exit_state(struct vm *vm, const struct qemu_exit *ex, const char *how)
{
    if (vm->destroying)
        vm_set_state(vm, VM_SHUTOFF, "destroyed");
    else if (vm->shutdown_seen && vm->shutdown_guest)
        vm_set_state(vm, VM_SHUTOFF, "shutdown by guest");
    else if (vm->shutdown_seen)
        vm_set_state(vm, VM_SHUTOFF, "shutdown (%s)", vm->shutdown_reason);
    else if (ex->unknown)
        vm_set_state(vm, VM_CRASHED, "crashed: QEMU pid %ld %s without a shutdown event",
                     (long)vm->proc.pid, how);
    else if (ex->signaled)
        vm_set_state(vm, VM_CRASHED, "crashed: QEMU %s", how);
    else if (ex->code != 0) {
        char *tail = qemu_log_tail(&vm->proc, 400);
        vm_set_state(vm, VM_CRASHED, "crashed: QEMU %s: %s", how, tail);
        free(tail);
    } else
        vm_set_state(vm, VM_SHUTOFF, "QEMU exited");
}

static void qemu_exited(const struct qemu_exit *ex, void *arg)
{
    struct cerr re;
    struct vm *vm = arg;
    char how[128];
    bool was_starting = vm->state == VM_STARTING;

    vm->proc_alive = false;
    qemu_exit_describe(ex, how, sizeof(how));
    /* Whatever still waits on QEMU's monitor fails now, while its callers
     * can still be answered. */
    qmp_disconnect(vm->qmp, "QEMU exited");
    if (vm->serial != NULL)
        console_stop(vm->serial);
    if (vm->vconsole != NULL)
        console_stop(vm->vconsole);
    log_info("VM %s: QEMU pid %ld %s", vm->def->name, (long)vm->proc.pid, how);
    if (vm->kill_timer != NULL)
        event_del(vm->kill_timer);
    if (vm->connect_timer != NULL)
        event_del(vm->connect_timer);
    if (was_starting && vm->adopting) {
        struct cerr e;
        cerr_set(&e, CE_QEMU_FAILED, "QEMU pid %ld of VM %s %s while being re-adopted",
                 (long)vm->proc.pid, vm->def->name, how);
        /* fail_start ends this process too. */
        fail_start(vm, &e);
        return;
    }
    if (was_starting) {
        struct cerr e;
        char *tail = qemu_log_tail(&vm->proc, 2000);
        cerr_set(&e, CE_QEMU_FAILED, "QEMU for VM %s failed to start (%s): %s", vm->def->name, how,
                 tail);
        free(tail);
        fail_start(vm, &e);
        vm->hooks.gone(vm, vm->hooks.arg);
        return;
    }
    if (vm->maintenance && !vm->start_killed) {
        /* Not the VM's exit: its last exit facts stay as they were. */
        vm_set_state(vm, VM_SHUTOFF, "maintenance done");
        cJSON *res = vm_state_json(vm);
        vm_waiters_finish(vm, res, NULL);
        vm->hooks.gone(vm, vm->hooks.arg);
        return;
    }
    /* A QEMU fail_start killed: the state and exit facts it wrote stand. */
    if (!vm->start_killed) {
        set_exit_state(vm, ex, how);
        write_exit_facts(vm, ex);
    }
    if (runrec_run_remove(vm->run_dir, &re) < 0)
        log_warn_code(cerr_name(re.code), "VM %s: %s", vm->def->name, re.msg);
    unlink(vm->qmp_path);
    cJSON *res = json_obj();
    json_add_str(res, "state", vm_state_name(vm->state));
    json_add_str(res, "reason", vm->reason);
    vm_waiters_finish(vm, res, NULL);
    vm->hooks.gone(vm, vm->hooks.arg);
}

static void refresh_status_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct vm *vm = arg;
    const cJSON *ret = qmp_reply_return(reply), *status;

    if (e != NULL || vm->state == VM_STARTING || !vm->proc_alive || vm->maintenance)
        return;
    status = cJSON_GetObjectItemCaseSensitive(ret, "status");
    if (!cJSON_IsString(status))
        return;
    if (strcmp(status->valuestring, "running") == 0)
        vm_set_state(vm, VM_RUNNING, "%s", vm->state == VM_RUNNING ? vm->reason : "resumed");
    else if (vm->state != VM_PAUSED || strcmp(vm->reason, "user") != 0)
        vm_set_state(vm, VM_PAUSED, "%s", status->valuestring);
}

static void on_qmp_event(const char *event, const cJSON *data, void *arg)
{
    struct vm *vm = arg;

    snapshot_qmp_jobs_handle_event(vm->snapjobs, event, data);
    /* A destroy's quit or SIGTERM powers off whatever the action says. */
    if (strcmp(event, "SHUTDOWN") == 0 && vm->shutdown_hook != NULL && !vm->destroying &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "guest"))) {
        void (*hook)(struct vm *) = vm->shutdown_hook;
        vm->shutdown_hook = NULL;
        hook(vm);
        return;
    }
    if (strcmp(event, "SHUTDOWN") == 0) {
        const cJSON *guest = cJSON_GetObjectItemCaseSensitive(data, "guest");
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(data, "reason");
        vm->shutdown_seen = true;
        vm->shutdown_guest = cJSON_IsTrue(guest);
        snprintf(vm->shutdown_reason, sizeof(vm->shutdown_reason), "%s",
                 cJSON_IsString(reason) ? reason->valuestring : "unknown");
        return;
    }
    if (vm->state == VM_STARTING)
        return;
    /* A snapshot save or load stops and resumes the guest itself. */
    if ((strcmp(event, "STOP") == 0 || strcmp(event, "RESUME") == 0) &&
        (snapshot_qmp_jobs_busy(vm->snapjobs) || vm->rebooting))
        return;
    if (strcmp(event, "STOP") == 0) {
        if (vm->stop_requested)
            vm_set_state(vm, VM_PAUSED, "user");
        else {
            /* QEMU paused on its own (I/O error, guest panic...): ask why. */
            vm_set_state(vm, VM_PAUSED, "paused by QEMU");
            qmp_command(vm->qmp, "query-status", NULL, QMP_COMMAND_TIMEOUT_MS, refresh_status_cb,
                        vm);
        }
    } else if (strcmp(event, "RESUME") == 0)
        vm_set_state(vm, VM_RUNNING, vm->resume_requested ? "unpaused" : "resumed");
    else
        log_debug("VM %s: QMP event %s", vm->def->name, event);
}

static void cont_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct vm *vm = arg;
    struct cerr err;

    /* A lost monitor during start-up is settled by QEMU's exit (with its
     * own words from the log) or by reconnecting; only a refusal or a
     * timeout ends the start here. */
    if (e != NULL && e->code != CE_TIMEOUT)
        return;
    if (e != NULL || qmp_reply_check(reply, "cont", &err) < 0) {
        fail_start(vm, e != NULL ? e : &err);
        return;
    }
    vm_set_state(vm, VM_RUNNING, "booted");
    vm->hooks.started(vm, NULL, vm->hooks.arg);
}

static void adopt_status_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct vm *vm = arg;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(qmp_reply_return(reply), "status");
    struct cerr err;

    if (e != NULL && e->code != CE_TIMEOUT)
        return; /* a lost monitor: QEMU's end or the reconnect settles it */
    if (e == NULL && !cJSON_IsString(status)) {
        cerr_set(&err, CE_QEMU_FAILED, "VM %s: QEMU's query-status gave no status", vm->def->name);
        e = &err;
    }
    if (e != NULL) {
        fail_start(vm, e);
        return;
    }
    /* Still VM_STARTING for the world until recovery is done. */
    vm->resume_requested = strcmp(status->valuestring, "running") == 0;
    vm->hooks.recover(vm, "re-adopting QEMU", vm->hooks.arg);
}

void vm_recovered(struct vm *vm, const struct cerr *e)
{
    if (vm->state != VM_STARTING) {
        if (e != NULL)
            log_warn_code(cerr_name(e->code),
                          "VM %s: snapshot recovery after reconnecting failed: %s", vm->def->name,
                          e->msg);
        return;
    }
    if (e != NULL && e->code != CE_TIMEOUT && !qmp_is_ready(vm->qmp) && !vm->adopting)
        return; /* the monitor was lost: QEMU's exit or a reconnect follows */
    if (e != NULL) {
        struct cerr err;
        cerr_set(&err, e->code, "VM %s: cannot recover its snapshots: %s", vm->def->name, e->msg);
        fail_start(vm, &err);
        return;
    }
    if (vm->adopting) {
        bool running = vm->resume_requested;
        vm->resume_requested = false;
        vm->adopting = false;
        vm->adopted = true;
        if (vm->ready_timer != NULL)
            event_del(vm->ready_timer);
        vm_set_state(vm, running ? VM_RUNNING : VM_PAUSED, "%s",
                     running ? "re-adopted" : "paused (re-adopted)");
        write_record(vm);
        vm->hooks.started(vm, NULL, vm->hooks.arg);
        return;
    }
    if (vm->maintenance) {
        /* The guest never runs: only the disks matter. */
        vm->started = time(NULL);
        vm_set_state(vm, VM_SHUTOFF, "maintenance");
        write_record(vm);
        vm->hooks.started(vm, NULL, vm->hooks.arg);
        return;
    }
    if (vm->start_paused) {
        vm->started = time(NULL);
        vm_set_state(vm, VM_PAUSED, "user");
        write_record(vm);
        vm->hooks.started(vm, NULL, vm->hooks.arg);
        return;
    }
    qmp_command(vm->qmp, "cont", NULL, QMP_COMMAND_TIMEOUT_MS, cont_cb, vm);
    /* QEMU takes a ms or two over cont (it reads a command a byte at a
     * time): the run record and the confinement are done meanwhile, not
     * after its answer.  A cont that fails ends the start, and the broker
     * removes the run directory with the record. */
    vm->started = time(NULL);
    write_record(vm);
    if (vm->guest_runs != NULL)
        vm->guest_runs(vm, vm->hooks.arg);
}

void vm_on_guest_runs(struct vm *vm, void (*cb)(struct vm *vm, void *arg))
{
    vm->guest_runs = cb;
}

/* QEMU made its VNC socket with the supervisor's umask.  Like the control
 * socket, it is for the owner, whom the run directory's group lets in; QEMU
 * checks no peer, so nobody else of that group must share it (see
 * README.md). */
static void share_display(const struct vm *vm)
{
    char *path;

    if (vm->def->graphics.type != GRAPHICS_VNC || vm->def->graphics.listen != NULL ||
        vm->maintenance)
        return;
    path = xasprintf("%s/vnc.sock", vm->run_dir);
    if (chmod(path, 0666) < 0)
        log_warn("VM %s: its owner cannot reach the display: chmod %s: %s", vm->def->name, path,
                 strerror(errno));
    free(path);
}

static void on_qmp_ready(void *arg)
{
    struct vm *vm = arg;

    log_info("VM %s: QMP monitor connected", vm->def->name);
    /* QEMU made its chardev sockets before serving QMP, and the guest is
     * still held (-S, or adopted and running already): connecting now
     * misses nothing of a fresh boot. */
    consoles_start(vm);
    share_display(vm);
    if (vm->state == VM_STARTING && vm->adopting) {
        qmp_command(vm->qmp, "query-status", NULL, QMP_COMMAND_TIMEOUT_MS, adopt_status_cb, vm);
        return;
    }
    /* A job of an earlier supervisor or QEMU, or one cut short by a lost
     * monitor, is settled before anything else runs. */
    if (vm->state == VM_STARTING) {
        vm->hooks.recover(vm,
                          vm->maintenance ? "opening the disks for snapshot work" : "starting QEMU",
                          vm->hooks.arg);
        return;
    }
    /* Events are lost while no client is connected: ask instead. */
    qmp_command(vm->qmp, "query-status", NULL, QMP_COMMAND_TIMEOUT_MS, refresh_status_cb, vm);
    vm->hooks.recover(vm, "reconnecting to QEMU's monitor", vm->hooks.arg);
}

static void arm_connect(struct vm *vm, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (evtimer_add(vm->connect_timer, &tv) < 0)
        log_err("VM %s: cannot arm the QMP connect timer", vm->def->name);
}

/* The next poll of the monitor socket, for a VM waiting for it. */
static int retry_ms(const struct vm *vm)
{
    return monotime_ms() < vm->connect_fast_until_ms ? QMP_FAST_RETRY_MS : QMP_RETRY_MS;
}

static void on_qmp_closed(const char *why, void *arg)
{
    struct vm *vm = arg;

    snapshot_qmp_jobs_handle_closed(vm->snapjobs);
    /* After SHUTDOWN or quit, QEMU closing its monitor is expected. */
    if (!vm->proc_alive || vm->destroying || vm->shutdown_seen)
        return;
    log_warn("VM %s: QMP connection lost (%s); reconnecting", vm->def->name, why);
    /* During start-up the original deadline still applies. */
    if (vm->state != VM_STARTING)
        vm->connect_deadline_ms = 0;
    arm_connect(vm, vm->state == VM_STARTING ? retry_ms(vm) : QMP_RECONNECT_MS);
}

static void connect_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vm *vm = arg;
    struct cerr e;

    (void)fd;
    (void)what;
    if (!vm->proc_alive)
        return;
    if (qmp_connect(vm->qmp, vm->qmp_path) == 0)
        return;
    /* The socket file appears at bind(), slightly before listen(). */
    if (errno != ENOENT && errno != ECONNREFUSED)
        log_warn("VM %s: connecting to %s: %s", vm->def->name, vm->qmp_path, strerror(errno));
    if (vm->connect_deadline_ms != 0 && monotime_ms() > vm->connect_deadline_ms) {
        cerr_set(&e, CE_QEMU_FAILED, "QEMU for VM %s did not open its monitor %s within %d s",
                 vm->def->name, vm->qmp_path, QMP_CONNECT_TIMEOUT_MS / 1000);
        fail_start(vm, &e);
        return;
    }
    arm_connect(vm, vm->connect_deadline_ms != 0 ? retry_ms(vm) : QMP_RECONNECT_MS);
}

static int check_kvm(const struct vm *vm, struct cerr *e)
{
    int fd;

    if (vm->def->virt != DOMAIN_VIRT_KVM)
        return 0;
    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        /* Its own uid, unlike root, needs /dev/kvm to be group-accessible. */
        cerr_set(e, CE_NO_KVM,
                 "VM %s has type='kvm' but /dev/kvm is not usable by its uid %u (%s)%s; use "
                 "<domain type='qemu'> for software emulation",
                 vm->def->name, (unsigned)geteuid(), strerror(err),
                 err == EACCES && geteuid() != 0
                     ? ": the VM's uid gets /dev/kvm's group only when it is not root's and "
                       "has read and write access (Debian's udev rules make it root:kvm 0660)"
                     : "");
        return -1;
    }
    close(fd);
    return 0;
}

/* The broker keeps the VM's UEFI variables in its own state directory,
 * the parent of the supervisor's (broker/nvram.h), and hands the file to
 * the VM's uid for the run. */
static char *vm_nvram_path(const struct vm *vm)
{
    const char *slash = strrchr(vm->state_dir, '/');
    char *name = firmware_nvram_name(vm->def->name);
    char *path = xasprintf("%.*s/%s", slash ? (int)(slash - vm->state_dir) : 1,
                           slash ? vm->state_dir : ".", name);

    free(name);
    return path;
}

/* The broker gives one tap per tap-backed interface: any other count is
 * its mistake, said before QEMU is tried. */
static int check_taps(const struct vm *vm, struct cerr *e)
{
    size_t want = vm->maintenance ? 0 : domain_def_tap_count(vm->def);

    if (vm->ntap_fds == want)
        return 0;
    cerr_set(e, CE_INTERNAL,
             "VM %s has %zu bridge or ethernet interfaces but the supervisor was given %zu taps",
             vm->def->name, want, vm->ntap_fds);
    return -1;
}

/* A QEMU that took the connection but never greets (QEMU 7.2 stuck in
 * accept(2) was seen doing so) fails the start instead of holding it. */
static void ready_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vm *vm = arg;
    struct cerr e;

    (void)fd;
    (void)what;
    /* A fresh QEMU's start-up past the greeting (recovery may wait for a
     * job) has its own limits. */
    if (vm->state != VM_STARTING || (!vm->adopting && qmp_is_ready(vm->qmp)))
        return;
    cerr_set(&e, CE_QEMU_FAILED, "QEMU pid %ld of VM %s did not answer on %s in time",
             (long)vm->proc.pid, vm->def->name, vm->qmp_path);
    fail_start(vm, &e);
}

/* QEMU's end of the monitor: once QEMU holds the socket, it serves
 * reconnections on its own. */
static void close_monitor_fds(struct qemu_inputs *in)
{
    if (in->qmp_fd >= 0)
        close(in->qmp_fd);
    if (in->qmp_name_fd >= 0)
        close(in->qmp_name_fd);
    in->qmp_fd = in->qmp_name_fd = -1;
}

int vm_start(struct vm *vm, struct cerr *e)
{
    struct argv_list argv;
    struct qemu_inputs in;
    char *line, *warning, *nvram;
    struct timeval greeting_limit = {QMP_CONNECT_TIMEOUT_MS / 1000, 0};
    bool connected;
    int rc;

    if ((!vm->maintenance && check_kvm(vm, e) < 0) || domain_def_check_disks(vm->def, e) < 0 ||
        check_taps(vm, e) < 0)
        return -1;
    qemu_inputs_init(&in, vm->def);
    in.tap_fds = vm->tap_fds;
    in.ntap_fds = vm->ntap_fds;
    if (qemu_monitor_listen(vm->qmp_path, &in.qmp_fd, &in.qmp_name_fd, e) < 0)
        return -1;
    nvram = vm_nvram_path(vm);
    in.nvram = nvram;
    rc = qemu_build_argv(vm->def, vm->maintenance ? QEMU_MODE_MAINTENANCE : QEMU_MODE_VM,
                         vm->qmp_path, &in, &argv, &warning, e);
    free(nvram);
    if (rc < 0) {
        close_monitor_fds(&in);
        return -1;
    }
    if (warning != NULL)
        log_warn("%s", warning);
    free(warning);
    line = argv_join(&argv);
    log_info("VM %s: starting %s", vm->def->name, line);
    free(line);
    vm->qmp = qmp_new(vm->base, on_qmp_event, on_qmp_ready, on_qmp_closed, vm);
    vm->snapjobs = snapshot_qmp_jobs_new(vm->base, vm->qmp);
    vm->connect_timer = evtimer_new(vm->base, connect_timer_cb, vm);
    vm->ready_timer = evtimer_new(vm->base, ready_timer_cb, vm);
    vm->kill_timer = NULL;
    if (vm->connect_timer == NULL || vm->ready_timer == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot create a timer");
        close_monitor_fds(&in);
        argv_free(&argv);
        return -1;
    }
    /* First in the socket's queue, before QEMU runs: QEMU's accept at
     * start-up takes this connection at once (nothing polls), and nobody
     * else's. */
    connected = qmp_connect(vm->qmp, vm->qmp_path) == 0;
    if (!connected)
        log_warn("VM %s: connecting to %s before QEMU starts: %s; trying again once it runs",
                 vm->def->name, vm->qmp_path, strerror(errno));
    vm->state = VM_STARTING;
    snprintf(vm->reason, sizeof(vm->reason), "starting up");
    rc =
        qemu_spawn(&vm->proc, vm->base, &argv, &in, vm->log_path, vm->out_path, qemu_exited, vm, e);
    argv_free(&argv);
    close_monitor_fds(&in);
    if (rc < 0) {
        vm->state = VM_SHUTOFF;
        return -1;
    }
    close_taps(vm);
    vm->proc_alive = true;
    vm->connect_deadline_ms = monotime_ms() + QMP_CONNECT_TIMEOUT_MS;
    vm->connect_fast_until_ms = monotime_ms() + QMP_FAST_WINDOW_MS;
    if (!connected)
        arm_connect(vm, QMP_FAST_RETRY_MS);
    if (evtimer_add(vm->ready_timer, &greeting_limit) < 0)
        log_err("VM %s: cannot arm the timer that ends a start QEMU does not answer",
                vm->def->name);
    return 0;
}

/* The guest's start time from the run record the previous supervisor left,
 * when it names the same QEMU. */
static time_t recorded_start(const struct vm *vm, pid_t pid)
{
    char *path = xasprintf("%s/" RUNREC_RUN_FILE, vm->run_dir);
    cJSON *j = json_read_object_file(path, RUNREC_MAX);
    struct runrec_run r;

    runrec_run_parse(j, &r);
    cJSON_Delete(j);
    free(path);
    return r.qemu_pid == pid && r.started != 0 ? r.started : time(NULL);
}

void vm_start_abandon(struct vm *vm)
{
    if (vm->proc_alive && qemu_signal(&vm->proc, SIGKILL) < 0)
        log_warn("VM %s: cannot kill the QEMU of a failed start: %s", vm->def->name,
                 strerror(errno));
}

int vm_adopt(struct vm *vm, pid_t pid, struct cerr *e)
{
    /* A save blocks QEMU's monitor until the whole RAM is written. */
    int limit_ms = QMP_CONNECT_TIMEOUT_MS + (int)(vm->def->memory_kib / 1024 / 20 * 1000);
    struct timeval tv = {limit_ms / 1000, (limit_ms % 1000) * 1000};

    if (vm->maintenance) {
        cerr_set(e, CE_INVALID_PARAMS, "a maintenance supervisor does not re-adopt QEMU");
        return -1;
    }
    if (qemu_adopt(&vm->proc, vm->base, pid, vm->qmp_path, vm->log_path, vm->out_path, qemu_exited,
                   vm, e) < 0)
        return -1;
    vm->qmp = qmp_new(vm->base, on_qmp_event, on_qmp_ready, on_qmp_closed, vm);
    vm->snapjobs = snapshot_qmp_jobs_new(vm->base, vm->qmp);
    vm->connect_timer = evtimer_new(vm->base, connect_timer_cb, vm);
    vm->ready_timer = evtimer_new(vm->base, ready_timer_cb, vm);
    if (vm->connect_timer == NULL || vm->ready_timer == NULL ||
        evtimer_add(vm->ready_timer, &tv) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a timer");
        return -1;
    }
    vm->started = recorded_start(vm, pid);
    vm->state = VM_STARTING;
    vm->adopting = true;
    vm->proc_alive = true;
    snprintf(vm->reason, sizeof(vm->reason), "re-adopting");
    log_info("VM %s: re-adopting QEMU pid %ld", vm->def->name, (long)pid);
    vm->connect_deadline_ms = monotime_ms() + limit_ms;
    vm->connect_fast_until_ms = monotime_ms() + QMP_FAST_WINDOW_MS;
    arm_connect(vm, 0);
    return 0;
}
