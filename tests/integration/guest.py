"""The small Linux guest of the tests (contrib/guest/mkguest.sh, `make
guest`): where its kernel and initramfs are, how a domain boots it, and how
a test reads its console.

Its console prints BANNER once set up, then PROMPT; it takes its address by
DHCP (10.0.2.15 on QEMU's user network), serves /www with busybox httpd
when asked (`httpd -p PORT -h /www`, or corral.httpd=PORT on the command
line), formats and mounts a disk (`mke2fs /dev/vda; mount /dev/vda /mnt`),
shows a second shell on a virtio console (hvc0) and powers off when the ACPI
power button is pressed.  Busybox's `wget -T` crashes: use `nc` or plain
`wget`.
"""

import os
import re
import select
import shutil
import subprocess
import time
from xml.sax.saxutils import escape

from corraltest import Fail, Skip

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DIR = os.path.join(TOP, "build", "guest")
KERNEL = os.path.join(DIR, "vmlinuz")
INITRD = os.path.join(DIR, "initrd.img")
MKGUEST = os.path.join(TOP, "contrib", "guest", "mkguest.sh")
# What a domain passes the guest's kernel: its console on the first serial
# port, and a reboot rather than a hang should it panic.
CMDLINE = "console=ttyS0 panic=-1"
BANNER = b"corral-guest: booted"
PROMPT = b"corral-guest# "
# Memory to give it: Debian's kernel does not get past decompression in
# 64 MiB; 96 MiB boots with little to spare.
MEMORY_MIB = 128
# Generous: a boot under TCG on a loaded 2-core machine.
BOOT_TIMEOUT = 120


def require():
    """Returns (KERNEL, INITRD), building them when missing (as `make
    guest` would); raises Skip when the Debian packages they are made from
    are not installed."""
    if os.path.exists(KERNEL) and os.path.exists(INITRD):
        return KERNEL, INITRD
    p = subprocess.run(["sh", MKGUEST, DIR], capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip("no test guest (make guest): " + p.stderr.strip())
    return KERNEL, INITRD


def copy_to(directory, uid=None, gid=None):
    """Copies of the kernel and the initramfs in directory, owned by uid
    and gid when given (a user boots only files she owns); returns their
    paths."""
    out = []
    for src in require():
        dst = os.path.join(directory, os.path.basename(src))
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o644)
        if uid is not None:
            os.chown(dst, uid, gid if gid is not None else -1)
        out.append(dst)
    return tuple(out)


def os_xml(kernel=KERNEL, initrd=INITRD, cmdline=CMDLINE, machine=None):
    """The <os> element of a domain that boots the guest directly."""
    mach = " machine='%s'" % escape(machine, {"'": "&apos;"}) if machine else ""
    return ("<os><type arch='x86_64'%s>hvm</type><kernel>%s</kernel><initrd>%s</initrd>"
            "<cmdline>%s</cmdline></os>" % (mach, escape(kernel), escape(initrd),
                                            escape(cmdline)))


class Console:
    """A byte stream from the guest (a socket, a pipe or a pty master, by
    its file descriptor): everything read is kept, and each wait looks past
    the end of the previous match, so output that came early is not lost
    and is not matched twice."""

    def __init__(self, fd):
        # Holding a socket or file object keeps its descriptor open.
        self.stream = fd
        self.fd = fd.fileno() if hasattr(fd, "fileno") else fd
        self.data = b""
        self.pos = 0
        self.eof = False

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            # A pty master reads EIO once the other side is closed.
            chunk = b""
        if not chunk:
            self.eof = True
        self.data += chunk

    def expect(self, pattern, timeout, what=None):
        """Waits until pattern (bytes, a regular expression) appears after
        the previous match; returns the match, or raises Fail naming what
        was awaited and showing the end of the output."""
        rx = re.compile(pattern) if isinstance(pattern, bytes) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.data, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                raise Fail("%s did not appear on the guest's console within %d s%s; "
                           "last output: %r" % (what or pattern, timeout,
                                                " (closed)" if self.eof else "",
                                                self.data[-600:]))
            self._read(left)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def command(self, line, pattern, timeout=60):
        """Types a shell command and waits for pattern in its output."""
        self.send(line + "\n")
        return self.expect(pattern, timeout, "output of %r" % line)


def wait_for(fd, pattern, timeout):
    """One-off form of Console.expect on a file descriptor."""
    return Console(fd).expect(pattern, timeout)
