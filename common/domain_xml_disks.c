/* Disks: <emulator> and <disk> elements, and the checks of the files a
 * VM boots from (images, kernel, initrd) on the filesystem. */
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

static int parse_disk_driver(struct parse_ctx *c, xmlNodePtr n, struct disk_def *d)
{
    char *name = xml_node_prop(n, "name"), *type = xml_node_prop(n, "type");
    char shown[96];
    int rc = -1;

    if (name != NULL && strcmp(name, "qemu") != 0) {
        name_escape(name, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/disk driver name='%s' is not supported (only name='qemu')", shown);
    } else if (type == NULL)
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/disk driver has no type attribute (type='qcow2' or type='raw')");
    else if (strcmp(type, "qcow2") == 0 || strcmp(type, "raw") == 0) {
        d->format = type[0] == 'q' ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW;
        rc = 0;
    } else {
        name_escape(type, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/disk driver type='%s' is not supported (only qcow2 and raw)", shown);
    }
    free(name);
    free(type);
    return rc;
}

/* Refuses what the disk element itself says that corral cannot honour:
 * anything but a file-backed disk. */
static int check_disk_kind(struct parse_ctx *c, xmlNodePtr disk)
{
    char *type = xml_node_prop(disk, "type"), *device = xml_node_prop(disk, "device");
    char shown[96];
    int rc = -1;

    if (type != NULL && strcmp(type, "file") != 0) {
        name_escape(type, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED, "devices/disk type='%s' is not supported (only type='file')",
                 shown);
    } else if (device != NULL && strcmp(device, "disk") != 0) {
        name_escape(device, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/disk device='%s' is not supported (only device='disk')", shown);
    } else
        rc = 0;
    free(type);
    free(device);
    return rc;
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
        if (strcmp(def->disks[i].source, d->source) == 0) {
            name_escape(d->source, shown, sizeof(shown));
            cerr_set(c->e, CE_INVALID_XML,
                     "devices/disk source file='%s' is used by both %s and %s", shown,
                     def->disks[i].target, d->target);
            return -1;
        }
    }
    return 0;
}

int dx_parse_disk(struct parse_ctx *c, xmlNodePtr disk)
{
    static const char *const ignorable[] = {"backingStore", "address", "alias", "serial"};
    xmlNodePtr driver = NULL, source = NULL, target = NULL, boot = NULL;
    bool readonly = false;
    struct domain_def *def = c->def;
    struct disk_def *d;

    if (check_disk_kind(c, disk) < 0)
        return -1;
    for (xmlNodePtr n = disk->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (dx_is_elem(n, "driver")) {
            if (driver != NULL)
                return dx_duplicate(c, "devices/disk/driver");
            driver = n;
        } else if (dx_is_elem(n, "source")) {
            if (source != NULL)
                return dx_duplicate(c, "devices/disk/source");
            source = n;
        } else if (dx_is_elem(n, "target")) {
            if (target != NULL)
                return dx_duplicate(c, "devices/disk/target");
            target = n;
        } else if (dx_is_elem(n, "boot")) {
            if (boot != NULL)
                return dx_duplicate(c, "devices/disk/boot");
            boot = n;
        } else if (dx_is_elem(n, "readonly"))
            readonly = true;
        else if (dx_is_one_of(n, ignorable, sizeof(ignorable) / sizeof(ignorable[0])))
            dx_note_ignored(c, "devices/disk", n);
        else
            /* Unlike unknown devices, unknown disk children (encryption,
             * iotune, shareable...) change what the guest's data means. */
            return dx_unsupported(c, "devices/disk", n);
    }
    if (target == NULL || driver == NULL || source == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "devices/disk has no <%s> element",
                 target == NULL ? "target dev='...'"
                                : (driver == NULL ? "driver type='...'" : "source file='...'"));
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
    d->readonly = readonly;
    d->target = xml_node_prop(target, "dev");
    if (!name_target_valid(d->target, c->e) || parse_disk_driver(c, driver, d) < 0)
        return -1;
    d->source = xml_node_prop(source, "file");
    if (d->source == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "devices/disk %s: source has no file attribute", d->target);
        return -1;
    }
    if (dx_check_path(c, "devices/disk source file", d->source) < 0)
        return -1;
    if (boot != NULL && dx_boot_order(c, boot, "devices/disk boot order", &d->boot_order) < 0)
        return -1;
    return check_disk_unique(c, d);
}

void dx_format_disks(const struct domain_def *def, xmlNodePtr devices)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        xmlNodePtr disk = dx_add_child(devices, "disk", NULL), node;

        dx_add_prop(disk, "type", "file");
        dx_add_prop(disk, "device", "disk");
        node = dx_add_child(disk, "driver", NULL);
        dx_add_prop(node, "name", "qemu");
        dx_add_prop(node, "type", d->format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
        dx_add_prop(dx_add_child(disk, "source", NULL), "file", d->source);
        dx_add_prop(dx_add_child(disk, "target", NULL), "dev", d->target);
        if (d->boot_order != 0)
            dx_add_uint_prop(dx_add_child(disk, "boot", NULL), "order", d->boot_order);
        if (d->readonly)
            dx_add_child(disk, "readonly", NULL);
    }
}

void dx_free_disks(struct domain_def *def)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        free(def->disks[i].source);
        free(def->disks[i].target);
    }
    free(def->disks);
}

int domain_def_check_disks(const struct domain_def *def, struct cerr *e)
{
    struct stat seen[DOMAIN_MAX_DISKS];

    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        struct disk_check c;

        if (disk_check_open(d, true, 0, &c, e) < 0)
            return -1;
        close(c.fd);
        seen[i] = c.st;
        /* Two names for one file would be handed over and back twice. */
        for (size_t j = 0; j < i; j++) {
            if (seen[j].st_dev == c.st.st_dev && seen[j].st_ino == c.st.st_ino) {
                char shown[512];
                name_escape(d->source, shown, sizeof(shown));
                cerr_set(e, CE_UNSUPPORTED, "disk %s: '%s' is the same file as disk %s", d->target,
                         shown, def->disks[j].target);
                return -1;
            }
        }
    }
    return domain_def_check_boot_files(def, true, 0, e);
}

/* The same rules as disk_check_open, with messages that name the element:
 * the broker must not be made to vouch for a file the definer does not
 * own, nor follow a link to one. */
static int check_boot_file(const char *what, const char *path, bool any_owner, uid_t owner,
                           struct cerr *e)
{
    char shown[512];
    struct cerr why;
    struct stat st;
    int fd = safe_open_path(path, &st, &why);

    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "os/%s: %s", what, why.msg);
        return -1;
    }
    close(fd);
    name_escape(path, shown, sizeof(shown));
    if (S_ISLNK(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "os/%s: '%s' is a symlink", what, shown);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cerr_set(e, CE_SYSTEM, "os/%s: '%s' is not a regular file", what, shown);
        return -1;
    }
    /* Another name for it may be in a place its owner does not control. */
    if (st.st_nlink != 1) {
        cerr_set(e, CE_SYSTEM, "os/%s: '%s' has %lu links (only a file with one is used)", what,
                 shown, (unsigned long)st.st_nlink);
        return -1;
    }
    if (!any_owner && st.st_uid != owner) {
        cerr_set(e, CE_PERMISSION,
                 "permission denied: os/%s: '%s' is not a file owned by uid %ld (its owner is "
                 "uid %ld)",
                 what, shown, (long)owner, (long)st.st_uid);
        return -1;
    }
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
