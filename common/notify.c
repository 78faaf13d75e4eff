#include "common/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un notify_addr;
static socklen_t notify_len;

void notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t n;

    notify_len = 0;
    if (path == NULL)
        return;
    n = strlen(path);
    /* A path, or an abstract name written with a leading '@'. */
    if ((path[0] == '/' || path[0] == '@') && n >= 2 && n < sizeof(notify_addr.sun_path)) {
        notify_addr.sun_family = AF_UNIX;
        memcpy(notify_addr.sun_path, path, n);
        if (path[0] == '@')
            notify_addr.sun_path[0] = '\0';
        notify_len =
            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
    }
    unsetenv("NOTIFY_SOCKET");
}

int notify_send(const char *state, struct cerr *e)
{
    int fd, saved;
    ssize_t n;

    if (notify_len == 0)
        return 0;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create a socket to notify systemd: %s", strerror(errno));
        return -1;
    }
    /* Non-blocking: a manager that does not read must not stall the
     * loop; the failure is the caller's to log. */
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&notify_addr, notify_len);
    saved = errno;
    close(fd);
    if (n < 0) {
        cerr_set(e, CE_SYSTEM, "cannot notify systemd (%s): %s", state, strerror(saved));
        return -1;
    }
    return 0;
}
