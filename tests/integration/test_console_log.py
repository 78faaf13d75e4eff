"""<log file= append=> of a serial port and a virtio console, on the real
test guest: the boot log lands in the owner's file, created as hers;
append='off' empties it at each start and append='on' keeps what was
there; a guest that prints without end fills it to the cap and no further,
and a supervisor that re-adopts QEMU keeps to the same cap.  Each attack on
the path, as its owner would mount it, is refused at define and again at
start, with a clear error and the target untouched: a symlink to a root
file, a hard link to another user's file, another user's file, a symlink
on the way, a directory she may not write to."""

import os
import re
import shutil
import signal
import sys
import time
from xml.sax.saxutils import escape

import guest
from corraltest import Fail, check, run
from test_console import Term, console_proc, guest_xml

CAP = 1024 * 1024
NOTE = b"[corral: this run's console log reached its 1 MiB cap; output goes on]\r\n"


def define(env, name, devices, user=None, ok=True):
    """Defines the guest with devices as user; returns (rc, stdout, stderr)."""
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(guest_xml(env, name, devices, user))
    os.chmod(path, 0o644)
    return env.ctl("define", path, user=user, ok=ok)


def serial_log(path, append="off"):
    return "<serial type='pty'><log file='%s' append='%s'/></serial>" % (escape(path), append)


def owned_dir(env, tag, uid, gid, mode=0o755):
    d = os.path.join(env.dir, tag)
    os.makedirs(d)
    os.chown(d, uid, gid)
    os.chmod(d, mode)
    return d


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_file(path, pred, what, timeout=guest.BOOT_TIMEOUT):
    """Waits until pred(content of path) holds; returns the content."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        if os.path.exists(path):
            data = read(path)
            if pred(data):
                return data
        if time.monotonic() > deadline:
            raise Fail("%s: %s never came (it holds %d bytes, ending %r)"
                       % (path, what, len(data), data[-300:]))
        time.sleep(0.1)


def fingerprint(path):
    """What an attack on path would change: content, owner, mode, links."""
    st = os.lstat(path)
    return (read(path), st.st_uid, st.st_gid, st.st_mode, st.st_nlink, st.st_mtime_ns)


def boot_log_kept(env):
    env.start_broker()
    owner, uid, gid = env.add_user("lown")
    log = os.path.join(owned_dir(env, "logs", uid, gid), "g1.log")
    define(env, "g1", serial_log(log), owner)
    check(not os.path.exists(log), "define creates nothing")
    _, out, _ = env.ctl("dumpxml", "g1", user=owner)
    check(re.search(r"<log file=['\"]%s['\"] append=['\"]off['\"]/>" % re.escape(log), out),
          "dumpxml shows the log: " + out)
    env.ctl("start", "g1", user=owner)
    data = wait_file(log, lambda d: guest.BANNER in d, "the guest's banner")
    check(b"Linux version" in data, "the kernel's first messages are there: %r" % data[:300])
    st = os.stat(log)
    check((st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, 0o600),
          "created as the owner's, 0600: uid %d gid %d mode %o" % (st.st_uid, st.st_gid,
                                                                  st.st_mode & 0o7777))
    # QEMU never holds it: only the supervisor writes it.
    qemu = env.info("g1")["qemu_pid"]
    fds = [os.readlink("/proc/%d/fd/%s" % (qemu, n)) for n in os.listdir("/proc/%d/fd" % qemu)]
    check(log not in fds, "QEMU holds no descriptor of the log: %r" % fds)
    # What a command prints is there too, before the console shows it.
    t = Term(env, "g1", user=owner)
    try:
        t.attached("g1")
        t.command("echo logged-$((6*7))", b"logged-42", 60)
        check(b"logged-42" in read(log), "the command's output is in the log")
        t.detach()
    finally:
        t.close()
    env.ctl("destroy", "g1", user=owner)


def append_on_and_off(env):
    env.start_broker()
    owner, uid, gid = env.add_user("lapp")
    d = owned_dir(env, "logs", uid, gid)
    slog, clog = os.path.join(d, "serial.log"), os.path.join(d, "console.log")
    for p in (slog, clog):
        with open(p, "wb") as f:
            f.write(b"OLD-CONTENT\n")
        os.chown(p, uid, gid)
    define(env, "g1", serial_log(slog, "off") + "<console type='pty'><target type='virtio'/>"
           "<log file='%s' append='on'/></console>" % clog, owner)
    check(read(slog) == b"OLD-CONTENT\n", "define changes nothing")
    for run_no in (1, 2):
        env.ctl("start", "g1", user=owner)
        # Emptied by the start itself: the banner that appears is this run's.
        data = wait_file(slog, lambda d: guest.BANNER in d, "run %d's banner" % run_no)
        check(b"OLD-CONTENT" not in data and data.count(guest.BANNER) == 1,
              "append='off' starts each run empty: %r" % data[:200])
        data = wait_file(clog, lambda d: d.count(guest.PROMPT) >= run_no,
                         "run %d's prompt on hvc0" % run_no)
        check(data.startswith(b"OLD-CONTENT\n"), "append='on' keeps what was there: %r" % data[:100])
        env.ctl("destroy", "g1", user=owner)
        env.wait_state("g1", "shut off")


# The scripted emulator's serial port as a guest that prints numbered lines
# without end, to whichever supervisor is connected (the next one after a
# re-adoption).
BLASTER = r"""#!/usr/bin/env python3
import os, re, socket, sys
for i, a in enumerate(sys.argv):
    if i > 0 and sys.argv[i - 1] == "-chardev" and "id=charserial0" in a and os.fork() == 0:
        s = socket.socket(socket.AF_UNIX)
        s.bind(re.search(r"path=([^,]+)", a).group(1))
        s.listen(1)
        n = 0
        while True:
            c, _ = s.accept()
            try:
                while True:
                    c.sendall(b"".join(b"blast %09d\n" % (n + k) for k in range(4096)))
                    n += 4096
            except OSError:
                c.close()
