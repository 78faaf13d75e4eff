#include "common/procfs.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileutil.h"

#define CMDLINE_MAX (1024 * 1024)

/* /proc/PID/stat of a live process, malloc'd; NULL when gone. */
static char *read_stat(pid_t pid)
{
    char *path = xasprintf("/proc/%ld/stat", (long)pid);
    struct cerr e;
    char *stat = pid > 0 ? file_read_all(path, 4096, NULL, &e) : NULL;

    free(path);
    return stat;
}

/* Field n (1-based, n >= 3) of stat, or NULL for a zombie or a short
 * line.  The command name in parentheses may hold spaces and parentheses:
 * the fields start after the last ')'. */
static const char *stat_field(const char *stat, int n)
{
    const char *p = stat ? strrchr(stat, ')') : NULL;

    if (p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return NULL;
    /* Field 3 (the state) follows ") ". */
    p += 2;
    for (int field = 3; field < n && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    return p;
}

unsigned long long procfs_start_time(pid_t pid)
{
    char *stat = read_stat(pid);
    const char *p = stat_field(stat, 22);
    unsigned long long start = p != NULL ? strtoull(p, NULL, 10) : 0;

    free(stat);
    return start;
}

bool procfs_cpu_ticks(pid_t pid, unsigned long long *user, unsigned long long *sys)
{
    char *stat = read_stat(pid);
    const char *u = stat_field(stat, 14), *s = stat_field(stat, 15);
    bool ok = u != NULL && s != NULL;

    if (ok) {
        *user = strtoull(u, NULL, 10);
        *sys = strtoull(s, NULL, 10);
    }
    free(stat);
    return ok;
}

char *procfs_cmdline(pid_t pid, size_t *len)
{
    char *path = xasprintf("/proc/%ld/cmdline", (long)pid);
    struct cerr e;
    char *cmd = pid > 0 ? file_read_all(path, CMDLINE_MAX, len, &e) : NULL;

    free(path);
    return cmd;
}

bool procfs_cmdline_has(pid_t pid, const char *needle)
{
    size_t len = 0;
    char *cmd = procfs_cmdline(pid, &len);
    bool found = false;

    if (cmd == NULL)
        return false;
    for (size_t off = 0; off < len && !found; off += strlen(cmd + off) + 1)
        found = strstr(cmd + off, needle) != NULL;
    free(cmd);
    return found;
}
