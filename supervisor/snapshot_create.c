#include "supervisor/snapshot_create.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/xml_lib.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_intent.h"
#include "supervisor/snapshot_meta.h"
#include "supervisor/snapshot_tags.h"

/* ---- create ------------------------------------------------------------ */

struct create {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    char *name, *description;
    struct disks disks;
    enum snapshot_state state;
    long long creation_time;
    bool no_metadata; /* libvirt's VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA */
    char job_id[SNAPJOB_ID_MAX];
    /* The intent, staged while QEMU lists the disks (NULL: not, or taken),
     * or why it could not be. */
    char *intent_staged;
    int intent_rc;
    struct cerr intent_err;
    /* The metadata file, staged while QEMU saves, and the definition it
     * holds (both NULL: not staged, or taken), with the rewrite of the old
     * current's file that making it current needs. */
    char *meta_staged;
    struct snapshot_def *meta_def;
    struct snapshot_retire retire;
    /* create_record ran (from the job's early callback): its outcome. */
    bool recorded;
    int record_rc;
    struct cerr record_err;
    /* The early callback answered: the done callback only frees. */
    bool answered;
    /* Inside snapcreate_run's listing call, which may answer at once:
     * create_finish then leaves c to snapcreate_run to free (dead). */
    bool in_call, dead;
    uint64_t list_epoch; /* the listing's, for snapshot_tags_learn; 0: none sent */
};

static void create_free(struct create *c)
{
    snapintent_unstage(c->intent_staged);
    file_unstage(c->meta_staged);
    snapshot_def_free(c->meta_def);
    snapshot_tree_retire_drop(&c->retire);
    free(c->name);
    free(c->description);
    free(c);
}

static void create_finish(struct create *c, cJSON *result, const struct cerr *e)
{
    c->so->busy = false;
    c->cb(c->arg, result, e);
    if (c->in_call)
        c->dead = true;
    else
        create_free(c);
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
    d->domain = def;
    d->current = !c->no_metadata;
    return d;
}

/* Writes the metadata of the snapshot QEMU saved, once: from the job's
 * early callback, or else when it is done.  Only the renames are left when
 * the files were staged. */
static int create_record(struct create *c, struct cerr *e)
{
    struct snapops *so = c->so;

    if (!c->recorded) {
        c->recorded = true;
        if (c->no_metadata)
            c->record_rc = 0;
        else if (c->meta_staged != NULL) {
            c->record_rc = snapshot_tree_add_staged(so->tree, so->dir, c->meta_def, c->meta_staged,
                                                    &c->retire, &c->record_err);
            c->meta_def = NULL;
            c->meta_staged = NULL;
        } else
            c->record_rc =
                snapshot_tree_add(so->tree, so->dir, create_def(c), true, &c->record_err);
    }
    if (c->record_rc < 0)
        *e = c->record_err;
    return c->record_rc;
}

/* The answer to a create whose snapshot is recorded (new). */
static cJSON *create_answer(const struct create *c)
{
    struct snapops *so = c->so;
    struct snapshot_def *d;
    cJSON *out;

    if (!c->no_metadata)
        return snapcore_snapshot_json(so, snapshot_tree_lookup(so->tree, c->name));
    d = create_def(c);
    out = snapcore_snapshot_json(so, d);
    snapshot_def_free(d);
    return out;
}

/* After the answer, so that the event's trip to the broker does not delay
 * it: subscribers learn of the snapshot as they learn of any other. */
static void create_announce(const struct create *c)
{
    snapcore_event(c->so, "snapshot.created", c->name);
    log_info("VM %s: snapshot %s created%s", c->so->name, c->name,
             c->no_metadata ? " without metadata" : "");
}

/* Once the metadata is written: the directory sync its renames owe (held
 * back, when they were, until after the answer), then the intent goes.  A
 * failed sync keeps the intent, which recovery settles from. */
static void create_settle(struct create *c)
{
    struct snapops *so = c->so;
    struct cerr e;

    if (snapshot_meta_syncs_flush(so->dir, &e) < 0) {
        log_err_code(cerr_name(e.code), "VM %s: snapshot %s: %s; its intent stays for recovery",
                     so->name, c->name, e.msg);
        return;
    }
    snapintent_settled(so);
}

/* QEMU has saved the snapshot on every disk and only dismisses the job:
 * the outcome is known.  The intent on disk holds the metadata and says
 * which job made it, so recovery records it if the machine stops before
 * the metadata's directory is synced: the metadata is written without
 * that sync, the user is answered, and the sync and the intent's removal
 * follow while the answer travels and QEMU dismisses the job. */
