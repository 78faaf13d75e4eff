/* Disks: <emulator> and <disk> elements, and the checks of the files a
 * VM boots from (images, kernel, initrd) on the filesystem. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/disk_check.h"
#include "common/domain_xml_int.h"
#include "common/fileutil.h"
#include "common/names.h"
#include "common/safe_open.h"
#include "common/xml_safe.h"

int dx_parse_emulator(struct parse_ctx *c, xmlNodePtr n)
{
    char *text;

    if (dx_once(c, &c->have_emulator, "devices/emulator") < 0)
        return -1;
    /* Empty means absent, as in libvirt: the default emulator is used. */
    text = xml_node_text(n);
    if (text == NULL)
        return 0;
    if (dx_check_path(c, "devices/emulator", text) < 0) {
        free(text);
        return -1;
    }
    c->def->emulator = text;
    return 0;
}

const char *const disk_type_names[] = {
    [DISK_TYPE_FILE] = "file", [DISK_TYPE_BLOCK] = "block", NULL};
const char *const disk_device_names[] = {
    [DISK_DEVICE_DISK] = "disk", [DISK_DEVICE_CDROM] = "cdrom", NULL};
const char *const disk_bus_names[] = {
    [DISK_BUS_VIRTIO] = "virtio", [DISK_BUS_SCSI] = "scsi", [DISK_BUS_IDE] = "ide",
    [DISK_BUS_SATA] = "sata",     [DISK_BUS_USB] = "usb",   NULL};
/* libvirt's enums, each starting with "default" (absent). */
static const char *const cache_names[] = {
    "default", "none", "writethrough", "writeback", "directsync", "unsafe", NULL};
static const char *const io_names[] = {"default", "native", "threads", "io_uring", NULL};
static const char *const discard_names[] = {"default", "unmap", "ignore", NULL};
static const char *const zeroes_names[] = {"default", "off", "on", "unmap", NULL};

/* A cdrom's medium may have no driver type: raw, as libvirt opens it. */
static int parse_disk_format(struct parse_ctx *c, xmlNodePtr n, struct disk_def *d)
{
    char *name = n ? xml_node_prop(n, "name") : NULL, *type = n ? xml_node_prop(n, "type") : NULL;
    char shown[96];
    int rc = -1;

    if (name != NULL && strcmp(name, "qemu") != 0) {
        name_escape(name, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/disk %s: driver name='%s' is not supported (only name='qemu')", d->target,
                 shown);
    } else if (type == NULL && d->device == DISK_DEVICE_CDROM) {
        d->format = DISK_FORMAT_RAW;
        rc = 0;
    } else if (type == NULL)
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/disk %s: driver has no type attribute (type='qcow2' or type='raw')",
                 d->target);
    else if (strcmp(type, "qcow2") == 0 || strcmp(type, "raw") == 0) {
        d->format = type[0] == 'q' ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW;
        rc = 0;
    } else {
        name_escape(type, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/disk %s: driver type='%s' is not supported (only qcow2 and raw)",
                 d->target, shown);
    }
    free(name);
    free(type);
    return rc;
}

static int parse_disk_driver(struct parse_ctx *c, xmlNodePtr n, struct disk_def *d)
{
    int cache, io, discard, zeroes;

    if (parse_disk_format(c, n, d) < 0)
        return -1;
    if (n == NULL)
        return 0;
    if ((cache = dx_enum_attr(c, n, "cache", "devices/disk driver cache", cache_names, 0)) < 0 ||
        (io = dx_enum_attr(c, n, "io", "devices/disk driver io", io_names, 0)) < 0 ||
        (discard = dx_enum_attr(c, n, "discard", "devices/disk driver discard", discard_names, 0)) <
            0 ||
        (zeroes = dx_enum_attr(c, n, "detect_zeroes", "devices/disk driver detect_zeroes",
                               zeroes_names, 0)) < 0)
        return -1;
    d->cache = (enum disk_cache)cache;
    d->io = (enum disk_io)io;
    d->discard = (enum disk_discard)discard;
    d->detect_zeroes = (enum disk_zeroes)zeroes;
    /* QEMU refuses aio=native on a host page cache at start; say so now. */
    if (d->io == DISK_IO_NATIVE && d->cache != DISK_CACHE_NONE &&
        d->cache != DISK_CACHE_DIRECTSYNC) {
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/disk %s: driver io='native' needs cache='none' or cache='directsync' "
                 "(QEMU's aio=native bypasses the host page cache)",
                 d->target);
        return -1;
    }
    return 0;
}

