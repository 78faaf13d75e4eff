"""Networks under corral, with the real Linux guest (direct kernel boot) on
real QEMU: user-mode networking with a forwarded port, and bridged taps the
broker makes in a network namespace the test creates (never one of the
host's own interfaces), handed to QEMU as descriptors; what domiflist and
domifaddr say; what a user who is not an admin may not do."""

import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

import guest
from corraltest import DEFAULT_EMULATOR, Fail, Skip, check, run

BRIDGE = "br0"
NS_ADDR = "192.168.77.1"
GUEST_ADDR = "192.168.77.2"


def wait_for(cond, timeout, what):
    """Polls cond until it returns something true; returns it, or raises
    Fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise Fail("%s: not within %d s" % (what, timeout))
        time.sleep(0.1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def need_guest():
    if not os.path.exists(DEFAULT_EMULATOR):
        raise Skip("no " + DEFAULT_EMULATOR)
    guest.require()


def guest_xml(env, name, interfaces, cmdline, owner=None):
    """A domain that boots the test guest directly, with no disk; the
    kernel and initrd are copies owned by owner (uid, gid) when given."""
    d = os.path.join(env.dir, "boot-" + name)
    os.makedirs(d)
    os.chmod(d, 0o755)
    kernel, initrd = guest.copy_to(d, *(owner or (None, None)))
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>%d</memory><vcpu>1</vcpu>"
            "%s<devices>%s</devices></domain>"
            % (name, guest.MEMORY_MIB, guest.os_xml(kernel, initrd, guest.CMDLINE + " " + cmdline),
               interfaces))


def define(env, name, xml, user=None, ok=True):
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    os.chmod(path, 0o644)
    return env.ctl("define", path, user=user, ok=ok)


def caps(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                out[k] = int(v.strip(), 16)
    return out


def tun_fds(pid):
    """The descriptors of pid open on /dev/net/tun."""
    d = "/proc/%d/fd" % pid
    out = []
    for fd in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, fd)) == "/dev/net/tun":
                out.append(int(fd))
        except OSError:
            pass
    return out


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise Fail("no Uid line for pid %d" % pid)


TUNSETPERSIST = 0x400454cb
TUNSETOWNER = 0x400454cc
SYS_pidfd_getfd = 438


def make_tap_persistent(pid):
    """What a compromised QEMU can do with its tap's descriptor, as its own
    uid and without any capability: make the tap persistent and its own, so
    that it outlives QEMU (and could be attached to again by that uid).
    The test takes QEMU's descriptor (pidfd_getfd, as root), then acts with
    it as QEMU's uid."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid = uid_of(pid)
    pidfd = os.pidfd_open(pid)
    fd = libc.syscall(SYS_pidfd_getfd, pidfd, tun_fds(pid)[0], 0)
    os.close(pidfd)
    if fd < 0:
        raise Fail("pidfd_getfd: %s" % os.strerror(ctypes.get_errno()))
    child = os.fork()
    if child == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
            fcntl.ioctl(fd, TUNSETOWNER, uid)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    os.close(fd)
    check(status == 0, "the VM's uid could not make its tap persistent")


def links(env, ns):
    """{name: link} of the namespace's interfaces, from `ip -j link`."""
    p = env.in_netns(ns, ["ip", "-j", "link", "show"])
    return {l["ifname"]: l for l in json.loads(p.stdout)}


def pings(env, ns, addr):
    return env.in_netns(ns, ["busybox", "ping", "-c", "1", "-W", "1", addr], ok=False).returncode == 0


def iflist(env, name, user=None):
    _, out, _ = env.ctl("--json", "domiflist", name, user=user)
    return json.loads(out)["interfaces"]


def taps_of(env, ns):
    return sorted(n for n in links(env, ns) if n.startswith("corral"))


