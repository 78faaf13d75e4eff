#include "supervisor/snapshot_check.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "supervisor/snapshot_core.h"

/* ---- check ----------------------------------------------------------------- */

struct check {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    struct disks disks;
};

static cJSON *plain_report(const struct snapops *so, const char *snap, const char *kind,
                           cJSON *disks, const char *detail)
{
    cJSON *r = json_obj();

    json_add_str(r, "vm", so->name);
    json_add_str(r, "snapshot", snap);
    json_add_str(r, "kind", kind);
    json_add(r, "disks", disks);
    json_add_str(r, "detail", detail);
    return r;
}

static const struct sdisk *disk_by_target(const struct disks *ds, const char *target)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (strcmp(ds->d[i].target, target) == 0)
            return &ds->d[i];
    }
    return NULL;
}

static void check_metadata_side(const struct snapops *so, const struct disks *ds,
                                const struct snapshot_qmp_nodes *l, cJSON *reports)
{
    for (size_t i = 0; i < snapshot_tree_count(so->tree); i++) {
        const struct snapshot_def *d = snapshot_tree_nth(so->tree, i);
        cJSON *missing = json_arr(), *dup = json_arr(), *extra = json_arr();

        for (size_t k = 0; k < ds->n; k++) {
            const struct sdisk *sd = &ds->d[k];
            size_t count = snapshot_qmp_count(l, sd->node, d->name);
            bool covered = false;
            for (size_t j = 0; j < d->ndisks; j++)
                covered |= d->disks[j].internal && strcmp(d->disks[j].name, sd->target) == 0;
            if (covered && count == 0)
                json_arr_add(missing, json_str(sd->target));
            if (count > 1)
                json_arr_add(dup, json_str(sd->target));
            if (!covered && count > 0)
                json_arr_add(extra, json_str(sd->target));
        }
        for (size_t j = 0; j < d->ndisks; j++) {
            if (d->disks[j].internal && disk_by_target(ds, d->disks[j].name) == NULL)
                json_arr_add(missing, json_str(d->disks[j].name));
        }
        cJSON *lists[] = {missing, dup, extra};
        const char *kinds[] = {"missing", "duplicate-on-disk", "extra"};
        const char *details[] = {"the metadata names these disks but their images lack the tag",
                                 "these images hold the tag more than once",
                                 "these images hold the tag but the metadata does not cover them"};
        for (size_t k = 0; k < 3; k++) {
            if (cJSON_GetArraySize(lists[k]) > 0)
                json_arr_add(reports, plain_report(so, d->name, kinds[k], lists[k], details[k]));
            else
                cJSON_Delete(lists[k]);
        }
    }
}

static void check_disk_side(const struct snapops *so, const struct disks *ds,
                            const struct snapshot_qmp_nodes *l, cJSON *reports)
{
    cJSON *seen = json_obj(); /* orphan tag -> disks */

    for (size_t k = 0; k < l->n; k++) {
        const struct snapshot_qmp_node *n = &l->nodes[k];
        for (size_t i = 0; i < n->nsnaps; i++) {
            const char *tag = n->snaps[i].name;
            cJSON *disks;
            if (snapshot_tree_lookup(so->tree, tag) != NULL)
                continue;
            disks = cJSON_GetObjectItemCaseSensitive(seen, tag);
            if (disks == NULL) {
                disks = json_arr();
                json_add(seen, tag, disks);
            }
            json_arr_add(disks, json_str(snapcore_target_of(ds, n->node)));
        }
    }
    for (cJSON *it = seen->child; it != NULL; it = it->next)
        json_arr_add(reports, plain_report(so, it->string, "orphan-on-disk", json_dup(it),
                                           "these images hold a snapshot corral has no "
                                           "metadata for (snapshot-create --redefine adopts it)"));
    cJSON_Delete(seen);
}

void snapcheck_differences(const struct snapops *so, const struct disks *ds,
                           const struct snapshot_qmp_nodes *l, cJSON *reports)
{
    check_metadata_side(so, ds, l, reports);
    check_disk_side(so, ds, l, reports);
}

static void check_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct check *c = arg;
    cJSON *reports, *r;

    c->so->busy = false;
    if (e != NULL) {
        struct cerr err;
        cerr_set(&err, e->code, "VM %s: checking snapshots: %s", c->so->name, e->msg);
        c->cb(c->arg, NULL, &err);
        free(c);
        return;
    }
    reports = json_arr();
    snapcheck_differences(c->so, &c->disks, l, reports);
    snapshot_qmp_nodes_free(l);
    r = json_obj();
    json_add_bool(r, "consistent", cJSON_GetArraySize(reports) == 0);
    json_add(r, "reports", reports);
    c->cb(c->arg, r, NULL);
    free(c);
}

void snapcheck_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    struct check *c;
    struct cerr e;

    (void)params;
    if (snapcore_require_ready(so, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    c = xcalloc(1, sizeof(*c));
    if (snapcore_disks(so, &c->disks, &e) < 0) {
        free(c);
        cb(arg, NULL, &e);
        return;
    }
    c->so = so;
    c->cb = cb;
    c->arg = arg;
    so->busy = true;
    snapshot_qmp_list(vm_qmp_conn(so->vm), c->disks.nodes, c->disks.n, SNAPCORE_LIST_TIMEOUT_MS,
                      check_listed, c);
}
