"""The figures of issue 14 in one run, each against a baseline measured in
the same run on the same machine, so that only the ratios mean anything
across machines:

- vm.qmp round trip on the per-VM socket and through the broker, against
  the same QMP command sent straight to a bare QEMU of the same shape (and,
  as a floor, through two processes that only relay bytes);
- VM start to running, against a bare QEMU spawned until its QMP answers;
- snapshot create and delete, against the raw QMP jobs (the delete's
  baseline is the job plus one query-named-block-nodes, the query the
  deletion algorithm needs);
- the first start of a VM with 1,000 snapshots whose tags are not on disk,
  against a normal start;
- listing 10,000 snapshots with details (RPC, by a C client that reads
  each page as bytes, and for comparison one that parses every page with
  cJSON and the Python client; and the whole corralctl process), the
  supervisor's memory holding them, and the broker's after relaying them;
- supervisor memory per VM, 10 VMs, idle and after dumpxml (libxml2
  loaded, then unloaded again).

BENCH_ROUNDS (default 20) sets the rounds of the timed figures,
BENCH_SNAPSHOTS (default 10000) the size of the large listing, BENCH_ONLY
(names of the steps below, comma-separated) runs some of them."""

import json
import os
import statistics
import subprocess
import sys
import time

from benchlib import Table, bare_qemu, median_ms, mem_kib
from corraltest import BUILD, Env, Rpc

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
SNAPSHOTS = int(os.environ.get("BENCH_SNAPSHOTS", "10000"))
QMP_CALLS = 2000
QMP_BLOCKS = 20
DIFFERING = 1000
FIRST_STARTS = 3
MANY_VMS = 10


def ok(r, what):
    if "result" not in r:
        raise RuntimeError("%s failed: %r" % (what, r.get("error")))
    return r["result"]


def define_running(env, name):
    env.define(name, machine="none", memory_mib=16)
    ok(Rpc(env.sock).call("vm.start", {"name": name}), "start " + name)
    return env.info(name)


def rtt_ms(kind, path, line, calls):
    """Mean round trip of calls sends of line on the socket at path,
    measured by a C client (tests/tools/bench_rtt.c)."""
    tool = os.path.join(BUILD, "tests", "bench_rtt")
    for _ in range(50):
        p = subprocess.run([tool, kind, path, str(calls), line], capture_output=True, text=True)
        if p.returncode == 0:
            return float(p.stdout)
        time.sleep(0.1)  # a QEMU still setting up its QMP socket
    raise RuntimeError("bench_rtt %s %s: %s" % (kind, path, p.stderr.strip()))


