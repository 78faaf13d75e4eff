"""Surviving restarts and crashes: a broker that restarts re-attaches to
every supervisor without touching QEMU and clears what nobody owns; a
supervisor that dies is replaced by one that re-adopts the same QEMU; one
that keeps dying leaves the VM degraded, QEMU running unmanaged, until it is
destroyed or started again."""

import json
import os
import shutil
import signal
import sys
import time

from corraltest import Fail, Skip, check, pending_intent, pid_alive, run


def wait_dead(pid, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    raise Fail("pid %d still alive" % pid)


def wait_info(env, name, pred, what, timeout=30):
    """Polls dominfo; a request that meets the supervisor's death fails, and
    is asked again."""
    deadline = time.time() + timeout
    info = None
    while time.time() < deadline:
        rc, out, err = env.ctl("--json", "dominfo", name, ok=None)
        check(rc == 0 or "supervisor went away before answering" in err
              or "supervisor is being restarted" in err, "dominfo: " + err)
        info = json.loads(out) if rc == 0 else info
        if info is not None and pred(info):
            return info
        time.sleep(0.1)
    raise Fail("VM %s: %s never happened (last: %r)" % (name, what, info))


def wait_adopted(env, timeout=30):
    """The broker's hello says how many re-attachments are in flight."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = env.rpc().call("hello", {"version": 1})["result"]
        if r["adopting"] == 0:
            return
        time.sleep(0.05)
    raise Fail("re-attachments still in flight after %d s" % timeout)


def wait_log(env, text, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in env.log_tail(200000):
            return
        time.sleep(0.1)
    raise Fail("never logged %r" % text)


def kill_supervisor(env, name):
    """SIGKILLs the VM's supervisor and waits for the one that replaces it."""
    before = env.info(name)
    os.kill(before["supervisor_pid"], signal.SIGKILL)
    after = wait_info(env, name, lambda i: i.get("supervisor_pid") not in (None, before["supervisor_pid"])
                      and i["state"] in ("running", "paused") and "restarting" not in i["reason"],
                      "a new supervisor")
    check(after["qemu_pid"] == before["qemu_pid"], "same QEMU: %r -> %r" % (before["qemu_pid"], after["qemu_pid"]))
    return before, after


def broker_restart_reattaches(env):
    env.start_broker()
    env.define("vm1")
    env.define("vm2")
    env.ctl("start", "vm1")
    env.ctl("start", "vm2")
    env.ctl("suspend", "vm2")
    i1, i2 = env.info("vm1"), env.info("vm2")
    check(i1["reattached"] == 0 and i1["supervisor_restarts"] == 0, "counters start at 0: %r" % i1)
    env.stop_broker(signal.SIGKILL)
    env.start_broker()
    wait_adopted(env)
    check(env.wait_state("vm1", "running") == "running (booted)", "vm1 re-attached")
    check(env.wait_state("vm2", "paused") == "paused (user)", "vm2 still paused")
    j1, j2 = env.info("vm1"), env.info("vm2")
    check((j1["qemu_pid"], j2["qemu_pid"]) == (i1["qemu_pid"], i2["qemu_pid"]), "same QEMUs")
    check((j1["supervisor_pid"], j2["supervisor_pid"]) == (i1["supervisor_pid"], i2["supervisor_pid"]),
          "same supervisors")
    check(j1["reattached"] == 1 and j1["last_restart"]["why"] == "the broker restarted",
          "re-attachment counted: %r" % j1)
    _, out, _ = env.ctl("dominfo", "vm1")
    check("Re-attached:    1" in out and "Supervisor restarts: 0" in out and "Last restart:" in out,
          "dominfo shows it: " + out)
    wait_log(env, "re-attached 2 VMs in ")
    # The counters belong to the run: a fresh start resets them.
    env.ctl("destroy", "vm1")
    check(env.info("vm1")["reattached"] == 1, "kept while shut off")
    env.ctl("start", "vm1")
    check(env.info("vm1")["reattached"] == 0, "reset by a fresh start")
    env.ctl("resume", "vm2")
    env.ctl("destroy", "vm1")
    env.ctl("destroy", "vm2")


def leftovers_cleaned(env):
    env.start_broker()
    env.define("vm1")
    env.define("vm2")
    env.ctl("start", "vm1")
    env.ctl("start", "vm2")
    i1, i2 = env.info("vm1"), env.info("vm2")
    env.stop_broker(signal.SIGKILL)
    # vm1 looks like a supervisor killed during its start-up: no run record.
    os.unlink(os.path.join(env.run, "vm", "vm1", "supervisor.json"))
    # vm2 is no longer defined, but its run directory and processes remain.
    shutil.rmtree(os.path.join(env.state, "vms", "vm2"))
    env.start_broker()
    wait_adopted(env)
    for pid in (i1["supervisor_pid"], i1["qemu_pid"], i2["supervisor_pid"], i2["qemu_pid"]):
        wait_dead(pid)
    log = env.log_tail(200000)
    for what, pid in (("supervisor", i1["supervisor_pid"]), ("QEMU", i1["qemu_pid"]),
                      ("QEMU", i2["qemu_pid"])):
        check("killed leftover %s pid %d" % (what, pid) in log, "%s pid %d killed and logged" % (what, pid))
    check("no VM named vm2 is defined" in log, "vm2's directory removal logged")
    check(not os.path.exists(os.path.join(env.run, "vm", "vm2")), "vm2's run directory removed")
    check(not os.path.exists(os.path.join(env.run, "vm", "vm1")), "vm1's run directory removed")
    check(env.wait_state("vm1", "shut off").startswith("shut off"), "vm1 is not running")
    env.ctl("start", "vm1")
    env.ctl("destroy", "vm1")


def supervisor_killed_readopts(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    env.ctl("snapshot-create-as", "vm1", "before")
    before, after = kill_supervisor(env, "vm1")
    check(pid_alive(before["qemu_pid"]), "QEMU never stopped")
    check(after["supervisor_restarts"] == 1 and after["reattached"] == 0, "counted: %r" % after)
    check("killed by signal 9" in after["last_restart"]["why"], "why: %r" % after["last_restart"])
    _, out, _ = env.ctl("dominfo", "vm1")
    check("Supervisor restarts: 1" in out, "dominfo shows it: " + out)
    wait_log(env, "VM vm1: supervisor re-adopted QEMU pid %d (restart 1)" % before["qemu_pid"])
    # The new supervisor serves everything the old one did.
    env.ctl("snapshot-create-as", "vm1", "after")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split() == ["after", "before"], "both snapshots listed: " + out)
    env.ctl("suspend", "vm1")
    env.wait_state("vm1", "paused")
    env.ctl("resume", "vm1")
    env.ctl("destroy", "vm1")
    check(env.wait_state("vm1", "shut off") == "shut off (destroyed)", "destroyed")
    wait_dead(before["qemu_pid"])
    # Its first supervisor's death left QEMU to the broker, which reaps it.
    wait_log(env, "reaped orphaned process pid %d (QEMU of VM vm1)" % before["qemu_pid"])
    # A re-adopted supervisor also survives a broker restart.
    env.ctl("start", "vm1")
    before, after = kill_supervisor(env, "vm1")
    env.stop_broker(signal.SIGKILL)
    env.start_broker()
    wait_adopted(env)
    j = env.info("vm1")
    check(j["supervisor_pid"] == after["supervisor_pid"] and j["qemu_pid"] == before["qemu_pid"],
          "re-attached to the new supervisor")
    check(j["supervisor_restarts"] == 1 and j["reattached"] == 1, "both counted: %r" % j)
    env.ctl("destroy", "vm1")
    wait_dead(before["qemu_pid"])


def readopt_refused_kills_qemu(env):
    """A new supervisor that says it cannot take QEMU over is believed:
    nobody would manage QEMU, so it goes, and the VM is crashed."""
    if os.geteuid() != 0:
        raise Skip("needs root: the VM's own uid must be kept out of its metadata")
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    i = env.info("vm1")
    snaps = os.path.join(env.state, "vms", "vm1", "vm", "snapshots")
    os.chown(snaps, 0, 0)
    os.chmod(snaps, 0)
    os.kill(i["supervisor_pid"], signal.SIGKILL)
    state = env.wait_state("vm1", "crashed")
    check("supervisor could not re-adopt QEMU: cannot open snapshot directory" in state, state)
    wait_dead(i["qemu_pid"])
    check(not os.path.exists(os.path.join(env.run, "vm", "vm1")), "run directory removed")


def unresponsive_supervisor_replaced(env):
    env.broker_args = ["--adopt-timeout", "2"]
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    i = env.info("vm1")
    env.stop_broker(signal.SIGKILL)
    os.kill(i["supervisor_pid"], signal.SIGSTOP)
    env.start_broker()
    wait_adopted(env)
    wait_dead(i["supervisor_pid"])
    j = wait_info(env, "vm1", lambda x: x["state"] == "running" and x.get("supervisor_restarts") == 1,
                  "re-adoption")
    check(j["qemu_pid"] == i["qemu_pid"], "same QEMU")
    check("no answer to" in env.log_tail(200000), "the broker says why it killed it")
    env.ctl("destroy", "vm1")


def rate_limit_degrades(env):
    env.broker_args = ["--restart-limit", "2/60"]
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    qemu = env.info("vm1")["qemu_pid"]
    kill_supervisor(env, "vm1")
    _, after = kill_supervisor(env, "vm1")
    check(after["supervisor_restarts"] == 2, "two re-adoptions: %r" % after)
    os.kill(after["supervisor_pid"], signal.SIGKILL)
    state = env.wait_state("vm1", "degraded")
    check("supervisor crashed 3 times in 60 s (last: killed by signal 9)" in state and
          "QEMU pid %d left running unmanaged" % qemu in state, state)
    check(pid_alive(qemu), "QEMU left running")
    info = env.info("vm1")
    check(info["qemu_pid"] == qemu and "supervisor_pid" not in info, "dominfo while degraded: %r" % info)
    _, out, _ = env.ctl("list")
    check("vm1" in out and "degraded" in out, "listed as active: " + out)
    _, _, err = env.ctl("suspend", "vm1", ok=False)
    check("degraded" in err, "other methods refused clearly: " + err)
    env.ctl("undefine", "vm1", ok=False)
    _, out, _ = env.ctl("destroy", "vm1")
    check(env.wait_state("vm1", "shut off") == "shut off (destroyed)", "destroyed")
    wait_dead(qemu)
    check(not os.path.exists(os.path.join(env.run, "vm", "vm1")), "run directory removed")
    env.ctl("start", "vm1")
    env.ctl("destroy", "vm1")


def degraded_start_and_qemu_death(env):
    env.broker_args = ["--restart-limit", "0/60"]
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    i = env.info("vm1")
    os.kill(i["supervisor_pid"], signal.SIGKILL)
    env.wait_state("vm1", "degraded")
    # A start re-adopts QEMU.
    env.ctl("start", "vm1")
    j = env.info("vm1")
    check(j["state"] == "running" and j["qemu_pid"] == i["qemu_pid"] and j["supervisor_restarts"] == 1,
          "re-adopted by start: %r" % j)
    os.kill(j["supervisor_pid"], signal.SIGKILL)
    env.wait_state("vm1", "degraded")
    # QEMU dying while nobody manages it is still seen.
    os.kill(i["qemu_pid"], signal.SIGKILL)
    state = env.wait_state("vm1", "crashed")
    check("QEMU pid %d ended while unmanaged (killed by signal 9)" % i["qemu_pid"] in state, state)
    env.ctl("start", "vm1")
    env.ctl("destroy", "vm1")


def write_intent(env, name, intent):
    """pending.json as a supervisor leaves it, owned by the VM's uid."""
    vmdir = os.path.join(env.state, "vms", name, "vm")
    path = os.path.join(vmdir, "pending.json")
    with open(path, "w") as f:
        json.dump(intent, f)
    st = os.stat(vmdir)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, 0o600)


