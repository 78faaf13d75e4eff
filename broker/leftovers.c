/* What no VM owns under this broker's run directory: run directories of
 * VMs that are not defined (any more), and supervisors and QEMUs nobody
 * manages (a supervisor killed during its start-up before it wrote its
 * run record, a maintenance QEMU whose supervisor died).  They hold disks
 * and sockets, so they go.  Processes are recognised by their command
 * line naming RUN/vm/NAME; nothing outside this run directory is touched. */
#include "broker/leftovers.h"

#include "broker/proc.h"
#include "broker/vm_dirs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/runrec.h"
#include "common/procfs.h"
#include "common/json.h"

/* The VM directory (RUN/vm/NAME) an argument names, if it names one under
 * vmdir (RUN/vm/) and, when file is given, that file in it. */
static char *vm_dir_in(const char *arg, const char *vmdir, const char *file)
{
    const char *p = strstr(arg, vmdir);
    const char *name, *slash;

    /* The whole path or a QEMU option's value (path=...), not the tail of
     * another directory's path. */
    if (p == NULL || (p != arg && p[-1] != '=' && p[-1] != ','))
        return NULL;
    name = p + strlen(vmdir);
    slash = strchr(name, '/');
    if (file != NULL && (slash == NULL || strncmp(slash + 1, file, strlen(file)) != 0))
        return NULL;
    if (slash == NULL)
        slash = name + strlen(name);
    if (slash == name)
        return NULL;
    return xasprintf("%.*s", (int)(slash - p), p);
}

/* Which VM directory of this broker pid serves, if it is a supervisor or
 * a QEMU: *what says which. */
static char *served_dir(pid_t pid, const char *vmdir, const char **what)
{
    size_t len = 0;
    char *cmd = procfs_cmdline(pid, &len);
    char *dir = NULL;

    if (cmd == NULL || len == 0) {
        free(cmd);
        return NULL;
    }
    const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
    bool sup = strstr(base, "corral-supervisor") != NULL;
    bool qemu = strncmp(base, "qemu-system-", 12) == 0;
    for (size_t off = strlen(cmd) + 1; off < len && dir == NULL && (sup || qemu);
         off += strlen(cmd + off) + 1) {
        const char *arg = cmd + off;
        if (sup && strcmp(arg, "--run-dir") == 0 && off + strlen(arg) + 1 < len) {
            const char *val = arg + strlen(arg) + 1;
            char *d = vm_dir_in(val, vmdir, NULL);
            /* Exactly RUN/vm/NAME, not a path that merely contains it. */
            if (d != NULL && strcmp(d, val) == 0)
                dir = d;
            else
                free(d);
        } else if (qemu)
            dir = vm_dir_in(arg, vmdir, "qmp.sock");
    }
    *what = sup ? "supervisor" : "QEMU";
    free(cmd);
    return dir;
}

static bool known_pid(const struct broker *b, pid_t pid)
{
    for (const struct bvm *vm = b->vms; vm != NULL; vm = vm->next) {
        if (vm->sup_pid == pid || vm->qemu_pid == pid)
            return true;
    }
    return false;
}

/* Killed through a pidfd taken before the last look at its identity, so
 * that a pid reused in between is not hit. */
static void kill_verified(pid_t pid, unsigned long long start, const char *what, const char *dir,
                          const char *why)
{
    int pidfd = pidfd_open(pid, 0);

    if (pidfd < 0) {
        if (errno != ESRCH)
            log_err("cannot take hold of leftover %s pid %ld of %s: %s", what, (long)pid, dir,
                    strerror(errno));
        return;
    }
    if (procfs_start_time(pid) != start)
        log_debug("pid %ld ended before it could be killed", (long)pid);
    else if (pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0)
        log_err("cannot kill leftover %s pid %ld of %s: %s", what, (long)pid, dir, strerror(errno));
    else
        log_warn("killed leftover %s pid %ld of %s: %s", what, (long)pid, dir, why);
    close(pidfd);
}

/* only: one VM directory, whatever runs there; NULL: every VM directory,
 * sparing the processes a VM owns. */
static void kill_strays(struct broker *b, const char *only)
{
    char *vmdir = xasprintf("%s/vm/", b->run_dir);
    DIR *d = opendir("/proc");
    struct dirent *de;

    if (d == NULL) {
        log_err("cannot look for leftover processes in /proc: %s", strerror(errno));
        free(vmdir);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char *end;
        long n = strtol(de->d_name, &end, 10);
        pid_t pid = (pid_t)n;
        const char *what = NULL;
        unsigned long long start;
        char *dir;

        if (*end != '\0' || n <= 0 || pid == getpid() || (only == NULL && known_pid(b, pid)))
            continue;
        start = procfs_start_time(pid);
        dir = start != 0 ? served_dir(pid, vmdir, &what) : NULL;
        if (dir != NULL && (only == NULL || strcmp(dir, only) == 0))
            kill_verified(pid, start, what, dir,
                          only != NULL ? "its supervisor died during start-up"
                                       : "no VM of this broker manages it");
        free(dir);
    }
    closedir(d);
    free(vmdir);
}

void leftovers_kill_vm(struct broker *b, const char *run_dir)
{
    kill_strays(b, run_dir);
}

/* A run directory no VM owns: what its record names goes, if it still is
 * what the record says, then the directory. */
static void clean_dir(const char *dir, const char *name)
{
    char *qmp = xasprintf("%s/qmp.sock", dir);
    struct cerr re;
    /* Written by the supervisor, as the VM's uid. */
    cJSON *rec = vm_dirs_read_json(dir, RUNREC_RUN_FILE, RUNREC_MAX, &re);
    struct runrec_run r;
    bool maint;
    struct cerr e;

    runrec_run_parse(rec, &r);
    if (proc_is_supervisor(r.supervisor_pid, r.supervisor_start, dir, &maint))
        kill_verified(r.supervisor_pid,
                      r.supervisor_start ? r.supervisor_start : procfs_start_time(r.supervisor_pid),
                      "supervisor", dir, "its VM is not defined");
    if (proc_matches(r.qemu_pid, r.qemu_start, qmp))
        kill_verified(r.qemu_pid, r.qemu_start ? r.qemu_start : procfs_start_time(r.qemu_pid),
                      "QEMU", dir, "its VM is not defined");
    if (rm_rf(dir, &e) < 0)
        log_err_code(cerr_name(e.code), "%s", e.msg);
    else
        log_warn("removed run directory %s: no VM named %s is defined", dir, name);
    cJSON_Delete(rec);
    free(qmp);
}

void leftovers_clean(struct broker *b)
{
    char *vmdir = xasprintf("%s/vm", b->run_dir);
    DIR *d = opendir(vmdir);
    struct dirent *de;

    if (d == NULL && errno != ENOENT)
        log_err("cannot read %s: %s", vmdir, strerror(errno));
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            registry_find(b, de->d_name) != NULL)
            continue;
        char *dir = xasprintf("%s/%s", vmdir, de->d_name);
        clean_dir(dir, de->d_name);
        free(dir);
    }
    if (d != NULL)
        closedir(d);
    free(vmdir);
    kill_strays(b, NULL);
}
