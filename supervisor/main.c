/* corral-supervisor: owns one VM's QEMU, its QMP monitor and its control
 * socket.  Started by corrald; see corral-supervisor(8). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/domain_handover.h"
#include "common/domain_xml.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/runrec.h"
#include "common/names.h"
#include "common/xml_lib.h"
#include "common/xml_safe.h"
#include "proto/listen.h"
#include "proto/rpc.h"
#include "supervisor/console.h"
#include "supervisor/console_log.h"
#include "supervisor/control.h"
#include "supervisor/sandbox.h"
#include "supervisor/snapshot_core.h"
#include "supervisor/snapshot_recover.h"
#include "supervisor/snapshot_report.h"
#include "supervisor/snapshot_tree_load.h"
#include "supervisor/vm.h"
#include "supervisor/vm_start_clean.h"

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's exit-time check needs clone and ptrace, which the
 * seccomp filter forbids (supervisor/sandbox.h): it is off for the
 * supervisor whatever ASAN_OPTIONS says. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return 1;
}
#endif

struct supervisor {
    struct event_base *base;
    struct vm *vm;
    struct snapops *snapops;
    struct control_ctx ctx;
    struct rpc_server *ctl;
    int status_fd;
    int exit_code;
    char *control_path;
    struct event *xml_idle;
    /* The allowlist, compiled while QEMU starts (len 0 when that failed:
     * on_started tries again and says why), and whether it is loaded. */
    struct sandbox_filter filter;
    bool confined;
};

/* One line to the broker on the status pipe, then the pipe is closed: the
 * broker learns that start-up is over, and how it went. */
static void report_status(struct supervisor *s, const struct cerr *e)
{
    cJSON *info;
    size_t len;
    char *line;

    if (s->status_fd < 0)
        return;
    info = e == NULL ? vm_info_json(s->vm) : NULL;
    line = runrec_status_format(info, e, &len);
    cJSON_Delete(info);
    if (line == NULL)
        log_err("VM %s: out of memory reporting start-up status", vm_name(s->vm));
    else {
        ssize_t n = write(s->status_fd, line, len);
        if (n < 0 || (size_t)n != len)
            log_err("cannot report start-up status to the broker: %s",
                    n < 0 ? strerror(errno) : "short write");
        free(line);
    }
    close(s->status_fd);
    s->status_fd = -1;
}

static void on_state_changed(struct vm *vm, void *arg)
{
    struct supervisor *s = arg;

    if (s->ctl != NULL)
        rpc_server_broadcast(s->ctl, vm_name(vm), "vm.state", vm_state_json(vm));
}

static void snapshot_event(const char *method, cJSON *params, void *arg)
{
    struct supervisor *s = arg;

    /* Reports nobody hears now are still in the journal: resent when the
     * broker subscribes. */
    if (s->ctl != NULL)
        rpc_server_broadcast(s->ctl, vm_name(s->vm), method, params);
    else
        cJSON_Delete(params);
}

static void resend_reports(struct control_ctx *ctx)
{
    snapops_resend(ctx->snapops);
}

static void destroyed_after_failure(void *arg, cJSON *result, const struct cerr *e)
{
    (void)arg;
    (void)e;
    cJSON_Delete(result);
}

static void answer_start(struct supervisor *s, struct vm *vm, const struct cerr *e)
{
    struct cerr se;

    if (e != NULL) {
        s->exit_code = 1;
        report_status(s, e);
        return;
    }
    /* QEMU (which inherited no_new_privs) is running and this process will
     * never start another: from here on it parses what QEMU says, so it
     * may do no more than it needs.  A start that sent cont is confined
     * already (on_guest_runs). */
    if (!s->confined && (s->filter.len > 0 ? sandbox_seccomp_load(&s->filter, &se)
                                           : sandbox_seccomp_install(&se)) < 0) {
        log_err_code(cerr_name(se.code), "VM %s: cannot confine the supervisor: %s", vm_name(vm),
                     se.msg);
        s->exit_code = 1;
        report_status(s, &se);
        vm_destroy(vm, destroyed_after_failure, s);
        return;
    }
    s->confined = true;
    report_status(s, NULL);
}

static void on_started(struct vm *vm, const struct cerr *e, void *arg)
{
    struct supervisor *s = arg;

    answer_start(s, vm, e);
    /* Answered: the start check's findings are journalled and sent now. */
    if (s->snapops != NULL)
        snapreport_release(s->snapops);
}

