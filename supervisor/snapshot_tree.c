#include "supervisor/snapshot_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/names.h"
#include "common/xml_safe.h"

struct snap_node {
    struct snapshot_def *def;
    struct snap_node *parent;
    /* Rebuilt by relink() after every change of parent links, so that walks
     * need no search; siblings are in name order. */
    struct snap_node *first_child;
    struct snap_node *next_sibling;
    int mark; /* cycle detection scratch in load */
};

struct snapshot_tree {
    struct snap_node **nodes; /* sorted by name, for binary search and listings */
    size_t n, cap;
    struct snap_node *first_root;
    struct snap_node *current;
};

struct problem_list {
    struct snapshot_problem *v;
    size_t n, cap;
};

const char *snapshot_problem_kind_name(enum snapshot_problem_kind kind)
{
    switch (kind) {
    case SNAPSHOT_PROBLEM_UNREADABLE:
        return "unreadable";
    case SNAPSHOT_PROBLEM_NAME_MISMATCH:
        return "name-mismatch";
    case SNAPSHOT_PROBLEM_MISSING_PARENT:
        return "missing-parent";
    case SNAPSHOT_PROBLEM_DUPLICATE_CURRENT:
        return "duplicate-current";
    case SNAPSHOT_PROBLEM_CYCLE:
        return "cycle";
    }
    return "unknown";
}

void snapshot_problems_free(struct snapshot_problem *problems, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(problems[i].name);
        free(problems[i].detail);
    }
    free(problems);
}

/* Takes ownership of detail. */
static void problem_add(struct problem_list *pl, enum snapshot_problem_kind kind, const char *name,
                        char *detail)
{
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 8;
        pl->v = xreallocarray(pl->v, pl->cap, sizeof(*pl->v));
    }
    pl->v[pl->n].kind = kind;
    pl->v[pl->n].name = xstrdup(name);
    pl->v[pl->n].detail = detail;
    pl->n++;
}

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

static struct snap_node *node_find(const struct snapshot_tree *t, const char *name)
{
    bool found;
    size_t i;

    if (name == NULL)
        return NULL;
    i = node_pos(t, name, &found);
    return found ? t->nodes[i] : NULL;
}

/* Takes ownership of def, whose name must not be in the tree yet. */
static struct snap_node *node_insert(struct snapshot_tree *t, struct snapshot_def *def)
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
    return node;
}

/* Drops a node that has no children left. */
static void node_delete(struct snapshot_tree *t, struct snap_node *node)
{
    bool found;
    size_t i = node_pos(t, node->def->name, &found);

    memmove(&t->nodes[i], &t->nodes[i + 1], (t->n - i - 1) * sizeof(*t->nodes));
    t->n--;
    if (t->current == node)
        t->current = NULL;
    snapshot_def_free(node->def);
    free(node);
}

static void relink(struct snapshot_tree *t)
{
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

/* ---- load ---- */

static bool has_xml_suffix(const char *fname)
{
    size_t len = strlen(fname);

    return len > 4 && strcmp(fname + len - 4, ".xml") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the regular *.xml files of dir, hidden ones excluded.
 * Only the .xml suffix is taken, which also leaves out the NAME.xml.tmp.X
 * leftovers of an interrupted file_write_atomic. */
static int list_xml_files(const char *dir, char ***out, size_t *nout, struct cerr *e)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    *nout = 0;
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        cerr_set(e, CE_SYSTEM, "cannot open snapshot directory %s: %s", dir, strerror(errno));
        return -1;
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        struct stat st;

        if (de->d_name[0] == '.' || !has_xml_suffix(de->d_name))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xreallocarray(names, cap, sizeof(*names));
        }
        names[n++] = xstrdup(de->d_name);
    }
    if (errno != 0) {
        cerr_set(e, CE_SYSTEM, "cannot read snapshot directory %s: %s", dir, strerror(errno));
        snapshot_names_free(names, n);
        closedir(d);
        return -1;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *nout = n;
    return 0;
}

