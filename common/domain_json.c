#include "common/domain_json.h"

#include "common/json.h"

static const char *const cpu_modes[] = {[CPU_MODE_NONE] = "default",
                                        [CPU_MODE_HOST_PASSTHROUGH] = "host-passthrough",
                                        [CPU_MODE_HOST_MODEL] = "host-model",
                                        [CPU_MODE_MAXIMUM] = "maximum",
                                        [CPU_MODE_CUSTOM] = "custom"};
static const char *const net_types[] = {
    [NET_TYPE_USER] = "user", [NET_TYPE_BRIDGE] = "bridge", [NET_TYPE_ETHERNET] = "ethernet"};
static const char *const net_models[] = {
    [NET_MODEL_VIRTIO] = "virtio", [NET_MODEL_E1000] = "e1000", [NET_MODEL_RTL8139] = "rtl8139"};
static const char *const boot_devs[] = {
    [DOMAIN_BOOT_HD] = "hd", [DOMAIN_BOOT_CDROM] = "cdrom", [DOMAIN_BOOT_NETWORK] = "network"};

static cJSON *disks_json(const struct domain_def *def)
{
    cJSON *disks = json_arr();

    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        cJSON *dj = json_obj();
        json_add_str(dj, "target", d->target);
        json_add_str(dj, "type", disk_type_names[d->type]);
        json_add_str(dj, "device", disk_device_names[d->device]);
        json_add_str(dj, "bus", disk_bus_names[d->bus]);
        /* null: a cdrom with no medium */
        json_add_str(dj, "source", d->source);
        json_add_str(dj, "format", d->format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
        json_add_bool(dj, "readonly", d->readonly);
        json_arr_add(disks, dj);
    }
    return disks;
}

/* The model QEMU is given, as dominfo shows it. */
static cJSON *cpu_json(const struct cpu_def *c)
{
    cJSON *o = json_obj();

    json_add_str(o, "mode", cpu_modes[c->mode]);
    json_add_str(o, "model", c->mode == CPU_MODE_CUSTOM ? c->model : NULL);
    if (c->sockets != 0) {
        cJSON *t = json_obj();
        json_add_num(t, "sockets", c->sockets);
        json_add_num(t, "dies", c->dies);
        json_add_num(t, "cores", c->cores);
        json_add_num(t, "threads", c->threads);
        json_add(o, "topology", t);
    }
    return o;
}

static cJSON *forwards_json(const struct net_def *n)
{
    cJSON *a = json_arr();

    for (size_t i = 0; i < n->nforwards; i++) {
        const struct port_forward *f = &n->forwards[i];
        cJSON *o = json_obj();
        json_add_str(o, "proto", f->proto == NET_PROTO_UDP ? "udp" : "tcp");
        json_add_str(o, "address", f->address ? f->address : "127.0.0.1");
        json_add_num(o, "start", f->start);
        json_add_num(o, "end", f->end);
        json_add_num(o, "to", f->to);
        json_arr_add(a, o);
    }
    return a;
}

static cJSON *interfaces_json(const struct domain_def *def)
{
    cJSON *a = json_arr();

    for (size_t i = 0; i < def->nnets; i++) {
        const struct net_def *n = &def->nets[i];
        cJSON *o = json_obj();
        json_add_str(o, "type", net_types[n->type]);
        json_add_str(o, "source", n->bridge);
        json_add_str(o, "target", n->ifname);
        json_add_str(o, "model", net_models[n->model]);
        json_add_str(o, "mac", n->mac);
        if (n->type == NET_TYPE_USER)
            json_add(o, "port_forwards", forwards_json(n));
        json_arr_add(a, o);
    }
    return a;
}

static cJSON *boot_json(const struct domain_def *def)
{
    cJSON *o = json_obj(), *devs = json_arr();

    json_add_str(o, "kernel", def->kernel);
    json_add_str(o, "initrd", def->initrd);
    json_add_str(o, "cmdline", def->cmdline);
    for (size_t i = 0; i < def->nboot_devs; i++)
        json_arr_add(devs, json_str(boot_devs[def->boot_devs[i]]));
    json_add(o, "devs", devs);
    return o;
}

/* What the VM boots: UEFI from its loader, or QEMU's BIOS. */
static cJSON *firmware_json(const struct firmware_def *fw)
{
    cJSON *o = json_obj();

    json_add_str(o, "type", fw->loader != NULL ? "efi" : "bios");
    json_add_str(o, "loader", fw->loader);
    json_add_str(o, "nvram_template", fw->nvram_template);
    json_add_bool(o, "secure", fw->secure);
    return o;
}

static cJSON *devices_json(const struct domain_def *def, cJSON *o)
{
    cJSON *consoles = json_obj();

    json_add_bool(consoles, "serial", def->serial);
    json_add_bool(consoles, "virtio", def->virtio_console);
    json_add(o, "consoles", consoles);
    if (def->graphics.type == GRAPHICS_VNC) {
        cJSON *g = json_obj();
        json_add_str(g, "type", "vnc");
        json_add_str(g, "listen", def->graphics.listen);
        if (def->graphics.listen != NULL)
            json_add_num(g, "port", def->graphics.port);
        json_add(o, "graphics", g);
    }
    json_add(o, "interfaces", interfaces_json(def));
    return o;
}

cJSON *domain_json_info(const struct domain_def *def)
{
    cJSON *o = json_obj();

    json_add_str(o, "name", def->name);
    json_add_str(o, "uuid", def->uuid);
    json_add_str(o, "virt", def->virt == DOMAIN_VIRT_KVM ? "kvm" : "qemu");
    json_add_num(o, "memory_kib", (double)def->memory_kib);
    json_add_num(o, "current_memory_kib", (double)def->current_memory_kib);
    json_add_num(o, "vcpus", def->vcpus);
    json_add_num(o, "vcpus_current", def->vcpus_current);
    json_add(o, "cpu", cpu_json(&def->cpu));
    json_add_str(o, "arch", def->arch);
    json_add_str(o, "machine", def->machine);
    json_add_str(o, "emulator", def->emulator);
    json_add(o, "boot", boot_json(def));
    json_add(o, "firmware", firmware_json(&def->fw));
    json_add(o, "disks", disks_json(def));
    return devices_json(def, o);
}
