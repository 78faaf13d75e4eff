#include "broker/registry.h"

#include "broker/identity.h"
#include "broker/nvram.h"
#include "broker/redefine.h"
#include "broker/vm_dirs.h"
#include "broker/vm_migrate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/domain_json.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/runrec.h"
#include "common/names.h"
#include "common/xml_safe.h"
#include "proto/conn.h"
#include "proto/rpc.h"
#include "proto/server.h"

#define STATUS_MAX (64 * 1024)

static struct bvm *bvm_new(struct broker *b, struct domain_def *def)
{
    struct bvm *vm = xcalloc(1, sizeof(*vm));

    vm->b = b;
    vm->def = def;
    vm->state_dir = xasprintf("%s/vms/%s", b->state_dir, def->name);
    vm->vm_dir = xasprintf("%s/vm", vm->state_dir);
    vm->run_dir = xasprintf("%s/vm/%s", b->run_dir, def->name);
    vm->sup_pidfd = -1;
    vm->qemu_pidfd = -1;
    vm->status_fd = -1;
    snprintf(vm->state, sizeof(vm->state), "shut off");
    snprintf(vm->reason, sizeof(vm->reason), "defined");
    return vm;
}

static void bvm_free(struct bvm *vm)
{
    domain_def_free(vm->def);
    domain_def_free(vm->live_def);
    free(vm->state_dir);
    free(vm->vm_dir);
    free(vm->run_dir);
    free(vm->status_buf);
    free(vm->handed);
    cJSON_Delete(vm->job_reports);
    free(vm);
}

bool bvm_active(const struct bvm *vm)
{
    return vm->sup_pidfd >= 0 || lifecycle_degraded(vm->phase);
}

void bvm_add_restarts(const struct bvm *vm, cJSON *info)
{
    json_add_num(info, "supervisor_restarts", vm->sup_restarts);
    json_add_num(info, "reattached", vm->reattached);
    if (vm->last_restart_time != 0) {
        cJSON *last = json_obj();
        json_add_num(last, "time", (double)vm->last_restart_time);
        json_add_str(last, "why", vm->last_restart_why);
        json_add(info, "last_restart", last);
    }
}

static cJSON *status_json(const struct bvm *vm)
{
    cJSON *o = json_obj();

    json_add_str(o, "state", vm->state);
    json_add_str(o, "reason", vm->reason);
    json_add_num(o, "time", (double)time(NULL));
    bvm_add_restarts(vm, o);
    return o;
}

void bvm_persist_status(const struct bvm *vm)
{
    char *path = xasprintf("%s/status.json", vm->state_dir);
    cJSON *o = status_json(vm);
    struct cerr e;

    /* Not synced: after a power cut no VM runs whatever the file says, and
     * a stale shut-off reason or restart count is all a lost write costs
     * (restore_status takes a missing or malformed file). */
    if (json_replace_file(path, o, 0640, &e) < 0)
        log_err_code(cerr_name(e.code), "VM %s: cannot persist its state: %s", vm->def->name,
                     e.msg);
    cJSON_Delete(o);
    free(path);
}

void bvm_persist_status_many(struct bvm *const *vms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bvm_persist_status(vms[i]);
}

cJSON *bvm_state_json(const struct bvm *vm)
{
    cJSON *o = json_obj();

    json_add_str(o, "name", vm->def->name);
    json_add_str(o, "state", vm->state);
    json_add_str(o, "reason", vm->reason);
    return o;
}

void bvm_set_state(struct bvm *vm, const char *state, const char *fmt, ...)
{
    char reason[sizeof(vm->reason)];
    cJSON *ev;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (strcmp(vm->state, state) == 0 && strcmp(vm->reason, reason) == 0)
        return;
    snprintf(vm->state, sizeof(vm->state), "%s", state);
    snprintf(vm->reason, sizeof(vm->reason), "%s", reason);
    log_info("VM %s: %s (%s)", vm->def->name, state, reason);
    bvm_persist_status(vm);
    if (vm->b->srv != NULL) {
        ev = bvm_state_json(vm);
        json_add_num(ev, "time", (double)time(NULL));
        rpc_server_broadcast(vm->b->srv, vm->def->uuid, "vm.state", ev);
    }
}

