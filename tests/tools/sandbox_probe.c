/* sandbox_probe: applies the supervisor sandbox to itself, prints what
 * applies, then tries one thing, for tests/unit/test_sandbox.c.
 *
 *   sandbox_probe --uid U --gid G [--keep-fd N]... [--dir D] [--then-seccomp] ACTION
 *
 * Steps 1-5 of supervisor/sandbox.h always run, step 6 with --then-seccomp.
 * The probe then prints the sandbox report, "fds: ..." (its open
 * descriptors), one "env: NAME=VALUE" line per variable, and performs
 * ACTION, printing "ACTION: ok" or "ACTION: failed: WHY" if it survives:
 *   none         nothing
 *   execve       execve("/bin/true")
 *   ptrace       ptrace(PTRACE_TRACEME)
 *   mount        mount a tmpfs on /tmp
 *   setuid0      setuid(0)
 *   socket-inet  socket(AF_INET, SOCK_STREAM)
 *   fork         fork() and wait for the child
 *   unshare      unshare(CLONE_NEWUSER)
 *   allowed      what the supervisor does: a libevent loop over Unix sockets
 *                bound in D, an atomic file write in D, pidfd_open, ...
 *   asan-overflow  (AddressSanitizer builds) a heap overflow, whose report
 *                must get out of the sandbox
 * Exit status: 0 after an action, 1 when a sandbox step fails, 2 on usage
 * errors. */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/pidfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileutil.h"
#include "supervisor/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define PROBE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROBE_ASAN 1
#endif
#endif

#ifdef PROBE_ASAN
/* LeakSanitizer's exit-time check needs clone and ptrace, which the sandbox
 * forbids (supervisor/sandbox.h).  This hook turns it off whatever
 * ASAN_OPTIONS or LSAN_OPTIONS say. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return 1;
}
#ifdef __clang__
/* clang's runtime symbolizes reports by forking llvm-symbolizer. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "symbolize=0";
}
#endif
#endif

#define MAX_KEEP 16

static void usage(void)
{
    fprintf(stderr, "usage: sandbox_probe --uid U --gid G [--group G] [--keep-fd N]... "
                    "[--dir D] [--then-seccomp] ACTION\n");
    exit(2);
}

static unsigned long parse_num(const char *s)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > 0x7fffffffUL)
        usage();
    return v;
}

static void step(int rc, const char *what, const struct cerr *e)
{
    if (rc < 0) {
        fprintf(stderr, "sandbox_probe: %s: %s\n", what, e->msg);
        exit(1);
    }
}

/* Lists the open descriptors, in the ascending order /proc gives them. */
static void print_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;

    if (dir == NULL) {
        printf("fds: unknown: %s\n", strerror(errno));
        return;
    }
    printf("fds:");
    while ((de = readdir(dir)) != NULL) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);

        if (de->d_name[0] != '.' && *end == '\0' && fd != dirfd(dir))
            printf(" %ld", fd);
    }
    printf("\n");
    closedir(dir);
}

/* --- allowed ------------------------------------------------------------ */

static char why[CERR_MSG_MAX + 64];

static const char *why_errno(const char *what)
{
    snprintf(why, sizeof(why), "%s: %s", what, strerror(errno));
    return why;
}

static const char *why_cerr(const char *what, const struct cerr *e)
{
    snprintf(why, sizeof(why), "%s: %s", what, e->msg);
    return why;
}

struct loop_state {
    struct event_base *base;
    struct evbuffer *in;
};

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct loop_state *ls = arg;

    if (evbuffer_read(ls->in, fd, -1) > 0 && evbuffer_get_length(ls->in) >= 4)
        event_base_loopexit(ls->base, NULL);
}

/* A server socket bound in dir, a client connected to it, one message read
 * through a libevent loop (epoll, evbuffer_read's FIONREAD). */