def shut_off_with_snapshot(env):
    """vm1, shut off, with one snapshot s1 made while it ran."""
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    env.ctl("snapshot-create-as", "vm1", "s1")
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")


def recorded_create_reported_once(env):
    """A supervisor killed after writing a new snapshot's metadata but before
    answering and removing its intent: the next one tells the user the
    snapshot was created after all, once, and a second recovery of the same
    job (killed again before the intent went) is kept once by the broker."""
    shut_off_with_snapshot(env)
    intent = {"op": "create", "snapshot": "s1", "job": "corral-save-7-999",
              "devices": ["vda", "vdb"], "reported": False}
    mine = []
    for round_ in (1, 2):
        write_intent(env, "vm1", intent)
        env.ctl("start", "vm1")
        deadline = time.time() + 15
        while time.time() < deadline:
            _, out, _ = env.ctl("--json", "inconsistencies", "vm1")
            mine = [r for r in json.loads(out)["reports"] if r.get("job") == "corral-save-7-999"]
            if mine and pending_intent(env, "vm1") is None:
                break
            time.sleep(0.1)
        check(len(mine) == 1, "round %d: one report about the job: %r" % (round_, mine))
        check(mine[0]["kind"] == "interrupted" and mine[0]["snapshot"] == "s1"
              and "it is created" in mine[0]["detail"] and mine[0]["disks"] == ["vda", "vdb"],
              "it says the snapshot was created: %r" % mine[0])
        env.ctl("destroy", "vm1")
        env.wait_state("vm1", "shut off")
    wait_log(env, "repeats what job corral-save-7-999 was reported to have done; not kept twice")
    _, out, _ = env.ctl("inconsistencies", "vm1")
    check("(job corral-save-7-999)" in out and out.count("corral-save-7-999") == 1,
          "corralctl inconsistencies names the job once: " + out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split() == ["s1"], "the snapshot is kept: " + out)
    jdir = os.path.join(env.state, "vms", "vm1", "vm", "journal")
    check(not [f for f in os.listdir(jdir) if f.endswith(".json")],
          "the repeat was acknowledged too: %s" % os.listdir(jdir))