void bvm_count_restart(struct bvm *vm, unsigned *counter, const char *why)
{
    (*counter)++;
    vm->last_restart_time = time(NULL);
    snprintf(vm->last_restart_why, sizeof(vm->last_restart_why), "%s", why);
}

void bvm_note_restart(struct bvm *vm, unsigned *counter, const char *why)
{
    bvm_count_restart(vm, counter, why);
    bvm_persist_status(vm);
}

cJSON *bvm_info_json(const struct bvm *vm)
{
    /* Degraded or re-adopting, QEMU runs on its live definition. */
    cJSON *o = domain_json_info(redefine_live(vm));
    struct cerr e;
    /* Written by the supervisor. */
    cJSON *facts = vm_dirs_read_json(vm->vm_dir, RUNREC_EXIT_FILE, RUNREC_MAX, &e);
    struct runrec_exit x;
    bool have_exit = runrec_exit_parse(facts, &x);

    json_add_str(o, "state", vm->state);
    json_add_str(o, "reason", vm->reason);
    /* Known to the broker while no supervisor can answer: QEMU runs on
     * unmanaged, or a new supervisor is taking it over. */
    if (vm->phase == LIFECYCLE_READOPTING)
        json_add_num(o, "supervisor_pid", vm->sup_pid);
    if (lifecycle_degraded(vm->phase) || vm->phase == LIFECYCLE_READOPTING)
        json_add_num(o, "qemu_pid", vm->qemu_pid);
    bvm_add_restarts(vm, o);
    json_add_bool(o, "autostart", vm->autostart);
    redefine_add_info(vm, o);
    cJSON_Delete(facts);
    if (have_exit)
        json_add(o, "last_exit", runrec_exit_to_json(&x));
    return o;
}

static void restore_owner(struct bvm *vm)
{
    struct cerr e;
    cJSON *o = vm_dirs_read_json(vm->state_dir, "owner.json", STATUS_MAX, &e);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "uid");

    const struct broker *b = vm->b;

    /* A VM without a recorded owner is root's. */
    vm->owner = cJSON_IsNumber(u) && u->valuedouble >= 0 && u->valuedouble < 4294967295.0
                    ? (uid_t)u->valuedouble
                    : 0;
    /* A VM's uid is nobody's login: an owner from the range was written by
     * one (the old layout let it). */
    if (b->isolate && vm->owner >= b->uid_min && vm->owner <= b->uid_max) {
        log_err("VM %s: owner.json names uid %ld of the VM uid range; the VM is root's",
                vm->def->name, (long)vm->owner);
        vm->owner = 0;
    }
    cJSON_Delete(o);
}

/* The counters belong to the VM's current run, which may well outlive
 * the broker. */
static void restore_restarts(struct bvm *vm, const cJSON *st)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "supervisor_restarts");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(st, "reattached");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(st, "last_restart");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(last, "time");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(last, "why");

    if (cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble < 1e9)
        vm->sup_restarts = (unsigned)n->valuedouble;
    if (cJSON_IsNumber(a) && a->valuedouble >= 0 && a->valuedouble < 1e9)
        vm->reattached = (unsigned)a->valuedouble;
    if (cJSON_IsNumber(t) && cJSON_IsString(w)) {
        vm->last_restart_time = (time_t)t->valuedouble;
        snprintf(vm->last_restart_why, sizeof(vm->last_restart_why), "%s", w->valuestring);
    }
}

static void restore_status(struct bvm *vm)
{
    struct cerr e;
    cJSON *st = vm_dirs_read_json(vm->state_dir, "status.json", STATUS_MAX, &e);
    const cJSON *s, *r;

    if (st == NULL)
        return;
    s = cJSON_GetObjectItemCaseSensitive(st, "state");
    r = cJSON_GetObjectItemCaseSensitive(st, "reason");
    restore_restarts(vm, st);
    /* Only the inactive states are meaningful from disk: whether a VM runs
     * is decided by its supervisor being there. */
    if (cJSON_IsString(s) && cJSON_IsString(r) &&
        (strcmp(s->valuestring, "shut off") == 0 || strcmp(s->valuestring, "crashed") == 0)) {
        snprintf(vm->state, sizeof(vm->state), "%s", s->valuestring);
        snprintf(vm->reason, sizeof(vm->reason), "%s", r->valuestring);
    }
    cJSON_Delete(st);
}

