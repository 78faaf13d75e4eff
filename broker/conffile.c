#include "broker/conffile.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safe_open.h"

struct conffile_read {
    conffile_handler h;
    void *user;
    FILE *f;
    int line;       /* of what inih parses now */
    bool line_done; /* the last chunk read ended its line */
    bool too_long;  /* a line longer than inih's buffer */
    int err_line;   /* the first error is the one said */
    struct cerr e;
};

/* inih's reader: fgets that counts lines, so that errors name theirs. */
static char *read_line(char *buf, int size, void *stream)
{
    struct conffile_read *r = stream;
    char *got = fgets(buf, size, r->f);

    if (got == NULL)
        return NULL;
    if (r->line_done)
        r->line++;
    r->line_done = strchr(buf, '\n') != NULL || feof(r->f);
    /* inih would parse the rest of a long line as a line of its own. */
    if (!r->line_done && !r->too_long) {
        r->too_long = true;
        if (r->err_line == 0) {
            r->err_line = r->line;
            cerr_set(&r->e, CE_INVALID_PARAMS, "line longer than %d characters", size - 2);
        }
    }
    return got;
}

/* inih's handler: 1 to go on, 0 for an error at this line. */
static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct conffile_read *r = user;
    struct cerr e;

    if (section[0] != '\0') {
        cerr_set(&e, CE_INVALID_PARAMS, "[%s]: sections are not used: put every key before any",
                 section);
    } else if (r->h(key, value, r->user, &e) == 0) {
        return 1;
    }
    if (r->err_line == 0) {
        r->err_line = r->line;
        r->e = e;
    }
    return 0;
}

/* The file at path, as an fd to read, after the checks conffile_read
 * promises; -1 with e, and *missing when it does not exist. */
static int open_checked(const char *path, bool *missing, struct cerr *e)
{
    char abs[PATH_MAX], cwd[PATH_MAX];
    struct stat st;
    int pfd, fd;

    *missing = false;
    if (path[0] != '/') {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            cerr_set(e, CE_SYSTEM, "%s: cannot find the working directory: %s", path,
                     strerror(errno));
            return -1;
        }
        if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path) >= sizeof(abs)) {
            cerr_set(e, CE_SYSTEM, "%s: path too long", path);
            return -1;
        }
        path = abs;
    }
    if (lstat(path, &st) < 0 && errno == ENOENT) {
        *missing = true;
        cerr_set(e, CE_SYSTEM, "%s: no such file", path);
        return -1;
    }
    pfd = safe_open_path(path, &st, e);
    if (pfd < 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        cerr_set(e, CE_PERMISSION, "%s: %s: refused", path,
                 S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file");
        close(pfd);
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        cerr_set(e, CE_PERMISSION, "%s: owned by uid %lu, not root: refused", path,
                 (unsigned long)st.st_uid);
        close(pfd);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        cerr_set(e, CE_PERMISSION, "%s: writable by its group or others (mode %04o): refused", path,
                 (unsigned)(st.st_mode & 07777));
        close(pfd);
        return -1;
    }
    fd = safe_reopen(pfd, &st, O_RDONLY, e);
    close(pfd);
    return fd;
}

int conffile_read(const char *path, bool must_exist, conffile_handler h, void *user, struct cerr *e)
{
    struct conffile_read r = {.h = h, .user = user, .line_done = true};
    bool missing;
    FILE *f;
    int fd, line;

    fd = open_checked(path, &missing, e);
    if (fd < 0)
        return missing && !must_exist ? 0 : -1;
    f = fdopen(fd, "r");
    if (f == NULL) {
        cerr_set(e, CE_SYSTEM, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    r.f = f;
    line = ini_parse_stream(read_line, &r, on_key, &r);
    if (ferror(f)) {
        cerr_set(e, CE_SYSTEM, "%s: cannot read it: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    if (line == 0 && r.err_line == 0)
        return 0;
    if (line < 0)
        cerr_set(e, CE_SYSTEM, "%s: cannot parse it: out of memory", path);
    else if (r.err_line != 0 && (line == 0 || r.err_line <= line))
        cerr_set(e, CE_INVALID_PARAMS, "%s:%d: %s", path, r.err_line, r.e.msg);
    else
        cerr_set(e, CE_INVALID_PARAMS, "%s:%d: not \"key = value\"", path, line);
    return -1;
}
