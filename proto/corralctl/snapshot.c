/* Handlers of the snapshot-* verbs, and the inconsistency reports that
 * snapshot-delete and the events verb print.  As in show.c, each handler
 * reads the whole reply before printing anything. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "proto/client.h"
#include "proto/corralctl/ctl.h"
#include "proto/rpc.h"

/* The widest "%Y-%m-%d %H:%M:%S %z" of a year that fits, and its NUL. */
#define TIME_MAX 48
/* No such snapshot, in the tree's index arrays. */
#define NONE SIZE_MAX

/* One snapshot object of the protocol, borrowed from its reply. */
struct snap {
    const char *name, *state, *parent; /* parent NULL: a root */
    long long creation_time;
    bool current, memory;
    const cJSON *children, *disks; /* arrays, or NULL when absent */
    char time[TIME_MAX];           /* creation_time as snapshot-list shows it */
};

/* What a handler prints from the reply r of its call. */
typedef int (*show_fn)(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r);

/* Calls the verb's method with p (consumed), then shows the reply. */
static int call_show(struct ctl *ctl, const struct ctl_args *a, cJSON *p, show_fn show)
{
    cJSON *r = ctl_call(ctl, a->verb->method, p);
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show(ctl, a, r);
    cJSON_Delete(r);
    return status;
}

/* {name: NAME, snapshot: SNAP}, the params of most snapshot methods. */
static cJSON *snap_params(const struct ctl_args *a)
{
    cJSON *p = ctl_name_params(a->argv[0]);

    json_add_str(p, "snapshot", a->argv[1]);
    return p;
}

/* Checks that disks, if any, are {"target": string, "internal": bool}. */
static int check_disks(const cJSON *disks)
{
    const cJSON *d;

    if (disks == NULL || cJSON_IsNull(disks))
        return 0;
    if (!cJSON_IsArray(disks))
        return -1;
    cJSON_ArrayForEach(d, disks)
    {
        const char *target;
        bool internal;

        if (!cJSON_IsObject(d) || ctl_reply_str(d, "target", true, &target) < 0 ||
            ctl_reply_bool(d, "internal", &internal) < 0)
            return -1;
    }
    return 0;
}

static int read_snap(const cJSON *o, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    if (!cJSON_IsObject(o) || ctl_reply_str(o, "name", true, &s->name) < 0 ||
        ctl_reply_str(o, "state", true, &s->state) < 0 ||
        ctl_reply_str(o, "parent", false, &s->parent) < 0 ||
        ctl_reply_int(o, "creation_time", true, &s->creation_time) < 0 ||
        ctl_reply_bool(o, "current", &s->current) < 0 ||
        ctl_reply_bool(o, "memory", &s->memory) < 0 ||
        ctl_reply_strings(o, "children", &s->children) < 0 ||
        check_disks(cJSON_GetObjectItemCaseSensitive(o, "disks")) < 0 ||
        ctl_format_time(s->creation_time, true, s->time, sizeof(s->time)) < 0)
        return -1;
    s->disks = cJSON_GetObjectItemCaseSensitive(o, "disks");
    return 0;
}

int ctl_read_report(const cJSON *obj, struct ctl_report *rep)
{
    rep->detail = NULL;
    rep->job = NULL;
    rep->reported_before = false;
    rep->time = -1;
    if (!cJSON_IsObject(obj) || ctl_reply_str(obj, "snapshot", true, &rep->snapshot) < 0 ||
        ctl_reply_str(obj, "kind", true, &rep->kind) < 0 ||
        ctl_reply_str(obj, "detail", false, &rep->detail) < 0 ||
        ctl_reply_str(obj, "job", false, &rep->job) < 0 ||
        ctl_reply_bool(obj, "reported_before", &rep->reported_before) < 0 ||
        ctl_reply_strings(obj, "disks", &rep->disks) < 0 ||
        ctl_reply_int(obj, "time", false, &rep->time) < 0)
        return -1;
    return 0;
}

/* The reports member of a reply (absent or null: none), checked whole
 * before anything is printed.  *reps is to be freed; -1 on a bad shape. */
static int read_reports(const cJSON *r, struct ctl_report **reps, size_t *n)
{
    const cJSON *reports = cJSON_GetObjectItemCaseSensitive(r, "reports"), *o;

    *n = 0;
    if (reports != NULL && !cJSON_IsNull(reports) && !cJSON_IsArray(reports))
        return -1;
    *reps = xcalloc((size_t)cJSON_GetArraySize(reports), sizeof(**reps));
    cJSON_ArrayForEach(o, reports)
    {
        if (ctl_read_report(o, &(*reps)[(*n)++]) < 0) {
            free(*reps);
            return -1;
        }
    }
    return 0;
}