static ssize_t read_full(int fd, char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Reads a metadata file.  It was a regular file when listed; opening it
 * without following links or blocking, and checking again, keeps a FIFO or
 * link swapped in meanwhile from hanging or redirecting the supervisor. */
static char *read_meta_file(const char *path, size_t *len, struct cerr *e)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    ssize_t got;

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s is not a regular file", path);
        goto out;
    }
    if (st.st_size > XML_UNTRUSTED_MAX) {
        cerr_set(e, CE_TOO_LARGE, "%s is %lld bytes, larger than the limit of %d bytes", path,
                 (long long)st.st_size, XML_UNTRUSTED_MAX);
        goto out;
    }
    buf = xcalloc(1, (size_t)st.st_size + 1);
    got = read_full(fd, buf, (size_t)st.st_size);
    if (got < 0) {
        cerr_set(e, CE_SYSTEM, "cannot read %s: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
        goto out;
    }
    *len = (size_t)got;
out:
    close(fd);
    return buf;
}

/* Parses one file; returns the definition or NULL after recording why. */
static struct snapshot_def *load_file(const char *dir, const char *fname, struct problem_list *pl)
{
    char *path = xasprintf("%s/%s", dir, fname);
    char shown[96];
    struct cerr e = {0};
    struct snapshot_def *def = NULL;
    size_t len = 0;
    char *buf = read_meta_file(path, &len, &e);

    name_escape(fname, shown, sizeof(shown));
    if (buf != NULL)
        def = snapshot_def_parse(buf, len, SNAPSHOT_PARSE_REDEFINE, &e);
    if (def == NULL)
        problem_add(pl, SNAPSHOT_PROBLEM_UNREADABLE, shown, xstrdup(e.msg));
    else if (strlen(def->name) != strlen(fname) - 4 ||
             strncmp(def->name, fname, strlen(def->name)) != 0) {
        problem_add(pl, SNAPSHOT_PROBLEM_NAME_MISMATCH, shown,
                    xasprintf("file %s holds snapshot '%s', not the one its name says; skipped",
                              shown, def->name));
        snapshot_def_free(def);
        def = NULL;
    }
    free(buf);
    free(path);
    return def;
}

/* libvirt lets the last file read win, which after a crash in a create
 * may well be the old current.  A create writes the new snapshot's file,
 * already current, before it clears the old current's marker, and creates
 * are what crash most: the newest claim wins.  Among equally new ones the
 * last in file name order does, so that the directory's order never
 * decides. */
static void resolve_current(struct snapshot_tree *t, struct snap_node **claims, size_t nclaims,
                            struct problem_list *pl)
{
    size_t keep = 0;

    if (nclaims == 0)
        return;
    for (size_t i = 1; i < nclaims; i++) {
        if (claims[i]->def->creation_time >= claims[keep]->def->creation_time)
            keep = i;
    }
    t->current = claims[keep];
    for (size_t i = 0; i < nclaims; i++) {
        if (i == keep)
            continue;
        claims[i]->def->current = false;
        problem_add(pl, SNAPSHOT_PROBLEM_DUPLICATE_CURRENT, claims[i]->def->name,
                    xasprintf("'%s' also claims to be the current snapshot; '%s' is kept as "
                              "current",
                              claims[i]->def->name, t->current->def->name));
    }
}

static const char *cleared_note(const struct snapshot_tree *t)
{
    return t->current != NULL ? "; the current snapshot marker is cleared" : "";
}

/* Returns whether any parent was missing. */
static bool link_parents(struct snapshot_tree *t, struct problem_list *pl)
{
    bool missing = false;

    for (size_t i = 0; i < t->n; i++) {
        struct snapshot_def *def = t->nodes[i]->def;

        if (def->parent == NULL)
            continue;
        t->nodes[i]->parent = node_find(t, def->parent);
        if (t->nodes[i]->parent != NULL)
            continue;
        problem_add(pl, SNAPSHOT_PROBLEM_MISSING_PARENT, def->name,
                    xasprintf("parent '%s' of snapshot '%s' not found; attached as a root%s",
                              def->parent, def->name, cleared_note(t)));
        /* Keep the definition in step with the tree: the next write of
         * this file stores it as a root. */
        free(def->parent);
        def->parent = NULL;
        missing = true;
    }
    return missing;
}

