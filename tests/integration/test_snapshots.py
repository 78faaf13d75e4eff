"""Internal snapshots on a running VM with two qcow2 disks, on real QEMU:
metadata, the tree and the current marker, libvirt's lax delete with its
inconsistencies reported."""

import json
import os
import signal
import subprocess
import sys
import time

from corraltest import BUILD, Fail, check, image_tags, pending_intent, result_of, run


def err(r, code, what):
    check("error" in r and r["error"]["code"] == code, "%s: expected error %d, got %r" % (what, code, r))
    return r["error"]["message"]


class Vm:
    def __init__(self, env, name="vm1", **define):
        self.env, self.name = env, name
        env.start_broker()
        env.define(name, **define)
        env.ctl("start", name)
        self.c = env.rpc()
        self.a = os.path.join(env.images, name + "-a.qcow2")
        self.b = os.path.join(env.images, name + "-b.qcow2")

    def call(self, method, **params):
        params["name"] = self.name
        return self.c.call(method, params)

    def create(self, snap, **kw):
        return result_of(self.call("snapshot.create", snapshot=snap, **kw), "create " + snap)

    def names(self, **kw):
        return [s["name"] for s in result_of(self.call("snapshot.list", **kw), "list")["snapshots"]]

    def current(self):
        return result_of(self.call("snapshot.current"), "current")["current"]

    def parent(self, snap):
        return result_of(self.call("snapshot.parent", snapshot=snap), "parent")["parent"]

    def qmp(self, cmd):
        return result_of(self.call("vm.qmp", command=cmd), "qmp")["reply"]

    def hmp(self, line):
        return self.qmp({"execute": "human-monitor-command", "arguments": {"command-line": line}})

    def qmp_delete_tag(self, tag, node):
        """Deletes a tag on one node behind corral's back."""
        r = self.qmp({"execute": "blockdev-snapshot-delete-internal-sync",
                      "arguments": {"device": node, "name": tag}})
        check("return" in r, "QMP delete: %r" % r)


def create_list_tree(env):
    vm = Vm(env)
    s1 = vm.create("base line", description="before upgrade")
    check(s1["parent"] is None and s1["current"] and s1["memory"], "first snapshot: %r" % s1)
    vm.create("s2")
    vm.create("s3")
    check(vm.current() == "s3" and vm.parent("s3") == "s2" and vm.parent("s2") == "base line",
          "a chain, current at the newest")
    check(image_tags(vm.a) == ["base line", "s2", "s3"] and image_tags(vm.b) == ["base line", "s2", "s3"],
          "both disks hold every snapshot: %r %r" % (image_tags(vm.a), image_tags(vm.b)))
    # Branch: set current back, the next snapshot hangs off it.
    result_of(vm.call("snapshot.current", snapshot="s2"), "set current")
    vm.create("s4")
    check(vm.parent("s4") == "s2", "new snapshot branches off the current one")
    check(vm.names(filter="roots") == ["base line"], "roots")
    check(vm.names(filter="leaves") == ["s3", "s4"], "leaves")
    check(vm.names(**{"from": "s2"}) == ["s3", "s4"], "children of s2")
    check(vm.names(**{"from": "base line", "descendants": True}) == ["s2", "s3", "s4"],
          "descendants, parents first")
    info = result_of(vm.call("snapshot.info", snapshot="base line"), "info")
    check(info["description"] == "before upgrade" and info["children"] == ["s2"], repr(info))
    check(info["vm_state_size"] > 0, "VM state size from QEMU: %r" % info)
    xml = result_of(vm.call("snapshot.dumpxml", snapshot="s4"), "dumpxml")["xml"]
    check("<parent>" in xml and "<name>s2</name>" in xml and "<domain" in xml
          and "<active>" not in xml, "libvirt-style public XML: " + xml[:300])
    # Metadata is one libvirt-compatible file per snapshot, current marked.
    sdir = os.path.join(env.state, "vms", "vm1", "vm", "snapshots")
    check(sorted(os.listdir(sdir)) == ["base line.xml", "s2.xml", "s3.xml", "s4.xml"],
          "one file per snapshot: %r" % os.listdir(sdir))
    with open(os.path.join(sdir, "s4.xml")) as f:
        check("<active>1</active>" in f.read(), "current marked as libvirt does")
    # A restarted supervisor rebuilds the same tree.
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    env.ctl("start", "vm1")
    check(vm.current() == "s4" and vm.parent("s4") == "s2", "tree rebuilt from the files")


