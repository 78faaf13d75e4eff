"""corralctl -c ssh://: a real sshd (Debian's openssh-server) on a loopback
port with a throw-away host key, throw-away users with their own keys and
~/.ssh/config, and the build's corralctl as the far `corralctl proxy`
(?command=).  Through ssh the owner defines, starts, snapshots, lists,
reads and types on the console and follows events, each compared with the
same command run locally; another user is refused on the far host as a
local client of his uid would be, and the far broker's end ends an event
stream through ssh as it does locally.  Bad URIs, an injected ssh option and an
unreachable host fail before or with ssh's own word."""

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time

import guest
from corraltest import BUILD, Fail, Skip, check, run
from test_console import ESC, guest_xml

SSHD = "/usr/sbin/sshd"
LOOPBACK = "127.0.0.1"


def add_ssh_user(env, tag):
    """A throw-away user with a login shell (sshd runs the far command with
    it), a home under the test's directory and an ed25519 key of its own;
    the password field '*' is no password, not a locked account."""
    if os.geteuid() != 0:
        raise Skip("needs root to create throw-away users")
    name = "ct-%s%d" % (tag, os.getpid() % 100000)
    home = os.path.join(env.dir, "home", name)
    os.makedirs(os.path.dirname(home), exist_ok=True)
    os.chmod(os.path.dirname(home), 0o755)
    subprocess.run(["useradd", "-m", "-d", home, "-U", "-s", "/bin/sh", "-p", "*", name],
                   check=True, capture_output=True)
    env.users.append(name)
    dot = os.path.join(home, ".ssh")
    os.makedirs(dot, mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                    os.path.join(dot, "id_ed25519")], check=True)
    shutil.copy(os.path.join(dot, "id_ed25519.pub"), os.path.join(dot, "authorized_keys"))
    return name, home


class Sshd:
    """sshd -D -e on a free loopback port, with a host key made here."""

    def __init__(self, env, users):
        if not os.path.exists(SSHD) or shutil.which("ssh") is None:
            raise Skip("needs openssh-server and openssh-client (contrib/install-deps.sh)")
        self.env = env
        self.dir = os.path.join(env.dir, "sshd")
        os.makedirs(self.dir)
        self.hostkey = os.path.join(self.dir, "host_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.hostkey],
                       check=True)
        # sshd's privilege separation directory, which a host that never
        # ran the ssh service lacks.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.log = os.path.join(self.dir, "sshd.log")
        self.proc = None
        for _ in range(5):
            self.port = free_port()
            if self.start(users):
                return
        raise Fail("sshd did not start: " + self.log_tail())

    def start(self, users):
        conf = os.path.join(self.dir, "sshd_config")
        with open(conf, "w") as f:
            f.write("Port %d\nListenAddress %s\nHostKey %s\nPidFile none\n"
                    "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "PubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\n"
                    # The far corralctl is a sanitizer build: its reports
                    # land with the others (the users' ~/.ssh/environment).
                    "PermitUserEnvironment ASAN_OPTIONS,UBSAN_OPTIONS\n"
                    "AllowUsers %s\nLogLevel VERBOSE\n"
                    % (self.port, LOOPBACK, self.hostkey, " ".join(users)))
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", conf], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # the port was taken meanwhile: another one
            try:
                socket.create_connection((LOOPBACK, self.port), 1).close()
                return True
            except OSError:
                time.sleep(0.05)
        raise Fail("sshd never listened: " + self.log_tail())

    def log_tail(self):
        with open(self.log, errors="replace") as f:
            return f.read()[-2000:]

    def known_hosts_line(self):
        with open(self.hostkey + ".pub") as f:
            return "[%s]:%d %s" % (LOOPBACK, self.port, f.read().strip())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


