#include "supervisor/snapshot_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "proto/rpc.h"
#include "supervisor/journal.h"
#include "supervisor/qemu_cmdline.h"
#include "supervisor/snapshot_meta.h"
#include "supervisor/snapshot_qmp.h"
#include "supervisor/snapshot_ops_priv.h"
#include "supervisor/snapshot_recover.h"
#include "supervisor/snapshot_tree.h"

#define DELETE_TIMEOUT_MS 60000

const char *snapops_vmname(const struct snapops *so)
{
    return vm_def(so->vm)->name;
}

/* Fails when a writable disk cannot hold internal snapshots (raw): as
 * libvirt, the whole snapshot is refused before QEMU is touched. */
int snapops_disks(const struct snapops *so, struct disks *out, struct cerr *e)
{
    const struct domain_def *def = vm_def(so->vm);

    out->n = 0;
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        if (d->readonly)
            continue;
        if (d->format != DISK_FORMAT_QCOW2) {
            cerr_set(e, CE_UNSUPPORTED,
                     "VM %s: disk %s is raw; internal snapshots need qcow2 (or mark it "
                     "<readonly/>)",
                     def->name, d->target);
            return -1;
        }
        out->d[out->n].target = d->target;
        qemu_node_name(d, out->d[out->n].node, sizeof(out->d[out->n].node));
        out->nodes[out->n] = out->d[out->n].node;
        out->n++;
    }
    if (out->n == 0) {
        cerr_set(e, CE_UNSUPPORTED, "VM %s has no writable qcow2 disk to hold a snapshot",
                 def->name);
        return -1;
    }
    return 0;
}

const char *snapops_target_of(const struct disks *ds, const char *node)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (strcmp(ds->d[i].node, node) == 0)
            return ds->d[i].target;
    }
    return node;
}

cJSON *snapops_report_object(const struct snapops *so, const char *snap, const char *kind,
                             const char *job, cJSON *disks, const char *detail)
{
    cJSON *r = json_obj();

    json_add_str(r, "vm", snapops_vmname(so));
    json_add_str(r, "snapshot", snap);
    json_add_str(r, "kind", kind);
    json_add(r, "disks", disks ? disks : json_arr());
    json_add_str(r, "detail", detail);
    if (job != NULL)
        json_add_str(r, "job", job);
    json_add_num(r, "time", (double)time(NULL));
    return r;
}

/* Logged, sent to subscribers (the broker persists what it receives) and
 * returned to the caller in `reports`. */
cJSON *snapops_report(struct snapops *so, const char *snap, const char *kind, const char *job,
                      cJSON *disks, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    cJSON *r = snapops_report_object(so, snap, kind, job, disks, detail);
    log_warn("VM %s: snapshot %s: inconsistency %s: %s", snapops_vmname(so), snap, kind, detail);
    /* Durable before anyone is told: the request's answer, the event, and
     * the broker's copy all come after it. */
    struct cerr e;
    long long seq = journal_append(so->journal, r, &e);
    if (seq < 0)
        log_err("VM %s: cannot journal an inconsistency report: %s", snapops_vmname(so), e.msg);
    json_add_num(r, "seq", (double)seq);
    so->notify("snapshot.inconsistency", json_dup(r), so->notify_arg);
    return r;
}

struct snapops *snapops_new(struct vm *vm, const char *state_dir, snapops_notify_fn notify,
                            void *arg, struct cerr *e)
{
    struct snapops *so = xcalloc(1, sizeof(*so));
    struct snapshot_problem *problems = NULL;
    size_t nproblems = 0;

    so->vm = vm;
    so->notify = notify;
    so->notify_arg = arg;
    so->dir = xasprintf("%s/snapshots", state_dir);
    so->state_dir = xstrdup(state_dir);
    snapops_remove_leftovers(state_dir);
    if (mkdir_p(so->dir, 0700, e) < 0)
        goto fail;
    char *jdir = xasprintf("%s/journal", state_dir);
    so->journal = journal_open(jdir, e);
    free(jdir);
    if (so->journal == NULL)
        goto fail;
    so->tree = snapshot_tree_load(so->dir, &problems, &nproblems, e);
    if (so->tree == NULL) {
        journal_free(so->journal);
        goto fail;
    }
    /* Every supervisor reloads the tree: what an earlier one reported and
     * is still wrong is not reported again. */
    cJSON *findings = json_arr();
    for (size_t i = 0; i < nproblems; i++) {
        cJSON *f = json_obj();
        json_add_str(f, "snapshot", problems[i].name);
        json_add_str(f, "kind", snapshot_problem_kind_name(problems[i].kind));
        json_add(f, "disks", json_arr());
        json_add_str(f, "detail", problems[i].detail);
        json_arr_add(findings, f);
    }
    snapops_report_new(so, "load", findings);
    cJSON_Delete(findings);
    snapshot_problems_free(problems, nproblems);
    return so;
fail:
    free(so->state_dir);
    free(so->dir);
    free(so);
    return NULL;
}

void snapops_resend(struct snapops *so)
{
    const cJSON *pending = journal_pending(so->journal);
    const cJSON *r;

    cJSON_ArrayForEach(r, pending)
        so->notify("snapshot.inconsistency", json_dup(r), so->notify_arg);
}

int snapops_ack(struct snapops *so, long long seq, struct cerr *e)
{
    return journal_ack(so->journal, seq, e);
}

void snapops_free(struct snapops *so)
{
    if (so == NULL)
        return;
    journal_free(so->journal);
    snapshot_tree_free(so->tree);
    cJSON_Delete(so->standing);
    free(so->state_dir);
    free(so->dir);
    free(so);
}

void snapops_event(struct snapops *so, const char *method, const char *snap)
{
    cJSON *ev = json_obj();

    json_add_str(ev, "vm", snapops_vmname(so));
    json_add_str(ev, "snapshot", snap);
    so->notify(method, ev, so->notify_arg);
}

