"""A disk that holds a snapshot's tag twice, on real QEMU: qcow2 refuses
no duplicate name, and `qemu-img snapshot -c` on the shut-off image makes
one.  snapshot-check says `duplicate-on-disk`; a delete says so in its
reply, its event and the broker's ledger, for that disk only."""

import os
import subprocess
import sys
import time

from corraltest import check, image_tags, run


def duplicate_on_disk_then_delete(env):
    vm = "dup-vm"
    env.start_broker()
    a, b = env.qcow2(vm + "-a.qcow2"), env.qcow2(vm + "-b.qcow2")
    env.define(vm, machine="none", memory_mib=16, disks=[(a, "vda"), (b, "vdb")])
    env.ctl("start", vm)
    c = env.rpc()
    check("result" in c.call("snapshot.create", {"name": vm, "snapshot": "s1"}), "s1 created")
    env.ctl("destroy", vm)
    env.wait_state(vm, "shut off")
    subprocess.run(["qemu-img", "snapshot", "-c", "s1", a], check=True)
    check(image_tags(a) == ["s1", "s1"] and image_tags(b) == ["s1"], "vda holds s1 twice: %s %s" % (image_tags(a), image_tags(b)))
    ev = env.rpc()
    ev.call("events.subscribe", {"name": vm})
    env.ctl("start", vm)
    env.wait_state(vm, "running")

    chk = c.call("snapshot.check", {"name": vm})["result"]
    check(not chk["consistent"] and [(r["kind"], r["snapshot"], r["disks"]) for r in chk["reports"]]
          == [("duplicate-on-disk", "s1", ["vda"])],
          "snapshot-check finds the duplicate on vda only: %r" % chk)

    r = c.call("snapshot.delete", {"name": vm, "snapshot": "s1"})
    check("result" in r and r["result"]["deleted"] == ["s1"], "s1 deleted: %r" % r)
    dup = [x for x in r["result"]["reports"] if x["kind"] == "duplicate-on-disk"]
    check(len(dup) == 1 and dup[0]["snapshot"] == "s1" and dup[0]["disks"] == ["vda"]
          and dup[0].get("reported_before") is True,
          "the reply lists the duplicate on vda, reported before (by snapshot-check): %r"
          % r["result"]["reports"])
    check(image_tags(a) == [] and image_tags(b) == [], "no copy of s1 is left on any disk: %s %s" % (image_tags(a), image_tags(b)))

    # The event, as subscribers saw it: once, when the supervisor found it
    # as QEMU started.
    deadline = time.time() + 20
    seen = []
    while time.time() < deadline and not any(m.get("method") == "snapshot.deleted" for m in seen):
        ev.sock.settimeout(max(0.1, deadline - time.time()))
        seen.append(ev.read_msg())
    incons = [m["params"] for m in seen if m.get("method") == "snapshot.inconsistency"]
    check([(p["kind"], p["snapshot"], p["disks"]) for p in incons] == [("duplicate-on-disk", "s1", ["vda"])],
          "one snapshot.inconsistency event for check and delete, duplicate-on-disk on vda: %r" % incons)

    # The broker's ledger keeps it once; the journal is acknowledged.
    deadline = time.time() + 20
    rep = []
    while time.time() < deadline:
        rep = c.call("vm.inconsistencies", {"name": vm})["result"]["reports"]
        jdir = os.path.join(env.state, "vms", vm, "vm", "journal")
        if rep and not [f for f in os.listdir(jdir) if f.endswith(".json")]:
            break
        time.sleep(0.05)
    check([(x["kind"], x["snapshot"], x["disks"]) for x in rep] == [("duplicate-on-disk", "s1", ["vda"])],
          "the broker's ledger holds the report once: %r" % rep)
    chk = c.call("snapshot.check", {"name": vm})["result"]
    check(chk["consistent"] and chk["reports"] == [], "metadata and disks agree afterwards: %r" % chk)


if __name__ == "__main__":
    sys.exit(run([duplicate_on_disk_then_delete]))
