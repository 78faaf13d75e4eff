/* <interface>: user-mode networking with port forwards, bridges and taps,
 * NIC models and MAC addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/domain_xml_int.h"
#include "common/fileutil.h"
#include "common/names.h"
#include "common/xml_safe.h"

/* Every forwarded port is one hostfwd= of QEMU's -netdev user. */
#define PORTS_MAX 64

static const char *const net_type_names[] = {"user", "bridge", "ethernet", NULL};
static const char *const net_model_names[] = {"virtio", "e1000", "rtl8139", NULL};
static const char *const proto_names[] = {"tcp", "udp", NULL};

/* Children that promise a restriction or a setup corral would not make
 * (nwfilter, bandwidth limits, VLANs, addresses): refused rather than
 * ignored. */
static const char *const refused_children[] = {"filterref", "bandwidth", "vlan",   "virtualport",
                                               "ip",        "route",     "backend"};

/* Interface names as the kernel takes them (IFNAMSIZ with its NUL), from a
 * charset that cannot split a QEMU option or a path. */
static bool ifname_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len >= IFNAMSIZ || s[0] == '-' || s[0] == '.')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    }
    return true;
}

static int parse_ifname(struct parse_ctx *c, xmlNodePtr n, const char *attr, const char *what,
                        char **out)
{
    char shown[64];

    if (*out != NULL)
        return dx_duplicate(c, what);
    *out = xml_node_prop(n, attr);
    if (*out == NULL) {
        cerr_set(c->e, CE_INVALID_XML, "%s has no %s attribute", what, attr);
        return -1;
    }
    if (ifname_valid(*out))
        return 0;
    name_escape(*out, shown, sizeof(shown));
    cerr_set(c->e, CE_INVALID_XML,
             "%s %s='%s' is not an interface name (1-%d characters of A-Z a-z 0-9 . _ -, not "
             "starting with . or -)",
             what, attr, shown, IFNAMSIZ - 1);
    return -1;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static int parse_mac(struct parse_ctx *c, xmlNodePtr n, struct net_def *net)
{
    char *text = xml_node_prop(n, "address"), shown[64];
    unsigned char b[6];
    bool ok = text != NULL && strlen(text) == 17;

    if (net->mac[0] != '\0') {
        free(text);
        return dx_duplicate(c, "devices/interface/mac");
    }
    for (size_t i = 0; ok && i < 6; i++) {
        int hi = hex_digit(text[i * 3]), lo = hex_digit(text[i * 3 + 1]);

        ok = hi >= 0 && lo >= 0 && (i == 5 || text[i * 3 + 2] == ':');
        b[i] = (unsigned char)(hi * 16 + lo);
    }
    name_escape(text ? text : "", shown, sizeof(shown));
    free(text);
    if (!ok) {
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/interface mac address='%s' is not a MAC address (xx:xx:xx:xx:xx:xx)",
                 shown);
        return -1;
    }
    if (b[0] & 1) {
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/interface mac address='%s' is a multicast address: a NIC needs a "
                 "unicast one (the first byte's low bit clear)",
                 shown);
        return -1;
    }
    snprintf(net->mac, sizeof(net->mac), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3],
             b[4], b[5]);
    return 0;
}

static int parse_range(struct parse_ctx *c, xmlNodePtr r, struct port_forward *f)
{
    static const char *const no_yes[] = {"no", "yes", NULL};
    const char *what = "devices/interface/portForward/range";
    int exclude = dx_enum_attr(c, r, "exclude", "portForward range exclude", no_yes, 0);

    if (exclude < 0)
        return -1;
    if (exclude == 1) {
        cerr_set(c->e, CE_UNSUPPORTED, "%s exclude='yes' is not supported", what);
        return -1;
    }
    if (dx_uint_attr(c, r, "start", "portForward range start", 1, 65535, &f->start) < 0 ||
        dx_uint_attr(c, r, "end", "portForward range end", 1, 65535, &f->end) < 0 ||
        dx_uint_attr(c, r, "to", "portForward range to", 1, 65535, &f->to) < 0)
        return -1;
    if (f->start == 0) {
        cerr_set(c->e, CE_INVALID_XML, "%s has no start attribute", what);
        return -1;
    }
    if (f->end == 0)
        f->end = f->start;
    if (f->to == 0)
        f->to = f->start;
    if (f->end < f->start || f->to + (f->end - f->start) > 65535) {
        cerr_set(c->e, CE_INVALID_XML, "%s start='%u' end='%u' to='%u' is not a valid range", what,
                 f->start, f->end, f->to);
        return -1;
    }
    return 0;
}

static int count_ports(struct parse_ctx *c, const struct net_def *net)
{
    unsigned int ports = 0;

    for (size_t i = 0; i < net->nforwards; i++)
        ports += net->forwards[i].end - net->forwards[i].start + 1;
    if (ports > PORTS_MAX) {
        cerr_set(c->e, CE_UNSUPPORTED,
                 "devices/interface forwards %u ports; corral forwards at most %d per interface",
                 ports, PORTS_MAX);
        return -1;
    }
    return 0;
}

