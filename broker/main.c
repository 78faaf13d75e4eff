/* corrald: the corral broker.  See corrald(8). */
#include <errno.h>
#include <event2/event.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/console_relay.h"
#include "broker/dispatch.h"
#include "broker/heap.h"
#include "broker/options.h"
#include "broker/policy.h"
#include "broker/reaper.h"
#include "broker/registry.h"
#include "broker/adopt.h"
#include "broker/autostart.h"
#include "broker/spawn.h"
#include "broker/supervise.h"
#include "broker/uidrange.h"
#include "common/domain_xml.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/notify.h"
#include "proto/listen.h"

/* What main() sets up and cleanup() takes down, whatever step it got to. */
struct run {
    struct broker b;
    struct broker_options o;
    struct event *sigterm, *sigint;
    struct event *heap; /* heap_watch's timer */
    char *sock_path;
};

/* Absolute, so that paths handed to supervisors and written into run
 * records do not depend on anybody's working directory. */
static char *absolute_dir(const char *dir, mode_t mode, struct cerr *e)
{
    char buf[PATH_MAX];

    if (mkdir_p(dir, mode, e) < 0)
        return NULL;
    if (realpath(dir, buf) == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot resolve %s: %s", dir, strerror(errno));
        return NULL;
    }
    return xstrdup(buf);
}

static char *default_supervisor(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n > 0) {
        self[n] = '\0';
        char *cand = xasprintf("%s/corral-supervisor", dirname(self));
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
    }
    return xstrdup(CORRAL_LIBEXECDIR "/corral-supervisor");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct broker *b = arg;
    struct cerr e;

    (void)what;
    log_info("received signal %d; exiting (VMs keep running)", (int)sig);
    if (notify_send("STOPPING=1\nSTATUS=stopping; VMs keep running", &e) < 0)
        log_warn_code(cerr_name(e.code), "%s", e.msg);
    event_base_loopexit(b->base, NULL);
}

/* Whether VMs run under uids of their own; -1 (said) when asked of a
 * broker that cannot give them. */
static int settle_isolation(struct broker *b, const struct broker_options *o)
{
    if (b->isolate && geteuid() != 0) {
        log_err("--uid-range needs root: only root can hand files and processes to other uids");
        return -1;
    }
    /* As root, every VM gets its own uid unless told otherwise: VMs of
     * different owners must stay apart by default. */
    if (!b->isolate && !o->no_isolation && geteuid() == 0) {
        b->isolate = true;
        b->uid_min = UIDRANGE_DEFAULT_MIN;
        b->uid_max = UIDRANGE_DEFAULT_MAX;
    }
    if (o->no_isolation)
        b->isolate = false;
    return 0;
}

/* The emulator and bridge allowlists, then the configuration as a whole. */
static int check_config(struct broker *b, const struct broker_options *o)
{
    struct cerr e;

    b->policy = policy_new();
    for (size_t i = 0; i < o->nemulators; i++) {
        if (policy_allow_emulator(b->policy, o->emulators[i], false, &e) < 0) {
            log_err_code(cerr_name(e.code), "--emulator: %s", e.msg);
            return -1;
        }
    }
    if (o->nemulators == 0 &&
        policy_allow_emulator(b->policy, DOMAIN_DEFAULT_EMULATOR, true, &e) < 0) {
        log_err("%s; name the emulators VMs may run with --emulator", e.msg);
        return -1;
    }
    for (size_t i = 0; i < o->nbridges; i++) {
        if (policy_allow_bridge(b->policy, o->bridges[i], &e) < 0) {
            log_err_code(cerr_name(e.code), "--bridge: %s", e.msg);
            return -1;
        }
    }
    if (policy_check_config(b, &e) < 0) {
        log_err_code(cerr_name(e.code), "%s", e.msg);
        return -1;
    }
    return 0;
}

