#include "broker/vm_dirs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "proto/listen.h"
#include "common/json.h"

int vm_dirs_open(const char *path, struct cerr *e)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        cerr_set(e, CE_SYSTEM, "cannot open directory %s: %s", path, strerror(errno));
    return fd;
}

int vm_dirs_give(int fd, const char *what, uid_t uid, gid_t gid, mode_t mode, struct cerr *e)
{
    struct stat st;

    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "%s is not a directory", what);
        return -1;
    }
    if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot give %s to %ld:%ld: %s", what, (long)uid, (long)gid,
                 strerror(errno));
        return -1;
    }
    if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot set the mode of %s: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

int vm_dirs_open_sub(int dirfd, const char *sub, mode_t mode, const char *what, struct cerr *e)
{
    int fd;

    if (mkdirat(dirfd, sub, mode) < 0 && errno != EEXIST) {
        cerr_set(e, CE_SYSTEM, "cannot create %s: %s", what, strerror(errno));
        return -1;
    }
    fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        cerr_set(e, CE_SYSTEM, "cannot open %s: %s", what, strerror(errno));
    return fd;
}

/* Deepest tree give_tree descends into, as rm_rf. */
#define GIVE_DEPTH_MAX 64

/* Gives what the directory fd holds to uid:gid, through fds and on its file
 * system only.  Directories and regular files of one link go; links,
 * FIFOs, sockets and a file with more than one name (a hard link the old
 * owner may have made to a file elsewhere) stay as they are.  Returns how
 * many entries were skipped, or -1. */
static int give_tree(int fd, dev_t dev, uid_t uid, gid_t gid, int depth, const char *top,
                     struct cerr *e)
{
    int iter = dup(fd), skipped = 0;
    DIR *d = iter >= 0 ? fdopendir(iter) : NULL;
    struct dirent *de;

    if (d == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot read a directory under %s: %s", top, strerror(errno));
        if (iter >= 0)
            close(iter);
        return -1;
    }
    while (skipped >= 0 && (de = readdir(d)) != NULL) {
        struct stat st;
        int c;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        c = openat(fd, de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (c < 0 || fstat(c, &st) < 0 || st.st_dev != dev ||
            !(S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink == 1))) {
            skipped++;
        } else if ((st.st_uid != uid || st.st_gid != gid) &&
                   fchownat(c, "", uid, gid, AT_EMPTY_PATH) < 0) {
            cerr_set(e, CE_SYSTEM, "cannot give %s under %s to uid %ld: %s", de->d_name, top,
                     (long)uid, strerror(errno));
            skipped = -1;
        } else if (S_ISDIR(st.st_mode)) {
            int sub = depth < GIVE_DEPTH_MAX
                          ? openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                          : -1;
            struct stat sst;
            int n = -1;
            /* The directory listed is the one just given. */
            if (sub >= 0 && fstat(sub, &sst) == 0 && sst.st_ino == st.st_ino && sst.st_dev == dev)
                n = give_tree(sub, dev, uid, gid, depth + 1, top, e);
            else
                cerr_set(e, CE_SYSTEM, "cannot descend into %s under %s", de->d_name, top);
            skipped = n < 0 ? -1 : skipped + n;
            if (sub >= 0)
                close(sub);
        }
        if (c >= 0)
            close(c);
    }
    closedir(d);
    return skipped;
}

/* vm/ is not the VM uid's yet: new, migrated, or the VM's uid changed.
 * What its previous owner (root, another uid) left there becomes the VM's
 * too, once. */
static int hand_over_contents(const struct bvm *vm, int vfd, dev_t dev, struct cerr *e)
{
    int skipped = give_tree(vfd, dev, vm->uid, vm->gid, 0, vm->vm_dir, e);

    if (skipped > 0)
        log_warn("VM %s: %d entries under %s are not plain files or directories; left to their "
                 "owners",
                 vm->def->name, skipped, vm->vm_dir);
    else if (skipped == 0)
        log_debug("VM %s: handed %s to uid %ld", vm->def->name, vm->vm_dir, (long)vm->uid);
    return skipped < 0 ? -1 : 0;
}

