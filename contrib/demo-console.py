#!/usr/bin/env python3
"""`make demo`'s hands on the guest's serial console: attaches with
`corralctl console NAME` on a pseudo-terminal, as a user at a terminal
would, types each command, prints what the guest answers, and leaves with
^] (the console stays with the VM's supervisor).

usage: demo-console.py CORRALCTL NAME [--boot-log N] [COMMAND...]
  --boot-log N   first print the last N lines of what the console kept
                 from before we attached (the boot messages)
"""
import os
import pty
import re
import select
import sys
import time

PROMPT = b"corral-guest# "
# Terminal control sequences the guest's shell writes (a cursor query,
# colours): not for the reader.
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
TIMEOUT = 180


class Console:
    def __init__(self, ctl, name):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(ctl, [ctl, "console", name])
        self.buf = b""

    def read_until(self, pattern, timeout=TIMEOUT, give_up=True):
        """Everything up to and including the first match of pattern; None
        after timeout unless give_up."""
        deadline = time.time() + timeout
        while True:
            m = re.search(pattern, self.buf)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out
            left = deadline - time.time()
            if left <= 0 and not give_up:
                return None
            if left <= 0:
                sys.exit("demo: the guest did not answer in time; so far: %r" % self.buf[-300:])
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    sys.exit("demo: the console closed: %r" % self.buf[-300:])
                self.buf += chunk

    def drain(self, quiet=1.5):
        """Drops what arrives until the guest has been quiet for a while:
        the answers to markers sent more than once."""
        while select.select([self.fd], [], [], quiet)[0]:
            try:
                if not os.read(self.fd, 4096):
                    break
            except OSError:
                break
        self.buf = b""

    def send(self, data):
        os.write(self.fd, data)

    def leave(self):
        self.send(b"\x1d")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def clean(text):
    return ANSI.sub(b"", text).replace(b"\r", b"").decode(errors="replace")


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    ctl, name, args = args[0], args[1], args[2:]
    boot_lines = 0
    if args[:1] == ["--boot-log"]:
        boot_lines, args = int(args[1]), args[2:]
    con = Console(ctl, name)
    banner = con.read_until(rb"Escape character is \^\]\r?\n", 30)
    print(clean(banner).rstrip())
    # What the console kept arrives first, old prompts included: a marker
    # only the guest's answer can print ("M2K", not the typed "M$((1+1))K")
    # says where the present starts.
    # Typed while the guest still boots, a line may be lost: ask again.
    kept = None
    deadline = time.time() + TIMEOUT
    while kept is None and time.time() < deadline:
        con.send(b"echo M$((1+1))K\r")
        kept = con.read_until(rb"(?m)^M2K\r?\n", 5, give_up=False)
    if kept is None:
        sys.exit("demo: the guest did not answer in time; so far: %r" % con.buf[-300:])
    kept = clean(kept)
    con.read_until(re.escape(PROMPT))
    con.drain()
    if boot_lines:
        lines = [l for l in kept.splitlines()
                 if l.strip() and PROMPT.decode().strip() not in l and "M2K" not in l
                 and not l.startswith("-/bin/sh:")]
        print("[the last %d lines the console kept from the boot]" % boot_lines)
        for line in lines[-boot_lines:]:
            print("  | " + line)
    for cmd in args:
        con.send(cmd.encode() + b"\r")
        out = clean(con.read_until(re.escape(PROMPT)))
        # The terminal echoes the command back first.
        lines = out.splitlines()
        if lines and lines[0].strip() == cmd.strip():
            lines = lines[1:]
        print("corral-guest# " + cmd)
        for line in lines:
            if line.strip() and line.strip() != PROMPT.decode().strip():
                print(line)
    rc = con.leave()
    print("[detached with ^]: corralctl console exited %d]" % rc)


if __name__ == "__main__":
    main()
