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

step "Two small qcow2 disks; the first holds a 512-byte guest that powers off on ACPI shutdown"
python3 - "$demo/images/boot.raw" <<'PY'
import sys
code = bytes([0xBA,0x02,0x06,0xB8,0x00,0x01,0xEF,0xBA,0x00,0x06,0xED,0xA9,0x00,0x01,0x74,0xFA,
              0xBA,0x04,0x06,0xB8,0x00,0x20,0xEF,0xF4,0xEB,0xFD])
open(sys.argv[1], "wb").write(code + bytes(510 - len(code)) + b"\x55\xaa")
PY
run qemu-img convert -q -f raw -O qcow2 "$demo/images/boot.raw" "$demo/images/demo-boot.qcow2"
run qemu-img resize -q "$demo/images/demo-boot.qcow2" 32M
run qemu-img create -q -f qcow2 "$demo/images/demo-data.qcow2" 32M
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
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$demo/images/demo-boot.qcow2'/>
      <target dev='vda'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$demo/images/demo-data.qcow2'/>
      <target dev='vdb'/>
    </disk>
    <interface type='network'><source network='default'/></interface>
  </devices>
</domain>
XML
run cat "$demo/demo.xml"

step "The broker, in the background, with its state under $demo"
"$build/corrald" --state-dir "$demo/state" --run-dir "$demo/run" 2>"$demo/corrald.log" &
broker=$!
for _ in $(seq 100); do [ -S "$CORRAL_SOCKET" ] && break; sleep 0.05; done
run "$ctl" hello

step "Define (the interface is ignored with a warning), list, start"
run "$ctl" define "$demo/demo.xml"
run "$ctl" list --all
run "$ctl" start demo
run "$ctl" list
run "$ctl" dominfo demo

step "Who owns what while it runs: the broker's records stay root's, the VM's uid gets vm/ and its disks"
run ls -ln "$demo/state/vms/demo" "$demo/images"
run "$ctl" sandbox-report demo

step "QMP through corral (root only)"
run "$ctl" qemu-monitor-command demo '{"execute":"query-status"}'

step "Pause and resume"
run "$ctl" suspend demo
run "$ctl" domstate demo --reason
run "$ctl" resume demo
run "$ctl" domstate demo --reason

step "Straight to the VM's supervisor, without the broker"
run "$ctl" --vm-socket "$demo/run/vm/demo/control.sock" domstate demo --reason

step "Destroy, then look at what is left (the disks are given back)"
run "$ctl" destroy demo
run "$ctl" domstate demo --reason
run "$ctl" list --all
run ls -ln "$demo/images"

step "Start again and ask the guest to shut down through ACPI"
run "$ctl" start demo
# The guest sees the power button only once it runs its boot sector.
for _ in $(seq 150); do
    "$ctl" qemu-monitor-command demo \
        '{"execute":"human-monitor-command","arguments":{"command-line":"info registers"}}' |
        grep -q 'EIP=00007c' && break
    sleep 0.2
done
run "$ctl" shutdown demo --timeout 30
run "$ctl" domstate demo --reason

step "Undefine and tidy up"
run "$ctl" undefine demo
run "$ctl" list --all
printf '\nThe broker log is in %s:\n' "$demo/corrald.log"
tail -n 8 "$demo/corrald.log"
