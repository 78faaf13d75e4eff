"""destroy and shutdown answer only once every caller sees the VM shut off:
the next start or undefine, sent at once, is never refused (issue 13)."""

import sys

from corraltest import check, pid_alive, run

LOOPS = 20


def destroy_then_start(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    for i in range(LOOPS):
        info = env.info("vm1")
        _, out, _ = env.ctl("destroy", "vm1")
        check("destroyed" in out, out)
        _, out, _ = env.ctl("domstate", "vm1", "--reason")
        check(out.strip() == "shut off (destroyed)", "round %d: shut off at once: %r" % (i, out))
        check(not pid_alive(info["supervisor_pid"]) and not pid_alive(info["qemu_pid"]),
              "round %d: the supervisor and QEMU are gone when destroy answers" % i)
        _, out, _ = env.ctl("start", "vm1")
        check("started" in out, "round %d: start right after destroy: %s" % (i, out))
    env.ctl("destroy", "vm1")


def destroy_then_undefine(env):
    env.start_broker()
    for i in range(LOOPS):
        env.define("vm1")
        env.ctl("start", "vm1")
        env.ctl("destroy", "vm1")
        _, out, _ = env.ctl("undefine", "vm1")
        check("undefined" in out, "round %d: undefine right after destroy: %s" % (i, out))
        _, _, err = env.ctl("dominfo", "vm1", ok=False)
        check("no VM named 'vm1'" in err, "round %d: gone: %s" % (i, err))


def destroy_json_answers_shut_off(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    c = env.rpc()
    r = c.call("vm.destroy", {"name": "vm1"})
    check(r.get("result", {}).get("state") == "shut off"
          and r["result"].get("reason") == "destroyed", "vm.destroy's answer: %r" % r)
    r = c.call("vm.undefine", {"name": "vm1"})
    check("result" in r, "vm.undefine on the same connection at once: %r" % r)


def waited_shutdown_then_start(env):
    env.start_broker()
    env.define("vm1")
    for i in range(3):
        env.ctl("start", "vm1")
        env.wait_guest_booted("vm1")
        _, out, _ = env.ctl("shutdown", "vm1", "--timeout", "30")
        check("shut off" in out, out)
        _, out, _ = env.ctl("domstate", "vm1", "--reason")
        check(out.strip() == "shut off (shutdown by guest)",
              "round %d: shut off when shutdown answers: %r" % (i, out))
    env.ctl("undefine", "vm1")


def undefine_waits_for_maintenance(env):
    """A shut-off VM's snapshot work leaves a maintenance supervisor
    lingering on its disks for a moment: undefine waits for it to go."""
    env.start_broker()
    for i in range(5):
        env.define("vm1")
        env.ctl("snapshot-list", "vm1")
        _, out, _ = env.ctl("undefine", "vm1")
        check("undefined" in out, "round %d: undefine after snapshot-list: %s" % (i, out))
    check("did not allow" not in env.log_tail(100000), "no phase change out of the table")


if __name__ == "__main__":
    sys.exit(run([destroy_then_start, destroy_then_undefine, destroy_json_answers_shut_off,
                  waited_shutdown_then_start, undefine_waits_for_maintenance]))
