"""What a virsh script sees: the commands a script built on virsh 9.0 runs,
against real QEMU, each output compared in shape (its lines, labels,
columns and messages; not its values) with virsh 9.0's own output for the
same command, kept below as documented samples."""

import os
import re
import sys

from corraltest import check, run

# virsh 9.0's output, as it prints it (values are examples).
VIRSH = {
    "define": "Domain 'demo' defined from demo.xml\n\n",
    "start": "Domain 'demo' started\n\n",
    "suspend": "Domain 'demo' suspended\n\n",
    "resume": "Domain 'demo' resumed\n\n",
    "destroy": "Domain 'demo' destroyed\n\n",
    "undefine": "Domain 'demo' has been undefined\n\n",
    "reset": "Domain 'demo' was reset\n\n",
    "autostart": "Domain 'demo' marked as autostarted\n\n",
    "autostart --disable": "Domain 'demo' unmarked as autostarted\n\n",
    "domstate": "running\n\n",
    "domstate --reason": "running (booted)\n\n",
    "list --all": (" Id   Name   State\n"
                   "-----------------------\n"
                   " 1    demo   running\n"
                   "\n"),
    "list --all --name": "demo\n\n",
    "dominfo": ("Id:             1\n"
                "Name:           demo\n"
                "UUID:           0c6a5e6e-6a4c-4a3e-9d3c-2f1a3b0c9d11\n"
                "OS Type:        hvm\n"
                "State:          running\n"
                "CPU(s):         1\n"
                "CPU time:       1.2s\n"
                "Max memory:     65536 KiB\n"
                "Used memory:    65536 KiB\n"
                "Persistent:     yes\n"
                "Autostart:      disable\n"
                "Managed save:   no\n"
                "Security model: none\n"
                "Security DOI:   0\n"
                "\n"),
    "domblklist": (" Target   Source\n"
                   "------------------------------------------------\n"
                   " vda      /var/lib/libvirt/images/demo-a.qcow2\n"
                   " vdb      /var/lib/libvirt/images/demo-b.qcow2\n"
                   "\n"),
    "snapshot-create-as": "Domain snapshot s1 created\n",
    "snapshot-list": (" Name   Creation Time               State\n"
                      "---------------------------------------------\n"
                      " s1     2024-05-01 10:00:00 +0000   running\n"
                      " s2     2024-05-01 10:00:05 +0000   running\n"
                      "\n"),
    "snapshot-list --name": "s1\ns2\n\n",
    "snapshot-current --name": "s2\n",
    "snapshot-parent": "s1\n",
    "snapshot-info": ("Name:           s2\n"
                      "Domain:         demo\n"
                      "Current:        yes\n"
                      "State:          running\n"
                      "Location:       internal\n"
                      "Parent:         s1\n"
                      "Children:       0\n"
                      "Descendants:    0\n"
                      "Metadata:       yes\n"
                      "\n"),
    "snapshot-revert": "",  # corralctl: DIFFERS below
    "snapshot-delete": "Domain snapshot s2 deleted\n\n",
}

# Where corralctl differs from virsh on purpose (corralctl(1) says so):
# what it prints instead, and labels virsh prints that corral has no value
# for.
DIFFERS = {"snapshot-revert": "Domain 'demo' reverted to snapshot s1 (now running)\n"}
ABSENT = {"dominfo": {"CPU time", "Managed save", "Security model", "Security DOI"}}


def lines(text):
    """The lines, without the blank lines virsh adds at the end."""
    return text.rstrip("\n").split("\n") if text.strip() else []


def labels(text):
    """The "Label:" of each key/value line, in order."""
    return [l.split(":", 1)[0] for l in lines(text) if re.match(r"^[A-Za-z()]+[A-Za-z() ]*:", l)]


def columns(header):
    return header.split()


def same_table(verb, ours, theirs):
    o, t = lines(ours), lines(theirs)
    check(len(o) >= 2 and columns(o[0]) == columns(t[0]),
          "%s: columns %r, virsh has %r" % (verb, o[:1], t[:1]))
    check(set(o[1]) == {"-"}, "%s: a dashed rule under the header: %r" % (verb, o[1]))
    check(o[0].startswith(" ") and all(r.startswith(" ") for r in o[2:]),
          "%s: rows indented by one space as virsh's: %r" % (verb, o))
    check(ours.endswith("\n\n"), "%s: a blank line after the table, as virsh: %r" % (verb, ours[-20:]))


