#include "supervisor/snapshot_list.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json_size.h"
#include "common/log.h"
#include "common/names.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_meta.h"

/* The filter flags of one request, libvirt's VIR_DOMAIN_SNAPSHOT_LIST_*. */
struct filters {
    bool leaves, no_leaves;
    bool metadata, no_metadata;
    bool active, inactive, disk_only;
    bool internal, external;
    bool topological;
};

static int read_filters(const cJSON *params, struct filters *f, struct cerr *e)
{
    *f = (struct filters){0};
    if (rpc_param_bool(params, "leaves", &f->leaves, e) < 0 ||
        rpc_param_bool(params, "no_leaves", &f->no_leaves, e) < 0 ||
        rpc_param_bool(params, "metadata", &f->metadata, e) < 0 ||
        rpc_param_bool(params, "no_metadata", &f->no_metadata, e) < 0 ||
        rpc_param_bool(params, "active", &f->active, e) < 0 ||
        rpc_param_bool(params, "inactive", &f->inactive, e) < 0 ||
        rpc_param_bool(params, "disk_only", &f->disk_only, e) < 0 ||
        rpc_param_bool(params, "internal", &f->internal, e) < 0 ||
        rpc_param_bool(params, "external", &f->external, e) < 0 ||
        rpc_param_bool(params, "topological", &f->topological, e) < 0)
        return -1;
    return 0;
}

/* The members each entry holds: params["fields"], names of the snapshot
 * object's members (name comes always), or all of them. */
static int read_fields(const cJSON *params, unsigned *members, struct cerr *e)
{
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(params, "fields"), *f;

    *members = SNAPCORE_ALL_MEMBERS;
    if (fields == NULL)
        return 0;
    if (!cJSON_IsArray(fields)) {
        cerr_set(e, CE_INVALID_PARAMS, "fields must be an array of member names");
        return -1;
    }
    *members = SNAPCORE_MEMBER(SNAPCORE_NAME);
    cJSON_ArrayForEach(f, fields)
    {
        int m = 0;

        while (m < SNAPCORE_MEMBERS &&
               (!cJSON_IsString(f) || strcmp(f->valuestring, snapcore_member_names[m]) != 0))
            m++;
        if (m == SNAPCORE_MEMBERS) {
            cerr_set(e, CE_INVALID_PARAMS, "fields: '%.64s' is not a member of a snapshot object",
                     cJSON_IsString(f) ? f->valuestring : "(not a string)");
            return -1;
        }
        *members |= SNAPCORE_MEMBER(m);
    }
    return 0;
}

/* No such snapshot, in the name-order indexes below. */
#define NONE SIZE_MAX

/* Every snapshot's children and descendant count, worked out for the whole
 * tree in one pass per page rather than a walk per snapshot listed.
 * Indexes are positions in name order (snapshot_tree_nth). */
struct links {
    size_t *first; /* kids[first[i]] .. kids[first[i + 1] - 1]: i's children */
    const struct snapshot_def **kids;
    size_t *desc;
};

/* The index of name, or NONE. */
static size_t name_index(const struct snapshot_tree *tree, const char *name)
{
    size_t lo = 0, hi = snapshot_tree_count(tree);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(snapshot_tree_nth(tree, mid)->name, name);

        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NONE;
}

static void links_build(const struct snapshot_tree *tree, struct links *l)
{
    size_t n = snapshot_tree_count(tree), top = 0;
    size_t *up = xcalloc(n + 1, sizeof(*up)), *fill = xcalloc(n + 1, sizeof(*fill));
    size_t *kidx = xcalloc(n + 1, sizeof(*kidx)), *stack = xcalloc(n + 1, sizeof(*stack));
    size_t *order = xcalloc(n + 1, sizeof(*order)), norder = 0;

    l->first = xcalloc(n + 1, sizeof(*l->first));
    l->kids = xcalloc(n + 1, sizeof(*l->kids));
    l->desc = xcalloc(n + 1, sizeof(*l->desc));
    for (size_t i = 0; i < n; i++) {
        const char *parent = snapshot_tree_nth(tree, i)->parent;

        up[i] = parent != NULL ? name_index(tree, parent) : NONE;
        if (up[i] != NONE)
            l->first[up[i] + 1]++;
        else
            stack[top++] = i;
    }
    for (size_t i = 0; i < n; i++)
        l->first[i + 1] += l->first[i];
    /* In name order, so that each family is too. */
    for (size_t i = 0; i < n; i++)
        if (up[i] != NONE) {
            size_t at = l->first[up[i]] + fill[up[i]]++;
            l->kids[at] = snapshot_tree_nth(tree, i);
            kidx[at] = i;
        }
    /* Parents before children; then each adds itself and what hangs under
     * it to its parent, children first. */
    while (top > 0) {
        size_t v = stack[--top];

        order[norder++] = v;
        for (size_t k = l->first[v]; k < l->first[v + 1]; k++)
            stack[top++] = kidx[k];
    }
    while (norder-- > 0) {
        size_t v = order[norder];

        if (up[v] != NONE)
            l->desc[up[v]] += 1 + l->desc[v];
    }
    free(up);
    free(fill);
    free(kidx);
    free(stack);
    free(order);
}