/* The guest is let run: QEMU's answers are read confined from here on,
 * and the kernel takes the filter (0.4 ms, most of it building its
 * per-call cache) while QEMU takes the cont.  A failure is left for
 * on_started, which tries again and says why. */
static void on_guest_runs(struct vm *vm, void *arg)
{
    struct supervisor *s = arg;
    struct cerr e;

    if (s->confined || s->filter.len == 0)
        return;
    if (sandbox_seccomp_load(&s->filter, &e) == 0)
        s->confined = true;
    else
        log_debug("VM %s: loading the seccomp filter: %s", vm_name(vm), e.msg);
}

/* A supervisor lives as long as its VM and idles most of that time: what
 * loading the definition and the snapshot metadata, or checking a few
 * thousand snapshots, left free in the heap goes back to the system
 * instead of staying in each of a thousand processes. */
static void give_back_memory(void)
{
    malloc_trim(0);
}

/* libxml2 (with ICU and the C++ runtime) is half of an idle supervisor's
 * memory: unloaded this long after a load, so that a run of snapshot
 * operations loads it once and a VM that stays idle does not keep it. */
#define XML_IDLE_SECONDS 5

static void on_xml_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    /* Between events no XML document is alive (common/xml_lib.h). */
    xml_lib_unload();
    give_back_memory();
}

static void on_xml_loaded(void *arg)
{
    struct supervisor *s = arg;
    const struct timeval idle = {XML_IDLE_SECONDS, 0};

    if (evtimer_add(s->xml_idle, &idle) < 0)
        log_warn("VM %s: cannot schedule unloading libxml2; it stays loaded", vm_name(s->vm));
}

/* glibc raises its thresholds as large blocks come and go, so one large
 * reply would keep megabytes of freed heap for good.  Fixed ones instead:
 * blocks up to 4 MiB (a listing page's tree and text) come from the heap,
 * which free() keeps up to 8 MiB, so that the pages of one listing reuse
 * it; what is left goes back by malloc_trim, after start-up, recovery and
 * a run of large replies (snapshot_core.c). */
static void malloc_setup(void)
{
    if (mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024) != 1 ||
        mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024) != 1)
        log_warn("cannot set the malloc thresholds; freed memory may stay with the process");
}

static void recovered(const struct cerr *e, void *arg)
{
    struct supervisor *s = arg;

    vm_recovered(s->vm, e);
    give_back_memory();
}

static void on_recover(struct vm *vm, const char *context, void *arg)
{
    struct supervisor *s = arg;

    (void)vm;
    if (vm_start_clean(s->snapops)) {
        recovered(NULL, s);
        return;
    }
    snaprecover_run(s->snapops, context, recovered, s);
}

static void drained(void *arg)
{
    struct supervisor *s = arg;

    event_base_loopexit(s->base, NULL);
}