/* Refuses what the disk element itself says that corral cannot honour. */
static int parse_disk_kind(struct parse_ctx *c, xmlNodePtr disk, enum disk_type *type,
                           enum disk_device *device)
{
    char *t = xml_node_prop(disk, "type");
    bool network = t != NULL && strcmp(t, "network") == 0;
    int ti, di;

    free(t);
    if (network) {
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/disk type='network' is not supported: corral opens only local image "
                 "files (type='file') and block devices (type='block')");
        return -1;
    }
    if ((ti = dx_enum_attr(c, disk, "type", "devices/disk type", disk_type_names, 0)) < 0 ||
        (di = dx_enum_attr(c, disk, "device", "devices/disk device", disk_device_names, 0)) < 0)
        return -1;
    *type = (enum disk_type)ti;
    *device = (enum disk_device)di;
    return 0;
}

/* <target bus=>, or libvirt's default from the name's prefix. */
static int parse_disk_bus(struct parse_ctx *c, xmlNodePtr target, struct disk_def *d)
{
    static const struct {
        const char *prefix;
        enum disk_bus bus;
    } dflt[] = {{"vd", DISK_BUS_VIRTIO}, {"sd", DISK_BUS_SCSI}, {"hd", DISK_BUS_IDE}};
    char *text = xml_node_prop(target, "bus");
    bool absent = text == NULL;
    int bus;

    free(text);
    if (absent) {
        for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++) {
            if (strncmp(d->target, dflt[i].prefix, 2) == 0) {
                d->bus = dflt[i].bus;
                return 0;
            }
        }
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/disk %s: no bus= and no prefix that names one (vd* virtio, sd* scsi, "
                 "hd* ide)",
                 d->target);
        return -1;
    }
    bus = dx_enum_attr(c, target, "bus", "devices/disk target bus", disk_bus_names, 0);
    if (bus < 0)
        return -1;
    d->bus = (enum disk_bus)bus;
    return 0;
}

/* What QEMU puts in the device's serial property and the guest reads:
 * libvirt's character set. */
static int parse_disk_serial(struct parse_ctx *c, xmlNodePtr n, struct disk_def *d)
{
    char *text = xml_node_text(n);
    size_t len = text ? strlen(text) : 0;

    if (text == NULL)
        return 0;
    if (len > DISK_SERIAL_MAX || strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789 _.+-") != len) {
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/disk %s: serial must be at most %d of A-Z a-z 0-9 space _ . + -",
                 d->target, DISK_SERIAL_MAX);
        free(text);
        return -1;
    }
    d->serial = text;
    return 0;
}

static int parse_disk_source(struct parse_ctx *c, xmlNodePtr source, struct disk_def *d)
{
    const char *attr = d->type == DISK_TYPE_BLOCK ? "dev" : "file";
    char what[64];

    if (source != NULL)
        d->source = xml_node_prop(source, attr);
    /* An empty tray: <source/> or none, as libvirt allows for removable
     * media. */
    if (d->source == NULL && d->device == DISK_DEVICE_CDROM)
        return 0;
    if (d->source == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "devices/disk %s has no <source %s='...'> element",
                 d->target, attr);
        return -1;
    }
    snprintf(what, sizeof(what), "devices/disk %s source %s", d->target, attr);
    return dx_check_path(c, what, d->source);
}

/* What libvirt refuses for removable media, and what corral cannot
 * honour for any disk. */
static int check_disk_device(struct parse_ctx *c, const struct disk_def *d)
{
    if (d->device == DISK_DEVICE_CDROM && (d->bus == DISK_BUS_VIRTIO || d->bus == DISK_BUS_USB)) {
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/disk %s: a cdrom on bus='%s' is not supported: that bus has no "
                 "ejectable media (use bus='sata', 'scsi' or 'ide')",
                 d->target, disk_bus_names[d->bus]);
        return -1;
    }
    return 0;
}

