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
    d->current = !c->no_metadata;
    return d;
}

static void create_saved(const struct snapjob_result *r, void *arg)
{
    struct create *c = arg;
    struct snapops *so = c->so;
    struct cerr e;

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
    if (c->no_metadata) {
        struct snapshot_def *d = create_def(c);
        snapintent_end(so);
        snapcore_event(so, "snapshot.created", c->name);
        log_info("VM %s: snapshot %s created without metadata", so->name, c->name);
        cJSON *out = snapcore_snapshot_json(so, d);
        snapshot_def_free(d);
        create_finish(c, out, NULL);
        return;
    }
    if (snapshot_tree_add(so->tree, so->dir, create_def(c), true, &e) < 0) {
        /* The disks hold it but the metadata could not be written: say so;
         * recovery and snapshot-check find it as orphan-on-disk. */
        cerr_set(&e, CE_SYSTEM,
                 "VM %s: snapshot %s is on disk but its metadata could not be "
                 "written: %.400s",
                 so->name, c->name, e.msg);
        create_finish(c, NULL, &e);
        return;
    }
    snapintent_end(so);
    snapcore_event(so, "snapshot.created", c->name);
    log_info("VM %s: snapshot %s created", so->name, c->name);
    create_finish(c, snapcore_snapshot_json(so, snapshot_tree_lookup(so->tree, c->name)), NULL);
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
    /* Before the job: without libxml2 no metadata could be written. */
    struct cerr le;
    if (xml_lib_load(&le) < 0) {
        cerr_set(&err, le.code, "VM %s: creating snapshot %s: %s", so->name, c->name, le.msg);
        create_finish(c, NULL, &err);
        return;
    }
    struct snapshot_def *d = create_def(c);
    char *xml = snapshot_def_format(d, false, &err);
    char job_id[SNAPJOB_ID_MAX];
    snapshot_qmp_jobs_make_id(SNAPJOB_SAVE, job_id);
    cJSON *intent =
        snapintent_new("create", c->name, job_id, &c->disks, c->disks.nodes, c->disks.n);
    snapshot_def_free(d);
    if (xml == NULL) {
        cJSON_Delete(intent);
        create_finish(c, NULL, &err);
        return;
    }
    if (c->no_metadata)
        json_add_bool(intent, "no_metadata", true);
    else
        json_add_str(intent, "metadata", xml);
    free(xml);
    if (snapintent_begin(so, intent, &err) < 0) {
        create_finish(c, NULL, &err);
        return;
    }
    if (snapshot_qmp_jobs_start(vm_snapjobs(so->vm), SNAPJOB_SAVE, job_id, c->name,
                                c->disks.nodes[0], c->disks.nodes, c->disks.n,
                                snapcore_ram_timeout_ms(so), snapcore_job_progress, create_saved, c,
                                &err) < 0) {
        snapintent_end(so);
        create_finish(c, NULL, &err);
    }
}

void snapcreate_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name = NULL, *desc = NULL;
    char stamp[24];
    bool no_metadata = false;
    struct create *c;
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
    so->busy = true;
    snapshot_qmp_list(vm_qmp_conn(so->vm), c->disks.nodes, c->disks.n, SNAPCORE_LIST_TIMEOUT_MS,
                      create_listed, c);
    return;
fail:
    cb(arg, NULL, &e);
}
