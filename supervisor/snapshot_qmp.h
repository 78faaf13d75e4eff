/* What QEMU's internal-snapshot commands mean, over the QMP transport of
 * qmp.c: the internal snapshots each top-level format node holds
 * (query-named-block-nodes), and one snapshot-save/-load/-delete job run
 * through QEMU's job protocol (a job id corral makes, JOB_STATUS_CHANGE up to
 * "concluded", the error from query-jobs, job-dismiss).  Mechanism only:
 * which devices to name, what to check before and after a job, and the
 * metadata belong to the callers (see DESIGN.md, "Deleting an internal
 * snapshot"). */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_QMP_H
#define CORRAL_SUPERVISOR_SNAPSHOT_QMP_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "supervisor/qmp.h"

/* ---- Listing ---------------------------------------------------------- */

/* One internal snapshot as QEMU reports it on one node. */
struct snapshot_qmp_entry {
    char *name;             /* the tag */
    char *id;               /* QEMU's id: reused after a delete, never an identity */
    uint64_t vm_state_size; /* bytes; 0 on every node but the vmstate one */
    int64_t date_sec, date_nsec;
    int64_t vm_clock_sec, vm_clock_nsec;
};

/* One of the nodes asked about. */
struct snapshot_qmp_node {
    char *node; /* the format node name, as asked */
    bool found; /* false: QEMU has no node of that name (snaps is then empty) */
    size_t nsnaps;
    struct snapshot_qmp_entry *snaps; /* QEMU's order; a name may appear twice */
};

/* QEMU's answer for the nodes asked about, in the order asked. */
struct snapshot_qmp_nodes {
    size_t n;
    struct snapshot_qmp_node *nodes;
};

/* l is the callee's to free with snapshot_qmp_nodes_free; NULL when e is set. */
typedef void (*snapshot_qmp_list_cb)(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg);

/* Lists the internal snapshots of the given top-level format nodes (copied)
 * with query-named-block-nodes {"flat": true}; every other node QEMU has
 * (protocol "-file" nodes, backing nodes) is ignored.  cb runs exactly once:
 * like qmp_command's, before this returns when the monitor is not
 * connected.  timeout_ms (0: none) must allow for a save or load that blocks
 * the monitor. */
void snapshot_qmp_list(struct qmp *q, const char *const *nodes, size_t nnodes, int timeout_ms,
                       snapshot_qmp_list_cb cb, void *arg);
/* Reads query-named-block-nodes' "return" member (borrowed) for the given
 * nodes.  Returns a list the caller frees with snapshot_qmp_nodes_free, or
 * NULL with e set (CE_QEMU_FAILED) when the reply is malformed: not an array,
 * an entry without a string node-name, or a wrong or missing member in an
 * asked-for node. */
struct snapshot_qmp_nodes *snapshot_qmp_parse_nodes(const cJSON *ret, const char *const *nodes,
                                                    size_t nnodes, struct cerr *e);
void snapshot_qmp_nodes_free(struct snapshot_qmp_nodes *l);
/* The entry for node, or NULL when node was not asked about. */
const struct snapshot_qmp_node *snapshot_qmp_find_node(const struct snapshot_qmp_nodes *l,
                                                       const char *node);
/* How many snapshots named tag node holds (0 when node is unknown). */
size_t snapshot_qmp_count(const struct snapshot_qmp_nodes *l, const char *node, const char *tag);
/* Fills out (room for l->n names, borrowed from l, in l's order) with the
 * nodes holding at least one snapshot named tag; returns how many. */
size_t snapshot_qmp_holders(const struct snapshot_qmp_nodes *l, const char *tag, const char **out);

/* ---- Jobs ------------------------------------------------------------- */

/* Every job id corral makes starts with this; reconcile looks for it. */
#define SNAPJOB_ID_PREFIX "corral-"

enum snapjob_kind { SNAPJOB_SAVE, SNAPJOB_LOAD, SNAPJOB_DELETE };

#define SNAPJOB_ID_MAX 64
/* Writes a job id no job of this supervisor has had, nor (with the pid in
 * it) one of an earlier supervisor: made before the job so that the intent
 * recorded first can name the very job recovery looks for. */
void snapshot_qmp_job_id(enum snapjob_kind kind, char id[SNAPJOB_ID_MAX]);

