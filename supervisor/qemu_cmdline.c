#include "supervisor/qemu_cmdline.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "proto/rpc.h"
#include "supervisor/qemu_cmdline_firmware.h"

/* QEMU's option parser treats ',' as a separator: a literal comma in a
 * value is written twice. */
static char *opt_escape(const char *s)
{
    char *out = xcalloc(2, strlen(s) + 1), *p = out;

    for (; *s != '\0'; s++) {
        *p++ = *s;
        if (*s == ',')
            *p++ = ',';
    }
    *p = '\0';
    return out;
}

void qemu_inputs_init(struct qemu_inputs *in, const struct domain_def *def)
{
    memset(in, 0, sizeof(*in));
    in->kvm = def->virt == DOMAIN_VIRT_KVM;
    in->qmp_fd = in->qmp_name_fd = -1;
    in->serial_fd = -1;
    in->console_fd = -1;
}

/* What may stand in a QemuOpts value without escaping: no ',' to start
 * another option, no '=' , no control character, no leading '-'. */
static bool opt_plain(const char *s)
{
    if (s[0] == '\0' || s[0] == '-')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-' || *p == ':'))
            return false;
    }
    return true;
}

/* A whole argument of its own (-kernel, -append): QEMU does not split it,
 * but a control character would still forge the logged command line. */
static bool arg_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    }
    return true;
}

static int refuse_value(const struct domain_def *def, const char *what, struct cerr *e)
{
    cerr_set(e, CE_INVALID_XML, "VM %s: %s holds characters QEMU would read as options", def->name,
             what);
    return -1;
}

/* libvirt runs host modes only with KVM; corral runs them under TCG as
 * QEMU's richest model and says so. */
static int add_cpu(struct argv_list *a, const struct domain_def *def, bool kvm, char **warning,
                   struct cerr *e)
{
    const struct cpu_def *cpu = &def->cpu;
    bool host = cpu->mode == CPU_MODE_HOST_PASSTHROUGH || cpu->mode == CPU_MODE_HOST_MODEL;

    if (cpu->mode == CPU_MODE_NONE)
        return 0;
    argv_add(a, "-cpu");
    if (host && kvm) {
        argv_add(a, "host");
        return 0;
    }
    if (host || cpu->mode == CPU_MODE_MAXIMUM) {
        if (host)
            *warning = xasprintf(
                "VM %s: cpu mode='%s' needs KVM; under TCG it runs as -cpu max", def->name,
                cpu->mode == CPU_MODE_HOST_MODEL ? "host-model" : "host-passthrough");
        argv_add(a, "max");
        return 0;
    }
    if (cpu->model == NULL || !opt_plain(cpu->model) || strchr(cpu->model, ':') != NULL)
        return refuse_value(def, "cpu/model", e);
    /* check='full': QEMU refuses to start rather than run without a
     * feature of the model. */
    argv_take(a, xasprintf("%s%s", cpu->model, cpu->check == CPU_CHECK_FULL ? ",enforce" : ""));
    return 0;
}

static void add_smp(struct argv_list *a, const struct domain_def *def)
{
    const struct cpu_def *cpu = &def->cpu;
    char buf[160];
    int len = snprintf(buf, sizeof(buf), "%u", def->vcpus_current);

    if (def->vcpus_current != def->vcpus)
        len += snprintf(buf + len, sizeof(buf) - (size_t)len, ",maxcpus=%u", def->vcpus);
    if (cpu->sockets != 0)
        snprintf(buf + len, sizeof(buf) - (size_t)len, ",sockets=%u,dies=%u,cores=%u,threads=%u",
                 cpu->sockets, cpu->dies, cpu->cores, cpu->threads);
    argv_add(a, "-smp");
    argv_add(a, buf);
}

