/* A durable journal of one VM's inconsistency reports (snapshot metadata vs.
 * disks) waiting for the broker to acknowledge them.
 *
 * Layout of the directory (e.g. STATE/vms/NAME/journal/), mode 0700:
 *   00000000000000000042.json   one pending report, a JSON object whose
 *                               member "seq" equals the file name's number
 *                               (20 digits so that names sort like numbers)
 *   00000000000000000043.batch.json
 *                               reports appended together, one JSON object
 *                               a line, their "seq" growing from the file
 *                               name's number on; removed with its last
 *                               pending report, rewritten without the
 *                               acknowledged ones by journal_free
 *   .seq                        the highest sequence number ever assigned,
 *                               so numbers never go backwards even once every
 *                               entry has been acknowledged and deleted
 *   NAME.corrupt                an entry that did not load, set aside for a
 *                               human and never retried
 *   *.tmp.XXXXXX                leftovers of a crashed file_write_atomic,
 *                               removed by journal_open
 *
 * Sequence numbers are unique and increasing but not dense: a crash or a
 * failed write may leave a gap.  Every file is written with
 * file_write_atomic (batch files of up to 1,000 reports, several with
 * file_write_many); an acknowledged entry is unlinked without a sync.
 *
 * Not thread-safe, and one process at a time per directory (the VM's
 * supervisor). */
#ifndef CORRAL_JOURNAL_H
#define CORRAL_JOURNAL_H

#include <cjson/cJSON.h>

#include "common/error.h"

/* Most pending entries; journal_append fails (CE_SYSTEM) beyond it. */
#define JOURNAL_MAX_ENTRIES 10000
/* Largest entry file, "seq" included; larger reports fail with
 * CE_TOO_LARGE. */
#define JOURNAL_MAX_ENTRY_BYTES (64 * 1024)
/* Largest sequence number: cJSON numbers are doubles, exact up to 2^53,
 * but cJSON prints a number with 15 significant digits whenever that reads
 * back within a relative DBL_EPSILON, so beyond 15 digits an entry's "seq"
 * could be written as another number (9007199254740992 as
 * 9.00719925474099e+15) and the entry set aside as corrupt on reopening. */
#define JOURNAL_SEQ_MAX 999999999999999LL

struct journal;

/* Creates dir (0700) if needed and loads its pending entries.  Temporary
 * leftovers are removed; entries that do not load are renamed NAME.corrupt
 * with a warning and skipped.  NULL with e set when the directory or .seq
 * cannot be read (a .seq that does not parse is an error too: guessing could
 * reuse a number the broker has already seen). */
struct journal *journal_open(const char *dir, struct cerr *e);

/* Durably stores a copy of report (a JSON object, borrowed) with member "seq"
 * set to the next sequence number, and returns that number.  -1 with e set
 * otherwise: nothing was stored and the number is not consumed. */
long long journal_append(struct journal *j, const cJSON *report, struct cerr *e);

/* The pending entries in increasing seq order, as a JSON array owned by the
 * journal: valid until the next journal_append, journal_ack or
 * journal_free. */
const cJSON *journal_pending(const struct journal *j);

/* journal_append for every report of the JSON array reports, in order, with
 * one sync for the lot (and one file per 1,000 reports): returns the first report's number (the
 * others follow it), or -1 with e set, nothing stored and no number consumed. */
long long journal_append_many(struct journal *j, const cJSON *reports, struct cerr *e);

/* Number of pending entries. */
int journal_count(const struct journal *j);

/* Removes entry seq, not durably: after a crash it may be pending again and
 * is resent, which the broker acknowledges without keeping it twice.  An unknown or already
 * acknowledged seq is not an error (the broker may ack twice across a restart): 0, logged at debug
 * level.  -1 with e set when the file cannot be removed; the entry then stays
 * pending. */
int journal_ack(struct journal *j, long long seq, struct cerr *e);

/* The directory, as given to journal_open. */
const char *journal_dir(const struct journal *j);

/* Rewrites the batch files some of whose reports were acknowledged (see
 * the layout above), then frees j. */
void journal_free(struct journal *j);

#endif