void ctl_print_report(FILE *f, const struct ctl_report *rep)
{
    const cJSON *d;
    const char *sep = " on ";

    fputs(rep->kind, f);
    /* A failed job may leave every disk with its tag: then no disk to name. */
    cJSON_ArrayForEach(d, rep->disks)
    {
        fprintf(f, "%s%s", sep, d->valuestring);
        sep = ", ";
    }
    if (rep->detail != NULL)
        fprintf(f, ": %s", rep->detail);
    if (rep->job != NULL)
        fprintf(f, " (job %s)", rep->job);
    if (rep->reported_before)
        fputs(" (reported before)", f);
    fputc('\n', f);
}

static int show_created(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    if (ctl->json)
        return ctl_print_json(r, true);
    printf("Domain snapshot %s created\n", a->argv[1]);
    return CTL_EXIT_OK;
}

/* QEMU reports a snapshot job's states only, so the "bar" is the list of
 * states reached so far, redrawn in place on the terminal. */
static void show_progress(const cJSON *msg, void *arg)
{
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(params, "status");
    int *shown = arg;

    if (!cJSON_IsString(method) || strcmp(method->valuestring, "job.progress") != 0 ||
        !cJSON_IsString(status))
        return;
    fprintf(stderr, "%s%s", *shown ? " > " : "\rsnapshot job: ", status->valuestring);
    fflush(stderr);
    *shown = 1;
}

int ctl_run_snapshot_create(struct ctl *ctl, const struct ctl_args *a)
{
    const char *description = ctl_opt_str(a, "description");
    cJSON *p = snap_params(a);
    int shown = 0, rc;

    if (description != NULL)
        json_add_str(p, "description", description);
    /* Progress only where a person watches; scripts get clean stderr. */
    if (!ctl->json && isatty(STDERR_FILENO)) {
        cJSON *sp = json_obj(), *r;
        json_add_str(sp, "name", a->argv[0]);
        r = ctl_call(ctl, "events.subscribe", sp);
        if (r != NULL)
            rpc_client_on_notify(ctl->client, show_progress, &shown);
        cJSON_Delete(r);
    }
    rc = call_show(ctl, a, p, show_created);
    rpc_client_on_notify(ctl->client, NULL, NULL);
    if (shown)
        fputc('\n', stderr);
    return rc;
}

/* --tree: children lists built from the parent names of the full list. */
struct tree {
    const struct snap *s;
    size_t n;
    size_t *first, *next; /* first child, next sibling, in list order */
    char *indent;         /* virsh's prefix of the current line */
    size_t len;
};

static int by_name(const void *x, const void *y)
{
    const struct snap *const *a = x, *const *b = y;

    return strcmp((*a)->name, (*b)->name);
}

/* Links each snapshot under its parent.  -1 when the list is not a tree
 * under its roots: a name twice, or a parent that is not in it. */
