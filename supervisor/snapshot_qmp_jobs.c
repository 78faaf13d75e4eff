#include "supervisor/snapshot_qmp_jobs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/monotime.h"
#include "common/json.h"
#include "supervisor/snapshot_qmp.h"
#include "supervisor/snapshot_tags.h"

/* query-jobs and job-dismiss once the job has concluded: QEMU answers them
 * at once unless another save or load holds the monitor. */
#define SNAPJOB_CLEANUP_TIMEOUT_MS 30000

/* QEMU's JSON parser answers a string that is not UTF-8 with errors that
 * carry no id, so a command holding one would never get its reply. */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != 0) {
        unsigned int len;
        uint32_t cp, min;

        if (*p < 0x80) {
            p++;
            continue;
        }
        if ((*p & 0xe0) == 0xc0) {
            len = 2;
            cp = *p & 0x1f;
            min = 0x80;
        } else if ((*p & 0xf0) == 0xe0) {
            len = 3;
            cp = *p & 0x0f;
            min = 0x800;
        } else if ((*p & 0xf8) == 0xf0) {
            len = 4;
            cp = *p & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        /* A NUL fails the continuation test, so this never reads past it. */
        for (unsigned int i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += len;
    }
    return true;
}

/* ---- Jobs ------------------------------------------------------------- */

enum job_phase {
    PHASE_COMMAND, /* snapshot-* sent: qmp holds the job until it answers */
    PHASE_WAIT,    /* the command returned; waiting for "concluded" (timer armed) */
    PHASE_QUERY,   /* query-jobs sent: qmp holds the job */
    PHASE_DISMISS, /* job-dismiss sent: qmp holds the job */
    PHASE_DONE,    /* result known; the timer is active to deliver it */
};

struct snapjob {
    struct snapjobs *sj; /* NULL once snapshot_qmp_jobs_free orphaned the job */
    struct snapjob *next;
    enum job_phase phase;
    /* Inside qmp_command for the snapshot command: a failure reported now
     * means the command never left. */
    bool sending;
    bool concluded;
    /* Concluded without error: only the dismissal is left, which holds
     * nothing up (see snapshot_qmp_jobs_busy). */
    bool settled;
    char id[SNAPJOB_ID_MAX];
    const char *command; /* "snapshot-save", ... */
    enum snapjob_kind kind;
    /* The tag and devices, for what the job changed (snapshot_tags). */
    char *tag;
    char **devices;
    size_t ndevices;
    bool tags_ended;       /* snapshot_tags_job_ended ran for it */
    char *what;            /* names the job, tag and devices in messages */
    long long deadline_ms; /* CLOCK_MONOTONIC; 0: none */
    struct event *timer;   /* the timeout, then the deferred delivery */
    char **statuses;
    size_t nstatuses;
    enum snapjob_outcome outcome;
    struct cerr err;
    char *qemu_error;
    snapjob_progress_cb progress;
    snapjob_done_cb early; /* see snapshot_qmp_jobs_set_early; NULL: none */
    snapjob_done_cb cb;
    void *arg;
};

struct snapjobs {
    struct event_base *base;
    struct qmp *q;
    struct snapjob *jobs;
    struct snapshot_tags *tags;
};

struct snapjobs *snapshot_qmp_jobs_new(struct event_base *base, struct qmp *q)
{
    struct snapjobs *sj = xcalloc(1, sizeof(*sj));

    sj->base = base;
    sj->q = q;
    sj->tags = snapshot_tags_new();
    return sj;
}

static void job_free(struct snapjob *j)
{
    if (j->timer != NULL)
        event_free(j->timer);
    for (size_t i = 0; i < j->nstatuses; i++)
        free(j->statuses[i]);
    free(j->statuses);
    free(j->what);
    free(j->qemu_error);
    free(j->tag);
    for (size_t i = 0; i < j->ndevices; i++)
        free(j->devices[i]);
    free(j->devices);
    free(j);
}

void snapshot_qmp_jobs_free(struct snapjobs *sj)
{
    struct snapjob *j;

    if (sj == NULL)
        return;
    while ((j = sj->jobs) != NULL) {
        sj->jobs = j->next;
        if (j->phase == PHASE_WAIT || j->phase == PHASE_DONE) {
            job_free(j);
            continue;
        }
        /* qmp still holds it as a command's callback argument. */
        j->sj = NULL;
        event_free(j->timer);
        j->timer = NULL;
    }
    snapshot_tags_free(sj->tags);
    free(sj);
}

struct snapshot_tags *snapshot_qmp_jobs_tags(const struct snapjobs *sj)
{
    return sj != NULL ? sj->tags : NULL;
}

/* Tells the tags what the job changed, once its outcome is known. */
static void job_tags_end(struct snapjob *j)
{
    static const enum snapshot_tags_change kind_change[] = {
        [SNAPJOB_SAVE] = SNAPSHOT_TAGS_SAVED,
        [SNAPJOB_LOAD] = SNAPSHOT_TAGS_UNCHANGED,
        [SNAPJOB_DELETE] = SNAPSHOT_TAGS_DELETED,
    };

    if (j->sj == NULL || j->tags_ended)
        return;
    j->tags_ended = true;
    snapshot_tags_job_ended(j->sj->tags,
                            j->outcome == SNAPJOB_OK ? kind_change[j->kind] : SNAPSHOT_TAGS_UNKNOWN,
                            j->tag, (const char *const *)j->devices, j->ndevices);
}

bool snapshot_qmp_jobs_busy(const struct snapjobs *sj)
{
    for (const struct snapjob *j = sj->jobs; j != NULL; j = j->next)
        if (!j->settled)
            return true;
    return false;
}

static void job_set(struct snapjob *j, enum snapjob_outcome outcome, enum corral_err code,
                    const char *qemu_error, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void job_set(struct snapjob *j, enum snapjob_outcome outcome, enum corral_err code,
                    const char *qemu_error, const char *fmt, ...)
{
    char detail[CERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    j->outcome = outcome;
    cerr_set(&j->err, code, "%s: %s", j->what, detail);
    free(j->qemu_error);
    j->qemu_error = qemu_error != NULL ? xstrdup(qemu_error) : NULL;
}

/* The callback runs from the loop, never inside a qmp callback or the
 * caller's own call, so that it may start the next job or free things. */
static void job_schedule(struct snapjob *j)
{
    j->phase = PHASE_DONE;
    if (evtimer_del(j->timer) < 0)
        log_warn("%s: cannot disarm the job timer", j->what);
    event_active(j->timer, EV_TIMEOUT, 1);
}

/* The job's result as the callbacks see it: borrows from j. */
static struct snapjob_result job_result(const struct snapjob *j)
{
    struct snapjob_result r = {
        .outcome = j->outcome,
        .ok = j->outcome == SNAPJOB_OK,
        .qemu_error = j->qemu_error,
        .err = j->err,
        .job_id = j->id,
        .statuses = (const char *const *)j->statuses,
        .nstatuses = j->nstatuses,
    };

    return r;
}

static void job_deliver(struct snapjob *j)
{
    struct snapjobs *sj = j->sj;
    struct snapjob_result r = job_result(j);

    for (struct snapjob **pp = &sj->jobs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    job_tags_end(j);
    if (r.ok)
        log_info("%s: done", j->what);
    else
        log_warn("%s", j->err.msg);
    j->cb(&r, j->arg);
    job_free(j);
}

/* A command of the job got no reply: e comes from qmp. */
static void job_no_reply(struct snapjob *j, const char *command, const struct cerr *e)
{
    if (j->sending)
        job_set(j, SNAPJOB_REFUSED, e->code, NULL, "%s was not sent: %s", command, e->msg);
    else if (e->code == CE_TIMEOUT)
        job_set(j, SNAPJOB_UNKNOWN, CE_TIMEOUT, NULL,
                "QEMU did not answer %s in time: outcome unknown", command);
    else
        job_set(j, SNAPJOB_UNKNOWN, CE_QEMU_FAILED, NULL,
                "QEMU's monitor was lost during the job: outcome unknown (%s)", e->msg);
    job_schedule(j);
}

static void dismiss_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct snapjob *j = arg;
    const char *desc = e == NULL ? snapshot_qmp_error_desc(reply) : e->msg;

    if (j->sj == NULL) {
        job_free(j);
        return;
    }
    /* The outcome is known already; the job only lingers in query-jobs
     * until a reconcile dismisses it. */
    if (desc != NULL)
        log_warn("%s: job-dismiss failed: %s", j->what, desc);
    job_schedule(j);
}

static void job_dismiss(struct snapjob *j)
{
    cJSON *args = json_obj();

    j->phase = PHASE_DISMISS;
    json_add_str(args, "id", j->id);
    qmp_command(j->sj->q, "job-dismiss", args, SNAPJOB_CLEANUP_TIMEOUT_MS, dismiss_cb, j);
}

/* This job's entry in query-jobs' return value, or NULL. */
static const cJSON *find_job(const cJSON *ret, const char *id)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, ret)
    {
        const char *item_id = snapshot_qmp_member_str(item, "id");

        if (item_id != NULL && strcmp(item_id, id) == 0)
            return item;
    }
    return NULL;
}

static void query_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct snapjob *j = arg;
    const cJSON *ret, *job, *error;
    const char *desc, *status;

    if (j->sj == NULL) {
        job_free(j);
        return;
    }
    if (e != NULL) {
        job_no_reply(j, "query-jobs", e);
        return;
    }
    desc = snapshot_qmp_error_desc(reply);
    if (desc != NULL) {
        job_set(j, SNAPJOB_UNKNOWN, CE_QEMU_FAILED, desc,
                "QEMU refused query-jobs after the job concluded: outcome unknown: %s", desc);
        job_schedule(j);
        return;
    }
    ret = qmp_reply_return(reply);
    job = cJSON_IsArray(ret) ? find_job(ret, j->id) : NULL;
    status = snapshot_qmp_member_str(job, "status");
    error = cJSON_GetObjectItemCaseSensitive(job, "error");
    if (job == NULL || status == NULL || (error != NULL && !cJSON_IsString(error))) {
        job_set(j, SNAPJOB_UNKNOWN, CE_QEMU_FAILED, NULL,
                "query-jobs has no well-formed entry for the concluded job: outcome unknown");
        job_schedule(j);
        return;
    }
    /* Only a concluded job carries its final error, and only it can be
     * dismissed; the event said concluded, so anything else is QEMU's
     * inconsistency. */
    if (strcmp(status, "concluded") != 0) {
        job_set(j, SNAPJOB_UNKNOWN, CE_QEMU_FAILED, NULL,
                "query-jobs reports the job '%s' after it concluded: outcome unknown", status);
        job_schedule(j);
        return;
    }
    if (error != NULL)
        job_set(j, SNAPJOB_FAILED, CE_JOB_FAILED, error->valuestring, "%s", error->valuestring);
    job_dismiss(j);
}

