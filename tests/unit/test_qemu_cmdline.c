/* The QEMU command line built from a definition: each feature's arguments,
 * and that no value from the definition can become an option of its own. */
#include "supervisor/qemu_cmdline.h"

#include <stdbool.h>
#include <stdlib.h>

#include "common/fileutil.h"
#include "tests/unit/unit.h"

#define QMP "/run/corral/vm/vm1/qmp.sock"

static struct domain_def *parse(const char *top, const char *os, const char *devices)
{
    char *xml = xasprintf("<domain type='qemu'><name>vm1</name><memory>65536</memory>%s"
                          "<os>%s</os><devices>"
                          "<disk><driver type='qcow2'/><source file='/i/a.qcow2'/>"
                          "<target dev='vda'/></disk>%s</devices></domain>",
                          top, os, devices);
    struct cerr e = {0};
    struct domain_def *def = domain_def_parse(xml, strlen(xml), NULL, &e);

    if (def == NULL)
        printf("# %s\n# %s\n", xml, e.msg);
    free(xml);
    return def;
}

/* qemu_inputs_init's defaults and the monitor's descriptors, which every
 * start has. */
static void init_inputs(struct qemu_inputs *in, const struct domain_def *def)
{
    qemu_inputs_init(in, def);
    in->qmp_fd = 5;
    in->qmp_name_fd = 6;
}

/* Builds the argv and joins it with each argument on a line of its own
 * (newline before and after), for strstr. */
static char *build(const struct domain_def *def, const struct qemu_inputs *in, char **warning,
                   struct cerr *e)
{
    struct argv_list a;
    struct qemu_inputs dflt;
    char *w = NULL, *out;
    size_t len = 2, pos = 0;

    if (in == NULL) {
        init_inputs(&dflt, def);
        in = &dflt;
    }
    if (qemu_build_argv(def, QEMU_MODE_VM, QMP, in, &a, &w, e) < 0)
        return NULL;
    for (size_t i = 0; i < a.n; i++)
        len += strlen(a.v[i]) + 1;
    out = xcalloc(1, len);
    for (size_t i = 0; i < a.n; i++)
        pos += (size_t)sprintf(out + pos, "\n%s", a.v[i]);
    out[pos] = '\n';
    argv_free(&a);
    if (warning != NULL)
        *warning = w;
    else
        free(w);
    return out;
}

static char *build_xml(const char *top, const char *os, const char *devices,
                       const struct qemu_inputs *in, char **warning)
{
    struct domain_def *def = parse(top, os, devices);
    struct cerr e = {0};
    char *out = def ? build(def, in, warning, &e) : NULL;

    if (def != NULL && out == NULL)
        printf("# %s\n", e.msg);
    domain_def_free(def);
    return out;
}

static void defaults_unchanged(void)
{
    char *w = (char *)"untouched";
    char *out = build_xml("", "", "", NULL, &w);

    EXPECT(out != NULL);
    EXPECT(w == NULL);
    EXPECT_CONTAINS(out, "\n-smp\n1\n");
    EXPECT_CONTAINS(out, "\n-display\nnone\n");
    EXPECT_CONTAINS(out, "\"id\":\"vda\",\"bootindex\":1}");
    /* The default serial port, on a socket in the run directory that the
     * supervisor connects to. */
    EXPECT_CONTAINS(out, "\n-chardev\nsocket,id=charserial0,path=/run/corral/vm/vm1/serial.sock,"
                         "server=on,wait=off\n-device\n"
                         "isa-serial,chardev=charserial0,id=serial0");
    EXPECT(strstr(out, "-cpu") == NULL && strstr(out, "-vnc") == NULL &&
           strstr(out, "-netdev") == NULL && strstr(out, "-nographic") == NULL &&
           strstr(out, "-kernel") == NULL);
    free(out);
}

static void maintenance_has_no_devices(void)
{
    struct domain_def *def = parse("<cpu mode='maximum'/>", "<kernel>/k</kernel>",
                                   "<interface type='bridge'><source bridge='br0'/></interface>"
                                   "<graphics type='vnc'/>");
    struct qemu_inputs in;
    struct argv_list a;
    struct cerr e = {0};
    char *w = NULL, *line;

    EXPECT(def != NULL);
    init_inputs(&in, def);
    EXPECT(qemu_build_argv(def, QEMU_MODE_MAINTENANCE, QMP, &in, &a, &w, &e) == 0);
    line = argv_join(&a);
    argv_free(&a);
    domain_def_free(def);
    EXPECT(strstr(line, "-cpu") == NULL && strstr(line, "-netdev") == NULL &&
           strstr(line, "serial") == NULL && strstr(line, "-vnc") == NULL &&
           strstr(line, "-kernel") == NULL && strstr(line, "'-machine' 'none'") != NULL);
    free(line);
}

