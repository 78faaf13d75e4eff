/* Opening a path that someone else may control, as root: no symbolic link
 * in any component and no '..' is followed, so the object found is the one
 * the path names without redirection, and it is then used through its fd
 * only (the careful way of OpenSSH's and vmd's privileged parts). */
#ifndef CORRAL_SAFE_OPEN_H
#define CORRAL_SAFE_OPEN_H

#include <sys/stat.h>

#include "common/error.h"

/* Opens the absolute path as an O_PATH|O_CLOEXEC fd of the final object,
 * which may itself be a symlink (st says so: callers check the type).
 * Returns the fd and fills *st, or -1 with e saying which component and
 * why ("'/a/b' is a symlink", "'/a/b/c' does not exist"). */
int safe_open_path(const char *path, struct stat *st, struct cerr *e);
/* Opens the very object pathfd refers to with flags (O_RDONLY, ...) and
 * checks it is still the (st_dev, st_ino) of st: a real fd to read it or
 * change its owner and mode.  Returns the fd or -1 with e set. */
int safe_reopen(int pathfd, const struct stat *st, int flags, struct cerr *e);

#endif
