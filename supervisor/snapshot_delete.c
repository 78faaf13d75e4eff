#include "supervisor/snapshot_delete.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json_size.h"
#include "common/log.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_intent.h"
#include "supervisor/snapshot_meta.h"
#include "supervisor/snapshot_report.h"
#include "supervisor/snapshot_tags.h"

#define DELETE_TIMEOUT_MS 60000
/* Deletes of further copies of one tag on a disk (QEMU removes one a call). */
#define DELETE_MAX_COPIES 64

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
    int copies;                  /* further copies deleted of the current name */
    /* The first listing showed a difference (a disk holding the tag twice,
     * or disks other than the metadata's): the disks are listed again
     * after the job, to say what is left. */
    bool recheck;
    /* The intent recorded while the listing was under way, for the disks
     * the metadata names (guessed[]) and job guessed_job: that job is only
     * started when QEMU's holders are those disks, and an intent whose job
     * never started is settled by recovery from the disks like any other
     * (nothing deleted, or the tag already gone: what the user asked). */
    bool guess_recorded;
    char guessed_job[SNAPJOB_ID_MAX];
    const char *guessed[DOMAIN_MAX_DISKS];
    size_t nguessed;
    /* The metadata was removed by the job's early callback: its outcome. */
    bool early_done;
    int early_rc;
    struct cerr early_err;
    /* The early callback answered: the done callback only frees. */
    bool answered;
    /* Inside del_next's listing call, which may answer at once: del_finish
     * then leaves d to del_next to free (dead). */
    bool in_call, dead;
    uint64_t list_epoch; /* the last listing's, for snapshot_tags_learn; 0: none sent */
    /* What the supervisor knows the disks hold, handed to del_listed from
     * the loop as a listing's reply would be (not from del_next itself,
     * which would then nest a level per snapshot with nothing on disk). */
    struct snapshot_qmp_nodes *known;
    struct event *known_ev;
};

static void del_free(struct del *d)
{
    if (d->known_ev != NULL)
        event_free(d->known_ev);
    snapshot_qmp_nodes_free(d->known);
    cJSON_Delete(d->deleted);
    cJSON_Delete(d->reports);
    snapshot_names_free(d->names, d->n);
    free(d);
}

/* Answers the request (e: with that error). */
static void del_answer(struct del *d, const struct cerr *e)
{
    struct snapops *so = d->so;
    const struct snapshot_def *cur = snapshot_tree_current(so->tree);

    so->busy = false;
    if (e != NULL) {
        /* The reports made so far were sent as events already. */
        d->cb(d->arg, NULL, e);
    } else {
        cJSON *r = json_obj();
        int nd = cJSON_GetArraySize(d->deleted), nr = cJSON_GetArraySize(d->reports);

        /* Within the message limit however large the tree: each deletion
         * was an event, and each new report is in the broker's ledger. */
        if (json_size_trim(d->deleted, JSON_SIZE_PAGE_BUDGET / 2) +
                json_size_trim(d->reports, JSON_SIZE_PAGE_BUDGET / 2) >
            0) {
            json_add_bool(r, "truncated", true);
            json_add_num(r, "deleted_count", nd);
            json_add_num(r, "reports_count", nr);
        }
        json_add(r, "deleted", d->deleted);
        json_add_str(r, "current", cur ? cur->name : NULL);
        json_add(r, "reports", d->reports);
        d->deleted = d->reports = NULL;
        d->cb(d->arg, r, NULL);
    }
}

static void del_finish(struct del *d, const struct cerr *e)
{
    del_answer(d, e);
    if (d->in_call)
        d->dead = true;
    else
        del_free(d);
}

static void del_next(struct del *d);

/* What the connection knows of the disks' tags. */
static struct snapshot_tags *del_tags(const struct del *d)
{
    return snapshot_qmp_jobs_tags(vm_snapjobs(d->so->vm));
}

/* Lists the disks again with cb, to learn from too. */
static void del_list(struct del *d, snapshot_qmp_list_cb cb)
{
    d->list_epoch = snapshot_tags_epoch(del_tags(d));
    snapshot_qmp_list(vm_qmp_conn(d->so->vm), d->disks.nodes, d->disks.n, SNAPCORE_LIST_TIMEOUT_MS,
                      cb, d);
}

