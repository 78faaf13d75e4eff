/* The verb table: everything corralctl knows about each verb's command line
 * and help, and which handler runs it. */
#include "proto/corralctl/ctl.h"

/* snapshot-list's pairs that virsh refuses together (ctl_opt.excl: options
 * sharing a bit cannot be combined). */
enum {
    LIST_TREE_NAME = 1 << 0,
    LIST_PARENT_ROOTS = 1 << 1,
    LIST_PARENT_TREE = 1 << 2,
    LIST_ROOTS_TREE = 1 << 3,
    LIST_ROOTS_FROM = 1 << 4,
    LIST_ROOTS_CURRENT = 1 << 5,
    LIST_FROM_CURRENT = 1 << 6,
};
/* snapshot-delete's alternative scopes. */
enum { DELETE_SCOPE = 1 << 0 };
/* snapshot-create-as: nothing is created with --print-xml. */
enum { CREATE_PRINT = 1 << 0 };
/* snapshot-revert: one state to end in. */
enum { REVERT_STATE = 1 << 0 };
/* snapshot-edit: a new name renames or clones, not both. */
enum { EDIT_NAME = 1 << 0 };
/* undefine: remove or keep the NVRAM, not both. */
enum { UNDEFINE_NVRAM = 1 << 0 };
/* change-media's actions. */
enum { MEDIA_ACTION = 1 << 0 };