static int add_kernel(struct argv_list *a, const struct domain_def *def, struct cerr *e)
{
    const char *const files[][2] = {{"-kernel", def->kernel}, {"-initrd", def->initrd}};

    for (size_t i = 0; i < 2; i++) {
        if (files[i][1] == NULL)
            continue;
        if (files[i][1][0] != '/' || !arg_printable(files[i][1]))
            return refuse_value(def, files[i][0] + 1, e);
        argv_add(a, files[i][0]);
        argv_add(a, files[i][1]);
    }
    if (def->cmdline != NULL) {
        if (!arg_printable(def->cmdline))
            return refuse_value(def, "os/cmdline", e);
        argv_add(a, "-append");
        argv_add(a, def->cmdline);
    }
    return 0;
}

/* libvirt's rule: per-device <boot order> is the bootindex; otherwise the
 * position of each <os><boot dev> class goes to the first device of that
 * class (disks: qemu_disk_boot_indexes). */
static void net_boot_indexes(const struct domain_def *def, unsigned int *net)
{
    unsigned int network = 0;

    for (size_t i = 0; i < def->nnets; i++)
        net[i] = def->nets[i].boot_order;
    for (size_t i = 0; i < def->nboot_devs; i++) {
        if (def->boot_devs[i] == DOMAIN_BOOT_NETWORK && network == 0)
            network = (unsigned int)i + 1;
    }
    if (network != 0 && def->nnets > 0)
        net[0] = network;
}

/* name in the directory of the QMP socket (the VM's run directory). */
static char *run_dir_path(const char *qmp_path, const char *name)
{
    const char *slash = strrchr(qmp_path, '/');
    int dirlen = slash ? (int)(slash - qmp_path) : 1;

    return xasprintf("%.*s/%s", dirlen, slash ? qmp_path : ".", name);
}

/* The supervisor is the other end of a console: by default the client of
 * a socket QEMU listens on in the run directory, so that a new supervisor
 * re-adopting QEMU after a crash connects again (with an inherited fd the
 * console would die with the supervisor that held it). */
static void add_chardev(struct argv_list *a, const char *id, int fd, const char *qmp_path,
                        const char *name)
{
    argv_add(a, "-chardev");
    if (fd >= 0)
        argv_take(a, xasprintf("socket,id=%s,fd=%d", id, fd));
    else {
        char *path = run_dir_path(qmp_path, name), *esc = opt_escape(path);

        argv_take(a, xasprintf("socket,id=%s,path=%s,server=on,wait=off", id, esc));
        free(esc);
        free(path);
    }
}

/* ",bus=pci.N,addr=0x0" on q35's root port N; "" elsewhere. */
static void pci_bus_opt(unsigned int port, char *buf, size_t len)
{
    buf[0] = '\0';
    if (port != 0)
        snprintf(buf, len, ",bus=pci.%u,addr=0x0", port);
}

/* What libvirt gives every pc and q35 VM before its devices: on q35 the
 * root ports (functions of one slot, the first multifunction), then the
 * USB controller of the machine's family, where the USB disks plug. */
static void add_controllers(struct argv_list *a, const struct domain_pci_plan *p)
{
    char bus[48];

    for (unsigned int i = 1; i <= p->nports; i++) {
        argv_add(a, "-device");
        argv_take(a, xasprintf("pcie-root-port,port=0x%x,chassis=%u,id=pci.%u,bus=pcie.0,"
                               "addr=0x%x.0x%x%s",
                               p->port_slot * 8 + i - 1, i, i, p->port_slot, i - 1,
                               i == 1 ? ",multifunction=on" : ""));
    }
    argv_add(a, "-device");
    if (p->q35) {
        pci_bus_opt(p->usb_port, bus, sizeof(bus));
        argv_take(a, xasprintf("qemu-xhci,id=usb%s", bus));
    } else {
        argv_add(a, "piix3-usb-uhci,id=usb,bus=pci.0,addr=0x1.0x2");
    }
}

