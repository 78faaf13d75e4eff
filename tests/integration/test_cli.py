"""corralctl's command line as a virsh user drives it: virsh's option
spellings of arguments, errors as JSON, events, the man page generated from
the verb table, and bash completion of every verb and option."""

import json
import os
import re
import select
import subprocess
import sys
import time

from corraltest import BUILD, HERE, check, run

CTL = os.path.join(BUILD, "corralctl")
COMPLETION = os.path.join(HERE, "..", "..", "contrib", "bash-completion", "corralctl")


def verbs(env):
    """The verbs `corralctl --help` lists."""
    _, out, _ = env.ctl("--help")
    body = out.split("\nVerbs:\n", 1)[1].split("\n\n", 1)[0]
    return [l.split()[0] for l in body.splitlines() if l.startswith("  ") and l[2] != " "]


def verb_options(env, verb):
    """The options `corralctl help VERB` lists."""
    _, out, _ = env.ctl("help", verb)
    body = out.split("\nOptions:\n", 1)[1]
    return re.findall(r"^  (?:-h, |    )?(--[a-z-]+)", body, re.M)


def named_arguments(env):
    """--domain, --snapshotname and --file work wherever the positional
    arguments do, alone or mixed with them."""
    env.start_broker()
    xml = os.path.join(env.dir, "vm1.xml")
    with open(xml, "w") as f:
        f.write(env.domain_xml("vm1", machine="none"))
    _, out, _ = env.ctl("define", "--file", xml)
    check("Domain 'vm1' defined" in out, "define --file: %r" % out)
    env.ctl("start", "--domain", "vm1")
    check(env.wait_state("vm1", "running").startswith("running"), "start --domain ran it")
    # virsh spells snapshot-create-as's name --name.
    env.ctl("snapshot-create-as", "--domain", "vm1", "--name", "s1")
    env.ctl("snapshot-create-as", "vm1", "--name", "s2")
    _, a, _ = env.ctl("snapshot-info", "--snapshotname", "s1", "--domain", "vm1")
    _, b, _ = env.ctl("snapshot-info", "vm1", "s1")
    check(a == b and "s1" in a, "named and positional forms print the same: %r %r" % (a, b))
    _, out, _ = env.ctl("snapshot-list", "--domain", "vm1", "--name")
    check(out.split() == ["s1", "s2"], "both snapshots were taken: %r" % out)
    rc, _, err = env.ctl("snapshot-info", "--domain", "vm1", "--domain", "vm1", "s1", ok=False)
    check(rc == 2 and "--domain given twice" in err, "a name given twice is refused: %r" % err)
    rc, _, err = env.ctl("snapshot-info", "--snapshotname", "s1", ok=False)
    check(rc == 2 and "missing argument" in err, "a missing VM is refused: %r" % err)
    rc, _, err = env.ctl("snapshot-info", "--domain", "vm1", "s1", "extra", ok=False)
    check(rc == 2 and "unexpected argument 'extra'" in err, "one argument too many: %r" % err)
    _, out, _ = env.ctl("help", "snapshot-revert")
    check("--domain NAME" in out and "--snapshotname SNAP" in out,
          "the verb's help lists the spellings: %r" % out)


def json_errors(env):
    """With --json, every error is one line of JSON on stderr with a stable
    code and name; the exit statuses stay those of the man page."""
    env.start_broker()
    rc, out, err = env.ctl("--json", "dominfo", "nosuch", ok=False)
    e = json.loads(err)["error"]
    check(rc == 1 and out == "" and e["code"] == 1001 and e["name"] == "no-domain"
          and "nosuch" in e["message"], "a server error: %r" % err)
    rc, _, err = env.ctl("dominfo", "--json", ok=False)
    e = json.loads(err)["error"]
    check(rc == 2 and e["code"] == 2000 and e["name"] == "usage", "a usage error: %r" % err)
    rc, _, err = env.ctl("--socket", os.path.join(env.dir, "nothing.sock"), "--json", "list",
                         ok=False)
    e = json.loads(err)["error"]
    check(rc == 1 and e["code"] == 2001 and e["name"] == "connection-failed",
          "no server: %r" % err)
    rc, _, err = env.ctl("--json", "define", os.path.join(env.dir, "missing.xml"), ok=False)
    e = json.loads(err)["error"]
    check(rc == 1 and e["code"] == 2004 and "missing.xml" in e["message"],
          "a file corralctl cannot read: %r" % err)
    rc, _, err = env.ctl("dominfo", "nosuch", ok=False)
    check(rc == 1 and err.startswith("error: ") and "nosuch" in err,
          "without --json errors stay text: %r" % err)


def read_until_exit(p, poke, timeout=60):
    """Calls poke until the process p exits; returns its output."""
    out = b""
    deadline = time.time() + timeout
    while p.poll() is None:
        check(time.time() < deadline, "corralctl events did not end: %r" % out)
        poke()
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if r:
            out += os.read(p.stdout.fileno(), 65536)
    return out + p.stdout.read()


