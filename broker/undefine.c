#include "broker/undefine.h"

#include <stdlib.h>
#include <time.h>

#include "broker/maintenance.h"
#include "broker/registry.h"
#include "broker/settle.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "proto/rpc.h"
#include "proto/server.h"

static void again(struct broker *b, const char *name, void *req, const cJSON *params)
{
    struct cerr e;
    struct bvm *vm = registry_lookup(b, name, &e);

    if (vm == NULL)
        rpc_req_done(req, NULL, &e);
    else
        undefine_request(vm, req, params);
}

/* Whoever followed this VM hears the last of it: a VM defined later under
 * the same name is another VM, perhaps someone else's. */
static void tell_undefined(struct broker *b, const char *name, const char *uuid)
{
    cJSON *ev;

    if (b->srv == NULL)
        return;
    ev = json_obj();
    json_add_str(ev, "name", name);
    json_add_str(ev, "uuid", uuid);
    json_add_num(ev, "time", (double)time(NULL));
    rpc_server_end_subscriptions(b->srv, uuid, "vm.undefined", ev);
}

void undefine_request(struct bvm *vm, struct rpc_req *req, const cJSON *params)
{
    struct broker *b = vm->b;
    bool remove_nvram = false, keep_nvram = false;
    struct cerr e;
    char *name, *uuid;

    if (rpc_param_bool(params, "nvram", &remove_nvram, &e) < 0 ||
        rpc_param_bool(params, "keep_nvram", &keep_nvram, &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (remove_nvram && keep_nvram) {
        cerr_set(&e, CE_INVALID_PARAMS, "nvram and keep_nvram are mutually exclusive");
        rpc_req_done(req, NULL, &e);
        return;
    }
    /* A shut-off VM whose disks are open for snapshot work: the
     * maintenance supervisor is told to go, and the undefine runs when it
     * has. */
    if (lifecycle_maintenance(vm->phase)) {
        settle_then(vm, req, params, again);
        maintenance_stop(vm);
        return;
    }
    /* Copied: the VM is freed with its definition. */
    name = xstrdup(vm->def->name);
    uuid = xstrdup(vm->def->uuid);
    if (registry_undefine(b, vm,
                          remove_nvram ? REGISTRY_NVRAM_REMOVE
                          : keep_nvram ? REGISTRY_NVRAM_KEEP
                                       : REGISTRY_NVRAM_REFUSE,
                          &e) < 0)
        rpc_req_done(req, NULL, &e);
    else {
        tell_undefined(b, name, uuid);
        rpc_req_done(req, json_obj(), NULL);
    }
    free(name);
    free(uuid);
}
