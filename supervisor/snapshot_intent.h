/* The intent of a snapshot job, STATE/vms/NAME/vm/pending.json (a record
 * file, common/recfile.h): durable before a job reaches QEMU, cleared once
 * the metadata follows the job's end; what recovery (snapshot_recover.c)
 * settles when a supervisor or QEMU died in between. */
#ifndef CORRAL_SNAPSHOT_INTENT_H
#define CORRAL_SNAPSHOT_INTENT_H

#include <cjson/cJSON.h>

#include "common/error.h"
#include "supervisor/snapshot_core.h"

/* The intent of a job on devices (format nodes): what recovery needs
 * (new). */
cJSON *snapintent_new(const char *op, const char *snap, const char *job_id, const struct disks *ds,
                      const char *const *nodes, size_t n);
/* Records the intent (consumed) durably; -1 with e when it cannot be
 * written, and then the job must not start. */
int snapintent_begin(struct snapops *so, cJSON *intent, struct cerr *e);
/* snapintent_begin in two halves, so that the formatting runs while QEMU
 * answers what decides whether the job starts: snapintent_stage formats
 * the intent (consumed) into *staged (malloc'd); snapintent_commit makes
 * it the intent, durably, and snapintent_unstage drops it instead.  Both
 * take staged. */
int snapintent_stage(struct snapops *so, cJSON *intent, char **staged, struct cerr *e);
int snapintent_commit(struct snapops *so, char *staged, struct cerr *e);
void snapintent_unstage(char *staged);
/* The operation ended and its metadata is on disk: the intent is cleared,
 * durably. */
void snapintent_end(struct snapops *so);
/* The same once the operation succeeded and its result is durable: the
 * clearing is not synced (nothing depends on it being gone after a machine
 * crash), so it costs no sync on the way to the reply. */
void snapintent_settled(struct snapops *so);
/* The intent stays for recovery, and an "interrupted" report saying so
 * has been made: recovery does not repeat it unless it learns more. */
void snapintent_reported(struct snapops *so);
/* A job whose end QEMU could not tell (op names it, disks consumed, kept
 * says what was left as it was): reported now, the intent kept. */
void snapintent_report_unknown(struct snapops *so, const char *snap, const char *op,
                               const struct snapjob_result *r, cJSON *disks, const char *kept);
/* The intent a dead operation left (new), or NULL when there is none or it
 * does not parse (logged). */
cJSON *snapintent_load(struct snapops *so);
/* The same from the intent file at path, for VM vm (in what is logged). */
cJSON *snapintent_read(const char *path, const char *vm);

#endif
