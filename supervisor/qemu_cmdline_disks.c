#include "supervisor/qemu_cmdline_disks.h"

#include <stdio.h>
#include <string.h>

#include "common/fileutil.h"

/* AHCI ports of ich9-ahci (one disk each), and PIIX's IDE: two buses of
 * two units. */
#define SATA_PORTS 6
#define IDE_UNITS 4

void qemu_node_name(const struct disk_def *d, char *buf, size_t len)
{
    /* Target names are at most 16 characters, so this stays within QEMU's
     * 31-character node-name limit. */
    snprintf(buf, len, "drive-%s", d->target);
}

void qemu_disk_boot_indexes(const struct domain_def *def, unsigned int *boot)
{
    unsigned int hd = 0, cdrom = 0;
    bool hd_done = false, cdrom_done = false;

    for (size_t i = 0; i < def->nboot_devs; i++) {
        if (def->boot_devs[i] == DOMAIN_BOOT_HD && hd == 0)
            hd = (unsigned int)i + 1;
        else if (def->boot_devs[i] == DOMAIN_BOOT_CDROM && cdrom == 0)
            cdrom = (unsigned int)i + 1;
    }
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        boot[i] = d->boot_order;
        if (d->device == DISK_DEVICE_DISK && !hd_done) {
            hd_done = true;
            if (hd != 0)
                boot[i] = hd;
        } else if (d->device == DISK_DEVICE_CDROM && !cdrom_done) {
            cdrom_done = true;
            if (cdrom != 0)
                boot[i] = cdrom;
        }
    }
}

/* The disk's index among its bus's (sda 0, sdb 1, hdc 2), as libvirt's
 * virDiskNameToIndex reads the letters after the two-letter prefix;
 * -1 when they are not all letters. */
static int target_index(const char *target)
{
    int idx = 0;
    const char *p = target + 2;

    if (*p == '\0')
        return -1;
    for (; *p != '\0'; p++) {
        if (*p < 'a' || *p > 'z' || idx > 1000)
            return -1;
        idx = idx * 26 + (*p - 'a') + 1;
    }
    return idx - 1;
}

/* The cache.direct and cache.no-flush flags libvirt maps each cache mode
 * to (qemuDomainDiskCachemodeFlags); NULL for the default. */
static cJSON *cache_obj(const struct disk_def *d)
{
    cJSON *c;

    if (d->cache == DISK_CACHE_DEFAULT)
        return NULL;
    c = json_obj();
    json_add_bool(c, "direct", d->cache == DISK_CACHE_NONE || d->cache == DISK_CACHE_DIRECTSYNC);
    json_add_bool(c, "no-flush", d->cache == DISK_CACHE_UNSAFE);
    return c;
}

