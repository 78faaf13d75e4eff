"""The broker hands a VM's disks to its uid while the supervisor starts up,
and the supervisor starts QEMU only once told the disks are the VM's
(--go-fd).  A hand-over the broker refuses ends the start with its reason,
leaves no supervisor or QEMU behind and the image as it was; the next
start, once the cause is gone, runs.  The supervisor reads the snapshot
metadata while QEMU starts up: when it cannot, the start fails the same
way, and the QEMU it spawned (still at -S) does not outlive it."""

import os
import sys

from corraltest import Skip, check, run


def processes_of(env):
    """Command lines of the processes that run for this test's broker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(env.dir.encode() in a for a in argv) and any(
                b"corral-supervisor" in a or b"qemu-system" in a for a in argv[:1]):
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


def refused_hand_over_leaves_nothing(env):
    if os.geteuid() != 0:
        raise Skip("needs root: disks are handed to VM uids only then")
    env.start_broker()
    private = os.path.join(env.dir, "private")
    os.makedirs(private)
    img = env.qcow2(os.path.join(private, "vm1-a.qcow2"))
    env.define("vm1", machine="none", memory_mib=16, disks=[(img, "vda")])
    # A directory the VM's uid cannot traverse: the hand-over refuses.
    os.chmod(private, 0o700)
    before = os.stat(img)
    for _ in range(3):
        _, _, err = env.ctl("start", "vm1", ok=False)
        check("cannot be reached by the VM's uid" in err, "refused with the reason: " + err)
        check(env.wait_state("vm1", "shut off").startswith("shut off"), "still shut off")
        check(processes_of(env) == [], "nothing left running: %r" % processes_of(env))
        after = os.stat(img)
        check((after.st_uid, after.st_gid, after.st_mode) ==
              (before.st_uid, before.st_gid, before.st_mode), "the image is as it was")
    os.chmod(private, 0o755)
    env.ctl("start", "vm1")
    check(env.wait_state("vm1", "running").startswith("running"), "runs once reachable")
    check(os.stat(img).st_uid != before.st_uid, "handed to the VM's uid")
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    check(os.stat(img).st_uid == before.st_uid, "given back")


def unreadable_metadata_directory_fails_start(env):
    env.start_broker()
    env.define("vm2", machine="none", memory_mib=16)
    env.ctl("start", "vm2")
    env.ctl("destroy", "vm2")
    env.wait_state("vm2", "shut off")
    snaps = os.path.join(env.state, "vms", "vm2", "vm", "snapshots")
    check(os.path.isdir(snaps), "the metadata directory exists: %s" % snaps)
    os.rename(snaps, snaps + ".away")
    with open(snaps, "w") as f:
        f.write("not a directory\n")
    _, _, err = env.ctl("start", "vm2", ok=False)
    check("snapshots" in err, "the start fails naming the metadata: " + err)
    check(env.wait_state("vm2", "shut off").startswith("shut off"), "still shut off")
    check(processes_of(env) == [], "no QEMU outlives the failed start: %r" % processes_of(env))
    os.unlink(snaps)
    os.rename(snaps + ".away", snaps)
    env.ctl("start", "vm2")
    check(env.wait_state("vm2", "running").startswith("running"), "runs once readable")
    env.ctl("destroy", "vm2")
    env.wait_state("vm2", "shut off")


if __name__ == "__main__":
    sys.exit(run([refused_hand_over_leaves_nothing, unreadable_metadata_directory_fails_start]))
