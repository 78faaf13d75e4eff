#!/usr/bin/env python3
"""Showing and changing a VM: dumpxml in libvirt's shape is a fixed point of
define for each shape of domain XML in CORPUS; define over an existing VM
(same name and uuid) updates it, a running VM keeping its live definition
until it stops (dominfo says so, across a broker restart and a supervisor
crash); libvirt's refusals of a name or uuid that is another VM's; edit
driven by EDITOR scripts; --xpath; and the attacks: another user's define
over a VM that is not hers, a redefine onto a disk another running VM
holds."""
import hashlib
import json
import os
import pwd
import signal
import subprocess
import time

import guest
from corraltest import BUILD, Fail, Skip, check, run
from test_disks import drop_loops, losetup
from test_firmware import need_ovmf

# The first uuid is used where a test needs a fixed one.
UUID = "6a1f3c2e-9b7d-4e58-a0c1-2d3e4f5a6b7c"
OTHER_UUID = "0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b"


def write(env, name, text):
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def virt_install_debian(env, name):
    """What virt-install writes for a Debian 12 guest on q35 with its
    installer cdrom on SATA, elements corral ignores included."""
    disk = env.qcow2(name + ".qcow2", boot=True)
    iso = os.path.join(env.images, name + ".iso")
    with open(iso, "wb") as f:
        f.write(b"\0" * 65536)
    return ("""<domain type='kvm'>
  <name>%s</name>
  <uuid>%s</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <vmport state='off'/>
  </features>
  <cpu mode='host-passthrough' check='none' migratable='on'/>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/>
    <timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <pm>
    <suspend-to-mem enabled='no'/>
    <suspend-to-disk enabled='no'/>
  </pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='%s'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='user'>
      <mac address='52:54:00:5f:3a:10'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc'/>
    <video>
      <model type='virtio' heads='1' primary='yes'/>
    </video>
    <memballoon model='virtio'/>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
</domain>
""" % (name, OTHER_UUID, disk, iso))


def direct_kernel(env, name):
    """A direct-kernel-boot guest with two interfaces, a serial and a
    virtio console, VNC and a CPU model; no uuid (one is generated)."""
    kernel, initrd = guest.require()
    disk = env.qcow2(name + ".qcow2")
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>128</memory>"
            "<vcpu current='1'>2</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type><kernel>%s</kernel>"
            "<initrd>%s</initrd><cmdline>console=ttyS0 panic=-1 corral.httpd=8080</cmdline></os>"
            "<cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model>"
            "<topology sockets='1' dies='1' cores='2' threads='1'/></cpu>"
            "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='%s'/><target dev='vda'/><boot order='1'/></disk>"
            "<interface type='user'><model type='e1000'/><portForward proto='tcp'>"
            "<range start='18080' to='8080'/></portForward></interface>"
            "<interface type='user'><mac address='52:54:00:aa:bb:cc'/></interface>"
            "<serial type='pty'/><console type='pty'><target type='virtio'/></console>"
            "<graphics type='vnc'/></devices></domain>" % (name, kernel, initrd, disk))


def minimal(env, name):
    """The test domain of corraltest, with a fixed uuid."""
    return env.domain_xml(name, uuid=UUID)


def uefi_q35(env, name):
    """A UEFI guest on q35 as virt-install --boot uefi writes it: firmware
    chosen from QEMU's descriptors, NVRAM made from the template."""
    need_ovmf()
    disk = env.qcow2(name + ".qcow2")
    return ("""<domain type='qemu'>
  <name>%s</name>
  <memory unit='KiB'>131072</memory>
  <vcpu placement='static'>1</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/><smm state='on'/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='usb' model='qemu-xhci' ports='15'/>
    <interface type='user'><model type='virtio'/></interface>
    <console type='pty'/>
  </devices>
</domain>
""" % (name, disk))


def loop_block(env, name):
    """A guest on a block device the test user owns, a loop device over a
    raw file, defined by that user on a pc machine with a SATA cdrom."""
    node = losetup(env)
    user, uid, gid = env.add_user("fpb")
    os.chown(node, uid, gid)
    os.chmod(node, 0o660)
    env.corpus_user = user
    # Her console log: a file of hers, in a directory she may not write.
    log = os.path.join(env.dir, name + "-serial.log")
    open(log, "w").close()
    os.chown(log, uid, gid)
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
            "<disk type='block' device='disk'><driver name='qemu' type='raw' cache='none' "
            "io='native'/><source dev='%s'/><target dev='vda' bus='virtio'/>"
            "<boot order='1'/></disk>"
            "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/><readonly/></disk>"
            "<serial type='pty'><log file='%s/%s-serial.log' append='on'/></serial>"
            "</devices></domain>" % (name, node, env.dir, name))


