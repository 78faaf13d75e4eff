/* Which snapshot tags the VM's disks hold, as far as the supervisor knows
 * without asking QEMU: what the last query-named-block-nodes listing said,
 * plus what the supervisor's own concluded jobs changed since.  It lets a
 * snapshot create or delete skip its listing (about 1 ms of a 10 ms job).
 *
 * Why it can be known: while QEMU runs, the tags of its disks change only
 * through QEMU's monitor, which only the supervisor holds; QEMU holds write
 * locks on the images (qemu-img cannot change them), and it answers a
 * listing from its in-memory snapshot table anyway.
 *
 * The rules, each a reason to forget everything (snapshot_tags_forget),
 * and nothing is known again until the next listing is learnt:
 * - a supervisor start and a new QMP connection: one of these lives per
 *   snapjobs, made empty, and the connection's loss forgets it
 *   (snapshot_qmp_jobs_handle_closed);
 * - any vm.qmp passthrough (vm_ops.c), sent or not: root may run any
 *   command there, snapshot-save and human-monitor-command "savevm"
 *   included;
 * - a JOB_STATUS_CHANGE of a job that is not one of this supervisor's
 *   (snapshot_qmp_jobs.c): a job started through vm.qmp, or by an earlier
 *   supervisor, may change the tags long after its command was answered;
 * - a media change (media.c);
 * - a job of this supervisor that did not conclude without error (failed,
 *   refused, interrupted, outcome unknown; a revert's load included): what
 *   QEMU did on each device is then not known.
 * A job that concluded without error changes what is known exactly: a save
 * adds one copy of its tag on every device it was given, a delete removes
 * one copy from every device that held it (QEMU removes one a call and
 * skips a device without it), a load changes no tag.
 *
 * The listings learnt are those of a create, a delete, a start's check and
 * snapshot-check.  A listing is learnt only when it tells the truth of now: nothing was
 * forgotten and no job of this supervisor started or ended between its
 * command and its reply (snapshot_tags_epoch before sending, compared by
 * snapshot_tags_learn), and no such job is running.  Epochs are unique in
 * the process, so a token of another connection never matches.
 *
 * Only the tags are known, per node and with their repetitions, in QEMU's
 * order: enough for the holders and counts a create or delete asks of a
 * listing (snapshot_qmp_holders, snapshot_qmp_count), not for ids, sizes or
 * dates.  Mechanism only: which operation trusts it is the caller's. */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_TAGS_H
#define CORRAL_SUPERVISOR_SNAPSHOT_TAGS_H

#include <stddef.h>
#include <stdint.h>

#include "supervisor/snapshot_qmp.h"

enum snapshot_tags_change {
    SNAPSHOT_TAGS_SAVED,     /* a save concluded without error */
    SNAPSHOT_TAGS_DELETED,   /* a delete concluded without error */
    SNAPSHOT_TAGS_UNCHANGED, /* a load concluded without error */
    SNAPSHOT_TAGS_UNKNOWN,   /* any other end */
};

struct snapshot_tags;

/* Nothing known yet. */
struct snapshot_tags *snapshot_tags_new(void);
void snapshot_tags_free(struct snapshot_tags *t);
/* Something else may have changed the disks: nothing is known. */
void snapshot_tags_forget(struct snapshot_tags *t);
/* The token of a listing about to be sent, for snapshot_tags_learn. */
uint64_t snapshot_tags_epoch(const struct snapshot_tags *t);
/* Takes what l (borrowed; the nodes asked about, in their order) says as
 * known when nothing happened since epoch; else leaves things as they
 * are.  t may be NULL (no QEMU): nothing happens. */
void snapshot_tags_learn(struct snapshot_tags *t, uint64_t epoch,
                         const struct snapshot_qmp_nodes *l);
/* What a listing of nodes (in that order) would say now, as a new list
 * (snapshot_qmp_nodes_free) whose entries carry only their name (id "",
 * sizes and dates 0); NULL when it is not known: nothing learnt, something
 * forgotten, a job running, or other nodes (or another order) than the
 * listing learnt.  t may be NULL: not known. */
struct snapshot_qmp_nodes *snapshot_tags_known(const struct snapshot_tags *t,
                                               const char *const *nodes, size_t nnodes);
/* A job of this supervisor is sent to QEMU; each is ended exactly once
 * with snapshot_tags_job_ended, its tag and devices as it was started. */
void snapshot_tags_job_started(struct snapshot_tags *t);
void snapshot_tags_job_ended(struct snapshot_tags *t, enum snapshot_tags_change change,
                             const char *tag, const char *const *devices, size_t ndevices);

#endif