static void links_free(struct links *l)
{
    free(l->first);
    free(l->kids);
    free(l->desc);
}

/* The links of the tree listed last, kept from one page of a listing to
 * the next (worked out anew for each, they took a tenth of a listing's
 * time), keyed by the tree and its generation; dropped after a last page.
 * The supervisor's one tree, so the process's. */
static struct {
    bool valid;
    const struct snapshot_tree *tree;
    unsigned long long generation;
    struct links l;
} kept;

static void links_drop(void)
{
    if (kept.valid)
        links_free(&kept.l);
    kept.valid = false;
}

static const struct links *links_get(const struct snapshot_tree *tree)
{
    unsigned long long generation = snapshot_tree_generation(tree);

    if (kept.valid && kept.tree == tree && kept.generation == generation)
        return &kept.l;
    links_drop();
    links_build(tree, &kept.l);
    kept.valid = true;
    kept.tree = tree;
    kept.generation = generation;
    return &kept.l;
}

/* As libvirt: within each group, no flag and every flag both mean "any". */
static bool keep(const struct links *l, size_t i, const struct snapshot_def *d,
                 const struct filters *f)
{
    if (f->leaves != f->no_leaves && (l->first[i] == l->first[i + 1]) != f->leaves)
        return false;
    /* Every snapshot corral lists has metadata. */
    if (f->no_metadata && !f->metadata)
        return false;
    /* ... and is internal. */
    if (f->external && !f->internal)
        return false;
    if (f->active || f->inactive || f->disk_only) {
        bool off = d->state == SNAPSHOT_STATE_SHUTOFF;
        bool disk = d->state == SNAPSHOT_STATE_DISK_SNAPSHOT;
        if (!((f->inactive && off) || (f->disk_only && disk) || (f->active && !off && !disk)))
            return false;
    }
    return true;
}

/* The snapshots the selection params name, before filtering; NULL with e
 * when a named snapshot is missing.  *all tells that every one is. */
static const struct snapshot_def **select_base(struct snapops *so, const cJSON *params, size_t *n,
                                               bool *all, struct cerr *e)
{
    const char *filter = "all", *from = NULL;
    bool descendants = false, from_current = false;

    *all = false;
    if (rpc_param_string(params, "filter", false, &filter, e) < 0 ||
        rpc_param_string(params, "from", false, &from, e) < 0 ||
        rpc_param_bool(params, "from_current", &from_current, e) < 0 ||
        rpc_param_bool(params, "descendants", &descendants, e) < 0)
        return NULL;
    if (from != NULL && from_current) {
        cerr_set(e, CE_INVALID_PARAMS, "from and from_current cannot be combined");
        return NULL;
    }
    if (from_current) {
        const struct snapshot_def *cur = snapshot_tree_current(so->tree);
        if (cur == NULL) {
            cerr_set(e, CE_NO_SNAPSHOT, "VM %s has no current snapshot", so->name);
            return NULL;
        }
        from = cur->name;
    }
    if (from != NULL) {
        if (snapshot_tree_lookup(so->tree, from) == NULL) {
            cerr_set(e, CE_NO_SNAPSHOT, "VM %s has no snapshot named '%s'", so->name, from);
            return NULL;
        }
        return descendants ? snapshot_tree_descendants(so->tree, from, n, e)
                           : snapshot_tree_children(so->tree, from, n, e);
    }
    if (strcmp(filter, "roots") == 0)
        return snapshot_tree_roots(so->tree, n);
    if (strcmp(filter, "leaves") == 0)
        return snapshot_tree_leaves(so->tree, n);
    if (strcmp(filter, "current") == 0) {
        const struct snapshot_def **list = xcalloc(1, sizeof(*list));
        list[0] = snapshot_tree_current(so->tree);
        *n = list[0] != NULL ? 1 : 0;
        return list;
    }
    if (strcmp(filter, "all") != 0) {
        cerr_set(e, CE_INVALID_PARAMS, "filter must be all, roots, leaves or current");
        return NULL;
    }
    *all = true;
    *n = 0;
    return xcalloc(1, sizeof(const struct snapshot_def *));
}

