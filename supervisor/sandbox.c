#include "supervisor/sandbox.h"

#include <cap-ng.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* AddressSanitizer builds need a few more system calls (see the allowlist).
 * gcc says so with __SANITIZE_ADDRESS__, clang with __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

/* --- 1. File descriptors ------------------------------------------------ */

static bool fd_is_kept(const int *keep, size_t nkeep, int fd)
{
    if (fd <= STDERR_FILENO)
        return true;
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] == fd)
            return true;
    return false;
}

/* The smallest kept descriptor at or above from, or -1. */
static int next_kept(const int *keep, size_t nkeep, unsigned int from)
{
    int best = -1;

    for (size_t i = 0; i < nkeep; i++)
        if ((unsigned int)keep[i] >= from && (best < 0 || keep[i] < best))
            best = keep[i];
    return best;
}

/* One close_range per gap between kept descriptors, from 3 upwards. */
static int close_gaps(const int *keep, size_t nkeep)
{
    unsigned int lo = STDERR_FILENO + 1;

    for (;;) {
        int next = next_kept(keep, nkeep, lo);

        if (next < 0)
            return close_range(lo, ~0U, 0);
        if ((unsigned int)next > lo && close_range(lo, (unsigned int)next - 1, 0) < 0)
            return -1;
        lo = (unsigned int)next + 1;
    }
}

/* The slow way, for kernels before 5.9 and container seccomp profiles that
 * refuse close_range: close what /proc/self/fd lists. */
static int close_listed(const int *keep, size_t nkeep, struct cerr *e)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;
    int self;

    if (dir == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot list /proc/self/fd to close inherited descriptors: %s",
                 strerror(errno));
        return -1;
    }
    self = dirfd(dir);
    for (;;) {
        char *end;
        long fd;

        errno = 0;
        de = readdir(dir);
        if (de == NULL)
            break;
        fd = strtol(de->d_name, &end, 10);
        if (de->d_name[0] == '.' || *end != '\0' || fd == self || fd_is_kept(keep, nkeep, (int)fd))
            continue;
        /* Linux frees the descriptor even when close reports an error, and
         * nothing this process wrote is pending on an inherited one. */
        (void)close((int)fd);
    }
    if (errno != 0) {
        cerr_set(e, CE_SYSTEM, "cannot read /proc/self/fd: %s", strerror(errno));
        closedir(dir);
        return -1;
    }
    closedir(dir);
    return 0;
}

int sandbox_close_fds(const int *keep, size_t nkeep, struct cerr *e)
{
    for (size_t i = 0; i < nkeep; i++) {
        /* A closed descriptor in the list is a caller bug that would
         * otherwise only show up later as a confusing EBADF. */
        if (keep[i] < 0 || fcntl(keep[i], F_GETFD) < 0) {
            cerr_set(e, CE_INTERNAL, "descriptor %d to keep is not open", keep[i]);
            return -1;
        }
    }
    if (close_gaps(keep, nkeep) == 0)
        return 0;
    if (errno == ENOSYS || errno == EPERM)
        return close_listed(keep, nkeep, e);
    cerr_set(e, CE_SYSTEM, "cannot close inherited descriptors: close_range: %s", strerror(errno));
    return -1;
}

/* --- 2. Environment ----------------------------------------------------- */

#define SANDBOX_PATH "/usr/sbin:/usr/bin:/sbin:/bin"

/* The supervisor's own sanitizer runtime read these at startup; kept for
 * the programs it starts, so that a SANITIZE=1 test run keeps its settings
 * all the way down. */
