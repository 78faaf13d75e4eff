/* Validation of user-supplied names before they become paths or QEMU
 * arguments. */
#ifndef CORRAL_NAMES_H
#define CORRAL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define VM_NAME_MAX 64
#define SNAPSHOT_NAME_MAX 255

/* VM names: 1-64 bytes of [A-Za-z0-9._+-], not starting with '.' or '-'. */
bool name_vm_valid(const char *name, struct cerr *e);
/* Snapshot names: 1-255 bytes of valid UTF-8, no '/', no control characters,
 * not starting with '.'; spaces are allowed (they never reach QEMU job ids). */
bool name_snapshot_valid(const char *name, struct cerr *e);
/* Disk target names (vda, sdb, hdc): 2-16 lowercase letters/digits starting
 * with a letter, so that they can be embedded in QEMU node names. */
bool name_target_valid(const char *name, struct cerr *e);
/* Writes a printable, escaped copy of untrusted text for messages. */
void name_escape(const char *in, char *out, size_t outlen);

#endif