/* Breaks the cycle through start: its smallest name becomes a root. */
static void break_cycle(struct snapshot_tree *t, struct snap_node *start, struct problem_list *pl)
{
    struct snap_node *min = start;
    char *chain = xstrdup(start->def->name);
    char *tmp;

    for (struct snap_node *n = start->parent; n != start; n = n->parent) {
        if (strcmp(n->def->name, min->def->name) < 0)
            min = n;
        tmp = xasprintf("%s -> %s", chain, n->def->name);
        free(chain);
        chain = tmp;
    }
    problem_add(pl, SNAPSHOT_PROBLEM_CYCLE, min->def->name,
                xasprintf("parent links form a cycle (%s -> %s, child -> parent); '%s' made a "
                          "root%s",
                          chain, start->def->name, min->def->name, cleared_note(t)));
    free(chain);
    min->parent = NULL;
    free(min->def->parent);
    min->def->parent = NULL;
}

/* Every node has at most one parent, so each cycle is a ring reached by
 * walking up; walks are marked 1 while in progress and 2 when done.
 * Returns whether any cycle was broken. */
static bool break_cycles(struct snapshot_tree *t, struct problem_list *pl)
{
    bool any = false;

    for (size_t i = 0; i < t->n; i++) {
        struct snap_node *n = t->nodes[i];

        struct snap_node *ring;

        while (n != NULL && n->mark == 0) {
            n->mark = 1;
            n = n->parent;
        }
        ring = n != NULL && n->mark == 1 ? n : NULL;
        /* Mark the walk done while the ring is still whole, so that all of
         * it is marked. */
        for (n = t->nodes[i]; n != NULL && n->mark == 1; n = n->parent)
            n->mark = 2;
        if (ring != NULL) {
            break_cycle(t, ring, pl);
            any = true;
        }
    }
    return any;
}

struct snapshot_tree *snapshot_tree_load(const char *dir, struct snapshot_problem **problems,
                                         size_t *nproblems, struct cerr *e)
{
    struct problem_list pl = {0};
    struct snapshot_tree *t;
    struct snap_node **claims;
    size_t nfiles, nclaims = 0;
    bool missing, cycles;
    char **files;

    if (list_xml_files(dir, &files, &nfiles, e) < 0)
        return NULL;
    t = xcalloc(1, sizeof(*t));
    claims = xcalloc(nfiles, sizeof(*claims));
    for (size_t i = 0; i < nfiles; i++) {
        struct snapshot_def *def = load_file(dir, files[i], &pl);

        if (def == NULL)
            continue;
        if (def->current)
            claims[nclaims++] = node_insert(t, def);
        else
            node_insert(t, def);
    }
    resolve_current(t, claims, nclaims, &pl);
    missing = link_parents(t, &pl);
    cycles = break_cycles(t, &pl);
    /* libvirt clears current whenever the relations were inconsistent. */
    if ((missing || cycles) && t->current != NULL) {
        t->current->def->current = false;
        t->current = NULL;
    }
    relink(t);
    free(claims);
    snapshot_names_free(files, nfiles);
    if (problems != NULL) {
        *problems = pl.v;
        *nproblems = pl.n;
    } else
        snapshot_problems_free(pl.v, pl.n);
    return t;
}

/* ---- queries ---- */

const struct snapshot_def *snapshot_tree_lookup(const struct snapshot_tree *tree, const char *name)
{
    struct snap_node *node = node_find(tree, name);

    return node ? node->def : NULL;
}

