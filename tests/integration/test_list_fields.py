"""snapshot.list's entries as printed a snapshot at a time (issue 14): each
is the very object snapshot.info answers (less the state size only it asks QEMU for), also after a delete re-parents
snapshots between two pages; fields keeps the members asked for, in the
object's order; corralctl's table, which asks for its columns only, shows
what the whole objects say."""

import sys

from corraltest import Rpc, check, result_of, run


def listing(c, params):
    out, after = [], None
    while True:
        p = dict(params)
        if after is not None:
            p["after"] = after
        r = result_of(c.call("snapshot.list", p), "snapshot.list %r" % p)
        out += r["snapshots"]
        after = r["next"]
        if after is None:
            return out


def same_as_info(c, vm, entries):
    for e in entries:
        info = result_of(c.call("snapshot.info", {"name": vm, "snapshot": e["name"]}), "info")
        info.pop("vm_state_size", None)  # what only snapshot.info asks QEMU for
        check(list(e.items()) == list(info.items()),
              "the entry of %s is snapshot.info's object: %r vs %r" % (e["name"], e, info))


def entries_and_fields(env):
    env.start_broker()
    env.define("vm1", machine="none", memory_mib=16)
    env.ctl("start", "vm1")
    c = Rpc(env.sock, 120)
    # a -> b -> c, a -> d ("quoted" description, current); then b goes,
    # so c moves under a.
    for snap in ("a", "b", "c"):
        env.ctl("snapshot-create-as", "vm1", snap)
    env.ctl("snapshot-revert", "vm1", "a")
    env.ctl("snapshot-create-as", "vm1", "d", "say \"\u00e9\" \\ \t")
    whole = listing(c, {"name": "vm1"})
    check([e["name"] for e in whole] == ["a", "b", "c", "d"], "by name: %r" % whole)
    same_as_info(c, "vm1", whole)
    check(whole[0]["children"] == ["b", "d"] and whole[0]["descendants"] == 3,
          "a's links: %r" % whole[0])
    check(whole[3]["description"] == "say \"\u00e9\" \\ \t" and whole[3]["current"] is True,
          "d's description and current: %r" % whole[3])
    topo = listing(c, {"name": "vm1", "topological": True, "limit": 1})
    check([e["name"] for e in topo] == ["a", "b", "c", "d"], "topological by one: %r" % topo)
    same_as_info(c, "vm1", topo)
    # A first page, a delete that moves c under a, then the rest: the
    # later pages show the new links.
    first = result_of(c.call("snapshot.list", {"name": "vm1", "limit": 1}), "first page")
    result_of(c.call("snapshot.delete", {"name": "vm1", "snapshot": "b"}), "delete b")
    rest = listing(c, {"name": "vm1", "after": first["next"]})
    check([e["name"] for e in rest] == ["c", "d"] and rest[0]["parent"] == "a",
          "after the delete: %r" % rest)
    same_as_info(c, "vm1", rest)
    whole = listing(c, {"name": "vm1", "limit": 2})
    check(whole[0]["children"] == ["c", "d"] and whole[0]["descendants"] == 2,
          "a's new links: %r" % whole[0])
    same_as_info(c, "vm1", whole)

    for fields, keys in (([], ["name"]), (["state"], ["name", "state"]),
                         (["disks", "name", "parent", "creation_time"],
                          ["name", "parent", "creation_time", "disks"])):
        got = listing(c, {"name": "vm1", "fields": fields})
        check(all(list(e) == keys for e in got) and len(got) == 3,
              "fields %r: %r" % (fields, got))
        for e, w in zip(got, whole):
            check(all(e[k] == w[k] for k in keys), "fields %r: the same values" % fields)
    for bad in (["nope"], "state", [1]):
        r = c.call("snapshot.list", {"name": "vm1", "fields": bad})
        check(r.get("error", {}).get("code") == -32602, "fields %r refused: %r" % (bad, r))

    _, out, _ = env.ctl("snapshot-list", "vm1", "--parent")
    rows = [line.split() for line in out.split("\n")[2:-2]]
    check([(r[0], r[4], r[5]) for r in rows] == [("a", "running", "-"), ("c", "running", "a"),
                                                 ("d", "running", "a")],
          "the table from the row members: %r" % out)
    _, out, _ = env.ctl("snapshot-list", "vm1", "--name", "--parent")
    check(out == "a\t\nc\ta\nd\ta\n", "--name --parent: %r" % out)
    c.close()


if __name__ == "__main__":
    sys.exit(run([entries_and_fields]))
