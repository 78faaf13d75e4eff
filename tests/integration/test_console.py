"""corralctl console on the real test guest (direct kernel boot under
corral), driven through a pty as a user would: the shell prompt, a command
and its output, ^] to detach with the terminal restored, one client at a
time unless --force, the boot log for a late client, the owner and root
only, and a console that survives a broker restart and a supervisor killed
and replaced."""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import termios
import time
from xml.sax.saxutils import escape

import guest
from corraltest import BUILD, DEFAULT_EMULATOR, Fail, Skip, check, run

ESC = b"\x1d"


def guest_xml(env, name, devices, user=None):
    """The test guest as a VM with devices (its kernel and initramfs owned
    by user when given); returns the XML."""
    if not os.path.exists(DEFAULT_EMULATOR):
        raise Skip("no " + DEFAULT_EMULATOR)
    uid = gid = None
    if user is not None:
        uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
    kdir = os.path.join(env.dir, "guest-" + name)
    if not os.path.exists(kdir):
        os.makedirs(kdir)
        os.chmod(kdir, 0o755)
    kernel, initrd = guest.copy_to(kdir, uid, gid)
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>%d</memory><vcpu>1</vcpu>%s"
            "<devices>%s</devices></domain>"
            % (escape(name), guest.MEMORY_MIB, guest.os_xml(kernel, initrd), devices))


