#include "broker/reports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/ledger.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "proto/conn.h"
#include "proto/rpc.h"
#include "proto/server.h"

/* How long a report waits for others to share its ledger flush. */
#define REPORT_BATCH_WAIT_US 2000

static void acked_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct bvm *vm = arg;

    (void)result;
    if (e != NULL)
        log_warn_code(cerr_name(e->code),
                      "VM %s: the supervisor did not take the report receipt: %s", vm->def->name,
                      e->msg);
}

/* "job|kind|disks" of a report about one QEMU job (new), or NULL. */
static char *job_report_key(const cJSON *report)
{
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(report, "job");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(report, "kind");
    char *disks, *key;

    if (!cJSON_IsString(job) || !cJSON_IsString(kind))
        return NULL;
    disks = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(report, "disks"));
    key = xasprintf("%s|%s|%s", job->valuestring, kind->valuestring, disks ? disks : "[]");
    cJSON_free(disks);
    return key;
}

static bool job_report_seen(const struct bvm *vm, const char *key)
{
    const cJSON *k;

    cJSON_ArrayForEach(k, vm->job_reports)
    {
        if (strcmp(k->valuestring, key) == 0)
            return true;
    }
    return false;
}

static void load_report_record(struct bvm *vm)
{
    struct cerr e;
    cJSON *all = registry_reports(vm, &e), *r;

    vm->last_seq = -1;
    vm->job_reports = json_arr();
    cJSON_ArrayForEach(r, all)
    {
        unsigned long long rs;
        char *key = job_report_key(r);
        if (json_get_uint(r, "seq", JSON_UINT_MAX, &rs) == 0 && (long long)rs > vm->last_seq)
            vm->last_seq = (long long)rs;
        if (key != NULL)
            json_arr_add(vm->job_reports, json_str(key));
        free(key);
    }
    cJSON_Delete(all);
    vm->last_seq_known = true;
}

static void ack_report(struct bvm *vm, long long seq)
{
    cJSON *ack;

    if (seq < 0 || vm->sup_conn == NULL)
        return;
    ack = json_obj();
    json_add_num(ack, "seq", (double)seq);
    rpc_conn_call(vm->sup_conn, "journal.ack", ack, BVM_CALL_TIMEOUT_MS, acked_cb, vm);
}

static void resent_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct bvm *vm = arg;

    (void)result;
    if (e != NULL)
        log_warn_code(cerr_name(e->code),
                      "VM %s: cannot ask the supervisor for its reports again: %s", vm->def->name,
                      e->msg);
}

/* Subscribing again makes the supervisor resend every report it has not
 * had acknowledged. */
static void report_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bvm *vm = arg;

    (void)fd;
    (void)what;
    vm->reports_held = false;
    if (vm->sup_conn != NULL)
        rpc_conn_call(vm->sup_conn, "events.subscribe", NULL, BVM_CALL_TIMEOUT_MS, resent_cb, vm);
}

/* Reports are not taken for now: the supervisor keeps them in its journal
 * and is asked for them again later. */
static void hold_reports(struct bvm *vm, long long seq, const char *why)
{
    struct timeval tv = {LEDGER_RETRY_MS / 1000, (LEDGER_RETRY_MS % 1000) * 1000};

    vm->reports_held = true;
    if (seq < 0)
        log_err("VM %s: an unjournalled inconsistency report is lost: %s", vm->def->name, why);
    else
        log_warn("VM %s: inconsistency report %lld and those after it not kept now: %s; they "
                 "stay in the supervisor's journal and are asked for again in %d s",
                 vm->def->name, seq, why, LEDGER_RETRY_MS / 1000);
    if (vm->report_retry == NULL)
        vm->report_retry = evtimer_new(vm->b->base, report_retry_cb, vm);
    if (vm->report_retry == NULL || evtimer_add(vm->report_retry, &tv) < 0)
        log_err("VM %s: cannot arm the timer that asks for held reports again", vm->def->name);
}

/* Writes the batch to the ledger with one flush, then logs and (when ack)
 * acknowledges each report; a batch the ledger cannot take is held, none
 * of it acknowledged. */
static void flush_batch(struct bvm *vm, bool ack)
{
    cJSON *batch = vm->report_batch, *r;
    char *path;
    struct cerr e;

    vm->report_batch = NULL;
    vm->batch_seq = 0;
    if (batch == NULL)
        return;
    path = xasprintf("%s/inconsistencies.jsonl", vm->state_dir);
    if (ledger_append_many(path, batch, &e) < 0) {
        unsigned long long first = 0;

        json_get_uint(cJSON_GetArrayItem(batch, 0), "seq", JSON_UINT_MAX, &first);
        hold_reports(vm, (long long)first, e.msg);
        free(path);
        cJSON_Delete(batch);
        return;
    }
    free(path);
    cJSON_ArrayForEach(r, batch)
    {
        unsigned long long n;
        long long seq = json_get_uint(r, "seq", JSON_UINT_MAX, &n) == 0 ? (long long)n : -1;
        char *key = job_report_key(r);

        log_warn("VM %s: inconsistency %lld: %s: %s", vm->def->name, seq,
                 cJSON_GetObjectItemCaseSensitive(r, "kind")->valuestring,
                 cJSON_GetObjectItemCaseSensitive(r, "detail")->valuestring);
        if (key != NULL)
            json_arr_add(vm->job_reports, json_str(key));
        free(key);
        if (seq > vm->last_seq)
            vm->last_seq = seq;
        if (ack)
            ack_report(vm, seq);
    }
    cJSON_Delete(batch);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_batch(arg, true);
}