static cJSON *snapshot_json(const struct snapops *so, const struct snapshot_def *d)
{
    cJSON *o = json_obj(), *children = json_arr(), *disks = json_arr();
    const struct snapshot_def **kids;
    size_t n = 0;
    struct cerr e;

    json_add_str(o, "name", d->name);
    json_add_str(o, "description", d->description);
    json_add_str(o, "state", snapshot_state_name(d->state));
    json_add_str(o, "parent", d->parent);
    kids = snapshot_tree_children(so->tree, d->name, &n, &e);
    for (size_t i = 0; kids != NULL && i < n; i++)
        json_arr_add(children, json_str(kids[i]->name));
    free(kids);
    json_add(o, "children", children);
    json_add_bool(o, "current", d->current);
    json_add_num(o, "creation_time", (double)d->creation_time);
    json_add_bool(o, "memory", d->memory_internal);
    for (size_t i = 0; i < d->ndisks; i++) {
        cJSON *dj = json_obj();
        json_add_str(dj, "target", d->disks[i].name);
        json_add_bool(dj, "internal", d->disks[i].internal);
        json_arr_add(disks, dj);
    }
    json_add(o, "disks", disks);
    return o;
}

/* The snapshot named by params["snapshot"], validated and looked up. */
static const struct snapshot_def *param_snapshot(struct snapops *so, const cJSON *params,
                                                 const char **name, struct cerr *e)
{
    const struct snapshot_def *d;

    if (rpc_param_string(params, "snapshot", true, name, e) < 0 || !name_snapshot_valid(*name, e))
        return NULL;
    d = snapshot_tree_lookup(so->tree, *name);
    if (d == NULL)
        cerr_set(e, CE_NO_SNAPSHOT, "VM %s has no snapshot named '%s'", snapops_vmname(so), *name);
    return d;
}

static int require_ready(struct snapops *so, struct cerr *e)
{
    if (!vm_is_active(so->vm)) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s is not running", snapops_vmname(so));
        return -1;
    }
    if (so->busy || snapshot_qmp_jobs_busy(vm_snapjobs(so->vm))) {
        cerr_set(e, CE_BUSY, "VM %s: another snapshot operation is under way; try again",
                 snapops_vmname(so));
        return -1;
    }
    return 0;
}

/* ---- create ------------------------------------------------------------ */

struct create {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    char *name, *description;
    struct disks disks;
    enum snapshot_state state;
    long long creation_time;
};

static void create_finish(struct create *c, cJSON *result, const struct cerr *e)
{
    c->so->busy = false;
    c->cb(c->arg, result, e);
    free(c->name);
    free(c->description);
    free(c);
}

/* The metadata the snapshot gets once QEMU has saved it (new). */
static struct snapshot_def *create_def(const struct create *c)
{
    const struct snapops *so = c->so;
    const struct domain_def *def = vm_def(so->vm);
    const struct snapshot_def *cur = snapshot_tree_current(so->tree);
    struct snapshot_def *d = xcalloc(1, sizeof(*d));

    d->name = xstrdup(c->name);
    d->description = c->description ? xstrdup(c->description) : NULL;
    d->state = c->state;
    d->parent = cur ? xstrdup(cur->name) : NULL;
    d->creation_time = c->creation_time;
    /* A maintenance QEMU has no guest: what it saves is not the VM's
     * memory, so the snapshot is recorded as libvirt records an offline
     * one. */
    d->memory_internal = !vm_is_maintenance(so->vm);
    d->ndisks = def->ndisks;
    d->disks = xcalloc(def->ndisks, sizeof(*d->disks));
    for (size_t i = 0; i < def->ndisks; i++) {
        d->disks[i].name = xstrdup(def->disks[i].target);
        d->disks[i].internal = !def->disks[i].readonly;
    }
    d->domain_xml = domain_def_format(def);
    d->current = true;
    return d;
}

/* A job whose end QEMU could not tell: the intent stays for recovery, and
 * the user learns now what is known. */
static void report_unknown(struct snapops *so, const char *snap, const char *op,
                           const struct snapjob_result *r, cJSON *disks, const char *kept)
{
    cJSON *rep = snapops_report(
        so, snap, "interrupted", r->job_id, disks,
        "%s was cut short (%s); %s; when QEMU next answers, corral settles it from what the "
        "disks hold and reports again only where they disagree",
        op, r->err.msg, kept);

    cJSON_Delete(rep);
    snapops_intent_reported(so);
}

static void create_saved(const struct snapjob_result *r, void *arg)
{
    struct create *c = arg;
    struct snapops *so = c->so;
    struct cerr e;

    if (r->outcome == SNAPJOB_UNKNOWN) {
        report_unknown(so, c->name, "snapshot-save", r,
                       snapops_targets(&c->disks, c->disks.nodes, c->disks.n),
                       "no metadata was written");
        cerr_set(&e, CE_JOB_FAILED, "VM %s: snapshot %s may not have been created: %s",
                 snapops_vmname(so), c->name, r->err.msg);
        create_finish(c, NULL, &e);
        return;
    }
    if (!r->ok) {
        snapops_intent_end(so);
        cerr_set(&e, CE_JOB_FAILED, "VM %s: snapshot %s was not created: %s", snapops_vmname(so),
                 c->name, r->qemu_error ? r->qemu_error : r->err.msg);
        create_finish(c, NULL, &e);
        return;
    }
    if (snapshot_tree_add(so->tree, so->dir, create_def(c), true, &e) < 0) {
        /* The disks hold it but the metadata could not be written: say so;
         * recovery and snapshot-check find it as orphan-on-disk. */
        cerr_set(&e, CE_SYSTEM,
                 "VM %s: snapshot %s is on disk but its metadata could not be "
                 "written: %.400s",
                 snapops_vmname(so), c->name, e.msg);
        create_finish(c, NULL, &e);
        return;
    }
    snapops_intent_end(so);
    snapops_event(so, "snapshot.created", c->name);
    log_info("VM %s: snapshot %s created", snapops_vmname(so), c->name);
    create_finish(c, snapshot_json(so, snapshot_tree_lookup(so->tree, c->name)), NULL);
}

/* The intent of a job on devices (format nodes): what recovery needs. */
static cJSON *intent_new(const char *op, const char *snap, const char *job_id,
                         const struct disks *ds, const char *const *nodes, size_t n)
{
    cJSON *in = json_obj();

    json_add_str(in, "op", op);
    json_add_str(in, "snapshot", snap);
    json_add_str(in, "job", job_id);
    json_add(in, "devices", snapops_targets(ds, nodes, n));
    return in;
}