static void serial_and_console_fds(void)
{
    struct domain_def *def = parse("", "",
                                   "<serial type='pty'/><console type='pty'>"
                                   "<target type='virtio'/></console>");
    struct qemu_inputs in;
    struct cerr e = {0};
    char *out;

    EXPECT(def != NULL);
    init_inputs(&in, def);
    in.serial_fd = 7;
    in.console_fd = 8;
    out = build(def, &in, NULL, &e);
    domain_def_free(def);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-chardev\nsocket,id=charserial0,fd=7\n-device\n"
                         "isa-serial,chardev=charserial0,id=serial0\n");
    EXPECT_CONTAINS(out, "\n-device\nvirtio-serial-pci,id=virtio-serial0\n-chardev\n"
                         "socket,id=charconsole0,fd=8\n-device\n"
                         "virtconsole,chardev=charconsole0,id=console0\n");
    free(out);
}

static void direct_kernel_boot(void)
{
    char *out = build_xml("",
                          "<kernel>/k/vmlinuz</kernel><initrd>/k/initrd,x</initrd>"
                          "<cmdline>console=ttyS0 -S -device foo,bar=1</cmdline>",
                          "", NULL, NULL);

    EXPECT(out != NULL);
    /* Whole arguments of their own: QEMU splits none of them at commas. */
    EXPECT_CONTAINS(out, "\n-kernel\n/k/vmlinuz\n-initrd\n/k/initrd,x\n"
                         "-append\nconsole=ttyS0 -S -device foo,bar=1\n");
    free(out);
}

static void cpu_and_smp(void)
{
    struct domain_def *def = parse("<vcpu current='2'>4</vcpu><cpu mode='host-passthrough'>"
                                   "<topology sockets='2' dies='1' cores='2' threads='1'/></cpu>",
                                   "", "");
    struct qemu_inputs in;
    struct cerr e = {0};
    char *w = NULL, *out;

    EXPECT(def != NULL);
    init_inputs(&in, def);
    in.kvm = true;
    out = build(def, &in, &w, &e);
    EXPECT(out != NULL);
    EXPECT(w == NULL);
    EXPECT_CONTAINS(out, "\n-cpu\nhost\n-smp\n2,maxcpus=4,sockets=2,dies=1,cores=2,threads=1\n");
    free(out);
    in.kvm = false;
    out = build(def, &in, &w, &e);
    domain_def_free(def);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-cpu\nmax\n");
    EXPECT_CONTAINS(w, "VM vm1: cpu mode='host-passthrough' needs KVM; under TCG it runs as "
                       "-cpu max");
    free(w);
    free(out);
    out = build_xml("<cpu mode='custom' check='full'><model>Westmere</model></cpu>", "", "", NULL,
                    NULL);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-cpu\nWestmere,enforce\n");
    free(out);
    out = build_xml("<cpu mode='maximum'/>", "", "", NULL, NULL);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-cpu\nmax\n");
    free(out);
}

static void boot_indexes(void)
{
    static const char nic_and_disk[] =
        "<disk><driver type='raw'/><source file='/i/b'/><target dev='vdb'/>%s</disk>"
        "<interface type='user'><mac address='52:54:00:00:00:01'/>%s</interface>";
    char *devs = xasprintf(nic_and_disk, "", "");
    char *out = build_xml("", "<boot dev='network'/><boot dev='hd'/>", devs, NULL, NULL);

    free(devs);
    EXPECT(out != NULL);
    /* The position of each class goes to its first device. */
    EXPECT_CONTAINS(out, "\"id\":\"vda\",\"bootindex\":2}");
    EXPECT_CONTAINS(out, "\"id\":\"vdb\"}");
    EXPECT_CONTAINS(out, "mac=52:54:00:00:00:01,bootindex=1\n");
    free(out);
    devs = xasprintf(nic_and_disk, "<boot order='1'/>", "<boot order='3'/>");
    out = build_xml("", "", devs, NULL, NULL);
    free(devs);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\"id\":\"vda\"}");
    EXPECT_CONTAINS(out, "\"id\":\"vdb\",\"bootindex\":1}");
    EXPECT_CONTAINS(out, "mac=52:54:00:00:00:01,bootindex=3\n");
    free(out);
}

