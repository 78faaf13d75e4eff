#include "supervisor/snapshot_check.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/json_size.h"
#include "proto/rpc.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_qmp_jobs.h"
#include "supervisor/snapshot_tags.h"
#include "supervisor/vm.h"

/* ---- check ----------------------------------------------------------------- */

struct check {
    struct snapops *so;
    vm_done_cb cb;
    void *arg;
    struct disks disks;
    long long limit;
    char *after_kind, *after_snapshot; /* the cursor; NULL for the first page */
    uint64_t list_epoch;               /* the listing's, for snapshot_tags_learn */
};

/* Reports are paged in (snapshot, kind) order: one check makes at most one
 * report of each kind per snapshot, so the pair is a position that a
 * later check (the next page's) finds again. */
static int report_cmp(const cJSON *a, const char *snap_b, const char *kind_b)
{
    const char *snap_a = cJSON_GetObjectItemCaseSensitive(a, "snapshot")->valuestring;
    int c = strcmp(snap_a, snap_b);

    return c != 0 ? c : strcmp(cJSON_GetObjectItemCaseSensitive(a, "kind")->valuestring, kind_b);
}

static int by_position(const void *x, const void *y)
{
    const cJSON *const *a = x, *const *b = y;

    return report_cmp(*a, cJSON_GetObjectItemCaseSensitive(*b, "snapshot")->valuestring,
                      cJSON_GetObjectItemCaseSensitive(*b, "kind")->valuestring);
}

/* The result: consistent and count of the whole check, and the page of
 * its reports after the cursor (consumes reports). */
static cJSON *check_page(const struct check *c, cJSON *reports)
{
    size_t n = (size_t)cJSON_GetArraySize(reports), i = 0, bytes = 0;
    cJSON **all = xcalloc(n + 1, sizeof(*all)), *page = json_arr(), *r = json_obj();
    const cJSON *last = NULL;
    long long count = 0;

    while (reports->child != NULL)
        all[i++] = cJSON_DetachItemViaPointer(reports, reports->child);
    cJSON_Delete(reports);
    qsort(all, n, sizeof(*all), by_position);
    for (i = 0; i < n; i++) {
        size_t size = json_size_bound(all[i]) + 1;

        if (c->after_kind != NULL && report_cmp(all[i], c->after_snapshot, c->after_kind) <= 0)
            continue;
        /* A page holds at least one report. */
        if (count == c->limit || (count > 0 && bytes + size > JSON_SIZE_PAGE_BUDGET))
            break;
        bytes += size;
        count++;
        last = all[i];
        json_arr_add(page, all[i]);
        all[i] = NULL;
    }
    json_add_bool(r, "consistent", n == 0);
    json_add_num(r, "count", (double)n);
    json_add(r, "reports", page);
    if (i < n) {
        char *next = xasprintf("%s:%s", cJSON_GetObjectItemCaseSensitive(last, "kind")->valuestring,
                               cJSON_GetObjectItemCaseSensitive(last, "snapshot")->valuestring);
        json_add_str(r, "next", next);
        free(next);
    } else
        json_add(r, "next", json_null());
    for (i = 0; i < n; i++)
        cJSON_Delete(all[i]);
    free(all);
    return r;
}

static void check_free(struct check *c)
{
    free(c->after_kind);
    free(c);
}

/* Reads limit and after, "KIND:SNAPSHOT" (a kind has no colon). */
static int read_page(struct check *c, const cJSON *params, struct cerr *e)
{
    const char *after = NULL, *colon;

    c->limit = SNAPCHECK_PAGE_MAX;
    if (rpc_param_int(params, "limit", 1, SNAPCHECK_PAGE_MAX, &c->limit, e) < 0 ||
        rpc_param_string(params, "after", false, &after, e) < 0)
        return -1;
    if (after == NULL)
        return 0;
    colon = strchr(after, ':');
    if (colon == NULL || colon == after) {
        cerr_set(e, CE_INVALID_PARAMS,
                 "after is not a cursor of snapshot.check: the next of an earlier page is "
                 "KIND:SNAPSHOT");
        return -1;
    }
    c->after_kind = xstrdup(after);
    c->after_kind[colon - after] = '\0';
    c->after_snapshot = c->after_kind + (colon - after) + 1;
    return 0;
}

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

/* One snapshot held by a disk with no metadata of that name. */
struct orphan {
    const char *tag; /* borrowed from the node list */
    size_t node;     /* index in the node list: disks keep its order */
};

static int orphan_cmp(const void *x, const void *y)
{
    const struct orphan *a = x, *b = y;
    int c = strcmp(a->tag, b->tag);

    return c != 0 ? c : (a->node > b->node) - (a->node < b->node);
}

static void check_disk_side(const struct snapops *so, const struct disks *ds,
                            const struct snapshot_qmp_nodes *l, cJSON *reports)
{
    size_t total = 0, n = 0;
    struct orphan *o;

    for (size_t k = 0; k < l->n; k++)
        total += l->nodes[k].nsnaps;
    o = xcalloc(total + 1, sizeof(*o));
    for (size_t k = 0; k < l->n; k++)
        for (size_t i = 0; i < l->nodes[k].nsnaps; i++)
            if (snapshot_tree_lookup(so->tree, l->nodes[k].snaps[i].name) == NULL)
                o[n++] = (struct orphan){l->nodes[k].snaps[i].name, k};
    /* Sorted, so that a disk image holding ten thousand tags without
     * metadata is grouped in n log n, not searched tag by tag. */
    qsort(o, n, sizeof(*o), orphan_cmp);
    for (size_t i = 0; i < n;) {
        cJSON *disks = json_arr();
        size_t j = i;

        for (; j < n && strcmp(o[j].tag, o[i].tag) == 0; j++)
            json_arr_add(disks, json_str(snapcore_target_of(ds, l->nodes[o[j].node].node)));
        json_arr_add(reports, plain_report(so, o[i].tag, "orphan-on-disk", disks,
                                           "these images hold a snapshot corral has no "
                                           "metadata for (snapshot-create --redefine adopts it)"));
        i = j;
    }
    free(o);
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
        check_free(c);
        return;
    }
    snapshot_tags_learn(snapshot_qmp_jobs_tags(vm_snapjobs(c->so->vm)), c->list_epoch, l);
    reports = json_arr();
    snapcheck_differences(c->so, &c->disks, l, reports);
    snapshot_qmp_nodes_free(l);
    r = check_page(c, reports);
    c->cb(c->arg, r, NULL);
    check_free(c);
}

void snapcheck_run(struct snapops *so, const cJSON *params, vm_done_cb cb, void *arg)
{
    struct check *c;
    struct cerr e;

    if (snapcore_require_ready(so, &e) < 0) {
        cb(arg, NULL, &e);
        return;
    }
    c = xcalloc(1, sizeof(*c));
    if (read_page(c, params, &e) < 0 || snapcore_disks(so, &c->disks, &e) < 0) {
        check_free(c);
        cb(arg, NULL, &e);
        return;
    }
    c->so = so;
    c->cb = cb;
    c->arg = arg;
    so->busy = true;
    c->list_epoch = snapshot_tags_epoch(snapshot_qmp_jobs_tags(vm_snapjobs(so->vm)));
    snapshot_qmp_list(vm_qmp_conn(so->vm), c->disks.nodes, c->disks.n, SNAPCORE_LIST_TIMEOUT_MS,
                      check_listed, c);
}
