/* <devices>: the dispatch to each kind, the serial port and console, and
 * VNC graphics. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/domain_xml_int.h"
#include "common/names.h"
#include "common/xml_safe.h"

#define VNC_PORT_MIN 5900

static const char *const on_off[] = {"off", "on", NULL};

/* The chardev types corral can honour: the supervisor holds the other end
 * of every console, so only pty (what virsh console uses) is accepted. */
static int check_pty(struct parse_ctx *c, xmlNodePtr n, const char *what)
{
    char *type = xml_node_prop(n, "type");
    char shown[64];

    if (type == NULL || strcmp(type, "pty") == 0) {
        free(type);
        return 0;
    }
    name_escape(type, shown, sizeof(shown));
    free(type);
    cerr_set(c->e, CE_UNSUPPORTED,
             "devices/%s type='%s' is not supported (only type='pty': corral's supervisor holds "
             "the console, which `corralctl console` attaches to)",
             what, shown);
    return -1;
}

static int parse_log(struct parse_ctx *c, xmlNodePtr n, const char *what, struct chardev_log *log)
{
    char path[48];
    int append;

    snprintf(path, sizeof(path), "devices/%s/log", what);
    if (log->file != NULL)
        return dx_duplicate(c, path);
    log->file = xml_node_prop(n, "file");
    if (log->file == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "%s has no file attribute", path);
        return -1;
    }
    if (dx_check_path(c, path, log->file) < 0)
        return -1;
    append = dx_enum_attr(c, n, "append", path, on_off, 0);
    if (append < 0)
        return -1;
    log->append = append == 1;
    return 0;
}

/* <model name=> inside a serial target: libvirt's dump names isa-serial,
 * the only port model corral gives the guest; another is refused rather
 * than quietly swapped. */
