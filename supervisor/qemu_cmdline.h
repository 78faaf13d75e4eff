/* Builds QEMU's command line from a domain definition.  Every block node
 * gets a name derived from its disk's target so that snapshot code can
 * address exactly the top-level format nodes. */
#ifndef CORRAL_QEMU_CMDLINE_H
#define CORRAL_QEMU_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/domain_xml.h"
#include "supervisor/qemu_argv.h"
#include "supervisor/qemu_cmdline_disks.h"

/* Which QEMU to build: the VM itself, or a maintenance QEMU that only opens
 * the disks (-machine none) for snapshot work on a shut-off VM. */
enum qemu_mode { QEMU_MODE_VM, QEMU_MODE_MAINTENANCE };

/* What the supervisor provides beyond the definition.  File descriptors
 * are inherited by QEMU (no FD_CLOEXEC) and named by number. */
#define QEMU_SERIAL_SOCKET "serial.sock"
#define QEMU_CONSOLE_SOCKET "console.sock"

struct qemu_inputs {
    bool kvm; /* KVM is in use: host CPU modes stay -cpu host */
    /* QEMU's monitor: a socket the supervisor listens on at the QMP path,
     * which QEMU serves, and a second descriptor of it that QEMU files
     * under that path (-add-fd), so that QEMU's command line still names
     * its monitor socket: the broker and a re-adopting supervisor tell
     * the VM's QEMU from a reused pid by it.  -1: the build fails. */
    int qmp_fd, qmp_name_fd;
    /* connected socket for serial port 0; -1: QEMU listens on
     * QEMU_SERIAL_SOCKET in the directory of the QMP socket */
    int serial_fd;
    int console_fd; /* the same for a virtio console, QEMU_CONSOLE_SOCKET */
    /* One tap fd per tap-backed interface (domain_def_tap_count), in the
     * order of the definition; -1 or a short array: the start fails. */
    const int *tap_fds;
    size_t ntap_fds;
    /* Where QEMU listens for VNC on a Unix socket; NULL: vnc.sock in the
     * directory of the QMP socket (the VM's run directory). */
    const char *vnc_socket;
    /* The VM's own UEFI variables (STATE/vms/NAME/NAME_VARS.fd, which the
     * broker prepares); NULL: a definition with a <loader> fails to
     * start. */
    const char *nvram;
};

/* Defaults: KVM when the definition asks for it, no fds (-1), vnc_socket
 * and nvram NULL. */
void qemu_inputs_init(struct qemu_inputs *in, const struct domain_def *def);

/* Whether a VM of def gets devices beyond its disks' nodes (consoles,
 * network, controllers): -machine none has no bus to plug them into. */
bool qemu_machine_has_devices(const struct domain_def *def);
/* Fills argv (which the caller frees with argv_free).  qmp_path is the
 * monitor socket, which in->qmp_fd listens on.  Sets *warning to a
 * malloc'd line the caller logs (a host CPU mode under TCG running as
 * -cpu max), or NULL.  Every value from the definition is
 * checked again here or escaped: none can add a QEMU option. */
int qemu_build_argv(const struct domain_def *def, enum qemu_mode mode, const char *qmp_path,
                    const struct qemu_inputs *in, struct argv_list *argv, char **warning,
                    struct cerr *e);

#endif
