/* What supervisor/vm.c (QEMU's life: start, monitor, exit) shares with
 * supervisor/vm_ops.c (what a user asks of a running VM), which builds on
 * it; nothing else sees inside a struct vm. */
#ifndef CORRAL_VM_INT_H
#define CORRAL_VM_INT_H

#include <event2/event.h>
#include <stdbool.h>
#include <time.h>

#include "supervisor/console.h"
#include "supervisor/qemu_process.h"
#include "supervisor/vm.h"

#define QMP_COMMAND_TIMEOUT_MS 30000

struct waiter {
    vm_done_cb cb;
    void *arg;
    struct event *timer; /* shutdown --timeout */
    struct vm *vm;
    struct waiter *next;
};

struct vm {
    struct event_base *base;
    struct domain_def *def;
    char *state_dir, *run_dir;
    char *qmp_path, *log_path, *out_path, *control_path;
    struct vm_hooks hooks;
    void (*guest_runs)(struct vm *vm, void *arg); /* vm_on_guest_runs */
    bool maintenance;
    /* Re-adopting a QEMU an earlier supervisor started (--adopt). */
    bool adopting, adopted;
    struct event *ready_timer;
    /* fail_start killed the QEMU it was starting: its end is that failure,
     * not a crash. */
    bool start_killed;

    enum vm_state state;
    char reason[256];
    time_t started;

    /* The broker's taps until QEMU has its copies (vm_give_taps). */
    int tap_fds[DOMAIN_MAX_NETS];
    size_t ntap_fds;

    struct qemu_process proc;
    bool proc_alive;
    struct qmp *qmp;
    struct snapjobs *snapjobs;
    struct event *connect_timer;
    long long connect_deadline_ms;
    long long connect_fast_until_ms; /* polled often until then (vm.c) */

    bool stop_requested, resume_requested, destroying;
    /* vm.start's paused: the guest's vCPUs are left stopped (-S). */
    bool start_paused;
    /* An ACPI reboot (vm_ops.c): QEMU pauses on the guest's power-off
     * instead of exiting, and this runs on its SHUTDOWN event; STOP and
     * RESUME are the reboot's own while rebooting. */
    void (*shutdown_hook)(struct vm *vm);
    bool rebooting;
    bool shutdown_seen, shutdown_guest;
    char shutdown_reason[64];
    struct event *kill_timer;
    int kill_stage;
    struct waiter *waiters; /* completed when QEMU has gone */
    /* The serial port and the virtio console, NULL when the VM has none
     * (a maintenance QEMU never has). */
    struct console *serial, *vconsole;
};

/* Sets the state and its reason, logs and broadcasts a change. */
void vm_set_state(struct vm *vm, enum vm_state s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Completes every waiter for QEMU's end with result (consumed) or e. */
void vm_waiters_finish(struct vm *vm, cJSON *result, const struct cerr *e);

#endif
