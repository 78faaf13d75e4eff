/* The layout before vm/ existed: STATE/vms/NAME was handed whole to the VM's
 * uid, the broker's records next to the supervisor's files.  Converting it
 * takes the directory back for root first, then keeps the broker's records
 * as root-owned copies once they are checked (the VM's uid could have
 * forged them), then moves everything else into vm/.  Each step can be
 * repeated: a migration cut short by a crash is finished at the next
 * start. */
#include "broker/vm_migrate.h"
#include "broker/redefine.h"

#include "broker/vm_dirs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/domain_xml.h"
#include "common/log.h"
#include "common/xml_safe.h"
#include "proto/rpc.h"

/* The broker's records in STATE/vms/NAME, their largest size and mode. */
static const struct root_record {
    const char *name;
    size_t max;
    mode_t mode;
} root_records[] = {
    {"domain.xml", XML_UNTRUSTED_MAX, 0640},
    /* broker/redefine.c: what a running VM runs with after a redefine. */
    {REDEFINE_LIVE_FILE, XML_UNTRUSTED_MAX, 0640},
    {"owner.json", VM_DIRS_RECORD_MAX, 0640},
    {"identity.json", 256 * 1024, 0600},
    {"status.json", VM_DIRS_RECORD_MAX, 0640},
    /* broker/tap.c: the taps of the last run, deleted when it is over. */
    {"taps.json", 4096, 0600},
    {"inconsistencies.jsonl", 64 * 1024 * 1024, 0640},
    /* broker/autostart.c: newer than the old layout. */
    {REGISTRY_AUTOSTART_FILE, 16, 0600},
};
#define NROOT_RECORDS (sizeof(root_records) / sizeof(root_records[0]))

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

bool vm_migrate_needed(const char *dir)
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

/* identity.json: a uid from the range (its disks: filter_disks). */
static bool identity_plausible(const struct broker *b, const cJSON *j)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "uid");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "gid");

    return cJSON_IsNumber(u) && cJSON_IsNumber(g) && u->valuedouble == g->valuedouble &&
           b->isolate && u->valuedouble >= b->uid_min && u->valuedouble <= b->uid_max &&
           u->valuedouble == (double)(uid_t)u->valuedouble;
}

/* Whether one entry of identity.json's disks list is one the broker could
 * have written: a disk of the definition, numbers in range, a mode
 * without set-id bits. */
static bool disk_plausible(const struct domain_def *def, const cJSON *d)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "path");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(d, "uid");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(d, "gid");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "mode");
    bool named = false;

    if (!cJSON_IsString(p) || !cJSON_IsNumber(u) || !cJSON_IsNumber(g) || !cJSON_IsNumber(m) ||
        u->valuedouble < 0 || u->valuedouble >= 4294967295.0 || g->valuedouble < 0 ||
        g->valuedouble >= 4294967295.0 || m->valuedouble < 0 || m->valuedouble > 0777)
        return false;
    for (size_t i = 0; def != NULL && i < def->ndisks && !named; i++)
        named = def->disks[i].source != NULL && strcmp(def->disks[i].source, p->valuestring) == 0;
    return named;
}

/* Drops from identity.json's disks list what the broker cannot have
 * written: root would act on each entry when the VM stops. */
static void filter_disks(int dfd, cJSON *identity, const char *dir, const char *name)
{
    cJSON *disks = cJSON_GetObjectItemCaseSensitive(identity, "disks");
    struct domain_def *def = NULL;
    struct cerr e;
    size_t len = 0;
    char *xml, *warnings = NULL;
    int i = 0;

    if (disks == NULL)
        return;
    xml = file_read_untrusted(dfd, "domain.xml", XML_UNTRUSTED_MAX, &len, &e);
    if (xml != NULL)
        def = domain_def_parse(xml, len, &warnings, &e);
    free(xml);
    free(warnings);
    while (cJSON_IsArray(disks) && i < cJSON_GetArraySize(disks)) {
        cJSON *d = cJSON_GetArrayItem(disks, i);
        char *text = cJSON_PrintUnformatted(d);
        if (disk_plausible(def, d)) {
            log_warn("VM %s: kept from %s/identity.json, where the VM's uid could write it: %s",
                     name, dir, text != NULL ? text : "a disk");
            i++;
        } else {
            log_err("VM %s: dropped from %s/identity.json: %s, which the broker cannot have "
                    "written",
                    name, dir, text != NULL ? text : "a disk");
            cJSON_DeleteItemFromArray(disks, i);
        }
        cJSON_free(text);
    }
    if (!cJSON_IsArray(disks))
        cJSON_DeleteItemFromObjectCaseSensitive(identity, "disks");
    domain_def_free(def);
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
    if (strcmp(r->name, REGISTRY_AUTOSTART_FILE) == 0)
        /* Only the VM's uid can have put it there. */
        keep = false;
    else if (keep && strcmp(r->name, "owner.json") == 0) {
        j = json_parse(text, len, &e);
        keep = owner_plausible(b, j);
    } else if (keep && strcmp(r->name, "identity.json") == 0) {
        j = json_parse(text, len, &e);
        keep = identity_plausible(b, j);
        if (keep) {
            /* What is kept of it is written, not what was read. */
            filter_disks(dfd, j, dir, name);
            free(text);
            text = rpc_serialize(j, &len, &e);
            keep = text != NULL;
        }
    }
    if (!keep) {
        log_err("VM %s: dropping %s from the old layout, where the VM's uid could write it: %s",
                name, path, text == NULL ? e.msg : "its content is not believable");
        if (unlinkat(dfd, r->name, 0) < 0 && errno != ENOENT)
            log_err("VM %s: cannot remove %s: %s", name, path, strerror(errno));
    } else if (file_write_atomic(path, text, len, r->mode, &e) < 0)
        log_err_code(cerr_name(e.code), "VM %s: cannot take %s back for root: %s", name, path,
                     e.msg);
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

int vm_migrate(const struct broker *b, const char *dir, const char *name, struct cerr *e)
{
    int dfd = vm_dirs_open(dir, e), vfd = -1, moved;
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
    if (vm_dirs_give(dfd, dir, 0, 0, 0700, e) < 0) {
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
    vfd = vm_dirs_open_sub(dfd, "vm", 0700, dir, e);
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

int vm_migrate_stopped(struct bvm *vm, struct cerr *e)
{
    struct cerr le;

    if (!vm->old_layout)
        return 0;
    if (vm_migrate(vm->b, vm->state_dir, vm->def->name, &le) < 0) {
        cerr_set(e, CE_SYSTEM,
                 "VM %s: cannot migrate its state directory to the current layout: %s",
                 vm->def->name, le.msg);
        return -1;
    }
    vm->old_layout = false;
    free(vm->vm_dir);
    vm->vm_dir = xasprintf("%s/vm", vm->state_dir);
    return 0;
}
