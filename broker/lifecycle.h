/* Where a VM's supervisor is in its life, as the broker sees it: one phase
 * per VM (struct bvm.phase), changed only through lifecycle_set, which
 * checks each change against the table below.
 *
 * Phase             supervisor / QEMU             requests
 * OFF               none / none                   start, snapshot work
 * STARTING          spawned, no status line yet   refused; starts wait
 * RUNNING           serves the running VM         forwarded
 * REATTACHING       found after a broker restart, forwarded
 *                   two answers awaited
 * READOPTING        spawned --adopt for a QEMU    refused (busy)
 *                   whose supervisor died
 * DEGRADED          none / runs unmanaged         destroy, start re-adopts
 * DESTROYING        none / SIGTERM sent           destroys wait
 * MAINT_STARTING    maintenance, no status yet    snapshot work queues
 * MAINT_READY       maintenance, serving          snapshot work sent
 * MAINT_CLOSING     maintenance, told to stop     snapshot work queues
 *
 * Transitions (from -> to: on what).  Staying in a phase, and going to OFF
 * (every handle released: the VM stopped, or the broker exits), are always
 * allowed; a supervisor that is gone is settled from RUNNING or a
 * maintenance phase, so the phases that wait for one pass through RUNNING
 * on their way out.
 * OFF -> STARTING: vm.start spawns a supervisor, or a start waited for a
 *     maintenance supervisor to go
 * OFF -> MAINT_STARTING: snapshot work on the shut-off VM
 * OFF -> RUNNING, MAINT_READY: a broker start found the VM's supervisor
 *     (adopt.c), alive or dead
 * STARTING -> RUNNING: its status line (good: booted; bad: the supervisor
 *     is about to exit), or it is gone before the line came
 * RUNNING -> REATTACHING: a broker start connects to it
 * RUNNING -> READOPTING: it died, QEMU runs on, restarts are left
 * RUNNING -> DEGRADED: it died, QEMU runs on, the restarts are used up
 * REATTACHING -> RUNNING: both answers came, one failed (it is killed),
 *     or it is gone
 * READOPTING -> RUNNING: its status line said it took QEMU over, or it
 *     is gone
 * DEGRADED -> READOPTING: vm.start re-adopts QEMU
 * DEGRADED -> DESTROYING: vm.destroy sends QEMU SIGTERM
 * MAINT_STARTING -> MAINT_READY: its status line (good or bad), or it is
 *     gone before the line came
 * MAINT_READY -> MAINT_CLOSING: idle, or a start waits for the disks
 *
 * Orthogonal to the phase: bvm.adopting (counted in broker.adopting) spans
 * a re-attachment after the broker's start through REATTACHING, and on
 * through READOPTING or DEGRADED when the supervisor found had died, until
 * the VM settles either way. */
#ifndef CORRAL_LIFECYCLE_H
#define CORRAL_LIFECYCLE_H

#include <stdbool.h>

struct broker;
struct bvm;

enum lifecycle_phase {
    LIFECYCLE_OFF,
    LIFECYCLE_STARTING,
    LIFECYCLE_RUNNING,
    LIFECYCLE_REATTACHING,
    LIFECYCLE_READOPTING,
    LIFECYCLE_DEGRADED,
    LIFECYCLE_DESTROYING,
    LIFECYCLE_MAINT_STARTING,
    LIFECYCLE_MAINT_READY,
    LIFECYCLE_MAINT_CLOSING
};

#define LIFECYCLE_NPHASES (LIFECYCLE_MAINT_CLOSING + 1)

const char *lifecycle_name(enum lifecycle_phase p);
/* Whether the table above allows from -> to. */
bool lifecycle_may(enum lifecycle_phase from, enum lifecycle_phase to);
/* Moves vm to phase to; a change the table does not allow is logged as
 * the broker's bug, and made all the same: refusing it would leave the VM
 * in a phase its handles no longer match. */
void lifecycle_set(struct bvm *vm, enum lifecycle_phase to);

/* A supervisor spawned and not heard from yet (its status line). */
bool lifecycle_starting(enum lifecycle_phase p);
/* The supervisor is a maintenance one (disks only, for snapshot work). */
bool lifecycle_maintenance(enum lifecycle_phase p);
/* QEMU runs without a supervisor. */
bool lifecycle_degraded(enum lifecycle_phase p);

/* A re-attachment after the broker's start is over (reattached: the VM
 * runs on under a supervisor): broker.adopting counts one fewer. */
void lifecycle_adopt_settled(struct bvm *vm, bool reattached);
/* Logs how long re-attaching took once no VM is adopting any more. */
void lifecycle_adopt_report(struct broker *b);

#endif