/* QEMU reports no progress within a job (always 1/1), only its state
 * changes: those become job.progress events, which is what a UI can show. */
static void job_progress(const char *job_id, const char *status, void *arg)
{
    /* arg is one of the operation records (create, del, revert), whose
     * first member is the snapops: C lets a struct pointer be read as a
     * pointer to its first member. */
    struct snapops *so = *(struct snapops **)arg;
    cJSON *ev = json_obj();

    json_add_str(ev, "vm", snapops_vmname(so));
    json_add_str(ev, "job", job_id);
    json_add_str(ev, "status", status);
    so->notify("job.progress", ev, so->notify_arg);
}

static int ram_timeout_ms(const struct snapops *so)
{
    /* The monitor is blocked while RAM is written: allow 20 MB/s, well
     * below the 300 MB/s measured, plus a margin. */
    return 30000 + (int)(vm_def(so->vm)->memory_kib / 1024 / 20 * 1000);
}

static void create_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct create *c = arg;
    struct snapops *so = c->so;
    struct cerr err;
    const char *holders[DOMAIN_MAX_DISKS];
    size_t n;

    if (e != NULL) {
        create_finish(c, NULL, e);
        return;
    }
    /* QEMU checks for an existing tag only on the VM-state disk and would
     * happily make a second snapshot of that name on the others. */
    n = snapshot_qmp_holders(l, c->name, holders);
    if (n > 0) {
        cerr_set(&err, CE_SNAPSHOT_EXISTS,
                 "VM %s: a snapshot named '%s' already exists on disk %s (not in corral's "
                 "metadata; see snapshot-check)",
                 snapops_vmname(so), c->name, snapops_target_of(&c->disks, holders[0]));
        snapshot_qmp_nodes_free(l);
        create_finish(c, NULL, &err);
        return;
    }
    snapshot_qmp_nodes_free(l);
    struct snapshot_def *d = create_def(c);
    char *xml = snapshot_def_format(d, false, &err);
    char job_id[SNAPJOB_ID_MAX];
    snapshot_qmp_job_id(SNAPJOB_SAVE, job_id);
    cJSON *intent = intent_new("create", c->name, job_id, &c->disks, c->disks.nodes, c->disks.n);
    snapshot_def_free(d);
    if (xml == NULL) {
        cJSON_Delete(intent);
        create_finish(c, NULL, &err);
        return;
    }
    json_add_str(intent, "metadata", xml);
    free(xml);
    if (snapops_intent_begin(so, intent, &err) < 0) {
        create_finish(c, NULL, &err);
        return;
    }
    if (snapshot_qmp_job(vm_snapjobs(so->vm), SNAPJOB_SAVE, job_id, c->name, c->disks.nodes[0],
                         c->disks.nodes, c->disks.n, ram_timeout_ms(so), job_progress, create_saved,
                         c, &err) < 0) {
        snapops_intent_end(so);
        create_finish(c, NULL, &err);
    }
}

void snapops_create(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name = NULL, *desc = NULL;
    struct create *c;
    struct cerr e;

    if (rpc_param_string(params, "snapshot", true, &name, &e) < 0 ||
        rpc_param_string(params, "description", false, &desc, &e) < 0 ||
        !name_snapshot_valid(name, &e) || require_ready(so, &e) < 0)
        goto fail;
    if (strlen(name) > SNAPSHOT_META_NAME_MAX) {
        cerr_set(&e, CE_INVALID_NAME, "snapshot name is %zu bytes; corral stores at most %d",
                 strlen(name), SNAPSHOT_META_NAME_MAX);
        goto fail;
    }
    if (snapshot_tree_lookup(so->tree, name) != NULL) {
        cerr_set(&e, CE_SNAPSHOT_EXISTS, "VM %s already has a snapshot named '%s'",
                 snapops_vmname(so), name);
        goto fail;
    }
    c = xcalloc(1, sizeof(*c));
    if (snapops_disks(so, &c->disks, &e) < 0) {
        free(c);
        goto fail;
    }
    c->so = so;
    c->cb = cb;
    c->arg = arg;
    c->name = xstrdup(name);
    c->description = desc ? xstrdup(desc) : NULL;
    c->creation_time = (long long)time(NULL);
    if (vm_is_maintenance(so->vm))
        c->state = SNAPSHOT_STATE_SHUTOFF;
    else if (vm_get_state(so->vm) == VM_PAUSED)
        c->state = SNAPSHOT_STATE_PAUSED;
    else
        c->state = SNAPSHOT_STATE_RUNNING;
    so->busy = true;
    snapshot_qmp_list(vm_qmp_conn(so->vm), c->disks.nodes, c->disks.n, LIST_TIMEOUT_MS,
                      create_listed, c);
    return;
fail:
    cb(arg, NULL, &e);
}

/* ---- delete ------------------------------------------------------------ */

struct del {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    bool metadata_only, force;
    char **names;
    size_t n, next;
    struct disks disks;
    cJSON *deleted, *reports;
    const char *holders[DOMAIN_MAX_DISKS];
    size_t nholders;
    char job_error[CERR_MSG_MAX];
    char job_id[SNAPJOB_ID_MAX]; /* the failed job's */
};

static void del_finish(struct del *d, const struct cerr *e)
{
    struct snapops *so = d->so;
    const struct snapshot_def *cur = snapshot_tree_current(so->tree);

    so->busy = false;
    if (e != NULL) {
        /* The reports made so far were sent as events already. */
        d->cb(d->arg, NULL, e);
    } else {
        cJSON *r = json_obj();
        json_add(r, "deleted", d->deleted);
        json_add_str(r, "current", cur ? cur->name : NULL);
        json_add(r, "reports", d->reports);
        d->deleted = d->reports = NULL;
        d->cb(d->arg, r, NULL);
    }
    cJSON_Delete(d->deleted);
    cJSON_Delete(d->reports);
    snapshot_names_free(d->names, d->n);
    free(d);
}

static void del_next(struct del *d);