def delete_moves_tree_and_current(env):
    vm = Vm(env)
    for s in ["s1", "s2", "s3"]:
        vm.create(s)
    r = result_of(vm.call("snapshot.delete", snapshot="s2"), "delete")
    check(r["deleted"] == ["s2"] and r["reports"] == [], repr(r))
    check(vm.parent("s3") == "s1", "child re-parented to the deleted one's parent")
    check(image_tags(vm.a) == ["s1", "s3"] and image_tags(vm.b) == ["s1", "s3"], "gone from both disks")
    r = result_of(vm.call("snapshot.delete", snapshot="s3"), "delete current")
    check(r["current"] == "s1", "current moves to the parent: %r" % r)
    r = result_of(vm.call("snapshot.delete", snapshot="s1"), "delete root")
    check(r["current"] is None and vm.names() == [], "no current after deleting the root")


def back_to_back_operations(env):
    """A create or delete answers once QEMU has concluded its job, before
    QEMU has dismissed it: a next request sent the moment the answer comes
    is not refused as busy, and every job is dismissed in the end."""
    vm = Vm(env)
    names = ["b%d" % i for i in range(8)]
    for s in names:
        vm.create(s)
    for s in reversed(names):
        r = result_of(vm.call("snapshot.delete", snapshot=s), "delete " + s)
        check(r["deleted"] == [s] and r["reports"] == [], repr(r))
    check(image_tags(vm.a) == [] and image_tags(vm.b) == [], "gone from both disks")
    check(vm.names() == [], "no metadata left: %r" % vm.names())
    deadline = time.time() + 30
    while True:
        jobs = vm.qmp({"execute": "query-jobs"})["return"]
        if jobs == [] or time.time() > deadline:
            break
        time.sleep(0.05)
    check(jobs == [], "every job dismissed: %r" % jobs)
    check(pending_intent(env, "vm1") is None, "no intent left")


def delete_children_variants(env):
    vm = Vm(env)
    # s1 -> s2 -> s3, s1 -> s4 (current s4 after this)
    vm.create("s1")
    vm.create("s2")
    vm.create("s3")
    result_of(vm.call("snapshot.current", snapshot="s1"), "set current")
    vm.create("s4")
    result_of(vm.call("snapshot.current", snapshot="s3"), "current in the subtree")
    r = result_of(vm.call("snapshot.delete", snapshot="s1", children_only=True), "children-only")
    check(r["deleted"] == ["s2", "s3", "s4"], "descendants, parents first: %r" % r["deleted"])
    check(r["current"] == "s1", "current ends at the snapshot itself: %r" % r)
    check(image_tags(vm.a) == ["s1"] and image_tags(vm.b) == ["s1"], "descendants gone from disk")
    vm.create("s5")
    vm.create("s6")
    r = result_of(vm.call("snapshot.delete", snapshot="s1", children=True), "children")
    # As libvirt: the descendants (parents first), then the snapshot itself.
    check(r["deleted"] == ["s5", "s6", "s1"] and r["current"] is None, repr(r))
    check(image_tags(vm.a) == [] and image_tags(vm.b) == [], "whole subtree gone from disk")
    err(vm.call("snapshot.delete", snapshot="x", children=True, children_only=True), -32602,
        "exclusive flags")


def delete_metadata_only(env):
    vm = Vm(env)
    vm.create("keep")
    r = result_of(vm.call("snapshot.delete", snapshot="keep", metadata=True), "metadata delete")
    check(r["deleted"] == ["keep"] and vm.names() == [], "metadata gone")
    check(image_tags(vm.a) == ["keep"] and image_tags(vm.b) == ["keep"], "disks untouched")
    # The tag now exists on disk only: a create of that name is refused
    # before QEMU is touched (QEMU would only check the VM-state disk).
    msg = err(vm.call("snapshot.create", snapshot="keep"), 1013, "create over an on-disk tag")
    check("already exists on disk" in msg, msg)


