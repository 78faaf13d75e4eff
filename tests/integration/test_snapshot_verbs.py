"""The snapshot verbs as a virsh user types them (issue 13), through
corralctl against real QEMU: snapshot-current's XML, snapshot-list's
selections and filters, snapshot-info's virsh lines, snapshot-create-as's
optional name, --print-xml, --no-metadata and --halt, snapshot-revert's
--running/--paused, --current in place of a snapshot name, snapshot-edit."""

import json
import os
import stat
import subprocess
import sys
from xml.sax.saxutils import escape

import guest
from corraltest import DEFAULT_EMULATOR, Skip, check, run
from test_console import Term


def tags(path):
    """The snapshot tags qemu-img sees in an image (-U: QEMU holds it open)."""
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path],
                         capture_output=True, text=True, check=True).stdout
    return sorted(s["name"] for s in json.loads(out).get("snapshots", []))


def names(env, *flags):
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name", *flags)
    return out.split("\n")[:-1]


def running_vm(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")


def tree_of_four(env):
    """a -> b -> c, and a -> d; current d."""
    for snap in ("a", "b", "c"):
        env.ctl("snapshot-create-as", "vm1", snap)
    env.ctl("snapshot-current", "vm1", "a")
    env.ctl("snapshot-create-as", "vm1", "d")


def current_prints_xml(env):
    running_vm(env)
    env.ctl("snapshot-create-as", "vm1", "s1", "the first")
    _, out, _ = env.ctl("snapshot-current", "vm1")
    _, dump, _ = env.ctl("snapshot-dumpxml", "vm1", "s1")
    check(out == dump and out.startswith("<domainsnapshot>"), "XML as snapshot-dumpxml: " + out[:80])
    check("<description>the first</description>" in out, "positional description: " + out[:200])
    _, out, _ = env.ctl("snapshot-current", "vm1", "--name")
    check(out == "s1\n", "--name: %r" % out)
    _, _, err = env.ctl("snapshot-current", "vm1", "s1", "--name", ok=False)
    check("cannot be combined" in err, err)
    env.ctl("snapshot-delete", "vm1", "--current")
    _, _, err = env.ctl("snapshot-current", "vm1", ok=False)
    check("domain 'vm1' has no current snapshot" in err, err)


def list_selections(env):
    running_vm(env)
    tree_of_four(env)
    # virsh: --current lists the current snapshot's children, not itself.
    check(names(env, "--current") == [], "d has no children")
    env.ctl("snapshot-current", "vm1", "a")
    check(names(env, "--current") == ["b", "d"], "children of a")
    check(names(env, "--current", "--descendants") == ["b", "c", "d"], "descendants of a")
    check(names(env, "--from", "b") == ["c"], "children of b")
    check(names(env, "--leaves") == ["c", "d"], "leaves")
    check(names(env, "--no-leaves") == ["a", "b"], "no leaves")
    check(names(env, "--leaves", "--no-leaves") == ["a", "b", "c", "d"], "both: no filter")
    check(names(env, "--roots", "--leaves") == [], "roots that are leaves")
    check(names(env, "--topological")[0] == "a", "parents first")
    topo = names(env, "--topological")
    check(topo.index("b") < topo.index("c"), "b before c: %r" % topo)
    check(names(env, "--metadata") == ["a", "b", "c", "d"], "all have metadata")
    check(names(env, "--no-metadata") == [], "none without")
    check(names(env, "--internal") == ["a", "b", "c", "d"], "all internal")
    check(names(env, "--external") == [], "none external")
    check(names(env, "--active") == ["a", "b", "c", "d"], "all taken running")
    check(names(env, "--inactive") == [], "none taken shut off")
    check(names(env, "--disk-only") == [], "no disk-only snapshot")
    check(names(env, "--current", "--descendants", "--leaves") == ["c", "d"], "filters combine")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name", "--parent")
    check(out.split("\n")[:2] == ["a\t", "b\ta"], "--name --parent: %r" % out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--tree", "--current")
    check(out.split("\n")[:4] == ["a", "  |", "  +- b", "  |   |"], "subtree from a: %r" % out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--tree", "--from", "b")
    check(out.split("\n")[:3] == ["b", "  |", "  +- c"], "subtree from b: %r" % out)
    _, out, _ = env.ctl("snapshot-list", "vm1")
    lines = out.split("\n")
    check(lines[0].split() == ["Name", "Creation", "Time", "State"] and lines[0].startswith(" Name   "),
          "virsh's header: %r" % lines[0])
    check(set(lines[1]) == {"-"} and lines[2].split()[0] == "a" and lines[2].split()[-1] == "running",
          "virsh's rows: %r" % lines[:3])
    # What virsh refuses, refused here before anything is sent.
    for bad, why in ((["--tree", "--leaves"], "--tree"), (["--descendants"], "--from or --current"),
                     (["--roots", "--current"], "cannot"), (["--from", "a", "--current"], "cannot"),
                     (["--tree", "--name"], "cannot"), (["--parent", "--roots"], "cannot"),
                     (["--from", "nosuch"], "no snapshot named")):
        _, _, err = env.ctl("snapshot-list", "vm1", *bad, ok=False)
        check(why in err, "%r: %s" % (bad, err))


def info_and_current_target(env):
    running_vm(env)
    tree_of_four(env)
    _, out, _ = env.ctl("snapshot-info", "vm1", "a")
    lines = [l.split(":")[0] for l in out.split("\n")[:9]]
    check(lines == ["Name", "Domain", "Current", "State", "Location", "Parent", "Children",
                    "Descendants", "Metadata"], "virsh's lines in virsh's order: %r" % lines)
    check("Children:       2\n" in out and "Descendants:    3\n" in out and "Metadata:       yes\n" in out,
          out)
    _, out, _ = env.ctl("snapshot-info", "vm1", "--current")
    check(out.startswith("Name:           d\n") and "Current:        yes" in out, out)
    _, out, _ = env.ctl("snapshot-parent", "vm1", "--current")
    check(out == "a\n", out)
    _, _, err = env.ctl("snapshot-info", "vm1", "a", "--current", ok=False)
    check("cannot be combined" in err, err)
    _, _, err = env.ctl("snapshot-info", "vm1", ok=False)
    check("SNAP or --current is required" in err, err)
    env.ctl("snapshot-delete", "vm1", "--current")
    check(names(env) == ["a", "b", "c"], "the current one deleted")
    _, out, _ = env.ctl("snapshot-current", "vm1", "--name")
    check(out == "a\n", "current moved to the parent: " + out)
    _, out, _ = env.ctl("snapshot-revert", "vm1", "--current")
    check("reverted to snapshot a" in out, out)


def create_as_options(env):
    running_vm(env)
    a = os.path.join(env.images, "vm1-a.qcow2")
    _, out, _ = env.ctl("snapshot-create-as", "vm1", "--print-xml", "x<&y", "--description", "d'e")
    check(out == "<domainsnapshot>\n  <name>x&lt;&amp;y</name>\n  <description>d'e</description>\n"
          "</domainsnapshot>\n", "virsh's document: %r" % out)
    _, out, _ = env.ctl("snapshot-create-as", "vm1", "--print-xml")
    check(out == "<domainsnapshot>\n</domainsnapshot>\n", "no name: %r" % out)
    check(names(env) == [] and tags(a) == [], "--print-xml creates nothing")
    _, out, _ = env.ctl("snapshot-create-as", "vm1")
    auto = out.split()[2]
    check(out == "Domain snapshot %s created\n" % auto and auto.isdigit() and int(auto) > 1700000000,
          "named after the time: " + out)
    _, xml, _ = env.ctl("snapshot-dumpxml", "vm1", auto)
    check("<creationTime>%s</creationTime>" % auto in xml, "the name is the creation time: " + xml[:300])
    env.ctl("snapshot-create-as", "vm1", "ghost", "--no-metadata")
    check("ghost" in tags(a) and names(env) == [auto], "on disk, no metadata: %r" % names(env))
    _, out, _ = env.ctl("snapshot-current", "vm1", "--name")
    check(out == auto + "\n", "current unchanged by --no-metadata: " + out)
    _, _, err = env.ctl("snapshot-create-as", "vm1", "ghost", ok=False)
    check("already exists on disk" in err, err)
    _, _, err = env.ctl("snapshot-create-as", "vm1", "x", "--print-xml", "--no-metadata", ok=False)
    check("cannot" in err, err)
    _, _, err = env.ctl("snapshot-create-as", "vm1", "x", "y", "--description", "z", ok=False)
    check("twice" in err, err)
    # virsh's option spellings of the positional arguments.
    env.ctl("snapshot-create-as", "--domain", "vm1", "--name", "named", "--description", "by name")
    _, out, _ = env.ctl("snapshot-info", "--domain", "vm1", "--current")
    check(out.startswith("Name:           named\n"), out)
    _, xml, _ = env.ctl("snapshot-current", "--domain", "vm1")
    check("<description>by name</description>" in xml, xml[:300])
    env.ctl("snapshot-delete", "--domain", "vm1", "--snapshotname", "named")
    env.ctl("snapshot-create-as", "vm1", "last", "--halt")
    check(env.wait_state("vm1", "shut off").startswith("shut off"), "--halt leaves it shut off")
    _, out, _ = env.ctl("snapshot-info", "vm1", "last")
    check("State:          running" in out, "taken while it ran: " + out)
    # --halt on a shut-off VM: nothing to halt.
    env.ctl("snapshot-create-as", "vm1", "off", "--halt")
    check(names(env, "--inactive") == ["off"], "an offline snapshot")


def revert_running_paused(env):
    running_vm(env)
    env.ctl("snapshot-create-as", "vm1", "live")
    _, out, _ = env.ctl("snapshot-revert", "vm1", "live", "--paused")
    check("(now paused)" in out, out)
    check(env.wait_state("vm1", "paused").startswith("paused"), "paused after --paused")
    _, out, _ = env.ctl("snapshot-revert", "vm1", "live", "--running", "--force")
    check("(now running)" in out, out)
    _, out, _ = env.ctl("snapshot-revert", "vm1", "live")
    check("(now running)" in out, out)
    _, _, err = env.ctl("snapshot-revert", "vm1", "live", "--running", "--paused", ok=False)
    check("cannot" in err, err)


def editor(env, script):
    path = os.path.join(env.dir, "editor.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + script + "\n")
    os.chmod(path, stat.S_IRWXU)
    env.env["VISUAL"] = path


def snapshot_edit(env):
    running_vm(env)
    env.ctl("snapshot-create-as", "vm1", "s1", "old words")
    env.ctl("snapshot-create-as", "vm1", "s2")
    editor(env, "sed -i 's/old words/new words/' \"$1\"")
    _, out, _ = env.ctl("snapshot-edit", "vm1", "s1")
    check(out == "Snapshot s1 edited.\n", out)
    _, xml, _ = env.ctl("snapshot-dumpxml", "vm1", "s1")
    check("<description>new words</description>" in xml, xml[:300])
    _, out, _ = env.ctl("snapshot-current", "vm1", "--name")
    check(out == "s2\n", "an edit does not move current: " + out)
    editor(env, "true")
    _, out, _ = env.ctl("snapshot-edit", "vm1", "--current")
    check(out == "Snapshot s2 XML configuration not changed.\n", out)
    # SNAP and --current: it becomes current, changed or not (virsh).
    env.ctl("snapshot-edit", "vm1", "s1", "--current")
    _, out, _ = env.ctl("snapshot-current", "vm1", "--name")
    check(out == "s1\n", "made current: " + out)
    # A new name is refused, before anything is sent: nothing changes.
    editor(env, "sed -i 's|<name>s2</name>|<name>s3</name>|' \"$1\"")
    _, _, err = env.ctl("snapshot-edit", "vm1", "s2", ok=False)
    check("cannot be renamed" in err, err)
    check(names(env) == ["s1", "s2"], "nothing renamed: %r" % names(env))
    _, _, err = env.ctl("snapshot-edit", "vm1", "s2", "--rename", ok=False)
    check("cannot be renamed" in err, err)
    # A refused edit without a terminal: an error, nothing changed.
    editor(env, "sed -i 's|<state>running</state>|<state>bogus</state>|' \"$1\"")
    env.ctl("snapshot-edit", "vm1", "s2", ok=False)
    _, xml, _ = env.ctl("snapshot-dumpxml", "vm1", "s2")
    check("<state>running</state>" in xml, xml[:300])
    editor(env, "exit 3")
    _, _, err = env.ctl("snapshot-edit", "vm1", "s2", ok=False)
    check("failed" in err, err)


def define_guest_with_disk(env, name):
    """The test guest with a qcow2 disk, where internal snapshots live."""
    if not os.path.exists(DEFAULT_EMULATOR):
        raise Skip("no " + DEFAULT_EMULATOR)
    kdir = os.path.join(env.dir, "guest-" + name)
    os.makedirs(kdir)
    kernel, initrd = guest.copy_to(kdir)
    disk = env.qcow2(name + "-a.qcow2")
    xml = ("<domain type='qemu'><name>%s</name><memory unit='MiB'>%d</memory><vcpu>1</vcpu>%s"
           "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
           "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
           "<serial type='pty'/></devices></domain>"
           % (escape(name), guest.MEMORY_MIB, guest.os_xml(kernel, initrd), escape(disk)))
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    env.ctl("define", path)


def shell(env, name, line, pattern):
    """Runs a command on the guest's console and waits for pattern."""
    t = Term(env, name)
    try:
        t.attached(name)
        t.wait_raw()
        t.con.send(b"\n")
        t.expect(guest.PROMPT, what="the shell prompt")
        t.command(line, pattern)
        t.expect(guest.PROMPT, 30, "the prompt after the command")
        t.detach()
    finally:
        t.close()


def revert_live_snapshot_of_shut_off_vm(env):
    """virsh: reverting to a snapshot of the running guest starts the VM
    from the saved state, whatever state the VM is in."""
    guest.require()
    env.start_broker()
    define_guest_with_disk(env, "g1")
    env.ctl("start", "g1")
    # The files live in the guest's RAM (its root is an initramfs): only
    # the saved VM state can bring one back.
    shell(env, "g1", "echo before > /tmp/mark; echo w$((1+1))", b"w2")
    env.ctl("snapshot-create-as", "g1", "live")
    shell(env, "g1", "echo after > /tmp/later; echo w$((2+1))", b"w3")
    env.ctl("destroy", "g1")
    env.wait_state("g1", "shut off")
    _, out, _ = env.ctl("snapshot-revert", "g1", "live")
    check("(now running)" in out, out)
    check(env.wait_state("g1", "running").startswith("running"), "it runs")
    shell(env, "g1", "cat /tmp/mark; ls /tmp/later 2>&1 | grep -c 'No such'; echo w$((3+1))",
          b"before\r?\n1\r?\nw4")
    # With --paused it stays paused, from the same state.
    env.ctl("destroy", "g1")
    env.wait_state("g1", "shut off")
    _, out, _ = env.ctl("snapshot-revert", "g1", "live", "--paused")
    check("(now paused)" in out, out)
    env.ctl("resume", "g1")
    shell(env, "g1", "cat /tmp/mark; echo w$((4+1))", b"before\r?\nw5")


if __name__ == "__main__":
    sys.exit(run([current_prints_xml, list_selections, info_and_current_target, create_as_options,
                  revert_running_paused, snapshot_edit, revert_live_snapshot_of_shut_off_vm]))
