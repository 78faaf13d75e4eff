#include "proto/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/rpc.h"

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

cJSON *domain_def_to_json(const struct domain_def *def)
{
    cJSON *o = json_obj(), *disks = json_arr();

    json_add_str(o, "name", def->name);
    json_add_str(o, "uuid", def->uuid);
    json_add_str(o, "virt", def->virt == DOMAIN_VIRT_KVM ? "kvm" : "qemu");
    json_add_num(o, "memory_kib", (double)def->memory_kib);
    json_add_num(o, "current_memory_kib", (double)def->current_memory_kib);
    json_add_num(o, "vcpus", def->vcpus);
    json_add_str(o, "arch", def->arch);
    json_add_str(o, "machine", def->machine);
    json_add_str(o, "emulator", def->emulator);
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        cJSON *dj = json_obj();
        json_add_str(dj, "target", d->target);
        json_add_str(dj, "source", d->source);
        json_add_str(dj, "format", d->format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
        json_add_bool(dj, "readonly", d->readonly);
        json_arr_add(disks, dj);
    }
    json_add(o, "disks", disks);
    return o;
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
        cerr_set(e, CE_SUPERVISOR, "cannot connect to %s: %s", what,
                 errno == EAGAIN ? "its listener is not accepting connections" : strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