def missing_on_one_disk_reported(env):
    vm = Vm(env)
    vm.create("s1")
    vm.qmp_delete_tag("s1", "drive-vdb")
    check(image_tags(vm.b) == [], "removed behind corral's back")
    ev = env.rpc()
    result_of(ev.call("events.subscribe", {"name": "vm1"}), "subscribe")
    r = result_of(vm.call("snapshot.delete", snapshot="s1"), "delete with a disk missing it")
    check(r["deleted"] == ["s1"], "the delete succeeds, as delvm did")
    kinds = [(x["kind"], x["disks"]) for x in r["reports"]]
    check(kinds == [("missing", ["vdb"])], "reported as missing on vdb: %r" % kinds)
    check(image_tags(vm.a) == [], "deleted where it was")
    m = ev.read_msg()
    progress = []
    while m.get("method") != "snapshot.inconsistency":
        m = ev.read_msg()
    check(m["params"]["kind"] == "missing" and m["params"]["snapshot"] == "s1", repr(m))
    while m.get("method") != "snapshot.deleted":
        m = ev.read_msg()
        if m.get("method") == "job.progress":
            progress.append(m["params"]["status"])
    check(progress[:2] == ["created", "running"] and "concluded" in progress,
          "job.progress events follow QEMU's job: %r" % progress)
    with open(os.path.join(env.state, "vms", "vm1", "inconsistencies.jsonl")) as f:
        lines = [json.loads(l) for l in f]
    check([l["kind"] for l in lines] == ["missing"], "broker persisted it: %r" % lines)


def extra_on_disk_reported(env):
    vm = Vm(env)
    vm.create("e1")
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    path = os.path.join(env.state, "vms", "vm1", "vm", "snapshots", "e1.xml")
    with open(path) as f:
        xml = f.read()
    with open(path, "w") as f:
        f.write(xml.replace('<disk name="vdb" snapshot="internal"/>', '<disk name="vdb" snapshot="no"/>'))
    env.ctl("start", "vm1")
    r = result_of(vm.call("snapshot.delete", snapshot="e1"), "delete")
    kinds = [(x["kind"], x["disks"]) for x in r["reports"]]
    check(kinds == [("extra", ["vdb"])], "vdb reported as extra: %r" % kinds)
    check(image_tags(vm.a) == [] and image_tags(vm.b) == [], "QEMU's view wins: deleted on both")
    # The start compared metadata with the disks and reported it already:
    # the delete lists it as reported before, and the broker keeps one.
    check(r["reports"][0].get("reported_before") is True and "seq" not in r["reports"][0],
          "listed as reported before: %r" % r["reports"][0])
    rep = result_of(env.rpc().call("vm.inconsistencies", {"name": "vm1"}), "inconsistencies")["reports"]
    check([(x["snapshot"], x["kind"], x["disks"]) for x in rep] == [("e1", "extra", ["vdb"])],
          "reported once: %r" % rep)
    # Gone with the snapshot: a new e1 with the same difference is reported.
    vm.create("e1")
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    with open(path) as f:
        xml = f.read()
    with open(path, "w") as f:
        f.write(xml.replace('<disk name="vdb" snapshot="internal"/>', '<disk name="vdb" snapshot="no"/>'))
    env.ctl("start", "vm1")
    _, out, err_ = env.ctl("snapshot-delete", "vm1", "e1")
    check("extra on vdb" in out + err_ and "(reported before)" in out + err_,
          "corralctl says it was reported before: %r" % (out + err_))
    rep = result_of(env.rpc().call("vm.inconsistencies", {"name": "vm1"}), "inconsistencies")["reports"]
    check([(x["snapshot"], x["kind"]) for x in rep] == [("e1", "extra")] * 2,
          "the new e1's difference is reported too: %r" % rep)


