#include "broker/pages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/lifecycle.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "common/json_size.h"
#include "common/names.h"
#include "proto/rpc.h"

/* A page being filled: its entries stop at limit, or before the budget. */
struct fill {
    cJSON *arr;
    long long limit, count;
    size_t bytes;
};

/* Adds o (consumed) unless the page is full: false then, and o is freed.
 * A page holds at least one entry. */
static bool fill_add(struct fill *f, cJSON *o)
{
    size_t size = json_size_bound(o) + 1;

    if (f->count == f->limit || (f->count > 0 && f->bytes + size > JSON_SIZE_PAGE_BUDGET)) {
        cJSON_Delete(o);
        return false;
    }
    json_arr_add(f->arr, o);
    f->bytes += size;
    f->count++;
    return true;
}

static int read_limit(const cJSON *params, struct fill *f, struct cerr *e)
{
    f->limit = PAGES_MAX;
    f->count = 0;
    f->bytes = 0;
    return rpc_param_int(params, "limit", 1, PAGES_MAX, &f->limit, e);
}

/* {KEY: page, "next": cursor or null}; cursor consumed. */
static cJSON *page_result(const char *key, cJSON *arr, char *cursor)
{
    cJSON *r = json_obj();

    json_add(r, key, arr);
    if (cursor != NULL)
        json_add_str(r, "next", cursor);
    else
        json_add(r, "next", json_null());
    free(cursor);
    return r;
}

static cJSON *vm_entry(const struct bvm *vm)
{
    cJSON *o = bvm_state_json(vm);

    json_add_str(o, "uuid", vm->def->uuid);
    json_add_bool(o, "autostart", vm->autostart);
    if (bvm_active(vm) && vm->qemu_pid > 0 && !lifecycle_maintenance(vm->phase))
        json_add_num(o, "qemu_pid", vm->qemu_pid);
    return o;
}

cJSON *pages_vm_list(const struct broker *b, uid_t uid, bool admin, const cJSON *params,
                     struct cerr *e)
{
    const char *after = NULL;
    const struct bvm *last = NULL;
    bool all = false, more = false;
    struct fill f;
    struct cerr ne;

    if (rpc_param_bool(params, "all", &all, e) < 0 || read_limit(params, &f, e) < 0 ||
        rpc_param_string(params, "after", false, &after, e) < 0)
        return NULL;
    if (after != NULL && !name_vm_valid(after, &ne)) {
        cerr_set(e, CE_INVALID_PARAMS, "after is not a cursor of vm.list: %s", ne.msg);
        return NULL;
    }
    f.arr = json_arr();
    /* The registry keeps its VMs in name order. */
    for (const struct bvm *vm = b->vms; vm != NULL && !more; vm = vm->next) {
        if (after != NULL && strcmp(vm->def->name, after) <= 0)
            continue;
        if (!all && (!bvm_active(vm) || lifecycle_maintenance(vm->phase)))
            continue;
        /* Users see the VMs they own. */
        if (!admin && vm->owner != uid)
            continue;
        if (fill_add(&f, vm_entry(vm)))
            last = vm;
        else
            more = true;
    }
    /* A page holds at least one VM, so more comes with a last. */
    return page_result("vms", f.arr, more && last != NULL ? xstrdup(last->def->name) : NULL);
}

cJSON *pages_inconsistencies(const struct bvm *vm, const cJSON *params, struct cerr *e)
{
    const char *after = NULL;
    unsigned long long skip = 0, i = 0;
    struct fill f;
    cJSON *all, *r;
    bool more = false;

    if (read_limit(params, &f, e) < 0 || rpc_param_string(params, "after", false, &after, e) < 0)
        return NULL;
    if (after != NULL) {
        char *end;

        /* The count of reports before the page: the ledger only grows. */
        errno = 0;
        skip = strtoull(after, &end, 10);
        if (after[0] < '0' || after[0] > '9' || *end != '\0' || errno != 0) {
            cerr_set(e, CE_INVALID_PARAMS,
                     "after is not a cursor of vm.inconsistencies: '%.64s' is not the next of "
                     "an earlier page",
                     after);
            return NULL;
        }
    }
    all = registry_reports(vm, e);
    if (all == NULL)
        return NULL;
    f.arr = json_arr();
    for (cJSON *rep = all->child, *next; rep != NULL && !more; rep = next, i++) {
        next = rep->next;
        if (i < skip)
            continue;
        more = !fill_add(&f, cJSON_DetachItemViaPointer(all, rep));
    }
    r = page_result("reports", f.arr,
                    more ? xasprintf("%llu", skip + (unsigned long long)f.count) : NULL);
    cJSON_Delete(all);
    return r;
}