static int link_tree(struct tree *t)
{
    const struct snap **sorted = xcalloc(t->n, sizeof(*sorted));
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
        struct snap key = {.name = t->s[i].parent};
        const struct snap *pkey = &key, **up;

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

static int print_tree(const struct snap *s, size_t n)
{
    struct tree t = {.s = s, .n = n};
    size_t reached = 0;
    int status = CTL_EXIT_OK;

    t.first = xcalloc(n, sizeof(*t.first));
    t.next = xcalloc(n, sizeof(*t.next));
    /* Each level adds at most four characters. */
    t.indent = xcalloc(4 * n + 3, 1);
    for (size_t i = 0; i < n; i++)
        t.first[i] = NONE;
    if (link_tree(&t) == 0)
        for (size_t i = 0; i < n; i++)
            if (s[i].parent == NULL)
                reached += count_tree(&t, i);
    /* Parents that loop leave snapshots no root leads to. */
    if (reached != n)
        status = ctl_unexpected();
    for (size_t i = 0; i < n && status == CTL_EXIT_OK; i++)
        if (s[i].parent == NULL)
            print_node(&t, i, true, false);
    free(t.first);
    free(t.next);
    free(t.indent);
    return status;
}

static void print_table(const struct snap *s, size_t n, bool parents)
{
    int wn = 4, wt = 13, ws = 5, wp = 6;

    for (size_t i = 0; i < n; i++) {
        wn = ctl_width(s[i].name, wn);
        wt = ctl_width(s[i].time, wt);
        ws = ctl_width(s[i].state, ws);
        wp = ctl_width(s[i].parent != NULL ? s[i].parent : "-", wp);
    }
    printf(" %-*s   %-*s   ", wn, "Name", wt, "Creation Time");
    if (parents)
        printf("%-*s   %s\n", ws, "State", "Parent");
    else
        puts("State");
    ctl_print_rule(1 + wn + 3 + wt + 3 + ws + (parents ? 3 + wp : 0));
    for (size_t i = 0; i < n; i++) {
        printf(" %-*s   %-*s   ", wn, s[i].name, wt, s[i].time);
        if (parents)
            printf("%-*s   %s\n", ws, s[i].state, s[i].parent != NULL ? s[i].parent : "-");
        else
            puts(s[i].state);
    }
}

static int show_list(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r, "snapshots"), *o;
    struct snap *s;
    size_t n = 0;
    int status = CTL_EXIT_OK;

    if (!cJSON_IsArray(list))
        return ctl_unexpected();
    s = xcalloc((size_t)cJSON_GetArraySize(list), sizeof(*s));
    cJSON_ArrayForEach(o, list)
    {
        if (read_snap(o, &s[n++]) < 0) {
            free(s);
            return ctl_unexpected();
        }
    }
    if (ctl->json)
        status = ctl_print_json(r, true);
    else if (ctl_opt(a, "tree"))
        status = print_tree(s, n);
    else if (ctl_opt(a, "name"))
        for (size_t i = 0; i < n; i++)
            puts(s[i].name);
    else
        print_table(s, n, ctl_opt(a, "parent") != 0);
    free(s);
    return status;
}

int ctl_run_snapshot_list(struct ctl *ctl, const struct ctl_args *a)
{
    const char *from = ctl_opt_str(a, "from");
    cJSON *p = ctl_name_params(a->argv[0]);

    /* --tree needs every snapshot: it is drawn from their parents. */
    json_add_str(p, "filter",
                 ctl_opt(a, "roots")     ? "roots"
                 : ctl_opt(a, "leaves")  ? "leaves"
                 : ctl_opt(a, "current") ? "current"
                                         : "all");
    if (from != NULL) {
        json_add_str(p, "from", from);
        json_add_bool(p, "descendants", ctl_opt(a, "descendants") != 0);
    }
    return call_show(ctl, a, p, show_list);
}

/* The targets of the disks the snapshot covers, space separated, or "-". */
static void print_disks(const cJSON *disks)
{
    const cJSON *d;
    bool any = false;

    ctl_print_label("Disks");
    cJSON_ArrayForEach(d, disks)
    {
        /* A disk with internal false is not in the snapshot.  read_snap
         * checked the members' types. */
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "internal"))) {
            printf("%s%s", any ? " " : "",
                   cJSON_GetObjectItemCaseSensitive(d, "target")->valuestring);
            any = true;
        }
    }
    puts(any ? "" : "-");
}

