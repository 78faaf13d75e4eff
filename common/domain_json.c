#include "common/domain_json.h"

#include "common/json.h"

cJSON *domain_json_info(const struct domain_def *def)
{
    cJSON *o = json_obj(), *disks = json_arr();

    json_add_str(o, "name", def->name);
    json_add_str(o, "uuid", def->uuid);
    json_add_str(o, "virt", def->virt == DOMAIN_VIRT_KVM ? "kvm" : "qemu");
    json_add_num(o, "memory_kib", (double)def->memory_kib);
    json_add_num(o, "current_memory_kib", (double)def->current_memory_kib);
    json_add_num(o, "vcpus", def->vcpus);
    json_add_str(o, "arch", def->arch);
    json_add_str(o, "machine", def->machine);
    json_add_str(o, "emulator", def->emulator);
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        cJSON *dj = json_obj();
        json_add_str(dj, "target", d->target);
        json_add_str(dj, "source", d->source);
        json_add_str(dj, "format", d->format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
        json_add_bool(dj, "readonly", d->readonly);
        json_arr_add(disks, dj);
    }
    json_add(o, "disks", disks);
    return o;
}
