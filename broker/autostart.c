#include "broker/autostart.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/policy.h"
#include "broker/registry.h"
#include "broker/spawn.h"
#include "common/fileutil.h"
#include "common/log.h"

#define BOOT_MARKER "autostarted"

int autostart_set(struct bvm *vm, bool enable, struct cerr *e)
{
    char *path = xasprintf("%s/" REGISTRY_AUTOSTART_FILE, vm->state_dir);
    int rc = enable ? file_write_atomic(path, "1\n", 2, 0600, e) : file_remove_durable(path, e);

    if (rc == 0) {
        vm->autostart = enable;
        log_info("VM %s: autostart %s", vm->def->name, enable ? "enabled" : "disabled");
    }
    free(path);
    return rc;
}

/* Whether this is the first broker start since the host booted: the
 * marker is made now if so. */
static bool first_since_boot(const struct broker *b)
{
    char *path = xasprintf("%s/" BOOT_MARKER, b->run_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool first = fd >= 0;

    if (fd >= 0)
        close(fd);
    else if (errno != EEXIST)
        /* Starting VMs twice in one boot would be worse than not at all. */
        log_err("cannot create %s (%s): autostart VMs are not started", path, strerror(errno));
    free(path);
    return first;
}

static void start_one(struct bvm *vm)
{
    struct cerr e;

    /* As its owner would start it: the policy may have changed since. */
    if (policy_check_start(vm->b, vm->owner, vm, &e) < 0) {
        log_err_code(cerr_name(e.code), "VM %s: not autostarted: %s", vm->def->name, e.msg);
        return;
    }
    vm->start_paused = false;
    log_info("VM %s: autostarting", vm->def->name);
    if (spawn_start(vm, false, &e) < 0)
        log_err_code(cerr_name(e.code), "VM %s: not autostarted: %s", vm->def->name, e.msg);
}

void autostart_boot(struct broker *b)
{
    bool first = first_since_boot(b);

    for (struct bvm *vm = b->vms; first && vm != NULL; vm = vm->next) {
        if (vm->phase != LIFECYCLE_OFF || bvm_active(vm)) {
            log_info("VM %s runs already: this broker start re-attaches, and starts no "
                     "autostart VM",
                     vm->def->name);
            return;
        }
    }
    for (struct bvm *vm = b->vms; first && vm != NULL; vm = vm->next) {
        if (vm->autostart)
            start_one(vm);
    }
}
