#include "broker/redefine.h"

#include "broker/vm_dirs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xml_safe.h"

struct domain_def *redefine_read(const char *dir, const char *file, const char *name,
                                 struct cerr *e)
{
    int dfd = vm_dirs_open(dir, e);
    size_t len = 0;
    /* Not blocked by a FIFO a VM uid planted while the layout let it. */
    char *xml = dfd >= 0 ? file_read_untrusted(dfd, file, XML_UNTRUSTED_MAX, &len, e) : NULL;
    char *warnings = NULL;
    struct domain_def *def = NULL;

    if (dfd >= 0)
        close(dfd);
    if (xml != NULL)
        def = domain_def_parse(xml, len, &warnings, e);
    if (def != NULL && strcmp(def->name, name) != 0) {
        cerr_set(e, CE_INVALID_XML, "%s/%s names VM %s", dir, file, def->name);
        domain_def_free(def);
        def = NULL;
    }
    free(warnings);
    free(xml);
    return def;
}

static int write_def(const struct bvm *vm, const char *file, const struct domain_def *def,
                     struct cerr *e)
{
    char *path = xasprintf("%s/%s", vm->state_dir, file);
    char *text = domain_def_format(def);
    int rc = file_write_atomic(path, text, strlen(text), 0640, e);

    free(text);
    free(path);
    return rc;
}

int redefine_update(struct bvm *vm, struct domain_def *def, bool active, struct cerr *e)
{
    /* A supervisor that read its definition runs on it: recorded before
     * domain.xml changes, so that a crash between the two leaves either
     * nothing pending or the whole split. */
    bool keep_live = vm->live_def == NULL && active;

    if (keep_live && write_def(vm, REDEFINE_LIVE_FILE, vm->def, e) < 0)
        return -1;
    if (write_def(vm, "domain.xml", def, e) < 0)
        return -1;
    if (keep_live)
        vm->live_def = vm->def;
    else
        domain_def_free(vm->def);
    vm->def = def;
    log_info("VM %s redefined (uuid %s)%s", def->name, def->uuid,
             redefine_pending(vm) ? "; it runs on its previous definition until it stops" : "");
    return 0;
}

static void remove_live(const struct bvm *vm)
{
    char *path = xasprintf("%s/%s", vm->state_dir, REDEFINE_LIVE_FILE);
    struct cerr e;

    if (file_remove_durable(path, &e) < 0)
        log_err_code(cerr_name(e.code), "VM %s: %s", vm->def->name, e.msg);
    free(path);
}

void redefine_load(struct bvm *vm, bool has_run_record)
{
    char *path = xasprintf("%s/%s", vm->state_dir, REDEFINE_LIVE_FILE);
    bool exists = path_exists(path);
    struct cerr e;

    free(path);
    if (!exists)
        return;
    if (!has_run_record) {
        remove_live(vm);
        return;
    }
    vm->live_def = redefine_read(vm->state_dir, REDEFINE_LIVE_FILE, vm->def->name, &e);
    if (vm->live_def == NULL)
        log_err_code(cerr_name(e.code), "VM %s: cannot read the definition it runs with: %s",
                     vm->def->name, e.msg);
}

void redefine_apply(struct bvm *vm)
{
    if (vm->live_def == NULL)
        return;
    if (redefine_pending(vm))
        log_info("VM %s stopped: it starts with its new definition", vm->def->name);
    domain_def_free(vm->live_def);
    vm->live_def = NULL;
    remove_live(vm);
}

char *redefine_definition_path(const struct bvm *vm, bool adopt)
{
    return xasprintf("%s/%s", vm->state_dir,
                     adopt && vm->live_def != NULL ? REDEFINE_LIVE_FILE : "domain.xml");
}

const struct domain_def *redefine_live(const struct bvm *vm)
{
    return vm->live_def != NULL ? vm->live_def : vm->def;
}

bool redefine_pending(const struct bvm *vm)
{
    char *a, *b;
    bool differ;

    if (vm->live_def == NULL)
        return false;
    a = domain_def_format(vm->live_def);
    b = domain_def_format(vm->def);
    differ = strcmp(a, b) != 0;
    free(a);
    free(b);
    return differ;
}

void redefine_add_info(const struct bvm *vm, cJSON *info)
{
    cJSON_DeleteItemFromObjectCaseSensitive(info, "pending_changes");
    json_add_bool(info, "pending_changes", redefine_pending(vm));
}

cJSON *redefine_dumpxml_result(const struct bvm *vm)
{
    char *xml = domain_def_format(redefine_live(vm));
    cJSON *r = json_obj();

    json_add_str(r, "xml", xml);
    free(xml);
    return r;
}

/* A copy through the text domain.xml holds, which the parser re-checks. */
static struct domain_def *copy_def(const struct domain_def *def, struct cerr *e)
{
    char *text = domain_def_format(def), *warnings = NULL;
    struct domain_def *copy = domain_def_parse(text, strlen(text), &warnings, e);

    free(warnings);
    free(text);
    return copy;
}

int redefine_change_media(struct bvm *vm, const char *disk, const char *file, const char *mode,
                          bool active, struct cerr *e)
{
    bool insert = mode != NULL && strcmp(mode, "insert") == 0;
    struct domain_def *def;
    struct disk_def *d;
    int i;

    if (mode != NULL && strcmp(mode, "eject") == 0)
        file = NULL;
    else if (mode != NULL && !insert && strcmp(mode, "update") != 0) {
        cerr_set(e, CE_INVALID_PARAMS, "parameter \"mode\" must be eject, insert or update");
        return -1;
    }

    if (lifecycle_starting(vm->phase) || vm->phase == LIFECYCLE_READOPTING) {
        cerr_set(e, CE_BUSY,
                 "VM %s: its supervisor is starting and reading its definition; try again",
                 vm->def->name);
        return -1;
    }
    i = domain_def_find_medium(vm->def, disk, file, insert, e);
    if (i < 0)
        return -1;
    def = copy_def(vm->def, e);
    if (def == NULL)
        return -1;
    d = &def->disks[i];
    free(d->source);
    d->source = file != NULL ? xstrdup(file) : NULL;
    if (domain_def_check_disks(def, e) < 0 || redefine_update(vm, def, active, e) < 0) {
        domain_def_free(def);
        return -1;
    }
    return i;
}

int redefine_media_targets(const struct bvm *vm, bool running, bool *live, bool *config,
                           struct cerr *e)
{
    if (!*live && !*config) {
        *live = running;
        *config = !running;
    }
    if (*live && !running) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s is not running: --live changes a running VM's medium (--config changes "
                 "its definition)",
                 vm->def->name);
        return -1;
    }
    return 0;
}

cJSON *redefine_media_result(const struct bvm *vm, size_t disk)
{
    cJSON *r = json_obj();

    json_add_str(r, "target", vm->def->disks[disk].target);
    json_add_str(r, "source", vm->def->disks[disk].source);
    return r;
}
