/* What /proc says about a process: whether a pid from a run record, or one
 * found by scanning, still is the process the broker thinks it is.  A pid
 * alone proves nothing (it may have been reused); its start time and its
 * command line together do. */
#ifndef CORRAL_PROC_H
#define CORRAL_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whether pid is alive, started at start (unless start is 0) and has an
 * argument holding needle. */
bool proc_matches(pid_t pid, unsigned long long start, const char *needle);
/* Whether pid is a live corral-supervisor serving run_dir (exactly), that
 * started at start (unless 0); *maintenance says whether it is a
 * maintenance one. */
bool proc_is_supervisor(pid_t pid, unsigned long long start, const char *run_dir,
                        bool *maintenance);
/* What confines pid as the kernel reports it (/proc/PID/status: ids,
 * groups, capability sets, NoNewPrivs, Seccomp), as "key: value" lines
 * into buf; false when pid is gone or buf is too small. */
bool proc_confinement(pid_t pid, char *buf, size_t len);
/* Whether the process behind pidfd has ended (exited, zombie or reaped). */
bool pidfd_ended(int pidfd);
/* "exited with status N" or "killed by signal N", from a waitid result. */
void describe_exit(const siginfo_t *si, char *buf, size_t len);

#endif
