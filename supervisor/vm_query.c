/* What a struct vm says of itself: its name, state and configuration,
 * for the supervisor's other parts.  Reads only; supervisor/vm.c changes
 * it. */
#include "supervisor/vm.h"
#include "supervisor/vm_int.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/domain_json.h"
#include "common/fileutil.h"
#include "common/json.h"

const char *vm_state_name(enum vm_state s)
{
    switch (s) {
    case VM_STARTING:
    case VM_PAUSED:
        return "paused";
    case VM_RUNNING:
        return "running";
    case VM_SHUTOFF:
        return "shut off";
    case VM_CRASHED:
        return "crashed";
    }
    return "unknown";
}

const char *vm_name(const struct vm *vm)
{
    return vm->def->name;
}

enum vm_state vm_get_state(const struct vm *vm)
{
    return vm->state;
}

const char *vm_reason(const struct vm *vm)
{
    return vm->reason;
}

cJSON *vm_state_json(const struct vm *vm)
{
    cJSON *o = json_obj();

    json_add_str(o, "name", vm->def->name);
    json_add_str(o, "state", vm_state_name(vm->state));
    json_add_str(o, "reason", vm->reason);
    json_add_num(o, "time", (double)time(NULL));
    return o;
}

cJSON *vm_info_json(const struct vm *vm)
{
    cJSON *o = domain_json_info(vm->def);

    json_add_str(o, "state", vm_state_name(vm->state));
    json_add_str(o, "reason", vm->reason);
    json_add_num(o, "supervisor_pid", getpid());
    if (vm->proc_alive)
        json_add_num(o, "qemu_pid", vm->proc.pid);
    json_add_str(o, "control_socket", vm->control_path);
    json_add_str(o, "qmp_socket", vm->qmp_path);
    if (vm->def->graphics.type == GRAPHICS_VNC && vm->def->graphics.listen == NULL) {
        char *vnc = xasprintf("%s/vnc.sock", vm->run_dir);
        json_add_str(o, "vnc_socket", vnc);
        free(vnc);
    }
    json_add_num(o, "started", (double)vm->started);
    json_add_bool(o, "adopted", vm->adopted);
    return o;
}

bool vm_is_maintenance(const struct vm *vm)
{
    return vm->maintenance;
}

struct event_base *vm_event_base(const struct vm *vm)
{
    return vm->base;
}

struct qmp *vm_qmp_conn(const struct vm *vm)
{
    return vm->qmp;
}

struct snapjobs *vm_snapjobs(const struct vm *vm)
{
    return vm->snapjobs;
}

const struct domain_def *vm_def(const struct vm *vm)
{
    return vm->def;
}

void vm_set_disk_source(struct vm *vm, size_t i, const char *source)
{
    free(vm->def->disks[i].source);
    vm->def->disks[i].source = source != NULL ? xstrdup(source) : NULL;
}

bool vm_is_active(const struct vm *vm)
{
    return vm->proc_alive && vm->state != VM_STARTING && !vm->destroying;
}

bool vm_qemu_fresh(const struct vm *vm)
{
    return vm->state == VM_STARTING && !vm->adopting && !vm->adopted;
}
