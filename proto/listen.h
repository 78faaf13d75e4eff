/* Listening Unix sockets shared by the broker and the supervisor. */
#ifndef CORRAL_LISTEN_H
#define CORRAL_LISTEN_H

#include <sys/types.h>

#include "common/error.h"

/* Binds and listens on path with the given mode.  A stale socket left by a
 * dead server is replaced; one that still answers is an error (CE_BUSY).
 * Returns a non-blocking, close-on-exec fd. */
int unix_listen(const char *path, mode_t mode, struct cerr *e);

/* Connects to a listening Unix socket; returns a close-on-exec fd. */
int unix_connect(const char *path, struct cerr *e);

/* Connects without blocking to the Unix socket pathfd holds (an O_PATH
 * fd the caller opened and checked); what names it in errors.  Returns a
 * non-blocking, close-on-exec fd; the caller checks the peer.  On failure
 * errno says why (ECONNREFUSED: nobody listens there). */
int unix_connect_opened(int pathfd, const char *what, struct cerr *e);

#endif
