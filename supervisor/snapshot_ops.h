/* The snapshot state of one VM: made when the supervisor starts, fed the
 * broker's acknowledgements, freed at exit.  The verbs live one file per
 * operation or family (snapshot_create.h, snapshot_delete.h,
 * snapshot_revert.h, snapshot_query.h, snapshot_check.h) above the shared
 * snapshot_core.h, snapshot_report.h and snapshot_intent.h; recovery in
 * snapshot_recover.h.  Mechanism lives in snapshot_qmp.c (QMP) and
 * snapshot_tree.c (metadata files). */
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

#endif
