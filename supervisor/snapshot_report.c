#include "supervisor/snapshot_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"
#include "supervisor/journal.h"

cJSON *snapreport_object(const struct snapops *so, const char *snap, const char *kind,
                         const char *job, cJSON *disks, const char *detail)
{
    cJSON *r = json_obj();

    json_add_str(r, "vm", so->name);
    json_add_str(r, "snapshot", snap);
    json_add_str(r, "kind", kind);
    json_add(r, "disks", disks ? disks : json_arr());
    json_add_str(r, "detail", detail);
    if (job != NULL)
        json_add_str(r, "job", job);
    json_add_num(r, "time", (double)time(NULL));
    return r;
}

/* Journals every report of the array reports (one sync for the lot), then
 * sends each to subscribers (the broker persists what it receives) with
 * its "seq".  Durable before anyone is told: the request's answer, the
 * event, and the broker's copy all come after it. */
static void publish(struct snapops *so, cJSON *reports)
{
    struct cerr e;
    long long first = journal_append_many(so->journal, reports, &e), i = 0;
    cJSON *r;

    if (first < 0)
        log_err_code(cerr_name(e.code), "VM %s: cannot journal %d inconsistency reports: %s",
                     so->name, cJSON_GetArraySize(reports), e.msg);
    cJSON_ArrayForEach(r, reports)
    {
        json_add_num(r, "seq", first < 0 ? -1.0 : (double)(first + i++));
        so->notify("snapshot.inconsistency", json_dup(r), so->notify_arg);
    }
}

/* A check's new findings logged one by one up to this many; the rest in
 * one line: the journal and vm.inconsistencies hold every one, and a
 * thousand log lines cost a start several ms. */
#define REPORT_LOG_MAX 10

static void log_report(const struct snapops *so, const char *snap, const char *kind,
                       const char *detail)
{
    log_warn("VM %s: snapshot %s: inconsistency %s: %s", so->name, snap, kind, detail);
}

/* A report object, logged. */
static cJSON *new_report(const struct snapops *so, const char *snap, const char *kind,
                         const char *job, cJSON *disks, const char *detail)
{
    log_report(so, snap, kind, detail);
    return snapreport_object(so, snap, kind, job, disks, detail);
}

/* Logged, journalled, sent to subscribers and returned to the caller in
 * `reports`. */
cJSON *snapreport_send(struct snapops *so, const char *snap, const char *kind, const char *job,
                       cJSON *disks, const char *fmt, ...)
{
    char detail[1024];
    cJSON *one = json_arr(), *r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_arr_add(one, new_report(so, snap, kind, job, disks, detail));
    publish(so, one);
    r = cJSON_DetachItemFromArray(one, 0);
    cJSON_Delete(one);
    return r;
}

static char *standing_path(const struct snapops *so)
{
    return xasprintf("%s/standing.json", so->state_dir);
}

/* "kind|snapshot|[disks]" (new); snapreport_forget reads it back. */
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
        so->standing = json_read_object_file(path, SNAPCORE_RECORD_MAX);
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

    /* Lost, the worst outcome is a difference reported a second time: not
     * synced. */
    if (json_replace_file(path, standing(so), 0600, &e) < 0)
        log_warn_code(cerr_name(e.code), "VM %s: cannot record which differences were reported: %s",
                      so->name, e.msg);
    free(path);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The strings of arr, sorted for sorted_has; the array is malloc'd, the
 * strings borrowed from arr. */
static const char **sorted_strings(const cJSON *arr, size_t *n)
{
    const char **v = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*v));
    const cJSON *it;

    *n = 0;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it))
            v[(*n)++] = it->valuestring;
    }
    qsort(v, *n, sizeof(*v), cmp_strp);
    return v;
}

static bool sorted_has(const char **v, size_t n, const char *s)
{
    return n > 0 && bsearch(&s, v, n, sizeof(*v), cmp_strp) != NULL;
}