int vm_dirs_prepare(struct bvm *vm, struct cerr *e)
{
    int sfd = -1, vfd = -1, rfd = -1, rc = -1;
    struct cerr le;

    sfd = vm_dirs_open(vm->state_dir, &le);
    if (sfd >= 0)
        vfd = vm_dirs_open_sub(sfd, "vm", 0750, vm->vm_dir, &le);
    rfd = vfd >= 0 ? vm_dirs_open(vm->run_dir, &le) : -1;
    if (rfd < 0)
        goto out;
    if (!vm->has_identity)
        rc = 0;
    else {
        /* The owner reaches the control socket through the run directory's
         * group; the supervisor refuses anyone else of that group at
         * accept. */
        struct passwd *pw = vm->owner != 0 ? getpwuid(vm->owner) : NULL;
        gid_t rungid = pw != NULL ? pw->pw_gid : vm->gid;
        /* The VM's uid passes through the state directory to vm/ and
         * reads nothing of the broker's there. */
        struct stat st;
        if (fstat(vfd, &st) < 0)
            cerr_set(&le, CE_SYSTEM, "cannot examine %s: %s", vm->vm_dir, strerror(errno));
        else if ((st.st_uid == vm->uid || hand_over_contents(vm, vfd, st.st_dev, &le) == 0) &&
                 vm_dirs_give(sfd, vm->state_dir, 0, vm->gid, 0710, &le) == 0 &&
                 vm_dirs_give(vfd, vm->vm_dir, vm->uid, vm->gid, 0750, &le) == 0 &&
                 vm_dirs_give(rfd, vm->run_dir, vm->uid, rungid, 0750, &le) == 0)
            rc = 0;
    }
out:
    if (rc < 0)
        cerr_set(e, CE_SYSTEM, "VM %s: cannot prepare its directories: %s", vm->def->name, le.msg);
    if (sfd >= 0)
        close(sfd);
    if (vfd >= 0)
        close(vfd);
    if (rfd >= 0)
        close(rfd);
    return rc;
}

cJSON *vm_dirs_read_json(const char *dir, const char *name, size_t max, struct cerr *e)
{
    int dfd = vm_dirs_open(dir, e);
    size_t len = 0;
    struct stat st;
    char *text;
    cJSON *j = NULL;

    if (dfd < 0)
        return NULL;
    /* Missing is ordinary (a crash, a first run); anything else that fails
     * is worth a line. */
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot examine %s/%s: %s", dir, name, strerror(errno));
        close(dfd);
        return NULL;
    }
    text = file_read_untrusted(dfd, name, max, &len, e);
    close(dfd);
    if (text != NULL) {
        j = json_parse(text, len, e);
        free(text);
    }
    if (j != NULL && !cJSON_IsObject(j)) {
        cerr_set(e, CE_PARSE, "it does not hold a JSON object");
        cJSON_Delete(j);
        j = NULL;
    }
    if (j == NULL)
        log_warn_code(cerr_name(e->code), "ignoring %s/%s, which a VM's uid writes: %s", dir, name,
                      e->msg);
    return j;
}

static int check_peer(const struct bvm *vm, int fd, struct cerr *e)
{
    uid_t want = vm->has_identity ? vm->uid : 0;
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        cerr_set(e, CE_SUPERVISOR, "VM %s: cannot tell who serves its control socket: %s",
                 vm->def->name, strerror(errno));
        return -1;
    }
    if (cred.uid != want || vm->sup_pid <= 0 || cred.pid != vm->sup_pid) {
        cerr_set(e, CE_SUPERVISOR,
                 "VM %s: its control socket is served by pid %ld uid %ld, not by its supervisor "
                 "(pid %ld, uid %ld); connection dropped",
                 vm->def->name, (long)cred.pid, (long)cred.uid, (long)vm->sup_pid, (long)want);
        log_warn_code(cerr_name(e->code), "%s", e->msg);
        return -1;
    }
    return 0;
}

int vm_dirs_connect(const struct bvm *vm, struct cerr *e)
{
    int dfd = vm_dirs_open(vm->run_dir, e), sfd = -1, fd = -1;
    struct stat st;
    int err = 0;

    if (dfd < 0)
        return -1;
    /* The socket inode itself, held while it is checked and connected to:
     * a link in its place is opened as a link, and nothing is swapped in
     * between. */
    sfd = openat(dfd, "control.sock", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0 || fstat(sfd, &st) < 0) {
        err = errno;
        cerr_set(e, CE_SUPERVISOR, "VM %s: no control socket in %s: %s", vm->def->name, vm->run_dir,
                 strerror(err));
    } else if (!S_ISSOCK(st.st_mode) || (vm->has_identity && st.st_uid != vm->uid)) {
        cerr_set(e, CE_SUPERVISOR,
                 "VM %s: %s/control.sock is not a socket of the VM's uid; not connecting",
                 vm->def->name, vm->run_dir);
        log_warn_code(cerr_name(e->code), "%s", e->msg);
    } else {
        char *what = xasprintf("%s/control.sock", vm->run_dir);
        fd = unix_connect_opened(sfd, what, e);
        err = fd < 0 ? errno : 0;
        free(what);
        if (fd >= 0 && check_peer(vm, fd, e) < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (sfd >= 0)
        close(sfd);
    close(dfd);
    errno = err;
    return fd;
}
