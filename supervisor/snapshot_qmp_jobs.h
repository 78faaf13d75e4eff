/* One snapshot-save/-load/-delete job run through QEMU's job protocol (a
 * job id corral makes, JOB_STATUS_CHANGE up to "concluded", the error from
 * query-jobs when the statuses say it failed, job-dismiss), and the jobs an
 * earlier supervisor left in QEMU.
 * Mechanism only, as snapshot_qmp.h. */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_QMP_JOBS_H
#define CORRAL_SUPERVISOR_SNAPSHOT_QMP_JOBS_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "supervisor/qmp.h"
#include "supervisor/snapshot_tags.h"

/* ---- Jobs ------------------------------------------------------------- */

/* Every job id corral makes starts with this; reconcile looks for it. */
#define SNAPJOB_ID_PREFIX "corral-"

enum snapjob_kind { SNAPJOB_SAVE, SNAPJOB_LOAD, SNAPJOB_DELETE };

#define SNAPJOB_ID_MAX 64
/* Writes a job id no job of this supervisor has had, nor (with the pid in
 * it) one of an earlier supervisor: made before the job so that the intent
 * recorded first can name the very job recovery looks for. */
void snapshot_qmp_jobs_make_id(enum snapjob_kind kind, char id[SNAPJOB_ID_MAX]);

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
/* A job is in flight, from snapshot_qmp_jobs_start until its done callback runs
 * (inside it, that job no longer counts, so the callback may start the
 * next): STOP and RESUME are then QEMU's doing, not the user's.  A job
 * that concluded without error no longer counts either: QEMU has resumed
 * the guest and only job-dismiss is left, which a next job (and any other
 * command) simply queues behind. */
bool snapshot_qmp_jobs_busy(const struct snapjobs *sj);
/* What the connection's jobs and listings tell of the disks' tags
 * (snapshot_tags.h), kept up to date with this connection's jobs, events
 * and loss; NULL when sj is. */
struct snapshot_tags *snapshot_qmp_jobs_tags(const struct snapjobs *sj);

/* Starts snapshot-save, snapshot-load or snapshot-delete of tag on devices
 * (format node names) with a fresh job id, vmstate_node naming the node for
 * the VM state (save and load; NULL for delete).  Strings are copied.
 * timeout_ms (0: none) bounds the wait for "concluded"; QEMU's monitor is
 * blocked while RAM is written or read, so size it from the guest's RAM.
 * Returns 0, and then cb runs exactly once, never before this returns; or -1
 * with e set (CE_INVALID_PARAMS: a string that is not UTF-8, or vmstate_node
 * given for a delete or missing otherwise; CE_SYSTEM: no timer) and nothing
 * else happens.  After SNAPJOB_UNKNOWN, snapshot_qmp_jobs_reconcile finds
 * the job once QEMU answers again. */
int snapshot_qmp_jobs_start(struct snapjobs *sj, enum snapjob_kind kind, const char *job_id,
                            const char *tag, const char *vmstate_node, const char *const *devices,
                            size_t ndevices, int timeout_ms, snapjob_progress_cb progress,
                            snapjob_done_cb cb, void *arg, struct cerr *e);

/* Makes the running job job_id (of snapshot_qmp_jobs_start) also call
 * early, with a successful result, as soon as QEMU has concluded it
 * without error and job-dismiss is sent: the outcome is known then, so
 * the caller may record it and answer without waiting for the dismissal;
 * the done callback follows as usual, with the same success.  early runs
 * inside qmp's callbacks: it must not start a job nor free its arg.  A job
 * that has already ended (refused at once) only calls its done callback. */
void snapshot_qmp_jobs_set_early(struct snapjobs *sj, const char *job_id, snapjob_done_cb early);

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
void snapshot_qmp_jobs_reconcile(struct qmp *q, int timeout_ms, snapjob_reconcile_cb cb, void *arg);

#endif