def events_one_or_loop(env):
    """events prints one event and exits, as virsh's event verb; --loop,
    --event and --timestamp as virsh has them."""
    env.start_broker()
    env.define("vm1", machine="none")
    env.ctl("start", "vm1")
    env.wait_state("vm1", "running")
    state = {"paused": False}

    def toggle():
        env.ctl("resume" if state["paused"] else "suspend", "vm1")
        state["paused"] = not state["paused"]

    p = subprocess.Popen([CTL, "events", "vm1"], stdout=subprocess.PIPE, env=env.env)
    out = read_until_exit(p, toggle).decode()
    check(p.returncode == 0, "events exits 0 after one event")
    check(re.fullmatch(r"vm\.state vm1: (running|paused) \([a-z-]+\)\n", out),
          "exactly one event line, without a time: %r" % out)

    p = subprocess.Popen([CTL, "events", "vm1", "--loop", "--event", "snapshot.created",
                          "--timestamp"], stdout=subprocess.PIPE, env=env.env)
    n = [0]

    def snap():
        n[0] += 1
        env.ctl("snapshot-create-as", "vm1", "s%d" % n[0])
        toggle()

    try:
        out = b""
        deadline = time.time() + 60
        while out.count(b"\n") < 2:
            check(time.time() < deadline, "no snapshot events: %r" % out)
            snap()
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                out += os.read(p.stdout.fileno(), 65536)
        check(p.poll() is None, "--loop keeps going after an event")
    finally:
        p.terminate()
        p.wait(10)
    lines = out.decode().splitlines()
    check(all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4}: "
                           r"snapshot\.created vm1: s\d+", l) for l in lines),
          "only snapshot.created, each with virsh's timestamp: %r" % lines)
    check(p.returncode == 0, "SIGTERM ends it with status 0: %d" % p.returncode)
    rc, _, err = env.ctl("events", "--event", "bogus", ok=False)
    check(rc == 2 and "unknown event type 'bogus'" in err, "an unknown type: %r" % err)


def man_page_has_every_verb(env):
    """corralctl(1) is built from the verb table: every verb and every option
    corralctl's help lists is in it, and the build refuses a page that
    leaves a verb out."""
    with open(os.path.join(BUILD, "man", "corralctl.1")) as f:
        page = f.read()

    def roff(s):
        return s.replace("-", "\\-")

    for v in verbs(env):
        check("\\fB%s\\fR" % roff(v) in page, "the page describes %s" % v)
        for o in verb_options(env, v):
            if o in ("--help", "--json", "--domain", "--snapshotname", "--file", "--path", "--source",
                     "--cmd", "--command"):
                continue
            check("\\fB%s\\fR" % roff(o) in page, "the page describes %s %s" % (v, o))
    template = os.path.join(HERE, "..", "..", "contrib", "man", "corralctl.1.in")
    with open(template) as f:
        text = f.read()
    cut = re.sub(r'^\.\\" @VERBS snapshot-create-as inconsistencies@\n', "", text, flags=re.M)
    check(cut != text, "the template has the snapshot verbs' marker")
    p = subprocess.run([os.path.join(BUILD, "mkman")], input=cut, capture_output=True, text=True)
    check(p.returncode != 0 and "snapshot-create-as appears 0 times" in p.stderr,
          "a page without the snapshot verbs is refused: %r" % p.stderr)


def complete(env, words):
    """What bash completion offers for the command line words (the last one
    being completed)."""
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _corralctl; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "-c", script, "complete", COMPLETION, CTL] + words,
                       capture_output=True, text=True, env=env.env, timeout=60)
    check(p.returncode == 0, "completion ran: %r" % p.stderr)
    return [l for l in p.stdout.splitlines() if l]


def bash_completion(env):
    """Every verb and every option of every verb completes; VM and snapshot
    names complete after the positional or the named form."""
    env.start_broker()
    env.define("vm1", machine="none")
    env.define("vm2", machine="none")
    env.ctl("start", "vm1")
    env.ctl("snapshot-create-as", "vm1", "base")
    all_verbs = verbs(env)
    check(sorted(complete(env, [""])) == sorted(all_verbs), "every verb completes")
    for v in all_verbs:
        got = complete(env, [v, "--"])
        want = verb_options(env, v)
        check(sorted(got) == sorted(want), "%s's options complete: %r, not %r" % (v, got, want))
    check(sorted(complete(env, ["start", ""])) == ["vm1", "vm2"], "VM names complete")
    check(complete(env, ["dominfo", "--domain", "vm"]) == ["vm1", "vm2"],
          "VM names complete after --domain")
    check(complete(env, ["snapshot-revert", "vm1", ""]) == ["base"], "snapshot names complete")
    check(complete(env, ["snapshot-revert", "--domain", "vm1", ""]) == ["base"],
          "after --domain, the next argument is the snapshot")
    check(complete(env, ["snapshot-info", "--domain", "vm1", "--snapshotname", ""]) == ["base"],
          "--snapshotname completes snapshots of the VM --domain names")


if __name__ == "__main__":
    sys.exit(run([named_arguments, json_errors, events_one_or_loop, man_page_has_every_verb,
                  bash_completion]))
