#include "supervisor/snapshot_recover.h"

#include <errno.h>
#include <stdarg.h>
#include <dirent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_meta.h"
#include "supervisor/snapshot_ops_priv.h"
#include "supervisor/vm.h"

#define RECORD_MAX (1024 * 1024)
#define JOB_POLL_MS 200

/* ---- intents -------------------------------------------------------------- */

static char *intent_path(const struct snapops *so)
{
    return xasprintf("%s/pending.json", so->state_dir);
}

static int write_json(const char *path, const cJSON *o, struct cerr *e)
{
    size_t len;
    char *text = rpc_serialize(o, &len, e);
    int rc;

    if (text == NULL)
        return -1;
    rc = file_write_atomic(path, text, len, 0600, e);
    free(text);
    return rc;
}

int snapops_intent_begin(struct snapops *so, cJSON *intent, struct cerr *e)
{
    char *path = intent_path(so);
    int rc;

    json_add_bool(intent, "reported", false);
    rc = write_json(path, intent, e);
    if (rc < 0) {
        char msg[CERR_MSG_MAX];
        memcpy(msg, e->msg, sizeof(msg));
        cerr_set(e, e->code, "VM %s: cannot record the snapshot operation it starts: %s",
                 snapops_vmname(so), msg);
    }
    cJSON_Delete(intent);
    free(path);
    return rc;
}

void snapops_intent_end(struct snapops *so)
{
    char *path = intent_path(so);
    struct cerr e;

    /* Left behind, it is settled (again) by the next recovery: harmless. */
    if (file_remove_durable(path, &e) < 0)
        log_warn("VM %s: cannot remove %s: %s", snapops_vmname(so), path, e.msg);
    free(path);
}

void snapops_intent_reported(struct snapops *so)
{
    char *path = intent_path(so);
    cJSON *intent = json_read_object_file(path, RECORD_MAX);
    struct cerr e;

    if (intent != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(intent, "reported");
        json_add_bool(intent, "reported", true);
        if (write_json(path, intent, &e) < 0)
            log_warn("VM %s: %s: %s", snapops_vmname(so), path, e.msg);
    }
    cJSON_Delete(intent);
    free(path);
}

void snapops_remove_leftovers(const char *state_dir)
{
    /* Only the files supervisors write: the broker writes others here and
     * may be in the middle of one. */
    static const char *const ours[] = {"pending.json.tmp.", "standing.json.tmp.",
                                       "last-exit.json.tmp."};
    DIR *d = opendir(state_dir);
    struct dirent *de;

    if (d == NULL) {
        log_warn("cannot read %s: %s", state_dir, strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
            if (strncmp(de->d_name, ours[i], strlen(ours[i])) != 0)
                continue;
            if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                log_warn("cannot remove %s/%s: %s", state_dir, de->d_name, strerror(errno));
            else
                log_info("removed %s/%s, left by a crash", state_dir, de->d_name);
        }
    }
    closedir(d);
}

/* ---- reported differences ------------------------------------------------- */

static char *standing_path(const struct snapops *so)
{
    return xasprintf("%s/standing.json", so->state_dir);
}

/* "kind|snapshot|[disks]" (new); snapops_standing_forget reads it back. */
static char *fingerprint_of(const char *kind, const char *snap, const cJSON *disks)
{
    char *d = disks ? cJSON_PrintUnformatted(disks) : NULL;
    char *fp = xasprintf("%s|%s|%s", kind, snap, d ? d : "[]");

    cJSON_free(d);
    return fp;
}

static char *fingerprint(const cJSON *finding)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(finding, "kind");
    const cJSON *snap = cJSON_GetObjectItemCaseSensitive(finding, "snapshot");

    return fingerprint_of(cJSON_IsString(kind) ? kind->valuestring : "",
                          cJSON_IsString(snap) ? snap->valuestring : "",
                          cJSON_GetObjectItemCaseSensitive(finding, "disks"));
}

static bool array_has(const cJSON *arr, const char *s)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            return true;
    }
    return false;
}

static cJSON *standing(struct snapops *so)
{
    if (so->standing == NULL) {
        char *path = standing_path(so);
        so->standing = json_read_object_file(path, RECORD_MAX);
        if (so->standing == NULL)
            so->standing = json_obj();
        free(path);
    }
    return so->standing;
}

