#include "supervisor/control.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/domain_xml.h"
#include "common/json.h"
#include "common/xml_lib.h"
#include "proto/rpc.h"
#include "supervisor/console.h"
#include "supervisor/media.h"
#include "supervisor/sandbox.h"
#include "supervisor/snapshot_check.h"
#include "supervisor/snapshot_create.h"
#include "supervisor/snapshot_delete.h"
#include "supervisor/snapshot_list.h"
#include "supervisor/snapshot_query.h"
#include "supervisor/snapshot_revert.h"

enum { PERM_ANY, PERM_ROOT };

#define VM(arg) (((struct control_ctx *)(arg))->vm)
#define SNAPOPS(arg) (((struct control_ctx *)(arg))->snapops)

#define SNAPSHOT_METHOD(fn, op)                                                                    \
    static void fn(struct rpc_req *req, const cJSON *params, void *arg)                            \
    {                                                                                              \
        op(SNAPOPS(arg), params, rpc_req_done, req);                                               \
    }

SNAPSHOT_METHOD(m_snap_create, snapcreate_run)
SNAPSHOT_METHOD(m_snap_delete, snapdelete_run)
SNAPSHOT_METHOD(m_snap_list, snaplist_run)
SNAPSHOT_METHOD(m_snap_info, snapquery_info)
SNAPSHOT_METHOD(m_snap_dumpxml, snapquery_dumpxml)
SNAPSHOT_METHOD(m_snap_current, snapquery_current)
SNAPSHOT_METHOD(m_snap_parent, snapquery_parent)
SNAPSHOT_METHOD(m_snap_revert, snaprevert_run)
SNAPSHOT_METHOD(m_snap_redefine, snapquery_redefine)
SNAPSHOT_METHOD(m_snap_check, snapcheck_run)

static void m_hello(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct cerr e;
    cJSON *r = rpc_hello_result(params, "corral-supervisor", rpc_req_uid(req), &e);

    if (r != NULL)
        json_add_str(r, "vm", vm_name(VM(arg)));
    rpc_req_done(req, r, r ? NULL : &e);
}

static void m_state(struct rpc_req *req, const cJSON *params, void *arg)
{
    cJSON *r = vm_state_json(VM(arg));

    (void)params;
    cJSON_DeleteItemFromObjectCaseSensitive(r, "time");
    rpc_req_done(req, r, NULL);
}

static void m_info(struct rpc_req *req, const cJSON *params, void *arg)
{
    (void)params;
    rpc_req_done(req, vm_info_json(VM(arg)), NULL);
}

/* The definition this supervisor started (or adopted) QEMU with: the
 * VM's live XML. */
static void m_dumpxml(struct rpc_req *req, const cJSON *params, void *arg)
{
    bool inactive = false;
    struct cerr e, le;
    char *xml;
    cJSON *r;

    if (rpc_param_bool(params, "inactive", &inactive, &e) < 0 || inactive) {
        if (inactive)
            cerr_set(&e, CE_OPERATION_INVALID,
                     "VM %s: a supervisor knows only the definition it runs with; ask the broker "
                     "for the persistent one",
                     vm_name(VM(arg)));
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (xml_lib_load(&le) < 0) {
        cerr_set(&e, le.code, "VM %s: cannot format its definition: %s", vm_name(VM(arg)), le.msg);
        rpc_req_done(req, NULL, &e);
        return;
    }
    xml = domain_def_format(vm_def(VM(arg)));
    r = json_obj();
    json_add_str(r, "xml", xml);
    free(xml);
    rpc_req_done(req, r, NULL);
}

static void m_suspend(struct rpc_req *req, const cJSON *params, void *arg)
{
    (void)params;
    vm_suspend(VM(arg), rpc_req_done, req);
}

static void m_resume(struct rpc_req *req, const cJSON *params, void *arg)
{
    (void)params;
    vm_resume(VM(arg), rpc_req_done, req);
}

/* virsh's --mode for shutdown and reboot: only ACPI has a meaning here
 * (no guest agent, no initctl, no paravirt power-off). */
static int check_mode(const cJSON *params, const char *what, struct cerr *e)
{
    static const char *const others[] = {"agent", "initctl", "signal", "paravirt"};
    const char *mode = NULL;

    if (rpc_param_string(params, "mode", false, &mode, e) < 0)
        return -1;
    if (mode == NULL || strcmp(mode, "acpi") == 0)
        return 0;
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        if (strcmp(mode, others[i]) == 0) {
            cerr_set(e, CE_OPERATION_INVALID,
                     "%s mode %s is not supported: corral has no guest agent, and only acpi (the "
                     "power button) is",
                     what, mode);
            return -1;
        }
    }
    cerr_set(e, CE_INVALID_PARAMS,
             "parameter \"mode\" must be acpi (or one of virsh's agent, initctl, signal, "
             "paravirt, which corral does not support)");
    return -1;
}

