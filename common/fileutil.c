#include "common/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        log_err("out of memory formatting a string");
        abort();
    }
    va_end(ap);
    return s;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL) {
        log_err("out of memory allocating %zu x %zu bytes", n, size);
        abort();
    }
    return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
    void *np = reallocarray(p, n ? n : 1, size ? size : 1);

    if (np == NULL) {
        log_err("out of memory growing an array to %zu x %zu bytes", n, size);
        abort();
    }
    return np;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL) {
        log_err("out of memory copying a string");
        abort();
    }
    return p;
}

bool path_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* fsync of dir, or with whole_fs a syncfs of the file system it is on. */
static int sync_dir(const char *dir, bool whole_fs, struct cerr *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if ((whole_fs ? syncfs(fd) : fsync(fd)) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot %s %s: %s",
                 whole_fs ? "sync the file system of" : "fsync directory", dir, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int dir_fsync(const char *dir, struct cerr *e)
{
    return sync_dir(dir, false, e);
}

int fs_sync(const char *dir, struct cerr *e)
{
    return sync_dir(dir, true, e);
}

int file_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int file_stage(const char *path, const void *data, size_t len, mode_t mode, char **tmp,
               struct cerr *e)
{
    int fd;

    *tmp = xasprintf("%s.tmp.XXXXXX", path);
    fd = mkostemp(*tmp, O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create temporary file for %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fchmod(fd, mode) < 0 || file_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot write %s: %s", *tmp, strerror(errno));
        close(fd);
        unlink(*tmp);
        goto fail;
    }
    if (close(fd) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot close %s: %s", *tmp, strerror(errno));
        unlink(*tmp);
        goto fail;
    }
    return 0;
fail:
    free(*tmp);
    *tmp = NULL;
    return -1;
}

/* Renames tmp to path, and with sync fsyncs path's directory; frees tmp. */
static int commit(char *tmp, const char *path, bool sync, struct cerr *e)
{
    char *dircopy = xstrdup(path);
    int rc = -1;

    if (rename(tmp, path) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
    } else
        rc = sync ? dir_fsync(dirname(dircopy), e) : 0;
    free(tmp);
    free(dircopy);
    return rc;
}

int file_commit(char *tmp, const char *path, struct cerr *e)
{
    return commit(tmp, path, true, e);
}

int file_commit_unsynced(char *tmp, const char *path, struct cerr *e)
{
    return commit(tmp, path, false, e);
}

void file_unstage(char *tmp)
{
    if (tmp != NULL && unlink(tmp) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", tmp, strerror(errno));
    free(tmp);
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct cerr *e)
{
    char *tmp;

    if (file_stage(path, data, len, mode, &tmp, e) < 0)
        return -1;
    return file_commit(tmp, path, e);
}

/* Creates path's temporary sibling (malloc'd into *tmp) holding data, not
 * yet synced. */
static int write_unsynced(const char *path, const void *data, size_t len, mode_t mode, char **tmp,
                          struct cerr *e)
{
    int fd;

    *tmp = xasprintf("%s.tmp.XXXXXX", path);
    fd = mkostemp(*tmp, O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create temporary file for %s: %s", path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    if (fchmod(fd, mode) < 0 || file_write_all(fd, data, len) < 0 || close(fd) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot write %s: %s", *tmp, strerror(errno));
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    return 0;
}

int file_replace(const char *path, const void *data, size_t len, mode_t mode, struct cerr *e)
{
    char *tmp;

    if (write_unsynced(path, data, len, mode, &tmp, e) < 0)
        return -1;
    if (rename(tmp, path) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int file_write_many(size_t n, char *const *paths, char *const *datas, const size_t *lens,
                    mode_t mode, struct cerr *e)
{
    char **tmps = xcalloc(n ? n : 1, sizeof(*tmps));
    char *copy = xstrdup(n ? paths[0] : ".");
    const char *dir = dirname(copy);
    size_t written = 0, renamed = 0;
    int rc = -1;

    while (written < n && write_unsynced(paths[written], datas[written], lens[written], mode,
                                         &tmps[written], e) == 0)
        written++;
    if (written < n || (n > 0 && sync_dir(dir, true, e) < 0))
        goto out;
    for (; renamed < n; renamed++)
        if (rename(tmps[renamed], paths[renamed]) < 0) {
            cerr_set(e, CE_SYSTEM, "cannot rename %s to %s: %s", tmps[renamed], paths[renamed],
                     strerror(errno));
            goto out;
        }
    rc = n > 0 ? dir_fsync(dir, e) : 0;
out:
    for (size_t i = 0; i < n; i++) {
        if (rc < 0 && i < renamed)
            unlink(paths[i]);
        else if (tmps[i] != NULL && i >= renamed)
            unlink(tmps[i]);
        free(tmps[i]);
    }
    free(tmps);
    free(copy);
    return rc;
}

char *file_read_fd(int fd, const char *name, size_t max, size_t *lenp, struct cerr *e)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    if (buf == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory reading %s", name);
        goto fail;
    }
    for (;;) {
        ssize_t n;

        if (len + 1 >= cap) {
            char *nb;
            if (cap > max + 1) {
                cerr_set(e, CE_TOO_LARGE, "%s is larger than the limit of %zu bytes", name, max);
                goto fail;
            }
            cap *= 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                cerr_set(e, CE_SYSTEM, "out of memory reading %s", name);
                goto fail;
            }
            buf = nb;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cerr_set(e, CE_SYSTEM, "cannot read %s: %s", name, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            cerr_set(e, CE_TOO_LARGE, "%s is larger than the limit of %zu bytes", name, max);
            goto fail;
        }
    }
    close(fd);
    buf[len] = '\0';
    if (lenp != NULL)
        *lenp = len;
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

char *file_read_all(const char *path, size_t max, size_t *lenp, struct cerr *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    return file_read_fd(fd, path, max, lenp, e);
}

char *file_read_untrusted(int dirfd, const char *name, size_t max, size_t *lenp, struct cerr *e)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open %s: %s", name, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot examine %s: %s", name, strerror(errno));
        close(fd);
        return NULL;
    }
    /* A FIFO or a device would block or do something on read. */
    if (!S_ISREG(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s is not a regular file", name);
        close(fd);
        return NULL;
    }
    if ((unsigned long long)st.st_size > max) {
        cerr_set(e, CE_TOO_LARGE, "%s is larger than the limit of %zu bytes", name, max);
        close(fd);
        return NULL;
    }
    return file_read_fd(fd, name, max, lenp, e);
}

int mkdir_p(const char *path, mode_t mode, struct cerr *e)
{
    char *copy = xstrdup(path);
    int rc = 0;

    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, mode) < 0 && errno != EEXIST) {
                cerr_set(e, CE_SYSTEM, "cannot create directory %s: %s", copy, strerror(errno));
                rc = -1;
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    return rc;
}

/* Deepest tree rm_rf descends into: a VM uid could nest directories to
 * exhaust the broker's descriptors or stack. */
#define RM_DEPTH_MAX 64

static int rm_at(int parent, const char *name, dev_t dev, int depth, const char *top,
                 struct cerr *e);

/* Empties the directory open as fd (consumed). */
static int rm_entries(int fd, dev_t dev, int depth, const char *top, struct cerr *e)
{
    int iter = dup(fd);
    DIR *d = iter >= 0 ? fdopendir(iter) : NULL;
    struct dirent *de;
    int rc = 0;

    if (d == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot read a directory under %s: %s", top, strerror(errno));
        if (iter >= 0)
            close(iter);
        close(fd);
        return -1;
    }
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            rc = rm_at(fd, de->d_name, dev, depth + 1, top, e);
    }
    if (rc == 0 && errno != 0) {
        cerr_set(e, CE_SYSTEM, "cannot read a directory under %s: %s", top, strerror(errno));
        rc = -1;
    }
    closedir(d);
    close(fd);
    return rc;
}

/* Removes name in parent; a directory is opened without following a link
 * and only on the tree's own file system, then emptied through its fd. */
static int rm_at(int parent, const char *name, dev_t dev, int depth, const char *top,
                 struct cerr *e)
{
    struct stat st;
    int fd;

    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        cerr_set(e, CE_SYSTEM, "cannot examine %s under %s: %s", name, top, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent, name, 0) < 0 && errno != ENOENT) {
            cerr_set(e, CE_SYSTEM, "cannot remove %s under %s: %s", name, top, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (depth > RM_DEPTH_MAX) {
        cerr_set(e, CE_SYSTEM, "%s is nested deeper than %d directories; not removed", top,
                 RM_DEPTH_MAX);
        return -1;
    }
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open directory %s under %s: %s", name, top, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot examine directory %s under %s: %s", name, top,
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (st.st_dev != dev) {
        cerr_set(e, CE_SYSTEM, "%s under %s is on another file system; not removed", name, top);
        close(fd);
        return -1;
    }
    if (rm_entries(fd, dev, depth, top, e) < 0)
        return -1;
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
        cerr_set(e, CE_SYSTEM, "cannot remove directory %s under %s: %s", name, top,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int rm_rf(const char *path, struct cerr *e)
{
    char *dircopy = xstrdup(path), *basecopy = xstrdup(path);
    const char *base = basename(basecopy);
    int parent = -1, rc = -1;
    struct stat top;

    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
        cerr_set(e, CE_SYSTEM, "refusing to remove %s", path);
        goto out;
    }
    parent = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent < 0 && errno != ENOENT) {
        cerr_set(e, CE_SYSTEM, "cannot open the directory of %s: %s", path, strerror(errno));
        goto out;
    }
    if (parent < 0 || fstatat(parent, base, &top, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            rc = 0;
        else
            cerr_set(e, CE_SYSTEM, "cannot examine %s: %s", path, strerror(errno));
        goto out;
    }
    /* The tree stays on the file system its top is on. */
    rc = rm_at(parent, base, top.st_dev, 0, path, e);
out:
    if (parent >= 0)
        close(parent);
    free(dircopy);
    free(basecopy);
    return rc;
}

int file_remove_durable(const char *path, struct cerr *e)
{
    char *dircopy;
    int rc;

    if (unlink(path) < 0) {
        if (errno == ENOENT)
            return 0;
        cerr_set(e, CE_SYSTEM, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    dircopy = xstrdup(path);
    rc = dir_fsync(dirname(dircopy), e);
    free(dircopy);
    return rc;
}

int file_remove_unsynced(const char *path, struct cerr *e)
{
    if (unlink(path) < 0 && errno != ENOENT) {
        cerr_set(e, CE_SYSTEM, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Whether a uid with no groups can traverse every directory down to path. */
bool path_reachable_by_others(const char *path, struct cerr *e)
{
    char *copy = xstrdup(path);
    bool ok = true;

    for (char *p = copy + strlen(copy); ok && p > copy; p = strrchr(copy, '/')) {
        struct stat st;
        *p = '\0';
        const char *dir = copy[0] ? copy : "/";
        if (stat(dir, &st) == 0 && !(st.st_mode & S_IXOTH)) {
            cerr_set(e, CE_SYSTEM, "%s is not searchable by other users", dir);
            ok = false;
        }
    }
    free(copy);
    return ok;
}