# (shape, whether the test starts it).
CORPUS = [(virt_install_debian, False), (direct_kernel, False), (minimal, True), (uefi_q35, True),
          (loop_block, True)]


def dumpxml(env, name, *opts):
    return env.ctl("dumpxml", name, *opts)[1]


def fixed_point(env):
    skipped = []
    try:
        env.start_broker()
        for i, (shape, start) in enumerate(CORPUS):
            env.corpus_user = None
            try:
                one_fixed_point(env, "fp%d" % i, shape, start)
            except Skip as s:
                skipped.append("%s: %s" % (shape.__name__, s))
        order_as_libvirt(env)
    finally:
        env.stop_broker()
        drop_loops(env)
    if skipped:
        raise Skip("the other shapes passed; " + "; ".join(skipped))


def one_fixed_point(env, name, shape, start):
    """Defined, dumped, defined again from the dump, started: one text."""
    xml = shape(env, name)
    user = env.corpus_user
    env.ctl("define", write(env, name + ".xml", xml), user=user)
    first = env.ctl("dumpxml", name, user=user)[1]
    check(first.startswith("<domain type=") and "<?xml" not in first,
          "%s: virsh's shape: %r" % (shape.__name__, first[:60]))
    _, _, err2 = env.ctl("define", write(env, name + "-dump.xml", first), user=user)
    check(err2 == "", "%s: dumpxml's output defines without a warning: %r"
          % (shape.__name__, err2))
    second = env.ctl("dumpxml", name, user=user)[1]
    check(first == second, "%s: a fixed point:\n%s\n---\n%s" % (shape.__name__, first, second))
    check(env.ctl("dumpxml", name, "--inactive", user=user)[1] == first,
          "inactive = live while shut off")
    # Generated values are shown: uuid, MACs, the default serial port.
    check("<uuid>" in first and ("<serial type='pty'>" in first or
                                 "<target type='virtio' port='0'/>" in first), first)
    if "<interface" in first:
        check(first.count("<mac address='52:54:00:") == first.count("<interface"),
              "every interface shows its MAC: " + first)
    if not start:
        return
    env.ctl("start", name, user=user)
    check(env.ctl("dumpxml", name, user=user)[1] == first,
          "%s: the running VM's live XML is the same" % shape.__name__)
    _, _, err3 = env.ctl("define", write(env, name + "-live.xml", first), user=user)
    check(err3 == "" and not env.info(name)["pending_changes"],
          "%s: the live dump defined over the running VM changes nothing: %r"
          % (shape.__name__, err3))
    env.ctl("destroy", name, user=user)
    env.wait_state(name, "shut off")
    check(env.ctl("dumpxml", name, user=user)[1] == first, "the same after a run")


def order_as_libvirt(env):
    # Order as libvirt's: spot checks on the virt-install shape.
    x = dumpxml(env, "fp0")
    order = ["<name>", "<uuid>", "<memory unit='KiB'>", "<currentMemory unit='KiB'>",
             "<vcpu placement='static'>", "<os>", "<cpu", "<on_poweroff>", "<on_reboot>",
             "<on_crash>", "<devices>", "<emulator>", "<disk", "<interface", "<serial",
             "<console", "<graphics", "</devices>"]
    at = [x.find(t) for t in order]
    check(all(p >= 0 for p in at) and at == sorted(at), "libvirt's element order: " + x)


def xpath(env):
    env.start_broker()
    env.define("xp", uuid=UUID)
    _, out, _ = env.ctl("dumpxml", "xp", "--xpath", "/domain/name")
    check(out == "<name>xp</name>\n", "a node as virsh prints it: %r" % out)
    _, out, _ = env.ctl("dumpxml", "xp", "--xpath", "string(/domain/uuid)")
    check(out == UUID + "\n", "a string value: %r" % out)
    _, out, _ = env.ctl("dumpxml", "xp", "--xpath", "/domain/devices/disk/target", "--wrap")
    check(out.startswith("<nodes>") and out.count("<target dev=") == 2, out)
    _, _, err = env.ctl("dumpxml", "xp", "--xpath", "/domain[", ok=False)
    check("XPath expression '/domain[' is not valid XPath" in err, err)
    _, _, err = env.ctl("dumpxml", "xp", "--wrap", ok=False)
    check("xpath" in err, "--wrap needs --xpath: " + err)


