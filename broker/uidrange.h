/* The VM uid range must belong to nobody else: a uid that is also a user's
 * subordinate id (/etc/subuid, /etc/subgid: reachable through newuidmap in
 * a user namespace) or an existing account or group would let that user act
 * as a VM's QEMU.  Checked once, at broker start-up. */
#ifndef CORRAL_UIDRANGE_H
#define CORRAL_UIDRANGE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* Chosen to overlap none of the usual allocations: useradd hands out
 * subordinate ids in 100000-600100000 (SUB_UID_MIN/MAX), systemd keeps
 * 524288-1879048191 for containers (nspawn, homed, userns delegation) and
 * 2147352576-2147418111 (0x7FFE0000, the "foreign" range) for foreign
 * images; 0x70000000 is the first id above the container range, and 65536
 * of them stay below 2^31, which some tools still treat as signed. */
#define UIDRANGE_DEFAULT_MIN 1879048192UL
#define UIDRANGE_DEFAULT_MAX 1879113727UL

/* One line of /etc/subuid or /etc/subgid. */
struct uidrange_entry {
    unsigned line;  /* 1-based */
    char owner[64]; /* the NAME field as written (a name or a uid), escaped */
    unsigned long long start, count;
    unsigned long long last; /* start + count - 1, capped at the largest value */
};

/* Scans the text of /etc/subuid or /etc/subgid (NAME:START:COUNT lines) for
 * the first entry that grants an id in [lo, hi].  Returns 1 with *hit set
 * when one does, 0 when none does.  Numbers are read as newuidmap reads
 * them (decimal, 0x hex or 0 octal); a line it would not accept grants
 * nothing and is counted in *skipped.  Only the first three fields count:
 * older shadow releases ignore a fourth. */
int uidrange_find_subid(const char *text, size_t len, unsigned long long lo, unsigned long long hi,
                        struct uidrange_entry *hit, unsigned *skipped);
/* Refuses [lo, hi] (e names the overlapping entry: file and line, or account
 * or group) when it overlaps /etc/subuid, /etc/subgid, an account's uid or a
 * group's gid (a VM's gid is its uid).  Accounts and groups are those NSS
 * enumerates; a directory that does not enumerate is not seen. */
int uidrange_check_free(uid_t lo, uid_t hi, struct cerr *e);

#endif
