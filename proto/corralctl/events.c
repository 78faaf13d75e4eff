/* The events verb: subscribe, then print each notification as it comes,
 * until a signal, the end of the connection, or the end of the one VM
 * followed (vm.undefined). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/corralctl/ctl.h"
#include "proto/rpc.h"

struct events_out {
    bool json;
    int status; /* CTL_EXIT_ERROR once something could not be shown */
};

static void on_signal(int sig)
{
    /* The blocking client retries poll() on EINTR, so a flag would never be
     * seen: end here.  Every event line was flushed as it was printed. */
    _exit(CTL_EXIT_OK);
}

static int catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};

    if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
        sigaction(SIGTERM, &sa, NULL) < 0)
        return ctl_error("cannot catch signals: %s", strerror(errno));
    return CTL_EXIT_OK;
}

/* The event's "TIME": its time member, or now when it has none. */
static int event_time(const cJSON *params, char *stamp, size_t size)
{
    long long t = (long long)time(NULL);

    if (ctl_reply_int(params, "time", false, &t) < 0 || ctl_format_time(t, false, stamp, size) < 0)
        return -1;
    return 0;
}

/* "TIME vm.state NAME: state (reason)". */
static int print_state_event(const cJSON *params)
{
    const char *name, *state, *reason = NULL;
    char stamp[32];

    if (ctl_reply_str(params, "name", true, &name) < 0 ||
        ctl_reply_str(params, "state", true, &state) < 0 ||
        ctl_reply_str(params, "reason", false, &reason) < 0 ||
        event_time(params, stamp, sizeof(stamp)) < 0)
        return ctl_error("unexpected event from server");
    if (reason != NULL)
        printf("%s vm.state %s: %s (%s)\n", stamp, name, state, reason);
    else
        printf("%s vm.state %s: %s\n", stamp, name, state);
    return CTL_EXIT_OK;
}

/* "TIME snapshot.created VM: SNAP", and the same for snapshot.deleted. */
static int print_snapshot_event(const char *method, const cJSON *params)
{
    const char *vm, *snap;
    char stamp[32];

    if (ctl_reply_str(params, "vm", true, &vm) < 0 ||
        ctl_reply_str(params, "snapshot", true, &snap) < 0 ||
        event_time(params, stamp, sizeof(stamp)) < 0)
        return ctl_error("unexpected event from server");
    printf("%s %s %s: %s\n", stamp, method, vm, snap);
    return CTL_EXIT_OK;
}

/* "TIME snapshot.inconsistency VM: SNAP KIND on DISKS: DETAIL". */
static int print_inconsistency_event(const cJSON *params)
{
    struct ctl_report rep;
    const char *vm;
    char stamp[32];

    if (ctl_reply_str(params, "vm", true, &vm) < 0 || ctl_read_report(params, &rep) < 0 ||
        event_time(params, stamp, sizeof(stamp)) < 0)
        return ctl_error("unexpected event from server");
    printf("%s snapshot.inconsistency %s: %s ", stamp, vm, rep.snapshot);
    ctl_print_report(stdout, &rep);
    return CTL_EXIT_OK;
}

/* "TIME vm.undefined NAME (uuid UUID)". */
static int print_undefined_event(const cJSON *params)
{
    const char *name, *uuid;
    char stamp[32];

    if (ctl_reply_str(params, "name", true, &name) < 0 ||
        ctl_reply_str(params, "uuid", true, &uuid) < 0 ||
        event_time(params, stamp, sizeof(stamp)) < 0)
        return ctl_error("unexpected event from server");
    printf("%s vm.undefined %s (uuid %s)\n", stamp, name, uuid);
    return CTL_EXIT_OK;
}

/* Whether msg is the server's last word about a VM. */
static bool is_undefined_event(const cJSON *msg)
{
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");

    return cJSON_IsString(method) && strcmp(method->valuestring, "vm.undefined") == 0;
}

static int show_event(const cJSON *msg, bool json)
{
    struct rpc_msg m;
    struct cerr e;
    int status;

    if (rpc_classify(msg, &m, &e) < 0)
        return ctl_unexpected();
    /* A stray reply is none of ours to show; notifications we do not know
     * are ignored as the protocol asks, unless passing raw JSON through. */
    if (m.kind != RPC_KIND_NOTIFICATION)
        return CTL_EXIT_OK;
    if (json)
        status = ctl_print_json(msg, false);
    else if (strcmp(m.method, "vm.state") == 0)
        status = print_state_event(m.params);
    else if (strcmp(m.method, "snapshot.created") == 0 || strcmp(m.method, "snapshot.deleted") == 0)
        status = print_snapshot_event(m.method, m.params);
    else if (strcmp(m.method, "snapshot.inconsistency") == 0)
        status = print_inconsistency_event(m.params);
    else if (strcmp(m.method, "vm.undefined") == 0)
        status = print_undefined_event(m.params);
    else
        return CTL_EXIT_OK;
    if (status == CTL_EXIT_OK && fflush(stdout) != 0)
        status = ctl_error("cannot write to standard output: %s", strerror(errno));
    return status;
}

/* rpc_client_call's callback for events that come before the subscription's
 * reply. */
static void on_notify(const cJSON *msg, void *arg)
{
    struct events_out *out = arg;

    if (out->status == CTL_EXIT_OK)
        out->status = show_event(msg, out->json);
}

static int subscribe(struct ctl *ctl, const struct ctl_args *a, struct events_out *out)
{
    cJSON *p = json_obj(), *r;

    if (a->argc > 0)
        json_add_str(p, "name", a->argv[0]);
    rpc_client_on_notify(ctl->client, on_notify, out);
    r = ctl_call(ctl, a->verb->method, p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    cJSON_Delete(r);
    return out->status;
}

static int stream_ended(const struct cerr *e)
{
    /* The documented end of the stream: the server went away (a
     * supervisor exits with its VM). */
    if (e->code == CE_SUPERVISOR) {
        fprintf(stderr, "corralctl: events: %s\n", e->msg);
        return CTL_EXIT_OK;
    }
    if (e->code == CE_PARSE || e->code == CE_TOO_LARGE)
        return ctl_unexpected();
    return ctl_error("%s", e->msg);
}

int ctl_run_events(struct ctl *ctl, const struct ctl_args *a)
{
    struct events_out out = {.json = ctl->json, .status = CTL_EXIT_OK};
    int status = catch_signals();

    if (status == CTL_EXIT_OK)
        status = subscribe(ctl, a, &out);
    while (status == CTL_EXIT_OK) {
        struct cerr e;
        cJSON *msg;

        cerr_clear(&e);
        msg = rpc_client_next(ctl->client, -1, &e);
        if (msg == NULL)
            return stream_ended(&e);
        status = show_event(msg, ctl->json);
        /* Following one VM, its undefinition ends the subscription: the
         * server sends nothing more about it. */
        if (a->argc > 0 && is_undefined_event(msg)) {
            cJSON_Delete(msg);
            return status;
        }
        cJSON_Delete(msg);
    }
    return status;
}