static void registry_insert(struct broker *b, struct bvm *vm)
{
    struct bvm **pp = &b->vms;

    while (*pp != NULL && strcmp((*pp)->def->name, vm->def->name) < 0)
        pp = &(*pp)->next;
    vm->next = *pp;
    *pp = vm;
}

/* The record is root's, in a directory only root writes. */
static void restore_autostart(struct bvm *vm)
{
    char *path = xasprintf("%s/" REGISTRY_AUTOSTART_FILE, vm->state_dir);
    struct stat st;

    vm->autostart = lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0;
    free(path);
}

int registry_load(struct broker *b, struct cerr *e)
{
    char *dir = xasprintf("%s/vms", b->state_dir);
    struct dirent *de;
    DIR *d;

    if (mkdir_p(dir, 0755, e) < 0) {
        free(dir);
        return -1;
    }
    d = opendir(dir);
    if (d == NULL) {
        cerr_set(e, CE_SYSTEM, "cannot read %s: %s", dir, strerror(errno));
        free(dir);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        struct cerr le;
        char *vmdir;
        struct domain_def *def;

        if (de->d_name[0] == '.') {
            /* Leftovers of an interrupted define or undefine. */
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                char *junk = xasprintf("%s/%s", dir, de->d_name);
                log_warn("removing leftover %s", junk);
                if (rm_rf(junk, &le) < 0)
                    log_err_code(cerr_name(le.code), "%s", le.msg);
                free(junk);
            }
            continue;
        }
        if (!name_vm_valid(de->d_name, &le)) {
            log_warn_code(cerr_name(le.code), "ignoring %s/%s: %s", dir, de->d_name, le.msg);
            continue;
        }
        vmdir = xasprintf("%s/%s", dir, de->d_name);
        bool deferred = false;
        if (vm_migrate_needed(vmdir)) {
            char *rec = xasprintf("%s/vm/%s/" RUNREC_RUN_FILE, b->run_dir, de->d_name);
            /* Its supervisor, running across the upgrade, writes where it
             * always did until it stops. */
            deferred = path_exists(rec);
            free(rec);
            if (deferred)
                log_warn("VM %s: %s is in the old layout and its supervisor runs; it is "
                         "migrated when the VM stops",
                         de->d_name, vmdir);
            else if (vm_migrate(b, vmdir, de->d_name, &le) < 0)
                log_err_code(cerr_name(le.code), "VM %s: cannot migrate %s: %s", de->d_name, vmdir,
                             le.msg);
        }
        def = redefine_read(vmdir, "domain.xml", de->d_name, &le);
        free(vmdir);
        if (def == NULL) {
            log_err_code(cerr_name(le.code), "cannot load VM %s: %s", de->d_name, le.msg);
            continue;
        }
        struct bvm *vm = bvm_new(b, def);
        if (deferred) {
            vm->old_layout = true;
            free(vm->vm_dir);
            vm->vm_dir = xstrdup(vm->state_dir);
        }
        restore_status(vm);
        restore_owner(vm);
        restore_autostart(vm);
        {
            char *rec = xasprintf("%s/" RUNREC_RUN_FILE, vm->run_dir);
            redefine_load(vm, path_exists(rec));
            free(rec);
        }
        registry_insert(b, vm);
        if (identity_assign(b, vm, &le) < 0)
            log_err_code(cerr_name(le.code), "%s", le.msg);
    }
    closedir(d);
    free(dir);
    return 0;
}

struct bvm *registry_find(struct broker *b, const char *name)
{
    for (struct bvm *vm = b->vms; vm != NULL; vm = vm->next) {
        if (strcmp(vm->def->name, name) == 0)
            return vm;
    }
    return NULL;
}

struct bvm *registry_lookup(struct broker *b, const char *name, struct cerr *e)
{
    struct bvm *vm;

    if (!name_vm_valid(name, e))
        return NULL;
    vm = registry_find(b, name);
    if (vm == NULL)
        cerr_set(e, CE_NO_DOMAIN, "no VM named '%s'", name);
    return vm;
}

