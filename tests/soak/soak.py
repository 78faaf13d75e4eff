"""make soak: drives one broker, for SOAK_SECONDS (default 600), with at once

- SOAK_CLIENTS (default 500) clients asking vm.list, vm.state and vm.info
  in a loop, each on its own connection;
- SOAK_SUBSCRIBERS (default 50) event subscribers, one in five of which
  never reads what it is sent;
- SOAK_VMS (default 20) running VMs (-machine none), each with a client
  creating and deleting snapshots (at most three at a time);
- one client defining and undefining a VM in a loop;

then prints requests per second and p50/p99/max latency per method, the
broker's and supervisors' RSS and open files sampled over time, and errors
by code, and asserts: every request answered exactly once, every error a
documented code, the broker's RSS and file descriptors back within a small
bound of where they started once the load is gone, and every VM's snapshot
metadata in agreement with its disks.

SOAK_MODE=cycles instead runs SOAK_CYCLES (default 10000) snapshot create/
delete cycles on one running VM (-machine none, two qcow2 disks), one
request at a time, sampling the broker's and the supervisor's RSS and open
files (from /proc) every SOAK_SAMPLE cycles (default 500), and asserts:
every request succeeded, RSS after the first sample grew by no more than
CYCLE_RSS_SLACK_KIB, the file descriptors are back where they were, and
neither the metadata nor either disk holds a snapshot at the end."""

import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from corraltest import Env, Rpc  # noqa: E402

MODE = os.environ.get("SOAK_MODE", "load")
CYCLES = int(os.environ.get("SOAK_CYCLES", "10000"))
SAMPLE_EVERY = int(os.environ.get("SOAK_SAMPLE", "500"))
# RSS either process may gain between the first sample and the last over
# the cycles (allocator caches, the libevent and cJSON pools reaching their
# working size): a leak of one small object per cycle exceeds it.
CYCLE_RSS_SLACK_KIB = 1024
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "500"))
SUBSCRIBERS = int(os.environ.get("SOAK_SUBSCRIBERS", "50"))
VMS = int(os.environ.get("SOAK_VMS", "20"))
# RSS the broker may keep above its start once the load is gone (its
# allocator keeps some), and descriptors.
RSS_SLACK_KIB = 4096
FD_SLACK = 4


def documented_codes():
    """The error codes proto/PROTOCOL.md lists."""
    with open(os.path.join(HERE, "..", "..", "proto", "PROTOCOL.md")) as f:
        return {int(m.group(1)) for m in re.finditer(r"^\| (-?\d+) \| `", f.read(), re.M)}


class Stats:
    def __init__(self):
        self.lat = {}
        self.errors = {}
        self.sent = 0
        self.answered = 0
        self.duplicates = 0
        self.lost = 0

    def add(self, method, seconds, error):
        self.lat.setdefault(method, []).append(seconds)
        if error is not None:
            key = (method, error.get("code"))
            self.errors[key] = self.errors.get(key, 0) + 1


class Client:
    """One JSON-RPC connection that checks each request is answered once."""

    def __init__(self, stats, path):
        self.stats, self.path = stats, path
        self.next_id = 1
        self.waiting = {}
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_unix_connection(self.path, limit=8 << 20)
        asyncio.get_running_loop().create_task(self.read_loop())

    async def read_loop(self):
        while True:
            try:
                line = await self.reader.readline()
            except (ConnectionError, asyncio.LimitOverrunError, ValueError):
                line = b""
            if not line:
                for fut in self.waiting.values():
                    if not fut.done():
                        fut.set_result({"error": {"code": "closed"}})
                self.waiting.clear()
                return
            m = json.loads(line)
            if "id" not in m or m["id"] is None:
                continue
            fut = self.waiting.pop(m["id"], None)
            if fut is None:
                self.stats.duplicates += 1
            else:
                fut.set_result(m)

    async def call(self, method, params=None, timeout=120):
        i = self.next_id
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.waiting[i] = fut
        msg = {"jsonrpc": "2.0", "id": i, "method": method}
        if params is not None:
            msg["params"] = params
        start = time.perf_counter()
        self.stats.sent += 1
        self.writer.write(json.dumps(msg).encode() + b"\n")
        await self.writer.drain()
        try:
            m = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.stats.lost += 1
            self.waiting.pop(i, None)
            return None
        self.stats.answered += 1
        self.stats.add(method, time.perf_counter() - start, m.get("error"))
        return m


async def reader_client(env, stats, deadline, vms, rng):
    c = Client(stats, env.sock)
    await c.open()
    while time.time() < deadline:
        method = rng.choice(["vm.list", "vm.state", "vm.info"])
        params = None if method == "vm.list" else {"name": rng.choice(vms)}
        if await c.call(method, params) is None:
            return
    c.writer.close()


