#!/usr/bin/env python3
"""What keeps a supervisor small (README.md, "Performance"): it starts on
the definition the broker hands over and maps no XML library while idle;
what needs XML (dumpxml, snapshot metadata) loads libxml2, which goes again
once the supervisor is idle, and works the same when loaded again.  A
handover it cannot use (another build's broker) costs only that: it reads
the definition's XML file instead."""
import json
import os
import signal
import subprocess
import sys
import time

from corraltest import BUILD, Fail, Rpc, check, pid_alive, run

# What libxml2 brings: none of it in an idle supervisor.  (Not the C++
# runtime, which UBSan's runtime maps in the build the suite runs.)
XML_LIBS = ("libxml2", "libicuuc", "liblzma")


def mapped(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {os.path.basename(l.split()[5]) for l in f if len(l.split()) > 5}


def xml_mapped(pid):
    return sorted(m for m in mapped(pid) if m.startswith(XML_LIBS))


def wait_unloaded(pid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not xml_mapped(pid):
            return
        time.sleep(0.2)
    raise Fail("libxml2 still loaded %d s after the last XML use: %r" % (timeout, xml_mapped(pid)))


def idle_supervisor_maps_no_xml(env):
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    pid = env.info("vm1")["supervisor_pid"]
    check(xml_mapped(pid) == [], "a started supervisor maps no XML library: %r" % xml_mapped(pid))
    _, out, _ = env.ctl("dumpxml", "vm1")
    check("<name>vm1</name>" in out and "<target dev='vdb'" in out, "dumpxml: " + out)
    # Loaded for dumpxml, gone once idle; then loaded again for a snapshot.
    wait_unloaded(pid)
    env.ctl("snapshot-create-as", "vm1", "s1", "first")
    _, out, _ = env.ctl("snapshot-dumpxml", "vm1", "s1")
    check("<name>s1</name>" in out and "<description>first</description>" in out
          and "<domain" in out, "snapshot-dumpxml after a reload: " + out)
    wait_unloaded(pid)
    _, out, _ = env.ctl("dumpxml", "vm1")
    check("<name>vm1</name>" in out, "dumpxml after a second unload: " + out)
    # The next start reads the snapshots from the index its predecessor
    # wrote at exit, not from their XML files.
    env.ctl("destroy", "vm1")
    env.ctl("start", "vm1")
    pid = env.info("vm1")["supervisor_pid"]
    check(xml_mapped(pid) == [], "a start with snapshots maps no XML library: %r" % xml_mapped(pid))
    _, out, _ = env.ctl("snapshot-list", "vm1")
    check("s1" in out, "the snapshot is listed: " + out)
    env.ctl("snapshot-delete", "vm1", "s1")
    env.ctl("destroy", "vm1")


def wait_path(path, proc, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            raise Fail("no %s (supervisor exit status %r)" % (path, proc.poll()))
        time.sleep(0.05)


def unusable_handover_falls_back_on_the_file(env):
    """The supervisor run by hand as the broker runs it, for a maintenance
    QEMU, with a handover of no use."""
    state, rundir = os.path.join(env.dir, "vmstate"), os.path.join(env.dir, "vmrun")
    os.makedirs(state)
    os.makedirs(rundir)
    xml = os.path.join(env.dir, "fb.xml")
    with open(xml, "w") as f:
        f.write(env.domain_xml("fb"))
    fd = os.memfd_create("handover")
    os.write(fd, b'{"version":1}')
    with open(os.path.join(env.dir, "supervisor.log"), "w") as log:
        sup = subprocess.Popen([os.path.join(BUILD, "corral-supervisor"), "--name", "fb",
                                "--definition", xml, "--state-dir", state, "--run-dir", rundir,
                                "--maintenance", "--definition-fd", str(fd)],
                               pass_fds=[fd], stderr=log, env=env.env)
    os.close(fd)
    qemu = None
    try:
        wait_path(os.path.join(rundir, "supervisor.json"), sup)
        with open(os.path.join(rundir, "supervisor.json")) as f:
            qemu = json.load(f)["qemu_pid"]
        wait_path(os.path.join(rundir, "control.sock"), sup)
        r = Rpc(os.path.join(rundir, "control.sock")).call("vm.info", {"name": "fb"})
        disks = [d["target"] for d in r.get("result", {}).get("disks", [])]
        check(disks == ["vda", "vdb"], "it runs on the definition of the file: %r" % r)
    finally:
        sup.send_signal(signal.SIGTERM)
        sup.wait(timeout=30)
        # A supervisor that exits on a signal leaves its QEMU running.
        if qemu is not None and pid_alive(qemu):
            os.kill(qemu, signal.SIGKILL)
    with open(os.path.join(env.dir, "supervisor.log")) as f:
        log = f.read()
    check("parsing %s instead of the definition handed over" % xml in log, "it says why: " + log)


if __name__ == "__main__":
    sys.exit(run([idle_supervisor_maps_no_xml, unusable_handover_falls_back_on_the_file]))
