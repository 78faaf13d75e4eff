/* What every snapshot operation of one VM shares: its context (the VM, the
 * metadata tree, where its files live, who hears its events), the disks
 * that take part, and the small helpers each operation needs.  The bottom
 * of the snapshot operations: it calls none of the files built on it. */
#ifndef CORRAL_SNAPSHOT_CORE_H
#define CORRAL_SNAPSHOT_CORE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "common/domain_xml.h"
#include "common/error.h"
#include "supervisor/journal.h"
#include "supervisor/snapshot_qmp.h"
#include "supervisor/snapshot_qmp_jobs.h"
#include "supervisor/snapshot_tree.h"
#include "supervisor/vm.h"

#define SNAPCORE_LIST_TIMEOUT_MS 30000
/* The largest pending.json or standing.json read back. */
#define SNAPCORE_RECORD_MAX (1024 * 1024)

struct snapops {
    struct vm *vm;
    const char *name; /* the VM's, borrowed from vm_def(vm), which lives as long */
    char *dir;        /* STATE/snapshots */
    char *state_dir;  /* STATE/vms/NAME: pending.json and standing.json live here */
    struct snapshot_tree *tree;
    /* A snapops_notify_fn, spelled out: snapshot_ops.h is built on this file. */
    void (*notify)(const char *method, cJSON *params, void *arg);
    void *notify_arg;
    struct journal *journal; /* reports until the broker acknowledges them */
    bool busy;               /* an operation that runs QEMU jobs is under way */
    /* Differences already reported and still standing (snapshot_report.c):
     * a restarted supervisor does not report them again. */
    cJSON *standing;
    /* A start's check findings, journalled and sent once the start has
     * been answered (snapreport_hold). */
    cJSON *held;
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

/* Fails when a writable disk cannot hold internal snapshots (raw). */
int snapcore_disks(const struct snapops *so, struct disks *out, struct cerr *e);
/* The target of a format node, or the node itself when unknown. */
const char *snapcore_target_of(const struct disks *ds, const char *node);
/* Targets of nodes as a new JSON array. */
cJSON *snapcore_targets(const struct disks *ds, const char *const *nodes, size_t n);
/* Sends a {"vm","snapshot"} event such as snapshot.created. */
void snapcore_event(struct snapops *so, const char *method, const char *snap);
/* The snapshot as the protocol shows it (new). */
cJSON *snapcore_snapshot_json(const struct snapops *so, const struct snapshot_def *d);
/* The members of a snapshot object, in the order printed; a listing may
 * ask for some of them only (snapshot.list's fields). */
enum snapcore_member {
    SNAPCORE_NAME,
    SNAPCORE_DESCRIPTION,
    SNAPCORE_STATE,
    SNAPCORE_PARENT,
    SNAPCORE_CHILDREN,
    SNAPCORE_DESCENDANTS,
    SNAPCORE_METADATA,
    SNAPCORE_CURRENT,
    SNAPCORE_CREATION_TIME,
    SNAPCORE_MEMORY,
    SNAPCORE_DISKS,
    SNAPCORE_MEMBERS
};
#define SNAPCORE_MEMBER(m) (1u << (m))
#define SNAPCORE_ALL_MEMBERS (SNAPCORE_MEMBER(SNAPCORE_MEMBERS) - 1)
/* The members' keys, by enum snapcore_member. */
extern const char *const snapcore_member_names[SNAPCORE_MEMBERS];

/* The same, printed a snapshot after another by a listing: one entry's
 * tree, pointed at each listed snapshot in turn, so that a page allocates
 * nearly nothing per snapshot.  snapcore_entry_new makes it with the
 * members in the mask members (SNAPCORE_MEMBER bits; name always);
 * snapcore_entry_set points it at d, one of the tree's own, from its
 * children (name order) and descendant count, which the listing works out
 * for the whole tree at once.  The returned tree borrows d's and kids'
 * strings until the next set or the free, and the snapshot tree must not
 * change meanwhile. */
struct snapcore_entry;
struct snapcore_entry *snapcore_entry_new(unsigned members);
const cJSON *snapcore_entry_set(struct snapcore_entry *en, const struct snapops *so,
                                const struct snapshot_def *d,
                                const struct snapshot_def *const *kids, size_t nkids,
                                size_t descendants);
void snapcore_entry_free(struct snapcore_entry *en);
/* The snapshot named by params["snapshot"], validated and looked up. */
const struct snapshot_def *snapcore_param_snapshot(struct snapops *so, const cJSON *params,
                                                   const char **name, struct cerr *e);
/* -1 with e unless the VM runs and no other snapshot operation does. */
int snapcore_require_ready(struct snapops *so, struct cerr *e);
/* A snapshot_qmp_jobs_start progress callback for an operation record whose first
 * member is the struct snapops pointer: job.progress events. */
void snapcore_job_progress(const char *job_id, const char *status, void *arg);
/* How long a job that writes or reads the guest's RAM may take. */
int snapcore_ram_timeout_ms(const struct snapops *so);

#endif
