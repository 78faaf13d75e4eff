/* Internals shared by the files that look after supervisors: supervise.c
 * (spawning, watching, forwarding, settling), readopt.c (replacing one that
 * died while its QEMU lives on), adopt.c (re-attaching after a broker
 * restart) and leftovers.c (processes and directories nobody owns). */
#ifndef CORRAL_SUPERVISE_INT_H
#define CORRAL_SUPERVISE_INT_H

#include "broker/registry.h"
#include "proto/conn.h"

/* How long the broker's own calls to a supervisor may take. */
#define SUP_CALL_TIMEOUT_MS 10000

/* Spawns vm's supervisor; with adopt it takes over the running QEMU
 * vm->qemu_pid instead of starting one.  Start-up ends in the status line. */
int sup_spawn(struct bvm *vm, bool adopt, struct cerr *e);
/* Watches an existing supervisor through a pidfd. */
int sup_watch(struct bvm *vm, pid_t pid, struct cerr *e);
/* Remembers vm's QEMU if pid (started at start, unless 0) still is it. */
void sup_watch_qemu(struct bvm *vm, pid_t pid, unsigned long long start);
/* Whether vm's QEMU is still running. */
bool sup_qemu_alive(const struct bvm *vm);
/* Connects to the supervisor's control socket and subscribes to its events;
 * subscribed (vm as its argument; NULL: a failure is logged) gets the
 * answer. */
int sup_connect(struct bvm *vm, rpc_reply_cb subscribed, int timeout_ms, struct cerr *e);
/* The supervisor is gone (how: "killed by signal 9"...): settles the VM. */
void sup_settle(struct bvm *vm, const char *how);
/* Closes everything that belongs to the supervisor; QEMU's handles stay. */
void sup_drop(struct bvm *vm);
/* The VM has stopped for good: its disks go back, every handle is closed
 * and its run directory removed. */
void sup_finish(struct bvm *vm);
/* Completes the start requests waiting on vm (result consumed). */
void sup_finish_start(struct bvm *vm, cJSON *result, const struct cerr *e);
/* Tells a maintenance supervisor to stop now. */
void sup_maint_stop(struct bvm *vm);
/* SIGKILLs vm's QEMU if the broker knows it; returns whether it did. */
bool sup_kill_qemu(struct bvm *vm);

/* readopt.c */
void readopt_after_crash(struct bvm *vm, const char *how);
void readopt_status(struct bvm *vm, const cJSON *info, const struct cerr *e);
void readopt_failed(struct bvm *vm);
void readopt_start(struct bvm *vm, void *req);

/* adopt.c: a re-attachment after the broker's start is over (reattached:
 * the VM runs on under a supervisor). */
void adopt_settled(struct bvm *vm, bool reattached);

/* leftovers.c: SIGKILLs every process that serves run_dir (a VM's),
 * whoever it is: what a supervisor that died during its start-up left. */
void leftovers_kill_vm(struct broker *b, const char *run_dir);
/* Removes the run directories of VMs that are not defined, and SIGKILLs
 * every supervisor and QEMU of this broker's run directory that no VM
 * owns; logs each. */
void leftovers_clean(struct broker *b);

#endif
