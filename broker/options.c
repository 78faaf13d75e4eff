#include "broker/options.h"

#include <getopt.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/conffile.h"
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
#ifndef CORRAL_CONFIG_FILE
#define CORRAL_CONFIG_FILE "/etc/corral/corrald.conf"
#endif

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
            "  --log TARGET       where to log: journal, syslog, stderr or auto (default:\n"
            "                     the journal when started by systemd, else syslog)\n"
            "  --foreground       the same as --log stderr\n"
            "  --config FILE      read the options from FILE first (default %s,\n"
            "                     if it exists); the command line overrides it, and a list\n"
            "                     given there (--emulator, --bridge, --vm-user) replaces\n"
            "                     the file's\n"
            "  --no-config        read no configuration file\n"
            "Runs in the foreground (it never forks away); see corrald(8).\n",
            DEFAULT_STATE_DIR, DEFAULT_RUN_DIR, CORRAL_LIBEXECDIR "/corral-supervisor",
            UIDRANGE_DEFAULT_MIN, UIDRANGE_DEFAULT_MAX, DOMAIN_DEFAULT_EMULATOR,
            DEFAULT_RESTART_LIMIT, DEFAULT_RESTART_INTERVAL, DEFAULT_ADOPT_TIMEOUT,
            CORRAL_CONFIG_FILE);
}

/* Each parse_* below takes one option's argument into b and returns 0, or
 * -1 with e saying what the option wants: the caller names the option or
 * the file's line. */

static int parse_admin_group(const char *arg, struct broker *b, struct cerr *e)
{
    struct group *gr = getgrnam(arg);

    if (gr == NULL) {
        cerr_set(e, CE_INVALID_PARAMS, "no group named %s", arg);
        return -1;
    }
    b->has_admin_group = true;
    b->admin_gid = gr->gr_gid;
    return 0;
}

static int parse_uid_range(const char *arg, struct broker *b, struct cerr *e)
{
    unsigned long lo, hi;
    char tail;

    if (sscanf(arg, "%lu-%lu%c", &lo, &hi, &tail) != 2 || lo == 0 || hi < lo || hi > 4000000000UL) {
        cerr_set(e, CE_INVALID_PARAMS, "wants START-END, such as 200000-265535");
        return -1;
    }
    b->isolate = true;
    b->uid_min = (uid_t)lo;
    b->uid_max = (uid_t)hi;
    return 0;
}

/* Only the shape here: policy_check_config judges the name and the user. */
static int parse_vm_user(char *arg, struct broker *b, struct cerr *e)
{
    if (strchr(arg, '=') == NULL) {
        cerr_set(e, CE_INVALID_PARAMS, "wants VMNAME=USER");
        return -1;
    }
    b->vm_users = xreallocarray(b->vm_users, b->nvm_users + 1, sizeof(*b->vm_users));
    b->vm_users[b->nvm_users++] = arg;
    return 0;
}

static int parse_restart_limit(const char *arg, struct broker *b, struct cerr *e)
{
    unsigned long n, secs;
    char tail;

    if (sscanf(arg, "%lu/%lu%c", &n, &secs, &tail) != 2 || n > 1000000 || secs == 0 ||
        secs > 86400) {
        cerr_set(e, CE_INVALID_PARAMS, "wants COUNT/SECONDS, such as 5/60");
        return -1;
    }
    b->restart_limit = (unsigned)n;
    b->restart_interval = (unsigned)secs;
    return 0;
}

static int parse_adopt_timeout(const char *arg, struct broker *b, struct cerr *e)
{
    unsigned long secs;
    char tail;

    if (sscanf(arg, "%lu%c", &secs, &tail) != 1 || secs == 0 || secs > 3600) {
        cerr_set(e, CE_INVALID_PARAMS, "wants 1 to 3600 seconds");
        return -1;
    }
    b->adopt_timeout = (unsigned)secs;
    return 0;
}

static int parse_log(const char *arg, struct broker_options *o, struct cerr *e)
{
    if (log_target_parse(arg, &o->log_target) < 0) {
        cerr_set(e, CE_INVALID_PARAMS, "wants journal, syslog, stderr or auto");
        return -1;
    }
    return 0;
}

/* One option c with its argument: 0 when taken, -1 with e when refused. */
static int parse_one(int c, char *arg, struct broker_options *o, struct broker *b, struct cerr *e)
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
        return parse_admin_group(arg, b, e);
    case 'u':
        return parse_uid_range(arg, b, e);
    case 'N':
        o->no_isolation = true;
        return 0;
    case 'V':
        return parse_vm_user(arg, b, e);
    case 'L':
        return parse_restart_limit(arg, b, e);
    case 'T':
        return parse_adopt_timeout(arg, b, e);
    case 'l':
        return parse_log(arg, o, e);
    case 'F':
        o->log_target = LOG_TARGET_STDERR;
        return 0;
    case 'E':
        o->emulators = xreallocarray(o->emulators, o->nemulators + 1, sizeof(*o->emulators));
        o->emulators[o->nemulators++] = arg;
        return 0;
    case 'B':
        o->bridges = xreallocarray(o->bridges, o->nbridges + 1, sizeof(*o->bridges));
        o->bridges[o->nbridges++] = arg;
        return 0;
    default:
        cerr_set(e, CE_INVALID_PARAMS, "unknown option");
        return -1;
    }
}