static void create_saved_early(const struct snapjob_result *r, void *arg)
{
    struct create *c = arg;
    struct snapops *so = c->so;
    struct cerr e;

    (void)r;
    snapshot_meta_syncs_defer(SNAPSHOT_META_DEFER_COMMITS);
    if (create_record(c, &e) < 0) {
        /* create_saved says what failed. */
        if (snapshot_meta_syncs_flush(so->dir, &e) < 0)
            log_err_code(cerr_name(e.code), "VM %s: snapshot %s: %s", so->name, c->name, e.msg);
        return;
    }
    c->answered = true;
    so->busy = false;
    c->cb(c->arg, create_answer(c), NULL);
    create_announce(c);
    create_settle(c);
}

static void create_saved(const struct snapjob_result *r, void *arg)
{
    struct create *c = arg;
    struct snapops *so = c->so;
    struct cerr e;

    if (c->answered) {
        create_free(c);
        return;
    }
    if (r->outcome == SNAPJOB_UNKNOWN) {
        snapintent_report_unknown(so, c->name, "snapshot-save", r,
                                  snapcore_targets(&c->disks, c->disks.nodes, c->disks.n),
                                  "no metadata was written");
        cerr_set(&e, CE_JOB_FAILED, "VM %s: snapshot %s may not have been created: %s", so->name,
                 c->name, r->err.msg);
        create_finish(c, NULL, &e);
        return;
    }
    if (!r->ok) {
        snapintent_end(so);
        cerr_set(&e, CE_JOB_FAILED, "VM %s: snapshot %s was not created: %s", so->name, c->name,
                 r->qemu_error ? r->qemu_error : r->err.msg);
        create_finish(c, NULL, &e);
        return;
    }
    if (create_record(c, &e) < 0) {
        /* The disks hold it but the metadata could not be written: say so;
         * recovery and snapshot-check find it as orphan-on-disk. */
        cerr_set(&e, CE_SYSTEM,
                 "VM %s: snapshot %s is on disk but its metadata could not be "
                 "written: %.400s",
                 so->name, c->name, e.msg);
        create_finish(c, NULL, &e);
        return;
    }
    create_settle(c);
    create_announce(c);
    create_finish(c, create_answer(c), NULL);
}

/* Stages the intent (with the metadata to record, unless none is) while
 * QEMU lists the disks: nothing recovery reads until create_listed
 * commits it. */
static void create_stage_intent(struct create *c)
{
    struct snapshot_def *d;
    char *xml;
    cJSON *intent;
    struct cerr le;

    c->intent_rc = -1;
    /* Before the job: without libxml2 no metadata could be written. */
    if (xml_lib_load(&le) < 0) {
        cerr_set(&c->intent_err, le.code, "VM %s: creating snapshot %s: %s", c->so->name, c->name,
                 le.msg);
        return;
    }
    d = create_def(c);
    xml = snapshot_def_format(d, false, &c->intent_err);
    snapshot_def_free(d);
    if (xml == NULL)
        return;
    intent = snapintent_new("create", c->name, c->job_id, &c->disks, c->disks.nodes, c->disks.n);
    if (c->no_metadata)
        json_add_bool(intent, "no_metadata", true);
    else
        json_add_str(intent, "metadata", xml);
    free(xml);
    c->intent_rc = snapintent_stage(c->so, intent, &c->intent_staged, &c->intent_err);
}

/* While QEMU saves: the metadata file, and the old current's file that
 * loses the marker, are written and synced aside, so that only renames are
 * left once the job ends.  Not fatal: create_record writes them whole
 * then. */
static void create_stage_metadata(struct create *c)
{
    struct snapops *so = c->so;
    struct cerr e;
    int rc;

    if (c->no_metadata)
        return;
    if (xml_lib_load(&e) < 0) {
        log_warn_code(cerr_name(e.code), "VM %s: snapshot %s: %s", so->name, c->name, e.msg);
        return;
    }
    c->meta_def = create_def(c);
    rc = snapshot_meta_stage(so->dir, c->meta_def, &c->meta_staged, &e);
    /* Formatted: what is kept until the job ends needs no definition. */
    c->meta_def->domain = NULL;
    if (rc < 0 || snapshot_tree_stage_retire(so->tree, so->dir, &c->retire, &e) < 0) {
        log_warn_code(cerr_name(e.code), "VM %s: snapshot %s: %s", so->name, c->name, e.msg);
        file_unstage(c->meta_staged);
        c->meta_staged = NULL;
        snapshot_def_free(c->meta_def);
        c->meta_def = NULL;
    }
}