static void job_query(struct snapjob *j)
{
    j->phase = PHASE_QUERY;
    qmp_command(j->sj->q, "query-jobs", NULL, SNAPJOB_CLEANUP_TIMEOUT_MS, query_cb, j);
}

static bool job_saw(const struct snapjob *j, const char *status)
{
    for (size_t i = 0; i < j->nstatuses; i++)
        if (strcmp(j->statuses[i], status) == 0)
            return true;
    return false;
}

/* The job has concluded.  QEMU takes every job that fails through
 * "aborting" and every one that succeeds through "pending" (job.c:
 * job_update_rc, job_completed_txn_success), and only a failure has an
 * error to read: a success is dismissed at once, one round trip fewer,
 * and anything else is asked of query-jobs as before. */
static void job_concluded(struct snapjob *j)
{
    struct snapjob_result r;

    if (job_saw(j, "aborting") || !job_saw(j, "pending")) {
        job_query(j);
        return;
    }
    j->settled = true;
    job_tags_end(j);
    job_dismiss(j);
    /* dismiss_cb may already have run (monitor lost): the outcome stays a
     * success whatever job-dismiss answers. */
    if (j->early != NULL) {
        r = job_result(j);
        j->early(&r, j->arg);
    }
}

static void job_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct snapjob *j = arg;

    (void)fd;
    (void)what;
    if (j->phase == PHASE_DONE) {
        job_deliver(j);
        return;
    }
    job_set(j, SNAPJOB_UNKNOWN, CE_TIMEOUT, NULL,
            "the job did not conclude in time: outcome unknown");
    job_schedule(j);
}