async def subscriber(env, stats, deadline, reads):
    if not reads:
        # Subscribes, then never reads: the broker must bound what it keeps
        # for it (a plain socket, so that nothing reads it behind our back).
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(env.sock)
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"events.subscribe"}\n')
        while time.time() < deadline:
            await asyncio.sleep(1)
        s.close()
        return
    c = Client(stats, env.sock)
    await c.open()
    await c.call("events.subscribe")
    while time.time() < deadline:  # subscribed for the whole run: the load itself
        await asyncio.sleep(1)
    c.writer.close()


async def snapshot_cycles(env, stats, deadline, vm):
    c = Client(stats, env.sock)
    await c.open()
    n = 0
    held = []
    while time.time() < deadline:
        if len(held) >= 3:
            r = await c.call("snapshot.delete", {"name": vm, "snapshot": held.pop(0)})
        else:
            n += 1
            held.append("s%d" % n)
            r = await c.call("snapshot.create", {"name": vm, "snapshot": held[-1]})
        if r is None:
            return
    c.writer.close()


async def churn(env, stats, deadline, xml):
    c = Client(stats, env.sock)
    await c.open()
    while time.time() < deadline:
        await c.call("vm.define", {"xml": xml})
        await c.call("vm.undefine", {"name": "churn"})
    c.writer.close()


def mem_fds(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))
    return rss, len(os.listdir("/proc/%d/fd" % pid))


async def sampler(env, deadline, sups, samples):
    while time.time() < deadline + 5:
        b = mem_fds(env.broker.pid)
        s = [mem_fds(p)[0] for p in sups if os.path.exists("/proc/%d" % p)]
        samples.append((time.time(), b[0], b[1], max(s) if s else 0))
        await asyncio.sleep(5)  # the sampling period: what is measured is over time


async def load(env, vms, sups, churn_xml):
    stats = Stats()
    rng = random.Random(1)
    deadline = time.time() + SECONDS
    samples = []
    tasks = [sampler(env, deadline, sups, samples), churn(env, stats, deadline, churn_xml)]
    tasks += [reader_client(env, stats, deadline, vms, random.Random(i)) for i in range(CLIENTS)]
    tasks += [subscriber(env, stats, deadline, i % 5 != 0) for i in range(SUBSCRIBERS)]
    tasks += [snapshot_cycles(env, stats, deadline, vm) for vm in vms]
    rng.shuffle(tasks)
    await asyncio.gather(*tasks)
    return stats, samples


def report(stats, samples, elapsed):
    print("%-20s %8s %9s %9s %9s" % ("method", "req/s", "p50 ms", "p99 ms", "max ms"))
    for method, lat in sorted(stats.lat.items()):
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print("%-20s %8.1f %9.2f %9.2f %9.2f" % (method, len(lat) / elapsed, statistics.median(lat) * 1000,
                                                p99 * 1000, lat[-1] * 1000))
    print("errors by method and code: %s" % (dict(sorted(stats.errors.items(), key=str)) or "none"))
    print("broker RSS KiB / fds, and the largest supervisor RSS KiB, over time:")
    t0 = samples[0][0]
    for t, rss, fds, sup in samples:
        print("  %5.0f s  broker %7d KiB %5d fds   supervisor max %7d KiB" % (t - t0, rss, fds, sup))


def consistent(env, vm):
    r = Rpc(env.sock, 120).call("snapshot.check", {"name": vm})
    return "result" in r and r["result"]["reports"] == []


def image_tags(path):
    out = subprocess.run(["qemu-img", "snapshot", "-U", "-l", path], capture_output=True, text=True,
                         check=True).stdout
    return [line.split()[1] for line in out.splitlines()[2:] if line.split()]


