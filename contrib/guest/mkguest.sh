#!/bin/sh
# Builds the small Linux guest of corral's tests and demo from Debian packages
# already installed (linux-image-amd64, busybox-static): downloads nothing.
#   contrib/guest/mkguest.sh OUTDIR [KERNEL]
# writes OUTDIR/vmlinuz (a copy of KERNEL, by default the newest
# /boot/vmlinuz-* in version order) and OUTDIR/initrd.img (cpio newc, gzip):
# busybox, the kernel modules a QEMU guest needs and contrib/guest/init.
# Boot it with the kernel command line "console=ttyS0 panic=-1"; see
# contrib/guest/init for the corral.* options it also reads.
set -eu

die() {
    echo "mkguest: $*" >&2
    exit 1
}

out=${1:?usage: contrib/guest/mkguest.sh OUTDIR [KERNEL]}
here=$(cd "$(dirname "$0")" && pwd)
kernel=${2:-$(find /boot -maxdepth 1 -name 'vmlinuz-*' 2>/dev/null | sort -V | tail -n 1)}
[ -n "$kernel" ] || die "no kernel in /boot: install linux-image-amd64 (make deps)"
[ -r "$kernel" ] || die "cannot read the kernel $kernel"
ver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$ver
[ -r "$moddir/modules.dep" ] || die "no $moddir/modules.dep for the kernel $kernel"

busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "no $busybox: install busybox-static (make deps)"
# A dynamically linked busybox (Debian's package busybox) would not run in
# an initramfs that has no C library; ldd fails on a static binary.
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked: install busybox-static"
fi

# The drivers for QEMU's virtio devices and its other NIC models, what
# turns the ACPI power button into an input event busybox acpid reads, and
# ext4 (which mounts what busybox mke2fs makes) with the checksum it asks the
# crypto API for. Their dependencies come from modules.dep.
required="virtio_pci virtio_net virtio_blk virtio_console button evdev ext4 crc32c_generic"
optional="e1000 e1000e 8139cp 8139too"

stage=$(mktemp -d "${TMPDIR:-/tmp}/mkguest.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM

# Prints "load PATH" for every module to load, dependencies first, and
# "missing NAME" for a wanted module modules.dep does not know.
resolve() {
    awk -v want="$*" '
        function norm(p, n) {
            n = p
            sub(/.*\//, "", n)
            sub(/\.ko(\.(xz|zst|gz))?$/, "", n)
            gsub(/-/, "_", n)
            return n
        }
        function visit(n, d, k, i) {
            if (n in seen)
                return
            seen[n] = 1
            k = split(deps[n], d, " ")
            for (i = k; i >= 1; i--)
                visit(norm(d[i]))
            print "load " path[n]
        }
        {
            sub(/:$/, "", $1)
            n = norm($1)
            path[n] = $1
            deps[n] = ""
            for (i = 2; i <= NF; i++)
                deps[n] = deps[n] " " $i
        }
        END {
            k = split(want, w, " ")
            for (i = 1; i <= k; i++) {
                if (w[i] in path)
                    visit(w[i])
                else
                    print "missing " w[i]
            }
        }' "$moddir/modules.dep"
}

builtin_module() {
    grep -q "/$1\.ko\$" "$moddir/modules.builtin" 2>/dev/null
}

mkdir -p "$stage/root/lib/modules" "$stage/root/etc"
root=$stage/root
: >"$root/etc/modules"
resolve "$required $optional" >"$stage/plan"
while read -r what arg; do
    if [ "$what" = missing ]; then
        case " $required " in
        *" $arg "*) builtin_module "$arg" || die "kernel $ver has no module $arg" ;;
        esac
        continue
    fi
    name=${arg##*/}
    case "$name" in
    *.ko.xz) xz -dc "$moddir/$arg" >"$root/lib/modules/${name%.xz}" ;;
    *.ko.zst) zstd -qdc "$moddir/$arg" >"$root/lib/modules/${name%.zst}" ;;
    *.ko.gz) gzip -dc "$moddir/$arg" >"$root/lib/modules/${name%.gz}" ;;
    *) cp "$moddir/$arg" "$root/lib/modules/$name" ;;
    esac
    echo "${name%.ko*}.ko" >>"$root/etc/modules"
done <"$stage/plan"

mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/dev" \
    "$root/proc" "$root/sys" "$root/tmp" "$root/mnt" "$root/run" "$root/root" "$root/var/log" \
    "$root/www" "$root/etc/acpi/PWRF" "$root/etc/udhcpc"
cp "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/udhcpc.script" "$root/etc/udhcpc/default.script"
# busybox acpid runs /etc/acpi/PWRF/00000080 when the power button is pressed.
install -m 0755 "$here/poweroff.sh" "$root/etc/acpi/PWRF/00000080"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'corral-guest\n' >"$root/etc/hostname"
printf "export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root\nPS1='corral-guest# '\n" \
    >"$root/etc/profile"
printf 'corral-guest httpd\n' >"$root/www/index.html"
printf '%s\n' "$ver" >"$root/etc/corral-guest-kernel"

# The same inputs give the same bytes: fixed times and owners, sorted names.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort |
    "$busybox" cpio -o -H newc -R 0:0 --ignore-devno --renumber-inodes) |
    gzip -9 -n >"$stage/initrd.img" ||
    die "cannot write the initramfs"

mkdir -p "$out"
cp "$kernel" "$stage/vmlinuz"
chmod 0644 "$stage/vmlinuz" "$stage/initrd.img"
# Each file appears whole or not at all, for a test that reads it meanwhile.
mv -f "$stage/initrd.img" "$out/initrd.img"
mv -f "$stage/vmlinuz" "$out/vmlinuz"
echo "mkguest: $out/vmlinuz ($ver) and $out/initrd.img ($(wc -l <"$root/etc/modules") modules)"
