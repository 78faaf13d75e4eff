#include "supervisor/snapshot_list.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_meta.h"

/* The filter flags of one request, libvirt's VIR_DOMAIN_SNAPSHOT_LIST_*. */
struct filters {
    bool leaves, no_leaves;
    bool metadata, no_metadata;
    bool active, inactive, disk_only;
    bool internal, external;
    bool topological;
};

static int read_filters(const cJSON *params, struct filters *f, struct cerr *e)
{
    *f = (struct filters){0};
    if (rpc_param_bool(params, "leaves", &f->leaves, e) < 0 ||
        rpc_param_bool(params, "no_leaves", &f->no_leaves, e) < 0 ||
        rpc_param_bool(params, "metadata", &f->metadata, e) < 0 ||
        rpc_param_bool(params, "no_metadata", &f->no_metadata, e) < 0 ||
        rpc_param_bool(params, "active", &f->active, e) < 0 ||
        rpc_param_bool(params, "inactive", &f->inactive, e) < 0 ||
        rpc_param_bool(params, "disk_only", &f->disk_only, e) < 0 ||
        rpc_param_bool(params, "internal", &f->internal, e) < 0 ||
        rpc_param_bool(params, "external", &f->external, e) < 0 ||
        rpc_param_bool(params, "topological", &f->topological, e) < 0)
        return -1;
    return 0;
}

/* As libvirt: within each group, no flag and every flag both mean "any". */
static bool keep(const struct snapops *so, const struct snapshot_def *d, const struct filters *f)
{
    size_t nkids = 0;
    struct cerr e;
    const struct snapshot_def **kids = snapshot_tree_children(so->tree, d->name, &nkids, &e);

    free(kids);
    if (f->leaves != f->no_leaves && (nkids == 0) != f->leaves)
        return false;
    /* Every snapshot corral lists has metadata. */
    if (f->no_metadata && !f->metadata)
        return false;
    /* ... and is internal. */
    if (f->external && !f->internal)
        return false;
    if (f->active || f->inactive || f->disk_only) {
        bool off = d->state == SNAPSHOT_STATE_SHUTOFF;
        bool disk = d->state == SNAPSHOT_STATE_DISK_SNAPSHOT;
        if (!((f->inactive && off) || (f->disk_only && disk) || (f->active && !off && !disk)))
            return false;
    }
    return true;
}

/* The snapshots the selection params name, before filtering; NULL with e
 * when a named snapshot is missing.  *all tells that every one is. */
static const struct snapshot_def **select_base(struct snapops *so, const cJSON *params, size_t *n,
                                               bool *all, struct cerr *e)
{
    const char *filter = "all", *from = NULL;
    bool descendants = false, from_current = false;

    *all = false;
    if (rpc_param_string(params, "filter", false, &filter, e) < 0 ||
        rpc_param_string(params, "from", false, &from, e) < 0 ||
        rpc_param_bool(params, "from_current", &from_current, e) < 0 ||
        rpc_param_bool(params, "descendants", &descendants, e) < 0)
        return NULL;
    if (from != NULL && from_current) {
        cerr_set(e, CE_INVALID_PARAMS, "from and from_current cannot be combined");
        return NULL;
    }
    if (from_current) {
        const struct snapshot_def *cur = snapshot_tree_current(so->tree);
        if (cur == NULL) {
            cerr_set(e, CE_NO_SNAPSHOT, "VM %s has no current snapshot", so->name);
            return NULL;
        }
        from = cur->name;
    }
    if (from != NULL) {
        if (snapshot_tree_lookup(so->tree, from) == NULL) {
            cerr_set(e, CE_NO_SNAPSHOT, "VM %s has no snapshot named '%s'", so->name, from);
            return NULL;
        }
        return descendants ? snapshot_tree_descendants(so->tree, from, n, e)
                           : snapshot_tree_children(so->tree, from, n, e);
    }
    if (strcmp(filter, "roots") == 0)
        return snapshot_tree_roots(so->tree, n);
    if (strcmp(filter, "leaves") == 0)
        return snapshot_tree_leaves(so->tree, n);
    if (strcmp(filter, "current") == 0) {
        const struct snapshot_def **list = xcalloc(1, sizeof(*list));
        list[0] = snapshot_tree_current(so->tree);
        *n = list[0] != NULL ? 1 : 0;
        return list;
    }
    if (strcmp(filter, "all") != 0) {
        cerr_set(e, CE_INVALID_PARAMS, "filter must be all, roots, leaves or current");
        return NULL;
    }
    *all = true;
    *n = 0;
    return xcalloc(1, sizeof(const struct snapshot_def *));
}

static bool contains(const struct snapshot_def *const *list, size_t n, const struct snapshot_def *d)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == d)
            return true;
    return false;
}

void snaplist_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    const struct snapshot_def **base, **order = NULL;
    size_t nbase = 0, norder = snapshot_tree_count(so->tree);
    struct filters f;
    bool all;
    struct cerr e;
    cJSON *r, *arr;

    if (read_filters(params, &f, &e) < 0 ||
        (base = select_base(so, params, &nbase, &all, &e)) == NULL) {
        cb(arg, NULL, &e);
        return;
    }
    if (f.topological)
        order = snapshot_tree_topological(so->tree, &norder);
    arr = json_arr();
    /* One walk in the order asked for, keeping the selected ones. */
    for (size_t i = 0; i < norder; i++) {
        const struct snapshot_def *d = order != NULL ? order[i] : snapshot_tree_nth(so->tree, i);
        if ((all || contains(base, nbase, d)) && keep(so, d, &f))
            json_arr_add(arr, snapcore_snapshot_json(so, d));
    }
    free(order);
    free(base);
    r = json_obj();
    json_add(r, "snapshots", arr);
    cb(arg, r, NULL);
}
