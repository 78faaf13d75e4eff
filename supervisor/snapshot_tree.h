/* The snapshot tree of one VM: parent links and the current marker, rebuilt
 * from the VM's metadata directory (one snapshot_meta file per snapshot) and
 * kept in step with it.  Every mutation writes the files it changes, each
 * crash-safely, in an order chosen so that a crash between two writes leaves
 * a directory that snapshot_tree_load (snapshot_tree_load.h) reads as a
 * valid tree. */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_TREE_H
#define CORRAL_SUPERVISOR_SNAPSHOT_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "supervisor/snapshot_meta.h"

struct snapshot_tree;

void snapshot_tree_free(struct snapshot_tree *tree);

/* Queries.  Returned definitions belong to the tree and stay valid until the
 * next mutation; def->parent and def->current always match the tree, and
 * def->domain_xml is always NULL: the <domain> element stays in the file
 * (snapshot_tree_dumpxml reads it back). */
const struct snapshot_def *snapshot_tree_lookup(const struct snapshot_tree *tree, const char *name);
/* The parent of name; NULL for a root or an unknown name. */
const struct snapshot_def *snapshot_tree_parent(const struct snapshot_tree *tree, const char *name);
/* The current snapshot, or NULL when there is none. */
const struct snapshot_def *snapshot_tree_current(const struct snapshot_tree *tree);
size_t snapshot_tree_count(const struct snapshot_tree *tree);
/* A number that changes whenever a snapshot is added, removed, replaced or
 * re-parented, and that no other tree of the process ever had: what a
 * listing keys the links it keeps between its pages by. */
unsigned long long snapshot_tree_generation(const struct snapshot_tree *tree);
/* The i-th snapshot in name order (strcmp), i < count: iterates them all. */
const struct snapshot_def *snapshot_tree_nth(const struct snapshot_tree *tree, size_t i);

/* libvirt's snapshot-dumpxml of name: the tree's definition with the
 * <domain> its file holds, without <active>.  Returns a malloc'd string the
 * caller frees, or NULL with e set (CE_NO_SNAPSHOT for an unknown name). */
char *snapshot_tree_dumpxml(const struct snapshot_tree *tree, const char *dir, const char *name,
                            struct cerr *e);

/* Lists: the caller frees the returned array (not the definitions). */
/* Direct children of name, in name order; NULL with CE_NO_SNAPSHOT if unknown. */
const struct snapshot_def **snapshot_tree_children(const struct snapshot_tree *tree,
                                                   const char *name, size_t *n, struct cerr *e);
/* Every descendant of name, parents before children (pre-order, siblings in
 * name order); NULL with CE_NO_SNAPSHOT if unknown. */
const struct snapshot_def **snapshot_tree_descendants(const struct snapshot_tree *tree,
                                                      const char *name, size_t *n, struct cerr *e);
/* Snapshots without a parent, in name order. */
const struct snapshot_def **snapshot_tree_roots(const struct snapshot_tree *tree, size_t *n);
/* Snapshots without children, in name order. */
const struct snapshot_def **snapshot_tree_leaves(const struct snapshot_tree *tree, size_t *n);
/* Every snapshot, parents before children (virsh snapshot-list --topological). */
const struct snapshot_def **snapshot_tree_topological(const struct snapshot_tree *tree, size_t *n);

/* Mutations.  Each takes the metadata directory the tree was loaded from.
 * The ones taking a def take ownership of it, on failure too. */

/* Adds a new snapshot under def->parent (NULL: a root; else it must exist),
 * made current if make_current.  def must have a state and a creation time.
 * CE_SNAPSHOT_EXISTS if the name is taken. */
int snapshot_tree_add(struct snapshot_tree *tree, const char *dir, struct snapshot_def *def,
                      bool make_current, struct cerr *e);
/* libvirt's snapshot-create --redefine [--current]: the parent must exist,
 * not be the snapshot itself, nor one of its descendants (CE_OPERATION_INVALID,
 * nothing written).  An existing snapshot is replaced in place, keeping its
 * children, its <domain> when def has none, and its current marker. */
int snapshot_tree_redefine(struct snapshot_tree *tree, const char *dir, struct snapshot_def *def,
                           bool make_current, struct cerr *e);
/* Makes name current, or clears the marker when name is NULL. */
int snapshot_tree_set_current(struct snapshot_tree *tree, const char *dir, const char *name,
                              struct cerr *e);
/* Removes one snapshot's metadata as libvirt does after a single delete: its
 * children move to its parent (or become roots), the current marker moves
 * from it to its parent (or none for a root), then its file is removed. */
int snapshot_tree_remove(struct snapshot_tree *tree, const char *dir, const char *name,
                         struct cerr *e);

enum snapshot_delete_mode {
    SNAPSHOT_DELETE_SINGLE,        /* snapshot-delete S */
    SNAPSHOT_DELETE_CHILDREN,      /* snapshot-delete --children S */
    SNAPSHOT_DELETE_CHILDREN_ONLY, /* snapshot-delete --children-only S */
};

/* The snapshots a delete of name in mode removes, in the order to delete
 * them, each with snapshot_tree_remove once its disks are done: as libvirt,
 * descendants parents first (pre-order), then S itself unless children-only.
 * Removing them in that order leaves current where libvirt does: unchanged
 * if it was outside the deleted set, else at S (children-only) or S's parent
 * (children, none for a root).  *names_out is a malloc'd array of malloc'd
 * names the caller frees with snapshot_names_free. */
int snapshot_tree_collect_delete(const struct snapshot_tree *tree, const char *name,
                                 enum snapshot_delete_mode mode, char ***names_out, size_t *n_out,
                                 struct cerr *e);
void snapshot_names_free(char **names, size_t n);

#endif
