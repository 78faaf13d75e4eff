"""A revert that QEMU fails, with the fake QMP peer (real QEMU cannot be
made to fail a snapshot-load on cue): what the user is told and in which
state the VM is left, as proto/PROTOCOL.md "snapshot.revert" promises.

- QEMU fails before touching anything: the VM runs again, the current
  snapshot is unchanged, and the error says nothing was changed.
- QEMU fails while reading the VM state: the disks are reverted, so the
  guest is left paused ("revert failed: guest state unusable") and the error
  says why.
- QEMU fails on a later disk (an I/O error): earlier disks may be
  reverted, so the guest is left paused ("revert failed: disks may be
  partly reverted"), not resumed on half-reverted disks.
- QEMU is killed during the load: an `interrupted` report at once (and the
  error) saying to repair the images before the next start, the VM crashed; started again, the recovery settles the job without a second
  report, the current snapshot is unchanged, and the VM works."""

import os
import sys
import time

from corraltest import Fail, check, pending_intent, run


def setup(env, vm):
    env.start_broker()
    env.define(vm, machine="none", emulator=env.fake_qemu(),
               disks=[(env.qcow2(vm + "-1.qcow2"), "vda"), (env.qcow2(vm + "-2.qcow2"), "vdb")])
    env.ctl("start", vm)
    env.wait_state(vm, "running")
    c = env.rpc()
    for s in ("s1", "s2"):
        r = c.call("snapshot.create", {"name": vm, "snapshot": s})
        check("result" in r, "VM %s: snapshot %s created: %r" % (vm, s, r))
    check(current(env, vm) == "s2", "the last snapshot made is current")
    return c


def current(env, vm):
    return env.rpc().call("snapshot.current", {"name": vm})["result"]["current"]


def state(env, vm):
    return env.rpc().call("vm.state", {"name": vm})["result"]


def reports(env, vm):
    return env.rpc().call("vm.inconsistencies", {"name": vm})["result"]["reports"]


def load_fails_before_touching_anything(env):
    vm = "loadfail-vm"
    c = setup(env, vm)
    r = c.call("snapshot.revert", {"name": vm, "snapshot": "s1"})
    err = r.get("error", {})
    check(err.get("code") == 1017, "the revert fails with job-failed: %r" % r)
    msg = err.get("message", "")
    check("does not exist in one or more devices" in msg and "nothing was changed" in msg
          and "the VM was resumed" in msg,
          "the error gives QEMU's word and says nothing was changed and the VM resumed: %r" % msg)
    check(state(env, vm)["state"] == "running", "the VM runs again: %r" % state(env, vm))
    check(current(env, vm) == "s2", "the current snapshot is unchanged: %r" % current(env, vm))
    check(reports(env, vm) == [], "nothing to report: QEMU said what happened: %r" % reports(env, vm))
    _, out, _ = env.ctl("domstate", vm, "--reason")
    check(out.strip().startswith("running"), "domstate says running: %r" % out)


def load_fails_reading_the_vm_state(env):
    vm = "loadbad-vm"
    c = setup(env, vm)
    r = c.call("snapshot.revert", {"name": vm, "snapshot": "s1"})
    err = r.get("error", {})
    check(err.get("code") == 1017, "the revert fails with job-failed: %r" % r)
    msg = err.get("message", "")
    check("while loading the VM state" in msg and "Error -22" in msg and "left paused" in msg,
          "the error says the VM state could not be loaded and the guest was left paused: %r" % msg)
    st = state(env, vm)
    check(st == {"state": "paused", "reason": "revert failed: guest state unusable"} or
          (st["state"] == "paused" and st["reason"] == "revert failed: guest state unusable"),
          "the guest is left paused, and says why: %r" % st)
    _, out, _ = env.ctl("domstate", vm, "--reason")
    check(out.strip() == "paused (revert failed: guest state unusable)", "domstate says so: %r" % out)
    # A revert to another snapshot is the way out (the fake fails it too,
    # the same way): the VM stays paused, it is not resumed by accident.
    r = c.call("snapshot.revert", {"name": vm, "snapshot": "s2"})
    check(r.get("error", {}).get("code") == 1017, "the second load fails too: %r" % r)
    check(state(env, vm)["state"] == "paused", "still paused: %r" % state(env, vm))
    # Destroying it is the other.
    env.ctl("destroy", vm)
    env.wait_state(vm, "shut off")


def load_fails_on_a_later_disk(env):
    vm = "loadpart-vm"
    c = setup(env, vm)
    r = c.call("snapshot.revert", {"name": vm, "snapshot": "s1"})
    err = r.get("error", {})
    check(err.get("code") == 1017, "the revert fails with job-failed: %r" % r)
    msg = err.get("message", "")
    check("Could not load snapshot" in msg and "may already be reverted" in msg
          and "left paused" in msg and "resumed" not in msg,
          "the error gives QEMU's word and says the guest was left paused: %r" % msg)
    _, out, _ = env.ctl("domstate", vm, "--reason")
    check(out.strip() == "paused (revert failed: disks may be partly reverted)",
          "the guest is not resumed on half-reverted disks, and domstate says why: %r" % out)
    check(current(env, vm) == "s2", "the current snapshot is unchanged: %r" % current(env, vm))
    env.ctl("destroy", vm)
    env.wait_state(vm, "shut off")


def qemu_killed_mid_load(env):
    vm = "killload-vm"
    c = setup(env, vm)
    pid = env.info(vm)["qemu_pid"]
    r = c.call("snapshot.revert", {"name": vm, "snapshot": "s1"})
    err = r.get("error", {})
    check(err.get("code") == 1017 and "cut short" in err.get("message", "")
          and "qemu-img check -r all" in err.get("message", ""),
          "the revert's outcome is unknown; the error says it was cut short and how to repair "
          "the images QEMU may have left with refcounts too low: %r" % r)
    check("killed by signal 9" in env.wait_state(vm, "crashed"), "the VM crashed")
    rep = reports(env, vm)
    check([x["kind"] for x in rep] == ["interrupted"] and rep[0]["snapshot"] == "s1"
          and rep[0].get("job", "").startswith("corral-load-"),
          "one interrupted report about the load's job: %r" % rep)
    check(current(env, vm) == "s2", "the current snapshot is unchanged: %r" % current(env, vm))
    # Started again, QEMU no longer knows the job: the recovery settles it
    # (what the first report said stands: no second report).
    env.ctl("start", vm)
    env.wait_state(vm, "running")
    check(env.info(vm)["qemu_pid"] != pid, "a new QEMU runs")
    deadline = time.time() + 30
    while time.time() < deadline and pending_intent(env, vm) is not None:
        time.sleep(0.05)
    check(pending_intent(env, vm) is None, "the cut-short revert was settled")
    chk = c.call("snapshot.check", {"name": vm})
    check(chk.get("result", {}).get("consistent") is True,
          "metadata and disks agree after the recovery: %r" % chk)
    check(len(reports(env, vm)) == 1, "reported once: %r" % reports(env, vm))
    check(current(env, vm) == "s2", "the current snapshot is still unchanged")
    r = c.call("snapshot.delete", {"name": vm, "snapshot": "s1"})
    check("result" in r and r["result"]["deleted"] == ["s1"], "the VM does snapshot work again: %r" % r)
    if state(env, vm)["state"] != "running":
        raise Fail("the VM runs at the end: %r" % state(env, vm))


if __name__ == "__main__":
    sys.exit(run([load_fails_before_touching_anything, load_fails_reading_the_vm_state,
                  load_fails_on_a_later_disk, qemu_killed_mid_load]))