/* The fingerprints standing in group, created empty when absent. */
static cJSON *standing_group(struct snapops *so, const char *group)
{
    cJSON *g = cJSON_GetObjectItemCaseSensitive(standing(so), group);

    if (g == NULL) {
        g = json_arr();
        json_add(so->standing, group, g);
    }
    return g;
}

static void standing_save(struct snapops *so)
{
    char *path = standing_path(so);
    struct cerr e;

    /* Lost, the worst outcome is a difference reported a second time. */
    if (write_json(path, standing(so), &e) < 0)
        log_warn("VM %s: cannot record which differences were reported: %s", snapops_vmname(so),
                 e.msg);
    free(path);
}

void snapops_report_new(struct snapops *so, const char *group, const cJSON *findings)
{
    cJSON *all = standing(so);
    const cJSON *known = cJSON_GetObjectItemCaseSensitive(all, group);
    cJSON *now = json_arr();
    const cJSON *f;

    cJSON_ArrayForEach(f, findings)
    {
        const cJSON *snap = cJSON_GetObjectItemCaseSensitive(f, "snapshot");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(f, "kind");
        const cJSON *disks = cJSON_GetObjectItemCaseSensitive(f, "disks");
        const cJSON *detail = cJSON_GetObjectItemCaseSensitive(f, "detail");
        char *fp = fingerprint(f);

        if (!array_has(known, fp) && cJSON_IsString(snap) && cJSON_IsString(kind)) {
            cJSON *r = snapops_report(so, snap->valuestring, kind->valuestring, NULL,
                                      disks ? json_dup(disks) : NULL, "%s",
                                      cJSON_IsString(detail) ? detail->valuestring : "");
            cJSON_Delete(r);
        }
        if (!array_has(now, fp))
            json_arr_add(now, json_str(fp));
        free(fp);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(all, group);
    json_add(all, group, now);
    standing_save(so);
}

void snapops_standing_forget(struct snapops *so, const char *snap)
{
    size_t n = strlen(snap);
    bool changed = false;
    cJSON *group;

    cJSON_ArrayForEach(group, standing(so))
    {
        cJSON *fp = group->child;
        while (fp != NULL) {
            cJSON *next = fp->next;
            /* As fingerprint_of writes it; a kind has no '|'. */
            const char *rest = cJSON_IsString(fp) ? strchr(fp->valuestring, '|') : NULL;
            if (rest != NULL && strncmp(rest + 1, snap, n) == 0 &&
                strncmp(rest + 1 + n, "|[", 2) == 0) {
                cJSON_Delete(cJSON_DetachItemViaPointer(group, fp));
                changed = true;
            }
            fp = next;
        }
    }
    if (changed)
        standing_save(so);
}

cJSON *snapops_report_difference(struct snapops *so, const char *snap, const char *kind,
                                 cJSON *disks, const char *detail)
{
    cJSON *known = standing_group(so, "check"), *r;
    char *fp = fingerprint_of(kind, snap, disks);

    if (array_has(known, fp)) {
        log_info("VM %s: snapshot %s: %s still stands, reported before", snapops_vmname(so), snap,
                 kind);
        r = snapops_report_object(so, snap, kind, NULL, disks, detail);
        json_add_bool(r, "reported_before", true);
    } else {
        r = snapops_report(so, snap, kind, NULL, disks, "%s", detail);
        json_arr_add(known, json_str(fp));
        standing_save(so);
    }
    free(fp);
    return r;
}

/* ---- recovery ------------------------------------------------------------- */

struct recover {
    struct snapops *so;
    char context[64];
    snapops_recovered_cb cb;
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
    log_info("VM %s: snapshot %s: %s (%s)", snapops_vmname(rc->so), snap, detail, rc->context);
    if (!always && intent_flag(rc, "reported")) {
        cJSON_Delete(disks);
        return;
    }
    cJSON *r = snapops_report(rc->so, snap, "interrupted", intent_str(rc, "job"), disks,
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
    } else if (cJSON_GetArraySize(not_held) == 0 && cJSON_GetArraySize(held) > 0) {
        def = xml ? snapshot_def_parse(xml, strlen(xml), SNAPSHOT_PARSE_REDEFINE, &e) : NULL;
        if (def == NULL || snapshot_tree_add(so->tree, so->dir, def, true, &e) < 0) {
            interrupted(rc, true, held,
                        "snapshot-save finished on every disk but its metadata cannot be "
                        "written: %.300s",
                        xml ? e.msg : "the intent has no metadata");
            held = NULL;
        } else {
            snapops_event(so, "snapshot.created", snap);
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
                snapops_standing_forget(so, snap);
                snapops_event(so, "snapshot.deleted", snap);
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
            snapops_standing_forget(so, snap);
            snapops_event(so, "snapshot.deleted", snap);
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
            log_err("VM %s: reverted to %s but cannot mark it current: %s", snapops_vmname(so),
                    snap, e.msg);
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
    const cJSON *f;

    if (e != NULL) {
        recover_finish(rc, e);
        return;
    }
    if (rc->intent != NULL) {
        const char *op = intent_str(rc, "op");
        if (intent_str(rc, "snapshot") == NULL || op == NULL)
            log_warn("VM %s: ignoring a malformed pending.json", snapops_vmname(so));
        else if (strcmp(op, "create") == 0)
            settle_create(rc, l);
        else if (strcmp(op, "delete") == 0)
            settle_delete(rc, l);
        else
            settle_revert(rc);
        snapops_intent_end(so);
    }
    findings = json_arr();
    snapops_differences(so, &rc->disks, l, findings);
    snapshot_qmp_nodes_free(l);
    /* What the intent's report explained counts as reported already. */
    cJSON *known = standing_group(so, "check");
    cJSON_ArrayForEach(f, findings)
    {
        const cJSON *snap = cJSON_GetObjectItemCaseSensitive(f, "snapshot");
        char *fp = fingerprint(f);
        if (cJSON_IsString(snap) && array_has(rc->explained, snap->valuestring) &&
            !array_has(known, fp))
            json_arr_add(known, json_str(fp));
        free(fp);
    }
    snapops_report_new(so, "check", findings);
    cJSON_Delete(findings);
    recover_finish(rc, NULL);
}

static void recover_reconciled(const struct snapjob_leftover *jobs, size_t n, const struct cerr *e,
                               void *arg);

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct recover *rc = arg;

    (void)fd;
    (void)what;
    snapshot_qmp_reconcile_jobs(vm_qmp_conn(rc->so->vm), LIST_TIMEOUT_MS, recover_reconciled, rc);
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
        log_info("VM %s: QEMU kept job %s (%s) of an earlier supervisor: %s",
                 snapops_vmname(rc->so), jobs[i].id, jobs[i].type,
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
        log_err("VM %s: cannot arm a timer to wait for QEMU's job", snapops_vmname(rc->so));
    }
    if (running)
        log_warn("VM %s: a snapshot job of an earlier supervisor is still running; settling "
                 "without its end",
                 snapops_vmname(rc->so));
    snapshot_qmp_list(vm_qmp_conn(rc->so->vm), rc->disks.nodes, rc->disks.n, LIST_TIMEOUT_MS,
                      recover_listed, rc);
}

void snapops_recover(struct snapops *so, const char *context, snapops_recovered_cb cb, void *arg)
{
    struct recover *rc = xcalloc(1, sizeof(*rc));
    char *path = intent_path(so);
    struct cerr e;

    if (so->busy) {
        /* An operation still owns QEMU's jobs; it settles its own. */
        log_warn("VM %s: snapshot recovery skipped: an operation is under way", snapops_vmname(so));
        free(rc);
        free(path);
        cb(NULL, arg);
        return;
    }
    rc->so = so;
    snprintf(rc->context, sizeof(rc->context), "%s", context);
    rc->cb = cb;
    rc->arg = arg;
    rc->explained = json_arr();
    rc->intent = json_read_object_file(path, RECORD_MAX);
    if (rc->intent == NULL && path_exists(path))
        log_warn("VM %s: %s does not parse; ignoring it", snapops_vmname(so), path);
    free(path);
    /* Long enough for a save of the guest's whole RAM. */
    rc->polls_left =
        (30000 + (long long)vm_def(so->vm)->memory_kib / 1024 / 20 * 1000) / JOB_POLL_MS;
    if (snapops_disks(so, &rc->disks, &e) < 0) {
        /* No disk takes snapshots: nothing can be left to recover. */
        if (rc->intent != NULL)
            snapops_intent_end(so);
        recover_finish(rc, NULL);
        return;
    }
    so->busy = true;
    snapshot_qmp_reconcile_jobs(vm_qmp_conn(so->vm), LIST_TIMEOUT_MS, recover_reconciled, rc);
}
