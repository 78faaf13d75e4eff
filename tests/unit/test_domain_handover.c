/* The definition the broker hands a supervisor (common/domain_handover.c):
 * whatever it holds comes back equal, and what is not its own is refused. */
#include <fcntl.h>
#include <unistd.h>

#include "common/domain_handover.h"
#include "common/fileutil.h"
#include "unit.h"

/* Every member of struct domain_def set away from its default, so that a
 * member the handover forgets shows as a difference in the XML. */
static const char rich_xml[] =
    "<domain type='kvm'><name>vm1</name><uuid>0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d</uuid>"
    "<memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>1048576</currentMemory>"
    "<vcpu current='2'>4</vcpu>"
    "<os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type>"
    "<firmware><feature enabled='yes' name='secure-boot'/>"
    "<feature enabled='no' name='enrolled-keys'/></firmware>"
    "<loader readonly='yes' secure='yes' type='pflash'>/fw/CODE.fd</loader>"
    "<nvram template='/fw/VARS.fd'>/var/lib/libvirt/qemu/nvram/vm1_VARS.fd</nvram>"
    "<kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd.img</initrd>"
    "<cmdline>console=ttyS0 quiet</cmdline><boot dev='cdrom'/><boot dev='network'/></os>"
    "<cpu mode='custom' check='full'><model fallback='forbid'>Skylake-Client</model>"
    "<topology sockets='1' dies='1' cores='2' threads='2'/></cpu>"
    "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
    "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='directsync' "
    "io='io_uring' discard='ignore' detect_zeroes='unmap'/><source file='/img/a.raw'/>"
    "<target dev='sda' bus='sata'/><serial>SN-1</serial><readonly/></disk>"
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
    "<target dev='hdc' bus='ide'/></disk>"
    "<interface type='user'><mac address='52:54:00:ab:cd:ef'/><model type='rtl8139'/>"
    "<portForward proto='udp' address='10.1.2.3'><range start='5000' end='5001' to='6000'/>"
    "</portForward><portForward proto='tcp'><range start='2222' to='22'/></portForward>"
    "</interface>"
    "<interface type='bridge'><source bridge='br0'/><target dev='tap7'/><model type='e1000'/>"
    "<mac address='52:54:00:00:00:01'/></interface>"
    "<serial type='pty'><log file='/var/log/vm1-serial.log' append='on'/>"
    "<target port='0'/></serial>"
    "<console type='pty'><target type='virtio'/>"
    "<log file='/var/log/vm1-console.log' append='on'/>"
    "</console>"
    "<graphics type='vnc' listen='127.0.0.1' port='5901'/>"
    "<memballoon model='none'/></devices></domain>";

static struct domain_def *parse(const char *xml)
{
    struct cerr e = {0};
    char *warnings = NULL;
    struct domain_def *def = domain_def_parse(xml, strlen(xml), &warnings, &e);

    if (def == NULL)
        printf("# %s\n", e.msg);
    if (warnings != NULL)
        printf("# warnings: %s\n", warnings);
    free(warnings);
    return def;
}

/* What the broker writes, the supervisor reads back: equal as XML, which
 * formats every member. */
static void round_trip_through_memfd(void)
{
    struct domain_def *def = parse(rich_xml), *back;
    struct cerr e = {0};
    char *want, *got;
    int fd;

    EXPECT(def != NULL);
    /* The XML did set what it is meant to set. */
    EXPECT(def->fw.loader != NULL && def->fw.nvram_import != NULL && def->cpu.threads == 2);
    EXPECT(def->nnets == 2 && def->nets[0].nforwards == 2 && def->ndisks == 2);
    EXPECT(def->disks[1].source == NULL && def->serial_log.append && def->virtio_console);
    EXPECT(def->graphics.listen != NULL && def->memballoon_none && def->nboot_devs == 2);
    fd = domain_handover_memfd(def, &e);
    EXPECT(fd >= 0);
    /* Sealed: the supervisor reads what the broker wrote. */
    EXPECT(write(fd, "x", 1) < 0);
    back = domain_handover_read(fd, &e);
    close(fd);
    if (back == NULL)
        printf("# %s\n", e.msg);
    EXPECT(back != NULL);
    want = domain_def_format(def);
    got = domain_def_format(back);
    EXPECT_STR(got, want);
    EXPECT_STR(back->uuid, def->uuid);
    free(want);
    free(got);
    domain_def_free(def);
    domain_def_free(back);
}

/* Per-device boot order, which <os><boot> excludes. */
static void boot_order_round_trips(void)
{
    struct domain_def
        *def = parse("<domain type='qemu'><name>tiny</name><memory>65536</memory><devices>"
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                     "<source file='/img/b.qcow2'/><target dev='vda'/>"
                     "<boot order='2'/></disk><interface type='user'><boot order='1'/></interface>"
                     "</devices></domain>"),
        *back;
    struct cerr e = {0};
    char *text, *want, *got;

    EXPECT(def != NULL && def->disks[0].boot_order == 2 && def->nets[0].boot_order == 1);
    text = domain_handover_encode(def);
    EXPECT(text != NULL);
    back = domain_handover_decode(text, strlen(text), &e);
    EXPECT(back != NULL);
    want = domain_def_format(def);
    got = domain_def_format(back);
    EXPECT_STR(got, want);
    free(text);
    free(want);
    free(got);
    domain_def_free(def);
    domain_def_free(back);
}

/* Another build's handover, or a damaged one, is refused (the supervisor
 * then parses the XML file). */
static void refuses_what_it_did_not_write(void)
{
    struct domain_def *def = parse(rich_xml);
    struct cerr e = {0};
    char *text, *bad;

    EXPECT(def != NULL);
    text = domain_handover_encode(def);
    EXPECT(text != NULL && strncmp(text, "{\"version\":1,", 13) == 0);
    bad = xasprintf("{\"version\":2,%s", text + 13);
    EXPECT(domain_handover_decode(bad, strlen(bad), &e) == NULL && e.code == CE_VERSION);
    free(bad);
    bad = xstrdup(text);
    memcpy(strstr(bad, "\"virt\":0"), "\"virt\":7", 8);
    EXPECT(domain_handover_decode(bad, strlen(bad), &e) == NULL);
    EXPECT_CONTAINS(e.msg, "virt");
    free(bad);
    bad = xstrdup(text);
    memcpy(strstr(bad, "\"target\":\"sda\""), "\"target\":12345", 14);
    EXPECT(domain_handover_decode(bad, strlen(bad), &e) == NULL);
    EXPECT_CONTAINS(e.msg, "disk member target");
    free(bad);
    EXPECT(domain_handover_decode(text, strlen(text) - 1, &e) == NULL);
    free(text);
    domain_def_free(def);
}

int main(void)
{
    RUN(round_trip_through_memfd);
    RUN(boot_order_round_trips);
    RUN(refuses_what_it_did_not_write);
    return unit_done();
}