/* q35 as libvirt plugs it: one root port per PCIe endpoint and one free,
 * at slot 1 (slot 2 when the VGA takes slot 1); each endpoint on its port
 * in libvirt's order (interfaces, USB, SCSI, virtio-serial, disks,
 * balloon). */
static void q35_root_ports(void)
{
    static const char devs[] =
        "<disk><driver type='qcow2'/><source file='/i/w.qcow2'/><target dev='vdb'/></disk>"
        "<disk type='file' device='cdrom'><target dev='sdd' bus='scsi'/></disk>"
        "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
        "<console type='pty'><target type='virtio'/></console><graphics type='vnc'/>";
    char *out = build_xml("", "<type machine='q35'>hvm</type>", devs, NULL, NULL);

    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-device\npcie-root-port,port=0x10,chassis=1,id=pci.1,bus=pcie.0,"
                         "addr=0x2.0x0,multifunction=on\n");
    EXPECT_CONTAINS(out, "\n-device\npcie-root-port,port=0x17,chassis=8,id=pci.8,bus=pcie.0,"
                         "addr=0x2.0x7\n-device\nqemu-xhci,id=usb,bus=pci.2,addr=0x0\n");
    EXPECT(strstr(out, "id=pci.9") == NULL);
    EXPECT_CONTAINS(out, "rtl8139,netdev=hostnet0,id=net0,mac=52:54:00:00:00:01,"
                         "bus=pci.1,addr=0x0\n");
    EXPECT_CONTAINS(out, "{\"driver\":\"virtio-scsi-pci\",\"id\":\"scsi0\",\"bus\":\"pci.3\","
                         "\"addr\":\"0x0\"}");
    EXPECT_CONTAINS(out, "virtio-serial-pci,id=virtio-serial0,bus=pci.4,addr=0x0\n");
    EXPECT_CONTAINS(out, "{\"driver\":\"virtio-blk-pci\",\"bus\":\"pci.5\",\"addr\":\"0x0\","
                         "\"drive\":\"drive-vda\"");
    EXPECT_CONTAINS(out, "\"bus\":\"pci.6\",\"addr\":\"0x0\",\"drive\":\"drive-vdb\"");
    EXPECT_CONTAINS(out, "\nVGA,id=video0,bus=pcie.0,addr=0x1\n");
    EXPECT_CONTAINS(out, "\nvirtio-balloon-pci,id=balloon0,bus=pci.7,addr=0x0\n");
    free(out);
    /* No balloon, no video: ports from slot 1. */
    out = build_xml("", "<type machine='pc-q35-7.2'>hvm</type>", "<memballoon model='none'/>", NULL,
                    NULL);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "pcie-root-port,port=0x8,chassis=1,id=pci.1,bus=pcie.0,addr=0x1.0x0,"
                         "multifunction=on\n");
    EXPECT_CONTAINS(out, "pcie-root-port,port=0xa,chassis=3,id=pci.3,bus=pcie.0,addr=0x1.0x2\n");
    EXPECT(strstr(out, "id=pci.4") == NULL && strstr(out, "balloon") == NULL);
    free(out);
}

