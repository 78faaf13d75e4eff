#include "broker/dispatch.h"
#include "broker/dispatch_int.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "broker/autostart.h"
#include "broker/console_relay.h"
#include "broker/domstats.h"
#include "broker/policy.h"
#include "broker/forward.h"
#include "broker/identity.h"
#include "broker/maintenance.h"
#include "broker/netinfo.h"
#include "broker/pages.h"
#include "broker/readopt.h"
#include "broker/redefine.h"
#include "broker/supervise.h"
#include "broker/undefine.h"
#include "common/disk_check.h"
#include "common/domain_xml.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "proto/rpc.h"
#include "proto/server.h"

#define FORWARD_TIMEOUT_MS 60000
#define DESTROY_TIMEOUT_MS 30000
/* Snapshot jobs block QEMU's monitor while RAM is saved: generous. */
#define SNAPSHOT_TIMEOUT_MS 600000

/* Who may call a method.  authorize() decides from this alone: */
enum access {
    /* Admins; anybody else only on a VM they own, when params name one
     * (a name that is no VM passes: the method says so). */
    ACCESS_OWNER,
    /* The same, and anybody else must name a VM: without one,
     * events.subscribe follows every VM, others' too. */
    ACCESS_OWNER_NAMED,
    /* Root and the admin group only. */
    ACCESS_ADMIN
};

/* Where a VM's request is answered. */
enum route {
    ROUTE_LOCAL,   /* by the broker */
    ROUTE_FORWARD, /* by the VM's running supervisor; refused without one */
    /* By the running supervisor, or by a maintenance supervisor started
     * for the request when the VM is shut off. */
    ROUTE_MAINTENANCE
};

struct method_row {
    const char *name;
    rpc_method_fn fn;
    enum access access;
    /* The permission refusals name, and its name when params.force is true
     * (NULL: the same). */
    const char *perm, *perm_forced;
    enum route route;
    int timeout_ms; /* for a forwarded request */
    /* params.timeout (seconds, up to an hour) is added to timeout_ms. */
    bool timeout_param;
};

static const struct method_row *row_of(const char *method);
static int authorize_row(struct broker *b, uid_t uid, const struct method_row *row,
                         const cJSON *params, struct cerr *e);

static struct bvm *lookup(struct broker *b, struct rpc_req *req, const cJSON *params)
{
    const char *name = NULL;
    struct bvm *vm;
    struct cerr e;

    if (rpc_param_string(params, "name", true, &name, &e) < 0 ||
        (vm = registry_lookup(b, name, &e)) == NULL) {
        rpc_req_done(req, NULL, &e);
        return NULL;
    }
    return vm;
}

static void m_hello(struct rpc_req *req, const cJSON *params, void *arg)
{
    const struct broker *b = arg;
    struct cerr e;
    cJSON *r = rpc_hello_result(params, "corrald", rpc_req_uid(req), &e);

    /* Re-attachments after this broker's start still in flight. */
    if (r != NULL)
        json_add_num(r, "adopting", b->adopting);
    rpc_req_done(req, r, r ? NULL : &e);
}

/* Whether the file c opened is one this VM holds while it runs: a running
 * VM's images belong to its uid, not to its owner, and stay its disks. */
static bool handed_to(const struct bvm *vm, const struct disk_check *c)
{
    for (size_t k = 0; vm != NULL && k < vm->nhanded; k++) {
        if (vm->handed[k].dev == c->st.st_dev && vm->handed[k].ino == c->st.st_ino)
            return true;
    }
    return false;
}

/* A user who is not an admin defines VMs for themself only, on disk images
 * they own (or that the VM being redefined holds now): the broker hands
 * those images to the VM's uid, and must not be made to hand over anybody
 * else's file. */