def bad_snapshot_input(env):
    vm = Vm(env)
    for bad in ["a/b", ".hidden", "ctl\x01char", "x" * 256, ""]:
        err(vm.call("snapshot.create", snapshot=bad), 1003, "name %r" % bad[:20])
    vm.create("dup")
    err(vm.call("snapshot.create", snapshot="dup"), 1013, "duplicate")
    err(vm.call("snapshot.delete", snapshot="nosuch"), 1012, "delete missing")
    err(vm.call("snapshot.info", snapshot="nosuch"), 1012, "info missing")
    err(vm.call("snapshot.list", filter="weird"), -32602, "bad filter")
    check(image_tags(vm.a) == ["dup"], "nothing reached QEMU")
    # Two snapshot operations at once: the second is refused, not queued.
    vm.c.send_raw((json.dumps({"jsonrpc": "2.0", "method": "snapshot.create", "id": 901,
                               "params": {"name": "vm1", "snapshot": "c1"}}) + "\n" +
                   json.dumps({"jsonrpc": "2.0", "method": "snapshot.create", "id": 902,
                               "params": {"name": "vm1", "snapshot": "c2"}}) + "\n").encode())
    replies = {}
    while len(replies) < 2:
        m = vm.c.read_msg()
        if m.get("id") in (901, 902):
            replies[m["id"]] = m
    r1, r2 = replies[901], replies[902]
    check("result" in r1, "first create runs: %r" % r1)
    err(r2, 1014, "concurrent create")


def raw_disk_refused(env):
    env.start_broker()
    raw = os.path.join(env.images, "r.raw")
    with open(raw, "wb") as f:
        f.truncate(16 * 1024 * 1024)
    env.define("vm1", disks=[(env.qcow2("q.qcow2"), "vda"), (raw, "vdb")])
    env.ctl("start", "vm1")
    r = env.rpc().call("snapshot.create", {"name": "vm1", "snapshot": "s"})
    msg = err(r, 1005, "raw disk")
    check("vdb is raw" in msg, msg)


def unreadable_metadata_reported(env):
    vm = Vm(env)
    vm.create("good")
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    sdir = os.path.join(env.state, "vms", "vm1", "vm", "snapshots")
    with open(os.path.join(sdir, "broken.xml"), "w") as f:
        f.write("<domainsnapshot><name>broken</na")
    env.ctl("start", "vm1")
    check(vm.names() == ["good"], "the good snapshot still loads")
    # The broker writes its ledger up to 2 ms after a report arrives
    # (reports.c batches them): a reply relayed at once may come first.
    ledger, kinds = os.path.join(env.state, "vms", "vm1", "inconsistencies.jsonl"), []
    deadline = time.time() + 10
    while "unreadable" not in kinds and time.time() < deadline:
        if os.path.exists(ledger):
            with open(ledger) as f:
                kinds = [json.loads(l)["kind"] for l in f if l.endswith("\n")]
        time.sleep(0.01)
    check("unreadable" in kinds, "the broken file was reported: %r" % kinds)


