/* One snapshot's metadata: a libvirt-compatible <domainsnapshot> document,
 * stored as DIR/NAME.xml the way libvirt stores
 * /var/lib/libvirt/qemu/snapshot/VM/NAME.xml, so that existing libvirt
 * snapshot directories can be imported as they are. */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_META_H
#define CORRAL_SUPERVISOR_SNAPSHOT_META_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

struct domain_def;

/* The VM state recorded in <state>, with libvirt's spelling. */
enum snapshot_state {
    SNAPSHOT_STATE_NONE, /* no <state>: only without SNAPSHOT_PARSE_REDEFINE */
    SNAPSHOT_STATE_RUNNING,
    SNAPSHOT_STATE_BLOCKED,
    SNAPSHOT_STATE_PAUSED,
    SNAPSHOT_STATE_SHUTDOWN,
    SNAPSHOT_STATE_SHUTOFF,
    SNAPSHOT_STATE_CRASHED,
    SNAPSHOT_STATE_DISK_SNAPSHOT,
};

struct snapshot_disk {
    char *name;    /* disk target ("vda"), valid per name_target_valid */
    bool internal; /* snapshot='internal'; false for snapshot='no' */
};

struct snapshot_def {
    char *name;        /* valid per name_snapshot_valid */
    char *description; /* NULL when absent */
    enum snapshot_state state;
    char *parent;            /* parent snapshot's name; NULL for a root */
    long long creation_time; /* seconds since the epoch; -1 when absent */
    bool memory_internal;    /* <memory snapshot='internal'/> rather than 'no' */
    size_t ndisks;
    struct snapshot_disk *disks;
    char *domain_xml; /* the embedded <domain> element, opaque; NULL when absent */
    /* A new snapshot's definition (borrowed), embedded in place of
     * domain_xml when set: built into the XML, not parsed from text. */
    const struct domain_def *domain;
    bool current; /* libvirt's <active>1</active> */
};

/* Parse as libvirt's --redefine and its own reload do: <state> and
 * <creationTime> are then required. */
#define SNAPSHOT_PARSE_REDEFINE (1u << 0)
/* Leave the embedded <domain> out (domain_xml stays NULL): what a tree
 * holding thousands of snapshots keeps in memory, the element staying on
 * disk until snapshot_meta_domain reads it back. */
#define SNAPSHOT_PARSE_NO_DOMAIN (1u << 1)

/* Longest snapshot name whose file can be written: NAME.xml.tmp.XXXXXX (the
 * temporary name of an atomic write) must fit in NAME_MAX (255) bytes. */
#define SNAPSHOT_META_NAME_MAX 240

/* Parses untrusted snapshot XML (through xml_parse_untrusted, so at most
 * XML_UNTRUSTED_MAX bytes and no DOCTYPE).  Unknown elements are ignored;
 * external memory or disk snapshots are refused with CE_UNSUPPORTED.
 * Returns a definition the caller frees with snapshot_def_free, or NULL with
 * e set. */
struct snapshot_def *snapshot_def_parse(const char *xml, size_t len, unsigned int flags,
                                        struct cerr *e);
/* Formats def; with_active adds <active> (the on-disk form), without it the
 * output is the public snapshot-dumpxml form.  Fails (NULL, e set) when a
 * field could not be read back: an invalid name or disk target, control
 * characters in the description, a domain_xml that is not well formed.
 * Returns a malloc'd NUL-terminated string the caller frees. */
char *snapshot_def_format(const struct snapshot_def *def, bool with_active, struct cerr *e);
/* 0 when def could be stored and read back (valid name, parent and disk
 * targets, a description XML can carry), else -1 with e set. */
int snapshot_def_check_storable(const struct snapshot_def *def, struct cerr *e);
/* Frees def and everything it holds; NULL is allowed. */
void snapshot_def_free(struct snapshot_def *def);
/* libvirt's name of a state ("running", "disk-snapshot"); static storage. */
const char *snapshot_state_name(enum snapshot_state state);

/* Returns malloc'd "DIR/NAME.xml"; name must already be validated. */
char *snapshot_meta_path(const char *dir, const char *name);
/* Writes the on-disk form of def (with <active>) to DIR/NAME.xml, mode 0600,
 * with file_write_atomic: a crash leaves the old or the new file. */
int snapshot_meta_write(const char *dir, const struct snapshot_def *def, struct cerr *e);
/* snapshot_meta_write in the two halves of file_stage and file_commit:
 * the costly first (*staged, malloc'd) may run while QEMU works, and only
 * the second makes DIR/NAME.xml; commit takes staged, and file_unstage
 * drops it instead. */
int snapshot_meta_stage(const char *dir, const struct snapshot_def *def, char **staged,
                        struct cerr *e);
int snapshot_meta_commit(const char *dir, const char *name, char *staged, struct cerr *e);
/* Reads the metadata file at path, at most XML_UNTRUSTED_MAX bytes, without
 * following a link or blocking on a FIFO swapped in for it.  Returns a
 * malloc'd NUL-terminated buffer the caller frees, its length in *len, or
 * NULL with e set (and errno kept from open when that is what failed). */
char *snapshot_meta_read_file(const char *path, size_t *len, struct cerr *e);
/* The <domain> element stored in DIR/NAME.xml, as snapshot_def_parse gives
 * it: *domain_xml is malloc'd (the caller frees it), or NULL when the file
 * has none or no longer exists.  -1 with e set when the file cannot be read
 * or parsed, or holds another snapshot. */
int snapshot_meta_domain(const char *dir, const char *name, char **domain_xml, struct cerr *e);
/* Removes DIR/NAME.xml durably; a missing file is not an error. */
int snapshot_meta_remove(const char *dir, const char *name, struct cerr *e);

/* From snapshot_meta_syncs_defer(what) to snapshot_meta_syncs_flush, the
 * commits (and so the writes) what names make their change without the
 * directory's fsync, and the removals it names are only noted; the flush
 * unlinks those files and makes the one fsync all of them owe.  For a
 * caller whose change is durable by other means until then (an intent on
 * disk that recovery settles from) and that flushes before anything reads
 * the directory again, so that it can answer first; what a failed flush
 * leaves is owed to the next one. */
#define SNAPSHOT_META_DEFER_COMMITS 1u
#define SNAPSHOT_META_DEFER_REMOVES 2u
void snapshot_meta_syncs_defer(unsigned int what);
int snapshot_meta_syncs_flush(const char *dir, struct cerr *e);

#endif
