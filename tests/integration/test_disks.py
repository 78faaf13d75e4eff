"""Disks as libvirt users define them: cdroms (with an empty tray, ejected
and changed live), buses and driver options, a VM on a block device owned
by a non-admin user, and what corral refuses."""

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys

from corraltest import Skip, boot_sector, check, run


def qmp(env, name, execute, arguments=None):
    cmd = {"execute": execute}
    if arguments is not None:
        cmd["arguments"] = arguments
    _, out, _ = env.ctl("qemu-monitor-command", name, json.dumps(cmd))
    reply = json.loads(out)
    check("return" in reply, "%s answered: %s" % (execute, out))
    return reply["return"]


def block(env, name, dev):
    """dev's entry in query-block: by its qdev id, or by the node corral
    names after it (usb-storage's inner disk has an id of QEMU's)."""
    blocks = qmp(env, name, "query-block")
    for b in blocks:
        if b.get("qdev") in (dev, "/machine/peripheral/%s/virtio-backend" % dev):
            return b
    for b in blocks:
        if b.get("inserted", {}).get("node-name") == "drive-" + dev:
            return b
    raise AssertionError("query-block has no device %s" % dev)


def medium(env, name, dev):
    """The file in dev's tray as QEMU says, or None."""
    ins = block(env, name, dev).get("inserted")
    return ins["file"] if ins else None


def blklist(env, name, *opts, user=None):
    """domblklist's rows (after the header and the rule), each split."""
    _, out, _ = env.ctl("domblklist", name, *opts, user=user)
    lines = out.splitlines()
    check(lines[1].startswith("---"), "a rule under the header: %r" % out)
    return lines[0].split(), [line.split() for line in lines[2:] if line.strip()]


def raw_medium(env, name, text, mode=0o644):
    """A raw file standing for an ISO: what the guest would read."""
    path = os.path.join(env.images, name)
    with open(path, "wb") as f:
        f.write(text.encode().ljust(1024 * 1024, b"\0"))
    os.chmod(path, mode)
    return path


def write_xml(env, name, devices, machine="pc", boot=""):
    xml = ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64' machine='%s'>hvm</type>%s</os>"
           "<devices>%s</devices></domain>" % (name, machine, boot, devices))
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    os.chmod(path, 0o644)
    return path


