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
#include "common/xml_safe.h"
#include "proto/listen.h"
#include "proto/rpc.h"

/* The broker's records in STATE/vms/NAME, their largest size and mode. */
static const struct root_record {
    const char *name;
    size_t max;
    mode_t mode;
} root_records[] = {
    {"domain.xml", XML_UNTRUSTED_MAX, 0640},
    {"owner.json", VM_DIRS_RECORD_MAX, 0640},
    {"identity.json", 256 * 1024, 0600},
    {"status.json", VM_DIRS_RECORD_MAX, 0640},
    {"inconsistencies.jsonl", 64 * 1024 * 1024, 0640},
};
#define NROOT_RECORDS (sizeof(root_records) / sizeof(root_records[0]))

static int open_dir(const char *path, struct cerr *e)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        cerr_set(e, CE_SYSTEM, "cannot open directory %s: %s", path, strerror(errno));
    return fd;
}

/* Gives the directory fd to uid:gid with mode, unless it has them. */
static int give_dir(int fd, const char *what, uid_t uid, gid_t gid, mode_t mode, struct cerr *e)
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

/* Opens dir/sub, creating it (mode) when missing; never through a link. */
static int open_subdir(int dirfd, const char *sub, mode_t mode, const char *what, struct cerr *e)
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

    vm_dirs_migrate_stopped(vm);
    if (vm->old_layout) {
        cerr_set(e, CE_SYSTEM,
                 "VM %s: its state directory %s could not be migrated to the current layout "
                 "(the broker's log says why)",
                 vm->def->name, vm->state_dir);
        return -1;
    }
    sfd = open_dir(vm->state_dir, &le);
    if (sfd >= 0)
        vfd = open_subdir(sfd, "vm", 0750, vm->vm_dir, &le);
    rfd = vfd >= 0 ? open_dir(vm->run_dir, &le) : -1;
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
                 give_dir(sfd, vm->state_dir, 0, vm->gid, 0710, &le) == 0 &&
                 give_dir(vfd, vm->vm_dir, vm->uid, vm->gid, 0750, &le) == 0 &&
                 give_dir(rfd, vm->run_dir, vm->uid, rungid, 0750, &le) == 0)
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
    int dfd = open_dir(dir, e);
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
        log_warn("ignoring %s/%s, which a VM's uid writes: %s", dir, name, e->msg);
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
        log_warn("%s", e->msg);
        return -1;
    }
    return 0;
}

int vm_dirs_connect(const struct bvm *vm, struct cerr *e)
{
    int dfd = open_dir(vm->run_dir, e), sfd = -1, fd = -1;
    struct stat st;

    if (dfd < 0)
        return -1;
    /* The socket inode itself, held while it is checked and connected to:
     * a link in its place is opened as a link, and nothing is swapped in
     * between. */
    sfd = openat(dfd, "control.sock", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0 || fstat(sfd, &st) < 0)
        cerr_set(e, CE_SUPERVISOR, "VM %s: no control socket in %s: %s", vm->def->name, vm->run_dir,
                 strerror(errno));
    else if (!S_ISSOCK(st.st_mode) || (vm->has_identity && st.st_uid != vm->uid)) {
        cerr_set(e, CE_SUPERVISOR,
                 "VM %s: %s/control.sock is not a socket of the VM's uid; not connecting",
                 vm->def->name, vm->run_dir);
        log_warn("%s", e->msg);
    } else {
        char *what = xasprintf("%s/control.sock", vm->run_dir);
        fd = unix_connect_opened(sfd, what, e);
        free(what);
        if (fd >= 0 && check_peer(vm, fd, e) < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (sfd >= 0)
        close(sfd);
    close(dfd);
    return fd;
}

static bool is_root_record(const char *name)
{
    for (size_t i = 0; i < NROOT_RECORDS; i++) {
        if (strcmp(name, root_records[i].name) == 0)
            return true;
    }
    return false;
}

/* A temporary file of an interrupted write of one of the broker's records. */
static bool is_root_temp(const char *name)
{
    for (size_t i = 0; i < NROOT_RECORDS; i++) {
        size_t n = strlen(root_records[i].name);
        if (strncmp(name, root_records[i].name, n) == 0 && strncmp(name + n, ".tmp.", 5) == 0)
            return true;
    }
    return false;
}

bool vm_dirs_old_layout(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    bool old = false;
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (dfd < 0)
        return false;
    if (fstat(dfd, &st) < 0 || st.st_uid != 0 || fstatat(dfd, "vm", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISDIR(st.st_mode)) {
        close(dfd);
        return true;
    }
    d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return false;
    }
    /* A migration cut short by a crash left some of the supervisor's
     * files where they were. */
    while (!old && (de = readdir(d)) != NULL)
        old = de->d_name[0] != '.' && strcmp(de->d_name, "vm") != 0 &&
              !is_root_record(de->d_name) && !is_root_temp(de->d_name);
    closedir(d);
    return old;
}

/* owner.json as the old layout left it: a forged owner could have been
 * written by the VM's uid, which the range tells apart from a user. */
static bool owner_plausible(const struct broker *b, const cJSON *j)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "uid");
    double v = cJSON_IsNumber(u) ? u->valuedouble : -1;

    return v >= 0 && v < 4294967295.0 && v == (double)(uid_t)v &&
           !(b->isolate && v >= b->uid_min && v <= b->uid_max);
}

/* identity.json: the uid from the range, and disks the broker handed over
 * (what the disk hand-back checks before it acts on them). */
