#include "broker/identity.h"

#include "broker/vm_dirs.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "proto/rpc.h"

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
    size_t len;
    char *text = rpc_serialize(j, &len, e);
    int rc = text ? file_write_atomic(path, text, len, 0600, e) : -1;

    free(text);
    free(path);
    return rc;
}

int identity_assign(struct broker *b, struct bvm *vm, struct cerr *e)
{
    cJSON *j;
    const cJSON *u;
    uid_t uid;

    if (!b->isolate)
        return 0;
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
    u = cJSON_GetObjectItemCaseSensitive(j, "uid");
    if (cJSON_IsNumber(u) && u->valuedouble >= b->uid_min && u->valuedouble <= b->uid_max) {
        vm->uid = (uid_t)u->valuedouble;
        vm->gid = (gid_t)vm->uid;
        vm->has_identity = true;
        cJSON_Delete(j);
        return 0;
    }
    cJSON_Delete(j);
    for (uid = b->uid_min; uid <= b->uid_max; uid++) {
        bool taken = false;
        for (struct bvm *o = b->vms; o != NULL && !taken; o = o->next)
            taken = o != vm && o->has_identity && o->uid == uid;
        if (!taken)
            break;
    }
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

int identity_prepare(struct bvm *vm, struct cerr *e)
{
    cJSON *j, *disks;

    if (!vm->has_identity)
        return 0;
    j = identity_read(vm);
    if (j == NULL)
        j = json_obj();
    /* Owners recorded by an earlier run that never gave them back (a broker
     * crash) are the real previous owners: keep them. */
    if (cJSON_GetObjectItemCaseSensitive(j, "disks") == NULL) {
        disks = json_arr();
        for (size_t i = 0; i < vm->def->ndisks; i++) {
            struct stat st;
            cJSON *d;
            if (stat(vm->def->disks[i].source, &st) < 0)
                continue; /* the supervisor reports the missing image */
            d = json_obj();
            json_add_str(d, "path", vm->def->disks[i].source);
            json_add_num(d, "uid", st.st_uid);
            json_add_num(d, "gid", st.st_gid);
            json_add_num(d, "mode", st.st_mode & 07777);
            json_arr_add(disks, d);
        }
        json_add(j, "disks", disks);
        if (identity_write(vm, j, e) < 0) {
            cJSON_Delete(j);
            return -1;
        }
    }
    for (size_t i = 0; i < vm->def->ndisks; i++) {
        const char *p = vm->def->disks[i].source;
        char *dir = xstrdup(p);
        struct stat st;
        bool reachable;
        if (stat(p, &st) < 0) {
            free(dir);
            continue;
        }
        *strrchr(dir, '/') = '\0';
        reachable = path_reachable_by_others(dir[0] ? dir : "/", e);
        free(dir);
        if (!reachable) {
            char why[CERR_MSG_MAX];
            snprintf(why, sizeof(why), "%s", e->msg);
            cerr_set(e, CE_SYSTEM, "VM %s: disk %s cannot be reached by the VM's uid %ld: %s",
                     vm->def->name, p, (long)vm->uid, why);
            cJSON_Delete(j);
            return -1;
        }
        /* Owner-only while the VM runs: no other VM's uid may read it. */
        if (chown(p, vm->uid, vm->gid) < 0 || chmod(p, 0600) < 0) {
            cerr_set(e, CE_SYSTEM, "VM %s: cannot hand disk %s to uid %ld: %s", vm->def->name, p,
                     (long)vm->uid, strerror(errno));
            cJSON_Delete(j);
            return -1;
        }
    }
    cJSON_Delete(j);
    return 0;
}

void identity_release(struct bvm *vm)
{
    cJSON *j, *disks, *d;
    struct cerr e;

    if (!vm->has_identity)
        return;
    j = identity_read(vm);
    disks = cJSON_GetObjectItemCaseSensitive(j, "disks");
    cJSON_ArrayForEach(d, disks)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "path");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(d, "uid");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(d, "gid");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "mode");
        if (!cJSON_IsString(p) || !cJSON_IsNumber(u) || !cJSON_IsNumber(g) || !cJSON_IsNumber(m))
            continue;
        if (chown(p->valuestring, (uid_t)u->valuedouble, (gid_t)g->valuedouble) < 0 ||
            chmod(p->valuestring, (mode_t)m->valuedouble) < 0)
            log_warn("VM %s: cannot give disk %s back: %s", vm->def->name, p->valuestring,
                     strerror(errno));
    }
    if (j != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "disks");
        if (identity_write(vm, j, &e) < 0)
            log_warn("VM %s: %s", vm->def->name, e.msg);
    }
    cJSON_Delete(j);
}
