#!/bin/sh
# Run by busybox acpid when the ACPI power button is pressed (QEMU's
# system_powerdown, corralctl shutdown): everything lives in RAM, so sync
# the disks and power off at once.
echo "corral-guest: power button, powering off" >/dev/console
sync
poweroff -f
