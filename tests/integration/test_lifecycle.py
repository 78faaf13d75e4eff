"""Every corralctl verb of the working core, on real QEMU."""

import json
import os
import subprocess
import sys

from corraltest import UID_MAX, UID_MIN, Fail, check, pid_alive, run


def define_start_inspect_destroy(env):
    env.start_broker()
    env.define("vm1", extra="<interface type='network'/><graphics type='vnc'/>")
    _, out, _ = env.ctl("list", "--all")
    check("vm1" in out and "shut off" in out, "list --all shows vm1 shut off: " + out)
    _, out, _ = env.ctl("list")
    check("vm1" not in out, "plain list hides inactive VMs: " + out)
    _, out, _ = env.ctl("start", "vm1")
    check("started" in out, out)
    check(env.wait_state("vm1", "running") == "running (booted)", "reason booted")
    info = env.info("vm1")
    check(info["state"] == "running" and info["memory_kib"] == 65536 and info["vcpus"] == 1,
          "dominfo fields: %r" % info)
    check([d["target"] for d in info["disks"]] == ["vda", "vdb"], "disks listed")
    check(pid_alive(info["qemu_pid"]) and pid_alive(info["supervisor_pid"]), "pids are live")
    check(os.path.exists(info["control_socket"]) and os.path.exists(info["qmp_socket"]),
          "sockets exist")
    with open("/proc/%d/cmdline" % info["qemu_pid"], "rb") as f:
        cmd = f.read().split(b"\0")
    check(b"-nodefaults" in cmd and b"-no-user-config" in cmd, "QEMU runs -nodefaults")
    check(any(b"elevateprivileges=deny" in a for a in cmd), "QEMU runs -sandbox")
    check(any(b'"node-name":"drive-vda"' in a for a in cmd), "stable node names")
    with open("/proc/%d/status" % info["supervisor_pid"]) as f:
        status = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    check(status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2",
          "the supervisor runs with no_new_privs and its seccomp filter: %r"
          % {k: status[k] for k in ("NoNewPrivs", "Seccomp")})
    if os.geteuid() == 0:
        # One uid per VM, from the broker's range, with no capabilities:
        # for the supervisor and for its QEMU alike.
        for pid in (info["supervisor_pid"], info["qemu_pid"]):
            with open("/proc/%d/status" % pid) as f:
                st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
            uids = st["Uid"].split()
            check(len(set(uids)) == 1 and UID_MIN <= int(uids[0]) <= UID_MAX,
                  "pid %d runs as the VM's uid: %r" % (pid, uids))
            check(all(int(st[c], 16) == 0 for c in ("CapEff", "CapPrm", "CapBnd")),
                  "pid %d has no capabilities" % pid)
        vm_uid = int(uids[0])
        check(all(os.stat(d["source"]).st_uid == vm_uid for d in info["disks"]),
              "the disks belong to the VM's uid while it runs")
    _, rep, _ = env.ctl("sandbox-report", "vm1")
    check("Seccomp: 2" in rep and "NoNewPrivs: 1" in rep and "CapEff: 0000000000000000" in rep,
          "sandbox-report shows what applies: " + rep)
    if os.geteuid() == 0:
        check("uid: %d" % vm_uid in rep, "sandbox-report shows the VM's uid: " + rep)
    # What the broker read from /proc, independent of the supervisor.
    mine = rep.split("As the broker reads it from /proc:", 1)
    check(len(mine) == 2, "sandbox-report has the broker's view: " + rep)
    check("supervisor (pid %d):" % info["supervisor_pid"] in mine[1]
          and "qemu (pid %d):" % info["qemu_pid"] in mine[1]
          and mine[1].count("CapEff: 0000000000000000") == 2
          and mine[1].count("NoNewPrivs: 1") >= 1,
          "the broker's view covers both processes: " + mine[1])
    with open("/proc/%d/environ" % info["qemu_pid"], "rb") as f:
        env_names = sorted(v.split(b"=")[0] for v in f.read().split(b"\0") if v)
    check(b"CORRAL_SOCKET" not in env_names, "QEMU gets a cleared environment: %r" % env_names)
    _, out, _ = env.ctl("--json", "list")
    check([v["name"] for v in json.loads(out)["vms"]] == ["vm1"], "json list")
    env.ctl("destroy", "vm1")
    check(env.wait_state("vm1", "shut off") == "shut off (destroyed)", "destroyed reason")
    check(not pid_alive(info["qemu_pid"]), "QEMU is gone after destroy")
    check(not pid_alive(info["supervisor_pid"]), "supervisor exits with QEMU")
    check(not os.path.exists(info["control_socket"]), "control socket removed")
    check(all(os.stat(d["source"]).st_uid == 0 for d in info["disks"]),
          "the disks are given back when the VM stops")
    info2 = env.info("vm1")
    check(info2.get("last_exit", {}).get("reason") == "destroyed", "last exit recorded: %r" % info2)
    env.ctl("undefine", "vm1")
    _, out, _ = env.ctl("list", "--all")
    check("vm1" not in out, "undefined VM is gone")
    check(not os.path.exists(os.path.join(env.state, "vms", "vm1")), "state directory removed")


