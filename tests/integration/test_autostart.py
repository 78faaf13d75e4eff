"""autostart: VMs that start when the host boots, never when corrald merely
restarts and re-attaches (issue 13)."""

import os
import sys

from corraltest import check, run
from test_attack_statedir import need_root, to_old_layout, vm_uid

MARKER = "autostarted"


def host_boot(env):
    """A boot empties the run directory (a tmpfs); no VM runs after it."""
    env.stop_broker()
    marker = os.path.join(env.run, MARKER)
    if os.path.exists(marker):
        os.unlink(marker)
    env.start_broker()


def state(env, name):
    return env.ctl("domstate", name)[1].strip()


def marks_and_shows(env):
    env.start_broker()
    env.define("vm1")
    env.define("vm2")
    _, out, _ = env.ctl("autostart", "vm1")
    check(out.strip() == "Domain 'vm1' marked as autostarted", out)
    _, out, _ = env.ctl("dominfo", "vm1")
    check("Autostart:      enable" in out.splitlines(), out)
    _, out, _ = env.ctl("dominfo", "vm2")
    check("Autostart:      disable" in out.splitlines(), out)
    check(env.info("vm1")["autostart"] is True and env.info("vm2")["autostart"] is False,
          "dominfo --json says so")
    _, out, _ = env.ctl("list", "--all", "--autostart", "--name")
    check(out.split() == ["vm1"], "list --autostart: %r" % out)
    _, out, _ = env.ctl("list", "--autostart", "--name")
    check(out.split() == [], "without --all, only running VMs: %r" % out)
    rec = os.path.join(env.state, "vms", "vm1", "autostart")
    st = os.lstat(rec)
    check(st.st_uid == 0 and st.st_mode & 0o077 == 0, "the record is root's alone")
    env.ctl("start", "vm1")
    info = env.info("vm1")
    check(info["autostart"] is True and "Autostart:      enable" in env.ctl("dominfo", "vm1")[1],
          "a running VM's dominfo shows it too")
    env.ctl("destroy", "vm1")
    _, out, _ = env.ctl("autostart", "vm1", "--disable")
    check(out.strip() == "Domain 'vm1' unmarked as autostarted", out)
    check(not os.path.exists(rec), "the record is gone")
    check(env.info("vm1")["autostart"] is False, "disabled")
    # Bad input changes nothing.
    _, _, err = env.ctl("autostart", "nosuch", ok=False)
    check("no VM named 'nosuch'" in err, err)
    c = env.rpc()
    r = c.call("vm.autostart", {"name": "vm2", "disable": "yes"})
    check(r.get("error", {}).get("code") == -32602, "a non-boolean disable is refused: %r" % r)
    check(env.info("vm2")["autostart"] is False, "and changes nothing")


def starts_at_boot(env):
    env.start_broker()
    env.define("vm1")
    env.define("vm2")
    env.define("vm3")
    env.ctl("autostart", "vm1")
    env.ctl("autostart", "vm3")
    env.ctl("autostart", "vm3", "--disable")
    host_boot(env)
    check(env.wait_state("vm1", "running") == "running (booted)", "vm1 started at boot")
    check(state(env, "vm2") == "shut off" and state(env, "vm3") == "shut off",
          "the others did not")
    _, out, _ = env.ctl("list", "--autostart", "--name")
    check(out.split() == ["vm1"], "list --autostart: %r" % out)
    # The record survives the boot, and the broker's restarts.
    check(env.info("vm1")["autostart"] is True, "still marked")
    env.ctl("destroy", "vm1")


def restart_does_not_autostart(env):
    """A restart of corrald in the same boot starts nothing, shut off VMs
    included; nor does a first start that finds a VM running (an upgrade
    from a corrald without autostart, whose run directory has no marker)."""
    env.start_broker()
    env.define("vm1")
    env.define("vm2")
    env.ctl("autostart", "vm1")
    env.stop_broker()
    env.start_broker()
    check(os.path.exists(os.path.join(env.run, MARKER)), "the first start left its marker")
    env.stop_broker()
    env.start_broker()
    _, out, _ = env.ctl("list", "--name")
    check(out.split() == [], "a restart in the same boot started nothing: %r" % out)
    check(state(env, "vm1") == "shut off", "vm1 stays shut off")
    env.ctl("start", "vm2")
    env.stop_broker()
    os.unlink(os.path.join(env.run, MARKER))
    env.start_broker()
    check(env.wait_state("vm2", "running") == "running (booted)", "vm2 re-attached")
    check(state(env, "vm1") == "shut off", "a start that re-attaches starts no autostart VM")
    check("starts no autostart VM" in env.log_tail(20000), "and says why in its log")
    env.ctl("destroy", "vm2")


def forged_in_old_layout(env):
    """Where the old layout let a VM's uid write (its state directory), a
    record it planted does not make its VM start at boot: the layout
    predates autostart, so the migration drops it."""
    need_root()
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    uid = vm_uid(env, "vm1")
    env.ctl("destroy", "vm1")
    env.stop_broker()
    sdir = os.path.join(env.state, "vms", "vm1")
    to_old_layout(env, "vm1", uid)
    rec = os.path.join(sdir, "autostart")
    with open(rec, "w") as f:
        f.write("1\n")
    os.chown(rec, uid, uid)
    marker = os.path.join(env.run, MARKER)
    if os.path.exists(marker):
        os.unlink(marker)
    env.start_broker()
    check("dropping %s from the old layout" % rec in env.log_tail(100000), "dropped, and said")
    check(not os.path.lexists(rec), "the planted record is gone")
    check(env.info("vm1")["autostart"] is False and state(env, "vm1") == "shut off",
          "vm1 is not autostarted")


if __name__ == "__main__":
    sys.exit(run([marks_and_shows, starts_at_boot, restart_does_not_autostart,
                  forged_in_old_layout]))
