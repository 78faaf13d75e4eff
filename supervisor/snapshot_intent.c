#include "supervisor/snapshot_intent.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"
#include "common/recfile.h"
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
    char *text;

    *staged = NULL;
    json_add_bool(intent, "reported", false);
    text = cJSON_PrintUnformatted(intent);
    cJSON_Delete(intent);
    if (text == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory serializing the intent");
        begin_failed(so, e);
        return -1;
    }
    *staged = xstrdup(text);
    cJSON_free(text);
    return 0;
}

int snapintent_commit(struct snapops *so, char *staged, struct cerr *e)
{
    char *path = intent_path(so);
    int rc;

    /* The intent this one replaces stood for metadata changes whose
     * directory sync failed: that sync first. */
    rc = snapshot_meta_syncs_flush(so->dir, e);
    if (rc == 0)
        rc = recfile_write(path, staged, strlen(staged), true, e);
    if (rc < 0)
        begin_failed(so, e);
    free(staged);
    free(path);
    return rc;
}

void snapintent_unstage(char *staged)
{
    free(staged);
}

int snapintent_begin(struct snapops *so, cJSON *intent, struct cerr *e)
{
    char *staged;

    if (snapintent_stage(so, intent, &staged, e) < 0)
        return -1;
    return snapintent_commit(so, staged, e);
}

/* Clears the intent, synced or not. */
static void clear_intent(struct snapops *so, bool sync)
{
    char *path = intent_path(so);
    struct cerr e;

    if (recfile_clear(path, sync, &e) < 0)
        log_warn_code(cerr_name(e.code), "VM %s: cannot clear the intent: %s", so->name, e.msg);
    free(path);
}

void snapintent_end(struct snapops *so)
{
    /* Left behind, it is settled (again) by the next recovery: harmless. */
    clear_intent(so, true);
}

void snapintent_settled(struct snapops *so)
{
    /* Not synced: the operation's metadata is durable already, and an
     * intent that a machine crash brings back is settled again by the
     * next recovery to the same state (with a report that it did). */
    clear_intent(so, false);
}

void snapintent_reported(struct snapops *so)
{
    char *path = intent_path(so);
    cJSON *intent = snapintent_load(so);
    char *text;
    struct cerr e;

    if (intent != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(intent, "reported");
        json_add_bool(intent, "reported", true);
        text = cJSON_PrintUnformatted(intent);
        if (text == NULL)
            log_warn("VM %s: out of memory serializing the intent", so->name);
        else if (recfile_write(path, text, strlen(text), true, &e) < 0)
            log_warn_code(cerr_name(e.code), "VM %s: %s", so->name, e.msg);
        cJSON_free(text);
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
    cJSON *intent = snapintent_read(path, so->name);

    free(path);
    return intent;
}

cJSON *snapintent_read(const char *path, const char *vm)
{
    enum recfile_read kind;
    char *text;
    size_t len;
    cJSON *intent = NULL;
    struct cerr e;

    if (recfile_read(path, SNAPCORE_RECORD_MAX, &text, &len, &kind, &e) < 0) {
        log_warn_code(cerr_name(e.code), "VM %s: ignoring the intent: %s", vm, e.msg);
        return NULL;
    }
    if (kind == RECFILE_TORN)
        /* The machine stopped while it was written: its job had not been
         * sent, since a job waits for its intent to be durable. */
        log_warn("VM %s: ignoring the intent cut short in %s", vm, path);
    if (kind != RECFILE_FOUND)
        return NULL;
    intent = json_parse(text, len, &e);
    if (intent != NULL && !cJSON_IsObject(intent)) {
        cJSON_Delete(intent);
        intent = NULL;
    }
    if (intent == NULL)
        log_warn("VM %s: %s does not parse; ignoring it", vm, path);
    free(text);
    return intent;
}