static void add_balloon(struct argv_list *a, const struct domain_def *def,
                        const struct domain_pci_plan *p)
{
    char bus[48];

    if (def->memballoon_none)
        return;
    pci_bus_opt(p->balloon_port, bus, sizeof(bus));
    argv_add(a, "-device");
    argv_take(a, xasprintf("virtio-balloon-pci,id=balloon0%s", bus));
}

static void add_consoles(struct argv_list *a, const struct domain_def *def, const char *qmp_path,
                         const struct qemu_inputs *in, const struct domain_pci_plan *p)
{
    char bus[48];

    if (def->serial) {
        add_chardev(a, "charserial0", in->serial_fd, qmp_path, QEMU_SERIAL_SOCKET);
        argv_add(a, "-device");
        argv_add(a, "isa-serial,chardev=charserial0,id=serial0");
    }
    if (def->virtio_console) {
        pci_bus_opt(p->vserial_port, bus, sizeof(bus));
        argv_add(a, "-device");
        argv_take(a, xasprintf("virtio-serial-pci,id=virtio-serial0%s", bus));
        add_chardev(a, "charconsole0", in->console_fd, qmp_path, QEMU_CONSOLE_SOCKET);
        argv_add(a, "-device");
        argv_add(a, "virtconsole,chardev=charconsole0,id=console0");
    }
}

static bool ipv4_valid(const char *s)
{
    struct in_addr addr;

    return inet_pton(AF_INET, s, &addr) == 1;
}

/* -netdev user with one hostfwd= per forwarded port, host side on
 * loopback unless the definition names an address. */
static int netdev_user(const struct domain_def *def, size_t i, char **out, struct cerr *e)
{
    const struct net_def *net = &def->nets[i];
    char *s = xasprintf("user,id=hostnet%zu", i);

    for (size_t j = 0; j < net->nforwards; j++) {
        const struct port_forward *f = &net->forwards[j];
        const char *addr = f->address ? f->address : "127.0.0.1";

        if (!ipv4_valid(addr) || f->start == 0 || f->end < f->start || f->end > 65535 ||
            f->to == 0 || f->to + (f->end - f->start) > 65535) {
            free(s);
            return refuse_value(def, "interface portForward", e);
        }
        for (unsigned int p = f->start; p <= f->end; p++) {
            char *t =
                xasprintf("%s,hostfwd=%s:%s:%u-:%u", s, f->proto == NET_PROTO_UDP ? "udp" : "tcp",
                          addr, p, f->to + (p - f->start));
            free(s);
            s = t;
        }
    }
    *out = s;
    return 0;
}

static bool mac_valid(const char *m)
{
    if (strlen(m) != 17)
        return false;
    for (size_t i = 0; i < 17; i++) {
        bool hex = (m[i] >= '0' && m[i] <= '9') || (m[i] >= 'a' && m[i] <= 'f');
        if (i % 3 == 2 ? m[i] != ':' : !hex)
            return false;
    }
    return true;
}

static int add_nets(struct argv_list *a, const struct domain_def *def, const struct qemu_inputs *in,
                    const unsigned int *bootindex, const struct domain_pci_plan *p, struct cerr *e)
{
    static const char *const models[] = {"virtio-net-pci", "e1000", "rtl8139"};
    size_t tap = 0;

    for (size_t i = 0; i < def->nnets; i++) {
        const struct net_def *net = &def->nets[i];
        char *netdev, boot[32] = "", mac[32] = "", bus[48];

        if (net->type == NET_TYPE_USER) {
            if (netdev_user(def, i, &netdev, e) < 0)
                return -1;
        } else {
            int fd = tap < in->ntap_fds ? in->tap_fds[tap] : -1;

            tap++;
            if (fd < 0) {
                cerr_set(e, CE_SYSTEM,
                         "VM %s: interface %zu (%s %s) has no tap: the broker creates it and "
                         "passes its fd",
                         def->name, i, net->type == NET_TYPE_BRIDGE ? "bridge" : "ethernet",
                         net->bridge ? net->bridge : (net->ifname ? net->ifname : "tap"));
                return -1;
            }
            netdev = xasprintf("tap,id=hostnet%zu,fd=%d", i, fd);
        }
        argv_add(a, "-netdev");
        argv_take(a, netdev);
        if (net->mac[0] != '\0') {
            if (!mac_valid(net->mac))
                return refuse_value(def, "interface mac", e);
            snprintf(mac, sizeof(mac), ",mac=%s", net->mac);
        }
        if (bootindex[i] != 0)
            snprintf(boot, sizeof(boot), ",bootindex=%u", bootindex[i]);
        pci_bus_opt(p->net_port[i], bus, sizeof(bus));
        argv_add(a, "-device");
        argv_take(a, xasprintf("%s,netdev=hostnet%zu,id=net%zu%s%s%s", models[net->model], i, i,
                               mac, boot, bus));
    }
    return 0;
}