def user_network(env):
    """The guest takes 10.0.2.15 on QEMU's user network, reaches a server on
    the host's loopback as 10.0.2.2, and serves a port forwarded from the
    host's loopback."""
    need_guest()
    env.start_broker()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    fwd = free_port()
    nic = ("<interface type='user'><model type='e1000'/><portForward proto='tcp'>"
           "<range start='%d' to='8080'/></portForward></interface>" % fwd)
    define(env, "un", guest_xml(env, "un", nic, "corral.httpd=8080 corral.report=10.0.2.2:%d"
                                % port))
    env.ctl("start", "un")

    srv.settimeout(guest.BOOT_TIMEOUT)
    try:
        peer, _ = srv.accept()
    except socket.timeout:
        raise Fail("the guest did not connect to the host's 127.0.0.1:%d (as 10.0.2.2:%d)"
                   % (port, port))
    peer.settimeout(30)
    got = b""
    while True:
        chunk = peer.recv(4096)
        if not chunk:
            break
        got += chunk
    peer.close()
    srv.close()
    check(b"eth0" in got and b"inet 10.0.2.15/24" in got,
          "the guest reported %r, not 10.0.2.15/24 on eth0" % got)

    # QEMU accepts on the forwarded port before the guest does: retry
    # until the page comes back whole.
    def page():
        try:
            with socket.create_connection(("127.0.0.1", fwd), timeout=10) as c:
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        return b"corral-guest httpd" in data
                    data += chunk
        except OSError:
            return False
    wait_for(page, 60, "the guest's page through 127.0.0.1:%d" % fwd)

    rows = iflist(env, "un")
    check(len(rows) == 1 and rows[0]["type"] == "user" and rows[0]["interface"] is None and
          rows[0]["model"] == "e1000" and rows[0]["mac"].startswith("52:54:00:"),
          "domiflist: %r" % rows)
    _, out, _ = env.ctl("domiflist", "un")
    check(" -   " in out and "user" in out and rows[0]["mac"] in out, "domiflist:\n" + out)
    _, out, _ = env.ctl("domifaddr", "un")
    check("10.0.2.15/24" in out and rows[0]["mac"] in out, "domifaddr:\n" + out)
    _, _, err = env.ctl("domifaddr", "un", "--source", "agent", ok=False)
    check("guest agent" in err, "domifaddr --source agent: " + err)
    env.ctl("destroy", "un")
    _, _, err = env.ctl("domifaddr", "un", ok=False)
    check("not running" in err, "domifaddr of a shut-off VM: " + err)


def bridge_env(env, allowed=True):
    """A namespace with bridge br0 at 192.168.77.1/24, and a broker in it
    that lets users' VMs join br0 (when allowed)."""
    ns = env.add_netns("net")
    env.in_netns(ns, ["ip", "link", "add", BRIDGE, "type", "bridge"])
    env.in_netns(ns, ["ip", "addr", "add", NS_ADDR + "/24", "dev", BRIDGE])
    env.in_netns(ns, ["ip", "link", "set", BRIDGE, "up"])
    env.netns = ns
    if allowed:
        env.broker_args += ["--bridge", BRIDGE]
    env.start_broker()
    return ns


