#include "broker/nvram.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/lifecycle.h"
#include "broker/policy.h"
#include "broker/vm_dirs.h"
#include "common/fileutil.h"
#include "common/firmware.h"
#include "common/log.h"
#include "common/safe_open.h"

/* OVMF's variable stores are 128 KiB to 4 MiB; an edk2 build for a large
 * flash stays far below this. */
#define NVRAM_TEMPLATE_MAX (64 * 1024 * 1024)

static int copy_fd(int in, int out, struct cerr *e)
{
    char buf[65536];
    size_t total = 0;

    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cerr_set(e, CE_SYSTEM, "cannot read it: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        total += (size_t)n;
        if (total > NVRAM_TEMPLATE_MAX) {
            cerr_set(e, CE_TOO_LARGE, "it is over %d bytes", NVRAM_TEMPLATE_MAX);
            return -1;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                cerr_set(e, CE_SYSTEM, "cannot write the copy: %s", strerror(errno));
                return -1;
            }
            off += w;
        }
    }
}

/* The file the first copy is made from, opened for reading: an NVRAM
 * the definition imports (the owner's, checked as a disk is, and read
 * through the fd checked) or else the template. */
static int open_source(const struct bvm *vm, const char **what, struct cerr *e)
{
    const char *import = vm->def->fw.nvram_import;
    struct stat st;
    int pfd, in;

    if (import != NULL && domain_def_nvram_import_absent(vm->def)) {
        log_info("VM %s: <nvram> %s does not exist: its NVRAM is made from the template, as "
                 "libvirt would make that file",
                 vm->def->name, import);
        import = NULL;
    }

    *what = import != NULL ? import : vm->def->fw.nvram_template;
    if (import != NULL)
        pfd = domain_def_open_boot_file("nvram", import, policy_is_admin(vm->b, vm->owner),
                                        vm->owner, &st, e);
    /* Root reads a template only when any uid could (firmware_check_file). */
    else if (firmware_check_file("os/nvram template", *what, e) < 0)
        return -1;
    else
        pfd = safe_open_path(*what, &st, e);
    if (pfd < 0)
        return -1;
    in = safe_reopen(pfd, &st, O_RDONLY | O_NONBLOCK, e);
    close(pfd);
    return in;
}

/* The source's content into a new file, renamed to name once whole: a
 * crash leaves no half-copied variables for a later start to boot. */
