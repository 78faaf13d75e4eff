"""Bad input gets a clear error and loses nothing; the broker keeps serving."""

import json
import os
import socket
import sys
import time

from corraltest import Fail, Rpc, Skip, check, run


def expect_error(reply, code, text=None):
    err = reply.get("error")
    check(err is not None, "expected error %d, got %r" % (code, reply))
    check(err["code"] == code, "expected error %d, got %r" % (code, err))
    if text is not None:
        check(text in err["message"], "message %r lacks %r" % (err["message"], text))


def still_serving(env):
    r = env.rpc().call("vm.list", {"all": True})
    check("result" in r, "broker still answers: %r" % r)


def garbage_and_framing(env):
    env.start_broker()
    c = env.rpc()
    c.send_raw(b"this is not json\n")
    expect_error(c.read_msg(), -32700)
    c.send_raw(b"[1,2,3]\n")
    expect_error(c.read_msg(), -32600)
    c.send_raw(b'{"jsonrpc":"1.0","method":"hello","id":1}\n')
    expect_error(c.read_msg(), -32600)
    c.send_raw(b'{"jsonrpc":"2.0","method":"hello","id":1}{"x":1}\n')
    expect_error(c.read_msg(), -32700)
    c.send_raw(b"\x00\xff\xfe\n")
    expect_error(c.read_msg(), -32700)
    c.send_raw(b"[" * 5000 + b"\n")
    expect_error(c.read_msg(), -32700)
    # The same connection still works after all of that.
    check(c.call("hello")["result"]["server"] == "corrald", "connection survives garbage")
    still_serving(env)


def oversized_message(env):
    env.start_broker()
    before = env.listing()
    c = env.rpc()
    big = b'{"jsonrpc":"2.0","method":"vm.define","params":{"xml":"' + b"a" * (2 * 1024 * 1024) + b'"},"id":7}\n'
    c.send_raw(big)
    m = c.read_msg()
    expect_error(m, 1000, "exceeds the limit")
    check(c.call("hello")["result"]["protocol"] == 1, "stream usable after an oversized line")
    check(env.listing() == before, "nothing written: %r" % env.listing())


def oversized_once_forwarded(env):
    """A request under the limit that the broker's re-encoding takes over
    it (cJSON writes 1e300 as 1e+300) is refused at once, with the limit
    named, and the supervisor and the connection go on."""
    env.start_broker()
    env.define("vm1", machine="none", memory_mib=16)
    env.ctl("start", "vm1")
    numbers = ",".join(["1e300"] * 170000)
    line = ('{"jsonrpc":"2.0","id":9,"method":"vm.qmp","params":{"name":"vm1","command":'
            '{"execute":"query-status","arguments":{"x":[%s]}}}}\n' % numbers).encode()
    check(len(line) < 1024 * 1024, "the request itself is under the limit: %d" % len(line))
    c = Rpc(env.sock, timeout=20)
    c.send_raw(line)
    expect_error(c.read_msg(), 1000, "exceeds the limit")
    r = c.call("vm.qmp", {"name": "vm1", "command": {"execute": "query-status"}})
    check(r.get("result", {}).get("reply", {}).get("return", {}).get("status") == "running",
          "the VM answers on: %r" % r)


def unknown_method_and_bad_params(env):
    env.start_broker()
    env.define("vm1")
    c = env.rpc()
    expect_error(c.call("vm.frobnicate", {}), -32601, "vm.frobnicate")
    expect_error(c.call("vm.state", {"name": 42}), -32602, "must be a string")
    expect_error(c.call("vm.state", {}), -32602, "required")
    expect_error(c.call("vm.list", {"all": "yes"}), -32602, "true or false")
    expect_error(c.call("vm.shutdown", {"name": "vm1", "timeout": -5}), -32602)
    expect_error(c.call("vm.state", {"name": "nosuch"}), 1001, "no VM named")
    c.send_raw(b'{"jsonrpc":"2.0","method":"vm.state","params":[1,2],"id":3}\n')
    expect_error(c.read_msg(), -32600)
    still_serving(env)