def free_port():
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def client_setup(env, sshd, name, home):
    """The user's own ~/.ssh: the test host's key as known, no prompts
    (BatchMode: the test has no terminal for them), and the sanitizer
    options for the far corralctl."""
    dot = os.path.join(home, ".ssh")
    with open(os.path.join(dot, "known_hosts"), "w") as f:
        f.write(sshd.known_hosts_line() + "\n")
    with open(os.path.join(dot, "config"), "w") as f:
        f.write("Host %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
                "  IdentitiesOnly yes\n  IdentityFile ~/.ssh/id_ed25519\n" % LOOPBACK)
    with open(os.path.join(dot, "environment"), "w") as f:
        f.write("ASAN_OPTIONS=%s\nUBSAN_OPTIONS=%s\n"
                % (env.env["ASAN_OPTIONS"], env.env["UBSAN_OPTIONS"]))
    pw = pwd.getpwnam(name)
    for root, dirs, files in os.walk(home):
        for p in [root] + [os.path.join(root, x) for x in dirs + files]:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def ctl_copy(env, user):
    """The build's corralctl where user can run it (corraltest's copy)."""
    env.ctl("--version", user=user)
    return os.path.join(env.dir, "bin", "corralctl")


def ssh_uri(env, user, port, command):
    return "ssh://%s@%s:%d%s?command=%s" % (user, LOOPBACK, port, env.sock, command)


def setup(env, tags):
    users = [add_ssh_user(env, t) for t in tags]
    sshd = Sshd(env, [u for u, _ in users])
    for name, home in users:
        client_setup(env, sshd, name, home)
    return users, sshd


def json_code(err):
    try:
        return json.loads(err.strip().splitlines()[-1])["error"]["code"]
    except (ValueError, KeyError, IndexError):
        raise Fail("not a JSON error: %r" % err)


