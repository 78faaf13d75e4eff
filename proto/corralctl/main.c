/* corralctl: the command line client of corrald, virsh-like.  The global
 * options come before the verb; the verb table (verbs.c) drives the rest. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proto/corralctl/ctl.h"
#include "proto/rpc.h"

/* Keep going with the verb rather than exit (parse_global). */
#define CONTINUE (-1)

/* Long options' values stay clear of characters (see ctl_bad_option). */
enum {
    OPT_CONNECT = 'c',
    OPT_SOCKET = 256,
    OPT_VM_SOCKET,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_HELP,
    OPT_VERSION
};

static const struct option global_opts[] = {
    {"connect", required_argument, NULL, OPT_CONNECT},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"vm-socket", required_argument, NULL, OPT_VM_SOCKET},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const char *default_socket(void)
{
    const char *env = getenv("CORRAL_SOCKET");

    return env != NULL && env[0] != '\0' ? env : CTL_DEFAULT_SOCKET;
}

/* $CORRAL_DEFAULT_URI, or NULL when unset or empty. */
static const char *default_uri(void)
{
    const char *env = getenv("CORRAL_DEFAULT_URI");

    return env != NULL && env[0] != '\0' ? env : NULL;
}

static int set_timeout(struct ctl *ctl, const char *arg)
{
    long long secs;

    /* Milliseconds must fit the client's int. */
    if (ctl_parse_number(arg, 0, INT_MAX / 1000, &secs) < 0)
        return ctl_usage_error(NULL, "--timeout must be a number of seconds from 0 to %d",
                               INT_MAX / 1000);
    ctl->timeout_ms = secs == 0 ? -1 : (int)secs * 1000;
    return CONTINUE;
}

/* Handles one global option; returns CONTINUE or the exit status. */
static int global_option(struct ctl *ctl, int c, char **argv, const char **sock,
                         const char **vmsock)
{
    switch (c) {
    case OPT_CONNECT:
        ctl->uri = optarg;
        return CONTINUE;
    case OPT_SOCKET:
        *sock = optarg;
        return CONTINUE;
    case OPT_VM_SOCKET:
        *vmsock = optarg;
        return CONTINUE;
    case OPT_JSON:
        ctl_set_json(ctl);
        return CONTINUE;
    case OPT_TIMEOUT:
        return set_timeout(ctl, optarg);
    case 'h':
    case OPT_HELP:
        ctl_usage(stdout);
        return CTL_EXIT_OK;
    case OPT_VERSION:
        printf("corralctl %s (protocol version %d)\n", CORRAL_VERSION, RPC_PROTOCOL_VERSION);
        return CTL_EXIT_OK;
    case ':':
        return ctl_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
    default:
        return ctl_bad_option(NULL, argv);
    }
}

/* Parses the options before the verb, leaving optind at the verb.  Returns
 * CONTINUE or the exit status. */
static int parse_global(struct ctl *ctl, int argc, char **argv)
{
    const char *sock = NULL, *vmsock = NULL;
    int c, status = CONTINUE;

    opterr = 0;
    /* '+': stop at the verb, whose options are its own. */
    while (status == CONTINUE && (c = getopt_long(argc, argv, "+:hc:", global_opts, NULL)) != -1)
        status = global_option(ctl, c, argv, &sock, &vmsock);
    if (status != CONTINUE)
        return status;
    if (sock != NULL && vmsock != NULL)
        return ctl_usage_error(NULL, "--socket and --vm-socket cannot be combined");
    if (ctl->uri != NULL && vmsock != NULL)
        return ctl_usage_error(NULL, "-c/--connect and --vm-socket cannot be combined");
    if (optind >= argc)
        return ctl_usage_error(NULL, "no verb given");
    ctl->vm_socket = vmsock != NULL;
    ctl->socket = vmsock != NULL ? vmsock : sock != NULL ? sock : default_socket();
    /* -c, then a socket given on the command line, then the environment's
     * URI, then the default socket. */
    if (ctl->uri == NULL && sock == NULL && vmsock == NULL)
        ctl->uri = default_uri();
    return CONTINUE;
}

static int run_verb(struct ctl *ctl, int argc, char **argv)
{
    const struct ctl_verb *v = ctl_find_verb(argv[0]);
    struct ctl_args a;
    int status;

    if (v == NULL)
        return ctl_usage_error(NULL, "unknown verb '%s'", argv[0]);
    status = ctl_parse_verb(ctl, v, argc, argv, &a);
    if (status != CTL_EXIT_OK)
        return status;
    if (a.help) {
        ctl_verb_usage(stdout, v);
        return CTL_EXIT_OK;
    }
    if (v->flags & CTL_VERB_LOCAL)
        return v->run(ctl, &a);
    if (ctl->vm_socket && (v->flags & CTL_VERB_BROKER))
        return ctl_usage_error(v, "'%s' needs the broker: it cannot be used with --vm-socket",
                               v->name);
    status = ctl_connect(ctl);
    if (status == CTL_EXIT_OK)
        status = v->run(ctl, &a);
    ctl_disconnect(ctl);
    return status;
}

/* Output that never reached standard output (a full disk, a closed pipe)
 * must not end in success; a verb that failed has already said why. */
static int flush_stdout(int status)
{
    int failed = fflush(stdout) != 0 ? errno : ferror(stdout) ? EIO : 0;

    if (failed == 0 || status != CTL_EXIT_OK)
        return status;
    return ctl_error("cannot write to standard output: %s", strerror(failed));
}

int main(int argc, char **argv)
{
    struct ctl ctl = {.timeout_ms = CTL_DEFAULT_TIMEOUT_S * 1000,
                      .link = {.fd = -1, .ssh = -1, .ssh_err = -1}};
    int status = parse_global(&ctl, argc, argv);

    if (status == CONTINUE)
        status = run_verb(&ctl, argc - optind, argv + optind);
    return flush_stdout(status);
}
