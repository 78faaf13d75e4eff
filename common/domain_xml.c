#include "common/domain_xml.h"

#include <errno.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/disk_check.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "common/xml_safe.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
#define DOMAIN_PATH_MAX 4096
#define MACHINE_MAX 64
#define VCPUS_MAX 255
/* Room for an escaped, possibly prefixed element name (see elem_name). */
#define ELEM_NAME_LEN 100
#define IGNORED_PATH_LEN 128
/* A hostile document can carry thousands of distinct unknown elements: the
 * warning lists this many and then only says there were more, which also
 * keeps the duplicate check linear in the document size. */
#define IGNORED_MAX 32

struct parse_ctx {
    struct domain_def *def;
    struct cerr *e;
    bool have_name, have_uuid, have_memory, have_current, have_vcpu, have_os, have_devices;
    bool have_emulator;
    char ignored[IGNORED_MAX][IGNORED_PATH_LEN];
    size_t nignored;
    bool ignored_more;
};

/* Matches only elements outside any namespace, so that a foreign
 * <x:name xmlns:x='...'> can never stand in for the real <name>. */
static bool is_elem(xmlNodePtr n, const char *name)
{
    return n->ns == NULL && strcmp((const char *)n->name, name) == 0;
}

/* The element's name as the document spells it (prefix included), escaped
 * for messages. */
static void elem_name(xmlNodePtr n, char *out, size_t outlen)
{
    char prefix[32], local[64];

    name_escape((const char *)n->name, local, sizeof(local));
    if (n->ns != NULL && n->ns->prefix != NULL) {
        name_escape((const char *)n->ns->prefix, prefix, sizeof(prefix));
        snprintf(out, outlen, "%s:%s", prefix, local);
    } else
        snprintf(out, outlen, "%s", local);
}

static void note_ignored(struct parse_ctx *c, const char *parent, xmlNodePtr n)
{
    char name[ELEM_NAME_LEN], path[IGNORED_PATH_LEN];

    elem_name(n, name, sizeof(name));
    snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] != '\0' ? "/" : "", name);
    for (size_t i = 0; i < c->nignored; i++) {
        if (strcmp(c->ignored[i], path) == 0)
            return;
    }
    if (c->nignored == IGNORED_MAX) {
        c->ignored_more = true;
        return;
    }
    memcpy(c->ignored[c->nignored++], path, sizeof(path));
}

static char *ignored_line(const struct parse_ctx *c)
{
    static const char prefix[] = "ignored unsupported elements: ";
    static const char more[] = ", and more";
    size_t len = sizeof(prefix) + sizeof(more);
    char *out, *p;

    if (c->nignored == 0)
        return NULL;
    for (size_t i = 0; i < c->nignored; i++)
        len += strlen(c->ignored[i]) + 2;
    out = xcalloc(1, len);
    p = stpcpy(out, prefix);
    for (size_t i = 0; i < c->nignored; i++) {
        if (i > 0)
            p = stpcpy(p, ", ");
        p = stpcpy(p, c->ignored[i]);
    }
    if (c->ignored_more)
        stpcpy(p, more);
    return out;
}

static bool is_one_of(xmlNodePtr n, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (is_elem(n, names[i]))
            return true;
    }
    return false;
}

static int unsupported(struct parse_ctx *c, const char *parent, xmlNodePtr n)
{
    char name[ELEM_NAME_LEN];

    elem_name(n, name, sizeof(name));
    cerr_set(c->e, CE_UNSUPPORTED, "%s/%s is not supported by corral", parent, name);
    return -1;
}

/* libvirt reads only the first of repeated elements; refusing repeats
 * instead keeps a second, different value from hiding in the document. */
static int duplicate(struct parse_ctx *c, const char *path)
{
    cerr_set(c->e, CE_INVALID_XML, "domain XML has more than one '%s' element", path);
    return -1;
}

static int once(struct parse_ctx *c, bool *seen, const char *path)
{
    if (*seen)
        return duplicate(c, path);
    *seen = true;
    return 0;
}

