/* snapshot-list: virsh's table, --name, --parent and --tree, over the
 * selection and filters the server applies, a page at a time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "proto/corralctl/ctl.h"
#include "proto/corralctl/snapshot.h"
#include "proto/rpc.h"

/* No such snapshot, in the tree's index arrays. */
#define NONE SIZE_MAX

/* --tree: children lists built from the parent names of the full list. */
struct tree {
    const struct ctl_snap *s;
    size_t n;
    size_t *first, *next; /* first child, next sibling, in list order */
    char *indent;         /* virsh's prefix of the current line */
    size_t len;
};

static int by_name(const void *x, const void *y)
{
    const struct ctl_snap *const *a = x, *const *b = y;

    return strcmp((*a)->name, (*b)->name);
}

/* Links each snapshot under its parent.  -1 when the list is not a tree
 * under its roots: a name twice, or a parent that is not in it. */
static int link_tree(struct tree *t)
{
    const struct ctl_snap **sorted = xcalloc(t->n, sizeof(*sorted));
    int ok = 0;

    /* Sorted pointers make the parent lookups O(log n) and put duplicates
     * side by side, whatever order the server used. */
    for (size_t i = 0; i < t->n; i++)
        sorted[i] = &t->s[i];
    qsort(sorted, t->n, sizeof(*sorted), by_name);
    for (size_t i = 1; i < t->n && ok == 0; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            ok = -1;
    for (size_t i = t->n; i-- > 0 && ok == 0;) {
        struct ctl_snap key = {.name = t->s[i].parent};
        const struct ctl_snap *pkey = &key, **up;

        t->next[i] = NONE;
        if (key.name == NULL)
            continue;
        up = bsearch(&pkey, sorted, t->n, sizeof(*sorted), by_name);
        if (up == NULL) {
            ok = -1;
            break;
        }
        /* Walking the list backwards keeps the children in its order. */
        t->next[i] = t->first[*up - t->s];
        t->first[*up - t->s] = i;
    }
    free(sorted);
    return ok;
}

/* How many snapshots hang under i, i included. */
static size_t count_tree(const struct tree *t, size_t i)
{
    size_t n = 1;

    for (size_t c = t->first[i]; c != NONE; c = t->next[c])
        n += count_tree(t, c);
    return n;
}

static void indent_push(struct tree *t, const char *two)
{
    memcpy(t->indent + t->len, two, 3);
    t->len += 2;
}

static void indent_pop(struct tree *t)
{
    t->len -= 2;
    t->indent[t->len] = '\0';
}

/* virsh's vshTreePrintInternal: the name, then a "|" line and the children
 * when it has some, then a blank line after the last of a family. */
static void print_node(struct tree *t, size_t i, bool root, bool last)
{
    printf("%s%s%s\n", t->indent, root ? "" : "+- ", t->s[i].name);
    if (!root)
        indent_push(t, last ? "  " : "| ");
    if (t->first[i] != NONE)
        printf("%s  |\n", t->indent);
    indent_push(t, "  ");
    for (size_t c = t->first[i]; c != NONE; c = t->next[c])
        print_node(t, c, false, t->next[c] == NONE);
    indent_pop(t);
    /* virsh pads this line with the indent; trailing blanks only get in
     * the way of diff and grep. */
    if (t->first[i] == NONE && last) {
        size_t blank = t->len;

        while (blank > 0 && t->indent[blank - 1] == ' ')
            blank--;
        printf("%.*s\n", (int)blank, t->indent);
    }
    if (!root)
        indent_pop(t);
}

/* The whole forest, or with start only the tree under it (virsh's --tree
 * with --from or --current). */
static int print_tree(const struct ctl_snap *s, size_t n, const char *start)
{
    struct tree t = {.s = s, .n = n};
    size_t reached = 0, root = NONE;
    int status = CTL_EXIT_OK;

    t.first = xcalloc(n, sizeof(*t.first));
    t.next = xcalloc(n, sizeof(*t.next));
    /* Each level adds at most four characters. */
    t.indent = xcalloc(4 * n + 3, 1);
    for (size_t i = 0; i < n; i++) {
        t.first[i] = NONE;
        if (start != NULL && strcmp(s[i].name, start) == 0)
            root = i;
    }
    if (link_tree(&t) == 0)
        for (size_t i = 0; i < n; i++)
            if (s[i].parent == NULL)
                reached += count_tree(&t, i);
    /* Parents that loop leave snapshots no root leads to; the start must
     * be in the list. */
    if (reached != n || (start != NULL && root == NONE))
        status = ctl_unexpected();
    else if (start != NULL)
        print_node(&t, root, true, false);
    for (size_t i = 0; i < n && status == CTL_EXIT_OK && start == NULL; i++)
        if (s[i].parent == NULL)
            print_node(&t, i, true, false);
    free(t.first);
    free(t.next);
    free(t.indent);
    return status;
}

/* The table's column widths, from the first page: virsh's for a listing of
 * one page, and kept for the pages after it, which print as they come. */
struct widths {
    int name, time, state, parent;
};

static void print_table_head(const struct ctl_snap *s, size_t n, bool parents, struct widths *w)
{
    *w = (struct widths){4, 13, 5, 6};
    for (size_t i = 0; i < n; i++) {
        w->name = ctl_width(s[i].name, w->name);
        w->time = ctl_width(s[i].time, w->time);
        w->state = ctl_width(s[i].state, w->state);
        w->parent = ctl_width(s[i].parent != NULL ? s[i].parent : "-", w->parent);
    }
    printf(" %-*s   %-*s   ", w->name, "Name", w->time, "Creation Time");
    if (parents)
        printf("%-*s   %s\n", w->state, "State", "Parent");
    else
        puts("State");
    ctl_print_rule(1 + w->name + 3 + w->time + 3 + w->state + (parents ? 3 + w->parent : 0));
}

static void print_table_rows(const struct ctl_snap *s, size_t n, bool parents,
                             const struct widths *w)
{
    for (size_t i = 0; i < n; i++) {
        printf(" %-*s   %-*s   ", w->name, s[i].name, w->time, s[i].time);
        if (parents)
            printf("%-*s   %s\n", w->state, s[i].state, s[i].parent != NULL ? s[i].parent : "-");
        else
            puts(s[i].state);
    }
}

/* virsh's --name, with --parent a tab and the parent's name. */
static void print_names(const struct ctl_snap *s, size_t n, bool parents)
{
    for (size_t i = 0; i < n; i++) {
        if (parents)
            printf("%s\t%s\n", s[i].name, s[i].parent != NULL ? s[i].parent : "");
        else
            puts(s[i].name);
    }
}

/* The snapshot --tree starts from: --from's, or the current one. */
static const char *tree_start(const struct ctl_args *a, const struct ctl_snap *s, size_t n)
{
    const char *from = ctl_opt_str(a, "from");

    if (from != NULL || !ctl_opt(a, "current"))
        return from;
    for (size_t i = 0; i < n; i++)
        if (s[i].current)
            return s[i].name;
    return NULL;
}

/* The members a table or --name row shows (the name comes always): what
 * the listing asks the server for when it prints as pages come, a third of
 * a whole snapshot object's bytes to print, relay and parse. */
static const char *const row_fields[] = {"state", "parent", "creation_time"};

/* Reads a row's members of o: ctl_snap_read's checks on those alone. */
static int read_row(const cJSON *o, struct ctl_snap *s)
{
    memset(s, 0, sizeof(*s));
    if (!cJSON_IsObject(o) || ctl_reply_str(o, "name", true, &s->name) < 0 ||
        ctl_reply_str(o, "state", true, &s->state) < 0 ||
        ctl_reply_str(o, "parent", false, &s->parent) < 0 ||
        ctl_reply_int(o, "creation_time", true, &s->creation_time) < 0 ||
        ctl_format_time(s->creation_time, true, s->time, sizeof(s->time)) < 0)
        return -1;
    return 0;
}

/* Reads the snapshot objects of list, whole or (rows) their row members
 * only; NULL when one is not one. */
static struct ctl_snap *read_snaps(const cJSON *list, bool rows, size_t *n)
{
    struct ctl_snap *s;
    const cJSON *o;

    *n = 0;
    if (!cJSON_IsArray(list))
        return NULL;
    s = xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*s));
    cJSON_ArrayForEach(o, list)
    {
        if ((rows ? read_row(o, &s[*n]) : ctl_snap_read(o, &s[*n])) < 0) {
            free(s);
            return NULL;
        }
        (*n)++;
    }
    return s;
}

