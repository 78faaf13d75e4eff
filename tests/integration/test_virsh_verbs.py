"""The everyday virsh verbs of issue 13 on real QEMU: reboot, reset,
start --paused, shutdown --mode."""

import json
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


if __name__ == "__main__":
    sys.exit(run([reboot_acpi, shutdown_supersedes_reboot, reset_verb, start_paused,
                  shutdown_modes]))
