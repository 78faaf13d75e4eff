/* The libvirt domain XML subset corral understands. */
#ifndef CORRAL_DOMAIN_XML_H
#define CORRAL_DOMAIN_XML_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/error.h"

#define DOMAIN_MAX_DISKS 16
#define DOMAIN_MAX_NETS 8
/* libvirt's VIR_DOMAIN_BOOT_LAST: fd, hd, cdrom, network. */
#define DOMAIN_MAX_BOOT_DEVS 4
#define DOMAIN_MAX_FORWARDS 16
#define DOMAIN_DEFAULT_EMULATOR "/usr/bin/qemu-system-x86_64"
#define DOMAIN_DEFAULT_MACHINE "pc"

enum domain_virt { DOMAIN_VIRT_KVM, DOMAIN_VIRT_QEMU };
enum disk_format { DISK_FORMAT_QCOW2, DISK_FORMAT_RAW };
/* <disk type=>: an image file or a host block device (a /dev node). */
enum disk_type { DISK_TYPE_FILE, DISK_TYPE_BLOCK };
enum disk_device { DISK_DEVICE_DISK, DISK_DEVICE_CDROM };
/* <target bus=>; defaulted from the target's prefix at parse, as libvirt
 * does (vd virtio, sd scsi, hd ide), and always formatted. */
enum disk_bus { DISK_BUS_VIRTIO, DISK_BUS_SCSI, DISK_BUS_IDE, DISK_BUS_SATA, DISK_BUS_USB };
/* <driver cache= io= discard= detect_zeroes=>: _DEFAULT when absent. */
enum disk_cache {
    DISK_CACHE_DEFAULT,
    DISK_CACHE_NONE,
    DISK_CACHE_WRITETHROUGH,
    DISK_CACHE_WRITEBACK,
    DISK_CACHE_DIRECTSYNC,
    DISK_CACHE_UNSAFE
};
enum disk_io { DISK_IO_DEFAULT, DISK_IO_NATIVE, DISK_IO_THREADS, DISK_IO_URING };
enum disk_discard { DISK_DISCARD_DEFAULT, DISK_DISCARD_UNMAP, DISK_DISCARD_IGNORE };
enum disk_zeroes { DISK_ZEROES_DEFAULT, DISK_ZEROES_OFF, DISK_ZEROES_ON, DISK_ZEROES_UNMAP };

#define DISK_SERIAL_MAX 36

struct disk_def {
    enum disk_type type;
    enum disk_device device;
    enum disk_bus bus;
    /* absolute path of the image (type file) or device node (type block);
     * NULL only for a cdrom with no medium (an empty tray) */
    char *source;
    char *target; /* "vda", validated by name_target_valid */
    enum disk_format format;
    bool readonly;           /* always true for a cdrom */
    unsigned int boot_order; /* <boot order='N'/>, 0 when absent */
    enum disk_cache cache;
    enum disk_io io;
    enum disk_discard discard;
    enum disk_zeroes detect_zeroes;
    char *serial; /* <serial>: [A-Za-z0-9 _.+-], at most DISK_SERIAL_MAX; NULL when absent */
};

/* Names as domain XML spells them, indexed by the enums above. */
extern const char *const disk_type_names[];
extern const char *const disk_device_names[];
extern const char *const disk_bus_names[];

/* <os><boot dev=.../> classes (corral has no floppy). */
enum domain_boot_dev { DOMAIN_BOOT_HD, DOMAIN_BOOT_CDROM, DOMAIN_BOOT_NETWORK };

enum cpu_mode {
    CPU_MODE_NONE, /* no <cpu mode>: QEMU's default model */
    CPU_MODE_HOST_PASSTHROUGH,
    CPU_MODE_HOST_MODEL,
    CPU_MODE_MAXIMUM,
    CPU_MODE_CUSTOM
};
enum cpu_check { CPU_CHECK_DEFAULT, CPU_CHECK_NONE, CPU_CHECK_PARTIAL, CPU_CHECK_FULL };
enum cpu_fallback { CPU_FALLBACK_DEFAULT, CPU_FALLBACK_ALLOW, CPU_FALLBACK_FORBID };

struct cpu_def {
    enum cpu_mode mode;
    enum cpu_check check;
    enum cpu_fallback fallback;
    char *model; /* custom mode only: [A-Za-z0-9._-], QEMU's model name */
    /* <topology>: all 0 when absent, else all >= 1 and their product is
     * the vcpu maximum */
    unsigned int sockets, dies, cores, threads;
};

/* <log file= append=> of a serial port or console: the supervisor keeps
 * the copy. */
