#include "supervisor/snapshot_tree.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/names.h"
#include "supervisor/snapshot_tree_int.h"

void snapshot_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- node bookkeeping ---- */

/* Index of name, or where it would be inserted; *found tells which. */
static size_t node_pos(const struct snapshot_tree *t, const char *name, bool *found)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->nodes[mid]->def->name, name);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

struct snap_node *snapshot_tree_node_find(const struct snapshot_tree *t, const char *name)
{
    bool found;
    size_t i;

    if (name == NULL)
        return NULL;
    i = node_pos(t, name, &found);
    return found ? t->nodes[i] : NULL;
}

/* Every change of names, parents or definitions goes through
 * snapshot_tree_node_insert, node_delete or snapshot_tree_relink, which
 * give the tree a generation no tree of the process had. */
static void changed(struct snapshot_tree *t)
{
    static unsigned long long generations;

    t->generation = ++generations;
}

/* Takes ownership of def, whose name must not be in the tree yet. */
struct snap_node *snapshot_tree_node_insert(struct snapshot_tree *t, struct snapshot_def *def)
{
    bool found;
    size_t i = node_pos(t, def->name, &found);
    struct snap_node *node = xcalloc(1, sizeof(*node));

    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->nodes = xreallocarray(t->nodes, t->cap, sizeof(*t->nodes));
    }
    memmove(&t->nodes[i + 1], &t->nodes[i], (t->n - i) * sizeof(*t->nodes));
    t->nodes[i] = node;
    t->n++;
    node->def = def;
    changed(t);
    return node;
}

/* Drops a node that has no children left. */
static void node_delete(struct snapshot_tree *t, struct snap_node *node)
{
    bool found;
    size_t i = node_pos(t, node->def->name, &found);

    memmove(&t->nodes[i], &t->nodes[i + 1], (t->n - i - 1) * sizeof(*t->nodes));
    t->n--;
    changed(t);
    if (t->current == node)
        t->current = NULL;
    snapshot_def_free(node->def);
    free(node);
}

void snapshot_tree_relink(struct snapshot_tree *t)
{
    changed(t);
    t->first_root = NULL;
    for (size_t i = 0; i < t->n; i++)
        t->nodes[i]->first_child = NULL;
    /* Backwards, so that prepending leaves every sibling list in name order. */
    for (size_t i = t->n; i-- > 0;) {
        struct snap_node *node = t->nodes[i];
        struct snap_node **head = node->parent ? &node->parent->first_child : &t->first_root;

        node->next_sibling = *head;
        *head = node;
    }
}

void snapshot_tree_free(struct snapshot_tree *tree)
{
    if (tree == NULL)
        return;
    for (size_t i = 0; i < tree->n; i++) {
        snapshot_def_free(tree->nodes[i]->def);
        free(tree->nodes[i]);
    }
    free(tree->nodes);
    free(tree);
}

/* ---- queries ---- */

const struct snapshot_def *snapshot_tree_lookup(const struct snapshot_tree *tree, const char *name)
{
    struct snap_node *node = snapshot_tree_node_find(tree, name);

    return node ? node->def : NULL;
}

const struct snapshot_def *snapshot_tree_parent(const struct snapshot_tree *tree, const char *name)
{
    struct snap_node *node = snapshot_tree_node_find(tree, name);

    return node && node->parent ? node->parent->def : NULL;
}

const struct snapshot_def *snapshot_tree_current(const struct snapshot_tree *tree)
{
    return tree->current ? tree->current->def : NULL;
}

size_t snapshot_tree_count(const struct snapshot_tree *tree)
{
    return tree->n;
}

unsigned long long snapshot_tree_generation(const struct snapshot_tree *tree)
{
    return tree->generation;
}

const struct snapshot_def *snapshot_tree_nth(const struct snapshot_tree *tree, size_t i)
{
    return i < tree->n ? tree->nodes[i]->def : NULL;
}

/* Appends the subtrees from first and its next siblings, parents before
 * children, stopping when the walk climbs back to top (NULL: the roots). */
static size_t collect_preorder(const struct snap_node *top, const struct snap_node *first,
                               const struct snapshot_def **out)
{
    const struct snap_node *node = first;
    size_t n = 0;

    if (node == NULL)
        return 0;
    for (;;) {
        out[n++] = node->def;
        if (node->first_child != NULL) {
            node = node->first_child;
            continue;
        }
        while (node->next_sibling == NULL) {
            node = node->parent;
            if (node == top)
                return n;
        }
        node = node->next_sibling;
    }
}