def same_labels(verb, ours, theirs):
    want = [l for l in labels(theirs) if l not in ABSENT.get(verb, set())]
    got = labels(ours)
    check([l for l in got if l in want] == want,
          "%s: virsh's labels in virsh's order %r, got %r" % (verb, want, got))
    for l in lines(ours):
        if ":" in l and l.split(":", 1)[0] in want:
            check(re.match(r"^[^:]+: +\S", l) and len(l) - len(l.split(":", 1)[1].lstrip()) >= 16,
                  "%s: value in virsh's column (16): %r" % (verb, l))


def same_message(verb, ours, theirs, subst):
    want = theirs
    for a, b in subst:
        want = want.replace(a, b)
    check(ours.rstrip("\n") == want.rstrip("\n"), "%s: %r, virsh prints %r" % (verb, ours, want))


def script(env):
    """A virsh script's life of a VM, each output compared with virsh's."""
    env.start_broker()
    xml = os.path.join(env.dir, "demo.xml")
    with open(xml, "w") as f:
        f.write(env.domain_xml("demo", machine="none", memory_mib=64))

    def ctl(*args):
        return env.ctl(*args)[1]

    names = [("demo.xml", xml)]
    same_message("define", ctl("define", xml), VIRSH["define"], names)
    same_table("list --all", ctl("list", "--all"), VIRSH["list --all"])
    check(re.search(r"^ -\s+demo\s+shut off$", ctl("list", "--all"), re.M),
          "a shut-off VM's Id is -")
    same_message("start", ctl("start", "demo"), VIRSH["start"], [])
    out = ctl("list", "--all")
    same_table("list --all", out, VIRSH["list --all"])
    check(re.search(r"^ \d+\s+demo\s+running$", out, re.M), "a running VM's Id is a number: %r" % out)
    same_message("list --all --name", ctl("list", "--all", "--name"), VIRSH["list --all --name"], [])
    same_message("domstate", ctl("domstate", "demo"), VIRSH["domstate"], [])
    same_message("domstate --reason", ctl("domstate", "demo", "--reason"),
                 VIRSH["domstate --reason"], [])
    same_labels("dominfo", ctl("dominfo", "demo"), VIRSH["dominfo"])
    same_table("domblklist", ctl("domblklist", "demo"), VIRSH["domblklist"])
    same_message("suspend", ctl("suspend", "demo"), VIRSH["suspend"], [])
    same_message("resume", ctl("resume", "demo"), VIRSH["resume"], [])
    same_message("snapshot-create-as", ctl("snapshot-create-as", "demo", "s1"),
                 VIRSH["snapshot-create-as"], [])
    ctl("snapshot-create-as", "demo", "s2")
    same_table("snapshot-list", ctl("snapshot-list", "demo"), VIRSH["snapshot-list"])
    same_message("snapshot-list --name", ctl("snapshot-list", "demo", "--name"),
                 VIRSH["snapshot-list --name"], [])
    same_message("snapshot-current --name", ctl("snapshot-current", "demo", "--name"),
                 VIRSH["snapshot-current --name"], [])
    same_message("snapshot-parent", ctl("snapshot-parent", "demo", "s2"), VIRSH["snapshot-parent"], [])
    same_labels("snapshot-info", ctl("snapshot-info", "demo", "s2"), VIRSH["snapshot-info"])
    same_message("snapshot-revert", ctl("snapshot-revert", "demo", "s1"), DIFFERS["snapshot-revert"],
                 [])
    same_message("snapshot-delete", ctl("snapshot-delete", "demo", "s2"), VIRSH["snapshot-delete"], [])
    same_message("reset", ctl("reset", "demo"), VIRSH["reset"], [])
    same_message("autostart", ctl("autostart", "demo"), VIRSH["autostart"], [])
    same_message("autostart --disable", ctl("autostart", "demo", "--disable"),
                 VIRSH["autostart --disable"], [])
    same_message("destroy", ctl("destroy", "demo"), VIRSH["destroy"], [])
    same_message("undefine", ctl("undefine", "demo", "--snapshots-metadata"), VIRSH["undefine"], [])


if __name__ == "__main__":
    sys.exit(run([script]))
