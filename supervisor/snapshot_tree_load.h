/* Building a VM's snapshot tree from its metadata directory, tolerating
 * what libvirt tolerates and saying what it tolerated. */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_TREE_LOAD_H
#define CORRAL_SUPERVISOR_SNAPSHOT_TREE_LOAD_H

#include <stddef.h>

#include "common/error.h"
#include "supervisor/snapshot_tree.h"

/* What load tolerated, as libvirt does, instead of failing. */
enum snapshot_problem_kind {
    SNAPSHOT_PROBLEM_UNREADABLE,        /* file skipped: not readable or not valid */
    SNAPSHOT_PROBLEM_NAME_MISMATCH,     /* NAME.xml holds another name: skipped */
    SNAPSHOT_PROBLEM_MISSING_PARENT,    /* attached as a root; current cleared */
    SNAPSHOT_PROBLEM_DUPLICATE_CURRENT, /* another file claims current too and wins */
    SNAPSHOT_PROBLEM_CYCLE,             /* made a root to break a parent cycle */
};

struct snapshot_problem {
    enum snapshot_problem_kind kind;
    char *name;   /* the file name for unreadable and name-mismatch, else the snapshot */
    char *detail; /* one human-readable line */
};

/* "unreadable", "name-mismatch", "missing-parent", "duplicate-current",
 * "cycle"; static storage. */
const char *snapshot_problem_kind_name(enum snapshot_problem_kind kind);
/* Frees an array returned by snapshot_tree_load; NULL is allowed. */
void snapshot_problems_free(struct snapshot_problem *problems, size_t n);

/* Reads every regular DIR/NAME.xml (names starting with '.', other suffixes
 * such as the NAME.xml.tmp.XXXXXX leftovers of a crashed atomic write, and
 * anything but regular files are ignored; a missing DIR is an empty tree).
 * Tolerated problems are returned in *problems (a malloc'd array the caller
 * frees with snapshot_problems_free; pass NULL to drop them).  Returns a tree
 * the caller frees with snapshot_tree_free, or NULL with e set when DIR
 * itself cannot be read.  Nothing is written.  A file DIR/.index.json
 * stands for, unchanged since it was written, is not parsed again. */
struct snapshot_tree *snapshot_tree_load(const char *dir, struct snapshot_problem **problems,
                                         size_t *nproblems, struct cerr *e);
/* Writes DIR/.index.json (snapshot_index.h) for the snapshots whose
 * definition is what their file says, or removes it when there are none,
 * so that the next load parses only the files changed since: what a
 * supervisor does as it exits. */
int snapshot_tree_save_index(const struct snapshot_tree *tree, const char *dir, struct cerr *e);

#endif
