"""Issue 9, items 3-5: who may choose the program that runs as QEMU, what a
broker without uid isolation lets users do, and that VM uids and --vm-user
bindings belong to nobody else.  Each attack is replayed as the attacker, a
throw-away local user, against a real broker."""

import contextlib
import json
import os
import shutil
import subprocess
import sys

from corraltest import BUILD, DEFAULT_EMULATOR, UID_RANGE, Skip, check, run

# A range of our own for the start-up checks, so that the lines these tests
# put into /etc/subuid for a moment never stop another broker on this host.
RANGE_LO, RANGE_HI = 1879300000, 1879300999
RANGE = "%d-%d" % (RANGE_LO, RANGE_HI)


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root: throw-away users, uid isolation, /etc/subuid")


def snapshot_of(path):
    st = os.lstat(path)
    with open(path, "rb") as f:
        return (st.st_uid, st.st_gid, st.st_mode, f.read())


def decoy(env):
    """A root-owned file that no attack may touch."""
    path = os.path.join(env.dir, "decoy")
    with open(path, "w") as f:
        f.write("root's\n")
    os.chmod(path, 0o644)
    return path, snapshot_of(path)


def user_dir(env, user, uid, gid):
    """The attacker's own directory, as her home would be."""
    d = os.path.join(env.dir, user)
    os.makedirs(d)
    os.chown(d, uid, gid)
    os.chmod(d, 0o755)
    return d


def write_xml(env, name, **kw):
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(env.domain_xml(name, **kw))
    os.chmod(path, 0o644)
    return path


def own_disk(env, name, uid, gid):
    path = env.qcow2(name)
    os.chown(path, uid, gid)
    return path


def broker_refused(env, args, needle):
    """Starts corrald with args and asserts it refuses to run, saying needle."""
    argv = ([os.path.join(BUILD, "corrald"), "--state-dir", env.state, "--run-dir", env.run,
             "--foreground", "--no-config"]
            + env.emulator_args() + args)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env.env, timeout=60)
    except subprocess.TimeoutExpired:
        check(False, "corrald kept running with %s" % args)
    check(p.returncode != 0, "corrald refuses %s" % args)
    check(needle in p.stderr, "corrald says why (%r): %s" % (needle, p.stderr.strip()))
    return p.stderr


@contextlib.contextmanager
def extra_line(path, line):
    """Appends line to path for the duration; removes exactly that line
    afterwards, whatever else changed the file meanwhile (useradd)."""
    existed = os.path.exists(path)
    with open(path, "a+") as f:
        f.seek(0)
        text = f.read()
        if text and not text.endswith("\n"):
            f.write("\n")
            text += "\n"
        f.write(line + "\n")
    try:
        yield text.count("\n") + 1
    finally:
        with open(path) as f:
            lines = f.read().split("\n")
        if line in lines:
            lines.remove(line)
        if existed:
            with open(path, "w") as f:
                f.write("\n".join(lines))
        elif lines == [""]:
            os.unlink(path)


def vm_state(env, name):
    _, out, _ = env.ctl("domstate", name)
    return out.strip()


# -- item 3: the emulator ----------------------------------------------------