def revert_running_vm(env):
    # No guest devices: HMP qemu-io may then write to the data disk (a
    # virtio-blk device would hold the write permission).
    vm = Vm(env, machine="none")
    vm.create("r1")
    # Dirty the data disk after r1; the revert must bring back its zeroes.
    # (HMP qemu-io prints into QEMU's log.)
    log = os.path.join(env.state, "vms", "vm1", "vm", "qemu.log")
    vm.hmp('qemu-io drive-vdb "write -P 0xaa 0 64k"')
    vm.hmp('qemu-io drive-vdb "read -P 0xaa 0 64k"')
    vm.create("r2")
    r = result_of(vm.call("snapshot.revert", snapshot="r1"), "revert")
    vm.hmp('qemu-io drive-vdb "read -P 0 0 64k"')
    with open(log) as f:
        text = f.read()
    check(text.count("read 65536/65536") == 2
          and "Pattern verification failed" not in text, "disk content reverted: " + text[-300:])
    check(r["state"] == "running" and r["snapshot"] == "r1", "running after revert: %r" % r)
    check(vm.current() == "r1", "reverted-to snapshot becomes current")
    env.wait_state("vm1", "running")
    vm.create("r3")
    check(vm.parent("r3") == "r1", "the next snapshot branches off the reverted one")
    # A paused snapshot brings the VM back paused.
    env.ctl("suspend", "vm1")
    vm.create("p1")
    env.ctl("resume", "vm1")
    r = result_of(vm.call("snapshot.revert", snapshot="p1"), "revert to paused")
    check(r["state"] == "paused", "paused as the snapshot was: %r" % r)
    env.ctl("resume", "vm1")
    # Checked before QEMU is touched: a disk lacking the tag refuses the revert,
    # and the running guest is left alone.
    vm.qmp_delete_tag("r2", "drive-vdb")
    msg = err(vm.call("snapshot.revert", snapshot="r2"), 1006, "revert to a partial snapshot")
    check("vdb does not hold it" in msg, msg)
    check(env.wait_state("vm1", "running").startswith("running"), "still running")
    err(vm.call("snapshot.revert", snapshot="nosuch"), 1012, "revert to a missing snapshot")


def check_and_redefine(env):
    vm = Vm(env)
    vm.create("c1")
    vm.create("c2")
    r = result_of(vm.call("snapshot.check"), "check")
    check(r["consistent"] and r["reports"] == [], "consistent: %r" % r)
    xml = result_of(vm.call("snapshot.dumpxml", snapshot="c2"), "dumpxml")["xml"]
    result_of(vm.call("snapshot.delete", snapshot="c2", metadata=True), "metadata-only delete")
    vm.qmp_delete_tag("c1", "drive-vdb")
    before = sorted(os.listdir(os.path.join(env.state, "vms", "vm1", "vm", "snapshots")))
    r = result_of(vm.call("snapshot.check"), "check")
    kinds = sorted((x["snapshot"], x["kind"], tuple(x["disks"])) for x in r["reports"])
    check(not r["consistent"] and kinds == [("c1", "missing", ("vdb",)),
                                            ("c2", "orphan-on-disk", ("vda", "vdb"))],
          "both directions reported: %r" % kinds)
    check(sorted(os.listdir(os.path.join(env.state, "vms", "vm1", "vm", "snapshots"))) == before,
          "check changes nothing")
    # Adopt the orphan back, libvirt's --redefine; its parent must exist.
    result_of(vm.call("snapshot.redefine", xml=xml, current=True), "redefine")
    check(vm.current() == "c2" and vm.parent("c2") == "c1", "adopted with its parent, current")
    bad = xml.replace("<name>c1</name>", "<name>nosuch</name>")
    err(vm.call("snapshot.redefine", xml=bad.replace("<name>c2</name>", "<name>c9</name>", 1)),
        1006, "redefine with a missing parent")
    cyc = result_of(vm.call("snapshot.dumpxml", snapshot="c1"), "dumpxml")["xml"].replace(
        "</state>", "</state><parent><name>c2</name></parent>")
    err(vm.call("snapshot.redefine", xml=cyc), 1006, "redefine making a cycle")
    err(vm.call("snapshot.redefine", xml="<domainsnapshot><name>x"), 1004, "truncated XML")
    # The broker keeps every report it received, for `inconsistencies`.
    result_of(vm.call("snapshot.delete", snapshot="c1"), "delete c1 (missing on vdb)")
    rep = result_of(env.rpc().call("vm.inconsistencies", {"name": "vm1"}), "inconsistencies")["reports"]
    check([(x["snapshot"], x["kind"]) for x in rep] == [("c1", "missing")], repr(rep))