def torn_intent_is_none(env):
    """A machine that stopped while a supervisor wrote an intent leaves it
    torn (its checksum does not match): its job was never sent, so the next
    start settles nothing from it and reports nothing about it."""
    shut_off_with_snapshot(env)
    whole = json.dumps({"op": "delete", "snapshot": "s1", "job": "corral-delete-7-999",
                        "devices": ["vda", "vdb"], "reported": False}).encode()
    # The header of the whole record, over the first half of its bytes.
    header = b"corral-record 1 %010d %016x\n" % (len(whole), 0x0123456789abcdef)
    path = os.path.join(env.state, "vms", "vm1", "vm", "pending.json")
    with open(path, "wb") as f:
        f.write(header + whole[:len(whole) // 2] + b"\0" * (len(whole) - len(whole) // 2))
    st = os.stat(os.path.dirname(path))
    os.chown(path, st.st_uid, st.st_gid)
    env.ctl("start", "vm1")
    env.wait_state("vm1", "running")
    wait_log(env, "ignoring the intent cut short")
    _, out, _ = env.ctl("--json", "inconsistencies", "vm1")
    check(json.loads(out)["reports"] == [], "nothing reported: " + out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split() == ["s1"], "s1 is kept: " + out)
    # The next snapshot operation writes its intent over the torn one.
    env.ctl("snapshot-delete", "vm1", "s1")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split() == [], "s1 deleted: " + out)
    check(pending_intent(env, "vm1") is None, "no intent left")


if __name__ == "__main__":
    sys.exit(run([broker_restart_reattaches, leftovers_cleaned, supervisor_killed_readopts,
                  readopt_refused_kills_qemu, unresponsive_supervisor_replaced, rate_limit_degrades,
                  degraded_start_and_qemu_death, recorded_create_reported_once,
                  torn_intent_is_none]))