def qmp_round_trip(env, t):
    info = define_running(env, "q")
    disks = [env.qcow2("raw-q-%d.qcow2" % i) for i in range(2)]
    sock = os.path.join(env.dir, "raw-q.sock")
    p, q = bare_qemu(sock, disks)
    q.close()
    # The floor of corral's two hops (broker, supervisor): two processes
    # that only relay bytes on a libevent loop (tests/tools/bench_relay.c).
    relay = os.path.join(BUILD, "tests", "bench_relay")
    hop1, hop2 = os.path.join(env.dir, "hop1.sock"), os.path.join(env.dir, "hop2.sock")
    relays = []
    status = json.dumps({"execute": "query-status"})
    # What any client that matches replies by id sends: QEMU reads a
    # command a byte at a time, so the id alone shows in the round trip.
    with_id = json.dumps({"execute": "query-status", "id": 1}, separators=(",", ":"))
    req = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "vm.qmp",
                      "params": {"name": "q", "command": {"execute": "query-status"}}})
    paths = {"raw": ("qmp", sock, status), "raw-id": ("qmp", sock, with_id),
             "floor": ("qmp", hop2, status),
             "per-VM": ("rpc", info["control_socket"], req), "broker": ("rpc", env.sock, req)}
    blocks = {k: [] for k in paths}
    try:
        rtt_ms("qmp", sock, status, 50)
        relays.append(subprocess.Popen([relay, hop1, sock]))
        relays.append(subprocess.Popen([relay, hop2, hop1]))
        # Interleaved blocks, each figure the median of its blocks: a
        # machine's load drifts over seconds, and then hits every path
        # alike rather than the one measured at the time.
        for _ in range(QMP_BLOCKS):
            for k, (kind, path, line) in paths.items():
                blocks[k].append(rtt_ms(kind, path, line, QMP_CALLS // QMP_BLOCKS))
    finally:
        for r in relays + [p]:
            r.kill()
            r.wait()
    raw = statistics.median(blocks["raw"])
    what = "median of %d interleaved means of %d" % (QMP_BLOCKS, QMP_CALLS // QMP_BLOCKS)
    t.add("floor: QMP through 2 byte-relaying libevent hops (%s)" % what,
          statistics.median(blocks["floor"]), raw, "ms", "-")
    t.add("raw QMP with an id, as corral sends it (%s)" % what,
          statistics.median(blocks["raw-id"]), raw, "ms", "-")
    for label, k, target in (("per-VM socket", "per-VM", "<= 1.10x"),
                             ("via the broker", "broker", "<= 1.25x")):
        t.add("vm.qmp round trip, %s (%s)" % (label, what), statistics.median(blocks[k]), raw,
              "ms", target)


def vm_start(env, t):
    env.define("st", machine="none", memory_mib=16)
    c = Rpc(env.sock)
    corral, bare = [], []
    disks = [env.qcow2("raw-st-%d.qcow2" % i) for i in range(2)]
    for i in range(ROUNDS):
        s = time.perf_counter()
        ok(c.call("vm.start", {"name": "st"}), "start")
        corral.append(time.perf_counter() - s)
        ok(c.call("vm.destroy", {"name": "st"}), "destroy")
        env.wait_state("st", "shut off")
        sock = os.path.join(env.dir, "raw-st-%d.sock" % i)
        s = time.perf_counter()
        p, q = bare_qemu(sock, disks)
        q.cmd("query-status")
        bare.append(time.perf_counter() - s)
        q.close()
        p.kill()
        p.wait()
    c.close()
    t.add("VM start to running (median of %d)" % ROUNDS, median_ms(corral), median_ms(bare), "ms",
          "<= 1.20x")
    return median_ms(corral)


def create_delete(env, t):
    c = Rpc(env.sock)
    # The VM of qmp_round_trip, or one of its shape when that step did not run.
    if "result" not in c.call("vm.info", {"name": "q"}):
        define_running(env, "q")
    disks = [env.qcow2("raw-cd-%d.qcow2" % i) for i in range(2)]
    p, q = bare_qemu(os.path.join(env.dir, "raw-cd.sock"), disks)
    cc, cd, rc, rd = [], [], [], []
    try:
        for i in range(ROUNDS):
            tag = "bench %d" % i
            s = time.perf_counter()
            ok(c.call("snapshot.create", {"name": "q", "snapshot": tag}), "create")
            cc.append(time.perf_counter() - s)
            s = time.perf_counter()
            r = ok(c.call("snapshot.delete", {"name": "q", "snapshot": tag}), "delete")
            cd.append(time.perf_counter() - s)
            if r.get("reports"):
                raise RuntimeError("the delete reported differences: %r" % r["reports"])
            s = time.perf_counter()
            q.send("snapshot-save", {"job-id": "s", "tag": tag, "vmstate": "d0", "devices": ["d0", "d1"]})
            q.wait_job("s")
            q.cmd("job-dismiss", {"id": "s"})
            rc.append(time.perf_counter() - s)
            s = time.perf_counter()
            q.cmd("query-named-block-nodes", {"flat": True})
            q.send("snapshot-delete", {"job-id": "d", "tag": tag, "devices": ["d0", "d1"]})
            q.wait_job("d")
            q.cmd("job-dismiss", {"id": "d"})
            rd.append(time.perf_counter() - s)
    finally:
        q.close()
        p.kill()
        p.wait()
        c.close()
    t.add("snapshot create, 2 disks (median of %d)" % ROUNDS, median_ms(cc), median_ms(rc), "ms",
          "<= 1.10x")
    t.add("snapshot delete, 2 disks (median of %d)" % ROUNDS, median_ms(cd), median_ms(rd), "ms",
          "<= 1.15x")


def redefine_many(env, vm, prefix, n):
    """n snapshots of vm in its metadata only (their tags are on no disk),
    sent 32 at a time."""
    c = Rpc(env.sock, 600)
    ok(c.call("snapshot.create", {"name": vm, "snapshot": "template"}), "template snapshot")
    xml = ok(c.call("snapshot.dumpxml", {"name": vm, "snapshot": "template"}), "dumpxml")["xml"]
    ok(c.call("snapshot.delete", {"name": vm, "snapshot": "template"}), "template delete")
    sent = []
    for i in range(n):
        body = xml.replace("<name>template</name>", "<name>%s%06d</name>" % (prefix, i), 1)
        sent.append(c.send("snapshot.redefine", {"name": vm, "xml": body}))
        if len(sent) == 32 or i == n - 1:
            want = set(sent)
            while want:
                m = c.read_msg()
                if m.get("id") in want:
                    want.discard(m["id"])
                    ok(m, "redefine")
            sent = []
    c.close()


def first_start(env, t, normal_ms):
    """The median of FIRST_STARTS VMs' first starts: each is one sample, so
    one alone is at the host's mercy."""
    took = []
    for k in range(FIRST_STARTS):
        vm = "fs%d" % k
        define_running(env, vm)
        redefine_many(env, vm, "gone", DIFFERING)
        c = Rpc(env.sock, 600)
        ok(c.call("vm.destroy", {"name": vm}), "destroy")
        env.wait_state(vm, "shut off")
        s = time.perf_counter()
        ok(c.call("vm.start", {"name": vm}), "first start")
        took.append(time.perf_counter() - s)
        # The reports reach the broker's ledger after the start: wait for
        # all, so that the next figures do not measure a broker still
        # writing them.
        deadline = time.time() + 600
        n = 0
        while n < DIFFERING and time.time() < deadline:
            n = len(ok(c.call("vm.inconsistencies", {"name": vm}), "inconsistencies")["reports"])
            time.sleep(0.2)
        ok(c.call("vm.destroy", {"name": vm}), "destroy")
        c.close()
        if n < DIFFERING:
            raise RuntimeError("only %d of %d differences reported" % (n, DIFFERING))
    t.add("first start with %d differing snapshots (median of %d VMs)" % (DIFFERING, FIRST_STARTS),
          median_ms(took), normal_ms, "ms", "<= 1.5x")


def list_all(c, vm):
    """Every page of vm's snapshot.list: (snapshots, pages, None), or the
    error as its third."""
    n, pages, after = 0, 0, None
    while True:
        p = {"name": vm}
        if after is not None:
            p["after"] = after
        r = c.call("snapshot.list", p)
        if "result" not in r:
            return n, pages, "%s %s" % (r["error"]["code"], r["error"]["message"][:80])
        n += len(r["result"]["snapshots"])
        pages += 1
        after = r["result"].get("next")
        if after is None:
            return n, pages, None


def c_listing(sock, vm, parse):
    """One whole listing of vm by a C client (tests/tools/bench_list.c):
    (ms, snapshots, pages).  Without parse, each page is read as bytes and
    only its cursor parsed: the servers' time, not a client's parse."""
    tool = os.path.join(BUILD, "tests", "bench_list")
    p = subprocess.run([tool] + (["--parse"] if parse else []) + [sock, vm], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise RuntimeError("bench_list: %s" % p.stderr.strip()[:200])
    ms, got, pages = p.stdout.split()
    return float(ms), int(got), int(pages)


def settled_rss_kib(pid):
    """pid's lowest RSS over the next second: a supervisor gives the heap
    of a run of large replies back 250 ms after the last
    (snapshot_core.c)."""
    rss = mem_kib(pid)[0]
    for _ in range(10):
        time.sleep(0.1)
        rss = min(rss, mem_kib(pid)[0])
    return rss


def large_listing(env, t):
    info = define_running(env, "big")
    # The memory figure's baseline: a supervisor of the same shape holding
    # no snapshot, started here so that this step runs on its own.
    small_info = define_running(env, "bigbase")
    c = Rpc(env.sock, 600)
    floor = []
    for _ in range(ROUNDS):
        s = time.perf_counter()
        ok(c.call("vm.state", {"name": "big"}), "vm.state")
        floor.append(time.perf_counter() - s)
    redefine_many(env, "big", "m", SNAPSHOTS)
    broker_idle = mem_kib(env.broker.pid)[0]
    rpc, parsed, py, whole = [], [], [], []
    # Once in Python first: the count and every page's shape, checked.
    got, pages, why = list_all(c, "big")
    if why is None and got != SNAPSHOTS:
        why = "listed %d of %d" % (got, SNAPSHOTS)
    for _ in range(ROUNDS if why is None else 0):
        ms, got, _ = c_listing(env.sock, "big", False)
        rpc.append(ms / 1000)
        parsed.append(c_listing(env.sock, "big", True)[0] / 1000)
        if got != SNAPSHOTS:
            why = "bench_list listed %d of %d" % (got, SNAPSHOTS)
            break
    for _ in range(5 if why is None else 0):
        s = time.perf_counter()
        list_all(c, "big")
        py.append(time.perf_counter() - s)
    label = "snapshot listing, %d with details, RPC, %d pages (median)" % (SNAPSHOTS, pages)
    if why is None:
        t.add(label, median_ms(rpc), median_ms(floor), "ms", "<= 50 ms absolute")
        t.add("  the same, each page parsed with cJSON (C client)", median_ms(parsed),
              median_ms(floor), "ms", "-")
        t.add("  the same, each page parsed with json.loads (Python client)", median_ms(py),
              median_ms(floor), "ms", "-")
    else:
        t.fail(label, why, "<= 50 ms absolute")
    for _ in range(5):
        s = time.perf_counter()
        p = subprocess.run([os.path.join(BUILD, "corralctl"), "snapshot-list", "big"],
                           capture_output=True, env=env.env)
        whole.append(time.perf_counter() - s)
        if p.returncode != 0:
            why = p.stderr.decode(errors="replace").strip()[:80]
            break
    label = "corralctl snapshot-list, %d, whole process (median)" % SNAPSHOTS
    if p.returncode == 0:
        t.add(label, median_ms(whole), median_ms(floor), "ms", "<= 100 ms absolute")
    else:
        t.fail(label, why, "<= 100 ms absolute")
    small = mem_kib(small_info["supervisor_pid"])[0]
    t.add("supervisor RSS with %d snapshots" % SNAPSHOTS, settled_rss_kib(info["supervisor_pid"]),
          small, "KiB", "<= 10 MiB")
    t.add("broker RSS after relaying the %d-snapshot list" % SNAPSHOTS,
          mem_kib(env.broker.pid)[0], broker_idle, "KiB", "within 1 MiB of idle")
    c.close()


def xml_loaded(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libxml2" in f.read()


def many_vms(env, t):
    infos = [define_running(env, "many%d" % i) for i in range(MANY_VMS)]
    pids = [i["supervisor_pid"] for i in infos]

    def mean_mem():
        mems = [mem_kib(p) for p in pids]
        return statistics.mean(m[0] for m in mems), statistics.mean(m[1] for m in mems)

    rss, pss = mean_mem()
    broker = mem_kib(env.broker.pid)
    t.add("supervisor PSS per VM, %d VMs (mean)" % MANY_VMS, pss, broker[1], "KiB",
          "<= 0.5 MiB (baseline: the broker's PSS)")
    t.add("supervisor RSS per VM, %d VMs (mean)" % MANY_VMS, rss, broker[0], "KiB",
          "<= 3 MiB (baseline: the broker's RSS)")
    # What XML costs while loaded (dumpxml loads libxml2), and what stays
    # once each supervisor has unloaded it again (the C++ runtime it
    # brought cannot be unloaded).
    for i, info in enumerate(infos):
        ok(Rpc(info["control_socket"]).call("vm.dumpxml", {"name": "many%d" % i}), "dumpxml")
    loaded = mean_mem()
    deadline = time.time() + 60
    while any(xml_loaded(p) for p in pids):
        if time.time() > deadline:
            raise RuntimeError("libxml2 still loaded 60 s after dumpxml")
        time.sleep(0.2)
    after = mean_mem()
    t.add("  the same, PSS with libxml2 loaded (dumpxml)", loaded[1], pss, "KiB", "-")
    t.add("  the same, RSS with libxml2 loaded (dumpxml)", loaded[0], rss, "KiB", "-")
    t.add("  the same, PSS once it is unloaded again", after[1], pss, "KiB", "-")
    t.add("  the same, RSS once it is unloaded again", after[0], rss, "KiB", "-")


def main():
    t = Table()
    env = Env()
    print("corral at scale (%s, %d rounds, %d snapshots):" % (BUILD, ROUNDS, SNAPSHOTS))
    try:
        env.start_broker()
        only = os.environ.get("BENCH_ONLY", "").split(",")
        normal = None
        for step in (qmp_round_trip, vm_start, create_delete, first_start, large_listing, many_vms):
            if only != [""] and step.__name__ not in only:
                continue
            try:
                if step is first_start:
                    step(env, t, normal)
                else:
                    r = step(env, t)
                    if step is vm_start:
                        normal = r
            except Exception as e:  # one figure failing must not hide the others
                t.fail(step.__name__, str(e)[:200], "-")
    finally:
        env.cleanup()
    t.show()


if __name__ == "__main__":
    main()
