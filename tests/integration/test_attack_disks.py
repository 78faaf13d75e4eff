"""Disk images handed to a VM's uid, attacked by their owner: a user who
controls the image's directory swaps the image, or a directory on its path,
for a symlink to a root file before the start or while the VM runs, links
it, names it twice, or writes a qcow2 header that names other files.  The
broker acts only on the file it checked, found without following a symlink,
and never touches the decoy root files (owner, mode, content)."""

import json
import os
import signal
import sys
import time

from corraltest import UID_MAX, UID_MIN, Fail, Skip, check, pid_alive, run


# The interpreter running the tests may sit where other users cannot enter.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root: images are handed to VM uids only then")


def user_home(env, tag):
    """A throw-away user and a directory of hers under the test dir."""
    name, uid, gid = env.add_user(tag)
    home = os.path.join(env.dir, "home-" + tag)
    os.makedirs(home)
    os.chown(home, uid, gid)
    os.chmod(home, 0o755)
    return name, uid, home


def user_qcow2(env, user, path, *opts):
    env.run_as(user, ["qemu-img", "create", "-q", "-f", "qcow2"] + list(opts) + [path, "16M"])
    return path


def decoy(env, name, mode=0o644):
    """A root file the attacker wants handed to her: its facts before."""
    d = os.path.join(env.dir, "decoys")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(b"root's secret " + name.encode() + b"\n")
    os.chmod(path, mode)
    return path


