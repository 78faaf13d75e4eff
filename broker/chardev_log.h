/* The <log file= append=> of a VM's serial port and virtio console: a file
 * its owner names, which the supervisor (the VM's uid) writes a copy of the
 * console output to.  The broker opens it at each start, as the owner would
 * and no more: in a child that has become the owner (uid, gid and groups),
 * through a directory found without following a symlink in any component
 * (common/safe_open.h), the file itself opened O_NOFOLLOW, write-only,
 * O_APPEND, created 0600 when missing.  Root creating it through a
 * directory fd and then fchown'ing it would have to re-implement the
 * owner's access checks; as the owner, the kernel applies her permissions,
 * ACLs, read-only mounts and sticky-directory rules, and a new file is
 * hers from its first instant.  O_APPEND for append='off' too: writes stay
 * at the end of a file its owner truncates meanwhile (logrotate's
 * copytruncate) instead of leaving a hole.  The broker then checks the descriptor
 * it got as disks are checked (disk_check_node: a regular file with one
 * link, the owner's unless the owner is an admin), truncates it only then
 * for append='off', and passes it to the supervisor (--log-fd).  Define
 * checks the same without creating or changing anything. */
#ifndef CORRAL_CHARDEV_LOG_H
#define CORRAL_CHARDEV_LOG_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/domain_xml.h"
#include "common/error.h"

/* How long the broker waits for the child opening a log as the owner (a
 * path on a hung network or FUSE filesystem must not hold the broker). */
#define CHARDEV_LOG_TIMEOUT_MS 5000

enum chardev_log_which { CHARDEV_LOG_SERIAL, CHARDEV_LOG_CONSOLE, CHARDEV_LOG_N };

struct chardev_logs {
    int fds[CHARDEV_LOG_N]; /* O_CLOEXEC, -1 when the device has no <log> */
};

/* "serial", "console": the name in --log-fd NAME=FD. */
const char *chardev_log_name(enum chardev_log_which which);
/* At define: may owner have def's logs?  Each must lie in a directory
 * owner can reach without a symlink, and be a file owner may write that
 * passes disk_check_node (any owner when any_owner), or be missing from a
 * directory owner may create it in.  Nothing is created or changed. */
int chardev_log_check(const struct domain_def *def, uid_t owner, bool any_owner, struct cerr *e);
/* At a start: opens def's logs as above, creating them, and truncates
 * those with append='off' unless keep (a supervisor re-adopting a running
 * QEMU continues this run's log).  On failure nothing stays open. */
int chardev_log_open_all(const struct domain_def *def, uid_t owner, bool any_owner, bool keep,
                         struct chardev_logs *out, struct cerr *e);
void chardev_log_close_all(struct chardev_logs *logs);

#endif
