/* Inconsistency reports of one VM's snapshots: made, journalled before
 * anyone is told, sent to subscribers; and which differences between
 * metadata and disks were reported already and still stand
 * (STATE/vms/NAME/standing.json), so that each is reported once. */
#ifndef CORRAL_SNAPSHOT_REPORT_H
#define CORRAL_SNAPSHOT_REPORT_H

#include <cjson/cJSON.h>

#include "supervisor/snapshot_core.h"

/* A report object as snapreport_send makes it, without journalling or
 * sending it (disks consumed; new). */
cJSON *snapreport_object(const struct snapops *so, const char *snap, const char *kind,
                         const char *job, cJSON *disks, const char *detail);
/* A typed inconsistency report, journalled, then sent to subscribers;
 * job (the QEMU job it is about) may be NULL; disks is consumed.  Returns
 * the report with its seq (caller owns it). */
cJSON *snapreport_send(struct snapops *so, const char *snap, const char *kind, const char *job,
                       cJSON *disks, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Journals, among findings (unjournalled report objects, borrowed), those
 * not standing in group ("load" or "check") yet; the group then holds
 * exactly findings' fingerprints. */
void snapreport_findings(struct snapops *so, const char *group, const cJSON *findings);

/* snapreport_findings(so, "check", findings) put off until
 * snapreport_release: a start is answered before the journal's syncs.
 * Nobody hears of them before they are journalled, and a supervisor that
 * dies first leaves them standing unreported, so the next check finds and
 * reports them again.  Takes findings. */
void snapreport_hold(struct snapops *so, cJSON *findings);
/* Journals and sends what snapreport_hold put off, if anything. */
void snapreport_release(struct snapops *so);

/* Journals a difference between metadata and disks that an operation met
 * (disks consumed) unless it stands reported already, and remembers it as
 * reported.  Returns the report for the operation's answer (caller owns):
 * when it was not new, unjournalled and marked reported_before. */
cJSON *snapreport_difference(struct snapops *so, const char *snap, const char *kind, cJSON *disks,
                             const char *detail);

/* Findings (borrowed) about the snapshots named in snaps (borrowed) count
 * as reported in the "check" group: a report made otherwise explained
 * them. */
void snapreport_explained(struct snapops *so, const cJSON *findings, const cJSON *snaps);

/* A difference (disks borrowed) counts as reported in the "check" group:
 * another report already said what caused it. */
void snapreport_known(struct snapops *so, const char *snap, const char *kind, const cJSON *disks);

/* A snapshot's metadata is gone: what was reported about it no longer
 * stands, and a new snapshot of that name gets reports of its own. */
void snapreport_forget(struct snapops *so, const char *snap);

#endif
