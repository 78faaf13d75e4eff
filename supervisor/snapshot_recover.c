#include "supervisor/snapshot_recover.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"
#include "supervisor/snapshot_check.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_intent.h"
#include "supervisor/snapshot_tags.h"
#include "supervisor/snapshot_meta.h"
#include "supervisor/snapshot_report.h"
#include "supervisor/vm.h"

#define JOB_POLL_MS 200

/* ---- recovery ------------------------------------------------------------- */

struct recover {
    struct snapops *so;
    char context[64];
    snaprecover_done_cb cb;
    void *arg;
    struct disks disks;
    cJSON *intent;
    /* The intent's job as query-jobs last showed it. */
    bool job_seen;
    char job_error[CERR_MSG_MAX];
    bool job_failed;
    struct event *poll;
    long long polls_left;
    /* Snapshots whose leftovers the intent's report already describes. */
    cJSON *explained;
    uint64_t list_epoch; /* the listing's, for snapshot_tags_learn */
};

static void recover_finish(struct recover *rc, const struct cerr *e)
{
    rc->so->busy = false;
    rc->cb(e, rc->arg);
    if (rc->poll != NULL)
        event_free(rc->poll);
    cJSON_Delete(rc->intent);
    cJSON_Delete(rc->explained);
    free(rc);
}

static const char *intent_str(const struct recover *rc, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rc->intent, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool intent_flag(const struct recover *rc, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rc->intent, key));
}

/* Which of the intent's disks hold the tag now: held and not held, as
 * arrays of targets (new). */
static void split_holders(const struct recover *rc, const struct snapshot_qmp_nodes *l,
                          const char *tag, cJSON **held, cJSON **not_held)
{
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(rc->intent, "devices");
    const cJSON *t;

    *held = json_arr();
    *not_held = json_arr();
    cJSON_ArrayForEach(t, devs)
    {
        const char *node = NULL;
        if (!cJSON_IsString(t))
            continue;
        for (size_t i = 0; i < rc->disks.n; i++) {
            if (strcmp(rc->disks.d[i].target, t->valuestring) == 0)
                node = rc->disks.d[i].node;
        }
        json_arr_add(node != NULL && snapshot_qmp_count(l, node, tag) > 0 ? *held : *not_held,
                     json_str(t->valuestring));
    }
}

static char *text_of(const cJSON *arr)
{
    char *t = cJSON_PrintUnformatted(arr);
    char *copy = xstrdup(t ? t : "[]");

    cJSON_free(t);
    return copy;
}

