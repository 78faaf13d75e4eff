#include "broker/identity.h"

#include "broker/vm_dirs.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/nvram.h"
#include "broker/policy.h"
#include "common/disk_check.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/safe_open.h"
#include "common/json.h"

#define IDENTITY_MAX (256 * 1024)

static char *identity_path(const struct bvm *vm)
{
    return xasprintf("%s/identity.json", vm->state_dir);
}

static cJSON *identity_read(const struct bvm *vm)
{
    struct cerr e;

    /* The VM's uid could write it in the old layout (broker/vm_dirs.h). */
    return vm_dirs_read_json(vm->state_dir, "identity.json", IDENTITY_MAX, &e);
}

static int identity_write(const struct bvm *vm, const cJSON *j, struct cerr *e)
{
    char *path = identity_path(vm);
    int rc = json_write_file(path, j, 0600, e);

    free(path);
    return rc;
}

/* identity.json's "disks" lists what was handed to the VM's identity, each
 * entry written before the image changes hands: path, previous uid, gid and
 * mode, and the file itself as "dev" and "ino" (decimal strings: a JSON
 * number cannot hold every 64-bit value).  An entry stays until its file is
 * given back.  Entries an earlier version wrote have no dev and ino, and
 * were written where the VM's uid could forge them. */

static bool entry_file(const cJSON *d, dev_t *dev, ino_t *ino)
{
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(d, "dev");
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(d, "ino");
    char *end1 = NULL, *end2 = NULL;
    unsigned long long dn, in;

    if (!cJSON_IsString(dv) || !cJSON_IsString(iv) || dv->valuestring[0] == '\0' ||
        iv->valuestring[0] == '\0')
        return false;
    errno = 0;
    dn = strtoull(dv->valuestring, &end1, 10);
    in = strtoull(iv->valuestring, &end2, 10);
    if (errno != 0 || *end1 != '\0' || *end2 != '\0')
        return false;
    *dev = (dev_t)dn;
    *ino = (ino_t)in;
    return true;
}

/* vm->handed mirrors the entries of disks that name a file. */
static void handed_sync(struct bvm *vm, const cJSON *disks)
{
    const cJSON *d;
    size_t n = 0;

    free(vm->handed);
    vm->handed = NULL;
    vm->nhanded = 0;
    cJSON_ArrayForEach(d, disks) n++;
    if (n == 0)
        return;
    vm->handed = xcalloc(n, sizeof(*vm->handed));
    cJSON_ArrayForEach(d, disks)
    {
        struct handed_disk *h = &vm->handed[vm->nhanded];
        if (entry_file(d, &h->dev, &h->ino))
            vm->nhanded++;
    }
}

static void handed_load(struct bvm *vm)
{
    cJSON *j = identity_read(vm);

    handed_sync(vm, cJSON_GetObjectItemCaseSensitive(j, "disks"));
    cJSON_Delete(j);
}

static void log_kept(const struct bvm *vm, const char *path, const char *why)
{
    char shown[512];

    name_escape(path, shown, sizeof(shown));
    log_warn("VM %s: disk '%s' not given back yet (kept to retry at the next stop, start or "
             "broker start): %s",
             vm->def->name, shown, why);
}

/* Changes owner and mode through a real fd on the very file pathfd holds. */
static int set_owner_mode(int pathfd, const struct stat *st, uid_t uid, gid_t gid, mode_t mode,
                          struct cerr *e)
{
    int fd = safe_reopen(pathfd, st, O_RDONLY, e);
    int rc = 0;

