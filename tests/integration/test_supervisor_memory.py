#!/usr/bin/env python3
"""What keeps a supervisor small (README.md, "Performance"): it starts on
the definition the broker hands over and maps no XML library while idle;
what needs XML (dumpxml, snapshot metadata) loads libxml2, which goes again
once the supervisor is idle, and works the same when loaded again."""
import os
import sys
import time

from corraltest import Fail, check, run

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
    env.ctl("snapshot-delete", "vm1", "s1")
    env.ctl("destroy", "vm1")


if __name__ == "__main__":
    sys.exit(run([idle_supervisor_maps_no_xml]))
