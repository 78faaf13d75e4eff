"""The test guest itself (contrib/guest/mkguest.sh), booted by plain QEMU
the way a domain with <kernel>, <initrd> and <cmdline> will boot it: its
console shows a shell that runs commands, it takes 10.0.2.15 on the user
network and reaches the host through it, serves a port, drives QEMU's other
NIC models, a virtio console and a virtio disk, and powers off when the ACPI
power button is pressed."""

import json
import os
import socket
import subprocess
import sys
import time

import guest
from corraltest import DEFAULT_EMULATOR, Fail, Skip, check, run


def accel():
    """TCG, as the VMs of the other tests run (type='qemu'): a host's
    /dev/kvm may open and still not run this kernel (nested virtualization
    here hung it after "Probing EDD"), which would fail the image for the
    host's sake.  CORRAL_TEST_KVM=1 boots it under KVM."""
    return "kvm" if os.environ.get("CORRAL_TEST_KVM") == "1" else "tcg"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def accept(listener, proc, timeout, what):
    """Accepts QEMU's connection to one of the test's sockets, failing
    early when QEMU exits instead."""
    listener.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
            conn.settimeout(None)
            return conn
        except socket.timeout:
            if proc.poll() is not None:
                break
    raise Fail("QEMU did not connect its %s (exit status %s)" % (what, proc.poll()))


class Qmp:
    def __init__(self, sock):
        self.sock = sock
        self.file = sock.makefile("rb")
        self.read()
        self.call("qmp_capabilities")

    def read(self):
        line = self.file.readline()
        if not line:
            raise Fail("QEMU closed its QMP socket")
        return json.loads(line)

    def call(self, cmd):
        self.sock.sendall(json.dumps({"execute": cmd}).encode() + b"\n")
        while True:
            m = self.read()
            if "return" in m or "error" in m:
                check("return" in m, "QMP %s failed: %s" % (cmd, m))
                return m["return"]