def define_guest(env, name, user=None):
    """Defines the test guest as a VM with a serial port (its kernel and
    initramfs owned by user when given) and returns the definition's path."""
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(guest_xml(env, name, "<serial type='pty'/>", user))
    if user is not None:
        os.chown(path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    env.ctl("define", path, user=user)
    return path


class Term:
    """corralctl console NAME on a pty of its own, as in a terminal."""

    def __init__(self, env, name, *opts, user=None, vm_socket=None):
        self.master, self.slave = os.openpty()
        self.cooked = termios.tcgetattr(self.slave)
        argv = [os.path.join(BUILD, "corralctl")]
        if vm_socket:
            argv += ["--vm-socket", vm_socket]
        argv += ["console", name] + list(opts)
        kw = {}
        if user is not None:
            env.ctl("--version", user=user)  # puts a copy where user can run it
            argv[0] = os.path.join(env.dir, "bin", "corralctl")
            kw = {"user": user, "group": user, "extra_groups": []}
        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     env=env.env, start_new_session=True, **kw)
        self.con = guest.Console(self.master)

    def expect(self, pattern, timeout=guest.BOOT_TIMEOUT, what=None):
        return self.con.expect(pattern, timeout, what)

    def attached(self, name):
        self.expect(b"Connected to domain '%s'\r?\nEscape character is \\^\\]" % name.encode(),
                    30, "the greeting")

    def wait_raw(self, timeout=30):
        """Waits until corralctl has put the terminal in raw mode."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.slave) == self.cooked:
            if time.monotonic() > deadline:
                raise Fail("the terminal never went into raw mode")
            time.sleep(0.02)
        check(not termios.tcgetattr(self.slave)[3] & termios.ECHO, "no local echo in raw mode")

    def command(self, line, pattern, timeout=60):
        return self.con.command(line, pattern, timeout)

    def wait_exit(self, timeout=30):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail("corralctl console did not exit; output: %r" % self.con.data[-400:])
        # What it printed last, up to the end.
        while not self.con.eof:
            self.con._read(0.5)
            if self.proc.poll() is not None and not self.con.eof:
                r = self.con.data
                self.con._read(0.2)
                if self.con.data == r:
                    break
        return rc

    def detach(self):
        self.con.send(ESC)
        rc = self.wait_exit()
        check(rc == 0, "^] detaches with status 0, got %d: %r" % (rc, self.con.data[-300:]))
        check(termios.tcgetattr(self.slave) == self.cooked,
              "the terminal is back as it was after ^]")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def boot(env, name, user=None):
    define_guest(env, name, user)
    env.ctl("start", name, user=user)
    t = Term(env, name, user=user)
    t.attached(name)
    t.wait_raw()
    t.expect(guest.PROMPT, what="the shell prompt")
    return t


def prompt_and_command(env):
    env.start_broker()
    t = boot(env, "g1")
    try:
        t.command("echo marker-$((6*7))", b"marker-42", 60)
        t.expect(guest.PROMPT, 30, "the prompt after the command")
        t.detach()
        # A late client sees the boot log from the start, and the guest
        # runs on behind it.
        t2 = Term(env, "g1")
        t2.attached("g1")
        t2.expect(b"Linux version", 30, "the kernel's first boot message")
        t2.expect(b"marker-42", 30, "the earlier command's output")
        t2.command("uname -s", b"\r\nLinux\r\n", 60)
        t2.detach()
        t2.close()
    finally:
        t.close()


def one_client_at_a_time(env):
    env.start_broker()
    a = boot(env, "g1")
    try:
        _, out, err = env.ctl("console", "g1", ok=False)
        check("console serial0 is in use by another client; --force takes it over" in err,
              "a second console is refused: " + err)
        check("Connected" not in out, "nothing attached: " + out)
        b = Term(env, "g1", "--force")
        b.attached("g1")
        rc = a.wait_exit()
        check(rc == 0 and b"Disconnected from domain 'g1'" in a.con.data,
              "the first client is told it lost the console: %r" % a.con.data[-300:])
        check(termios.tcgetattr(a.slave) == a.cooked, "its terminal is restored")
        b.command("echo taken-$((2+3))", b"taken-5", 60)
        b.detach()
        b.close()
        # The console is free again.
        c = Term(env, "g1", "--safe", "--devname", "serial0")
        c.attached("g1")
        c.command("echo again-$((1+1))", b"again-2", 60)
        c.detach()
        c.close()
        # Killed while attached, it puts the terminal back first.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            d = Term(env, "g1")
            d.attached("g1")
            d.wait_raw()
            d.proc.send_signal(sig)
            rc = d.wait_exit()
            check(rc == -sig and termios.tcgetattr(d.slave) == d.cooked,
                  "signal %d: status %d, terminal restored" % (sig, rc))
            d.close()
        _, _, err = env.ctl("console", "g1", "--devname", "console1", ok=False)
        check("VM g1 has no console called 'console1'" in err, "unknown devname: " + err)
    finally:
        a.close()


def stranger_refused(env):
    env.start_broker()
    owner, _, _ = env.add_user("cown")
    stranger, _, _ = env.add_user("cstr")
    t = boot(env, "g1", user=owner)
    try:
        t.command("echo secret-$((3*3))", b"secret-9", 60)
        t.detach()
        rc, out, err = env.ctl("console", "g1", user=stranger, ok=False)
        check("permission denied: uid" in err and "may not call vm.console on VM g1" in err,
              "a stranger's console is refused: " + err)
        check("secret" not in out, "nothing of the guest reached the stranger: " + out)
        # The VM's own socket refuses the stranger too, even with --force.
        sock = os.path.join(env.run, "vm", "g1", "control.sock")
        rc, out, err = env.ctl("--vm-socket", sock, "console", "g1", "--force", user=stranger,
                               ok=False)
        check("secret" not in out and "Connected" not in out,
              "the supervisor's socket gives the stranger nothing: " + out + err)
        # The owner still has it, through the broker and on the VM's socket.
        o = Term(env, "g1", user=owner, vm_socket=sock)
        o.attached("g1")
        o.expect(b"secret-9", 30, "the owner's earlier output")
        o.command("echo mine-$((4+4))", b"mine-8", 60)
        o.detach()
        o.close()
    finally:
        t.close()


# An emulator for the test of a stalled client: fake-qemu answers QMP,
# and its serial port writes numbered lines as fast as they are taken, as a
# guest that prints without end.
BLASTER = r"""#!/usr/bin/env python3
import os, re, socket, sys
for i, a in enumerate(sys.argv):
    if i > 0 and sys.argv[i - 1] == "-chardev" and "id=charserial0" in a and os.fork() == 0:
        s = socket.socket(socket.AF_UNIX)
        s.bind(re.search(r"path=([^,]+)", a).group(1))
        s.listen(1)
        c, _ = s.accept()
        n = 0
        while True:
            c.sendall(b"".join(b"blast %09d\n" % (n + k) for k in range(4096)))
            n += 4096