def facts(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return (st.st_uid, st.st_gid, st.st_mode, st.st_ino, st.st_nlink, f.read())


def user_define(env, user, vm, disks, ok=True):
    xml = os.path.join(env.dir, vm + ".xml")
    with open(xml, "w") as f:
        f.write(env.domain_xml(vm, disks=disks, machine="none"))
    os.chmod(xml, 0o644)
    return env.ctl("define", xml, ok=ok, user=user)


def as_user(env, user, code):
    """Python code run as the attacker."""
    env.run_as(user, [PYTHON, "-c", "import os\n" + code])


def wait_for(pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise Fail("never happened: " + what)


def symlink_before_start(env):
    """(a) The image itself becomes a symlink to a root file."""
    need_root()
    env.start_broker()
    alice, uid, home = user_home(env, "sla")
    img = user_qcow2(env, alice, os.path.join(home, "img.qcow2"))
    target = decoy(env, "shadow")
    before = facts(target)
    user_define(env, alice, "vma", [(img, "vda")])
    as_user(env, alice, "os.rename(%r, %r); os.symlink(%r, %r)" % (img, img + ".real", target, img))
    _, _, err = env.ctl("start", "vma", ok=False, user=alice)
    check("'%s' is a symlink" % img in err, "start refused, naming the symlink: " + err)
    check(facts(target) == before, "the decoy is untouched")
    # A symlink at define is refused just as well.
    _, _, err = user_define(env, alice, "vmb", [(img, "vda")], ok=False)
    check("is a symlink" in err, "define refused: " + err)
    check(facts(target) == before, "the decoy is untouched")


def directory_symlink_before_start(env):
    """(b) A directory on the image's path becomes a symlink to a root
    directory holding a file of the image's name."""
    need_root()
    env.start_broker()
    alice, uid, home = user_home(env, "sld")
    vmdir = os.path.join(home, "vm")
    env.run_as(alice, ["mkdir", vmdir])
    img = user_qcow2(env, alice, os.path.join(vmdir, "img.qcow2"))
    target = decoy(env, "img.qcow2")
    before = facts(target)
    user_define(env, alice, "vma", [(img, "vda")])
    as_user(env, alice, "os.rename(%r, %r); os.symlink(%r, %r)"
            % (vmdir, vmdir + ".real", os.path.dirname(target), vmdir))
    _, _, err = env.ctl("start", "vma", ok=False, user=alice)
    check("'%s' is a symlink" % vmdir in err, "start refused, naming the directory: " + err)
    check(facts(target) == before, "the decoy is untouched")


def swap_while_running(env):
    """(c) While the VM runs, the owner renames her image away and puts a
    symlink to a root file in its place: the stop gives nothing to her, the
    hand-back waits (start and undefine refused, logged) until the image is
    back, and goes through at the next broker start."""
    need_root()
    env.start_broker()
    alice, uid, home = user_home(env, "run")
    img = user_qcow2(env, alice, os.path.join(home, "img.qcow2"))
    moved = img + ".moved"
    target = decoy(env, "passwd")
    before = facts(target)
    user_define(env, alice, "vma", [(img, "vda")])
    env.ctl("start", "vma", user=alice)
    st = os.stat(img)
    check(UID_MIN <= st.st_uid <= UID_MAX and st.st_mode & 0o7777 == 0o600,
          "the image is the VM uid's, owner-only, while it runs")
    vm_uid = st.st_uid
    as_user(env, alice, "os.rename(%r, %r); os.symlink(%r, %r)" % (img, moved, target, img))
    env.ctl("destroy", "vma", user=alice)
    env.wait_state("vma", "shut off")
    check(facts(target) == before, "the decoy is untouched by the stop")
    check(os.stat(moved).st_uid == vm_uid, "the real image is kept by the VM uid, to retry")
    check("disk '%s' not given back yet" % img in env.log_tail(), "the kept hand-back is logged")
    _, _, err = env.ctl("start", "vma", ok=False, user=alice)
    check("could not be given back" in err, "no start until it is back: " + err)
    _, _, err = env.ctl("undefine", "vma", ok=False, user=alice)
    check("could not give back" in err, "no undefine either (its uid owns the image): " + err)
    check(facts(target) == before, "the decoy is untouched by the retries")
    # She puts it back; the broker's next start gives it back.
    as_user(env, alice, "os.unlink(%r); os.rename(%r, %r)" % (img, moved, img))
    env.stop_broker()
    env.start_broker()
    wait_for(lambda: os.stat(img).st_uid == uid, "the image is Alice's again after a broker start")
    check(os.stat(img).st_mode & 0o7777 == 0o644, "with its mode")
    env.ctl("start", "vma", user=alice)
    env.ctl("destroy", "vma", user=alice)
    env.wait_state("vma", "shut off")
    check(os.stat(img).st_uid == uid, "a normal run gives it back")
    env.ctl("undefine", "vma", user=alice)
    check(facts(target) == before, "the decoy is untouched")


def hard_links_refused(env):
    """(d) An image with a second name is refused at define and at start:
    the other name may be where its owner does not decide.  (A user links
    a root file where protected_hardlinks is off: root plays that part.)"""
    need_root()
    env.start_broker()
    alice, uid, home = user_home(env, "hl")
    target = decoy(env, "sudoers")
    before = facts(target)
    linked = os.path.join(home, "linked.qcow2")
    os.link(target, linked)
    _, _, err = user_define(env, alice, "vma", [(linked, "vda")], ok=False)
    check("'%s' has 2 links" % linked in err, "define refused: " + err)
    os.unlink(linked)
    img = user_qcow2(env, alice, os.path.join(home, "img.qcow2"))
    user_define(env, alice, "vma", [(img, "vda")])
    as_user(env, alice, "os.link(%r, %r)" % (img, img + ".2"))
    _, _, err = env.ctl("start", "vma", ok=False, user=alice)
    check("has 2 links" in err, "start refused: " + err)
    check(os.stat(img).st_uid == uid, "the image stays hers")
    check(facts(target)[:3] == before[:3] and facts(target)[5] == before[5], "the decoy is untouched")


def same_image_twice(env):
    """(e) One image under two names in one VM, or in two VMs at once."""
    need_root()
    env.start_broker()
    alice, uid, home = user_home(env, "tw")
    img = user_qcow2(env, alice, os.path.join(home, "img.qcow2"))
    other = os.path.join(home, ".", "img.qcow2")
    _, _, err = user_define(env, alice, "vmx", [(img, "vda"), (other, "vdb")], ok=False)
    check("is the same file as disk vda" in err, "two names for one file refused: " + err)
    user_define(env, alice, "vma", [(img, "vda")])
    user_define(env, alice, "vmb", [(other, "vda")])
    # Root's VM may use anybody's image, but not one another VM holds.
    env.define("vmroot", machine="none", disks=[(other, "vda")])
    env.ctl("start", "vma", user=alice)
    vm_uid = os.stat(img).st_uid
    _, _, err = env.ctl("start", "vmb", ok=False, user=alice)
    check("not a file owned by uid %d" % uid in err, "her second VM is refused: " + err)
    _, _, err = env.ctl("start", "vmroot", ok=False)
    check("handed to VM vma" in err, "root's VM is refused by file, not name: " + err)
    check(os.stat(img).st_uid == vm_uid, "the image stays with the running VM")
    # The record survives a broker restart.
    env.stop_broker()
    env.start_broker()
    _, _, err = env.ctl("start", "vmroot", ok=False)
    check("handed to VM vma" in err, "still refused after a broker restart: " + err)
    env.ctl("destroy", "vma", user=alice)
    env.wait_state("vma", "shut off")
    check(os.stat(img).st_uid == uid, "back to Alice")
    env.ctl("start", "vmroot")
    env.ctl("destroy", "vmroot")
    env.wait_state("vmroot", "shut off")
    check(os.stat(img).st_uid == uid, "back to Alice after root's VM too")


def qcow2_header_files(env):
    """(f) A qcow2 header naming a backing file QEMU would open as the VM
    uid (a root-only file): the VM starts without it.  One asking for an
    external data file is refused, at define and at start."""
    need_root()
    env.start_broker()
    alice, uid, home = user_home(env, "qc")
    secret = decoy(env, "root-only.raw", mode=0o600)
    before = facts(secret)
    img = user_qcow2(env, alice, os.path.join(home, "img.qcow2"), "-u", "-b", secret, "-F", "raw")
    user_define(env, alice, "vma", [(img, "vda")])
    env.ctl("start", "vma", user=alice)
    _, out, _ = env.ctl("qemu-monitor-command", "vma", '{"execute":"query-named-block-nodes"}')
    nodes = json.loads(out)["return"]
    # The header's name is still reported as image metadata (backing-filename);
    # no node is opened on it.
    check(sorted(n["node-name"] for n in nodes) == ["drive-vda", "drive-vda-file"]
          and all(n["file"] != secret and n["image"]["filename"] != secret
                  and n["backing_file_depth"] == 0 for n in nodes),
          "QEMU opened no node on the backing file: " + out)
    check(any(n["file"] == img for n in nodes), "it opened the image: " + out)
    check("names a backing file" in env.log_tail(), "the broker says it ignores the backing file")
    env.ctl("destroy", "vma", user=alice)
    env.wait_state("vma", "shut off")
    check(facts(secret) == before, "the root file is untouched")

    data = os.path.join(home, "data.raw")
    bad = user_qcow2(env, alice, os.path.join(home, "df.qcow2"),
                     "-o", "data_file=%s,data_file_raw=on" % data)
    _, _, err = user_define(env, alice, "vmb", [(bad, "vda")], ok=False)
    check("external data file" in err and bad in err, "define refused: " + err)
    # The same header written into a defined image before its start.
    good = user_qcow2(env, alice, os.path.join(home, "good.qcow2"))
    user_define(env, alice, "vmc", [(good, "vda")])
    as_user(env, alice, "b = open(%r, 'rb').read()\nf = open(%r, 'r+b')\nf.write(b)\nf.close()"
            % (bad, good))
    _, _, err = env.ctl("start", "vmc", ok=False, user=alice)
    check("external data file" in err, "start refused: " + err)
    check(os.stat(good).st_uid == uid, "the image stays hers")


def legacy_records(env):
    """identity.json written by an earlier version (no dev and ino) was
    writable by the VM's uid: its entries give back only a lone regular file
    the VM's uid owns, and only to the VM's owner, whatever they say."""
    need_root()
    env.start_broker()
    alice, uid, home = user_home(env, "lg")
    img = user_qcow2(env, alice, os.path.join(home, "img.qcow2"))
    target = decoy(env, "forged")
    before = facts(target)
    user_define(env, alice, "vma", [(img, "vda")])
    env.ctl("start", "vma", user=alice)
    vm_uid = os.stat(img).st_uid
    info = env.info("vma")
    env.stop_broker()
    for pid in (info["supervisor_pid"], info["qemu_pid"]):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(info["supervisor_pid"]) and not pid_alive(info["qemu_pid"]),
             "the VM's processes are gone")
    # The VM ended while the broker is away; its record is the old kind,
    # forged to give the image to root and the decoy to the VM's uid.
    ident = os.path.join(env.state, "vms", "vma", "identity.json")
    with open(ident) as f:
        rec = json.load(f)
    rec["disks"] = [{"path": img, "uid": 0, "gid": 0, "mode": 0o4755},
                    {"path": target, "uid": vm_uid, "gid": vm_uid, "mode": 0o777}]
    with open(ident, "w") as f:
        json.dump(rec, f)
    env.start_broker()
    wait_for(lambda: os.stat(img).st_uid == uid, "the image goes back to its owner, not root")
    check(os.stat(img).st_mode & 0o7777 == 0o755, "without set-id bits")
    check(facts(target) == before, "the decoy is untouched")
    env.ctl("start", "vma", user=alice)
    env.ctl("destroy", "vma", user=alice)
    env.wait_state("vma", "shut off")
    check(os.stat(img).st_uid == uid, "and the VM runs as before")


if __name__ == "__main__":
    run([symlink_before_start, directory_symlink_before_start, swap_while_running,
         hard_links_refused, same_image_twice, qcow2_header_files, legacy_records])
