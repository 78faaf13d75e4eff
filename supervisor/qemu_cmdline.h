/* Builds QEMU's command line from a domain definition.  Every block node
 * gets a name derived from its disk's target so that snapshot code can
 * address exactly the top-level format nodes. */
#ifndef CORRAL_QEMU_CMDLINE_H
#define CORRAL_QEMU_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/domain_xml.h"

struct argv_list {
    char **v; /* NULL-terminated */
    size_t n, cap;
};

/* Which QEMU to build: the VM itself, or a maintenance QEMU that only opens
 * the disks (-machine none) for snapshot work on a shut-off VM. */
enum qemu_mode { QEMU_MODE_VM, QEMU_MODE_MAINTENANCE };

/* Format node name of a disk ("drive-vda"); writes into buf. */
void qemu_node_name(const struct disk_def *d, char *buf, size_t len);

/* Fills argv (which the caller frees with argv_free).  qmp_path is the
 * monitor socket. */
int qemu_build_argv(const struct domain_def *def, enum qemu_mode mode, const char *qmp_path,
                    struct argv_list *argv, struct cerr *e);
void argv_add(struct argv_list *a, const char *s);
void argv_free(struct argv_list *a);
/* One shell-quoted line for logs. */
char *argv_join(const struct argv_list *a);

#endif
