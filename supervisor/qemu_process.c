#include "supervisor/qemu_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/procfs.h"

/* What QEMU may print while this process is not reading. */
#define QEMU_OUT_BUFFER (1024 * 1024)

static int log_open(struct qemu_process *p, struct cerr *e)
{
    struct stat st;

    p->log_fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (p->log_fd < 0 || fstat(p->log_fd, &st) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open QEMU log %s: %s", p->log_path, strerror(errno));
        return -1;
    }
    p->log_size = st.st_size;
    return 0;
}

/* qemu.log becomes qemu.log.1 (the older one goes) and a new one begins.
 * When that fails, QEMU's output is dropped rather than let grow. */
static int log_rotate(struct qemu_process *p, struct cerr *e)
{
    char *old = xasprintf("%s.1", p->log_path);
    int err = rename(p->log_path, old) < 0 ? errno : 0;

    free(old);
    if (p->log_fd >= 0)
        close(p->log_fd);
    p->log_fd = -1;
    p->log_start = 0;
    if (err != 0 && err != ENOENT) {
        cerr_set(e, CE_SYSTEM, "cannot rotate QEMU log %s; dropping QEMU's output: %s", p->log_path,
                 strerror(err));
        return -1;
    }
    return log_open(p, e);
}

/* Copies one read of what QEMU printed into the log, keeping it under
 * QEMU_LOG_MAX; with the log unwritable, the output is read and dropped all
 * the same so that QEMU's writes never fill the FIFO.  Returns whether
 * there may be more. */
static bool out_copy(struct qemu_process *p)
{
    char buf[16384];
    struct cerr e;
    ssize_t n;

    do
        n = read(p->out_fd, buf, sizeof(buf));
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        /* EOF: QEMU has closed its end; every byte is in the log. */
        if (n == 0 || errno != EAGAIN)
            event_del(p->out_ev);
        return false;
    }
    if (p->log_fd >= 0 && p->log_size + n > QEMU_LOG_MAX && log_rotate(p, &e) < 0)
        log_warn_code(cerr_name(e.code), "QEMU pid %ld: %s", (long)p->pid, e.msg);
    if (p->log_fd >= 0) {
        ssize_t w = write(p->log_fd, buf, (size_t)n);
        if (w < 0)
            log_warn("QEMU pid %ld: cannot write its log %s: %s", (long)p->pid, p->log_path,
                     strerror(errno));
        else
            p->log_size += w;
    }
    return true;
}

static void out_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    /* A few reads a turn: QEMU's chatter does not starve the monitor. */
    for (int i = 0; i < 8 && out_copy(arg); i++)
        ;
}

/* Reads QEMU's output from the FIFO out_path (non-blocking). */
static int out_watch(struct qemu_process *p, struct event_base *base, const char *out_path,
                     struct cerr *e)
{
    p->out_fd = open(out_path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (p->out_fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open QEMU's output %s: %s", out_path, strerror(errno));
        return -1;
    }
    p->out_ev = event_new(base, p->out_fd, EV_READ | EV_PERSIST, out_cb, p);
    if (p->out_ev == NULL || event_add(p->out_ev, NULL) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot watch QEMU's output %s", out_path);
        return -1;
    }
    return 0;
}

static void pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
    struct qemu_process *p = arg;
    siginfo_t si;
    struct qemu_exit ex = {0};

    (void)what;
    if (p->adopted) {
        /* Not our child: its status belongs to whoever reaps it. */
        ex.unknown = true;
    } else {
        memset(&si, 0, sizeof(si));
        if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0) {
            log_err("waitid on QEMU pid %ld failed: %s", (long)p->pid, strerror(errno));
            return;
        }
        if (si.si_pid == 0)
            return; /* spurious wakeup: still running */
        ex.signaled = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
        ex.code = si.si_status;
    }
    event_del(p->ev);
    /* What it printed last says why it ended: all of it into the log
     * first (what it wrote is in the FIFO, and it writes no more). */
    while (p->out_ev != NULL && out_copy(p))
        ;
    p->on_exit(&ex, p->arg);
}

