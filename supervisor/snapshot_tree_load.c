#include "supervisor/snapshot_tree_load.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileutil.h"
#include "common/names.h"
#include "supervisor/snapshot_index.h"
#include "supervisor/snapshot_tree_int.h"

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

/* ---- load ---- */

static bool has_xml_suffix(const char *fname)
{
    size_t len = strlen(fname);

    return len > 4 && strcmp(fname + len - 4, ".xml") == 0;
}

struct xml_file {
    char *name;
    struct stat st;
};

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct xml_file *)a)->name, ((const struct xml_file *)b)->name);
}

static void files_free(struct xml_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(files[i].name);
    free(files);
}

/* The regular *.xml files of dir, hidden ones excluded, sorted by name,
 * with what lstat said of each.  Only the .xml suffix is taken, which also
 * leaves out the NAME.xml.tmp.X leftovers of an interrupted
 * file_write_atomic. */
static int list_xml_files(const char *dir, struct xml_file **out, size_t *nout, struct cerr *e)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct xml_file *files = NULL;
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
            files = xreallocarray(files, cap, sizeof(*files));
        }
        files[n].name = xstrdup(de->d_name);
        files[n++].st = st;
    }
    if (errno != 0) {
        cerr_set(e, CE_SYSTEM, "cannot read snapshot directory %s: %s", dir, strerror(errno));
        files_free(files, n);
        closedir(d);
        return -1;
    }
    closedir(d);
    if (n > 0)
        qsort(files, n, sizeof(*files), cmp_file);
    *out = files;
    *nout = n;
    return 0;
}

/* Parses one file; returns the definition or NULL after recording why. */
static struct snapshot_def *load_file(const char *dir, const char *fname, struct problem_list *pl)
{
    char *path = xasprintf("%s/%s", dir, fname);
    char shown[96];
    struct cerr e = {0};
    struct snapshot_def *def = NULL;
    size_t len = 0;
    char *buf = snapshot_meta_read_file(path, &len, &e);

    name_escape(fname, shown, sizeof(shown));
    if (buf != NULL)
        def = snapshot_def_parse(buf, len, SNAPSHOT_PARSE_REDEFINE | SNAPSHOT_PARSE_NO_DOMAIN, &e);
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
        claims[i]->diverged = true;
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
        t->nodes[i]->parent = snapshot_tree_node_find(t, def->parent);
        if (t->nodes[i]->parent != NULL)
            continue;
        problem_add(pl, SNAPSHOT_PROBLEM_MISSING_PARENT, def->name,
                    xasprintf("parent '%s' of snapshot '%s' not found; attached as a root%s",
                              def->parent, def->name, cleared_note(t)));
        /* Keep the definition in step with the tree: the next write of
         * this file stores it as a root. */
        free(def->parent);
        def->parent = NULL;
        t->nodes[i]->diverged = true;
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
    min->diverged = true;
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
    struct xml_file *files;
    struct snapshot_index *ix;

    if (list_xml_files(dir, &files, &nfiles, e) < 0)
        return NULL;
    t = xcalloc(1, sizeof(*t));
    claims = xcalloc(nfiles, sizeof(*claims));
    ix = nfiles > 0 ? snapshot_index_read(dir) : NULL;
    for (size_t i = 0; i < nfiles; i++) {
        struct snapshot_def *def = snapshot_index_lookup(ix, files[i].name, &files[i].st);

        if (def == NULL)
            def = load_file(dir, files[i].name, &pl);

        if (def == NULL)
            continue;
        if (def->current)
            claims[nclaims++] = snapshot_tree_node_insert(t, def);
        else
            snapshot_tree_node_insert(t, def);
    }
    resolve_current(t, claims, nclaims, &pl);
    missing = link_parents(t, &pl);
    cycles = break_cycles(t, &pl);
    /* libvirt clears current whenever the relations were inconsistent. */
    if ((missing || cycles) && t->current != NULL) {
        t->current->def->current = false;
        t->current->diverged = true;
        t->current = NULL;
    }
    snapshot_tree_relink(t);
    free(claims);
    snapshot_index_free(ix);
    files_free(files, nfiles);
    if (problems != NULL) {
        *problems = pl.v;
        *nproblems = pl.n;
    } else
        snapshot_problems_free(pl.v, pl.n);
    return t;
}

int snapshot_tree_save_index(const struct snapshot_tree *tree, const char *dir, struct cerr *e)
{
    const struct snapshot_def **defs = xcalloc(tree->n + 1, sizeof(*defs));
    size_t n = 0;
    int rc;

    for (size_t i = 0; i < tree->n; i++) {
        if (!tree->nodes[i]->diverged)
            defs[n++] = tree->nodes[i]->def;
    }
    /* A directory without snapshots stays empty. */
    rc = n > 0 ? snapshot_index_write(dir, defs, n, e) : snapshot_index_remove(dir, e);
    free(defs);
    return rc;
}
