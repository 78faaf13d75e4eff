#include "common/safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/names.h"

/* Names the component at fault (the path up to end) and, when it is not
 * the whole path, the path too. */
static int fail(struct cerr *e, const char *path, size_t end, const char *why)
{
    char prefix[PATH_MAX], shown[512], whole[512];

    snprintf(prefix, sizeof(prefix), "%.*s", (int)end, path);
    name_escape(prefix, shown, sizeof(shown));
    if (end >= strlen(path)) {
        cerr_set(e, CE_SYSTEM, "'%s' %s", shown, why);
        return -1;
    }
    name_escape(path, whole, sizeof(whole));
    cerr_set(e, CE_SYSTEM, "'%s': '%s' %s", whole, shown, why);
    return -1;
}

/* One component at a time from "/": each is opened O_PATH|O_NOFOLLOW, so a
 * symlink is opened as itself and refused, never followed. */
static int walk(const char *path, struct stat *st, struct cerr *e)
{
    size_t len = strlen(path), i = 1;
    int dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0 || fstat(dfd, st) < 0) {
        int saved = errno;
        if (dfd >= 0)
            close(dfd);
        return fail(e, "/", 1, strerror(saved));
    }
    while (i < len) {
        size_t start = i, n;
        char comp[NAME_MAX + 1];
        int fd;

        while (i < len && path[i] != '/')
            i++;
        n = i - start;
        while (i < len && path[i] == '/')
            i++;
        if (n == 0 || (n == 1 && path[start] == '.'))
            continue;
        if (n > NAME_MAX) {
            close(dfd);
            return fail(e, path, start + n, "has a component that is too long");
        }
        memcpy(comp, path + start, n);
        comp[n] = '\0';
        if (strcmp(comp, "..") == 0) {
            close(dfd);
            return fail(e, path, start + n, "goes up with '..'");
        }
        fd = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, st) < 0) {
            int saved = errno;
            if (fd >= 0)
                close(fd);
            close(dfd);
            return fail(e, path, start + n, saved == ENOENT ? "does not exist" : strerror(saved));
        }
        close(dfd);
        dfd = fd;
        if (i < len && S_ISLNK(st->st_mode)) {
            close(dfd);
            return fail(e, path, start + n, "is a symlink");
        }
        if (i < len && !S_ISDIR(st->st_mode)) {
            close(dfd);
            return fail(e, path, start + n, "is not a directory");
        }
    }
    return dfd;
}

int safe_open_path(const char *path, struct stat *st, struct cerr *e)
{
    struct open_how how = {
        .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd;

    if (path[0] != '/')
        return fail(e, path, strlen(path), "is not an absolute path");
    if (strlen(path) >= PATH_MAX)
        return fail(e, path, strlen(path), "is too long");
    /* '..' is refused before the kernel sees it: openat2 would resolve it. */
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) {
        if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
            return fail(e, path, (size_t)(p + 2 - path), "goes up with '..'");
    }
    fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
    if (fd >= 0) {
        if (fstat((int)fd, st) == 0)
            return (int)fd;
        close((int)fd);
    }
    /* Without openat2 (ENOSYS, or refused by a seccomp filter), and to name
     * the component at fault on any failure, the walk decides; both refuse
     * the same things. */
    return walk(path, st, e);
}

int safe_reopen(int pathfd, const struct stat *st, int flags, struct cerr *e)
{
    char proc[64];
    struct stat now;
    int fd;

    /* fchown and fchmod refuse an O_PATH fd (EBADF), and fchmodat has no
     * AT_EMPTY_PATH before Linux 6.6.  Opening /proc/self/fd/N follows the
     * magic link to the very inode pathfd holds, not to whatever a path
     * names now, so no rename or symlink swap can redirect it; one real fd
     * then serves fchown, fchmod and reads.  The caller has checked the type
     * on pathfd: a regular file, so the open neither blocks nor has side
     * effects. */
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
    fd = open(proc, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot reopen it through %s: %s", proc, strerror(errno));
        return -1;
    }
    if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
        cerr_set(e, CE_SYSTEM, "reopening it through %s found another file", proc);
        close(fd);
        return -1;
    }
    return fd;
}