static void add_nodes(struct argv_list *a, const struct disk_def *d)
{
    static const char *const aio[] = {
        [DISK_IO_NATIVE] = "native", [DISK_IO_THREADS] = "threads", [DISK_IO_URING] = "io_uring"};
    static const char *const zeroes[] = {
        [DISK_ZEROES_OFF] = "off", [DISK_ZEROES_ON] = "on", [DISK_ZEROES_UNMAP] = "unmap"};
    char node[64], filenode[80];
    cJSON *file = json_obj(), *fmt = json_obj(), *cache;
    const char *proto = "file";

    if (d->type == DISK_TYPE_BLOCK)
        proto = d->device == DISK_DEVICE_CDROM ? "host_cdrom" : "host_device";
    qemu_node_name(d, node, sizeof(node));
    snprintf(filenode, sizeof(filenode), "%s-file", node);
    json_add_str(file, "driver", proto);
    json_add_str(file, "filename", d->source);
    json_add_str(file, "node-name", filenode);
    json_add_bool(file, "read-only", d->readonly);
    json_add_bool(file, "auto-read-only", false);
    /* libvirt lets every storage node pass discards; the format node
     * decides (<driver discard>). */
    json_add_str(file, "discard", "unmap");
    if (d->io != DISK_IO_DEFAULT)
        json_add_str(file, "aio", aio[d->io]);
    if ((cache = cache_obj(d)) != NULL)
        json_add(file, "cache", cache);
    argv_add(a, "-blockdev");
    argv_add_json(a, file);

    json_add_str(fmt, "driver", d->format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
    json_add_str(fmt, "file", filenode);
    json_add_str(fmt, "node-name", node);
    json_add_bool(fmt, "read-only", d->readonly);
    if (d->discard != DISK_DISCARD_DEFAULT)
        json_add_str(fmt, "discard", d->discard == DISK_DISCARD_UNMAP ? "unmap" : "ignore");
    /* libvirt asks for unmap only where discards reach the image. */
    if (d->detect_zeroes != DISK_ZEROES_DEFAULT)
        json_add_str(fmt, "detect-zeroes",
                     d->detect_zeroes == DISK_ZEROES_UNMAP && d->discard != DISK_DISCARD_UNMAP
                         ? "on"
                         : zeroes[d->detect_zeroes]);
    if ((cache = cache_obj(d)) != NULL)
        json_add(fmt, "cache", cache);
    /* The domain XML subset has no backingStore: a backing file named in
     * the image's header (a host path, json:, nbd:) is never opened. */
    if (d->format == DISK_FORMAT_QCOW2)
        json_add_str(fmt, "backing", NULL); /* JSON null */
    argv_add(a, "-blockdev");
    argv_add_json(a, fmt);
}

/* Controllers a bus needs, added once before the first disk on it (the
 * USB controller is every VM's, added before the disks). */
struct controllers {
    bool scsi, sata;
    struct domain_pci_plan plan;
};

/* On q35 a PCIe endpoint sits on its root port, as libvirt plugs it. */
static void add_pci_bus(cJSON *dev, unsigned int port)
{
    char bus[32];

    if (port == 0)
        return;
    snprintf(bus, sizeof(bus), "pci.%u", port);
    json_add_str(dev, "bus", bus);
    json_add_str(dev, "addr", "0x0");
}

static int unsupported(const struct domain_def *def, const struct disk_def *d, const char *why,
                       struct cerr *e)
{
    cerr_set(e, CE_UNSUPPORTED, "VM %s: disk %s (bus='%s'): %s", def->name, d->target,
             disk_bus_names[d->bus], why);
    return -1;
}

/* Where on its bus the device goes: driver, bus and unit properties.
 * libvirt's machine families: q35 has an AHCI controller built in (its
 * ports are ide.0 to ide.5) and no PIIX IDE; pc (i440fx) has PIIX IDE and
 * gets an ich9-ahci for SATA. */
static int place_device(struct argv_list *a, const struct domain_def *def, size_t i,
                        struct controllers *ctl, cJSON *dev, struct cerr *e)
{
    const struct disk_def *d = &def->disks[i];
    bool cd = d->device == DISK_DEVICE_CDROM, q35 = ctl->plan.q35;
    int idx = target_index(d->target);
    char bus[32];

    switch (d->bus) {
    case DISK_BUS_VIRTIO:
        json_add_str(dev, "driver", "virtio-blk-pci");
        add_pci_bus(dev, ctl->plan.disk_port[i]);
        return 0;
    case DISK_BUS_SCSI:
        if (!ctl->scsi) {
            cJSON *scsi = json_obj();

            json_add_str(scsi, "driver", "virtio-scsi-pci");
            json_add_str(scsi, "id", "scsi0");
            add_pci_bus(scsi, ctl->plan.scsi_port);
            argv_add(a, "-device");
            argv_add_json(a, scsi);
            ctl->scsi = true;
        }
        json_add_str(dev, "driver", cd ? "scsi-cd" : "scsi-hd");
        json_add_str(dev, "bus", "scsi0.0");
        return 0;
    case DISK_BUS_IDE:
        if (q35)
            return unsupported(def, d, "q35 has no IDE controller (use bus='sata')", e);
        if (idx < 0 || idx >= IDE_UNITS)
            return unsupported(def, d, "IDE has four units, hda to hdd", e);
        snprintf(bus, sizeof(bus), "ide.%d", idx / 2);
        json_add_str(dev, "driver", cd ? "ide-cd" : "ide-hd");
        json_add_str(dev, "bus", bus);
        json_add_num(dev, "unit", idx % 2);
        return 0;
    case DISK_BUS_SATA:
        if (idx < 0 || idx >= SATA_PORTS)
            return unsupported(def, d, "the AHCI controller has six ports, sda to sdf", e);
        if (!q35 && !ctl->sata) {
            argv_add(a, "-device");
            argv_add(a, "{\"driver\":\"ich9-ahci\",\"id\":\"sata0\"}");
            ctl->sata = true;
        }
        snprintf(bus, sizeof(bus), "%s.%d", q35 ? "ide" : "sata0", idx);
        json_add_str(dev, "driver", cd ? "ide-cd" : "ide-hd");
        json_add_str(dev, "bus", bus);
        return 0;
    case DISK_BUS_USB:
        json_add_str(dev, "driver", "usb-storage");
        json_add_str(dev, "bus", "usb.0");
        return 0;
    }
    return unsupported(def, d, "unknown bus", e);
}

static int add_device(struct argv_list *a, const struct domain_def *def, size_t i,
                      struct controllers *ctl, unsigned int bootindex, struct cerr *e)
{
    const struct disk_def *d = &def->disks[i];
    cJSON *dev = json_obj();
    char node[64];

    if (place_device(a, def, i, ctl, dev, e) < 0) {
        cJSON_Delete(dev);
        return -1;
    }
    /* An empty tray has no node: QEMU gives the device an empty
     * BlockBackend that change-media fills. */
    if (d->source != NULL) {
        qemu_node_name(d, node, sizeof(node));
        json_add_str(dev, "drive", node);
    }
    json_add_str(dev, "id", d->target);
    if (bootindex != 0)
        json_add_num(dev, "bootindex", bootindex);
    if (d->serial != NULL)
        json_add_str(dev, "serial", d->serial);
    /* The guest's view of the cache: libvirt's write-cache for each mode. */
    if (d->cache != DISK_CACHE_DEFAULT)
        json_add_str(dev, "write-cache",
                     d->cache == DISK_CACHE_WRITETHROUGH || d->cache == DISK_CACHE_DIRECTSYNC
                         ? "off"
                         : "on");
    argv_add(a, "-device");
    argv_add_json(a, dev);
    return 0;
}

int qemu_add_disks(struct argv_list *a, const struct domain_def *def, bool devices,
                   const unsigned int *boot, struct cerr *e)
{
    struct controllers ctl = {.scsi = false, .sata = false};

    domain_def_pci_plan(def, &ctl.plan);

    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];

        if (!devices && d->device == DISK_DEVICE_CDROM)
            continue;
        if (d->source != NULL)
            add_nodes(a, d);
        if (devices && add_device(a, def, i, &ctl, boot[i], e) < 0)
            return -1;
    }
    return 0;
}
