"""Shared harness for corral's integration tests: real corrald, real
corral-supervisor, real QEMU on real qcow2 images.

Each test file calls run(tests) with a list of functions; each function gets
a fresh Env (its own state and run directories and its own broker) and
prints one line that tests/run-tests counts.
"""

import glob
import pwd
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
HERE = os.path.dirname(os.path.abspath(__file__))
# The per-VM uids the broker hands out in the tests (when run as root):
# above every /etc/subuid block useradd hands out (SUB_UID_MAX 600100000)
# and below 2^31, as corrald's own default range is.
UID_MIN, UID_MAX = 1879100000, 1879100999
UID_RANGE = "%d-%d" % (UID_MIN, UID_MAX)
# What corrald runs as QEMU unless a definition names another emulator.
DEFAULT_EMULATOR = "/usr/bin/qemu-system-x86_64"


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def boot_sector():
    """A 512-byte guest that enables the ACPI power button, waits for it to
    be pressed, then powers the machine off (PIIX4/ICH9 PM registers at
    0x600 as SeaBIOS maps them): a guest that honours `shutdown`."""
    code = bytes([
        0xBA, 0x02, 0x06,        # mov dx, 0x602   PM1_EN
        0xB8, 0x00, 0x01,        # mov ax, 0x100   PWRBTN_EN
        0xEF,                    # out dx, ax
        0xBA, 0x00, 0x06,        # mov dx, 0x600   PM1_STS
        0xED,                    # in ax, dx       (loop)
        0xA9, 0x00, 0x01,        # test ax, 0x100  PWRBTN_STS
        0x74, 0xFA,              # jz loop
        0xBA, 0x04, 0x06,        # mov dx, 0x604   PM1_CNT
        0xB8, 0x00, 0x20,        # mov ax, 0x2000  SLP_EN, type 0: soft off
        0xEF,                    # out dx, ax
        0xF4,                    # hlt
        0xEB, 0xFD,              # jmp hlt
    ])
    return code + bytes(510 - len(code)) + b"\x55\xaa"