/* libvirt 9's <portForward proto= address=><range start= end= to=/>: each
 * range is kept as one port_forward. */
static int parse_port_forward(struct parse_ctx *c, xmlNodePtr pf, struct net_def *net)
{
    char *proto = xml_node_prop(pf, "proto"), *addr = xml_node_prop(pf, "address");
    char *dev = xml_node_prop(pf, "dev"), shown[64];
    struct in_addr a;
    int which = -1;
    bool any = false;

    if (proto == NULL)
        cerr_set(c->e, CE_INVALID_XML, "devices/interface/portForward has no proto attribute");
    else if (dev != NULL)
        cerr_set(c->e, CE_UNSUPPORTED, "devices/interface/portForward dev= is not supported");
    else if (addr != NULL && inet_pton(AF_INET, addr, &a) != 1) {
        name_escape(addr, shown, sizeof(shown));
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/interface/portForward address='%s' is not an IPv4 address in dotted "
                 "form",
                 shown);
    } else
        which =
            dx_enum_attr(c, pf, "proto", "devices/interface/portForward proto", proto_names, -1);
    free(proto);
    free(dev);
    for (xmlNodePtr r = pf->children; which >= 0 && r != NULL; r = r->next) {
        struct port_forward *f;

        if (r->type != XML_ELEMENT_NODE)
            continue;
        if (!dx_is_elem(r, "range")) {
            dx_note_ignored(c, "devices/interface/portForward", r);
            continue;
        }
        if (net->nforwards == DOMAIN_MAX_FORWARDS) {
            cerr_set(c->e, CE_UNSUPPORTED, "devices/interface has more than %d port forward ranges",
                     DOMAIN_MAX_FORWARDS);
            which = -1;
            break;
        }
        if (net->forwards == NULL)
            net->forwards = xcalloc(DOMAIN_MAX_FORWARDS, sizeof(*net->forwards));
        f = &net->forwards[net->nforwards++];
        f->proto = (enum net_proto)which;
        f->address = addr ? xstrdup(addr) : NULL;
        any = true;
        if (parse_range(c, r, f) < 0)
            which = -1;
    }
    free(addr);
    if (which >= 0 && !any) {
        cerr_set(c->e, CE_INVALID_XML, "devices/interface/portForward has no <range start=...>");
        which = -1;
    }
    return which < 0 ? -1 : 0;
}

static int parse_interface_child(struct parse_ctx *c, xmlNodePtr n, struct net_def *net)
{
    const char *const what = "devices/interface";
    int model;

    if (dx_is_elem(n, "mac"))
        return parse_mac(c, n, net);
    if (dx_is_elem(n, "model")) {
        model = dx_enum_attr(c, n, "type", "devices/interface model type", net_model_names, -2);
        if (model == -2)
            cerr_set(c->e, CE_INVALID_XML, "devices/interface/model has no type attribute");
        if (model < 0)
            return -1;
        net->model = (enum net_model)model;
        return 0;
    }
    if (dx_is_elem(n, "source") && net->type == NET_TYPE_BRIDGE)
        return parse_ifname(c, n, "bridge", "devices/interface/source", &net->bridge);
    if (dx_is_elem(n, "target") && net->type != NET_TYPE_USER)
        return parse_ifname(c, n, "dev", "devices/interface/target", &net->ifname);
    if (dx_is_elem(n, "boot")) {
        if (net->boot_order != 0)
            return dx_duplicate(c, "devices/interface/boot");
        return dx_boot_order(c, n, "devices/interface boot order", &net->boot_order);
    }
    if (dx_is_elem(n, "portForward")) {
        if (net->type != NET_TYPE_USER) {
            cerr_set(c->e, CE_UNSUPPORTED,
                     "devices/interface/portForward is supported on type='user' only");
            return -1;
        }
        return parse_port_forward(c, n, net);
    }
    if (dx_is_one_of(n, refused_children, sizeof(refused_children) / sizeof(refused_children[0])))
        return dx_unsupported(c, what, n);
    dx_note_ignored(c, what, n);
    return 0;
}

static int check_mac_unique(struct parse_ctx *c, const struct net_def *net)
{
    const struct domain_def *def = c->def;

    for (size_t i = 0; net->mac[0] != '\0' && i + 1 < def->nnets; i++) {
        if (strcmp(def->nets[i].mac, net->mac) == 0) {
            cerr_set(c->e, CE_INVALID_XML,
                     "devices/interface mac address='%s' is used by more than one interface",
                     net->mac);
            return -1;
        }
    }
    return 0;
}

