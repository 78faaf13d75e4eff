#!/usr/bin/env python3
"""UEFI guests through the real broker, supervisor and QEMU: firmware chosen
from QEMU's descriptors (Debian's ovmf), OVMF running on q35 (its pflash
nodes in QEMU, its variables written to the VM's NVRAM), the NVRAM handed to
the VM's uid for a run, given back to root after it and kept across
restarts, undefine's --nvram/--keep-nvram rule, and the loaders, templates
and descriptors that are refused (nothing defined, nothing changed)."""
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time

import guest
from corraltest import BUILD, Fail, Skip, check, run

DESCRIPTORS = "/usr/share/qemu/firmware"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


def need_ovmf():
    if not os.path.exists(os.path.join(DESCRIPTORS, "60-edk2-x86_64.json")):
        raise Skip("needs Debian's ovmf package (contrib/install-deps.sh installs it)")


def uefi_xml(name, machine="q35", os_extra="", firmware="efi"):
    fw = " firmware='%s'" % firmware if firmware else ""
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>128</memory>"
            "<vcpu>1</vcpu><os%s><type arch='x86_64' machine='%s'>hvm</type>%s</os>"
            "<devices></devices></domain>" % (name, fw, machine, os_extra))


def write_xml(env, name, xml):
    path = os.path.join(env.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    os.chmod(path, 0o644)
    return path


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def nvram_path(env, name):
    return os.path.join(env.state, "vms", name, name + "_VARS.fd")


def stored_definition(env, name):
    """domain.xml with its attributes in single quotes, whichever it has."""
    with open(os.path.join(env.state, "vms", name, "domain.xml")) as f:
        return f.read().replace('"', "'")


def vm_uid(env, name):
    with open(os.path.join(env.state, "vms", name, "identity.json")) as f:
        return json.load(f)["uid"]


def qmp(env, name, command):
    _, out, _ = env.ctl("qemu-monitor-command", name, json.dumps({"execute": command}))
    return json.loads(out)["return"]


def wait_for(what, cond, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.25)
    raise Fail("timed out waiting for " + what)


def pflash_nodes(env, name):
    """Filename of each pflash node QEMU opened, by node name."""
    return {n["node-name"]: n["file"] for n in qmp(env, name, "query-named-block-nodes")
            if n["node-name"].startswith("pflash")}


def ovmf_on_console(env, name):
    """OVMF's boot manager says what it loads on the serial console."""
    p = subprocess.Popen([os.path.join(BUILD, "corralctl"), "console", name],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env.env)
    con = guest.Console(p.stdout)
    try:
        con.expect(b"BdsDxe: loading Boot", 240, "OVMF's boot manager")
    finally:
        p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()


def uefi_guest_reaches_ovmf(env):
    need_ovmf()
    env.start_broker()
    env.ctl("define", write_xml(env, "efi", uefi_xml("efi")))
    stored = stored_definition(env, "efi")
    # libvirt's order: the first descriptor by file name that fits q35,
    # here Debian's Secure Boot one with Microsoft's keys enrolled.
    check("<os firmware='efi'>" in stored, stored)
    check("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>" in stored, stored)
    check("secure='yes'" in stored and "OVMF_VARS_4M.ms.fd" in stored, stored)
    _, out, _ = env.ctl("dominfo", "efi")
    check(re.search(r"^Firmware: +efi \(/usr/share/OVMF/OVMF_CODE_4M\.secboot\.fd\)$", out, re.M),
          "dominfo names the loader: " + out)
    env.define("plain")
    _, out, _ = env.ctl("dominfo", "plain")
    check(re.search(r"^Firmware: +bios$", out, re.M), "a BIOS guest: " + out)
    nv = nvram_path(env, "efi")
    check(not os.path.exists(nv), "the NVRAM exists before the first start")
    template = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"

    env.ctl("start", "efi")
    uid = vm_uid(env, "efi")
    st = os.stat(nv)
    check(st.st_uid == uid and stat.S_IMODE(st.st_mode) == 0o600,
          "NVRAM while running: uid %d mode %o, want %d 0600" % (st.st_uid, st.st_mode, uid))
    nodes = pflash_nodes(env, "efi")
    check(nodes.get("pflash0-code") == "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", nodes)
    check(nodes.get("pflash1-vars") == nv, nodes)
    ovmf_on_console(env, "efi")
    # OVMF writes its variables (boot options, its memory type info) as it
    # boots: the copy stops being the template.
    wait_for("OVMF to write its variables", lambda: digest(nv) != digest(template))
    env.ctl("destroy", "efi")
    env.wait_state("efi", "shut off")
    st2 = os.stat(nv)
    check(st2.st_uid == 0 and st2.st_gid == 0 and stat.S_IMODE(st2.st_mode) == 0o600,
          "NVRAM after the run: %d:%d %o, want root's 0600" % (st2.st_uid, st2.st_gid, st2.st_mode))
    check(st2.st_ino == st.st_ino, "the NVRAM was replaced during the run")
    after_first = digest(nv)

    # A restart boots from the same variables: not copied again.
    env.ctl("start", "efi")
    st3 = os.stat(nv)
    check(st3.st_ino == st.st_ino, "the NVRAM was copied again at the second start")
    check(pflash_nodes(env, "efi").get("pflash1-vars") == nv, "second run without its NVRAM")
    wait_for("OVMF to run again", lambda: qmp(env, "efi", "query-status")["status"] == "running")
    # An internal snapshot would leave the NVRAM out: refused, as libvirt.
    _, _, err = env.ctl("snapshot-create-as", "efi", "s1", ok=False)
    check("UEFI" in err and "not supported" in err, err)
    _, out, _ = env.ctl("snapshot-list", "efi", "--name")
    check(out.strip() == "", "no snapshot was made: " + out)
    env.ctl("destroy", "efi")
    env.wait_state("efi", "shut off")
    check(os.stat(nv).st_uid == 0, "NVRAM not given back after the second run")
    check(after_first != digest(template), "variables lost")


def import_xml(name, path):
    return uefi_xml(name, os_extra=(
        "<loader readonly='yes' type='pflash'>%s</loader>"
        "<nvram template='%s'>%s</nvram>" % (OVMF_CODE, OVMF_VARS, path)))


def imported_nvram(env):
    """An existing libvirt NVRAM named by <nvram>PATH</nvram>, the owner's,
    is what the VM's own NVRAM is made from at its first start (Microsoft's
    keys in it, none in the template), and is not needed afterwards; a
    file that is not the owner's, or a link swapped in before the first
    start, is refused and nothing is copied."""
    need_ovmf()
    user, uid, gid = env.add_user("nvi")
    home = os.path.join(env.dir, "home-nvi")
    os.makedirs(home)
    os.chown(home, uid, gid)
    own = os.path.join(home, "imp_VARS.fd")
    shutil.copyfile(OVMF_VARS.replace("_4M.fd", "_4M.ms.fd"), own)
    os.chown(own, uid, gid)
    os.chmod(own, 0o600)
    marker = b"Microsoft Corporation"
    check(marker not in open(OVMF_VARS, "rb").read(), "the template has no Microsoft keys")
    env.start_broker()
    env.ctl("define", write_xml(env, "imp", import_xml("imp", own)), user=user)
    dump = env.ctl("dumpxml", "imp", user=user)[1]
    check("<nvram template='%s'>%s</nvram>" % (OVMF_VARS, own) in dump, dump)
    env.ctl("start", "imp", user=user)
    nv = nvram_path(env, "imp")
    check(marker in open(nv, "rb").read(), "the VM's NVRAM is the imported one")
    check(pflash_nodes(env, "imp").get("pflash1-vars") == nv, "QEMU runs on the VM's own copy")
    env.ctl("destroy", "imp", user=user)
    env.wait_state("imp", "shut off")
    os.unlink(own)
    env.ctl("start", "imp", user=user)
    env.ctl("destroy", "imp", user=user)
    env.wait_state("imp", "shut off")
    # Not hers: refused at define.
    roots = os.path.join(env.dir, "root_VARS.fd")
    shutil.copyfile(OVMF_VARS, roots)
    os.chmod(roots, 0o644)
    _, _, err = env.ctl("define", write_xml(env, "imp2", import_xml("imp2", roots)), ok=False,
                        user=user)
    check("permission denied: os/nvram" in err and "not a file owned by uid %d" % uid in err, err)
    # Swapped for a link to root's file between define and the first start.
    shutil.copyfile(OVMF_VARS, own)
    os.chown(own, uid, gid)
    env.ctl("define", write_xml(env, "imp3", import_xml("imp3", own)), user=user)
    os.unlink(own)
    os.symlink(roots, own)
    _, _, err = env.ctl("start", "imp3", ok=False, user=user)
    check("os/nvram" in err and "imp3" in err, "a link is refused at the first start: " + err)
    check(not os.path.exists(nvram_path(env, "imp3")), "nothing copied")
    _, out, _ = env.ctl("list", "--all", "--name")
    check(sorted(out.split()) == ["imp", "imp3"], "imp2 not defined: " + out)


def undefine_with_nvram(env):
    need_ovmf()
    env.start_broker()
    for name in ("keep", "drop"):
        env.ctl("define", write_xml(env, name, uefi_xml(name, machine="pc")))
        env.ctl("start", name)
        env.ctl("destroy", name)
        env.wait_state(name, "shut off")
        check(os.path.exists(nvram_path(env, name)), "no NVRAM after a run of " + name)
    # Without a flag: refused, as virsh's undefine is; nothing changes.
    before = env.listing()
    _, _, err = env.ctl("undefine", "keep", ok=False)
    check("cannot undefine VM keep with NVRAM" in err and "--keep-nvram" in err, err)
    _, _, err = env.ctl("undefine", "keep", "--nvram", "--keep-nvram", ok=False)
    check("cannot be combined" in err, err)
    check(env.listing() == before, "a refused undefine changed the state directory")

    uuid = env.info("keep")["uuid"]
    content = digest(nvram_path(env, "keep"))
    env.ctl("undefine", "keep", "--keep-nvram")
    kept = os.path.join(env.state, "nvram", "keep-%s_VARS.fd" % uuid)
    check(os.path.exists(kept) and digest(kept) == content, "the kept NVRAM is not " + kept)
    kst = os.stat(kept)
    check(kst.st_uid == 0 and stat.S_IMODE(kst.st_mode) == 0o600, "kept NVRAM not root's 0600")
    check(stat.S_IMODE(os.stat(os.path.dirname(kept)).st_mode) == 0o700, "nvram/ not 0700")
    check(not os.path.exists(os.path.join(env.state, "vms", "keep")), "keep still has a directory")

    env.ctl("undefine", "drop", "--nvram")
    check(not os.path.exists(os.path.join(env.state, "vms", "drop")), "drop's NVRAM stays")
    check(sorted(os.listdir(os.path.join(env.state, "nvram"))) == [os.path.basename(kept)],
          "--nvram kept a file")
    # A VM without NVRAM (never started) needs no flag.
    env.ctl("define", write_xml(env, "fresh", uefi_xml("fresh", machine="pc")))
    env.ctl("undefine", "fresh")


def refused_firmware(env):
    need_ovmf()
    user, uid, gid = env.add_user("fw")
    env.start_broker()
    home = os.path.join(env.dir, "fw-home")
    os.makedirs(home)
    os.chmod(home, 0o755)
    os.chown(home, uid, gid)
    with open(OVMF_VARS, "rb") as f:
        vars_data = f.read()
    secret = os.path.join(env.dir, "root-secret")
    with open(secret, "w") as f:
        f.write("root only\n")
    os.chmod(secret, 0o600)
    shadow = os.stat("/etc/shadow")
    link = os.path.join(env.dir, "CODE.fd")
    os.symlink(OVMF_CODE, link)
    bad = [
        # A loader that is a directory, a symlink (Debian's .ms.fd names).
        ("loaderdir", uefi_xml("loaderdir", firmware=None, os_extra=(
            "<loader readonly='yes' type='pflash'>/usr/share/OVMF</loader>"
            "<nvram template='%s'/>" % OVMF_VARS)), "'/usr/share/OVMF' is not a regular file"),
        ("loaderlink", uefi_xml("loaderlink", firmware=None, os_extra=(
            "<loader readonly='yes' type='pflash'>%s</loader>"
            "<nvram template='%s'/>" % (link, OVMF_VARS))), "is a symlink"),
        ("loaderrom", uefi_xml("loaderrom", firmware=None, os_extra=(
            "<loader type='rom'>%s</loader>" % OVMF_CODE)), "not type='rom'"),
        # No descriptor offers Secure Boot on i440fx, nor enrolled keys
        # without Secure Boot.
        ("nosb", uefi_xml("nosb", machine="pc", os_extra=(
            "<firmware><feature enabled='yes' name='secure-boot'/></firmware>")),
         "no firmware descriptor in /etc/qemu/firmware or /usr/share/qemu/firmware offers UEFI "
         "for x86_64 machine pc-i440fx-latest, secure-boot yes"),
        ("nokeys", uefi_xml("nokeys", os_extra=(
            "<firmware><feature enabled='no' name='secure-boot'/>"
            "<feature enabled='yes' name='enrolled-keys'/></firmware>")),
         "secure-boot no, enrolled-keys yes"),
        ("unknownfeat", uefi_xml("unknownfeat", os_extra=(
            "<firmware><feature enabled='yes' name='amd-sev'/></firmware>")),
         "os/firmware/feature name"),
        # A loader no descriptor names, without a template.
        ("notmpl", uefi_xml("notmpl", firmware=None, os_extra=(
            "<loader readonly='yes' type='pflash'>%s</loader>" % secret)), "with code"),
        ("tmplmissing", uefi_xml("tmplmissing", firmware=None, os_extra=(
            "<loader readonly='yes' type='pflash'>%s</loader>"
            "<nvram template='/nonexistent/VARS.fd'/>" % OVMF_CODE)), "does not exist"),
        # Root would copy it into a file the VM's uid gets.
        ("shadow", uefi_xml("shadow", firmware=None, os_extra=(
            "<loader readonly='yes' type='pflash'>%s</loader>"
            "<nvram template='/etc/shadow'/>" % OVMF_CODE)), "not readable by other users"),
        ("secret", uefi_xml("secret", firmware=None, os_extra=(
            "<loader readonly='yes' type='pflash'>%s</loader><nvram template='%s'/>"
            % (secret, OVMF_VARS))), "not readable by other users"),
        ("biosloader", uefi_xml("biosloader", firmware="bios", os_extra=(
            "<loader readonly='yes' type='pflash'>%s</loader>"
            "<nvram template='%s'/>" % (OVMF_CODE, OVMF_VARS))), "firmware='bios'"),
    ]
    before = env.listing()
    for name, xml, want in bad:
        for who in (None, user):
            _, _, err = env.ctl("define", write_xml(env, name, xml), ok=False, user=who)
            check(want in err, "%s as %s: %r does not say %r" % (name, who or "root", err, want))
    check(env.listing() == before, "a refused definition left something in the state directory")

    # The user's own template, swapped for a link to a root-only file after
    # define: the start refuses it and copies nothing.
    tmpl = os.path.join(home, "VARS.fd")
    with open(tmpl, "wb") as f:
        f.write(vars_data)
    os.chown(tmpl, uid, gid)
    os.chmod(tmpl, 0o644)
    env.ctl("define", write_xml(env, "swap", uefi_xml("swap", machine="pc", firmware=None, os_extra=(
        "<loader readonly='yes' type='pflash'>%s</loader><nvram template='%s'/>"
        % (OVMF_CODE, tmpl)))), user=user)
    env.run_as(user, ["python3", "-c",
                      "import os,sys; os.unlink(sys.argv[1]); os.symlink(sys.argv[2], sys.argv[1])",
                      tmpl, secret])
    _, _, err = env.ctl("start", "swap", ok=False, user=user)
    check("is a symlink" in err, err)
    check(not os.path.exists(nvram_path(env, "swap")), "an NVRAM was made from a symlink")
    # (/etc/shadow's content changes with every test user: owner and mode.)
    after = os.stat("/etc/shadow")
    check((after.st_uid, after.st_mode) == (shadow.st_uid, shadow.st_mode), "/etc/shadow changed")
    sst = os.stat(secret)
    check((sst.st_uid, stat.S_IMODE(sst.st_mode)) == (0, 0o600), "the root-only file changed")
    with open(secret) as f:
        check(f.read() == "root only\n", "the root-only file's content changed")


def virt_install_uefi_xml(env):
    """What virt-install writes on Debian 12: Secure Boot code named through
    Debian's link, the enrolled template, libvirt's NVRAM path.  The loader
    becomes the file the descriptor's link names; libvirt's NVRAM path is
    kept, and with no file there the NVRAM is made from the template."""
    need_ovmf()
    env.start_broker()
    xml = uefi_xml("deb", firmware=None, os_extra=(
        "<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
        "</loader><nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'>"
        "/var/lib/libvirt/qemu/nvram/deb_VARS.fd</nvram>"))
    _, _, err = env.ctl("define", write_xml(env, "deb", xml))
    check(err == "", "nothing ignored: " + err)
    stored = stored_definition(env, "deb")
    check("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>" in stored, stored)
    check("<nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'>"
          "/var/lib/libvirt/qemu/nvram/deb_VARS.fd</nvram>" in stored, stored)
    env.ctl("start", "deb")
    check(pflash_nodes(env, "deb").get("pflash1-vars") == nvram_path(env, "deb"), "no NVRAM")
    check(b"Microsoft Corporation" in open(nvram_path(env, "deb"), "rb").read(),
          "made from the enrolled template")
    env.ctl("destroy", "deb")
    check(not os.path.exists("/var/lib/libvirt/qemu/nvram/deb_VARS.fd"), "libvirt's path used")


def vm_uid_cannot_keep_nvram(env):
    """As the VM's uid (a compromised QEMU) while it runs: the NVRAM cannot
    be replaced in the broker's directory, and what the uid does to the
    file itself (mode, a second name) is undone or harmless at the stop."""
    need_ovmf()
    env.start_broker()
    env.ctl("define", write_xml(env, "own", uefi_xml("own", machine="pc")))
    env.ctl("start", "own")
    nv = nvram_path(env, "own")
    uid = vm_uid(env, "own")
    decoy = os.path.join(env.dir, "decoy")
    with open(decoy, "w") as f:
        f.write("root's\n")
    os.chmod(decoy, 0o600)
    dst = os.stat(decoy)
    vmdir = os.path.join(env.state, "vms", "own", "vm")
    code = ("import os,sys\n"
            "nv,vmdir,decoy=sys.argv[1:4]\n"
            "res=[]\n"
            "try:\n    os.rename(nv, nv+'.x'); res.append('renamed')\nexcept OSError: pass\n"
            "try:\n    os.symlink(decoy, nv+'.y'); res.append('linked')\nexcept OSError: pass\n"
            "os.chmod(nv, 0o4777)\n"
            "os.link(nv, os.path.join(vmdir, 'second'))\n"
            "print(','.join(res))\n")
    p = env.run_as(uid, ["python3", "-c", code, nv, vmdir, decoy])
    check(p.stdout.strip() == "", "the VM's uid changed the broker's directory: " + p.stdout)
    env.ctl("destroy", "own")
    env.wait_state("own", "shut off")
    st = os.stat(nv)
    check(st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600,
          "NVRAM after the stop: uid %d mode %o" % (st.st_uid, st.st_mode))
    p = env.run_as(uid, ["python3", "-c", "open(__import__('sys').argv[1]).read()",
                         os.path.join(vmdir, "second")], ok=False)
    check(p.returncode != 0, "the VM's uid still reads its NVRAM after the stop")
    d2 = os.stat(decoy)
    check((d2.st_uid, d2.st_mode, d2.st_ino) == (dst.st_uid, dst.st_mode, dst.st_ino),
          "decoy changed")
    # The next run gets it again, second name and all.
    env.ctl("start", "own")
    check(os.stat(nv).st_uid == uid, "NVRAM not handed over again")
    env.ctl("destroy", "own")


def machine_types(env):
    """q35 and pc with virtio and SCSI disks, and IDE on pc (q35 has none):
    SeaBIOS boots the boot sector from each (devices on q35's pcie.0 and
    i440fx's pci.0), and a UEFI guest runs on pc too (the descriptor without
    SMM)."""
    env.start_broker()
    for machine, targets in (("q35", ("vda", "sda")), ("pc", ("vda", "sda", "hda"))):
        for target in targets:
            name = "%s-%s" % (machine, target)
            env.define(name, machine=machine,
                       disks=[(env.qcow2(name + ".qcow2", boot=True), target)])
            env.ctl("start", name)
            env.wait_guest_booted(name, timeout=120)
            env.ctl("destroy", name)
            env.ctl("undefine", name)
    need_ovmf()
    env.ctl("define", write_xml(env, "efipc", uefi_xml("efipc", machine="pc")))
    stored = stored_definition(env, "efipc")
    check("/usr/share/OVMF/OVMF_CODE_4M.fd</loader>" in stored and "secure=" not in stored, stored)
    env.ctl("start", "efipc")
    nodes = pflash_nodes(env, "efipc")
    check(nodes.get("pflash0-code") == OVMF_CODE, nodes)
    wait_for("OVMF on pc to write its variables",
             lambda: digest(nvram_path(env, "efipc")) != digest(OVMF_VARS))
    env.ctl("destroy", "efipc")


if __name__ == "__main__":
    raise SystemExit(run([uefi_guest_reaches_ovmf, imported_nvram, undefine_with_nvram,
                          refused_firmware,
                          vm_uid_cannot_keep_nvram, virt_install_uefi_xml, machine_types]))