static const struct snap_node *node_find_or_fail(const struct snapshot_tree *tree, const char *name,
                                                 struct cerr *e)
{
    const struct snap_node *node = snapshot_tree_node_find(tree, name);

    if (node == NULL)
        cerr_set(e, CE_NO_SNAPSHOT, "no snapshot named '%s'", name ? name : "(null)");
    return node;
}

static const struct snapshot_def **siblings(const struct snap_node *first, size_t max, size_t *n)
{
    const struct snapshot_def **out = xcalloc(max, sizeof(*out));

    *n = 0;
    for (const struct snap_node *c = first; c != NULL; c = c->next_sibling)
        out[(*n)++] = c->def;
    return out;
}

const struct snapshot_def **snapshot_tree_children(const struct snapshot_tree *tree,
                                                   const char *name, size_t *n, struct cerr *e)
{
    const struct snap_node *node = node_find_or_fail(tree, name, e);

    *n = 0;
    return node ? siblings(node->first_child, tree->n, n) : NULL;
}

const struct snapshot_def **snapshot_tree_descendants(const struct snapshot_tree *tree,
                                                      const char *name, size_t *n, struct cerr *e)
{
    const struct snap_node *node = node_find_or_fail(tree, name, e);
    const struct snapshot_def **out;

    *n = 0;
    if (node == NULL)
        return NULL;
    out = xcalloc(tree->n, sizeof(*out));
    *n = collect_preorder(node, node->first_child, out);
    return out;
}

const struct snapshot_def **snapshot_tree_roots(const struct snapshot_tree *tree, size_t *n)
{
    return siblings(tree->first_root, tree->n, n);
}

const struct snapshot_def **snapshot_tree_leaves(const struct snapshot_tree *tree, size_t *n)
{
    const struct snapshot_def **out = xcalloc(tree->n, sizeof(*out));

    *n = 0;
    for (size_t i = 0; i < tree->n; i++) {
        if (tree->nodes[i]->first_child == NULL)
            out[(*n)++] = tree->nodes[i]->def;
    }
    return out;
}

const struct snapshot_def **snapshot_tree_topological(const struct snapshot_tree *tree, size_t *n)
{
    const struct snapshot_def **out = xcalloc(tree->n, sizeof(*out));

    *n = collect_preorder(NULL, tree->first_root, out);
    return out;
}

int snapshot_tree_collect_delete(const struct snapshot_tree *tree, const char *name,
                                 enum snapshot_delete_mode mode, char ***names_out, size_t *n_out,
                                 struct cerr *e)
{
    const struct snap_node *node = node_find_or_fail(tree, name, e);
    const struct snapshot_def **defs;
    size_t n = 0;

    *names_out = NULL;
    *n_out = 0;
    if (node == NULL)
        return -1;
    defs = xcalloc(tree->n, sizeof(*defs));
    if (mode != SNAPSHOT_DELETE_SINGLE)
        n = collect_preorder(node, node->first_child, defs);
    if (mode != SNAPSHOT_DELETE_CHILDREN_ONLY)
        defs[n++] = node->def;
    *names_out = xcalloc(n, sizeof(**names_out));
    for (size_t i = 0; i < n; i++)
        (*names_out)[i] = xstrdup(defs[i]->name);
    *n_out = n;
    free(defs);
    return 0;
}

/* ---- mutations ---- */

/* Prefixes e's message, keeping its code. */
static void cerr_prefix(struct cerr *e, const char *prefix)
{
    char msg[CERR_MSG_MAX];

    if (e == NULL)
        return;
    memcpy(msg, e->msg, sizeof(msg));
    cerr_set(e, e->code, "%s: %s", prefix, msg);
}

/* Rewrites node's file with parent (NULL: a root) and the current marker
 * active.  The definition is changed only once the file is, so that memory
 * keeps matching disk when the write fails. */
static int rewrite(const char *dir, struct snap_node *node, const char *parent, bool active,
                   struct cerr *e)
{
    struct snapshot_def *def = node->def;
    char *old_parent = def->parent;
    bool old_active = def->current;
    int rc;