/* Whether the batch holds a report about the same job saying the same. */
static bool batch_has_key(const struct bvm *vm, const char *key)
{
    const cJSON *r;

    cJSON_ArrayForEach(r, vm->report_batch)
    {
        char *k = job_report_key(r);
        bool same = k != NULL && strcmp(k, key) == 0;

        free(k);
        if (same)
            return true;
    }
    return false;
}

static void queue_report(struct bvm *vm, const cJSON *report, long long seq)
{
    if (vm->report_flush == NULL)
        vm->report_flush = evtimer_new(vm->b->base, flush_cb, vm);
    if (vm->report_flush == NULL) {
        hold_reports(vm, seq, "cannot schedule the ledger write");
        return;
    }
    if (vm->report_batch == NULL)
        vm->report_batch = json_arr();
    json_arr_add(vm->report_batch, json_dup(report));
    /* Told now, in order with the VM's other events (a job's progress):
     * the supervisor's journal already holds it.  Should the ledger refuse
     * the batch, the resent report is told again, with the same seq. */
    rpc_server_broadcast(vm->b->srv, vm->def->uuid, "snapshot.inconsistency", json_dup(report));
    if (seq > vm->batch_seq)
        vm->batch_seq = seq;
    /* libevent reads 4 KiB at a time, some 17 reports: waiting a little
     * lets a burst arrive and share one flush. */
    if (!event_pending(vm->report_flush, EV_TIMEOUT, NULL)) {
        struct timeval tv = {0, REPORT_BATCH_WAIT_US};

        if (evtimer_add(vm->report_flush, &tv) < 0)
            event_active(vm->report_flush, EV_TIMEOUT, 0);
    }
}

/* A report is checked, persisted and fanned out once, then acknowledged so
 * that the supervisor drops it from its journal; one seen before (resent
 * after a restart of either side), or one saying again what an earlier
 * report said about the same job, is only acknowledged.  A report over the
 * VM's rate, or one the ledger cannot take, is not acknowledged, and
 * neither is any after it until the supervisor resends them all: a later
 * seq kept first would make the earlier one look like a resend. */
void reports_receive(struct bvm *vm, const cJSON *report)
{
    char *key;
    long long seq;
    struct cerr e;

    if (!vm->last_seq_known)
        load_report_record(vm);
    if (ledger_check_report(report, vm->def->name, &seq, &e) < 0) {
        unsigned long long n;
        log_err_code(cerr_name(e.code),
                     "VM %s: dropped a malformed inconsistency report from the supervisor: %s",
                     vm->def->name, e.msg);
        /* Malformed it stays: taken off the journal rather than resent for
         * good. */
        if (json_get_uint(report, "seq", JSON_UINT_MAX, &n) == 0)
            ack_report(vm, (long long)n);
        return;
    }
    if (seq >= 0 && seq <= vm->last_seq) {
        /* Resent: kept already. */
        ack_report(vm, seq);
        return;
    }
    if (seq >= 0 && seq <= vm->batch_seq) {
        /* Resent while its first copy waits for the ledger: that copy's
         * flush acknowledges it, and not before it is kept. */
        return;
    }
    if (vm->reports_held) {
        if (seq < 0)
            log_err("VM %s: an unjournalled inconsistency report is lost: reports are held",
                    vm->def->name);
        return;
    }
    key = job_report_key(report);
    if (key != NULL && (job_report_seen(vm, key) || batch_has_key(vm, key))) {
        log_info("VM %s: report %lld repeats what job %s was reported to have done; not kept "
                 "twice",
                 vm->def->name, seq, cJSON_GetObjectItemCaseSensitive(report, "job")->valuestring);
        free(key);
        if (seq >= 0)
            vm->last_seq = seq;
        ack_report(vm, seq);
        return;
    }
    if (!ledger_take(&vm->report_bucket, ledger_now())) {
        char why[128];
        snprintf(why, sizeof(why), "the supervisor sends more than %d reports a second (burst %d)",
                 LEDGER_RATE, LEDGER_BURST);
        free(key);
        hold_reports(vm, seq, why);
        return;
    }
    free(key);
    queue_report(vm, report, seq);
}

void reports_drop(struct bvm *vm)
{
    /* What was taken is kept; the supervisor, going away, is not told: it
     * resends its journal to the next connection, which only acknowledges
     * what is kept already. */
    flush_batch(vm, false);
    if (vm->report_flush != NULL) {
        event_free(vm->report_flush);
        vm->report_flush = NULL;
    }
    if (vm->report_retry != NULL) {
        event_free(vm->report_retry);
        vm->report_retry = NULL;
    }
    vm->reports_held = false;
}