/* Pre-order walk of the whole tree: libvirt's QEMU namespace exists to hand
 * raw arguments and overrides to QEMU, so it is refused wherever it hides. */
static xmlNodePtr find_qemu_ns_element(xmlNodePtr root)
{
    xmlNodePtr n = root;

    for (;;) {
        if (n->type == XML_ELEMENT_NODE) {
            if (n->ns != NULL && n->ns->href != NULL &&
                strcmp((const char *)n->ns->href, QEMU_NS) == 0)
                return n;
            if (n->children != NULL) {
                n = n->children;
                continue;
            }
        }
        while (n != root && n->next == NULL)
            n = n->parent;
        if (n == root)
            return NULL;
        n = n->next;
    }
}

enum num_result { NUM_OK, NUM_GARBAGE, NUM_RANGE };

/* Decimal digits only: strtoull alone would accept leading space, a sign
 * (wrapping "-1" to ULLONG_MAX) and trailing garbage. */
static enum num_result parse_ull(const char *s, unsigned long long *out)
{
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return NUM_GARBAGE;
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (*end != '\0')
        return NUM_GARBAGE;
    return errno == ERANGE ? NUM_RANGE : NUM_OK;
}

/* Bytes per unit, as libvirt reads them: b/byte/bytes; a bare power letter
 * or "<letter>iB" is a power of 1024 and "<letter>B" a power of 1000, all
 * without regard to case; no unit means KiB. */
static bool unit_bytes(const char *unit, unsigned long long *mult)
{
    static const char powers[] = "kmgt";
    const char *p;
    unsigned long long base;

    if (unit == NULL) {
        *mult = 1024;
        return true;
    }
    if (strcasecmp(unit, "b") == 0 || strcasecmp(unit, "byte") == 0 ||
        strcasecmp(unit, "bytes") == 0) {
        *mult = 1;
        return true;
    }
    if (unit[0] == '\0' || (p = strchr(powers, unit[0] | 0x20)) == NULL)
        return false;
    if (unit[1] == '\0' || strcasecmp(unit + 1, "ib") == 0)
        base = 1024;
    else if (strcasecmp(unit + 1, "b") == 0)
        base = 1000;
    else
        return false;
    *mult = 1;
    for (const char *q = powers; q <= p; q++)
        *mult *= base;
    return true;
}

static int parse_kib(struct parse_ctx *c, xmlNodePtr n, const char *what, unsigned long long *out)
{
    char *text = xml_node_text(n), *unit = xml_node_prop(n, "unit");
    char shown_text[64], shown_unit[64];
    unsigned long long value = 0, mult, bytes;
    enum num_result num = NUM_GARBAGE;
    int rc = -1;

    name_escape(text ? text : "", shown_text, sizeof(shown_text));
    name_escape(unit ? unit : "", shown_unit, sizeof(shown_unit));
    if (text == NULL)
        cerr_set(c->e, CE_INVALID_XML, "%s is empty", what);
    else if ((num = parse_ull(text, &value)) == NUM_GARBAGE)
        cerr_set(c->e, CE_INVALID_XML, "%s value '%s' is not a non-negative decimal integer", what,
                 shown_text);
    else if (!unit_bytes(unit, &mult))
        cerr_set(c->e, CE_INVALID_XML,
                 "%s unit='%s' is not recognised (use b, KB, KiB, MB, MiB, GB, GiB, TB or TiB)",
                 what, shown_unit);
    else if (num == NUM_RANGE || __builtin_mul_overflow(value, mult, &bytes))
        cerr_set(c->e, CE_INVALID_XML, "%s value %s %s is too large", what, shown_text,
                 unit ? shown_unit : "KiB");
    else if (bytes == 0)
        cerr_set(c->e, CE_INVALID_XML, "%s must be larger than 0", what);
    else {
        *out = bytes / 1024 + (bytes % 1024 != 0);
        rc = 0;
    }
    free(text);
    free(unit);
    return rc;
}