static int check_user_disks(uid_t caller, uid_t owner, const struct bvm *vm,
                            const struct domain_def *def, struct cerr *e)
{
    if (owner != caller) {
        cerr_set(e, CE_PERMISSION,
                 "permission denied: uid %ld may not define a VM for uid %ld (only root and "
                 "the admin group may)",
                 (long)caller, (long)owner);
        return -1;
    }
    for (size_t i = 0; i < def->ndisks; i++) {
        struct disk_check c;
        struct cerr held;
        if (def->disks[i].source == NULL)
            continue;
        if (disk_check_open(&def->disks[i], false, caller, &c, e) < 0) {
            if (e->code != CE_PERMISSION || vm == NULL ||
                disk_check_open(&def->disks[i], true, caller, &c, &held) < 0)
                return -1;
            if (!handed_to(vm, &c)) {
                close(c.fd);
                return -1;
            }
        }
        close(c.fd);
    }
    if (domain_def_check_boot_files(def, false, caller, e) < 0)
        return -1;
    return domain_def_check_nvram_import(def, false, caller, e);
}

/* Define over an existing VM is the owner's (or an admin's), keeps the VM's
 * owner, and says nothing of other users' VMs.  Sets *vm to the VM it
 * updates (NULL: a new VM) and *owner to the owner it gets. */
static int check_redefine(struct broker *b, uid_t caller, const struct domain_def *def,
                          const cJSON *params, struct bvm **vm, long long *owner, struct cerr *e)
{
    bool admin = policy_is_admin(b, caller);
    cJSON *named;
    int rc;

    *vm = NULL;
    for (const struct bvm *o = b->vms; o != NULL && !admin; o = o->next) {
        if (o->owner != caller &&
            (strcmp(o->def->name, def->name) == 0 || strcmp(o->def->uuid, def->uuid) == 0)) {
            cerr_set(e, CE_DOMAIN_EXISTS, "a VM of another user already has the %s of '%s'",
                     strcmp(o->def->name, def->name) == 0 ? "name" : "uuid", def->name);
            return -1;
        }
    }
    *vm = registry_define_target(b, def, e);
    if (*vm == NULL)
        return e->code == CE_NO_DOMAIN ? 0 : -1;
    named = json_obj();
    json_add_str(named, "name", def->name);
    rc = authorize_row(b, caller, row_of("vm.define"), named, e);
    cJSON_Delete(named);
    if (rc < 0)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(params, "owner") != NULL && *owner != (*vm)->owner) {
        cerr_set(e, CE_INVALID_PARAMS,
                 "VM %s belongs to uid %ld: a definition over it keeps its owner (undefine it "
                 "to give it to uid %lld)",
                 def->name, (long)(*vm)->owner, *owner);
        return -1;
    }
    *owner = (*vm)->owner;
    return 0;
}

/* The checks of m_define, on the parsed definition. */
static int check_define(struct broker *b, uid_t caller, const char *xml, const cJSON *params,
                        long long *owner, struct cerr *e)
{
    char *warnings = NULL;
    struct domain_def *def = domain_def_parse(xml, strlen(xml), &warnings, e);
    struct bvm *vm;
    int rc = -1;

    free(warnings);
    if (def == NULL)
        return -1;
    if (check_redefine(b, caller, def, params, &vm, owner, e) == 0 &&
        policy_check_define(b, caller, (uid_t)*owner, xml, e) == 0 &&
        (policy_is_admin(b, caller) || check_user_disks(caller, (uid_t)*owner, vm, def, e) == 0))
        rc = 0;
    domain_def_free(def);
    return rc;
}

static void m_define(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct broker *b = arg;
    const char *xml = NULL;
    char *warnings = NULL;
    bool updated = false;
    struct bvm *vm;
    struct cerr e;
    cJSON *r, *w;

    uid_t caller = rpc_req_uid(req);
    long long owner = caller;

    if (rpc_param_string(params, "xml", true, &xml, &e) < 0 ||
        rpc_param_int(params, "owner", 0, 4294967294LL, &owner, &e) < 0 ||
        check_define(b, caller, xml, params, &owner, &e) < 0 ||
        (vm = registry_define(b, xml, strlen(xml), (uid_t)owner, &warnings, &updated, &e)) ==
            NULL) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    r = json_obj();
    w = json_arr();
    json_add_str(r, "name", vm->def->name);
    json_add_str(r, "uuid", vm->def->uuid);
    json_add_bool(r, "updated", updated);
    json_add_bool(r, "pending_changes", redefine_pending(vm));
    if (warnings != NULL) {
        log_warn("VM %s: %s", vm->def->name, warnings);
        json_arr_add(w, json_str(warnings));
    }
    json_add(r, "warnings", w);
    free(warnings);
    rpc_req_done(req, r, NULL);
}