def suspend_resume_and_qmp(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    env.ctl("suspend", "vm1")
    check(env.wait_state("vm1", "paused") == "paused (user)", "paused by user")
    _, out, _ = env.ctl("qemu-monitor-command", "vm1", '{"execute":"query-status"}')
    check(json.loads(out)["return"]["status"] == "paused", "QEMU agrees it is paused: " + out)
    env.ctl("suspend", "vm1", ok=False)
    env.ctl("resume", "vm1")
    check(env.wait_state("vm1", "running") == "running (unpaused)", "running again")
    _, out, _ = env.ctl("qemu-monitor-command", "vm1", '{"execute":"query-status"}')
    check(json.loads(out)["return"]["running"] is True, "QEMU agrees it runs")
    _, _, err = env.ctl("resume", "vm1", ok=False)
    check("already running" in err, err)
    # A QMP error comes back as QEMU's own reply.
    rc, out, _ = env.ctl("qemu-monitor-command", "vm1", '{"execute":"no-such-command"}', ok=None)
    check("CommandNotFound" in out, "QMP error passed through: " + out)
    _, _, err = env.ctl("qemu-monitor-command", "vm1", '{"execute":"qmp_capabilities"}', ok=False)
    check("negotiated" in err, err)
    env.ctl("destroy", "vm1")


def guest_shutdown(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    env.wait_guest_booted("vm1")
    _, out, _ = env.ctl("shutdown", "vm1", "--timeout", "30")
    check("shut off" in out, out)
    check(env.wait_state("vm1", "shut off") == "shut off (shutdown by guest)", "guest shut down")
    check(env.info("vm1")["last_exit"]["status"] == 0, "QEMU exited 0")


def shutdown_ignored_times_out(env):
    env.start_broker()
    # -machine none has no ACPI: the power button goes nowhere.
    env.define("vm1", machine="none")
    env.ctl("start", "vm1")
    _, _, err = env.ctl("shutdown", "vm1", "--timeout", "2", ok=False)
    check("did not shut down" in err, err)
    check(env.wait_state("vm1", "running") == "running (booted)", "still running after timeout")
    _, out, _ = env.ctl("shutdown", "vm1", "--timeout", "0")
    check("being shutdown" in out, out)
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")


def two_vms_at_once(env):
    env.start_broker()
    env.define("vm1")
    env.define("vm2")
    env.ctl("start", "vm1")
    env.ctl("start", "vm2")
    i1, i2 = env.info("vm1"), env.info("vm2")
    check(i1["qemu_pid"] != i2["qemu_pid"] and i1["supervisor_pid"] != i2["supervisor_pid"],
          "one supervisor and one QEMU per VM")
    if os.geteuid() == 0:
        u1, u2 = (os.stat("/proc/%d" % i["qemu_pid"]).st_uid for i in (i1, i2))
        check(u1 != u2, "each VM has its own uid: %d %d" % (u1, u2))
        # VM 1's uid can reach none of VM 2's files.
        probe = subprocess.run(
            ["setpriv", "--reuid=%d" % u1, "--regid=%d" % u1, "--clear-groups", "--",
             "cat", i2["disks"][1]["source"]], capture_output=True)
        check(probe.returncode != 0, "VM 1's uid cannot read VM 2's disk")
        probe = subprocess.run(
            ["setpriv", "--reuid=%d" % u1, "--regid=%d" % u1, "--clear-groups", "--",
             "ls", os.path.join(env.state, "vms", "vm2")], capture_output=True)
        check(probe.returncode != 0, "VM 1's uid cannot list VM 2's state directory")
        probe = subprocess.run(
            ["setpriv", "--reuid=%d" % u1, "--regid=%d" % u1, "--clear-groups", "--",
             sys.executable, "-c",
             "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])",
             i2["control_socket"]], capture_output=True)
        check(probe.returncode != 0, "VM 1's uid cannot reach VM 2's control socket")
        with open("/proc/%d/status" % i1["qemu_pid"]) as f:
            check("NoNewPrivs:\t1" in f.read(), "QEMU inherits no_new_privs")
    env.ctl("suspend", "vm1")
    check(env.wait_state("vm1", "paused").startswith("paused"), "vm1 paused")
    check(env.wait_state("vm2", "running").startswith("running"), "vm2 unaffected")
    _, out, _ = env.ctl("list")
    check("vm1" in out and "vm2" in out, out)
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    check(pid_alive(i2["qemu_pid"]), "vm2's QEMU survives vm1's destroy")
    env.ctl("destroy", "vm2")


def vm_socket_direct(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    sock = env.info("vm1")["control_socket"]
    _, out, _ = env.ctl("--vm-socket", sock, "domstate", "vm1")
    check(out.strip() == "running", out)
    env.ctl("--vm-socket", sock, "suspend", "vm1")
    check(env.wait_state("vm1", "paused") == "paused (user)", "broker saw the supervisor's event")
    _, _, err = env.ctl("--vm-socket", sock, "domstate", "other", ok=False)
    check("serves VM vm1" in err, err)
    env.ctl("--vm-socket", sock, "destroy", "vm1")
    env.wait_state("vm1", "shut off")


def events_stream(env):
    env.start_broker()
    env.define("vm1")
    ev = env.rpc()
    check("result" in ev.call("events.subscribe", {"name": "vm1"}), "subscribed")
    env.ctl("start", "vm1")
    env.ctl("suspend", "vm1")
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    seen = []
    while len(seen) < 3:
        m = ev.read_msg()
        if m.get("method") == "vm.state":
            seen.append((m["params"]["state"], m["params"]["reason"]))
    check(seen == [("running", "booted"), ("paused", "user"), ("shut off", "destroyed")],
          "events in order: %r" % (seen,))


def broker_answers_while_starting(env):
    env.start_broker()
    env.define("vm1")
    c = env.rpc()
    start = c.send("vm.start", {"name": "vm1"})
    lst = c.send("vm.list", {"all": True})
    first = c.read_msg()
    check(first.get("id") == lst, "list answered before the start finished: %r" % first)
    check(c.wait(start).get("result", {}).get("state") == "running", "start completed")
    env.ctl("destroy", "vm1")


def hello_and_version(env):
    env.start_broker()
    c = env.rpc()
    r = c.call("hello", {"version": 1, "client": "test"})
    check(r["result"]["protocol"] == 1 and r["result"]["server"] == "corrald", repr(r))
    r = c.call("hello", {"version": 99})
    check(r["error"]["code"] == 1016, repr(r))


if __name__ == "__main__":
    sys.exit(run([define_start_inspect_destroy, suspend_resume_and_qmp, guest_shutdown,
                  shutdown_ignored_times_out, two_vms_at_once, vm_socket_direct, events_stream,
                  broker_answers_while_starting, hello_and_version]))
