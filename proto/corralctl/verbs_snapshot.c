/* The snapshot verbs' table (see verbs.c). */
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

const struct ctl_verb ctl_snapshot_verbs[] = {
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
            "--current. The server answers a page of at most 1000 snapshots at a time;\n"
            "snapshot-list fetches every page and prints each as it arrives (the table's\n"
            "columns are as wide as the first page needs), so any number of snapshots\n"
            "lists. --tree and --json print once the last page is in: --json as one\n"
            "document. With --topological, snapshots created, deleted or moved between two\n"
            "pages make it fail (\"changed since the previous page\"): run it again.",
        .opts =
            {{.name = "tree",
              .help = "Draw the snapshots as a tree, as virsh(1) does: each\n"
                      "root, then its children below it, indented and joined by\n"
                      "\"|\" and \"+-\".",
              .excl = LIST_TREE_NAME | LIST_PARENT_TREE | LIST_ROOTS_TREE},
             {.name = "roots",
              .help = "Only the snapshots without a parent.",
              .excl = LIST_PARENT_ROOTS | LIST_ROOTS_TREE | LIST_ROOTS_FROM | LIST_ROOTS_CURRENT},
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
             {.name = "name", .help = "Print only the names, one a line.", .excl = LIST_TREE_NAME}},
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
            "STATE)\" (virsh prints nothing: corralctl says on purpose what the VM now is):\n"
            "the VM runs, or stays paused, as it did when the snapshot was taken,\n"
            "unless --running or --paused says otherwise. On a shut off VM, a snapshot of\n"
            "its running guest starts the VM from the saved state, as virsh(1) does; a\n"
            "snapshot of the shut off VM reverts its disks and leaves it off (--running\n"
            "and --paused start it). Unless every writable qcow2 disk holds the snapshot,\n"
            "and the disk that keeps the VM's memory holds that too, the revert is refused\n"
            "and nothing changes. When QEMU fails the load, the error says whether the\n"
            "guest was kept intact (and resumed if it was running) or its disks were\n"
            "already reverted, in which case it stays paused with the reason \"revert\n"
            "failed: guest state unusable\" (QEMU failed reading the memory) or \"revert\n"
            "failed: disks may be partly reverted\" (QEMU failed on a later disk).",
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
            "extra: The image holds a snapshot that the metadata says it does not cover.\n"
            "\n"
            "The differences are printed sorted by snapshot, then kind, fetched a page of\n"
            "at most 1000 at a time, each page from a fresh comparison.",
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
            "for NAME\". The broker keeps this list and answers it a page of at most 1000 at\n"
            "a time; every page is fetched before the table is printed. The verb cannot be\n"
            "used with --vm-socket.",
        .run = ctl_run_inconsistencies,
    },
};

const size_t ctl_nsnapshot_verbs = sizeof(ctl_snapshot_verbs) / sizeof(ctl_snapshot_verbs[0]);