static int del_metadata(struct del *d, const char *name, struct cerr *e)
{
    struct snapops *so = d->so;

    if (snapshot_tree_remove(so->tree, so->dir, name, e) < 0)
        return -1;
    json_arr_add(d->deleted, json_str(name));
    snapreport_forget(so, name);
    snapcore_event(so, "snapshot.deleted", name);
    log_info("VM %s: snapshot %s deleted", so->name, name);
    return 0;
}

static void del_relisted(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg);
static void del_done_one(struct del *d);

/* Once the metadata is removed: the directory sync its removal owes (held
 * back, when it was, until after the answer), then the intent goes.  A
 * failed sync keeps the intent, which recovery settles from. */
static void del_settle(struct del *d, const char *name)
{
    struct snapops *so = d->so;
    struct cerr e;

    if (snapshot_meta_syncs_flush(so->dir, &e) < 0) {
        log_err_code(cerr_name(e.code), "VM %s: snapshot %s: %s; its intent stays for recovery",
                     so->name, name, e.msg);
        return;
    }
    snapintent_settled(so);
}

/* The job succeeded: the metadata goes while QEMU dismisses the job, and
 * then the intent, unless the disks are to be listed again first.  For the
 * last snapshot of the request the answer goes first: the intent on disk
 * says to delete it and which job did, so recovery removes the metadata if
 * the machine stops before the removal is synced; the sync and the
 * intent's removal follow while the answer travels. */
static void del_job_early(const struct snapjob_result *r, void *arg)
{
    struct del *d = arg;
    const char *name = d->names[d->next];

    (void)r;
    if (d->recheck)
        return;
    d->early_done = true;
    if (d->next + 1 < d->n) {
        d->early_rc = del_metadata(d, name, &d->early_err);
        if (d->early_rc == 0)
            del_settle(d, name);
        return;
    }
    snapshot_meta_syncs_defer(SNAPSHOT_META_DEFER_REMOVES);
    d->early_rc = del_metadata(d, name, &d->early_err);
    if (d->early_rc < 0) {
        struct cerr e;
        /* del_job_done says what failed. */
        if (snapshot_meta_syncs_flush(d->so->dir, &e) < 0)
            log_err_code(cerr_name(e.code), "VM %s: snapshot %s: %s", d->so->name, name, e.msg);
        return;
    }
    d->answered = true;
    d->next++;
    del_answer(d, NULL);
    del_settle(d, name);
}
static void del_failed_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg);

static void del_job_done(const struct snapjob_result *r, void *arg)
{
    struct del *d = arg;
    struct snapops *so = d->so;
    struct cerr e;

    if (d->answered) {
        del_free(d);
        return;
    }
    if (r->outcome == SNAPJOB_UNKNOWN) {
        snapintent_report_unknown(so, d->names[d->next], "snapshot-delete", r,
                                  snapcore_targets(&d->disks, d->holders, d->nholders),
                                  "the metadata is kept");
        cerr_set(&e, CE_JOB_FAILED, "VM %s: deleting snapshot %s was cut short: %s", so->name,
                 d->names[d->next], r->err.msg);
        del_finish(d, &e);
        return;
    }
    if (r->ok && !d->recheck) {
        /* Every holder had one copy, which the job removed: a second
         * listing would show nothing to tell. */
        del_done_one(d);
        return;
    }
    if (r->ok) {
        /* QEMU removes one copy per call and never says when a disk lacked
         * the tag: look again. */
        del_list(d, del_relisted);
        return;
    }
    /* QEMU does not roll back the devices it already processed: find out
     * which those are (when QEMU still answers) before reporting. */
    snprintf(d->job_error, sizeof(d->job_error), "%s", r->qemu_error ? r->qemu_error : r->err.msg);
    snprintf(d->job_id, sizeof(d->job_id), "%s", r->job_id);
    del_list(d, del_failed_listed);
}

/* The disks the metadata names for snapshot name that none of holders
 * (nodes) holds, in the metadata's order: what a "missing" difference
 * lists.  New array. */