def shut_off_vm_snapshots(env):
    env.start_broker()
    env.define("vm1")
    a = os.path.join(env.images, "vm1-a.qcow2")
    b = os.path.join(env.images, "vm1-b.qcow2")
    c = env.rpc()
    # Through a maintenance QEMU (disks only), the same QMP jobs.
    s1 = result_of(c.call("snapshot.create", {"name": "vm1", "snapshot": "off1"}), "create shut off")
    check(s1["state"] == "shutoff" and s1["memory"] is False, "an offline snapshot: %r" % s1)
    result_of(c.call("snapshot.create", {"name": "vm1", "snapshot": "off2"}), "create shut off")
    check(env.wait_state("vm1", "shut off").startswith("shut off"), "the VM stays shut off")
    _, out, _ = env.ctl("list")
    check("vm1" not in out, "maintenance does not make the VM active: " + out)
    # Let the maintenance QEMU go, then remove off2 from one disk behind
    # corral's back, as an administrator with qemu-img would.
    deadline = time.time() + 20
    while time.time() < deadline:
        if subprocess.run(["qemu-img", "snapshot", "-d", "off2", b], capture_output=True).returncode == 0:
            break
        time.sleep(0.2)
    check(image_tags(b) == ["off1"], "removed from vdb with qemu-img")
    r = result_of(c.call("snapshot.delete", {"name": "vm1", "snapshot": "off2"}), "delete shut off")
    check([(x["kind"], x["disks"]) for x in r["reports"]] == [("missing", ["vdb"])],
          "reported missing on vdb: %r" % r["reports"])
    check(image_tags(a) == ["off1"], "deleted from vda")
    r = result_of(c.call("snapshot.check", {"name": "vm1"}), "check shut off")
    check(r["consistent"], "consistent again: %r" % r)
    # An offline snapshot cannot be loaded into the running guest: refused
    # before QEMU is touched.
    env.ctl("start", "vm1")
    msg = err(c.call("snapshot.revert", {"name": "vm1", "snapshot": "off1"}), 1006, "revert offline snapshot live")
    check("shut the VM down" in msg, msg)
    result_of(c.call("snapshot.create", {"name": "vm1", "snapshot": "live1"}), "live snapshot")
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    # While shut off, reverting to a live snapshot starts the VM from it
    # (libvirt's behaviour): data written to the disks afterwards is gone.
    qio = ["qemu-io", "-f", "qcow2", b]
    subprocess.run(qio + ["-c", "write -P 0xaa 0 64k"], check=True, capture_output=True)
    r = result_of(c.call("snapshot.revert", {"name": "vm1", "snapshot": "live1"}), "revert by a start")
    check(r["state"] == "running" and r["snapshot"] == "live1", "started from it: %r" % r)
    p = subprocess.run(["qemu-io", "-r", "-U", "-f", "qcow2", b, "-c", "read -P 0 0 64k"],
                       capture_output=True, text=True)
    out = p.stdout + p.stderr
    check("read 65536/65536" in out and "verification failed" not in out, "vdb reverted: " + out)
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    r = result_of(c.call("snapshot.revert", {"name": "vm1", "snapshot": "off1"}), "offline revert")
    check(r["state"] == "shut off", "still shut off after an offline revert: %r" % r)
    check(env.info("vm1")["last_exit"]["reason"] == "destroyed", "maintenance does not touch exit facts")