const struct ctl_verb ctl_verbs[] = {
    {
        .name = "define",
        .method = "vm.define",
        .args = "FILE",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .summary = "define a VM from libvirt domain XML",
        .description =
            "Define a VM from the libvirt domain XML in FILE ('-': standard input).\n"
            "Elements corral ignores are reported as warnings on standard error.\n"
            "A VM of the same name and UUID is updated in place: a shut-off one takes the\n"
            "new definition, a running one keeps its live configuration until it next\n"
            "starts (dominfo: Persistent changes: pending).",
        .run = ctl_run_define,
    },
    {
        .name = "dumpxml",
        .method = "vm.dumpxml",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "print a VM's domain XML",
        .description =
            "Print the domain XML of the VM NAME, in libvirt's order and units: what a\n"
            "running VM runs with, or with --inactive what it starts with next.  Defining\n"
            "the output again changes nothing.",
        .opts = {{.name = "inactive", .help = "the persistent definition, not the live one"},
                 {.name = "xpath",
                  .type = CTL_OPT_STR,
                  .metavar = "EXPR",
                  .help = "print what the XPath expression EXPR selects"},
                 {.name = "wrap",
                  .help = "with --xpath: wrap the nodes found in one <nodes> element",
                  .needs = "xpath"}},
        .run = ctl_run_dumpxml,
    },
    {
        .name = "edit",
        .method = "vm.define",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .summary = "edit a VM's domain XML",
        .description =
            "Open the persistent domain XML of the VM NAME in $VISUAL, $EDITOR or vi, and\n"
            "define what was saved.  A refused edit is shown and, on a terminal, can be\n"
            "edited again; without one corralctl exits with an error and nothing changes.",
        .run = ctl_run_edit,
    },
    {
        .name = "undefine",
        .method = "vm.undefine",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .done = "has been undefined",
        .summary = "remove a VM's definition",
        .description =
            "Remove the definition and the state of the VM NAME, which must be shut off.\n"
            "A UEFI VM's NVRAM (its firmware variables) is refused unless --nvram removes\n"
            "it or --keep-nvram keeps it (in STATE/nvram/NAME-UUID_VARS.fd), as virsh does.",
        .opts = {{.name = "nvram", .help = "remove the VM's NVRAM too", .excl = UNDEFINE_NVRAM},
                 {.name = "keep-nvram",
                  .help = "keep the VM's NVRAM (moved out of its state)",
                  .excl = UNDEFINE_NVRAM}},
        .run = ctl_run_undefine,
    },
    {
        .name = "list",
        .method = "vm.list",
        .args = "",
        .flags = CTL_VERB_BROKER,
        .summary = "list VMs",
        .description = "List the running and paused VMs: name, state and UUID.",
        .opts = {{.name = "all", .help = "list every defined VM, shut off ones too"},
                 {.name = "name", .help = "print only the names, one a line"}},
        .run = ctl_run_list,
    },
    {
        .name = "start",
        .method = "vm.start",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .done = "started",
        .summary = "start a VM",
        .description = "Start the VM NAME and wait until its guest runs, or with --paused until\n"
                       "QEMU is ready with the guest's virtual CPUs stopped (domstate: paused\n"
                       "(user); resume lets them run).",
        .opts = {{.name = "paused", .help = "leave the guest paused"}},
        .run = ctl_run_start,
    },
    {
        .name = "domstate",
        .method = "vm.state",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "print a VM's state",
        .description = "Print the state of the VM NAME: running, paused, shut off or crashed.",
        .opts = {{.name = "reason", .help = "add the reason for the state"}},
        .run = ctl_run_domstate,
    },
    {
        .name = "dominfo",
        .method = "vm.info",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "print a VM's configuration and state",
        .description = "Print the configuration and the state of the VM NAME, with its\n"
                       "processes and sockets while it is active, and its disks.",
        .run = ctl_run_dominfo,
    },
    {
        .name = "domiflist",
        .method = "vm.iflist",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .summary = "list a VM's network interfaces",
        .description = "List the network interfaces of the VM NAME: the host's tap behind each\n"
                       "bridge or ethernet interface while the VM runs ('-' otherwise, and for\n"
                       "user networking), its type, source bridge, NIC model and MAC address.",
        .run = ctl_run_domiflist,
    },
    {
        .name = "domifaddr",
        .method = "vm.ifaddr",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .summary = "print the addresses of a running VM's interfaces",
        .description = "Print the IPv4 addresses of the running VM NAME's interfaces.  With\n"
                       "--source lease (the default): what QEMU's user network hands the guest\n"
                       "(10.0.2.15/24, QEMU's first DHCP address; corral does not see the guest\n"
                       "take it).  With --source arp: the host's ARP table, matched by MAC, for\n"
                       "bridge and ethernet interfaces (only neighbours the host has talked to).\n"
                       "corral has no guest agent: --source agent is refused.",
        .opts = {{.name = "source",
                  .type = CTL_OPT_STR,
                  .metavar = "SOURCE",
                  .help = "lease (default), arp or agent"}},
        .run = ctl_run_domifaddr,
    },
    {
        .name = "domdisplay",
        .method = "vm.info",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "print how to reach a VM's display",
        .description = "Print the URI of the running VM NAME's VNC display, for remote-viewer:\n"
                       "vnc+unix:///RUN/vm/NAME/vnc.sock (a Unix socket the owner and root\n"
                       "reach), or vnc://ADDRESS:DISPLAY when an admin gave <graphics listen=>.",
        .run = ctl_run_domdisplay,
    },
    {
        .name = "domblklist",
        .method = "vm.info",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "list a VM's disks",
        .description = "List the disks of the VM NAME: each target and its source ('-' for a\n"
                       "cdrom with no medium), as the running VM uses them.",
        .opts = {{.name = "details", .help = "add each disk's type and device"}},
        .run = ctl_run_domblklist,
    },
    {
        .name = "change-media",
        .method = "vm.change_media",
        .args = "NAME DISK [SOURCE]",
        .min_args = 2,
        .max_args = 3,
        .flags = CTL_VERB_BROKER,
        .summary = "eject, insert or change a running VM's cdrom medium",
        .description =
            "Change the medium of the cdrom DISK (its target, such as hdc, or its current\n"
            "source) of the running VM NAME to the image SOURCE, or eject it.  SOURCE must\n"
            "be the caller's own regular file with one link (an admin's: any), reached\n"
            "without symbolic links, and readable by others, since the VM's uid reads it.\n"
            "The running VM changes; its definition does not.",
        .opts = {{.name = "eject", .help = "eject the medium", .excl = MEDIA_ACTION},
                 {.name = "insert", .help = "insert SOURCE in an empty tray", .excl = MEDIA_ACTION},
                 {.name = "update",
                  .help = "replace the medium with SOURCE (without SOURCE: eject); the default",
                  .excl = MEDIA_ACTION},
                 {.name = "force", .help = "open a tray the guest holds locked"}},
        .run = ctl_run_change_media,
    },
    {
        .name = "suspend",
        .method = "vm.suspend",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .done = "suspended",
        .summary = "pause a VM's vCPUs",
        .description = "Pause the virtual CPUs of the running VM NAME.",
        .run = ctl_run_simple,
    },
    {
        .name = "resume",
        .method = "vm.resume",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .done = "resumed",
        .summary = "continue a paused VM",
        .description = "Let the virtual CPUs of the paused VM NAME run again.",
        .run = ctl_run_simple,
    },
    {
        .name = "shutdown",
        .method = "vm.shutdown",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "ask a VM's guest to power off",
        .description =
            "Press the ACPI power button of the VM NAME and wait until the guest has\n"
            "powered off and the VM is shut off for every caller (a start or undefine\n"
            "right after it is never refused).  A guest that ignores the request keeps\n"
            "running, and shutdown fails once the timeout has passed.  Unlike virsh,\n"
            "which returns once the button is pressed, corralctl waits by default:\n"
            "--timeout 0 gives virsh's behaviour (\"is being shutdown\").",
        .opts = {{.name = "timeout",
                  .type = CTL_OPT_INT,
                  .metavar = "N",
                  .min = 0,
                  .max = 3600,
                  .def = 60,
                  .help = "wait at most N seconds, 0 to 3600 (default 60; 0: do not wait)"},
                 {.name = "mode",
                  .type = CTL_OPT_STR,
                  .metavar = "MODE",
                  .help = "acpi, the only one corral has (virsh's agent, initctl, signal and "
                          "paravirt are refused)"}},
        .run = ctl_run_shutdown,
    },
    {
        .name = "destroy",
        .method = "vm.destroy",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .done = "destroyed",
        .summary = "stop a VM at once",
        .description =
            "Stop the QEMU process of the VM NAME at once, like pulling the plug, and\n"
            "return once the VM is shut off for every caller: its supervisor has ended\n"
            "and its disks are given back, so a start or undefine right after it is\n"
            "never refused.",
        .run = ctl_run_simple,
    },
    {
        .name = "reboot",
        .method = "vm.reboot",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .done = "is being rebooted",
        .summary = "ask a VM's guest to reboot",
        .description =
            "Press the ACPI power button of the running VM NAME, with the guest's\n"
            "power-off turned into a reset (libvirt's reboot of a QEMU guest): the guest\n"
            "shuts down and boots again, and QEMU runs on (domstate: running (booted)).\n"
            "Returns once the button is pressed, as virsh does.  A guest that ignores\n"
            "the button keeps running; a later shutdown powers it off.",
        .opts = {{.name = "mode",
                  .type = CTL_OPT_STR,
                  .metavar = "MODE",
                  .help = "acpi, the only one corral has (virsh's agent, initctl, signal and "
                          "paravirt are refused)"}},
        .run = ctl_run_reboot,
    },
    {
        .name = "reset",
        .method = "vm.reset",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .done = "was reset",
        .summary = "reset a VM at once",
        .description = "Reset the running VM NAME at once, like its reset button: the guest\n"
                       "boots again without shutting down.",
        .run = ctl_run_simple,
    },
    {
        .name = "console",
        .method = "vm.console",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "attach the terminal to a VM's console",
        .description =
            "Attach the terminal to the console of the VM NAME, in raw mode: what is\n"
            "typed goes to the guest, and the guest's output appears, starting with the\n"
            "last 64 KiB it wrote.  Type ^] (Ctrl + ]) to detach.  One client at a time\n"
            "may attach; --force detaches the one that is.",
        .opts = {{.name = "force", .help = "take the console over from the client attached"},
                 {.name = "safe",
                  .help = "attach only where access is exclusive (always so in corral)"},
                 {.name = "devname",
                  .type = CTL_OPT_STR,
                  .metavar = "DEV",
                  .help = "serial0, console0 or console1 (default: the first console)"}},
        .run = ctl_run_console,
    },
    {
        .name = "qemu-monitor-command",
        .method = "vm.qmp",
        .args = "NAME JSON",
        .min_args = 2,
        .max_args = 2,
        .summary = "send a QMP command to a VM's QEMU",
        .description =
            "Send the QMP command JSON, such as '{\"execute\":\"query-status\"}', to the\n"
            "QEMU of the VM NAME and print QEMU's reply.  The exit status is 1 when\n"
            "QEMU answers with an error.  Only root may use it.",
        .opts = {{.name = "pretty", .help = "print the reply indented, over several lines"}},
        .run = ctl_run_qmp,
    },
    {
        .name = "events",
        .method = "events.subscribe",
        .args = "[NAME]",
        .min_args = 0,
        .max_args = 1,
        .summary = "print VM state changes and snapshot events as they happen",
        .description = "Print each VM state change and snapshot event (of the VM NAME only, if\n"
                       "given) as it happens, until interrupted or until the server closes the\n"
                       "connection.  Following the VM NAME, print its vm.undefined event and\n"
                       "exit 0 when it is undefined.",
        .run = ctl_run_events,
    },
    {
        .name = "snapshot-create-as",
        .method = "snapshot.create",
        .args = "NAME [SNAP [DESCRIPTION]]",
        .min_args = 1,
        .max_args = 3,
        .summary = "take an internal snapshot of a VM",
        .description = "Take the internal snapshot SNAP of the VM NAME: its disks, and its memory\n"
                       "when it runs or is paused (a shut-off VM's snapshot holds its disks only,\n"
                       "state shutoff).  Without SNAP the snapshot is named after its creation\n"
                       "time in seconds since the epoch, as libvirt names it.  SNAP becomes the\n"
                       "current snapshot, and the previous current one its parent.",
        .opts = {{.name = "description",
                  .type = CTL_OPT_STR,
                  .metavar = "TEXT",
                  .help = "describe the snapshot with TEXT (or give DESCRIPTION)"},
                 {.name = "print-xml",
                  .help = "print the domainsnapshot XML that would be used; create nothing",
                  .excl = CREATE_PRINT},
                 {.name = "no-metadata",
                  .help = "take the snapshot but keep no metadata: it is not current and\n"
                          "cannot be reverted to until snapshot-create --redefine",
                  .excl = CREATE_PRINT},
                 {.name = "halt",
                  .help = "destroy the VM once the snapshot is taken",
                  .excl = CREATE_PRINT}},
        .run = ctl_run_snapshot_create,
    },
    {
        .name = "snapshot-create",
        .method = "snapshot.redefine",
        .args = "NAME FILE",
        .min_args = 2,
        .max_args = 2,
        .summary = "redefine a snapshot's metadata from XML",
        .description =
            "With --redefine, restore the metadata of a snapshot of the VM NAME from the\n"
            "libvirt domainsnapshot XML in FILE ('-': standard input), as printed by\n"
            "snapshot-dumpxml; no disk is touched.  Taking a snapshot is\n"
            "snapshot-create-as.",
        .opts = {{.name = "redefine", .help = "redefine the metadata (required)"},
                 {.name = "current",
                  .help = "make the snapshot the current one",
                  .needs = "redefine"}},
        .run = ctl_run_snapshot_redefine,
    },
    {
        .name = "snapshot-list",
        .method = "snapshot.list",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "list a VM's snapshots",
        .description = "List the snapshots of the VM NAME in virsh's table, sorted by name: name,\n"
                       "creation time and the VM's state when it was taken.  As in virsh, --from\n"
                       "and --current list the children of a snapshot (all its descendants with\n"
                       "--descendants), without the snapshot itself unless --tree draws it as the\n"
                       "root.  The filters combine; within each pair (--leaves/--no-leaves,\n"
                       "--metadata/--no-metadata, --internal/--external) both mean no filter.\n"
                       "corral's snapshots all have metadata and are all internal.",
        .opts = {{.name = "tree",
                  .help = "draw the snapshots as a tree",
                  .excl = LIST_TREE_NAME | LIST_PARENT_TREE | LIST_ROOTS_TREE},
                 {.name = "roots",
                  .help = "only the snapshots without a parent",
                  .excl =
                      LIST_PARENT_ROOTS | LIST_ROOTS_TREE | LIST_ROOTS_FROM | LIST_ROOTS_CURRENT},
                 {.name = "from",
                  .type = CTL_OPT_STR,
                  .metavar = "SNAP",
                  .help = "only the children of SNAP",
                  .excl = LIST_ROOTS_FROM | LIST_FROM_CURRENT},
                 {.name = "current",
                  .help = "only the children of the current snapshot",
                  .excl = LIST_ROOTS_CURRENT | LIST_FROM_CURRENT},
                 {.name = "descendants", .help = "with --from or --current: all the descendants"},
                 {.name = "leaves", .help = "only the snapshots without children"},
                 {.name = "no-leaves", .help = "only the snapshots with children"},
                 {.name = "metadata", .help = "only the snapshots with metadata (all of them)"},
                 {.name = "no-metadata", .help = "only the snapshots without metadata (none)"},
                 {.name = "inactive", .help = "only the snapshots of a shut-off VM"},
                 {.name = "active", .help = "only the snapshots of a running or paused VM"},
                 {.name = "disk-only", .help = "only disk-only snapshots (corral takes none)"},
                 {.name = "internal", .help = "only internal snapshots (all of them)"},
                 {.name = "external", .help = "only external snapshots (none)"},
                 {.name = "topological", .help = "sort parents before their children"},
                 {.name = "parent",
                  .help = "add a column with each parent (with --name: a tab and the parent)",
                  .excl = LIST_PARENT_ROOTS | LIST_PARENT_TREE},
                 {.name = "name",
                  .help = "print only the names, one a line",
                  .excl = LIST_TREE_NAME}},
        .run = ctl_run_snapshot_list,
    },
    {
        .name = "snapshot-info",
        .method = "snapshot.info",
        .args = "NAME [SNAP]",
        .min_args = 1,
        .max_args = 2,
        .summary = "print what a snapshot holds",
        .description =
            "Print the snapshot SNAP (or with --current the current one) of the VM NAME\n"
            "as virsh does: whether it is current, the VM's state when it was taken, its\n"
            "location, parent, how many children and descendants it has, and whether it\n"
            "has metadata; then whether it holds the VM's memory, the size of the saved\n"
            "VM state (a running VM only) and the disks it covers.",
        .opts = {{.name = "current", .help = "the current snapshot"}},
        .run = ctl_run_snapshot_info,
    },
    {
        .name = "snapshot-dumpxml",
        .method = "snapshot.dumpxml",
        .args = "NAME SNAP",
        .min_args = 2,
        .max_args = 2,
        .summary = "print a snapshot's XML",
        .description = "Print the libvirt domainsnapshot XML of the snapshot SNAP of the VM NAME.",
        .run = ctl_run_snapshot_dumpxml,
    },
    {
        .name = "snapshot-edit",
        .method = "snapshot.redefine",
        .args = "NAME [SNAP]",
        .min_args = 1,
        .max_args = 2,
        .summary = "edit a snapshot's XML",
        .description = "Open the domainsnapshot XML of the snapshot SNAP (or with --current the\n"
                       "current one) of the VM NAME in $VISUAL, $EDITOR or vi, and redefine what\n"
                       "was saved, as snapshot-create --redefine; with both SNAP and --current it\n"
                       "also becomes current.  A refused edit is shown and, on a terminal, can be\n"
                       "edited again.  The name cannot change: the disks know an internal\n"
                       "snapshot by its name only, so virsh's --rename and --clone would leave\n"
                       "metadata that no disk holds, and are refused.",
        .opts = {{.name = "current", .help = "the current snapshot; with SNAP: make it current"},
                 {.name = "rename", .help = "refused: see above", .excl = EDIT_NAME},
                 {.name = "clone", .help = "refused: see above", .excl = EDIT_NAME}},
        .run = ctl_run_snapshot_edit,
    },
    {
        .name = "snapshot-current",
        .method = "snapshot.current",
        .args = "NAME [SNAP]",
        .min_args = 1,
        .max_args = 2,
        .summary = "print or set a VM's current snapshot",
        .description =
            "Print the XML of the current snapshot of the VM NAME (as snapshot-dumpxml),\n"
            "or with --name its name only; or make SNAP the current one, reverting\n"
            "nothing.  A VM without a current snapshot is an error.",
        .opts = {{.name = "name", .help = "print the name, not the XML"}},
        .run = ctl_run_snapshot_current,
    },
    {
        .name = "snapshot-parent",
        .method = "snapshot.parent",
        .args = "NAME [SNAP]",
        .min_args = 1,
        .max_args = 2,
        .summary = "print a snapshot's parent",
        .description =
            "Print the name of the parent of the snapshot SNAP (or with --current of the\n"
            "current one) of the VM NAME.  A snapshot without a parent is an error.",
        .opts = {{.name = "current", .help = "the current snapshot"}},
        .run = ctl_run_snapshot_parent,
    },
    {
        .name = "snapshot-revert",
        .method = "snapshot.revert",
        .args = "NAME [SNAP]",
        .min_args = 1,
        .max_args = 2,
        .summary = "revert a VM to a snapshot",
        .description = "Load the snapshot SNAP (or with --current the current one) into the VM\n"
                       "NAME: its disks and its memory.  The VM then runs, or stays paused, as it\n"
                       "was when SNAP was taken, unless --running or --paused says otherwise.  A\n"
                       "disk that lacks SNAP makes the revert fail before anything changes.  On a\n"
                       "shut-off VM, a snapshot of its running guest starts the VM from the saved\n"
                       "state, as virsh does; a snapshot of the shut-off VM reverts the disks only.",
        .opts = {{.name = "current", .help = "the current snapshot"},
                 {.name = "running", .help = "run the VM afterwards", .excl = REVERT_STATE},
                 {.name = "paused", .help = "leave the VM paused afterwards", .excl = REVERT_STATE},
                 {.name = "force",
                  .help = "accepted for virsh scripts: no corral revert needs it"}},
        .run = ctl_run_snapshot_revert,
    },
    {
        .name = "snapshot-delete",
        .method = "snapshot.delete",
        .args = "NAME [SNAP]",
        .min_args = 1,
        .max_args = 2,
        .summary = "delete a snapshot",
        .description =
            "Delete the snapshot SNAP (or with --current the current one) of the VM NAME\n"
            "from its disks and its metadata.  Its children get its parent, as does the\n"
            "current marker.  Differences between the metadata and the disks do not\n"
            "stop the deletion; each is reported on standard error as a warning.",
        .opts = {{.name = "current", .help = "the current snapshot"},
                 {.name = "children", .help = "delete its descendants too", .excl = DELETE_SCOPE},
                 {.name = "children-only",
                  .help = "delete only its descendants",
                  .excl = DELETE_SCOPE},
                 {.name = "metadata", .help = "delete the metadata only, touching no disk"},
                 {.name = "force",
                  .help = "when the QEMU job fails, remove the metadata anyway and\n"
                          "report every disk that may still hold the snapshot's data"}},
        .run = ctl_run_snapshot_delete,
    },
    {
        .name = "snapshot-check",
        .method = "snapshot.check",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "compare snapshot metadata with the disks",
        .description = "Compare the snapshot metadata of the VM NAME with the snapshot table of\n"
                       "each of its disks, both ways, changing nothing.  Print one line per\n"
                       "difference, \"SNAP: KIND on DISKS: DETAIL\".  The exit status is 0 when\n"
                       "they agree, 1 when differences were found (or the check failed).",
        .run = ctl_run_snapshot_check,
    },
    {
        .name = "inconsistencies",
        .method = "vm.inconsistencies",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .summary = "list the snapshot inconsistencies reported for a VM",
        .description = "List every snapshot inconsistency the broker has received for the VM\n"
                       "NAME, oldest first, one a line: \"TIME  SNAP  KIND  DISKS  DETAIL\".",
        .run = ctl_run_inconsistencies,
    },
    {
        .name = "sandbox-report",
        .method = "vm.sandbox",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "print the confinement of a VM's supervisor and QEMU",
        .description = "Print what confines the running VM NAME's supervisor, as the kernel\n"
                       "reports it to the supervisor: its uid and gid, supplementary groups,\n"
                       "capability sets, NoNewPrivs, Seccomp mode and rlimits.  The supervisor\n"
                       "shares its uid with QEMU, so a compromised QEMU could make it lie: a\n"
                       "second part, read by the broker as root from /proc, shows the ids,\n"
                       "groups, capabilities, NoNewPrivs and Seccomp of the supervisor and of\n"
                       "QEMU, independent of what either says.",
        .run = ctl_run_sandbox_report,
    },
    {
        .name = "hello",
        .method = "hello",
        .args = "",
        .summary = "print what the server says about itself",
        .description = "Print the server's name, protocol version, capabilities, and the uid\n"
                       "it sees the caller as.",
        .run = ctl_run_hello,
    },
    {
        .name = "help",
        .args = "[VERB]",
        .min_args = 0,
        .max_args = 1,
        .flags = CTL_VERB_LOCAL,
        .summary = "describe every verb, or VERB",
        .description = "Print the list of verbs, or the help of VERB.",
        .run = ctl_run_help,
    },
};

const size_t ctl_nverbs = sizeof(ctl_verbs) / sizeof(ctl_verbs[0]);