def virt_install_cdrom(env):
    """A virt-install Debian guest: its disk, the installer's cdrom on IDE
    and an empty SATA tray; domblklist, eject, insert and change."""
    env.start_broker()
    disk = env.qcow2("deb.qcow2", boot=True)
    iso1 = raw_medium(env, "debian-12.iso", "CD1")
    iso2 = raw_medium(env, "firmware.iso", "CD2")
    devices = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2' "
               "discard='unmap'/><source file='%s'/><target dev='vda' bus='virtio'/></disk>"
               "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
               "<source file='%s'/><target dev='hdc' bus='ide'/><readonly/></disk>"
               "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
               "<target dev='sdb' bus='sata'/></disk>" % (disk, iso1))
    env.ctl("define", write_xml(env, "deb", devices, boot="<boot dev='hd'/><boot dev='cdrom'/>"))
    head, rows = blklist(env, "deb")
    check(head == ["Target", "Source"], "virsh's columns: %r" % head)
    check(rows == [["vda", disk], ["hdc", iso1], ["sdb", "-"]], "the defined disks: %r" % rows)
    env.ctl("start", "deb")
    env.wait_guest_booted("deb")
    head, rows = blklist(env, "deb", "--details")
    check(head == ["Type", "Device", "Target", "Source"], "--details columns: %r" % head)
    check(rows == [["file", "disk", "vda", disk], ["file", "cdrom", "hdc", iso1],
                   ["file", "cdrom", "sdb", "-"]], "--details rows: %r" % rows)
    check(medium(env, "deb", "hdc") == iso1, "QEMU has the ISO in hdc")
    check(block(env, "deb", "hdc")["inserted"]["ro"], "a cdrom is read-only")
    check(block(env, "deb", "sdb").get("inserted") is None, "sdb's tray is empty")
    qom = qmp(env, "deb", "qom-get", {"path": "/machine/peripheral/sdb", "property": "type"})
    check(qom == "ide-cd", "the empty tray is an ide-cd on AHCI: %r" % qom)

    _, out, _ = env.ctl("change-media", "deb", "hdc", "--eject")
    check(out.strip() == "Successfully ejected media.", out)
    check(medium(env, "deb", "hdc") is None, "QEMU's hdc is empty after the eject")
    check(blklist(env, "deb")[1][1] == ["hdc", "-"], "domblklist shows the empty tray")
    _, _, err = env.ctl("change-media", "deb", "hdc", "--eject", ok=False)
    check("doesn't have media" in err, "ejecting an empty tray: " + err)

    _, out, _ = env.ctl("change-media", "deb", "hdc", iso2, "--insert")
    check(out.strip() == "Successfully inserted media.", out)
    check(medium(env, "deb", "hdc") == iso2, "QEMU reads the inserted medium")
    _, _, err = env.ctl("change-media", "deb", "hdc", iso1, "--insert", ok=False)
    check("already has media" in err, "inserting into a full tray: " + err)
    # By source, as virsh allows, and the default action: update.
    _, out, _ = env.ctl("change-media", "deb", iso2, iso1)
    check(out.strip() == "Successfully updated media.", out)
    check(medium(env, "deb", "hdc") == iso1, "QEMU reads the updated medium")
    env.ctl("change-media", "deb", "sdb", iso2, "--insert")
    check(medium(env, "deb", "sdb") == iso2, "the SATA tray takes a medium")
    check(blklist(env, "deb")[1] == [["vda", disk], ["hdc", iso1], ["sdb", iso2]],
          "domblklist follows the live media")

    _, _, err = env.ctl("change-media", "deb", "vda", iso2, ok=False)
    check("not removable" in err, "a disk is not a cdrom: " + err)
    secret = raw_medium(env, "secret.iso", "SECRET", mode=0o600)
    _, _, err = env.ctl("change-media", "deb", "hdc", secret, ok=False)
    check("not readable by others" in err, "a medium the VM's uid cannot read: " + err)
    link = os.path.join(env.images, "link.iso")
    os.symlink(iso2, link)
    _, _, err = env.ctl("change-media", "deb", "hdc", link, ok=False)
    check("symlink" in err, "a symlink as the medium: " + err)
    check(medium(env, "deb", "hdc") == iso1, "refusals changed nothing")
    env.ctl("destroy", "deb")
    env.wait_state("deb", "shut off")
    # Live only: the definition keeps its media.
    check(blklist(env, "deb")[1] == [["vda", disk], ["hdc", iso1], ["sdb", "-"]],
          "the definition is unchanged after the VM stops")
    _, _, err = env.ctl("change-media", "deb", "hdc", "--eject", "--live", ok=False)
    check("not running" in err, "--live on a shut-off VM: " + err)
    st = os.stat(iso1)
    check(st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644,
          "a medium is never handed over: %o" % st.st_mode)
    media_in_the_definition(env, iso1, iso2)


def defined_media(env, name):
    """The persistent definition's XML, which the next start uses."""
    return env.ctl("dumpxml", name, "--inactive")[1]