static const char *const kept_env[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
#define NKEPT_ENV (sizeof(kept_env) / sizeof(kept_env[0]))

int sandbox_clear_env(struct cerr *e)
{
    char *saved[NKEPT_ENV] = {NULL};
    int rc = -1;

    /* Copies: clearenv may free what getenv pointed into. */
    for (size_t i = 0; i < NKEPT_ENV; i++) {
        const char *v = getenv(kept_env[i]);

        if (v != NULL && (saved[i] = strdup(v)) == NULL) {
            cerr_set(e, CE_SYSTEM, "cannot save %s: %s", kept_env[i], strerror(errno));
            goto out;
        }
    }
    if (clearenv() != 0) {
        cerr_set(e, CE_SYSTEM, "cannot clear the environment");
        goto out;
    }
    if (setenv("PATH", SANDBOX_PATH, 1) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot set PATH: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < NKEPT_ENV; i++) {
        if (saved[i] != NULL && setenv(kept_env[i], saved[i], 1) < 0) {
            cerr_set(e, CE_SYSTEM, "cannot restore %s: %s", kept_env[i], strerror(errno));
            goto out;
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < NKEPT_ENV; i++)
        free(saved[i]);
    return rc;
}

/* --- 3. Resource limits ------------------------------------------------- */

static const char *rlim_str(rlim_t v, char *buf, size_t len)
{
    if (v == RLIM_INFINITY)
        return "unlimited";
    snprintf(buf, len, "%llu", (unsigned long long)v);
    return buf;
}

static int set_limit(int resource, const char *name, rlim_t value, struct cerr *e)
{
    struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
    char vbuf[24];

    if (setrlimit(resource, &rl) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot set %s to %s: %s", name, rlim_str(value, vbuf, sizeof(vbuf)),
                 strerror(errno));
        return -1;
    }
    return 0;
}

int sandbox_set_rlimits(const struct sandbox_limits *l, struct cerr *e)
{
    if (set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, e) < 0 ||
        set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", l->nofile, e) < 0 ||
        set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", l->nproc, e) < 0 ||
        set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", RLIM_INFINITY, e) < 0)
        return -1;
    return 0;
}

/* --- Status ------------------------------------------------------------- */

/* /proc/self/status is about 1.5 KiB; only a long Groups line could make it
 * bigger, and a sandboxed process has no groups. */
#define STATUS_MAX 16384

static int read_proc_status(char *buf, size_t len, struct cerr *e)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    size_t off = 0;

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open /proc/self/status: %s", strerror(errno));
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, buf + off, len - 1 - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cerr_set(e, CE_SYSTEM, "cannot read /proc/self/status: %s", strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        off += (size_t)n;
        if (off == len - 1) {
            cerr_set(e, CE_TOO_LARGE, "/proc/self/status is larger than %zu bytes", len - 1);
            close(fd);
            return -1;
        }
    }
    close(fd);
    buf[off] = '\0';
    return 0;
}

