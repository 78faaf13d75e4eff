/* The events verb: subscribe, then print the first notification (every one
 * with --loop, as virsh's event verb) as it comes, until a signal, the end
 * of the connection, or the end of the one VM followed (vm.undefined). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/corralctl/ctl.h"
#include "proto/rpc.h"

struct events_out {
    bool json;
    bool loop;        /* every event, not only the first */
    bool timestamp;   /* each line starts with the time it was received */
    const char *only; /* the one notification method shown, or NULL */
    int shown;        /* events printed so far */
    int status;       /* CTL_EXIT_ERROR once something could not be shown */
};

/* virsh's event type names that have a corral notification of their own. */
static const struct {
    const char *virsh, *method;
} event_aliases[] = {{"lifecycle", "vm.state"}, {"undefined", "vm.undefined"}};

/* The notifications corralctl knows, for --event. */
static const char *const event_methods[] = {
    "vm.state",         "vm.undefined",           "snapshot.created",
    "snapshot.deleted", "snapshot.inconsistency", "job.progress"};

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

/* virsh's --timestamp prefix, the local time the event was received:
 * "2026-12-02 19:18:17.123+0000: ". */
static int print_timestamp(void)
{
    struct timespec ts;
    struct tm tm;
    char date[32], zone[8];

    if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || localtime_r(&ts.tv_sec, &tm) == NULL ||
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm) == 0 ||
        strftime(zone, sizeof(zone), "%z", &tm) == 0)
        return ctl_error("cannot read the time: %s", strerror(errno));
    printf("%s.%03ld%s: ", date, ts.tv_nsec / 1000000, zone);
    return CTL_EXIT_OK;
}

/* "TIME vm.state NAME: state (reason)". */
static int print_state_event(const cJSON *params)
{
    const char *name, *state, *reason = NULL;

    if (ctl_reply_str(params, "name", true, &name) < 0 ||
        ctl_reply_str(params, "state", true, &state) < 0 ||
        ctl_reply_str(params, "reason", false, &reason) < 0)
        return ctl_error("unexpected event from server");
    if (reason != NULL)
        printf("vm.state %s: %s (%s)\n", name, state, reason);
    else
        printf("vm.state %s: %s\n", name, state);
    return CTL_EXIT_OK;
}

/* "snapshot.created VM: SNAP", and the same for snapshot.deleted. */
static int print_snapshot_event(const char *method, const cJSON *params)
{
    const char *vm, *snap;

    if (ctl_reply_str(params, "vm", true, &vm) < 0 ||
        ctl_reply_str(params, "snapshot", true, &snap) < 0)
        return ctl_error("unexpected event from server");
    printf("%s %s: %s\n", method, vm, snap);
    return CTL_EXIT_OK;
}

/* "snapshot.inconsistency VM: SNAP KIND on DISKS: DETAIL". */
static int print_inconsistency_event(const cJSON *params)
{
    struct ctl_report rep;
    const char *vm;

    if (ctl_reply_str(params, "vm", true, &vm) < 0 || ctl_read_report(params, &rep) < 0)
        return ctl_error("unexpected event from server");
    printf("snapshot.inconsistency %s: %s ", vm, rep.snapshot);
    ctl_print_report(stdout, &rep);
    return CTL_EXIT_OK;
}

/* "vm.undefined NAME (uuid UUID)". */
static int print_undefined_event(const cJSON *params)
{
    const char *name, *uuid;

    if (ctl_reply_str(params, "name", true, &name) < 0 ||
        ctl_reply_str(params, "uuid", true, &uuid) < 0)
        return ctl_error("unexpected event from server");
    printf("vm.undefined %s (uuid %s)\n", name, uuid);
    return CTL_EXIT_OK;
}

/* Whether msg is the server's last word about a VM. */
static bool is_undefined_event(const cJSON *msg)
{
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");

    return cJSON_IsString(method) && strcmp(method->valuestring, "vm.undefined") == 0;
}

