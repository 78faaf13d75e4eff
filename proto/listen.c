#include "proto/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int still_served(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0)
        return 0;
    rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    close(fd);
    return rc;
}

int unix_listen(const char *path, mode_t mode, struct cerr *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    mode_t old;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        cerr_set(e, CE_SYSTEM, "socket path %s is longer than the %zu bytes Unix sockets allow",
                 path, sizeof(sa.sun_path) - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            cerr_set(e, CE_SYSTEM, "%s exists and is not a socket", path);
            return -1;
        }
        if (still_served(&sa)) {
            cerr_set(e, CE_BUSY, "%s is in use by another running server", path);
            return -1;
        }
        if (unlink(path) < 0) {
            cerr_set(e, CE_SYSTEM, "cannot remove stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create socket %s: %s", path, strerror(errno));
        return -1;
    }
    /* The umask makes the socket file get its final mode atomically at
     * bind(): no window where it is more open than intended. */
    old = umask((mode_t)~mode & 0777);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        umask(old);
        cerr_set(e, CE_SYSTEM, "cannot bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    umask(old);
    if (listen(fd, 64) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

int unix_connect(const char *path, struct cerr *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        cerr_set(e, CE_SYSTEM, "socket path %s is too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        cerr_set(e, CE_SUPERVISOR, "cannot connect to %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int unix_connect_opened(int pathfd, const char *what, struct cerr *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    /* The magic link names the socket inode pathfd holds: nothing of the
     * path it was opened by is looked up again, and the name fits. */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pathfd);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    /* A Unix stream connect completes at once or fails (EAGAIN: the
     * listener's backlog is full); non-blocking, it never waits. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;

        cerr_set(e, CE_SUPERVISOR, "cannot connect to %s: %s", what,
                 err == EAGAIN ? "its listener is not accepting connections" : strerror(err));
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}