static bool identity_plausible(const struct broker *b, const cJSON *j)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "uid");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "gid");

    return cJSON_IsNumber(u) && cJSON_IsNumber(g) && u->valuedouble == g->valuedouble &&
           b->isolate && u->valuedouble >= b->uid_min && u->valuedouble <= b->uid_max &&
           u->valuedouble == (double)(uid_t)u->valuedouble;
}

/* Replaces a record the VM's uid could write by a root-owned copy (a new
 * inode: a descriptor the VM uid kept open writes to the old one), after
 * checking what it says; drops one that is not a plain file or not
 * believable. */
static void take_record(const struct broker *b, int dfd, const char *dir, const char *name,
                        const struct root_record *r)
{
    char *path, *text;
    struct cerr e;
    struct stat st;
    size_t len = 0;
    cJSON *j = NULL;
    bool keep;

    if (fstatat(dfd, r->name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
        return;
    path = xasprintf("%s/%s", dir, r->name);
    text = file_read_untrusted(dfd, r->name, r->max, &len, &e);
    keep = text != NULL;
    if (keep && strcmp(r->name, "owner.json") == 0) {
        j = json_parse(text, len, &e);
        keep = owner_plausible(b, j);
    } else if (keep && strcmp(r->name, "identity.json") == 0) {
        j = json_parse(text, len, &e);
        keep = identity_plausible(b, j);
    }
    if (!keep) {
        log_err("VM %s: dropping %s from the old layout, where the VM's uid could write it: %s",
                name, path, text == NULL ? e.msg : "its content is not believable");
        if (unlinkat(dfd, r->name, 0) < 0 && errno != ENOENT)
            log_err("VM %s: cannot remove %s: %s", name, path, strerror(errno));
    } else if (file_write_atomic(path, text, len, r->mode, &e) < 0)
        log_err("VM %s: cannot take %s back for root: %s", name, path, e.msg);
    else if (j != NULL) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
            len--;
        log_warn("VM %s: kept %s from the old layout, where the VM's uid could write it: %.*s",
                 name, path, (int)(len > 300 ? 300 : len), text);
    }
    cJSON_Delete(j);
    free(text);
    free(path);
}

/* Moves every entry that is not the broker's into vm/; returns how many. */
static int move_supervisor_files(int dfd, int vfd, const char *dir, const char *name)
{
    int dup_fd = dup(dfd), moved = 0;
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    struct dirent *de;

    if (d == NULL) {
        log_err("VM %s: cannot read %s: %s", name, dir, strerror(errno));
        if (dup_fd >= 0)
            close(dup_fd);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, "vm") == 0 || is_root_record(de->d_name))
            continue;
        if (is_root_temp(de->d_name)) {
            if (unlinkat(dfd, de->d_name, 0) < 0)
                log_warn("VM %s: cannot remove %s/%s: %s", name, dir, de->d_name, strerror(errno));
            continue;
        }
        /* renameat moves a link as a link: nothing is followed. */
        if (renameat(dfd, de->d_name, vfd, de->d_name) < 0)
            log_err("VM %s: cannot move %s/%s into vm/: %s", name, dir, de->d_name,
                    strerror(errno));
        else
            moved++;
    }
    closedir(d);
    return moved;
}

int vm_dirs_migrate(const struct broker *b, const char *dir, const char *name, struct cerr *e)
{
    int dfd = open_dir(dir, e), vfd = -1, moved;
    struct stat st;
    bool from_vm;

    if (dfd < 0)
        return -1;
    if (fstat(dfd, &st) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot examine %s: %s", dir, strerror(errno));
        close(dfd);
        return -1;
    }
    /* vm/ comes last: while it is missing, the records are still to be
     * checked. */
    from_vm =
        st.st_uid != 0 || fstatat(dfd, "vm", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode);
    /* First the directory: from here on the VM's uid can neither add nor
     * swap an entry in it. */
    if (give_dir(dfd, dir, 0, 0, 0700, e) < 0) {
        close(dfd);
        return -1;
    }
    if (from_vm) {
        log_warn("VM %s: migrating %s to the layout where the broker's records are root's and "
                 "the supervisor's files are in vm/",
                 name, dir);
        for (size_t i = 0; i < NROOT_RECORDS; i++)
            take_record(b, dfd, dir, name, &root_records[i]);
        /* Whatever the VM's uid left under the name vm/ is not a directory
         * the broker made. */
        if (fstatat(dfd, "vm", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
            unlinkat(dfd, "vm", 0) < 0)
            log_err("VM %s: cannot remove %s/vm: %s", name, dir, strerror(errno));
    }
    vfd = open_subdir(dfd, "vm", 0700, dir, e);
    if (vfd < 0) {
        close(dfd);
        return -1;
    }
    moved = move_supervisor_files(dfd, vfd, dir, name);
    if (fsync(vfd) < 0 || fsync(dfd) < 0)
        log_warn("VM %s: cannot flush %s to disk: %s", name, dir, strerror(errno));
    close(vfd);
    close(dfd);
    if (moved > 0)
        log_info("VM %s: moved %d entries of its supervisor's into %s/vm", name, moved, dir);
    return 0;
}

void vm_dirs_migrate_stopped(struct bvm *vm)
{
    struct cerr e;

    if (!vm->old_layout)
        return;
    if (vm_dirs_migrate(vm->b, vm->state_dir, vm->def->name, &e) < 0) {
        log_err("VM %s: %s", vm->def->name, e.msg);
        return;
    }
    vm->old_layout = false;
    free(vm->vm_dir);
    vm->vm_dir = xasprintf("%s/vm", vm->state_dir);
}