def user_cannot_choose_emulator(env):
    """Alice names her own script as the emulator: at start it would run as
    the VM's uid with her VM's disks and directories.  Refused at define; the
    script never runs.  Naming an allowed emulator other than the default is
    refused as well; the default, which libvirt's XML usually names, is not."""
    need_root()
    alice, auid, agid = env.add_user("al")
    home = user_dir(env, alice, auid, agid)
    marker = os.path.join(home, "ran")
    evil = os.path.join(home, "evil-qemu")
    with open(evil, "w") as f:
        f.write("#!/bin/sh\ntouch %s\nexec %s \"$@\"\n" % (marker, DEFAULT_EMULATOR))
    os.chown(evil, auid, agid)
    os.chmod(evil, 0o755)
    dpath, before = decoy(env)
    env.start_broker()
    disk = own_disk(env, "a.qcow2", auid, agid)
    for emulator in (evil, env.fake):
        xml = write_xml(env, "mine", machine="none", disks=[(disk, "vda")], emulator=emulator)
        _, _, err = env.ctl("define", xml, ok=False, user=alice)
        check("may not choose the emulator %s" % emulator in err and "only root and the admin "
              "group" in err, "a user's emulator is refused at define: " + err)
        env.ctl("start", "mine", ok=False, user=alice)
    _, out, _ = env.ctl("list", "--all")
    check("mine" not in out, "nothing was defined: " + out)
    # Straight through the socket, with an owner of her choosing: the same.
    code = ("import json, socket; s = socket.socket(socket.AF_UNIX); s.connect(%r); "
            "s.sendall(json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'vm.define', "
            "'params': {'xml': open(%r).read(), 'owner': %d}}).encode() + b'\\n'); "
            "print(s.makefile().readline())" % (env.sock, xml, auid))
    reply = json.loads(env.run_as(alice, ["python3", "-c", code]).stdout)
    check(reply.get("error", {}).get("code") == 1008, "refused over the socket: %s" % reply)
    if os.path.exists(DEFAULT_EMULATOR):
        xml = write_xml(env, "mine", machine="none", disks=[(disk, "vda")],
                        emulator=DEFAULT_EMULATOR)
        env.ctl("define", xml, user=alice)
        check(env.info("mine")["emulator"] == DEFAULT_EMULATOR, "the default emulator is kept")
    check(not os.path.exists(marker), "Alice's script never ran")
    check(snapshot_of(dpath) == before, "the decoy is untouched")


def admin_emulator_from_allowlist(env):
    """An admin (here of --admin-group) may name an emulator, but only one
    corrald was told to allow; root likewise."""
    need_root()
    adm, _, _ = env.add_user("adm")
    other = os.path.join(env.dir, "other-qemu")
    shutil.copy(env.fake, other)
    os.chmod(other, 0o755)
    env.broker_args = ["--admin-group", adm]
    env.start_broker()
    for who in (adm, None):
        xml = write_xml(env, "vm1", machine="none", disks=[(env.qcow2("1.qcow2"), "vda")],
                        emulator=other)
        _, _, err = env.ctl("define", xml, ok=False, user=who)
        check("emulator %s is not one corrald may run" % other in err and env.fake in err,
              "an emulator off the list is refused, and the list shown: " + err)
    xml = write_xml(env, "vm1", machine="none", disks=[(env.qcow2("1.qcow2"), "vda")],
                    emulator=env.fake)
    env.ctl("define", xml, user=adm)
    check(env.info("vm1")["emulator"] == env.fake, "an allowed emulator is accepted")


def emulator_checked_at_start(env):
    """The list may change between define and start, and so may the file:
    the emulator is checked again at each start."""
    need_root()
    env.start_broker()
    env.define("old", machine="none", emulator=env.fake, disks=[(env.qcow2("o.qcow2"), "vda")])
    # The file became writable by others: anyone could replace the program.
    os.chmod(env.fake, 0o757)
    try:
        _, _, err = env.ctl("start", "old", ok=False)
        check("only its owner may write" in err, "a writable emulator is refused: " + err)
    finally:
        os.chmod(env.fake, 0o755)
    check(vm_state(env, "old") == "shut off", "the VM did not start")
    env.stop_broker()
    # The broker restarts with a list that no longer holds it.
    env.emulator_args = lambda: ["--emulator", DEFAULT_EMULATOR]
    if not os.path.exists(DEFAULT_EMULATOR):
        raise Skip("no %s to allow instead" % DEFAULT_EMULATOR)
    env.start_broker()
    check("VM old: its emulator %s is not on the --emulator list" % env.fake in env.log_tail(),
          "the broker says so at start-up: " + env.log_tail())
    _, _, err = env.ctl("start", "old", ok=False)
    check("emulator %s is not one corrald may run" % env.fake in err, err)
    _, _, err = env.ctl("snapshot-list", "old", ok=False)
    check("is not one corrald may run" in err, "nor for snapshot work on the shut-off VM: " + err)
    check(vm_state(env, "old") == "shut off", "the VM did not start")


