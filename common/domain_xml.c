/* Domain XML: the document, its top-level elements and the whole
 * definition's life (parse, format, free); the parts live in
 * domain_xml_os_cpu.c, domain_xml_disks.c, domain_xml_devices.c and
 * domain_xml_net.c. */
#include "common/domain_xml.h"

#include <errno.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/domain_xml_int.h"
#include "common/fileutil.h"
#include "common/names.h"
#include "common/xml_lib.h"
#include "common/xml_safe.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

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
    enum dx_num num = DX_NUM_GARBAGE;
    int rc = -1;

    name_escape(text ? text : "", shown_text, sizeof(shown_text));
    name_escape(unit ? unit : "", shown_unit, sizeof(shown_unit));
    if (text == NULL)
        cerr_set(c->e, CE_INVALID_XML, "%s is empty", what);
    else if ((num = dx_parse_ull(text, &value)) == DX_NUM_GARBAGE)
        cerr_set(c->e, CE_INVALID_XML, "%s value '%s' is not a non-negative decimal integer", what,
                 shown_text);
    else if (!unit_bytes(unit, &mult))
        cerr_set(c->e, CE_INVALID_XML,
                 "%s unit='%s' is not recognised (use b, KB, KiB, MB, MiB, GB, GiB, TB or TiB)",
                 what, shown_unit);
    else if (num == DX_NUM_RANGE || __builtin_mul_overflow(value, mult, &bytes))
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

    if (dx_once(c, &c->have_name, "name") < 0)
        return -1;
    /* Untrimmed on purpose: a name is an identifier that becomes a path, so
     * stray white space is refused rather than silently changed. */
    raw = xml_lib.node_get_content(n);
    if (!name_vm_valid((const char *)raw, c->e)) {
        xml_lib.free(raw);
        return -1;
    }
    c->def->name = xstrdup((const char *)raw);
    xml_lib.free(raw);
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

    if (dx_once(c, &c->have_uuid, "uuid") < 0)
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

/* <on_poweroff>, <on_reboot>, <on_crash>: QEMU powers off, resets and does
 * nothing on a panic, which is libvirt's destroy, restart and destroy;
 * another action is listed as ignored, and dumpxml shows what happens. */
static const char *const lifecycle_events[] = {"on_poweroff", "on_reboot", "on_crash"};
static const char *const lifecycle_honoured[] = {"destroy", "restart", "destroy"};

static int parse_lifecycle(struct parse_ctx *c, xmlNodePtr n, size_t i)
{
    static const char *const actions[] = {"destroy",        "restart",          "preserve",
                                          "rename-restart", "coredump-destroy", "coredump-restart"};
    char *text;
    char shown[64], path[DOMAIN_IGNORED_PATH_LEN];
    bool known = false;

    if (dx_once(c, &c->have_lifecycle[i], lifecycle_events[i]) < 0)
        return -1;
    text = xml_node_text(n);
    for (size_t k = 0; text != NULL && k < sizeof(actions) / sizeof(actions[0]); k++)
        known = known || strcmp(text, actions[k]) == 0;
    name_escape(text ? text : "", shown, sizeof(shown));
    if (!known) {
        cerr_set(c->e, CE_INVALID_XML, "%s '%s' is not a libvirt action (destroy, restart, ...)",
                 lifecycle_events[i], shown);
        free(text);
        return -1;
    }
    if (strcmp(text, lifecycle_honoured[i]) != 0) {
        snprintf(path, sizeof(path), "%s=%s", lifecycle_events[i], shown);
        dx_note_ignored_path(c, path);
    }
    free(text);
    return 0;
}

static int parse_top(struct parse_ctx *c, xmlNodePtr n)
{
    for (size_t i = 0; i < sizeof(lifecycle_events) / sizeof(lifecycle_events[0]); i++) {
        if (dx_is_elem(n, lifecycle_events[i]))
            return parse_lifecycle(c, n, i);
    }
    if (dx_is_elem(n, "name"))
        return parse_name(c, n);
    if (dx_is_elem(n, "uuid"))
        return parse_uuid(c, n);
    if (dx_is_elem(n, "memory")) {
        if (dx_once(c, &c->have_memory, "memory") < 0)
            return -1;
        return parse_kib(c, n, "memory", &c->def->memory_kib);
    }
    if (dx_is_elem(n, "currentMemory")) {
        if (dx_once(c, &c->have_current, "currentMemory") < 0)
            return -1;
        return parse_kib(c, n, "currentMemory", &c->def->current_memory_kib);
    }
    if (dx_is_elem(n, "vcpu"))
        return dx_parse_vcpu(c, n);
    if (dx_is_elem(n, "cpu"))
        return dx_parse_cpu(c, n);
    if (dx_is_elem(n, "os"))
        return dx_parse_os(c, n);
    if (dx_is_elem(n, "devices"))
        return dx_parse_devices(c, n);
    dx_note_ignored(c, "", n);
    return 0;
}