    if (fd < 0)
        return -1;
    /* chown clears set-id bits: the mode comes after. */
    if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0) {
        cerr_set(e, CE_SYSTEM, "%s", strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

/* An entry without dev and ino: its file goes back only if it is a lone
 * regular file the VM's uid owns, and only to the VM's owner whatever the
 * entry says. */
static bool give_back_legacy(const struct bvm *vm, const char *path, int fd, const struct stat *st,
                             mode_t mode)
{
    struct passwd *pw = getpwuid(vm->owner);
    gid_t gid = pw != NULL ? pw->pw_gid : (gid_t)-1;
    struct cerr e;
    char why[160], shown[512];

    name_escape(path, shown, sizeof(shown));
    if (!S_ISREG(st->st_mode) || st->st_nlink != 1) {
        snprintf(why, sizeof(why), "an earlier version's record names %s",
                 S_ISLNK(st->st_mode)   ? "a symlink"
                 : S_ISREG(st->st_mode) ? "a file with more than one link"
                                        : "no regular file");
        log_kept(vm, path, why);
        return false;
    }
    if (st->st_uid != vm->uid) {
        log_info("VM %s: an earlier version's record of disk %s: the file is uid %ld's, not the "
                 "VM's; nothing to give back",
                 vm->def->name, shown, (long)st->st_uid);
        return true;
    }
    if (set_owner_mode(fd, st, vm->owner, gid, mode & 0777, &e) < 0) {
        log_kept(vm, path, e.msg);
        return false;
    }
    log_info("VM %s: disk %s given back to its owner uid %ld (an earlier version's record)",
             vm->def->name, shown, (long)vm->owner);
    return true;
}

/* Gives one entry's file back; true when it is settled (back with its
 * previous owner), false when it is kept to retry. */
static bool give_back(const struct bvm *vm, const cJSON *d)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "path");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(d, "uid");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(d, "gid");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "mode");
    struct stat st;
    struct cerr e;
    dev_t dev;
    ino_t ino;
    bool done = false;
    int fd;

    if (!cJSON_IsString(p) || !cJSON_IsNumber(u) || !cJSON_IsNumber(g) || !cJSON_IsNumber(m) ||
        u->valuedouble < 0 || u->valuedouble > UINT32_MAX - 1 || g->valuedouble < 0 ||
        g->valuedouble > UINT32_MAX - 1 || m->valuedouble < 0 || m->valuedouble > 07777) {
        log_err("VM %s: identity.json has a malformed disk record; dropped", vm->def->name);
        return true;
    }
    fd = safe_open_path(p->valuestring, &st, &e);
    if (fd < 0) {
        log_kept(vm, p->valuestring, e.msg);
        return false;
    }
    if (!entry_file(d, &dev, &ino)) {
        done = give_back_legacy(vm, p->valuestring, fd, &st, (mode_t)m->valuedouble);
    } else if (st.st_dev != dev || st.st_ino != ino) {
        log_kept(vm, p->valuestring, "its path now names another file than the one handed over");
    } else if (st.st_uid == (uid_t)u->valuedouble && st.st_gid == (gid_t)g->valuedouble) {
        /* Never handed over (a start that failed half-way), or given back
         * by a run that did not get to drop the entry: the mode may still
         * be the VM's. */
        done = set_owner_mode(fd, &st, st.st_uid, st.st_gid, (mode_t)m->valuedouble, &e) == 0;
        if (!done)
            log_kept(vm, p->valuestring, e.msg);
    } else if (S_ISBLK(st.st_mode) && st.st_uid == 0) {
        /* udev re-applies its rules (root, group disk) when a block device
         * written by QEMU is closed: the VM's uid has it no more, and the
         * broker gives root's node to nobody. */
        char shown[512];
        name_escape(p->valuestring, shown, sizeof(shown));
        log_info("VM %s: block device %s is root's again (udev's rules); nothing to give back",
                 vm->def->name, shown);
        done = true;
    } else if (st.st_uid != vm->uid) {
        snprintf(e.msg, sizeof(e.msg), "it is now uid %ld's, neither the VM's uid %ld nor uid %ld",
                 (long)st.st_uid, (long)vm->uid, (long)u->valuedouble);
        log_kept(vm, p->valuestring, e.msg);
    } else {
        done = set_owner_mode(fd, &st, (uid_t)u->valuedouble, (gid_t)g->valuedouble,
                              (mode_t)m->valuedouble, &e) == 0;
        if (!done)
            log_kept(vm, p->valuestring, e.msg);
    }
    close(fd);
    return done;
}

/* Gives back every recorded disk that can be; returns how many are kept. */
static size_t give_back_all(struct bvm *vm)
{
    cJSON *j = identity_read(vm), *kept;
    const cJSON *disks = cJSON_GetObjectItemCaseSensitive(j, "disks"), *d;
    size_t nkept;
    struct cerr e;

    if (!cJSON_IsArray(disks) || cJSON_GetArraySize(disks) == 0) {
        handed_sync(vm, NULL);
        cJSON_Delete(j);
        return 0;
    }
    kept = json_arr();
    cJSON_ArrayForEach(d, disks)
    {
        if (!give_back(vm, d))
            json_arr_add(kept, json_dup(d));
    }
    nkept = (size_t)cJSON_GetArraySize(kept);
    handed_sync(vm, kept);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "disks");
    if (nkept > 0)
        json_add(j, "disks", kept);
    else
        cJSON_Delete(kept);
    /* On failure the old entries stay on disk: retrying them finds the
     * given-back files settled. */
    if (identity_write(vm, j, &e) < 0)
        log_err_code(cerr_name(e.code), "VM %s: %s", vm->def->name, e.msg);
    cJSON_Delete(j);
    return nkept;
}