def media_in_the_definition(env, iso1, iso2):
    """change-media --config / --current as virsh: a shut-off VM's
    definition by default; a running one's with --config, pending until it
    stops; both with --live --config; refusals change nothing."""
    domxml = os.path.join(env.state, "vms", "deb", "domain.xml")
    _, out, _ = env.ctl("change-media", "deb", "hdc", iso2)
    check(out.strip() == "Successfully updated media.", out)
    check(blklist(env, "deb")[1][1] == ["hdc", iso2], "the shut-off VM's definition changed")
    env.ctl("change-media", "deb", "sdb", iso1, "--insert", "--config")
    check(blklist(env, "deb")[1][2] == ["sdb", iso1], "--config inserts in the definition")
    _, _, err = env.ctl("change-media", "deb", "vda", iso1, "--config", ok=False)
    check("not removable" in err, "--config on a disk: " + err)
    _, _, err = env.ctl("change-media", "deb", "hdc", "--config", "--current", ok=False)
    check(err != "", "--current excludes --config: " + err)
    env.ctl("start", "deb")
    _, out, _ = env.ctl("change-media", "deb", "hdc", "--eject", "--config")
    check(out.strip() == "Successfully ejected media.", out)
    check(medium(env, "deb", "hdc") == iso2, "the running VM keeps its medium")
    check(env.info("deb")["pending_changes"] is True, "the change is pending")
    check("<source file='%s'/>" % iso2 not in defined_media(env, "deb"), "ejected in the definition")
    check("<source file='%s'/>" % iso2 in env.ctl("dumpxml", "deb")[1], "live XML unchanged")
    env.ctl("change-media", "deb", "sdb", iso2, "--live", "--config")
    check(medium(env, "deb", "sdb") == iso2, "--live --config: the running VM changed")
    check("<source file='%s'/>" % iso2 in defined_media(env, "deb"), "and the definition")
    before = open(domxml, "rb").read()
    secret = os.path.join(env.images, "secret.iso")
    link = os.path.join(env.images, "link.iso")
    for bad, want in [(secret, "not readable by others"), (link, "symlink"),
                      ("/nonexistent.iso", "does not exist")]:
        _, _, err = env.ctl("change-media", "deb", "hdc", bad, "--config", ok=False)
        check(want in err, "%s refused: %s" % (bad, err))
    _, _, err = env.ctl("change-media", "deb", "nodisk", iso1, "--config", ok=False)
    check("has no disk 'nodisk'" in err, err)
    check(open(domxml, "rb").read() == before, "the refusals changed nothing")
    env.ctl("destroy", "deb")
    env.wait_state("deb", "shut off")
    check(blklist(env, "deb")[1][1:] == [["hdc", "-"], ["sdb", iso2]],
          "the definition's media after the stop")


def windows_sata(env):
    """A Windows-style guest: system disk and installer on SATA with driver
    options and a serial, a data disk on USB, on pc and on q35."""
    env.start_broker()
    for machine in ("pc", "q35"):
        name = "win-" + machine
        disk = env.qcow2(name + ".qcow2", boot=True)
        data = env.qcow2(name + "-data.qcow2")
        iso = raw_medium(env, name + ".iso", "WIN")
        devices = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2' "
                   "cache='writeback' io='threads' discard='unmap' detect_zeroes='unmap'/>"
                   "<source file='%s'/><target dev='sda' bus='sata'/><serial>WIN-SYS-1</serial>"
                   "<boot order='1'/></disk>"
                   "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
                   "<source file='%s'/><target dev='sdb' bus='sata'/><boot order='2'/></disk>"
                   "<disk type='file' device='disk'><driver name='qemu' type='qcow2' "
                   "cache='unsafe'/><source file='%s'/><target dev='sdc' bus='usb'/></disk>"
                   % (disk, iso, data))
        env.ctl("define", write_xml(env, name, devices, machine=machine))
        _, out, _ = env.ctl("--json", "domblklist", name)
        buses = [d["bus"] for d in json.loads(out)]
        check(buses == ["sata", "sata", "usb"], "buses kept: %r" % buses)
        env.ctl("start", name)
        env.wait_guest_booted(name)
        sda = block(env, name, "sda")["inserted"]
        check(sda["file"] == disk and sda["detect_zeroes"] == "unmap", "sda: %r" % sda)
        check(sda["cache"] == {"writeback": True, "direct": False, "no-flush": False},
              "cache='writeback': %r" % sda["cache"])
        sdc = block(env, name, "sdc")["inserted"]
        check(sdc["cache"]["no-flush"], "cache='unsafe' is no-flush: %r" % sdc["cache"])
        serial = qmp(env, name, "qom-get", {"path": "/machine/peripheral/sda",
                                            "property": "serial"})
        check(serial == "WIN-SYS-1", "the disk's serial: %r" % serial)
        for dev, want in (("sda", "ide-hd"), ("sdb", "ide-cd"), ("sdc", "usb-storage")):
            got = qmp(env, name, "qom-get", {"path": "/machine/peripheral/" + dev,
                                             "property": "type"})
            check(got == want, "%s on %s is %s, not %s" % (dev, machine, got, want))
        check(medium(env, name, "sdb") == iso, "the installer is in sdb")
        env.ctl("destroy", name)
        env.wait_state(name, "shut off")