static int check_disk_unique(struct parse_ctx *c, const struct disk_def *d)
{
    const struct domain_def *def = c->def;
    char shown[256];

    for (size_t i = 0; i + 1 < def->ndisks; i++) {
        if (strcmp(def->disks[i].target, d->target) == 0) {
            cerr_set(c->e, CE_INVALID_XML,
                     "devices/disk target dev='%s' is used by more than one disk", d->target);
            return -1;
        }
        if (d->source != NULL && def->disks[i].source != NULL &&
            strcmp(def->disks[i].source, d->source) == 0) {
            name_escape(d->source, shown, sizeof(shown));
            cerr_set(c->e, CE_INVALID_XML, "devices/disk source '%s' is used by both %s and %s",
                     shown, def->disks[i].target, d->target);
            return -1;
        }
    }
    return 0;
}

struct disk_children {
    xmlNodePtr driver, source, target, boot, serial;
    bool readonly;
};

static int disk_children(struct parse_ctx *c, xmlNodePtr disk, struct disk_children *k)
{
    static const char *const ignorable[] = {"backingStore", "address", "alias"};
    static const struct {
        const char *name;
        size_t off;
    } once[] = {
        {"driver", offsetof(struct disk_children, driver)},
        {"source", offsetof(struct disk_children, source)},
        {"target", offsetof(struct disk_children, target)},
        {"boot", offsetof(struct disk_children, boot)},
        {"serial", offsetof(struct disk_children, serial)},
    };

    memset(k, 0, sizeof(*k));
    for (xmlNodePtr n = disk->children; n != NULL; n = n->next) {
        bool known = false;
        char path[64];

        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (size_t i = 0; i < sizeof(once) / sizeof(once[0]) && !known; i++) {
            xmlNodePtr *slot = (xmlNodePtr *)((char *)k + once[i].off);
            if (!dx_is_elem(n, once[i].name))
                continue;
            snprintf(path, sizeof(path), "devices/disk/%s", once[i].name);
            if (*slot != NULL)
                return dx_duplicate(c, path);
            *slot = n;
            known = true;
        }
        if (known)
            continue;
        if (dx_is_elem(n, "readonly"))
            k->readonly = true;
        else if (dx_is_elem(n, "shareable")) {
            cerr_set(c->e, CE_UNSUPPORTED,
                     "devices/disk <shareable/> is not supported: corral hands each disk to one "
                     "VM's uid while it runs, so no two VMs can share one");
            return -1;
        } else if (dx_is_one_of(n, ignorable, sizeof(ignorable) / sizeof(ignorable[0])))
            dx_note_ignored(c, "devices/disk", n);
        else
            /* Unlike unknown devices, unknown disk children (encryption,
             * iotune, transient...) change what the guest's data means. */
            return dx_unsupported(c, "devices/disk", n);
    }
    if (k->target == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "devices/disk has no <target dev='...'> element");
        return -1;
    }
    return 0;
}

int dx_parse_disk(struct parse_ctx *c, xmlNodePtr disk)
{
    struct domain_def *def = c->def;
    struct disk_children k;
    enum disk_type type;
    enum disk_device device;
    struct disk_def *d;

    if (parse_disk_kind(c, disk, &type, &device) < 0 || disk_children(c, disk, &k) < 0)
        return -1;
    if (k.driver == NULL && device == DISK_DEVICE_DISK) {
        cerr_set(c->e, CE_INVALID_XML, "devices/disk has no <driver type='...'> element");
        return -1;
    }
    if (def->ndisks == DOMAIN_MAX_DISKS) {
        cerr_set(c->e, CE_UNSUPPORTED, "domain has more than %d disks, the most corral supports",
                 DOMAIN_MAX_DISKS);
        return -1;
    }
    if (def->disks == NULL)
        def->disks = xcalloc(DOMAIN_MAX_DISKS, sizeof(*def->disks));
    /* Counted before it is filled in so that domain_def_free releases a
     * half-parsed disk. */
    d = &def->disks[def->ndisks++];
    d->type = type;
    d->device = device;
    /* Removable media are read-only, as libvirt makes them. */
    d->readonly = k.readonly || device == DISK_DEVICE_CDROM;
    d->target = xml_node_prop(k.target, "dev");
    if (!name_target_valid(d->target, c->e) || parse_disk_bus(c, k.target, d) < 0 ||
        check_disk_device(c, d) < 0 || parse_disk_driver(c, k.driver, d) < 0 ||
        parse_disk_source(c, k.source, d) < 0)
        return -1;
    if (k.serial != NULL && parse_disk_serial(c, k.serial, d) < 0)
        return -1;
    if (k.boot != NULL && dx_boot_order(c, k.boot, "devices/disk boot order", &d->boot_order) < 0)
        return -1;
    return check_disk_unique(c, d);
}

