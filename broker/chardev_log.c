#include "broker/chardev_log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/disk_check.h"
#include "common/monotime.h"
#include "common/names.h"
#include "common/safe_open.h"

/* The group of an owner with no account: the kernel's overflow gid, which
 * owns nothing, so only the uid and the "other" bits decide. */
#define NO_GROUP 65534
/* Supplementary groups of an owner beyond this many are refused. */
#define GROUPS_MAX 1024

/* What the child answers, with the descriptor as SCM_RIGHTS when it opened
 * one. */
struct reply {
    enum corral_err code; /* CE_OK, or what went wrong in msg */
    char msg[CERR_MSG_MAX];
};

const char *chardev_log_name(enum chardev_log_which which)
{
    return which == CHARDEV_LOG_SERIAL ? "serial" : "console";
}

static const struct chardev_log *log_of(const struct domain_def *def, enum chardev_log_which which)
{
    return which == CHARDEV_LOG_SERIAL ? &def->serial_log : &def->console_log;
}

/* In the child: the owner's uid, primary group and supplementary groups,
 * so that every access the open makes is decided as for the owner.  A
 * broker that is not root acts as itself (it runs every VM as itself). */
static int become_owner(uid_t owner, struct cerr *e)
{
    gid_t groups[GROUPS_MAX], gid = NO_GROUP;
    struct passwd pw, *found = NULL;
    char buf[16384];
    int n = 0;

    if (geteuid() != 0 || owner == 0)
        return 0;
    if (getpwuid_r(owner, &pw, buf, sizeof(buf), &found) == 0 && found != NULL) {
        gid = pw.pw_gid;
        n = GROUPS_MAX;
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0) {
            cerr_set(e, CE_SYSTEM, "uid %ld is in more than %d groups", (long)owner, GROUPS_MAX);
            return -1;
        }
    }
    if (setgroups((size_t)n, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
        setresuid(owner, owner, owner) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot become uid %ld to open it: %s", (long)owner,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static enum corral_err denied_or_system(int err)
{
    return err == EACCES || err == EPERM || err == EROFS ? CE_PERMISSION : CE_SYSTEM;
}

/* The existing file base in dfd: refused before it is opened unless it is
 * a regular file with one link (the owner is the parent's to check), then
 * opened for writing as the owner, and still the same file. */
static int open_existing(int dfd, const char *base, const struct stat *st, const char *what,
                         const char *shown, uid_t owner, struct cerr *e)
{
    struct stat now;
    int fd;

    if (disk_check_node(what, shown, st, false, true, owner, e) < 0)
        return -1;
    fd = openat(dfd, base, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        cerr_set(e, denied_or_system(err), "%s: uid %ld may not write '%s': %s", what, (long)owner,
                 shown, strerror(err));
        return -1;
    }
    if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' changed while it was opened", what, shown);
        close(fd);
        return -1;
    }
    return fd;
}

/* A missing file: created (O_EXCL: nothing that appears meanwhile is
 * taken) or, without create, only whether the owner could; *fd stays -1
 * then. */
static int open_missing(int dfd, const char *base, bool create, const char *what, const char *shown,
                        uid_t owner, int *fd, struct cerr *e)
{
    int err;

    if (!create) {
        if (faccessat(dfd, ".", W_OK | X_OK, 0) == 0)
            return 0;
        err = errno;
        cerr_set(e, denied_or_system(err),
                 "%s: '%s' does not exist and uid %ld may not create it: %s", what, shown,
                 (long)owner, strerror(err));
        return -1;
    }
    *fd = openat(dfd, base,
                 O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                     O_CLOEXEC,
                 0600);
    if (*fd >= 0)
        return 0;
    err = errno;
    cerr_set(e, denied_or_system(err), "%s: uid %ld may not create '%s': %s", what, (long)owner,
             shown, strerror(err));
    return -1;
}

/* In the child, as the owner: the directory without a symlink on the way,
 * then the file in it. */
static int child_open(const char *what, const char *path, uid_t owner, bool create, int *fd,
                      struct cerr *e)
{
    const char *slash = strrchr(path, '/'), *base = slash + 1;
    char dir[PATH_MAX], shown[512];
    struct cerr why;
    struct stat st;
    int dfd, rc;

    name_escape(path, shown, sizeof(shown));
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        cerr_set(e, CE_INVALID_XML, "%s: '%s' does not name a file", what, shown);
        return -1;
    }
    snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    dfd = safe_open_path(dir, &st, &why);
    if (dfd < 0) {
        cerr_set(e, CE_SYSTEM, "%s: %s", what, why.msg);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        name_escape(dir, shown, sizeof(shown));
        cerr_set(e, CE_SYSTEM, "%s: '%s' %s", what, shown,
                 S_ISLNK(st.st_mode) ? "is a symlink" : "is not a directory");
        close(dfd);
        return -1;
    }
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        *fd = open_existing(dfd, base, &st, what, shown, owner, e);
        rc = *fd < 0 ? -1 : 0;
    } else if (errno == ENOENT)
        rc = open_missing(dfd, base, create, what, shown, owner, fd, e);
    else {
        cerr_set(e, denied_or_system(errno), "%s: cannot look at '%s': %s", what, shown,
                 strerror(errno));
        rc = -1;
    }
    close(dfd);
    return rc;
}

/* The child's whole life: its answer (and descriptor) on sock, then
 * _exit.  It holds nothing of the broker's but sock. */
