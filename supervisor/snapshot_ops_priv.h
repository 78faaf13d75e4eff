/* What snapshot_ops.c shares with snapshot_recover.c: the per-VM snapshot
 * state and the helpers that name disks and make reports.  Not for other
 * files. */
#ifndef CORRAL_SNAPSHOT_OPS_PRIV_H
#define CORRAL_SNAPSHOT_OPS_PRIV_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "common/domain_xml.h"
#include "supervisor/journal.h"
#include "supervisor/snapshot_ops.h"
#include "supervisor/snapshot_qmp.h"
#include "supervisor/snapshot_tree.h"

#define LIST_TIMEOUT_MS 30000

struct snapops {
    struct vm *vm;
    char *dir;       /* STATE/snapshots */
    char *state_dir; /* STATE/vms/NAME: pending.json and standing.json live here */
    struct snapshot_tree *tree;
    snapops_notify_fn notify;
    void *notify_arg;
    struct journal *journal; /* reports until the broker acknowledges them */
    bool busy;               /* an operation that runs QEMU jobs is under way */
    /* Differences already reported and still standing (snapshot_recover.c):
     * a restarted supervisor does not report them again. */
    cJSON *standing;
};

/* A writable qcow2 disk: the ones that take part in internal snapshots. */
struct sdisk {
    const char *target;
    char node[64];
};

struct disks {
    size_t n;
    struct sdisk d[DOMAIN_MAX_DISKS];
    const char *nodes[DOMAIN_MAX_DISKS];
};

const char *snapops_vmname(const struct snapops *so);
/* Fails when a writable disk cannot hold internal snapshots (raw). */
int snapops_disks(const struct snapops *so, struct disks *out, struct cerr *e);
/* The target of a format node, or the node itself when unknown. */
const char *snapops_target_of(const struct disks *ds, const char *node);
/* Targets of nodes as a new JSON array. */
cJSON *snapops_targets(const struct disks *ds, const char *const *nodes, size_t n);
/* A report object as snapops_report makes it, without journalling or
 * sending it (disks consumed; new). */
cJSON *snapops_report_object(const struct snapops *so, const char *snap, const char *kind,
                             const char *job, cJSON *disks, const char *detail);
/* A typed inconsistency report, journalled, then sent to subscribers;
 * job (the QEMU job it is about) may be NULL; disks is consumed.  Returns
 * the report with its seq (caller owns it). */
cJSON *snapops_report(struct snapops *so, const char *snap, const char *kind, const char *job,
                      cJSON *disks, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Appends to reports (unjournalled objects) every difference between the
 * metadata and what l says the disks hold: snapshot-check's findings. */
void snapops_differences(const struct snapops *so, const struct disks *ds,
                         const struct snapshot_qmp_nodes *l, cJSON *reports);
/* Sends a {"vm","snapshot"} event such as snapshot.created. */
void snapops_event(struct snapops *so, const char *method, const char *snap);

#endif