def reports_survive_broker_restart(env):
    vm = Vm(env)
    vm.create("j1")
    vm.create("j2")
    sock = env.info("vm1")["control_socket"]
    jdir = os.path.join(env.state, "vms", "vm1", "vm", "journal")
    env.stop_broker(signal.SIGKILL)
    # Without the broker, straight to the supervisor: j1 lacks vdb.
    direct = env.rpc(sock)
    r = direct.call("vm.qmp", {"command": {"execute": "blockdev-snapshot-delete-internal-sync",
                                           "arguments": {"device": "drive-vdb", "name": "j1"}}})
    check("return" in r["result"]["reply"], "tag removed: %r" % r)
    r = result_of(direct.call("snapshot.delete", {"snapshot": "j1"}), "delete without a broker")
    check([x["kind"] for x in r["reports"]] == ["missing"], repr(r))
    pending = [f for f in os.listdir(jdir) if f.endswith(".json")]
    check(len(pending) == 1, "journalled until the broker acknowledges: %r" % pending)
    env.start_broker()
    deadline = time.time() + 20
    while time.time() < deadline and [f for f in os.listdir(jdir) if f.endswith(".json")]:
        time.sleep(0.1)
    check([f for f in os.listdir(jdir) if f.endswith(".json")] == [], "acknowledged and dropped")
    rep = result_of(env.rpc().call("vm.inconsistencies", {"name": "vm1"}), "inconsistencies")["reports"]
    check([(x["snapshot"], x["kind"]) for x in rep] == [("j1", "missing")], "received once: %r" % rep)
    # Another restart brings nothing twice: once the broker has re-attached
    # to the supervisor (which resends what is not acknowledged then).
    attached = env.log_tail(10 ** 7).count("VM vm1: re-attached")
    env.stop_broker()
    env.start_broker()
    deadline = time.time() + 20
    while env.log_tail(10 ** 7).count("VM vm1: re-attached") == attached:
        check(time.time() < deadline, "the broker re-attaches to vm1's supervisor: " + env.log_tail(800))
        time.sleep(0.05)
    check(env.rpc().call("hello", {"version": 1})["result"]["adopting"] == 0, "nothing left to adopt")
    rep = result_of(env.rpc().call("vm.inconsistencies", {"name": "vm1"}), "inconsistencies")["reports"]
    check(len(rep) == 1, "still exactly once: %r" % rep)


def force_delete_after_failed_job(env):
    # No guest devices, so nothing stops vdb from being reopened read-only.
    vm = Vm(env, machine="none")
    vm.create("f1")
    # Make the job fail: QEMU refuses to delete on a read-only node.  Reopen
    # vdb read-only behind corral's back.
    r = vm.qmp({"execute": "blockdev-reopen", "arguments": {"options": [
        {"driver": "qcow2", "node-name": "drive-vdb", "file": "drive-vdb-file", "read-only": True}]}})
    check("return" in r, "reopened read-only: %r" % r)
    r = vm.call("snapshot.delete", snapshot="f1")
    err(r, 1017, "a failed job fails the delete")
    check(vm.names() == ["f1"], "metadata kept after a failed job")
    r = result_of(vm.call("snapshot.delete", snapshot="f1", force=True), "forced delete")
    check(r["deleted"] == ["f1"] and vm.names() == [], "--force removes the metadata")
    kinds = [(x["kind"], x["disks"]) for x in r["reports"]]
    check(("job-failed", ["vda", "vdb"]) in kinds, "every disk that may still hold it: %r" % kinds)
    failed = [x for x in r["reports"] if x["kind"] == "job-failed"]
    check(failed[0].get("job", "").startswith("corral-delete-"), "it names the job: %r" % failed[0])