/* Each bus on its controller, as libvirt places it, and an empty tray. */
static void disk_buses(void)
{
    static const char devs[] =
        "<disk type='file' device='cdrom'><source file='/iso/d.iso'/>"
        "<target dev='hdc' bus='ide'/></disk>"
        "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/></disk>"
        "<disk><driver type='qcow2'/><source file='/i/w.qcow2'/><target dev='sda' bus='sata'/>"
        "</disk>"
        "<disk><driver type='raw'/><source file='/i/u.img'/><target dev='sdc' bus='usb'/></disk>"
        "<disk type='file' device='cdrom'><target dev='sdd' bus='scsi'/></disk>";
    char *out = build_xml("", "<boot dev='cdrom'/><boot dev='hd'/>", devs, NULL, NULL);

    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\"driver\":\"virtio-blk-pci\",\"drive\":\"drive-vda\",\"id\":\"vda\","
                         "\"bootindex\":2}");
    EXPECT_CONTAINS(out, "\n{\"driver\":\"file\",\"filename\":\"/iso/d.iso\","
                         "\"node-name\":\"drive-hdc-file\",\"read-only\":true,");
    EXPECT_CONTAINS(out, "{\"driver\":\"ide-cd\",\"bus\":\"ide.1\",\"unit\":0,"
                         "\"drive\":\"drive-hdc\",\"id\":\"hdc\",\"bootindex\":1}");
    /* pc has no AHCI of its own: one ich9-ahci, once. */
    EXPECT_CONTAINS(out, "\n-device\n{\"driver\":\"ich9-ahci\",\"id\":\"sata0\"}\n-device\n"
                         "{\"driver\":\"ide-cd\",\"bus\":\"sata0.1\",\"id\":\"sdb\"}\n");
    EXPECT(strstr(out, "drive-sdb") == NULL);
    EXPECT(strstr(strstr(out, "ich9-ahci") + 1, "ich9-ahci") == NULL);
    EXPECT_CONTAINS(out, "{\"driver\":\"ide-hd\",\"bus\":\"sata0.0\",\"drive\":\"drive-sda\","
                         "\"id\":\"sda\"}");
    /* pc's USB controller, where libvirt puts it, before any disk. */
    EXPECT_CONTAINS(out, "\n-device\npiix3-usb-uhci,id=usb,bus=pci.0,addr=0x1.0x2\n-blockdev\n");
    EXPECT_CONTAINS(out, "{\"driver\":\"usb-storage\",\"bus\":\"usb.0\",\"drive\":\"drive-sdc\","
                         "\"id\":\"sdc\"}\n");
    EXPECT_CONTAINS(out, "\n-device\nvirtio-balloon-pci,id=balloon0\n");
    EXPECT_CONTAINS(out, "{\"driver\":\"virtio-scsi-pci\",\"id\":\"scsi0\"}\n-device\n"
                         "{\"driver\":\"scsi-cd\",\"bus\":\"scsi0.0\",\"id\":\"sdd\"}\n");
    free(out);
    /* q35's built-in AHCI, and no IDE there. */
    out = build_xml("", "<type machine='q35'>hvm</type>",
                    "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/></disk>", NULL,
                    NULL);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "{\"driver\":\"ide-cd\",\"bus\":\"ide.1\",\"id\":\"sdb\"}");
    EXPECT(strstr(out, "ich9-ahci") == NULL);
    free(out);
    {
        struct domain_def *def = parse("", "<type machine='pc-q35-7.2'>hvm</type>",
                                       "<disk type='file' device='cdrom'>"
                                       "<target dev='hdc' bus='ide'/></disk>");
        struct cerr e = {0};
        EXPECT(def != NULL);
        EXPECT(build(def, NULL, NULL, &e) == NULL);
        EXPECT_CONTAINS(e.msg, "disk hdc (bus='ide'): q35 has no IDE controller");
        domain_def_free(def);
    }
}

/* libvirt's blockdev mapping of <driver> and <serial>. */
static void disk_driver_options(void)
{
    static const char devs[] =
        "<disk type='block'><driver type='raw' cache='none' io='native' discard='unmap' "
        "detect_zeroes='unmap'/><source dev='/dev/loop7'/><target dev='vdb'/>"
        "<serial>SN 1</serial></disk>"
        "<disk><driver type='raw' cache='unsafe' detect_zeroes='unmap'/>"
        "<source file='/i/c'/><target dev='vdc'/></disk>"
        "<disk><driver type='raw' cache='directsync' io='io_uring' discard='ignore'/>"
        "<source file='/i/d'/><target dev='vdd'/></disk>"
        "<disk><driver type='raw' cache='writethrough' io='threads'/>"
        "<source file='/i/e'/><target dev='vde'/></disk>";
    char *out = build_xml("", "", devs, NULL, NULL);

    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "{\"driver\":\"host_device\",\"filename\":\"/dev/loop7\","
                         "\"node-name\":\"drive-vdb-file\",\"read-only\":false,"
                         "\"auto-read-only\":false,\"discard\":\"unmap\",\"aio\":\"native\","
                         "\"cache\":{\"direct\":true,\"no-flush\":false}}");
    EXPECT_CONTAINS(out, "{\"driver\":\"raw\",\"file\":\"drive-vdb-file\","
                         "\"node-name\":\"drive-vdb\",\"read-only\":false,\"discard\":\"unmap\","
                         "\"detect-zeroes\":\"unmap\",\"cache\":{\"direct\":true,"
                         "\"no-flush\":false}}");
    EXPECT_CONTAINS(out, "\"id\":\"vdb\",\"serial\":\"SN 1\",\"write-cache\":\"on\"}");
    /* unmap without discard='unmap' is on, as libvirt gives it. */
    EXPECT_CONTAINS(out, "\"node-name\":\"drive-vdc\",\"read-only\":false,"
                         "\"detect-zeroes\":\"on\",\"cache\":{\"direct\":false,"
                         "\"no-flush\":true}}");
    EXPECT_CONTAINS(out, "\"aio\":\"io_uring\",\"cache\":{\"direct\":true,\"no-flush\":false}}");
    EXPECT_CONTAINS(out, "\"node-name\":\"drive-vdd\",\"read-only\":false,"
                         "\"discard\":\"ignore\",");
    EXPECT_CONTAINS(out, "\"id\":\"vdd\",\"write-cache\":\"off\"}");
    EXPECT_CONTAINS(out, "\"aio\":\"threads\",\"cache\":{\"direct\":false,\"no-flush\":false}}");
    EXPECT_CONTAINS(out, "\"id\":\"vde\",\"write-cache\":\"off\"}");
    free(out);
}