/* The state and run directories (created), and the supervisor binary. */
static int prepare_dirs(struct broker *b, const struct broker_options *o)
{
    struct cerr e;

    signal(SIGPIPE, SIG_IGN);
    umask(022);
    b->state_dir = absolute_dir(o->state_dir, 0755, &e);
    b->run_dir = b->state_dir ? absolute_dir(o->run_dir, 0755, &e) : NULL;
    if (b->run_dir == NULL) {
        log_err_code(cerr_name(e.code), "%s", e.msg);
        return -1;
    }
    if (b->isolate && (!path_reachable_by_others(b->state_dir, &e) ||
                       !path_reachable_by_others(b->run_dir, &e))) {
        log_err("%s; every VM runs under its own uid and must reach it: make the directories "
                "above it searchable (chmod o+x), choose other directories, or run with "
                "--no-isolation",
                e.msg);
        return -1;
    }
    b->supervisor_path = o->supervisor ? xstrdup(o->supervisor) : default_supervisor();
    if (access(b->supervisor_path, X_OK) < 0) {
        log_err("cannot execute the supervisor %s: %s", b->supervisor_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The event loop and the child reaper, then every VM definition. */
static int load_vms(struct broker *b)
{
    struct cerr e;

    b->base = event_base_new();
    if (b->base == NULL) {
        log_err("cannot create the event loop");
        return -1;
    }
    /* Before any supervisor is spawned, so that the QEMU of every one that
     * dies comes to this process. */
    if (reaper_init(b, &e) < 0) {
        log_err_code(cerr_name(e.code), "%s", e.msg);
        return -1;
    }
    if (registry_load(b, &e) < 0) {
        log_err_code(cerr_name(e.code), "%s", e.msg);
        return -1;
    }
    policy_report_vms(b);
    return 0;
}

static int listen_socket(struct broker *b, const char *sock_path)
{
    struct cerr e;
    int fd;

    /* Any local user may connect; what each may do is decided per request
     * from SO_PEERCRED (dispatch.c). */
    fd = unix_listen(sock_path, 0666, &e);
    if (fd < 0) {
        log_err_code(cerr_name(e.code), "%s", e.msg);
        return -1;
    }
    b->srv = dispatch_serve(b, fd, &e);
    if (b->srv == NULL) {
        log_err_code(cerr_name(e.code), "%s", e.msg);
        return -1;
    }
    return 0;
}

static int install_signals(struct run *r)
{
    r->sigterm = evsignal_new(r->b.base, SIGTERM, on_signal, &r->b);
    r->sigint = evsignal_new(r->b.base, SIGINT, on_signal, &r->b);
    if (r->sigterm == NULL || r->sigint == NULL || evsignal_add(r->sigterm, NULL) < 0 ||
        evsignal_add(r->sigint, NULL) < 0) {
        log_err("cannot install signal handlers");
        return -1;
    }
    return 0;
}

/* Safe after any step.  The socket is removed only after a clean run (rc
 * 0): a broker that found another one serving it leaves it alone. */
static void cleanup(struct run *r, int rc)
{
    struct broker *b = &r->b;

    if (r->sigterm != NULL)
        event_free(r->sigterm);
    if (r->sigint != NULL)
        event_free(r->sigint);
    if (r->heap != NULL)
        event_free(r->heap);
    rpc_server_free(b->srv);
    console_relay_free_all();
    for (struct bvm *vm = b->vms; vm != NULL; vm = vm->next)
        spawn_release(vm);
    reaper_free(b);
    registry_free(b);
    if (r->sock_path != NULL && rc == 0 && unlink(r->sock_path) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", r->sock_path, strerror(errno));
    free(r->sock_path);
    free(b->state_dir);
    free(b->run_dir);
    free(b->supervisor_path);
    free(b->vm_users);
    options_free(&r->o);
    policy_free(b->policy);
    if (b->base != NULL)
        event_base_free(b->base);
}

/* Each step logs why it failed.  Directories come after the configuration
 * is judged, the loop and reaper before any VM is loaded, the socket and
 * the signals before adoption starts: its end tells systemd the broker is
 * ready (lifecycle_adopt_report), and systemd may stop it from then on. */
int main(int argc, char **argv)
{
    struct run r = {.sigterm = NULL};
    int rc = options_parse(argc, argv, &r.o, &r.b);

    if (rc != OPTIONS_RUN)
        goto out;
    log_init("corrald", r.b.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    log_select(r.o.log_target);
    notify_init();
    rc = 2;
    if (settle_isolation(&r.b, &r.o) < 0)
        goto out;
    rc = 1;
    if (check_config(&r.b, &r.o) < 0 || prepare_dirs(&r.b, &r.o) < 0 || load_vms(&r.b) < 0)
        goto out;
    r.sock_path = xasprintf("%s/corrald.sock", r.b.run_dir);
    if (listen_socket(&r.b, r.sock_path) < 0 || install_signals(&r) < 0)
        goto out;
    log_info("serving %s (state %s, supervisor %s, configuration %s)", r.sock_path, r.b.state_dir,
             r.b.supervisor_path, r.o.config ? r.o.config : "none");
    supervise_init(&r.b);
    r.heap = heap_watch(r.b.base);
    adopt_all(&r.b);
    autostart_boot(&r.b);
    event_base_dispatch(r.b.base);
    rc = 0;
out:
    cleanup(&r, rc);
    return rc;
}
