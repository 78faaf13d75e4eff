/* What /proc says about one process, for both sides of a run record: the
 * supervisor writes its own and QEMU's start times, the broker compares
 * them with what it finds.  A pid alone proves nothing (it may have been
 * reused); with its start time, or its command line, it names a process. */
#ifndef CORRAL_PROCFS_H
#define CORRAL_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* pid's start time (field 22 of /proc/PID/stat, clock ticks since boot),
 * or 0 when it is unreadable, gone or a zombie. */
unsigned long long procfs_start_time(pid_t pid);
/* The CPU time pid has used in user and in system mode (fields 14 and 15,
 * clock ticks); false when it is unreadable, gone or a zombie. */
bool procfs_cpu_ticks(pid_t pid, unsigned long long *user, unsigned long long *sys);
/* pid's command line, its arguments NUL-separated, *len bytes; NULL when
 * unreadable.  Caller frees. */
char *procfs_cmdline(pid_t pid, size_t *len);
/* Whether one argument of pid's command line holds needle. */
bool procfs_cmdline_has(pid_t pid, const char *needle);

#endif
