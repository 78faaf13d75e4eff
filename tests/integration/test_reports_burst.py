"""A burst of inconsistency reports (a start that finds hundreds of
snapshots whose tags are not on disk), journalled with one sync and kept by
the broker in batches: every difference reaches the broker's ledger exactly
once, even when the broker is killed in the middle of the burst, and the
supervisor's journal empties once they are acknowledged."""

import os
import signal
import sys
import time

from corraltest import Rpc, check, run

COUNT = 300


def redefine_missing(env, vm, n):
    """n snapshots in vm's metadata whose tags are on no disk."""
    c = Rpc(env.sock, 300)
    r = c.call("snapshot.create", {"name": vm, "snapshot": "template"})
    check("result" in r, "template snapshot: %r" % r)
    xml = c.call("snapshot.dumpxml", {"name": vm, "snapshot": "template"})["result"]["xml"]
    check("result" in c.call("snapshot.delete", {"name": vm, "snapshot": "template"}),
          "template deleted")
    for i in range(n):
        body = xml.replace("<name>template</name>", "<name>gone%04d</name>" % i, 1)
        r = c.call("snapshot.redefine", {"name": vm, "xml": body})
        check("result" in r, "redefine %d: %r" % (i, r))
    c.close()


def reports_of(env, vm):
    r = Rpc(env.sock).call("vm.inconsistencies", {"name": vm})
    return r["result"]["reports"] if "result" in r else None


def wait_all(env, vm, n, timeout=120):
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        got = reports_of(env, vm) or []
        if len(got) >= n:
            return got
        time.sleep(0.1)
    return got


def check_exactly_once(env, vm, reports):
    names = sorted(r["snapshot"] for r in reports)
    check(names == ["gone%04d" % i for i in range(COUNT)],
          "each difference kept exactly once: %d reports, %d distinct"
          % (len(names), len(set(names))))
    check(all(r["kind"] == "missing" and r["disks"] == ["vda", "vdb"] for r in reports),
          "each says the tag is missing on both disks: %r" % reports[:2])
    seqs = [r["seq"] for r in reports]
    check(len(set(seqs)) == len(seqs), "no number twice")
    jdir = os.path.join(env.state, "vms", vm, "vm", "journal")
    deadline = time.time() + 60
    while time.time() < deadline and any(f.endswith(".json") for f in os.listdir(jdir)):
        time.sleep(0.1)
    left = [f for f in os.listdir(jdir) if f.endswith(".json") or ".tmp." in f]
    check(left == [], "the journal emptied, no temporary file left: %s" % left[:5])


def restart_with_missing_tags(env):
    """vm1 started afresh with COUNT snapshots whose tags are on no disk."""
    env.start_broker()
    env.define("vm1", machine="none", memory_mib=16)
    env.ctl("start", "vm1")
    redefine_missing(env, "vm1", COUNT)
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    env.ctl("start", "vm1")


def burst_kept_once(env):
    restart_with_missing_tags(env)
    check_exactly_once(env, "vm1", wait_all(env, "vm1", COUNT))
    seq_file = os.path.join(env.state, "vms", "vm1", "vm", "journal", ".seq")
    with open(seq_file) as f:
        before = f.read()
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    env.ctl("start", "vm1")
    # The check runs before the VM counts as running, and journals what it
    # reports first: an unchanged .seq means it reported nothing again.
    with open(seq_file) as f:
        check(f.read() == before, "a second start reports the standing differences again")
    check(len(reports_of(env, "vm1")) == COUNT, "the broker holds no more reports")


def broker_killed_mid_burst(env):
    restart_with_missing_tags(env)
    # Killed while reports are on their way: some kept, some only journalled.
    deadline = time.time() + 60
    while len(reports_of(env, "vm1") or []) == 0 and time.time() < deadline:
        pass
    env.stop_broker(signal.SIGKILL)
    env.start_broker()
    check_exactly_once(env, "vm1", wait_all(env, "vm1", COUNT))


if __name__ == "__main__":
    sys.exit(run([burst_kept_once, broker_killed_mid_burst]))