def disconnect_mid_request(env):
    env.start_broker()
    env.define("vm1")
    # Half a line, then gone.
    s = socket.socket(socket.AF_UNIX)
    s.connect(env.sock)
    s.sendall(b'{"jsonrpc":"2.0","method":"vm.li')
    s.close()
    # A start whose client leaves before the reply: the VM still starts and
    # the broker survives answering nobody.
    c = env.rpc()
    c.send("vm.start", {"name": "vm1"})
    c.close()
    env.wait_state("vm1", "running")
    still_serving(env)
    env.ctl("destroy", "vm1")


def bad_names(env):
    env.start_broker()
    before = env.listing()
    for name in ["a/b", "..", "../etc", ".hidden", "tab\there", "nl\nx", "x" * 65, "", "sp ace"]:
        xml = ("<domain type='qemu'><name>%s</name><memory>65536</memory>"
               "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>" % name)
        r = env.rpc().call("vm.define", {"xml": xml})
        check("error" in r, "name %r refused" % name)
        check(r["error"]["code"] in (1003, 1004), "name %r: %r" % (name, r))
    r = env.rpc().call("vm.state", {"name": "../x"})
    expect_error(r, 1003)
    check(env.listing() == before, "nothing written: %r" % env.listing())
    r = env.rpc().call("vm.define", {"xml": "<domain type='qemu'><name>%s</name><memory>65536</memory></domain>" % ("y" * 64)})
    check("result" in r, "64-byte name accepted: %r" % r)


def duplicates(env):
    env.start_broker()
    uuid = "11111111-2222-4333-8444-555555555555"
    env.define("vm1", uuid=uuid)
    before = env.listing()
    xml = env.domain_xml("vm1")
    expect_error(env.rpc().call("vm.define", {"xml": xml}), 1002, "domain 'vm1' already exists with uuid " + uuid)
    xml = env.domain_xml("vm2", uuid=uuid)
    expect_error(env.rpc().call("vm.define", {"xml": xml}), 1002, uuid)
    check(env.listing() == before, "nothing written")


def hostile_xml(env):
    env.start_broker()
    before = env.listing()
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join('<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1) if i else "&lol;") * 10) for i in range(10))
            + ']><domain type="qemu"><name>&lol9;</name><memory>1</memory></domain>')
    expect_error(env.rpc().call("vm.define", {"xml": bomb}), 1004, "DOCTYPE")
    ext = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<domain type="qemu"><name>&x;</name><memory>1</memory></domain>')
    expect_error(env.rpc().call("vm.define", {"xml": ext}), 1004)
    expect_error(env.rpc().call("vm.define", {"xml": "<domain type='qemu'><name>x</name>"}), 1004, "malformed")
    expect_error(env.rpc().call("vm.define", {"xml": "not xml at all"}), 1004)
    huge = "<domain type='qemu'><name>x</name><memory>1</memory><description>" + "a" * (1024 * 1024) + "</description></domain>"
    c = env.rpc()
    c.send("vm.define", {"xml": huge})
    expect_error(c.read_msg(), 1000)
    unsafe = env.domain_xml("vm1", extra="<hostdev mode='subsystem' type='pci'/>")
    expect_error(env.rpc().call("vm.define", {"xml": unsafe}), 1005, "hostdev")
    cmdline = env.domain_xml("vm1").replace(
        "<domain type='qemu'>",
        "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>").replace(
        "</domain>", "<qemu:commandline><qemu:arg value='-foo'/></qemu:commandline></domain>")
    expect_error(env.rpc().call("vm.define", {"xml": cmdline}), 1005, "commandline")
    check(env.listing() == before, "nothing written: %r" % env.listing())
    still_serving(env)


def missing_disk_at_define(env):
    env.start_broker()
    before = env.listing()
    xml = env.domain_xml("vm1", disks=[("/nonexistent/disk.qcow2", "vda")])
    expect_error(env.rpc().call("vm.define", {"xml": xml}), 1010, "/nonexistent/disk.qcow2")
    check(env.listing() == before, "nothing written")


