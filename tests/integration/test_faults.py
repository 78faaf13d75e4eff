"""QEMU, a supervisor or the broker dying, and a QEMU that answers garbage or
stops answering: the VM's state stays true and nothing hangs."""

import json
import subprocess
import os
import signal
import sys
import time

from corraltest import Fail, check, pending_intent, pid_alive, run



def wait_dead(pid, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    raise Fail("pid %d still alive" % pid)


def qemu_killed(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    info = env.info("vm1")
    os.kill(info["qemu_pid"], signal.SIGKILL)
    state = env.wait_state("vm1", "crashed")
    check("killed by signal 9" in state, state)
    wait_dead(info["supervisor_pid"])
    check(env.info("vm1")["last_exit"]["signal"] == 9, "exit facts recorded")
    # A crashed VM starts again.
    env.ctl("start", "vm1")
    env.wait_state("vm1", "running")
    env.ctl("destroy", "vm1")


def supervisor_killed(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    info = env.info("vm1")
    os.kill(info["supervisor_pid"], signal.SIGKILL)
    deadline = time.time() + 30
    now = info
    # vm.info names the new supervisor as soon as it is spawned; it has
    # taken QEMU over once the reason is no longer "supervisor restarting".
    while time.time() < deadline and (now["supervisor_pid"] == info["supervisor_pid"]
                                      or now["reason"] == "supervisor restarting"):
        time.sleep(0.1)
        now = env.info("vm1")
    # QEMU runs on: a new supervisor took it over.
    check(now["qemu_pid"] == info["qemu_pid"] and pid_alive(info["qemu_pid"]),
          "the same QEMU runs on: %r" % now)
    check(now["state"] == "running" and now["supervisor_restarts"] == 1, "re-adopted: %r" % now)
    _, out, _ = env.ctl("dominfo", "vm1")
    check("Supervisor restarts: 1" in out and "signal 9" in out, "dominfo shows the restart: " + out)
    env.ctl("destroy", "vm1")
    check(env.wait_state("vm1", "shut off") == "shut off (destroyed)", "the new supervisor destroys it")
    wait_dead(info["qemu_pid"])


def broker_restart_keeps_vms(env):
    env.start_broker()
    env.define("vm1")
    env.define("vm2")
    env.ctl("start", "vm1")
    env.ctl("start", "vm2")
    env.ctl("suspend", "vm2")
    i1, i2 = env.info("vm1"), env.info("vm2")
    env.stop_broker(signal.SIGKILL)
    check(pid_alive(i1["qemu_pid"]) and pid_alive(i2["supervisor_pid"]),
          "VMs keep running without the broker")
    env.start_broker()
    check(env.wait_state("vm1", "running") == "running (booted)", "vm1 re-attached")
    check(env.wait_state("vm2", "paused") == "paused (user)", "vm2 still paused")
    j1 = env.info("vm1")
    check(j1["qemu_pid"] == i1["qemu_pid"], "same QEMU, not restarted")
    env.ctl("resume", "vm2")
    env.wait_state("vm2", "running")
    # The re-attached supervisor is watched: its QEMU's death is seen.
    os.kill(i1["qemu_pid"], signal.SIGKILL)
    check("killed by signal 9" in env.wait_state("vm1", "crashed"), "crash seen after re-attach")
    env.ctl("destroy", "vm2")
    env.wait_state("vm2", "shut off")


def broker_restart_after_supervisor_died(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    info = env.info("vm1")
    env.stop_broker(signal.SIGKILL)
    os.kill(info["supervisor_pid"], signal.SIGKILL)
    wait_dead(info["supervisor_pid"])
    env.start_broker()
    # The record's supervisor is gone: handled as a supervisor crash.
    deadline = time.time() + 30
    now = env.info("vm1")
    while time.time() < deadline and now.get("supervisor_pid") in (None, info["supervisor_pid"]):
        time.sleep(0.1)
        now = env.info("vm1")
    check(now["state"] == "running" and now["qemu_pid"] == info["qemu_pid"],
          "re-adopted by a new supervisor, guest untouched: %r" % now)


def garbage_from_qemu(env):
    env.start_broker()
    env.define("garbage-vm", machine="none", emulator=env.fake_qemu(),
               disks=[(env.qcow2("g.qcow2"), "vda")])
    env.ctl("start", "garbage-vm")
    check(env.wait_state("garbage-vm", "running") == "running (booted)", "started through garbage")
    _, out, _ = env.ctl("qemu-monitor-command", "garbage-vm", '{"execute":"query-status"}')
    check(json.loads(out)["return"]["status"] == "running", "real reply found among garbage: " + out)
    env.ctl("destroy", "garbage-vm")
    check(env.wait_state("garbage-vm", "shut off") == "shut off (destroyed)", "destroyed")


def qemu_dies_during_start(env):
    env.start_broker()
    env.define("die-vm", machine="none", emulator=env.fake_qemu(), disks=[(env.qcow2("d.qcow2"), "vda")])
    _, _, err = env.ctl("start", "die-vm", ok=False)
    check("dying on purpose" in err and "status 3" in err, "QEMU's words reach the user: " + err)
    env.wait_state("die-vm", "shut off")


def qemu_that_never_greets(env):
    """A QEMU that takes the monitor connection but never sends its
    greeting fails the start after 30 s, and is killed, instead of holding
    the start for good."""
    env.start_broker()
    env.define("nogreet-vm", machine="none", emulator=env.fake_qemu(),
               disks=[(env.qcow2("n.qcow2"), "vda")])
    _, _, err = env.ctl("start", "nogreet-vm", ok=False, timeout=90)
    check("did not answer" in err, "the start says why it failed: " + err)
    env.wait_state("nogreet-vm", "shut off")
    out = subprocess.run(["pgrep", "-f", "guest=nogreet-vm"], capture_output=True, text=True).stdout
    check(out.strip() == "", "no QEMU of the failed start is left: " + out)


def hung_monitor_does_not_block(env):
    env.start_broker()
    env.define("mute-vm", machine="none", emulator=env.fake_qemu(), disks=[(env.qcow2("m.qcow2"), "vda")])
    env.ctl("start", "mute-vm")
    c = env.rpc()
    q = c.send("vm.qmp", {"name": "mute-vm", "command": {"execute": "query-status"}})
    # While that command waits for an answer that never comes, the state is
    # still answered from the supervisor's own knowledge, and destroy works.
    check(env.rpc().call("vm.state", {"name": "mute-vm"})["result"]["state"] == "running",
          "state answered while QMP hangs")
    env.ctl("destroy", "mute-vm")
    env.wait_state("mute-vm", "shut off")
    r = c.wait(q)
    check("error" in r, "the hung command fails instead of hanging: %r" % r)


def blocked_monitor_during_save(env):
    env.start_broker()
    env.define("hangsave-vm", machine="none", emulator=env.fake_qemu(),
               disks=[(env.qcow2("h.qcow2"), "vda")])
    env.ctl("start", "hangsave-vm")
    ev = env.rpc()
    ev.call("events.subscribe", {"name": "hangsave-vm"})
    c = env.rpc()
    # A snapshot in the metadata only, to try to make current during the save.
    older = c.call("snapshot.redefine", {"name": "hangsave-vm", "xml": (
        "<domainsnapshot><name>older</name><state>running</state>"
        "<creationTime>1700000000</creationTime></domainsnapshot>")})
    check("result" in older, "a snapshot redefined before the save: %r" % older)
    save = c.send("snapshot.create", {"name": "hangsave-vm", "snapshot": "big"})
    # Until QEMU runs the save (and then blocks its monitor for good).
    while True:
        m = ev.read_msg()
        if m.get("method") == "job.progress" and m["params"].get("status") == "running":
            break
    # QEMU's monitor is stuck in the save: state and info come from the
    # supervisor, destroy works by signals.
    check(env.rpc().call("vm.state", {"name": "hangsave-vm"})["result"]["state"] == "running",
          "domstate answers during the save")
    check(env.info("hangsave-vm")["state"] == "running", "dominfo answers during the save")
    other = env.rpc().call("snapshot.create", {"name": "hangsave-vm", "snapshot": "second"})
    check(other.get("error", {}).get("code") == 1014, "a second snapshot job is refused: %r" % other)
    # The save makes "big" current when it ends: a change now would be lost.
    cur = env.rpc().call("snapshot.current", {"name": "hangsave-vm", "snapshot": "older"})
    check(cur.get("error", {}).get("code") == 1014, "snapshot-current NAME is refused: %r" % cur)
    cur = env.rpc().call("snapshot.current", {"name": "hangsave-vm"})
    check(cur.get("result") == {"current": None}, "the current snapshot is unchanged: %r" % cur)
    env.ctl("destroy", "hangsave-vm", timeout=20)
    check(env.wait_state("hangsave-vm", "shut off") == "shut off (destroyed)", "destroyed")
    r = c.wait(save)
    check("error" in r, "the save reports its unknown outcome: %r" % r)
    sdir = os.path.join(env.state, "vms", "hangsave-vm", "vm", "snapshots")
    check(not any(f.startswith("big") for f in os.listdir(sdir)),
          "no metadata for a save that never finished: %r" % os.listdir(sdir))


def qemu_killed_mid_delete(env):
    env.start_broker()
    env.define("killdel-vm", machine="none", emulator=env.fake_qemu(),
               disks=[(env.qcow2("k1.qcow2"), "vda"), (env.qcow2("k2.qcow2"), "vdb")])
    env.ctl("start", "killdel-vm")
    c = env.rpc()
    check("result" in c.call("snapshot.create", {"name": "killdel-vm", "snapshot": "s1"}), "created")
    r = c.call("snapshot.delete", {"name": "killdel-vm", "snapshot": "s1"})
    check(r.get("error", {}).get("code") == 1017, "the delete fails with job-failed: %r" % r)
    check("s1.xml" in os.listdir(os.path.join(env.state, "vms", "killdel-vm", "vm", "snapshots")),
          "metadata kept: QEMU may have deleted on some disks only")
    check("killed by signal 9" in env.wait_state("killdel-vm", "crashed"), "VM crashed")
    rep = env.rpc().call("vm.inconsistencies", {"name": "killdel-vm"})["result"]["reports"]
    check([x["kind"] for x in rep] == ["interrupted"] and rep[0]["disks"] == ["vda", "vdb"],
          "reported with the disks that may still hold it: %r" % rep)


def eof_between_reply_and_event(env):
    """QEMU answers snapshot-delete, then its monitor connection drops before
    the job's end is told; QEMU itself lives on.  The supervisor reconnects,
    finds the job concluded with an error in query-jobs, sees which disk
    still holds the snapshot, and reports that once; the metadata stays."""
    env.start_broker()
    env.define("eofdel-vm", machine="none", emulator=env.fake_qemu(),
               disks=[(env.qcow2("e1.qcow2"), "vda"), (env.qcow2("e2.qcow2"), "vdb")])
    env.ctl("start", "eofdel-vm")
    c = env.rpc()
    check("result" in c.call("snapshot.create", {"name": "eofdel-vm", "snapshot": "s1"}), "created")
    r = c.call("snapshot.delete", {"name": "eofdel-vm", "snapshot": "s1"})
    check(r.get("error", {}).get("code") == 1017, "the delete's outcome is unknown: %r" % r)
    deadline = time.time() + 20
    rep = []
    while time.time() < deadline and len(rep) < 2:
        rep = env.rpc().call("vm.inconsistencies", {"name": "eofdel-vm"})["result"]["reports"]
        time.sleep(0.1)
    check([x["kind"] for x in rep] == ["interrupted", "interrupted"],
          "told at once, then settled after the reconnect: %r" % rep)
    check(rep[1]["disks"] == ["vdb"] and "deleted on [\"vda\"]" in rep[1]["detail"]
          and "I/O error on the second device" in rep[1]["detail"],
          "the settled report names the disk still holding it and QEMU's error: %r" % rep[1])
    check(os.path.exists(os.path.join(env.state, "vms", "eofdel-vm", "vm", "snapshots", "s1.xml")),
          "metadata kept")
    check(pending_intent(env, "eofdel-vm") is None, "nothing left to settle")
    check(env.info("eofdel-vm")["state"] == "running", "the VM runs on")
    # The user deletes it again: the disk that lost it already is reported.
    r = env.rpc().call("snapshot.delete", {"name": "eofdel-vm", "snapshot": "s1"})
    check("result" in r and r["result"]["deleted"] == ["s1"], "deleted the second time: %r" % r)


if __name__ == "__main__":
    sys.exit(run([qemu_killed, supervisor_killed, broker_restart_keeps_vms,
                  broker_restart_after_supervisor_died, garbage_from_qemu,
                  qemu_dies_during_start, qemu_that_never_greets, hung_monitor_does_not_block,
                  blocked_monitor_during_save, qemu_killed_mid_delete,
                  eof_between_reply_and_event]))