os.execv(sys.argv[0] + ".real", sys.argv)
"""


def blaster(env):
    """The scripted emulator whose serial port prints without end."""
    shutil.copy(env.fake, env.fake + ".real")
    with open(env.fake, "w") as f:
        f.write(BLASTER)


def cap_holds(env):
    blaster(env)
    env.start_broker()
    d = owned_dir(env, "logs", 0, 0)
    log = os.path.join(d, "b1.log")
    env.define("b1", emulator=env.fake, extra=serial_log(log))
    env.ctl("start", "b1")
    data = wait_file(log, lambda x: x.endswith(NOTE), "the cap's note", 120)
    check(len(data) <= CAP, "the cap holds: %d bytes" % len(data))
    check(data.startswith(b"blast 000000000\n"), "from the first line: %r" % data[:40])
    # The guest prints on: the console shows lines the log never got.
    p, err, con = console_proc(env, "b1")
    check(p is not None, "a console attaches: " + err)
    try:
        # The ring replays the last 64 KiB, which may still overlap the
        # log's end: lines are read until one comes from well past it.
        last = int(re.findall(rb"blast (\d{9})\n", data)[-1])
        while int(con.expect(rb"blast (\d{9})\n", 30, "a line").group(1)) <= last + 50000:
            pass
        check(read(log) == data, "nothing more was written")
    finally:
        p.kill()
        p.wait()
    check("its log reached 1048576 bytes" in env.log_tail(1000000), "the supervisor says so")
    # A supervisor killed and replaced continues this run's log, capped.
    before = env.info("b1")
    os.kill(before["supervisor_pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        rc, out, _ = env.ctl("--json", "dominfo", "b1", ok=None)
        if rc == 0 and re.search(r'"adopted":\s*true', out):
            break
        if time.monotonic() > deadline:
            raise Fail("the VM was not re-adopted: " + out)
        time.sleep(0.1)
    p, err, con = console_proc(env, "b1")
    check(p is not None, "a console attaches again: " + err)
    try:
        first = int(con.expect(rb"blast (\d{9})\n", 30, "a line").group(1))
        con.expect(b"blast %09d" % (first + 50000), 60, "output through the new supervisor")
    finally:
        p.kill()
        p.wait()
    check(read(log) == data, "the new supervisor wrote nothing past the cap")


def maintenance_writes_no_log(env):
    env.start_broker()
    d = owned_dir(env, "logs", 0, 0)
    log = os.path.join(d, "vm1.log")
    with open(log, "wb") as f:
        f.write(b"KEEP\n")
    env.define("vm1", extra=serial_log(log))
    # Snapshot work on the shut-off VM runs a maintenance QEMU.
    env.ctl("snapshot-create-as", "vm1", "off1")
    _, out, _ = env.ctl("snapshot-list", "vm1")
    check("off1" in out, "the snapshot was made: " + out)
    check(read(log) == b"KEEP\n", "the log was neither emptied nor written: %r" % read(log))


def attack_setup(env):
    """A broker, the attacker (owner of the VM) with a directory of hers,
    a victim user, and a root file standing for /etc/shadow."""
    env.start_broker()
    owner, uid, gid = env.add_user("latk")
    victim, vuid, vgid = env.add_user("lvic")
    d = owned_dir(env, "logs", uid, gid)
    rootdir = os.path.join(env.dir, "etc")
    os.makedirs(rootdir)
    os.chmod(rootdir, 0o755)
    shadow = os.path.join(rootdir, "shadow")
    with open(shadow, "wb") as f:
        f.write(b"root:$6$secret:19000:0:99999:7:::\n")
    os.chmod(shadow, 0o640)
    return owner, uid, victim, vuid, vgid, d, shadow


def refused_both_ways(env, owner, name, path, plant, unplant, target, why):
    """define with path refused once plant() has made the attack; then,
    path clean (unplant()), defined, and the attack planted again: start
    refused.  Each time with why, the target unchanged, nothing started."""
    plant()
    before = fingerprint(target)
    _, _, err = define(env, name, serial_log(path), owner, ok=False)
    check(why in err and "devices/serial/log" in err, "define refused (%s): %s" % (why, err))
    check(fingerprint(target) == before, "define left %s unchanged" % target)
    unplant()
    define(env, name, serial_log(path), owner)
    plant()
    before = fingerprint(target)
    _, _, err = env.ctl("start", name, user=owner, ok=False)
    check(why in err and "devices/serial/log" in err, "start refused (%s): %s" % (why, err))
    check(fingerprint(target) == before, "start left %s unchanged" % target)
    _, out, _ = env.ctl("domstate", name, user=owner)
    check(out.strip() == "shut off", "the VM did not start: " + out)


def symlink_to_root_file(env):
    owner, uid, _, _, _, d, shadow = attack_setup(env)
    log = os.path.join(d, "g1.log")
    refused_both_ways(env, owner, "g1", log,
                      lambda: env.run_as(owner, ["ln", "-s", shadow, log]),
                      lambda: os.unlink(log), shadow, "'%s' is a symlink" % log)


def hard_link_to_victims_file(env):
    owner, uid, victim, vuid, vgid, d, _ = attack_setup(env)
    vdir = owned_dir(env, "victim", vuid, vgid, 0o700)
    vfile = os.path.join(vdir, "notes")
    with open(vfile, "wb") as f:
        f.write(b"the victim's notes\n")
    os.chown(vfile, vuid, vgid)
    os.chmod(vfile, 0o666)
    log = os.path.join(d, "g1.log")
    # Where protected_hardlinks is off a user may link any file she can
    # name: root plays that part.
    refused_both_ways(env, owner, "g1", log, lambda: os.link(vfile, log),
                      lambda: os.unlink(log), vfile, "'%s' has 2 links" % log)


def victims_file(env):
    owner, uid, victim, vuid, vgid, d, _ = attack_setup(env)
    log = os.path.join(d, "g1.log")

    def plant():
        # Hers to write, his by ownership: a file the owner could write to
        # but that is not hers is not emptied (append='off') nor used.
        with open(log, "wb") as f:
            f.write(b"the victim's file\n")
        os.chown(log, vuid, vgid)
        os.chmod(log, 0o666)
    refused_both_ways(env, owner, "g1", log, plant, lambda: os.unlink(log), log,
                      "is not a file owned by uid %d (its owner is uid %d)" % (uid, vuid))


def symlinked_directory(env):
    owner, uid, _, _, _, d, shadow = attack_setup(env)
    link = os.path.join(d, "sub")
    log = os.path.join(link, "shadow")

    def plant():
        if os.path.isdir(link) and not os.path.islink(link):
            os.rmdir(link)
        env.run_as(owner, ["ln", "-s", os.path.dirname(shadow), link])

    def unplant():
        os.unlink(link)
        env.run_as(owner, ["mkdir", link])
    refused_both_ways(env, owner, "g1", log, plant, unplant, shadow,
                      "'%s' is a symlink" % link)


def unwritable_directory(env):
    owner, uid, _, _, _, d, _ = attack_setup(env)
    rootdir = os.path.join(env.dir, "varlog")
    os.makedirs(rootdir)
    os.chmod(rootdir, 0o755)
    log = os.path.join(rootdir, "g1.log")
    _, _, err = define(env, "g1", serial_log(log), owner, ok=False)
    check("devices/serial/log" in err and "uid %d may not create it: Permission denied" % uid in err,
          "define refused: " + err)
    check(os.listdir(rootdir) == [], "nothing created")
    # A directory she could write at define and cannot at start.
    mine = os.path.join(d, "later")
    os.makedirs(mine)
    os.chown(mine, uid, -1)
    log = os.path.join(mine, "g1.log")
    define(env, "g1", serial_log(log), owner)
    os.chown(mine, 0, 0)
    _, _, err = env.ctl("start", "g1", user=owner, ok=False)
    check("uid %d may not create '%s': Permission denied" % (uid, log) in err,
          "start refused: " + err)
    check(os.listdir(mine) == [], "nothing created")


if __name__ == "__main__":
    sys.exit(run([boot_log_kept, append_on_and_off, cap_holds, maintenance_writes_no_log,
                  symlink_to_root_file,
                  hard_link_to_victims_file, victims_file, symlinked_directory,
                  unwritable_directory]))