/* The text after "key:" on the line that starts with it, or NULL. */
static const char *status_field(const char *status, const char *key)
{
    size_t klen = strlen(key);

    for (const char *line = status; *line != '\0';) {
        const char *nl = strchr(line, '\n');

        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            return line + klen + 1;
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return NULL;
}

/* Parses the nth (0-based) blank-separated number of field key. */
static int status_number(const char *status, const char *key, int nth, int base,
                         unsigned long long *out, struct cerr *e)
{
    const char *p = status_field(status, key);

    for (int i = 0; p != NULL; i++) {
        char *end;

        p += strspn(p, " \t");
        /* strtoull would also take a sign or skip to the next line. */
        if (!isxdigit((unsigned char)*p))
            break;
        errno = 0;
        *out = strtoull(p, &end, base);
        if (end == p || errno != 0 || (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\0'))
            break;
        if (i == nth)
            return 0;
        p = end;
    }
    cerr_set(e, CE_SYSTEM, "no readable %s in /proc/self/status", key);
    return -1;
}

static int status_cap(const char *status, const char *key, uint64_t *out, struct cerr *e)
{
    unsigned long long v;

    if (status_number(status, key, 0, 16, &v, e) < 0)
        return -1;
    *out = v;
    return 0;
}

static int status_int(const char *status, const char *key, int *out, struct cerr *e)
{
    unsigned long long v;

    if (status_number(status, key, 0, 10, &v, e) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int get_limit(int resource, const char *name, struct rlimit *out, struct cerr *e)
{
    if (getrlimit(resource, out) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot read %s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

int sandbox_status_read(struct sandbox_status *st, struct cerr *e)
{
    char status[STATUS_MAX];
    unsigned long long fsuid, fsgid;

    if (getresuid(&st->ruid, &st->euid, &st->suid) < 0 ||
        getresgid(&st->rgid, &st->egid, &st->sgid) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot read the process ids: %s", strerror(errno));
        return -1;
    }
    st->ngroups = getgroups(0, NULL);
    if (st->ngroups < 0) {
        cerr_set(e, CE_SYSTEM, "cannot count supplementary groups: %s", strerror(errno));
        return -1;
    }
    /* The file system ids are only in /proc: the fourth Uid and Gid field. */
    if (read_proc_status(status, sizeof(status), e) < 0 ||
        status_number(status, "Uid", 3, 10, &fsuid, e) < 0 ||
        status_number(status, "Gid", 3, 10, &fsgid, e) < 0 ||
        status_cap(status, "CapInh", &st->cap_inh, e) < 0 ||
        status_cap(status, "CapPrm", &st->cap_prm, e) < 0 ||
        status_cap(status, "CapEff", &st->cap_eff, e) < 0 ||
        status_cap(status, "CapBnd", &st->cap_bnd, e) < 0 ||
        status_cap(status, "CapAmb", &st->cap_amb, e) < 0 ||
        status_int(status, "NoNewPrivs", &st->no_new_privs, e) < 0 ||
        status_int(status, "Seccomp", &st->seccomp, e) < 0)
        return -1;
    st->fsuid = (uid_t)fsuid;
    st->fsgid = (gid_t)fsgid;
    if (get_limit(RLIMIT_CORE, "RLIMIT_CORE", &st->core, e) < 0 ||
        get_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", &st->nofile, e) < 0 ||
        get_limit(RLIMIT_NPROC, "RLIMIT_NPROC", &st->nproc, e) < 0 ||
        get_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", &st->fsize, e) < 0 ||
        get_limit(RLIMIT_AS, "RLIMIT_AS", &st->as, e) < 0)
        return -1;
    return 0;
}

/* Appends to buf at *off; false once the text no longer fits. */
static bool appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off >= len)
        return false;
    va_start(ap, fmt);
    n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - *off) {
        *off = len;
        return false;
    }
    *off += (size_t)n;
    return true;
}

int sandbox_report(char *buf, size_t len, struct cerr *e)
{
    struct sandbox_status st;
    const struct {
        const char *name;
        const struct rlimit *rl;
    } limits[] = {{"RLIMIT_CORE", &st.core},
                  {"RLIMIT_NOFILE", &st.nofile},
                  {"RLIMIT_NPROC", &st.nproc},
                  {"RLIMIT_FSIZE", &st.fsize},
                  {"RLIMIT_AS", &st.as}};
    char cur[24], max[24];
    size_t off = 0;
    bool fits;

    if (sandbox_status_read(&st, e) < 0)
        return -1;
    fits = appendf(buf, len, &off,
                   "uid: %u %u %u %u\ngid: %u %u %u %u\ngroups: %d\n"
                   "CapInh: %016" PRIx64 "\nCapPrm: %016" PRIx64 "\nCapEff: %016" PRIx64
                   "\nCapBnd: %016" PRIx64 "\nCapAmb: %016" PRIx64 "\n"
                   "NoNewPrivs: %d\nSeccomp: %d\n",
                   (unsigned)st.ruid, (unsigned)st.euid, (unsigned)st.suid, (unsigned)st.fsuid,
                   (unsigned)st.rgid, (unsigned)st.egid, (unsigned)st.sgid, (unsigned)st.fsgid,
                   st.ngroups, st.cap_inh, st.cap_prm, st.cap_eff, st.cap_bnd, st.cap_amb,
                   st.no_new_privs, st.seccomp);
    for (size_t i = 0; fits && i < sizeof(limits) / sizeof(limits[0]); i++)
        fits = appendf(buf, len, &off, "%s: %s %s\n", limits[i].name,
                       rlim_str(limits[i].rl->rlim_cur, cur, sizeof(cur)),
                       rlim_str(limits[i].rl->rlim_max, max, sizeof(max)));
    if (!fits) {
        cerr_set(e, CE_INTERNAL, "sandbox report does not fit in %zu bytes", len);
        return -1;
    }
    return 0;
}

/* --- 4. Identity and capabilities --------------------------------------- */

/* Without CAP_SETUID/CAP_SETGID/CAP_SETPCAP the process can only stay who
 * it is and give up the capabilities it has; lowering sets is always
 * allowed. */
static int drop_own_caps(uid_t uid, gid_t gid, struct cerr *e)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;

    if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot read the process ids: %s", strerror(errno));
        return -1;
    }
    if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
        cerr_set(e, CE_PERMISSION,
                 "cannot switch to uid %u gid %u without CAP_SETUID, CAP_SETGID and CAP_SETPCAP",
                 (unsigned)uid, (unsigned)gid);
        return -1;
    }
    capng_clear(CAPNG_SELECT_CAPS);
    if (capng_apply(CAPNG_SELECT_CAPS) != 0) {
        cerr_set(e, CE_SYSTEM, "cannot clear the capability sets: %s", strerror(errno));
        return -1;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot clear the ambient capabilities: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Trusts nothing above: reads back what the kernel applied.  strict also
 * requires what only a privileged process can clear. */
static int verify_dropped(uid_t uid, gid_t gid, gid_t keep, bool strict, struct cerr *e)
{
    struct sandbox_status st;
    gid_t groups[2];

    if (sandbox_status_read(&st, e) < 0)
        return -1;
    if (st.ruid != uid || st.euid != uid || st.suid != uid || st.fsuid != uid || st.rgid != gid ||
        st.egid != gid || st.sgid != gid || st.fsgid != gid) {
        cerr_set(e, CE_SYSTEM,
                 "ids did not change as asked: uid %u %u %u %u gid %u %u %u %u, wanted %u/%u",
                 (unsigned)st.ruid, (unsigned)st.euid, (unsigned)st.suid, (unsigned)st.fsuid,
                 (unsigned)st.rgid, (unsigned)st.egid, (unsigned)st.sgid, (unsigned)st.fsgid,
                 (unsigned)uid, (unsigned)gid);
        return -1;
    }
    if (strict && (st.ngroups != (keep != 0 ? 1 : 0) ||
                   (keep != 0 && (getgroups(2, groups) != 1 || groups[0] != keep)))) {
        cerr_set(e, CE_SYSTEM, "in %d supplementary groups, wanted %s%u", st.ngroups,
                 keep != 0 ? "only " : "", (unsigned)keep);
        return -1;
    }
    if (st.cap_eff != 0 || st.cap_prm != 0 || st.cap_inh != 0 || st.cap_amb != 0 ||
        (strict && st.cap_bnd != 0)) {
        cerr_set(e, CE_SYSTEM,
                 "capabilities remain: CapEff %016" PRIx64 " CapPrm %016" PRIx64
                 " CapInh %016" PRIx64 " CapBnd %016" PRIx64 " CapAmb %016" PRIx64,
                 st.cap_eff, st.cap_prm, st.cap_inh, st.cap_bnd, st.cap_amb);
        return -1;
    }
    return 0;
}

int sandbox_drop_privileges(uid_t uid, gid_t gid, gid_t keep, struct cerr *e)
{
    bool privileged;

    /* Even without capabilities, uid 0 owns most of the host's files. */
    if (uid == 0 || gid == 0) {
        cerr_set(e, CE_PERMISSION, "refusing to sandbox as uid %u gid %u: root owns the host",
                 (unsigned)uid, (unsigned)gid);
        return -1;
    }
    /* capng_change_id takes int ids and reads -1 as "leave unchanged". */
    if (uid > INT_MAX || gid > INT_MAX || keep > INT_MAX) {
        cerr_set(e, CE_INVALID_PARAMS, "uid %u, gid %u or group %u out of range", (unsigned)uid,
                 (unsigned)gid, (unsigned)keep);
        return -1;
    }
    if (capng_get_caps_process() != 0) {
        cerr_set(e, CE_SYSTEM, "cannot read the process capabilities: %s", strerror(errno));
        return -1;
    }
    privileged = capng_have_capability(CAPNG_PERMITTED, CAP_SETUID) == 1 &&
                 capng_have_capability(CAPNG_PERMITTED, CAP_SETGID) == 1 &&
                 capng_have_capability(CAPNG_PERMITTED, CAP_SETPCAP) == 1;
    if (privileged) {
        int rc;

        /* From empty sets, capng_change_id keeps only CAP_SETUID,
         * CAP_SETGID and CAP_SETPCAP for the switch and ends with nothing:
         * PR_CAPBSET_DROP of every capability, setresgid, setgroups(0),
         * setresuid under PR_SET_KEEPCAPS, capset to empty sets, then
         * PR_CAP_AMBIENT_CLEAR_ALL. */
        capng_clear(CAPNG_SELECT_ALL);
        /* capng_change_id either drops every group or leaves them: the one
         * kept is set first, while CAP_SETGID is still there. */
        if (keep != 0 && setgroups(1, &keep) < 0) {
            cerr_set(e, CE_SYSTEM, "cannot set the supplementary group %u: %s", (unsigned)keep,
                     strerror(errno));
            return -1;
        }
        rc = capng_change_id((int)uid, (int)gid,
                             (keep != 0 ? 0 : CAPNG_DROP_SUPP_GRP) | CAPNG_CLEAR_BOUNDING |
                                 CAPNG_CLEAR_AMBIENT);
        if (rc != 0) {
            cerr_set(e, CE_SYSTEM, "cannot switch to uid %u gid %u: capng_change_id: %d (%s)",
                     (unsigned)uid, (unsigned)gid, rc, strerror(errno));
            return -1;
        }
    } else if (drop_own_caps(uid, gid, e) < 0) {
        return -1;
    }
    return verify_dropped(uid, gid, keep, privileged, e);
}

/* --- 5. no_new_privs ---------------------------------------------------- */

int sandbox_no_new_privs(struct cerr *e)
{
    int v;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot set no_new_privs: %s", strerror(errno));
        return -1;
    }
    v = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    if (v != 1) {
        cerr_set(e, CE_SYSTEM, "no_new_privs reads back as %d: %s", v,
                 v < 0 ? strerror(errno) : "not set");
        return -1;
    }
    return 0;
}

/* --- 6. System call allowlist ------------------------------------------- */

/* A system call, allowed always or only when one argument matches.  Several
 * entries for one call are alternatives. */
struct sc_rule {
    const char *name;
    bool filtered;
    struct scmp_arg_cmp cmp;
};

/* clang-format off */
#define ALLOW(n) {.name = (n)}
/* The kernel reads these arguments as 32-bit ints: compare what it sees. */
#define ALLOW_INT(n, a, v) \
    {.name = (n), .filtered = true, \
     .cmp = {.arg = (a), .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffU, .datum_b = (v)}}
#define ALLOW_NULL(n, a) \
    {.name = (n), .filtered = true, .cmp = {.arg = (a), .op = SCMP_CMP_EQ, .datum_a = 0}}
/* clang-format on */

/* What a libevent daemon serving Unix sockets, talking QMP, keeping files
 * in its state dir and watching its QEMU child does.  Absent on purpose,
 * among others: execve/execveat, fork/vfork/clone/clone3 (QEMU is already
 * running), ptrace, process_vm_readv/writev, mount/umount2/pivot_root/
 * chroot, unshare/setns, the set*id and capset families, kexec_*, bpf,
 * init_module/finit_module, keyctl, perf_event_open, personality,
 * userfaultfd, io_uring_*, and sockets of any family but AF_UNIX. */
static const struct sc_rule allowlist[] = {
    /* Memory: malloc, libevent buffers; mmap, mprotect and munmap also
     * load and unload libxml2 when XML is needed (common/xml_lib.h), from
     * the system's library directories as at start. */
    ALLOW("brk"),
    ALLOW("mmap"),
    ALLOW("munmap"),
    ALLOW("mremap"),
    ALLOW("madvise"),
    ALLOW("mprotect"),
    ALLOW("futex"),
    /* Signals: libevent's handlers, SIGCHLD from QEMU. */
    ALLOW("rt_sigaction"),
    ALLOW("rt_sigprocmask"),
    ALLOW("rt_sigreturn"),
    ALLOW("sigaltstack"),
    ALLOW("restart_syscall"), /* resumes a sleep or poll a signal interrupted */
    /* Identity and process facts, read only. */
    ALLOW("getpid"),
    ALLOW("gettid"),
    ALLOW("getppid"),
    ALLOW("getuid"),
    ALLOW("geteuid"),
    ALLOW("getgid"),
    ALLOW("getegid"),
    ALLOW("getresuid"), /* sandbox_status_read */
    ALLOW("getresgid"),
    ALLOW("getgroups"),
    ALLOW_NULL("prlimit64", 2), /* getrlimit() and sysconf(_SC_OPEN_MAX), never set */
    ALLOW("sysinfo"),           /* qsort() sizes its buffer with sysconf(_SC_PHYS_PAGES) */
    ALLOW("uname"),
    ALLOW("sched_yield"),
    ALLOW("getrandom"),
    /* Time; clock_gettime and gettimeofday are vDSO calls unless the clock
     * source cannot be read from user space. */
    ALLOW("clock_gettime"),
    ALLOW("clock_getres"),
    ALLOW("gettimeofday"),
    ALLOW("nanosleep"),
    ALLOW("clock_nanosleep"),
    /* The event loop: libevent's epoll backend and its helpers. */
    ALLOW("epoll_create1"),
    ALLOW("epoll_ctl"),
    ALLOW("epoll_wait"),
    ALLOW("epoll_pwait"),
    ALLOW("poll"),
    ALLOW("ppoll"),
    ALLOW("eventfd2"),
    ALLOW("timerfd_create"),
    ALLOW("timerfd_settime"),
    ALLOW("timerfd_gettime"),
    ALLOW("signalfd4"),
    ALLOW("pipe2"), /* libevent's signal notification pipe */
    /* Descriptors. */
    ALLOW("close"),
    ALLOW("dup"),
    ALLOW("dup3"),
    ALLOW("fcntl"),
    ALLOW_INT("ioctl", 1, FIONREAD), /* evbuffer_read() sizes its reads with it */
    ALLOW_INT("ioctl", 1, TCGETS),   /* stdio's isatty() when stdout is a terminal */
    /* Files in the VM's state and run directories (and, read only, the
     * libraries dlopen reads).  rename, unlink, mkdir, rmdir and readlink
     * are what glibc's functions of those names call on x86_64. */
    ALLOW("openat"),
    ALLOW("read"),
    ALLOW("write"),
    ALLOW("readv"),
    ALLOW("writev"),
    ALLOW("pread64"),
    ALLOW("pwrite64"),
    ALLOW("lseek"),
    ALLOW("fstat"),
    ALLOW("newfstatat"),
    ALLOW("statx"),
    ALLOW("getdents64"),
    ALLOW("fsync"),
    ALLOW("fdatasync"),
    ALLOW("syncfs"),
    ALLOW("rename"),
    ALLOW("renameat"),
    ALLOW("renameat2"),
    ALLOW("unlink"),
    ALLOW("unlinkat"),
    ALLOW("mkdir"),
    ALLOW("mkdirat"),
    ALLOW("rmdir"),
    ALLOW("fchmod"),
    /* A socket cannot be opened to fchmod it: QEMU's VNC socket is made
     * reachable by path (chmod() is fchmodat on some libcs). */
    ALLOW("chmod"),
    ALLOW("fchmodat"),
    ALLOW("umask"),
    ALLOW("readlink"),
    ALLOW("readlinkat"),
    /* Unix sockets only: the control socket and QEMU's QMP socket.  (File
     * permissions guard path sockets; abstract ones stay reachable.) */
    ALLOW_INT("socket", 0, AF_UNIX),
    ALLOW_INT("socketpair", 0, AF_UNIX),
    ALLOW("connect"),
    ALLOW("accept4"),
    ALLOW("bind"),
    ALLOW("listen"),
    ALLOW("getsockopt"), /* SO_PEERCRED of clients, SO_ERROR of connects */
    ALLOW("setsockopt"),
    ALLOW("shutdown"),
    ALLOW("sendmsg"), /* and recvmsg: fd passing with QEMU */
    ALLOW("recvmsg"),
    ALLOW("sendto"),
    ALLOW("recvfrom"),
    /* The QEMU child.  Signals reach only processes of the VM's uid. */
    ALLOW("pidfd_open"),
    ALLOW("pidfd_send_signal"),
    ALLOW("waitid"),
    ALLOW("wait4"),
    ALLOW("kill"),
    ALLOW("tgkill"), /* raise() and abort() */
    ALLOW("exit"),
    ALLOW("exit_group"),
#ifdef SANDBOX_ASAN
    /* The sanitizer runtimes' reports open /proc/self/maps, cmdline and
     * environ with the old open call, not openat.  The rest they need is
     * above: readlink of /proc/self/exe and the libraries (gcc symbolizes
     * in process), ioctl(TCGETS) to decide on colours, mmap, write,
     * tgkill for abort_on_error, exit_group. */
    ALLOW("open"),
#endif
};

/* The allowlist as a libseccomp filter (new), or NULL with e set. */
static scmp_filter_ctx allowlist_filter(struct cerr *e)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int rc;

    if (ctx == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot create a seccomp filter");
        return NULL;
    }
    /* Calls made through another ABI (i386, x32) kill too. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0) {
        cerr_set(e, CE_SYSTEM, "cannot set the seccomp filter attributes: %s", strerror(-rc));
        goto fail;
    }
    for (size_t i = 0; i < sizeof(allowlist) / sizeof(allowlist[0]); i++) {
        const struct sc_rule *r = &allowlist[i];
        int nr = seccomp_syscall_resolve_name(r->name);

        /* Say which name: a typo, or a call newer than this libseccomp. */
        if (nr == __NR_SCMP_ERROR) {
            cerr_set(e, CE_INTERNAL, "libseccomp does not know system call %s", r->name);
            goto fail;
        }
        if (r->filtered)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, r->cmp);
        else
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (rc < 0) {
            cerr_set(e, CE_SYSTEM, "cannot allow system call %s: %s", r->name, strerror(-rc));
            goto fail;
        }
    }
    return ctx;
