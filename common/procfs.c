#include "common/procfs.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileutil.h"

#define CMDLINE_MAX (1024 * 1024)

unsigned long long procfs_start_time(pid_t pid)
{
    char *path = xasprintf("/proc/%ld/stat", (long)pid);
    struct cerr e;
    char *stat = pid > 0 ? file_read_all(path, 4096, NULL, &e) : NULL;
    /* The command name in parentheses may hold spaces and parentheses:
     * the fields start after the last ')'. */
    const char *p = stat ? strrchr(stat, ')') : NULL;
    unsigned long long start = 0;

    free(path);
    if (p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X') {
        /* Field 3 (the state) follows ") "; field 22 is 19 fields on. */
        p += 2;
        for (int field = 3; field < 22 && p != NULL; field++) {
            p = strchr(p, ' ');
            if (p != NULL)
                p++;
        }
        if (p != NULL)
            start = strtoull(p, NULL, 10);
    }
    free(stat);
    return start;
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