/* Refuses a file that is another disk of this VM or handed to another VM
 * and not given back. */
static int check_not_handed(const struct bvm *vm, const struct disk_check *c, size_t i,
                            struct cerr *e)
{
    const struct disk_def *d = &vm->def->disks[i];
    char shown[512];

    name_escape(d->source, shown, sizeof(shown));
    for (size_t k = 0; k < i; k++) {
        if (c[k].fd >= 0 && c[k].st.st_dev == c[i].st.st_dev && c[k].st.st_ino == c[i].st.st_ino) {
            cerr_set(e, CE_OPERATION_INVALID, "VM %s: disk %s: '%s' is the same file as disk %s",
                     vm->def->name, d->target, shown, vm->def->disks[k].target);
            return -1;
        }
    }
    for (const struct bvm *o = vm->b->vms; o != NULL; o = o->next) {
        for (size_t k = 0; o != vm && k < o->nhanded; k++) {
            if (o->handed[k].dev == c[i].st.st_dev && o->handed[k].ino == c[i].st.st_ino) {
                cerr_set(e, CE_OPERATION_INVALID,
                         "VM %s: disk %s: '%s' is a disk image handed to VM %s, which has not "
                         "given it back",
                         vm->def->name, d->target, shown, o->def->name);
                return -1;
            }
        }
    }
    return 0;
}

static cJSON *entry_new(const struct disk_def *d, const struct stat *st)
{
    cJSON *o = json_obj();
    char num[32];

    json_add_str(o, "path", d->source);
    json_add_num(o, "uid", st->st_uid);
    json_add_num(o, "gid", st->st_gid);
    json_add_num(o, "mode", st->st_mode & 07777);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)st->st_dev);
    json_add_str(o, "dev", num);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)st->st_ino);
    json_add_str(o, "ino", num);
    return o;
}

/* The VM's uid must be able to reach the image: a message now, not
 * QEMU's later. */
