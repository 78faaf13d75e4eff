/* Recovery of a VM's snapshots after a crash of its supervisor or of QEMU.
 *
 * Before a job reaches QEMU, the operation writes its intent to
 * STATE/vms/NAME/pending.json; it removes it once the metadata follows the
 * job's end.  Whenever QEMU's monitor (re)connects -- a start, a maintenance
 * QEMU, a re-adopted QEMU, a lost monitor that came back -- recovery finds
 * the job in query-jobs (waiting for one still running), settles a leftover
 * intent from what the disks now hold, and compares metadata with disks as
 * snapshot-check does.  Differences are reported once: those already
 * reported and still standing are kept in STATE/vms/NAME/standing.json. */
#ifndef CORRAL_SNAPSHOT_RECOVER_H
#define CORRAL_SNAPSHOT_RECOVER_H

#include <cjson/cJSON.h>

#include "common/error.h"

struct snapops;

/* Records the intent (consumed) durably; -1 with e when it cannot be
 * written, and then the job must not start. */
int snapops_intent_begin(struct snapops *so, cJSON *intent, struct cerr *e);
/* The operation ended and its metadata is on disk: the intent goes. */
void snapops_intent_end(struct snapops *so);
/* The intent stays for recovery, and an "interrupted" report saying so
 * has been made: recovery does not repeat it unless it learns more. */
void snapops_intent_reported(struct snapops *so);

/* Removes the temporary files a supervisor killed while writing its own
 * files in state_dir left behind. */
void snapops_remove_leftovers(const char *state_dir);

/* Journals, among findings (unjournalled report objects, borrowed), those
 * not standing in group ("load" or "check") yet; the group then holds
 * exactly findings' fingerprints. */
void snapops_report_new(struct snapops *so, const char *group, const cJSON *findings);

/* Journals a difference between metadata and disks that an operation met
 * (disks consumed) unless it stands reported already, and remembers it as
 * reported.  Returns the report for the operation's answer (caller owns):
 * when it was not new, unjournalled and marked reported_before. */
cJSON *snapops_report_difference(struct snapops *so, const char *snap, const char *kind,
                                 cJSON *disks, const char *detail);

/* A snapshot's metadata is gone: what was reported about it no longer
 * stands, and a new snapshot of that name gets reports of its own. */
void snapops_standing_forget(struct snapops *so, const char *snap);

/* Runs recovery; cb runs exactly once (e set when QEMU could not be asked).
 * context says why, for the reports: "re-adopting QEMU" and the like. */
typedef void (*snapops_recovered_cb)(const struct cerr *e, void *arg);
void snapops_recover(struct snapops *so, const char *context, snapops_recovered_cb cb, void *arg);

#endif