static cJSON *missing_targets(const struct del *d, const char *name, const char *const *holders,
                              size_t nholders)
{
    const struct snapshot_def *meta = snapshot_tree_lookup(d->so->tree, name);
    cJSON *missing = json_arr();

    for (size_t i = 0; meta != NULL && i < meta->ndisks; i++) {
        bool held = false;
        if (!meta->disks[i].internal)
            continue;
        for (size_t j = 0; j < nholders; j++)
            held |= strcmp(snapcore_target_of(&d->disks, holders[j]), meta->disks[i].name) == 0;
        if (!held)
            json_arr_add(missing, json_str(meta->disks[i].name));
    }
    return missing;
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
        snapshot_tags_learn(del_tags(d), d->list_epoch, l);
        nstill = snapshot_qmp_holders(l, name, still);
        for (size_t j = 0; j < d->nholders; j++) {
            if (snapshot_qmp_count(l, d->holders[j], name) == 0)
                json_arr_add(done, json_str(snapcore_target_of(&d->disks, d->holders[j])));
        }
    } else
        memcpy(still, d->holders, sizeof(still[0]) * d->nholders);
    done_text = cJSON_PrintUnformatted(done);
    /* The report's disks are those that may still hold the data. */
    json_arr_add(d->reports,
                 snapreport_send(so, name, "job-failed", d->job_id,
                                 snapcore_targets(&d->disks, still, nstill),
                                 "snapshot-delete failed (%s); %s: %s; %s", d->job_error,
                                 l != NULL ? "already deleted on" : "QEMU cannot say what was done",
                                 l != NULL ? (done_text ? done_text : "?") : (e ? e->msg : ""),
                                 d->force ? "metadata removed anyway (--force)" : "metadata kept"));
    cJSON_free(done_text);
    cJSON_Delete(done);
    if (l != NULL) {
        /* The report told which disks lost the tag: a retry finding them
         * without it tells nothing new. */
        cJSON *gone = missing_targets(d, name, still, nstill);
        if (cJSON_GetArraySize(gone) > 0)
            snapreport_known(so, name, "missing", gone);
        cJSON_Delete(gone);
    }
    snapshot_qmp_nodes_free(l);
    /* The report says what was done: nothing is left to settle. */
    snapintent_end(so);
    if (d->force && del_metadata(d, name, &err) == 0) {
        d->next++;
        del_next(d);
        return;
    }
    cerr_set(&err, CE_JOB_FAILED, "VM %s: deleting snapshot %s failed: %s", so->name, name,
             d->job_error);
    del_finish(d, &err);
}

/* The disks of l that hold name, as d's own node names (l goes away
 * before the job runs), into d->holders. */
static void take_holders(struct del *d, const struct snapshot_qmp_nodes *l, const char *name)
{
    d->nholders = snapshot_qmp_holders(l, name, d->holders);
    for (size_t j = 0; j < d->nholders; j++) {
        for (size_t k = 0; k < d->disks.n; k++) {
            if (strcmp(d->holders[j], d->disks.d[k].node) == 0)
                d->holders[j] = d->disks.d[k].node;
        }
    }
}

static void del_start_job(struct del *d, const char *name);

static void del_relisted(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct del *d = arg;
    const char *name = d->names[d->next];
    struct cerr err;

    if (e != NULL) {
        cerr_set(&err, e->code, "VM %s: deleting snapshot %s: QEMU deleted it, then %s",
                 d->so->name, name, e->msg);
        del_finish(d, &err);
        return;
    }
    snapshot_tags_learn(del_tags(d), d->list_epoch, l);
    take_holders(d, l, name);
    snapshot_qmp_nodes_free(l);
    if (d->nholders > 0) {
        /* Reported once while it stands (snapshot-check may have found
         * it), on the first pass; every copy goes, as the user asked, or
         * the last would be an orphan no delete could reach. */
        if (d->copies == 0)
            json_arr_add(
                d->reports,
                snapreport_difference(
                    d->so, name, "duplicate-on-disk",
                    snapcore_targets(&d->disks, d->holders, d->nholders),
                    "the disks listed held the tag more than once; every copy is deleted"));
        if (d->copies++ < DELETE_MAX_COPIES) {
            snapintent_end(d->so);
            del_start_job(d, name);
            return;
        }
        log_warn("VM %s: snapshot %s: copies remain after %d deletes; its metadata is removed",
                 d->so->name, name, DELETE_MAX_COPIES);
    }
    d->copies = 0;
    del_done_one(d);
}

/* The job deleted the current name: its metadata goes (unless the job's
 * early callback removed it), then the next. */
static void del_done_one(struct del *d)
{
    struct cerr err;
    int rc;

    if (d->early_done) {
        d->early_done = false;
        rc = d->early_rc;
        err = d->early_err;
    } else if ((rc = del_metadata(d, d->names[d->next], &err)) == 0)
        del_settle(d, d->names[d->next]);
    if (rc < 0) {
        del_finish(d, &err);
        return;
    }
    d->next++;
    del_next(d);
}