const struct snapshot_def *snapshot_tree_parent(const struct snapshot_tree *tree, const char *name)
{
    struct snap_node *node = node_find(tree, name);

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
    const struct snap_node *node = node_find(tree, name);

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

/* Rewrites def's file with parent (NULL: a root) and the current marker
 * active.  def is changed only once the file is, so that memory keeps
 * matching disk when the write fails. */
static int rewrite(const char *dir, struct snapshot_def *def, const char *parent, bool active,
                   struct cerr *e)
{
    char *old_parent = def->parent;
    bool old_active = def->current;

    def->parent = parent ? xstrdup(parent) : NULL;
    def->current = active;
    if (snapshot_meta_write(dir, def, e) < 0) {
        free(def->parent);
        def->parent = old_parent;
        def->current = old_active;
        return -1;
    }
    free(old_parent);
    return 0;
}

/* Second half of moving the current marker to node (NULL: none), once
 * node's own file says active=1: the previous current's file is rewritten
 * with active=0. */
static int retire_current(struct snapshot_tree *t, const char *dir, struct snap_node *node,
                          struct cerr *e)
{
    struct snap_node *old = t->current;

    if (old == node)
        return 0;
    if (old != NULL && rewrite(dir, old->def, old->def->parent, false, e) < 0) {
        if (node == NULL)
            return -1; /* nothing changed anywhere */
        /* node's file already claims current: so does old's on disk.  Keep
         * the intent in memory; a reload reports duplicate-current and
         * settles on one of the two. */
        old->def->current = false;
        t->current = node;
        cerr_prefix(e, "the old current snapshot still claims to be current on disk");
        return -1;
    }
    t->current = node;
    return 0;
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

int snapshot_tree_add(struct snapshot_tree *tree, const char *dir, struct snapshot_def *def,
                      bool make_current, struct cerr *e)
{
    struct snap_node *parent = NULL, *node;

    if (check_complete(def, e) < 0)
        goto fail;
    if (node_find(tree, def->name) != NULL) {
        cerr_set(e, CE_SNAPSHOT_EXISTS, "snapshot '%s' already exists in %s", def->name, dir);
        goto fail;
    }
    if (def->parent != NULL && (parent = node_find(tree, def->parent)) == NULL) {
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
    if (snapshot_meta_write(dir, def, e) < 0)
        goto fail;
    node = node_insert(tree, def);
    node->parent = parent;
    relink(tree);
    return make_current ? retire_current(tree, dir, node, e) : 0;
fail:
    snapshot_def_free(def);
    return -1;
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
    *parent = node_find(t, def->parent);
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
    node = node_find(tree, def->name);
    if (check_parent_link(tree, dir, def, node, &parent, e) < 0)
        goto fail;
    if (node != NULL && check_replace(node->def, def, e) < 0)
        goto fail;
    if (node != NULL && def->domain_xml == NULL && node->def->domain_xml != NULL)
        def->domain_xml = xstrdup(node->def->domain_xml);
    /* Same order as snapshot_tree_add, for the same reason. */
    def->current = make_current || (node != NULL && node == tree->current);
    if (snapshot_meta_write(dir, def, e) < 0)
        goto fail;
    if (node != NULL) {
        snapshot_def_free(node->def);
        node->def = def;
    } else
        node = node_insert(tree, def);
    node->parent = parent;
    relink(tree);
    return make_current ? retire_current(tree, dir, node, e) : 0;
fail:
    snapshot_def_free(def);
    return -1;
}

int snapshot_tree_set_current(struct snapshot_tree *tree, const char *dir, const char *name,
                              struct cerr *e)
{
    struct snap_node *node = NULL;

    if (name != NULL && (node = node_find(tree, name)) == NULL) {
        cerr_set(e, CE_NO_SNAPSHOT, "no snapshot named '%s' in %s", name, dir);
        return -1;
    }
    if (node == tree->current)
        return 0;
    /* New marker first, as in snapshot_tree_add. */
    if (node != NULL && rewrite(dir, node->def, node->def->parent, true, e) < 0)
        return -1;
    return retire_current(tree, dir, node, e);
}

/* Re-points node's children to its parent, one file at a time; each step
 * leaves a valid tree on disk and in memory. */
static int reparent_children(struct snapshot_tree *t, const char *dir, struct snap_node *node,
                             struct cerr *e)
{
    struct snap_node *parent = node->parent;
    int rc = 0;

    /* Sibling links are untouched until relink(), so the walk is safe. */
    for (struct snap_node *c = node->first_child; c != NULL; c = c->next_sibling) {
        rc = rewrite(dir, c->def, parent ? parent->def->name : NULL, c == t->current, e);
        if (rc < 0)
            break;
        c->parent = parent;
    }
    relink(t);
    return rc;
}

int snapshot_tree_remove(struct snapshot_tree *tree, const char *dir, const char *name,
                         struct cerr *e)
{
    struct snap_node *node = node_find(tree, name);
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
        if (parent != NULL && rewrite(dir, parent->def, parent->def->parent, true, e) < 0)
            return -1;
        node->def->current = false;
        tree->current = parent;
    }
    /* If this fails, calling remove again finishes: the steps above are
     * then no-ops and a missing file is not an error. */
    if (snapshot_meta_remove(dir, node->def->name, e) < 0)
        return -1;
    node_delete(tree, node);
    relink(tree);
    return 0;
}