/* -display none stays: VNC is a server of its own, and no window opens. */
static int add_vnc(struct argv_list *a, const struct domain_def *def, const char *qmp_path,
                   const struct qemu_inputs *in, struct cerr *e)
{
    const struct graphics_def *g = &def->graphics;
    char *path, *esc;

    if (g->type != GRAPHICS_VNC)
        return 0;
    argv_add(a, "-device");
    /* libvirt's slot for the primary video on q35, before the root ports. */
    argv_add(a, domain_def_is_q35(def) ? "VGA,id=video0,bus=pcie.0,addr=0x1" : "VGA,id=video0");
    argv_add(a, "-vnc");
    if (g->listen != NULL) {
        if (!ipv4_valid(g->listen) || g->port < 5900 || g->port > 65535)
            return refuse_value(def, "graphics listen", e);
        argv_take(a, xasprintf("%s:%u", g->listen, g->port - 5900));
        return 0;
    }
    if (in->vnc_socket != NULL)
        path = xstrdup(in->vnc_socket);
    else
        path = run_dir_path(qmp_path, "vnc.sock");
    esc = opt_escape(path);
    free(path);
    argv_take(a, xasprintf("unix:%s", esc));
    free(esc);
    return 0;
}

/* The VM's own devices beyond its disks: never for a maintenance QEMU. */
static int add_vm_devices(struct argv_list *a, const struct domain_def *def, const char *qmp_path,
                          const struct qemu_inputs *in, const unsigned int *net_boot,
                          struct cerr *e)
{
    struct domain_pci_plan p;

    domain_def_pci_plan(def, &p);
    add_consoles(a, def, qmp_path, in, &p);
    if (add_nets(a, def, in, net_boot, &p, e) < 0)
        return -1;
    if (add_vnc(a, def, qmp_path, in, e) < 0)
        return -1;
    add_balloon(a, def, &p);
    return 0;
}

/* A maintenance QEMU's machine is none, whatever the VM's.  The type is
 * checked, not escaped: a doubled comma keeps a value whole, but a first
 * element with '=' ("accel=kvm") is read as a property, not the type. */
static int add_machine(struct argv_list *a, const struct domain_def *def, bool vm,
                       const struct qemu_firmware_args *fw, struct cerr *e)
{
    if (vm && !opt_plain(def->machine))
        return refuse_value(def, "os/type machine", e);
    argv_add(a, "-machine");
    argv_take(a, vm ? xasprintf("%s%s", def->machine, fw->machine_opts ? fw->machine_opts : "")
                    : xstrdup("none"));
    return 0;
}

/* The pflash nodes the machine names; fw is consumed. */
static void add_firmware(struct argv_list *a, struct qemu_firmware_args *fw)
{
    for (size_t i = 0; i < QEMU_FIRMWARE_BLOCKDEVS && fw->blockdev[i] != NULL; i++) {
        argv_add(a, "-blockdev");
        argv_add(a, fw->blockdev[i]);
    }
    if (fw->secure_pflash) {
        argv_add(a, "-global");
        argv_add(a, "driver=cfi.pflash01,property=secure,value=on");
    }
    qemu_firmware_args_free(fw);
}

