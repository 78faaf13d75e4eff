#include "common/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

int dir_fsync(const char *dir, struct cerr *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (fsync(fd) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot fsync directory %s: %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
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

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct cerr *e)
{
    char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    char *dircopy = xstrdup(path);
    int fd, rc = -1;

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create temporary file for %s: %s", path, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot close %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = dir_fsync(dirname(dircopy), e);
out:
    free(tmp);
    free(dircopy);
    return rc;
}

char *file_read_all(const char *path, size_t max, size_t *lenp, struct cerr *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    size_t cap = 4096, len = 0;
    char *buf;

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory reading %s", path);
        close(fd);
        return NULL;
    }
    for (;;) {
        ssize_t n;

        if (len + 1 >= cap) {
            char *nb;
            if (cap > max + 1) {
                cerr_set(e, CE_TOO_LARGE, "%s is larger than the limit of %zu bytes", path, max);
                goto fail;
            }
            cap *= 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                cerr_set(e, CE_SYSTEM, "out of memory reading %s", path);
                goto fail;
            }
            buf = nb;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cerr_set(e, CE_SYSTEM, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            cerr_set(e, CE_TOO_LARGE, "%s is larger than the limit of %zu bytes", path, max);
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

static int rm_one(const char *fpath, const struct stat *sb, int typeflag, struct FTW *ftwbuf)
{
    (void)sb;
    (void)ftwbuf;
    if (typeflag == FTW_DP)
        return rmdir(fpath) < 0 ? -1 : 0;
    return unlink(fpath) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_rf(const char *path, struct cerr *e)
{
    if (!path_exists(path))
        return 0;
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
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
