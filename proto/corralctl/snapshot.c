/* Handlers of the snapshot-* verbs that show one snapshot or change one,
 * and the inconsistency reports that snapshot-delete and the events verb
 * print.  As in show.c, each handler reads the whole reply before printing
 * anything. */
#include "proto/corralctl/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "proto/client.h"
#include "proto/corralctl/ctl.h"
#include "proto/rpc.h"

int ctl_snap_call_show(struct ctl *ctl, const struct ctl_args *a, cJSON *p, ctl_snap_show_fn show)
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

int ctl_snap_read(const cJSON *o, struct ctl_snap *s)
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

char *ctl_snap_current_name(struct ctl *ctl, const char *vm)
{
    cJSON *r = ctl_call(ctl, "snapshot.current", ctl_name_params(vm));
    const char *cur = NULL;
    char *name = NULL;

    if (r == NULL)
        return NULL;
    if (ctl_reply_str(r, "current", false, &cur) < 0)
        ctl_unexpected();
    else if (cur == NULL)
        ctl_error("domain '%s' has no current snapshot", vm);
    else
        name = xstrdup(cur);
    cJSON_Delete(r);
    return name;
}

int ctl_snap_with_target(struct ctl *ctl, const struct ctl_args *a, bool exclusive,
                         int (*fn)(struct ctl *ctl, const struct ctl_args *a))
{
    bool current = ctl_opt(a, "current") != 0;
    char *argv[2] = {a->argv[0], NULL};
    struct ctl_args b = *a;
    int status;

    if (a->argc > 1 && current && exclusive)
        return ctl_usage_error(a->verb, "SNAP and --current cannot be combined");
    if (a->argc > 1)
        return fn(ctl, a);
    if (!current)
        return ctl_usage_error(a->verb, "SNAP or --current is required");
    argv[1] = ctl_snap_current_name(ctl, a->argv[0]);
    if (argv[1] == NULL)
        return CTL_EXIT_ERROR;
    b.argv = argv;
    b.argc = 2;
    status = fn(ctl, &b);
    free(argv[1]);
    return status;
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

/* virsh's lines first, in its order; then what corral adds. */
static int show_info(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    struct ctl_snap s;
    long long descendants = 0;
    bool metadata = true;
    char count[24];

    if (ctl_snap_read(r, &s) < 0 || ctl_reply_int(r, "descendants", false, &descendants) < 0 ||
        ctl_reply_bool(r, "metadata", &metadata) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    ctl_print_kv("Name", s.name);
    ctl_print_kv("Domain", a->argv[0]);
    ctl_print_kv("Current", s.current ? "yes" : "no");
    ctl_print_kv("State", s.state);
    /* corral takes internal snapshots only. */
    ctl_print_kv("Location", "internal");
    ctl_print_kv("Parent", s.parent != NULL ? s.parent : "-");
    snprintf(count, sizeof(count), "%d", cJSON_GetArraySize(s.children));
    ctl_print_kv("Children", count);
    snprintf(count, sizeof(count), "%lld", descendants);
    ctl_print_kv("Descendants", count);
    ctl_print_kv("Metadata", metadata ? "yes" : "no");
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

static int run_info(struct ctl *ctl, const struct ctl_args *a)
{
    return ctl_snap_call_show(ctl, a, snap_params(a), show_info);
}

int ctl_run_snapshot_info(struct ctl *ctl, const struct ctl_args *a)
{
    return ctl_snap_with_target(ctl, a, true, run_info);
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
    return ctl_snap_call_show(ctl, a, snap_params(a), show_xml);
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

/* virsh's default: the current snapshot's XML, as snapshot-dumpxml. */
static int print_current_xml(struct ctl *ctl, const struct ctl_args *a)
{
    char *name = ctl_snap_current_name(ctl, a->argv[0]);
    cJSON *p, *r;
    int status;

    if (name == NULL)
        return CTL_EXIT_ERROR;
    p = ctl_name_params(a->argv[0]);
    json_add_str(p, "snapshot", name);
    free(name);
    r = ctl_call(ctl, "snapshot.dumpxml", p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_xml(ctl, a, r);
    cJSON_Delete(r);
    return status;
}

int ctl_run_snapshot_current(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *p;

    /* As in virsh: --name is about printing, which setting does not do. */
    if (a->argc > 1 && ctl_opt(a, "name"))
        return ctl_usage_error(a->verb, "--name and SNAP cannot be combined");
    if (a->argc == 1 && !ctl_opt(a, "name"))
        return print_current_xml(ctl, a);
    p = ctl_name_params(a->argv[0]);
    if (a->argc > 1)
        json_add_str(p, "snapshot", a->argv[1]);
    return ctl_snap_call_show(ctl, a, p, show_current);
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

static int run_parent(struct ctl *ctl, const struct ctl_args *a)
{
    return ctl_snap_call_show(ctl, a, snap_params(a), show_parent);
}

int ctl_run_snapshot_parent(struct ctl *ctl, const struct ctl_args *a)
{
    return ctl_snap_with_target(ctl, a, true, run_parent);
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

static int run_delete(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *p = snap_params(a);

    json_add_bool(p, "children", ctl_opt(a, "children") != 0);
    json_add_bool(p, "children_only", ctl_opt(a, "children-only") != 0);
    json_add_bool(p, "metadata", ctl_opt(a, "metadata") != 0);
    json_add_bool(p, "force", ctl_opt(a, "force") != 0);
    return ctl_snap_call_show(ctl, a, p, show_deleted);
}

int ctl_run_snapshot_delete(struct ctl *ctl, const struct ctl_args *a)
{
    return ctl_snap_with_target(ctl, a, true, run_delete);
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

static int run_revert(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *p = snap_params(a);

    json_add_bool(p, "running", ctl_opt(a, "running") != 0);
    json_add_bool(p, "paused", ctl_opt(a, "paused") != 0);
    json_add_bool(p, "force", ctl_opt(a, "force") != 0);
    return ctl_snap_call_show(ctl, a, p, show_reverted);
}

int ctl_run_snapshot_revert(struct ctl *ctl, const struct ctl_args *a)
{
    return ctl_snap_with_target(ctl, a, true, run_revert);
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
    return ctl_snap_call_show(ctl, a, p, show_redefined);
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
    cJSON *r = ctl_call_pages(ctl, a->verb->method, ctl_name_params(a->argv[0]), "reports");
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_check(ctl, a, r);
    cJSON_Delete(r);
    return status;
}

/* One row of the inconsistencies table, its cells formatted. */
struct report_row {
    char time[CTL_SNAP_TIME_MAX];
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
    cJSON *r = ctl_call_pages(ctl, a->verb->method, ctl_name_params(a->argv[0]), "reports");
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_inconsistencies(ctl, a, r);
    cJSON_Delete(r);
    return status;
}