os.execv(sys.argv[0] + ".real", sys.argv)
"""


def console_proc(env, name, *opts):
    """corralctl console with pipes; returns it once attached, or None
    when it was refused (its error in the second item)."""
    p = subprocess.Popen([os.path.join(BUILD, "corralctl"), "console", name] + list(opts),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env.env)
    con = guest.Console(p.stdout)
    try:
        con.expect(b"Escape character", 30, "the greeting")
    except Fail:
        p.kill()
        p.wait()
        return None, p.stderr.read().decode(errors="replace"), con
    return p, "", con


def stalled_client_dropped(env):
    shutil.copy(env.fake, env.fake + ".real")
    with open(env.fake, "w") as f:
        f.write(BLASTER)
    env.start_broker()
    env.define("b1", emulator=env.fake)
    env.ctl("start", "b1")
    # A client that reads nothing once attached.
    stuck, err, _ = console_proc(env, "b1")
    check(stuck is not None, "the first client attaches: " + err)
    try:
        # It is dropped, without --force: the console is free again.
        deadline = time.monotonic() + 60
        while True:
            p, err, con = console_proc(env, "b1")
            if p is not None:
                break
            check("is in use by another client" in err, "only the stalled client in the way: " + err)
            if time.monotonic() > deadline:
                raise Fail("the stalled client was never dropped")
            time.sleep(0.2)
        check("detached: it read nothing for 2 s while the guest's output waited for it"
              in env.log_tail(1000000), "the supervisor says why it dropped the client")
        # And the guest went on printing meanwhile, for the new client.
        first = int(con.expect(rb"blast (\d{9})\n", 30, "a line").group(1))
        later = int(con.expect(rb"blast (\d{9})\n", 30, "a line").group(1))
        con.expect(b"blast %09d" % (later + 100000), 60, "output 100000 lines on")
        check(first < later, "lines in order")
        p.kill()
        p.wait()
    finally:
        stuck.kill()
        stuck.wait()


def survives_broker_restart(env):
    env.start_broker()
    t = boot(env, "g1")
    try:
        t.command("echo before-$((5+5))", b"before-10", 60)
        env.stop_broker()
        # The relay was the broker's: this client is disconnected ...
        rc = t.wait_exit()
        check(rc == 0 and termios.tcgetattr(t.slave) == t.cooked,
              "the client ends cleanly, terminal restored: %r" % t.con.data[-200:])
        env.start_broker()
        # ... and a new one finds the console, its output kept meanwhile.
        t2 = Term(env, "g1")
        t2.attached("g1")
        t2.expect(b"before-10", 30, "output from before the restart")
        t2.command("echo after-$((6+6))", b"after-12", 60)
        t2.detach()
        t2.close()
    finally:
        t.close()


def survives_supervisor_killed(env):
    env.start_broker()
    t = boot(env, "g1")
    try:
        t.command("echo before-$((7+7))", b"before-14", 60)
        before = env.info("g1")
        os.kill(before["supervisor_pid"], signal.SIGKILL)
        rc = t.wait_exit()
        check(rc == 0 and termios.tcgetattr(t.slave) == t.cooked,
              "the client ends cleanly, terminal restored: %r" % t.con.data[-200:])
        # A new supervisor re-adopts the same QEMU and reconnects to its
        # serial port: the console works again (the old ring died with the
        # old supervisor).
        deadline = time.monotonic() + 60
        while True:
            rc, out, err = env.ctl("--json", "dominfo", "g1", ok=None)
            if rc == 0 and '"adopted": true' in out.replace('":true', '": true'):
                break
            if time.monotonic() > deadline:
                raise Fail("the VM was not re-adopted: %s %s" % (out, err))
            time.sleep(0.1)
        info = env.info("g1")
        check(info["qemu_pid"] == before["qemu_pid"], "same QEMU")
        t2 = Term(env, "g1")
        t2.attached("g1")
        t2.command("echo after-$((8+8))", b"after-16", 60)
        t2.detach()
        t2.close()
    finally:
        t.close()


if __name__ == "__main__":
    sys.exit(run([prompt_and_command, one_client_at_a_time, stranger_refused,
                  stalled_client_dropped, survives_broker_restart, survives_supervisor_killed]))
