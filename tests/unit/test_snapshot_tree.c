/* snapshot_tree: load and its tolerated problems, queries, mutations, the
 * libvirt delete table and oracle, and crashes between metadata writes. */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/xml_safe.h"
#include "supervisor/snapshot_tree.h"
#include "supervisor/snapshot_tree_load.h"
#include "tests/unit/unit.h"

/* ---- crash simulation ----
 * file_write_atomic commits with rename() and file_remove_durable with
 * unlink(); this executable's definitions take precedence over libc's, so a
 * forked child can die right before its k-th commit, exactly as if the
 * power had gone then. */
#define CRASH_EXIT 77
static int crash_at; /* 0: never */
static int commits;

static void maybe_crash(void)
{
    if (crash_at > 0 && ++commits == crash_at)
        _exit(CRASH_EXIT);
}

int rename(const char *from, const char *to)
{
    maybe_crash();
    return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

int unlink(const char *path)
{
    maybe_crash();
    return unlinkat(AT_FDCWD, path, 0);
}

/* ---- helpers ---- */

static char *make_dir(void)
{
    char *dir = xstrdup("/tmp/corral-snaptree-XXXXXX");

    if (mkdtemp(dir) == NULL) {
        free(dir);
        return NULL;
    }
    return dir;
}

static void drop_dir(char *dir)
{
    struct cerr e;

    if (dir != NULL && rm_rf(dir, &e) < 0)
        printf("# %s\n", e.msg);
    free(dir);
}

static struct snapshot_def *mkdef(const char *name, const char *parent)
{
    static long long clock = 1795316170;
    struct snapshot_def *def = xcalloc(1, sizeof(*def));

    def->name = xstrdup(name);
    def->parent = parent ? xstrdup(parent) : NULL;
    def->state = SNAPSHOT_STATE_RUNNING;
    def->creation_time = clock++;
    def->memory_internal = true;
    def->ndisks = 1;
    def->disks = xcalloc(1, sizeof(*def->disks));
    def->disks[0].name = xstrdup("vda");
    def->disks[0].internal = true;
    def->domain_xml = xstrdup("<domain type='kvm'><name>vm1</name></domain>");
    return def;
}

/* Writes a metadata file directly, as another process (or a crash) would. */
static int put_file(const char *dir, const char *name, const char *parent, bool active)
{
    struct snapshot_def *def = mkdef(name, parent);
    struct cerr e;
    int rc;

    def->current = active;
    rc = snapshot_meta_write(dir, def, &e);
    snapshot_def_free(def);
    return rc;
}

static int put_raw(const char *dir, const char *fname, const char *data, size_t len)
{
    char *path = xasprintf("%s/%s", dir, fname);
    struct cerr e;
    int rc = file_write_atomic(path, data, len, 0600, &e);

    free(path);
    return rc;
}

static struct snapshot_tree *load_clean(const char *dir)
{
    struct snapshot_problem *p;
    size_t np;
    struct cerr e;
    struct snapshot_tree *t = snapshot_tree_load(dir, &p, &np, &e);

    for (size_t i = 0; i < np; i++)
        printf("# unexpected problem %s %s: %s\n", snapshot_problem_kind_name(p[i].kind), p[i].name,
               p[i].detail);
    snapshot_problems_free(p, np);
    if (t != NULL && np > 0) {
        snapshot_tree_free(t);
        return NULL;
    }
    return t;
}

/* "name<parent" for every snapshot in name order, then "*current": two
 * trees are the same exactly when their shapes are. */
static char *shape(const struct snapshot_tree *t)
{
    char *out = xstrdup(""), *tmp;
    const struct snapshot_def *cur = snapshot_tree_current(t);

    for (size_t i = 0; i < snapshot_tree_count(t); i++) {
        const struct snapshot_def *d = snapshot_tree_nth(t, i);

        tmp = xasprintf("%s%s<%s ", out, d->name, d->parent ? d->parent : "");
        free(out);
        out = tmp;
    }
    tmp = xasprintf("%s*%s", out, cur ? cur->name : "");
    free(out);
    return tmp;
}

/* The shape a restarted supervisor sees, or NULL if loading reports any
 * problem. */
static char *disk_shape(const char *dir)
{
    struct snapshot_tree *t = load_clean(dir);
    char *s = t ? shape(t) : NULL;

    snapshot_tree_free(t);
    return s;
}

static bool shape_is(const struct snapshot_tree *t, const char *dir, const char *want)
{
    char *mem = shape(t), *disk = disk_shape(dir);
    bool ok = strcmp(mem, want) == 0 && disk != NULL && strcmp(disk, want) == 0;

    if (!ok)
        printf("# memory '%s', disk '%s', want '%s'\n", mem, disk ? disk : "(problems)", want);
    free(mem);
    free(disk);
    return ok;
}

/* Names of a list joined by spaces; n is read through a pointer because it
 * is filled in by the call that produces defs, in the same argument list. */
static char *names_of(const struct snapshot_def **defs, const size_t *n)
{
    char *out = xstrdup(""), *tmp;

    for (size_t i = 0; i < *n; i++) {
        tmp = xasprintf("%s%s%s", out, i ? " " : "", defs[i]->name);
        free(out);
        out = tmp;
    }
    free(defs);
    return out;
}

static bool list_is(char *got, const char *want)
{
    bool ok = strcmp(got, want) == 0;

    if (!ok)
        printf("# got '%s', want '%s'\n", got, want);
    free(got);
    return ok;
}

/* Every entry of dir with its contents, to prove nothing was written. */
static char *dir_state(const char *dir)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    char *out = xstrdup(""), *tmp;

    for (int i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, ents[i]->d_name);
        struct cerr e;
        char *data = ents[i]->d_name[0] == '.' ? NULL : file_read_all(path, 1 << 20, NULL, &e);

        tmp = xasprintf("%s[%s]%s", out, ents[i]->d_name, data ? data : "");
        free(out);
        out = tmp;
        free(data);
        free(path);
        free(ents[i]);
    }
    free(ents);
    return out;
}

static bool has_tmp_file(const char *dir)
{
    char *state = dir_state(dir);
    bool found = strstr(state, ".xml.tmp.") != NULL;

    free(state);
    return found;
}