def losetup(env, size_mib=16):
    """A loop device over a file of the test with a boot sector; skipped
    when this host makes none.  Returns (node, file)."""
    if shutil.which("losetup") is None or os.geteuid() != 0:
        raise Skip("needs root and losetup to make a block device")
    backing = os.path.join(env.images, "loop-backing.raw")
    with open(backing, "wb") as f:
        f.write(boot_sector().ljust(size_mib * 1024 * 1024, b"\0"))
    p = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip("no loop device can be made here: " + p.stderr.strip())
    node = p.stdout.strip()
    env.loops = getattr(env, "loops", []) + [node]
    return node


def drop_loops(env):
    for node in getattr(env, "loops", []):
        try:
            os.chown(node, 0, 0)
            os.chmod(node, 0o600)
        except OSError:
            pass
        subprocess.run(["losetup", "-d", node], capture_output=True)


def user_block_device(env):
    """A non-admin user's VM on a loop device she owns: defined and started
    by her, handed to the VM's uid while it runs, given back at the stop."""
    try:
        node = losetup(env)
        user, uid, gid = env.add_user("blk")
        os.chown(node, uid, gid)
        os.chmod(node, 0o660)
        env.start_broker()
        devices = ("<disk type='block' device='disk'><driver name='qemu' type='raw' "
                   "cache='none' io='native'/><source dev='%s'/><target dev='vda'/></disk>"
                   % node)
        env.ctl("define", write_xml(env, "blk", devices), user=user)
        _, rows = blklist(env, "blk", "--details", user=user)
        check(rows == [["block", "disk", "vda", node]], "domblklist: %r" % rows)
        env.ctl("start", "blk", user=user)
        env.wait_guest_booted("blk")
        st = os.stat(node)
        qemu_uid = os.stat("/proc/%d" % env.info("blk")["qemu_pid"]).st_uid
        check(st.st_uid == qemu_uid and stat.S_IMODE(st.st_mode) == 0o600,
              "the device is the VM uid's while it runs: %d %o" % (st.st_uid, st.st_mode))
        ins = block(env, "blk", "vda")["inserted"]
        check(ins["file"] == node and ins["cache"]["direct"], "O_DIRECT on the device: %r" % ins)
        env.ctl("destroy", "blk", user=user)
        env.wait_state("blk", "shut off")
        st = os.stat(node)
        check((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, 0o660),
              "given back to its owner: %d:%d %o" % (st.st_uid, st.st_gid, st.st_mode))
        # udev resets a block device to root:disk when QEMU closes it: the
        # record settles, and the next start asks for the owner again.
        env.ctl("start", "blk", user=user)
        os.chown(node, 0, 6)
        env.ctl("destroy", "blk", user=user)
        env.wait_state("blk", "shut off")
        st = os.stat(node)
        check((st.st_uid, st.st_gid) == (0, 6), "root's node stays root's: %d" % st.st_uid)
        _, _, err = env.ctl("start", "blk", ok=False, user=user)
        check("is not a block device owned by uid %d" % uid in err, "start after udev: " + err)
    finally:
        env.stop_broker()
        drop_loops(env)


