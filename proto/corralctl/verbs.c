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
/* change-media's actions; --current excludes --live and --config, which
 * combine. */
enum { MEDIA_ACTION = 1 << 0, MEDIA_LIVE = 1 << 1, MEDIA_CONFIG = 1 << 2 };

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
            "Define a VM from the libvirt domain XML in FILE (- reads standard input); with\n"
            "the name and UUID of a defined VM, update its persistent definition (a running\n"
            "VM keeps its live one until it next starts, and dominfo shows \"Persistent\n"
            "changes: pending\"); a name defined under another UUID, or a UUID under another\n"
            "name, is refused. Print \"Domain 'NAME' defined from FILE\". Besides disks,\n"
            "corral honours direct kernel boot (<os><kernel>, <initrd>, <cmdline>), boot\n"
            "order, the CPU model and topology, serial and virtio consoles, user-mode,\n"
            "bridged and ethernet interfaces with their model and MAC (a missing MAC is\n"
            "generated once, at define, and kept) and VNC graphics on a Unix socket\n"
            "(README.md lists each element). A kernel or initrd is checked like a disk\n"
            "image (below) and must be readable by others, since QEMU opens it as the VM's\n"
            "uid. A VNC or port-forward listener on an address other than loopback is for\n"
            "root and the admin group only. Elements corral ignores (features, clock,\n"
            "video...) are reported on standard error as \"warning: ...\"; elements it cannot\n"
            "honour safely are refused. Each disk image path is resolved without following\n"
            "symbolic links (in any directory on the way) or .., and must be a regular file\n"
            "with exactly one link; a user who is not root or in the admin group may only\n"
            "use images she owns, checked at define and again at every start. Two disks\n"
            "that are one file, or an image another VM holds, are refused (compared by\n"
            "device and inode, not by name); so is a qcow2 image whose header asks for an\n"
            "external data file, and a backing file named in a qcow2 header is never\n"
            "opened. Only root and the admin group may name an <emulator>, and only one on\n"
            "corrald's --emulator list; anyone else may leave it out or name the default,\n"
            "/usr/bin/qemu-system-x86_64.",
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
            "Print the domain XML of the VM in libvirt's element order and units: what a\n"
            "running VM runs with, or with --inactive what it starts with next (generated\n"
            "UUID, MACs and default serial port included). Defining the output again\n"
            "changes nothing. --xpath prints what a libxml2 XPath expression selects, one\n"
            "node per line (under one <nodes> element with --wrap); an expression that does\n"
            "not compile is refused.",
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
            "Open a copy of dumpxml --inactive in $VISUAL, $EDITOR or vi, then define what\n"
            "was saved; an unchanged file sends nothing (Domain 'NAME' XML configuration\n"
            "not changed.). A refused edit shows the error and, on a terminal, asks\n"
            "\"Failed. Try again? [y,n,i,f,?]:\": y re-opens the edited text, n discards it\n"
            "(i and f are not available: the broker always validates). Without a terminal\n"
            "on standard input, exits 1 and changes nothing.",
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
            "Remove the definition and the state of a shut off VM. A UEFI VM whose NVRAM\n"
            "exists is refused (cannot undefine VM NAME with NVRAM) unless --nvram removes\n"
            "it or --keep-nvram keeps it as STATE/nvram/NAME-UUID_VARS.fd (root's; never\n"
            "reused by a later VM), and a VM with snapshots is refused (cannot undefine VM\n"
            "NAME with N snapshots) unless --snapshots-metadata removes their metadata with\n"
            "it (the snapshots stay inside the disk images), as virsh does. Refused while a\n"
            "disk image of its last run could not be given back (see corrald(8)). A VM\n"
            "whose disks a maintenance supervisor still holds (snapshot work a moment ago)\n"
            "is undefined once that supervisor has gone. Whoever follows its events\n"
            "receives a last vm.undefined event. --remove-all-storage then removes the\n"
            "VM's disk images (not cdrom media) that the caller owns, as the caller could\n"
            "remove them: \"Volume 'TARGET'(PATH) removed.\" for each; a symbolic link, a\n"
            "device, a file with more than one link, someone else's file, or one in a\n"
            "directory reached through a symbolic link or that the caller may not change\n"
            "is kept, with \"error: Failed to remove storage volume 'TARGET'(PATH): WHY\",\n"
            "and corralctl exits 1.",
        .opts = {{.name = "nvram", .help = "remove the VM's NVRAM too", .excl = UNDEFINE_NVRAM},
                 {.name = "keep-nvram",
                  .help = "keep the VM's NVRAM (moved out of its state)",
                  .excl = UNDEFINE_NVRAM},
                 {.name = "snapshots-metadata", .help = "Remove the snapshots' metadata too."},
                 {.name = "remove-all-storage", .help = "Remove the disk images the caller owns."}},
        .run = ctl_run_undefine,
    },
    {
        .name = "list",
        .method = "vm.list",
        .args = "",
        .flags = CTL_VERB_BROKER,
        .summary = "list VMs",
        .description =
            "Print the running and paused VMs (with --all every VM; virsh lists only the\n"
            "active ones too) as virsh does: a table \" Id   Name   State\", a rule, one row a\n"
            "VM, and an empty line. Id is QEMU's pid (- when the VM does not run); State is\n"
            "running, paused, shut off, crashed or degraded. A state option lists the VMs\n"
            "in that state, shut off ones included without --all; several add up. --name\n"
            "and --uuid print one VM a line instead (both: the UUID, padded to 36\n"
            "characters, a space and the name), then an empty line. --json prints every\n"
            "field, the autostart mark and QEMU's pid included.",
        .opts = {{.name = "all", .help = "List every defined VM, shut off ones too."},
                 {.name = "inactive", .help = "Only the VMs that do not run."},
                 {.name = "state-running", .help = "Only the running VMs."},
                 {.name = "state-paused", .help = "Only the paused VMs."},
                 {.name = "state-shutoff", .help = "Only the shut off VMs."},
                 {.name = "autostart", .help = "Only the VMs marked to start at boot."},
                 {.name = "name", .help = "Print only the names, one a line."},
                 {.name = "uuid", .help = "Print only the UUIDs, one a line."}},
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
        .description =
            "Start the VM and wait until its guest runs, or with --paused until QEMU is\n"
            "ready with the guest's virtual CPUs stopped (domstate: paused (user); resume\n"
            "lets them run).",
        .opts = {{.name = "paused", .help = "Leave the guest paused."}},
        .run = ctl_run_start,
    },
    {
        .name = "autostart",
        .method = "vm.autostart",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .summary = "start a VM when the host boots",
        .description =
            "Mark the VM to be started when the host boots (\"Domain 'NAME' marked as\n"
            "autostarted\"), or with --disable no more (\"unmarked as autostarted\").\n"
            "corrald starts the marked VMs at its first start after a boot, which it\n"
            "knows as libvirt does (its run directory, a tmpfs, has no autostarted file\n"
            "yet), unless a VM runs already; a restart of corrald, which re-attaches to\n"
            "the running VMs, starts none. Each starts as its owner would start it: a\n"
            "start the policy refuses now is logged. dominfo shows Autostart: enable or\n"
            "disable, and list --autostart lists the marked VMs.",
        .opts = {{.name = "disable", .help = "Do not start the VM at boot any more."}},
        .run = ctl_run_autostart,
    },
    {
        .name = "domstate",
        .method = "vm.state",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "print a VM's state",
        .description =
            "Print the VM's state: running, paused, shut off, crashed or degraded (its\n"
            "supervisor kept dying and QEMU runs on without one: destroy stops it, start\n"
            "gives it a new supervisor).",
        .opts = {{.name = "reason",
                  .help = "Add the reason in parentheses, as in \"running (booted)\"."}},
        .run = ctl_run_domstate,
    },
    {
        .name = "domstats",
        .method = "vm.domstats",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .flags = CTL_VERB_BROKER,
        .summary = "print a VM's statistics",
        .description =
            "Print the VM's statistics as virsh domstats does: \"Domain: 'NAME'\", one\n"
            "KEY=VALUE a line indented by two spaces, and an empty line; only what QEMU\n"
            "gives without a guest agent: state.state and state.reason (libvirt's\n"
            "numbers: running 1, paused 3, shut off 5, crashed 6), cpu.time, cpu.user and\n"
            "cpu.system (QEMU's CPU time in ns, while it runs), balloon.current and\n"
            "balloon.maximum (the configured memory in KiB), vcpu.current and\n"
            "vcpu.maximum, block.count, and for each disk N block.N.name and block.N.path\n"
            "and, while the VM runs, block.N.rd.reqs, .rd.bytes, .rd.times, .wr.reqs,\n"
            ".wr.bytes, .wr.times, .fl.reqs and .fl.times (QEMU's query-blockstats). The\n"
            "options select groups; without one, all are printed.",
        .opts = {{.name = "state", .help = "The state and its reason."},
                 {.name = "cpu-total", .help = "QEMU's CPU time."},
                 {.name = "balloon", .help = "The memory."},
                 {.name = "vcpu", .help = "The vCPUs."},
                 {.name = "block", .help = "The disks and their counters."}},
        .run = ctl_run_domstats,
    },
    {
        .name = "dominfo",
        .method = "vm.info",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "print a VM's configuration and state",
        .description =
            "Print the VM's configuration and state, one \"Key: value\" line each: name,\n"
            "UUID, state, reason, virtualization type, memory, vCPUs, CPU model (the\n"
            "<model> of a custom CPU, else the mode: default, host-passthrough, host-model\n"
            "or maximum), machine type, emulator and, while the VM runs, the PIDs of its\n"
            "supervisor and of QEMU and the paths of its control and QMP sockets; then the\n"
            "restarts of its current run: \"Supervisor restarts:\" (how many times a new\n"
            "supervisor took over the running QEMU after its supervisor died), \"Re-\n"
            "attached:\" (how many broker restarts re-attached to it) and, after either,\n"
            "\"Last restart:\" with its time and why; then its disks. Fields the server does\n"
            "not report are left out.",
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
        .description =
            "Print the VM's network interfaces in virsh's columns: Interface (the host tap\n"
            "while the VM runs, - otherwise and for user networking), Type, Source, Model,\n"
            "MAC.",
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
        .description =
            "Print the running VM's addresses. lease (the default): 10.0.2.15/24 for user\n"
            "interfaces, QEMU's first DHCP address (not seen being taken). arp: the host's\n"
            "ARP table matched by MAC, for bridge and ethernet interfaces: only neighbours\n"
            "the host has talked to, shown with prefix 0 as virsh does. agent is refused:\n"
            "corral has no guest agent channel.",
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
        .description =
            "Print the URI of the running VM's VNC display: vnc+unix://PATH for the Unix\n"
            "socket in the VM's run directory (reachable by the owner and root, through the\n"
            "directory's group), or vnc://ADDRESS:DISPLAY when an admin gave <graphics\n"
            "listen=>. Fails when the VM has no display or is not running.",
        .run = ctl_run_domdisplay,
    },
    {
        .name = "domblklist",
        .method = "vm.info",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "list a VM's disks",
        .description =
            "The VM's disks as virsh lists them, \" Target Source\" or, with --details, \"\n"
            "Type Device Target Source\". An empty tray is -. A running VM shows the media\n"
            "it has now.",
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
        .summary = "eject, insert or change a VM's cdrom medium",
        .description =
            "Change a VM's cdrom medium. DISK is the cdrom's target or its current source.\n"
            "--eject takes the medium out and leaves the tray open; --insert needs an empty\n"
            "tray; --update (the default) replaces the medium, and ejects when no SOURCE is\n"
            "given; --force opens a tray the guest holds locked. SOURCE is checked as a disk\n"
            "image at define (the caller's own, one link, no symbolic links) and must be\n"
            "readable by others. As virsh: by default (--current) a running VM's medium\n"
            "changes and its definition keeps its own, and a shut-off VM's definition\n"
            "changes. --live changes the running VM, --config its persistent definition\n"
            "(as define over the VM would: a running VM keeps its live definition until it\n"
            "stops, and dominfo says a change is pending); both change both, the definition\n"
            "first. Prints \"Successfully ejected/inserted/updated media.\"",
        .opts = {{.name = "eject", .help = "eject the medium", .excl = MEDIA_ACTION},
                 {.name = "insert", .help = "insert SOURCE in an empty tray", .excl = MEDIA_ACTION},
                 {.name = "update",
                  .help = "replace the medium with SOURCE (without SOURCE: eject); the default",
                  .excl = MEDIA_ACTION},
                 {.name = "force", .help = "open a tray the guest holds locked"},
                 {.name = "live", .help = "change the running VM", .excl = MEDIA_LIVE},
                 {.name = "config",
                  .help = "change the persistent definition",
                  .excl = MEDIA_CONFIG},
                 {.name = "current",
                  .help = "the running VM if it runs, else the definition; the default",
                  .excl = MEDIA_LIVE | MEDIA_CONFIG}},
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
        .description = "Pause the running VM's virtual CPUs.",
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
        .description = "Let the paused VM's virtual CPUs run again.",
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
            "Press the VM's ACPI power button and wait until the guest has powered off and\n"
            "the VM is shut off for every caller (a start or undefine right after it is\n"
            "never refused), then print \"Domain 'NAME' is shut off\". A guest that ignores\n"
            "the request keeps running, and corralctl fails once the time is up. Unlike\n"
            "virsh, which returns once the button is pressed, corralctl waits by default;\n"
            "--timeout 0 is virsh's behaviour. A reboot the guest has not acted on yet is\n"
            "cancelled, as libvirt does.",
        .opts = {{.name = "timeout",
                  .type = CTL_OPT_INT,
                  .metavar = "N",
                  .min = 0,
                  .max = 3600,
                  .def = 60,
                  .help = "Wait at most N seconds, 0 to 3600 (default 60). With 0,\n"
                          "corralctl does not wait and prints \"Domain 'NAME' is\n"
                          "being shutdown\"."},
                 {.name = "mode",
                  .type = CTL_OPT_STR,
                  .metavar = "MODE",
                  .help = "acpi, the only mode corral has; virsh's agent, initctl,\n"
                          "signal and paravirt are refused (no guest agent)."}},
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
            "Stop the VM's QEMU at once, like pulling the plug, and return once the VM is\n"
            "shut off for every caller: its supervisor has ended and its disks are given\n"
            "back, so a start or undefine right after it is never refused.",
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
            "Press the running VM's ACPI power button with the guest's power-off turned\n"
            "into a reset, as libvirt reboots a QEMU guest: QEMU pauses instead of exiting\n"
            "when the guest powers off, then resets and continues it, so the same QEMU runs\n"
            "on (domstate: running (booted)). Print \"Domain 'NAME' is being rebooted\" once\n"
            "the button is pressed, as virsh does. A guest that ignores the button keeps\n"
            "running; a later shutdown cancels the reboot.",
        .opts = {{.name = "mode",
                  .type = CTL_OPT_STR,
                  .metavar = "MODE",
                  .help = "acpi, the only mode corral has; virsh's agent, initctl,\n"
                          "signal and paravirt are refused (no guest agent)."}},
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
        .description =
            "Reset the running VM at once, like its reset button: the guest boots again\n"
            "without shutting down. Print \"Domain 'NAME' was reset\".",
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
            "Attach the terminal to the console of the VM NAME in raw mode. Typed bytes go\n"
            "to the guest; its output appears, starting with the last 64 KiB it wrote. Type\n"
            "^] (Ctrl+]) to detach; the terminal is restored on every exit, also when\n"
            "corralctl is killed by SIGTERM, SIGHUP, SIGINT or SIGQUIT. Only one client may\n"
            "be attached: another is refused with \"console serial0 is in use by another\n"
            "client\" unless --force, which detaches it (it sees \"Disconnected from domain\n"
            "'NAME'\"). --safe is accepted; access is always exclusive. --devname picks\n"
            "serial0, console0 (the first console) or console1 (the virtio console next to\n"
            "a serial port). Works through the broker (the owner and admins) and with --vm-\n"
            "socket (the owner and root). Exit status 0 when detached or when the console\n"
            "closes (the VM stopped, another client forced, the broker restarted).",
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
            "Send the QMP command JSON, such as '{execute:query-status}', to the VM's QEMU\n"
            "and print QEMU's reply as JSON on one line. The exit status is 1 when QEMU\n"
            "answers with an error. Only root may use it: raw QMP can do anything QEMU can.",
        .opts = {{.name = "pretty", .help = "Print the reply indented, over several lines."}},
        .run = ctl_run_qmp,
    },
    {
        .name = "events",
        .method = "events.subscribe",
        .args = "[NAME]",
        .min_args = 0,
        .max_args = 1,
        .summary = "wait for VM state changes and snapshot events and print them",
        .description =
            "Wait for the next VM state change or snapshot event (of the VM NAME only, if\n"
            "given), print it and exit, as virsh's event verb does; with --loop, print\n"
            "every event until interrupted (SIGINT, SIGTERM) or until the server closes\n"
            "the connection, all ending with status 0.\n"
            "\n"
            "Each line names corral's notification, not virsh's event type:\n"
            "\"vm.state NAME: STATE (REASON)\", \"snapshot.created VM: SNAP\",\n"
            "\"snapshot.deleted VM: SNAP\", \"snapshot.inconsistency VM: SNAP KIND on\n"
            "DISKS: DETAIL\" (see snapshot-delete) and \"vm.undefined NAME (uuid UUID)\".\n"
            "With --json, each notification is one line of JSON (job.progress too).\n"
            "\n"
            "Following one VM follows that VM, not its name: its vm.undefined event is\n"
            "the last, after which corralctl exits 0, and a VM defined later under the\n"
            "same name is another VM.",
        .opts = {{.name = "loop", .help = "print every event, not only the first"},
                 {.name = "event",
                  .type = CTL_OPT_STR,
                  .metavar = "TYPE",
                  .help = "only events of TYPE: lifecycle (vm.state), undefined\n"
                          "(vm.undefined) or a notification's name"},
                 {.name = "timestamp",
                  .help = "start each line with the local time it was received"}},
        .run = ctl_run_events,
    },
    {
        .name = "snapshot-create-as",
        .method = "snapshot.create",
        .args = "NAME [SNAP [DESCRIPTION]]",
        /* virsh's: --description is also the option below. */
        .argnames = "domain name description",
        .min_args = 1,
        .max_args = 3,
        .summary = "take an internal snapshot of a VM",
        .description =
            "Take the internal snapshot SNAP of the VM's disks and, when it runs or is\n"
            "paused, its memory, and print \"Domain snapshot SNAP created\". Without SNAP it\n"
            "is named after its creation time in seconds since the epoch, as libvirt names\n"
            "it; DESCRIPTION is its description, as with --description. It becomes the\n"
            "current snapshot; the previous current one is its parent. A name that exists\n"
            "in the metadata or on any disk is refused before QEMU is touched, as is a raw\n"
            "disk, which cannot hold internal snapshots.",
        .opts = {{.name = "description",
                  .type = CTL_OPT_STR,
                  .metavar = "TEXT",
                  .help = "Store TEXT as the snapshot's description."},
                 {.name = "print-xml",
                  .help = "Print the domainsnapshot XML that would be used, as\n"
                          "virsh(1) does, and create nothing.",
                  .excl = CREATE_PRINT},
                 {.name = "no-metadata",
                  .help = "Take the snapshot but keep no metadata: it is not\n"
                          "current, and cannot be reverted to until snapshot-create\n"
                          "--redefine teaches corral about it.",
                  .excl = CREATE_PRINT},
                 {.name = "halt",
                  .help = "Destroy the VM once the snapshot is taken (nothing to do\n"
                          "for a shut off VM).",
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
            "Restore the metadata of a snapshot of the VM from the libvirt domainsnapshot\n"
            "XML in FILE (-: standard input), as snapshot-dumpxml prints it, for example\n"
            "after the metadata was lost, and print \"Domain snapshot SNAP redefined\" with\n"
            "the name the XML gives. No disk is touched: use snapshot-check to compare the\n"
            "result with the disks. Without --redefine, the verb is refused: corral takes\n"
            "snapshots with snapshot-create-as only.",
        .opts = {{.name = "redefine", .help = "Redefine the metadata; required."},
                 {.name = "current",
                  .help = "Also make the snapshot the current one.",
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
        .description =
            "Print a table of the VM's snapshots, sorted by name, as virsh(1) does: name,\n"
            "creation time (local time, with its offset from UTC) and the VM's state when\n"
            "it was taken. As in virsh, --from and --current list the children of a\n"
            "snapshot (all its descendants with --descendants), without the snapshot itself\n"
            "unless --tree draws it as the root. The filters combine; within each pair\n"
            "(--leaves and --no-leaves, --metadata and --no-metadata, --internal and\n"
            "--external) both mean no filter. corral's snapshots all have metadata and are\n"
            "all internal. virsh's exclusions hold: --tree with --name, --parent, --roots\n"
            "or a filter; --roots with --parent, --from or --current; --from with\n"
            "--current.",
        .opts = {{.name = "tree",
                  .help = "Draw the snapshots as a tree, as virsh(1) does: each\n"
                          "root, then its children below it, indented and joined by\n"
                          "\"|\" and \"+-\".",
                  .excl = LIST_TREE_NAME | LIST_PARENT_TREE | LIST_ROOTS_TREE},
                 {.name = "roots",
                  .help = "Only the snapshots without a parent.",
                  .excl =
                      LIST_PARENT_ROOTS | LIST_ROOTS_TREE | LIST_ROOTS_FROM | LIST_ROOTS_CURRENT},
                 {.name = "from",
                  .type = CTL_OPT_STR,
                  .metavar = "SNAP",
                  .help = "Only the children of SNAP.",
                  .excl = LIST_ROOTS_FROM | LIST_FROM_CURRENT},
                 {.name = "current",
                  .help = "Only the children of the current snapshot.",
                  .excl = LIST_ROOTS_CURRENT | LIST_FROM_CURRENT},
                 {.name = "descendants",
                  .help = "With --from or --current, all the descendants, not only\n"
                          "the children."},
                 {.name = "leaves", .help = "Only the snapshots without children."},
                 {.name = "no-leaves", .help = "Only the snapshots with children."},
                 {.name = "metadata", .help = "Only the snapshots with metadata: all of them."},
                 {.name = "no-metadata", .help = "Only the snapshots without metadata: none."},
                 {.name = "inactive", .help = "Only the snapshots of the shut off VM."},
                 {.name = "active", .help = "Only the snapshots of the running or paused VM."},
                 {.name = "disk-only", .help = "Only disk-only snapshots: corral takes none."},
                 {.name = "internal", .help = "Only internal snapshots: all of them."},
                 {.name = "external", .help = "Only external snapshots: none."},
                 {.name = "topological", .help = "Sort parents before their children."},
                 {.name = "parent",
                  .help = "Add a column with each snapshot's parent (- for a root);\n"
                          "with --name, a tab and the parent's name.",
                  .excl = LIST_PARENT_ROOTS | LIST_PARENT_TREE},
                 {.name = "name",
                  .help = "Print only the names, one a line.",
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
            "Print the snapshot SNAP (or with --current the current one), one \"Key: value\"\n"
            "line each, virsh's first and in its order: its name, the VM's name, whether it\n"
            "is the current snapshot, the VM's state when it was taken, its location\n"
            "(always internal), its parent (- for a root), how many children and\n"
            "descendants it has and whether it has metadata; then whether it holds the\n"
            "VM's memory, the size of the saved VM state (of a running VM) and the targets\n"
            "of the disks it covers.",
        .opts = {{.name = "current", .help = "The current snapshot, in place of SNAP."}},
        .run = ctl_run_snapshot_info,
    },
    {
        .name = "snapshot-dumpxml",
        .method = "snapshot.dumpxml",
        .args = "NAME SNAP",
        .min_args = 2,
        .max_args = 2,
        .summary = "print a snapshot's XML",
        .description = "Print the snapshot's libvirt domainsnapshot XML as the server sends it.",
        .run = ctl_run_snapshot_dumpxml,
    },
    {
        .name = "snapshot-edit",
        .method = "snapshot.redefine",
        .args = "NAME [SNAP]",
        .min_args = 1,
        .max_args = 2,
        .summary = "edit a snapshot's XML",
        .description =
            "Open the domainsnapshot XML of the snapshot SNAP (or with --current the\n"
            "current one) in $VISUAL, $EDITOR or vi, redefine what was saved as\n"
            "snapshot-create --redefine does, and print \"Snapshot SNAP edited.\"; with\n"
            "both SNAP and --current it also becomes current. A refused edit is shown and,\n"
            "on a terminal, can be edited again. Unlike virsh(1), the name cannot change:\n"
            "the disks know an internal snapshot by its name only, so --rename and --clone\n"
            "would leave metadata that no disk holds, and are refused.",
        .opts = {{.name = "current", .help = "The current snapshot; with SNAP, make SNAP current."},
                 {.name = "rename", .help = "Refused (see above).", .excl = EDIT_NAME},
                 {.name = "clone", .help = "Refused (see above).", .excl = EDIT_NAME}},
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
            "Without SNAP, print the XML of the VM's current snapshot, as snapshot-dumpxml\n"
            "does; a VM without one is an error (\"domain 'NAME' has no current\n"
            "snapshot\"). With SNAP, make it the current snapshot, the parent of the next\n"
            "one, reverting nothing, and print \"Snapshot SNAP set as current\".",
        .opts = {{.name = "name", .help = "Print the name, not the XML; refused with SNAP."}},
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
            "current one); a snapshot without one is an error (\"snapshot 'SNAP' has no\n"
            "parent\").",
        .opts = {{.name = "current", .help = "The current snapshot, in place of SNAP."}},
        .run = ctl_run_snapshot_parent,
    },
    {
        .name = "snapshot-revert",
        .method = "snapshot.revert",
        .args = "NAME [SNAP]",
        .min_args = 1,
        .max_args = 2,
        .summary = "revert a VM to a snapshot",
        .description =
            "Load the snapshot SNAP (or with --current the current one) into the VM, its\n"
            "disks and its memory, and print \"Domain 'NAME' reverted to snapshot SNAP (now\n"
            "STATE)\": the VM runs, or stays paused, as it did when the snapshot was taken,\n"
            "unless --running or --paused says otherwise. On a shut off VM, a snapshot of\n"
            "its running guest starts the VM from the saved state, as virsh(1) does; a\n"
            "snapshot of the shut off VM reverts its disks and leaves it off (--running\n"
            "and --paused start it). Unless every writable qcow2 disk holds the snapshot,\n"
            "and the disk that keeps the VM's memory holds that too, the revert is refused\n"
            "and nothing changes. When QEMU fails the load, the error says whether the\n"
            "guest was kept intact (and resumed if it was running) or its disks were\n"
            "already reverted, in which case it stays paused with the reason \"revert\n"
            "failed: guest state unusable\".",
        .opts = {{.name = "current", .help = "The current snapshot, in place of SNAP."},
                 {.name = "running", .help = "Run the VM afterwards.", .excl = REVERT_STATE},
                 {.name = "paused",
                  .help = "Leave the VM paused afterwards.",
                  .excl = REVERT_STATE},
                 {.name = "force", .help = "Accepted for virsh(1) scripts; no revert needs it."}},
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
            "Delete the snapshot SNAP (or with --current the current one) and print\n"
            "\"Domain snapshot SNAP deleted\". The supervisor\n"
            "asks QEMU which disk images hold the snapshot's tag, deletes it from exactly\n"
            "those with one QEMU job, then removes the metadata: the snapshot's children\n"
            "get its parent, and so does the current marker.\n"
            "\n"
            "A difference between the metadata and the disks does not stop the deletion.\n"
            "Each is printed on standard error as \"warning: snapshot SNAP: KIND on DISKS:\n"
            "DETAIL\" (without \"on DISKS\" when no disk is concerned), also sent to events\n"
            "subscribers as snapshot.inconsistency, and the exit status stays 0. A\n"
            "difference that was reported before and still stands (an earlier delete was\n"
            "cut short, or the supervisor found it when QEMU started) ends with \"(reported\n"
            "before)\" and is not reported to the broker again. KIND is one of:\n"
            "\n"
            "missing: The metadata names the disk, but its image lacks the tag.\n"
            "\n"
            "extra: The image holds the tag but the metadata did not name the disk; the tag\n"
            "is deleted there too, as QEMU's view wins.\n"
            "\n"
            "job-failed: QEMU's job failed: the metadata is kept, DETAIL is QEMU's message,\n"
            "and DISKS are the disks that no longer hold the tag. Later servers may report\n"
            "other kinds; they are printed the same way.",
        .opts = {{.name = "current", .help = "The current snapshot, in place of SNAP."},
                 {.name = "children",
                  .help = "Delete the snapshot's descendants too, parents first,\n"
                          "then the snapshot.",
                  .excl = DELETE_SCOPE},
                 {.name = "children-only",
                  .help = "Delete only the descendants, and print \"Domain snapshot\n"
                          "SNAP children deleted\". Cannot be combined with\n"
                          "--children.",
                  .excl = DELETE_SCOPE},
                 {.name = "metadata", .help = "Remove the metadata only, touching no disk image."},
                 {.name = "force",
                  .help = "When the QEMU job fails, remove the metadata anyway and\n"
                          "report every disk that may still hold the snapshot's\n"
                          "data (a job-failed warning)."}},
        .run = ctl_run_snapshot_delete,
    },
    {
        .name = "snapshot-check",
        .method = "snapshot.check",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "compare snapshot metadata with the disks",
        .description =
            "Compare the snapshot metadata of the VM with the snapshot table of each of its\n"
            "disks, both ways, changing nothing and sending no event. When they agree,\n"
            "print \"Snapshot metadata and disks of NAME agree\" and exit with status 0;\n"
            "otherwise print one line per difference, \"SNAP: KIND on DISKS: DETAIL\", on\n"
            "standard output and exit with status 1, as fsck(8) does. With --json, the exit\n"
            "status is the same. KIND is one of:\n"
            "\n"
            "missing: The metadata names the disk, but its image lacks the tag.\n"
            "\n"
            "orphan-on-disk: A disk holds a tag for which there is no metadata.\n"
            "\n"
            "duplicate-on-disk: A disk holds the tag more than once.\n"
            "\n"
            "extra: The image holds a snapshot that the metadata says it does not cover.",
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
        .description =
            "List every inconsistency report the broker has received for the VM (the\n"
            "snapshot.inconsistency events of its supervisor), oldest first, one a line:\n"
            "\"TIME SNAP KIND DISKS DETAIL\", in aligned columns, where a report about one\n"
            "QEMU job (kind interrupted) ends with \"(job JOB)\", and where TIME is the local\n"
            "time it was reported, DISKS the disk targets joined by commas, and \"-\" stands\n"
            "for no disk or no detail. A VM without any prints \"No inconsistencies reported\n"
            "for NAME\". The broker keeps this list: the verb cannot be used with --vm-\n"
            "socket.",
        .run = ctl_run_inconsistencies,
    },
    {
        .name = "sandbox-report",
        .method = "vm.sandbox",
        .args = "NAME",
        .min_args = 1,
        .max_args = 1,
        .summary = "print the confinement of a VM's supervisor and QEMU",
        .description =
            "Print what confines the running VM's supervisor, as the kernel reports it to\n"
            "the supervisor: uid and gid, supplementary groups, capability sets,\n"
            "NoNewPrivs, Seccomp mode and rlimits. The supervisor shares its uid with QEMU,\n"
            "so a compromised QEMU could make it lie; a second part, headed \"As the broker\n"
            "reads it from /proc\", is read by the broker as root from /proc/PID/status for\n"
            "the supervisor and for QEMU (ids, groups, capability sets, NoNewPrivs,\n"
            "Seccomp) and does not depend on what either says. See SECURITY.md for the\n"
            "threat model.",
        .run = ctl_run_sandbox_report,
    },
    {
        .name = "hello",
        .method = "hello",
        .args = "",
        .summary = "print what the server says about itself",
        .description = "Print what the server says about itself: its name, protocol version,\n"
                       "capabilities, and the uid it sees the caller as.",
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