static int del_metadata(struct del *d, const char *name, struct cerr *e)
{
    struct snapops *so = d->so;

    if (snapshot_tree_remove(so->tree, so->dir, name, e) < 0)
        return -1;
    json_arr_add(d->deleted, json_str(name));
    snapops_standing_forget(so, name);
    snapops_event(so, "snapshot.deleted", name);
    log_info("VM %s: snapshot %s deleted", snapops_vmname(so), name);
    return 0;
}

cJSON *snapops_targets(const struct disks *ds, const char *const *nodes, size_t n)
{
    cJSON *a = json_arr();

    for (size_t i = 0; i < n; i++)
        json_arr_add(a, json_str(snapops_target_of(ds, nodes[i])));
    return a;
}

static void del_relisted(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg);
static void del_failed_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg);

static void del_job_done(const struct snapjob_result *r, void *arg)
{
    struct del *d = arg;
    struct snapops *so = d->so;
    struct cerr e;

    if (r->outcome == SNAPJOB_UNKNOWN) {
        report_unknown(so, d->names[d->next], "snapshot-delete", r,
                       snapops_targets(&d->disks, d->holders, d->nholders), "the metadata is kept");
        cerr_set(&e, CE_JOB_FAILED, "VM %s: deleting snapshot %s was cut short: %s",
                 snapops_vmname(so), d->names[d->next], r->err.msg);
        del_finish(d, &e);
        return;
    }
    if (r->ok) {
        /* QEMU removes one copy per call and never says when a disk lacked
         * the tag: look again. */
        snapshot_qmp_list(vm_qmp_conn(so->vm), d->disks.nodes, d->disks.n, LIST_TIMEOUT_MS,
                          del_relisted, d);
        return;
    }
    /* QEMU does not roll back the devices it already processed: find out
     * which those are (when QEMU still answers) before reporting. */
    snprintf(d->job_error, sizeof(d->job_error), "%s", r->qemu_error ? r->qemu_error : r->err.msg);
    snprintf(d->job_id, sizeof(d->job_id), "%s", r->job_id);
    snapshot_qmp_list(vm_qmp_conn(so->vm), d->disks.nodes, d->disks.n, LIST_TIMEOUT_MS,
                      del_failed_listed, d);
}

static void del_failed_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct del *d = arg;
    struct snapops *so = d->so;
    const char *name = d->names[d->next];
    const char *still[DOMAIN_MAX_DISKS];
    cJSON *done = json_arr();
    size_t nstill = d->nholders;
    struct cerr err;
    char *done_text;

    if (l != NULL) {
        nstill = snapshot_qmp_holders(l, name, still);
        for (size_t j = 0; j < d->nholders; j++) {
            if (snapshot_qmp_count(l, d->holders[j], name) == 0)
                json_arr_add(done, json_str(snapops_target_of(&d->disks, d->holders[j])));
        }
    } else
        memcpy(still, d->holders, sizeof(still[0]) * d->nholders);
    done_text = cJSON_PrintUnformatted(done);
    /* The report's disks are those that may still hold the data. */
    json_arr_add(d->reports,
                 snapops_report(so, name, "job-failed", d->job_id,
                                snapops_targets(&d->disks, still, nstill),
                                "snapshot-delete failed (%s); %s: %s; %s", d->job_error,
                                l != NULL ? "already deleted on" : "QEMU cannot say what was done",
                                l != NULL ? (done_text ? done_text : "?") : (e ? e->msg : ""),
                                d->force ? "metadata removed anyway (--force)" : "metadata kept"));
    cJSON_free(done_text);
    cJSON_Delete(done);
    snapshot_qmp_nodes_free(l);
    /* The report says what was done: nothing is left to settle. */
    snapops_intent_end(so);
    if (d->force && del_metadata(d, name, &err) == 0) {
        d->next++;
        del_next(d);
        return;
    }
    cerr_set(&err, CE_JOB_FAILED, "VM %s: deleting snapshot %s failed: %s", snapops_vmname(so),
             name, d->job_error);
    del_finish(d, &err);
}

static void del_relisted(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct del *d = arg;
    const char *name = d->names[d->next];
    const char *left[DOMAIN_MAX_DISKS];
    struct cerr err;
    size_t n;

    if (e != NULL) {
        del_finish(d, e);
        return;
    }
    n = snapshot_qmp_holders(l, name, left);
    if (n > 0)
        json_arr_add(
            d->reports,
            snapops_report(d->so, name, "duplicate-on-disk", NULL,
                           snapops_targets(&d->disks, left, n),
                           "the disks listed held the tag more than once; one copy remains"));
    snapshot_qmp_nodes_free(l);
    if (del_metadata(d, name, &err) < 0) {
        del_finish(d, &err);
        return;
    }
    snapops_intent_end(d->so);
    d->next++;
    del_next(d);
}

/* Compares what the metadata says with what QEMU holds, reports every
 * difference, and deletes exactly where QEMU holds the tag. */
