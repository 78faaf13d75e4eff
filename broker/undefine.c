#include "broker/undefine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/maintenance.h"
#include "broker/registry.h"
#include "broker/settle.h"
#include "broker/undefine_storage.h"
#include "broker/vm_dirs.h"
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

/* How many snapshots' metadata the VM has (vm/snapshots/NAME.xml, the
 * supervisor's): only counted, never read.  -1 with e when it cannot
 * tell. */
static int count_snapshots(const struct bvm *vm, struct cerr *e)
{
    int dfd = vm_dirs_open(vm->vm_dir, e), sfd, n = 0;
    struct dirent *de;
    DIR *d;

    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    sfd = openat(dfd, "snapshots", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    /* No directory, or a link or a file planted by the VM's uid in its
     * place: no metadata the supervisor would use. */
    if (sfd < 0 && (errno == ENOENT || errno == ELOOP || errno == ENOTDIR))
        return 0;
    d = sfd >= 0 ? fdopendir(sfd) : NULL;
    if (d == NULL) {
        cerr_set(e, CE_SYSTEM, "VM %s: cannot read its snapshot metadata in %s/snapshots: %s",
                 vm->def->name, vm->vm_dir, strerror(errno));
        if (sfd >= 0)
            close(sfd);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] != '.' && len > 4 && strcmp(de->d_name + len - 4, ".xml") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* virsh's rule: snapshot metadata goes with the VM only when asked. */
static int check_snapshots(const struct bvm *vm, bool with_metadata, struct cerr *e)
{
    int n = with_metadata ? 0 : count_snapshots(vm, e);

    if (n <= 0)
        return n;
    cerr_set(e, CE_OPERATION_INVALID,
             "cannot undefine VM %s with %d snapshot%s: use --snapshots-metadata to remove "
             "their metadata with it (the snapshots themselves stay in the disk images)",
             vm->def->name, n, n == 1 ? "" : "s");
    return -1;
}

void undefine_request(struct bvm *vm, struct rpc_req *req, const cJSON *params)
{
    struct broker *b = vm->b;
    bool remove_nvram = false, keep_nvram = false, snapshots = false, storage = false;
    struct domain_def *def = NULL;
    struct cerr e;
    char *name, *uuid;
    cJSON *r;

    if (rpc_param_bool(params, "nvram", &remove_nvram, &e) < 0 ||
        rpc_param_bool(params, "keep_nvram", &keep_nvram, &e) < 0 ||
        rpc_param_bool(params, "snapshots_metadata", &snapshots, &e) < 0 ||
        rpc_param_bool(params, "remove_all_storage", &storage, &e) < 0) {
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
    if (check_snapshots(vm, snapshots, &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    /* Copied: the VM is freed with its definition. */
    name = xstrdup(vm->def->name);
    uuid = xstrdup(vm->def->uuid);
    if (registry_undefine(b, vm,
                          remove_nvram ? REGISTRY_NVRAM_REMOVE
                          : keep_nvram ? REGISTRY_NVRAM_KEEP
                                       : REGISTRY_NVRAM_REFUSE,
                          storage ? &def : NULL, &e) < 0)
        rpc_req_done(req, NULL, &e);
    else {
        tell_undefined(b, name, uuid);
        /* After the undefine, as virsh does: the images are back with
         * their owner, and a refusal above removed nothing. */
        r = def != NULL ? undefine_storage_remove(def, rpc_req_uid(req)) : json_obj();
        rpc_req_done(req, r, NULL);
    }
    domain_def_free(def);
    free(name);
    free(uuid);
}
