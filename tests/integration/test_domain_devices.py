#!/usr/bin/env python3
"""The domain XML of a usable machine, through the real broker, supervisor
and QEMU: the VNC display on its Unix socket (RFB handshake, domdisplay,
who may connect), listeners beyond loopback kept for admins, the rules on a
direct-boot kernel and initrd, a guest booted from them that sees the CPU
model and the vCPUs asked for in its /proc/cpuinfo, and MACs generated once
and kept."""
import os
import socket
import stat

import guest
from corraltest import Fail, check, run
from test_console import Term

RFB_PROBE = ("import socket,sys\n"
             "s=socket.socket(socket.AF_UNIX)\n"
             "s.settimeout(20)\n"
             "s.connect(sys.argv[1])\n"
             "sys.stdout.write(s.recv(12).decode())\n")


def rfb_banner(env, path, user=None):
    """What the VNC server says first, read by user (None: root)."""
    if user is None:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        try:
            s.connect(path)
            return s.recv(12).decode()
        finally:
            s.close()
    p = env.run_as(user, ["python3", "-c", RFB_PROBE, path], ok=False)
    return p.stdout if p.returncode == 0 else "refused: " + p.stderr.strip().splitlines()[-1]


def user_images(env, uid, gid, name):
    """A boot-sector disk owned by the user, in a directory of hers."""
    home = os.path.join(env.dir, name + "-home")
    os.makedirs(home)
    os.chown(home, uid, gid)
    os.chmod(home, 0o755)
    disk = env.qcow2(name + ".qcow2", boot=True)
    dst = os.path.join(home, name + ".qcow2")
    os.rename(disk, dst)
    os.chown(dst, uid, gid)
    return home, dst


def write_xml(env, name, xml):
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    os.chmod(path, 0o644)
    return path


def vnc_on_a_unix_socket(env):
    alice, auid, agid = env.add_user("vnca")
    bob, _, _ = env.add_user("vncb")
    env.start_broker()
    _, disk = user_images(env, auid, agid, "gfx")
    xml = env.domain_xml("gfx", disks=[(disk, "vda")], extra="<graphics type='vnc'/>")
    env.ctl("define", write_xml(env, "gfx", xml), user=alice)
    env.ctl("start", "gfx", user=alice)
    _, out, _ = env.ctl("domdisplay", "gfx", user=alice)
    uri = out.strip()
    check(uri.startswith("vnc+unix:///") and uri.endswith("/vnc.sock"), "domdisplay: " + uri)
    path = uri[len("vnc+unix://"):]
    check(stat.S_ISSOCK(os.stat(path).st_mode), path + " is a socket")
    check(rfb_banner(env, path) == "RFB 003.008\n", "root gets the RFB handshake")
    got = rfb_banner(env, path, alice)
    check(got == "RFB 003.008\n", "the owner gets the RFB handshake: " + got)
    got = rfb_banner(env, path, bob)
    check(got.startswith("refused"), "another user does not reach the display: " + got)
    # No TCP listener came with it.
    with open("/proc/net/tcp") as f:
        ports = {int(line.split()[1].split(":")[1], 16) for line in f.readlines()[1:]
                 if line.split()[3] == "0A"}
    check(not any(5900 <= p < 6000 for p in ports), "no VNC TCP port: %s" % sorted(ports))
    env.ctl("destroy", "gfx", user=alice)
    env.wait_state("gfx", "shut off")
    _, _, err = env.ctl("domdisplay", "gfx", ok=False, user=alice)
    check("not running" in err, err)
    rc, _, err = env.ctl("domdisplay", "nosuch", ok=False)
    check("nosuch" in err, err)


def listeners_beyond_loopback_are_for_admins(env):
    alice, auid, agid = env.add_user("lsna")
    env.start_broker()
    _, disk = user_images(env, auid, agid, "lsn")
    for name, extra, what in [
        ("lsn1", "<graphics type='vnc' listen='0.0.0.0' port='5999'/>", "VNC on 0.0.0.0"),
        ("lsn2", "<interface type='user'><portForward proto='tcp' address='0.0.0.0'>"
                 "<range start='18080' to='80'/></portForward></interface>", "forward on 0.0.0.0"),
    ]:
        xml = env.domain_xml(name, disks=[(disk, "vda")], extra=extra)
        _, _, err = env.ctl("define", write_xml(env, name, xml), ok=False, user=alice)
        check("permission denied" in err, what + ": " + err)
    _, out, _ = env.ctl("list", "--all", "--name", user=alice)
    check(out.strip() == "", "nothing was defined: " + out)
    # Root may (not started: the port is the host's).
    xml = env.domain_xml("lsn3", disks=[(disk, "vda")],
                         extra="<graphics type='vnc' listen='127.0.0.1' port='5999'/>")
    env.ctl("define", write_xml(env, "lsn3", xml))
    check(env.info("lsn3")["graphics"] == {"type": "vnc", "listen": "127.0.0.1", "port": 5999},
          str(env.info("lsn3").get("graphics")))