/* Whether the notification method is one corralctl prints as text. */
static bool is_shown_method(const char *method)
{
    return strcmp(method, "vm.state") == 0 || strcmp(method, "vm.undefined") == 0 ||
           strncmp(method, "snapshot.", 9) == 0;
}

static int print_event(const struct rpc_msg *m)
{
    if (strcmp(m->method, "vm.state") == 0)
        return print_state_event(m->params);
    if (strcmp(m->method, "snapshot.inconsistency") == 0)
        return print_inconsistency_event(m->params);
    if (strcmp(m->method, "vm.undefined") == 0)
        return print_undefined_event(m->params);
    return print_snapshot_event(m->method, m->params);
}

static int show_event(const cJSON *msg, struct events_out *out)
{
    struct rpc_msg m;
    struct cerr e;
    int status = CTL_EXIT_OK;

    if (rpc_classify(msg, &m, &e) < 0)
        return ctl_unexpected();
    /* A stray reply is none of ours to show; notifications we do not know
     * are ignored as the protocol asks, unless passing raw JSON through. */
    if (m.kind != RPC_KIND_NOTIFICATION || (out->only != NULL && strcmp(m.method, out->only) != 0))
        return CTL_EXIT_OK;
    if (!out->json && !is_shown_method(m.method))
        return CTL_EXIT_OK;
    if (out->timestamp && !out->json)
        status = print_timestamp();
    if (status == CTL_EXIT_OK)
        status = out->json ? ctl_print_json(msg, false) : print_event(&m);
    if (status == CTL_EXIT_OK && fflush(stdout) != 0)
        status = ctl_error("cannot write to standard output: %s", strerror(errno));
    out->shown++;
    return status;
}

/* Whether the event loop is over: the first event shown without --loop. */
static bool events_done(const struct events_out *out)
{
    return !out->loop && out->shown > 0;
}

/* rpc_client_call's callback for events that come before the subscription's
 * reply. */
static void on_notify(const cJSON *msg, void *arg)
{
    struct events_out *out = arg;

    if (out->status == CTL_EXIT_OK && !events_done(out))
        out->status = show_event(msg, out);
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

/* The notification method --event names, or NULL after printing why. */
static const char *event_method(const char *type)
{
    for (size_t i = 0; i < sizeof(event_aliases) / sizeof(event_aliases[0]); i++)
        if (strcmp(type, event_aliases[i].virsh) == 0)
            return event_aliases[i].method;
    for (size_t i = 0; i < sizeof(event_methods) / sizeof(event_methods[0]); i++)
        if (strcmp(type, event_methods[i]) == 0)
            return event_methods[i];
    ctl_usage_error(NULL,
                    "unknown event type '%s' (lifecycle, undefined, or a notification: "
                    "vm.state, vm.undefined, snapshot.created, snapshot.deleted, "
                    "snapshot.inconsistency, job.progress)",
                    type);
    return NULL;
}

int ctl_run_events(struct ctl *ctl, const struct ctl_args *a)
{
    struct events_out out = {.json = ctl->json,
                             .loop = ctl_opt(a, "loop") != 0,
                             .timestamp = ctl_opt(a, "timestamp") != 0,
                             .status = CTL_EXIT_OK};
    const char *type = ctl_opt_str(a, "event");
    int status;

    if (type != NULL && (out.only = event_method(type)) == NULL)
        return CTL_EXIT_USAGE;
    status = catch_signals();
    if (status == CTL_EXIT_OK)
        status = subscribe(ctl, a, &out);
    while (status == CTL_EXIT_OK && !events_done(&out)) {
        struct cerr e;
        cJSON *msg;

        cerr_clear(&e);
        msg = rpc_client_next(ctl->client, -1, &e);
        if (msg == NULL)
            return stream_ended(&e);
        status = show_event(msg, &out);
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
