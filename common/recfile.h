/* A record file: one small record kept in a file that stays in place and is
 * overwritten, so that making a new record durable costs one fdatasync of
 * the file and no rename or directory sync (common/fileutil.h's atomic
 * writes cost a file sync, a rename and a directory sync).
 *
 * The file holds a fixed-width header line naming the record's length and
 * checksum, then the record; bytes past the record are leftovers of a
 * longer earlier one.  A record torn by a machine crash during its write
 * fails the checksum and reads as none: the writer acts on a record only
 * after the write returned, so a torn one was never acted on.  The checksum
 * detects accidents, not forgeries: only the file's owner writes it.
 *
 * By path, for directories nobody but the caller can write (as
 * fileutil.h's writers). */
#ifndef CORRAL_RECFILE_H
#define CORRAL_RECFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

enum recfile_read {
    RECFILE_NONE,  /* no file, an empty one, or a cleared record */
    RECFILE_TORN,  /* a header or record a crash cut short: no record */
    RECFILE_FOUND, /* recfile_write's record, or all of a file without the
                    * header (written whole by other means) */
};

/* Replaces path's record with data (len bytes, any content); creates the
 * file with mode 0600 when it is missing.  With sync, the record is
 * durable on return; without, every process sees it at once and a machine
 * crash may bring back the one before. */
int recfile_write(const char *path, const void *data, size_t len, bool sync, struct cerr *e);
/* Leaves path with no record (the file stays, for the next write), synced
 * as recfile_write; a missing file is not an error. */
int recfile_clear(const char *path, bool sync, struct cerr *e);
/* path's record, of at most max bytes, into *kind: with RECFILE_FOUND, *out
 * is a malloc'd NUL-terminated copy the caller frees (NULL otherwise).  -1
 * with e when the file cannot be read or the record is over max. */
int recfile_read(const char *path, size_t max, char **out, size_t *len, enum recfile_read *kind,
                 struct cerr *e);

#endif
