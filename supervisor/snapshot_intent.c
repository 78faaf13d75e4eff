#include "supervisor/snapshot_intent.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"
#include "supervisor/snapshot_meta.h"
#include "supervisor/snapshot_report.h"

static char *intent_path(const struct snapops *so)
{
    return xasprintf("%s/pending.json", so->state_dir);
}

/* Prefixes e's message with what could not be recorded. */
static void begin_failed(const struct snapops *so, struct cerr *e)
{
    char msg[CERR_MSG_MAX];

    memcpy(msg, e->msg, sizeof(msg));
    cerr_set(e, e->code, "VM %s: cannot record the snapshot operation it starts: %s", so->name,
             msg);
}

int snapintent_stage(struct snapops *so, cJSON *intent, char **staged, struct cerr *e)
{
    char *path = intent_path(so);
    char *text, *line = NULL;
    size_t n;
    int rc = -1;

    *staged = NULL;
    json_add_bool(intent, "reported", false);
    text = cJSON_PrintUnformatted(intent);
    if (text == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory serializing %s", path);
    } else {
        n = strlen(text);
        line = xcalloc(1, n + 1);
        memcpy(line, text, n);
        line[n] = '\n';
        rc = file_stage(path, line, n + 1, 0600, staged, e);
    }
    if (rc < 0)
        begin_failed(so, e);
    free(line);
    cJSON_free(text);
    cJSON_Delete(intent);
    free(path);
    return rc;
}

int snapintent_commit(struct snapops *so, char *staged, struct cerr *e)
{
    char *path = intent_path(so);
    int rc;

    /* The intent this one replaces stood for metadata changes whose
     * directory sync failed: that sync first. */
    if (snapshot_meta_syncs_flush(so->dir, e) < 0) {
        file_unstage(staged);
        rc = -1;
    } else
        rc = file_commit(staged, path, e);

    if (rc < 0)
        begin_failed(so, e);
    free(path);
    return rc;
}

void snapintent_unstage(char *staged)
{
    file_unstage(staged);
}

int snapintent_begin(struct snapops *so, cJSON *intent, struct cerr *e)
{
    char *staged;

    if (snapintent_stage(so, intent, &staged, e) < 0)
        return -1;
    return snapintent_commit(so, staged, e);
}

/* Removes the intent with rm (file_remove_durable or _unsynced). */
static void remove_intent(struct snapops *so, int (*rm)(const char *, struct cerr *))
{
    char *path = intent_path(so);
    struct cerr e;

    if (rm(path, &e) < 0)
        log_warn_code(cerr_name(e.code), "VM %s: cannot remove %s: %s", so->name, path, e.msg);
    free(path);
}

void snapintent_end(struct snapops *so)
{
    /* Left behind, it is settled (again) by the next recovery: harmless. */
    remove_intent(so, file_remove_durable);
}

void snapintent_settled(struct snapops *so)
{
    /* Not synced: the operation's metadata is durable already, and an
     * intent that a machine crash brings back is settled again by the
     * next recovery to the same state (with a report that it did). */
    remove_intent(so, file_remove_unsynced);
}

void snapintent_reported(struct snapops *so)
{
    char *path = intent_path(so);
    cJSON *intent = json_read_object_file(path, SNAPCORE_RECORD_MAX);
    struct cerr e;

    if (intent != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(intent, "reported");
        json_add_bool(intent, "reported", true);
        if (json_write_file(path, intent, 0600, &e) < 0)
            log_warn_code(cerr_name(e.code), "VM %s: %s: %s", so->name, path, e.msg);
    }
    cJSON_Delete(intent);
    free(path);
}

/* A job whose end QEMU could not tell: the intent stays for recovery, and
 * the user learns now what is known. */
void snapintent_report_unknown(struct snapops *so, const char *snap, const char *op,
                               const struct snapjob_result *r, cJSON *disks, const char *kept)
{
    cJSON *rep = snapreport_send(
        so, snap, "interrupted", r->job_id, disks,
        "%s was cut short (%s); %s; when QEMU next answers, corral settles it from what the "
        "disks hold and reports again only where they disagree",
        op, r->err.msg, kept);

    cJSON_Delete(rep);
    snapintent_reported(so);
}

/* The intent of a job on devices (format nodes): what recovery needs. */
cJSON *snapintent_new(const char *op, const char *snap, const char *job_id, const struct disks *ds,
                      const char *const *nodes, size_t n)
{
    cJSON *in = json_obj();

    json_add_str(in, "op", op);
    json_add_str(in, "snapshot", snap);
    json_add_str(in, "job", job_id);
    json_add(in, "devices", snapcore_targets(ds, nodes, n));
    return in;
}

cJSON *snapintent_load(struct snapops *so)
{
    char *path = intent_path(so);
    cJSON *intent = json_read_object_file(path, SNAPCORE_RECORD_MAX);

    if (intent == NULL && path_exists(path))
        log_warn("VM %s: %s does not parse; ignoring it", so->name, path);
    free(path);
    return intent;
}