static void format_driver(const struct disk_def *d, xmlNodePtr disk)
{
    xmlNodePtr node = dx_add_child(disk, "driver", NULL);

    dx_add_prop(node, "name", "qemu");
    dx_add_prop(node, "type", d->format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
    if (d->cache != DISK_CACHE_DEFAULT)
        dx_add_prop(node, "cache", cache_names[d->cache]);
    if (d->io != DISK_IO_DEFAULT)
        dx_add_prop(node, "io", io_names[d->io]);
    if (d->discard != DISK_DISCARD_DEFAULT)
        dx_add_prop(node, "discard", discard_names[d->discard]);
    if (d->detect_zeroes != DISK_ZEROES_DEFAULT)
        dx_add_prop(node, "detect_zeroes", zeroes_names[d->detect_zeroes]);
}

/* libvirt's order (virDomainDiskDefFormat): driver, source, target,
 * readonly, serial, then the device info, whose <boot> comes first. */
void dx_format_disks(const struct domain_def *def, xmlNodePtr devices)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        xmlNodePtr disk = dx_add_child(devices, "disk", NULL), node;

        dx_add_prop(disk, "type", disk_type_names[d->type]);
        dx_add_prop(disk, "device", disk_device_names[d->device]);
        format_driver(d, disk);
        if (d->source != NULL)
            dx_add_prop(dx_add_child(disk, "source", NULL),
                        d->type == DISK_TYPE_BLOCK ? "dev" : "file", d->source);
        node = dx_add_child(disk, "target", NULL);
        dx_add_prop(node, "dev", d->target);
        dx_add_prop(node, "bus", disk_bus_names[d->bus]);
        if (d->readonly)
            dx_add_child(disk, "readonly", NULL);
        if (d->serial != NULL)
            dx_add_child(disk, "serial", d->serial);
        if (d->boot_order != 0)
            dx_add_uint_prop(dx_add_child(disk, "boot", NULL), "order", d->boot_order);
    }
}

void dx_free_disks(struct domain_def *def)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        free(def->disks[i].source);
        free(def->disks[i].target);
        free(def->disks[i].serial);
    }
    free(def->disks);
}

int domain_def_check_disks(const struct domain_def *def, struct cerr *e)
{
    struct stat seen[DOMAIN_MAX_DISKS];

    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        struct disk_check c;

        if (d->source == NULL) {
            memset(&seen[i], 0, sizeof(seen[i]));
            continue;
        }
        if (disk_check_open(d, true, 0, &c, e) < 0)
            return -1;
        close(c.fd);
        seen[i] = c.st;
        /* Two names for one file would be handed over and back twice. */
        for (size_t j = 0; j < i; j++) {
            bool same_node = seen[j].st_dev == c.st.st_dev && seen[j].st_ino == c.st.st_ino;
            /* Two nodes of one block device are one disk too. */
            bool same_blk = S_ISBLK(c.st.st_mode) && S_ISBLK(seen[j].st_mode) &&
                            seen[j].st_rdev == c.st.st_rdev;
            if (def->disks[j].source != NULL && (same_node || same_blk)) {
                char shown[512];
                name_escape(d->source, shown, sizeof(shown));
                cerr_set(e, CE_UNSUPPORTED, "disk %s: '%s' is the same %s as disk %s", d->target,
                         shown, same_node ? "file" : "block device", def->disks[j].target);
                return -1;
            }
        }
    }
    return domain_def_check_boot_files(def, true, 0, e);
}

/* The same rules as disk_check_open, with messages that name the element:
 * the broker must not be made to vouch for a file the definer does not
 * own, nor follow a link to one. */