static int create_from_template(const struct bvm *vm, int sfd, const char *name, struct cerr *e)
{
    const char *tmpl = NULL;
    char *tmp = xasprintf(".%s.new", name);
    struct cerr why;
    int in, out = -1, rc = -1;

    in = open_source(vm, &tmpl, &why);
    if (in < 0)
        goto out;
    if (unlinkat(sfd, tmp, 0) < 0 && errno != ENOENT) {
        cerr_set(&why, CE_SYSTEM, "cannot remove a leftover %s: %s", tmp, strerror(errno));
        goto out;
    }
    out = openat(sfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        cerr_set(&why, CE_SYSTEM, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (copy_fd(in, out, &why) < 0)
        goto out;
    if (fsync(out) < 0 || renameat(sfd, tmp, sfd, name) < 0 || fsync(sfd) < 0) {
        cerr_set(&why, CE_SYSTEM, "cannot put %s in place: %s", name, strerror(errno));
        goto out;
    }
    log_info("VM %s: NVRAM %s/%s created from %s", vm->def->name, vm->state_dir, name, tmpl);
    rc = 0;
out:
    if (rc < 0) {
        cerr_set(e, why.code, "VM %s: cannot create its NVRAM from %s: %s", vm->def->name,
                 tmpl != NULL && tmpl == vm->def->fw.nvram_import ? "the imported one"
                                                                  : "the template",
                 why.msg);
        if (out >= 0)
            unlinkat(sfd, tmp, 0);
    }
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    free(tmp);
    return rc;
}

/* The VM's NVRAM opened without following a link: a regular file, or -1
 * with errno (ENOENT when there is none, EINVAL when not a regular file). */
static int open_nvram(int sfd, const char *name, struct stat *st)
{
    int fd = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

static int give(int fd, uid_t uid, gid_t gid, const struct stat *st)
{
    if ((st->st_uid != uid || st->st_gid != gid) && fchown(fd, uid, gid) < 0)
        return -1;
    /* After chown, which clears set-id bits. */
    return fchmod(fd, 0600);
}

int nvram_prepare(struct bvm *vm, struct cerr *e)
{
    char *name;
    struct stat st;
    int sfd, fd, rc = -1;

    if (vm->def->fw.loader == NULL || lifecycle_maintenance(vm->phase))
        return 0;
    sfd = vm_dirs_open(vm->state_dir, e);
    if (sfd < 0)
        return -1;
    name = firmware_nvram_name(vm->def->name);
    fd = open_nvram(sfd, name, &st);
    if (fd < 0 && errno == ENOENT && create_from_template(vm, sfd, name, e) == 0)
        fd = open_nvram(sfd, name, &st);
    else if (fd < 0 && errno != ENOENT)
        cerr_set(e, CE_SYSTEM, "VM %s: cannot open its NVRAM %s/%s: %s", vm->def->name,
                 vm->state_dir, name, strerror(errno));
    if (fd < 0)
        goto out;
    if (vm->has_identity && give(fd, vm->uid, vm->gid, &st) < 0) {
        cerr_set(e, CE_SYSTEM, "VM %s: cannot hand its NVRAM to uid %ld: %s", vm->def->name,
                 (long)vm->uid, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    close(sfd);
    free(name);
    return rc;
}

void nvram_release(struct bvm *vm)
{
    char *name;
    struct stat st;
    struct cerr e;
    int sfd, fd;

    if (vm->def->fw.loader == NULL || !vm->has_identity)
        return;
    sfd = vm_dirs_open(vm->state_dir, &e);
    if (sfd < 0) {
        log_err_code(cerr_name(e.code), "VM %s: NVRAM not given back: %s", vm->def->name, e.msg);
        return;
    }
    name = firmware_nvram_name(vm->def->name);
    fd = open_nvram(sfd, name, &st);
    if (fd < 0 && errno != ENOENT)
        log_err("VM %s: NVRAM %s/%s not given back: %s", vm->def->name, vm->state_dir, name,
                strerror(errno));
    else if (fd >= 0 && (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != 0600) &&
             give(fd, 0, 0, &st) < 0)
        log_err("VM %s: NVRAM %s/%s not given back to root: %s", vm->def->name, vm->state_dir, name,
                strerror(errno));
    if (fd >= 0)
        close(fd);
    close(sfd);
    free(name);
}

int nvram_exists(const struct bvm *vm, struct cerr *e)
{
    char *name = firmware_nvram_name(vm->def->name);
    struct stat st;
    int sfd = vm_dirs_open(vm->state_dir, e), rc = -1;

    if (sfd >= 0) {
        if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            rc = 1;
        else if (errno == ENOENT)
            rc = 0;
        else
            cerr_set(e, CE_SYSTEM, "VM %s: cannot examine %s/%s: %s", vm->def->name, vm->state_dir,
                     name, strerror(errno));
        close(sfd);
    }
    free(name);
    return rc;
}

int nvram_keep(struct bvm *vm, struct cerr *e)
{
    char *name = firmware_nvram_name(vm->def->name);
    char *kept = xasprintf("%s-%s_VARS.fd", vm->def->name, vm->def->uuid);
    int top = vm_dirs_open(vm->b->state_dir, e), sfd = -1, kfd = -1, rc = -1;

    if (top < 0 || (sfd = vm_dirs_open(vm->state_dir, e)) < 0 ||
        (kfd = vm_dirs_open_sub(top, "nvram", 0700, "the kept NVRAM directory", e)) < 0)
        goto out;
    if (vm_dirs_give(kfd, "the kept NVRAM directory", 0, 0, 0700, e) < 0)
        goto out;
    if (renameat2(sfd, name, kfd, kept, RENAME_NOREPLACE) < 0 || fsync(kfd) < 0 || fsync(sfd) < 0) {
        cerr_set(e, CE_SYSTEM, "VM %s: cannot keep its NVRAM as %s/nvram/%s: %s", vm->def->name,
                 vm->b->state_dir, kept, strerror(errno));
        goto out;
    }
    log_info("VM %s: NVRAM kept as %s/nvram/%s", vm->def->name, vm->b->state_dir, kept);
    rc = 0;
out:
    if (kfd >= 0)
        close(kfd);
    if (sfd >= 0)
        close(sfd);
    if (top >= 0)
        close(top);
    free(name);
    free(kept);
    return rc;
}