def bad_input(env):
    """Clear refusals, and nothing defined or changed."""
    try:
        node = losetup(env)
        user, uid, _ = env.add_user("bad")
        env.start_broker()
        before = os.stat(node)
        img = env.qcow2("bad.qcow2")
        os.chown(img, uid, -1)
        cases = [
            ("<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
             "<source dev='%s'/><target dev='vda'/></disk>" % node,
             "is not a block device owned by uid %d" % uid),
            ("<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
             "<target dev='vdb' bus='virtio'/></disk>",
             "a cdrom on bus='virtio' is not supported"),
            ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
             "<source file='%s'/><target dev='vda'/><shareable/></disk>" % img,
             "<shareable/> is not supported"),
            ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
             "<source protocol='nbd' name='x'><host name='10.0.0.1' port='10809'/></source>"
             "<target dev='vda'/></disk>",
             "type='network' is not supported"),
            ("<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
             "<source dev='%s'/><target dev='vda'/></disk>" % img,
             "is not a block device"),
        ]
        for i, (devices, want) in enumerate(cases):
            path = write_xml(env, "bad%d" % i, devices)
            _, _, err = env.ctl("define", path, ok=False, user=user)
            check(want in err, "case %d: %r not in %r" % (i, want, err))
        _, out, _ = env.ctl("list", "--all", "--name")
        check(out.strip() == "", "nothing defined: %r" % out)
        after = os.stat(node)
        check((after.st_uid, after.st_mode) == (before.st_uid, before.st_mode),
              "the device node is untouched")
        # change-media: another user's file, and another user's VM.
        mine = env.qcow2("mine.qcow2", boot=True)
        os.chown(mine, uid, -1)
        devices = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                   "<source file='%s'/><target dev='vda'/></disk>"
                   "<disk type='file' device='cdrom'><target dev='hdc'/></disk>" % mine)
        env.ctl("define", write_xml(env, "mine", devices), user=user)
        env.ctl("start", "mine", user=user)
        roots = raw_medium(env, "root.iso", "ROOT")
        roots_before = os.stat(roots)
        _, _, err = env.ctl("change-media", "mine", "hdc", roots, ok=False, user=user)
        check("is not a file owned by uid %d" % uid in err, "another's file: " + err)
        domxml = os.path.join(env.state, "vms", "mine", "domain.xml")
        defined = open(domxml, "rb").read()
        _, _, err = env.ctl("change-media", "mine", "hdc", roots, "--config", ok=False, user=user)
        check("is not a file owned by uid %d" % uid in err, "another's file, --config: " + err)
        check(open(domxml, "rb").read() == defined, "the definition is unchanged")
        # Straight to the supervisor, past the broker's check of the file.
        code = ("import json, socket, sys\n"
                "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
                "s.sendall(json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'vm.change_media',"
                " 'params': {'name': 'mine', 'disk': 'hdc', 'file': sys.argv[2]}}).encode()"
                " + b'\\n')\n"
                "print(s.makefile().readline())\n")
        p = env.run_as(user, ["python3", "-c", code, env.info("mine")["control_socket"], roots])
        check("reserved to root" in p.stdout, "the supervisor takes it from root only: " + p.stdout)
        check(medium(env, "mine", "hdc") is None, "nothing inserted")
        after = os.stat(roots)
        check((after.st_uid, after.st_mode, after.st_mtime) ==
              (roots_before.st_uid, roots_before.st_mode, roots_before.st_mtime),
              "the refused medium is untouched")
        other, _, _ = env.add_user("oth")
        _, _, err = env.ctl("change-media", "mine", "hdc", "--eject", ok=False, user=other)
        check("permission denied" in err and "'media' permission" in err, err)
        env.ctl("destroy", "mine", user=user)
    finally:
        env.stop_broker()
        drop_loops(env)


if __name__ == "__main__":
    sys.exit(run([virt_install_cdrom, windows_sata, user_block_device, bad_input]))
