"""Fault injection on real QEMU: SIGKILL the broker, a supervisor or QEMU at
random moments while snapshots are created and deleted in a loop, then check
what a user relies on: every metadata file parses, the tree is whole,
metadata and disks agree or each difference was reported, no report was
lost or made twice, and a broker restart never restarted a guest.

CORRAL_CRASH_KILLS (default 300) is the number of kills across the file;
CORRAL_CRASH_SEED makes a run repeatable (the seed is printed)."""

import glob
import os
import random
import re
import signal
import sys
import threading
import time
import xml.etree.ElementTree as ET

from corraltest import Fail, Rpc, check, run

KILLS = int(os.environ.get("CORRAL_CRASH_KILLS", "300"))
SEED = int(os.environ.get("CORRAL_CRASH_SEED", str(int(time.time()))))
# Kill rounds per test, in proportion to KILLS.
SHARE = {"broker": 0.27, "supervisor": 0.33, "qemu": 0.2, "mixed": 0.2}
# Never reach the restart limit here: test_restart covers it.
BROKER_ARGS = ["--restart-limit", "100000/1"]


def call(env, method, params=None, timeout=30):
    """One request on a fresh connection; None when the broker is away."""
    try:
        c = Rpc(env.sock, timeout)
    except OSError:
        return None
    try:
        return c.call(method, params)
    except (OSError, Fail, ValueError):
        return None
    finally:
        c.close()


def vm_info(env, vm):
    r = call(env, "vm.info", {"name": vm})
    return r.get("result") if r else None


def wait_for(env, vm, what, pred, timeout=60):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = vm_info(env, vm)
        if last is not None and pred(last):
            return last
        time.sleep(0.03)
    raise Fail("VM %s: %s did not happen within %d s (last vm.info: %r)" % (vm, what, timeout, last))


class Ops(threading.Thread):
    """Creates and deletes snapshots through the broker, without pause, as a
    user would, keeping at most three; errors are expected while things die."""

    def __init__(self, env, vm):
        super().__init__(daemon=True)
        self.env, self.vm = env, vm
        self.halt = threading.Event()
        self.n = 0
        self.done = 0
        self.errors = 0

    def run(self):
        c = None
        while not self.halt.is_set():
            try:
                if c is None:
                    c = Rpc(self.env.sock, 60)
                lst = c.call("snapshot.list", {"name": self.vm})
                names = [s["name"] for s in lst.get("result", {}).get("snapshots", [])]
                if len(names) >= 3:
                    r = c.call("snapshot.delete", {"name": self.vm, "snapshot": names[0]})
                else:
                    self.n += 1
                    r = c.call("snapshot.create", {"name": self.vm, "snapshot": "s%d" % self.n})
                if "result" in r:
                    self.done += 1
                else:
                    self.errors += 1
                    time.sleep(0.02)
            except (OSError, Fail, ValueError):
                if c is not None:
                    c.close()
                c = None
                time.sleep(0.05)
        if c is not None:
            c.close()

    def stop(self):
        self.halt.set()
        self.join(120)


def setup_vm(env, name):
    env.broker_args = list(BROKER_ARGS)
    env.start_broker()
    env.define(name, machine="none", memory_mib=16,
               disks=[(env.qcow2(name + "-a.qcow2"), "vda"), (env.qcow2(name + "-b.qcow2"), "vdb")])
    env.ctl("start", name)
    return wait_for(env, name, "start", lambda i: i.get("state") == "running")


