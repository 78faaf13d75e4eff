/* The one place corralctl's connection comes from: a stream socket that is
 * either the server's Unix socket or a socketpair to an ssh child running
 * `corralctl proxy` on the far host.  The verbs see only the socket. */
#ifndef CORRAL_CTL_CONNECT_H
#define CORRAL_CTL_CONNECT_H

#include <sys/types.h>

#include "common/error.h"
#include "proto/corralctl/uri.h"

/* How long ctl_link_close lets ssh finish after the socket is closed (it
 * tells the far side, which ends the proxy) before ending it. */
#define CTL_SSH_EXIT_WAIT_MS 5000

struct ctl_link {
    int fd;      /* the stream; -1 once closed or taken by the caller */
    pid_t ssh;   /* the ssh child, or -1 */
    int ssh_err; /* an anonymous file holding ssh's stderr, or -1 */
};

/* Opens the connection u names into l.  Returns 0, or -1 with e set (a
 * Unix socket that cannot be reached, ssh that cannot be run).  Over ssh,
 * a far host that cannot be reached shows only once the stream closes. */
int ctl_link_open(const struct ctl_uri *u, struct ctl_link *l, struct cerr *e);
/* The Unix socket at path, as a unix:// URI. */
int ctl_link_unix(const char *path, struct ctl_link *l, struct cerr *e);
/* Closes l's stream unless taken, reaps ssh (ended with SIGTERM after
 * CTL_SSH_EXIT_WAIT_MS) and returns what ssh wrote on its stderr, at most
 * its last 4 KiB, malloc'd, or NULL when it wrote nothing; *exit_status is
 * ssh's exit status (255: ssh's own failure, else the proxy's), -1 when
 * killed by a signal or when there was no ssh. */
char *ctl_link_close(struct ctl_link *l, int *exit_status);

#endif
