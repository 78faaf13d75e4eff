"""What a start finds on the disks when corral knows no snapshot: a start
skips asking QEMU for the disks' snapshots when every image's header counts
none (supervisor/vm_start_clean.h), and must still report a tag put on an
image behind corral's back, and still settle what an earlier start
reported."""

import subprocess
import sys
import time

from corraltest import Fail, check, result_of, run


def reports(env):
    r = result_of(env.rpc().call("vm.inconsistencies", {"name": "vm1"}), "inconsistencies")
    return sorted((x["snapshot"], x["kind"], tuple(x["disks"])) for x in r["reports"])


def wait_reports(env, want, timeout=20):
    """The start's reports reach the broker as events: waited for."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = reports(env)
        if got == want:
            return
        time.sleep(0.1)
    raise Fail("reports: want %r, got %r" % (want, got))


def tag(path, op, name):
    subprocess.run(["qemu-img", "snapshot", op, name, path], check=True, capture_output=True)


def restart(env):
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")


def tags_behind_corrals_back(env):
    env.start_broker()
    b = env.qcow2("vm1-b.qcow2")
    disks = [(env.qcow2("vm1-a.qcow2"), "vda"), (b, "vdb")]
    env.define("vm1", machine="none", memory_mib=16, disks=disks)
    # A clean first start: nothing to report.
    env.ctl("start", "vm1")
    r = result_of(env.rpc().call("snapshot.check", {"name": "vm1"}), "check")
    check(r["consistent"], "consistent: %r" % r)
    check(reports(env) == [], "nothing reported")
    restart(env)
    # A tag on one image and no metadata: the start's check reports it.
    tag(b, "-c", "t1")
    env.ctl("start", "vm1")
    wait_reports(env, [("t1", "orphan-on-disk", ("vdb",))])
    restart(env)
    # Gone again: the start finds nothing and settles the earlier report,
    # so that the same tag coming back is a new difference, reported again.
    tag(b, "-d", "t1")
    env.ctl("start", "vm1")
    r = result_of(env.rpc().call("snapshot.check", {"name": "vm1"}), "check")
    check(r["consistent"], "consistent after the tag went: %r" % r)
    restart(env)
    tag(b, "-c", "t1")
    env.ctl("start", "vm1")
    wait_reports(env, [("t1", "orphan-on-disk", ("vdb",))] * 2)


if __name__ == "__main__":
    sys.exit(run([tags_behind_corrals_back]))