def kill_one(env, vm, target, rng, tally):
    before = wait_for(env, vm, "a settled state",
                      lambda i: i.get("state") == "running" and i.get("qemu_pid"))
    time.sleep(rng.uniform(0, 0.3))
    if target == "broker":
        env.stop_broker(signal.SIGKILL)
        env.start_broker()
        after = wait_for(env, vm, "re-attachment", lambda i: i.get("state") == "running")
        check(after["qemu_pid"] == before["qemu_pid"],
              "the broker's restart left QEMU alone: pid %r -> %r" % (before["qemu_pid"], after["qemu_pid"]))
    elif target == "supervisor":
        try:
            os.kill(before["supervisor_pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        after = wait_for(env, vm, "re-adoption",
                         lambda i: i.get("state") == "running"
                         and i.get("supervisor_pid") != before["supervisor_pid"])
        check(after["qemu_pid"] == before["qemu_pid"],
              "the new supervisor re-adopted the same QEMU: pid %r -> %r" % (before["qemu_pid"], after["qemu_pid"]))
    else:
        try:
            os.kill(before["qemu_pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_for(env, vm, "the crash to be seen", lambda i: i.get("state") == "crashed")
        # Snapshot work goes on through maintenance QEMUs meanwhile; the
        # start must not be starved by it.
        r = call(env, "vm.start", {"name": vm}, timeout=60)
        check(r is not None and "result" in r, "the crashed VM starts again: %r" % r)
    tally[target] = tally.get(target, 0) + 1


def settle_and_check(env, vm, ops, tally):
    ops.stop()
    wait_for(env, vm, "a final settled state", lambda i: i.get("state") == "running")
    # Wait until no snapshot operation owns the VM any more.
    deadline = time.time() + 60
    chk = None
    while time.time() < deadline:
        chk = call(env, "snapshot.check", {"name": vm})
        if chk is not None and "result" in chk:
            break
        time.sleep(0.1)
    check(chk is not None and "result" in chk, "snapshot-check answers at the end: %r" % chk)
    vmdir = os.path.join(env.state, "vms", vm, "vm")
    sdir = os.path.join(vmdir, "snapshots")

    # A supervisor killed while writing left temporary files; the one that
    # took over removed them.
    stray = [os.path.join(root, f) for root, _, files in os.walk(vmdir) for f in files
             if ".tmp." in f]
    check(stray == [], "no temporary file survives its writer: %s" % stray[:5])

    # Every metadata file parses and names itself; the tree is whole.
    defs = {}
    for path in glob.glob(os.path.join(sdir, "*.xml")):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            raise Fail("metadata file %s does not parse: %s" % (path, e))
        name = root.findtext("name")
        check(name is not None and os.path.basename(path) == name + ".xml",
              "metadata file %s names itself (%r)" % (path, name))
        defs[name] = root
    reports = call(env, "vm.inconsistencies", {"name": vm})["result"]["reports"]
    kinds_of = {}
    for r in reports:
        kinds_of.setdefault(r["snapshot"], set()).add(r["kind"])
    for name, root in defs.items():
        parent = root.findtext("parent/name")
        check(parent is None or parent in defs,
              "snapshot %s's parent %s exists (snapshots: %s)" % (name, parent, sorted(defs)))
    current = [n for n, r in defs.items() if r.findtext("active") == "1"]
    check(len(current) <= 1 or any("duplicate-current" in kinds_of.get(n, ()) for n in current),
          "at most one current snapshot unless reported: %s" % current)

    # Metadata and disks agree, or every difference was reported.
    for d in chk["result"]["reports"]:
        check(d["snapshot"] in kinds_of,
              "difference %s on %s of snapshot %s was reported (reports: %s)"
              % (d["kind"], d["disks"], d["snapshot"], reports))

    # Reported once each, and none lost on the way to the broker.
    seqs = [r["seq"] for r in reports]
    check(len(seqs) == len(set(seqs)), "no report was kept twice: %s" % seqs)
    # An interrupted operation is an event of its own: two cut-short jobs
    # on one snapshot (its create, then its delete) are two reports, told
    # apart by the job they name.
    keys = [(r["snapshot"], r["kind"], tuple(r.get("disks") or ()), r.get("job"))
            for r in reports if r["kind"] not in ("duplicate-current", "unreadable")]
    check(all(r.get("job", "").startswith("corral-") for r in reports if r["kind"] == "interrupted"),
          "every interrupted report names its job: %s" % [r for r in reports if r["kind"] == "interrupted"][:3])
    check(len(keys) == len(set(keys)),
          "no difference was reported twice: %s" % [k for k in keys if keys.count(k) > 1])
    jdir = os.path.join(vmdir, "journal")
    deadline = time.time() + 10
    while time.time() < deadline and glob.glob(os.path.join(jdir, "*.json")):
        time.sleep(0.1)
    check(not glob.glob(os.path.join(jdir, "*.json")),
          "the broker acknowledged every journalled report: %s" % os.listdir(jdir))
    try:
        with open(os.path.join(jdir, ".seq")) as f:
            last = int(f.read().strip() or 0)
    except FileNotFoundError:
        last = 0  # no report was ever made
    # The broker keeps one copy of what a report said about a job: a
    # supervisor killed after journalling it but before recording so makes
    # it again, and the broker logs that it dropped the repeat.
    with open(env.broker_log, errors="replace") as f:
        repeats = [int(m.group(1)) for m in re.finditer(r"VM %s: report (\d+) repeats" % re.escape(vm), f.read())]
    accounted = set(seqs) | set(repeats)
    check(last == (max(accounted) if accounted else 0),
          "the broker holds the last report the supervisor made (seq %d; broker's: %s; repeats: %s)"
          % (last, seqs[-5:], repeats[-5:]))
    # A number with neither a report nor a repeat is one a supervisor took
    # for a report and was killed before writing it (then made again, under
    # a later number): at most one per supervisor kill.
    gaps = [n for n in range(1, last + 1) if n not in accounted]
    check(len(gaps) <= tally.get("supervisor", 0),
          "report numbers missing (%s) are no more than the supervisor kills (%d)"
          % (gaps[:10], tally.get("supervisor", 0)))
    print("# %d report numbers unused (supervisor killed while journalling), %d repeats dropped"
          % (len(gaps), len(repeats)))

    # And the VM still does its job.
    print("# %d reports: %s" % (len(reports), sorted({r["kind"] for r in reports})))
    if os.environ.get("CORRAL_CRASH_VERBOSE"):
        for r in reports:
            print("#   %s %s %s %s" % (r["seq"], r["snapshot"], r["kind"], r["detail"]))
    r = call(env, "snapshot.create", {"name": vm, "snapshot": "final"}, timeout=60)
    check(r is not None and "result" in r, "a snapshot can be created afterwards: %r" % r)
    r = call(env, "snapshot.delete", {"name": vm, "snapshot": "final"}, timeout=60)
    check(r is not None and "result" in r, "and deleted: %r" % r)


def loop(env, name, targets, rounds):
    rng = random.Random("%d-%s" % (SEED, name))
    setup_vm(env, name)
    ops = Ops(env, name)
    ops.start()
    tally = {}
    try:
        for _ in range(rounds):
            kill_one(env, name, rng.choice(targets), rng, tally)
    except Fail:
        ops.stop()
        raise
    settle_and_check(env, name, ops, tally)
    check(ops.done > 0, "snapshot operations succeeded between the kills")
    print("# %s: %s kills, %d snapshot operations done, %d failed (seed %d)"
          % (name, tally, ops.done, ops.errors, SEED))


def rounds(kind):
    return max(1, int(KILLS * SHARE[kind] + 0.5))


def kill_broker_during_snapshots(env):
    loop(env, "cb-vm", ["broker"], rounds("broker"))


def kill_supervisor_during_snapshots(env):
    loop(env, "cs-vm", ["supervisor"], rounds("supervisor"))


def kill_qemu_during_snapshots(env):
    loop(env, "cq-vm", ["qemu"], rounds("qemu"))


def kill_anything_during_snapshots(env):
    loop(env, "cm-vm", ["broker", "supervisor", "qemu"], rounds("mixed"))


if __name__ == "__main__":
    sys.exit(run([kill_broker_during_snapshots, kill_supervisor_during_snapshots,
                  kill_qemu_during_snapshots, kill_anything_during_snapshots]))