int qemu_monitor_listen(const char *path, int *fd, int *name_fd, struct cerr *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    mode_t old;
    int rc;

    *fd = *name_fd = -1;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        cerr_set(e, CE_SYSTEM, "QEMU's monitor socket %s is longer than Unix sockets allow", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (unlink(path) < 0 && errno != ENOENT) {
        cerr_set(e, CE_SYSTEM, "cannot remove stale %s: %s", path, strerror(errno));
        return -1;
    }
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create QEMU's monitor socket %s: %s", path, strerror(errno));
        return -1;
    }
    /* For QEMU's uid alone from bind() on (this process has no threads). */
    old = umask(077);
    rc = bind(*fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(*fd, 1) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot listen on QEMU's monitor socket %s: %s", path,
                 strerror(errno));
        goto fail;
    }
    *name_fd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (*name_fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot duplicate QEMU's monitor socket %s: %s", path,
                 strerror(errno));
        goto fail;
    }
    return 0;
fail:
    close(*fd);
    *fd = -1;
    unlink(path);
    return -1;
}

/* In the child: every descriptor above stdio is closed at exec but those
 * of in, whatever flag they had.  A kernel or a container's filter without
 * CLOSE_RANGE_CLOEXEC leaves it to the O_CLOEXEC every descriptor of this
 * process is opened with.  Only async-signal-safe calls. */
static int child_inherit(const struct qemu_inputs *in)
{
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0 && errno != ENOSYS && errno != EPERM &&
        errno != EINVAL)
        return -1;
    if (in == NULL)
        return 0;
    if ((in->qmp_fd >= 0 && fcntl(in->qmp_fd, F_SETFD, 0) < 0) ||
        (in->qmp_name_fd >= 0 && fcntl(in->qmp_name_fd, F_SETFD, 0) < 0))
        return -1;
    for (size_t i = 0; i < in->ntap_fds; i++) {
        if (in->tap_fds[i] >= 0 && fcntl(in->tap_fds[i], F_SETFD, 0) < 0)
            return -1;
    }
    if (in->serial_fd >= 0 && fcntl(in->serial_fd, F_SETFD, 0) < 0)
        return -1;
    if (in->console_fd >= 0 && fcntl(in->console_fd, F_SETFD, 0) < 0)
        return -1;
    return 0;
}

/* The forked child: only async-signal-safe calls until exec. */
static void exec_child(const struct argv_list *argv, const struct qemu_inputs *in, int nullfd,
                       int outfd)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(nullfd, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
        _exit(127);
    if (child_inherit(in) < 0) {
        dprintf(2, "corral-supervisor: cannot pass QEMU its descriptors: %s\n", strerror(errno));
        _exit(127);
    }
    execv(argv->v[0], argv->v);
    dprintf(2, "corral-supervisor: cannot execute %s: %s\n", argv->v[0], strerror(errno));
    _exit(127);
}