def bridged(env):
    """A user's guest on a tap the broker made on br0 answers ping from the
    namespace; neither supervisor nor QEMU holds a capability or more than
    its tap; the tap survives a supervisor's and the broker's death (QEMU
    holds it), and goes when QEMU is killed and when the VM is destroyed."""
    need_guest()
    ns = bridge_env(env)
    user, uid, gid = env.add_user("net")
    nic = "<interface type='bridge'><source bridge='%s'/><model type='virtio'/></interface>" \
        % BRIDGE
    define(env, "bn", guest_xml(env, "bn", nic, "corral.ip=%s/24" % GUEST_ADDR, (uid, gid)),
           user=user)
    check(taps_of(env, ns) == [], "taps before the start: %r" % taps_of(env, ns))
    env.ctl("start", "bn", user=user)

    taps = taps_of(env, ns)
    check(len(taps) == 1, "taps after the start: %r" % taps)
    tap = taps[0]
    link = links(env, ns)[tap]
    check(link.get("master") == BRIDGE and "UP" in link["flags"],
          "tap %s is not up on %s: %r" % (tap, BRIDGE, link))
    # QEMU probes the header on the descriptor: the broker sets it for
    # virtio, as libvirt does.
    check("vnet_hdr on" in env.in_netns(ns, ["ip", "-d", "link", "show", tap]).stdout,
          "tap %s of a virtio NIC has no virtio-net header" % tap)
    index = link["ifindex"]
    wait_for(lambda: pings(env, ns, GUEST_ADDR), guest.BOOT_TIMEOUT,
             "the guest answering ping at %s from the namespace" % GUEST_ADDR)

    rows = iflist(env, "bn", user=user)
    check(len(rows) == 1 and rows[0]["interface"] == tap and rows[0]["type"] == "bridge" and
          rows[0]["source"] == BRIDGE and rows[0]["model"] == "virtio", "domiflist: %r" % rows)
    mac = rows[0]["mac"]
    _, out, _ = env.ctl("domiflist", "bn", user=user)
    check(tap in out and BRIDGE in out and mac in out, "domiflist:\n" + out)
    _, out, _ = env.ctl("domifaddr", "bn", "--source", "arp", user=user)
    check(tap in out and mac in out and GUEST_ADDR + "/0" in out, "domifaddr --source arp:\n" + out)

    info = env.info("bn")
    sup, qemu = info["supervisor_pid"], info["qemu_pid"]
    for pid, who in ((sup, "supervisor"), (qemu, "QEMU")):
        c = caps(pid)
        check(c["CapEff"] == 0 and c["CapPrm"] == 0 and c["CapAmb"] == 0,
              "the %s holds capabilities: %r" % (who, c))
    check(len(tun_fds(qemu)) == 1, "QEMU holds tun descriptors %r" % tun_fds(qemu))
    check(tun_fds(sup) == [], "the supervisor still holds its taps: %r" % tun_fds(sup))
    check(tun_fds(env.broker.pid) == [], "the broker still holds the tap")

    # The supervisor dies: QEMU keeps its tap, and its new supervisor needs none.
    os.kill(sup, signal.SIGKILL)
    def readopted():
        # While the supervisor is being replaced a request may fail.
        rc, out, _ = env.ctl("--json", "dominfo", "bn", ok=None)
        i = json.loads(out) if rc == 0 else {}
        return i if i.get("supervisor_pid") not in (None, sup) and i.get("state") == "running" \
            else None
    info = wait_for(readopted, 60, "a new supervisor re-adopting QEMU")
    check(info["qemu_pid"] == qemu, "QEMU changed: %r" % info)
    check(tun_fds(info["supervisor_pid"]) == [], "the new supervisor holds a tap")
    check(taps_of(env, ns) == [tap] and links(env, ns)[tap]["ifindex"] == index,
          "the tap changed across the supervisor's restart: %r" % taps_of(env, ns))
    check(pings(env, ns, GUEST_ADDR) or wait_for(lambda: pings(env, ns, GUEST_ADDR), 30, "ping"),
          "ping after the supervisor's restart")

    # The broker dies and comes back: it learns the tap from QEMU's fds.
    env.stop_broker(signal.SIGKILL)
    check(taps_of(env, ns) == [tap], "the tap went with the broker")
    env.start_broker()
    wait_for(lambda: iflist(env, "bn", user=user)[0]["interface"] == tap, 60,
             "domiflist naming %s after the broker's restart" % tap)

    # QEMU is killed: the kernel removes the tap with its last descriptor.
    os.kill(qemu, signal.SIGKILL)
    wait_for(lambda: tap not in links(env, ns), 30, "tap %s gone after QEMU's SIGKILL" % tap)
    env.wait_state("bn", "crashed")
    check(iflist(env, "bn", user=user)[0]["interface"] is None, "domiflist of a crashed VM")

    # Started again; QEMU makes its tap persistent and dies while the
    # broker is away: the tap outlives it, and the broker deletes it when it
    # comes back.
    env.ctl("start", "bn", user=user)
    taps = taps_of(env, ns)
    check(len(taps) == 1, "taps after the second start: %r" % taps)
    qemu = env.info("bn")["qemu_pid"]
    make_tap_persistent(qemu)
    env.stop_broker(signal.SIGKILL)
    os.kill(qemu, signal.SIGKILL)
    wait_for(lambda: not os.path.exists("/proc/%d" % qemu), 30, "QEMU gone")
    check("persist on" in env.in_netns(ns, ["ip", "-d", "link", "show", taps[0]]).stdout,
          "the tap did not outlive QEMU: the attack was not replayed")
    env.start_broker()
    wait_for(lambda: taps_of(env, ns) == [], 30,
             "persistent tap %s deleted by the restarted broker" % taps[0])
    # The broker logs after the kernel has removed the link, so the tap can be
    # seen gone a moment before the line is written.
    wait_for(lambda: "outlived QEMU" in env.log_tail(), 30,
             "the broker saying it deleted the tap")

    # Once more, destroyed: the tap goes, persistent or not.
    env.ctl("start", "bn", user=user)
    taps = taps_of(env, ns)
    check(len(taps) == 1, "taps after the third start: %r" % taps)
    make_tap_persistent(env.info("bn")["qemu_pid"])
    env.ctl("destroy", "bn", user=user)
    wait_for(lambda: taps_of(env, ns) == [], 30, "tap %s gone after destroy" % taps[0])
    check(sorted(links(env, ns)) == [BRIDGE, "lo"],
          "the namespace's interfaces changed: %r" % sorted(links(env, ns)))


