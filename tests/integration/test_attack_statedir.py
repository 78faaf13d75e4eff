"""Issue 9, item 2: the broker runs as root and never trusts what a VM's uid
can write.  Each test replays, as the VM's uid (what a compromised QEMU or
supervisor is), an attack on the VM's state or run directory, and checks
that it fails and that nothing outside the VM's own files changed."""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import corraltest
from corraltest import Fail, Skip, check, pid_alive, run

# The attacker's interpreter: one any uid may run (the harness's own may sit
# under root's home).
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root: VMs run under their own uids only then")


def vm_uid(env, name):
    """The uid a running VM's QEMU has, as /proc tells it."""
    with open("/proc/%d/status" % env.info(name)["qemu_pid"]) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise Fail("no Uid line for VM %s's QEMU" % name)


def as_vm(env, uid, code, *args):
    """Runs Python code as uid; its stdout is one JSON value."""
    p = env.run_as(uid, [PY, "-c", code] + [str(a) for a in args])
    return json.loads(p.stdout)


def fingerprint(path):
    """Owner, mode and content of a file or every entry of a directory."""
    out = {}
    for root, dirs, files in os.walk(path):
        for n in [""] + dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    data = f.read()
            out[os.path.relpath(p, path)] = (st.st_uid, st.st_gid, st.st_mode, data)
    return out


def decoy(env):
    """A root-owned directory with a file, outside every VM."""
    d = os.path.join(env.dir, "decoy")
    os.makedirs(os.path.join(d, "sub"))
    with open(os.path.join(d, "sub", "precious"), "w") as f:
        f.write("root's data\n")
    os.chmod(d, 0o755)
    os.chmod(os.path.join(d, "sub"), 0o755)
    return d