static int parse_name(struct parse_ctx *c, xmlNodePtr n)
{
    xmlChar *raw;

    if (once(c, &c->have_name, "name") < 0)
        return -1;
    /* Untrimmed on purpose: a name is an identifier that becomes a path, so
     * stray white space is refused rather than silently changed. */
    raw = xmlNodeGetContent(n);
    if (!name_vm_valid((const char *)raw, c->e)) {
        xmlFree(raw);
        return -1;
    }
    c->def->name = xstrdup((const char *)raw);
    xmlFree(raw);
    return 0;
}

static bool uuid_canonical(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char ch = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-')
                return false;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                     (ch >= 'A' && ch <= 'F')))
            return false;
    }
    return true;
}

static int parse_uuid(struct parse_ctx *c, xmlNodePtr n)
{
    char *text;
    char shown[64];

    if (once(c, &c->have_uuid, "uuid") < 0)
        return -1;
    /* Empty means absent, as in libvirt: one is generated. */
    text = xml_node_text(n);
    if (text == NULL)
        return 0;
    if (!uuid_canonical(text)) {
        name_escape(text, shown, sizeof(shown));
        cerr_set(c->e, CE_INVALID_XML,
                 "uuid '%s' is not a canonical UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", shown);
        free(text);
        return -1;
    }
    for (size_t i = 0; i < 36; i++)
        c->def->uuid[i] = (text[i] >= 'A' && text[i] <= 'F') ? (char)(text[i] | 0x20) : text[i];
    c->def->uuid[36] = '\0';
    free(text);
    return 0;
}

static int parse_vcpu(struct parse_ctx *c, xmlNodePtr n)
{
    char *text;
    char shown[64];
    unsigned long long v = 0;
    enum num_result num;
    int rc = -1;

    if (once(c, &c->have_vcpu, "vcpu") < 0)
        return -1;
    text = xml_node_text(n);
    name_escape(text ? text : "", shown, sizeof(shown));
    if (text == NULL)
        cerr_set(c->e, CE_INVALID_XML, "vcpu is empty");
    else if ((num = parse_ull(text, &v)) == NUM_GARBAGE)
        cerr_set(c->e, CE_INVALID_XML, "vcpu value '%s' is not a decimal integer", shown);
    else if (v == 0)
        cerr_set(c->e, CE_INVALID_XML, "vcpu count must be at least 1");
    else if (num == NUM_RANGE || v > VCPUS_MAX)
        cerr_set(c->e, CE_UNSUPPORTED, "vcpu count %s is more than corral supports (%d)", shown,
                 VCPUS_MAX);
    else {
        c->def->vcpus = (unsigned int)v;
        rc = 0;
    }
    free(text);
    return rc;
}

static bool machine_valid(const char *m)
{
    size_t len = strlen(m);

    if (len == 0 || len > MACHINE_MAX)
        return false;
    for (const char *p = m; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    }
    return true;
}

static int parse_os_type(struct parse_ctx *c, xmlNodePtr n)
{
    char *text = xml_node_text(n), *arch = xml_node_prop(n, "arch");
    char *machine = xml_node_prop(n, "machine");
    char shown[96];
    int rc = -1;

    if (text != NULL && strcmp(text, "hvm") != 0) {
        name_escape(text, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED, "os/type '%s' is not supported (only hvm)", shown);
    } else if (arch != NULL && strcmp(arch, "x86_64") != 0) {
        name_escape(arch, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED, "os/type arch='%s' is not supported (only x86_64)", shown);
    } else if (machine != NULL && !machine_valid(machine)) {
        name_escape(machine, shown, sizeof(shown));
        cerr_set(c->e, CE_INVALID_XML,
                 "os/type machine='%s' is invalid (1-%d characters of A-Z a-z 0-9 . _ -)", shown,
                 MACHINE_MAX);
    } else {
        c->def->machine = machine;
        machine = NULL;
        rc = 0;
    }
    free(text);
    free(arch);
    free(machine);
    return rc;
}