/* Reports where the metadata of name and its holders (the disks QEMU says
 * hold it) disagree, and returns whether they do.  A delete cut short and
 * tried again meets the same differences: they are reported once. */
static bool del_compare(struct del *d, const char *name)
{
    bool differs;
    struct snapops *so = d->so;
    const struct snapshot_def *meta = snapshot_tree_lookup(so->tree, name);
    cJSON *missing = missing_targets(d, name, d->holders, d->nholders), *extra = json_arr();

    for (size_t j = 0; j < d->nholders; j++) {
        const char *t = snapcore_target_of(&d->disks, d->holders[j]);
        bool named = false;
        for (size_t i = 0; meta != NULL && i < meta->ndisks; i++)
            named |= meta->disks[i].internal && strcmp(meta->disks[i].name, t) == 0;
        if (!named)
            json_arr_add(extra, json_str(t));
    }
    differs = cJSON_GetArraySize(missing) > 0 || cJSON_GetArraySize(extra) > 0;
    if (cJSON_GetArraySize(missing) > 0)
        json_arr_add(d->reports, snapreport_difference(so, name, "missing", missing,
                                                       "the metadata names these disks but their "
                                                       "images do not hold the snapshot"));
    else
        cJSON_Delete(missing);
    if (cJSON_GetArraySize(extra) > 0)
        json_arr_add(d->reports, snapreport_difference(so, name, "extra", extra,
                                                       "these images hold the snapshot although "
                                                       "the metadata did not name them; deleted "
                                                       "there too"));
    else
        cJSON_Delete(extra);
    return differs;
}

/* The intent of deleting name on devices (nodes) with job job_id (new). */
static cJSON *del_intent(const struct del *d, const char *name, const char *job_id,
                         const char *const *nodes, size_t n)
{
    cJSON *intent = snapintent_new("delete", name, job_id, &d->disks, nodes, n);
    cJSON *remaining = json_arr();

    for (size_t i = d->next + 1; i < d->n; i++)
        json_arr_add(remaining, json_str(d->names[i]));
    json_add(intent, "remaining", remaining);
    json_add_bool(intent, "force", d->force);
    return intent;
}

/* Whether the holders QEMU listed are the disks the recorded intent names. */
static bool del_guessed_right(const struct del *d)
{
    if (!d->guess_recorded || d->nguessed != d->nholders)
        return false;
    for (size_t i = 0; i < d->nholders; i++)
        if (strcmp(d->guessed[i], d->holders[i]) != 0)
            return false;
    return true;
}

/* Records the intent (unless the one recorded during the listing guessed
 * right), then asks QEMU to delete name where it is held. */
static void del_start_job(struct del *d, const char *name)
{
    struct snapops *so = d->so;
    struct cerr err;
    char job_id[SNAPJOB_ID_MAX];
    int rc;

    if (del_guessed_right(d)) {
        snprintf(job_id, sizeof(job_id), "%s", d->guessed_job);
        rc = 0;
    } else {
        snapshot_qmp_jobs_make_id(SNAPJOB_DELETE, job_id);
        rc = snapintent_begin(so, del_intent(d, name, job_id, d->holders, d->nholders), &err);
    }
    if (rc < 0) {
        /* The guess may still stand for a job that never starts. */
        if (d->guess_recorded)
            snapintent_end(so);
        d->guess_recorded = false;
        del_finish(d, &err);
        return;
    }
    d->guess_recorded = false;
    if (snapshot_qmp_jobs_start(vm_snapjobs(so->vm), SNAPJOB_DELETE, job_id, name, NULL, d->holders,
                                d->nholders, DELETE_TIMEOUT_MS, snapcore_job_progress, del_job_done,
                                d, &err) < 0) {
        snapintent_end(so);
        del_finish(d, &err);
        return;
    }
    snapshot_qmp_jobs_set_early(vm_snapjobs(so->vm), job_id, del_job_early);
}

/* While QEMU lists the disks, records the intent the job will most likely
 * need: deleting name on the disks its metadata names (in d->disks'
 * order, as QEMU's holders come). */