static void on_gone(struct vm *vm, void *arg)
{
    struct supervisor *s = arg;

    (void)vm;
    if (s->ctl != NULL)
        rpc_server_drain(s->ctl, drained, s);
    else
        event_base_loopexit(s->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct supervisor *s = arg;

    (void)what;
    /* QEMU is left running: a supervisor stopped by a signal is replaced,
     * not followed by its guest. */
    log_warn("VM %s: received signal %d; exiting and leaving QEMU untouched", vm_name(s->vm),
             (int)sig);
    event_base_loopexit(s->base, NULL);
}

/* --go-fd: the broker hands the disks over while this process starts up,
 * and says so by one byte; QEMU, which opens them, is started after it.
 * EOF instead: the broker gave the start up. */
static int wait_go_ahead(int go_fd, const char *name, struct cerr *e)
{
    char c;
    ssize_t n;

    if (go_fd < 0)
        return 0;
    do
        n = read(go_fd, &c, 1);
    while (n < 0 && errno == EINTR);
    close(go_fd);
    if (n == 1)
        return 0;
    cerr_set(e, CE_SUPERVISOR, "VM %s: the broker did not hand its disks over%s%s", name,
             n < 0 ? ": " : " (it gave the start up)", n < 0 ? strerror(errno) : "");
    return -1;
}

/* The control socket, then QEMU once the broker says the disks are the
 * VM's, then the snapshot metadata, read while QEMU starts up (tens of ms)
 * rather than before: nothing reads it before the event loop runs, and a
 * VM whose metadata cannot be read is not started (its QEMU, still at -S,
 * is killed).  A re-adopting supervisor reads it first, as QEMU runs. */
static int setup(struct supervisor *s, const char *state_dir, const char *run_dir, pid_t adopt,
                 int go_fd, struct cerr *e)
{
    int fd;

    if (mkdir_p(run_dir, 0750, e) < 0)
        return -1;
    s->ctx.vm = s->vm;
    s->ctx.subscribed = resend_reports;
    /* Open to all by mode: the run directory decides who can reach it and
     * admit() who is served. */
    fd = unix_listen(s->control_path, 0666, e);
    if (fd < 0)
        return -1;
    s->ctl = control_serve(s->base, &s->ctx, fd, e);
    if (s->ctl == NULL)
        return -1;
    if (adopt > 0) {
        s->snapops = snapops_new(s->vm, state_dir, snapshot_event, s, e);
        s->ctx.snapops = s->snapops;
        return s->snapops == NULL ? -1 : vm_adopt(s->vm, adopt, e);
    }
    if (wait_go_ahead(go_fd, vm_name(s->vm), e) < 0 || vm_start(s->vm, e) < 0)
        return -1;
    s->snapops = snapops_new(s->vm, state_dir, snapshot_event, s, e);
    s->ctx.snapops = s->snapops;
    if (s->snapops == NULL) {
        vm_start_abandon(s->vm);
        return -1;
    }
    return 0;
}

/* --log-fd names: the serial port's log, the virtio console's. */
#define SUP_LOGS 2
static const char *const log_names[SUP_LOGS] = {"serial", "console"};

/* The options that are not the supervisor's own state (status_fd and
 * owner go straight into struct supervisor). */
struct sup_options {
    const char *name, *definition, *state_dir, *run_dir;
    enum log_level lvl;
    bool maintenance;
    bool paused; /* leave the guest paused once started */
    pid_t adopt; /* > 0: re-attach to this QEMU instead of starting one */
    /* --tap-fd: the broker's taps, one per tap-backed interface, in the
     * definition's order; they go to QEMU and nowhere else. */
    int tap_fds[DOMAIN_MAX_NETS];
    size_t ntap_fds;
    /* --log-fd serial=FD, console=FD: the <log> files the broker opened
     * for the serial port and the virtio console; -1 when none. */
    int log_fds[SUP_LOGS];
    /* --definition-fd: the definition the broker parsed, which spares
     * loading libxml2 at start (common/domain_handover.h); -1 when none,
     * and --definition is read when it cannot be used. */
    int definition_fd;
    /* --go-fd: where the broker says it handed the disks over; -1 when it
     * did before starting this process (or there are none to wait for). */
    int go_fd;
    uid_t run_uid; /* 0: keep the uid corrald started this process with */
    gid_t run_gid, keep_gid;
};

/* What parse_options returns when the supervisor is to run. */
#define SUP_OPTIONS_RUN (-1)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: corral-supervisor --name NAME --definition FILE --state-dir DIR --run-dir DIR "
            "[--definition-fd FD] [--go-fd FD] [--status-fd FD] [--uid UID --gid GID [--group "
            "GID]] [--owner UID] "
            "[--maintenance | --adopt PID | --paused] [--tap-fd FD]... "
            "[--log-fd serial|console=FD]... "
            "[--debug]\n"
            "Started by corrald, one per running VM; see corral-supervisor(8).\n");
}

/* def (taken) when it is VM name's, else NULL with e set. */
static struct domain_def *check_name(struct domain_def *def, const char *path, const char *name,
                                     struct cerr *e)
{
    if (def != NULL && strcmp(def->name, name) != 0) {
        cerr_set(e, CE_INVALID_XML, "%s defines VM %s, not %s", path, def->name, name);
        domain_def_free(def);
        return NULL;
    }
    return def;
}

static struct domain_def *parse_definition(const char *xml, size_t len, const char *path,
                                           const char *name, struct cerr *e)
{
    char *warnings = NULL;
    struct domain_def *def = domain_def_parse(xml, len, &warnings, e);

    free(warnings);
    return check_name(def, path, name, e);
}

/* The definition of --definition-fd, which it closes, or NULL (logged
 * when there was one) when --definition is to be parsed instead. */
static struct domain_def *handed_over(const struct sup_options *o)
{
    struct domain_def *def;
    struct cerr e;

    if (o->definition_fd < 0)
        return NULL;
    def = check_name(domain_handover_read(o->definition_fd, &e), "--definition-fd", o->name, &e);
    if (def == NULL)
        log_warn_code(cerr_name(e.code),
                      "VM %s: parsing %s instead of the definition handed over: %s", o->name,
                      o->definition, e.msg);
    close(o->definition_fd);
    return def;
}

