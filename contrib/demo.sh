#!/usr/bin/env bash
# `make demo`: a tour of corral on a local state directory, with real QEMU.
# Builds nothing itself (make does); needs the binaries in $1.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
# Outside the checkout: each VM runs under its own uid, which must be able
# to reach its disks and directories, and a checkout may sit under a home
# directory nobody else can enter.
demo=/var/tmp/corral-demo
ctl="$build/corralctl"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
    [ -n "${broker:-}" ] && kill "$broker" 2>/dev/null && wait "$broker" 2>/dev/null
    pkill -KILL -f "$demo/" 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$demo"
mkdir -p "$demo/images"
export CORRAL_SOCKET="$demo/run/corrald.sock"

step "A real Linux guest (make guest: Debian's kernel, busybox-static) and two qcow2 disks for its snapshots"
run ls -l "$top/build/guest"
# The VM's uid opens the kernel and initramfs by path: copies where it can.
cp "$top/build/guest/vmlinuz" "$top/build/guest/initrd.img" "$demo/images/"
chmod 0644 "$demo/images/vmlinuz" "$demo/images/initrd.img"
run qemu-img create -q -f qcow2 "$demo/images/demo-a.qcow2" 64M
run qemu-img create -q -f qcow2 "$demo/images/demo-b.qcow2" 64M
# The VM runs as its own uid, not root's: KVM only when that uid can reach
# /dev/kvm, through a group other than root's (Debian: root:kvm 0660) or
# because everyone may.
virt=qemu
if [ -c /dev/kvm ]; then
    kvm_gid=$(stat -c %g /dev/kvm)
    kvm_mode=$(stat -c %a /dev/kvm)
    case $kvm_mode in
    *[67][67]) virt=kvm ;;
    *[67]?) [ "$kvm_gid" != 0 ] && virt=kvm ;;
    esac
fi
cat > "$demo/demo.xml" <<XML
<domain type='$virt'>
  <name>demo</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <cpu mode='custom'><model>Westmere</model></cpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$demo/images/vmlinuz</kernel>
    <initrd>$demo/images/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1 corral.httpd=80</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$demo/images/demo-a.qcow2'/>
      <target dev='vda'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$demo/images/demo-b.qcow2'/>
      <target dev='vdb'/>
    </disk>
    <interface type='user'>
      <model type='virtio'/>
      <portForward proto='tcp'><range start='18080' to='80'/></portForward>
    </interface>
    <serial type='pty'/>
  </devices>
</domain>
XML
run cat "$demo/demo.xml"

step "The broker, in the background, with its state under $demo"
"$build/corrald" --state-dir "$demo/state" --run-dir "$demo/run" --foreground --no-config 2>"$demo/corrald.log" &
broker=$!
for _ in $(seq 100); do [ -S "$CORRAL_SOCKET" ] && break; sleep 0.05; done
run "$ctl" hello

step "Define (the MAC is generated once and kept), start"
run "$ctl" define "$demo/demo.xml"
run "$ctl" start demo
run "$ctl" list
run "$ctl" dominfo demo

step "Who owns what while it runs: the broker's records stay root's, the VM's uid gets vm/ and its disks"
run ls -ln "$demo/state/vms/demo" "$demo/images"
run "$ctl" sandbox-report demo

step "The serial console: the supervisor kept the boot messages; a command typed in the guest"
con() { python3 "$top/contrib/demo-console.py" "$ctl" demo "$@"; }
con --boot-log 12 'uname -sr' 'ip -4 addr show eth0 | grep inet' 'grep -m1 "model name" /proc/cpuinfo'

step "The guest's web server, reached from the host through <portForward> (127.0.0.1:18080 -> guest :80)"
con 'echo "hello from the guest" > /www/index.html'
run python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:18080/", timeout=30).read().decode().strip())'

step "A snapshot of the running guest (disks and RAM), then a file written in the guest"
run "$ctl" snapshot-create-as demo before-note --description "before the note"
con 'echo "written after the snapshot" > /root/note.txt' 'cat /root/note.txt'

step "Revert: the guest is back where the snapshot was; the file is gone"
run "$ctl" snapshot-revert demo before-note
con 'cat /root/note.txt || echo "(no note: reverted)"'
run "$ctl" snapshot-list demo

step "Behind corral's back: the tag of a new snapshot is removed from vdb only (raw QMP, root)"
run "$ctl" snapshot-create-as demo doomed
run "$ctl" qemu-monitor-command demo '{"execute":"blockdev-snapshot-delete-internal-sync","arguments":{"device":"drive-vdb","name":"doomed"}}'
run "$ctl" snapshot-check demo || echo "(snapshot-check exits $? when it finds an inconsistency)"

step "Delete it anyway (lax, as libvirt): it goes, and the inconsistency is reported to the broker"
run "$ctl" snapshot-delete demo doomed
run "$ctl" snapshot-list demo
run "$ctl" inconsistencies demo

step "Shut the guest down through ACPI (it powers itself off)"
run "$ctl" shutdown demo --timeout 60
run "$ctl" domstate demo --reason
run ls -ln "$demo/images"

step "Undefine and tidy up"
run "$ctl" snapshot-delete demo before-note --metadata
run "$ctl" undefine demo
run "$ctl" list --all
printf '\nThe broker log is in %s:\n' "$demo/corrald.log"
tail -n 8 "$demo/corrald.log"