static void command_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct snapjob *j = arg;
    const char *desc;

    if (j->sj == NULL) {
        job_free(j);
        return;
    }
    if (e != NULL) {
        job_no_reply(j, j->command, e);
        return;
    }
    desc = snapshot_qmp_error_desc(reply);
    if (desc != NULL) {
        job_set(j, SNAPJOB_REFUSED, CE_QEMU_FAILED, desc,
                "QEMU refused the command, no job was created: %s", desc);
        job_schedule(j);
        return;
    }
    /* Save and load return only after the RAM is written or read, so the
     * events up to "running" (or even "concluded") may be in already. */
    if (j->concluded) {
        job_concluded(j);
        return;
    }
    j->phase = PHASE_WAIT;
    if (j->deadline_ms != 0) {
        long long left = j->deadline_ms - monotime_ms();
        struct timeval tv;

        if (left < 0)
            left = 0;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)(left % 1000 * 1000);
        /* Without a timer the job still ends on "concluded" or on a lost
         * monitor; only a hung QEMU would keep it waiting. */
        if (evtimer_add(j->timer, &tv) < 0)
            log_err("%s: cannot arm the job timer: waiting without a limit", j->what);
    }
}

void snapshot_qmp_jobs_handle_event(struct snapjobs *sj, const char *event, const cJSON *data)
{
    const char *id, *status;
    struct snapjob *j;

    if (strcmp(event, "JOB_STATUS_CHANGE") != 0)
        return;
    id = snapshot_qmp_member_str(data, "id");
    status = snapshot_qmp_member_str(data, "status");
    if (id == NULL || status == NULL) {
        log_warn("ignoring a JOB_STATUS_CHANGE event without a string id and status");
        return;
    }
    for (j = sj->jobs; j != NULL; j = j->next)
        if (strcmp(j->id, id) == 0)
            break;
    if (j == NULL) {
        /* Not ours: started through vm.qmp or by an earlier supervisor,
         * it may change the tags whenever it runs. */
        snapshot_tags_forget(sj->tags);
        return;
    }
    if (j->phase == PHASE_DONE)
        return;
    j->statuses = xreallocarray(j->statuses, j->nstatuses + 1, sizeof(*j->statuses));
    j->statuses[j->nstatuses++] = xstrdup(status);
    if (j->progress != NULL)
        j->progress(j->id, status, j->arg);
    if (strcmp(status, "concluded") != 0 || j->concluded)
        return;
    j->concluded = true;
    if (j->phase == PHASE_WAIT) {
        if (evtimer_del(j->timer) < 0)
            log_warn("%s: cannot disarm the job timer", j->what);
        job_concluded(j);
    }
}

