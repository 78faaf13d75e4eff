"""Time of one internal snapshot delete through corral (corralctl ->
corrald -> corral-supervisor -> QEMU, with corral's checks before and after
the job) against the same QMP sequence sent straight to a QEMU of the same
shape (query-named-block-nodes, snapshot-delete, JOB_STATUS_CHANGE up to
concluded, query-jobs, job-dismiss, query-named-block-nodes).  Both sides
run in this process's run, on the same machine, so only the ratio means
anything."""

import json
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from corraltest import Env  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))


class Qmp:
    def __init__(self, path):
        for _ in range(200):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile("rwb")
        self.f.readline()
        self.n = 0
        self.cmd("qmp_capabilities")

    def send(self, execute, args=None):
        self.n += 1
        m = {"execute": execute, "id": self.n}
        if args is not None:
            m["arguments"] = args
        self.f.write(json.dumps(m).encode() + b"\n")
        self.f.flush()
        return self.n

    def cmd(self, execute, args=None):
        i = self.send(execute, args)
        while True:
            m = json.loads(self.f.readline())
            if m.get("id") == i:
                return m

    def wait_job(self, job):
        while True:
            m = json.loads(self.f.readline())
            if m.get("event") == "JOB_STATUS_CHANGE" and m["data"] == {"status": "concluded", "id": job}:
                return


def raw_delete(q, tag, nodes):
    q.cmd("query-named-block-nodes", {"flat": True})
    q.cmd("snapshot-delete", {"job-id": "bench", "tag": tag, "devices": nodes})
    q.wait_job("bench")
    q.cmd("query-jobs")
    q.cmd("job-dismiss", {"id": "bench"})
    q.cmd("query-named-block-nodes", {"flat": True})


def main():
    env = Env()
    try:
        env.start_broker()
        env.define("bench", machine="none")
        env.ctl("start", "bench")
        c = env.rpc()
        # Baseline: a QEMU of the same shape, driven directly.
        a, b = env.qcow2("raw-a.qcow2"), env.qcow2("raw-b.qcow2")
        sock = os.path.join(env.dir, "raw.sock")
        qemu = subprocess.Popen(
            ["qemu-system-x86_64", "-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none",
             "-S", "-qmp", "unix:%s,server=on,wait=off" % sock,
             "-blockdev", json.dumps({"driver": "file", "filename": a, "node-name": "a-file"}),
             "-blockdev", json.dumps({"driver": "qcow2", "file": "a-file", "node-name": "a"}),
             "-blockdev", json.dumps({"driver": "file", "filename": b, "node-name": "b-file"}),
             "-blockdev", json.dumps({"driver": "qcow2", "file": "b-file", "node-name": "b"})])
        q = Qmp(sock)
        corral, direct = [], []
        for i in range(ROUNDS):
            tag = "bench %d" % i
            r = c.call("snapshot.create", {"name": "bench", "snapshot": tag})
            assert "result" in r, r
            t = time.perf_counter()
            r = c.call("snapshot.delete", {"name": "bench", "snapshot": tag})
            corral.append(time.perf_counter() - t)
            assert "result" in r and r["result"]["reports"] == [], r
            q.send("snapshot-save", {"job-id": "s", "tag": tag, "vmstate": "a", "devices": ["a", "b"]})
            q.wait_job("s")
            q.cmd("job-dismiss", {"id": "s"})
            t = time.perf_counter()
            raw_delete(q, tag, ["a", "b"])
            direct.append(time.perf_counter() - t)
        qemu.kill()
        qemu.wait()
        mc, md = statistics.median(corral), statistics.median(direct)
        print("snapshot delete, 2 qcow2 disks, %d rounds (medians):" % ROUNDS)
        print("  straight QMP sequence to QEMU (baseline): %.2f ms" % (md * 1000))
        print("  through corralctl protocol -> corrald -> supervisor: %.2f ms" % (mc * 1000))
        print("  ratio corral / direct: %.2f" % (mc / md))
    finally:
        env.cleanup()


main()