static int parse_root(struct parse_ctx *c, xmlNodePtr root)
{
    xmlNodePtr qemu = find_qemu_ns_element(root);
    char shown[DOMAIN_ELEM_NAME_LEN];
    char *type;

    if (qemu != NULL) {
        dx_elem_name(qemu, shown, sizeof(shown));
        cerr_set(c->e, CE_UNSUPPORTED,
                 "%s is not supported by corral: elements of the libvirt QEMU namespace (%s) "
                 "pass raw options to QEMU",
                 shown, QEMU_NS);
        return -1;
    }
    if (!dx_is_elem(root, "domain")) {
        dx_elem_name(root, shown, sizeof(shown));
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
    return dx_finish_os_cpu(c) < 0 ? -1 : dx_finish_devices(c);
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
    rc = parse_root(&c, xml_lib.doc_get_root_element(doc));
    xml_lib.free_doc(doc);
    if (rc < 0 || finish(&c) < 0) {
        /* A console's log that never reached the serial port it names. */
        free(c.console_serial_log.file);
        domain_def_free(c.def);
        return NULL;
    }
    if (warnings != NULL)
        *warnings = dx_ignored_line(&c);
    return c.def;
}

struct out_buf {
    char *p;
    size_t len, cap;
};

static void out_add(struct out_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = dx_must(realloc(b->p, b->cap));
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void out_str(struct out_buf *b, const char *s)
{
    out_add(b, s, strlen(s));
}

/* As libvirt's virBufferEscapeString: the five markup characters, in text
 * and in attribute values alike. */
static void out_escaped(struct out_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            out_str(b, "&lt;");
            break;
        case '>':
            out_str(b, "&gt;");
            break;
        case '&':
            out_str(b, "&amp;");
            break;
        case '\'':
            out_str(b, "&apos;");
            break;
        case '"':
            out_str(b, "&quot;");
            break;
        default:
            out_add(b, s, 1);
        }
    }
}

/* virsh's shape: two spaces a level, attributes in single quotes, an
 * element without content closed as <x/>.  The tree holds elements whose
 * content is either text or elements, never both. */
static void out_element(struct out_buf *b, xmlNodePtr n, int depth)
{
    xmlNodePtr child;

    for (int i = 0; i < depth; i++)
        out_str(b, "  ");
    out_str(b, "<");
    out_str(b, (const char *)n->name);
    for (xmlAttrPtr a = n->properties; a != NULL; a = a->next) {
        xmlChar *v = dx_must(xml_lib.node_get_content((xmlNodePtr)a));

        out_str(b, " ");
        out_str(b, (const char *)a->name);
        out_str(b, "='");
        out_escaped(b, (const char *)v);
        out_str(b, "'");
        xml_lib.free(v);
    }
    child = n->children;
    if (child == NULL) {
        out_str(b, "/>\n");
        return;
    }
    if (child->type == XML_TEXT_NODE) {
        out_str(b, ">");
        out_escaped(b, (const char *)child->content);
    } else {
        out_str(b, ">\n");
        for (; child != NULL; child = child->next)
            out_element(b, child, depth + 1);
        for (int i = 0; i < depth; i++)
            out_str(b, "  ");
    }
    out_str(b, "</");
    out_str(b, (const char *)n->name);
    out_str(b, ">\n");
}

xmlNodePtr domain_def_build(const struct domain_def *def, xmlDocPtr doc)
{
    xmlNodePtr root, devices;
    char num[32];

    root = dx_must(xml_lib.new_doc_node(doc, NULL, BAD_CAST "domain", NULL));
    /* libvirt's order (virDomainDefFormatInternal): each part formats its
     * own elements where libvirt puts them. */
    dx_add_prop(root, "type", def->virt == DOMAIN_VIRT_KVM ? "kvm" : "qemu");
    dx_add_child(root, "name", def->name);
    dx_add_child(root, "uuid", def->uuid);
    snprintf(num, sizeof(num), "%llu", def->memory_kib);
    dx_add_prop(dx_add_child(root, "memory", num), "unit", "KiB");
    snprintf(num, sizeof(num), "%llu", def->current_memory_kib);
    dx_add_prop(dx_add_child(root, "currentMemory", num), "unit", "KiB");
    dx_format_os_cpu(def, root);
    for (size_t i = 0; i < sizeof(lifecycle_events) / sizeof(lifecycle_events[0]); i++)
        dx_add_child(root, lifecycle_events[i], lifecycle_honoured[i]);
    devices = dx_add_child(root, "devices", NULL);
    dx_add_child(devices, "emulator", def->emulator);
    dx_format_disks(def, devices);
    dx_format_controllers(def, devices);
    dx_format_nets(def, devices);
    dx_format_chardevs_graphics(def, devices);
    dx_format_memballoon(def, devices);
    return root;
}

char *domain_def_format(const struct domain_def *def)
{
    xmlDocPtr doc;
    xmlNodePtr root;
    struct out_buf out = {0};

    xml_lib_require();
    doc = dx_must(xml_lib.new_doc(BAD_CAST "1.0"));
    root = domain_def_build(def, doc);
    xml_lib.doc_set_root_element(doc, root);
    out_element(&out, root, 0);
    xml_lib.free_doc(doc);
    return out.p;
}

void domain_def_free(struct domain_def *def)
{
    if (def == NULL)
        return;
    dx_free_disks(def);
    dx_free_nets(def);
    dx_free_devices(def);
    dx_free_os_cpu(def);
    free(def->name);
    free(def->arch);
    free(def->machine);
    free(def->emulator);
    free(def);
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
