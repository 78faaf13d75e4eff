/* What vm.iflist and vm.ifaddr answer (corralctl domiflist, domifaddr):
 * a VM's interfaces as its definition and the kernel describe them, and
 * their addresses as corral can know them without a guest agent. */
#ifndef CORRAL_NETINFO_H
#define CORRAL_NETINFO_H

#include <cjson/cJSON.h>

#include "broker/registry.h"
#include "common/error.h"

/* {"interfaces": [{"interface", "type", "source", "model", "mac"}]}: the
 * tap a running VM's QEMU holds for each bridge or ethernet interface, null
 * otherwise.  A new object. */
cJSON *netinfo_list(const struct bvm *vm);
/* {"interfaces": [{"interface", "mac", "addrs": [{"type", "addr",
 * "prefix"}]}]} for a running VM.  source "lease": QEMU's user network
 * hands its first guest 10.0.2.15/24; "arp": the broker's ARP table, by
 * MAC, for bridge and ethernet interfaces; "agent" is refused (corral has
 * no guest agent channel).  A new object, or NULL with e set. */
cJSON *netinfo_addrs(const struct bvm *vm, const char *source, struct cerr *e);

#endif
