"""Listings that scale (issue 14): snapshot.list, snapshot.check, vm.list
and vm.inconsistencies answer a page at a time (limit, after, next), so that
10,000 snapshots list by RPC and through corralctl under the 1 MiB message
cap; every snapshot appears exactly once and in order, also while another
client creates and deletes snapshots between the pages."""

import json
import os
import sys
import threading
import time

from corraltest import Rpc, check, result_of, run

BIG = 10000


def running_vm(env, name="vm1"):
    env.start_broker()
    env.define(name, machine="none", memory_mib=16)
    env.ctl("start", name)


def template(c, vm):
    result_of(c.call("snapshot.create", {"name": vm, "snapshot": "template"}), "template")
    xml = result_of(c.call("snapshot.dumpxml", {"name": vm, "snapshot": "template"}), "dumpxml")["xml"]
    result_of(c.call("snapshot.delete", {"name": vm, "snapshot": "template"}), "template delete")
    return xml


def snap_xml(xml, name, parent=None):
    body = xml.replace("<name>template</name>", "<name>%s</name>" % name, 1)
    if parent is not None:
        body = body.replace("</name>", "</name><parent><name>%s</name></parent>" % parent, 1)
    return body


def redefine_many(c, vm, xml, names, parents=None):
    """Metadata-only snapshots, 64 requests in flight at a time."""
    sent = []
    for i, n in enumerate(names):
        p = parents.get(n) if parents else None
        sent.append(c.send("snapshot.redefine", {"name": vm, "xml": snap_xml(xml, n, p)}))
        if len(sent) == 64 or i == len(names) - 1:
            want = set(sent)
            while want:
                m = c.read_msg()
                if m.get("id") in want:
                    want.discard(m["id"])
                    result_of(m, "redefine")
            sent = []


def pages(c, method, params, key, limit=None):
    """Every page of a listing: (entries, number of pages)."""
    out, after, n = [], None, 0
    while True:
        p = dict(params)
        if limit is not None:
            p["limit"] = limit
        if after is not None:
            p["after"] = after
        r = result_of(c.call(method, p), method)
        out += r[key]
        n += 1
        after = r.get("next")
        if after is None:
            return out, n
        check(len(r[key]) > 0, "a page with a next has entries")


def snap_names(c, params, limit=None):
    return [s["name"] for s in pages(c, "snapshot.list", params, "snapshots", limit)[0]]


SNAP_FILE = ("<domainsnapshot>\n  <name>%s</name>\n  <state>shutoff</state>\n%s"
             "  <creationTime>1700000000</creationTime>\n  <memory snapshot=\"no\"/>\n"
             "  <active>0</active>\n</domainsnapshot>\n")