struct bvm *registry_define_target(struct broker *b, const struct domain_def *def, struct cerr *e)
{
    for (struct bvm *o = b->vms; o != NULL; o = o->next) {
        bool same_name = strcmp(o->def->name, def->name) == 0;
        bool same_uuid = strcmp(o->def->uuid, def->uuid) == 0;

        if (same_name && same_uuid)
            return o;
        /* libvirt's words (virDomainObjListAddLocked). */
        if (same_name) {
            cerr_set(e, CE_DOMAIN_EXISTS, "domain '%s' already exists with uuid %s", def->name,
                     o->def->uuid);
            return NULL;
        }
        if (same_uuid) {
            cerr_set(e, CE_DOMAIN_EXISTS, "domain '%s' is already defined with uuid %s",
                     o->def->name, def->uuid);
            return NULL;
        }
    }
    cerr_set(e, CE_NO_DOMAIN, "no VM named '%s'", def->name);
    return NULL;
}

/* A definition over an existing VM: its directories, owner, identity and
 * snapshot metadata stay. */
static struct bvm *update(struct bvm *vm, struct domain_def *def, char **warnings, struct cerr *e)
{
    if (lifecycle_starting(vm->phase) || vm->phase == LIFECYCLE_READOPTING) {
        cerr_set(e, CE_BUSY,
                 "VM %s: its supervisor is starting and reading its definition; try again",
                 vm->def->name);
        goto fail;
    }
    if (domain_def_check_disks(def, e) < 0 || domain_def_apply_defaults(def, e) < 0 ||
        redefine_update(vm, def, bvm_active(vm), e) < 0)
        goto fail;
    return vm;
fail:
    domain_def_free(def);
    free(*warnings);
    *warnings = NULL;
    return NULL;
}

struct bvm *registry_define(struct broker *b, const char *xml, size_t len, uid_t owner,
                            char **warnings, bool *updated, struct cerr *e)
{
    struct domain_def *def = domain_def_parse(xml, len, warnings, e);
    char *text = NULL, *tmpdir = NULL, *final = NULL, *path = NULL;
    struct bvm *vm = NULL, *old;

    *updated = false;
    if (def == NULL)
        return NULL;
    old = registry_define_target(b, def, e);
    if (old != NULL) {
        *updated = true;
        return update(old, def, warnings, e);
    }
    if (e->code != CE_NO_DOMAIN)
        goto fail;
    /* Generated MACs are stored with the definition: a guest keeps its
     * addresses across restarts. */
    if (domain_def_check_disks(def, e) < 0 || domain_def_apply_defaults(def, e) < 0)
        goto fail;
    /* Built under a dot-name that no VM can have, then renamed: a crash
     * leaves either nothing or the whole definition. */
    text = domain_def_format(def);
    tmpdir = xasprintf("%s/vms/.define-%s", b->state_dir, def->name);
    final = xasprintf("%s/vms/%s", b->state_dir, def->name);
    path = xasprintf("%s/domain.xml", tmpdir);
    if (rm_rf(tmpdir, e) < 0)
        goto fail;
    if (mkdir(tmpdir, 0750) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot create %s: %s", tmpdir, strerror(errno));
        goto fail;
    }
    {
        char *sub = xasprintf("%s/vm", tmpdir);
        int mrc = mkdir(sub, 0750);
        if (mrc < 0)
            cerr_set(e, CE_SYSTEM, "cannot create %s: %s", sub, strerror(errno));
        free(sub);
        if (mrc < 0)
            goto fail_rm;
    }
    if (file_write_atomic(path, text, strlen(text), 0640, e) < 0)
        goto fail_rm;
    {
        char *opath = xasprintf("%s/owner.json", tmpdir);
        char *otext = xasprintf("{\"uid\":%ld}\n", (long)owner);
        int orc = file_write_atomic(opath, otext, strlen(otext), 0640, e);
        free(opath);
        free(otext);
        if (orc < 0)
            goto fail_rm;
    }
    if (rename(tmpdir, final) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot rename %s to %s: %s", tmpdir, final, strerror(errno));
        goto fail_rm;
    }
    char *vmsdir = xasprintf("%s/vms", b->state_dir);
    int rc = dir_fsync(vmsdir, e);
    free(vmsdir);
    if (rc < 0)
        goto fail;
    vm = bvm_new(b, def);
    vm->owner = owner;
    def = NULL;
    registry_insert(b, vm);
    bvm_persist_status(vm);
    if (identity_assign(b, vm, e) < 0)
        log_err_code(cerr_name(e->code), "%s", e->msg);
    log_info("VM %s defined (uuid %s)", vm->def->name, vm->def->uuid);
    goto out;
fail_rm : {
    struct cerr ignored;
    rm_rf(tmpdir, &ignored);
}
fail:
    free(*warnings);
    *warnings = NULL;
out:
    domain_def_free(def);
    free(text);
    free(tmpdir);
    free(final);
    free(path);
    return vm;
}