/* A maintenance QEMU opens no cdrom: no snapshot job reads one. */
static void maintenance_skips_cdroms(void)
{
    struct domain_def *def = parse("", "",
                                   "<disk type='file' device='cdrom'><source file='/iso/d.iso'/>"
                                   "<target dev='hdc'/></disk>");
    struct qemu_inputs in;
    struct argv_list a;
    struct cerr e = {0};
    char *w = NULL, *line;

    EXPECT(def != NULL);
    init_inputs(&in, def);
    EXPECT(qemu_build_argv(def, QEMU_MODE_MAINTENANCE, QMP, &in, &a, &w, &e) == 0);
    line = argv_join(&a);
    argv_free(&a);
    domain_def_free(def);
    EXPECT(strstr(line, "d.iso") == NULL && strstr(line, "drive-vda") != NULL);
    free(line);
}

static void networks(void)
{
    struct domain_def *def = parse(
        "", "",
        "<interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/>"
        "<portForward proto='tcp'><range start='2222' to='22'/></portForward>"
        "<portForward proto='udp' address='127.0.0.2'><range start='5000' end='5001' to='53'/>"
        "</portForward></interface>"
        "<interface type='bridge'><source bridge='br0'/><model type='e1000'/>"
        "<mac address='52:54:00:00:00:02'/></interface>"
        "<interface type='ethernet'><target dev='tap9'/></interface>");
    struct qemu_inputs in;
    struct cerr e = {0};
    int taps[2] = {11, 12};
    char *out;

    EXPECT(def != NULL);
    init_inputs(&in, def);
    in.tap_fds = taps;
    in.ntap_fds = 2;
    out = build(def, &in, NULL, &e);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-netdev\nuser,id=hostnet0,hostfwd=tcp:127.0.0.1:2222-:22,"
                         "hostfwd=udp:127.0.0.2:5000-:53,hostfwd=udp:127.0.0.2:5001-:54\n"
                         "-device\nvirtio-net-pci,netdev=hostnet0,id=net0,"
                         "mac=52:54:00:00:00:01\n");
    EXPECT_CONTAINS(out, "\n-netdev\ntap,id=hostnet1,fd=11\n-device\n"
                         "e1000,netdev=hostnet1,id=net1,mac=52:54:00:00:00:02\n");
    /* No MAC before apply_defaults: QEMU picks one. */
    EXPECT_CONTAINS(out, "\n-netdev\ntap,id=hostnet2,fd=12\n-device\n"
                         "rtl8139,netdev=hostnet2,id=net2\n");
    free(out);
    taps[1] = -1;
    out = build(def, &in, NULL, &e);
    EXPECT(out == NULL);
    EXPECT_CONTAINS(e.msg, "VM vm1: interface 2 (ethernet tap9) has no tap");
    in.ntap_fds = 1;
    taps[1] = 12;
    out = build(def, &in, NULL, &e);
    EXPECT(out == NULL);
    EXPECT_CONTAINS(e.msg, "has no tap");
    out = build(def, NULL, NULL, &e);
    domain_def_free(def);
    EXPECT(out == NULL);
    EXPECT_CONTAINS(e.msg, "VM vm1: interface 1 (bridge br0) has no tap");
}