static int parse_os(struct parse_ctx *c, xmlNodePtr os)
{
    static const char *const refused[] = {"loader", "nvram", "kernel", "initrd", "cmdline"};
    char *firmware;
    bool have_type = false;

    if (once(c, &c->have_os, "os") < 0)
        return -1;
    /* firmware='efi' makes libvirt pick UEFI without any <loader>: booting
     * the guest with the BIOS instead would quietly fail. */
    firmware = xml_node_prop(os, "firmware");
    if (firmware != NULL && strcmp(firmware, "bios") != 0) {
        char shown[64];

        name_escape(firmware, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED, "os firmware='%s' is not supported (only BIOS boot)", shown);
        free(firmware);
        return -1;
    }
    free(firmware);
    for (xmlNodePtr n = os->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is_elem(n, "type")) {
            if (once(c, &have_type, "os/type") < 0 || parse_os_type(c, n) < 0)
                return -1;
            continue;
        }
        if (is_one_of(n, refused, sizeof(refused) / sizeof(refused[0])))
            return unsupported(c, "os", n);
        note_ignored(c, "os", n);
    }
    return 0;
}

/* Paths go to QEMU and into messages: absolute, bounded, and free of
 * control characters that could forge log lines or split arguments. */
static int check_path(struct parse_ctx *c, const char *what, const char *path)
{
    char shown[256];
    size_t len = strlen(path);

    name_escape(path, shown, sizeof(shown));
    if (len > DOMAIN_PATH_MAX) {
        cerr_set(c->e, CE_INVALID_XML, "%s '%s' is %zu bytes long, the limit is %d", what, shown,
                 len, DOMAIN_PATH_MAX);
        return -1;
    }
    if (path[0] != '/') {
        cerr_set(c->e, CE_INVALID_XML, "%s '%s' is not an absolute path", what, shown);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            cerr_set(c->e, CE_INVALID_XML, "%s '%s' contains a control character", what, shown);
            return -1;
        }
    }
    return 0;
}