void snapreport_findings(struct snapops *so, const char *group, const cJSON *findings)
{
    cJSON *all = standing(so);
    const cJSON *known = cJSON_GetObjectItemCaseSensitive(all, group);
    cJSON *now = json_arr(), *batch = json_arr();
    size_t nknown, nfps = 0;
    /* A check of thousands of snapshots compares as many fingerprints:
     * sorted, not searched one by one. */
    const char **knowns = sorted_strings(known, &nknown);
    char **fps = xcalloc((size_t)cJSON_GetArraySize(findings) + 1, sizeof(*fps));
    const cJSON *f;

    cJSON_ArrayForEach(f, findings)
    {
        const cJSON *snap = cJSON_GetObjectItemCaseSensitive(f, "snapshot");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(f, "kind");
        const cJSON *disks = cJSON_GetObjectItemCaseSensitive(f, "disks");
        const cJSON *detail = cJSON_GetObjectItemCaseSensitive(f, "detail");
        char *fp = fingerprint(f);

        if (!sorted_has(knowns, nknown, fp) && cJSON_IsString(snap) && cJSON_IsString(kind)) {
            const char *d = cJSON_IsString(detail) ? detail->valuestring : "";

            if (cJSON_GetArraySize(batch) < REPORT_LOG_MAX)
                log_report(so, snap->valuestring, kind->valuestring, d);
            json_arr_add(batch, snapreport_object(so, snap->valuestring, kind->valuestring, NULL,
                                                  disks ? json_dup(disks) : NULL, d));
        }
        fps[nfps++] = fp;
    }
    if (cJSON_GetArraySize(batch) > REPORT_LOG_MAX)
        log_warn("VM %s: %d more inconsistencies (corralctl inconsistencies %s lists them all)",
                 so->name, cJSON_GetArraySize(batch) - REPORT_LOG_MAX, so->name);
    qsort(fps, nfps, sizeof(*fps), cmp_strp);
    for (size_t i = 0; i < nfps; i++) {
        if (i == 0 || strcmp(fps[i], fps[i - 1]) != 0)
            json_arr_add(now, json_str(fps[i]));
    }
    for (size_t i = 0; i < nfps; i++)
        free(fps[i]);
    free(fps);
    free(knowns);
    /* A check that finds a thousand differences makes one journal sync,
     * not a thousand. */
    if (cJSON_GetArraySize(batch) > 0)
        publish(so, batch);
    cJSON_Delete(batch);
    /* Every start checks: a clean one has nothing to write. */
    if (known != NULL && cJSON_Compare(known, now, true)) {
        cJSON_Delete(now);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(all, group);
    json_add(all, group, now);
    standing_save(so);
}

void snapreport_hold(struct snapops *so, cJSON *findings)
{
    snapreport_release(so);
    so->held = findings;
}

void snapreport_release(struct snapops *so)
{
    cJSON *findings = so->held;

    if (findings == NULL)
        return;
    so->held = NULL;
    snapreport_findings(so, "check", findings);
    cJSON_Delete(findings);
}

void snapreport_explained(struct snapops *so, const cJSON *findings, const cJSON *snaps)
{
    cJSON *known = standing_group(so, "check");
    const cJSON *f;

    cJSON_ArrayForEach(f, findings)
    {
        const cJSON *snap = cJSON_GetObjectItemCaseSensitive(f, "snapshot");
        char *fp = fingerprint(f);
        if (cJSON_IsString(snap) && array_has(snaps, snap->valuestring) && !array_has(known, fp))
            json_arr_add(known, json_str(fp));
        free(fp);
    }
}

void snapreport_known(struct snapops *so, const char *snap, const char *kind, const cJSON *disks)
{
    cJSON *known = standing_group(so, "check");
    char *fp = fingerprint_of(kind, snap, disks);

    if (!array_has(known, fp)) {
        json_arr_add(known, json_str(fp));
        standing_save(so);
    }
    free(fp);
}

void snapreport_forget(struct snapops *so, const char *snap)
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

cJSON *snapreport_difference(struct snapops *so, const char *snap, const char *kind, cJSON *disks,
                             const char *detail)
{
    cJSON *known = standing_group(so, "check"), *r;
    char *fp = fingerprint_of(kind, snap, disks);

    if (array_has(known, fp)) {
        log_info("VM %s: snapshot %s: %s still stands, reported before", so->name, snap, kind);
        r = snapreport_object(so, snap, kind, NULL, disks, detail);
        json_add_bool(r, "reported_before", true);
    } else {
        r = snapreport_send(so, snap, kind, NULL, disks, "%s", detail);
        json_arr_add(known, json_str(fp));
        standing_save(so);
    }
    free(fp);
    return r;
}