static int check_reachable(const struct bvm *vm, const struct disk_def *d, struct cerr *e)
{
    char *dir = xstrdup(d->source);
    bool reachable;

    *strrchr(dir, '/') = '\0';
    reachable = path_reachable_by_others(dir[0] ? dir : "/", e);
    free(dir);
    if (!reachable) {
        char why[CERR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", e->msg);
        cerr_set(e, CE_SYSTEM, "VM %s: disk %s cannot be reached by the VM's uid %ld: %s",
                 vm->def->name, d->source, (long)vm->uid, why);
        return -1;
    }
    return 0;
}

/* The kernel, the initrd and a cdrom's image are read, never written, and
 * may serve many VMs: they are not handed over like disks.  QEMU, as the
 * VM's uid, opens them by path, so they must be readable by others (as
 * /boot's files, a build's output and a downloaded ISO are); what it opens
 * can only ever be what any uid could read.  what names it ("os/kernel"). */
static int check_readable(const struct bvm *vm, const char *what, const char *path, struct cerr *e)
{
    char *dir = xstrdup(path);
    struct stat st;
    struct cerr why;
    int fd = safe_open_path(path, &st, &why);
    bool ok = fd >= 0;

    if (fd >= 0)
        close(fd);
    *strrchr(dir, '/') = '\0';
    if (ok && (st.st_mode & S_IROTH) == 0) {
        cerr_set(&why, CE_SYSTEM, "it is not readable by others (chmod o+r)");
        ok = false;
    } else if (ok)
        ok = path_reachable_by_others(dir[0] ? dir : "/", &why);
    free(dir);
    if (!ok)
        cerr_set(e, CE_SYSTEM, "VM %s: %s %s cannot be read by the VM's uid %ld: %s", vm->def->name,
                 what, path, (long)vm->uid, why.msg);
    return ok ? 0 : -1;
}

/* Opens and checks every disk, refusing files handed over already; *nopen
 * counts the entries of c filled in, also on failure.  A disk that is not
 * handed over (an empty tray, a cdrom's image: disk_handed_over) gets fd -1,
 * and a medium must be readable by the VM's uid as it is. */
static int open_disks(struct bvm *vm, struct disk_check *c, size_t *nopen, struct cerr *e)
{
    /* An admin's VM may use anybody's images, as at define. */
    bool any_owner = policy_is_admin(vm->b, vm->owner);

    for (size_t i = 0; i < vm->def->ndisks; i++) {
        const struct disk_def *d = &vm->def->disks[i];
        struct cerr why;
        char what[64];

        c[i].fd = -1;
        *nopen = i + 1;
        if (d->source == NULL)
            continue;
        if (disk_check_open(d, any_owner, vm->owner, &c[i], &why) < 0) {
            cerr_set(e, why.code, "VM %s: %s", vm->def->name, why.msg);
            return -1;
        }
        if (!disk_handed_over(d)) {
            close(c[i].fd);
            c[i].fd = -1;
            snprintf(what, sizeof(what), "disk %s", d->target);
            if (check_readable(vm, what, d->source, e) < 0)
                return -1;
            continue;
        }
        if (check_not_handed(vm, c, i, e) < 0 || check_reachable(vm, d, e) < 0)
            return -1;
        if (c[i].backing) {
            char shown[512];
            name_escape(d->source, shown, sizeof(shown));
            log_info("VM %s: disk %s: '%s' is a qcow2 image whose header names a backing file; "
                     "QEMU does not open it (backing: null)",
                     vm->def->name, d->target, shown);
        }
    }
    return 0;
}

/* Records every disk's owner, mode and file durably, then hands each to
 * the VM's identity through the fd its checks were made on. */
static int hand_over(struct bvm *vm, struct cerr *e)
{
    struct disk_check c[DOMAIN_MAX_DISKS];
    size_t nopen = 0, kept = give_back_all(vm);
    cJSON *j = NULL, *disks;
    int rc = -1;

    if (kept > 0) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s: %zu disk image%s of an earlier run could not be given back (the broker "
                 "log says why); it does not start until they are",
                 vm->def->name, kept, kept == 1 ? "" : "s");
        return -1;
    }
    if (open_disks(vm, c, &nopen, e) < 0)
        goto out;
    j = identity_read(vm);
    if (j == NULL)
        j = json_obj();
    disks = json_arr();
    for (size_t i = 0; i < nopen; i++) {
        if (c[i].fd >= 0)
            json_arr_add(disks, entry_new(&vm->def->disks[i], &c[i].st));
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "disks");
    json_add(j, "disks", disks);
    if (identity_write(vm, j, e) < 0)
        goto out;
    handed_sync(vm, disks);
    for (size_t i = 0; i < nopen; i++) {
        struct cerr why;
        if (c[i].fd < 0)
            continue;
        /* Owner-only while the VM runs: no other VM's uid may read it. */
        if (set_owner_mode(c[i].fd, &c[i].st, vm->uid, vm->gid, 0600, &why) < 0) {
            cerr_set(e, CE_SYSTEM, "VM %s: cannot hand disk %s to uid %ld: %s", vm->def->name,
                     vm->def->disks[i].source, (long)vm->uid, why.msg);
            goto out;
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < nopen; i++) {
        if (c[i].fd >= 0)
            close(c[i].fd);
    }
    cJSON_Delete(j);
    return rc;
}

/* Whether another VM runs, or will run, as uid. */
static bool uid_taken(const struct broker *b, const struct bvm *vm, uid_t uid)
{
    for (const struct bvm *o = b->vms; o != NULL; o = o->next) {
        if (o != vm && o->has_identity && o->uid == uid)
            return true;
    }
    return false;
}

int identity_assign(struct broker *b, struct bvm *vm, struct cerr *e)
{
    cJSON *j;
    unsigned long long recorded;
    uid_t uid;

    if (!b->isolate)
        return 0;
    handed_load(vm);
    /* An explicit user from the broker's configuration wins over the range
     * and is not recorded: the configuration is its record. */
    for (size_t i = 0; i < b->nvm_users; i++) {
        const char *eq = strchr(b->vm_users[i], '=');
        struct passwd *pw;
        if (eq == NULL || (size_t)(eq - b->vm_users[i]) != strlen(vm->def->name) ||
            strncmp(b->vm_users[i], vm->def->name, (size_t)(eq - b->vm_users[i])) != 0)
            continue;
        pw = getpwnam(eq + 1);
        if (pw == NULL || pw->pw_uid == 0) {
            cerr_set(e, CE_SYSTEM, "VM %s: --vm-user names %s, which is %s", vm->def->name, eq + 1,
                     pw == NULL ? "no local user" : "root");
            return -1;
        }
        vm->uid = pw->pw_uid;
        vm->gid = pw->pw_gid;
        vm->has_identity = true;
        return 0;
    }
    j = identity_read(vm);
    if (json_get_uint(j, "uid", UINT32_MAX - 1, &recorded) == 0 && recorded != 0) {
        bool in_range = recorded >= b->uid_min && recorded <= b->uid_max;
        /* A uid from an earlier --uid-range (the default moved off
         * subordinate ids) is kept while this VM's disks are still its: the
         * VM runs across the change, or a give-back is pending.  Its next
         * start gets a uid from the range. */
        bool held = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "disks")) > 0;
        if ((in_range || held) && !uid_taken(b, vm, (uid_t)recorded)) {
            if (!in_range)
                log_warn("VM %s: keeps uid %llu, outside the range %ld-%ld, until its disks "
                         "are given back",
                         vm->def->name, recorded, (long)b->uid_min, (long)b->uid_max);
            vm->uid = (uid_t)recorded;
            vm->gid = (gid_t)vm->uid;
            vm->has_identity = true;
            cJSON_Delete(j);
            return 0;
        }
    }
    cJSON_Delete(j);
    for (uid = b->uid_min; uid <= b->uid_max && uid_taken(b, vm, uid); uid++)
        ;
    if (uid > b->uid_max) {
        cerr_set(e, CE_SYSTEM, "VM %s: no free uid left in the range %ld-%ld", vm->def->name,
                 (long)b->uid_min, (long)b->uid_max);
        return -1;
    }
    j = json_obj();
    json_add_num(j, "uid", uid);
    json_add_num(j, "gid", uid);
    if (identity_write(vm, j, e) < 0) {
        cJSON_Delete(j);
        return -1;
    }
    cJSON_Delete(j);
    vm->uid = uid;
    vm->gid = (gid_t)uid;
    vm->has_identity = true;
    log_info("VM %s: runs as uid %ld", vm->def->name, (long)uid);
    return 0;
}