static void m_undefine(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);

    if (vm != NULL)
        undefine_request(vm, req, params);
}

static void m_list(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct broker *b = arg;
    uid_t uid = rpc_req_uid(req);
    struct cerr e;
    cJSON *r = pages_vm_list(b, uid, policy_is_admin(b, uid), params, &e);

    rpc_req_done(req, r, r != NULL ? NULL : &e);
}

static void m_start(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);
    bool paused = false;
    struct cerr e;

    if (vm == NULL)
        return;
    if (rpc_param_bool(params, "paused", &paused, &e) < 0 ||
        policy_check_start(arg, rpc_req_uid(req), vm, &e) < 0)
        rpc_req_done(req, NULL, &e);
    else {
        /* A start already on its way keeps what it was asked. */
        if (vm->start_waiters == NULL && !lifecycle_starting(vm->phase))
            vm->start_paused = paused;
        supervise_start(vm, req);
    }
}

static void m_autostart(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);
    bool disable = false;
    struct cerr e;
    cJSON *r;

    if (vm == NULL)
        return;
    if (rpc_param_bool(params, "disable", &disable, &e) < 0 ||
        autostart_set(vm, !disable, &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    r = json_obj();
    json_add_str(r, "name", vm->def->name);
    json_add_bool(r, "autostart", vm->autostart);
    rpc_req_done(req, r, NULL);
}

static void m_domstats(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);

    if (vm != NULL)
        domstats_request(vm, req);
}

static void m_state(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);

    if (vm == NULL)
        return;
    /* The broker's copy follows the supervisor's events, so it is answered
     * here without a round trip. */
    rpc_req_done(req, bvm_state_json(vm), NULL);
}

static void m_info(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);

    if (vm == NULL)
        return;
    /* Without a supervisor ready to answer, the broker says what it knows. */
    if (bvm_active(vm) && !lifecycle_starting(vm->phase) && !lifecycle_maintenance(vm->phase) &&
        vm->phase != LIFECYCLE_READOPTING && !lifecycle_degraded(vm->phase))
        forward_call(vm, "vm.info", params, row_of("vm.info")->timeout_ms, req);
    else
        rpc_req_done(req, bvm_info_json(vm), NULL);
}

/* Whether vm has a supervisor running its guest to forward to; completes
 * req with why not when it has none. */
static bool running_supervisor(struct bvm *vm, struct rpc_req *req)
{
    struct cerr e;

    if (lifecycle_degraded(vm->phase)) {
        cerr_set(&e, CE_OPERATION_INVALID,
                 "VM %s is degraded: its QEMU pid %ld runs without a supervisor; destroy it, or "
                 "start it to re-adopt QEMU",
                 vm->def->name, (long)vm->qemu_pid);
        rpc_req_done(req, NULL, &e);
        return false;
    }
    if (!bvm_active(vm) || lifecycle_starting(vm->phase) || lifecycle_maintenance(vm->phase)) {
        cerr_set(&e, CE_OPERATION_INVALID, "VM %s is not running (state: %s)", vm->def->name,
                 lifecycle_starting(vm->phase) ? "starting" : vm->state);
        rpc_req_done(req, NULL, &e);
        return false;
    }
    return true;
}

/* The live definition is the running supervisor's (what QEMU runs with);
 * the persistent one, and a shut-off VM's, the broker's. */