/* A descriptor number the broker passed: 3 and above, and plausible. */
static int passed_fd(const char *s)
{
    char *end;
    long fd = strtol(s, &end, 10);

    if (*end != '\0' || end == s || fd < 3 || fd > 1024)
        return -1;
    return (int)fd;
}

/* --log-fd NAME=FD, once per name. */
static int parse_log_fd(const char *arg, struct sup_options *o)
{
    for (size_t i = 0; i < SUP_LOGS; i++) {
        size_t len = strlen(log_names[i]);

        if (strncmp(arg, log_names[i], len) != 0 || arg[len] != '=' || o->log_fds[i] >= 0)
            continue;
        o->log_fds[i] = passed_fd(arg + len + 1);
        return o->log_fds[i] < 0 ? -1 : 0;
    }
    return -1;
}

/* One option c with its argument: 0 when taken, -1 when refused. */
static int parse_one(int c, const char *arg, struct sup_options *o, struct supervisor *s)
{
    switch (c) {
    case 'n':
        o->name = arg;
        return 0;
    case 'x':
        o->definition = arg;
        return 0;
    case 'D':
        o->definition_fd = passed_fd(arg);
        return o->definition_fd < 0 ? -1 : 0;
    case 'w':
        o->go_fd = passed_fd(arg);
        return o->go_fd < 0 ? -1 : 0;
    case 's':
        o->state_dir = arg;
        return 0;
    case 'r':
        o->run_dir = arg;
        return 0;
    case 'f':
        s->status_fd = atoi(arg);
        return 0;
    case 'd':
        o->lvl = LOG_LVL_DEBUG;
        return 0;
    case 'm':
        o->maintenance = true;
        return 0;
    case 'P':
        o->paused = true;
        return 0;
    case 'a':
        o->adopt = (pid_t)strtol(arg, NULL, 10);
        return o->adopt <= 0 ? -1 : 0;
    case 'o':
        s->ctx.owner = (uid_t)strtoul(arg, NULL, 10);
        return 0;
    case 'U':
        o->run_uid = (uid_t)strtoul(arg, NULL, 10);
        return 0;
    case 'G':
        o->run_gid = (gid_t)strtoul(arg, NULL, 10);
        return 0;
    case 'g':
        o->keep_gid = (gid_t)strtoul(arg, NULL, 10);
        return 0;
    case 't': {
        int fd = passed_fd(arg);

        if (fd < 0 || o->ntap_fds == DOMAIN_MAX_NETS)
            return -1;
        o->tap_fds[o->ntap_fds++] = fd;
        return 0;
    }
    case 'l':
        return parse_log_fd(arg, o);
    default:
        return -1;
    }
}

/* Returns SUP_OPTIONS_RUN, or the exit status (0 after --help, 2 after the
 * usage on stderr).  Nothing is logged: log_init comes after. */
static int parse_options(int argc, char **argv, struct sup_options *o, struct supervisor *s)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"definition", required_argument, NULL, 'x'},
        {"definition-fd", required_argument, NULL, 'D'},
        {"go-fd", required_argument, NULL, 'w'},
        {"state-dir", required_argument, NULL, 's'},
        {"run-dir", required_argument, NULL, 'r'},
        {"status-fd", required_argument, NULL, 'f'},
        {"debug", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"maintenance", no_argument, NULL, 'm'},
        {"paused", no_argument, NULL, 'P'},
        {"uid", required_argument, NULL, 'U'},
        {"gid", required_argument, NULL, 'G'},
        {"owner", required_argument, NULL, 'o'},
        {"adopt", required_argument, NULL, 'a'},
        {"group", required_argument, NULL, 'g'},
        {"tap-fd", required_argument, NULL, 't'},
        {"log-fd", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *o = (struct sup_options){
        .lvl = LOG_LVL_INFO, .log_fds = {-1, -1}, .definition_fd = -1, .go_fd = -1};
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (parse_one(c, optarg, o, s) < 0) {
            usage(stderr);
            return 2;
        }
    }
    if (o->name == NULL || o->definition == NULL || o->state_dir == NULL || o->run_dir == NULL ||
        optind != argc || (o->maintenance && o->adopt > 0) ||
        (o->paused && (o->maintenance || o->adopt > 0)) || (o->go_fd >= 0 && o->adopt > 0) ||
        (o->ntap_fds > 0 && (o->maintenance || o->adopt > 0)) ||
        (o->maintenance && (o->log_fds[0] >= 0 || o->log_fds[1] >= 0))) {
        usage(stderr);
        return 2;
    }
    return SUP_OPTIONS_RUN;
}

