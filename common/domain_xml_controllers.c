/* The controllers and the memory balloon libvirt adds to a pc or q35
 * machine: read back from a dump, shown by dumpxml, and where each PCI
 * device of the VM is plugged (the plan the supervisor gives QEMU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/domain_xml_int.h"
#include "common/names.h"
#include "common/xml_safe.h"

/* libvirt's root ports number port= from slot * 8 + function. */
#define ROOT_PORT_FUNCTIONS 8

bool domain_def_is_q35(const struct domain_def *def)
{
    return strncmp(def->machine, "q35", 3) == 0 || strncmp(def->machine, "pc-q35", 6) == 0;
}

static bool has_disk_bus(const struct domain_def *def, enum disk_bus bus)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        if (def->disks[i].bus == bus)
            return true;
    }
    return false;
}

/* libvirt's order of assignment on q35 (qemuDomainAssignDevicePCISlots):
 * interfaces, the USB and other controllers, virtio disks, the balloon;
 * each PCIe endpoint on a root port of its own, and one port left free
 * for hotplug, as libvirt leaves it. */
void domain_def_pci_plan(const struct domain_def *def, struct domain_pci_plan *p)
{
    unsigned int next = 1;

    memset(p, 0, sizeof(*p));
    p->q35 = domain_def_is_q35(def);
    if (!p->q35)
        return;
    for (size_t i = 0; i < def->nnets; i++)
        p->net_port[i] = next++;
    p->usb_port = next++;
    if (has_disk_bus(def, DISK_BUS_SCSI))
        p->scsi_port = next++;
    if (def->virtio_console)
        p->vserial_port = next++;
    for (size_t i = 0; i < def->ndisks; i++) {
        if (def->disks[i].bus == DISK_BUS_VIRTIO)
            p->disk_port[i] = next++;
    }
    if (!def->memballoon_none)
        p->balloon_port = next++;
    p->nports = next;
    /* The primary video takes slot 1, as libvirt puts it there. */
    p->port_slot = def->graphics.type == GRAPHICS_VNC ? 2 : 1;
}

static void note_other(struct parse_ctx *c, const char *type, const char *model)
{
    char path[DOMAIN_IGNORED_PATH_LEN], t[32], m[32];

    name_escape(type, t, sizeof(t));
    name_escape(model, m, sizeof(m));
    snprintf(path, sizeof(path), "devices/controller type='%s' model='%s' (corral chooses it)", t,
             m);
    dx_note_ignored_path(c, path);
}

/* A controller of a kind corral adds by itself is read without a word
 * (a dump shows them); another model of one is listed as ignored. */
int dx_parse_controller(struct parse_ctx *c, xmlNodePtr n)
{
    static const char *const kinds[][4] = {{"usb", "qemu-xhci", "piix3-uhci", NULL},
                                           {"pci", "pci-root", "pcie-root", "pcie-root-port"},
                                           {"scsi", "virtio-scsi", NULL, NULL},
                                           {"sata", NULL, NULL, NULL},
                                           {"ide", NULL, NULL, NULL},
                                           {"virtio-serial", NULL, NULL, NULL}};
    char *type = xml_node_prop(n, "type"), *model = xml_node_prop(n, "model");
    bool known = false, fits = model == NULL;

    for (size_t i = 0; type != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(type, kinds[i][0]) != 0)
            continue;
        known = true;
        for (size_t j = 1; j < 4 && model != NULL && kinds[i][j] != NULL; j++)
            fits = fits || strcmp(model, kinds[i][j]) == 0;
    }
    if (!known)
        dx_note_ignored(c, "devices", n);
    else if (!fits)
        note_other(c, type, model);
    free(type);
    free(model);
    return 0;
}

int dx_parse_memballoon(struct parse_ctx *c, xmlNodePtr n)
{
    static const char *const models[] = {"virtio", "none", NULL};
    int model;

    if (dx_once(c, &c->have_memballoon, "devices/memballoon") < 0)
        return -1;
    /* 2: absent, which libvirt refuses too. */
    model = dx_enum_attr(c, n, "model", "devices/memballoon model", models, 2);
    if (model < 0)
        return -1;
    if (model == 2) {
        cerr_set(c->e, CE_INVALID_XML, "devices/memballoon has no model attribute");
        return -1;
    }
    c->def->memballoon_none = model == 1;
    return 0;
}

static xmlNodePtr controller(xmlNodePtr devices, const char *type, unsigned int index,
                             const char *model)
{
    xmlNodePtr n = dx_add_child(devices, "controller", NULL);

    dx_add_prop(n, "type", type);
    dx_add_uint_prop(n, "index", index);
    if (model != NULL)
        dx_add_prop(n, "model", model);
    return n;
}

static void format_root_ports(const struct domain_pci_plan *p, xmlNodePtr devices)
{
    for (unsigned int i = 1; i <= p->nports; i++) {
        xmlNodePtr n = controller(devices, "pci", i, "pcie-root-port"), t;
        char port[16];

        dx_add_prop(dx_add_child(n, "model", NULL), "name", "pcie-root-port");
        t = dx_add_child(n, "target", NULL);
        dx_add_uint_prop(t, "chassis", i);
        snprintf(port, sizeof(port), "0x%x", p->port_slot * ROOT_PORT_FUNCTIONS + i - 1);
        dx_add_prop(t, "port", port);
    }
}

/* What libvirt's post-parse adds (the machine's USB, its disk controller
 * and PCI root), then the controllers the disks and consoles need, then
 * the root ports address assignment adds. */
void dx_format_controllers(const struct domain_def *def, xmlNodePtr devices)
{
    struct domain_pci_plan p;

    if (strcmp(def->machine, "none") == 0)
        return;
    domain_def_pci_plan(def, &p);
    controller(devices, "usb", 0, p.q35 ? "qemu-xhci" : "piix3-uhci");
    controller(devices, p.q35 ? "sata" : "ide", 0, NULL);
    controller(devices, "pci", 0, p.q35 ? "pcie-root" : "pci-root");
    if (!p.q35 && has_disk_bus(def, DISK_BUS_SATA))
        controller(devices, "sata", 0, NULL);
    if (has_disk_bus(def, DISK_BUS_SCSI))
        controller(devices, "scsi", 0, "virtio-scsi");
    if (def->virtio_console)
        controller(devices, "virtio-serial", 0, NULL);
    format_root_ports(&p, devices);
}

void dx_format_memballoon(const struct domain_def *def, xmlNodePtr devices)
{
    if (strcmp(def->machine, "none") == 0)
        return;
    dx_add_prop(dx_add_child(devices, "memballoon", NULL), "model",
                def->memballoon_none ? "none" : "virtio");
}