/* One "interrupted" report about the intent's snapshot; disks consumed. */
static void interrupted(struct recover *rc, bool always, cJSON *disks, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void interrupted(struct recover *rc, bool always, cJSON *disks, const char *fmt, ...)
{
    const char *snap = intent_str(rc, "snapshot");
    char detail[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    log_info("VM %s: snapshot %s: %s (%s)", rc->so->name, snap, detail, rc->context);
    if (!always && intent_flag(rc, "reported")) {
        cJSON_Delete(disks);
        return;
    }
    cJSON *r = snapreport_send(rc->so, snap, "interrupted", intent_str(rc, "job"), disks,
                               "%s; found while %s", detail, rc->context);
    cJSON_Delete(r);
    json_arr_add(rc->explained, json_str(snap));
}

static const char *job_words(const struct recover *rc)
{
    if (!rc->job_seen)
        return "QEMU no longer knows the job";
    return rc->job_failed ? rc->job_error : "the job had concluded without error";
}

static void settle_create(struct recover *rc, const struct snapshot_qmp_nodes *l)
{
    struct snapops *so = rc->so;
    const char *snap = intent_str(rc, "snapshot"), *xml = intent_str(rc, "metadata");
    cJSON *held, *not_held;
    struct snapshot_def *def;
    struct cerr e;

    split_holders(rc, l, snap, &held, &not_held);
    if (snapshot_tree_lookup(so->tree, snap) != NULL) {
        /* Recorded, but the supervisor that did it died before the request
         * was answered and the intent removed, perhaps before it reported
         * that: the user still has to learn it. */
        interrupted(rc, false, json_dup(held),
                    "the snapshot operation was cut short after QEMU saved it and its metadata "
                    "was written; it is created (%s)",
                    job_words(rc));
    } else if (intent_flag(rc, "no_metadata") && cJSON_GetArraySize(held) > 0) {
        /* Asked for without metadata: the disks are all there is to it. */
        interrupted(rc, false, json_dup(held),
                    "the snapshot operation (without metadata) was cut short after QEMU saved "
                    "it (%s)",
                    job_words(rc));
    } else if (cJSON_GetArraySize(not_held) == 0 && cJSON_GetArraySize(held) > 0) {
        def = xml ? snapshot_def_parse(xml, strlen(xml), SNAPSHOT_PARSE_REDEFINE, &e) : NULL;
        if (def == NULL || snapshot_tree_add(so->tree, so->dir, def, true, &e) < 0) {
            interrupted(rc, true, held,
                        "snapshot-save finished on every disk but its metadata cannot be "
                        "written: %.300s",
                        xml ? e.msg : "the intent has no metadata");
            held = NULL;
        } else {
            snapcore_event(so, "snapshot.created", snap);
            interrupted(rc, false, json_dup(held),
                        "the snapshot operation was cut short after QEMU saved it on every "
                        "disk; it is now recorded as created (%s)",
                        job_words(rc));
        }
    } else if (cJSON_GetArraySize(held) == 0) {
        interrupted(rc, false, NULL,
                    "the snapshot operation was cut short and no disk holds the snapshot: it "
                    "was not created (%s)",
                    job_words(rc));
    } else {
        char *h = text_of(held), *n = text_of(not_held);
        interrupted(rc, true, json_dup(held),
                    "snapshot-save was cut short: disks %s hold the snapshot but %s do not; no "
                    "metadata was written (snapshot-check lists it as orphan-on-disk) (%s)",
                    h, n, job_words(rc));
        free(h);
        free(n);
    }
    cJSON_Delete(held);
    cJSON_Delete(not_held);
}

static void settle_delete(struct recover *rc, const struct snapshot_qmp_nodes *l)
{
    struct snapops *so = rc->so;
    const char *snap = intent_str(rc, "snapshot");
    const cJSON *remaining = cJSON_GetObjectItemCaseSensitive(rc->intent, "remaining");
    bool force = intent_flag(rc, "force");
    bool has_meta = snapshot_tree_lookup(so->tree, snap) != NULL;
    char *rest = cJSON_GetArraySize(remaining) > 0 ? text_of(remaining) : NULL;
    char also[512] = "";
    cJSON *held, *not_held;
    struct cerr e;

    if (rest != NULL)
        snprintf(also, sizeof(also), "; not deleted, as the operation stopped here: %.400s", rest);
    free(rest);
    split_holders(rc, l, snap, &held, &not_held);
    if (cJSON_GetArraySize(held) == 0) {
        if (has_meta && snapshot_tree_remove(so->tree, so->dir, snap, &e) < 0)
            interrupted(rc, true, NULL,
                        "QEMU deleted the snapshot from every disk but its metadata cannot be "
                        "removed: %.300s%s",
                        e.msg, also);
        else {
            if (has_meta) {
                snapreport_forget(so, snap);
                snapcore_event(so, "snapshot.deleted", snap);
            }
            interrupted(rc, false, NULL,
                        "the delete was cut short after QEMU deleted the snapshot from every "
                        "disk; its metadata is removed now%s",
                        also);
        }
    } else if (cJSON_GetArraySize(not_held) == 0) {
        interrupted(rc, false, json_dup(held),
                    "the delete was cut short before QEMU deleted anything (%s); the metadata "
                    "is kept: delete it again%s",
                    job_words(rc), also);
    } else {
        char *h = text_of(held), *n = text_of(not_held);
        bool removed = force && has_meta && snapshot_tree_remove(so->tree, so->dir, snap, &e) == 0;
        if (removed) {
            snapreport_forget(so, snap);
            snapcore_event(so, "snapshot.deleted", snap);
        }
        interrupted(rc, true, json_dup(held),
                    "the delete was cut short: deleted on %s, still on %s (%s); metadata %s%s", n,
                    h, job_words(rc), removed ? "removed (--force)" : "kept", also);
        free(h);
        free(n);
    }
    cJSON_Delete(held);
    cJSON_Delete(not_held);
}

static void settle_revert(struct recover *rc)
{
    struct snapops *so = rc->so;
    const char *snap = intent_str(rc, "snapshot");
    struct cerr e;

    if (rc->job_seen && !rc->job_failed) {
        if (snapshot_tree_lookup(so->tree, snap) != NULL &&
            snapshot_tree_set_current(so->tree, so->dir, snap, &e) < 0)
            log_err_code(cerr_name(e.code), "VM %s: reverted to %s but cannot mark it current: %s",
                         so->name, snap, e.msg);
        interrupted(rc, false, NULL,
                    "the revert was cut short after QEMU loaded the snapshot; it is now the "
                    "current snapshot");
    } else
        interrupted(rc, false, NULL,
                    "the revert was cut short (%s); whether the guest was reverted cannot be "
                    "told, and the current snapshot is unchanged",
                    job_words(rc));
}

static void recover_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct recover *rc = arg;
    struct snapops *so = rc->so;
    cJSON *findings;
    if (e != NULL) {
        recover_finish(rc, e);
        return;
    }
    /* The first create or delete after a start need not list again. */
    snapshot_tags_learn(snapshot_qmp_jobs_tags(vm_snapjobs(so->vm)), rc->list_epoch, l);
    if (rc->intent != NULL) {
        const char *op = intent_str(rc, "op");
        if (intent_str(rc, "snapshot") == NULL || op == NULL)
            log_warn("VM %s: ignoring a malformed pending.json", so->name);
        else if (strcmp(op, "create") == 0)
            settle_create(rc, l);
        else if (strcmp(op, "delete") == 0)
            settle_delete(rc, l);
        else
            settle_revert(rc);
        snapintent_end(so);
    }
    findings = json_arr();
    snapcheck_differences(so, &rc->disks, l, findings);
    snapshot_qmp_nodes_free(l);
    /* What the intent's report explained counts as reported already. */
    snapreport_explained(so, findings, rc->explained);
    if (vm_qemu_fresh(so->vm))
        snapreport_hold(so, findings);
    else {
        snapreport_findings(so, "check", findings);
        cJSON_Delete(findings);
    }
    recover_finish(rc, NULL);
}

static void recover_reconciled(const struct snapjob_leftover *jobs, size_t n, const struct cerr *e,
                               void *arg);

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct recover *rc = arg;

    (void)fd;
    (void)what;
    snapshot_qmp_jobs_reconcile(vm_qmp_conn(rc->so->vm), SNAPCORE_LIST_TIMEOUT_MS,
                                recover_reconciled, rc);
}

