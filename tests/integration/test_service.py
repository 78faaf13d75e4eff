"""corrald as a host service: its systemd unit, the readiness it sends
systemd across a restart that keeps the VMs running, its configuration file,
and its logs to syslog and the journal."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from corraltest import BUILD, HERE, Fail, Skip, check, pid_alive, run

SRC = os.path.dirname(os.path.dirname(HERE))
UNIT = os.path.join(SRC, "contrib", "systemd", "corrald.service")
EXAMPLE = os.path.join(SRC, "contrib", "corrald.conf")
CORRALD = os.path.join(BUILD, "corrald")


class Datagrams:
    """A datagram socket the test owns, standing for systemd's notify
    socket, /dev/log or the journal's: a thread takes every datagram at
    once, so that no sender ever finds the queue full."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.got = []
        self.cond = threading.Condition()
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        while True:
            try:
                d = self.sock.recv(65536)
            except OSError:
                return
            with self.cond:
                self.got.append(d)
                self.cond.notify_all()

    def wait_for(self, pred, what, timeout=60):
        """The first datagram not taken yet that pred accepts, waiting for
        it; it and those before it are taken."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for i, d in enumerate(self.got):
                    if pred(d):
                        del self.got[: i + 1]
                        return d
                left = deadline - time.time()
                if left <= 0:
                    raise Fail("never received %s (got %r)" % (what, self.got[-5:]))
                self.cond.wait(left)

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def journal_fields(d):
    """The journal's native protocol: KEY=VALUE lines, or KEY, a newline, a
    64-bit little-endian length and the value."""
    fields, i = {}, 0
    while i < len(d):
        nl = d.index(b"\n", i)
        line = d[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k, n = line, struct.unpack("<Q", d[nl + 1: nl + 9])[0]
            v = d[nl + 9: nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode(errors="replace")
    return fields


# -- the unit ---------------------------------------------------------------

def unit_verifies(env):
    """systemd-analyze verify accepts the unit (its ExecStart pointed at this
    build), and the unit keeps what corral depends on."""
    if shutil.which("systemd-analyze") is None:
        raise Skip("systemd-analyze is not installed")
    with open(UNIT) as f:
        text = f.read()
    unit = os.path.join(env.dir, "corrald.service")
    with open(unit, "w") as f:
        f.write(text.replace("/usr/local/sbin/corrald", CORRALD))
    p = subprocess.run(["systemd-analyze", "--man=no", "verify", unit], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0 and p.stderr.strip() == "", "systemd-analyze verify: " + p.stderr)
    keys = dict(l.split("=", 1) for l in text.splitlines() if re.match(r"^[A-Za-z]+=", l))
    check(keys.get("Type") == "notify" and keys.get("KillMode") == "process"
          and keys.get("Restart") == "on-failure" and keys.get("RuntimeDirectoryPreserve") == "yes",
          "the unit waits for READY=1 and leaves the VMs' processes alone: %r" % keys)
    # The directories systemd makes are the broker's defaults.
    help_ = subprocess.run([CORRALD, "--help"], capture_output=True, text=True).stdout
    check("default /var/lib/corral" in help_ and keys.get("StateDirectory") == "corral",
          "StateDirectory is corrald's default state directory")
    check("default /run/corral" in help_ and keys.get("RuntimeDirectory") == "corral",
          "RuntimeDirectory is corrald's default run directory")


def install_uninstall(env):
    """make install puts the unit (its ExecStart following SBINDIR) and the
    example configuration in place, never over an administrator's file;
    make uninstall removes the unit, and the configuration only unchanged."""
    dest = os.path.join(env.dir, "dest")
    make = ["make", "-s", "-C", SRC, "BUILD=" + BUILD, "DESTDIR=" + dest, "PREFIX=/usr"]
    if BUILD.endswith("/san"):
        make.append("SANITIZE=1")
    p = subprocess.run(make + ["install"], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, "make install: " + p.stderr)
    unit = os.path.join(dest, "lib/systemd/system/corrald.service")
    conf = os.path.join(dest, "etc/corral/corrald.conf")
    with open(unit) as f:
        check("\nExecStart=/usr/sbin/corrald\n" in f.read(), "ExecStart is the installed corrald")
    check(os.stat(conf).st_mode & 0o7777 == 0o644 and open(conf).read() == open(EXAMPLE).read(),
          "the example is installed 0644")
    with open(conf, "a") as f:
        f.write("debug = yes\n")
    p = subprocess.run(make + ["install"], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0 and open(conf).read().endswith("debug = yes\n"),
          "a second install keeps the edited file")
    p = subprocess.run(make + ["uninstall"], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0 and not os.path.exists(unit) and os.path.exists(conf),
          "uninstall removes the unit and keeps the edited configuration: " + p.stderr)
    shutil.copy(EXAMPLE, conf)
    p = subprocess.run(make + ["uninstall"], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0 and not os.path.exists(os.path.dirname(conf)),
          "uninstall removes the unchanged example and its directory: " + p.stderr)


# -- readiness --------------------------------------------------------------

def ready_after_reattach(env):
    """READY=1 comes once the socket accepts and the running VM answers as
    running again; SIGTERM to the main pid alone (systemd's KillMode=process)
    says STOPPING=1 and leaves the VM running for the next broker."""
    notify = Datagrams(os.path.join(env.dir, "notify"))
    env.env["NOTIFY_SOCKET"] = notify.path
    env.start_broker()
    d = notify.wait_for(lambda d: b"READY=1" in d, "READY=1 of the first broker")
    check(b"STATUS=serving, 0 VMs re-attached" in d, "the status says so: %r" % d)
    env.define("vm1")
    env.ctl("start", "vm1")
    env.wait_state("vm1", "running")
    before = env.info("vm1")

    env.broker.send_signal(signal.SIGTERM)
    env.broker.wait(30)
    env.broker = None
    d = notify.wait_for(lambda d: b"STOPPING=1" in d, "STOPPING=1")
    check(pid_alive(before["qemu_pid"]) and pid_alive(before["supervisor_pid"]),
          "QEMU and its supervisor outlive the broker")

    env.start_broker()
    d = notify.wait_for(lambda d: b"READY=1" in d, "READY=1 of the second broker")
    # Asked only now: whatever READY=1 promised holds when it arrives.
    hello = env.rpc().call("hello", {"version": 1})["result"]
    check(hello["adopting"] == 0, "nothing is being re-attached any more: %r" % hello)
    after = env.info("vm1")
    check(after["state"] == "running" and after["qemu_pid"] == before["qemu_pid"]
          and after["supervisor_pid"] == before["supervisor_pid"],
          "the same QEMU and supervisor run, re-attached: %r" % after)
    check(b"STATUS=serving, 1 VMs re-attached" in d, "the status counts the VM: %r" % d)
    with open("/proc/%d/environ" % before["supervisor_pid"], "rb") as f:
        check(b"NOTIFY_SOCKET" not in f.read(), "no supervisor can notify for the broker")
    env.ctl("destroy", "vm1")
    notify.close()


# -- the configuration file -------------------------------------------------

def write_conf(env, name, text, mode=0o644):
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def corrald_fails(env, args, needle):
    p = subprocess.run([CORRALD] + args, capture_output=True, text=True, env=env.env, timeout=60)
    check(p.returncode != 0, "corrald refuses %s: %s" % (args, p.stderr))
    check(needle in p.stderr, "corrald says %r: %s" % (needle, p.stderr.strip()))


def start_with(env, args):
    """Starts corrald with args alone (no --state-dir or --run-dir of the
    harness) and waits for env.sock to accept."""
    log = open(env.broker_log, "ab")
    env.broker = subprocess.Popen([CORRALD] + args, stdout=log, stderr=log, env=env.env)
    log.close()
    deadline = time.time() + 20
    while time.time() < deadline:
        if env.broker.poll() is not None:
            raise Fail("corrald exited at start-up: " + env.log_tail())
        try:
            env.rpc().close()
            return
        except OSError:
            time.sleep(0.05)
    raise Fail("corrald did not open %s" % env.sock)


def config_file(env):
    """A file carries the options, the command line overrides them, and a
    list given on the command line replaces the file's."""
    isolation = "uid-range = 1879048192-1879113727\n" if os.geteuid() == 0 else ""
    conf = write_conf(env, "good.conf",
                      "; corrald for the test\n"
                      "state-dir = %s\n"
                      "run-dir = %s-file\n"
                      "%s"
                      "emulator = /nonexistent/qemu\n"
                      "restart-limit = 3/30\n"
                      "log = stderr\n"
                      "debug = yes\n" % (env.state, env.run, isolation))
    # The file alone: its emulator list is refused, naming the option.
    corrald_fails(env, ["--config", conf], "--emulator")
    # The command line's --emulator replaces that list, --run-dir the file's.
    start_with(env, ["--config", conf, "--run-dir", env.run] + env.emulator_args())
    check(not os.path.exists(env.run + "-file"), "the file's run-dir is overridden")
    env.define("vm1")
    check(os.path.isdir(os.path.join(env.state, "vms", "vm1")), "the file's state-dir is used")
    check("configuration %s" % conf in env.log_tail(), "the broker names its configuration")
    check("debug:" in env.log_tail(100000), "debug = yes applies")
    env.stop_broker()


def config_file_errors(env):
    """A bad key or value names the file and the line; a named file that
    does not exist is an error."""
    bad_key = write_conf(env, "key.conf", "; comment\n\nstate-dir = /tmp/x\nstat-dir = /tmp/y\n")
    corrald_fails(env, ["--config", bad_key], "%s:4: unknown key 'stat-dir'" % bad_key)
    bad_value = write_conf(env, "value.conf", "debug = no\nrestart-limit = 5\n")
    corrald_fails(env, ["--config", bad_value],
                  "%s:2: restart-limit = 5: wants COUNT/SECONDS" % bad_value)
    bad_bool = write_conf(env, "bool.conf", "foreground = maybe\n")
    corrald_fails(env, ["--config", bad_bool], "%s:1: foreground wants yes or no" % bad_bool)
    junk = write_conf(env, "junk.conf", "log = stderr\nno equals sign here\n")
    corrald_fails(env, ["--config", junk], "%s:2: not \"key = value\"" % junk)
    section = write_conf(env, "section.conf", "[corrald]\nlog = stderr\n")
    corrald_fails(env, ["--config", section], "%s:2: [corrald]: sections are not used" % section)
    corrald_fails(env, ["--config", os.path.join(env.dir, "none.conf")], "none.conf: no such file")
    corrald_fails(env, ["--log", "everywhere"], "--log: wants journal, syslog, stderr or auto")
    if not os.path.exists("/etc/corral/corrald.conf"):
        # A missing default file is no error: the command line is judged.
        corrald_fails(env, ["--frobnicate"], "usage:")


def config_file_unsafe(env):
    """root acts on what the file says: one another user owns, or that its
    group or others may write, or reached through a symlink, is refused."""
    text = "log = stderr\n"
    for mode in (0o664, 0o646):
        path = write_conf(env, "w%o.conf" % mode, text, mode)
        corrald_fails(env, ["--config", path], "writable by its group or others")
    good = write_conf(env, "good.conf", text)
    link = os.path.join(env.dir, "link.conf")
    os.symlink(good, link)
    corrald_fails(env, ["--config", link], "a symbolic link: refused")
    if os.geteuid() != 0:
        raise Skip("needs root to give the file to another user")
    _, uid, gid = env.add_user("cf")
    theirs = write_conf(env, "theirs.conf", text)
    os.chown(theirs, uid, gid)
    corrald_fails(env, ["--config", theirs], "owned by uid %d, not root: refused" % uid)
    # The example installed by `make install` is accepted as it is.
    example = write_conf(env, "example.conf", open(EXAMPLE).read())
    corrald_fails(env, ["--config", example, "--frobnicate"], "usage:")


# -- logs -------------------------------------------------------------------

def logs_to_syslog(env):
    """--log syslog: RFC 3164 datagrams, daemon facility, to /dev/log (here
    a socket of the test's, named by CORRAL_LOG_SOCKET)."""
    dev_log = Datagrams(os.path.join(env.dir, "devlog"))
    env.env["CORRAL_LOG_SOCKET"] = dev_log.path
    env.broker_args = ["--log", "syslog"]
    env.start_broker()
    d = dev_log.wait_for(lambda d: b"serving " in d, "the broker's start-up line").decode()
    check(re.match(r"^<30>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d corrald\[%d\]: serving %s "
                   % (env.broker.pid, re.escape(env.sock)), d) is not None,
          "daemon.info, the time, corrald[pid]: %r" % d)
    check("serving" not in env.log_tail(), "nothing of it on stderr")
    env.stop_broker()
    dev_log.close()


def logs_to_journal(env):
    """--log journal: the journal's native protocol with PRIORITY and the
    CODE=, VM= and SNAPSHOT= fields, from the broker and from the VM's supervisor
    alike."""
    journal = Datagrams(os.path.join(env.dir, "journal"))
    env.env["CORRAL_LOG_SOCKET"] = journal.path
    env.broker_args = ["--log", "journal"]
    # A directory no VM can be named after: the broker's warning about it
    # carries the error's stable name.
    os.makedirs(os.path.join(env.state, "vms", "not a name"))
    env.start_broker()
    f = journal_fields(journal.wait_for(lambda d: b"MESSAGE=ignoring " in d, "ignoring"))
    check(f["PRIORITY"] == "4" and f["CODE"] == "invalid-name",
          "a warning with the stable name of its error: %r" % f)
    f = journal_fields(journal.wait_for(lambda d: b"MESSAGE=serving" in d, "serving"))
    check(f["PRIORITY"] == "6" and f["SYSLOG_IDENTIFIER"] == "corrald"
          and f["CODE_FILE"] == "broker/main.c" and f["CODE_FUNC"] == "main",
          "info from corrald, with where it was said: %r" % f)
    env.define("vm1")
    env.ctl("start", "vm1")
    env.wait_state("vm1", "running")
    f = journal_fields(journal.wait_for(
        lambda d: b"SYSLOG_IDENTIFIER=corrald\n" in d and b"\nVM=vm1\n" in d, "a VM=vm1 entry"))
    check(f["MESSAGE"].startswith("VM vm1: "), "the broker's line about vm1: %r" % f)
    env.ctl("snapshot-create-as", "vm1", "s1")
    f = journal_fields(journal.wait_for(lambda d: b"\nSNAPSHOT=s1\n" in d, "a SNAPSHOT=s1 entry"))
    check(f["SYSLOG_IDENTIFIER"] == "corral-supervisor" and f["VM"] == "vm1"
          and f["PRIORITY"] == "6" and "snapshot s1" in f["MESSAGE"],
          "the supervisor logs to the journal too, tagged with its VM: %r" % f)
    env.ctl("destroy", "vm1")
    env.stop_broker()
    journal.close()


if __name__ == "__main__":
    sys.exit(run([unit_verifies, install_uninstall, ready_after_reattach, config_file, config_file_errors,
                  config_file_unsafe, logs_to_syslog, logs_to_journal]))
