/* Recovery of a VM's snapshots after a crash of its supervisor or of QEMU.
 *
 * Before a job reaches QEMU, the operation writes its intent to
 * STATE/vms/NAME/pending.json; it removes it once the metadata follows the
 * job's end.  Whenever QEMU's monitor (re)connects -- a start, a maintenance
 * QEMU, a re-adopted QEMU, a lost monitor that came back -- recovery finds
 * the job in query-jobs (waiting for one still running), settles a leftover
 * intent from what the disks now hold, and compares metadata with disks as
 * snapshot-check does.  Differences are reported once: those already
 * reported and still standing are kept in STATE/vms/NAME/standing.json.
 * It uses the modules the operations use (core, report, intent, check)
 * and none of them calls it. */
#ifndef CORRAL_SNAPSHOT_RECOVER_H
#define CORRAL_SNAPSHOT_RECOVER_H

#include <cjson/cJSON.h>

#include "common/error.h"

struct snapops;

/* Runs recovery; cb runs exactly once (e set when QEMU could not be asked).
 * context says why, for the reports: "re-adopting QEMU" and the like. */
typedef void (*snaprecover_done_cb)(const struct cerr *e, void *arg);
void snaprecover_run(struct snapops *so, const char *context, snaprecover_done_cb cb, void *arg);

#endif
