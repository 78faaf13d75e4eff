/* The verb tables: everything corralctl knows about each verb's command
 * line and help, and which handler runs it.  Here the verbs about a VM and
 * the general ones; the snapshot verbs are in verbs_snapshot.c. */
#include "proto/corralctl/ctl.h"

/* undefine: remove or keep the NVRAM, not both. */
enum { UNDEFINE_NVRAM = 1 << 0 };
/* change-media's actions; --current excludes --live and --config, which
 * combine. */
enum { MEDIA_ACTION = 1 << 0, MEDIA_LIVE = 1 << 1, MEDIA_CONFIG = 1 << 2 };

const struct ctl_verb ctl_domain_verbs[] = {
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
            "field, the autostart mark and QEMU's pid included. The broker answers a page\n"
            "of at most 1000 VMs at a time; every page is fetched before anything prints.",
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
            "Print the VM's configuration and state, one \"Key: value\" line each.  First\n"
            "virsh's lines, in virsh's order: Id (QEMU's pid, - when the VM is not\n"
            "running), Name, UUID, OS Type, State, CPU(s), Max memory, Used memory,\n"
            "Persistent (always yes: corral keeps every definition) and Autostart.  virsh's\n"
            "CPU time, Managed save and Security lines are left out: corral has none of\n"
            "them.  Then corral's own: the reason for the state, virtualization type, CPU\n"
            "model (the <model> of a custom CPU, else the mode: default, host-passthrough,\n"
            "host-model or maximum), machine type, emulator, firmware and, while the VM\n"
            "runs, the PIDs of its supervisor and of QEMU and the paths of its control and\n"
            "QMP sockets; then the restarts of its current run: \"Supervisor restarts:\"\n"
            "(how many times a new supervisor took over the running QEMU after its\n"
            "supervisor died), \"Re-attached:\" (how many broker restarts re-attached to\n"
            "it) and, after either, \"Last restart:\" with its time and why; \"Persistent\n"
            "changes: pending\" when a definition waits for the next start; then its\n"
            "disks.  Fields the server does not report are left out.",
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
};

const size_t ctl_ndomain_verbs = sizeof(ctl_domain_verbs) / sizeof(ctl_domain_verbs[0]);

const struct ctl_verb ctl_other_verbs[] = {
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
        .name = "proxy",
        .args = "[SOCKET]",
        .min_args = 0,
        .max_args = 1,
        .flags = CTL_VERB_LOCAL,
        .summary = "relay standard input and output to a local socket (for ssh://)",
        .description =
            "Relay bytes between standard input and output and the Unix socket SOCKET\n"
            "(default: --socket, else $CORRAL_SOCKET, else " CTL_DEFAULT_SOCKET "), until\n"
            "the socket closes; the end of standard input is passed on as a half-close.\n"
            "This is the remote end of 'corralctl -c ssh://HOST', which runs\n"
            "'corralctl proxy [SOCKET]' on HOST through ssh, as libvirt runs\n"
            "virt-ssh-helper: the server sees the proxy's uid, so the ssh user is\n"
            "authorised on HOST as a local client of that uid. -c and\n"
            "$CORRAL_DEFAULT_URI do not apply. Not meant to be run by hand.",
        .run = ctl_run_proxy,
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

const size_t ctl_nother_verbs = sizeof(ctl_other_verbs) / sizeof(ctl_other_verbs[0]);