static void del_guess_intent(struct del *d, const char *name)
{
    const struct snapshot_def *meta = snapshot_tree_lookup(d->so->tree, name);
    struct cerr err;

    d->nguessed = 0;
    for (size_t k = 0; meta != NULL && k < d->disks.n; k++) {
        for (size_t i = 0; i < meta->ndisks; i++)
            if (meta->disks[i].internal && strcmp(meta->disks[i].name, d->disks.d[k].target) == 0)
                d->guessed[d->nguessed++] = d->disks.d[k].node;
    }
    if (d->nguessed == 0)
        return;
    snapshot_qmp_jobs_make_id(SNAPJOB_DELETE, d->guessed_job);
    /* Not fatal here: del_start_job writes it again and says why not. */
    d->guess_recorded =
        snapintent_begin(d->so, del_intent(d, name, d->guessed_job, d->guessed, d->nguessed),
                         &err) == 0;
}

/* Compares what the metadata says with what QEMU holds, reports every
 * difference, and deletes exactly where QEMU holds the tag. */
static void del_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct del *d = arg;
    const char *name = d->names[d->next];
    struct cerr err;
    int rc;

    if (e != NULL) {
        /* No job: the intent would only make recovery report a delete
         * that never began. */
        if (d->guess_recorded)
            snapintent_end(d->so);
        cerr_set(&err, e->code, "VM %s: deleting snapshot %s: %s", d->so->name, name, e->msg);
        del_finish(d, &err);
        return;
    }
    snapshot_tags_learn(del_tags(d), d->list_epoch, l);
    take_holders(d, l, name);
    d->recheck = del_compare(d, name);
    for (size_t j = 0; j < d->nholders; j++)
        d->recheck |= snapshot_qmp_count(l, d->holders[j], name) > 1;
    snapshot_qmp_nodes_free(l);
    if (d->nholders > 0) {
        del_start_job(d, name);
        return;
    }
    /* Nothing on disk: nothing is sent to QEMU. */
    rc = del_metadata(d, name, &err);
    if (d->guess_recorded) {
        if (rc == 0)
            snapintent_settled(d->so);
        else
            snapintent_end(d->so);
        d->guess_recorded = false;
    }
    if (rc < 0) {
        del_finish(d, &err);
        return;
    }
    d->next++;
    del_next(d);
}

static void del_known_cb(evutil_socket_t fd, short what, void *arg)
{
    struct del *d = arg;
    struct snapshot_qmp_nodes *l = d->known;

    (void)fd;
    (void)what;
    d->known = NULL;
    del_listed(l, NULL, d);
}

/* Hands known (consumed) to del_listed from the loop; false when no event
 * can be made, and then the disks are listed instead. */
static bool del_defer_known(struct del *d, struct snapshot_qmp_nodes *known)
{
    if (d->known_ev == NULL)
        d->known_ev = event_new(vm_event_base(d->so->vm), -1, 0, del_known_cb, d);
    if (d->known_ev == NULL) {
        snapshot_qmp_nodes_free(known);
        return false;
    }
    d->known = known;
    event_active(d->known_ev, EV_TIMEOUT, 1);
    return true;
}

static void del_next(struct del *d)
{
    struct cerr e;
    struct snapshot_qmp_nodes *known;

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
    /* Nothing but this supervisor's own jobs has touched the disks since
     * they were last listed: what QEMU would answer is known. */
    known = snapshot_tags_known(del_tags(d), d->disks.nodes, d->disks.n);
    if (known != NULL && del_defer_known(d, known)) {
        d->list_epoch = 0;
        del_guess_intent(d, d->names[d->next]);
        return;
    }
    /* The listing fails at once when QEMU's monitor is away. */
    d->in_call = true;
    del_list(d, del_listed);
    d->in_call = false;
    if (d->dead) {
        del_free(d);
        return;
    }
    del_guess_intent(d, d->names[d->next]);
}

void snapdelete_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
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
    if (snapcore_param_snapshot(so, params, &name, &e) == NULL)
        goto fail;
    if (!metadata && snapcore_require_ready(so, &e) < 0)
        goto fail;
    if (so->busy) {
        cerr_set(&e, CE_BUSY, "VM %s: another snapshot operation is under way", so->name);
        goto fail;
    }
    if (children)
        mode = SNAPSHOT_DELETE_CHILDREN;
    else if (children_only)
        mode = SNAPSHOT_DELETE_CHILDREN_ONLY;
    d = xcalloc(1, sizeof(*d));
    if (!metadata && snapcore_disks(so, &d->disks, &e) < 0) {
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