int qemu_spawn(struct qemu_process *p, struct event_base *base, const struct argv_list *argv,
               const struct qemu_inputs *in, const char *log_path, const char *out_path,
               qemu_exit_cb on_exit, void *arg, struct cerr *e)
{
    int outfd = -1, nullfd = -1;
    pid_t pid;

    memset(p, 0, sizeof(*p));
    p->pidfd = p->out_fd = p->log_fd = -1;
    p->log_path = xstrdup(log_path);
    if (log_open(p, e) < 0 || (p->log_size >= QEMU_LOG_MAX && log_rotate(p, e) < 0))
        goto fail;
    p->log_start = p->log_size;
    if ((unlink(out_path) < 0 && errno != ENOENT) || mkfifo(out_path, 0600) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create QEMU's output FIFO %s: %s", out_path,
                 strerror(errno));
        goto fail;
    }
    if (out_watch(p, base, out_path, e) < 0)
        goto fail;
    /* Non-blocking for QEMU too: a supervisor that does not read in time
     * (or has died) costs QEMU its output, never a stall; the larger
     * buffer (best effort) keeps bursts. */
    outfd = open(out_path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (outfd >= 0 && fcntl(outfd, F_SETPIPE_SZ, QEMU_OUT_BUFFER) < 0)
        log_debug("cannot enlarge QEMU's output FIFO: %s", strerror(errno));
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (outfd < 0 || nullfd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot prepare QEMU's stdio: %s", strerror(errno));
        goto fail;
    }
    pid = fork();
    if (pid < 0) {
        cerr_set(e, CE_SYSTEM, "cannot fork QEMU: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0)
        exec_child(argv, in, nullfd, outfd);
    close(outfd);
    close(nullfd);
    p->pid = pid;
    p->on_exit = on_exit;
    p->arg = arg;
    p->pidfd = pidfd_open(pid, 0);
    if (p->pidfd < 0) {
        cerr_set(e, CE_SYSTEM, "pidfd_open for QEMU pid %ld failed: %s", (long)pid,
                 strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        qemu_process_release(p);
        return -1;
    }
    p->ev = event_new(base, p->pidfd, EV_READ | EV_PERSIST, pidfd_cb, p);
    if (p->ev == NULL || event_add(p->ev, NULL) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot watch QEMU pid %ld", (long)pid);
        pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
        waitpid(pid, NULL, 0);
        qemu_process_release(p);
        return -1;
    }
    return 0;
fail:
    if (outfd >= 0)
        close(outfd);
    if (nullfd >= 0)
        close(nullfd);
    qemu_process_release(p);
    return -1;
}

int qemu_adopt(struct qemu_process *p, struct event_base *base, pid_t pid, const char *qmp_path,
               const char *log_path, const char *out_path, qemu_exit_cb on_exit, void *arg,
               struct cerr *e)
{
    struct cerr oe;

    memset(p, 0, sizeof(*p));
    p->pidfd = p->out_fd = p->log_fd = -1;
    /* A recycled pid would not name this VM's monitor socket. */
    if (pid <= 0 || !procfs_cmdline_has(pid, qmp_path)) {
        cerr_set(e, CE_QEMU_FAILED, "pid %ld is not a QEMU serving %s", (long)pid, qmp_path);
        return -1;
    }
    p->pidfd = pidfd_open(pid, 0);
    if (p->pidfd < 0) {
        cerr_set(e, CE_QEMU_FAILED, "cannot watch QEMU pid %ld: %s", (long)pid, strerror(errno));
        return -1;
    }
    p->pid = pid;
    p->adopted = true;
    p->log_path = xstrdup(log_path);
    if (log_open(p, e) < 0) {
        qemu_process_release(p);
        return -1;
    }
    p->log_start = p->log_size;
    /* Without it (QEMU started before the output went through a FIFO),
     * QEMU's output is its own business. */
    if (out_watch(p, base, out_path, &oe) < 0)
        log_info("QEMU pid %ld: its output is not logged: %s", (long)pid, oe.msg);
    p->on_exit = on_exit;
    p->arg = arg;
    p->ev = event_new(base, p->pidfd, EV_READ | EV_PERSIST, pidfd_cb, p);
    if (p->ev == NULL || event_add(p->ev, NULL) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot watch QEMU pid %ld", (long)pid);
        qemu_process_release(p);
        return -1;
    }
    return 0;
}

int qemu_signal(struct qemu_process *p, int sig)
{
    if (p->pidfd < 0)
        return 0;
    if (pidfd_send_signal(p->pidfd, sig, NULL, 0) < 0 && errno != ESRCH) {
        log_err("cannot send signal %d to QEMU pid %ld: %s", sig, (long)p->pid, strerror(errno));
        return -1;
    }
    return 0;
}

char *qemu_log_tail(const struct qemu_process *p, size_t max)
{
    struct cerr e;
    size_t len = 0;
    char *all, *start, *out;

    all = file_read_all(p->log_path, 64 * 1024 * 1024, &len, &e);
    if (all == NULL)
        return xstrdup("(QEMU's log could not be read)");
    start = all + ((size_t)p->log_start <= len ? (size_t)p->log_start : 0);
    while (len > 0 && (all[len - 1] == '\n' || all[len - 1] == '\r'))
        all[--len] = '\0';
    if (strlen(start) > max)
        start += strlen(start) - max;
    for (char *c = start; *c != '\0'; c++) {
        if (*c == '\n')
            *c = ' ';
    }
    out = xstrdup(*start ? start : "(QEMU printed nothing)");
    free(all);
    return out;
}

void qemu_exit_describe(const struct qemu_exit *ex, char *buf, size_t len)
{
    if (ex->unknown)
        snprintf(buf, len, "ended (exit status unknown: not a child of this supervisor)");
    else if (ex->signaled)
        snprintf(buf, len, "killed by signal %d (%s)", ex->code, strsignal(ex->code));
    else
        snprintf(buf, len, "exited with status %d", ex->code);
}

void qemu_process_release(struct qemu_process *p)
{
    if (p->ev != NULL)
        event_free(p->ev);
    if (p->out_ev != NULL)
        event_free(p->out_ev);
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->log_fd >= 0)
        close(p->log_fd);
    free(p->log_path);
    p->ev = p->out_ev = NULL;
    p->pidfd = p->out_fd = p->log_fd = -1;
    p->log_path = NULL;
}
