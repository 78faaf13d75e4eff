"""The everyday virsh verbs of issue 13 on real QEMU: reboot, reset,
start --paused, shutdown --mode."""

import json
import os
import sys
import time

from corraltest import Fail, check, pid_alive, run


def wait_for(what, cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise Fail("timed out waiting for " + what)


def qmp(env, name, cmd):
    _, out, _ = env.ctl("qemu-monitor-command", name, json.dumps({"execute": cmd}))
    return json.loads(out)["return"]


def reboot_acpi(env):
    """The guest powers off on the button; reboot turns that into a reset:
    QEMU runs on, and the guest boots again (it honours the button again)."""
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    env.wait_guest_booted("vm1")
    pid = env.info("vm1")["qemu_pid"]
    _, out, _ = env.ctl("reboot", "vm1")
    check(out.strip() == "Domain 'vm1' is being rebooted", out)
    wait_for("the guest's reset", lambda: "powered off for its reboot" in env.log_tail(100000))
    wait_for("QEMU running again", lambda: qmp(env, "vm1", "query-status")["running"])
    check(env.wait_state("vm1", "running") == "running (booted)", "running (booted)")
    check(env.info("vm1")["qemu_pid"] == pid and pid_alive(pid), "the same QEMU runs on")
    env.wait_guest_booted("vm1")
    # The reboot's power-off action is gone: the next power-off ends QEMU.
    _, out, _ = env.ctl("shutdown", "vm1", "--timeout", "30")
    check(env.wait_state("vm1", "shut off") == "shut off (shutdown by guest)", "then shut off")
    check(not pid_alive(pid), "QEMU ended on the power-off after the reboot")


def shutdown_supersedes_reboot(env):
    """A reboot the guest has not acted on yet is superseded by a shutdown,
    as in libvirt: the guest's power-off then ends QEMU."""
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    env.wait_guest_booted("vm1")
    # The guest, paused in its loop, finds the presses latched when it runs.
    env.ctl("suspend", "vm1")
    env.ctl("reboot", "vm1")
    _, out, _ = env.ctl("shutdown", "vm1", "--timeout", "0")
    check("is being shutdown" in out, out)
    env.ctl("resume", "vm1")
    check(env.wait_state("vm1", "shut off") == "shut off (shutdown by guest)",
          "the power-off ended QEMU")


def reset_verb(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    env.wait_guest_booted("vm1")
    pid = env.info("vm1")["qemu_pid"]
    _, out, _ = env.ctl("reset", "vm1")
    check(out.strip() == "Domain 'vm1' was reset", out)
    check(env.wait_state("vm1", "running") == "running (booted)", "still running")
    check(env.info("vm1")["qemu_pid"] == pid, "the same QEMU")
    env.wait_guest_booted("vm1")
    env.ctl("destroy", "vm1")
    _, _, err = env.ctl("reset", "vm1", ok=False)
    check("not running" in err, err)


def start_paused(env):
    env.start_broker()
    env.define("vm1")
    _, out, _ = env.ctl("start", "vm1", "--paused")
    check(out.strip() == "Domain 'vm1' started", out)
    _, out, _ = env.ctl("domstate", "vm1", "--reason")
    check(out.strip() == "paused (user)", "paused at once: " + out)
    st = qmp(env, "vm1", "query-status")
    check(st["running"] is False and st["status"] == "prelaunch", "QEMU agrees: %r" % st)
    _, out, _ = env.ctl("list")
    check("vm1" in out and "paused" in out, out)
    env.ctl("resume", "vm1")
    check(env.wait_state("vm1", "running") == "running (unpaused)", "runs after resume")
    check(qmp(env, "vm1", "query-status")["running"] is True, "QEMU runs")
    env.ctl("destroy", "vm1")
    # A plain start after a paused one runs.
    env.ctl("start", "vm1")
    check(env.wait_state("vm1", "running") == "running (booted)", "plain start runs")
    env.ctl("destroy", "vm1")


def shutdown_modes(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    for mode in ("agent", "initctl", "signal", "paravirt"):
        _, _, err = env.ctl("shutdown", "vm1", "--mode", mode, ok=False)
        check("shutdown mode %s is not supported" % mode in err, err)
        _, _, err = env.ctl("reboot", "vm1", "--mode", mode, ok=False)
        check("reboot mode %s is not supported" % mode in err, err)
    _, _, err = env.ctl("shutdown", "vm1", "--mode", "bogus", ok=False)
    check("must be acpi" in err, err)
    check(env.wait_state("vm1", "running") == "running (booted)", "refusals changed nothing")
    env.wait_guest_booted("vm1")
    env.ctl("shutdown", "vm1", "--mode", "acpi", "--timeout", "30")
    _, out, _ = env.ctl("domstate", "vm1", "--reason")
    check(out.strip() == "shut off (shutdown by guest)", out)


def list_columns(env):
    """virsh 9.0's `list` shape:
     Id   Name   State
    --------------------
     1    vm2    running
    (cells one space in, columns three spaces apart, the rule three dashes
    wider than each column, an empty line at the end)."""
    env.start_broker()
    env.define("vm1")
    env.define("longer-name")
    env.define("vm3")
    env.ctl("start", "longer-name")
    env.ctl("start", "vm3", "--paused")
    pid = env.info("longer-name")["qemu_pid"]
    pid3 = env.info("vm3")["qemu_pid"]
    wi = max(2, len(str(pid)), len(str(pid3)))
    _, out, _ = env.ctl("list")
    rows = [("Id", "Name", "State"), (str(pid), "longer-name", "running"),
            (str(pid3), "vm3", "paused")]
    want = "".join(" %-*s   %-*s   %s\n" % (wi, a, 11, b, c) for a, b, c in rows[:1])
    want += "-" * (wi + 3 + 11 + 3 + 7 + 3) + "\n"
    want += "".join(" %-*s   %-*s   %s\n" % (wi, a, 11, b, c) for a, b, c in rows[1:]) + "\n"
    check(out == want, "list:\n%r\nwanted:\n%r" % (out, want))
    _, out, _ = env.ctl("list", "--all")
    lines = out.splitlines()
    check(lines[0].split() == ["Id", "Name", "State"] and set(lines[1]) == {"-"}, out)
    check(lines[2].split() == [str(pid), "longer-name", "running"]
          and lines[3].split() == ["-", "vm1", "shut", "off"]
          and lines[4].split() == [str(pid3), "vm3", "paused"] and lines[5] == "", out)
    _, out, _ = env.ctl("list", "--all", "--name")
    check(out == "longer-name\nvm1\nvm3\n\n", "names and virsh's empty line: %r" % out)
    uuids = {n: env.info(n)["uuid"] for n in ("vm1", "longer-name", "vm3")}
    _, out, _ = env.ctl("list", "--uuid")
    check(out == "%s\n%s\n\n" % (uuids["longer-name"], uuids["vm3"]), "uuids: %r" % out)
    _, out, _ = env.ctl("list", "--uuid", "--name", "--state-shutoff")
    check(out == "%-36s vm1\n\n" % uuids["vm1"], "uuid and name: %r" % out)
    for opt, names in (("--state-running", ["longer-name"]), ("--state-paused", ["vm3"]),
                       ("--state-shutoff", ["vm1"]), ("--inactive", ["vm1"])):
        _, out, _ = env.ctl("list", opt, "--name")
        check(out.split() == names, "%s: %r" % (opt, out))
    _, out, _ = env.ctl("list", "--state-running", "--state-paused", "--name")
    check(out.split() == ["longer-name", "vm3"], "filters add up: %r" % out)
    _, out, _ = env.ctl("--json", "list")
    vms = json.loads(out)["vms"]
    check([v["name"] for v in vms] == ["longer-name", "vm3"] and vms[0]["qemu_pid"] == pid
          and vms[0]["autostart"] is False, "json: %r" % vms)
    _, _, err = env.ctl("list", "--state-bogus", ok=False)
    check("state-bogus" in err, err)
    env.ctl("destroy", "longer-name")
    env.ctl("destroy", "vm3")


def parse_domstats(out):
    lines = out.split("\n")
    check(lines[0].startswith("Domain: '") and lines[-2:] == ["", ""],
          "virsh's layout: %r" % out)
    stats = {}
    for l in lines[1:-2]:
        check(l.startswith("  ") and "=" in l, "an indented KEY=VALUE: %r" % l)
        k, v = l[2:].split("=", 1)
        stats[k] = v
    return lines[0], stats


def domstats(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    env.wait_guest_booted("vm1")
    head, st = parse_domstats(env.ctl("domstats", "vm1")[1])
    check(head == "Domain: 'vm1'", head)
    check(st["state.state"] == "1" and st["state.reason"] == "1", "running, booted: %r" % st)
    check(int(st["cpu.time"]) > 0 and int(st["cpu.time"]) == int(st["cpu.user"])
          + int(st["cpu.system"]), "QEMU's cpu time: %r" % st)
    check(st["balloon.maximum"] == "65536" and st["vcpu.maximum"] == "1", repr(st))
    img = os.path.join(env.images, "vm1-a.qcow2")
    check(st["block.count"] == "2" and st["block.0.name"] == "vda" and st["block.0.path"] == img
          and st["block.1.name"] == "vdb", "disks: %r" % st)
    check(int(st["block.0.rd.reqs"]) > 0 and int(st["block.0.rd.bytes"]) >= 512,
          "the BIOS read the boot sector: %r" % st)
    for k in ("rd.times", "wr.reqs", "wr.bytes", "wr.times", "fl.reqs", "fl.times"):
        check(int(st["block.1." + k]) >= 0, k)
    _, st2 = parse_domstats(env.ctl("domstats", "vm1", "--block")[1])
    check(all(k.startswith("block.") for k in st2) and "block.0.rd.reqs" in st2, repr(st2))
    _, st2 = parse_domstats(env.ctl("domstats", "vm1", "--state", "--vcpu")[1])
    check(sorted(st2) == ["state.reason", "state.state", "vcpu.current", "vcpu.maximum"],
          repr(st2))
    env.ctl("suspend", "vm1")
    _, st = parse_domstats(env.ctl("domstats", "vm1", "--state")[1])
    check(st == {"state.state": "3", "state.reason": "1"}, "paused by the user: %r" % st)
    env.ctl("destroy", "vm1")
    _, st = parse_domstats(env.ctl("domstats", "vm1")[1])
    check(st["state.state"] == "5" and st["state.reason"] == "2", "destroyed: %r" % st)
    check("cpu.time" not in st and "block.0.rd.reqs" not in st and st["block.0.name"] == "vda",
          "no counters without QEMU: %r" % st)
    _, out, _ = env.ctl("--json", "domstats", "vm1")
    check(json.loads(out)["stats"]["state.state"] == 5, out)
    _, _, err = env.ctl("domstats", "nosuch", ok=False)
    check("no VM named 'nosuch'" in err, err)


if __name__ == "__main__":
    sys.exit(run([reboot_acpi, shutdown_supersedes_reboot, reset_verb, start_paused,
                  shutdown_modes, list_columns, domstats]))
