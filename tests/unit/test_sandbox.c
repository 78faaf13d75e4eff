/* The supervisor sandbox, checked from the outside: tests/tools/sandbox_probe
 * (built next to this test) applies it to itself, and this test looks at
 * what it prints and how it dies.  As root the probe switches to a
 * throw-away uid; otherwise it keeps the caller's and the cases that need
 * another uid are skipped. */
#include "supervisor/sandbox.h"

#include "common/fileutil.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

static char probe_path[4096];
static bool is_root;
/* The identity the probe is asked to take. */
static uid_t test_uid;
static gid_t test_gid;

struct probe_opts {
    const char *action;
    bool seccomp;
    /* Become test_uid/test_gid before exec, so that the probe starts
     * without privileges (only meaningful as root). */
    bool unprivileged;
    /* Hand the probe descriptors 5 and 6, and ask it to keep 5. */
    bool extra_fds;
    const char *dir;
    /* A supplementary group to keep (0: none). */
    gid_t group;
};

struct probe_run {
    int status;
    char out[8192];
    char err[32768];
};

static void read_back(FILE *f, char *buf, size_t len)
{
    size_t n;

    rewind(f);
    n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
}

static void exec_probe(const struct probe_opts *o, int out, int err)
{
    char uid[16], gid[16], group[16];
    const char *argv[18];
    int argc = 0;
    int null;

    snprintf(uid, sizeof(uid), "%u", (unsigned)test_uid);
    snprintf(gid, sizeof(gid), "%u", (unsigned)test_gid);
    argv[argc++] = "sandbox_probe";
    argv[argc++] = "--uid";
    argv[argc++] = uid;
    argv[argc++] = "--gid";
    argv[argc++] = gid;
    if (o->group != 0) {
        snprintf(group, sizeof(group), "%u", (unsigned)o->group);
        argv[argc++] = "--group";
        argv[argc++] = group;
    }
    if (o->extra_fds) {
        argv[argc++] = "--keep-fd";
        argv[argc++] = "5";
    }
    if (o->dir != NULL) {
        argv[argc++] = "--dir";
        argv[argc++] = o->dir;
    }
    if (o->seccomp)
        argv[argc++] = "--then-seccomp";
    argv[argc++] = o->action;
    argv[argc] = NULL;

    if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
        _exit(120);
    if (o->extra_fds &&
        ((null = open("/dev/null", O_RDONLY)) < 0 || dup2(null, 5) < 0 || dup2(null, 6) < 0))
        _exit(121);
    /* Must not survive sandbox_clear_env. */
    if (setenv("CORRAL_PROBE_SECRET", "1", 1) < 0)
        _exit(122);
    if (o->unprivileged && (setgroups(0, NULL) < 0 || setresgid(test_gid, test_gid, test_gid) < 0 ||
                            setresuid(test_uid, test_uid, test_uid) < 0))
        _exit(123);
    execv(probe_path, (char *const *)argv);
    _exit(124);
}

static int run_probe(const struct probe_opts *o, struct probe_run *r)
{
    FILE *out = tmpfile(), *err = tmpfile();
    pid_t pid;
    int rc = -1;

    if (out == NULL || err == NULL)
        goto done;
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        goto done;
    if (pid == 0)
        exec_probe(o, fileno(out), fileno(err));
    if (waitpid(pid, &r->status, 0) != pid)
        goto done;
    read_back(out, r->out, sizeof(r->out));
    read_back(err, r->err, sizeof(r->err));
    rc = 0;
done:
    if (rc < 0)
        printf("# cannot run %s: %s\n", probe_path, strerror(errno));
    if (out != NULL)
        fclose(out);
    if (err != NULL)
        fclose(err);
    return rc;
}

static bool exited_ok(const struct probe_run *r)
{
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0)
        return true;
    printf("# probe status %#x\n# stdout: %s\n# stderr: %s\n", (unsigned)r->status, r->out, r->err);
    return false;
}

/* Runs fn in a child and returns its wait status. */
static int in_child(int (*fn)(void))
{
    int status = -1;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0)
        _exit(fn());
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