/* Builds a tree from "name<parent" pairs, in order, then sets current. */
static struct snapshot_tree *build(const char *dir, const char *const *pairs, const char *current)
{
    struct cerr e;
    struct snapshot_tree *t = snapshot_tree_load(dir, NULL, NULL, &e);

    for (size_t i = 0; t != NULL && pairs[i] != NULL; i++) {
        char *name = xstrdup(pairs[i]), *lt = strchr(name, '<');

        *lt = '\0';
        if (snapshot_tree_add(t, dir, mkdef(name, lt[1] ? lt + 1 : NULL), false, &e) < 0) {
            printf("# add %s: %s\n", pairs[i], e.msg);
            snapshot_tree_free(t);
            t = NULL;
        }
        free(name);
    }
    if (t != NULL && snapshot_tree_set_current(t, dir, current, &e) < 0) {
        printf("# set current %s: %s\n", current, e.msg);
        snapshot_tree_free(t);
        t = NULL;
    }
    return t;
}

/* Deletes name's metadata in mode, one snapshot at a time, as the
 * supervisor does after each QEMU snapshot-delete. */
static int delete_mode(struct snapshot_tree *t, const char *dir, const char *name,
                       enum snapshot_delete_mode mode, struct cerr *e)
{
    char **names;
    size_t n;
    int rc = 0;

    if (snapshot_tree_collect_delete(t, name, mode, &names, &n, e) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = snapshot_tree_remove(t, dir, names[i], e);
    snapshot_names_free(names, n);
    return rc;
}

static const struct snapshot_problem *find_problem(const struct snapshot_problem *p, size_t n,
                                                   enum snapshot_problem_kind kind,
                                                   const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].kind == kind && strcmp(p[i].name, name) == 0)
            return &p[i];
    }
    return NULL;
}

/* ---- load ---- */

static void test_load_empty_and_missing(void)
{
    char *dir = make_dir(), *missing;
    struct snapshot_tree *t;
    struct snapshot_problem *p;
    size_t np = 99;
    struct cerr e;

    EXPECT(dir != NULL);
    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL && np == 0 && snapshot_tree_count(t) == 0);
    EXPECT(snapshot_tree_current(t) == NULL);
    snapshot_problems_free(p, np);
    snapshot_tree_free(t);
    missing = xasprintf("%s/none", dir);
    t = snapshot_tree_load(missing, NULL, NULL, &e);
    EXPECT(t != NULL && snapshot_tree_count(t) == 0);
    snapshot_tree_free(t);
    free(missing);
    drop_dir(dir);
}