class Lines:
    """A process's standard output, read line by line by a thread."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(30)
        self.t.join(30)


def wait_until(cond, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise Fail("never happened: " + what)
        time.sleep(0.05)


def define_guest(env, user, name):
    """The test guest with a serial console and a qcow2 disk (for internal
    snapshots), every file its owner's."""
    pw = pwd.getpwnam(user)
    disk = env.qcow2(name + ".qcow2")
    os.chown(disk, pw.pw_uid, pw.pw_gid)
    xml = guest_xml(env, name, "<serial type='pty'/><disk type='file' device='disk'>"
                    "<driver name='qemu' type='qcow2'/><source file='%s'/>"
                    "<target dev='vda'/></disk>" % disk, user)
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def console_through(env, ctl, uri, user, name):
    """corralctl -c URI console NAME on a pty as user: the guest's prompt,
    a command typed and its output, then ^]."""
    master, slave = os.openpty()
    pw = pwd.getpwnam(user)
    proc = subprocess.Popen([ctl, "-c", uri, "console", name], stdin=slave, stdout=slave,
                            stderr=slave, env=env.env, start_new_session=True,
                            user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    con = guest.Console(master)
    try:
        con.expect(b"Connected to domain '%s'" % name.encode(), 60, "the greeting")
        con.expect(guest.PROMPT, guest.BOOT_TIMEOUT, "the shell prompt")
        con.command("echo marker-$((6*7))", b"marker-42", 60)
        con.expect(guest.PROMPT, 30, "the prompt after the command")
        con.send(ESC)
        rc = proc.wait(30)
        check(rc == 0, "^] detaches through ssh with status 0, got %d: %r" % (rc, con.data[-300:]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)


def run_as(env, user, argv, ok=None):
    pw = pwd.getpwnam(user)
    p = subprocess.run(argv, capture_output=True, text=True, env=env.env, timeout=120,
                       user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    if ok is True and p.returncode != 0:
        raise Fail("%s failed (%d): %s" % (argv, p.returncode, p.stderr.strip()))
    if ok is False and p.returncode == 0:
        raise Fail("%s succeeded: %s" % (argv, p.stdout.strip()))
    return p


def events_lines(env, ctl, user, args, name):
    """corralctl ARGS events NAME --loop as user, its lines read as they come."""
    pw = pwd.getpwnam(user)
    return Lines(subprocess.Popen([ctl] + args + ["events", name, "--loop"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env=env.env,
                                  user=pw.pw_uid, group=pw.pw_gid, extra_groups=[]))


def wait_subscribed(env, ctl, user, uri, subs):
    """Pauses and resumes sg until each subscriber has printed an event:
    from then on it is subscribed."""
    deadline = time.monotonic() + 60
    while not all(s.lines for s in subs):
        if time.monotonic() > deadline:
            raise Fail("no event reached a subscriber: %r" % [s.lines for s in subs])
        run_as(env, user, [ctl, "-c", uri, "suspend", "sg"], ok=True)
        run_as(env, user, [ctl, "-c", uri, "resume", "sg"], ok=True)


def owner_and_stranger(env):
    guest.require()
    users, sshd = setup(env, ["sa", "sb"])
    try:
        env.start_broker()
        (alice, _), (bob, _) = users
        ctl = ctl_copy(env, alice)
        a_uri = ssh_uri(env, alice, sshd.port, ctl)
        b_uri = ssh_uri(env, bob, sshd.port, ctl)

        def both(*args):
            """The command through ssh and locally, as alice: their outputs."""
            far = run_as(env, alice, [ctl, "-c", a_uri] + list(args), ok=True)
            near = run_as(env, alice, [ctl] + list(args), ok=True)
            return far.stdout, near.stdout

        xml = define_guest(env, alice, "sg")
        run_as(env, alice, [ctl, "-c", a_uri, "define", xml], ok=True)
        far, near = both("list", "--all")
        check("sg" in far and far == near, "the listing through ssh is the local one: %r vs %r"
              % (far, near))
        # The subscribers first, then events until both have one: both are
        # subscribed from then on.
        subs = [events_lines(env, ctl, alice, ["-c", a_uri], "sg"),
                events_lines(env, ctl, alice, [], "sg")]
        try:
            run_as(env, alice, [ctl, "-c", a_uri, "start", "sg"], ok=True)
            far, near = both("domstate", "sg")
            check(far == near and far.strip() == "running",
                  "running, through ssh and here: %r %r" % (far, near))
            wait_subscribed(env, ctl, alice, a_uri, subs)
            run_as(env, alice, [ctl, "-c", a_uri, "snapshot-create-as", "sg", "snap1"], ok=True)
            want = "snapshot.created sg: snap1"
            wait_until(lambda: all(want in s.lines for s in subs),
                       "%r through ssh and here: %r" % (want, [s.lines for s in subs]))
        finally:
            for s in subs:
                s.stop()
        far, near = both("snapshot-list", "sg")
        check("snap1" in far and far == near, "snapshot-list through ssh is the local one: %r vs %r"
              % (far, near))
        console_through(env, ctl, a_uri, alice, "sg")
        # Bob reaches the far host, whose broker refuses him as it refuses
        # him here.
        far = run_as(env, bob, [ctl, "--json", "-c", b_uri, "start", "sg"], ok=False)
        near = run_as(env, bob, [ctl, "--json", "start", "sg"], ok=False)
        check(json_code(far.stderr) == json_code(near.stderr) == 1008,
              "bob is refused (1008) through ssh as here: %r %r" % (far.stderr, near.stderr))
        _, out, _ = env.ctl("domstate", "sg")
        check(out.strip() == "running", "bob's refusal left the VM alone: " + out)
        # The server's end of a stream passes through the proxy too: events
        # ends with status 0 when the far broker goes.
        sub = events_lines(env, ctl, alice, ["-c", a_uri], "sg")
        try:
            wait_subscribed(env, ctl, alice, a_uri, [sub])
            env.stop_broker()
            rc = sub.proc.wait(60)
            check(rc == 0, "events through ssh ends with 0 when the far broker stops: %d" % rc)
        finally:
            sub.stop()
    finally:
        sshd.stop()


def bad_uris_and_hosts(env):
    users, sshd = setup(env, ["sc"])
    try:
        env.start_broker()
        (carol, home), = users
        ctl = ctl_copy(env, carol)
        # A fake ssh first on PATH records every run: what is refused
        # before ssh runs never reaches it.
        fakebin = os.path.join(env.dir, "fakebin")
        os.makedirs(fakebin)
        os.chmod(fakebin, 0o755)
        ran = os.path.join(home, "ssh-ran")
        with open(os.path.join(fakebin, "ssh"), "w") as f:
            f.write("#!/bin/sh\necho \"$@\" >> %s\nexit 255\n" % ran)
        os.chmod(os.path.join(fakebin, "ssh"), 0o755)
        fake_env = dict(env.env, PATH=fakebin + ":" + env.env.get("PATH", "/usr/bin:/bin"))
        for uri, why in (("ssh://-oProxyCommand=touch%20/tmp/x/sock", "the host"),
                         ("ssh://-oProxyCommand=x@h/sock", "the user"),
                         ("ssh://h%3Bid/sock", "the host"),
                         ("ssh://a%20b@h", "the user"),
                         ("ftp://h/sock", "unknown scheme"),
                         ("ssh://h:70000", "the port"),
                         ("ssh://h?cmd=x", "command=PATH")):
            pw = pwd.getpwnam(carol)
            p = subprocess.run([ctl, "-c", uri, "list"], capture_output=True, text=True,
                               env=fake_env, user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
            check(p.returncode == 2 and "invalid URI '%s'" % uri in p.stderr and why in p.stderr,
                  "%s refused with a usage error naming %s: %d %r" % (uri, why, p.returncode,
                                                                     p.stderr))
        check(not os.path.exists(ran), "ssh never ran for a refused URI")
        # The fake does run for a good URI: the check above means something.
        p = subprocess.run([ctl, "-c", "ssh://%s/sock" % LOOPBACK, "list"], capture_output=True,
                           text=True, env=fake_env, user=pwd.getpwnam(carol).pw_uid,
                           group=pwd.getpwnam(carol).pw_gid, extra_groups=[])
        check(p.returncode == 1 and os.path.exists(ran), "the fake ssh ran: %r" % p.stderr)
        with open(ran) as f:
            args = f.read().split()
        check(args[:4] == ["-T", "-e", "none", "--"] and args[4] == LOOPBACK,
              "ssh's arguments end its options before the host: %r" % args)
        # A port where nothing listens: ssh's own message, and a failure.
        p = run_as(env, carol, [ctl, "-c", "ssh://%s@%s:%d" % (carol, LOOPBACK, free_port()),
                                "list"], ok=False)
        check("Connection refused" in p.stderr and "ssh: connect to host" in p.stderr,
              "ssh's error is shown: %r" % p.stderr)
        # A far host without that corralctl: the shell's word and a hint.
        p = run_as(env, carol, [ctl, "-c", ssh_uri(env, carol, sshd.port, "/nonexistent/ctl"),
                                "list"], ok=False)
        check("not found" in p.stderr and "?command=" in p.stderr,
              "a missing far corralctl is named: %r" % p.stderr)
        # A far socket where no broker listens: the proxy's word.
        p = run_as(env, carol, [ctl, "-c", "ssh://%s@%s:%d/nonexistent.sock?command=%s"
                                % (carol, LOOPBACK, sshd.port, ctl), "list"], ok=False)
        check("/nonexistent.sock" in p.stderr and "No such file" in p.stderr,
              "the far proxy's error is shown: %r" % p.stderr)
        # And the same user with a good URI: the path works at all.
        p = run_as(env, carol, [ctl, "-c", ssh_uri(env, carol, sshd.port, ctl), "list", "--all"],
                   ok=True)
        check("Name" in p.stdout, "a listing through ssh: %r" % p.stdout)
    finally:
        sshd.stop()


if __name__ == "__main__":
    sys.exit(run([bad_uris_and_hosts, owner_and_stranger]))
