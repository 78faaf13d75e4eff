/* The QEMU child process: spawning it with its output captured in a log,
 * watching it through a pidfd, signalling it, and describing how it ended. */
#ifndef CORRAL_QEMU_PROCESS_H
#define CORRAL_QEMU_PROCESS_H

#include <event2/event.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "supervisor/qemu_cmdline.h"

struct qemu_exit {
    bool unknown; /* an adopted QEMU: nobody told this process its status */
    bool signaled;
    int code; /* exit status, or the signal number */
};

/* Called once when QEMU has ended and been reaped. */
typedef void (*qemu_exit_cb)(const struct qemu_exit *ex, void *arg);

/* Largest qemu.log: one more than that goes to qemu.log.1, replacing the
 * previous one, and a new qemu.log is begun. */
#define QEMU_LOG_MAX (1024 * 1024)

struct qemu_process {
    pid_t pid;
    int pidfd;
    struct event *ev;
    char *log_path;
    off_t log_start; /* log size before this QEMU started */
    /* QEMU's stdout and stderr reach the log through a FIFO in the run
     * directory that this process reads, so that the log stays capped
     * and a later supervisor can take the reading over. */
    int out_fd, log_fd;
    off_t log_size;
    struct event *out_ev;
    bool adopted; /* started by an earlier supervisor: not our child */
    qemu_exit_cb on_exit;
    void *arg;
};

/* QEMU's monitor socket, made by this process so that it can connect
 * before QEMU even runs (QEMU 7.2 takes tens of ms to get to its accept):
 * *fd listens at path, replacing whatever stale socket was there, and
 * *name_fd is a second descriptor of it (qemu_inputs: qmp_fd and
 * qmp_name_fd).  Both close-on-exec; the caller closes them once QEMU
 * holds them. */
int qemu_monitor_listen(const char *path, int *fd, int *name_fd, struct cerr *e);
/* Starts argv with stdin on /dev/null and stdout/stderr going through the
 * FIFO out_path (created) into log_path, which is rotated first when it
 * has reached QEMU_LOG_MAX.  QEMU inherits exactly the descriptors in (its
 * monitor, tap, serial and console fds; in may be NULL) besides its stdio,
 * at their numbers.  p is caller-owned storage. */
int qemu_spawn(struct qemu_process *p, struct event_base *base, const struct argv_list *argv,
               const struct qemu_inputs *in, const char *log_path, const char *out_path,
               qemu_exit_cb on_exit, void *arg, struct cerr *e);
/* Watches QEMU pid, started by an earlier supervisor of the VM: it must be
 * the process serving qmp_path.  Its end is reported with ex->unknown.
 * Its output is logged again from out_path, when that FIFO exists. */
int qemu_adopt(struct qemu_process *p, struct event_base *base, pid_t pid, const char *qmp_path,
               const char *log_path, const char *out_path, qemu_exit_cb on_exit, void *arg,
               struct cerr *e);
/* Sends sig through the pidfd; a process already gone is not an error. */
int qemu_signal(struct qemu_process *p, int sig);
/* What QEMU wrote to its log since it started, last lines first trimmed to
 * at most max bytes; malloc'd, caller frees. */
char *qemu_log_tail(const struct qemu_process *p, size_t max);
/* Human description: "exited with status 1", "killed by signal 9". */
void qemu_exit_describe(const struct qemu_exit *ex, char *buf, size_t len);
void qemu_process_release(struct qemu_process *p);

#endif