/* Pointer order, to find a selected definition by binary search. */
static int by_address(const void *x, const void *y)
{
    const struct snapshot_def *const *a = x, *const *b = y;

    return (*a > *b) - (*a < *b);
}

/* One page of one listing: where it starts, how much it may hold, and the
 * cursor it answers with. */
struct page {
    const struct snapshot_def **order; /* topological: the tree's pre-order; else NULL */
    size_t norder;
    size_t start;          /* index in the order of the page's first candidate */
    long long limit;       /* entries at most */
    unsigned long long fp; /* the tree's fingerprint, in topological cursors */
};

/* FNV-1a over every snapshot's name and parent, in name order: any create,
 * delete or re-parenting changes it (a topological position means nothing
 * in another tree). */
static unsigned long long tree_fingerprint(const struct snapshot_tree *tree)
{
    unsigned long long h = 14695981039346656037ULL;

    for (size_t i = 0; i < snapshot_tree_count(tree); i++) {
        const struct snapshot_def *d = snapshot_tree_nth(tree, i);
        const char *parts[2] = {d->name, d->parent != NULL ? d->parent : ""};

        for (size_t k = 0; k < 2; k++)
            for (const unsigned char *p = (const unsigned char *)parts[k];; p++) {
                h = (h ^ *p) * 1099511628211ULL;
                if (*p == '\0')
                    break;
            }
    }
    return h;
}

