"""What the benchmarks share: a bare QMP client, a QEMU of a VM's shape
started without corral (the baselines), memory readings from /proc, and the
closing table of figures."""

import json
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))


class Qmp:
    """A blocking QMP client: the least any client of QEMU has to do."""

    def __init__(self, path, timeout=30, sock=None):
        deadline = time.time() + timeout
        self.s = sock
        while self.s is None:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                self.s = s
            except OSError:
                s.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.005)
        # A QEMU that stops answering fails the bench instead of hanging it.
        self.s.settimeout(120)
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

    def close(self):
        self.f.close()
        self.s.close()


def bare_qemu_argv(listen_fd, disks, extra=()):
    """QEMU as corral runs a -machine none VM with qcow2 disks, without
    corral: the baseline of every QEMU-bound figure.  Its monitor is a
    listening socket it is given (listen_fd), as corral gives it one.  The
    file nodes pass discards as corral's do (libvirt's default): a snapshot
    delete then gives the freed clusters back to the host in both."""
    argv = ["qemu-system-x86_64", "-machine", "none", "-accel", "tcg", "-m", "16", "-nodefaults",
            "-display", "none", "-chardev", "socket,id=mon,fd=%d,server=on,wait=on" % listen_fd,
            "-mon", "chardev=mon,mode=control"]
    for i, path in enumerate(disks):
        argv += ["-blockdev", json.dumps({"driver": "file", "filename": path, "node-name": "f%d" % i,
                                               "discard": "unmap"}),
                 "-blockdev", json.dumps({"driver": "qcow2", "file": "f%d" % i, "node-name": "d%d" % i})]
    return argv + list(extra)


def bare_qemu(sock, disks, extra=()):
    """Starts a bare QEMU and connects to its QMP as corral does: the
    socket made, and connected to, before QEMU runs (no polling; and no
    connection racing QEMU 7.2's start-up, which could leave it stuck in
    accept(2)).  Returns (process, Qmp); QEMU keeps listening on sock."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock)
    listener.listen(8)
    client = socket.socket(socket.AF_UNIX)
    client.connect(sock)
    p = subprocess.Popen(bare_qemu_argv(listener.fileno(), disks, extra),
                         pass_fds=(listener.fileno(),))
    listener.close()
    return p, Qmp(sock, sock=client)


def mem_kib(pid):
    """(RSS, PSS) of pid in KiB, from /proc/PID/smaps_rollup."""
    rss = pss = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def median_ms(samples):
    return statistics.median(samples) * 1000


def mean_ms(samples):
    return statistics.mean(samples) * 1000


class Table:
    """The figures of one run: each with corral's value, its baseline and
    the target the ratio is judged by."""

    def __init__(self):
        self.rows = []

    def add(self, figure, value, baseline, unit, target):
        ratio = value / baseline if baseline else None
        self.rows.append((figure, value, baseline, unit, ratio, target))
        print("  %s: %s (baseline %s, ratio %s; target %s)"
              % (figure, fmt(value, unit), fmt(baseline, unit),
                 "%.2fx" % ratio if ratio is not None else "-", target))
        sys.stdout.flush()

    def fail(self, figure, why, target):
        self.rows.append((figure, None, None, "", None, target))
        print("  %s: FAILS: %s (target %s)" % (figure, why, target))
        sys.stdout.flush()

    def show(self):
        print()
        print("%-58s %12s %12s %8s  %s" % ("figure", "corral", "baseline", "ratio", "target"))
        for figure, value, baseline, unit, ratio, target in self.rows:
            print("%-58s %12s %12s %8s  %s"
                  % (figure, fmt(value, unit) if value is not None else "fails",
                     fmt(baseline, unit) if baseline is not None else "-",
                     "%.2fx" % ratio if ratio is not None else "-", target))


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "ms":
        return "%.2f ms" % v
    if unit == "KiB":
        return "%.2f MiB" % (v / 1024)
    return "%g %s" % (v, unit)