def refused(env):
    """What is refused, with a clear error, changing nothing: a non-admin on
    a bridge off the --bridge list or naming her tap; a bridge that does not
    exist, a tap name that exists (at start); a multicast MAC and an unknown
    model (at define)."""
    need_guest()
    ns = bridge_env(env)
    env.in_netns(ns, ["ip", "link", "add", "br1", "type", "bridge"])
    user, uid, gid = env.add_user("net")

    def nic(source, extra=""):
        return "<interface type='bridge'><source bridge='%s'/>%s</interface>" % (source, extra)

    _, _, err = define(env, "r1", guest_xml(env, "r1", nic("br1"), "", (uid, gid)), user=user,
                       ok=False)
    check("permission denied" in err and "br1" in err and "--bridge" in err,
          "a non-admin on br1: " + err)
    _, _, err = define(env, "r2", guest_xml(env, "r2", nic(BRIDGE, "<target dev='eth9'/>"), "",
                                            (uid, gid)), user=user, ok=False)
    check("permission denied" in err and "eth9" in err, "a non-admin naming her tap: " + err)
    _, _, err = define(env, "r3", guest_xml(env, "r3", nic(BRIDGE, "<mac address='01:00:5e:00:00:01'/>"),
                                            "", (uid, gid)), user=user, ok=False)
    check("multicast" in err, "a multicast MAC: " + err)
    _, _, err = define(env, "r4", guest_xml(env, "r4", nic(BRIDGE, "<model type='ne2k_pci'/>"), "",
                                            (uid, gid)), user=user, ok=False)
    check("ne2k_pci" in err and "model" in err, "an unknown model: " + err)
    _, out, _ = env.ctl("list", "--all", "--name")
    check(out.strip() == "", "refused definitions left VMs: %r" % out)

    # A user's VM on br0, allowed at define, refused at start once the
    # broker no longer lists br0.
    define(env, "r5", guest_xml(env, "r5", nic(BRIDGE), "", (uid, gid)), user=user)
    env.stop_broker()
    env.broker_args.remove("--bridge")
    env.broker_args.remove(BRIDGE)
    env.start_broker()
    _, _, err = env.ctl("start", "r5", user=user, ok=False)
    check("permission denied" in err and BRIDGE in err, "start off the list: " + err)

    # Admins may use any bridge, but not one that does not exist, nor a tap
    # name that is taken.
    define(env, "r6", guest_xml(env, "r6", nic("nosuchbr0"), ""))
    _, _, err = env.ctl("start", "r6", ok=False)
    check("no network interface named nosuchbr0" in err, "a missing bridge: " + err)
    define(env, "r7", guest_xml(env, "r7", "<interface type='ethernet'><target dev='%s'/>"
                                "</interface>" % BRIDGE, ""))
    _, _, err = env.ctl("start", "r7", ok=False)
    check("named %s exists already" % BRIDGE in err, "a taken tap name: " + err)
    define(env, "r8", guest_xml(env, "r8", "<interface type='ethernet'><target dev='lo'/>"
                                "</interface>", ""))
    _, _, err = env.ctl("start", "r8", ok=False)
    check("named lo exists already" in err, "lo as a tap name: " + err)
    define(env, "r9", guest_xml(env, "r9", nic("lo"), ""))
    _, _, err = env.ctl("start", "r9", ok=False)
    check("lo is not a bridge" in err, "lo as a bridge: " + err)
    for name in ("r5", "r6", "r7", "r8", "r9"):
        _, out, _ = env.ctl("domstate", name)
        check(out.strip() == "shut off", "VM %s after a refused start: %r" % (name, out))
    check(taps_of(env, ns) == [], "refused starts left taps: %r" % taps_of(env, ns))
    check(sorted(links(env, ns)) == ["br0", "br1", "lo"],
          "the namespace's interfaces changed: %r" % sorted(links(env, ns)))


if __name__ == "__main__":
    tests = [user_network, bridged, refused]
    loops = int(os.environ.get("CORRAL_NET_LOOPS", "1"))
    sys.exit(max(run(tests) for _ in range(loops)))