    if (snapshot_meta_domain(dir, def->name, &def->domain_xml, e) < 0)
        return -1;
    def->parent = parent ? xstrdup(parent) : NULL;
    def->current = active;
    rc = snapshot_meta_write(dir, def, e);
    free(def->domain_xml);
    def->domain_xml = NULL;
    if (rc < 0) {
        free(def->parent);
        def->parent = old_parent;
        def->current = old_active;
        return -1;
    }
    free(old_parent);
    node->diverged = false;
    return 0;
}

int snapshot_tree_stage_retire(const struct snapshot_tree *tree, const char *dir,
                               struct snapshot_retire *r, struct cerr *e)
{
    const struct snap_node *old = tree->current;
    struct snapshot_def copy;
    int rc;

    r->staged = r->name = NULL;
    if (old == NULL)
        return 0;
    copy = *old->def;
    copy.current = false;
    copy.domain_xml = NULL;
    if (snapshot_meta_domain(dir, copy.name, &copy.domain_xml, e) < 0)
        return -1;
    rc = snapshot_meta_stage(dir, &copy, &r->staged, e);
    free(copy.domain_xml);
    if (rc == 0)
        r->name = xstrdup(old->def->name);
    return rc;
}

void snapshot_tree_retire_drop(struct snapshot_retire *r)
{
    file_unstage(r->staged);
    free(r->name);
    r->staged = r->name = NULL;
}

/* The present current's file as rewrite(.., false) would make it, from
 * r when r staged it for that very snapshot (r taken either way). */
static int retire_file(struct snap_node *old, const char *dir, struct snapshot_retire *r,
                       struct cerr *e)
{
    if (r == NULL || r->staged == NULL || strcmp(r->name, old->def->name) != 0) {
        if (r != NULL)
            snapshot_tree_retire_drop(r);
        return rewrite(dir, old, old->def->parent, false, e);
    }
    free(r->name);
    r->name = NULL;
    if (snapshot_meta_commit(dir, old->def->name, r->staged, e) < 0) {
        r->staged = NULL;
        return -1;
    }
    r->staged = NULL;
    old->def->current = false;
    old->diverged = false;
    return 0;
}

/* Second half of moving the current marker to node (NULL: none), once
 * node's own file says active=1: the previous current's file is rewritten
 * with active=0 (or its staged rewrite r, when given, put in place). */
static int retire_current(struct snapshot_tree *t, const char *dir, struct snap_node *node,
                          struct snapshot_retire *r, struct cerr *e)
{
    struct snap_node *old = t->current;

    if (old == node) {
        if (r != NULL)
            snapshot_tree_retire_drop(r);
        return 0;
    }
    if (old != NULL && retire_file(old, dir, r, e) < 0) {
        if (node == NULL)
            return -1; /* nothing changed anywhere */
        /* node's file already claims current: so does old's on disk.  Keep
         * the intent in memory; a reload reports duplicate-current and
         * settles on one of the two. */
        old->def->current = false;
        old->diverged = true;
        t->current = node;
        cerr_prefix(e, "the old current snapshot still claims to be current on disk");
        return -1;
    }
    if (old == NULL && r != NULL)
        snapshot_tree_retire_drop(r);
    t->current = node;
    return 0;
}

/* The tree keeps no <domain> in memory once its file holds it: with
 * thousands of snapshots it was most of the supervisor's memory, and only
 * dumpxml and rewrites need it, which read it back from the file. */
static void drop_domain(struct snapshot_def *def)
{
    free(def->domain_xml);
    def->domain_xml = NULL;
    def->domain = NULL;
}

/* What any snapshot needs before its file is written: a reload parses
 * with SNAPSHOT_PARSE_REDEFINE. */
static int check_complete(const struct snapshot_def *def, struct cerr *e)
{
    if (def == NULL || !name_snapshot_valid(def->name, e))
        return -1;
    if (def->state == SNAPSHOT_STATE_NONE || def->creation_time < 0) {
        cerr_set(e, CE_INVALID_XML, "snapshot '%s' needs a state and a creation time", def->name);
        return -1;
    }
    return 0;
}

/* snapshot_tree_add, with def's file already staged (snapshot_meta_stage;
 * NULL: not), and perhaps the old current's rewrite (r; NULL: none), which
 * it takes. */
