/* corrald: the corral broker.  See corrald(8). */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/dispatch.h"
#include "broker/policy.h"
#include "broker/reaper.h"
#include "broker/registry.h"
#include "broker/adopt.h"
#include "broker/spawn.h"
#include "broker/supervise.h"
#include "broker/uidrange.h"
#include "common/domain_xml.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "proto/listen.h"

#define DEFAULT_STATE_DIR "/var/lib/corral"
#define DEFAULT_RUN_DIR "/run/corral"
/* systemd's start limit of 5, over 60 s rather than its 10 s: re-adopting
 * a QEMU whose monitor is busy saving RAM takes longer than a service's
 * start. */
#define DEFAULT_RESTART_LIMIT 5
#define DEFAULT_RESTART_INTERVAL 60
#define DEFAULT_ADOPT_TIMEOUT 10

static void usage(FILE *f)
{
    fprintf(f,
            "usage: corrald [--state-dir DIR] [--run-dir DIR] [--supervisor PATH] [OPTION]...\n"
            "  --state-dir DIR    VM definitions, snapshot metadata, logs (default %s)\n"
            "  --run-dir DIR      sockets and run records (default %s)\n"
            "  --supervisor PATH  corral-supervisor binary (default: next to corrald, else %s)\n"
            "  --uid-range A-B    the uids VMs run as, one each (needs root; default as root\n"
            "                     %lu-%lu); refused when a subordinate id (/etc/subuid,\n"
            "                     /etc/subgid), an account's uid or a group's gid is in it\n"
            "  --no-isolation     run every VM as the broker's user instead (as root: as\n"
            "                     root, so only root and the admin group may define VMs,\n"
            "                     start them or run snapshot work on a shut-off one)\n"
            "  --vm-user VM=USER  run VM as the local USER (not root, outside the range)\n"
            "                     instead of a uid from the range; only a VM defined by and\n"
            "                     for root or the admin group may have that name\n"
            "  --admin-group GRP  members of GRP manage every VM, as root does\n"
            "  --emulator PATH    a program VMs may run as QEMU (repeatable; replaces the\n"
            "                     default, %s): an absolute path\n"
            "                     without symlinks to a file only root can change.  Only\n"
            "                     root and the admin group may name an emulator other\n"
            "                     than the default in a definition\n"
            "  --restart-limit N/SECS\n"
            "                     more than N supervisor crashes of one VM within SECS\n"
            "                     seconds leave it degraded (default %d/%d)\n"
            "  --adopt-timeout SECS\n"
            "                     how long a supervisor found after a broker restart has\n"
            "                     to answer before it is replaced (default %d)\n"
            "  --debug            verbose logging\n"
            "Runs in the foreground and logs to stderr; see corrald(8).\n",
            DEFAULT_STATE_DIR, DEFAULT_RUN_DIR, CORRAL_LIBEXECDIR "/corral-supervisor",
            UIDRANGE_DEFAULT_MIN, UIDRANGE_DEFAULT_MAX, DOMAIN_DEFAULT_EMULATOR,
            DEFAULT_RESTART_LIMIT, DEFAULT_RESTART_INTERVAL, DEFAULT_ADOPT_TIMEOUT);
}

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

    (void)what;
    log_info("received signal %d; exiting (VMs keep running)", (int)sig);
    event_base_loopexit(b->base, NULL);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"run-dir", required_argument, NULL, 'r'},
        {"supervisor", required_argument, NULL, 'S'},
        {"debug", no_argument, NULL, 'd'},
        {"uid-range", required_argument, NULL, 'u'},
        {"admin-group", required_argument, NULL, 'g'},
        {"no-isolation", no_argument, NULL, 'N'},
        {"vm-user", required_argument, NULL, 'V'},
        {"restart-limit", required_argument, NULL, 'L'},
        {"adopt-timeout", required_argument, NULL, 'T'},
        {"emulator", required_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *state_dir = DEFAULT_STATE_DIR, *run_dir = DEFAULT_RUN_DIR, *sup = NULL;
    bool no_isolation = false;
    struct broker b = {.restart_limit = DEFAULT_RESTART_LIMIT,
                       .restart_interval = DEFAULT_RESTART_INTERVAL,
                       .adopt_timeout = DEFAULT_ADOPT_TIMEOUT};
    struct event *sigterm = NULL, *sigint = NULL;
    const char **emulators = NULL;
    size_t nemulators = 0;
    char *sock_path = NULL;
    struct cerr e;
    int c, fd, rc = 1;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            state_dir = optarg;
            break;
        case 'r':
            run_dir = optarg;
            break;
        case 'S':
            sup = optarg;
            break;
        case 'd':
            b.debug = true;
            break;
        case 'g': {
            struct group *gr = getgrnam(optarg);
            if (gr == NULL) {
                fprintf(stderr, "corrald: --admin-group: no group named %s\n", optarg);
                return 2;
            }
            b.has_admin_group = true;
            b.admin_gid = gr->gr_gid;
            break;
        }
        case 'u': {
            unsigned long lo, hi;
            char tail;
            if (sscanf(optarg, "%lu-%lu%c", &lo, &hi, &tail) != 2 || lo == 0 || hi < lo ||
                hi > 4000000000UL) {
                fprintf(stderr, "corrald: --uid-range wants START-END, such as 200000-265535\n");
                return 2;
            }
            b.isolate = true;
            b.uid_min = (uid_t)lo;
            b.uid_max = (uid_t)hi;
            break;
        }
        case 'N':
            no_isolation = true;
            break;
        case 'V':
            if (strchr(optarg, '=') == NULL) {
                fprintf(stderr, "corrald: --vm-user wants VMNAME=USER\n");
                return 2;
            }
            b.vm_users = xreallocarray(b.vm_users, b.nvm_users + 1, sizeof(*b.vm_users));
            b.vm_users[b.nvm_users++] = optarg;
            break;
        case 'L': {
            unsigned long n, secs;
            char tail;
            if (sscanf(optarg, "%lu/%lu%c", &n, &secs, &tail) != 2 || n > 1000000 || secs == 0 ||
                secs > 86400) {
                fprintf(stderr, "corrald: --restart-limit wants COUNT/SECONDS, such as 5/60\n");
                return 2;
            }
            b.restart_limit = (unsigned)n;
            b.restart_interval = (unsigned)secs;
            break;
        }
        case 'T': {
            unsigned long secs;
            char tail;
            if (sscanf(optarg, "%lu%c", &secs, &tail) != 1 || secs == 0 || secs > 3600) {
                fprintf(stderr, "corrald: --adopt-timeout wants 1 to 3600 seconds\n");
                return 2;
            }
            b.adopt_timeout = (unsigned)secs;
            break;
        }
        case 'E':
            emulators = xreallocarray(emulators, nemulators + 1, sizeof(*emulators));
            emulators[nemulators++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init("corrald", b.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    if (b.isolate && geteuid() != 0) {
        log_err("--uid-range needs root: only root can hand files and processes to other uids");
        return 2;
    }
    /* As root, every VM gets its own uid unless told otherwise: VMs of
     * different owners must stay apart by default. */
    if (!b.isolate && !no_isolation && geteuid() == 0) {
        b.isolate = true;
        b.uid_min = UIDRANGE_DEFAULT_MIN;
        b.uid_max = UIDRANGE_DEFAULT_MAX;
    }
    if (no_isolation)
        b.isolate = false;
    b.policy = policy_new();
    for (size_t i = 0; i < nemulators; i++) {
        if (policy_allow_emulator(b.policy, emulators[i], false, &e) < 0) {
            log_err("--emulator: %s", e.msg);
            goto out;
        }
    }
    if (nemulators == 0 && policy_allow_emulator(b.policy, DOMAIN_DEFAULT_EMULATOR, true, &e) < 0) {
        log_err("%s; name the emulators VMs may run with --emulator", e.msg);
        goto out;
    }
    if (policy_check_config(&b, &e) < 0) {
        log_err("%s", e.msg);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    umask(022);
    b.state_dir = absolute_dir(state_dir, 0755, &e);
    b.run_dir = b.state_dir ? absolute_dir(run_dir, 0755, &e) : NULL;
    if (b.run_dir == NULL) {
        log_err("%s", e.msg);
        goto out;
    }
    if (b.isolate &&
        (!path_reachable_by_others(b.state_dir, &e) || !path_reachable_by_others(b.run_dir, &e))) {
        log_err("%s; every VM runs under its own uid and must reach it: make the directories "
                "above it searchable (chmod o+x), choose other directories, or run with "
                "--no-isolation",
                e.msg);
        goto out;
    }
    b.supervisor_path = sup ? xstrdup(sup) : default_supervisor();
    if (access(b.supervisor_path, X_OK) < 0) {
        log_err("cannot execute the supervisor %s: %s", b.supervisor_path, strerror(errno));
        goto out;
    }
    b.base = event_base_new();
    if (b.base == NULL) {
        log_err("cannot create the event loop");
        goto out;
    }
    /* Before any supervisor is spawned, so that the QEMU of every one that
     * dies comes to this process. */
    if (reaper_init(&b, &e) < 0) {
        log_err("%s", e.msg);
        goto out;
    }
    sock_path = xasprintf("%s/corrald.sock", b.run_dir);
    if (registry_load(&b, &e) < 0) {
        log_err("%s", e.msg);
        goto out;
    }
    policy_report_vms(&b);
    /* Any local user may connect; what each may do is decided per request
     * from SO_PEERCRED (dispatch.c). */
    fd = unix_listen(sock_path, 0666, &e);
    if (fd < 0) {
        log_err("%s", e.msg);
        goto out;
    }
    b.srv = dispatch_serve(&b, fd, &e);
    if (b.srv == NULL) {
        log_err("%s", e.msg);
        goto out;
    }
    supervise_init(&b);
    adopt_all(&b);
    sigterm = evsignal_new(b.base, SIGTERM, on_signal, &b);
    sigint = evsignal_new(b.base, SIGINT, on_signal, &b);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) < 0 ||
        evsignal_add(sigint, NULL) < 0) {
        log_err("cannot install signal handlers");
        goto out;
    }
    log_info("serving %s (state %s, supervisor %s)", sock_path, b.state_dir, b.supervisor_path);
    event_base_dispatch(b.base);
    rc = 0;
out:
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    rpc_server_free(b.srv);
    for (struct bvm *vm = b.vms; vm != NULL; vm = vm->next)
        spawn_release(vm);
    reaper_free(&b);
    registry_free(&b);
    if (sock_path != NULL && rc == 0 && unlink(sock_path) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", sock_path, strerror(errno));
    free(sock_path);
    free(b.state_dir);
    free(b.run_dir);
    free(b.supervisor_path);
    free(b.vm_users);
    free(emulators);
    policy_free(b.policy);
    if (b.base != NULL)
        event_base_free(b.base);
    return rc;
}