/* Index of the first snapshot, in name order, whose name sorts after after. */
static size_t name_upper_bound(const struct snapshot_tree *tree, const char *after)
{
    size_t lo = 0, hi = snapshot_tree_count(tree);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(snapshot_tree_nth(tree, mid)->name, after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Reads limit and after: by name the cursor is the last name listed; in
 * topological order "FINGERPRINT/NAME", which only the same tree takes. */
static int read_page(struct snapops *so, const cJSON *params, const struct filters *f,
                     struct page *pg, struct cerr *e)
{
    const char *after = NULL, *name;
    char *end;
    struct cerr ne;

    pg->limit = SNAPLIST_PAGE_MAX;
    if (rpc_param_int(params, "limit", 1, SNAPLIST_PAGE_MAX, &pg->limit, e) < 0 ||
        rpc_param_string(params, "after", false, &after, e) < 0)
        return -1;
    if (f->topological) {
        pg->fp = tree_fingerprint(so->tree);
        pg->order = snapshot_tree_topological(so->tree, &pg->norder);
    } else
        pg->norder = snapshot_tree_count(so->tree);
    if (after == NULL)
        return 0;
    name = after;
    if (f->topological) {
        unsigned long long fp = strtoull(after, &end, 16);
        if (strspn(after, "0123456789abcdef") != 16 || end != after + 16 || *end != '/') {
            cerr_set(e, CE_INVALID_PARAMS,
                     "after must be the next of an earlier page of this topological listing");
            return -1;
        }
        if (fp != pg->fp) {
            cerr_set(e, CE_OPERATION_INVALID,
                     "the snapshots of VM %s changed since the previous page of this "
                     "topological listing: list again from the start",
                     so->name);
            return -1;
        }
        name = end + 1;
    }
    if (!name_snapshot_valid(name, &ne)) {
        cerr_set(e, CE_INVALID_PARAMS, "after is not a cursor of snapshot.list: %s", ne.msg);
        return -1;
    }
    if (!f->topological) {
        pg->start = name_upper_bound(so->tree, name);
        return 0;
    }
    for (pg->start = 0; pg->start < pg->norder; pg->start++)
        if (strcmp(pg->order[pg->start]->name, name) == 0) {
            pg->start++;
            return 0;
        }
    /* Same fingerprint, so the same tree: only a forged cursor gets here. */
    cerr_set(e, CE_INVALID_PARAMS, "after is not a cursor of snapshot.list: no snapshot '%s'",
             name);
    return -1;
}

/* The cursor that resumes after d (malloc'd). */
static char *cursor_of(const struct page *pg, const struct snapshot_def *d)
{
    return pg->order != NULL ? xasprintf("%016llx/%s", pg->fp, d->name) : xstrdup(d->name);
}

/* A page's array as text, "[ENTRY,ENTRY,...]": each entry is printed by
 * cJSON straight after the last, from the one entry tree that
 * snapcore_entry_set points at each snapshot in turn, so that the reply
 * never holds a tree of thousands of snapshots, and its size is known
 * exactly. */
struct page_text {
    char *buf; /* malloc'd; room for the closing ']' and the NUL */
    size_t len, cap;
    size_t count;
};

/* Appends o's text unless the page is full: false then.  A page holds at
 * least one entry, however large. */
static bool page_add(struct page_text *t, const cJSON *o)
{
    size_t at = t->len + (t->count > 0);
    char *text;
    size_t n;

    /* What is left, less one byte for the closing ']'. */
    if (t->cap > at + 1 && t->cap - at - 1 <= INT_MAX &&
        cJSON_PrintPreallocated((cJSON *)o, t->buf + at, (int)(t->cap - at - 1), false)) {
        if (t->count > 0)
            t->buf[t->len] = ',';
        t->len = at + strlen(t->buf + at);
        t->count++;
        return true;
    }
    if (t->count > 0)
        return false;
    text = cJSON_PrintUnformatted(o);
    if (text == NULL) {
        log_err("out of memory printing a snapshot listing");
        abort();
    }
    n = strlen(text);
    t->cap = t->len + n + 2;
    t->buf = xreallocarray(t->buf, t->cap, 1);
    memcpy(t->buf + t->len, text, n);
    t->len += n;
    t->count++;
    cJSON_free(text);
    return true;
}

void snaplist_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const struct snapshot_def **base, *last = NULL;
    size_t nbase = 0;
    const struct links *l;
    struct page pg = {0};
    struct page_text t;
    struct snapcore_entry *en;
    unsigned members;
    struct filters f;
    bool all, more = false;
    struct cerr e;
    cJSON *r, *arr;

    if (read_filters(params, &f, &e) < 0 || read_fields(params, &members, &e) < 0 ||
        (base = select_base(so, params, &nbase, &all, &e)) == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    if (read_page(so, params, &f, &pg, &e) < 0) {
        free(pg.order);
        free(base);
        cb(arg, NULL, &e);
        return;
    }
    qsort(base, nbase, sizeof(*base), by_address);
    l = links_get(so->tree);
    /* The text of the page's array, "[...]", at most the page budget. */
    t.cap = JSON_SIZE_PAGE_BUDGET + 1;
    t.buf = xreallocarray(NULL, t.cap, 1);
    t.buf[0] = '[';
    t.len = 1;
    t.count = 0;
    en = snapcore_entry_new(members);
    /* One walk in the order asked for from the cursor on, keeping the
     * selected ones, until the page is full and one more shows there is a
     * next page. */
    for (size_t i = pg.start; i < pg.norder && !more; i++) {
        const struct snapshot_def *d =
            pg.order != NULL ? pg.order[i] : snapshot_tree_nth(so->tree, i);
        size_t at = pg.order != NULL ? name_index(so->tree, d->name) : i;

        if ((!all && bsearch(&d, base, nbase, sizeof(*base), by_address) == NULL) ||
            !keep(l, at, d, &f))
            continue;
        if (t.count == (size_t)pg.limit) {
            more = true;
            break;
        }
        if (page_add(&t, snapcore_entry_set(en, so, d, l->kids + l->first[at],
                                            l->first[at + 1] - l->first[at], l->desc[at])))
            last = d;
        else
            more = true;
    }
    t.buf[t.len++] = ']';
    t.buf[t.len] = '\0';
    arr = cJSON_CreateRaw(t.buf);
    if (arr == NULL) {
        log_err("out of memory answering a snapshot listing of VM %s", so->name);
        abort();
    }
    free(t.buf);
    snapcore_entry_free(en);
    r = json_obj();
    json_add(r, "snapshots", arr);
    /* A page holds at least one snapshot, so more comes with a last. */
    if (more && last != NULL) {
        char *next = cursor_of(&pg, last);
        json_add_str(r, "next", next);
        free(next);
    } else
        json_add(r, "next", json_null());
    if (!more)
        links_drop();
    free(pg.order);
    free(base);
    cb(arg, r, NULL);
}
