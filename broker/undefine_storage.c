#include "broker/undefine_storage.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/safe_open.h"

/* The caller's primary group, for the directory's group permission. */
static int caller_gid(uid_t caller, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (caller == 0) {
        *gid = 0;
        return 0;
    }
    if (getpwuid_r(caller, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
        return -1;
    *gid = pw.pw_gid;
    return 0;
}

/* unlinkat(dfd, base) with the caller's file-system identity: a
 * non-zero fsuid has no CAP_DAC_OVERRIDE or CAP_FOWNER, so the
 * directory's permissions and its sticky bit apply as to the caller. */
static int unlink_as(int dfd, const char *base, uid_t caller, gid_t gid, char *why, size_t n)
{
    int rc, err;

    setfsgid(gid);
    setfsuid(caller);
    if ((uid_t)setfsuid((uid_t)-1) != caller || (gid_t)setfsgid((gid_t)-1) != gid) {
        setfsuid(0);
        setfsgid(0);
        snprintf(why, n, "cannot take uid %ld's file-system identity", (long)caller);
        return -1;
    }
    rc = unlinkat(dfd, base, 0);
    err = errno;
    setfsuid(0);
    setfsgid(0);
    if (rc < 0)
        snprintf(why, n, "cannot remove it: %s", strerror(err));
    return rc;
}

/* 0 when removed; -1 with why. */
static int remove_image(const char *source, uid_t caller, char *why, size_t n)
{
    char *dir = xstrdup(source), *slash = strrchr(dir, '/');
    const char *base = slash != NULL ? slash + 1 : "";
    struct stat st;
    struct cerr e;
    gid_t gid;
    int dfd = -1, rc = -1;

    if (slash == NULL || *base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        snprintf(why, n, "not a path to a file");
        goto out;
    }
    *slash = '\0';
    dfd = safe_open_path(*dir != '\0' ? dir : "/", &st, &e);
    if (dfd < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, n, "%.400s",
                 dfd < 0               ? e.msg
                 : S_ISLNK(st.st_mode) ? "its directory is a symbolic link"
                                       : "its directory is not a directory");
        goto out;
    }
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        snprintf(why, n, "%s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(why, n, "not a regular file (a symbolic link or a device is never removed)");
    else if (st.st_nlink != 1)
        snprintf(why, n, "it has %lu links", (unsigned long)st.st_nlink);
    else if (st.st_uid != caller)
        snprintf(why, n, "owned by uid %ld, not by the caller (uid %ld)", (long)st.st_uid,
                 (long)caller);
    else if (caller_gid(caller, &gid) < 0)
        snprintf(why, n, "uid %ld has no passwd entry", (long)caller);
    else
        rc = unlink_as(dfd, base, caller, gid, why, n);
out:
    if (dfd >= 0)
        close(dfd);
    free(dir);
    return rc;
}

cJSON *undefine_storage_remove(const struct domain_def *def, uid_t caller)
{
    cJSON *r = json_obj(), *removed = json_arr(), *kept = json_arr();

    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        char why[512];
        cJSON *o;

        if (d->source == NULL || d->device != DISK_DEVICE_DISK || d->type != DISK_TYPE_FILE)
            continue;
        o = json_obj();
        json_add_str(o, "target", d->target);
        json_add_str(o, "source", d->source);
        if (remove_image(d->source, caller, why, sizeof(why)) == 0) {
            log_info("VM %s: removed disk image %s (%s) for uid %ld", def->name, d->source,
                     d->target, (long)caller);
            json_arr_add(removed, o);
        } else {
            log_warn("VM %s: kept disk image %s (%s): %s", def->name, d->source, d->target, why);
            json_add_str(o, "why", why);
            json_arr_add(kept, o);
        }
    }
    json_add(r, "removed", removed);
    json_add(r, "kept", kept);
    return r;
}
