#include "broker/options.h"

#include <getopt.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>

#include "broker/uidrange.h"
#include "common/domain_xml.h"
#include "common/fileutil.h"

#define DEFAULT_STATE_DIR "/var/lib/corral"
#define DEFAULT_RUN_DIR "/run/corral"
/* systemd's start limit of 5, over 60 s rather than its 10 s: re-adopting
 * a QEMU whose monitor is busy saving RAM takes longer than a service's
 * start. */
#define DEFAULT_RESTART_LIMIT 5
#define DEFAULT_RESTART_INTERVAL 60
#define DEFAULT_ADOPT_TIMEOUT 10

void options_usage(FILE *f)
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
            "  --bridge BRIDGE    a bridge any user's VMs may join (<interface\n"
            "                     type='bridge'>; repeatable; root and the admin group\n"
            "                     may use any bridge)\n"
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

/* Each parse_* below takes one option's argument into b and returns 0, or
 * says on stderr what the option wants and returns -1.  They run before
 * log_init, hence fprintf rather than log_err. */

static int parse_admin_group(const char *arg, struct broker *b)
{
    struct group *gr = getgrnam(arg);

    if (gr == NULL) {
        fprintf(stderr, "corrald: --admin-group: no group named %s\n", arg);
        return -1;
    }
    b->has_admin_group = true;
    b->admin_gid = gr->gr_gid;
    return 0;
}

static int parse_uid_range(const char *arg, struct broker *b)
{
    unsigned long lo, hi;
    char tail;

    if (sscanf(arg, "%lu-%lu%c", &lo, &hi, &tail) != 2 || lo == 0 || hi < lo || hi > 4000000000UL) {
        fprintf(stderr, "corrald: --uid-range wants START-END, such as 200000-265535\n");
        return -1;
    }
    b->isolate = true;
    b->uid_min = (uid_t)lo;
    b->uid_max = (uid_t)hi;
    return 0;
}

/* Only the shape here: policy_check_config judges the name and the user. */
static int parse_vm_user(char *arg, struct broker *b)
{
    if (strchr(arg, '=') == NULL) {
        fprintf(stderr, "corrald: --vm-user wants VMNAME=USER\n");
        return -1;
    }
    b->vm_users = xreallocarray(b->vm_users, b->nvm_users + 1, sizeof(*b->vm_users));
    b->vm_users[b->nvm_users++] = arg;
    return 0;
}

static int parse_restart_limit(const char *arg, struct broker *b)
{
    unsigned long n, secs;
    char tail;

    if (sscanf(arg, "%lu/%lu%c", &n, &secs, &tail) != 2 || n > 1000000 || secs == 0 ||
        secs > 86400) {
        fprintf(stderr, "corrald: --restart-limit wants COUNT/SECONDS, such as 5/60\n");
        return -1;
    }
    b->restart_limit = (unsigned)n;
    b->restart_interval = (unsigned)secs;
    return 0;
}

static int parse_adopt_timeout(const char *arg, struct broker *b)
{
    unsigned long secs;
    char tail;

    if (sscanf(arg, "%lu%c", &secs, &tail) != 1 || secs == 0 || secs > 3600) {
        fprintf(stderr, "corrald: --adopt-timeout wants 1 to 3600 seconds\n");
        return -1;
    }
    b->adopt_timeout = (unsigned)secs;
    return 0;
}

/* One option c with its argument: 0 when taken, -1 when refused (said). */
static int parse_one(int c, char *arg, struct broker_options *o, struct broker *b)
{
    switch (c) {
    case 's':
        o->state_dir = arg;
        return 0;
    case 'r':
        o->run_dir = arg;
        return 0;
    case 'S':
        o->supervisor = arg;
        return 0;
    case 'd':
        b->debug = true;
        return 0;
    case 'g':
        return parse_admin_group(arg, b);
    case 'u':
        return parse_uid_range(arg, b);
    case 'N':
        o->no_isolation = true;
        return 0;
    case 'V':
        return parse_vm_user(arg, b);
    case 'L':
        return parse_restart_limit(arg, b);
    case 'T':
        return parse_adopt_timeout(arg, b);
    case 'E':
        o->emulators = xreallocarray(o->emulators, o->nemulators + 1, sizeof(*o->emulators));
        o->emulators[o->nemulators++] = arg;
        return 0;
    case 'B':
        o->bridges = xreallocarray(o->bridges, o->nbridges + 1, sizeof(*o->bridges));
        o->bridges[o->nbridges++] = arg;
        return 0;
    default:
        options_usage(stderr);
        return -1;
    }
}

int options_parse(int argc, char **argv, struct broker_options *o, struct broker *b)
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
        {"bridge", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *o = (struct broker_options){.state_dir = DEFAULT_STATE_DIR, .run_dir = DEFAULT_RUN_DIR};
    *b = (struct broker){.restart_limit = DEFAULT_RESTART_LIMIT,
                         .restart_interval = DEFAULT_RESTART_INTERVAL,
                         .adopt_timeout = DEFAULT_ADOPT_TIMEOUT};
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            options_usage(stdout);
            return 0;
        }
        if (parse_one(c, optarg, o, b) < 0)
            return 2;
    }
    if (optind != argc) {
        options_usage(stderr);
        return 2;
    }
    return OPTIONS_RUN;
}

void options_free(struct broker_options *o)
{
    free(o->emulators);
    o->emulators = NULL;
    o->nemulators = 0;
    free(o->bridges);
    o->bridges = NULL;
    o->nbridges = 0;
}
