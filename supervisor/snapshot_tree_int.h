/* The tree's nodes, shared by snapshot_tree.c (queries and mutations) and
 * snapshot_tree_load.c (building a tree from the metadata directory), which
 * calls into snapshot_tree.c and never the other way.  Not for other
 * files. */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_TREE_INT_H
#define CORRAL_SUPERVISOR_SNAPSHOT_TREE_INT_H

#include "supervisor/snapshot_tree.h"

struct snap_node {
    struct snapshot_def *def;
    struct snap_node *parent;
    /* Rebuilt by snapshot_tree_relink() after every change of parent links, so that walks
     * need no search; siblings are in name order. */
    struct snap_node *first_child;
    struct snap_node *next_sibling;
    int mark; /* cycle detection scratch in load */
    /* Load changed the definition from what its file says (a missing
     * parent, a cycle, a current marker dropped): until the file is
     * rewritten, the snapshot index must not stand for the file. */
    bool diverged;
};

struct snapshot_tree {
    struct snap_node **nodes; /* sorted by name, for binary search and listings */
    size_t n, cap;
    struct snap_node *first_root;
    struct snap_node *current;
    unsigned long long generation; /* snapshot_tree_generation */
};

/* The node named name, or NULL (also for a NULL name). */
struct snap_node *snapshot_tree_node_find(const struct snapshot_tree *t, const char *name);
/* Takes ownership of def, whose name must not be in the tree yet. */
struct snap_node *snapshot_tree_node_insert(struct snapshot_tree *t, struct snapshot_def *def);
/* Rebuilds the child and sibling links from the parent links. */
void snapshot_tree_relink(struct snapshot_tree *t);

#endif