static void recover_reconciled(const struct snapjob_leftover *jobs, size_t n, const struct cerr *e,
                               void *arg)
{
    struct recover *rc = arg;
    const char *job = intent_str(rc, "job");
    bool running = false;

    if (e != NULL) {
        recover_finish(rc, e);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].status, "concluded") != 0) {
            running = true;
            continue;
        }
        log_info("VM %s: QEMU kept job %s (%s) of an earlier supervisor: %s", rc->so->name,
                 jobs[i].id, jobs[i].type,
                 jobs[i].error ? jobs[i].error : "concluded without error");
        if (job != NULL && strcmp(jobs[i].id, job) == 0) {
            rc->job_seen = true;
            rc->job_failed = jobs[i].error != NULL;
            snprintf(rc->job_error, sizeof(rc->job_error), "QEMU's job error: %s",
                     jobs[i].error ? jobs[i].error : "");
        }
    }
    if (running && rc->polls_left-- > 0) {
        /* A job of the dead supervisor still runs: its end decides. */
        struct timeval tv = {0, JOB_POLL_MS * 1000};
        if (rc->poll == NULL)
            rc->poll = evtimer_new(vm_event_base(rc->so->vm), poll_cb, rc);
        if (rc->poll != NULL && evtimer_add(rc->poll, &tv) == 0)
            return;
        log_err("VM %s: cannot arm a timer to wait for QEMU's job", rc->so->name);
    }
    if (running)
        log_warn("VM %s: a snapshot job of an earlier supervisor is still running; settling "
                 "without its end",
                 rc->so->name);
    rc->list_epoch = snapshot_tags_epoch(snapshot_qmp_jobs_tags(vm_snapjobs(rc->so->vm)));
    snapshot_qmp_list(vm_qmp_conn(rc->so->vm), rc->disks.nodes, rc->disks.n,
                      SNAPCORE_LIST_TIMEOUT_MS, recover_listed, rc);
}

void snaprecover_run(struct snapops *so, const char *context, snaprecover_done_cb cb, void *arg)
{
    struct recover *rc = xcalloc(1, sizeof(*rc));
    struct cerr e;

    if (so->busy) {
        /* An operation still owns QEMU's jobs; it settles its own. */
        log_warn("VM %s: snapshot recovery skipped: an operation is under way", so->name);
        free(rc);
        cb(NULL, arg);
        return;
    }
    rc->so = so;
    snprintf(rc->context, sizeof(rc->context), "%s", context);
    rc->cb = cb;
    rc->arg = arg;
    rc->explained = json_arr();
    rc->intent = snapintent_load(so);
    /* Long enough for a save of the guest's whole RAM. */
    rc->polls_left = snapcore_ram_timeout_ms(so) / JOB_POLL_MS;
    if (snapcore_disks(so, &rc->disks, &e) < 0) {
        /* No disk takes snapshots: nothing can be left to recover. */
        if (rc->intent != NULL)
            snapintent_end(so);
        recover_finish(rc, NULL);
        return;
    }
    so->busy = true;
    /* A QEMU of its own that is still starting has no job to ask about:
     * the start spares a query-jobs round trip. */
    if (vm_qemu_fresh(so->vm)) {
        recover_reconciled(NULL, 0, NULL, rc);
        return;
    }
    snapshot_qmp_jobs_reconcile(vm_qmp_conn(so->vm), SNAPCORE_LIST_TIMEOUT_MS, recover_reconciled,
                                rc);
}
