/* systemd's readiness protocol (sd_notify(3)), written directly: one
 * datagram of "KEY=VALUE" lines to the socket NOTIFY_SOCKET names.  Outside
 * systemd (no NOTIFY_SOCKET) every call does nothing. */
#ifndef CORRAL_NOTIFY_H
#define CORRAL_NOTIFY_H

#include "common/error.h"

/* Takes NOTIFY_SOCKET out of the environment, so that no child (a
 * supervisor, QEMU) speaks for this process.  Before any notify_send. */
void notify_init(void);
/* Sends state ("READY=1\nSTATUS=..."); 0, or -1 and e. */
int notify_send(const char *state, struct cerr *e);

#endif