static int tree_add(struct snapshot_tree *tree, const char *dir, struct snapshot_def *def,
                    bool make_current, char *staged, struct snapshot_retire *r, struct cerr *e)
{
    struct snap_node *parent = NULL, *node;

    if (check_complete(def, e) < 0)
        goto fail;
    if (snapshot_tree_node_find(tree, def->name) != NULL) {
        cerr_set(e, CE_SNAPSHOT_EXISTS, "snapshot '%s' already exists in %s", def->name, dir);
        goto fail;
    }
    if (def->parent != NULL && (parent = snapshot_tree_node_find(tree, def->parent)) == NULL) {
        cerr_set(e, CE_OPERATION_INVALID, "parent %s for snapshot %s not found in %s", def->parent,
                 def->name, dir);
        goto fail;
    }
    /* The new file goes first, already saying active=1, and the old
     * current's file is rewritten after it.  A crash in between leaves two
     * files claiming current, which load reports as duplicate-current and
     * settles on either: nothing is lost.  The reverse order would leave,
     * after a crash, no current and no metadata at all for a snapshot that
     * QEMU has already written to the disks. */
    def->current = make_current;
    if (staged != NULL ? snapshot_meta_commit(dir, def->name, staged, e) < 0
                       : snapshot_meta_write(dir, def, e) < 0) {
        staged = NULL;
        goto fail;
    }
    drop_domain(def);
    node = snapshot_tree_node_insert(tree, def);
    node->parent = parent;
    snapshot_tree_relink(tree);
    if (make_current)
        return retire_current(tree, dir, node, r, e);
    if (r != NULL)
        snapshot_tree_retire_drop(r);
    return 0;
fail:
    file_unstage(staged);
    if (r != NULL)
        snapshot_tree_retire_drop(r);
    snapshot_def_free(def);
    return -1;
}

int snapshot_tree_add(struct snapshot_tree *tree, const char *dir, struct snapshot_def *def,
                      bool make_current, struct cerr *e)
{
    return tree_add(tree, dir, def, make_current, NULL, NULL, e);
}

int snapshot_tree_add_staged(struct snapshot_tree *tree, const char *dir, struct snapshot_def *def,
                             char *staged, struct snapshot_retire *r, struct cerr *e)
{
    return tree_add(tree, dir, def, def->current, staged, r, e);
}

/* libvirt's virDomainMomentCheckCycles: node is the snapshot being
 * replaced, NULL for a new one. */
static int check_parent_link(const struct snapshot_tree *t, const char *dir,
                             const struct snapshot_def *def, const struct snap_node *node,
                             struct snap_node **parent, struct cerr *e)
{
    *parent = NULL;
    if (def->parent == NULL)
        return 0;
    if (strcmp(def->parent, def->name) == 0) {
        cerr_set(e, CE_OPERATION_INVALID, "cannot set snapshot %s as its own parent", def->name);
        return -1;
    }
    *parent = snapshot_tree_node_find(t, def->parent);
    if (*parent == NULL) {
        cerr_set(e, CE_OPERATION_INVALID, "parent %s for snapshot %s not found in %s", def->parent,
                 def->name, dir);
        return -1;
    }
    for (const struct snap_node *a = *parent; node != NULL && a != NULL; a = a->parent) {
        if (a->parent == node) {
            cerr_set(e, CE_OPERATION_INVALID, "parent %s would create cycle to %s", a->def->name,
                     def->name);
            return -1;
        }
    }
    return 0;
}

/* libvirt's virDomainSnapshotRedefineValidate: a redefinition cannot turn a
 * snapshot with VM state into one without, nor a full one into disk-only. */
static int check_replace(const struct snapshot_def *old, const struct snapshot_def *def,
                         struct cerr *e)
{
    if ((old->state == SNAPSHOT_STATE_SHUTOFF) != (def->state == SNAPSHOT_STATE_SHUTOFF)) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "cannot change between online and offline snapshot state in snapshot %s",
                 def->name);
        return -1;
    }
    if ((old->state == SNAPSHOT_STATE_DISK_SNAPSHOT) !=
        (def->state == SNAPSHOT_STATE_DISK_SNAPSHOT)) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "cannot change between disk only and full system in snapshot %s", def->name);
        return -1;
    }
    return 0;
}