static void m_dumpxml(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);
    bool inactive = false;
    struct cerr e;
    char *xml;
    cJSON *r;

    if (vm == NULL)
        return;
    if (rpc_param_bool(params, "inactive", &inactive, &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (!inactive && bvm_active(vm) && !lifecycle_starting(vm->phase) &&
        !lifecycle_maintenance(vm->phase) && vm->phase != LIFECYCLE_READOPTING &&
        !lifecycle_degraded(vm->phase)) {
        forward_call(vm, "vm.dumpxml", params, row_of("vm.dumpxml")->timeout_ms, req);
        return;
    }
    /* A shut-off VM's live XML is its persistent one, as in libvirt; one
     * whose QEMU runs without a ready supervisor runs on the live one. */
    xml = domain_def_format(inactive || !bvm_active(vm) || lifecycle_maintenance(vm->phase)
                                ? vm->def
                                : redefine_live(vm));
    r = json_obj();
    json_add_str(r, "xml", xml);
    free(xml);
    rpc_req_done(req, r, NULL);
}

/* Sends a request on vm along its row's route; params were checked for the
 * name only. */
static void route(struct bvm *vm, struct rpc_req *req, const cJSON *params)
{
    const char *method = rpc_req_method(req);
    const struct method_row *row = row_of(method);
    int timeout = row->timeout_ms;
    struct cerr e;

    if (row->timeout_param) {
        long long secs = 0;
        if (rpc_param_int(params, "timeout", 0, 3600, &secs, &e) < 0) {
            rpc_req_done(req, NULL, &e);
            return;
        }
        timeout += (int)secs * 1000;
    }
    if (row->route == ROUTE_MAINTENANCE && (lifecycle_maintenance(vm->phase) || !bvm_active(vm))) {
        if (policy_check_run(vm->b, rpc_req_uid(req), vm, &e) < 0)
            rpc_req_done(req, NULL, &e);
        else
            maintenance_request(vm, method, params, timeout, req);
        return;
    }
    if (running_supervisor(vm, req))
        forward_call(vm, method, params, timeout, req);
}

static void m_forward(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);

    if (vm != NULL)
        route(vm, req, params);
}

/* A degraded VM's QEMU has no supervisor to stop it: the broker does. */
static void m_destroy(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);

    if (vm == NULL)
        return;
    if (lifecycle_degraded(vm->phase))
        readopt_destroy(vm, req);
    else
        route(vm, req, params);
}

/* The new medium is checked here, where the caller is known, before the
 * supervisor (which takes vm.change_media from root only) opens it. */
static void m_change_media(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);
    const char *disk = NULL, *file = NULL, *mode = NULL;
    bool live = false, config = false;
    struct cerr e;
    int i = -1;

    if (vm == NULL)
        return;
    if (rpc_param_string(params, "disk", true, &disk, &e) < 0 ||
        rpc_param_string(params, "file", false, &file, &e) < 0 ||
        rpc_param_string(params, "mode", false, &mode, &e) < 0 ||
        rpc_param_bool(params, "live", &live, &e) < 0 ||
        rpc_param_bool(params, "config", &config, &e) < 0 ||
        (file != NULL && identity_check_medium(vm, rpc_req_uid(req), disk, file, &e) < 0)) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (redefine_media_targets(vm, bvm_active(vm) && !lifecycle_maintenance(vm->phase), &live,
                               &config, &e) < 0 ||
        (config && (i = redefine_change_media(vm, disk, file, mode, bvm_active(vm), &e)) < 0)) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (live)
        route(vm, req, params);
    else
        rpc_req_done(req, redefine_media_result(vm, (size_t)i), NULL);
}

/* The client's connection becomes the console's stream, which the broker
 * relays from a connection of its own to the supervisor. */
static void m_console(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);

    if (vm != NULL && running_supervisor(vm, req))
        console_relay_start(vm, params, req);
}

static void m_inconsistencies(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);
    struct cerr e;
    cJSON *r;

    if (vm == NULL)
        return;
    r = pages_inconsistencies(vm, params, &e);
    rpc_req_done(req, r, r != NULL ? NULL : &e);
}

static void m_iflist(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);

    if (vm != NULL)
        rpc_req_done(req, netinfo_list(vm), NULL);
}

static void m_ifaddr(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct bvm *vm = lookup(arg, req, params);
    const char *source = "lease";
    struct cerr e;
    cJSON *r;

    if (vm == NULL)
        return;
    if (rpc_param_string(params, "source", false, &source, &e) < 0 ||
        (r = netinfo_addrs(vm, source ? source : "lease", &e)) == NULL) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    rpc_req_done(req, r, NULL);
}