/* 'c' and 'n' are the command line's only: the file names no other file. */
static const struct option option_table[] = {
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
    {"log", required_argument, NULL, 'l'},
    {"foreground", no_argument, NULL, 'F'},
    {"config", required_argument, NULL, 'c'},
    {"no-config", no_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct file_parse {
    struct broker_options *o;
    struct broker *b;
};

/* yes/no, true/false, on/off, 1/0: 1, 0, or -1 for anything else. */
static int parse_bool(const char *v)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
                                                                                "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* conffile's handler: a key is a long option's name. */
static int file_key(const char *key, const char *value, void *user, struct cerr *e)
{
    struct file_parse *fp = user;
    struct broker_options *o = fp->o;
    const struct option *opt = option_table;
    int on;

    while (opt->name != NULL && strcmp(opt->name, key) != 0)
        opt++;
    if (opt->name == NULL || opt->val == 'c' || opt->val == 'n' || opt->val == 'h') {
        cerr_set(e, CE_INVALID_PARAMS, "unknown key '%s'", key);
        return -1;
    }
    if (opt->has_arg == no_argument) {
        on = parse_bool(value);
        if (on < 0) {
            cerr_set(e, CE_INVALID_PARAMS, "%s wants yes or no", key);
            return -1;
        }
        if (on)
            return parse_one(opt->val, NULL, o, fp->b, e);
        if (opt->val == 'd')
            fp->b->debug = false;
        if (opt->val == 'N')
            o->no_isolation = false;
        return 0;
    }
    o->owned = xreallocarray(o->owned, o->nowned + 1, sizeof(*o->owned));
    o->owned[o->nowned] = xstrdup(value);
    if (parse_one(opt->val, o->owned[o->nowned++], o, fp->b, e) < 0) {
        struct cerr why = *e;
        cerr_set(e, CE_INVALID_PARAMS, "%s = %s: %s", key, value, why.msg);
        return -1;
    }
    return 0;
}

/* The --config of argv, NULL for none (--no-config), the default one when
 * not given; *named when given.  -1 after --help or a bad option (said
 * by the second pass), else 0. */
static int find_config(int argc, char **argv, const char **path, bool *named)
{
    bool help = false;
    int c;

    *path = CORRAL_CONFIG_FILE;
    *named = false;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", option_table, NULL)) != -1) {
        if (c == 'c') {
            *path = optarg;
            *named = true;
        } else if (c == 'n') {
            *path = NULL;
        } else if (c == 'h') {
            help = true;
        }
    }
    opterr = 1;
    optind = 0; /* glibc: scan afresh */
    return help ? -1 : 0;
}

/* argv over the file: a list given there replaces the file's. */
static int parse_argv(int argc, char **argv, struct broker_options *o, struct broker *b)
{
    bool fresh_emulators = true, fresh_bridges = true, fresh_vm_users = true;
    const char *name;
    struct cerr e;
    int c, idx;

    while ((c = getopt_long(argc, argv, "h", option_table, &idx)) != -1) {
        if (c == 'h') {
            options_usage(stdout);
            return 0;
        }
        if (c == '?' || c == ':') {
            options_usage(stderr);
            return 2;
        }
        if (c == 'c' || c == 'n')
            continue;
        if (c == 'E' && fresh_emulators) {
            o->nemulators = 0;
            fresh_emulators = false;
        } else if (c == 'B' && fresh_bridges) {
            o->nbridges = 0;
            fresh_bridges = false;
        } else if (c == 'V' && fresh_vm_users) {
            b->nvm_users = 0;
            fresh_vm_users = false;
        }
        if (parse_one(c, optarg, o, b, &e) < 0) {
            name = option_table[0].name;
            for (const struct option *opt = option_table; opt->name != NULL; opt++) {
                if (opt->val == c)
                    name = opt->name;
            }
            fprintf(stderr, "corrald: --%s: %s\n", name, e.msg);
            return 2;
        }
    }
    if (optind != argc) {
        options_usage(stderr);
        return 2;
    }
    return OPTIONS_RUN;
}

int options_parse(int argc, char **argv, struct broker_options *o, struct broker *b)
{
    struct file_parse fp = {.o = o, .b = b};
    const char *config;
    struct cerr e;
    bool named;

    *o = (struct broker_options){
        .state_dir = DEFAULT_STATE_DIR, .run_dir = DEFAULT_RUN_DIR, .log_target = LOG_TARGET_AUTO};
    *b = (struct broker){.restart_limit = DEFAULT_RESTART_LIMIT,
                         .restart_interval = DEFAULT_RESTART_INTERVAL,
                         .adopt_timeout = DEFAULT_ADOPT_TIMEOUT};
    if (find_config(argc, argv, &config, &named) < 0)
        return parse_argv(argc, argv, o, b);
    if (config != NULL) {
        if (conffile_read(config, named, file_key, &fp, &e) < 0) {
            fprintf(stderr, "corrald: %s\n", e.msg);
            return 2;
        }
        o->config = config;
    }
    return parse_argv(argc, argv, o, b);
}

void options_free(struct broker_options *o)
{
    free(o->emulators);
    o->emulators = NULL;
    o->nemulators = 0;
    free(o->bridges);
    o->bridges = NULL;
    o->nbridges = 0;
    for (size_t i = 0; i < o->nowned; i++)
        free(o->owned[i]);
    free(o->owned);
    o->owned = NULL;
    o->nowned = 0;
}