enum snapjob_outcome {
    SNAPJOB_OK,      /* concluded without an error */
    SNAPJOB_FAILED,  /* concluded with QEMU's error; a delete may be done on some devices */
    SNAPJOB_REFUSED, /* QEMU refused the command or the monitor was not connected: no job */
    SNAPJOB_UNKNOWN, /* monitor lost or timeout: the job may have run, in part or in full */
};

/* A job's end; every pointer is borrowed for the duration of the callback. */
struct snapjob_result {
    enum snapjob_outcome outcome;
    bool ok;                /* outcome == SNAPJOB_OK */
    const char *qemu_error; /* QEMU's own text (job error or refusal); NULL when none */
    struct cerr err;        /* when !ok: what failed, naming the job, tag and devices */
    const char *job_id;
    const char *const *statuses; /* JOB_STATUS_CHANGE statuses in order; "null" = dismissed */
    size_t nstatuses;
};

typedef void (*snapjob_done_cb)(const struct snapjob_result *r, void *arg);
/* A status change of the job (created, running, waiting, pending, aborting,
 * concluded, null): QEMU reports no other progress.  Must not free the
 * snapjobs. */
typedef void (*snapjob_progress_cb)(const char *job_id, const char *status, void *arg);

/* The snapshot jobs running on one QMP connection. */
struct snapjobs;

/* base and q are borrowed and must outlive the snapjobs. */
struct snapjobs *snapshot_qmp_jobs_new(struct event_base *base, struct qmp *q);
/* Drops every job in flight without calling its callbacks; a job whose
 * command QEMU has not answered yet is freed when qmp answers or fails it. */
void snapshot_qmp_jobs_free(struct snapjobs *sj);
/* The owner of qmp's event callback passes every event here (data
 * borrowed, may be NULL). */
void snapshot_qmp_jobs_handle_event(struct snapjobs *sj, const char *event, const cJSON *data);
/* The owner of qmp's closed callback calls this: a job waiting for its
 * "concluded" event then ends as SNAPJOB_UNKNOWN (qmp has already failed
 * the commands in flight). */
void snapshot_qmp_jobs_handle_closed(struct snapjobs *sj);
/* A job is in flight, from snapshot_qmp_job until its done callback runs
 * (inside it, that job no longer counts, so the callback may start the
 * next): STOP and RESUME are then QEMU's doing, not the user's. */
bool snapshot_qmp_jobs_busy(const struct snapjobs *sj);

/* Starts snapshot-save, snapshot-load or snapshot-delete of tag on devices
 * (format node names) with a fresh job id, vmstate_node naming the node for
 * the VM state (save and load; NULL for delete).  Strings are copied.
 * timeout_ms (0: none) bounds the wait for "concluded"; QEMU's monitor is
 * blocked while RAM is written or read, so size it from the guest's RAM.
 * Returns 0, and then cb runs exactly once, never before this returns; or -1
 * with e set (CE_INVALID_PARAMS: a string that is not UTF-8, or vmstate_node
 * given for a delete or missing otherwise; CE_SYSTEM: no timer) and nothing
 * else happens.  After SNAPJOB_UNKNOWN, snapshot_qmp_reconcile_jobs finds
 * the job once QEMU answers again. */
int snapshot_qmp_job(struct snapjobs *sj, enum snapjob_kind kind, const char *job_id,
                     const char *tag, const char *vmstate_node, const char *const *devices,
                     size_t ndevices, int timeout_ms, snapjob_progress_cb progress,
                     snapjob_done_cb cb, void *arg, struct cerr *e);

/* ---- Reconciling after a (re)connect ---------------------------------- */

/* A job in QEMU whose id carries SNAPJOB_ID_PREFIX. */
struct snapjob_leftover {
    const char *id, *type, *status;
    const char *error; /* QEMU's job error; NULL when none */
    bool dismissed;    /* it was concluded and job-dismiss succeeded */
};

/* jobs (borrowed for the call) has n entries in QEMU's order; on e, none. */
typedef void (*snapjob_reconcile_cb)(const struct snapjob_leftover *jobs, size_t n,
                                     const struct cerr *e, void *arg);

/* Runs query-jobs, reports every corral job and job-dismisses the concluded
 * ones (a dismiss failure is logged and leaves dismissed false).  Meant for
 * after (re)connecting, before any snapjobs job starts: it would dismiss a
 * running job's result under it.  cb runs exactly once, as with
 * snapshot_qmp_list. */
void snapshot_qmp_reconcile_jobs(struct qmp *q, int timeout_ms, snapjob_reconcile_cb cb, void *arg);

#endif
