/* The one VM a supervisor owns: its QEMU process, its QMP monitor and its
 * state as corral reports it.  Policy (who may ask for what) lives in
 * control.c; this file is the mechanism. */
#ifndef CORRAL_VM_H
#define CORRAL_VM_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/domain_xml.h"
#include "common/error.h"

enum vm_state { VM_STARTING, VM_RUNNING, VM_PAUSED, VM_SHUTOFF, VM_CRASHED };

struct vm;

/* Completion of an operation: result (consumed, may be NULL) or e. */
typedef void (*vm_done_cb)(void *arg, cJSON *result, const struct cerr *e);
/* Completion of an operation whose result is passed on unparsed: the text
 * of one well-formed JSON value (len bytes, borrowed), or NULL with e. */
typedef void (*vm_raw_done_cb)(void *arg, const char *result, size_t len, const struct cerr *e);

struct vm_hooks {
    /* The state or its reason changed (broadcast it). */
    void (*state_changed)(struct vm *vm, void *arg);
    /* Start-up finished: e is NULL when the guest runs. */
    void (*started)(struct vm *vm, const struct cerr *e, void *arg);
    /* QEMU has ended and its exit facts are on disk: the process may go. */
    void (*gone)(struct vm *vm, void *arg);
    /* QEMU's monitor is (again) connected: settle what a crash left of
     * snapshot work, then call vm_recovered.  context is for reports. */
    void (*recover)(struct vm *vm, const char *context, void *arg);
    void *arg;
};

/* cb (with the hooks' arg) when cont is on its way to a QEMU that has not
 * run the guest yet: from QEMU's answer on, QEMU may be the guest's. */
void vm_on_guest_runs(struct vm *vm, void (*cb)(struct vm *vm, void *arg));

/* Takes ownership of def.  A maintenance VM runs QEMU with -machine none
 * and the disks only, for snapshot work on a shut-off VM: its guest never
 * runs, its state stays "shut off", and its end is not the VM's exit. */
struct vm *vm_new(struct event_base *base, struct domain_def *def, const char *state_dir,
                  const char *run_dir, bool maintenance, const struct vm_hooks *hooks);
bool vm_is_maintenance(const struct vm *vm);
/* Takes the broker's tap descriptors (one per tap-backed interface, in the
 * definition's order) for vm_start to pass to QEMU; they are closed once
 * QEMU has them, or with the VM. */
void vm_give_taps(struct vm *vm, const int *fds, size_t n);
void vm_free(struct vm *vm);
/* Starts QEMU; completion through hooks->started. */
int vm_start(struct vm *vm, struct cerr *e);
/* Kills the QEMU vm_start spawned, before the event loop ran: the start
 * failed around it, and its guest never ran (QEMU waits at -S). */
void vm_start_abandon(struct vm *vm);
/* Takes over QEMU pid, started by an earlier supervisor of this VM; the
 * guest is not touched.  Completion through hooks->started; on failure
 * QEMU is left as it was and hooks->gone follows. */
int vm_adopt(struct vm *vm, pid_t pid, struct cerr *e);
/* Recovery (hooks->recover) is done; e when it could not run. */
void vm_recovered(struct vm *vm, const struct cerr *e);
struct event_base *vm_event_base(const struct vm *vm);

const char *vm_name(const struct vm *vm);
enum vm_state vm_get_state(const struct vm *vm);
const char *vm_state_name(enum vm_state s);
const char *vm_reason(const struct vm *vm);
/* The vm.state event/result object; caller owns it. */
cJSON *vm_state_json(const struct vm *vm);
/* The vm.info result object; caller owns it. */
cJSON *vm_info_json(const struct vm *vm);

void vm_suspend(struct vm *vm, vm_done_cb cb, void *arg);
void vm_resume(struct vm *vm, vm_done_cb cb, void *arg);
void vm_shutdown(struct vm *vm, int timeout_s, vm_done_cb cb, void *arg);
/* An ACPI reboot as libvirt's (a power button press; the guest's power-off
 * becomes a reset): answered once the button is pressed. */
void vm_reboot(struct vm *vm, vm_done_cb cb, void *arg);
/* A hard reset (QMP system_reset), as the reset button. */
void vm_reset(struct vm *vm, vm_done_cb cb, void *arg);
/* Leaves the guest paused once it is started (before vm_start). */
void vm_set_start_paused(struct vm *vm);
void vm_destroy(struct vm *vm, vm_done_cb cb, void *arg);
/* What snapshot operations build on; borrowed from the VM. */
struct qmp *vm_qmp_conn(const struct vm *vm);
struct snapjobs *vm_snapjobs(const struct vm *vm);
const struct domain_def *vm_def(const struct vm *vm);
/* Sets disk i's source in the live definition (a medium changed by
 * supervisor/media.c); NULL for an empty tray. */
void vm_set_disk_source(struct vm *vm, size_t i, const char *source);
/* The VM runs QEMU and is not starting or being destroyed. */
bool vm_is_active(const struct vm *vm);
/* QEMU is one this supervisor started and is still starting: no snapshot
 * job can have run in it. */
bool vm_qemu_fresh(const struct vm *vm);

/* Asks QEMU whether the guest runs and sets the VM's state from the answer
 * (after a snapshot job, whose STOP/RESUME events were not the user's);
 * cb gets the state object. */
void vm_sync_state(struct vm *vm, const char *reason, vm_done_cb cb, void *arg);
/* Sets a paused VM's reason (a failed revert that must not be resumed). */
void vm_set_paused_reason(struct vm *vm, const char *reason);

struct console;
/* The console called devname as virsh names them ("serial0"; "console0"
 * the first of serial port and virtio console, "console1" the second; NULL
 * the first), or NULL with e set. */
struct console *vm_console(struct vm *vm, const char *devname, struct cerr *e);

/* Raw QMP passthrough of one command object (borrowed): the result,
 * {"reply": QEMU's reply without its id}, is made of the bytes QEMU sent. */
void vm_qmp(struct vm *vm, const cJSON *cmd, vm_raw_done_cb cb, void *arg);

#endif
