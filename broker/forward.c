#include "broker/forward.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>

#include "broker/proc.h"
#include "broker/redefine.h"
#include "broker/settle.h"
#include "broker/spawn.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "proto/conn.h"
#include "proto/rpc.h"
#include "proto/server.h"

struct forward {
    struct bvm *vm;
    void *req;
    struct rpc_conn *conn; /* the call's; valid while its callback runs */
    bool info;             /* vm.info: the broker adds what only it knows */
    bool sandbox;          /* vm.sandbox: the broker adds what /proc says */
    bool dumpxml;          /* vm.dumpxml: the broker answers for an old supervisor */
    /* vm.destroy, or a vm.shutdown that waits for the guest: answered when
     * the VM has settled shut off (broker/settle.h). */
    bool settle;
};

/* The supervisor shares its uid with QEMU, so what it says about its own
 * confinement is only as good as QEMU's: the broker adds what the kernel
 * says of both processes, read as root from /proc. */
static void add_verified_confinement(const struct bvm *vm, cJSON *res)
{
    char sup[1024], qemu[1024];
    char *text;

    if (!proc_confinement(vm->sup_pid, sup, sizeof(sup)))
        snprintf(sup, sizeof(sup), "gone\n");
    if (vm->qemu_pid <= 0 || !proc_confinement(vm->qemu_pid, qemu, sizeof(qemu)))
        snprintf(qemu, sizeof(qemu), "not known to the broker\n");
    text = xasprintf("supervisor (pid %ld):\n%sqemu (pid %ld):\n%s", (long)vm->sup_pid, sup,
                     (long)vm->qemu_pid, qemu);
    cJSON_DeleteItemFromObjectCaseSensitive(res, "verified");
    json_add_str(res, "verified", text);
    free(text);
}

/* Whether the answer to a destroy or a waiting shutdown is to wait for the
 * VM to settle: a success, unless the shutdown did not wait after all; or
 * a supervisor gone before its answer was read (its pidfd may be seen
 * before its socket) while its QEMU has ended, which settles the VM off. */
static bool settles(const struct forward *f, const cJSON *result, const struct cerr *e)
{
    if (e == NULL)
        return !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "shutdown_requested"));
    return e->code == CE_SUPERVISOR && rpc_conn_dead(f->conn) && !spawn_qemu_alive(f->vm);
}

/* The connection went, not the supervisor's own refusal.  A dying
 * supervisor's socket closes before its pidfd says it ended, so whether it
 * died cannot be told yet; either way the request's fate is unknown. */
static void went_away(const struct forward *f, struct cerr *e)
{
    cerr_set(e, CE_SUPERVISOR,
             "VM %s: its supervisor went away before answering (it died or closed the "
             "connection); whether the request took effect is unknown (a new supervisor "
             "takes over a QEMU that runs on): check, and try again",
             f->vm->def->name);
}

/* The answer to a request the broker only passes on: the supervisor's
 * result goes to the client as the bytes it sent, once conn.c has checked
 * them (one well-formed JSON value, the reply to this very call). */
static void relay_cb(const char *result, size_t len, const struct cerr *e, void *arg)
{
    struct forward *f = arg;
    struct cerr de;

    if (e != NULL && e->code == CE_SUPERVISOR && rpc_conn_dead(f->conn)) {
        went_away(f, &de);
        e = &de;
    }
    rpc_req_done_raw(f->req, result, len, e);
    free(f);
}

static void forward_cb(const cJSON *result, const struct cerr *e, void *arg)
{
    struct forward *f = arg;

    if (f->settle && settles(f, result, e)) {
        settle_wait(f->vm, f->req, result ? json_dup(result) : NULL);
    } else if (e != NULL && e->code == CE_SUPERVISOR && rpc_conn_dead(f->conn)) {
        struct cerr de;
        went_away(f, &de);
        rpc_req_done(f->req, NULL, &de);
    } else if (f->dumpxml && e != NULL && e->code == CE_NO_METHOD) {
        /* A supervisor adopted from before vm.dumpxml: the broker's copy
         * of the live definition is what it runs with. */
        rpc_req_done(f->req, redefine_dumpxml_result(f->vm), NULL);
    } else {
        cJSON *res = result ? json_dup(result) : NULL;
        if (f->info && cJSON_IsObject(res)) {
            bvm_add_restarts(f->vm, res);
            json_add_bool(res, "autostart", f->vm->autostart);
            redefine_add_info(f->vm, res);
        }
        if (f->sandbox && cJSON_IsObject(res))
            add_verified_confinement(f->vm, res);
        rpc_req_done(f->req, res, e);
    }
    free(f);
}

/* A vm.shutdown told to wait for the guest; what else params say is the
 * supervisor's to check. */
static bool waits(const cJSON *params)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(params, "timeout");

    return cJSON_IsNumber(t) && t->valuedouble > 0;
}

void forward_call(struct bvm *vm, const char *method, const cJSON *params, int timeout_ms,
                  void *req)
{
    struct forward *f;
    struct cerr e;
    cJSON *p;

    /* The new supervisor is not ready to serve yet, or the old one has
     * just died and is about to be replaced. */
    if (vm->phase == LIFECYCLE_READOPTING ||
        (vm->sup_conn == NULL && vm->sup_pidfd >= 0 && !lifecycle_maintenance(vm->phase) &&
         pidfd_ended(vm->sup_pidfd))) {
        cerr_set(&e, CE_BUSY, "VM %s: its supervisor is being restarted; try again", vm->def->name);
        rpc_req_done(req, NULL, &e);
        return;
    }
    if (vm->sup_conn == NULL) {
        struct cerr ce;
        /* The connection may have dropped while the supervisor lives on
         * (it restarted its socket, or a transient error): try once more. */
        if (vm->sup_pidfd < 0 || spawn_connect(vm, NULL, BVM_CALL_TIMEOUT_MS, &ce) < 0) {
            if (vm->sup_pidfd < 0)
                cerr_set(&e, CE_OPERATION_INVALID, "VM %s is not running", vm->def->name);
            else if (errno == ECONNREFUSED || errno == ENOENT || pidfd_ended(vm->sup_pidfd))
                /* It is dying: a supervisor listens on its socket all its
                 * life, and the socket goes before the pidfd says so. */
                cerr_set(&e, CE_BUSY, "VM %s: its supervisor is being restarted; try again",
                         vm->def->name);
            else
                cerr_set(&e, CE_SUPERVISOR, "cannot reach the supervisor of VM %s: %.300s",
                         vm->def->name, ce.msg);
            rpc_req_done(req, NULL, &e);
            return;
        }
    }
    f = xcalloc(1, sizeof(*f));
    f->vm = vm;
    f->req = req;
    f->conn = vm->sup_conn;
    f->info = strcmp(method, "vm.info") == 0;
    f->sandbox = strcmp(method, "vm.sandbox") == 0;
    f->dumpxml = strcmp(method, "vm.dumpxml") == 0;
    f->settle =
        strcmp(method, "vm.destroy") == 0 || (strcmp(method, "vm.shutdown") == 0 && waits(params));
    p = params ? json_dup(params) : json_obj();
    cJSON_DeleteItemFromObjectCaseSensitive(p, "name");
    if (!f->info && !f->sandbox && !f->dumpxml && !f->settle)
        rpc_conn_call_raw(vm->sup_conn, method, p, timeout_ms, relay_cb, f);
    else
        rpc_conn_call(vm->sup_conn, method, p, timeout_ms, forward_cb, f);
}