int snapshot_tree_redefine(struct snapshot_tree *tree, const char *dir, struct snapshot_def *def,
                           bool make_current, struct cerr *e)
{
    struct snap_node *node, *parent;

    if (check_complete(def, e) < 0)
        goto fail;
    node = snapshot_tree_node_find(tree, def->name);
    if (check_parent_link(tree, dir, def, node, &parent, e) < 0)
        goto fail;
    if (node != NULL && check_replace(node->def, def, e) < 0)
        goto fail;
    if (node != NULL && def->domain_xml == NULL &&
        snapshot_meta_domain(dir, def->name, &def->domain_xml, e) < 0)
        goto fail;
    /* Same order as snapshot_tree_add, for the same reason. */
    def->current = make_current || (node != NULL && node == tree->current);
    if (snapshot_meta_write(dir, def, e) < 0)
        goto fail;
    drop_domain(def);
    if (node != NULL) {
        snapshot_def_free(node->def);
        node->def = def;
        node->diverged = false;
    } else
        node = snapshot_tree_node_insert(tree, def);
    node->parent = parent;
    snapshot_tree_relink(tree);
    return make_current ? retire_current(tree, dir, node, NULL, e) : 0;
fail:
    snapshot_def_free(def);
    return -1;
}

char *snapshot_tree_dumpxml(const struct snapshot_tree *tree, const char *dir, const char *name,
                            struct cerr *e)
{
    const struct snap_node *node = node_find_or_fail(tree, name, e);
    struct snapshot_def shown;
    char *xml;

    if (node == NULL)
        return NULL;
    /* The tree's fields (parent, disks) with the file's <domain>: load may
     * have made it a root where the file still names a missing parent. */
    shown = *node->def;
    if (snapshot_meta_domain(dir, name, &shown.domain_xml, e) < 0)
        return NULL;
    xml = snapshot_def_format(&shown, false, e);
    free(shown.domain_xml);
    return xml;
}

int snapshot_tree_set_current(struct snapshot_tree *tree, const char *dir, const char *name,
                              struct cerr *e)
{
    struct snap_node *node = NULL;

    if (name != NULL && (node = snapshot_tree_node_find(tree, name)) == NULL) {
        cerr_set(e, CE_NO_SNAPSHOT, "no snapshot named '%s' in %s", name, dir);
        return -1;
    }
    if (node == tree->current)
        return 0;
    /* New marker first, as in snapshot_tree_add. */
    if (node != NULL && rewrite(dir, node, node->def->parent, true, e) < 0)
        return -1;
    return retire_current(tree, dir, node, NULL, e);
}

/* Re-points node's children to its parent, one file at a time; each step
 * leaves a valid tree on disk and in memory. */
static int reparent_children(struct snapshot_tree *t, const char *dir, struct snap_node *node,
                             struct cerr *e)
{
    struct snap_node *parent = node->parent;
    int rc = 0;

    /* Sibling links are untouched until snapshot_tree_relink(), so the walk is safe. */
    for (struct snap_node *c = node->first_child; c != NULL; c = c->next_sibling) {
        rc = rewrite(dir, c, parent ? parent->def->name : NULL, c == t->current, e);
        if (rc < 0)
            break;
        c->parent = parent;
    }
    snapshot_tree_relink(t);
    return rc;
}

int snapshot_tree_remove(struct snapshot_tree *tree, const char *dir, const char *name,
                         struct cerr *e)
{
    struct snap_node *node = snapshot_tree_node_find(tree, name);
    struct snap_node *parent;

    if (node == NULL) {
        cerr_set(e, CE_NO_SNAPSHOT, "no snapshot named '%s' in %s", name ? name : "(null)", dir);
        return -1;
    }
    parent = node->parent;
    /* Children first, then the marker on the parent, then the file: a crash
     * between any two writes leaves every parent link pointing at a file
     * that still exists, and at worst two files claiming current, which
     * load settles (if the parent wins, that was the goal; if the removed
     * snapshot wins, deleting it again finishes the job). */
    if (reparent_children(tree, dir, node, e) < 0)
        return -1;
    if (tree->current == node) {
        if (parent != NULL && rewrite(dir, parent, parent->def->parent, true, e) < 0)
            return -1;
        node->def->current = false;
        tree->current = parent;
    }
    /* If this fails, calling remove again finishes: the steps above are
     * then no-ops and a missing file is not an error. */
    if (snapshot_meta_remove(dir, node->def->name, e) < 0)
        return -1;
    node_delete(tree, node);
    snapshot_tree_relink(tree);
    return 0;
}