static void report_after_seccomp(void)
{
    struct probe_opts o = {.action = "none", .seccomp = true};
    static struct probe_run r;
    char ids[64];

    if (!is_root)
        UNIT_SKIP("needs root to change uid");
    EXPECT(run_probe(&o, &r) == 0);
    EXPECT(exited_ok(&r));
    snprintf(ids, sizeof(ids), "uid: %u %u %u %u\n", (unsigned)test_uid, (unsigned)test_uid,
             (unsigned)test_uid, (unsigned)test_uid);
    EXPECT_CONTAINS(r.out, ids);
    snprintf(ids, sizeof(ids), "gid: %u %u %u %u\n", (unsigned)test_gid, (unsigned)test_gid,
             (unsigned)test_gid, (unsigned)test_gid);
    EXPECT_CONTAINS(r.out, ids);
    EXPECT_CONTAINS(r.out, "groups: 0\n");
    EXPECT_CONTAINS(r.out, "CapInh: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "CapPrm: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "CapEff: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "CapBnd: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "CapAmb: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "NoNewPrivs: 1\n");
    EXPECT_CONTAINS(r.out, "Seccomp: 2\n");
    EXPECT_CONTAINS(r.out, "RLIMIT_CORE: 0 0\n");
    EXPECT_CONTAINS(r.out, "RLIMIT_NOFILE: 1024 1024\n");
    EXPECT_CONTAINS(r.out, "RLIMIT_NPROC: 256 256\n");
    EXPECT_CONTAINS(r.out, "RLIMIT_FSIZE: unlimited unlimited\n");
    EXPECT_CONTAINS(r.out, "RLIMIT_AS: unlimited unlimited\n");
    EXPECT_CONTAINS(r.out, "none: ok\n");
}

/* A type='kvm' VM keeps /dev/kvm's group, and only that one. */
static void keeps_one_group(void)
{
    struct probe_opts o = {.action = "none", .seccomp = true, .group = test_gid + 7};
    static struct probe_run r;
    char want[64];
    struct cerr e = {0};

    if (!is_root)
        UNIT_SKIP("needs root to change uid");
    EXPECT(run_probe(&o, &r) == 0);
    EXPECT(exited_ok(&r));
    EXPECT_CONTAINS(r.out, "groups: 1\n");
    EXPECT_CONTAINS(r.out, "CapEff: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "CapBnd: 0000000000000000\n");
    snprintf(want, sizeof(want), "gid: %u %u %u %u\n", (unsigned)test_gid, (unsigned)test_gid,
             (unsigned)test_gid, (unsigned)test_gid);
    EXPECT_CONTAINS(r.out, want);
    /* Out of capng's range: refused before anything changes. */
    EXPECT(sandbox_drop_privileges(test_uid, test_gid, (gid_t)INT_MAX + 1u, &e) < 0);
    EXPECT(e.code == CE_INVALID_PARAMS);
}

/* A process that has no privileges to give up (a user running the
 * supervisor by hand) still gets through every step. */
static void unprivileged_same_uid(void)
{
    struct probe_opts o = {.action = "none", .seccomp = true, .unprivileged = is_root};
    static struct probe_run r;
    char ids[64];

    EXPECT(run_probe(&o, &r) == 0);
    EXPECT(exited_ok(&r));
    snprintf(ids, sizeof(ids), "uid: %u %u %u %u\n", (unsigned)test_uid, (unsigned)test_uid,
             (unsigned)test_uid, (unsigned)test_uid);
    EXPECT_CONTAINS(r.out, ids);
    EXPECT_CONTAINS(r.out, "CapEff: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "CapPrm: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "CapAmb: 0000000000000000\n");
    EXPECT_CONTAINS(r.out, "NoNewPrivs: 1\n");
    EXPECT_CONTAINS(r.out, "Seccomp: 2\n");
}

/* Each forbidden call kills the whole process with SIGSYS, after the probe
 * got as far as printing its report. */
static void forbidden_calls_kill(void)
{
    static const char *const actions[] = {"execve",      "ptrace", "mount",  "setuid0",
                                          "socket-inet", "fork",   "unshare"};
    static struct probe_run r;

    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        struct probe_opts o = {.action = actions[i], .seccomp = true};
        char survived[64];

        EXPECT(run_probe(&o, &r) == 0);
        if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGSYS)
            printf("# %s: status %#x, stdout: %s\n# stderr: %s\n", actions[i], (unsigned)r.status,
                   r.out, r.err);
        EXPECT(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS);
        EXPECT_CONTAINS(r.out, "Seccomp: 2\n");
        snprintf(survived, sizeof(survived), "%s:", actions[i]);
        EXPECT(strstr(r.out, survived) == NULL);
    }
}