int domain_def_open_boot_file(const char *what, const char *path, bool any_owner, uid_t owner,
                              struct stat *st, struct cerr *e)
{
    char shown[512];
    struct cerr why;
    int fd = safe_open_path(path, st, &why);

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "os/%s: %s", what, why.msg);
        return -1;
    }
    name_escape(path, shown, sizeof(shown));
    if (S_ISLNK(st->st_mode))
        cerr_set(e, CE_SYSTEM, "os/%s: '%s' is a symlink", what, shown);
    else if (!S_ISREG(st->st_mode))
        cerr_set(e, CE_SYSTEM, "os/%s: '%s' is not a regular file", what, shown);
    /* Another name for it may be in a place its owner does not control. */
    else if (st->st_nlink != 1)
        cerr_set(e, CE_SYSTEM, "os/%s: '%s' has %lu links (only a file with one is used)", what,
                 shown, (unsigned long)st->st_nlink);
    else if (!any_owner && st->st_uid != owner)
        cerr_set(e, CE_PERMISSION,
                 "permission denied: os/%s: '%s' is not a file owned by uid %ld (its owner is "
                 "uid %ld)",
                 what, shown, (long)owner, (long)st->st_uid);
    else
        return fd;
    close(fd);
    return -1;
}

static int check_boot_file(const char *what, const char *path, bool any_owner, uid_t owner,
                           struct cerr *e)
{
    struct stat st;
    int fd = domain_def_open_boot_file(what, path, any_owner, owner, &st, e);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int domain_def_check_boot_files(const struct domain_def *def, bool any_owner, uid_t owner,
                                struct cerr *e)
{
    if (def->kernel != NULL && check_boot_file("kernel", def->kernel, any_owner, owner, e) < 0)
        return -1;
    if (def->initrd != NULL && check_boot_file("initrd", def->initrd, any_owner, owner, e) < 0)
        return -1;

    return domain_def_check_firmware_files(def, e);
}

static bool path_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

/* The disk named by target or by its current source; -1 with e set. */
static int find_disk(const struct domain_def *def, const char *disk, struct cerr *e)
{
    char shown[256];

    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        if (strcmp(d->target, disk) == 0 || (d->source != NULL && strcmp(d->source, disk) == 0))
            return (int)i;
    }
    name_escape(disk, shown, sizeof(shown));
    cerr_set(e, CE_INVALID_PARAMS, "VM %s has no disk '%s' (a target such as hdc, or a source)",
             def->name, shown);
    return -1;
}

int domain_def_find_medium(const struct domain_def *def, const char *disk, const char *file,
                           bool insert, struct cerr *e)
{
    int i = find_disk(def, disk, e);
    const struct disk_def *d = i >= 0 ? &def->disks[i] : NULL;
    const char *name = def->name;

    if (d == NULL)
        return -1;
    if (d->device != DISK_DEVICE_CDROM) {
        cerr_set(e, CE_OPERATION_INVALID,
                 "VM %s: disk %s is not removable (device='%s'); only a cdrom's medium changes",
                 name, d->target, disk_device_names[d->device]);
        return -1;
    }
    if (d->type != DISK_TYPE_FILE) {
        cerr_set(e, CE_UNSUPPORTED,
                 "VM %s: disk %s is a host drive (type='block'); its medium changes in the drive",
                 name, d->target);
        return -1;
    }
    if (file == NULL && d->source == NULL) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s: the disk device '%s' doesn't have media", name,
                 d->target);
        return -1;
    }
    if (insert && d->source != NULL) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s: the disk device '%s' already has media", name,
                 d->target);
        return -1;
    }
    if (insert && file == NULL) {
        cerr_set(e, CE_INVALID_PARAMS, "VM %s: no source is given to insert in %s", name,
                 d->target);
        return -1;
    }
    /* The broker checked the file; a path QEMU would read as a protocol
     * or an option ("json:", "nbd:") is refused here too. */
    if (file != NULL && (file[0] != '/' || strlen(file) > 4096 || !path_printable(file))) {
        cerr_set(e, CE_INVALID_PARAMS, "VM %s: the new medium must be an absolute path", name);
        return -1;
    }
    return i;
}

bool domain_def_nvram_import_absent(const struct domain_def *def)
{
    struct stat st;

    /* Only chooses the template, which reads nothing of the definer's. */
    return def->fw.nvram_import == NULL ||
           (lstat(def->fw.nvram_import, &st) < 0 && errno == ENOENT);
}

/* Only at define and at the first start, which reads it: the VM's own
 * NVRAM does not need it afterwards. */
int domain_def_check_nvram_import(const struct domain_def *def, bool any_owner, uid_t owner,
                                  struct cerr *e)
{
    if (domain_def_nvram_import_absent(def))
        return 0;
    return check_boot_file("nvram", def->fw.nvram_import, any_owner, owner, e);
}
