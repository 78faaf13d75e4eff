/* The user-facing snapshot operations of one VM: what to check before a job,
 * which disks to name, what to compare after, and how the metadata and its
 * tree follow.  Mechanism lives in snapshot_qmp.c (QMP) and snapshot_tree.c
 * (metadata files). */
#ifndef CORRAL_SNAPSHOT_OPS_H
#define CORRAL_SNAPSHOT_OPS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "common/error.h"
#include "supervisor/vm.h"

struct snapops;

/* Sends an event (params consumed) to the supervisor's subscribers. */
typedef void (*snapops_notify_fn)(const char *method, cJSON *params, void *arg);

/* Loads the VM's snapshot tree from STATE/snapshots; every problem the load
 * tolerated is reported through notify as an inconsistency.  vm is
 * borrowed. */
struct snapops *snapops_new(struct vm *vm, const char *state_dir, snapops_notify_fn notify,
                            void *arg, struct cerr *e);
void snapops_free(struct snapops *so);
/* Sends every report the broker has not acknowledged yet (a subscriber
 * arrived: the broker, maybe restarted). */
void snapops_resend(struct snapops *so);
/* The broker has persisted report seq: it leaves the journal. */
int snapops_ack(struct snapops *so, long long seq, struct cerr *e);

/* Each completes through cb exactly once (maybe before returning). */
void snapops_create(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_delete(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_list(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_info(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_dumpxml(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_current(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_parent(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_revert(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_redefine(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);
void snapops_check(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg);

#endif