bool qemu_machine_has_devices(const struct domain_def *def)
{
    return strcmp(def->machine, "none") != 0;
}

int qemu_build_argv(const struct domain_def *def, enum qemu_mode mode, const char *qmp_path,
                    const struct qemu_inputs *in, struct argv_list *a, char **warning,
                    struct cerr *e)
{
    bool vm = mode == QEMU_MODE_VM;
    /* The disks' nodes alone are enough for snapshot jobs. */
    bool devices = vm && qemu_machine_has_devices(def);
    unsigned int disk_boot[DOMAIN_MAX_DISKS] = {0}, net_boot[DOMAIN_MAX_NETS] = {0};
    struct qemu_firmware_args fw;
    char *qmp_esc;

    memset(a, 0, sizeof(*a));
    *warning = NULL;
    if (in->qmp_fd < 0 || in->qmp_name_fd < 0) {
        cerr_set(e, CE_INTERNAL, "VM %s: QEMU was given no monitor socket", def->name);
        return -1;
    }
    /* A maintenance QEMU runs no guest code: no firmware. */
    memset(&fw, 0, sizeof(fw));
    if (vm && qemu_firmware_build(def, in->nvram, &fw, e) < 0)
        return -1;
    qemu_disk_boot_indexes(def, disk_boot);
    net_boot_indexes(def, net_boot);
    argv_add(a, def->emulator);
    argv_add(a, "-name");
    argv_take(a, xasprintf("guest=%s,debug-threads=on", def->name));
    argv_add(a, "-uuid");
    argv_add(a, def->uuid);
    if (add_machine(a, def, vm, &fw, e) < 0)
        goto fail;
    argv_add(a, "-accel");
    argv_add(a, vm && def->virt == DOMAIN_VIRT_KVM ? "kvm" : "tcg");
    if (vm) {
        argv_add(a, "-m");
        argv_take(a, xasprintf("size=%lluk", def->memory_kib));
        if (add_cpu(a, def, in->kvm, warning, e) < 0)
            goto fail;
        add_smp(a, def);
        if (add_kernel(a, def, e) < 0)
            goto fail;
    }
    argv_add(a, "-nodefaults");
    argv_add(a, "-no-user-config");
    argv_add(a, "-display");
    argv_add(a, "none");
    /* Start paused: the supervisor connects to QMP first, so it sees every
     * event from the first instruction on, then sends cont. */
    argv_add(a, "-S");
    /* The supervisor listens before QEMU starts and is first in the
     * socket's queue: QEMU's wait=on accepts it at once, during start-up,
     * before the monitor's listener moves to the monitor thread (a
     * connection arriving while it moves can leave QEMU 7.2's main thread
     * blocked for good in accept(2)).  -add-fd only names the socket. */
    qmp_esc = opt_escape(qmp_path);
    argv_add(a, "-add-fd");
    argv_take(a, xasprintf("fd=%d,set=0,opaque=%s", in->qmp_name_fd, qmp_esc));
    free(qmp_esc);
    argv_add(a, "-chardev");
    argv_take(a, xasprintf("socket,id=corral-qmp,fd=%d,server=on,wait=on", in->qmp_fd));
    argv_add(a, "-mon");
    argv_add(a, "chardev=corral-qmp,mode=control");
    argv_add(a, "-sandbox");
    argv_add(a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    add_firmware(a, &fw);
    if (devices) {
        struct domain_pci_plan p;

        domain_def_pci_plan(def, &p);
        add_controllers(a, &p);
    }
    if (qemu_add_disks(a, def, devices, disk_boot, e) < 0)
        goto fail;
    if (devices && add_vm_devices(a, def, qmp_path, in, net_boot, e) < 0)
        goto fail;
    return 0;
fail:
    qemu_firmware_args_free(&fw);
    argv_free(a);
    free(*warning);
    *warning = NULL;
    return -1;
}