static int parse_emulator(struct parse_ctx *c, xmlNodePtr n)
{
    char *text;

    if (once(c, &c->have_emulator, "devices/emulator") < 0)
        return -1;
    /* Empty means absent, as in libvirt: the default emulator is used. */
    text = xml_node_text(n);
    if (text == NULL)
        return 0;
    if (check_path(c, "devices/emulator", text) < 0) {
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

static int parse_disk(struct parse_ctx *c, xmlNodePtr disk)
{
    static const char *const ignorable[] = {"backingStore", "address", "alias", "boot", "serial"};
    xmlNodePtr driver = NULL, source = NULL, target = NULL;
    bool readonly = false;
    struct domain_def *def = c->def;
    struct disk_def *d;

    if (check_disk_kind(c, disk) < 0)
        return -1;
    for (xmlNodePtr n = disk->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is_elem(n, "driver")) {
            if (driver != NULL)
                return duplicate(c, "devices/disk/driver");
            driver = n;
        } else if (is_elem(n, "source")) {
            if (source != NULL)
                return duplicate(c, "devices/disk/source");
            source = n;
        } else if (is_elem(n, "target")) {
            if (target != NULL)
                return duplicate(c, "devices/disk/target");
            target = n;
        } else if (is_elem(n, "readonly"))
            readonly = true;
        else if (is_one_of(n, ignorable, sizeof(ignorable) / sizeof(ignorable[0])))
            note_ignored(c, "devices/disk", n);
        else
            /* Unlike unknown devices, unknown disk children (encryption,
             * iotune, shareable...) change what the guest's data means. */
            return unsupported(c, "devices/disk", n);
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
    if (check_path(c, "devices/disk source file", d->source) < 0)
        return -1;
    return check_disk_unique(c, d);
}

static int parse_devices(struct parse_ctx *c, xmlNodePtr devices)
{
    /* Each of these hands host resources (devices, directories, USB,
     * memory) to the guest. */
    static const char *const refused[] = {"hostdev", "filesystem", "redirdev", "smartcard",
                                          "shmem"};

    if (once(c, &c->have_devices, "devices") < 0)
        return -1;
    for (xmlNodePtr n = devices->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is_elem(n, "emulator")) {
            if (parse_emulator(c, n) < 0)
                return -1;
            continue;
        }
        if (is_elem(n, "disk")) {
            if (parse_disk(c, n) < 0)
                return -1;
            continue;
        }
        if (is_one_of(n, refused, sizeof(refused) / sizeof(refused[0])))
            return unsupported(c, "devices", n);
        note_ignored(c, "devices", n);
    }
    return 0;
}

static int parse_top(struct parse_ctx *c, xmlNodePtr n)
{
    if (is_elem(n, "name"))
        return parse_name(c, n);
    if (is_elem(n, "uuid"))
        return parse_uuid(c, n);
    if (is_elem(n, "memory")) {
        if (once(c, &c->have_memory, "memory") < 0)
            return -1;
        return parse_kib(c, n, "memory", &c->def->memory_kib);
    }
    if (is_elem(n, "currentMemory")) {
        if (once(c, &c->have_current, "currentMemory") < 0)
            return -1;
        return parse_kib(c, n, "currentMemory", &c->def->current_memory_kib);
    }
    if (is_elem(n, "vcpu"))
        return parse_vcpu(c, n);
    if (is_elem(n, "os"))
        return parse_os(c, n);
    if (is_elem(n, "devices"))
        return parse_devices(c, n);
    note_ignored(c, "", n);
    return 0;
}

static int parse_root(struct parse_ctx *c, xmlNodePtr root)
{
    xmlNodePtr qemu = find_qemu_ns_element(root);
    char shown[ELEM_NAME_LEN];
    char *type;

    if (qemu != NULL) {
        elem_name(qemu, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED,
                 "%s is not supported by corral: elements of the libvirt QEMU namespace (%s) "
                 "pass raw options to QEMU",
                 shown, QEMU_NS);
        return -1;
    }
    if (!is_elem(root, "domain")) {
        elem_name(root, shown, sizeof(shown));
        cerr_set(c->e, CE_INVALID_XML,
                 "root element is <%s>%s, expected <domain> without a namespace", shown,
                 root->ns != NULL ? " in a namespace" : "");
        return -1;
    }
    type = xml_node_prop(root, "type");
    if (type == NULL) {
        cerr_set(c->e, CE_INVALID_XML,
                 "domain element has no type attribute (type='kvm' or type='qemu')");
        return -1;
    }
    if (strcmp(type, "kvm") == 0 || strcmp(type, "qemu") == 0)
        c->def->virt = type[0] == 'k' ? DOMAIN_VIRT_KVM : DOMAIN_VIRT_QEMU;
    else {
        name_escape(type, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED, "domain type='%s' is not supported (only kvm and qemu)",
                 shown);
        free(type);
        return -1;
    }
    free(type);
    for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && parse_top(c, n) < 0)
            return -1;
    }
    return 0;
}

/* Required elements, cross-field checks and defaults, once every element
 * has been seen. */
static int finish(struct parse_ctx *c)
{
    struct domain_def *def = c->def;

    if (!c->have_name) {
        cerr_set(c->e, CE_INVALID_XML, "domain XML has no <name> element");
        return -1;
    }
    if (!c->have_memory) {
        cerr_set(c->e, CE_INVALID_XML, "domain XML has no <memory> element");
        return -1;
    }
    if (!c->have_current)
        def->current_memory_kib = def->memory_kib;
    else if (def->current_memory_kib > def->memory_kib) {
        cerr_set(c->e, CE_INVALID_XML, "currentMemory (%llu KiB) is larger than memory (%llu KiB)",
                 def->current_memory_kib, def->memory_kib);
        return -1;
    }
    if (def->uuid[0] == '\0' && domain_uuid_generate(def->uuid, c->e) < 0)
        return -1;
    def->arch = xstrdup("x86_64");
    if (def->machine == NULL)
        def->machine = xstrdup(DOMAIN_DEFAULT_MACHINE);
    if (def->emulator == NULL)
        def->emulator = xstrdup(DOMAIN_DEFAULT_EMULATOR);
    return 0;
}

struct domain_def *domain_def_parse(const char *xml, size_t len, char **warnings, struct cerr *e)
{
    struct parse_ctx c = {.e = e};
    xmlDocPtr doc;
    int rc;