static int show_info(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    struct snap s;
    char children[24];

    if (read_snap(r, &s) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    snprintf(children, sizeof(children), "%d", cJSON_GetArraySize(s.children));
    ctl_print_kv("Name", s.name);
    ctl_print_kv("Domain", a->argv[0]);
    ctl_print_kv("Current", s.current ? "yes" : "no");
    ctl_print_kv("State", s.state);
    /* corral takes internal snapshots only. */
    ctl_print_kv("Location", "internal");
    ctl_print_kv("Parent", s.parent != NULL ? s.parent : "-");
    ctl_print_kv("Children", children);
    ctl_print_kv("Memory", s.memory ? "yes" : "no");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(r, "vm_state_size");
    if (cJSON_IsNumber(size)) {
        char bytes[32];
        snprintf(bytes, sizeof(bytes), "%.0f bytes", size->valuedouble);
        ctl_print_kv("VM state size", bytes);
    }
    print_disks(s.disks);
    return CTL_EXIT_OK;
}

int ctl_run_snapshot_info(struct ctl *ctl, const struct ctl_args *a)
{
    return call_show(ctl, a, snap_params(a), show_info);
}

static int show_xml(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const char *xml;
    size_t len;

    if (ctl_reply_str(r, "xml", true, &xml) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    len = strlen(xml);
    fputs(xml, stdout);
    /* Only so that the shell's prompt starts on a line of its own. */
    if (len == 0 || xml[len - 1] != '\n')
        putchar('\n');
    return CTL_EXIT_OK;
}

int ctl_run_snapshot_dumpxml(struct ctl *ctl, const struct ctl_args *a)
{
    return call_show(ctl, a, snap_params(a), show_xml);
}

/* With --json, the result printed; a missing name (value NULL) still fails
 * so that scripts get the same exit status with or without --json. */
static int print_json_name(const cJSON *r, const char *value)
{
    int status = ctl_print_json(r, true);

    return status == CTL_EXIT_OK && value == NULL ? CTL_EXIT_ERROR : status;
}

static int show_current(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const char *current = NULL;

    if (ctl_reply_str(r, "current", false, &current) < 0)
        return ctl_unexpected();
    if (a->argc > 1) {
        if (ctl->json)
            return ctl_print_json(r, true);
        printf("Snapshot %s set as current\n", a->argv[1]);
        return CTL_EXIT_OK;
    }
    if (ctl->json)
        return print_json_name(r, current);
    if (current == NULL)
        return ctl_error("domain '%s' has no current snapshot", a->argv[0]);
    puts(current);
    return CTL_EXIT_OK;
}

int ctl_run_snapshot_current(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *p;

    /* As in virsh: --name is about printing, which setting does not do. */
    if (a->argc > 1 && ctl_opt(a, "name"))
        return ctl_usage_error(a->verb, "--name and SNAP cannot be combined");
    p = ctl_name_params(a->argv[0]);
    if (a->argc > 1)
        json_add_str(p, "snapshot", a->argv[1]);
    return call_show(ctl, a, p, show_current);
}

static int show_parent(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const char *parent = NULL;

    if (ctl_reply_str(r, "parent", false, &parent) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return print_json_name(r, parent);
    if (parent == NULL)
        return ctl_error("snapshot '%s' has no parent", a->argv[1]);
    puts(parent);
    return CTL_EXIT_OK;
}

int ctl_run_snapshot_parent(struct ctl *ctl, const struct ctl_args *a)
{
    return call_show(ctl, a, snap_params(a), show_parent);
}

static int show_deleted(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    struct ctl_report *reps;
    size_t n;

    if (read_reports(r, &reps, &n) < 0)
        return ctl_unexpected();
    if (ctl->json) {
        free(reps);
        return ctl_print_json(r, true);
    }
    printf("Domain snapshot %s %sdeleted\n", a->argv[1],
           ctl_opt(a, "children-only") ? "children " : "");
    /* The deletion went ahead: the differences it met are warnings. */
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, "warning: snapshot %s: ", reps[i].snapshot);
        ctl_print_report(stderr, &reps[i]);
    }
    free(reps);
    return CTL_EXIT_OK;
}

int ctl_run_snapshot_delete(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *p = snap_params(a);

    json_add_bool(p, "children", ctl_opt(a, "children") != 0);
    json_add_bool(p, "children_only", ctl_opt(a, "children-only") != 0);
    json_add_bool(p, "metadata", ctl_opt(a, "metadata") != 0);
    json_add_bool(p, "force", ctl_opt(a, "force") != 0);
    return call_show(ctl, a, p, show_deleted);
}

static int show_reverted(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const char *state;

    if (ctl_reply_str(r, "state", true, &state) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    printf("Domain '%s' reverted to snapshot %s (now %s)\n", a->argv[0], a->argv[1], state);
    return CTL_EXIT_OK;
}

int ctl_run_snapshot_revert(struct ctl *ctl, const struct ctl_args *a)
{
    return call_show(ctl, a, snap_params(a), show_reverted);
}

static int show_redefined(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const char *name;

    /* The name comes from the XML, which only the server parses. */
    if (ctl_reply_str(r, "name", true, &name) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    printf("Domain snapshot %s redefined\n", name);
    return CTL_EXIT_OK;
}

int ctl_run_snapshot_redefine(struct ctl *ctl, const struct ctl_args *a)
{
    char *xml;
    cJSON *p;

    /* virsh's snapshot-create without --redefine takes a snapshot from the
     * XML; corral takes snapshots from a name only. */
    if (!ctl_opt(a, "redefine"))
        return ctl_usage_error(a->verb, "only --redefine is supported (use snapshot-create-as "
                                        "to take a snapshot)");
    xml = ctl_read_xml(a->argv[1], "domainsnapshot");
    if (xml == NULL)
        return CTL_EXIT_ERROR;
    p = ctl_name_params(a->argv[0]);
    json_add_str(p, "xml", xml);
    free(xml);
    json_add_bool(p, "current", ctl_opt(a, "current") != 0);
    return call_show(ctl, a, p, show_redefined);
}

static int show_check(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const cJSON *consistent = cJSON_GetObjectItemCaseSensitive(r, "consistent");
    struct ctl_report *reps;
    size_t n;
    int status;

    if (!cJSON_IsBool(consistent) || read_reports(r, &reps, &n) < 0)
        return ctl_unexpected();
    /* A verdict its own reports contradict cannot be trusted either way. */
    if (cJSON_IsTrue(consistent) != (n == 0)) {
        free(reps);
        return ctl_unexpected();
    }
    /* As fsck: scripts read the verdict from the status, --json or not. */
    status = n == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
    if (ctl->json) {
        free(reps);
        return ctl_print_json(r, true) == CTL_EXIT_OK ? status : CTL_EXIT_ERROR;
    }
    if (n == 0)
        printf("Snapshot metadata and disks of %s agree\n", a->argv[0]);
    /* The differences are what was asked for: standard output. */
    for (size_t i = 0; i < n; i++) {
        printf("%s: ", reps[i].snapshot);
        ctl_print_report(stdout, &reps[i]);
    }
    free(reps);
    return status;
}

int ctl_run_snapshot_check(struct ctl *ctl, const struct ctl_args *a)
{
    return call_show(ctl, a, ctl_name_params(a->argv[0]), show_check);
}

/* One row of the inconsistencies table, its cells formatted. */
struct report_row {
    char time[TIME_MAX];
    char *disks; /* comma separated, or "-" */
};

/* Joins the disk targets with commas, without spaces, so that the column
 * stays one word; "-" when no disk is concerned. */
static char *join_disks(const cJSON *disks)
{
    const cJSON *d;
    size_t len = 2;
    char *s;

    cJSON_ArrayForEach(d, disks)
    {
        len += strlen(d->valuestring) + 1;
    }
    s = xcalloc(len, 1);
    cJSON_ArrayForEach(d, disks)
    {
        if (s[0] != '\0')
            strcat(s, ",");
        strcat(s, d->valuestring);
    }
    if (s[0] == '\0')
        strcpy(s, "-");
    return s;
}

static void print_inconsistencies(const struct ctl_report *reps, struct report_row *rows, size_t n)
{
    int ws = 0, wk = 0, wd = 0;

    for (size_t i = 0; i < n; i++) {
        rows[i].disks = join_disks(reps[i].disks);
        ws = ctl_width(reps[i].snapshot, ws);
        wk = ctl_width(reps[i].kind, wk);
        wd = ctl_width(rows[i].disks, wd);
    }
    for (size_t i = 0; i < n; i++) {
        printf("%s  %-*s  %-*s  %-*s  %s%s%s%s\n", rows[i].time, ws, reps[i].snapshot, wk,
               reps[i].kind, wd, rows[i].disks, reps[i].detail != NULL ? reps[i].detail : "-",
               reps[i].job != NULL ? " (job " : "", reps[i].job != NULL ? reps[i].job : "",
               reps[i].job != NULL ? ")" : "");
        free(rows[i].disks);
    }
}

static int show_inconsistencies(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    struct ctl_report *reps;
    struct report_row *rows;
    size_t n;
    int status = CTL_EXIT_OK;

    /* The list is the whole answer: without it, no "none" can be told. */
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "reports")) ||
        read_reports(r, &reps, &n) < 0)
        return ctl_unexpected();
    rows = xcalloc(n, sizeof(*rows));
    /* The broker stamps every report it keeps. */
    for (size_t i = 0; i < n && status == CTL_EXIT_OK; i++)
        if (reps[i].time < 0 ||
            ctl_format_time(reps[i].time, false, rows[i].time, sizeof(rows[i].time)) < 0)
            status = ctl_unexpected();
    if (status == CTL_EXIT_OK && ctl->json)
        status = ctl_print_json(r, true);
    else if (status == CTL_EXIT_OK && n == 0)
        printf("No inconsistencies reported for %s\n", a->argv[0]);
    else if (status == CTL_EXIT_OK)
        print_inconsistencies(reps, rows, n);
    free(rows);
    free(reps);
    return status;
}

int ctl_run_inconsistencies(struct ctl *ctl, const struct ctl_args *a)
{
    return call_show(ctl, a, ctl_name_params(a->argv[0]), show_inconsistencies);
}