struct chardev_log {
    char *file; /* absolute path, NULL when absent */
    bool append;
};

enum net_type { NET_TYPE_USER, NET_TYPE_BRIDGE, NET_TYPE_ETHERNET };
enum net_model { NET_MODEL_VIRTIO, NET_MODEL_E1000, NET_MODEL_RTL8139 };
enum net_proto { NET_PROTO_TCP, NET_PROTO_UDP };

/* One <portForward><range start= end= to=/>: host ports start..end to guest
 * ports to..to+(end-start). */
struct port_forward {
    enum net_proto proto;
    char *address; /* host IPv4 address, NULL for 127.0.0.1 */
    unsigned int start, end, to;
};

struct net_def {
    enum net_type type;
    enum net_model model;
    char mac[18]; /* "52:54:00:xx:xx:xx" lowercase; "" until apply_defaults */
    char *bridge; /* type bridge: <source bridge=> */
    char *ifname; /* <target dev=>: the tap's name, NULL when absent */
    unsigned int boot_order;
    size_t nforwards; /* type user only */
    struct port_forward *forwards;
};

enum graphics_type { GRAPHICS_NONE, GRAPHICS_VNC };

struct graphics_def {
    enum graphics_type type;
    /* NULL: a Unix socket in the VM's run directory; else a TCP address,
     * which only an admin may choose (domain_def_check_admin_only) */
    char *listen;
    unsigned int port; /* with listen: 5900-65535 */
};

/* <os firmware=>: absent (BIOS unless a <loader> says otherwise), bios,
 * efi. */
enum domain_firmware { DOMAIN_FIRMWARE_DEFAULT, DOMAIN_FIRMWARE_BIOS, DOMAIN_FIRMWARE_EFI };
/* <os><firmware><feature enabled= name=/>: not said, yes, no. */
enum domain_fw_feature { DOMAIN_FW_FEATURE_ANY, DOMAIN_FW_FEATURE_YES, DOMAIN_FW_FEATURE_NO };

/* UEFI in QEMU's split flash layout: read-only code (pflash0) and the VM's
 * own variables (pflash1), copied from the template at first start into
 * STATE/vms/NAME/NAME_VARS.fd.  firmware='efi' without a <loader> is filled
 * in at parse from QEMU's firmware descriptors (common/firmware.h), so a
 * parsed definition with UEFI always names its loader and template. */
struct firmware_def {
    enum domain_firmware kind;
    enum domain_fw_feature secure_boot, enrolled_keys;
    char *loader;         /* absolute path; NULL: BIOS */
    bool secure;          /* <loader secure='yes'>: SMM and a secure pflash */
    char *nvram_template; /* absolute path; set whenever loader is */
    /* <nvram>PATH</nvram>: an existing NVRAM of the owner's, copied in
     * place of the template at the first start; NULL when absent. */
    char *nvram_import;
};

/* A member added here (or to the structs above) goes into
 * common/domain_handover.c's tables too. */
struct domain_def {
    char *name;    /* validated by name_vm_valid */
    char uuid[37]; /* lowercase canonical form */
    enum domain_virt virt;
    unsigned long long memory_kib;
    unsigned long long current_memory_kib;
    unsigned int vcpus;         /* the maximum */
    unsigned int vcpus_current; /* <vcpu current=>, equal to vcpus when absent */
    char *arch;                 /* "x86_64" */
    char *machine;              /* QEMU machine type, DOMAIN_DEFAULT_MACHINE when absent */
    char *emulator;             /* absolute path, DOMAIN_DEFAULT_EMULATOR when absent */
    /* Direct kernel boot: absolute paths, NULL when absent; cmdline is the
     * kernel's command line, with no control characters. */
    char *kernel, *initrd, *cmdline;
    /* <os><boot dev>, in order; [hd] when neither they nor any per-device
     * <boot order> are given, as libvirt does. */
    size_t nboot_devs;
    enum domain_boot_dev boot_devs[DOMAIN_MAX_BOOT_DEVS];
    struct firmware_def fw;
    struct cpu_def cpu;
    size_t ndisks;
    struct disk_def *disks;
    size_t nnets;
    struct net_def *nets;
    /* One isa-serial port (port 0), which a <console> of target type serial
     * is another name for; a domain with neither serial nor console gets
     * one, as virt-install gives. */
    bool serial;
    struct chardev_log serial_log;
    /* <console><target type='virtio'>: a virtconsole of its own. */
    bool virtio_console;
    struct chardev_log console_log;
    struct graphics_def graphics;
    /* <memballoon model='none'>: no virtio balloon (libvirt adds one). */
    bool memballoon_none;
};