static const char *exercise_loop(const char *dir)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval limit = {.tv_sec = 5};
    struct loop_state ls = {0};
    struct event *ev = NULL;
    struct ucred cred;
    socklen_t credlen = sizeof(cred);
    const char *err = NULL;
    int srv, cli = -1, conn = -1;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/probe.sock", dir);
    srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv < 0 || bind(srv, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(srv, 1) < 0)
        err = why_errno("listen");
    else if ((cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
             connect(cli, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        err = why_errno("connect");
    else if ((conn = accept4(srv, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
        err = why_errno("accept4");
    else if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0)
        err = why_errno("SO_PEERCRED");
    else if (send(cli, "ping", 4, 0) != 4)
        err = why_errno("send");
    else if ((ls.base = event_base_new()) == NULL || (ls.in = evbuffer_new()) == NULL ||
             (ev = event_new(ls.base, conn, EV_READ | EV_PERSIST, on_readable, &ls)) == NULL ||
             event_add(ev, &limit) < 0 || event_base_dispatch(ls.base) < 0)
        err = "libevent loop failed";
    else if (evbuffer_get_length(ls.in) != 4)
        err = "libevent loop read nothing";
    if (ev != NULL)
        event_free(ev);
    if (ls.in != NULL)
        evbuffer_free(ls.in);
    if (ls.base != NULL)
        event_base_free(ls.base);
    if (conn >= 0)
        close(conn);
    if (cli >= 0)
        close(cli);
    if (srv >= 0)
        close(srv);
    if (err == NULL && unlink(sa.sun_path) < 0)
        err = why_errno("unlink");
    return err;
}

static const char *exercise_files(const char *dir)
{
    char *path = xasprintf("%s/state.json", dir);
    const char *err = NULL;
    struct cerr e;
    char *back;
    size_t len;

    if (file_write_atomic(path, "{}\n", 3, 0600, &e) < 0)
        err = why_cerr("file_write_atomic", &e);
    else if ((back = file_read_all(path, 4096, &len, &e)) == NULL)
        err = why_cerr("file_read_all", &e);
    else {
        if (len != 3 || memcmp(back, "{}\n", 3) != 0)
            err = "file_read_all read something else";
        free(back);
    }
    if (err == NULL && file_remove_durable(path, &e) < 0)
        err = why_cerr("file_remove_durable", &e);
    free(path);
    return err;
}

static const char *exercise_process(void)
{
    struct timespec ts = {.tv_nsec = 1000000};
    char report[2048];
    unsigned char rnd[16];
    struct cerr e;
    int pidfd;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return why_errno("getrandom");
    if (nanosleep(&ts, NULL) < 0)
        return why_errno("nanosleep");
    if ((pidfd = pidfd_open(getpid(), 0)) < 0)
        return why_errno("pidfd_open");
    close(pidfd);
    /* The supervisor answers `corralctl sandbox-report` from inside. */
    if (sandbox_report(report, sizeof(report), &e) < 0)
        return why_cerr("sandbox_report", &e);
    return NULL;
}

static const char *do_allowed(const char *dir)
{
    const char *err;

    if (dir == NULL)
        return "--dir is required";
    if ((err = exercise_loop(dir)) != NULL || (err = exercise_files(dir)) != NULL)
        return err;
    return exercise_process();
}

/* --- the other actions --------------------------------------------------- */

#ifdef PROBE_ASAN
/* The sizes are volatile so that only ASan, not UBSan's object-size check,
 * sees the overflow: ASan's report is the one that symbolizes a stack. */
static void asan_overflow(void)
{
    volatile size_t size = 8, i = 8;
    char *p = malloc(size);

    if (p == NULL)
        return;
    ((volatile char *)p)[i] = 1;
    free(p);
}
#endif

static int do_action(const char *action, const char *dir)
{
    const char *failed = NULL;

    if (strcmp(action, "none") == 0) {
        /* nothing */
    } else if (strcmp(action, "execve") == 0) {
        char *const argv[] = {"true", NULL};

        execve("/bin/true", argv, environ);
        failed = strerror(errno);
    } else if (strcmp(action, "ptrace") == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
            failed = strerror(errno);
    } else if (strcmp(action, "mount") == 0) {
        /* Harmless: drop_privileges verified that no capability is left. */
        if (mount("none", "/tmp", "tmpfs", 0, NULL) < 0)
            failed = strerror(errno);
    } else if (strcmp(action, "setuid0") == 0) {
        if (setuid(0) < 0)
            failed = strerror(errno);
    } else if (strcmp(action, "socket-inet") == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0)
            failed = strerror(errno);
        else
            close(fd);
    } else if (strcmp(action, "fork") == 0) {
        pid_t pid = fork();

        if (pid == 0)
            _exit(0);
        if (pid < 0 || waitpid(pid, NULL, 0) < 0)
            failed = strerror(errno);
    } else if (strcmp(action, "unshare") == 0) {
        if (unshare(CLONE_NEWUSER) < 0)
            failed = strerror(errno);
    } else if (strcmp(action, "allowed") == 0) {
        failed = do_allowed(dir);
#ifdef PROBE_ASAN
    } else if (strcmp(action, "asan-overflow") == 0) {
        asan_overflow();
#endif
    } else {
        fprintf(stderr, "sandbox_probe: unknown action %s\n", action);
        return 2;
    }
    if (failed == NULL)
        printf("%s: ok\n", action);
    else
        printf("%s: failed: %s\n", action, failed);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"uid", required_argument, NULL, 'u'},
        {"gid", required_argument, NULL, 'g'},
        {"keep-fd", required_argument, NULL, 'k'},
        {"dir", required_argument, NULL, 'd'},
        {"then-seccomp", no_argument, NULL, 's'},
        {"group", required_argument, NULL, 'G'},
        {NULL, 0, NULL, 0},
    };
    struct sandbox_limits limits = SANDBOX_LIMITS_DEFAULT;
    int keep[MAX_KEEP];
    size_t nkeep = 0;
    long uid = -1, gid = -1, group = 0;
    const char *dir = NULL;
    bool then_seccomp = false;
    char report[2048];
    struct cerr e;
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            uid = (long)parse_num(optarg);
            break;
        case 'g':
            gid = (long)parse_num(optarg);
            break;
        case 'G':
            group = (long)parse_num(optarg);
            break;
        case 'k':
            if (nkeep == MAX_KEEP)
                usage();
            keep[nkeep++] = (int)parse_num(optarg);
            break;
        case 'd':
            dir = optarg;
            break;
        case 's':
            then_seccomp = true;
            break;
        default:
            usage();
        }
    }
    if (uid < 0 || gid < 0 || optind != argc - 1)
        usage();

    step(sandbox_close_fds(keep, nkeep, &e), "close_fds", &e);
    step(sandbox_clear_env(&e), "clear_env", &e);
    step(sandbox_set_rlimits(&limits, &e), "set_rlimits", &e);
    step(sandbox_drop_privileges((uid_t)uid, (gid_t)gid, (gid_t)group, &e), "drop_privileges", &e);
    step(sandbox_no_new_privs(&e), "no_new_privs", &e);
    if (then_seccomp)
        step(sandbox_seccomp_install(&e), "seccomp_install", &e);

    step(sandbox_report(report, sizeof(report), &e), "report", &e);
    fputs(report, stdout);
    print_fds();
    for (char **env = environ; *env != NULL; env++)
        printf("env: %s\n", *env);
    /* What is printed must be out before an action gets the probe killed. */
    fflush(stdout);
    return do_action(argv[optind], dir);
}