void snapshot_qmp_jobs_handle_closed(struct snapjobs *sj)
{
    /* Whatever happens until the next connection goes unseen. */
    snapshot_tags_forget(sj->tags);
    for (struct snapjob *j = sj->jobs; j != NULL; j = j->next) {
        if (j->phase != PHASE_WAIT)
            continue;
        job_set(j, SNAPJOB_UNKNOWN, CE_QEMU_FAILED, NULL,
                "QEMU's monitor was lost during the job: outcome unknown");
        job_schedule(j);
    }
}

static const char *const kind_command[] = {
    [SNAPJOB_SAVE] = "snapshot-save",
    [SNAPJOB_LOAD] = "snapshot-load",
    [SNAPJOB_DELETE] = "snapshot-delete",
};
static const char *const kind_word[] = {
    [SNAPJOB_SAVE] = "save",
    [SNAPJOB_LOAD] = "load",
    [SNAPJOB_DELETE] = "delete",
};

static int check_job_args(enum snapjob_kind kind, const char *tag, const char *vmstate_node,
                          const char *const *devices, size_t ndevices, int timeout_ms,
                          struct cerr *e)
{
    if (tag == NULL || !utf8_valid(tag)) {
        cerr_set(e, CE_INVALID_PARAMS, "%s: the snapshot tag is missing or not UTF-8",
                 kind_command[kind]);
        return -1;
    }
    if ((kind == SNAPJOB_DELETE) != (vmstate_node == NULL)) {
        cerr_set(e, CE_INVALID_PARAMS, "%s of '%s': a vmstate node is %s", kind_command[kind], tag,
                 kind == SNAPJOB_DELETE ? "not taken" : "required");
        return -1;
    }
    if (vmstate_node != NULL && !utf8_valid(vmstate_node)) {
        cerr_set(e, CE_INVALID_PARAMS, "%s of '%s': the vmstate node name is not UTF-8",
                 kind_command[kind], tag);
        return -1;
    }
    for (size_t i = 0; i < ndevices; i++) {
        if (!utf8_valid(devices[i])) {
            cerr_set(e, CE_INVALID_PARAMS, "%s of '%s': device %zu's node name is not UTF-8",
                     kind_command[kind], tag, i);
            return -1;
        }
    }
    if (timeout_ms < 0) {
        cerr_set(e, CE_INVALID_PARAMS, "%s of '%s': negative timeout", kind_command[kind], tag);
        return -1;
    }
    return 0;
}

