#include "broker/reaper.h"

#include "broker/proc.h"
#include "broker/spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "common/log.h"

static bool reap_orphan(struct broker *b, pid_t pid)
{
    struct bvm *vm = NULL;
    char how[64];
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) {
        log_err("cannot reap pid %ld: %s", (long)pid,
                si.si_pid == 0 ? "it has not exited" : strerror(errno));
        return false;
    }
    describe_exit(&si, how, sizeof(how));
    for (vm = b->vms; vm != NULL && vm->qemu_pid != pid; vm = vm->next)
        ;
    if (vm != NULL) {
        /* For the reason the VM settles with: only the broker knows it. */
        snprintf(vm->qemu_exit, sizeof(vm->qemu_exit), "%s", how);
        log_info("reaped orphaned process pid %ld (QEMU of VM %s): %s", (long)pid, vm->def->name,
                 how);
    } else
        log_info("reaped orphaned process pid %ld: %s", (long)pid, how);
    return true;
}

static void sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct broker *b = arg;

    (void)sig;
    (void)what;
    /* Signals merge: every child that has exited is looked at, and left in
     * place (WNOWAIT) until whoever owns it reaps it. */
    for (;;) {
        struct bvm *vm;
        siginfo_t si;

        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
            if (errno == EINTR)
                continue;
            if (errno != ECHILD)
                log_err("waitid: %s", strerror(errno));
            return;
        }
        if (si.si_pid == 0)
            return;
        for (vm = b->vms; vm != NULL; vm = vm->next) {
            if (vm->sup_is_child && vm->sup_pidfd >= 0 && vm->sup_pid == si.si_pid)
                break;
        }
        /* Its own exit path reaps a supervisor; anything else is reaped
         * here, and a child that cannot be reaped ends the loop rather
         * than spin on it. */
        if (vm != NULL && spawn_reap(vm))
            continue;
        if (!reap_orphan(b, si.si_pid))
            return;
    }
}

int reaper_init(struct broker *b, struct cerr *e)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot become a child subreaper: %s", strerror(errno));
        return -1;
    }
    b->sigchld = evsignal_new(b->base, SIGCHLD, sigchld_cb, b);
    if (b->sigchld == NULL || evsignal_add(b->sigchld, NULL) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot handle SIGCHLD");
        return -1;
    }
    return 0;
}

void reaper_free(struct broker *b)
{
    if (b->sigchld != NULL)
        event_free(b->sigchld);
    b->sigchld = NULL;
}