class Vm:
    """The guest under plain QEMU, its serial port and its QMP monitor on
    Unix sockets the test listens on (QEMU connects at start-up, so nothing
    it prints is missed)."""

    def __init__(self, env, nics=("virtio-net-pci",), hostfwd="", cmdline=guest.CMDLINE,
                 virtconsole=False, disk=None):
        if not os.path.exists(DEFAULT_EMULATOR):
            raise Skip("no " + DEFAULT_EMULATOR)
        kernel, initrd = guest.require()
        ser_path = os.path.join(env.dir, "serial.sock")
        qmp_path = os.path.join(env.dir, "qmp.sock")
        hvc_path = os.path.join(env.dir, "hvc.sock")
        listeners = []
        for path in (ser_path, qmp_path) + ((hvc_path,) if virtconsole else ()):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.listen(1)
            listeners.append(s)
        argv = [DEFAULT_EMULATOR, "-machine", "pc", "-accel", accel(), "-m", "256",
                "-nographic", "-nodefaults", "-no-user-config", "-no-reboot",
                "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
                "-chardev", "socket,id=ser0,path=" + ser_path, "-serial", "chardev:ser0",
                "-chardev", "socket,id=qmp,path=" + qmp_path, "-mon", "chardev=qmp,mode=control"]
        if disk:
            argv += ["-drive", "file=%s,format=raw,if=virtio" % disk]
        if virtconsole:
            argv += ["-device", "virtio-serial-pci", "-chardev", "socket,id=hvc,path=" + hvc_path,
                     "-device", "virtconsole,chardev=hvc"]
        for i, model in enumerate(nics):
            argv += ["-netdev", "user,id=n%d%s" % (i, hostfwd if i == 0 else ""),
                     "-device", "%s,netdev=n%d" % (model, i)]
        self.log = os.path.join(env.dir, "qemu.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.started = time.monotonic()
        self.serial = accept(listeners[0], self.proc, 30, "serial port")
        self.qmp = Qmp(accept(listeners[1], self.proc, 30, "QMP monitor"))
        self.hvc = guest.Console(accept(listeners[2], self.proc, 30, "virtio console")) \
            if virtconsole else None
        for s in listeners:
            s.close()
        self.console = guest.Console(self.serial)

    def wait_prompt(self):
        """Waits for the banner and the first prompt; returns the seconds
        since QEMU started."""
        self.console.expect(guest.BANNER, guest.BOOT_TIMEOUT, "the boot banner")
        self.console.expect(guest.PROMPT, guest.BOOT_TIMEOUT, "the shell prompt")
        return time.monotonic() - self.started


def boots_to_a_shell_on_the_user_network(env):
    vm = Vm(env)
    boot = vm.wait_prompt()
    print("# boot to prompt under %s: %.1f s" % (accel(), boot))
    con = vm.console
    # The typed line is echoed with $((6*7)) unexpanded: only the shell's
    # output has 42 between the markers.
    con.command("echo corral-$((6*7))-ok", rb"corral-42-ok")
    con.command("ip -4 addr show dev eth0", rb"inet 10\.0\.2\.15/24")

    # A TCP server on the host's loopback, reached as 10.0.2.2.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    con.send("echo hello-from-guest | nc 10.0.2.2 %d\n" % port)
    peer = accept(srv, vm.proc, 60, "guest's TCP connection (user network)")
    got = b""
    deadline = time.monotonic() + 60
    while b"hello-from-guest\n" not in got and time.monotonic() < deadline:
        peer.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = peer.recv(4096)
        if not chunk:
            break
        got += chunk
    check(got == b"hello-from-guest\n", "the host read %r from the guest" % got)
    peer.sendall(b"hello-from-host-%d\n" % port)
    peer.close()
    srv.close()
    con.expect(b"hello-from-host-%d" % port, 60, "the host's answer in the guest")
    con.expect(guest.PROMPT, 60, "the prompt after nc")

    vm.qmp.call("system_powerdown")
    con.expect(b"powering off", 60, "the guest's power-off message")
    try:
        rc = vm.proc.wait(60)
    except subprocess.TimeoutExpired:
        raise Fail("QEMU still runs 60 s after system_powerdown")
    check(rc == 0, "QEMU exited with status %d after the guest powered off" % rc)


def serves_a_port_and_drives_other_devices(env):
    port = free_port()
    disk = os.path.join(env.dir, "disk.raw")
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    vm = Vm(env, nics=("e1000", "rtl8139"), hostfwd=",hostfwd=tcp:127.0.0.1:%d-:8080" % port,
            cmdline=guest.CMDLINE + " corral.ip1=192.168.77.2/24", virtconsole=True, disk=disk)
    vm.wait_prompt()
    vm.hvc.expect(guest.PROMPT, 60, "the prompt on the virtio console")
    vm.hvc.command("tty; echo on-$((6*7))", rb"/dev/hvc0\r?\non-42")
    con = vm.console
    con.command("mke2fs -q /dev/vda && mount /dev/vda /mnt && echo written-in-guest > /mnt/f && "
                "umount /mnt && echo disk-$((1+1))-ok", rb"disk-2-ok", timeout=120)
    with open(disk, "rb") as f:
        check(b"written-in-guest" in f.read(), "the guest's file is not on its disk")
    con.command("basename $(readlink /sys/class/net/eth0/device/driver)", rb"\ne1000\r?\n")
    con.command("basename $(readlink /sys/class/net/eth1/device/driver)", rb"\n8139(cp|too)\r?\n")
    con.command("ip -4 addr show dev eth0", rb"inet 10\.0\.2\.15/24")
    con.command("ip -4 addr show dev eth1", rb"inet 192\.168\.77\.2/24")
    con.command("httpd -p 8080 -h /www && echo httpd-$((1+1))-up", rb"httpd-2-up")
    # QEMU accepts on the forwarded port before the guest does; retry until
    # the page comes back whole.
    deadline = time.monotonic() + 60
    page = b""
    while b"corral-guest httpd" not in page and time.monotonic() < deadline:
        page = b""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    page += chunk
        except OSError:
            pass
        if b"corral-guest httpd" not in page:
            time.sleep(0.1)
    check(b"corral-guest httpd" in page, "the forwarded port served %r" % page[-300:])


if __name__ == "__main__":
    sys.exit(run([boots_to_a_shell_on_the_user_network, serves_a_port_and_drives_other_devices]))