static void test_load_ignores_non_metadata(void)
{
    char *dir = make_dir(), *path;
    struct snapshot_tree *t;

    EXPECT(dir != NULL);
    EXPECT(put_file(dir, "s1", NULL, true) == 0);
    /* A legitimate name that looks like a temporary file. */
    EXPECT(put_file(dir, "x.tmp.y", "s1", false) == 0);
    EXPECT(put_raw(dir, "s1.xml.tmp.Ab12Cd", "<domainsn", 9) == 0);
    EXPECT(put_raw(dir, ".hidden.xml", "junk", 4) == 0);
    EXPECT(put_raw(dir, "notes.txt", "junk", 4) == 0);
    path = xasprintf("%s/d.xml", dir);
    EXPECT(mkdir(path, 0700) == 0);
    free(path);
    path = xasprintf("%s/l.xml", dir);
    EXPECT(symlink("s1.xml", path) == 0);
    free(path);
    /* A FIFO must neither block load nor be reported. */
    path = xasprintf("%s/f.xml", dir);
    EXPECT(mkfifo(path, 0600) == 0);
    free(path);
    t = load_clean(dir);
    EXPECT(t != NULL);
    EXPECT(list_is(shape(t), "s1< x.tmp.y<s1 *s1"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_load_unreadable_and_mismatch(void)
{
    char *dir = make_dir(), *path, *good, *big;
    struct snapshot_tree *t;
    struct snapshot_problem *p;
    const struct snapshot_problem *q;
    size_t np, len;
    struct cerr e;
    const char *bomb = "<!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>"
                       "<domainsnapshot><name>&b;</name></domainsnapshot>";

    EXPECT(dir != NULL);
    EXPECT(put_file(dir, "s1", NULL, false) == 0);
    EXPECT(put_file(dir, "s2", "s1", true) == 0);
    EXPECT(put_file(dir, "s3", "s2", false) == 0);
    path = xasprintf("%s/s3.xml", dir);
    good = file_read_all(path, XML_UNTRUSTED_MAX, &len, &e);
    free(path);
    EXPECT(good != NULL);
    EXPECT(put_raw(dir, "trunc.xml", good, len / 2) == 0);
    free(good);
    EXPECT(put_raw(dir, "garbage.xml", "this is not XML\n", 16) == 0);
    EXPECT(put_raw(dir, "bomb.xml", bomb, strlen(bomb)) == 0);
    big = xcalloc(XML_UNTRUSTED_MAX + 2, 1);
    memset(big, ' ', XML_UNTRUSTED_MAX + 1);
    EXPECT(put_raw(dir, "big.xml", big, XML_UNTRUSTED_MAX + 1) == 0);
    free(big);
    EXPECT(put_file(dir, "s9", NULL, false) == 0);
    path = xasprintf("%s/s9.xml", dir);
    good = xasprintf("%s/renamed.xml", dir);
    EXPECT(renameat(AT_FDCWD, path, AT_FDCWD, good) == 0);
    free(path);
    free(good);

    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL);
    EXPECT(np == 5);
    q = find_problem(p, np, SNAPSHOT_PROBLEM_UNREADABLE, "trunc.xml");
    EXPECT(q != NULL);
    EXPECT_CONTAINS(q->detail, "malformed");
    q = find_problem(p, np, SNAPSHOT_PROBLEM_UNREADABLE, "garbage.xml");
    EXPECT(q != NULL);
    EXPECT_CONTAINS(q->detail, "malformed");
    q = find_problem(p, np, SNAPSHOT_PROBLEM_UNREADABLE, "bomb.xml");
    EXPECT(q != NULL);
    EXPECT_CONTAINS(q->detail, "DOCTYPE");
    q = find_problem(p, np, SNAPSHOT_PROBLEM_UNREADABLE, "big.xml");
    EXPECT(q != NULL);
    EXPECT_CONTAINS(q->detail, "larger than the limit");
    q = find_problem(p, np, SNAPSHOT_PROBLEM_NAME_MISMATCH, "renamed.xml");
    EXPECT(q != NULL);
    EXPECT_CONTAINS(q->detail, "'s9'");
    EXPECT_STR(snapshot_problem_kind_name(p[0].kind), "unreadable");
    snapshot_problems_free(p, np);
    /* The good ones all loaded, relations and current intact. */
    EXPECT(list_is(shape(t), "s1< s2<s1 s3<s2 *s2"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_load_missing_parent(void)
{
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct snapshot_problem *p;
    const struct snapshot_problem *q;
    size_t np;
    struct cerr e;

    EXPECT(dir != NULL);
    EXPECT(put_file(dir, "s1", NULL, false) == 0);
    EXPECT(put_file(dir, "s2", "s1", true) == 0);
    EXPECT(put_file(dir, "s3", "gone", false) == 0);
    EXPECT(put_file(dir, "s4", "s3", false) == 0);
    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL);
    EXPECT(np == 1);
    q = find_problem(p, np, SNAPSHOT_PROBLEM_MISSING_PARENT, "s3");
    EXPECT(q != NULL);
    EXPECT_CONTAINS(q->detail, "'gone'");
    EXPECT_CONTAINS(q->detail, "current snapshot marker is cleared");
    EXPECT_STR(snapshot_problem_kind_name(q->kind), "missing-parent");
    snapshot_problems_free(p, np);
    /* As libvirt: attached as a root, and no current at all. */
    EXPECT(list_is(shape(t), "s1< s2<s1 s3< s4<s3 *"));
    EXPECT(!snapshot_tree_lookup(t, "s2")->current);
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_load_duplicate_current(void)
{
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct snapshot_problem *p;
    size_t np;
    struct cerr e;

    EXPECT(dir != NULL);
    EXPECT(put_file(dir, "a", NULL, true) == 0);
    EXPECT(put_file(dir, "b", "a", true) == 0);
    EXPECT(put_file(dir, "c", "b", false) == 0);
    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL && np == 1);
    EXPECT(p[0].kind == SNAPSHOT_PROBLEM_DUPLICATE_CURRENT);
    EXPECT_STR(p[0].name, "a");
    EXPECT_STR(snapshot_problem_kind_name(p[0].kind), "duplicate-current");
    EXPECT(list_is(shape(t), "a< b<a c<b *b"));
    EXPECT(!snapshot_tree_lookup(t, "a")->current && snapshot_tree_lookup(t, "b")->current);
    snapshot_problems_free(p, np);
    snapshot_tree_free(t);
    /* The newest claim wins even where it is not the last file read:
     * "x y.xml" sorts before "x.xml". */
    EXPECT(put_file(dir, "x", NULL, true) == 0);
    EXPECT(put_file(dir, "x y", NULL, true) == 0);
    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL && np == 3);
    EXPECT_STR(snapshot_tree_current(t)->name, "x y");
    EXPECT(find_problem(p, np, SNAPSHOT_PROBLEM_DUPLICATE_CURRENT, "x") != NULL);
    EXPECT(find_problem(p, np, SNAPSHOT_PROBLEM_DUPLICATE_CURRENT, "b") != NULL);
    snapshot_problems_free(p, np);
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_load_duplicate_current_same_time(void)
{
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct snapshot_problem *p;
    size_t np;
    struct cerr e;

    EXPECT(dir != NULL);
    /* Taken in the same second: the last in file name order ("x.xml"
     * after "x y.xml") wins, whatever order the directory lists them in. */
    for (int i = 0; i < 2; i++) {
        struct snapshot_def *def = mkdef(i == 0 ? "x" : "x y", NULL);
        def->creation_time = 1795316100;
        def->current = true;
        EXPECT(snapshot_meta_write(dir, def, &e) == 0);
        snapshot_def_free(def);
    }
    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL && np == 1);
    EXPECT_STR(snapshot_tree_current(t)->name, "x");
    EXPECT_STR(p[0].name, "x y");
    snapshot_problems_free(p, np);
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_load_cycle(void)
{
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct snapshot_problem *p;
    const struct snapshot_problem *q;
    size_t np;
    struct cerr e;

    EXPECT(dir != NULL);
    /* c -> b -> d -> c (child -> parent), a tail e -> b, a self loop s. */
    EXPECT(put_file(dir, "c", "b", false) == 0);
    EXPECT(put_file(dir, "b", "d", false) == 0);
    EXPECT(put_file(dir, "d", "c", false) == 0);
    EXPECT(put_file(dir, "e", "b", false) == 0);
    EXPECT(put_file(dir, "s", "s", false) == 0);
    EXPECT(put_file(dir, "r", NULL, true) == 0);
    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL && np == 2);
    q = find_problem(p, np, SNAPSHOT_PROBLEM_CYCLE, "b");
    EXPECT(q != NULL);
    EXPECT_CONTAINS(q->detail, "b -> d -> c -> b");
    EXPECT(find_problem(p, np, SNAPSHOT_PROBLEM_CYCLE, "s") != NULL);
    EXPECT_STR(snapshot_problem_kind_name(q->kind), "cycle");
    snapshot_problems_free(p, np);
    /* The smallest name of each ring became its root; libvirt clears
     * current on any inconsistent relation. */
    EXPECT(list_is(shape(t), "b< c<b d<c e<b r< s< *"));
    EXPECT(list_is(names_of(snapshot_tree_topological(t, &np), &np), "b c d e r s"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

/* ---- queries ---- */

static void test_queries(void)
{
    static const char *const pairs[] = {"r<", "a<r", "b<r", "a2<a", "a1<a", "a11<a1", "z<", NULL};
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct cerr e;
    size_t n;

    EXPECT(dir != NULL);
    t = build(dir, pairs, "a1");
    EXPECT(t != NULL);
    EXPECT(snapshot_tree_count(t) == 7);
    EXPECT_STR(snapshot_tree_lookup(t, "a11")->parent, "a1");
    EXPECT(snapshot_tree_lookup(t, "nope") == NULL);
    EXPECT_STR(snapshot_tree_parent(t, "a1")->name, "a");
    EXPECT(snapshot_tree_parent(t, "r") == NULL);
    EXPECT_STR(snapshot_tree_current(t)->name, "a1");
    EXPECT_STR(snapshot_tree_nth(t, 0)->name, "a");
    EXPECT(snapshot_tree_nth(t, 7) == NULL);
    EXPECT(list_is(names_of(snapshot_tree_children(t, "a", &n, &e), &n), "a1 a2"));
    EXPECT(list_is(names_of(snapshot_tree_children(t, "b", &n, &e), &n), ""));
    EXPECT(snapshot_tree_children(t, "nope", &n, &e) == NULL);
    EXPECT(e.code == CE_NO_SNAPSHOT);
    EXPECT(list_is(names_of(snapshot_tree_roots(t, &n), &n), "r z"));
    EXPECT(list_is(names_of(snapshot_tree_leaves(t, &n), &n), "a11 a2 b z"));
    EXPECT(list_is(names_of(snapshot_tree_descendants(t, "r", &n, &e), &n), "a a1 a11 a2 b"));
    EXPECT(list_is(names_of(snapshot_tree_descendants(t, "a11", &n, &e), &n), ""));
    EXPECT(snapshot_tree_descendants(t, "nope", &n, &e) == NULL);
    EXPECT(list_is(names_of(snapshot_tree_topological(t, &n), &n), "r a a1 a11 a2 b z"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

/* ---- mutations ---- */

static void test_add(void)
{
    char *dir = make_dir(), *before, *after;
    struct snapshot_tree *t;
    struct snapshot_def *def;
    struct cerr e;

    EXPECT(dir != NULL);
    t = load_clean(dir);
    EXPECT(t != NULL);
    EXPECT(snapshot_tree_add(t, dir, mkdef("s1", NULL), true, &e) == 0);
    EXPECT(snapshot_tree_add(t, dir, mkdef("s2", "s1"), true, &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s1 *s2"));
    EXPECT(snapshot_tree_add(t, dir, mkdef("s3", "s1"), false, &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s1 s3<s1 *s2"));
    /* Refusals write nothing. */
    before = dir_state(dir);
    EXPECT(snapshot_tree_add(t, dir, mkdef("s1", NULL), true, &e) < 0);
    EXPECT(e.code == CE_SNAPSHOT_EXISTS);
    EXPECT_CONTAINS(e.msg, dir);
    EXPECT(snapshot_tree_add(t, dir, mkdef("s4", "gone"), true, &e) < 0);
    EXPECT(e.code == CE_OPERATION_INVALID);
    EXPECT_CONTAINS(e.msg, "parent gone for snapshot s4 not found");
    def = mkdef("s5", NULL);
    def->creation_time = -1;
    EXPECT(snapshot_tree_add(t, dir, def, true, &e) < 0);
    def = mkdef("s6", NULL);
    def->state = SNAPSHOT_STATE_NONE;
    EXPECT(snapshot_tree_add(t, dir, def, true, &e) < 0);
    EXPECT(snapshot_tree_add(t, dir, mkdef("bad/name", NULL), true, &e) < 0);
    EXPECT(e.code == CE_INVALID_NAME);
    after = dir_state(dir);
    EXPECT_STR(after, before);
    free(before);
    free(after);
    EXPECT(shape_is(t, dir, "s1< s2<s1 s3<s1 *s2"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_redefine_refusals_write_nothing(void)
{
    static const char *const pairs[] = {"s1<", "s2<s1", "s3<s2", NULL};
    char *dir = make_dir(), *before, *after;
    struct snapshot_tree *t;
    struct snapshot_def *def;
    struct cerr e;

    EXPECT(dir != NULL);
    t = build(dir, pairs, "s3");
    EXPECT(t != NULL);
    before = dir_state(dir);
    EXPECT(snapshot_tree_redefine(t, dir, mkdef("s4", "s0"), false, &e) < 0);
    EXPECT(e.code == CE_OPERATION_INVALID);
    EXPECT_CONTAINS(e.msg, "parent s0 for snapshot s4 not found");
    EXPECT(snapshot_tree_redefine(t, dir, mkdef("s2", "s2"), false, &e) < 0);
    EXPECT(e.code == CE_OPERATION_INVALID);
    EXPECT_CONTAINS(e.msg, "cannot set snapshot s2 as its own parent");
    EXPECT(snapshot_tree_redefine(t, dir, mkdef("s1", "s3"), true, &e) < 0);
    EXPECT(e.code == CE_OPERATION_INVALID);
    EXPECT_CONTAINS(e.msg, "parent s2 would create cycle to s1");
    EXPECT(snapshot_tree_redefine(t, dir, mkdef("s2", "s3"), false, &e) < 0);
    EXPECT_CONTAINS(e.msg, "parent s3 would create cycle to s2");
    def = mkdef("s2", "s1");
    def->state = SNAPSHOT_STATE_SHUTOFF;
    EXPECT(snapshot_tree_redefine(t, dir, def, false, &e) < 0);
    EXPECT_CONTAINS(e.msg, "online and offline");
    def = mkdef("s2", "s1");
    def->state = SNAPSHOT_STATE_DISK_SNAPSHOT;
    EXPECT(snapshot_tree_redefine(t, dir, def, false, &e) < 0);
    EXPECT_CONTAINS(e.msg, "disk only and full system");
    after = dir_state(dir);
    EXPECT_STR(after, before);
    free(before);
    free(after);
    EXPECT(shape_is(t, dir, "s1< s2<s1 s3<s2 *s3"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_redefine_replaces_in_place(void)
{
    static const char *const pairs[] = {"s1<", "s2<s1", "s3<s2", "s4<s1", NULL};
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct snapshot_def *def;
    const struct snapshot_def *got;
    struct cerr e;
    char *xml;

    EXPECT(dir != NULL);
    t = build(dir, pairs, "s2");
    EXPECT(t != NULL);
    /* Move s2 (with its child s3) under s4, new description, no <domain>:
     * the old <domain> stays, and s2 stays current. */
    def = mkdef("s2", "s4");
    def->description = xstrdup("moved");
    free(def->domain_xml);
    def->domain_xml = NULL;
    EXPECT(snapshot_tree_redefine(t, dir, def, false, &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s4 s3<s2 s4<s1 *s2"));
    got = snapshot_tree_lookup(t, "s2");
    EXPECT_STR(got->description, "moved");
    /* The tree keeps the <domain> in the file only. */
    EXPECT(got->domain_xml == NULL);
    xml = snapshot_tree_dumpxml(t, dir, "s2", &e);
    EXPECT_CONTAINS(xml, "<name>vm1</name>");
    EXPECT_CONTAINS(xml, "<description>moved</description>");
    free(xml);
    /* A redefinition as a root, made current. */
    EXPECT(snapshot_tree_redefine(t, dir, mkdef("s3", NULL), true, &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s4 s3< s4<s1 *s3"));
    /* A new name, not current: current stays. */
    EXPECT(snapshot_tree_redefine(t, dir, mkdef("s5", "s3"), false, &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s4 s3< s4<s1 s5<s3 *s3"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_set_current(void)
{
    static const char *const pairs[] = {"s1<", "s2<s1", NULL};
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct cerr e;

    EXPECT(dir != NULL);
    t = build(dir, pairs, NULL);
    EXPECT(t != NULL);
    EXPECT(shape_is(t, dir, "s1< s2<s1 *"));
    EXPECT(snapshot_tree_set_current(t, dir, "s1", &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s1 *s1"));
    EXPECT(snapshot_tree_set_current(t, dir, "s2", &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s1 *s2"));
    EXPECT(!snapshot_tree_lookup(t, "s1")->current && snapshot_tree_lookup(t, "s2")->current);
    EXPECT(snapshot_tree_set_current(t, dir, "s9", &e) < 0);
    EXPECT(e.code == CE_NO_SNAPSHOT);
    EXPECT(snapshot_tree_set_current(t, dir, NULL, &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s1 *"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_remove(void)
{
    static const char *const pairs[] = {"r<", "a<r", "b<a", "c<a", "d<c", NULL};
    char *dir = make_dir(), *path, *buf;
    struct snapshot_tree *t;
    struct snapshot_def *def;
    struct cerr e;

    EXPECT(dir != NULL);
    t = build(dir, pairs, "a");
    EXPECT(t != NULL);
    /* Children move to the parent, current moves to the parent. */
    EXPECT(snapshot_tree_remove(t, dir, "a", &e) == 0);
    EXPECT(shape_is(t, dir, "b<r c<r d<c r< *r"));
    path = snapshot_meta_path(dir, "a");
    EXPECT(!path_exists(path));
    free(path);
    path = snapshot_meta_path(dir, "b");
    buf = file_read_all(path, XML_UNTRUSTED_MAX, NULL, &e);
    EXPECT(buf != NULL);
    def = snapshot_def_parse(buf, strlen(buf), SNAPSHOT_PARSE_REDEFINE, &e);
    free(buf);
    free(path);
    EXPECT(def != NULL);
    EXPECT_STR(def->parent, "r");
    snapshot_def_free(def);
    /* Not current: current unchanged. */
    EXPECT(snapshot_tree_remove(t, dir, "c", &e) == 0);
    EXPECT(shape_is(t, dir, "b<r d<r r< *r"));
    /* The current root: children become roots, no current. */
    EXPECT(snapshot_tree_remove(t, dir, "r", &e) == 0);
    EXPECT(shape_is(t, dir, "b< d< *"));
    EXPECT(snapshot_tree_remove(t, dir, "r", &e) < 0);
    EXPECT(e.code == CE_NO_SNAPSHOT);
    /* A current leaf under a parent. */
    EXPECT(snapshot_tree_add(t, dir, mkdef("e", "d"), true, &e) == 0);
    EXPECT(snapshot_tree_remove(t, dir, "e", &e) == 0);
    EXPECT(shape_is(t, dir, "b< d< *d"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

/* ---- libvirt's table (reference 4.4) ---- */

/* p - S - A - A1
 *   |   |   + A2
 *   |   + B
 *   + X */
static const char *const table_tree[] = {"p<", "S<p", "A<S", "A1<A", "A2<A", "B<S", "X<p", NULL};
static const char *const table_tree_root[] = {"S<", "A<S", "A1<A", "A2<A", "B<S", "X<", NULL};

static bool table_row(const char *const *pairs, enum snapshot_delete_mode mode, const char *current,
                      const char *order, const char *want)
{
    char *dir = make_dir();
    struct snapshot_tree *t = dir ? build(dir, pairs, current) : NULL;
    char **names;
    size_t n;
    struct cerr e;
    bool ok = t != NULL;
    char *got;

    if (ok && snapshot_tree_collect_delete(t, "S", mode, &names, &n, &e) == 0) {
        got = xstrdup("");
        for (size_t i = 0; i < n; i++) {
            char *tmp = xasprintf("%s%s%s", got, i ? " " : "", names[i]);
            free(got);
            got = tmp;
        }
        snapshot_names_free(names, n);
        ok = list_is(got, order);
    }
    ok = ok && delete_mode(t, dir, "S", mode, &e) == 0 && shape_is(t, dir, want);
    snapshot_tree_free(t);
    drop_dir(dir);
    return ok;
}

static void test_table_single(void)
{
    const enum snapshot_delete_mode m = SNAPSHOT_DELETE_SINGLE;

    /* S current: its parent becomes current; children re-pointed. */
    EXPECT(table_row(table_tree, m, "S", "S", "A<p A1<A A2<A B<p X<p p< *p"));
    /* S a current root: none. */
    EXPECT(table_row(table_tree_root, m, "S", "S", "A< A1<A A2<A B< X< *"));
    /* Otherwise unchanged. */
    EXPECT(table_row(table_tree, m, "A1", "S", "A<p A1<A A2<A B<p X<p p< *A1"));
    EXPECT(table_row(table_tree, m, NULL, "S", "A<p A1<A A2<A B<p X<p p< *"));
}

static void test_table_children(void)
{
    const enum snapshot_delete_mode m = SNAPSHOT_DELETE_CHILDREN;
    const char *order = "A A1 A2 B S";

    /* Current in the subtree, however deep, climbs to S's parent. */
    EXPECT(table_row(table_tree, m, "A1", order, "X<p p< *p"));
    EXPECT(table_row(table_tree, m, "A", order, "X<p p< *p"));
    EXPECT(table_row(table_tree, m, "S", order, "X<p p< *p"));
    /* ... or to none when S is a root. */
    EXPECT(table_row(table_tree_root, m, "A2", order, "X< *"));
    /* Current outside: unchanged. */
    EXPECT(table_row(table_tree, m, "X", order, "X<p p< *X"));
    EXPECT(table_row(table_tree, m, "p", order, "X<p p< *p"));
}

static void test_table_children_only(void)
{
    const enum snapshot_delete_mode m = SNAPSHOT_DELETE_CHILDREN_ONLY;
    const char *order = "A A1 A2 B";

    /* A current descendant ends at S, which stays, now a leaf. */
    EXPECT(table_row(table_tree, m, "A1", order, "S<p X<p p< *S"));
    EXPECT(table_row(table_tree, m, "B", order, "S<p X<p p< *S"));
    EXPECT(table_row(table_tree_root, m, "A2", order, "S< X< *S"));
    /* S itself or outside: unchanged. */
    EXPECT(table_row(table_tree, m, "S", order, "S<p X<p p< *S"));
    EXPECT(table_row(table_tree, m, "X", order, "S<p X<p p< *X"));
    EXPECT(table_row(table_tree, m, NULL, order, "S<p X<p p< *"));
}

/* ---- libvirt's tests/virsh-snapshot, step by step ---- */

/* snapshot-create-as: the parent is the current snapshot. */
static int create_as(struct snapshot_tree *t, const char *dir, const char *name, struct cerr *e)
{
    const struct snapshot_def *cur = snapshot_tree_current(t);

    return snapshot_tree_add(t, dir, mkdef(name, cur ? cur->name : NULL), true, e);
}

static void test_virsh_snapshot_oracle(void)
{
    char *dir = make_dir(), *dir2 = make_dir(), *s3xml = NULL, *s2xml = NULL;
    struct snapshot_tree *t, *t2;
    struct cerr e;
    size_t n;

    EXPECT(dir != NULL && dir2 != NULL);
    t = load_clean(dir);
    EXPECT(t != NULL);
    EXPECT(create_as(t, dir, "s1", &e) == 0);
    EXPECT(create_as(t, dir, "s1", &e) < 0);
    EXPECT(e.code == CE_SNAPSHOT_EXISTS);
    EXPECT(create_as(t, dir, "s3", &e) == 0);
    EXPECT(create_as(t, dir, "s2", &e) == 0);
    EXPECT(snapshot_tree_set_current(t, dir, "s3", &e) == 0); /* revert */
    EXPECT(create_as(t, dir, "s6", &e) == 0);
    EXPECT(create_as(t, dir, "s5", &e) == 0);
    EXPECT(snapshot_tree_set_current(t, dir, "s6", &e) == 0);
    EXPECT(create_as(t, dir, "s4", &e) == 0);
    EXPECT(snapshot_tree_set_current(t, dir, "s1", &e) == 0);
    EXPECT(create_as(t, dir, "s7", &e) == 0);
    EXPECT(create_as(t, dir, "s8", &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s3 s3<s1 s4<s6 s5<s6 s6<s3 s7<s1 s8<s7 *s8"));
    EXPECT(snapshot_tree_set_current(t, dir, "s1", &e) == 0);
    /* Deleting the current root: no current, several roots. */
    EXPECT(delete_mode(t, dir, "s1", SNAPSHOT_DELETE_SINGLE, &e) == 0);
    EXPECT(snapshot_tree_current(t) == NULL);
    EXPECT(list_is(names_of(snapshot_tree_roots(t, &n), &n), "s3 s7"));
    EXPECT(list_is(names_of(snapshot_tree_leaves(t, &n), &n), "s2 s4 s5 s8"));
    EXPECT(list_is(names_of(snapshot_tree_children(t, "s3", &n, &e), &n), "s2 s6"));
    EXPECT(list_is(names_of(snapshot_tree_descendants(t, "s3", &n, &e), &n), "s2 s6 s4 s5"));
    EXPECT(shape_is(t, dir, "s2<s3 s3< s4<s6 s5<s6 s6<s3 s7< s8<s7 *"));
    /* --children-only s6 while current is s4: current s6. */
    EXPECT(snapshot_tree_set_current(t, dir, "s4", &e) == 0);
    EXPECT(delete_mode(t, dir, "s6", SNAPSHOT_DELETE_CHILDREN_ONLY, &e) == 0);
    EXPECT(shape_is(t, dir, "s2<s3 s3< s6<s3 s7< s8<s7 *s6"));
    /* --children s7 while current is s6: still s6. */
    EXPECT(delete_mode(t, dir, "s7", SNAPSHOT_DELETE_CHILDREN, &e) == 0);
    EXPECT(shape_is(t, dir, "s2<s3 s3< s6<s3 *s6"));
    /* Deleting the current s6: current s3. */
    EXPECT(delete_mode(t, dir, "s6", SNAPSHOT_DELETE_SINGLE, &e) == 0);
    EXPECT(shape_is(t, dir, "s2<s3 s3< *s3"));
    EXPECT(list_is(names_of(snapshot_tree_topological(t, &n), &n), "s3 s2"));
    /* snapshot-dumpxml s3 and s2, then redefine them elsewhere: children
     * before parents is refused, the right order works. */
    s3xml = snapshot_tree_dumpxml(t, dir, "s3", &e);
    s2xml = snapshot_tree_dumpxml(t, dir, "s2", &e);
    EXPECT(s3xml != NULL && s2xml != NULL);
    t2 = load_clean(dir2);
    EXPECT(t2 != NULL);
    EXPECT(snapshot_tree_redefine(
               t2, dir2, snapshot_def_parse(s2xml, strlen(s2xml), SNAPSHOT_PARSE_REDEFINE, &e),
               false, &e) < 0);
    EXPECT_CONTAINS(e.msg, "parent s3 for snapshot s2 not found");
    EXPECT(snapshot_tree_redefine(
               t2, dir2, snapshot_def_parse(s3xml, strlen(s3xml), SNAPSHOT_PARSE_REDEFINE, &e),
               false, &e) == 0);
    EXPECT(snapshot_tree_redefine(
               t2, dir2, snapshot_def_parse(s2xml, strlen(s2xml), SNAPSHOT_PARSE_REDEFINE, &e),
               true, &e) == 0);
    EXPECT(shape_is(t2, dir2, "s2<s3 s3< *s2"));
    EXPECT(list_is(names_of(snapshot_tree_children(t2, "s2", &n, &e), &n), ""));
    free(s3xml);
    free(s2xml);
    snapshot_tree_free(t2);
    snapshot_tree_free(t);
    drop_dir(dir);
    drop_dir(dir2);
}

/* ---- crashes ---- */

typedef int (*tree_op)(struct snapshot_tree *t, const char *dir, struct cerr *e);

/* Runs op in a child that dies before its k-th commit; returns whether it
 * died (false: op completed, so k is past its last commit). */
static bool run_crashing(const char *dir, tree_op op, int k)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        struct cerr e;
        struct snapshot_tree *t = snapshot_tree_load(dir, NULL, NULL, &e);

        crash_at = k;
        _exit(t != NULL && op(t, dir, &e) == 0 ? 0 : 1);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return false;
    return WEXITSTATUS(status) == CRASH_EXIT;
}

static const char *const crash_tree[] = {"p<", "S<p", "A<S", "A1<A", "B<S", "X<p", NULL};

static int op_add(struct snapshot_tree *t, const char *dir, struct cerr *e)
{
    return snapshot_tree_add(t, dir, mkdef("N", "A1"), true, e);
}

/* The same add with both files staged first, as create stages them while
 * QEMU saves. */
static int op_add_staged(struct snapshot_tree *t, const char *dir, struct cerr *e)
{
    struct snapshot_def *def = mkdef("N", "A1");
    struct snapshot_retire r;
    char *staged;

    def->current = true;
    if (snapshot_meta_stage(dir, def, &staged, e) < 0) {
        snapshot_def_free(def);
        return -1;
    }
    if (snapshot_tree_stage_retire(t, dir, &r, e) < 0) {
        file_unstage(staged);
        snapshot_def_free(def);
        return -1;
    }
    return snapshot_tree_add_staged(t, dir, def, staged, &r, e);
}

static int op_remove(struct snapshot_tree *t, const char *dir, struct cerr *e)
{
    return snapshot_tree_lookup(t, "S") ? snapshot_tree_remove(t, dir, "S", e) : 0;
}

static int op_set_current(struct snapshot_tree *t, const char *dir, struct cerr *e)
{
    return snapshot_tree_set_current(t, dir, "B", e);
}

static int op_children(struct snapshot_tree *t, const char *dir, struct cerr *e)
{
    return snapshot_tree_lookup(t, "S") ? delete_mode(t, dir, "S", SNAPSHOT_DELETE_CHILDREN, e) : 0;
}

static int op_children_only(struct snapshot_tree *t, const char *dir, struct cerr *e)
{
    return delete_mode(t, dir, "S", SNAPSHOT_DELETE_CHILDREN_ONLY, e);
}

/* For every crash point k of op: the directory loads with at most a
 * duplicate-current problem, and (when retry) running op again on what a
 * restarted supervisor loads reaches exactly the uninterrupted result.
 * Without retry the loaded shape must be one of the two accepted ones. */
static bool crash_everywhere(tree_op op, const char *current, bool retry, const char *alt)
{
    struct cerr e;
    char *want = NULL;
    bool ok = true, saw_tmp = false;
    int k;

    for (k = 0; ok; k++) {
        char *dir = make_dir(), *got = NULL;
        struct snapshot_tree *t = dir ? build(dir, crash_tree, current) : NULL;
        struct snapshot_problem *p = NULL;
        size_t np = 0;
        bool crashed = false;

        ok = t != NULL;
        if (ok && k == 0) /* the reference: no crash */
            ok = op(t, dir, &e) == 0 && (want = shape(t)) != NULL;
        else if (ok)
            crashed = run_crashing(dir, op, k);
        snapshot_tree_free(t);
        t = ok ? snapshot_tree_load(dir, &p, &np, &e) : NULL;
        for (size_t i = 0; t != NULL && i < np; i++) {
            if (p[i].kind != SNAPSHOT_PROBLEM_DUPLICATE_CURRENT) {
                printf("# crash %d: %s %s\n", k, snapshot_problem_kind_name(p[i].kind),
                       p[i].detail);
                ok = false;
            }
        }
        saw_tmp = saw_tmp || (crashed && has_tmp_file(dir));
        if (ok && retry)
            ok = op(t, dir, &e) == 0;
        got = ok ? shape(t) : NULL;
        if (ok && strcmp(got, want) != 0 && (alt == NULL || strcmp(got, alt) != 0)) {
            /* Without retry an interrupted op may also have not started. */
            char *dir0 = make_dir();
            struct snapshot_tree *t0 = dir0 ? build(dir0, crash_tree, current) : NULL;
            char *before = t0 ? shape(t0) : NULL;

            ok = !retry && before != NULL && strcmp(got, before) == 0;
            if (!ok)
                printf("# crash %d: got '%s', want '%s'\n", k, got, want);
            free(before);
            snapshot_tree_free(t0);
            drop_dir(dir0);
        }
        free(got);
        snapshot_problems_free(p, np);
        snapshot_tree_free(t);
        drop_dir(dir);
        if (k > 0 && !crashed)
            break;
    }
    if (ok && !saw_tmp)
        printf("# no crash left a temporary file behind\n");
    free(want);
    return ok && saw_tmp && k > 2;
}

/* The index stands for unchanged files only; what load made of a file
 * other than what it says (a root for a missing parent) is read from the
 * file again, and so is an entry a parse could not have produced. */
static void test_index(void)
{
    char *dir = make_dir(), *before, *after, *path, *text;
    struct snapshot_problem *p;
    struct snapshot_tree *t;
    size_t np, len;
    struct cerr e;

    EXPECT(dir != NULL);
    EXPECT(put_file(dir, "a", NULL, false) == 0 && put_file(dir, "b", "a", true) == 0 &&
           put_file(dir, "c", "gone", false) == 0);
    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL && np == 1);
    snapshot_problems_free(p, np);
    before = shape(t);
    EXPECT(snapshot_tree_save_index(t, dir, &e) == 0);
    snapshot_tree_free(t);

    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL && np == 1 && p[0].kind == SNAPSHOT_PROBLEM_MISSING_PARENT);
    snapshot_problems_free(p, np);
    after = shape(t);
    EXPECT_STR(after, before);
    free(after);
    EXPECT(snapshot_tree_lookup(t, "b")->ndisks == 1 &&
           strcmp(snapshot_tree_lookup(t, "b")->disks[0].name, "vda") == 0);
    text = snapshot_tree_dumpxml(t, dir, "b", &e);
    EXPECT_CONTAINS(text, "<name>vm1</name>");
    free(text);
    snapshot_tree_free(t);

    /* b rewritten after the index was: read from its file. */
    EXPECT(put_file(dir, "b", NULL, true) == 0);
    t = snapshot_tree_load(dir, NULL, NULL, &e);
    EXPECT(t != NULL && snapshot_tree_lookup(t, "b")->parent == NULL);
    snapshot_tree_free(t);

    /* A forged entry (a disk target no parse accepts) is not taken. */
    path = xasprintf("%s/.index.json", dir);
    text = file_read_all(path, 1 << 20, &len, &e);
    EXPECT(text != NULL && strstr(text, "\"vda\"") != NULL);
    for (char *v = strstr(text, "\"vda\""); v != NULL; v = strstr(v, "\"vda\""))
        v[2] = '/';
    EXPECT(put_raw(dir, ".index.json", text, len) == 0);
    free(text);
    free(path);
    t = snapshot_tree_load(dir, NULL, NULL, &e);
    EXPECT(t != NULL && strcmp(snapshot_tree_lookup(t, "a")->disks[0].name, "vda") == 0);
    snapshot_tree_free(t);
    free(before);
    drop_dir(dir);
}

static void test_crash_add(void)
{
    /* Between the two writes both files claim current; load keeps the
     * newer, the new snapshot, although "X.xml" sorts after "N.xml". */
    EXPECT(crash_everywhere(op_add, "X", false, NULL));
    EXPECT(crash_everywhere(op_add, "A", false, NULL));
    EXPECT(crash_everywhere(op_add_staged, "X", false, NULL));
    EXPECT(crash_everywhere(op_add_staged, "A", false, NULL));
}

/* A retire staged for a snapshot that is no longer current is not used:
 * the current's own file is rewritten instead. */
static void test_add_staged_stale_retire(void)
{
    static const char *const pairs[] = {"s1<", "s2<", NULL};
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct snapshot_def *def = mkdef("s3", "s2");
    struct snapshot_retire r;
    char *staged = NULL;
    struct cerr e;

    EXPECT(dir != NULL);
    t = build(dir, pairs, "s1");
    EXPECT(t != NULL);
    def->current = true;
    EXPECT(snapshot_meta_stage(dir, def, &staged, &e) == 0);
    EXPECT(snapshot_tree_stage_retire(t, dir, &r, &e) == 0 && r.staged != NULL);
    EXPECT_STR(r.name, "s1");
    EXPECT(snapshot_tree_set_current(t, dir, "s2", &e) == 0);
    EXPECT(snapshot_tree_add_staged(t, dir, def, staged, &r, &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2< s3<s2 *s3"));
    EXPECT(!has_tmp_file(dir));
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_crash_add_simulated_by_hand(void)
{
    static const char *const pairs[] = {"s1<", NULL};
    char *dir = make_dir();
    struct snapshot_tree *t;
    struct snapshot_problem *p;
    size_t np;
    struct cerr e;

    EXPECT(dir != NULL);
    t = build(dir, pairs, "s1");
    EXPECT(t != NULL);
    snapshot_tree_free(t);
    /* What add's first step writes: the new file, already current. */
    EXPECT(put_file(dir, "s2", "s1", true) == 0);
    t = snapshot_tree_load(dir, &p, &np, &e);
    EXPECT(t != NULL && np == 1 && p[0].kind == SNAPSHOT_PROBLEM_DUPLICATE_CURRENT);
    EXPECT_STR(p[0].name, "s1");
    EXPECT(list_is(shape(t), "s1< s2<s1 *s2"));
    snapshot_problems_free(p, np);
    /* Any later marker change repairs the files. */
    EXPECT(snapshot_tree_set_current(t, dir, "s1", &e) == 0);
    EXPECT(shape_is(t, dir, "s1< s2<s1 *s1"));
    snapshot_tree_free(t);
    drop_dir(dir);
}

static void test_crash_remove(void)
{
    EXPECT(crash_everywhere(op_remove, "S", true, NULL));
    EXPECT(crash_everywhere(op_remove, "A1", true, NULL));
}

static void test_crash_set_current(void)
{
    EXPECT(crash_everywhere(op_set_current, "A1", false, NULL));
}

static void test_crash_delete_children(void)
{
    EXPECT(crash_everywhere(op_children, "A1", true, NULL));
    EXPECT(crash_everywhere(op_children_only, "A1", true, NULL));
    EXPECT(crash_everywhere(op_children_only, "X", true, NULL));
}

int main(void)
{
    RUN(test_load_empty_and_missing);
    RUN(test_load_ignores_non_metadata);
    RUN(test_load_unreadable_and_mismatch);
    RUN(test_load_missing_parent);
    RUN(test_load_duplicate_current);
    RUN(test_load_duplicate_current_same_time);
    RUN(test_load_cycle);
    RUN(test_queries);
    RUN(test_add);
    RUN(test_redefine_refusals_write_nothing);
    RUN(test_redefine_replaces_in_place);
    RUN(test_set_current);
    RUN(test_remove);
    RUN(test_table_single);
    RUN(test_table_children);
    RUN(test_table_children_only);
    RUN(test_virsh_snapshot_oracle);
    RUN(test_index);
    RUN(test_crash_add);
    RUN(test_add_staged_stale_retire);
    RUN(test_crash_add_simulated_by_hand);
    RUN(test_crash_remove);
    RUN(test_crash_set_current);
    RUN(test_crash_delete_children);
    return unit_done();
}