static void del_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct del *d = arg;
    struct snapops *so = d->so;
    const char *name = d->names[d->next];
    const struct snapshot_def *meta = snapshot_tree_lookup(so->tree, name);
    cJSON *missing = json_arr(), *extra = json_arr();
    struct cerr err;

    if (e != NULL) {
        cJSON_Delete(missing);
        cJSON_Delete(extra);
        del_finish(d, e);
        return;
    }
    d->nholders = snapshot_qmp_holders(l, name, d->holders);
    /* The names borrow from l, which goes away before the job runs. */
    for (size_t j = 0; j < d->nholders; j++) {
        for (size_t k = 0; k < d->disks.n; k++) {
            if (strcmp(d->holders[j], d->disks.d[k].node) == 0)
                d->holders[j] = d->disks.d[k].node;
        }
    }
    for (size_t i = 0; meta != NULL && i < meta->ndisks; i++) {
        bool held = false;
        if (!meta->disks[i].internal)
            continue;
        for (size_t j = 0; j < d->nholders; j++)
            held |= strcmp(snapops_target_of(&d->disks, d->holders[j]), meta->disks[i].name) == 0;
        if (!held)
            json_arr_add(missing, json_str(meta->disks[i].name));
    }
    for (size_t j = 0; j < d->nholders; j++) {
        const char *t = snapops_target_of(&d->disks, d->holders[j]);
        bool named = false;
        for (size_t i = 0; meta != NULL && i < meta->ndisks; i++)
            named |= meta->disks[i].internal && strcmp(meta->disks[i].name, t) == 0;
        if (!named)
            json_arr_add(extra, json_str(t));
    }
    snapshot_qmp_nodes_free(l);
    /* A delete cut short and tried again meets the same differences: they
     * are reported once. */
    if (cJSON_GetArraySize(missing) > 0)
        json_arr_add(d->reports,
                     snapops_report_difference(so, name, "missing", missing,
                                               "the metadata names these disks but their "
                                               "images do not hold the snapshot"));
    else
        cJSON_Delete(missing);
    if (cJSON_GetArraySize(extra) > 0)
        json_arr_add(d->reports,
                     snapops_report_difference(so, name, "extra", extra,
                                               "these images hold the snapshot although "
                                               "the metadata did not name them; deleted "
                                               "there too"));
    else
        cJSON_Delete(extra);
    if (d->nholders == 0) {
        /* Nothing on disk: nothing is sent to QEMU. */
        if (del_metadata(d, name, &err) < 0) {
            del_finish(d, &err);
            return;
        }
        d->next++;
        del_next(d);
        return;
    }
    char job_id[SNAPJOB_ID_MAX];
    snapshot_qmp_job_id(SNAPJOB_DELETE, job_id);
    cJSON *intent = intent_new("delete", name, job_id, &d->disks, d->holders, d->nholders);
    cJSON *remaining = json_arr();
    for (size_t i = d->next + 1; i < d->n; i++)
        json_arr_add(remaining, json_str(d->names[i]));
    json_add(intent, "remaining", remaining);
    json_add_bool(intent, "force", d->force);
    if (snapops_intent_begin(so, intent, &err) < 0) {
        del_finish(d, &err);
        return;
    }
    if (snapshot_qmp_job(vm_snapjobs(so->vm), SNAPJOB_DELETE, job_id, name, NULL, d->holders,
                         d->nholders, DELETE_TIMEOUT_MS, job_progress, del_job_done, d, &err) < 0) {
        snapops_intent_end(so);
        del_finish(d, &err);
    }
}

static void del_next(struct del *d)
{
    struct cerr e;

    if (d->next == d->n) {
        del_finish(d, NULL);
        return;
    }
    if (d->metadata_only) {
        if (del_metadata(d, d->names[d->next], &e) < 0) {
            del_finish(d, &e);
            return;
        }
        d->next++;
        del_next(d);
        return;
    }
    snapshot_qmp_list(vm_qmp_conn(d->so->vm), d->disks.nodes, d->disks.n, LIST_TIMEOUT_MS,
                      del_listed, d);
}

void snapops_delete(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    bool children = false, children_only = false, metadata = false, force = false;
    enum snapshot_delete_mode mode = SNAPSHOT_DELETE_SINGLE;
    const char *name = NULL;
    struct del *d;
    struct cerr e;

    if (rpc_param_bool(params, "children", &children, &e) < 0 ||
        rpc_param_bool(params, "children_only", &children_only, &e) < 0 ||
        rpc_param_bool(params, "metadata", &metadata, &e) < 0 ||
        rpc_param_bool(params, "force", &force, &e) < 0)
        goto fail;
    if (children && children_only) {
        cerr_set(&e, CE_INVALID_PARAMS, "\"children\" and \"children_only\" exclude each other");
        goto fail;
    }
    if (param_snapshot(so, params, &name, &e) == NULL)
        goto fail;
    if (!metadata && require_ready(so, &e) < 0)
        goto fail;
    if (so->busy) {
        cerr_set(&e, CE_BUSY, "VM %s: another snapshot operation is under way", snapops_vmname(so));
        goto fail;
    }
    if (children)
        mode = SNAPSHOT_DELETE_CHILDREN;
    else if (children_only)
        mode = SNAPSHOT_DELETE_CHILDREN_ONLY;
    d = xcalloc(1, sizeof(*d));
    if (!metadata && snapops_disks(so, &d->disks, &e) < 0) {
        free(d);
        goto fail;
    }
    if (snapshot_tree_collect_delete(so->tree, name, mode, &d->names, &d->n, &e) < 0) {
        free(d);
        goto fail;
    }
    d->so = so;
    d->cb = cb;
    d->arg = arg;
    d->metadata_only = metadata;
    d->force = force;
    d->deleted = json_arr();
    d->reports = json_arr();
    so->busy = true;
    del_next(d);
    return;
fail:
    cb(arg, NULL, &e);
}

/* ---- queries ------------------------------------------------------------ */