def cycles():
    env = Env()
    failures = []
    try:
        env.start_broker()
        disks = [env.qcow2("cyc-a.qcow2"), env.qcow2("cyc-b.qcow2")]
        env.define("cyc", machine="none", memory_mib=16, disks=[(disks[0], "vda"), (disks[1], "vdb")])
        c = Rpc(env.sock, 120)
        r = c.call("vm.start", {"name": "cyc"})
        if "result" not in r:
            raise RuntimeError("start cyc: %r" % r)
        sup = r["result"]["supervisor_pid"]
        print("soak cycles: %d snapshot create/delete cycles on one VM, RSS and fds sampled every %d"
              % (CYCLES, SAMPLE_EVERY))
        print("%8s %9s %12s %6s %14s %6s %9s" % ("cycle", "elapsed", "broker KiB", "fds",
                                                 "supervisor KiB", "fds", "cycle ms"))
        samples, lat, errors = [], [], 0
        start = last = time.time()
        for i in range(1, CYCLES + 1):
            t0 = time.perf_counter()
            a = c.call("snapshot.create", {"name": "cyc", "snapshot": "c%d" % i})
            b = c.call("snapshot.delete", {"name": "cyc", "snapshot": "c%d" % i})
            lat.append(time.perf_counter() - t0)
            for x in (a, b):
                if "result" not in x:
                    errors += 1
                    if errors <= 5:
                        failures.append("cycle %d: %r" % (i, x.get("error")))
            if i % SAMPLE_EVERY == 0 or i == CYCLES:
                bm, sm = mem_fds(env.broker.pid), mem_fds(sup)
                recent = lat[-SAMPLE_EVERY:]
                samples.append((i, bm, sm))
                print("%8d %8.0fs %12d %6d %14d %6d %9.1f" % (i, time.time() - start, bm[0], bm[1], sm[0], sm[1],
                                                            statistics.mean(recent) * 1000))
                sys.stdout.flush()
                last = time.time()
        lat.sort()
        print("cycle latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d errors; %.1f cycles/s"
              % (statistics.median(lat) * 1000, lat[int(len(lat) * 0.99)] * 1000, lat[-1] * 1000, errors,
                 CYCLES / (last - start)))
        if errors:
            failures.append("%d requests failed" % errors)
        if len(samples) >= 2:
            (_, b0, s0), (_, b1, s1) = samples[0], samples[-1]
            for who, x0, x1 in (("broker", b0, b1), ("supervisor", s0, s1)):
                print("%s: RSS %d -> %d KiB (%+d), fds %d -> %d" % (who, x0[0], x1[0], x1[0] - x0[0], x0[1], x1[1]))
                if x1[0] - x0[0] > CYCLE_RSS_SLACK_KIB:
                    failures.append("the %s's RSS grew by %d KiB over the cycles" % (who, x1[0] - x0[0]))
                if x1[1] > x0[1]:
                    failures.append("the %s holds %d more fds" % (who, x1[1] - x0[1]))
        chk = c.call("snapshot.check", {"name": "cyc"})
        left = c.call("snapshot.list", {"name": "cyc"})["result"]["snapshots"]
        tags = [image_tags(d) for d in disks]
        print("at the end: snapshot-check %s, %d snapshots listed, disk tags %s"
              % ("consistent" if chk.get("result", {}).get("consistent") else chk, len(left), tags))
        if not chk.get("result", {}).get("consistent") or left or any(tags):
            failures.append("snapshots left or metadata and disks disagree at the end")
        rep = c.call("vm.inconsistencies", {"name": "cyc"})["result"]["reports"]
        if rep:
            failures.append("%d inconsistencies reported: %r" % (len(rep), rep[:3]))
    finally:
        env.cleanup()
    for f in failures:
        print("FAIL: " + f)
    print("soak cycles: %s" % ("passed" if not failures else "FAILED"))
    return 1 if failures else 0


def main():
    if MODE == "cycles":
        return cycles()
    env = Env()
    failures = []
    try:
        env.start_broker()
        vms, sups = [], []
        for i in range(VMS):
            name = "soak%d" % i
            env.define(name, machine="none", memory_mib=16)
            r = Rpc(env.sock, 120).call("vm.start", {"name": name})
            if "result" not in r:
                raise RuntimeError("start %s: %r" % (name, r))
            vms.append(name)
            sups.append(r["result"]["supervisor_pid"])
        churn_xml = env.domain_xml("churn", machine="none", disks=[(env.qcow2("churn.qcow2"), "vda")])
        # The baseline once every VM runs (its start's work is done).
        for name in vms:
            env.wait_state(name, "running")
        rss0, fds0 = mem_fds(env.broker.pid)
        print("soak: %d s, %d clients, %d subscribers (1 in 5 never reads), %d VMs, define/undefine churn"
              % (SECONDS, CLIENTS, SUBSCRIBERS, VMS))
        start = time.time()
        stats, samples = asyncio.run(load(env, vms, sups, churn_xml))
        elapsed = time.time() - start
        report(stats, samples, elapsed)
        codes = documented_codes()
        bad = {k: v for k, v in stats.errors.items() if k[1] not in codes}
        if bad:
            failures.append("errors with undocumented codes: %r" % bad)
        if stats.lost or stats.duplicates or stats.sent != stats.answered:
            failures.append("%d sent, %d answered, %d lost, %d answered twice"
                            % (stats.sent, stats.answered, stats.lost, stats.duplicates))
        # The load is gone: the broker gives back what it took.
        deadline = time.time() + 60
        while time.time() < deadline:
            rss1, fds1 = mem_fds(env.broker.pid)
            if rss1 <= rss0 + RSS_SLACK_KIB and fds1 <= fds0 + FD_SLACK:
                break
            time.sleep(1)
        print("broker at rest: %d KiB RSS, %d fds before; %d KiB, %d fds after" % (rss0, fds0, rss1, fds1))
        if rss1 > rss0 + RSS_SLACK_KIB or fds1 > fds0 + FD_SLACK:
            failures.append("the broker kept %d KiB and %d fds more than before the load"
                            % (rss1 - rss0, fds1 - fds0))
        for vm in vms:
            if not consistent(env, vm):
                failures.append("VM %s: metadata and disks disagree after the soak" % vm)
    finally:
        env.cleanup()
    for f in failures:
        print("FAIL: " + f)
    print("soak: %s" % ("passed" if not failures else "FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