static void vnc(void)
{
    struct domain_def *def = parse("", "", "<graphics type='vnc'/>");
    struct qemu_inputs in;
    struct cerr e = {0};
    char *out;

    EXPECT(def != NULL);
    out = build(def, NULL, NULL, &e);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-device\nVGA,id=video0\n-vnc\nunix:/run/corral/vm/vm1/vnc.sock");
    EXPECT_CONTAINS(out, "\n-display\nnone\n");
    free(out);
    init_inputs(&in, def);
    in.vnc_socket = "/run/x,password=on/vnc.sock";
    out = build(def, &in, NULL, &e);
    domain_def_free(def);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-vnc\nunix:/run/x,,password=on/vnc.sock");
    free(out);
    out = build_xml("", "", "<graphics type='vnc' listen='127.0.0.1' port='5901'/>", NULL, NULL);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-vnc\n127.0.0.1:1");
    free(out);
}

/* Values that never pass the parser, set behind its back: the builder
 * refuses each rather than hand QEMU another option. */
static void hostile_values_refused(void)
{
    static const char *const expect[] = {
        "cpu/model",
        "cpu/model",
        "kernel",
        "os/cmdline",
        "initrd",
        "interface mac",
        "interface portForward",
        "graphics listen",
        "os/type machine",
        "os/type machine",
    };
    struct cerr e = {0};

    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        struct domain_def *def =
            parse("", "",
                  "<interface type='user'><portForward proto='tcp'><range start='2'/>"
                  "</portForward></interface><graphics type='vnc'/>");
        char *out;

        EXPECT(def != NULL);
        def->cpu.mode = CPU_MODE_CUSTOM;
        def->cpu.model = xstrdup("qemu64");
        switch (i) {
        case 0:
            free(def->cpu.model);
            def->cpu.model = xstrdup("qemu64,+vmx=on");
            break;
        case 1:
            free(def->cpu.model);
            def->cpu.model = xstrdup("-machine");
            break;
        case 2:
            def->kernel = xstrdup("-S");
            break;
        case 3:
            def->kernel = xstrdup("/k");
            def->cmdline = xstrdup("quiet\n-device x");
            break;
        case 4:
            def->kernel = xstrdup("/k");
            def->initrd = xstrdup("/i\r");
            break;
        case 5:
            snprintf(def->nets[0].mac, sizeof(def->nets[0].mac), "52:54:00:0,id=x");
            break;
        case 6:
            def->nets[0].forwards[0].address = xstrdup("127.0.0.1:1-:22,hostfwd=tcp:");
            break;
        case 7:
            def->graphics.listen = xstrdup("0.0.0.0:0,password=off");
            def->graphics.port = 5900;
            break;
        default:
            /* A first element with '=' is a property, not the type
             * (fuzz_domain_xml); a doubled comma would not help. */
            free(def->machine);
            def->machine = xstrdup(i == 8 ? "accel=kvm" : "pc,accel=kvm");
            break;
        }
        out = build(def, NULL, NULL, &e);
        domain_def_free(def);
        if (out != NULL)
            printf("# case %zu accepted:%s\n", i, out);
        EXPECT(out == NULL);
        EXPECT(e.code == CE_INVALID_XML);
        EXPECT_CONTAINS(e.msg, expect[i]);
        EXPECT_CONTAINS(e.msg, "holds characters QEMU would read as options");
    }
}

/* What goes through opt_escape: commas doubled, so they stay in the
 * value. */
static void escaped_values(void)
{
    struct domain_def *def = parse("", "", "");
    struct qemu_inputs in;
    struct argv_list a;
    struct cerr e = {0};
    char *w = NULL, *line;

    EXPECT(def != NULL);
    init_inputs(&in, def);
    EXPECT(qemu_build_argv(def, QEMU_MODE_VM, "/run/a,server=off/q.sock", &in, &a, &w, &e) == 0);
    line = argv_join(&a);
    argv_free(&a);
    domain_def_free(def);
    EXPECT_CONTAINS(line, "'-add-fd' 'fd=6,set=0,opaque=/run/a,,server=off/q.sock' '-chardev' "
                          "'socket,id=corral-qmp,fd=5,server=on,wait=on'");
    free(line);
}

/* QEMU serves the monitor socket the supervisor listens on; its command
 * line names it still.  Without one, QEMU is not started. */
