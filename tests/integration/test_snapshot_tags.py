"""The supervisor answers a create or delete from the tags it knows the
disks hold (the last listing plus its own jobs) and forgets them when
something else may have changed the disks: here root changes them through
vm.qmp, and corral must answer exactly as if it had asked QEMU again.
On real QEMU."""

import subprocess
import sys
import time

from corraltest import check, image_tags, result_of, run

SNAPSHOT_EXISTS = 1013


class Vm:
    def __init__(self, env, name):
        self.name = name
        env.start_broker()
        self.a, self.b = env.qcow2(name + "-a.qcow2"), env.qcow2(name + "-b.qcow2")
        env.define(name, machine="none", memory_mib=16, disks=[(self.a, "vda"), (self.b, "vdb")])
        env.ctl("start", name)
        env.wait_state(name, "running")
        self.c = env.rpc()

    def call(self, method, **params):
        params["name"] = self.name
        return self.c.call(method, params)

    def create(self, snap):
        return result_of(self.call("snapshot.create", snapshot=snap), "create " + snap)

    def qmp(self, execute, **arguments):
        r = result_of(self.call("vm.qmp", command={"execute": execute, "arguments": arguments}),
                   "vm.qmp " + execute)["reply"]
        check("return" in r, "QMP %s: %r" % (execute, r))
        return r["return"]

    def qmp_job(self, execute, **arguments):
        """Runs a snapshot job through vm.qmp to its end, and dismisses it,
        as root would by hand."""
        self.qmp(execute, **arguments)
        job = arguments["job-id"]
        deadline = time.time() + 30
        while True:
            jobs = {j["id"]: j for j in self.qmp("query-jobs")}
            if jobs[job]["status"] == "concluded":
                break
            check(time.time() < deadline, "job %s never concluded: %r" % (job, jobs[job]))
            time.sleep(0.02)
        check("error" not in jobs[job], "job %s failed: %r" % (job, jobs[job]))
        self.qmp("job-dismiss", id=job)


def delete_after_tags_deleted_through_qmp(env):
    vm = Vm(env, "tags-del")
    for s in ("s1", "s2", "s3"):
        vm.create(s)
    # The supervisor knows the disks now (its listing, then its own jobs);
    # each change below is followed by a delete, which learns them again.
    changes = [
        ("s1", ["vdb"], lambda: vm.qmp("blockdev-snapshot-delete-internal-sync",
                                       device="drive-vdb", name="s1")),
        ("s2", ["vda"], lambda: vm.qmp_job("snapshot-delete", **{
            "job-id": "by-hand", "tag": "s2", "devices": ["drive-vda"]})),
    ]
    for snap, lacking, change in changes:
        change()
        check(image_tags(vm.a if lacking == ["vda"] else vm.b).count(snap) == 0,
              "%s removed behind corral's back" % snap)
        r = result_of(vm.call("snapshot.delete", snapshot=snap), "delete " + snap)
        check(r["deleted"] == [snap], "%s deleted: %r" % (snap, r))
        kinds = [(x["kind"], x["disks"]) for x in r["reports"]]
        check(kinds == [("missing", lacking)],
              "the delete of %s reports the disk that lacked it: %r" % (snap, kinds))
    r = result_of(vm.call("snapshot.delete", snapshot="s3"), "delete s3")
    check(r["reports"] == [], "s3 was on both disks: %r" % r["reports"])
    check(image_tags(vm.a) == [] and image_tags(vm.b) == [], "nothing left: %s %s" % (image_tags(vm.a), image_tags(vm.b)))


def create_of_tags_saved_through_qmp(env):
    vm = Vm(env, "tags-new")
    vm.create("s1")
    changes = [
        ("x", lambda: vm.qmp("blockdev-snapshot-internal-sync", device="drive-vdb", name="x")),
        ("y", lambda: vm.qmp_job("snapshot-save", **{
            "job-id": "by-hand", "tag": "y", "vmstate": "drive-vdb", "devices": ["drive-vdb"]})),
    ]
    for snap, change in changes:
        # Known since the last create or refusal.
        vm.create(snap + "-before")
        change()
        check(snap in image_tags(vm.b) and snap not in image_tags(vm.a), "%s made behind corral's back" % snap)
        r = vm.call("snapshot.create", snapshot=snap)
        check(r.get("error", {}).get("code") == SNAPSHOT_EXISTS and "on disk vdb" in
              r["error"]["message"], "create %s refused, naming vdb: %r" % (snap, r))
        check(image_tags(vm.a).count(snap) == 0 and image_tags(vm.b).count(snap) == 1,
              "the disks are as they were: %s %s" % (image_tags(vm.a), image_tags(vm.b)))
    # What the supervisor learnt again serves the next create and delete.
    vm.create("s2")
    r = result_of(vm.call("snapshot.delete", snapshot="s2"), "delete s2")
    check(r["reports"] == [], "s2 was on both disks: %r" % r["reports"])
    check(image_tags(vm.a) == ["s1", "x-before", "y-before"]
          and image_tags(vm.b) == ["s1", "x", "x-before", "y", "y-before"],
          "s2 came and went: %s %s" % (image_tags(vm.a), image_tags(vm.b)))


def first_create_and_delete_after_a_start(env):
    """The start's check lists the disks, and the first create and delete
    after it go by that listing: a tag put on a disk while the VM was off
    is there, and so is one of corral's from before the restart."""
    vm = Vm(env, "tags-start")
    vm.create("s1")
    env.ctl("destroy", vm.name)
    env.wait_state(vm.name, "shut off")
    subprocess.run(["qemu-img", "snapshot", "-c", "offline", vm.b], check=True)
    env.ctl("start", vm.name)
    env.wait_state(vm.name, "running")
    r = vm.call("snapshot.create", snapshot="offline")
    check(r.get("error", {}).get("code") == SNAPSHOT_EXISTS and "on disk vdb" in
          r["error"]["message"], "create refused, naming vdb: %r" % r)
    r = result_of(vm.call("snapshot.delete", snapshot="s1"), "delete s1")
    check(r["reports"] == [], "s1 was on both disks: %r" % r["reports"])
    check(image_tags(vm.a) == [] and image_tags(vm.b) == ["offline"],
          "s1 gone from both disks, the offline tag kept: %s %s"
          % (image_tags(vm.a), image_tags(vm.b)))


if __name__ == "__main__":
    sys.exit(run([delete_after_tags_deleted_through_qmp, create_of_tags_saved_through_qmp,
                  first_create_and_delete_after_a_start]))