def kernel_rules_and_a_booted_guest(env):
    alice, auid, agid = env.add_user("kera")
    env.start_broker()
    home, _ = user_images(env, auid, agid, "ker")
    kernel, initrd = guest.copy_to(home, auid, agid)
    # The built guest is root's: Alice may not boot it.
    xml = ("<domain type='qemu'><name>ker</name><memory unit='MiB'>%d</memory><vcpu>2</vcpu>"
           "%s<cpu mode='custom' match='exact'><model>Westmere</model>"
           "<topology sockets='1' dies='1' cores='2' threads='1'/></cpu>"
           "<devices></devices></domain>")
    root_os = guest.os_xml(machine="pc")
    _, _, err = env.ctl("define", write_xml(env, "ker", xml % (guest.MEMORY_MIB, root_os)),
                        ok=False, user=alice)
    check("permission denied" in err and "kernel" in err, err)
    own_os = guest.os_xml(kernel=kernel, initrd=initrd, machine="pc")
    env.ctl("define", write_xml(env, "ker", xml % (guest.MEMORY_MIB, own_os)), user=alice)
    # Hers, but the VM's uid cannot read it: a clear error at start.
    os.chmod(kernel, 0o600)
    _, _, err = env.ctl("start", "ker", ok=False, user=alice)
    check("kernel" in err and "cannot be read by the VM's uid" in err, err)
    os.chmod(kernel, 0o644)
    env.ctl("start", "ker", user=alice)
    info = env.info("ker")
    check(info["cpu"]["model"] == "Westmere" and info["vcpus"] == 2, str(info["cpu"]))
    check(info["boot"]["kernel"] == kernel, str(info["boot"]))
    _, out, _ = env.ctl("dominfo", "ker", user=alice)
    check(any(line.split(":", 1)[0] == "CPU model" and line.split(":", 1)[1].strip() ==
              "Westmere" for line in out.splitlines()), out)
    # QEMU was given the model and the kernel.
    with open("/proc/%d/cmdline" % info["qemu_pid"], "rb") as f:
        argv = f.read().split(b"\0")
    check(b"Westmere" in argv[argv.index(b"-cpu") + 1], str(argv))
    check(kernel.encode() in argv, "QEMU boots Alice's kernel")
    # The guest itself sees the model asked for.
    t = Term(env, "ker", user=alice)
    try:
        t.attached("ker")
        t.wait_raw()
        t.expect(guest.PROMPT, what="the shell prompt")
        t.command('grep -m1 "model name" /proc/cpuinfo', rb"model name\s*:[^\r\n]*Westmere")
        t.command("grep -c ^processor /proc/cpuinfo", rb"(?m)^2\r?$")
        t.detach()
    finally:
        t.close()
    env.ctl("destroy", "ker", user=alice)
    env.wait_state("ker", "shut off")


def macs_generated_once(env):
    env.start_broker()
    extra = ("<interface type='user'><model type='virtio'/></interface>"
             "<interface type='user'><mac address='52:54:00:12:34:56'/></interface>")
    env.define("mac", extra=extra)
    nics = env.info("mac")["interfaces"]
    mac = nics[0]["mac"]
    check(mac.startswith("52:54:00:") and len(mac) == 17, mac)
    check(nics[1]["mac"] == "52:54:00:12:34:56" and nics[1]["model"] == "rtl8139", str(nics))
    env.ctl("start", "mac")
    with open("/proc/%d/cmdline" % env.info("mac")["qemu_pid"], "rb") as f:
        cmdline = f.read()
    check(b"virtio-net-pci" in cmdline and mac.encode() in cmdline, cmdline.decode(errors="replace"))
    env.ctl("destroy", "mac")
    env.wait_state("mac", "shut off")
    env.stop_broker()
    env.start_broker()
    check(env.info("mac")["interfaces"][0]["mac"] == mac, "the MAC survives a broker restart")
    for name, nic, needle in [
        ("bad1", "<interface type='user'><mac address='01:00:5e:00:00:01'/></interface>",
         "multicast"),
        ("bad2", "<interface type='user'><model type='ne2k_isa'/></interface>", "ne2k_isa"),
        ("bad3", "<interface type='direct'><source dev='eth0'/></interface>", "direct"),
        ("bad4", "<interface type='bridge'><source bridge='br0,x'/></interface>", "br0,x"),
    ]:
        path = write_xml(env, name, env.domain_xml(name, extra=nic))
        _, _, err = env.ctl("define", path, ok=False)
        check(needle in err, "%s: %s" % (name, err))
        check(name not in env.ctl("list", "--all", "--name")[1].split(), name + " not defined")


if __name__ == "__main__":
    run([vnc_on_a_unix_socket, listeners_beyond_loopback_are_for_admins,
         kernel_rules_and_a_booted_guest, macs_generated_once])
