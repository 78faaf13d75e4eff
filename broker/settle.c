#include "broker/settle.h"

#include <stdlib.h>

#include "broker/registry.h"
#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "proto/server.h"

struct settle_waiter {
    void *req;     /* an rpc_req */
    cJSON *result; /* owned; NULL: an empty object */
    /* Or a request to run again (settle_then): */
    settle_then_fn then;
    cJSON *params; /* owned */
    struct broker *b;
    char *name; /* owned */
    struct settle_waiter *next;
};

static void waiter_free(struct settle_waiter *w)
{
    cJSON_Delete(w->result);
    cJSON_Delete(w->params);
    free(w->name);
    free(w);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bvm *vm = arg;
    struct cerr e;

    (void)fd;
    (void)what;
    cerr_set(&e, CE_TIMEOUT,
             "VM %s did not settle shut off within %d s: its supervisor (pid %ld) has not "
             "exited, so the broker still counts the VM as active; check the broker log, and "
             "try again",
             vm->def->name, SETTLE_TIMEOUT_MS / 1000, (long)vm->sup_pid);
    log_warn_code(cerr_name(e.code), "%s", e.msg);
    settle_fail(vm, &e);
}

static void hold(struct bvm *vm, struct settle_waiter *w)
{
    struct timeval tv = {SETTLE_TIMEOUT_MS / 1000, 0};

    w->next = vm->settle_waiters;
    vm->settle_waiters = w;
    if (vm->settle_timer != NULL)
        return;
    vm->settle_timer = evtimer_new(vm->b->base, timeout_cb, vm);
    /* Without a timer the request still goes on when the VM settles. */
    if (vm->settle_timer == NULL || evtimer_add(vm->settle_timer, &tv) < 0)
        log_err("VM %s: cannot arm the timer of a request held until it is shut off",
                vm->def->name);
}

void settle_wait(struct bvm *vm, void *req, cJSON *result)
{
    struct settle_waiter *w = xcalloc(1, sizeof(*w));

    w->req = req;
    w->result = result;
    hold(vm, w);
}

void settle_then(struct bvm *vm, void *req, const cJSON *params, settle_then_fn fn)
{
    struct settle_waiter *w = xcalloc(1, sizeof(*w));

    w->req = req;
    w->then = fn;
    w->params = params ? json_dup(params) : json_obj();
    w->b = vm->b;
    w->name = xstrdup(vm->def->name);
    hold(vm, w);
}

static void stop_timer(struct bvm *vm)
{
    if (vm->settle_timer != NULL) {
        event_free(vm->settle_timer);
        vm->settle_timer = NULL;
    }
}

/* From the loop: the VM is not to change under spawn_finish's feet. */
static void run_again_cb(evutil_socket_t fd, short what, void *arg)
{
    struct settle_waiter *w = arg;

    (void)fd;
    (void)what;
    w->then(w->b, w->name, w->req, w->params);
    waiter_free(w);
}

static void run_again(struct bvm *vm, struct settle_waiter *w)
{
    struct timeval now = {0, 0};
    struct cerr e;

    if (event_base_once(vm->b->base, -1, EV_TIMEOUT, run_again_cb, w, &now) == 0)
        return;
    cerr_set(&e, CE_SYSTEM, "VM %s: cannot schedule the request held until it was shut off",
             vm->def->name);
    rpc_req_done(w->req, NULL, &e);
    waiter_free(w);
}

void settle_done(struct bvm *vm)
{
    stop_timer(vm);
    while (vm->settle_waiters != NULL) {
        struct settle_waiter *w = vm->settle_waiters;
        vm->settle_waiters = w->next;
        if (w->then != NULL) {
            run_again(vm, w);
            continue;
        }
        cJSON *r = w->result != NULL ? w->result : json_obj();
        w->result = NULL;
        /* The broker's state is the one every caller sees from now on. */
        cJSON_DeleteItemFromObjectCaseSensitive(r, "state");
        cJSON_DeleteItemFromObjectCaseSensitive(r, "reason");
        json_add_str(r, "state", vm->state);
        json_add_str(r, "reason", vm->reason);
        rpc_req_done(w->req, r, NULL);
        waiter_free(w);
    }
}

void settle_fail(struct bvm *vm, const struct cerr *e)
{
    stop_timer(vm);
    while (vm->settle_waiters != NULL) {
        struct settle_waiter *w = vm->settle_waiters;
        vm->settle_waiters = w->next;
        rpc_req_done(w->req, NULL, e);
        waiter_free(w);
    }
}