/* What needs the whole listing before it prints: --json (one document)
 * and --tree (a line's prefix depends on the snapshots after it). */
static int show_whole(const struct ctl *ctl, const struct ctl_args *a, cJSON *r)
{
    size_t n;
    struct ctl_snap *s = read_snaps(cJSON_GetObjectItemCaseSensitive(r, "snapshots"), false, &n);
    int status;

    if (s == NULL)
        return ctl_unexpected();
    if (ctl->json)
        status = ctl_print_json(r, true);
    else if (ctl_opt(a, "current") && tree_start(a, s, n) == NULL)
        status = ctl_error("domain '%s' has no current snapshot", a->argv[0]);
    else
        status = print_tree(s, n, tree_start(a, s, n));
    free(s);
    return status;
}

/* The next page after after (NULL: the first) of the listing base asks
 * for; NULL after printing why. */
static cJSON *fetch_page(struct ctl *ctl, const struct ctl_args *a, const cJSON *base,
                         const char *after, const cJSON **list, const char **next)
{
    cJSON *p = json_dup(base), *r, *nx;

    if (after != NULL)
        json_add_str(p, "after", after);
    r = ctl_call(ctl, a->verb->method, p);
    if (r == NULL)
        return NULL;
    *list = cJSON_GetObjectItemCaseSensitive(r, "snapshots");
    nx = cJSON_GetObjectItemCaseSensitive(r, "next");
    *next = NULL;
    if (cJSON_IsString(nx))
        *next = nx->valuestring;
    if (!cJSON_IsArray(*list) || (*next == NULL && nx != NULL && !cJSON_IsNull(nx))) {
        cJSON_Delete(r);
        ctl_unexpected();
        return NULL;
    }
    return r;
}