/* Without the filter, what step 4 dropped stays dropped. */
static void privileges_stay_dropped_without_seccomp(void)
{
    struct probe_opts o = {.action = "setuid0"};
    static struct probe_run r;

    EXPECT(run_probe(&o, &r) == 0);
    EXPECT(exited_ok(&r));
    EXPECT_CONTAINS(r.out, "Seccomp: 0\n");
    EXPECT_CONTAINS(r.out, "setuid0: failed: Operation not permitted\n");
    o.action = "mount";
    EXPECT(run_probe(&o, &r) == 0);
    EXPECT(exited_ok(&r));
    EXPECT_CONTAINS(r.out, "mount: failed: Operation not permitted\n");
}

static void kept_fd_open_others_closed(void)
{
    struct probe_opts o = {.action = "none", .seccomp = true, .extra_fds = true};
    static struct probe_run r;

    EXPECT(run_probe(&o, &r) == 0);
    EXPECT(exited_ok(&r));
    EXPECT_CONTAINS(r.out, "\nfds: 0 1 2 5\n");
}

static void environment_cleared(void)
{
    static const char *const allowed[] = {
        "PATH=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS="};
    struct probe_opts o = {.action = "none", .seccomp = true};
    static struct probe_run r;

    EXPECT(run_probe(&o, &r) == 0);
    EXPECT(exited_ok(&r));
    EXPECT_CONTAINS(r.out, "\nenv: PATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
    for (const char *p = strstr(r.out, "\nenv: "); p != NULL; p = strstr(p + 1, "\nenv: ")) {
        bool known = false;

        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
            known = known || strncmp(p + 6, allowed[i], strlen(allowed[i])) == 0;
        if (!known)
            printf("# unexpected variable %.40s\n", p + 6);
        EXPECT(known);
    }
}

/* What the supervisor does inside the sandbox (libevent over Unix sockets,
 * atomic file writes, pidfd_open, the report) is allowed. */
static void allowed_calls_work(void)
{
    char dir[] = "/tmp/corral-sandbox-XXXXXX";
    struct probe_opts o = {.action = "allowed", .seccomp = true, .dir = dir};
    static struct probe_run r;
    int rc;

    EXPECT(mkdtemp(dir) != NULL);
    if (is_root && chown(dir, test_uid, test_gid) < 0) {
        printf("# cannot chown %s: %s\n", dir, strerror(errno));
        rmdir(dir);
        EXPECT(false);
    }
    rc = run_probe(&o, &r);
    rmdir(dir);
    EXPECT(rc == 0);
    EXPECT(exited_ok(&r));
    EXPECT_CONTAINS(r.out, "\nallowed: ok\n");
}

/* A sanitizer report inside the sandbox gets out instead of dying of SIGSYS
 * half way. */
static void sanitizer_report_survives(void)
{
#ifdef TEST_ASAN
    struct probe_opts o = {.action = "asan-overflow", .seccomp = true};
    static struct probe_run r;

    EXPECT(run_probe(&o, &r) == 0);
    if (!WIFEXITED(r.status))
        printf("# probe status %#x\n# stderr: %s\n", (unsigned)r.status, r.err);
    EXPECT(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
    EXPECT_CONTAINS(r.err, "ERROR: AddressSanitizer: heap-buffer-overflow");
    EXPECT_CONTAINS(r.err, "SUMMARY: AddressSanitizer");
#ifndef __clang__
    /* gcc's runtime symbolizes in process (clang's needs symbolize=0). */
    EXPECT_CONTAINS(r.err, "in asan_overflow tests/tools/sandbox_probe.c");
#endif
#else
    UNIT_SKIP("not an AddressSanitizer build");
#endif
}

/* With close_range failing as on kernels before 5.9, the /proc/self/fd
 * walk closes the same descriptors. */
static int close_fallback_child(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    struct cerr e;
    int keep, drop;

    if (ctx == NULL ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(close_range), 0) < 0 ||
        seccomp_load(ctx) < 0)
        return 10;
    seccomp_release(ctx);
    keep = open("/dev/null", O_RDONLY);
    drop = open("/dev/null", O_RDONLY);
    if (keep < 0 || drop < 0)
        return 11;
    if (close_range((unsigned)drop, (unsigned)drop, 0) == 0 || errno != ENOSYS)
        return 12;
    if (sandbox_close_fds(&keep, 1, &e) < 0)
        return 13;
    if (fcntl(keep, F_GETFD) < 0)
        return 14;
    if (fcntl(drop, F_GETFD) >= 0 || errno != EBADF)
        return 15;
    return 0;
}

static void close_fds_fallback(void)
{
    int status = in_child(close_fallback_child);

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("# child status %#x\n", (unsigned)status);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Checked before anything is closed, so this runs in the test itself. */
static void close_fds_refuses_closed_keep(void)
{
    struct cerr e = {0};
    int fd = open("/dev/null", O_RDONLY);

    EXPECT(fd >= 0);
    close(fd);
    EXPECT(sandbox_close_fds(&fd, 1, &e) < 0);
    EXPECT(e.code == CE_INTERNAL);
    EXPECT_CONTAINS(e.msg, "is not open");
}

/* Refused before anything changes, so this runs in the test itself. */
static void drop_refuses_root(void)
{
    struct cerr e = {0};

    EXPECT(sandbox_drop_privileges(0, 0, 0, &e) < 0);
    EXPECT(e.code == CE_PERMISSION);
    EXPECT(sandbox_drop_privileges(test_uid, 0, 0, &e) < 0);
    EXPECT(e.code == CE_PERMISSION);
}

static int switch_without_privileges_child(void)
{
    struct cerr e;

    if (is_root && (setgroups(0, NULL) < 0 || setresgid(test_gid, test_gid, test_gid) < 0 ||
                    setresuid(test_uid, test_uid, test_uid) < 0))
        return 10;
    if (sandbox_drop_privileges(test_uid + 1, test_gid, 0, &e) == 0)
        return 11;
    if (e.code != CE_PERMISSION || strstr(e.msg, "without CAP_SETUID") == NULL)
        return 12;
    return getuid() == test_uid ? 0 : 13;
}

/* An unprivileged process cannot become another uid, and says why. */
static void drop_without_privileges_fails(void)
{
    int status = in_child(switch_without_privileges_child);

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("# child status %#x\n", (unsigned)status);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int find_probe(void)
{
    char self[sizeof(probe_path) - sizeof("/sandbox_probe")];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n < 0) {
        printf("# cannot read /proc/self/exe: %s\n", strerror(errno));
        return -1;
    }
    self[n] = '\0';
    snprintf(probe_path, sizeof(probe_path), "%s/sandbox_probe", dirname(self));
    if (access(probe_path, X_OK) < 0) {
        printf("# cannot run %s: %s\n", probe_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The probe must be reachable by the throw-away uid, and the build tree may
 * sit under a directory only root can enter (a mktemp -d checkout): run a
 * copy from a directory everyone can traverse. */
static char probe_copy_dir[64];

static int copy_probe(void)
{
    char *data, *dst;
    struct cerr e;
    size_t len;
    int rc;

    snprintf(probe_copy_dir, sizeof(probe_copy_dir), "/tmp/corral-probe-XXXXXX");
    if (mkdtemp(probe_copy_dir) == NULL || chmod(probe_copy_dir, 0755) < 0) {
        printf("# cannot make a directory for the probe: %s\n", strerror(errno));
        return -1;
    }
    data = file_read_all(probe_path, 256 * 1024 * 1024, &len, &e);
    if (data == NULL) {
        printf("# %s\n", e.msg);
        return -1;
    }
    dst = xasprintf("%s/sandbox_probe", probe_copy_dir);
    rc = file_write_atomic(dst, data, len, 0755, &e);
    free(data);
    if (rc < 0)
        printf("# %s\n", e.msg);
    else
        snprintf(probe_path, sizeof(probe_path), "%s", dst);
    free(dst);
    return rc;
}

static void remove_probe_copy(void)
{
    struct cerr e;

    if (probe_copy_dir[0] != '\0' && rm_rf(probe_copy_dir, &e) < 0)
        printf("# %s\n", e.msg);
}

int main(void)
{
    if (find_probe() < 0)
        return 1;
    is_root = geteuid() == 0;
    if (is_root && copy_probe() < 0)
        return 1;
    if (is_root) {
        /* Needs no /etc/passwd entry; per test run so that parallel runs
         * do not share RLIMIT_NPROC accounting. */
        test_uid = 64000 + (uid_t)(getpid() % 1000);
        test_gid = (gid_t)test_uid;
    } else {
        test_uid = getuid();
        test_gid = getgid();
    }
    RUN(report_after_seccomp);
    RUN(keeps_one_group);
    RUN(unprivileged_same_uid);
    RUN(forbidden_calls_kill);
    RUN(privileges_stay_dropped_without_seccomp);
    RUN(kept_fd_open_others_closed);
    RUN(environment_cleared);
    RUN(allowed_calls_work);
    RUN(sanitizer_report_survives);
    RUN(close_fds_fallback);
    RUN(close_fds_refuses_closed_keep);
    RUN(drop_refuses_root);
    RUN(drop_without_privileges_fails);
    remove_probe_copy();
    return unit_done();
}