int dx_parse_interface(struct parse_ctx *c, xmlNodePtr iface)
{
    struct domain_def *def = c->def;
    char *type = xml_node_prop(iface, "type");
    struct net_def *net;
    int which;

    /* libvirt's virtual networks do not exist under corral: such an
     * interface stays ignored, as it always was, so that virt-install's XML
     * still defines. */
    if (type != NULL && strcmp(type, "network") == 0) {
        free(type);
        dx_note_ignored_path(c, "devices/interface type='network'");
        return 0;
    }
    if (type == NULL) {
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/interface has no type attribute (user, bridge or ethernet)");
        return -1;
    }
    free(type);
    which = dx_enum_attr(c, iface, "type", "devices/interface type", net_type_names, -1);
    if (which < 0)
        return -1;
    if (def->nnets == DOMAIN_MAX_NETS) {
        cerr_set(c->e, CE_UNSUPPORTED,
                 "domain has more than %d interfaces, the most corral supports", DOMAIN_MAX_NETS);
        return -1;
    }
    if (def->nets == NULL)
        def->nets = xcalloc(DOMAIN_MAX_NETS, sizeof(*def->nets));
    /* Counted before it is filled in so that domain_def_free releases a
     * half-parsed interface. */
    net = &def->nets[def->nnets++];
    net->type = (enum net_type)which;
    /* libvirt's default model for x86 QEMU guests. */
    net->model = NET_MODEL_RTL8139;
    for (xmlNodePtr n = iface->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && parse_interface_child(c, n, net) < 0)
            return -1;
    }
    if (net->type == NET_TYPE_BRIDGE && net->bridge == NULL) {
        cerr_set(c->e, CE_INVALID_XML,
                 "devices/interface type='bridge' has no <source bridge='...'/>");
        return -1;
    }
    return count_ports(c, net) < 0 ? -1 : check_mac_unique(c, net);
}

static void format_forward(xmlNodePtr iface, const struct port_forward *f)
{
    xmlNodePtr pf = dx_add_child(iface, "portForward", NULL), range;

    dx_add_prop(pf, "proto", proto_names[f->proto]);
    if (f->address != NULL)
        dx_add_prop(pf, "address", f->address);
    range = dx_add_child(pf, "range", NULL);
    dx_add_uint_prop(range, "start", f->start);
    if (f->end != f->start)
        dx_add_uint_prop(range, "end", f->end);
    if (f->to != f->start)
        dx_add_uint_prop(range, "to", f->to);
}

void dx_format_nets(const struct domain_def *def, xmlNodePtr devices)
{
    for (size_t i = 0; i < def->nnets; i++) {
        const struct net_def *net = &def->nets[i];
        xmlNodePtr iface = dx_add_child(devices, "interface", NULL);

        dx_add_prop(iface, "type", net_type_names[net->type]);
        if (net->mac[0] != '\0')
            dx_add_prop(dx_add_child(iface, "mac", NULL), "address", net->mac);
        if (net->bridge != NULL)
            dx_add_prop(dx_add_child(iface, "source", NULL), "bridge", net->bridge);
        /* libvirt's place for them: after the source, before the target. */
        for (size_t j = 0; j < net->nforwards; j++)
            format_forward(iface, &net->forwards[j]);
        if (net->ifname != NULL)
            dx_add_prop(dx_add_child(iface, "target", NULL), "dev", net->ifname);
        dx_add_prop(dx_add_child(iface, "model", NULL), "type", net_model_names[net->model]);
        if (net->boot_order != 0)
            dx_add_uint_prop(dx_add_child(iface, "boot", NULL), "order", net->boot_order);
    }
}

void dx_free_nets(struct domain_def *def)
{
    for (size_t i = 0; i < def->nnets; i++) {
        struct net_def *net = &def->nets[i];

        for (size_t j = 0; j < net->nforwards; j++)
            free(net->forwards[j].address);
        free(net->forwards);
        free(net->bridge);
        free(net->ifname);
    }
    free(def->nets);
}

size_t domain_def_tap_count(const struct domain_def *def)
{
    size_t n = 0;

    for (size_t i = 0; i < def->nnets; i++)
        n += def->nets[i].type != NET_TYPE_USER;
    return n;
}

static bool mac_taken(const struct domain_def *def, const char *mac)
{
    for (size_t i = 0; i < def->nnets; i++) {
        if (strcmp(def->nets[i].mac, mac) == 0)
            return true;
    }
    return false;
}

/* QEMU's and libvirt's locally administered prefix, 52:54:00, with three
 * random bytes. */
static int mac_generate(const struct domain_def *def, char mac[18], struct cerr *e)
{
    unsigned char b[3];

    do {
        size_t got = 0;

        while (got < sizeof(b)) {
            ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                cerr_set(e, CE_SYSTEM, "VM %s: cannot generate a MAC address: getrandom: %s",
                         def->name, strerror(errno));
                return -1;
            }
            got += (size_t)n;
        }
        snprintf(mac, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
    } while (mac_taken(def, mac));
    return 0;
}

int domain_def_apply_defaults(struct domain_def *def, struct cerr *e)
{
    for (size_t i = 0; i < def->nnets; i++) {
        char mac[18];

        if (def->nets[i].mac[0] != '\0')
            continue;
        if (mac_generate(def, mac, e) < 0)
            return -1;
        memcpy(def->nets[i].mac, mac, sizeof(mac));
    }
    return 0;
}