def corralctl_snapshot_verbs(env):
    vm = Vm(env)
    env.ctl("snapshot-create-as", "vm1", "first one", "--description", "a b c")
    env.ctl("snapshot-create-as", "vm1", "second")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split("\n")[:2] == ["first one", "second"], out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--tree")
    check("first one" in out and "+- second" in out, "tree: " + out)
    _, out, _ = env.ctl("snapshot-current", "vm1", "--name")
    check(out.strip() == "second", out)
    _, out, _ = env.ctl("snapshot-parent", "vm1", "second")
    check(out.strip() == "first one", out)
    _, out, _ = env.ctl("snapshot-info", "vm1", "first one")
    check("Children:       1" in out and "Current:        no" in out, out)
    _, out, _ = env.ctl("snapshot-dumpxml", "vm1", "second")
    check(out.startswith("<domainsnapshot>"), out[:80])
    vm.qmp_delete_tag("second", "drive-vda")
    _, out, err2 = env.ctl("snapshot-delete", "vm1", "second")
    check("deleted" in out and "missing on vda" in err2, "warning shown: " + err2)
    _, _, err2 = env.ctl("snapshot-delete", "vm1", "nosuch", ok=False)
    check("no snapshot named" in err2, err2)
    _, _, err2 = env.ctl("snapshot-parent", "vm1", "first one", ok=False)
    check("has no parent" in err2, err2)
    _, out, _ = env.ctl("snapshot-info", "vm1", "first one")
    check("VM state size:" in out, out)
    # Every listing flag, the current marker, redefine, check, revert and
    # the broker's record, through corralctl.
    env.ctl("snapshot-create-as", "vm1", "third")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--current", "--name")
    check(out.split() == [], "the current snapshot has no children: " + out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--roots", "--name")
    check(out.split("\n")[0] == "first one", "roots: " + out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--leaves", "--name")
    check(out.split() == ["third"], "leaves: " + out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--from", "first one", "--descendants", "--name")
    check(out.split() == ["third"], "descendants: " + out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--parent")
    check("first one" in out and "third" in out, out)
    _, out, _ = env.ctl("--json", "snapshot-list", "vm1")
    check(len(json.loads(out)["snapshots"]) == 2, out)
    env.ctl("snapshot-current", "vm1", "first one")
    _, out, _ = env.ctl("snapshot-current", "vm1", "--name")
    check(out.strip() == "first one", out)
    _, xml, _ = env.ctl("snapshot-dumpxml", "vm1", "third")
    env.ctl("snapshot-delete", "vm1", "third", "--metadata")
    rc, out, _ = env.ctl("snapshot-check", "vm1", ok=False)
    check("orphan-on-disk" in out and "third" in out, "check reports the orphan: " + out)
    path = os.path.join(env.dir, "third.xml")
    with open(path, "w") as f:
        f.write(xml)
    env.ctl("snapshot-create", "vm1", path, "--redefine", "--current")
    _, out, _ = env.ctl("snapshot-check", "vm1")
    check("agree" in out, out)
    _, out, _ = env.ctl("snapshot-revert", "vm1", "first one")
    check("reverted" in out, out)
    _, out, _ = env.ctl("inconsistencies", "vm1")
    check("second" in out and "missing" in out, "the earlier report is listed: " + out)
    env.ctl("snapshot-delete", "vm1", "first one", "--children")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.strip() == "", "all gone: " + out)
    # On a terminal, snapshot-create-as shows the job's progress.
    p = subprocess.run(["script", "-qec", "%s/corralctl snapshot-create-as vm1 on-a-tty" % BUILD,
                        "/dev/null"], capture_output=True, text=True, env=env.env, timeout=60)
    check("snapshot job: created > running" in p.stdout and "concluded" in p.stdout
          and "Domain snapshot on-a-tty created" in p.stdout, "progress on a tty: %r" % p.stdout)


def offline_revert_running_or_paused(env):
    """virsh: --running or --paused boots a VM reverted to a snapshot of its
    shut-off state; without them it stays off."""
    env.start_broker()
    env.define("vm1")
    env.ctl("snapshot-create-as", "vm1", "off")
    _, out, _ = env.ctl("snapshot-revert", "vm1", "off")
    check("(now shut off)" in out, out)
    _, out, _ = env.ctl("snapshot-revert", "vm1", "off", "--running")
    check("(now running)" in out, out)
    check(env.wait_state("vm1", "running").startswith("running"), "it runs")
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    _, out, _ = env.ctl("snapshot-revert", "vm1", "off", "--paused")
    check("(now paused)" in out, out)
    check(env.wait_state("vm1", "paused").startswith("paused"), "it is paused")
    # A live VM cannot take an offline snapshot's state, flags or not.
    _, _, err = env.ctl("snapshot-revert", "vm1", "off", "--running", ok=False)
    check("shut the VM down" in err, err)


if __name__ == "__main__":
    sys.exit(run([create_list_tree, delete_moves_tree_and_current, back_to_back_operations,
                  delete_children_variants,
                  delete_metadata_only, missing_on_one_disk_reported, extra_on_disk_reported,
                  bad_snapshot_input, raw_disk_refused, unreadable_metadata_reported,
                  corralctl_snapshot_verbs, revert_running_vm, check_and_redefine,
                  shut_off_vm_snapshots, reports_survive_broker_restart,
                  force_delete_after_failed_job, offline_revert_running_or_paused]))