fail:
    seccomp_release(ctx);
    return NULL;
}

/* The BPF program libseccomp generates for ctx, read back from a memfd
 * (libseccomp 2.5 exports to a descriptor only). */
static int export_bpf(scmp_filter_ctx ctx, struct sandbox_filter *f, struct cerr *e)
{
    int fd = memfd_create("corral-seccomp", MFD_CLOEXEC);
    struct stat st;
    ssize_t n;
    int rc;

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot compile the seccomp filter: memfd_create: %s",
                 strerror(errno));
        return -1;
    }
    rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0) {
        cerr_set(e, CE_SYSTEM, "cannot compile the seccomp filter: %s", strerror(-rc));
        close(fd);
        return -1;
    }
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(*f->insns) != 0 ||
        st.st_size / sizeof(*f->insns) > BPF_MAXINSNS) {
        cerr_set(e, CE_SYSTEM, "cannot compile the seccomp filter: it came out as %lld bytes",
                 (long long)st.st_size);
        close(fd);
        return -1;
    }
    f->insns = calloc((size_t)st.st_size / sizeof(*f->insns), sizeof(*f->insns));
    if (f->insns == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot compile the seccomp filter: out of memory");
        close(fd);
        return -1;
    }
    f->len = (unsigned short)(st.st_size / sizeof(*f->insns));
    n = pread(fd, f->insns, (size_t)st.st_size, 0);
    close(fd);
    if (n != st.st_size) {
        cerr_set(e, CE_SYSTEM, "cannot read the compiled seccomp filter back: %s",
                 n < 0 ? strerror(errno) : "short read");
        sandbox_filter_free(f);
        return -1;
    }
    return 0;
}

