#include "supervisor/snapshot_query.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_meta.h"

/* ---- queries ------------------------------------------------------------ */

struct info {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    char *name;
    struct disks disks;
};

/* The size of the saved VM state is QEMU's to tell (it is on the VM-state
 * disk only): the metadata has no such field. */
static void info_listed(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg)
{
    struct info *in = arg;
    const struct snapshot_def *d = snapshot_tree_lookup(in->so->tree, in->name);
    unsigned long long size = 0;
    cJSON *r;

    (void)e;
    for (size_t k = 0; l != NULL && k < l->n; k++) {
        for (size_t i = 0; i < l->nodes[k].nsnaps; i++) {
            if (strcmp(l->nodes[k].snaps[i].name, in->name) == 0 &&
                l->nodes[k].snaps[i].vm_state_size > size)
                size = l->nodes[k].snaps[i].vm_state_size;
        }
    }
    snapshot_qmp_nodes_free(l);
    if (d == NULL) {
        struct cerr err;
        cerr_set(&err, CE_NO_SNAPSHOT, "VM %s has no snapshot named '%s'", in->so->name, in->name);
        in->cb(in->arg, NULL, &err);
    } else {
        r = snapcore_snapshot_json(in->so, d);
        json_add_num(r, "vm_state_size", (double)size);
        in->cb(in->arg, r, NULL);
    }
    free(in->name);
    free(in);
}

void snapquery_info(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name;
    const struct snapshot_def *d;
    struct info *in;
    struct cerr e;

    d = snapcore_param_snapshot(so, params, &name, &e);
    if (d == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    in = xcalloc(1, sizeof(*in));
    if (!vm_is_active(so->vm) || snapcore_disks(so, &in->disks, &e) < 0) {
        free(in);
        cb(arg, snapcore_snapshot_json(so, d), NULL);
        return;
    }
    in->so = so;
    in->cb = cb;
    in->arg = arg;
    in->name = xstrdup(name);
    snapshot_qmp_list(vm_qmp_conn(so->vm), in->disks.nodes, in->disks.n, SNAPCORE_LIST_TIMEOUT_MS,
                      info_listed, in);
}

void snapquery_dumpxml(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name;
    const struct snapshot_def *d;
    struct cerr e;
    char *xml;

    d = snapcore_param_snapshot(so, params, &name, &e);
    if (d == NULL || (xml = snapshot_tree_dumpxml(so->tree, so->dir, name, &e)) == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    cJSON *r = json_obj();
    json_add_str(r, "xml", xml);
    free(xml);
    cb(arg, r, NULL);
}

void snapquery_current(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const struct snapshot_def *cur;
    const char *name = NULL;
    struct cerr e;

    if (rpc_param_string(params, "snapshot", false, &name, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    if (name != NULL) {
        if (snapcore_param_snapshot(so, params, &name, &e) == NULL) {
            cb(arg, NULL, &e);
            return;
        }
        /* A create or delete under way sets or retires the current
         * snapshot when its job ends, over a change made now. */
        if (so->busy) {
            cerr_set(&e, CE_BUSY,
                     "VM %s: another snapshot operation is under way; %s was not made current",
                     so->name, name);
            cb(arg, NULL, &e);
            return;
        }
        if (snapshot_tree_set_current(so->tree, so->dir, name, &e) < 0) {
            cb(arg, NULL, &e);
            return;
        }
    }
    cur = snapshot_tree_current(so->tree);
    cJSON *r = json_obj();
    json_add_str(r, "current", cur ? cur->name : NULL);
    cb(arg, r, NULL);
}

void snapquery_parent(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *name;
    const struct snapshot_def *d;
    struct cerr e;

    d = snapcore_param_snapshot(so, params, &name, &e);
    if (d == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    cJSON *r = json_obj();
    json_add_str(r, "parent", d->parent);
    cb(arg, r, NULL);
}

/* ---- redefine ------------------------------------------------------------ */

void snapquery_redefine(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const char *xml = NULL;
    bool current = false;
    struct snapshot_def *def;
    char *name;
    struct cerr e;

    if (rpc_param_string(params, "xml", true, &xml, &e) < 0 ||
        rpc_param_bool(params, "current", &current, &e) < 0 ||
        (def = snapshot_def_parse(xml, strlen(xml), SNAPSHOT_PARSE_REDEFINE, &e)) == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    if (so->busy) {
        snapshot_def_free(def);
        cerr_set(&e, CE_BUSY, "VM %s: another snapshot operation is under way", so->name);
        cb(arg, NULL, &e);
        return;
    }
    name = xstrdup(def->name);
    if (snapshot_tree_redefine(so->tree, so->dir, def, current, &e) < 0)
        cb(arg, NULL, &e);
    else
        cb(arg, snapcore_snapshot_json(so, snapshot_tree_lookup(so->tree, name)), NULL);
    free(name);
}