/* The definition is the broker's, in a directory this VM's uid may not
 * read: its text is read while still root, parsed after the drop, and only
 * when the broker's handover (--definition-fd) cannot be used.  NULL
 * (logged) with *rc the exit status on failure. */
static struct domain_def *load_sandboxed(const struct sup_options *o, int status_fd, int *rc)
{
    struct sandbox_limits limits = SANDBOX_LIMITS_DEFAULT;
    int keep[4 + DOMAIN_MAX_NETS + SUP_LOGS];
    size_t nkeep = 0;
    struct domain_def *def;
    size_t xml_len = 0;
    struct cerr e;
    char *xml;

    *rc = 1;
    xml = file_read_untrusted(AT_FDCWD, o->definition, XML_UNTRUSTED_MAX, &xml_len, &e);
    if (xml == NULL) {
        log_err_code(cerr_name(e.code), "VM %s: cannot read its definition: %s", o->name, e.msg);
        return NULL;
    }
    if (status_fd >= 0)
        keep[nkeep++] = status_fd;
    if (o->definition_fd >= 0)
        keep[nkeep++] = o->definition_fd;
    if (o->go_fd >= 0)
        keep[nkeep++] = o->go_fd;
    if (log_fd() >= 0)
        keep[nkeep++] = log_fd();
    for (size_t i = 0; i < o->ntap_fds; i++)
        keep[nkeep++] = o->tap_fds[i];
    for (size_t i = 0; i < SUP_LOGS; i++) {
        if (o->log_fds[i] >= 0)
            keep[nkeep++] = o->log_fds[i];
    }
    if (sandbox_close_fds(keep, nkeep, &e) < 0 || sandbox_clear_env(&e) < 0 ||
        sandbox_set_rlimits(&limits, &e) < 0 ||
        (o->run_uid != 0 && sandbox_drop_privileges(o->run_uid, o->run_gid, o->keep_gid, &e) < 0) ||
        sandbox_no_new_privs(&e) < 0) {
        log_err_code(cerr_name(e.code), "VM %s: cannot prepare the sandbox: %s", o->name, e.msg);
        free(xml);
        return NULL;
    }
    /* QEMU must not inherit the status pipe: the broker waits for its EOF.
     * The taps reach QEMU only as qemu_spawn passes them; the logs never
     * do. */
    for (size_t i = 0; i < nkeep; i++) {
        if (fcntl(keep[i], F_SETFD, FD_CLOEXEC) < 0) {
            log_err("VM %s: bad descriptor %d (--status-fd, --definition-fd, --go-fd, --tap-fd "
                    "or --log-fd): %s",
                    o->name, keep[i], strerror(errno));
            free(xml);
            *rc = 2;
            return NULL;
        }
    }
    def = handed_over(o);
    if (def == NULL) {
        def = parse_definition(xml, xml_len, o->definition, o->name, &e);
        /* Until XML is needed again; the C++ runtime it brought stays
         * (common/xml_lib.h). */
        xml_lib_unload();
    }
    free(xml);
    if (def == NULL)
        log_err_code(cerr_name(e.code), "VM %s: %s", o->name, e.msg);
    return def;
}

/* --log-fd: each console copies its output to the file the broker opened.
 * A re-adopting supervisor continues this run's log; with append='off' the
 * run started it empty, so what it holds counts against the cap. */
static void give_logs(struct supervisor *s, const struct sup_options *o)
{
    const struct domain_def *def = vm_def(s->vm);

    for (size_t i = 0; i < SUP_LOGS; i++) {
        const char *dev = i == 0 ? "serial0" : def->serial ? "console1" : "console0";
        bool append = i == 0 ? def->serial_log.append : def->console_log.append;
        struct console *c;
        struct cerr e;

        if (o->log_fds[i] < 0)
            continue;
        c = vm_console(s->vm, dev, &e);
        if (c == NULL) {
            log_warn_code(cerr_name(e.code), "VM %s: --log-fd %s: %s", o->name, log_names[i],
                          e.msg);
            close(o->log_fds[i]);
            continue;
        }
        console_set_log(c, console_log_new(o->name, dev, o->log_fds[i], o->adopt > 0 && !append));
    }
}