static int check_target_model(struct parse_ctx *c, xmlNodePtr target, const char *what)
{
    static const char *const models[] = {"isa-serial", NULL};
    char path[48];

    snprintf(path, sizeof(path), "devices/%s/target/model name", what);
    for (xmlNodePtr n = target->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!dx_is_elem(n, "model") || strcmp(what, "serial") != 0) {
            char parent[48];

            snprintf(parent, sizeof(parent), "devices/%s/target", what);
            dx_note_ignored(c, parent, n);
        } else if (dx_enum_attr(c, n, "name", path, models, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

/* <target type= port=>: port 0 only, of a type in allowed (the first is
 * the default); returns the type's index. */
static int parse_target(struct parse_ctx *c, xmlNodePtr target, const char *what,
                        const char *const *allowed)
{
    char port_what[48], type_what[48];
    unsigned int port = 0;

    snprintf(port_what, sizeof(port_what), "devices/%s/target port", what);
    snprintf(type_what, sizeof(type_what), "devices/%s/target type", what);
    if (target == NULL)
        return 0;
    if (dx_uint_attr(c, target, "port", port_what, 0, 0, &port) < 0)
        return -1;
    if (check_target_model(c, target, what) < 0)
        return -1;
    return dx_enum_attr(c, target, "type", type_what, allowed, 0);
}

/* Walks a serial or console element: its target, its log, and what a live
 * libvirt dump adds (source path of the pty, alias) which means nothing
 * here. */
static int parse_chardev(struct parse_ctx *c, xmlNodePtr dev, const char *what,
                         const char *const *targets, struct chardev_log *log)
{
    xmlNodePtr target = NULL;

    if (check_pty(c, dev, what) < 0)
        return -1;
    for (xmlNodePtr n = dev->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (dx_is_elem(n, "target")) {
            if (target != NULL)
                return dx_duplicate(c, strcmp(what, "serial") == 0 ? "devices/serial/target"
                                                                   : "devices/console/target");
            target = n;
        } else if (dx_is_elem(n, "log")) {
            if (parse_log(c, n, what, log) < 0)
                return -1;
        } else {
            char parent[32];

            snprintf(parent, sizeof(parent), "devices/%s", what);
            dx_note_ignored(c, parent, n);
        }
    }
    return parse_target(c, target, what, targets);
}

static int parse_serial(struct parse_ctx *c, xmlNodePtr n)
{
    static const char *const targets[] = {"isa-serial", NULL};

    if (c->def->serial) {
        cerr_set(c->e, CE_UNSUPPORTED, "devices/serial: corral supports one serial port");
        return -1;
    }
    c->def->serial = true;
    return parse_chardev(c, n, "serial", targets, &c->def->serial_log) < 0 ? -1 : 0;
}

static int parse_console(struct parse_ctx *c, xmlNodePtr n)
{
    /* libvirt's x86 default is serial: the console is serial port 0. */
    static const char *const targets[] = {"serial", "virtio", NULL};
    struct chardev_log log = {0};
    int which;

    which = parse_chardev(c, n, "console", targets, &log);
    /* One of each kind, as the ports behind them. */
    if (which >= 0 && (which == 1 ? c->def->virtio_console : c->console_on_serial)) {
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/console: corral supports one console of target "
                 "type serial and one of type virtio");
        which = -1;
    }
    if (which < 0) {
        free(log.file);
        return -1;
    }
    if (which == 1) {
        c->def->virtio_console = true;
        c->def->console_log = log;
    } else {
        c->console_on_serial = true;
        c->console_serial_log = log;
    }
    return 0;
}

/* The TCP address of a VNC server, from listen= or <listen
 * type='address'>; NULL (a Unix socket) when neither names one. */
static int vnc_address(struct parse_ctx *c, xmlNodePtr g, char **out)
{
    char *addr = xml_node_prop(g, "listen");

    for (xmlNodePtr n = g->children; n != NULL; n = n->next) {
        char *type, *a;

        if (n->type != XML_ELEMENT_NODE || !dx_is_elem(n, "listen"))
            continue;
        type = xml_node_prop(n, "type");
        a = type != NULL && strcmp(type, "address") == 0 ? xml_node_prop(n, "address") : NULL;
        if (type != NULL && strcmp(type, "socket") == 0)
            dx_note_ignored_path(c, "devices/graphics/listen socket (corral chooses the path)");
        free(type);
        if (a != NULL && addr != NULL && strcmp(a, addr) != 0) {
            free(a);
            free(addr);
            cerr_set(c->e, CE_INVALID_XML,
                     "devices/graphics: listen= and <listen address=> differ");
            return -1;
        }
        if (a != NULL) {
            free(addr);
            addr = a;
        }
    }
    if (addr != NULL && addr[0] == '\0') {
        free(addr);
        addr = NULL;
    }
    *out = addr;
    return 0;
}

static int parse_vnc(struct parse_ctx *c, xmlNodePtr g)
{
    struct graphics_def *gr = &c->def->graphics;
    struct in_addr a;
    char *v = xml_node_prop(g, "passwd"), shown[64];

    if (v != NULL) {
        free(v);
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/graphics passwd= is not supported: corral's VNC socket is in the VM's "
                 "run directory, for its owner");
        return -1;
    }
    v = xml_node_prop(g, "socket");
    if (v != NULL)
        dx_note_ignored_path(c, "devices/graphics socket (corral chooses the path)");
    free(v);
    gr->type = GRAPHICS_VNC;
    if (vnc_address(c, g, &gr->listen) < 0)
        return -1;
    if (gr->listen == NULL)
        return 0;
    name_escape(gr->listen, shown, sizeof(shown));
    if (inet_pton(AF_INET, gr->listen, &a) != 1) {
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/graphics listen='%s' is not an IPv4 address in dotted form", shown);
        return -1;
    }
    /* QEMU numbers VNC displays from 5900; corral does not pick free
     * ports for anybody. */
    if (dx_uint_attr(c, g, "port", "devices/graphics port", VNC_PORT_MIN, 65535, &gr->port) < 0)
        return -1;
    if (gr->port == 0) {
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/graphics listen='%s' needs a port='%d'-'65535' (corral does not choose "
                 "one)",
                 shown, VNC_PORT_MIN);
        return -1;
    }
    return 0;
}

static int parse_graphics(struct parse_ctx *c, xmlNodePtr g)
{
    char *type = xml_node_prop(g, "type");
    bool vnc = type != NULL && strcmp(type, "vnc") == 0;

    free(type);
    /* Other kinds (spice, sdl...) stay ignored, as before: none of them
     * ever opens a window, QEMU runs with -display none. */
    if (!vnc) {
        dx_note_ignored(c, "devices", g);
        return 0;
    }
    if (dx_once(c, &c->have_graphics, "devices/graphics type='vnc'") < 0)
        return -1;
    return parse_vnc(c, g);
}

int dx_parse_devices(struct parse_ctx *c, xmlNodePtr devices)
{
    /* Each of these hands host resources (devices, directories, USB,
     * memory) to the guest. */
    static const char *const refused[] = {"hostdev", "filesystem", "redirdev", "smartcard",
                                          "shmem"};

    if (dx_once(c, &c->have_devices, "devices") < 0)
        return -1;
    for (xmlNodePtr n = devices->children; n != NULL; n = n->next) {
        int rc = 0;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (dx_is_elem(n, "emulator"))
            rc = dx_parse_emulator(c, n);
        else if (dx_is_elem(n, "disk"))
            rc = dx_parse_disk(c, n);
        else if (dx_is_elem(n, "interface"))
            rc = dx_parse_interface(c, n);
        else if (dx_is_elem(n, "serial"))
            rc = parse_serial(c, n);
        else if (dx_is_elem(n, "console"))
            rc = parse_console(c, n);
        else if (dx_is_elem(n, "graphics"))
            rc = parse_graphics(c, n);
        else if (dx_is_elem(n, "controller"))
            rc = dx_parse_controller(c, n);
        else if (dx_is_elem(n, "memballoon"))
            rc = dx_parse_memballoon(c, n);
        else if (dx_is_one_of(n, refused, sizeof(refused) / sizeof(refused[0])))
            return dx_unsupported(c, "devices", n);
        else
            dx_note_ignored(c, "devices", n);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static bool logs_equal(const struct chardev_log *a, const struct chardev_log *b)
{
    return a->append == b->append && strcmp(a->file, b->file) == 0;
}

/* A console of target type serial is serial port 0 under another name, as
 * in libvirt: alone, it makes that port; and a domain with neither gets the
 * port virt-install would give it. */
int dx_finish_devices(struct parse_ctx *c)
{
    struct domain_def *def = c->def;
    struct chardev_log *clog = &c->console_serial_log;

    if (c->console_on_serial) {
        def->serial = true;
        if (clog->file != NULL && def->serial_log.file == NULL) {
            def->serial_log = *clog;
            clog->file = NULL;
        } else if (clog->file != NULL && !logs_equal(clog, &def->serial_log)) {
            cerr_set(c->e, CE_INVALID_XML,
                     "devices/console and devices/serial are one port but name different <log> "
                     "files");
            free(clog->file);
            clog->file = NULL;
            return -1;
        }
        free(clog->file);
        clog->file = NULL;
    }
    if (!def->serial && !def->virtio_console)
        def->serial = true;
    return 0;
}

static void format_log(xmlNodePtr dev, const struct chardev_log *log)
{
    xmlNodePtr node;

    if (log->file == NULL)
        return;
    node = dx_add_child(dev, "log", NULL);
    dx_add_prop(node, "file", log->file);
    dx_add_prop(node, "append", log->append ? "on" : "off");
}

/* libvirt's order (virDomainChrDefFormat): source (a live pty's path,
 * which corral does not show), log, target; an isa-serial target names
 * its model. */
static void format_chardev(xmlNodePtr devices, const char *what, const char *target_type,
                           const struct chardev_log *log)
{
    xmlNodePtr dev = dx_add_child(devices, what, NULL), target;

    dx_add_prop(dev, "type", "pty");
    format_log(dev, log);
    target = dx_add_child(dev, "target", NULL);
    dx_add_prop(target, "type", target_type);
    dx_add_prop(target, "port", "0");
    if (strcmp(target_type, "isa-serial") == 0)
        dx_add_prop(dx_add_child(target, "model", NULL), "name", "isa-serial");
}

void dx_format_chardevs_graphics(const struct domain_def *def, xmlNodePtr devices)
{
    if (def->serial) {
        format_chardev(devices, "serial", "isa-serial", &def->serial_log);
        /* libvirt shows the same port again, its log included. */
        format_chardev(devices, "console", "serial", &def->serial_log);
    }
    if (def->virtio_console)
        format_chardev(devices, "console", "virtio", &def->console_log);
    if (def->graphics.type == GRAPHICS_VNC) {
        xmlNodePtr g = dx_add_child(devices, "graphics", NULL);

        dx_add_prop(g, "type", "vnc");
        if (def->graphics.listen != NULL) {
            dx_add_uint_prop(g, "port", def->graphics.port);
            dx_add_prop(g, "autoport", "no");
            dx_add_prop(g, "listen", def->graphics.listen);
        }
    }
}

void dx_free_devices(struct domain_def *def)
{
    free(def->serial_log.file);
    free(def->console_log.file);
    free(def->graphics.listen);
}

static bool loopback(const char *addr)
{
    struct in_addr a;

    return inet_pton(AF_INET, addr, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

int domain_def_check_admin_only(const struct domain_def *def, struct cerr *e)
{
    char shown[64];

    if (def->graphics.listen != NULL) {
        name_escape(def->graphics.listen, shown, sizeof(shown));
        cerr_set(e, CE_PERMISSION,
                 "permission denied: VM %s: a VNC server on the TCP address %s (graphics "
                 "listen=) is for root and the admin group only; leave listen out for a Unix "
                 "socket in the VM's run directory",
                 def->name, shown);
        return -1;
    }
    for (size_t i = 0; i < def->nnets; i++) {
        for (size_t j = 0; j < def->nets[i].nforwards; j++) {
            const char *addr = def->nets[i].forwards[j].address;

            if (addr == NULL || loopback(addr))
                continue;
            name_escape(addr, shown, sizeof(shown));
            cerr_set(e, CE_PERMISSION,
                     "permission denied: VM %s: forwarding a port from the host address %s "
                     "(portForward address=) is for root and the admin group only; leave address "
                     "out for 127.0.0.1",
                     def->name, shown);
            return -1;
        }
    }
    return 0;
}