class Rpc:
    """A raw JSON-RPC connection, for what corralctl will not send."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1
        self.events = []

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_msg(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Fail("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, method, params=None):
        i = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "method": method, "id": i}
        if params is not None:
            msg["params"] = params
        self.send_raw(json.dumps(msg).encode() + b"\n")
        return i

    def wait(self, i):
        while True:
            m = self.read_msg()
            if m.get("id") == i:
                return m
            if "method" in m:
                self.events.append(m)

    def call(self, method, params=None):
        return self.wait(self.send(method, params))

    def close(self):
        self.sock.close()


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="corral-it-", dir="/tmp")
        self.state = os.path.join(self.dir, "state")
        self.run = os.path.join(self.dir, "run")
        self.sock = os.path.join(self.run, "corrald.sock")
        self.asan_dir = os.path.join(self.dir, "asan")
        os.makedirs(self.asan_dir)
        # Each VM runs under its own uid, which must reach its disks, its
        # directories and the sanitizer log directory.
        os.chmod(self.dir, 0o755)
        os.chmod(self.asan_dir, 0o777)
        self.env = dict(os.environ)
        self.env["CORRAL_SOCKET"] = self.sock
        # Sanitizer reports land in files the harness checks after each test.
        self.env["ASAN_OPTIONS"] = "log_path=%s/asan:detect_leaks=1:abort_on_error=0" % self.asan_dir
        self.env["UBSAN_OPTIONS"] = "log_path=%s/ubsan:print_stacktrace=1" % self.asan_dir
        self.broker = None
        self.broker_args = []
        # Runs in the broker's process before exec (resource limits, say).
        self.broker_preexec = None
        # A network namespace (add_netns) the broker, and so every VM, runs
        # in: `ip netns exec NS corrald ...`.
        self.netns = None
        self.netnss = []
        self.broker_log = os.path.join(self.dir, "corrald.log")
        self.images = os.path.join(self.dir, "img")
        os.makedirs(self.images)
        os.chmod(self.images, 0o755)
        self.users = []
        # The scripted QMP peer, where a VM's uid can run it and only this
        # Env's user can change it: every broker allows it (--emulator).
        self.fake = os.path.join(self.dir, "fake-qemu")
        shutil.copy(os.path.join(HERE, "fake-qemu"), self.fake)
        os.chmod(self.fake, 0o755)

    # -- throw-away users --------------------------------------------------
    def add_user(self, tag):
        """Creates a local user (and its own group) that cleanup() removes;
        returns (name, uid, gid).  Needs root."""
        if os.geteuid() != 0:
            raise Skip("needs root to create throw-away users")
        name = "ct-%s%d" % (tag, os.getpid() % 100000)
        subprocess.run(["useradd", "-M", "-U", "-s", "/usr/sbin/nologin", name], check=True,
                       capture_output=True)
        self.users.append(name)
        pw = pwd.getpwnam(name)
        return name, pw.pw_uid, pw.pw_gid

    def run_as(self, user, argv, ok=True, timeout=60):
        """Runs argv as user (a name or a uid, with no supplementary
        groups): what an attacker with that uid can do."""
        if isinstance(user, str):
            uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
        else:
            uid, gid = user, user
        p = subprocess.run(argv, capture_output=True, text=True, user=uid, group=gid,
                           extra_groups=[], timeout=timeout, cwd="/")
        if ok and p.returncode != 0:
            raise Fail("%s as uid %d failed: %s" % (argv, uid, p.stderr.strip()))
        return p

    # -- network namespaces ------------------------------------------------
    def add_netns(self, tag):
        """Creates a network namespace (with lo up) that cleanup() deletes,
        so that a test's bridges and taps never touch the host's own
        interfaces; returns its name.  Needs root."""
        if os.geteuid() != 0:
            raise Skip("needs root to create a network namespace")
        name = "ct-%s%d" % (tag, os.getpid() % 100000)
        p = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if p.returncode != 0:
            raise Skip("cannot create a network namespace: " + p.stderr.strip())
        self.netnss.append(name)
        self.in_netns(name, ["ip", "link", "set", "lo", "up"])
        return name

    def in_netns(self, ns, argv, ok=True, timeout=60):
        """Runs argv in the network namespace ns; returns the CompletedProcess."""
        p = subprocess.run(["ip", "netns", "exec", ns] + argv, capture_output=True, text=True,
                           timeout=timeout)
        if ok and p.returncode != 0:
            raise Fail("%s in %s failed: %s" % (argv, ns, p.stderr.strip()))
        return p

    # -- processes ---------------------------------------------------------
    def start_broker(self):
        log = open(self.broker_log, "ab")
        self.broker = subprocess.Popen(
            (["ip", "netns", "exec", self.netns] if self.netns else [])
            + [os.path.join(BUILD, "corrald"), "--state-dir", self.state, "--run-dir", self.run]
            + self.log_args()
            + (["--uid-range", UID_RANGE] if os.geteuid() == 0 else []) + self.emulator_args()
            + self.broker_args,
            stdout=log, stderr=log, env=self.env, preexec_fn=self.broker_preexec)
        log.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.broker.poll() is not None:
                raise Fail("corrald exited at start-up: " + self.log_tail())
            try:
                Rpc(self.sock, 2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise Fail("corrald did not open its socket")

    def log_args(self):
        """Logs on stderr (the broker's log file here), and no
        /etc/corral/corrald.conf of the machine's."""
        return ["--foreground", "--no-config"]

    def emulator_args(self):
        """--emulator replaces corrald's default list: name it too."""
        args = ["--emulator", self.fake]
        if os.path.exists(DEFAULT_EMULATOR):
            args += ["--emulator", DEFAULT_EMULATOR]
        return args

    def stop_broker(self, sig=signal.SIGTERM):
        if self.broker is None:
            return
        self.broker.send_signal(sig)
        try:
            self.broker.wait(20)
        except subprocess.TimeoutExpired:
            self.broker.kill()
            self.broker.wait()
        self.broker = None

    def log_tail(self, n=4000):
        try:
            with open(self.broker_log, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def ctl(self, *args, ok=True, user=None, timeout=120):
        """Runs corralctl; returns (rc, stdout, stderr).  ok=True asserts
        success, ok=False asserts failure."""
        cmd = [os.path.join(BUILD, "corralctl")] + list(args)
        kw = {}
        if user is not None:
            # The build tree may sit where only root can enter (a mktemp -d
            # checkout): another uid runs a copy from a traversable place.
            bindir = os.path.join(self.dir, "bin")
            if not os.path.exists(bindir):
                os.makedirs(bindir)
                shutil.copy(cmd[0], bindir)
                for d in (self.dir, bindir):
                    os.chmod(d, 0o755)
            cmd[0] = os.path.join(bindir, "corralctl")
            kw["user"] = user
            kw["group"] = pwd.getpwnam(user).pw_gid if isinstance(user, str) else user
            kw["extra_groups"] = []
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout, **kw)
        if ok is True and p.returncode != 0:
            raise Fail("corralctl %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.strip()))
        if ok is False and p.returncode == 0:
            raise Fail("corralctl %s succeeded but should have failed: %s" % (" ".join(args), p.stdout.strip()))
        return p.returncode, p.stdout, p.stderr

    def fake_qemu(self):
        """The scripted QMP peer, copied where a VM's uid can run it."""
        return self.fake

    def rpc(self, path=None):
        return Rpc(path or self.sock)

    # -- images and definitions ------------------------------------------------
    def qcow2(self, name, size="16M", boot=False):
        path = os.path.join(self.images, name)
        if boot:
            raw = path + ".raw"
            with open(raw, "wb") as f:
                f.write(boot_sector())
            subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, path], check=True)
            subprocess.run(["qemu-img", "resize", "-q", path, size], check=True)
            os.unlink(raw)
        else:
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, size], check=True)
        return path

    def domain_xml(self, name, disks=None, machine="pc", virt="qemu", memory_mib=64,
                   extra="", emulator=None, uuid=None):
        if disks is None:
            disks = [(self.qcow2(name + "-a.qcow2", boot=True), "vda"),
                     (self.qcow2(name + "-b.qcow2"), "vdb")]
        d = ""
        for path, target in disks:
            fmt = "raw" if path.endswith(".raw") else "qcow2"
            d += ("<disk type='file' device='disk'><driver name='qemu' type='%s'/>"
                  "<source file='%s'/><target dev='%s'/></disk>" % (fmt, path, target))
        em = "<emulator>%s</emulator>" % emulator if emulator else ""
        u = "<uuid>%s</uuid>" % uuid if uuid else ""
        return ("<domain type='%s'><name>%s</name>%s<memory unit='MiB'>%d</memory><vcpu>1</vcpu>"
                "<os><type arch='x86_64' machine='%s'>hvm</type></os>"
                "<devices>%s%s%s</devices></domain>" % (virt, name, u, memory_mib, machine, em, d, extra))

    def define(self, name, **kw):
        path = os.path.join(self.dir, name + ".xml")
        with open(path, "w") as f:
            f.write(self.domain_xml(name, **kw))
        self.ctl("define", path)
        return path

    def wait_state(self, name, want, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            _, out, _ = self.ctl("domstate", name, "--reason")
            last = out.strip()
            if last.split(" (")[0] == want:
                return last
            time.sleep(0.1)
        raise Fail("VM %s did not reach %r (last: %r)" % (name, want, last))

    def wait_guest_booted(self, name, timeout=60):
        """The guest is in the boot sector once its instruction pointer is in
        0x7c00-0x7dff: only then does it see the power button."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            _, out, _ = self.ctl("qemu-monitor-command", name,
                                 json.dumps({"execute": "human-monitor-command",
                                             "arguments": {"command-line": "info registers"}}))
            text = json.loads(out).get("return", "")
            for tok in text.split():
                if tok.startswith("EIP="):
                    eip = int(tok[4:], 16)
                    if 0x7c00 <= eip < 0x7e00:
                        return
            time.sleep(0.2)
        raise Fail("guest of %s never reached its boot sector" % name)

    def info(self, name):
        _, out, _ = self.ctl("--json", "dominfo", name)
        return json.loads(out)

    def listing(self):
        out = []
        for root, dirs, files in os.walk(self.state):
            for f in dirs + files:
                out.append(os.path.relpath(os.path.join(root, f), self.state))
        return sorted(out)

    # -- teardown ----------------------------------------------------------
    def cleanup(self):
        self.stop_broker()
        # Anything of ours still alive: supervisors and QEMUs under this dir,
        # until none is left (a supervisor may start a QEMU after the list
        # of processes was read).
        for _ in range(20):
            found = False
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if self.dir.encode() in cmd:
                    found = True
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            if not found:
                break
            time.sleep(0.1)
        for u in self.users:
            subprocess.run(["userdel", u], capture_output=True)
        self.users = []
        # Its taps and bridges go with it.
        for ns in self.netnss:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.netnss = []

    def sanitizer_reports(self):
        out = []
        for path in glob.glob(os.path.join(self.asan_dir, "*")):
            with open(path, errors="replace") as f:
                out.append(f.read()[:3000])
        return out


def image_tags(path):
    """The snapshot tags qemu-img sees in an image, sorted (-U: QEMU holds
    it open)."""
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path],
                         capture_output=True, text=True, check=True).stdout
    return sorted(s["name"] for s in json.loads(out).get("snapshots", []))


def result_of(r, what):
    """The result of an RPC reply r, or a failure naming what was asked."""
    check("result" in r, "%s failed: %r" % (what, r.get("error")))
    return r["result"]


def pending_intent(env, vm):
    """The snapshot intent VM vm's supervisor has recorded (a dict), or None:
    pending.json is a record file (common/recfile.h) whose record is the
    intent, or a plain JSON file as an older corral left it."""
    path = os.path.join(env.state, "vms", vm, "vm", "pending.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    magic = b"corral-record 1 "
    if not data.startswith(magic):
        return json.loads(data) if data.strip() else None
    n = int(data[len(magic):len(magic) + 10])
    return json.loads(data[44:44 + n]) if n else None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


# How long one test function may run before it counts as hung
# (TEST_TIMEOUT seconds): a hang must fail its test, not stop the suite.
TEST_TIMEOUT = int(os.environ.get("TEST_TIMEOUT", "600"))


def on_alarm(signum, frame):
    raise Fail("still running after %d s (TEST_TIMEOUT): hung" % TEST_TIMEOUT)


def run(tests):
    failed = 0
    signal.signal(signal.SIGALRM, on_alarm)
    for t in tests:
        name = t.__name__
        env = Env()
        status, why = "ok", ""
        try:
            signal.alarm(TEST_TIMEOUT)
            t(env)
        except Skip as s:
            status, why = "skip", str(s)
        except Fail as f:
            status, why = "not ok", str(f)
        except Exception:
            status, why = "not ok", traceback.format_exc().strip().replace("\n", " | ")
        finally:
            signal.alarm(0)
            env.cleanup()
        reports = env.sanitizer_reports()
        if reports and status != "not ok":
            status, why = "not ok", "sanitizer report: " + reports[0].replace("\n", " | ")
        if status == "not ok":
            failed += 1
            tail = env.log_tail(1500).replace("\n", "\n#   ")
            print("# broker log tail:\n#   " + tail)
            print("not ok - %s: %s" % (name, why))
        elif status == "skip":
            print("skip - %s: %s" % (name, why))
        else:
            print("ok - %s" % name)
        sys.stdout.flush()
        if status != "not ok":
            shutil.rmtree(env.dir, ignore_errors=True)
    return 1 if failed else 0