static void monitor_socket_passed(void)
{
    struct domain_def *def = parse("", "", "");
    struct qemu_inputs in;
    struct cerr e = {0};
    char *out;

    EXPECT(def != NULL);
    init_inputs(&in, def);
    in.qmp_fd = 9;
    in.qmp_name_fd = 10;
    out = build(def, &in, NULL, &e);
    EXPECT(out != NULL);
    EXPECT_CONTAINS(out, "\n-add-fd\nfd=10,set=0,opaque=" QMP "\n-chardev\n"
                         "socket,id=corral-qmp,fd=9,server=on,wait=on\n-mon\n"
                         "chardev=corral-qmp,mode=control\n");
    free(out);
    in.qmp_fd = -1;
    EXPECT(build(def, &in, NULL, &e) == NULL);
    EXPECT_CONTAINS(e.msg, "no monitor socket");
    domain_def_free(def);
}

/* UEFI as libvirt gives it: code and variables as pflash block nodes the
 * machine takes by name; SMM and a secure flash for secure='yes'. */
static void uefi_pflash(void)
{
    static const char *const os = "<type machine='q35'>hvm</type><loader readonly='yes' "
                                  "secure='yes' type='pflash'>/fw/CODE.fd</loader>"
                                  "<nvram template='/fw/VARS.fd'/>";
    struct domain_def *def = parse("", os, "");
    struct qemu_inputs in;
    struct argv_list a;
    struct cerr e = {0};
    char *out, *w = NULL;
    bool ok;

    EXPECT(def != NULL);
    init_inputs(&in, def);
    in.nvram = "/st/vm1_VARS.fd";
    out = build(def, &in, NULL, &e);
    ok = out != NULL &&
         strstr(out, "\n-machine\nq35,pflash0=pflash0-code,pflash1=pflash1-vars,smm=on\n") &&
         strstr(out, "\n-blockdev\n{\"driver\":\"file\",\"filename\":\"/fw/CODE.fd\","
                     "\"node-name\":\"pflash0-code-file\",\"read-only\":true,") &&
         strstr(out, "{\"driver\":\"raw\",\"file\":\"pflash1-vars-file\",\"node-name\":"
                     "\"pflash1-vars\",\"read-only\":false}") &&
         strstr(out, "\"filename\":\"/st/vm1_VARS.fd\"") &&
         strstr(out, "\n-global\ndriver=cfi.pflash01,property=secure,value=on\n");
    if (!ok)
        printf("# %s\n", out ? out : e.msg);
    free(out);
    EXPECT(ok);
    /* The supervisor must say where the variables are. */
    in.nvram = NULL;
    EXPECT(build(def, &in, NULL, &e) == NULL);
    EXPECT_CONTAINS(e.msg, "no NVRAM file was prepared");
    in.nvram = "/st/vm1\n_VARS.fd";
    EXPECT(build(def, &in, NULL, &e) == NULL);
    EXPECT_CONTAINS(e.msg, "control characters");
    /* A maintenance QEMU runs no firmware. */
    EXPECT(qemu_build_argv(def, QEMU_MODE_MAINTENANCE, QMP, &in, &a, &w, &e) == 0);
    out = argv_join(&a);
    argv_free(&a);
    domain_def_free(def);
    EXPECT(strstr(out, "pflash") == NULL && strstr(out, "'-machine' 'none'") != NULL);
    free(out);
    def = parse("", "<loader secure='yes'>/fw/C.fd</loader><nvram template='/fw/V.fd'/>", "");
    EXPECT(def != NULL);
    in.nvram = "/st/vm1_VARS.fd";
    out = build(def, &in, NULL, &e);
    domain_def_free(def);
    EXPECT(out == NULL);
    EXPECT_CONTAINS(e.msg, "secure='yes' (SMM) needs a q35 machine type, not 'pc'");
}

int main(void)
{
    RUN(defaults_unchanged);
    RUN(maintenance_has_no_devices);
    RUN(serial_and_console_fds);
    RUN(direct_kernel_boot);
    RUN(cpu_and_smp);
    RUN(boot_indexes);
    RUN(disk_buses);
    RUN(q35_root_ports);
    RUN(disk_driver_options);
    RUN(maintenance_skips_cdroms);
    RUN(networks);
    RUN(vnc);
    RUN(hostile_values_refused);
    RUN(escaped_values);
    RUN(monitor_socket_passed);
    RUN(uefi_pflash);
    return unit_done();
}
