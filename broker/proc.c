#include "broker/proc.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileutil.h"
#include "common/procfs.h"

bool proc_matches(pid_t pid, unsigned long long start, const char *needle)
{
    unsigned long long now = procfs_start_time(pid);

    if (pid <= 0 || now == 0 || (start != 0 && now != start))
        return false;
    return procfs_cmdline_has(pid, needle);
}

bool proc_is_supervisor(pid_t pid, unsigned long long start, const char *run_dir, bool *maintenance)
{
    unsigned long long now = procfs_start_time(pid);
    size_t len = 0;
    char *cmd;
    bool is_sup = false, ours = false;

    *maintenance = false;
    if (pid <= 0 || now == 0 || (start != 0 && now != start))
        return false;
    cmd = procfs_cmdline(pid, &len);
    if (cmd == NULL)
        return false;
    for (size_t off = 0; off < len; off += strlen(cmd + off) + 1) {
        const char *arg = cmd + off;
        const char *next = off + strlen(arg) + 1 < len ? arg + strlen(arg) + 1 : NULL;
        if (off == 0) {
            const char *base = strrchr(arg, '/');
            /* Installed or built, renamed or not: the name says what it is
             * and --run-dir whose it is. */
            is_sup = strstr(base ? base + 1 : arg, "corral-supervisor") != NULL;
        }
        if (strcmp(arg, "--run-dir") == 0 && next != NULL && strcmp(next, run_dir) == 0)
            ours = true;
        if (strcmp(arg, "--maintenance") == 0)
            *maintenance = true;
    }
    free(cmd);
    return is_sup && ours;
}

bool proc_confinement(pid_t pid, char *buf, size_t len)
{
    static const char *const keys[] = {
        "Uid:", "Gid:", "Groups:", "CapPrm:", "CapEff:", "CapBnd:", "NoNewPrivs:", "Seccomp:"};
    char *path = xasprintf("/proc/%ld/status", (long)pid);
    struct cerr e;
    char *status = file_read_all(path, 64 * 1024, NULL, &e);
    size_t off = 0;
    bool ok = status != NULL;

    free(path);
    if (len > 0)
        buf[0] = '\0';
    for (size_t i = 0; ok && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *line = status;
        size_t klen = strlen(keys[i]);
        /* Each key starts a line; its value runs to the end of it. */
        while (line != NULL && strncmp(line, keys[i], klen) != 0) {
            line = strchr(line, '\n');
            if (line != NULL)
                line++;
        }
        if (line == NULL)
            continue;
        const char *val = line + klen + strspn(line + klen, " \t");
        int n = (int)strcspn(val, "\n");
        int w = snprintf(buf + off, len - off, "%.*s %.*s\n", (int)klen, line, n, val);
        if (w < 0 || (size_t)w >= len - off)
            ok = false;
        else
            off += (size_t)w;
    }
    free(status);
    return ok;
}

bool pidfd_ended(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};

    /* A pidfd polls readable once its process has exited; an error means
     * there is nothing left to watch either. */
    return poll(&p, 1, 0) != 0;
}

void describe_exit(const siginfo_t *si, char *buf, size_t len)
{
    if (si->si_code == CLD_EXITED)
        snprintf(buf, len, "exited with status %d", si->si_status);
    else
        snprintf(buf, len, "killed by signal %d", si->si_status);
}