def many_on_disk(env, vm, names, parent=None):
    """A shut-off VM without disks whose metadata directory holds names
    (all but the first under parent, when given):
    written as the supervisor writes them, straight into the directory, as
    redefining 10,000 one by one takes minutes.  The next request's
    maintenance supervisor loads them."""
    env.start_broker()
    env.define(vm, machine="none", memory_mib=16, disks=[])
    c = Rpc(env.sock, 300)
    first = "<domainsnapshot><name>%s</name><state>shutoff</state>" \
            "<creationTime>1700000000</creationTime></domainsnapshot>" % names[0]
    result_of(c.call("snapshot.redefine", {"name": vm, "xml": first}), "first")
    # The maintenance supervisor that wrote it stops after a second idle,
    # and its run directory goes with it.
    sock = os.path.join(env.run, "vm", vm, "control.sock")
    deadline = time.time() + 30
    while os.path.exists(sock) and time.time() < deadline:
        time.sleep(0.05)
    check(not os.path.exists(sock), "the maintenance supervisor stopped")
    d = os.path.join(env.state, "vms", vm, "vm", "snapshots")
    st = os.stat(os.path.join(d, names[0] + ".xml"))
    for n in names[1:]:
        path = os.path.join(d, n + ".xml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        up = "  <parent>\n    <name>%s</name>\n  </parent>\n" % parent if parent else ""
        os.write(fd, (SNAP_FILE % (n, up)).encode())
        os.close(fd)
        os.chown(path, st.st_uid, st.st_gid)
    return c


def ten_thousand(env):
    want = ["s%05d" % i for i in range(BIG)]
    c = many_on_disk(env, "vm1", want)
    got, npages = pages(c, "snapshot.list", {"name": "vm1"}, "snapshots")
    check([s["name"] for s in got] == want, "all 10,000 in name order, once each")
    check(npages == BIG // 1000, "pages of 1000: %d" % npages)
    topo = snap_names(c, {"name": "vm1", "topological": True})
    check(topo == want, "topological: every one once (all roots, by name)")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name")
    check(out.split("\n")[:-1] == want, "corralctl --name lists all 10,000")
    _, out, _ = env.ctl("snapshot-list", "vm1")
    rows = out.split("\n")
    check(len(rows) == BIG + 4 and rows[2].split()[0] == "s00000" and
          rows[-3].split()[0] == "s%05d" % (BIG - 1), "the table: header, rule, rows, blank line")
    _, out, _ = env.ctl("--json", "snapshot-list", "vm1")
    doc = json.loads(out)
    check([s["name"] for s in doc["snapshots"]] == want, "--json is one document with all")
    _, out, _ = env.ctl("snapshot-list", "vm1", "--tree")
    check(out.split("\n")[:-1] == want, "--tree: the 10,000 roots, one a line")


def huge_delete_bounded(env):
    """snapshot.delete --children of a family whose names pass 256 KiB: the
    reply keeps what fits and says so; every snapshot is gone."""
    kids = ["c%04d" % i + "x" * 235 for i in range(1100)]
    c = many_on_disk(env, "vm1", ["root"] + kids, parent="root")
    r = result_of(c.call("snapshot.delete", {"name": "vm1", "snapshot": "root", "children": True,
                                      "metadata": True}), "delete")
    check(r.get("truncated") is True and r["deleted_count"] == 1101 and
          r["reports_count"] == 0, "truncated, with the totals: %r" % {
              k: v for k, v in r.items() if k != "deleted"})
    check(0 < len(r["deleted"]) < 1101 and r["deleted"] == kids[:len(r["deleted"])],
          "the first deletions, in order")
    left = result_of(c.call("snapshot.list", {"name": "vm1"}), "list")
    check(left["snapshots"] == [] and left["next"] is None, "every one deleted")


def tree_params():
    """A tree of 40: r0..r3 roots, each with a chain and side branches, so
    that every filter selects something different."""
    parents = {}
    for r in range(4):
        root = "r%d" % r
        parents[root] = None
        prev = root
        for k in range(5):
            n = "r%d-c%d" % (r, k)
            parents[n] = prev
            prev = n
            b = "r%d-c%d-b" % (r, k)
            parents[b] = n
    # More snapshots than the 44 above would not add a case.
    return parents


SELECTIONS = [
    {}, {"filter": "roots"}, {"filter": "leaves"}, {"filter": "current"},
    {"leaves": True}, {"no_leaves": True}, {"from": "r1"}, {"from": "r1", "descendants": True},
    {"from_current": True, "descendants": True}, {"inactive": True}, {"active": True},
    {"metadata": True}, {"no_metadata": True}, {"internal": True}, {"external": True},
    {"filter": "roots", "leaves": True},
]


def every_filter_small_limits(env):
    running_vm(env)
    c = Rpc(env.sock, 60)
    xml = template(c, "vm1")
    parents = tree_params()
    order = sorted(parents, key=lambda n: n.count("-"))  # parents first
    redefine_many(c, "vm1", xml, order, parents)
    result_of(c.call("snapshot.current", {"name": "vm1", "snapshot": "r2-c1"}), "current")
    for sel in SELECTIONS:
        for topo in (False, True):
            params = dict(sel, name="vm1", topological=topo)
            whole = result_of(c.call("snapshot.list", params), "one page")
            check(whole["next"] is None, "one page ends the listing")
            want = [s["name"] for s in whole["snapshots"]]
            if not topo:
                check(want == sorted(want), "%r: by name" % sel)
            for limit in (1, 2, 3, 7):
                got = snap_names(c, params, limit)
                check(got == want, "%r limit %d: %r, want %r" % (params, limit, got, want))


def churn(sock, xml, stop, errors):
    """Another client: creates and deletes snapshots named c-* (metadata
    only) until told to stop."""
    c = Rpc(sock, 60)
    i = 0
    try:
        while not stop.is_set():
            name = "c-%04d" % i
            result_of(c.call("snapshot.redefine", {"name": "vm1", "xml": snap_xml(xml, name)}), "churn")
            if i >= 3:
                result_of(c.call("snapshot.delete", {"name": "vm1", "snapshot": "c-%04d" % (i - 3),
                                              "metadata": True}), "churn delete")
            i += 1
    except Exception as e:  # reported by the lister's thread
        errors.append(e)
    c.close()


def concurrent_create_delete(env):
    running_vm(env)
    c = Rpc(env.sock, 60)
    xml = template(c, "vm1")
    # Names interleave with the churn's, so pages start and end among them.
    stay = ["c-%04d-k" % i for i in range(0, 400, 2)] + ["k%03d" % i for i in range(100)]
    redefine_many(c, "vm1", xml, stay)
    stay.sort()
    for rnd in range(8):
        stop, errors = threading.Event(), []
        t = threading.Thread(target=churn, args=(env.sock, xml, stop, errors))
        t.start()
        try:
            got = snap_names(c, {"name": "vm1"}, limit=5 + rnd)
        finally:
            stop.set()
            t.join()
        check(not errors, "churn: %r" % errors)
        check(len(got) == len(set(got)), "round %d: nobody twice" % rnd)
        check(got == sorted(got), "round %d: in order" % rnd)
        check([n for n in got if n in set(stay)] == stay, "round %d: every stayer once" % rnd)
        # Topological: the same, or a clear refusal once the tree changed.
        stop, errors = threading.Event(), []
        t = threading.Thread(target=churn, args=(env.sock, xml, stop, errors))
        t.start()
        try:
            out, after = [], None
            while True:
                p = {"name": "vm1", "topological": True, "limit": 50}
                if after is not None:
                    p["after"] = after
                r = c.call("snapshot.list", p)
                if "error" in r:
                    check(r["error"]["code"] == 1006 and "changed" in r["error"]["message"],
                          "refusal: %r" % r["error"])
                    out = None
                    break
                out += [s["name"] for s in r["result"]["snapshots"]]
                after = r["result"]["next"]
                if after is None:
                    break
        finally:
            stop.set()
            t.join()
        check(not errors, "churn: %r" % errors)
        if out is not None:
            check(len(out) == len(set(out)), "topological: nobody twice")
            check([n for n in out if n in set(stay)] == stay, "topological: every stayer")
        # What the churn left is deleted, so that each round starts alike.
        left = [n for n in snap_names(c, {"name": "vm1"}) if n not in set(stay)]
        for n in left:
            result_of(c.call("snapshot.delete", {"name": "vm1", "snapshot": n, "metadata": True}), n)


def bad_params(env):
    running_vm(env)
    c = Rpc(env.sock, 60)
    xml = template(c, "vm1")
    redefine_many(c, "vm1", xml, ["a", "b"])
    cases = [
        ("snapshot.list", {"limit": 0}, "limit"), ("snapshot.list", {"limit": 1001}, "limit"),
        ("snapshot.list", {"limit": "3"}, "limit"), ("snapshot.list", {"limit": 1.5}, "limit"),
        ("snapshot.list", {"after": 3}, "after"), ("snapshot.list", {"after": ""}, "after"),
        ("snapshot.list", {"after": "x/y"}, "after"),
        ("snapshot.list", {"after": "a", "topological": True}, "after"),
        ("snapshot.list", {"after": "0123456789abcdef/a", "topological": True}, None),
        ("vm.inconsistencies", {"after": "-1"}, "after"),
        ("vm.inconsistencies", {"after": "x"}, "after"),
        ("vm.inconsistencies", {"limit": 0}, "limit"),
        ("vm.list", {"after": "a/b"}, "after"), ("vm.list", {"limit": 100000}, "limit"),
    ]
    for method, params, word in cases:
        p = dict(params, name="vm1")
        r = c.call(method, p)
        check("error" in r, "%s %r refused" % (method, params))
        if word is None:
            # A cursor of another tree: the tree changed, list again.
            check(r["error"]["code"] == 1006, "%r: %r" % (params, r["error"]))
        else:
            check(r["error"]["code"] == -32602 and word in r["error"]["message"],
                  "%s %r: %r" % (method, params, r["error"]))
    # A cursor past the end, or of a deleted snapshot, still pages by name.
    r = result_of(c.call("snapshot.list", {"name": "vm1", "after": "zz"}), "after the end")
    check(r["snapshots"] == [] and r["next"] is None, "nothing after the last")
    r = result_of(c.call("snapshot.list", {"name": "vm1", "after": "a0", "limit": 1}), "after a gone name")
    check([s["name"] for s in r["snapshots"]] == ["b"] and r["next"] is None, "b, last")


def vm_list_and_reports(env):
    env.start_broker()
    names = ["p%02d" % i for i in range(7)]
    for n in names:
        env.define(n, machine="none", memory_mib=16)
    c = Rpc(env.sock, 60)
    got, npages = pages(c, "vm.list", {"all": True}, "vms", limit=2)
    check([v["name"] for v in got] == names and npages == 4, "vm.list by 2: %r" % got)
    _, out, _ = env.ctl("list", "--all", "--name")
    check(out.split("\n")[:-2] == names, "corralctl list --all --name: %r" % out)
    # Reports: snapshots in the metadata only, found missing by a start.
    env.ctl("start", "p00")
    xml = template(c, "p00")
    missing = ["m%02d" % i for i in range(12)]
    redefine_many(c, "p00", xml, missing)
    env.ctl("destroy", "p00")
    env.wait_state("p00", "shut off")
    env.ctl("start", "p00")
    whole, deadline = [], time.time() + 30
    while len(whole) < len(missing) and time.time() < deadline:
        time.sleep(0.05)
        whole = result_of(c.call("vm.inconsistencies", {"name": "p00"}), "all")["reports"]
    check(len(whole) == len(missing), "one report per snapshot: %d" % len(whole))
    got, npages = pages(c, "vm.inconsistencies", {"name": "p00"}, "reports", limit=5)
    check(got == whole and npages == 3, "by 5: the same reports, in order")
    _, out, _ = env.ctl("inconsistencies", "p00")
    check(out.count("missing") == len(missing), "corralctl inconsistencies prints all: " + out)
    # snapshot.check pages its reports the same way, by snapshot then kind.
    got, npages = pages(c, "snapshot.check", {"name": "p00"}, "reports", limit=5)
    check([r["snapshot"] for r in got] == missing and npages == 3, "check by 5: %r" % got)
    first = result_of(c.call("snapshot.check", {"name": "p00", "limit": 5}), "check")
    check(first["consistent"] is False and first["count"] == len(missing), "the whole check's")
    rc, out, _ = env.ctl("snapshot-check", "p00", ok=False)
    check(out.count("missing") == len(missing), "corralctl snapshot-check prints all: " + out)
    r = c.call("snapshot.check", {"name": "p00", "after": "nocolon"})
    check(r.get("error", {}).get("code") == -32602, "a bad check cursor: %r" % r)


if __name__ == "__main__":
    sys.exit(run([bad_params, every_filter_small_limits, vm_list_and_reports, ten_thousand,
                  huge_delete_bounded, concurrent_create_delete]))