static void create_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct create *c = arg;
    struct snapops *so = c->so;
    struct cerr err;
    const char *holders[DOMAIN_MAX_DISKS];
    size_t n;

    if (e != NULL) {
        cerr_set(&err, e->code, "VM %s: creating snapshot %s: %s", so->name, c->name, e->msg);
        create_finish(c, NULL, &err);
        return;
    }
    snapshot_tags_learn(snapshot_qmp_jobs_tags(vm_snapjobs(so->vm)), c->list_epoch, l);
    /* QEMU checks for an existing tag only on the VM-state disk and would
     * happily make a second snapshot of that name on the others. */
    n = snapshot_qmp_holders(l, c->name, holders);
    if (n > 0) {
        cerr_set(&err, CE_SNAPSHOT_EXISTS,
                 "VM %s: a snapshot named '%s' already exists on disk %s (not in corral's "
                 "metadata; see snapshot-check)",
                 so->name, c->name, snapcore_target_of(&c->disks, holders[0]));
        snapshot_qmp_nodes_free(l);
        create_finish(c, NULL, &err);
        return;
    }
    snapshot_qmp_nodes_free(l);
    if (c->intent_rc < 0) {
        create_finish(c, NULL, &c->intent_err);
        return;
    }
    c->intent_rc = snapintent_commit(so, c->intent_staged, &err);
    c->intent_staged = NULL;
    if (c->intent_rc < 0) {
        create_finish(c, NULL, &err);
        return;
    }
    if (snapshot_qmp_jobs_start(vm_snapjobs(so->vm), SNAPJOB_SAVE, c->job_id, c->name,
                                c->disks.nodes[0], c->disks.nodes, c->disks.n,
                                snapcore_ram_timeout_ms(so), snapcore_job_progress, create_saved, c,
                                &err) < 0) {
        snapintent_end(so);
        create_finish(c, NULL, &err);
        return;
    }
    snapshot_qmp_jobs_set_early(vm_snapjobs(so->vm), c->job_id, create_saved_early);
    create_stage_metadata(c);
}

void snapcreate_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name = NULL, *desc = NULL;
    char stamp[24];
    bool no_metadata = false;
    struct create *c;
    struct snapshot_tags *tags;
    struct snapshot_qmp_nodes *known;
    struct cerr e;
    long long now = (long long)time(NULL);

    if (rpc_param_string(params, "snapshot", false, &name, &e) < 0 ||
        rpc_param_string(params, "description", false, &desc, &e) < 0 ||
        rpc_param_bool(params, "no_metadata", &no_metadata, &e) < 0)
        goto fail;
    /* libvirt names an unnamed snapshot after its creation time. */
    if (name == NULL) {
        snprintf(stamp, sizeof(stamp), "%lld", now);
        name = stamp;
    }
    if (!name_snapshot_valid(name, &e) || snapcore_require_ready(so, &e) < 0)
        goto fail;
    if (strlen(name) > SNAPSHOT_META_NAME_MAX) {
        cerr_set(&e, CE_INVALID_NAME, "snapshot name is %zu bytes; corral stores at most %d",
                 strlen(name), SNAPSHOT_META_NAME_MAX);
        goto fail;
    }
    if (snapshot_tree_lookup(so->tree, name) != NULL) {
        cerr_set(&e, CE_SNAPSHOT_EXISTS, "VM %s already has a snapshot named '%s'", so->name, name);
        goto fail;
    }
    /* QEMU saves no pflash in an internal snapshot: reverting would pair
     * the disks with UEFI variables of another time.  libvirt refuses it
     * too. */
    if (vm_def(so->vm)->fw.loader != NULL) {
        cerr_set(&e, CE_OPERATION_INVALID,
                 "VM %s: internal snapshots of a VM with UEFI (pflash) firmware are not "
                 "supported: its NVRAM would not be in snapshot '%s'",
                 so->name, name);
        goto fail;
    }
    c = xcalloc(1, sizeof(*c));
    if (snapcore_disks(so, &c->disks, &e) < 0) {
        free(c);
        goto fail;
    }
    c->so = so;
    c->cb = cb;
    c->arg = arg;
    c->name = xstrdup(name);
    c->description = desc ? xstrdup(desc) : NULL;
    c->creation_time = now;
    c->no_metadata = no_metadata;
    if (vm_is_maintenance(so->vm))
        c->state = SNAPSHOT_STATE_SHUTOFF;
    else if (vm_get_state(so->vm) == VM_PAUSED)
        c->state = SNAPSHOT_STATE_PAUSED;
    else
        c->state = SNAPSHOT_STATE_RUNNING;
    snapshot_qmp_jobs_make_id(SNAPJOB_SAVE, c->job_id);
    so->busy = true;
    tags = snapshot_qmp_jobs_tags(vm_snapjobs(so->vm));
    known = snapshot_tags_known(tags, c->disks.nodes, c->disks.n);
    if (known != NULL) {
        /* Nothing but this supervisor's own jobs has touched the disks
         * since they were last listed: what QEMU would answer is known. */
        create_stage_intent(c);
        create_listed(known, NULL, c);
        return;
    }
    c->list_epoch = snapshot_tags_epoch(tags);
    /* The listing fails at once when QEMU's monitor is away. */
    c->in_call = true;
    snapshot_qmp_list(vm_qmp_conn(so->vm), c->disks.nodes, c->disks.n, SNAPCORE_LIST_TIMEOUT_MS,
                      create_listed, c);
    c->in_call = false;
    if (c->dead)
        create_free(c);
    else
        create_stage_intent(c);
    return;
fail:
    cb(arg, NULL, &e);
}