void snapops_list(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *filter = "all", *from = NULL;
    bool descendants = false;
    const struct snapshot_def **list = NULL;
    size_t n = 0;
    struct cerr e;
    cJSON *r, *arr;

    if (rpc_param_string(params, "filter", false, &filter, &e) < 0 ||
        rpc_param_string(params, "from", false, &from, &e) < 0 ||
        rpc_param_bool(params, "descendants", &descendants, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    if (from != NULL) {
        if (snapshot_tree_lookup(so->tree, from) == NULL) {
            cerr_set(&e, CE_NO_SNAPSHOT, "VM %s has no snapshot named '%s'", snapops_vmname(so),
                     from);
            cb(arg, NULL, &e);
            return;
        }
        list = descendants ? snapshot_tree_descendants(so->tree, from, &n, &e)
                           : snapshot_tree_children(so->tree, from, &n, &e);
    } else if (strcmp(filter, "roots") == 0)
        list = snapshot_tree_roots(so->tree, &n);
    else if (strcmp(filter, "leaves") == 0)
        list = snapshot_tree_leaves(so->tree, &n);
    else if (strcmp(filter, "current") == 0) {
        const struct snapshot_def *cur = snapshot_tree_current(so->tree);
        list = xcalloc(1, sizeof(*list));
        n = cur ? 1 : 0;
        list[0] = cur;
    } else if (strcmp(filter, "all") != 0) {
        cerr_set(&e, CE_INVALID_PARAMS, "filter must be all, roots, leaves or current");
        cb(arg, NULL, &e);
        return;
    }
    r = json_obj();
    arr = json_arr();
    if (list == NULL && from == NULL && strcmp(filter, "all") == 0) {
        for (size_t i = 0; i < snapshot_tree_count(so->tree); i++)
            json_arr_add(arr, snapshot_json(so, snapshot_tree_nth(so->tree, i)));
    }
    for (size_t i = 0; list != NULL && i < n; i++)
        json_arr_add(arr, snapshot_json(so, list[i]));
    free(list);
    json_add(r, "snapshots", arr);
    cb(arg, r, NULL);
}

struct info {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    char *name;
    struct disks disks;
};

/* The size of the saved VM state is QEMU's to tell (it is on the VM-state
 * disk only): the metadata has no such field. */
static void info_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct info *in = arg;
    const struct snapshot_def *d = snapshot_tree_lookup(in->so->tree, in->name);
    unsigned long long size = 0;
    cJSON *r;

    (void)e;
    for (size_t k = 0; l != NULL && k < l->n; k++) {
        for (size_t i = 0; i < l->nodes[k].nsnaps; i++) {
            if (strcmp(l->nodes[k].snaps[i].name, in->name) == 0 &&
                l->nodes[k].snaps[i].vm_state_size > size)
                size = l->nodes[k].snaps[i].vm_state_size;
        }
    }
    snapshot_qmp_nodes_free(l);
    if (d == NULL) {
        struct cerr err;
        cerr_set(&err, CE_NO_SNAPSHOT, "VM %s has no snapshot named '%s'", snapops_vmname(in->so),
                 in->name);
        in->cb(in->arg, NULL, &err);
    } else {
        r = snapshot_json(in->so, d);
        json_add_num(r, "vm_state_size", (double)size);
        in->cb(in->arg, r, NULL);
    }
    free(in->name);
    free(in);
}

void snapops_info(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name;
    const struct snapshot_def *d;
    struct info *in;
    struct cerr e;

    d = param_snapshot(so, params, &name, &e);
    if (d == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    in = xcalloc(1, sizeof(*in));
    if (!vm_is_active(so->vm) || snapops_disks(so, &in->disks, &e) < 0) {
        free(in);
        cb(arg, snapshot_json(so, d), NULL);
        return;
    }
    in->so = so;
    in->cb = cb;
    in->arg = arg;
    in->name = xstrdup(name);
    snapshot_qmp_list(vm_qmp_conn(so->vm), in->disks.nodes, in->disks.n, LIST_TIMEOUT_MS,
                      info_listed, in);
}

void snapops_dumpxml(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name;
    const struct snapshot_def *d;
    struct cerr e;
    char *xml;

    d = param_snapshot(so, params, &name, &e);
    if (d == NULL || (xml = snapshot_def_format(d, false, &e)) == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    cJSON *r = json_obj();
    json_add_str(r, "xml", xml);
    free(xml);
    cb(arg, r, NULL);
}

void snapops_current(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const struct snapshot_def *cur;
    const char *name = NULL;
    struct cerr e;

    if (rpc_param_string(params, "snapshot", false, &name, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    if (name != NULL) {
        if (param_snapshot(so, params, &name, &e) == NULL ||
            snapshot_tree_set_current(so->tree, so->dir, name, &e) < 0) {
            cb(arg, NULL, &e);
            return;
        }
    }
    cur = snapshot_tree_current(so->tree);
    cJSON *r = json_obj();
    json_add_str(r, "current", cur ? cur->name : NULL);
    cb(arg, r, NULL);
}

void snapops_parent(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name;
    const struct snapshot_def *d;
    struct cerr e;

    d = param_snapshot(so, params, &name, &e);
    if (d == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    cJSON *r = json_obj();
    json_add_str(r, "parent", d->parent);
    cb(arg, r, NULL);
}

/* ---- revert ------------------------------------------------------------- */

struct revert {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    char *name;
    struct disks disks;
    bool was_running, want_paused;
    /* A live snapshot on a shut-off VM: only its disks can be reverted. */
    bool disks_only;
    struct cerr failure; /* set when the load failed: reported after recovery */
    bool failed;
};

static void revert_finish(struct revert *rv, cJSON *result, const struct cerr *e)
{
    rv->so->busy = false;
    rv->cb(rv->arg, result, e);
    free(rv->name);
    free(rv);
}

static void revert_final(void *arg, cJSON *result, const struct cerr *e)
{
    struct revert *rv = arg;

    if (rv->failed) {
        cJSON_Delete(result);
        revert_finish(rv, NULL, &rv->failure);
        return;
    }
    if (e != NULL) {
        revert_finish(rv, NULL, e);
        return;
    }
    cJSON_Delete(result);
    cJSON *r = vm_state_json(rv->so->vm);
    json_add_str(r, "snapshot", rv->name);
    log_info("VM %s: reverted to snapshot %s", snapops_vmname(rv->so), rv->name);
    revert_finish(rv, r, NULL);
}

/* QEMU's view is now in the VM's state; bring the run state to what the
 * snapshot had (after success) or back to what it was (after a harmless
 * failure). */
static void revert_synced(void *arg, cJSON *result, const struct cerr *e)
{
    struct revert *rv = arg;
    struct vm *vm = rv->so->vm;
    bool paused = vm_get_state(vm) == VM_PAUSED;
    bool want_paused = rv->failed ? !rv->was_running : rv->want_paused;

    cJSON_Delete(result);
    if (e != NULL) {
        revert_finish(rv, NULL, e);
        return;
    }
    if (paused && !want_paused)
        vm_resume(vm, revert_final, rv);
    else if (!paused && want_paused)
        vm_suspend(vm, revert_final, rv);
    else
        revert_final(rv, NULL, NULL);
}

static void revert_loaded(const struct snapjob_result *r, void *arg)
{
    struct revert *rv = arg;
    struct snapops *so = rv->so;
    const char *why = r->qemu_error ? r->qemu_error : r->err.msg;
    struct cerr e;

    /* QMP has no disks-only load: snapshot-load reverts every disk, then
     * reads the VM state, which a live guest's snapshot does not have for
     * the maintenance QEMU's empty machine.  That failure, after the
     * disks, is the disks-only revert libvirt does for a shut-off VM. */
    bool disks_done = rv->disks_only && r->qemu_error != NULL &&
                      strstr(r->qemu_error, "while loading VM state") != NULL;
    if (r->outcome == SNAPJOB_UNKNOWN) {
        report_unknown(so, rv->name, "snapshot-load", r, NULL, "the current snapshot is unchanged");
        cerr_set(&e, CE_JOB_FAILED, "VM %s: revert to %s was cut short: %s", snapops_vmname(so),
                 rv->name, r->err.msg);
        revert_finish(rv, NULL, &e);
        return;
    }
    if (r->ok || disks_done) {
        if (disks_done)
            log_info("VM %s: disks reverted to %s; its memory stays unused while shut off",
                     snapops_vmname(so), rv->name);
        if (snapshot_tree_set_current(so->tree, so->dir, rv->name, &e) < 0)
            log_err("VM %s: reverted to %s but cannot mark it current: %s", snapops_vmname(so),
                    rv->name, e.msg);
        snapops_intent_end(so);
        if (vm_is_maintenance(so->vm))
            revert_final(rv, NULL, NULL);
        else
            vm_sync_state(so->vm, "reverted", revert_synced, rv);
        return;
    }
    /* Failed with QEMU's word: the reply says what happened. */
    snapops_intent_end(so);
    if (vm_is_maintenance(so->vm)) {
        cerr_set(&e, CE_JOB_FAILED, "VM %s: revert to %s failed: %s", snapops_vmname(so), rv->name,
                 why);
        revert_finish(rv, NULL, &e);
        return;
    }
    rv->failed = true;
    if (r->qemu_error != NULL && strstr(r->qemu_error, "while loading VM state") != NULL) {
        /* QEMU has already reverted the disks when it fails reading the
         * memory: running that guest would run garbage. */
        cerr_set(&rv->failure, CE_JOB_FAILED,
                 "VM %s: revert to %s failed while loading the VM state (%s); the disks are "
                 "already reverted, so the guest was left paused: revert to another snapshot "
                 "or destroy it",
                 snapops_vmname(so), rv->name, why);
        vm_set_paused_reason(so->vm, "revert failed: guest state unusable");
        rv->was_running = false;
        vm_sync_state(so->vm, "revert failed: guest state unusable", revert_synced, rv);
        return;
    }
    cerr_set(&rv->failure, CE_JOB_FAILED, "VM %s: revert to %s failed (%s); nothing was changed%s",
             snapops_vmname(so), rv->name, why, rv->was_running ? " and the VM was resumed" : "");
    vm_sync_state(so->vm, "revert failed", revert_synced, rv);
}

static void revert_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct revert *rv = arg;
    struct snapops *so = rv->so;
    const struct snapshot_qmp_node *vmstate;
    bool has_state;
    struct cerr err;

    if (e != NULL) {
        revert_finish(rv, NULL, e);
        return;
    }
    /* Everything QEMU would trip over is checked first: a failed
     * snapshot-load leaves the guest paused, sometimes half-loaded. */
    for (size_t i = 0; i < rv->disks.n; i++) {
        if (snapshot_qmp_count(l, rv->disks.d[i].node, rv->name) == 0) {
            cerr_set(&err, CE_OPERATION_INVALID,
                     "VM %s cannot be reverted to %s: disk %s does not hold it (see "
                     "snapshot-check); nothing was changed",
                     snapops_vmname(so), rv->name, rv->disks.d[i].target);
            snapshot_qmp_nodes_free(l);
            revert_finish(rv, NULL, &err);
            return;
        }
    }
    vmstate = rv->disks_only ? NULL : snapshot_qmp_find_node(l, rv->disks.d[0].node);
    has_state = rv->disks_only;
    for (size_t i = 0; vmstate != NULL && i < vmstate->nsnaps; i++)
        has_state |=
            strcmp(vmstate->snaps[i].name, rv->name) == 0 && vmstate->snaps[i].vm_state_size > 0;
    snapshot_qmp_nodes_free(l);
    if (!has_state) {
        cerr_set(&err, CE_OPERATION_INVALID,
                 "VM %s cannot be reverted to %s while running: disk %s holds no VM state for "
                 "it; nothing was changed",
                 snapops_vmname(so), rv->name, rv->disks.d[0].target);
        revert_finish(rv, NULL, &err);
        return;
    }
    char job_id[SNAPJOB_ID_MAX];
    snapshot_qmp_job_id(SNAPJOB_LOAD, job_id);
    if (snapops_intent_begin(
            so, intent_new("revert", rv->name, job_id, &rv->disks, rv->disks.nodes, rv->disks.n),
            &err) < 0) {
        revert_finish(rv, NULL, &err);
        return;
    }
    if (snapshot_qmp_job(vm_snapjobs(so->vm), SNAPJOB_LOAD, job_id, rv->name, rv->disks.nodes[0],
                         rv->disks.nodes, rv->disks.n, ram_timeout_ms(so), job_progress,
                         revert_loaded, rv, &err) < 0) {
        snapops_intent_end(so);
        revert_finish(rv, NULL, &err);
    }
}

void snapops_revert(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const struct snapshot_def *d;
    const char *name;
    struct revert *rv;
    struct cerr e;

    d = param_snapshot(so, params, &name, &e);
    if (d == NULL || require_ready(so, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    /* A saved VM state only loads into the machine that wrote it: an
     * offline snapshot's comes from the maintenance QEMU, a live one's
     * from the guest. */
    if (d->state == SNAPSHOT_STATE_SHUTOFF && !vm_is_maintenance(so->vm)) {
        cerr_set(&e, CE_OPERATION_INVALID,
                 "VM %s: snapshot %s was taken while the VM was shut off; shut the VM down to "
                 "revert to it (nothing was changed)",
                 snapops_vmname(so), name);
        cb(arg, NULL, &e);
        return;
    }
    rv = xcalloc(1, sizeof(*rv));
    if (snapops_disks(so, &rv->disks, &e) < 0) {
        free(rv);
        cb(arg, NULL, &e);
        return;
    }
    rv->so = so;
    rv->cb = cb;
    rv->arg = arg;
    rv->name = xstrdup(name);
    rv->was_running = vm_get_state(so->vm) == VM_RUNNING;
    rv->want_paused = d->state == SNAPSHOT_STATE_PAUSED;
    rv->disks_only = vm_is_maintenance(so->vm) && d->state != SNAPSHOT_STATE_SHUTOFF;
    so->busy = true;
    snapshot_qmp_list(vm_qmp_conn(so->vm), rv->disks.nodes, rv->disks.n, LIST_TIMEOUT_MS,
                      revert_listed, rv);
}

/* ---- redefine ------------------------------------------------------------ */

void snapops_redefine(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *xml = NULL;
    bool current = false;
    struct snapshot_def *def;
    char *name;
    struct cerr e;

    if (rpc_param_string(params, "xml", true, &xml, &e) < 0 ||
        rpc_param_bool(params, "current", &current, &e) < 0 ||
        (def = snapshot_def_parse(xml, strlen(xml), SNAPSHOT_PARSE_REDEFINE, &e)) == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    if (so->busy) {
        snapshot_def_free(def);
        cerr_set(&e, CE_BUSY, "VM %s: another snapshot operation is under way", snapops_vmname(so));
        cb(arg, NULL, &e);
        return;
    }
    name = xstrdup(def->name);
    if (snapshot_tree_redefine(so->tree, so->dir, def, current, &e) < 0)
        cb(arg, NULL, &e);
    else
        cb(arg, snapshot_json(so, snapshot_tree_lookup(so->tree, name)), NULL);
    free(name);
}

/* ---- check ----------------------------------------------------------------- */

struct check {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    struct disks disks;
};

static cJSON *plain_report(const struct snapops *so, const char *snap, const char *kind,
                           cJSON *disks, const char *detail)
{
    cJSON *r = json_obj();

    json_add_str(r, "vm", snapops_vmname(so));
    json_add_str(r, "snapshot", snap);
    json_add_str(r, "kind", kind);
    json_add(r, "disks", disks);
    json_add_str(r, "detail", detail);
    return r;
}

static const struct sdisk *disk_by_target(const struct disks *ds, const char *target)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (strcmp(ds->d[i].target, target) == 0)
            return &ds->d[i];
    }
    return NULL;
}

static void check_metadata_side(const struct snapops *so, const struct disks *ds,
                                const struct snapshot_qmp_nodes *l, cJSON *reports)
{
    for (size_t i = 0; i < snapshot_tree_count(so->tree); i++) {
        const struct snapshot_def *d = snapshot_tree_nth(so->tree, i);
        cJSON *missing = json_arr(), *dup = json_arr(), *extra = json_arr();

        for (size_t k = 0; k < ds->n; k++) {
            const struct sdisk *sd = &ds->d[k];
            size_t count = snapshot_qmp_count(l, sd->node, d->name);
            bool covered = false;
            for (size_t j = 0; j < d->ndisks; j++)
                covered |= d->disks[j].internal && strcmp(d->disks[j].name, sd->target) == 0;
            if (covered && count == 0)
                json_arr_add(missing, json_str(sd->target));
            if (count > 1)
                json_arr_add(dup, json_str(sd->target));
            if (!covered && count > 0)
                json_arr_add(extra, json_str(sd->target));
        }
        for (size_t j = 0; j < d->ndisks; j++) {
            if (d->disks[j].internal && disk_by_target(ds, d->disks[j].name) == NULL)
                json_arr_add(missing, json_str(d->disks[j].name));
        }
        cJSON *lists[] = {missing, dup, extra};
        const char *kinds[] = {"missing", "duplicate-on-disk", "extra"};
        const char *details[] = {"the metadata names these disks but their images lack the tag",
                                 "these images hold the tag more than once",
                                 "these images hold the tag but the metadata does not cover them"};
        for (size_t k = 0; k < 3; k++) {
            if (cJSON_GetArraySize(lists[k]) > 0)
                json_arr_add(reports, plain_report(so, d->name, kinds[k], lists[k], details[k]));
            else
                cJSON_Delete(lists[k]);
        }
    }
}

static void check_disk_side(const struct snapops *so, const struct disks *ds,
                            const struct snapshot_qmp_nodes *l, cJSON *reports)
{
    cJSON *seen = json_obj(); /* orphan tag -> disks */

    for (size_t k = 0; k < l->n; k++) {
        const struct snapshot_qmp_node *n = &l->nodes[k];
        for (size_t i = 0; i < n->nsnaps; i++) {
            const char *tag = n->snaps[i].name;
            cJSON *disks;
            if (snapshot_tree_lookup(so->tree, tag) != NULL)
                continue;
            disks = cJSON_GetObjectItemCaseSensitive(seen, tag);
            if (disks == NULL) {
                disks = json_arr();
                json_add(seen, tag, disks);
            }
            json_arr_add(disks, json_str(snapops_target_of(ds, n->node)));
        }
    }
    for (cJSON *it = seen->child; it != NULL; it = it->next)
        json_arr_add(reports, plain_report(so, it->string, "orphan-on-disk", json_dup(it),
                                           "these images hold a snapshot corral has no "
                                           "metadata for (snapshot-create --redefine adopts it)"));
    cJSON_Delete(seen);
}

void snapops_differences(const struct snapops *so, const struct disks *ds,
                         const struct snapshot_qmp_nodes *l, cJSON *reports)
{
    check_metadata_side(so, ds, l, reports);
    check_disk_side(so, ds, l, reports);
}

static void check_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct check *c = arg;
    cJSON *reports, *r;

    c->so->busy = false;
    if (e != NULL) {
        c->cb(c->arg, NULL, e);
        free(c);
        return;
    }
    reports = json_arr();
    snapops_differences(c->so, &c->disks, l, reports);
    snapshot_qmp_nodes_free(l);
    r = json_obj();
    json_add_bool(r, "consistent", cJSON_GetArraySize(reports) == 0);
    json_add(r, "reports", reports);
    c->cb(c->arg, r, NULL);
    free(c);
}

void snapops_check(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    struct check *c;
    struct cerr e;

    (void)params;
    if (require_ready(so, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    c = xcalloc(1, sizeof(*c));
    if (snapops_disks(so, &c->disks, &e) < 0) {
        free(c);
        cb(arg, NULL, &e);
        return;
    }
    c->so = so;
    c->cb = cb;
    c->arg = arg;
    so->busy = true;
    snapshot_qmp_list(vm_qmp_conn(so->vm), c->disks.nodes, c->disks.n, LIST_TIMEOUT_MS,
                      check_listed, c);
}
