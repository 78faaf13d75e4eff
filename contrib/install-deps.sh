#!/bin/sh
# Installs the Debian 12 packages corral needs to build, test and run its
# demo, but only those that are missing, so that a machine that has them all
# is not touched (and needs no network or root).
set -eu

# linux-image-amd64 and busybox-static are what contrib/guest/mkguest.sh
# makes the test guest from (no kernel of the host is booted); ovmf is the
# UEFI firmware and its QEMU descriptors (/usr/share/qemu/firmware); clang
# and libclang-rt-14-dev (libFuzzer and the sanitizers' runtimes) build the
# fuzzing harnesses that `make check` runs briefly and `make fuzz` at length.
# libinih-dev parses corrald's configuration file (INI); systemd gives the
# tests systemd-analyze, to verify corrald's unit (no systemd need run).
PKGS="gcc make pkg-config libevent-dev libcjson-dev libxml2-dev libcap-ng-dev
libseccomp-dev libinih-dev qemu-system-x86 qemu-utils python3 procps linux-image-amd64
busybox-static ovmf clang libclang-rt-14-dev systemd"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "corral: installing missing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "corral: not root; install them with: apt-get install$missing" >&2
    exit 1
fi
# The kernel's maintainer scripts run initramfs-tools and may ask questions:
# take the defaults, and keep configuration files as they are.
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold $missing
