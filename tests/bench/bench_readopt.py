"""Time for a restarted broker to re-adopt N running VMs (N = 10, 50, 200
where memory allows), against a baseline measured in the same run: a plain
client that connects to each of the same N supervisors' control sockets in
turn and asks vm.state, the least any re-adoption has to do.

Then the same with 1,000 VMs whose QEMU is the scripted QMP peer
(tests/integration/fake-qemu), so that they fit in memory: the broker and
the supervisors do all they do for real QEMU, only the guest is missing.
BENCH_READOPT_SIZES and BENCH_READOPT_FAKE_SIZES (comma-separated; empty
for none) choose the sizes.

The broker's time runs from its exec to the moment its hello says no
re-attachment is in flight and every VM is listed as running.  Only the
ratios mean anything across machines."""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from corraltest import BUILD, Env, Rpc  # noqa: E402

def sizes(var, default):
    return [int(x) for x in os.environ.get(var, default).split(",") if x.strip()]


SIZES = sizes("BENCH_READOPT_SIZES", "10,50,200")
FAKE_SIZES = sizes("BENCH_READOPT_FAKE_SIZES", "1000")
ROUNDS = int(os.environ.get("BENCH_READOPT_ROUNDS", "3"))
# What one idle -machine none QEMU with 16 MiB of guest RAM and its
# supervisor take, with a margin.
PER_VM_BYTES = 80 << 20
# The same with the scripted peer (a small Python process) instead of QEMU.
PER_FAKE_VM_BYTES = 16 << 20


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def start_all(env, names):
    """Starts the VMs two at a time (the machine's cores)."""
    todo = list(names)
    lock = threading.Lock()
    failures = []

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                name = todo.pop()
            rc, _, err = env.ctl("start", name, ok=None, timeout=300)
            if rc != 0:
                failures.append((name, err.strip()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError("cannot start: %s" % failures[:3])


def direct(env, names):
    t0 = time.perf_counter()
    for n in names:
        c = Rpc(os.path.join(env.run, "vm", n, "control.sock"), 30)
        r = c.call("vm.state")
        c.close()
        if r.get("result", {}).get("state") != "running":
            raise RuntimeError("VM %s: %r" % (n, r))
    return time.perf_counter() - t0


def readopt(env, names):
    env.stop_broker(signal.SIGKILL)
    t0 = time.perf_counter()
    env.start_broker()
    while True:
        try:
            c = Rpc(env.sock, 30)
            hello = c.call("hello").get("result", {})
            lst = c.call("vm.list", {"all": True}).get("result", {}).get("vms", [])
            c.close()
        except OSError:
            continue
        running = sum(1 for v in lst if v.get("state") == "running")
        if hello.get("adopting", 1) == 0 and running == len(names):
            return time.perf_counter() - t0
        time.sleep(0.002)


def bench(n, fake=False):
    env = Env()
    try:
        env.start_broker()
        names = ["ra%04d" % i for i in range(n)]
        for name in names:
            if fake:
                env.define(name, machine="none", memory_mib=16, disks=[],
                           emulator=env.fake_qemu())
            else:
                env.define(name, machine="none", memory_mib=16,
                           disks=[(env.qcow2(name + ".qcow2"), "vda")])
        start_all(env, names)
        base, ours = [], []
        for _ in range(ROUNDS):
            base.append(direct(env, names))
            ours.append(readopt(env, names))
        b, o = statistics.median(base), statistics.median(ours)
        print("re-adopt %4d VMs%s: broker %8.1f ms (%.2f ms/VM), direct vm.state to each "
              "supervisor %7.1f ms; ratio %.2f" % (n, " (fake QMP peer)" if fake else "", o * 1000,
                                                   o * 1000 / n, b * 1000, o / b))
        with open(env.broker_log, errors="replace") as f:
            lines = [ln.strip() for ln in f if "re-attached" in ln and "VMs in" in ln]
        if lines:
            print("    broker's own figure: " + lines[-1].split(": ", 1)[-1])
    finally:
        env.cleanup()


def main():
    for fake, ns, per_vm in ((False, SIZES, PER_VM_BYTES), (True, FAKE_SIZES, PER_FAKE_VM_BYTES)):
        for n in ns:
            need = n * per_vm
            if mem_available() < need:
                print("re-adopt %4d VMs%s: skipped: needs about %d MiB, %d MiB available"
                      % (n, " (fake QMP peer)" if fake else "", need >> 20,
                         mem_available() >> 20))
                continue
            bench(n, fake)


if __name__ == "__main__":
    main()