void snapshot_qmp_jobs_make_id(enum snapjob_kind kind, char id[SNAPJOB_ID_MAX])
{
    /* Process-wide, with the pid: ids stay unique across snapjobs of one
     * supervisor and across its restarts while QEMU keeps old jobs. */
    static unsigned long counter;

    snprintf(id, SNAPJOB_ID_MAX, SNAPJOB_ID_PREFIX "%s-%lu-%ld", kind_word[kind], ++counter,
             (long)getpid());
}

/* QEMU job ids allow letters, digits, '-', '.' and '_' only. */
static bool job_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n >= SNAPJOB_ID_MAX || strncmp(id, SNAPJOB_ID_PREFIX, strlen(SNAPJOB_ID_PREFIX)))
        return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == n;
}

int snapshot_qmp_jobs_start(struct snapjobs *sj, enum snapjob_kind kind, const char *job_id,
                            const char *tag, const char *vmstate_node, const char *const *devices,
                            size_t ndevices, int timeout_ms, snapjob_progress_cb progress,
                            snapjob_done_cb cb, void *arg, struct cerr *e)
{
    struct snapjob *j;
    cJSON *args, *devs;
    char *names;

    if (check_job_args(kind, tag, vmstate_node, devices, ndevices, timeout_ms, e) < 0)
        return -1;
    if (!job_id_valid(job_id)) {
        cerr_set(e, CE_INVALID_PARAMS, "%s of '%s': job id %.80s is not one of corral's",
                 kind_command[kind], tag, job_id ? job_id : "(none)");
        return -1;
    }
    j = xcalloc(1, sizeof(*j));
    j->timer = evtimer_new(sj->base, job_timer_cb, j);
    if (j->timer == NULL) {
        free(j);
        cerr_set(e, CE_SYSTEM, "%s of '%s': cannot create a timer", kind_command[kind], tag);
        return -1;
    }
    j->sj = sj;
    j->command = kind_command[kind];
    j->kind = kind;
    j->tag = xstrdup(tag);
    j->devices = xcalloc(ndevices, sizeof(*j->devices));
    for (size_t i = 0; i < ndevices; i++)
        j->devices[i] = xstrdup(devices[i]);
    j->ndevices = ndevices;
    snprintf(j->id, sizeof(j->id), "%s", job_id);
    names = snapshot_qmp_join_names(devices, ndevices);
    j->what = xasprintf("%s of '%s' on %s (job %s)", j->command, tag, names, j->id);
    free(names);
    j->deadline_ms = timeout_ms > 0 ? monotime_ms() + timeout_ms : 0;
    j->outcome = SNAPJOB_OK;
    j->progress = progress;
    j->cb = cb;
    j->arg = arg;
    /* Registered before the command leaves: QEMU emits "created" and
     * "running" before the command's return. */
    j->next = sj->jobs;
    sj->jobs = j;

    args = json_obj();
    json_add_str(args, "job-id", j->id);
    json_add_str(args, "tag", tag);
    if (vmstate_node != NULL)
        json_add_str(args, "vmstate", vmstate_node);
    devs = json_arr();
    for (size_t i = 0; i < ndevices; i++)
        json_arr_add(devs, json_str(devices[i]));
    json_add(args, "devices", devs);
    log_info("%s: starting", j->what);
    j->phase = PHASE_COMMAND;
    snapshot_tags_job_started(sj->tags);
    j->sending = true;
    qmp_command(sj->q, j->command, args, timeout_ms, command_cb, j);
    j->sending = false;
    return 0;
}

void snapshot_qmp_jobs_set_early(struct snapjobs *sj, const char *job_id, snapjob_done_cb early)
{
    for (struct snapjob *j = sj->jobs; j != NULL; j = j->next)
        if (strcmp(j->id, job_id) == 0)
            j->early = early;
}

/* ---- Reconciling ------------------------------------------------------ */

struct reconcile;

struct reconcile_ref {
    struct reconcile *rc;
    size_t i;
};

struct reconcile {
    struct qmp *q;
    int timeout_ms;
    snapjob_reconcile_cb cb;
    void *arg;
    cJSON *jobs_json; /* a copy of query-jobs' return: the strings below point into it */
    struct snapjob_leftover *jobs;
    struct reconcile_ref *refs;
    size_t n;
    size_t outstanding; /* dismissals in flight, plus one while they are being sent */
};

static void reconcile_free(struct reconcile *rc)
{
    cJSON_Delete(rc->jobs_json);
    free(rc->jobs);
    free(rc->refs);
    free(rc);
}