/* libevent keeps time by CLOCK_MONOTONIC_COARSE unless told otherwise,
 * which advances once a kernel tick (4 ms at HZ=250): a monitor socket
 * polled every QMP_FAST_RETRY_MS (supervisor/vm.c: a re-adopted QEMU's,
 * or one lost during start-up) would be polled every tick instead.  NULL
 * when the loop cannot be created. */
static struct event_base *new_base(const char *name)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (cfg == NULL)
        return NULL;
    if (event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) < 0)
        log_warn("VM %s: no precise timers; QEMU's monitor is polled at the kernel's tick", name);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

/* Starts (or adopts) the VM of def, which it takes, and serves until the
 * VM is gone or a signal comes.  Returns the exit status. */
static int run(struct supervisor *s, const struct sup_options *o, struct domain_def *def)
{
    struct event *sigterm = NULL, *sigint = NULL;
    struct cerr e;

    s->base = new_base(o->name);
    if (s->base == NULL) {
        log_err("VM %s: cannot create the event loop", o->name);
        domain_def_free(def);
        return 1;
    }
    struct vm_hooks hooks = {on_state_changed, on_started, on_gone, on_recover, s};
    s->xml_idle = evtimer_new(s->base, on_xml_idle, s);
    if (s->xml_idle == NULL) {
        log_err("VM %s: cannot create the libxml2 idle timer", o->name);
        domain_def_free(def);
        event_base_free(s->base);
        return 1;
    }
    s->vm = vm_new(s->base, def, o->state_dir, o->run_dir, o->maintenance, &hooks);
    vm_on_guest_runs(s->vm, on_guest_runs);
    vm_give_taps(s->vm, o->tap_fds, o->ntap_fds);
    give_logs(s, o);
    if (o->paused)
        vm_set_start_paused(s->vm);
    s->control_path = xasprintf("%s/control.sock", o->run_dir);
    if (setup(s, o->state_dir, o->run_dir, o->adopt, o->go_fd, &e) < 0) {
        log_err_code(cerr_name(e.code), "VM %s: %s", o->name, e.msg);
        report_status(s, &e);
        s->exit_code = 1;
        goto out;
    }
    /* QEMU, connected to before it ran, takes tens of ms to greet: this
     * (0.6 ms, most of it the filter, which must be ready for cont) runs
     * meanwhile, off the start's path; after the greeting it would be on
     * it. */
    if (sandbox_seccomp_compile(&s->filter, &e) < 0)
        log_debug("VM %s: compiling the seccomp filter: %s", o->name, e.msg);
    xml_lib_unload();
    xml_lib_set_load_hook(on_xml_loaded, s);
    give_back_memory();
    sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
    sigint = evsignal_new(s->base, SIGINT, on_signal, s);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) < 0 ||
        evsignal_add(sigint, NULL) < 0) {
        log_err("VM %s: cannot install signal handlers", o->name);
        s->exit_code = 1;
        goto out;
    }
    event_base_dispatch(s->base);
out:
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    xml_lib_set_load_hook(NULL, NULL);
    sandbox_filter_free(&s->filter);
    event_free(s->xml_idle);
    rpc_server_free(s->ctl);
    /* The next start parses only the metadata files changed since. */
    if (s->snapops != NULL && snapshot_tree_save_index(s->snapops->tree, s->snapops->dir, &e) < 0)
        log_warn_code(
            cerr_name(e.code),
            "VM %s: cannot save the snapshot index (the next start parses every snapshot's "
            "file): %s",
            o->name, e.msg);
    snapops_free(s->snapops);
    vm_free(s->vm);
    if (unlink(s->control_path) < 0 && errno != ENOENT)
        log_warn("VM %s: cannot remove %s: %s", o->name, s->control_path, strerror(errno));
    free(s->control_path);
    event_base_free(s->base);
    return s->exit_code;
}

int main(int argc, char **argv)
{
    struct supervisor s = {.status_fd = -1};
    struct domain_def *def;
    struct sup_options o;
    struct cerr e;
    int rc = parse_options(argc, argv, &o, &s);

    if (rc != SUP_OPTIONS_RUN)
        return rc;
    log_init("corral-supervisor", o.lvl);
    malloc_setup();
    if (!name_vm_valid(o.name, &e)) {
        log_err_code(cerr_name(e.code), "%s", e.msg);
        return 2;
    }
    log_set_vm(o.name);
    log_select_inherited();
    signal(SIGPIPE, SIG_IGN);
    def = load_sandboxed(&o, s.status_fd, &rc);
    if (def == NULL)
        return rc;
    return run(&s, &o, def);
}
