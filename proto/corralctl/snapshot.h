/* What the snapshot verbs' handlers (snapshot.c, snapshot_list.c,
 * snapshot_create.c, snapshot_edit.c) share: the protocol's snapshot
 * object as they read it, and how they call and name snapshots. */
#ifndef CORRAL_CTL_SNAPSHOT_H
#define CORRAL_CTL_SNAPSHOT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "proto/corralctl/ctl.h"

/* The widest "%Y-%m-%d %H:%M:%S %z" of a year that fits, and its NUL. */
#define CTL_SNAP_TIME_MAX 48

/* One snapshot object of the protocol, borrowed from its reply. */
struct ctl_snap {
    const char *name, *state, *parent; /* parent NULL: a root */
    long long creation_time;
    bool current, memory;
    const cJSON *children, *disks; /* arrays, or NULL when absent */
    char time[CTL_SNAP_TIME_MAX];  /* creation_time as snapshot-list shows it */
};

/* What a handler prints from the reply r of its call. */
typedef int (*ctl_snap_show_fn)(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r);

/* Calls the verb's method with p (consumed), then shows the reply. */
int ctl_snap_call_show(struct ctl *ctl, const struct ctl_args *a, cJSON *p, ctl_snap_show_fn show);
/* Reads a snapshot object; -1 when it is not one. */
int ctl_snap_read(const cJSON *o, struct ctl_snap *s);
/* The name of the VM's current snapshot (malloc'd), or NULL after printing
 * why (none is an error, in virsh's words). */
char *ctl_snap_current_name(struct ctl *ctl, const char *vm);
/* virsh's {SNAP | --current}: runs fn with argv[1] the snapshot named, or
 * the current one when only --current is given.  exclusive: both given is
 * a usage error, else --current is left to fn. */
int ctl_snap_with_target(struct ctl *ctl, const struct ctl_args *a, bool exclusive,
                         int (*fn)(struct ctl *ctl, const struct ctl_args *a));

#endif