static void reconcile_fail(struct reconcile *rc, const struct cerr *why)
{
    struct cerr err;

    cerr_set(&err, why->code, "cannot reconcile QEMU's snapshot jobs: %s", why->msg);
    rc->cb(NULL, 0, &err, rc->arg);
    reconcile_free(rc);
}

static void reconcile_release(struct reconcile *rc)
{
    if (--rc->outstanding > 0)
        return;
    rc->cb(rc->jobs, rc->n, NULL, rc->arg);
    reconcile_free(rc);
}

static void reconcile_dismiss_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct reconcile_ref *ref = arg;
    struct snapjob_leftover *job = &ref->rc->jobs[ref->i];
    const char *desc = e == NULL ? snapshot_qmp_error_desc(reply) : e->msg;

    if (desc != NULL)
        log_warn("cannot dismiss QEMU's leftover job %s: %s", job->id, desc);
    else
        job->dismissed = true;
    reconcile_release(ref->rc);
}

/* Fills rc->jobs from query-jobs' return value (borrowed); -1 with e when
 * it is malformed. */
static int reconcile_parse(struct reconcile *rc, const cJSON *ret, struct cerr *e)
{
    const cJSON *item;
    size_t idx = 0;

    if (!cJSON_IsArray(ret)) {
        cerr_set(e, CE_QEMU_FAILED, "QEMU's query-jobs reply is not an array");
        return -1;
    }
    rc->jobs_json = json_dup(ret);
    rc->jobs = xcalloc((size_t)cJSON_GetArraySize(rc->jobs_json), sizeof(*rc->jobs));
    cJSON_ArrayForEach(item, rc->jobs_json)
    {
        const char *id = snapshot_qmp_member_str(item, "id");
        struct snapjob_leftover *job = &rc->jobs[rc->n];
        const cJSON *error;

        if (id == NULL) {
            cerr_set(e, CE_QEMU_FAILED, "QEMU's query-jobs entry %zu has no string 'id'", idx);
            return -1;
        }
        idx++;
        if (strncmp(id, SNAPJOB_ID_PREFIX, strlen(SNAPJOB_ID_PREFIX)) != 0)
            continue;
        job->id = id;
        job->type = snapshot_qmp_member_str(item, "type");
        job->status = snapshot_qmp_member_str(item, "status");
        error = cJSON_GetObjectItemCaseSensitive(item, "error");
        if (job->type == NULL || job->status == NULL || (error != NULL && !cJSON_IsString(error))) {
            cerr_set(e, CE_QEMU_FAILED,
                     "QEMU's query-jobs entry for job %s has a missing or mistyped member", id);
            return -1;
        }
        job->error = error != NULL ? error->valuestring : NULL;
        rc->n++;
    }
    return 0;
}

static void reconcile_query_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct reconcile *rc = arg;
    const char *desc;
    struct cerr why;

    if (e != NULL) {
        reconcile_fail(rc, e);
        return;
    }
    desc = snapshot_qmp_error_desc(reply);
    if (desc != NULL) {
        cerr_set(&why, CE_QEMU_FAILED, "QEMU refused query-jobs: %s", desc);
        reconcile_fail(rc, &why);
        return;
    }
    if (reconcile_parse(rc, qmp_reply_return(reply), &why) < 0) {
        reconcile_fail(rc, &why);
        return;
    }
    rc->refs = xcalloc(rc->n, sizeof(*rc->refs));
    /* The extra count keeps a dismissal that fails at once (monitor gone)
     * from finishing the whole call before the others are sent. */
    rc->outstanding = 1;
    for (size_t i = 0; i < rc->n; i++) {
        cJSON *args;

        /* Only a concluded job can be dismissed; a running one is the
         * caller's to watch or reconcile again. */
        if (strcmp(rc->jobs[i].status, "concluded") != 0)
            continue;
        rc->refs[i].rc = rc;
        rc->refs[i].i = i;
        rc->outstanding++;
        args = json_obj();
        json_add_str(args, "id", rc->jobs[i].id);
        qmp_command(rc->q, "job-dismiss", args, rc->timeout_ms, reconcile_dismiss_cb, &rc->refs[i]);
    }
    reconcile_release(rc);
}

void snapshot_qmp_jobs_reconcile(struct qmp *q, int timeout_ms, snapjob_reconcile_cb cb, void *arg)
{
    struct reconcile *rc = xcalloc(1, sizeof(*rc));

    rc->q = q;
    rc->timeout_ms = timeout_ms;
    rc->cb = cb;
    rc->arg = arg;
    qmp_command(q, "query-jobs", NULL, timeout_ms, reconcile_query_cb, rc);
}