def allowlist_checked_at_broker_start(env):
    """Every --emulator must be a file only root can change, named by a path
    nobody else can redirect."""
    need_root()
    user, uid, gid = env.add_user("em")
    base = ["--uid-range", UID_RANGE]

    def copy(path, owner=0, mode=0o755):
        shutil.copy(env.fake, path)
        os.chown(path, owner, owner)
        os.chmod(path, mode)
        return path

    hers = copy(os.path.join(env.dir, "hers"), uid)
    broker_refused(env, base + ["--emulator", hers], "hers belongs to uid %d, not root" % uid)
    open_dir = os.path.join(env.dir, "open")
    os.makedirs(open_dir)
    os.chmod(open_dir, 0o777)
    inside = copy(os.path.join(open_dir, "qemu"))
    broker_refused(env, base + ["--emulator", inside], "others may write to (and not sticky)")
    writable = copy(os.path.join(env.dir, "writable"), mode=0o775)
    broker_refused(env, base + ["--emulator", writable], "only its owner may write")
    setuid = copy(os.path.join(env.dir, "setuid"), mode=0o4755)
    broker_refused(env, base + ["--emulator", setuid], "without set-id bits")
    link = os.path.join(env.dir, "link")
    os.symlink(env.fake, link)
    broker_refused(env, base + ["--emulator", link], "is a symbolic link")
    broker_refused(env, base + ["--emulator", env.dir + "/./fake-qemu"], "not a canonical path")
    broker_refused(env, base + ["--emulator", "fake-qemu"], "not an absolute path")
    broker_refused(env, base + ["--emulator", os.path.join(env.dir, "none")],
                   "No such file or directory")


# -- item 4: --no-isolation ----------------------------------------------------

def no_isolation_admins_only(env):
    """Without uid isolation a root broker runs every VM as root: a user's
    define, start and snapshot work on a shut-off VM (a maintenance QEMU)
    are refused; root's work; the log says so at start-up."""
    need_root()
    alice, auid, agid = env.add_user("ni")
    env.broker_args = ["--no-isolation"]
    env.start_broker()
    check("--no-isolation: every VM runs as root" in env.log_tail(), "warned at start-up: "
          + env.log_tail())
    disk = own_disk(env, "a.qcow2", auid, agid)
    xml = write_xml(env, "hers", machine="none", disks=[(disk, "vda")])
    _, _, err = env.ctl("define", xml, ok=False, user=alice)
    check("--no-isolation" in err and "only root and the admin group" in err, err)
    # Root defines one for her: she still may not start it.
    r = env.rpc().call("vm.define", {"xml": open(xml).read(), "owner": auid})
    check("result" in r, "root defines for Alice: %s" % r)
    _, _, err = env.ctl("start", "hers", ok=False, user=alice)
    check("--no-isolation" in err and "may not start" in err, err)
    _, _, err = env.ctl("snapshot-list", "hers", ok=False, user=alice)
    check("--no-isolation" in err, "no maintenance QEMU as root for her: " + err)
    check(vm_state(env, "hers") == "shut off", "her VM did not start")
    env.define("rootvm", machine="none", disks=[(env.qcow2("r.qcow2"), "vda")])
    env.ctl("start", "rootvm")
    env.wait_state("rootvm", "running")
    check(os.stat("/proc/%d" % env.info("rootvm")["qemu_pid"]).st_uid == 0, "root's VM runs")
    env.ctl("destroy", "rootvm")


# -- item 5: VM uids belong to nobody else -------------------------------------

def uid_range_overlapping_subids(env):
    """A range that overlaps a user's subordinate ids lets her map a VM's uid
    in a user namespace: refused at start-up, naming the entry."""
    need_root()
    tag = "ct-sub%d" % (os.getpid() % 100000)
    for path in ("/etc/subuid", "/etc/subgid"):
        with extra_line(path, "%s:%d:65536" % (tag, RANGE_HI - 10)) as n:
            err = broker_refused(env, ["--uid-range", RANGE], "%s line %d: %s" % (path, n, tag))
            check("%d-%d" % (RANGE_HI - 10, RANGE_HI - 10 + 65535) in err, err)
    # newuidmap reads 0x hex: so does the check.
    with extra_line("/etc/subuid", "%s:%s:1" % (tag, hex(RANGE_LO))) as n:
        broker_refused(env, ["--uid-range", RANGE], "/etc/subuid line %d" % n)
    # Gone again, the range is fine.
    env.broker_args = ["--uid-range", RANGE]
    env.start_broker()