def wrong_state_operations(env):
    env.start_broker()
    env.define("vm1")
    _, _, err = env.ctl("destroy", "vm1", ok=False)
    check("not running" in err, err)
    env.ctl("suspend", "vm1", ok=False)
    env.ctl("shutdown", "vm1", ok=False)
    env.ctl("start", "vm1")
    _, _, err = env.ctl("start", "vm1", ok=False)
    check("already running" in err, err)
    _, _, err = env.ctl("undefine", "vm1", ok=False)
    check("destroy or shut it down first" in err, err)
    env.ctl("destroy", "vm1")
    env.wait_state("vm1", "shut off")
    env.ctl("undefine", "vm1")


def qemu_fails_to_start(env):
    env.start_broker()
    env.define("badmachine", machine="no-such-machine")
    _, _, err = env.ctl("start", "badmachine", ok=False)
    check("unsupported machine type" in err, "QEMU's own message: " + err)
    check(env.wait_state("badmachine", "shut off").startswith("shut off"), "not running")
    # The image vanished between define and start: QEMU's message again.
    env.define("gone")
    os.unlink(os.path.join(env.images, "gone-b.qcow2"))
    _, _, err = env.ctl("start", "gone", ok=False)
    check("gone-b.qcow2" in err and "does not exist" in err, err)
    still_serving(env)


def kvm_unavailable(env):
    # As root each VM runs as its own uid, which reaches /dev/kvm only
    # through a group that is not root's, or when everyone may.
    try:
        st = os.stat("/dev/kvm")
        vm_uid_can = (st.st_mode & 0o006 == 0o006
                      or (st.st_gid != 0 and st.st_mode & 0o060 == 0o060))
    except FileNotFoundError:
        vm_uid_can = False
    if (vm_uid_can if os.geteuid() == 0 else os.access("/dev/kvm", os.R_OK | os.W_OK)):
        raise Skip("/dev/kvm is usable by VMs here, so type='kvm' starts")
    env.start_broker()
    env.define("vm1", virt="kvm")
    _, _, err = env.ctl("start", "vm1", ok=False)
    check("/dev/kvm" in err and "type='qemu'" in err, err)


def unprivileged_client(env):
    if os.geteuid() != 0:
        raise Skip("needs root to run a client as another uid")
    env.start_broker()
    env.define("vm1")
    env.ctl("start", "vm1")
    os.chmod(env.dir, 0o755)
    os.chmod(env.run, 0o755)
    _, out, _ = env.ctl("list", "--all", user=65534)
    check("vm1" not in out, "a user sees only the VMs they own: " + out)
    _, _, err = env.ctl("destroy", "vm1", ok=False, user=65534)
    check("permission denied" in err and "65534" in err, err)
    _, _, err = env.ctl("qemu-monitor-command", "vm1", '{"execute":"query-status"}', ok=False, user=65534)
    check("permission denied" in err, err)
    check("refused vm.destroy from uid 65534" in env.log_tail(), "refusal logged with uid")
    sock = env.info("vm1")["control_socket"]
    os.chmod(os.path.dirname(sock), 0o755)
    os.chmod(os.path.dirname(os.path.dirname(sock)), 0o755)
    os.chmod(sock, 0o777)
    rc, _, err = env.ctl("--vm-socket", sock, "domstate", "vm1", ok=False, user=65534)
    check("refused" in env.log_tail() or rc != 0, "supervisor refuses other uids: " + err)
    env.ctl("destroy", "vm1")


if __name__ == "__main__":
    sys.exit(run([garbage_and_framing, oversized_message, oversized_once_forwarded,
                  unknown_method_and_bad_params,
                  disconnect_mid_request, bad_names, duplicates, hostile_xml,
                  missing_disk_at_define, wrong_state_operations, qemu_fails_to_start,
                  kvm_unavailable, unprivileged_client]))
