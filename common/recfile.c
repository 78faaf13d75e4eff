#include "common/recfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"

#define MAGIC "corral-record 1 "
/* MAGIC, the length in 10 digits, a space, the checksum in 16 hex digits,
 * a newline: fixed, so that a clear rewrites the header alone. */
#define HEADER_LEN (sizeof(MAGIC) - 1 + 10 + 1 + 16 + 1)

/* FNV-1a, 64 bits: enough to tell a torn record from a whole one. */
static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void format_header(char *out, size_t len, uint64_t sum)
{
    char buf[HEADER_LEN + 1];

    snprintf(buf, sizeof(buf), MAGIC "%010zu %016" PRIx64 "\n", len, sum);
    memcpy(out, buf, HEADER_LEN);
}

/* Opens path with flags (O_RDWR or O_RDONLY), creating it with create
 * (*created when this call did); -1 with e, or -2 when it is missing and
 * create is false.  Only a regular file: the file's owner shares its uid
 * with QEMU, which could plant a FIFO (a blocking open or read) or a
 * device there. */
static int open_record(const char *path, int flags, bool create, bool *created, struct cerr *e)
{
    const int common = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    int fd = open(path, flags | common);
    struct stat st;

    *created = false;
    if (fd < 0 && errno == ENOENT) {
        if (!create)
            return -2;
        fd = open(path, flags | common | O_CREAT | O_EXCL, 0600);
        *created = fd >= 0;
    }
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* A file this call created is made durable with its name whatever sync
 * says: later writes sync the file alone, which would not bring back a
 * name lost in a crash. */
static int finish(int fd, const char *path, bool sync, bool created, struct cerr *e)
{
    char *dir;
    int rc = 0;

    if (created) {
        if (fsync(fd) < 0) {
            cerr_set(e, CE_SYSTEM, "cannot sync %s: %s", path, strerror(errno));
            rc = -1;
        } else {
            dir = xstrdup(path);
            rc = dir_fsync(dirname(dir), e);
            free(dir);
        }
    } else if (sync && fdatasync(fd) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot sync %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (close(fd) < 0 && rc == 0) {
        cerr_set(e, CE_SYSTEM, "cannot close %s: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

int recfile_write(const char *path, const void *data, size_t len, bool sync, struct cerr *e)
{
    bool created;
    char *buf;
    int fd;

    if (len > 9999999999ULL) {
        cerr_set(e, CE_TOO_LARGE, "a record of %zu bytes does not fit %s", len, path);
        return -1;
    }
    fd = open_record(path, O_RDWR, true, &created, e);
    if (fd < 0)
        return -1;
    buf = xcalloc(1, HEADER_LEN + len);
    format_header(buf, len, checksum(data, len));
    memcpy(buf + HEADER_LEN, data, len);
    /* Freshly opened, the file's offset is 0: the record overwrites the
     * old one from the start. */
    if (file_write_all(fd, buf, HEADER_LEN + len) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot write %s: %s", path, strerror(errno));
        free(buf);
        close(fd);
        return -1;
    }
    free(buf);
    return finish(fd, path, sync, created, e);
}

int recfile_clear(const char *path, bool sync, struct cerr *e)
{
    char header[HEADER_LEN];
    bool created;
    int fd = open_record(path, O_RDWR, false, &created, e);

    if (fd < 0)
        return fd == -2 ? 0 : -1;
    format_header(header, 0, checksum(NULL, 0));
    if (file_write_all(fd, header, HEADER_LEN) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return finish(fd, path, sync, false, e);
}

/* The header field of width digits at h, in base; false when it is not
 * all digits. */
static bool header_field(const char *h, size_t width, int base, unsigned long long *v)
{
    char digits[17], *end;

    memcpy(digits, h, width);
    digits[width] = '\0';
    if (strspn(digits, base == 10 ? "0123456789" : "0123456789abcdef") != width)
        return false;
    errno = 0;
    *v = strtoull(digits, &end, base);
    return errno == 0 && *end == '\0';
}

/* The record of a framed file (fd, header read into h). */
static int read_framed(int fd, const char *path, const char *h, size_t max, char **out, size_t *len,
                       enum recfile_read *kind, struct cerr *e)
{
    const char *fields = h + sizeof(MAGIC) - 1;
    unsigned long long n, want;
    char *buf;
    ssize_t r;

    if (!header_field(fields, 10, 10, &n) || fields[10] != ' ' ||
        !header_field(fields + 11, 16, 16, &want) || h[HEADER_LEN - 1] != '\n') {
        *kind = RECFILE_TORN;
        return 0;
    }
    if (n == 0)
        return 0;
    if (n > max) {
        cerr_set(e, CE_TOO_LARGE, "%s holds a record of %llu bytes; at most %zu are read", path, n,
                 max);
        return -1;
    }
    buf = xcalloc(1, (size_t)n + 1);
    r = pread(fd, buf, (size_t)n, HEADER_LEN);
    if (r < 0) {
        cerr_set(e, CE_SYSTEM, "cannot read %s: %s", path, strerror(errno));
        free(buf);
        return -1;
    }
    if ((unsigned long long)r != n || checksum((unsigned char *)buf, (size_t)n) != want) {
        *kind = RECFILE_TORN;
        free(buf);
        return 0;
    }
    *out = buf;
    *len = (size_t)n;
    *kind = RECFILE_FOUND;
    return 0;
}

int recfile_read(const char *path, size_t max, char **out, size_t *len, enum recfile_read *kind,
                 struct cerr *e)
{
    char h[HEADER_LEN];
    bool created;
    ssize_t r;
    int fd, rc;

    *out = NULL;
    *len = 0;
    *kind = RECFILE_NONE;
    fd = open_record(path, O_RDONLY, false, &created, e);
    if (fd < 0)
        return fd == -2 ? 0 : -1;
    r = pread(fd, h, sizeof(h), 0);
    if (r < 0) {
        cerr_set(e, CE_SYSTEM, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if ((size_t)r >= sizeof(MAGIC) - 1 && memcmp(h, MAGIC, sizeof(MAGIC) - 1) == 0) {
        if ((size_t)r < HEADER_LEN) {
            *kind = RECFILE_TORN;
            rc = 0;
        } else
            rc = read_framed(fd, path, h, max, out, len, kind, e);
        close(fd);
        return rc;
    }
    if (r == 0) {
        close(fd);
        return 0;
    }
    /* Written whole by other means (an older corral): all of it counts;
     * fd's offset is still 0 (pread). */
    *out = file_read_fd(fd, path, max, len, e);
    if (*out == NULL)
        return -1;
    *kind = RECFILE_FOUND;
    return 0;
}