def uid_range_overlapping_accounts(env):
    """An account's uid, or a group's gid (a VM's gid is its uid), inside the
    range: that account would own the VM's files."""
    need_root()
    user, uid, _ = env.add_user("ov")
    broker_refused(env, ["--uid-range", "%d-%d" % (uid, uid)],
                   "contains the uid %d of the account %s" % (uid, user))
    group = "ct-grp%d" % (os.getpid() % 100000)
    gid = RANGE_LO + 77
    subprocess.run(["groupadd", "-g", str(gid), group], check=True, capture_output=True)
    try:
        broker_refused(env, ["--uid-range", RANGE], "gid %d of the group %s" % (gid, group))
    finally:
        subprocess.run(["groupdel", group], capture_output=True)


def vm_user_binding_for_admins_only(env):
    """--vm-user web=bob makes a VM named web run as bob: a user who defines
    that name would get bob's uid.  Only root and admins may, for an admin
    owner; a binding added later does not run a user's VM either."""
    need_root()
    bob, buid, _ = env.add_user("vb")
    alice, auid, agid = env.add_user("va")
    broker_refused(env, ["--uid-range", UID_RANGE, "--vm-user", "web=root"], "which is root")
    broker_refused(env, ["--uid-range", UID_RANGE, "--vm-user", "web=ct-nobody-here"],
                   "which is no local user")
    env.broker_args = ["--vm-user", "web=" + bob]
    env.start_broker()
    disk = own_disk(env, "w.qcow2", auid, agid)
    xml = write_xml(env, "web", machine="none", disks=[(disk, "vda")])
    _, _, err = env.ctl("define", xml, ok=False, user=alice)
    check("runs as the local user %s" % bob in err, "a user may not define a bound name: " + err)
    r = env.rpc().call("vm.define", {"xml": open(xml).read(), "owner": auid})
    check(r.get("error", {}).get("code") == 1008, "nor root for her: %s" % r)
    # Alice's VM, defined before the binding.
    xml = write_xml(env, "later", machine="none", disks=[(disk, "vda")])
    env.ctl("define", xml, user=alice)
    env.stop_broker()
    env.broker_args = ["--vm-user", "later=" + bob]
    env.start_broker()
    for who in (alice, None):
        _, _, err = env.ctl("start", "later", ok=False, user=who)
        check("would run as the local user %s" % bob in err and "belongs to uid %d" % auid in err,
              err)
    check(vm_state(env, "later") == "shut off", "the VM did not start")
    check(os.stat(disk).st_uid == auid, "her disk was not handed to bob")


# -- item 9: admin lookups are cached, and a change is seen at once -------------

def admin_change_seen_at_once(env):
    """The broker caches who is an admin, but a user dropped from the admin
    group (gpasswd rewrites /etc/group) loses the rights with her next
    request, and regains them as soon as she is added back."""
    need_root()
    adm, _, _ = env.add_user("ad")
    group = "ct-adg%d" % (os.getpid() % 100000)
    subprocess.run(["groupadd", group], check=True, capture_output=True)
    try:
        subprocess.run(["usermod", "-aG", group, adm], check=True, capture_output=True)
        env.broker_args = ["--admin-group", group]
        env.start_broker()
        env.define("rootvm", machine="none", disks=[(env.qcow2("r.qcow2"), "vda")])
        _, out, _ = env.ctl("list", "--all", user=adm)
        check("rootvm" in out, "an admin sees every VM: " + out)
        subprocess.run(["gpasswd", "-d", adm, group], check=True, capture_output=True)
        _, out, _ = env.ctl("list", "--all", user=adm)
        check("rootvm" not in out, "revoked at once: " + out)
        _, _, err = env.ctl("undefine", "rootvm", ok=False, user=adm)
        check("permission denied" in err, err)
        subprocess.run(["usermod", "-aG", group, adm], check=True, capture_output=True)
        _, out, _ = env.ctl("list", "--all", user=adm)
        check("rootvm" in out, "granted again at once: " + out)
    finally:
        subprocess.run(["groupdel", group], capture_output=True)


if __name__ == "__main__":
    sys.exit(run([user_cannot_choose_emulator, admin_emulator_from_allowlist,
                  emulator_checked_at_start, allowlist_checked_at_broker_start,
                  no_isolation_admins_only, uid_range_overlapping_subids,
                  uid_range_overlapping_accounts, vm_user_binding_for_admins_only,
                  admin_change_seen_at_once]))
