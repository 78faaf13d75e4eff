/* The report ledger: what root keeps of the inconsistency reports a VM's
 * supervisor sends (STATE/vms/NAME/inconsistencies.jsonl).  A supervisor
 * shares a uid with QEMU, so its reports are untrusted input: checked field
 * by field, size-capped, rate-limited per VM, and appended only to a
 * regular file that stays under a size cap. */
#ifndef CORRAL_LEDGER_H
#define CORRAL_LEDGER_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "common/error.h"

/* Largest report, serialized. */
#define LEDGER_REPORT_MAX (16 * 1024)
/* Largest ledger file; a report that would pass it is not appended. */
#define LEDGER_FILE_MAX (64 * 1024 * 1024)
/* Reports one VM may have kept at once, and per second after that. */
#define LEDGER_BURST 1000
#define LEDGER_RATE 100
/* How long refused reports wait before the broker asks for them again. */
#define LEDGER_RETRY_MS 10000

/* A token bucket; zero-initialized it is full. */
struct ledger_bucket {
    double tokens;
    double last; /* monotonic seconds of the last refill; 0: never */
};

/* Whether report, from VM vm_name's supervisor, has the shape supervisors
 * send (PROTOCOL.md, "The report journal"); -1 with e saying what is wrong
 * otherwise.  Sets *seq to its sequence number, or -1 when the supervisor
 * could not journal it (unnumbered). */
int ledger_check_report(const cJSON *report, const char *vm_name, long long *seq, struct cerr *e);

/* Takes one report's worth from bk at time now (monotonic seconds); false
 * when the VM is over its rate. */
bool ledger_take(struct ledger_bucket *bk, double now);

/* Monotonic seconds, for ledger_take; negative (logged) when the clock
 * cannot be read, which ledger_take refuses. */
double ledger_now(void);

/* Appends report as one line to the ledger at path and flushes it to disk.
 * The file is opened without following a symlink, without blocking, and
 * must be a regular file with one link; -1 with e set (CE_TOO_LARGE when
 * it would pass LEDGER_FILE_MAX) and nothing written otherwise. */
int ledger_append(const char *path, const cJSON *report, struct cerr *e);
/* ledger_append for every report of the array reports, with one write and
 * one flush for the lot: all are kept, or none. */
int ledger_append_many(const char *path, const cJSON *reports, struct cerr *e);

#endif