def memory_kib(env, name):
    _, out, _ = env.ctl("qemu-monitor-command", name,
                        json.dumps({"execute": "query-memory-size-summary"}))
    return json.loads(out)["return"]["base-memory"] // 1024


def pending_until_restart(env):
    env.start_broker()
    xml = env.domain_xml("pend", uuid=UUID, memory_mib=64)
    env.ctl("define", write(env, "pend.xml", xml))
    env.ctl("snapshot-create-as", "pend", "s1")
    env.ctl("start", "pend")
    before = dumpxml(env, "pend")
    check(not env.info("pend")["pending_changes"], "nothing pending after a start")
    _, out, _ = env.ctl("define", write(env, "pend2.xml", xml.replace(
        "<memory unit='MiB'>64</memory>", "<memory unit='MiB'>96</memory>")))
    live, inactive = dumpxml(env, "pend"), dumpxml(env, "pend", "--inactive")
    check(live == before and "<memory unit='KiB'>65536</memory>" in live, "live unchanged: " + live)
    check("<memory unit='KiB'>98304</memory>" in inactive, "persistent changed: " + inactive)
    _, out, _ = env.ctl("dominfo", "pend")
    check("Persistent changes: pending" in out, "dominfo says a change is pending: " + out)
    check(env.info("pend")["pending_changes"] is True, "vm.info says so")
    check(memory_kib(env, "pend") == 65536, "QEMU runs with the old memory")
    # A broker restart keeps the split.
    env.stop_broker()
    env.start_broker()
    deadline = time.time() + 30
    while env.info("pend")["state"] != "running" and time.time() < deadline:
        time.sleep(0.1)
    check(env.info("pend")["pending_changes"] is True, "still pending after a broker restart")
    check(dumpxml(env, "pend") == before and dumpxml(env, "pend", "--inactive") == inactive,
          "both definitions kept across a broker restart")
    # A supervisor crash: the new one adopts QEMU with the live definition.
    i = env.info("pend")
    os.kill(i["supervisor_pid"], signal.SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline:
        rc, out, _ = env.ctl("--json", "dominfo", "pend", ok=None)
        j = json.loads(out) if rc == 0 else {}
        if j.get("supervisor_pid") not in (None, i["supervisor_pid"]) and \
                j.get("state") == "running" and "restarting" not in j.get("reason", ""):
            break
        time.sleep(0.1)
    else:
        raise Fail("no new supervisor")
    check(dumpxml(env, "pend") == before, "the re-adopting supervisor runs on the live definition")
    env.ctl("destroy", "pend")
    env.wait_state("pend", "shut off")
    _, out, _ = env.ctl("dominfo", "pend")
    check("Persistent changes" not in out, "nothing pending once stopped: " + out)
    check(dumpxml(env, "pend") == inactive, "the new definition is the VM's now")
    check(not os.path.exists(os.path.join(env.state, "vms", "pend", "domain-live.xml")),
          "the live record is gone")
    env.ctl("start", "pend")
    check(memory_kib(env, "pend") == 98304, "the next start uses the new definition")
    env.ctl("destroy", "pend")
    _, out, _ = env.ctl("snapshot-list", "pend", "--name")
    check(out.split() == ["s1"], "snapshot metadata kept across the redefine: %r" % out)


def name_and_uuid_conflicts(env):
    env.start_broker()
    env.define("one", uuid=UUID)
    env.define("two", uuid=OTHER_UUID)
    domxml = os.path.join(env.state, "vms", "one", "domain.xml")
    digest = hashlib.sha256(open(domxml, "rb").read()).hexdigest()
    x = env.domain_xml("one", uuid="11111111-2222-4333-8444-555555555555")
    _, _, err = env.ctl("define", write(env, "u.xml", x), ok=False)
    check("domain 'one' already exists with uuid %s" % UUID in err, err)
    x = env.domain_xml("one")
    _, _, err = env.ctl("define", write(env, "n.xml", x), ok=False)
    check("domain 'one' already exists with uuid" in err, "no uuid: one generated, refused: " + err)
    x = env.domain_xml("three", uuid=UUID)
    _, _, err = env.ctl("define", write(env, "t.xml", x), ok=False)
    check("domain 'one' is already defined with uuid %s" % UUID in err, err)
    check(hashlib.sha256(open(domxml, "rb").read()).hexdigest() == digest, "nothing changed")
    _, out, _ = env.ctl("list", "--all", "--name")
    check(sorted(out.split()) == ["one", "two"], out)


def editor_env(env, visual=None, editor=None):
    e = dict(env.env)
    e.pop("VISUAL", None)
    e.pop("EDITOR", None)
    if visual is not None:
        e["VISUAL"] = visual
    if editor is not None:
        e["EDITOR"] = editor
    return e


def edit(env, name, **kw):
    return subprocess.run([os.path.join(BUILD, "corralctl"), "edit", name], capture_output=True,
                          text=True, env=editor_env(env, **kw), stdin=subprocess.DEVNULL,
                          timeout=60)


def script(env, name, body):
    path = write(env, name, "#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def edit_with_scripts(env):
    env.start_broker()
    env.define("ed", uuid=UUID)
    domxml = os.path.join(env.state, "vms", "ed", "domain.xml")
    before = open(domxml, "rb").read()
    p = edit(env, "ed", editor=script(env, "noop.sh", "true"))
    check(p.returncode == 0 and p.stdout == "Domain 'ed' XML configuration not changed.\n",
          "unchanged: %r %r" % (p.stdout, p.stderr))
    bad = script(env, "bad.sh", "sed -i \"s|<vcpu placement='static'>1</vcpu>|<vcpu>0</vcpu>|\" \"$1\"")
    p = edit(env, "ed", editor=bad)
    check(p.returncode != 0 and "vcpu count must be at least 1" in p.stderr,
          "an invalid edit is refused: %r" % p.stderr)
    check("Try again" not in p.stdout, "no question without a terminal: %r" % p.stdout)
    check(open(domxml, "rb").read() == before, "the refused edit changed nothing")
    # VISUAL wins over EDITOR.
    sed = script(env, "mem.sh", "sed -i \"s|<memory unit='KiB'>65536</memory>|"
                 "<memory unit='KiB'>131072</memory>|\" \"$1\"")
    p = edit(env, "ed", visual=sed, editor=bad)
    check(p.returncode == 0 and p.stdout == "Domain 'ed' XML configuration edited.\n",
          "edited: %r %r" % (p.stdout, p.stderr))
    check("<memory unit='KiB'>131072</memory>" in dumpxml(env, "ed", "--inactive"), "took effect")
    p = edit(env, "ed", editor=script(env, "fail.sh", "exit 3"))
    check(p.returncode != 0 and "exit status 3" in p.stderr, "a failing editor: %r" % p.stderr)
    left = [f for f in os.listdir("/tmp") if f.startswith("corralctl-ed-")]
    check(left == [], "no temporary copy left: %r" % left)


def edit_on_a_terminal(env, name, editor, answers):
    """Runs edit with its standard input and output on a pty, answering
    each "Try again?" with the next of answers; returns (rc, output)."""
    master, slave = os.openpty()
    p = subprocess.Popen([os.path.join(BUILD, "corralctl"), "edit", name], stdin=slave,
                         stdout=slave, stderr=slave, env=editor_env(env, editor=editor))
    os.close(slave)
    con = guest.Console(os.fdopen(master, "rb", buffering=0))
    for a in answers:
        con.expect(rb"Try again\? \[y,n,i,f,\?\]: ", 30, "the question")
        os.write(master, a.encode() + b"\n")
    rc = p.wait(60)
    while not con.eof:
        con._read(1)
    return rc, con.data.decode(errors="replace")


def edit_loop_on_a_terminal(env):
    env.start_broker()
    env.define("tty", uuid=UUID)
    domxml = os.path.join(env.state, "vms", "tty", "domain.xml")
    before = open(domxml, "rb").read()
    mark = os.path.join(env.dir, "edited-once")
    # First run: an invalid edit; the next one repairs it as a user would.
    ed = script(env, "twice.sh",
                "if [ -e %s ]; then sed -i 's|<vcpu>0</vcpu>|<vcpu>2</vcpu>|' \"$1\"; else "
                "touch %s; sed -i \"s|<vcpu placement='static'>1</vcpu>|<vcpu>0</vcpu>|\" \"$1\"; fi"
                % (mark, mark))
    rc, out = edit_on_a_terminal(env, "tty", ed, ["?", "i", "y"])
    check(rc == 0 and "vcpu count must be at least 1" in out and "y - yes" in out and
          "cannot skip validation" in out and "Domain 'tty' XML configuration edited." in out,
          "y re-opens the editor on the edited text: rc %d %r" % (rc, out))
    check("<vcpu placement='static'>2</vcpu>" in dumpxml(env, "tty", "--inactive"), "took effect")
    after_y = open(domxml, "rb").read()
    check(after_y != before, "changed")
    bad = script(env, "bad2.sh",
                 "sed -i \"s|<vcpu placement='static'>2</vcpu>|<vcpu>0</vcpu>|\" \"$1\"")
    rc, out = edit_on_a_terminal(env, "tty", bad, ["n"])
    check(rc != 0 and "Domain 'tty' XML configuration edited." not in out,
          "n throws the edit away: rc %d %r" % (rc, out))
    check(open(domxml, "rb").read() == after_y, "nothing changed after n")


def user_disk(env, uid, gid, name, boot=True):
    home = os.path.join(env.dir, "home-%d" % uid)
    if not os.path.exists(home):
        os.makedirs(home)
        os.chown(home, uid, gid)
        os.chmod(home, 0o755)
    dst = os.path.join(home, name)
    os.rename(env.qcow2(name, boot=boot), dst)
    os.chown(dst, uid, gid)
    return dst


def redefine_attacks(env):
    alice, auid, agid = env.add_user("dxa")
    bob, buid, bgid = env.add_user("dxb")
    env.start_broker()
    a_disk = user_disk(env, auid, agid, "a.qcow2")
    b_disk = user_disk(env, buid, bgid, "b.qcow2")
    ax = env.domain_xml("avm", uuid=UUID, disks=[(a_disk, "vda")])
    bx = env.domain_xml("bvm", uuid=OTHER_UUID, disks=[(b_disk, "vda")])
    env.ctl("define", write(env, "a.xml", ax), user=alice)
    env.ctl("define", write(env, "b.xml", bx), user=bob)
    env.ctl("start", "avm", user=alice)
    env.ctl("start", "bvm", user=bob)
    domxml = os.path.join(env.state, "vms", "avm", "domain.xml")
    before = open(domxml, "rb").read()
    decoy = os.stat(b_disk)
    # Alice redefines her running VM on the disk it holds (now the VM uid's).
    env.ctl("define", write(env, "a2.xml", ax.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")),
            user=alice)
    check(env.info("avm")["pending_changes"] is True, "her change is pending")
    # Attack: Bob defines over Alice's VM (her name and uuid).
    _, _, err = env.ctl("define", write(env, "b-over.xml", env.domain_xml(
        "avm", uuid=UUID, disks=[(user_disk(env, buid, bgid, "b2.qcow2"), "vda")])),
        ok=False, user=bob)
    check("another user" in err and UUID not in err, "refused, saying nothing of hers: " + err)
    _, _, err = env.ctl("define", write(env, "b-name.xml", env.domain_xml(
        "avm", disks=[(user_disk(env, buid, bgid, "b3.qcow2"), "vda")])), ok=False, user=bob)
    check("another user" in err and UUID not in err, "her name too: " + err)
    # Attack: Alice redefines her VM onto the disk Bob's running VM holds.
    _, _, err = env.ctl("define", write(env, "a-steal.xml", env.domain_xml(
        "avm", uuid=UUID, disks=[(b_disk, "vda")])), ok=False, user=alice)
    check("not a file owned by uid %d" % auid in err, "another VM's disk refused: " + err)
    after = os.stat(b_disk)
    check((after.st_uid, after.st_mode, after.st_ino) == (decoy.st_uid, decoy.st_mode, decoy.st_ino),
          "Bob's disk untouched")
    check("<vcpu placement='static'>2</vcpu>" in open(domxml).read() and
          open(domxml, "rb").read() != before, "Alice's own change is what domain.xml holds")
    check(dumpxml(env, "avm").count("<vcpu placement='static'>1</vcpu>") == 1,
          "her VM runs on as it was")
    _, _, err = env.ctl("dumpxml", "avm", ok=False, user=bob)
    check("permission denied" in err, "Bob cannot read her XML: " + err)
    env.ctl("destroy", "avm", user=alice)
    env.ctl("destroy", "bvm", user=bob)


if __name__ == "__main__":
    run([fixed_point, xpath, pending_until_restart, name_and_uuid_conflicts, edit_with_scripts,
         edit_loop_on_a_terminal, redefine_attacks])