static void m_subscribe(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct broker *b = arg;
    const char *name = NULL;
    struct bvm *vm = NULL;
    struct cerr e;

    if (rpc_param_string(params, "name", false, &name, &e) < 0 ||
        (name != NULL && (vm = registry_lookup(b, name, &e)) == NULL)) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    /* Bound to this VM, not to its name: it ends when the VM is undefined
     * (vm.undefined), and never follows a later VM of the same name. */
    rpc_req_subscribe(req, vm != NULL ? vm->def->uuid : NULL);
    rpc_req_done(req, json_obj(), NULL);
}

#define LOCAL(name, fn, access, perm)                                                              \
    {                                                                                              \
        name, fn, access, perm, NULL, ROUTE_LOCAL, 0, false                                        \
    }
#define FORWARD(name, perm, timeout)                                                               \
    {                                                                                              \
        name, m_forward, ACCESS_OWNER, perm, NULL, ROUTE_FORWARD, timeout, false                   \
    }
#define SNAPSHOT(name, perm)                                                                       \
    {                                                                                              \
        name, m_forward, ACCESS_OWNER, perm, NULL, ROUTE_MAINTENANCE, SNAPSHOT_TIMEOUT_MS, false   \
    }

static const struct method_row rows[] = {
    LOCAL("hello", m_hello, ACCESS_OWNER, "read"),
    LOCAL("vm.define", m_define, ACCESS_OWNER, "define"),
    LOCAL("vm.undefine", m_undefine, ACCESS_OWNER, "define"),
    LOCAL("vm.list", m_list, ACCESS_OWNER, "read"),
    LOCAL("vm.start", m_start, ACCESS_OWNER, "power"),
    LOCAL("vm.state", m_state, ACCESS_OWNER, "read"),
    LOCAL("vm.domstats", m_domstats, ACCESS_OWNER, "read"),
    /* A change to the persistent configuration, as virsh's needs. */
    LOCAL("vm.autostart", m_autostart, ACCESS_OWNER, "define"),
    /* Forwarded when a supervisor is ready to answer, else answered here. */
    {"vm.info", m_info, ACCESS_OWNER, "read", NULL, ROUTE_FORWARD, FORWARD_TIMEOUT_MS, false},
    /* Forwarded for the live definition of a running VM. */
    {"vm.dumpxml", m_dumpxml, ACCESS_OWNER, "read", NULL, ROUTE_FORWARD, FORWARD_TIMEOUT_MS, false},
    FORWARD("vm.sandbox", "read", FORWARD_TIMEOUT_MS),
    FORWARD("vm.suspend", "power", FORWARD_TIMEOUT_MS),
    FORWARD("vm.resume", "power", FORWARD_TIMEOUT_MS),
    FORWARD("vm.reboot", "power", FORWARD_TIMEOUT_MS),
    FORWARD("vm.reset", "power", FORWARD_TIMEOUT_MS),
    /* Waits as long as the guest is given, and the usual time beyond. */
    {"vm.shutdown", m_forward, ACCESS_OWNER, "power", NULL, ROUTE_FORWARD, FORWARD_TIMEOUT_MS,
     true},
    {"vm.destroy", m_destroy, ACCESS_OWNER, "power", NULL, ROUTE_FORWARD, DESTROY_TIMEOUT_MS,
     false},
    /* What a user types reaches the guest as keystrokes: its owner's. */
    {"vm.console", m_console, ACCESS_OWNER, "console", NULL, ROUTE_FORWARD, BVM_CALL_TIMEOUT_MS,
     false},
    {"vm.qmp", m_forward, ACCESS_ADMIN, "admin", NULL, ROUTE_FORWARD, FORWARD_TIMEOUT_MS, false},
    {"vm.change_media", m_change_media, ACCESS_OWNER, "media", NULL, ROUTE_FORWARD,
     FORWARD_TIMEOUT_MS, false},
    LOCAL("events.subscribe", m_subscribe, ACCESS_OWNER_NAMED, "read"),
    SNAPSHOT("snapshot.create", "snapshot"),
    /* Forcing a delete past a failed job drops metadata for data that may
     * still be on disk: refusals name that apart. */
    {"snapshot.delete", m_forward, ACCESS_OWNER, "delete-snapshot", "force", ROUTE_MAINTENANCE,
     SNAPSHOT_TIMEOUT_MS, false},
    SNAPSHOT("snapshot.list", "read"),
    SNAPSHOT("snapshot.info", "read"),
    SNAPSHOT("snapshot.dumpxml", "read"),
    SNAPSHOT("snapshot.parent", "read"),
    /* Also sets the current snapshot when given one. */
    SNAPSHOT("snapshot.current", "snapshot"),
    SNAPSHOT("snapshot.revert", "revert"),
    SNAPSHOT("snapshot.redefine", "snapshot"),
    SNAPSHOT("snapshot.check", "read"),
    LOCAL("vm.inconsistencies", m_inconsistencies, ACCESS_OWNER, "read"),
    LOCAL("vm.iflist", m_iflist, ACCESS_OWNER, "read"),
    LOCAL("vm.ifaddr", m_ifaddr, ACCESS_OWNER, "read"),
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* The server's view of rows: each method's perm is its row's index. */
static struct rpc_method methods[NROWS];

static const struct method_row *row_of(const char *method)
{
    for (size_t i = 0; i < NROWS; i++) {
        if (strcmp(rows[i].name, method) == 0)
            return &rows[i];
    }
    /* The server dispatches only the names in methods[], copied from rows. */
    abort();
}

/* The only place that decides who may do what: admins everything, a VM's
 * owner everything on it but raw QMP, anybody else nothing on it. */
static int authorize_row(struct broker *b, uid_t uid, const struct method_row *row,
                         const cJSON *params, struct cerr *e)
{
    const cJSON *name = params ? cJSON_GetObjectItemCaseSensitive(params, "name") : NULL;
    const cJSON *force = params ? cJSON_GetObjectItemCaseSensitive(params, "force") : NULL;
    const char *perm =
        row->perm_forced != NULL && cJSON_IsTrue(force) ? row->perm_forced : row->perm;
    const struct bvm *vm;

    if (policy_is_admin(b, uid))
        return 0;
    if (row->access == ACCESS_ADMIN) {
        cerr_set(e, CE_PERMISSION,
                 "permission denied: uid %ld may not call %s (needs the '%s' permission: root "
                 "and the admin group)",
                 (long)uid, row->name, perm);
        return -1;
    }
    if (cJSON_IsString(name)) {
        vm = registry_find(b, name->valuestring);
        if (vm != NULL && vm->owner != uid) {
            cerr_set(e, CE_PERMISSION,
                     "permission denied: uid %ld may not call %s on VM %s (needs the '%s' "
                     "permission; the VM belongs to uid %ld)",
                     (long)uid, row->name, vm->def->name, perm, (long)vm->owner);
            return -1;
        }
    } else if (row->access == ACCESS_OWNER_NAMED) {
        cerr_set(e, CE_PERMISSION,
                 "permission denied: uid %ld must name one of its VMs to follow events", (long)uid);
        return -1;
    }
    return 0;
}

static int authorize(uid_t uid, const struct rpc_method *m, const cJSON *params, struct cerr *e,
                     void *arg)
{
    return authorize_row(arg, uid, &rows[m->perm], params, e);
}

size_t dispatch_nmethods(void)
{
    return NROWS;
}

const char *dispatch_method_name(size_t i)
{
    return i < NROWS ? rows[i].name : NULL;
}

int dispatch_authorize(struct broker *b, uid_t uid, const char *method, const cJSON *params,
                       struct cerr *e)
{
    for (size_t i = 0; i < NROWS; i++) {
        if (strcmp(rows[i].name, method) == 0)
            return authorize_row(b, uid, &rows[i], params, e);
    }
    cerr_set(e, CE_NO_METHOD, "no method %s", method);
    return -1;
}

struct rpc_server *dispatch_serve(struct broker *b, int listen_fd, struct cerr *e)
{
    static const struct rpc_server_ops ops = {NULL, authorize};

    for (size_t i = 0; i < NROWS; i++)
        methods[i] = (struct rpc_method){rows[i].name, rows[i].fn, (unsigned)i};
    return rpc_server_new(b->base, listen_fd, methods, NROWS, &ops, b, e);
}