static void child(int sock, const char *what, const char *path, uid_t owner, bool create)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct reply r = {.code = CE_OK};
    struct iovec iov = {&r, sizeof(r)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cerr e;
    int fd = -1;

    umask(077);
    if (sock != 3 && dup2(sock, 3) < 0)
        _exit(1);
    if (close_range(4, ~0U, 0) < 0 || become_owner(owner, &e) < 0 ||
        child_open(what, path, owner, create, &fd, &e) < 0) {
        r.code = e.code;
        snprintf(r.msg, sizeof(r.msg), "%s", e.msg);
    }
    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    _exit(sendmsg(3, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(r) ? 0 : 1);
}

/* The child's answer, waited for at most CHARDEV_LOG_TIMEOUT_MS. */
static int receive(int sock, const char *what, int *fd, struct cerr *e)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct reply r;
    struct iovec iov = {&r, sizeof(r)};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct pollfd p = {.fd = sock, .events = POLLIN};
    long long deadline = monotime_ms() + CHARDEV_LOG_TIMEOUT_MS, left;
    struct cmsghdr *c;
    ssize_t n;
    int ready;

    do {
        left = deadline - monotime_ms();
        ready = poll(&p, 1, left > 0 ? (int)left : 0);
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0) {
        cerr_set(e, CE_TIMEOUT, "%s: opening it took longer than %d ms (a hung filesystem?)", what,
                 CHARDEV_LOG_TIMEOUT_MS);
        return -1;
    }
    n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
    if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(fd, CMSG_DATA(c), sizeof(int));
    if (n != (ssize_t)sizeof(r) || (m.msg_flags & MSG_CTRUNC) || r.code != CE_OK) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        r.msg[sizeof(r.msg) - 1] = '\0';
        if (n != (ssize_t)sizeof(r))
            cerr_set(e, CE_SYSTEM, "%s: the process opening it ended without an answer", what);
        else
            cerr_set(e, r.code == CE_OK ? CE_SYSTEM : r.code, "%s", r.msg);
        return -1;
    }
    return 0;
}

/* Opens (create) or looks at path as owner in a child; *fd is what it
 * opened, or -1. */
static int as_owner(const char *what, const char *path, uid_t owner, bool create, int *fd,
                    struct cerr *e)
{
    int sv[2], rc;
    pid_t pid;

    *fd = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        cerr_set(e, CE_SYSTEM, "%s: cannot create a socket pair: %s", what, strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        cerr_set(e, CE_SYSTEM, "%s: cannot fork: %s", what, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0)
        child(sv[1], what, path, owner, create);
    close(sv[1]);
    rc = receive(sv[0], what, fd, e);
    close(sv[0]);
    if (rc < 0)
        kill(pid, SIGKILL);
    /* Reaped here, before the broker's SIGCHLD handler runs. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return rc;
}

/* The descriptor the child opened, as root sees it now. */
static int check_fd(int fd, const char *what, const char *path, uid_t owner, bool any_owner,
                    struct cerr *e)
{
    char shown[512];
    struct stat st;
    int fl = fcntl(fd, F_GETFL);

    name_escape(path, shown, sizeof(shown));
    if (fl < 0 || (fl & O_ACCMODE) != O_WRONLY || !(fl & O_APPEND) || fstat(fd, &st) < 0) {
        cerr_set(e, CE_SYSTEM, "%s: '%s' was not opened as asked", what, shown);
        return -1;
    }
    return disk_check_node(what, shown, &st, false, any_owner, owner, e);
}

/* One log: looked at (create false) or opened; *fd is -1 or what was
 * opened. */
static int one(const struct domain_def *def, enum chardev_log_which which, uid_t owner,
               bool any_owner, bool create, int *fd, struct cerr *e)
{
    const struct chardev_log *l = log_of(def, which);
    char what[64];
    struct cerr why;

    *fd = -1;
    if (l->file == NULL || (which == CHARDEV_LOG_SERIAL ? !def->serial : !def->virtio_console))
        return 0;
    snprintf(what, sizeof(what), "devices/%s/log", chardev_log_name(which));
    if (as_owner(what, l->file, owner, create, fd, &why) < 0 ||
        (*fd >= 0 && check_fd(*fd, what, l->file, owner, any_owner, &why) < 0)) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        cerr_set(e, why.code, "VM %s: %s", def->name, why.msg);
        return -1;
    }
    return 0;
}

int chardev_log_check(const struct domain_def *def, uid_t owner, bool any_owner, struct cerr *e)
{
    for (int i = 0; i < CHARDEV_LOG_N; i++) {
        int fd;

        if (one(def, (enum chardev_log_which)i, owner, any_owner, false, &fd, e) < 0)
            return -1;
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

int chardev_log_open_all(const struct domain_def *def, uid_t owner, bool any_owner, bool keep,
                         struct chardev_logs *out, struct cerr *e)
{
    for (int i = 0; i < CHARDEV_LOG_N; i++)
        out->fds[i] = -1;
    for (int i = 0; i < CHARDEV_LOG_N; i++) {
        enum chardev_log_which which = (enum chardev_log_which)i;

        if (one(def, which, owner, any_owner, true, &out->fds[i], e) < 0)
            goto fail;
        /* Only now that it is known to be the owner's own file. */
        if (out->fds[i] >= 0 && !keep && !log_of(def, which)->append &&
            ftruncate(out->fds[i], 0) < 0) {
            cerr_set(e, CE_SYSTEM, "VM %s: devices/%s/log: cannot truncate it: %s", def->name,
                     chardev_log_name(which), strerror(errno));
            goto fail;
        }
    }
    return 0;
fail:
    chardev_log_close_all(out);
    return -1;
}

void chardev_log_close_all(struct chardev_logs *logs)
{
    for (int i = 0; i < CHARDEV_LOG_N; i++) {
        if (logs->fds[i] >= 0)
            close(logs->fds[i]);
        logs->fds[i] = -1;
    }
}
