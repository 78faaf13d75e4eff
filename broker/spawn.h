/* A supervisor's process and handles, as the broker keeps them: spawning,
 * watching, the start-up status line, the control connection, QEMU's pid,
 * and closing it all.  Above it: supervise.c (start and per-phase
 * handling), readopt.c, maintenance.c, adopt.c, forward.c. */
#ifndef CORRAL_SPAWN_H
#define CORRAL_SPAWN_H

#include <cjson/cJSON.h>

#include "broker/registry.h"
#include "common/error.h"
#include "proto/conn.h"

/* What the layer above does when a supervisor's status line arrives and
 * when the supervisor is gone (broker.spawn_hooks). */
struct spawn_hooks {
    /* info: what the line said; e: why start-up failed, or NULL. */
    void (*status)(struct bvm *vm, const cJSON *info, const struct cerr *e);
    /* how: "killed by signal 9"... */
    void (*gone)(struct bvm *vm, const char *how);
};

/* Spawns vm's supervisor; with adopt it takes over the running QEMU
 * vm->qemu_pid instead of starting one.  Start-up ends in the status line.
 * A VM that was OFF is STARTING after it. */
int spawn_start(struct bvm *vm, bool adopt, struct cerr *e);
/* Watches an existing supervisor through a pidfd. */
int spawn_watch(struct bvm *vm, pid_t pid, struct cerr *e);
/* Remembers vm's QEMU if pid (started at start, unless 0) still is it. */
void spawn_watch_qemu(struct bvm *vm, pid_t pid, unsigned long long start);
/* Whether vm's QEMU is still running. */
bool spawn_qemu_alive(const struct bvm *vm);
/* Connects to the supervisor's control socket and subscribes to its events;
 * subscribed (vm as its argument; NULL: a failure is logged) gets the
 * answer.  On failure errno is as vm_dirs_connect leaves it. */
int spawn_connect(struct bvm *vm, rpc_reply_cb subscribed, int timeout_ms, struct cerr *e);
/* Closes everything that belongs to the supervisor; QEMU's handles stay. */
void spawn_drop(struct bvm *vm);
/* Releases every handle without touching the processes (and at broker
 * exit); the VM is OFF. */
void spawn_release(struct bvm *vm);
/* The VM has stopped for good: its disks go back, every handle is closed
 * and its run directory removed. */
void spawn_finish(struct bvm *vm);
/* Completes the start requests waiting on vm (result consumed); a
 * supervisor still starting is taken as started (it settles from there). */
void spawn_finish_start(struct bvm *vm, cJSON *result, const struct cerr *e);
/* SIGKILLs vm's QEMU if the broker knows it; returns whether it did. */
bool spawn_kill_qemu(struct bvm *vm);
/* vm's supervisor has exited: reaps it when it is the broker's child and
 * hands it to spawn_hooks.gone.  Returns whether it reaped it. */
bool spawn_reap(struct bvm *vm);

#endif