def wait_until(what, cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise Fail("timed out waiting until " + what)


def info_now(env, name):
    """vm.info, or {} while the broker is busy replacing a supervisor."""
    rc, out, _ = env.ctl("--json", "dominfo", name, ok=None, timeout=20)
    return json.loads(out) if rc == 0 else {}


def wait_inactive(env, name):
    wait_until("VM %s is inactive" % name,
               lambda: info_now(env, name).get("state") in ("shut off", "crashed"))


def list_completes(env):
    """The broker still answers: a plain `corralctl list` comes back."""
    rc, out, err = env.ctl("list", "--all", timeout=20)
    return out


TRY_WRITE = r"""
import json, os, sys
out = {}
d = sys.argv[1]
for name in ("identity.json", "owner.json", "domain.xml", "status.json"):
    try:
        with open(os.path.join(d, name), "w") as f:
            f.write('{"uid": %s, "gid": %s, "disks": [{"path": "/etc/shadow", "uid": %s, "gid": 0, "mode": 4095}]}' % (sys.argv[2], sys.argv[2], sys.argv[2]))
        out[name] = "written"
    except OSError as e:
        out[name] = e.strerror
for name, target in (("inconsistencies.jsonl", "/etc/crontab"), ("planted", "/etc/passwd")):
    try:
        p = os.path.join(d, name)
        if os.path.lexists(p):
            os.rename(p, p + ".old")
        os.symlink(target, p)
        out[name] = "planted"
    except OSError as e:
        out[name] = e.strerror
try:
    out["listing"] = sorted(os.listdir(d))
except OSError as e:
    out["listing"] = e.strerror
print(json.dumps(out))
"""


def records_out_of_reach(env):
    """Forged identity.json, owner.json, domain.xml, a symlinked report
    ledger: the VM's uid cannot even write them, and a broker restart keeps
    the true owner."""
    need_root()
    mallory, muid, _ = env.add_user("mal")
    env.start_broker()
    env.define("vm1", machine="none", disks=[(env.qcow2("a.qcow2"), "vda")])
    env.ctl("start", "vm1")
    uid = vm_uid(env, "vm1")
    sdir = os.path.join(env.state, "vms", "vm1")
    before = fingerprint(sdir + "/domain.xml"), fingerprint(sdir + "/owner.json")
    st = os.stat(sdir)
    check(st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o710,
          "the state directory is root's, passable only: %o %d" % (st.st_mode, st.st_uid))
    check(os.stat(os.path.join(sdir, "vm")).st_uid == uid, "vm/ is the VM uid's")
    res = as_vm(env, uid, TRY_WRITE, sdir, muid)
    for name in ("identity.json", "owner.json", "domain.xml", "status.json",
                 "inconsistencies.jsonl", "planted"):
        check(res[name] == "Permission denied", "%s: %s" % (name, res[name]))
    check(res["listing"] == "Permission denied", "the VM's uid cannot list the state directory")
    check(not os.path.lexists(os.path.join(sdir, "planted")), "nothing planted")
    # The supervisor's own directory is the VM's to scribble in; the broker
    # does not take its word for anything there.
    env.ctl("destroy", "vm1")
    env.stop_broker()
    env.start_broker()
    check((fingerprint(sdir + "/domain.xml"), fingerprint(sdir + "/owner.json")) == before,
          "definition and owner unchanged")
    _, out, _ = env.ctl("list", "--all", user=mallory)
    check("vm1" not in out, "mallory did not become vm1's owner: " + out)
    env.ctl("start", "vm1")
    check(vm_uid(env, "vm1") == uid, "the VM keeps its uid")
    env.ctl("destroy", "vm1")


PLANT_FIFO = r"""
import os, sys
p = os.path.join(sys.argv[1], sys.argv[2])
if os.path.lexists(p):
    os.unlink(p)
os.mkfifo(p, 0o666)
print("true")
"""


def fifo_records(env):
    """A FIFO as last-exit.json (read when the supervisor ends and by
    dominfo) and as supervisor.json (read at a broker restart) does not
    block the broker."""
    need_root()
    env.start_broker()
    env.define("vm1", machine="none", disks=[(env.qcow2("a.qcow2"), "vda")])
    env.ctl("start", "vm1")
    uid = vm_uid(env, "vm1")
    vdir = os.path.join(env.state, "vms", "vm1", "vm")
    rdir = os.path.join(env.run, "vm", "vm1")
    # The supervisor dies while a FIFO waits where its exit facts would be.
    as_vm(env, uid, PLANT_FIFO, vdir, "last-exit.json")
    sup = env.info("vm1")["supervisor_pid"]
    os.kill(sup, signal.SIGKILL)
    wait_until("the supervisor is replaced",
               lambda: info_now(env, "vm1").get("supervisor_pid") not in (None, sup))
    list_completes(env)
    env.ctl("destroy", "vm1")
    as_vm(env, uid, PLANT_FIFO, vdir, "last-exit.json")
    info = env.info("vm1")
    check(info["state"] == "shut off" and "last_exit" not in info,
          "dominfo answers without the planted exit facts: %r" % info)
    check("ignoring %s/last-exit.json, which a VM's uid writes: last-exit.json is not a regular "
          "file" % vdir in env.log_tail(100000), "the planted FIFO is named in the log")
    # A FIFO as the run record, found by a restarted broker.
    env.ctl("start", "vm1")
    uid = vm_uid(env, "vm1")
    qemu = env.info("vm1")["qemu_pid"]
    env.stop_broker(signal.SIGKILL)
    as_vm(env, uid, PLANT_FIFO, rdir, "supervisor.json")
    env.start_broker()
    out = list_completes(env)
    check("vm1" in out, "the VM is listed: " + out)
    check("ignoring %s/supervisor.json" % rdir in env.log_tail(100000),
          "the planted run record is named in the log")
    # Without a run record it believes, the broker manages nothing of it:
    # what ran is a leftover.
    wait_until("the unrecorded QEMU is gone", lambda: not pid_alive(qemu))
    env.ctl("start", "vm1")
    env.ctl("destroy", "vm1")


PLANT_LINKS = r"""
import os, sys
target = sys.argv[2]
for d in sys.argv[1].split(":"):
    os.symlink(target, os.path.join(d, "evil-dir"))
    os.symlink(os.path.join(target, "sub", "precious"), os.path.join(d, "evil-file"))
    os.makedirs(os.path.join(d, "deep", "er"))
    os.symlink(target, os.path.join(d, "deep", "er", "evil"))
print("true")
"""


def symlinks_then_undefine(env):
    """Links to a root-owned directory planted in vm/ and in the run
    directory: stopping and undefining remove the VM's trees and nothing
    the links point to."""
    need_root()
    d = decoy(env)
    before = fingerprint(d)
    env.start_broker()
    env.define("vm1", machine="none", disks=[(env.qcow2("a.qcow2"), "vda")])
    env.ctl("start", "vm1")
    uid = vm_uid(env, "vm1")
    vdir = os.path.join(env.state, "vms", "vm1", "vm")
    rdir = os.path.join(env.run, "vm", "vm1")
    as_vm(env, uid, PLANT_LINKS, vdir + ":" + rdir, d)
    env.ctl("destroy", "vm1")
    wait_until("the run directory is removed", lambda: not os.path.lexists(rdir))
    check(fingerprint(d) == before, "the decoy survived the stop")
    env.ctl("undefine", "vm1")
    check(not os.path.lexists(os.path.join(env.state, "vms", "vm1")), "the VM's state is gone")
    check(fingerprint(d) == before, "the decoy survived the undefine")


FAKE_SERVER = r"""
import os, socket, sys
p = sys.argv[1]
os.unlink(p)
s = socket.socket(socket.AF_UNIX)
s.bind(p)
s.listen(8)
print("listening", flush=True)
got = open(sys.argv[2], "ab", buffering=0)
while True:
    c, _ = s.accept()
    got.write(b"connection\n")
    c.settimeout(5)
    try:
        data = c.recv(65536)
    except OSError:
        data = b""
    got.write(data)
    c.close()
"""


def fake_control_socket(env):
    """A control socket served by another process of the VM's uid, and a
    link to a socket of another user: the broker connects to neither, or
    drops the peer after SO_PEERCRED, before it sends anything."""
    need_root()
    other, ouid, _ = env.add_user("oth")
    env.start_broker()
    env.define("vm1", machine="none", disks=[(env.qcow2("a.qcow2"), "vda")])
    env.ctl("start", "vm1")
    uid = vm_uid(env, "vm1")
    rdir = os.path.join(env.run, "vm", "vm1")
    got = os.path.join(env.dir, "got")
    open(got, "w").close()
    os.chmod(got, 0o666)
    env.stop_broker(signal.SIGKILL)
    fake = subprocess.Popen([PY, "-c", FAKE_SERVER, os.path.join(rdir, "control.sock"),
                             got], user=uid, group=uid, extra_groups=[], stdout=subprocess.PIPE,
                            text=True, cwd="/")
    try:
        check(fake.stdout.readline().strip() == "listening", "the fake server listens")
        env.start_broker()
        wait_until("the broker refuses the fake peer",
                   lambda: "not by its supervisor" in env.log_tail(100000))
        log = env.log_tail(100000)
        check("VM vm1: its control socket is served by pid %d uid %d" % (fake.pid, uid) in log,
              "the refusal names the VM and the peer: " + log[-2000:])
        list_completes(env)
    finally:
        fake.kill()
        fake.wait()
    with open(got, "rb") as f:
        data = f.read()
    check(data.replace(b"connection\n", b"") == b"", "nothing was sent to the fake: %r" % data)

    # A link to another user's socket is not even connected to.  The VM
    # went on under a new supervisor, or did not if that one found the fake
    # still there (it depends on when the fake was killed): either way it
    # is stopped for the next part.
    env.ctl("destroy", "vm1", ok=None)
    wait_inactive(env, "vm1")
    env.ctl("start", "vm1")
    uid = vm_uid(env, "vm1")
    sockdir = os.path.join(env.dir, "other")
    os.makedirs(sockdir)
    os.chown(sockdir, ouid, ouid)
    os.chmod(sockdir, 0o755)
    server = subprocess.Popen([PY, "-c", FAKE_SERVER.replace("os.unlink(p)\n", ""),
                               os.path.join(sockdir, "s.sock"), got], user=ouid, group=ouid,
                              extra_groups=[], stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        check(server.stdout.readline().strip() == "listening", "the other user's server listens")
        env.stop_broker(signal.SIGKILL)
        env.run_as(uid, [PY, "-c",
                         "import os,sys; p=os.path.join(sys.argv[1],'control.sock'); os.unlink(p);"
                         " os.symlink(sys.argv[2], p)", rdir, os.path.join(sockdir, "s.sock")])
        env.start_broker()
        wait_until("the broker refuses the link",
                   lambda: "control.sock is not a socket of the VM's uid" in env.log_tail(100000))
        list_completes(env)
    finally:
        server.kill()
        server.wait()
    with open(got, "rb") as f:
        check(f.read() == data, "the other user's socket was not connected to")


def qemu_log_capped(env):
    """QEMU's log is capped at 1 MiB, the older part kept in qemu.log.1."""
    need_root()
    env.start_broker()
    env.define("vm1", machine="none", disks=[(env.qcow2("a.qcow2"), "vda")])
    vdir = os.path.join(env.state, "vms", "vm1", "vm")
    env.ctl("start", "vm1")
    # HMP qemu-io prints into QEMU's output: each read dumps some 300 KiB.
    cmd = {"execute": "human-monitor-command",
           "arguments": {"command-line": "qemu-io drive-vda \"read -v 0 64k\""}}
    for _ in range(8):
        env.ctl("qemu-monitor-command", "vm1", json.dumps(cmd))
    wait_until("the log rotated", lambda: os.path.exists(os.path.join(vdir, "qemu.log.1")))
    for n in ("qemu.log", "qemu.log.1"):
        size = os.path.getsize(os.path.join(vdir, n))
        check(size <= 1024 * 1024, "%s is %d bytes" % (n, size))
    env.ctl("destroy", "vm1")


OLD_LAYOUT_MOVES = ("snapshots", "journal", "last-exit.json", "qemu.log")


def to_old_layout(env, name, uid):
    """What the previous broker left: the supervisor's files next to the
    broker's records, the whole tree the VM uid's."""
    sdir = os.path.join(env.state, "vms", name)
    vdir = os.path.join(sdir, "vm")
    for n in os.listdir(vdir):
        os.rename(os.path.join(vdir, n), os.path.join(sdir, n))
    os.rmdir(vdir)
    for root, dirs, files in os.walk(sdir):
        for n in [""] + dirs + files:
            os.lchown(os.path.join(root, n), uid, uid)
    os.chmod(sdir, 0o750)


def migration(env):
    """A VM whose state the old layout wrote keeps its snapshots, its
    reports and its owner; forged records are not believed."""
    need_root()
    alice, auid, _ = env.add_user("ali")
    env.start_broker()
    disk = env.qcow2("a.qcow2")
    os.chown(disk, auid, auid)
    xml = os.path.join(env.dir, "vm1.xml")
    with open(xml, "w") as f:
        f.write(env.domain_xml("vm1", machine="none", disks=[(disk, "vda")]))
    os.chmod(xml, 0o644)
    env.ctl("define", xml, user=alice)
    env.ctl("start", "vm1", user=alice)
    uid = vm_uid(env, "vm1")
    env.ctl("snapshot-create-as", "vm1", "s1", user=alice)
    env.ctl("destroy", "vm1", user=alice)
    env.stop_broker()
    sdir = os.path.join(env.state, "vms", "vm1")
    report = {"seq": 7, "kind": "missing", "snapshot": "gone", "disks": ["vda"], "time": 1}
    with open(os.path.join(sdir, "inconsistencies.jsonl"), "a") as f:
        f.write(json.dumps(report) + "\n")
    to_old_layout(env, "vm1", uid)
    # What a broker without a uid range left is root's; a hard link to a
    # root-owned file (where the kernel lets a uid make one) must stay
    # root's when the VM's files are handed over.
    for root, dirs, files in os.walk(os.path.join(sdir, "snapshots")):
        for n in [""] + dirs + files:
            os.lchown(os.path.join(root, n), 0, 0)
    d = decoy(env)
    before = fingerprint(d)
    os.link(os.path.join(d, "sub", "precious"), os.path.join(sdir, "hardlink"))

    env.start_broker()
    st = os.stat(sdir)
    check(st.st_uid == 0, "the state directory is root's again")
    for n in ("owner.json", "domain.xml", "identity.json", "inconsistencies.jsonl",
              "status.json"):
        check(os.lstat(os.path.join(sdir, n)).st_uid == 0, n + " is root's again")
    for n in OLD_LAYOUT_MOVES:
        check(os.path.lexists(os.path.join(sdir, "vm", n)), n + " moved into vm/")
        check(not os.path.lexists(os.path.join(sdir, n)), n + " left the broker's directory")
    _, out, _ = env.ctl("list", "--all", user=alice)
    check("vm1" in out, "alice still owns vm1: " + out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name", user=alice)
    check(out.split() == ["s1"], "the snapshot survived: " + out)
    _, out, _ = env.ctl("--json", "inconsistencies", "vm1", user=alice)
    check('"gone"' in out, "the report survived: " + out)
    env.ctl("start", "vm1", user=alice)
    check(vm_uid(env, "vm1") == uid, "the VM keeps its uid")
    env.ctl("snapshot-delete", "vm1", "s1", user=alice)
    env.ctl("destroy", "vm1", user=alice)
    check(fingerprint(d) == before, "the hard-linked file stayed root's")
    os.unlink(os.path.join(sdir, "vm", "hardlink"))

    # Forged in the old layout: an owner from the VM uid range, a FIFO
    # as a record, and a disk root would give "back" at the next stop are
    # dropped with a log line.
    env.stop_broker()
    to_old_layout(env, "vm1", uid)
    with open(os.path.join(sdir, "owner.json"), "w") as f:
        f.write('{"uid": %d}' % uid)
    os.remove(os.path.join(sdir, "status.json"))
    os.mkfifo(os.path.join(sdir, "status.json"))
    precious = os.path.join(d, "sub", "precious")
    with open(os.path.join(sdir, "identity.json"), "w") as f:
        json.dump({"uid": uid, "gid": uid, "disks": [
            {"path": precious, "uid": uid, "gid": uid, "mode": 0o4777}]}, f)
    env.start_broker()
    log = env.log_tail(100000)
    check("dropping %s/owner.json from the old layout" % sdir in log, "forged owner dropped")
    check("dropping %s/status.json from the old layout" % sdir in log, "FIFO status dropped")
    check("dropped from %s/identity.json" % sdir in log and precious in log,
          "forged disk entry dropped")
    _, out, _ = env.ctl("list", "--all", user=alice)
    check("vm1" not in out, "the forged owner is not believed: " + out)
    _, out, _ = env.ctl("list", "--all")
    check("vm1" in out, "root still has the VM: " + out)
    env.ctl("start", "vm1")
    env.ctl("destroy", "vm1")
    # Disks go back before the run directory goes.
    wait_until("vm1 is settled", lambda: not os.path.lexists(os.path.join(env.run, "vm", "vm1")))
    check(fingerprint(d) == before, "the decoy named as a disk stayed root's")


# The last commit whose broker kept the supervisor's files beside its own
# records, before STATE/vms/NAME/vm/ existed.
OLD_LAYOUT_COMMIT = "363d772"


def old_layout_build(env):
    """A build of the previous layout: CORRAL_OLD_BUILD, or one made from
    the repository's history in the test's own directory (not under build/,
    whose dependency files the GNUmakefile reads)."""
    if os.environ.get("CORRAL_OLD_BUILD"):
        return os.path.abspath(os.environ["CORRAL_OLD_BUILD"])
    repo = os.path.dirname(os.path.dirname(corraltest.HERE))
    src = os.path.join(env.dir, "old-layout")
    out = os.path.join(src, "build")
    known = subprocess.run(["git", "-C", repo, "cat-file", "-e", OLD_LAYOUT_COMMIT + "^{commit}"],
                           capture_output=True)
    if known.returncode != 0:
        raise Skip("commit %s, the previous layout, is not in this checkout's history (a shallow "
                   "clone?): set CORRAL_OLD_BUILD to a build of it" % OLD_LAYOUT_COMMIT)
    os.makedirs(src)
    os.chmod(src, 0o755)
    tree = subprocess.run(["git", "-C", repo, "archive", OLD_LAYOUT_COMMIT], capture_output=True,
                          check=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=tree, check=True)
    made = subprocess.run(["make", "-C", src, "-j2", "all"], capture_output=True, text=True)
    if made.returncode != 0:
        raise Fail("cannot build the previous layout (%s): %s"
                   % (OLD_LAYOUT_COMMIT, made.stderr[-2000:]))
    return out


def upgrade_with_running_vm(env):
    """A VM started by the previous broker (old layout) runs across the
    upgrade: its supervisor keeps writing where it did, and the VM is
    migrated when it stops.  The previous build is made from git history
    (or taken from CORRAL_OLD_BUILD=DIR)."""
    need_root()
    old = old_layout_build(env)
    new = corraltest.BUILD
    corraltest.BUILD = old
    # The previous broker knew no --emulator, and logged only on stderr.
    env.emulator_args = lambda: []
    env.log_args = lambda: []
    try:
        env.start_broker()
        env.define("vm1", machine="none", disks=[(env.qcow2("a.qcow2"), "vda")])
        env.ctl("start", "vm1")
        env.ctl("snapshot-create-as", "vm1", "s1")
        qemu = env.info("vm1")["qemu_pid"]
        env.stop_broker(signal.SIGKILL)
    finally:
        corraltest.BUILD = new
        del env.emulator_args
        del env.log_args
    sdir = os.path.join(env.state, "vms", "vm1")
    check(os.path.exists(os.path.join(sdir, "snapshots", "s1.xml")), "the old layout")
    env.start_broker()
    check("is in the old layout and its supervisor runs" in env.log_tail(100000),
          "the migration waits for the VM to stop")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split() == ["s1"], "the old supervisor serves its snapshots: " + out)
    # It knows no vm.dumpxml: the broker answers with its copy.
    _, out, _ = env.ctl("dumpxml", "vm1")
    check("<name>vm1</name>" in out, "dumpxml of the adopted VM: " + out)
    check(env.info("vm1")["qemu_pid"] == qemu, "the same QEMU runs")
    env.ctl("destroy", "vm1")
    wait_until("the stopped VM is migrated",
               lambda: os.path.exists(os.path.join(sdir, "vm", "snapshots", "s1.xml")))
    check(os.stat(sdir).st_uid == 0, "migrated once stopped: the state directory is root's")
    env.ctl("start", "vm1")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split() == ["s1"], "the new supervisor finds the snapshot: " + out)
    env.ctl("snapshot-delete", "vm1", "s1")
    env.ctl("destroy", "vm1")


if __name__ == "__main__":
    sys.exit(run([records_out_of_reach, fifo_records, symlinks_then_undefine, fake_control_socket,
                  qemu_log_capped, migration, upgrade_with_running_vm]))