/* Fetches page after page: --name and the table print each as it comes,
 * --json and --tree gather them first. */
static int list_pages(struct ctl *ctl, const struct ctl_args *a, const cJSON *base)
{
    bool whole = ctl->json || ctl_opt(a, "tree"), parents = ctl_opt(a, "parent") != 0;
    cJSON *gathered = json_arr(), *r = NULL;
    char *after = NULL;
    struct widths w = {4, 13, 5, 6};
    int status = CTL_EXIT_OK;

    for (bool first = true; status == CTL_EXIT_OK; first = false) {
        const cJSON *list;
        const char *next;
        struct ctl_snap *s;
        size_t n;

        cJSON_Delete(r);
        r = fetch_page(ctl, a, base, after, &list, &next);
        free(after);
        after = NULL;
        if (r == NULL) {
            status = CTL_EXIT_ERROR;
            break;
        }
        if ((s = read_snaps(list, !whole, &n)) == NULL) {
            status = ctl_unexpected();
            break;
        }
        if (whole) {
            for (cJSON *o = list->child; o != NULL; o = o->next)
                json_arr_add(gathered, json_dup(o));
        } else if (ctl_opt(a, "name")) {
            print_names(s, n, parents);
        } else {
            if (first)
                print_table_head(s, n, parents, &w);
            print_table_rows(s, n, parents, &w);
        }
        free(s);
        if (next == NULL)
            break;
        after = xstrdup(next);
    }
    cJSON_Delete(r);
    if (status == CTL_EXIT_OK && whole) {
        cJSON *all = json_obj();

        json_add(all, "snapshots", gathered);
        gathered = NULL;
        status = show_whole(ctl, a, all);
        cJSON_Delete(all);
    } else if (status == CTL_EXIT_OK && !ctl_opt(a, "name")) {
        /* virsh ends its tables with an empty line. */
        putchar('\n');
    }
    cJSON_Delete(gathered);
    return status;
}

/* The filters virsh refuses with --tree, and their protocol params. */
static const char *const list_filters[][2] = {
    {"leaves", "leaves"},           {"no-leaves", "no_leaves"}, {"metadata", "metadata"},
    {"no-metadata", "no_metadata"}, {"inactive", "inactive"},   {"active", "active"},
    {"disk-only", "disk_only"},     {"internal", "internal"},   {"external", "external"},
};

/* virsh's rules that the table's exclusion masks cannot say. */
static int check_list_opts(const struct ctl_args *a)
{
    bool tree = ctl_opt(a, "tree") != 0;

    if (ctl_opt(a, "descendants") && !ctl_opt(a, "from") && !ctl_opt(a, "current"))
        return ctl_usage_error(a->verb, "--descendants requires either --from or --current");
    for (size_t i = 0; tree && i < sizeof(list_filters) / sizeof(list_filters[0]); i++)
        if (ctl_opt(a, list_filters[i][0]))
            return ctl_usage_error(a->verb, "--%s and --tree cannot be combined",
                                   list_filters[i][0]);
    return CTL_EXIT_OK;
}

int ctl_run_snapshot_list(struct ctl *ctl, const struct ctl_args *a)
{
    const char *from = ctl_opt_str(a, "from");
    bool tree = ctl_opt(a, "tree") != 0;
    int status = check_list_opts(a);
    cJSON *p;

    if (status != CTL_EXIT_OK)
        return status;
    p = ctl_name_params(a->argv[0]);
    /* --tree needs every snapshot: it is drawn from their parents. */
    json_add_str(p, "filter", ctl_opt(a, "roots") ? "roots" : "all");
    if (!tree && from != NULL)
        json_add_str(p, "from", from);
    if (!tree && ctl_opt(a, "current"))
        json_add_bool(p, "from_current", true);
    if (!tree && (from != NULL || ctl_opt(a, "current")))
        json_add_bool(p, "descendants", ctl_opt(a, "descendants") != 0);
    for (size_t i = 0; i < sizeof(list_filters) / sizeof(list_filters[0]); i++)
        if (ctl_opt(a, list_filters[i][0]))
            json_add_bool(p, list_filters[i][1], true);
    if (ctl_opt(a, "topological"))
        json_add_bool(p, "topological", true);
    if (!ctl->json && !tree) {
        cJSON *fields = json_arr();

        for (size_t i = 0; i < sizeof(row_fields) / sizeof(row_fields[0]); i++)
            json_arr_add(fields, json_str(row_fields[i]));
        json_add(p, "fields", fields);
    }
    status = list_pages(ctl, a, p);
    cJSON_Delete(p);
    return status;
}