    if (warnings != NULL)
        *warnings = NULL;
    doc = xml_parse_untrusted(xml, len, XML_UNTRUSTED_MAX, "domain XML", e);
    if (doc == NULL)
        return NULL;
    c.def = xcalloc(1, sizeof(*c.def));
    c.def->vcpus = 1;
    rc = parse_root(&c, xmlDocGetRootElement(doc));
    xmlFreeDoc(doc);
    if (rc < 0 || finish(&c) < 0) {
        domain_def_free(c.def);
        return NULL;
    }
    if (warnings != NULL)
        *warnings = ignored_line(&c);
    return c.def;
}

static void *xml_must(void *p)
{
    if (p == NULL) {
        log_err("out of memory building XML");
        abort();
    }
    return p;
}

/* xmlNewTextChild rather than xmlNewChild: the latter takes its content as
 * already-escaped markup, so an '&' in a path would turn into an entity
 * reference. */
static xmlNodePtr add_child(xmlNodePtr parent, const char *name, const char *text)
{
    return xml_must(xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text));
}

static void add_prop(xmlNodePtr node, const char *name, const char *value)
{
    xml_must(xmlNewProp(node, BAD_CAST name, BAD_CAST value));
}

char *domain_def_format(const struct domain_def *def)
{
    xmlDocPtr doc = xml_must(xmlNewDoc(BAD_CAST "1.0"));
    xmlNodePtr root = xml_must(xmlNewDocNode(doc, NULL, BAD_CAST "domain", NULL));
    xmlNodePtr node, devices;
    xmlChar *buf = NULL;
    int size = 0;
    char num[32], *out;

    xmlDocSetRootElement(doc, root);
    add_prop(root, "type", def->virt == DOMAIN_VIRT_KVM ? "kvm" : "qemu");
    add_child(root, "name", def->name);
    add_child(root, "uuid", def->uuid);
    snprintf(num, sizeof(num), "%llu", def->memory_kib);
    add_prop(add_child(root, "memory", num), "unit", "KiB");
    snprintf(num, sizeof(num), "%llu", def->current_memory_kib);
    add_prop(add_child(root, "currentMemory", num), "unit", "KiB");
    snprintf(num, sizeof(num), "%u", def->vcpus);
    add_child(root, "vcpu", num);
    node = add_child(add_child(root, "os", NULL), "type", "hvm");
    add_prop(node, "arch", def->arch);
    add_prop(node, "machine", def->machine);
    devices = add_child(root, "devices", NULL);
    add_child(devices, "emulator", def->emulator);
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        xmlNodePtr disk = add_child(devices, "disk", NULL);

        add_prop(disk, "type", "file");
        add_prop(disk, "device", "disk");
        node = add_child(disk, "driver", NULL);
        add_prop(node, "name", "qemu");
        add_prop(node, "type", d->format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
        add_prop(add_child(disk, "source", NULL), "file", d->source);
        add_prop(add_child(disk, "target", NULL), "dev", d->target);
        if (d->readonly)
            add_child(disk, "readonly", NULL);
    }
    xmlDocDumpFormatMemory(doc, &buf, &size, 1);
    xmlFreeDoc(doc);
    xml_must(buf);
    out = xcalloc(1, (size_t)size + 1);
    memcpy(out, buf, (size_t)size);
    xmlFree(buf);
    return out;
}

void domain_def_free(struct domain_def *def)
{
    if (def == NULL)
        return;
    for (size_t i = 0; i < def->ndisks; i++) {
        free(def->disks[i].source);
        free(def->disks[i].target);
    }
    free(def->disks);
    free(def->name);
    free(def->arch);
    free(def->machine);
    free(def->emulator);
    free(def);
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
    return 0;
}

int domain_uuid_generate(char uuid[37], struct cerr *e)
{
    unsigned char b[16];
    size_t got = 0;

    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            cerr_set(e, CE_SYSTEM, "cannot generate a UUID: getrandom: %s", strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    /* RFC 4122 version 4 (random) with the RFC 4122 variant. */
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(uuid, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}