int registry_undefine(struct broker *b, struct bvm *vm, enum registry_nvram nvram,
                      struct domain_def **take_def, struct cerr *e)
{
    char *trash = xasprintf("%s/vms/.undefine-%s", b->state_dir, vm->def->name);
    char *vmsdir = xasprintf("%s/vms", b->state_dir);
    int rc = -1, has_nvram;

    if (bvm_active(vm) || lifecycle_starting(vm->phase)) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s is %s; destroy or shut it down first",
                 vm->def->name, lifecycle_starting(vm->phase) ? "starting" : vm->state);
        goto out;
    }
    /* Its uid owns what it could not give back: neither may be forgotten
     * (the uid would go to another VM). */
    identity_release(vm);
    if (vm->nhanded > 0) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s still has %zu disk image%s it could not give back (the broker log says "
                 "why); it cannot be undefined until they are back",
                 vm->def->name, vm->nhanded, vm->nhanded == 1 ? "" : "s");
        goto out;
    }
    has_nvram = nvram_exists(vm, e);
    if (has_nvram < 0)
        goto out;
    if (has_nvram == 1 && nvram == REGISTRY_NVRAM_REFUSE) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "cannot undefine VM %s with NVRAM: use --nvram to remove it or --keep-nvram to "
                 "keep it",
                 vm->def->name);
        goto out;
    }
    if (has_nvram == 1 && nvram == REGISTRY_NVRAM_KEEP && nvram_keep(vm, e) < 0)
        goto out;
    /* Renamed away first so that a crash never leaves half a VM. */
    if (rm_rf(trash, e) < 0)
        goto out;
    if (rename(vm->state_dir, trash) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot move %s away: %s", vm->state_dir, strerror(errno));
        goto out;
    }
    if (dir_fsync(vmsdir, e) < 0 || rm_rf(trash, e) < 0)
        goto out;
    for (struct bvm **pp = &b->vms; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == vm) {
            *pp = vm->next;
            break;
        }
    }
    log_info("VM %s undefined", vm->def->name);
    if (take_def != NULL) {
        *take_def = vm->def;
        vm->def = NULL;
    }
    bvm_free(vm);
    rc = 0;
out:
    free(trash);
    free(vmsdir);
    return rc;
}

cJSON *registry_reports(const struct bvm *vm, struct cerr *e)
{
    char *path = xasprintf("%s/inconsistencies.jsonl", vm->state_dir);
    int dfd = open(vm->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cJSON *out = json_arr();
    size_t len = 0;
    char *text = NULL;

    /* No file: nothing was ever reported.  Read as the VM uid's could be
     * while a VM in the old layout still runs (vm_dirs.h). */
    if (dfd < 0 ||
        (path_exists(path) && (text = file_read_untrusted(dfd, "inconsistencies.jsonl",
                                                          64 * 1024 * 1024, &len, e)) == NULL)) {
        if (dfd < 0)
            cerr_set(e, CE_SYSTEM, "cannot open %s: %s", vm->state_dir, strerror(errno));
        else
            close(dfd);
        free(path);
        cJSON_Delete(out);
        return NULL;
    }
    close(dfd);
    free(path);
    if (text == NULL)
        return out;
    for (char *line = text, *nl; line < text + len; line = nl + 1) {
        struct cerr le;
        cJSON *r;
        nl = memchr(line, '\n', (size_t)(text + len - line));
        if (nl == NULL)
            nl = text + len;
        /* A torn last line (a crash mid-append) is skipped, not fatal. */
        r = json_parse(line, (size_t)(nl - line), &le);
        if (r != NULL)
            json_arr_add(out, r);
    }
    free(text);
    return out;
}

void registry_free(struct broker *b)
{
    while (b->vms != NULL) {
        struct bvm *n = b->vms->next;
        bvm_free(b->vms);
        b->vms = n;
    }
}