int sandbox_seccomp_compile(struct sandbox_filter *f, struct cerr *e)
{
    scmp_filter_ctx ctx = allowlist_filter(e);
    int rc;

    f->insns = NULL;
    f->len = 0;
    if (ctx == NULL)
        return -1;
    rc = export_bpf(ctx, f, e);
    seccomp_release(ctx);
    return rc;
}

void sandbox_filter_free(struct sandbox_filter *f)
{
    free(f->insns);
    f->insns = NULL;
    f->len = 0;
}

int sandbox_seccomp_load(const struct sandbox_filter *f, struct cerr *e)
{
    struct sock_fprog prog = {.len = f->len, .filter = f->insns};
    struct sandbox_status st;
    long rc;

    if (f->len == 0) {
        cerr_set(e, CE_INTERNAL, "no compiled seccomp filter to load");
        return -1;
    }
    /* As seccomp_load does: a filter needs no_new_privs (set already by
     * sandbox_no_new_privs), and applies to every thread. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot set no_new_privs for the seccomp filter: %s",
                 strerror(errno));
        return -1;
    }
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (rc != 0) {
        cerr_set(e, CE_SYSTEM, "cannot load the seccomp filter: %s",
                 rc < 0 ? strerror(errno) : "another thread could not take it");
        return -1;
    }
    if (sandbox_status_read(&st, e) < 0)
        return -1;
    if (st.seccomp != 2) {
        cerr_set(e, CE_SYSTEM, "seccomp mode is %d after loading the filter", st.seccomp);
        return -1;
    }
    return 0;
}

int sandbox_seccomp_install(struct cerr *e)
{
    struct sandbox_filter f;
    int rc;

    if (sandbox_seccomp_compile(&f, e) < 0)
        return -1;
    rc = sandbox_seccomp_load(&f, e);
    sandbox_filter_free(&f);
    return rc;
}
