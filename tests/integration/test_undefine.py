"""undefine as virsh has it: refused with snapshot metadata unless
--snapshots-metadata, and --remove-all-storage removing only what the caller
could remove herself (issue 13)."""

import os
import sys

from corraltest import check, run
from test_attack_statedir import decoy, fingerprint, need_root
from test_domain_devices import write_xml


def snapshots_metadata_rule(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("snapshot-create-as", "vm1", "s1")
    env.ctl("snapshot-create-as", "vm1", "s2")
    sdir = os.path.join(env.state, "vms", "vm1")
    _, _, err = env.ctl("undefine", "vm1", ok=False)
    check("cannot undefine VM vm1 with 2 snapshots: use --snapshots-metadata" in err, err)
    check(os.path.isdir(sdir), "nothing removed")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split() == ["s1", "s2"], "the snapshots are still there: %r" % out)
    _, out, _ = env.ctl("undefine", "vm1", "--snapshots-metadata")
    check(out.strip() == "Domain 'vm1' has been undefined", out)
    check(not os.path.exists(sdir), "the VM and its snapshot metadata are gone")
    # Without snapshots no option is needed.
    env.define("vm2")
    env.ctl("snapshot-create-as", "vm2", "t1")
    env.ctl("snapshot-delete", "vm2", "t1")
    env.ctl("undefine", "vm2")


def remove_all_storage(env):
    env.start_broker()
    iso = os.path.join(env.images, "cd.iso")
    with open(iso, "wb") as f:
        f.write(b"\0" * 2048)
    env.define("vm1", extra="<disk type='file' device='cdrom'><source file='%s'/>"
                            "<target dev='hdc' bus='ide'/></disk>" % iso)
    a, b = (os.path.join(env.images, n) for n in ("vm1-a.qcow2", "vm1-b.qcow2"))
    env.ctl("start", "vm1")
    _, _, err = env.ctl("undefine", "vm1", "--remove-all-storage", ok=False)
    check("destroy or shut it down first" in err, err)
    check(os.path.exists(a) and os.path.exists(b), "a refused undefine removes nothing")
    env.ctl("destroy", "vm1")
    _, out, _ = env.ctl("undefine", "vm1", "--remove-all-storage")
    check(out.splitlines() == ["Domain 'vm1' has been undefined",
                               "Volume 'vda'(%s) removed." % a, "Volume 'vdb'(%s) removed." % b],
          out)
    check(not os.path.exists(a) and not os.path.exists(b), "the images are gone")
    check(os.path.exists(iso), "the cdrom medium stays")


def swapped_images_are_kept(env):
    """alice defines a VM on her images, then swaps them for a symlink to a
    root file, a second link of a file, bob's file, and her directory for a
    symlink to root's: undefine --remove-all-storage removes none of them,
    only the one image still hers."""
    need_root()
    alice, auid, agid = env.add_user("rsa")
    bob, buid, bgid = env.add_user("rsb")
    env.start_broker()
    home = os.path.join(env.dir, "alice")
    sub = os.path.join(home, "sub")
    os.makedirs(sub)
    for p in (home, sub):
        os.chown(p, auid, agid)
        os.chmod(p, 0o755)
    # f: hers, in a directory of root's where she may not remove files
    # (as bob's file would be in a sticky /tmp had it replaced hers).
    rootdir = os.path.join(env.dir, "rootdir")
    os.makedirs(rootdir)
    os.chmod(rootdir, 0o755)
    names = ["a", "b", "c", "d", "e", "f"]
    paths = {}
    for n in names:
        src = env.qcow2(n + ".qcow2")
        paths[n] = os.path.join({"d": sub, "f": rootdir}.get(n, home), n + ".qcow2")
        os.rename(src, paths[n])
        os.chown(paths[n], auid, agid)
    xml = env.domain_xml("vma", machine="none",
                         disks=[(paths[n], "vd" + n) for n in names])
    env.ctl("define", write_xml(env, "vma", xml), user=alice)
    d = decoy(env)
    precious = os.path.join(d, "sub", "precious")
    before = fingerprint(d)
    # a: a symlink to a root file.
    os.unlink(paths["a"])
    os.symlink(precious, paths["a"])
    # b: a file of hers with a second link.
    os.link(paths["b"], os.path.join(home, "b-second"))
    # c: bob's file in its place.
    os.chown(paths["c"], buid, bgid)
    bob_before = fingerprint(paths["c"])
    # d: its directory swapped for a symlink to root's directory, where a
    # file of that name waits.
    os.rename(sub, sub + ".old")
    os.symlink(os.path.join(d, "sub"), sub)
    root_d = os.path.join(d, "sub", "d.qcow2")
    with open(root_d, "w") as f:
        f.write("root's\n")
    os.chown(root_d, auid, agid)
    before = fingerprint(d)
    rc, out, err = env.ctl("undefine", "vma", "--remove-all-storage", user=alice, ok=None)
    check(rc == 1, "exit status 1 when an image is kept: %d" % rc)
    check(out.splitlines() == ["Domain 'vma' has been undefined",
                               "Volume 'vde'(%s) removed." % paths["e"]], out)
    for n, why in (("a", "not a regular file"), ("b", "2 links"),
                   ("c", "owned by uid %d, not by the caller" % buid),
                   ("d", "its directory is a symbolic link"),
                   ("f", "cannot remove it: Permission denied")):
        check("Failed to remove storage volume 'vd%s'(%s)" % (n, paths[n]) in err
              and why in err.split("'vd%s'" % n, 1)[1].splitlines()[0], n + ": " + err)
    check(fingerprint(d) == before, "root's files are untouched")
    check(os.path.islink(paths["a"]) and os.path.exists(paths["b"]), "a and b kept")
    check(fingerprint(paths["c"]) == bob_before, "bob's file is untouched")
    check(not os.path.exists(paths["e"]), "her own image is removed")
    check(os.path.exists(paths["f"]), "root removed nothing alice could not")
    _, out, _ = env.ctl("list", "--all", "--name", user=alice)
    check(out.split() == [], "the VM is undefined all the same")


def bad_input(env):
    env.start_broker()
    env.define("vm1")
    c = env.rpc()
    for key in ("snapshots_metadata", "remove_all_storage"):
        r = c.call("vm.undefine", {"name": "vm1", key: 1})
        check(r.get("error", {}).get("code") == -32602, "%s must be a boolean: %r" % (key, r))
    check(os.path.exists(os.path.join(env.images, "vm1-a.qcow2")), "nothing removed")
    env.ctl("dominfo", "vm1")


if __name__ == "__main__":
    sys.exit(run([snapshots_metadata_rule, remove_all_storage, swapped_images_are_kept,
                  bad_input]))