static void m_shutdown(struct rpc_req *req, const cJSON *params, void *arg)
{
    long long timeout = 0;
    struct cerr e;

    if (rpc_param_int(params, "timeout", 0, 3600, &timeout, &e) < 0 ||
        check_mode(params, "shutdown", &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    vm_shutdown(VM(arg), (int)timeout, rpc_req_done, req);
}

static void m_reboot(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct cerr e;

    if (check_mode(params, "reboot", &e) < 0)
        rpc_req_done(req, NULL, &e);
    else
        vm_reboot(VM(arg), rpc_req_done, req);
}

static void m_reset(struct rpc_req *req, const cJSON *params, void *arg)
{
    (void)params;
    vm_reset(VM(arg), rpc_req_done, req);
}

static void m_destroy(struct rpc_req *req, const cJSON *params, void *arg)
{
    (void)params;
    vm_destroy(VM(arg), rpc_req_done, req);
}

static void m_qmp(struct rpc_req *req, const cJSON *params, void *arg)
{
    const cJSON *cmd = params ? cJSON_GetObjectItemCaseSensitive(params, "command") : NULL;
    struct cerr e;

    if (!cJSON_IsObject(cmd)) {
        cerr_set(&e, CE_INVALID_PARAMS, "parameter \"command\" must be a QMP command object");
        rpc_req_done(req, NULL, &e);
        return;
    }
    vm_qmp(VM(arg), cmd, rpc_req_done_raw, req);
}

static void m_change_media(struct rpc_req *req, const cJSON *params, void *arg)
{
    static const char *const modes[] = {"eject", "insert", "update"};
    const char *disk = NULL, *file = NULL, *mode = "update";
    bool force = false;
    int m = -1;
    struct cerr e;

    if (rpc_param_string(params, "disk", true, &disk, &e) < 0 ||
        rpc_param_string(params, "file", false, &file, &e) < 0 ||
        rpc_param_string(params, "mode", false, &mode, &e) < 0 ||
        rpc_param_bool(params, "force", &force, &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    for (int i = 0; i < 3; i++) {
        if (strcmp(mode, modes[i]) == 0)
            m = i;
    }
    if (m < 0) {
        cerr_set(&e, CE_INVALID_PARAMS, "parameter \"mode\" must be eject, insert or update");
        rpc_req_done(req, NULL, &e);
        return;
    }
    media_change(VM(arg), disk, file, (enum media_mode)m, force, rpc_req_done, req);
}

static void m_subscribe(struct rpc_req *req, const cJSON *params, void *arg)
{
    struct control_ctx *ctx = arg;

    (void)params;
    rpc_req_subscribe(req, NULL);
    rpc_req_done(req, json_obj(), NULL);
    if (ctx->subscribed != NULL)
        ctx->subscribed(ctx);
}

static void m_journal_ack(struct rpc_req *req, const cJSON *params, void *arg)
{
    long long seq = -1;
    struct cerr e;

    if (rpc_param_int(params, "seq", 0, 9007199254740992LL, &seq, &e) < 0 ||
        snapops_ack(SNAPOPS(arg), seq, &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    rpc_req_done(req, json_obj(), NULL);
}

/* What confinement applies to this supervisor, read back from the kernel
 * (/proc/self/status and the rlimits), not from what it meant to do. */
static void m_sandbox(struct rpc_req *req, const cJSON *params, void *arg)
{
    char buf[4096];
    struct cerr e;
    cJSON *r;

    (void)params;
    if (sandbox_report(buf, sizeof(buf), &e) < 0) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    r = json_obj();
    json_add_str(r, "vm", vm_name(VM(arg)));
    json_add_str(r, "report", buf);
    rpc_req_done(req, r, NULL);
}

/* On success the connection becomes the console's byte stream (PROTOCOL.md,
 * "vm.console").  Attaching is always exclusive, so "safe" (virsh's: only
 * where exclusive access is guaranteed) is accepted and always met. */
static void m_console(struct rpc_req *req, const cJSON *params, void *arg)
{
    const char *devname = NULL;
    bool force = false, safe = false;
    struct console_claim *claim;
    struct console *con;
    struct cerr e;
    cJSON *r;

    if (rpc_param_bool(params, "force", &force, &e) < 0 ||
        rpc_param_bool(params, "safe", &safe, &e) < 0 ||
        rpc_param_string(params, "devname", false, &devname, &e) < 0 ||
        (con = vm_console(VM(arg), devname, &e)) == NULL ||
        (claim = console_claim(con, rpc_req_uid(req), force, &e)) == NULL) {
        rpc_req_done(req, NULL, &e);
        return;
    }
    r = json_obj();
    json_add_str(r, "vm", vm_name(VM(arg)));
    json_add_str(r, "devname", console_dev(con));
    rpc_req_upgrade(req, r, console_attach, claim);
}

static const struct rpc_method methods[] = {
    {"hello", m_hello, PERM_ANY},
    {"vm.state", m_state, PERM_ANY},
    {"vm.info", m_info, PERM_ANY},
    {"vm.sandbox", m_sandbox, PERM_ANY},
    {"vm.dumpxml", m_dumpxml, PERM_ANY},
    {"vm.suspend", m_suspend, PERM_ANY},
    {"vm.resume", m_resume, PERM_ANY},
    {"vm.shutdown", m_shutdown, PERM_ANY},
    {"vm.destroy", m_destroy, PERM_ANY},
    {"vm.reboot", m_reboot, PERM_ANY},
    {"vm.reset", m_reset, PERM_ANY},
    /* Raw QMP can do anything QEMU can. */
    {"vm.qmp", m_qmp, PERM_ROOT},
    /* The broker checks the new medium (owner, links, readable by others)
     * before it forwards: a direct caller would skip that. */
    {"vm.change_media", m_change_media, PERM_ROOT},
    {"vm.console", m_console, PERM_ANY},
    {"events.subscribe", m_subscribe, PERM_ANY},
    {"snapshot.create", m_snap_create, PERM_ANY},
    {"snapshot.delete", m_snap_delete, PERM_ANY},
    {"snapshot.list", m_snap_list, PERM_ANY},
    {"snapshot.info", m_snap_info, PERM_ANY},
    {"snapshot.dumpxml", m_snap_dumpxml, PERM_ANY},
    {"snapshot.current", m_snap_current, PERM_ANY},
    {"snapshot.parent", m_snap_parent, PERM_ANY},
    {"snapshot.revert", m_snap_revert, PERM_ANY},
    {"snapshot.redefine", m_snap_redefine, PERM_ANY},
    {"snapshot.check", m_snap_check, PERM_ANY},
    /* The broker's receipt for a report: only it may drop journal entries. */
    {"journal.ack", m_journal_ack, PERM_ROOT},
};

/* Root (the broker), the VM's own uid and its owner; nobody else. */
static bool admit(uid_t uid, pid_t pid, void *arg)
{
    const struct control_ctx *ctx = arg;

    (void)pid;
    return uid == 0 || uid == geteuid() || uid == ctx->owner;
}

static int authorize(uid_t uid, const struct rpc_method *m, const cJSON *params, struct cerr *e,
                     void *arg)
{
    struct vm *vm = VM(arg);
    const char *name = NULL;

    if (m->perm == PERM_ROOT && uid != 0) {
        cerr_set(e, CE_PERMISSION, "%s on VM %s is reserved to root", m->name, vm_name(vm));
        return -1;
    }
    if (rpc_param_string(params, "name", false, &name, e) < 0)
        return -1;
    if (name != NULL && strcmp(name, vm_name(vm)) != 0) {
        cerr_set(e, CE_NO_DOMAIN, "this socket serves VM %s, not '%.64s'", vm_name(vm), name);
        return -1;
    }
    return 0;
}

struct rpc_server *control_serve(struct event_base *base, struct control_ctx *ctx, int listen_fd,
                                 struct cerr *e)
{
    static const struct rpc_server_ops ops = {admit, authorize};

    return rpc_server_new(base, listen_fd, methods, sizeof(methods) / sizeof(methods[0]), &ops, ctx,
                          e);
}