static int check_boot_files(const struct bvm *vm, struct cerr *e)
{
    struct cerr why;

    /* At define the definer owned them; the owner may have changed since. */
    if (domain_def_check_boot_files(vm->def, policy_is_admin(vm->b, vm->owner), vm->owner, &why) <
        0) {
        cerr_set(e, why.code, "VM %s: %s", vm->def->name, why.msg);
        return -1;
    }
    if (!vm->has_identity)
        return 0;
    if (vm->def->kernel != NULL && check_readable(vm, "os/kernel", vm->def->kernel, e) < 0)
        return -1;
    if (vm->def->initrd != NULL && check_readable(vm, "os/initrd", vm->def->initrd, e) < 0)
        return -1;
    return 0;
}

int identity_prepare(struct bvm *vm, struct cerr *e)
{
    if (check_boot_files(vm, e) < 0 || nvram_prepare(vm, e) < 0)
        return -1;
    if (!vm->has_identity)
        return 0;
    return hand_over(vm, e);
}

void identity_release(struct bvm *vm)
{
    nvram_release(vm);
    if (vm->has_identity)
        give_back_all(vm);
}

int identity_check_medium(const struct bvm *vm, uid_t caller, const char *disk, const char *file,
                          struct cerr *e)
{
    struct disk_def d = {.type = DISK_TYPE_FILE, .device = DISK_DEVICE_CDROM};
    struct disk_check c;
    struct cerr why;
    char target[64], what[96];

    /* disk only names the medium in messages: a target or a source path. */
    name_escape(disk, target, sizeof(target));
    d.target = target;
    d.source = (char *)file;
    d.format = DISK_FORMAT_RAW;
    if (disk_check_open(&d, policy_is_admin(vm->b, caller), caller, &c, &why) < 0) {
        cerr_set(e, why.code, "VM %s: new medium: %s", vm->def->name, why.msg);
        return -1;
    }
    close(c.fd);
    snprintf(what, sizeof(what), "the new medium of %s", target);
    return vm->has_identity ? check_readable(vm, what, file, e) : 0;
}
