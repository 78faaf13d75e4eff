/* A cache of a VM's parsed snapshot metadata files, DIR/.index.json, so
 * that a start need not parse a thousand XML documents again.  Each entry
 * is keyed by its file's name, inode, size, modification and change times:
 * a file changed in any way since (ctime cannot be set back) is parsed
 * again.  The cache is written by the VM's uid like the files it stands
 * for, so it is as untrusted as they are and every entry is checked as a
 * parse would check it; one that does not pass is ignored. */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_INDEX_H
#define CORRAL_SUPERVISOR_SNAPSHOT_INDEX_H

#include <stddef.h>
#include <sys/stat.h>

#include "common/error.h"
#include "supervisor/snapshot_meta.h"

#define SNAPSHOT_INDEX_FILE ".index.json"

struct snapshot_index;

/* Reads DIR/.index.json; NULL when there is none or it does not parse
 * (then every file is parsed, as without a cache).  The caller frees it
 * with snapshot_index_free. */
struct snapshot_index *snapshot_index_read(const char *dir);
/* The definition the cache holds for file fname (NAME.xml) as lstat
 * describes it now, as snapshot_def_parse with SNAPSHOT_PARSE_REDEFINE and
 * SNAPSHOT_PARSE_NO_DOMAIN would give it (the caller frees it), or NULL
 * when the cache has no valid entry for that very file. */
struct snapshot_def *snapshot_index_lookup(const struct snapshot_index *ix, const char *fname,
                                           const struct stat *st);
void snapshot_index_free(struct snapshot_index *ix);

/* Replaces DIR/.index.json with entries for the n definitions, each
 * exactly what its file DIR/NAME.xml holds now (the caller's promise), with
 * that file's current stat.  A file that cannot be stat'ed is left out. */
int snapshot_index_write(const char *dir, const struct snapshot_def *const *defs, size_t n,
                         struct cerr *e);

/* Removes DIR/.index.json; a missing one is not an error. */
int snapshot_index_remove(const char *dir, struct cerr *e);

#endif