/* Where the VM's PCI devices are plugged on q35: root port numbers from 1
 * (0: not a PCIe endpoint corral places, or not q35, where QEMU numbers
 * the slots of pci.0). */
struct domain_pci_plan {
    bool q35;
    unsigned int nports;    /* pcie-root-ports, pci.1 to pci.nports */
    unsigned int port_slot; /* their slot on pcie.0, one function each */
    unsigned int net_port[DOMAIN_MAX_NETS];
    unsigned int disk_port[DOMAIN_MAX_DISKS]; /* virtio disks */
    unsigned int usb_port, scsi_port, vserial_port, balloon_port;
};

/* Parses untrusted domain XML (through xml_parse_untrusted).  On success
 * returns a new definition the caller frees with domain_def_free, and sets
 * *warnings to a malloc'd one-line message listing the ignored elements (or
 * NULL when nothing was ignored).  On failure returns NULL with e set. */
struct domain_def *domain_def_parse(const char *xml, size_t len, char **warnings, struct cerr *e);
/* Fills in what a definition gets once, at define, and keeps from then on:
 * a random 52:54:00 MAC for every interface without one.  The broker calls
 * it before storing domain.xml so that the MACs are stable. */
int domain_def_apply_defaults(struct domain_def *def, struct cerr *e);
/* Formats a definition as domain XML that domain_def_parse reads back to an
 * equal definition; returns a malloc'd NUL-terminated string. */
char *domain_def_format(const struct domain_def *def);
/* The same as a <domain> element of doc (not yet in its tree), for a
 * document that embeds it (a snapshot's): built, not parsed back from
 * domain_def_format's text.  libxml2 must be loaded (xml_lib.h). */
xmlNodePtr domain_def_build(const struct domain_def *def, xmlDocPtr doc);
void domain_def_free(struct domain_def *def);
/* Checks every disk as disk_check_open does, whoever owns it, and that no
 * two disks are one file; then the kernel and initrd as
 * domain_def_check_boot_files does, whoever owns them. */
int domain_def_check_disks(const struct domain_def *def, struct cerr *e);
/* Checks <os><kernel> and <initrd> as disks are checked: found without
 * following a symlink in any component, a regular file with one link, owned
 * by owner unless any_owner (CE_PERMISSION when only the owner is wrong). */
int domain_def_check_boot_files(const struct domain_def *def, bool any_owner, uid_t owner,
                                struct cerr *e);
/* Whether there is no NVRAM to import: no <nvram> path, or none there,
 * when the VM's NVRAM is made from the template as libvirt would make the
 * file it names. */
bool domain_def_nvram_import_absent(const struct domain_def *def);
/* Checks an <nvram> path to import by the same rules, when there is a file
 * there: at a define by a user who is not an admin; the first start opens
 * it by them again. */
int domain_def_check_nvram_import(const struct domain_def *def, bool any_owner, uid_t owner,
                                  struct cerr *e);
/* Opens path (what, such as "nvram", names it in messages) by those rules:
 * returns safe_open_path's fd with *st, -1 with e set. */
int domain_def_open_boot_file(const char *what, const char *path, bool any_owner, uid_t owner,
                              struct stat *st, struct cerr *e);
/* The cdrom whose medium change-media changes, by target or current
 * source, with virsh's rules: file NULL ejects (the tray must hold a
 * medium), insert needs an empty tray and a file, and file is an absolute
 * path QEMU cannot read as an option.  Returns its index; -1 with e set. */
int domain_def_find_medium(const struct domain_def *def, const char *disk, const char *file,
                           bool insert, struct cerr *e);
/* Checks <loader> and <nvram template=> as firmware_check_file does. */
int domain_def_check_firmware_files(const struct domain_def *def, struct cerr *e);
/* Refuses (CE_PERMISSION) what only root and admins may define: a VNC
 * server on a TCP address, a port forwarded from a host address other than
 * loopback.  The broker calls it for any other definer. */
int domain_def_check_admin_only(const struct domain_def *def, struct cerr *e);
/* Number of interfaces backed by a tap (type bridge or ethernet): the
 * length of the tap fd array qemu_build_argv takes. */
size_t domain_def_tap_count(const struct domain_def *def);
/* A q35 machine type (q35, pc-q35-*), as libvirt tells the families. */
bool domain_def_is_q35(const struct domain_def *def);
/* The controllers libvirt would add, and where each device goes. */
void domain_def_pci_plan(const struct domain_def *def, struct domain_pci_plan *p);
/* Fills uuid (37 bytes) with a random version 4 UUID. */
int domain_uuid_generate(char uuid[37], struct cerr *e);

#endif
