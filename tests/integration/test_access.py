"""Owners, the admin group and per-VM access, with throw-away local users."""

import grp
import json
import os
import pwd
import subprocess
import sys
import time

from corraltest import UID_MAX, UID_MIN, Skip, check, run

SUFFIX = str(os.getpid() % 100000)
ALICE, BOB, CAROL, ADMINS = ("ct-alice" + SUFFIX, "ct-bob" + SUFFIX, "ct-carol" + SUFFIX,
                             "ct-admins" + SUFFIX)


def users():
    if os.geteuid() != 0:
        raise Skip("needs root to create throw-away users")
    subprocess.run(["groupadd", ADMINS], check=True)
    for u in (ALICE, BOB, CAROL):
        subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", u], check=True)
    subprocess.run(["usermod", "-aG", ADMINS, CAROL], check=True)


def drop_users():
    for u in (ALICE, BOB, CAROL):
        subprocess.run(["userdel", u], capture_output=True)
    subprocess.run(["groupdel", ADMINS], capture_output=True)


def explicit_vm_user(env):
    users()
    try:
        env.broker_args = ["--vm-user", "named=" + BOB]
        env.start_broker()
        env.define("named", machine="none", disks=[(env.qcow2("n.qcow2"), "vda")])
        env.define("ranged", machine="none", disks=[(env.qcow2("r.qcow2"), "vda")])
        env.ctl("start", "named")
        env.ctl("start", "ranged")
        bob = pwd.getpwnam(BOB).pw_uid
        q1 = os.stat("/proc/%d" % env.info("named")["qemu_pid"]).st_uid
        q2 = os.stat("/proc/%d" % env.info("ranged")["qemu_pid"]).st_uid
        check(q1 == bob, "the configured user runs VM named: %d != %d" % (q1, bob))
        check(UID_MIN <= q2 <= UID_MAX, "the other VM gets a uid from the range: %d" % q2)
        env.ctl("destroy", "named")
        env.ctl("destroy", "ranged")
    finally:
        env.stop_broker()
        env.cleanup()
        drop_users()


def owners_and_admins(env):
    users()
    try:
        env.broker_args = ["--admin-group", ADMINS]
        env.start_broker()
        alice = pwd.getpwnam(ALICE).pw_uid
        a, b = env.qcow2("alice-a.qcow2", boot=True), env.qcow2("alice-b.qcow2")
        # Alice may only use images she owns.
        xml = os.path.join(env.dir, "vma.xml")
        with open(xml, "w") as f:
            f.write(env.domain_xml("vma", disks=[(a, "vda"), (b, "vdb")]))
        os.chmod(xml, 0o644)
        _, _, err = env.ctl("define", xml, ok=False, user=ALICE)
        check("not a file owned by uid %d" % alice in err, "foreign images refused: " + err)
        for p in (a, b):
            os.chown(p, alice, -1)
        env.ctl("define", xml, user=ALICE)
        _, out, _ = env.ctl("list", "--all", user=ALICE)
        check("vma" in out, "the owner sees her VM: " + out)
        _, out, _ = env.ctl("list", "--all", user=BOB)
        check("vma" not in out, "another user does not: " + out)
        _, _, err = env.ctl("start", "vma", ok=False, user=BOB)
        check("permission denied" in err and "belongs to uid %d" % alice in err, err)
        check("refused vm.start from uid %d" % pwd.getpwnam(BOB).pw_uid in env.log_tail(),
              "the refusal is logged with the uid and the request")
        env.ctl("start", "vma", user=ALICE)
        env.ctl("suspend", "vma", user=ALICE)
        env.ctl("resume", "vma", user=ALICE)
        env.ctl("snapshot-create-as", "vma", "mine", user=ALICE)
        _, _, err = env.ctl("qemu-monitor-command", "vma", '{"execute":"query-status"}', ok=False,
                            user=ALICE)
        check("permission denied" in err and "admin" in err, "raw QMP is for admins: " + err)
        # The admin group manages everything, raw QMP included.
        _, out, _ = env.ctl("qemu-monitor-command", "vma", '{"execute":"query-status"}', user=CAROL)
        check("running" in out, out)
        # The control socket serves the owner and refuses others at accept.
        sock = env.info("vma")["control_socket"]
        _, out, _ = env.ctl("--vm-socket", sock, "domstate", "vma", user=ALICE)
        check(out.strip() == "running", "the owner reaches her supervisor: " + out)
        rc, _, _ = env.ctl("--vm-socket", sock, "domstate", "vma", ok=False, user=BOB)
        check(rc != 0, "another user does not")
        env.ctl("destroy", "vma", user=ALICE)
        env.wait_state("vma", "shut off")
        check(os.stat(a).st_uid == alice, "the image is Alice's again after the stop")
        _, _, err = env.ctl("undefine", "vma", ok=False, user=BOB)
        check("permission denied" in err, err)
        env.ctl("undefine", "vma", "--snapshots-metadata", user=ALICE)
    finally:
        env.stop_broker()
        env.cleanup()
        drop_users()


def proc_groups(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Groups:"):
                return [int(g) for g in line.split()[1:]]
    return None


def kvm_through_device_group(env):
    """A type='kvm' VM runs as its own uid, which reaches /dev/kvm through
    the device's group, as libvirt's qemu user does through group kvm.
    Where /dev/kvm is not group-accessible (root:root 0600 here), the test
    makes it so for its duration, as Debian's udev rules do (root:kvm
    0660), with a group nobody is in."""
    if os.geteuid() != 0:
        raise Skip("needs root: VMs run as their own uids only then")
    if not os.path.exists("/dev/kvm"):
        raise Skip("no /dev/kvm on this host")
    st = os.stat("/dev/kvm")
    ready = st.st_gid != 0 and st.st_mode & 0o060 == 0o060
    gid = st.st_gid if ready else 64999
    try:
        if not ready:
            try:
                os.chown("/dev/kvm", st.st_uid, gid)
                os.chmod("/dev/kvm", 0o660)
            except OSError as e:
                raise Skip("cannot give /dev/kvm a group here: %s" % e)
        env.start_broker()
        env.define("vm1", virt="kvm")
        env.ctl("start", "vm1")
        i = env.info("vm1")
        check(proc_groups(i["supervisor_pid"]) == [gid] and proc_groups(i["qemu_pid"]) == [gid],
              "supervisor and QEMU keep /dev/kvm's group %d and no other: %r %r"
              % (gid, proc_groups(i["supervisor_pid"]), proc_groups(i["qemu_pid"])))
        _, out, _ = env.ctl("qemu-monitor-command", "vm1", '{"execute": "query-kvm"}')
        check(json.loads(out)["return"]["enabled"] is True, "QEMU runs on KVM: " + out)
        env.ctl("destroy", "vm1")
        # A type='qemu' VM gets no group at all.
        env.define("vm2", virt="qemu")
        env.ctl("start", "vm2")
        i = env.info("vm2")
        check(proc_groups(i["qemu_pid"]) == [], "no group for TCG: %r" % proc_groups(i["qemu_pid"]))
        env.ctl("destroy", "vm2")
    finally:
        os.chown("/dev/kvm", st.st_uid, st.st_gid)
        os.chmod("/dev/kvm", st.st_mode & 0o7777)


if __name__ == "__main__":
    sys.exit(run([owners_and_admins, explicit_vm_user, kvm_through_device_group]))
