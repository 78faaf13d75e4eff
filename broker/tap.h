/* The taps behind a VM's bridge and ethernet interfaces.  The broker alone
 * holds CAP_NET_ADMIN: it creates each tap, attaches it to its bridge,
 * brings it up and hands the open descriptor to the supervisor, which
 * passes it on to QEMU.  No tap is persistent: the kernel removes it when
 * the last descriptor (QEMU's) closes, so a VM that stops or crashes, or a
 * broker that dies, leaves no tap behind.  But whoever holds the descriptor
 * may make the tap persistent and its own (TUNSETPERSIST, TUNSETOWNER need
 * no capability on an attached descriptor): a compromised QEMU could keep
 * it on the bridge and attach to it again later.  So the broker records
 * each tap (STATE/vms/NAME/taps.json, root's) and deletes what is left of
 * them when the VM has stopped, and before its next start. */
#ifndef CORRAL_TAP_H
#define CORRAL_TAP_H

#include <net/if.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/domain_xml.h"
#include "common/error.h"

/* The kernel numbers taps with no <target dev> as corral0, corral1...: a
 * prefix of corral's own, so that an administrator tells them apart from
 * libvirt's vnetN, and libvirt's own name picking is not disturbed. */
#define TAP_NAME_PATTERN "corral%d"

struct tap_set {
    size_t n;                 /* domain_def_tap_count(def) */
    int fds[DOMAIN_MAX_NETS]; /* O_CLOEXEC, in the definition's order */
    char names[DOMAIN_MAX_NETS][IFNAMSIZ];
    int ifindex[DOMAIN_MAX_NETS]; /* with the name, which device it is */
};

/* Creates one tap per bridge or ethernet interface of def, in order: named
 * <target dev> (which must not exist yet) or TAP_NAME_PATTERN, with a
 * virtio-net header for virtio models (QEMU probes it on the fd, as
 * libvirt sets it), attached to <source bridge> (which must exist and be
 * a bridge) with the bridge's MTU, and up.  On failure nothing is left. */
int tap_create_all(const struct domain_def *def, struct tap_set *set, struct cerr *e);
/* Closes the broker's descriptors; a tap whose fd nobody else holds goes. */
void tap_close_all(struct tap_set *set);
/* Records set's taps in state_dir/taps.json (durably) before they are
 * handed out. */
int tap_record(const struct tap_set *set, const char *vm, const char *state_dir, struct cerr *e);
/* Deletes every tap recorded in state_dir/taps.json that still exists as
 * the same device (same name and index: a name the kernel has given to
 * another device since is left alone), then the record.  Logs what it
 * does and what fails. */
void tap_remove_recorded(const char *vm, const char *state_dir);
/* Names of the taps process pid holds, ordered by descriptor number (the
 * broker hands them out in the definition's order), as the kernel reports
 * them in /proc/PID/fdinfo.  Returns how many, or -1 with e set. */
int tap_names_held(pid_t pid, char (*names)[IFNAMSIZ], size_t max, struct cerr *e);

#endif
