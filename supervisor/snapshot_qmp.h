/* What QEMU's internal-snapshot commands mean, over the QMP transport of
 * qmp.c: the internal snapshots each top-level format node holds
 * (query-named-block-nodes); the jobs that make and remove them are
 * snapshot_qmp_jobs.c's, above this file.  Mechanism only:
 * which devices to name, what to check before and after a job, and the
 * metadata belong to the callers (see DESIGN.md, "Deleting an internal
 * snapshot"). */
#ifndef CORRAL_SUPERVISOR_SNAPSHOT_QMP_H
#define CORRAL_SUPERVISOR_SNAPSHOT_QMP_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "supervisor/qmp.h"

/* ---- Listing ---------------------------------------------------------- */

/* One internal snapshot as QEMU reports it on one node. */
struct snapshot_qmp_entry {
    char *name;             /* the tag */
    char *id;               /* QEMU's id: reused after a delete, never an identity */
    uint64_t vm_state_size; /* bytes; 0 on every node but the vmstate one */
    int64_t date_sec, date_nsec;
    int64_t vm_clock_sec, vm_clock_nsec;
};

/* One of the nodes asked about. */
struct snapshot_qmp_node {
    char *node; /* the format node name, as asked */
    bool found; /* false: QEMU has no node of that name (snaps is then empty) */
    size_t nsnaps;
    struct snapshot_qmp_entry *snaps; /* QEMU's order; a name may appear twice */
};

/* QEMU's answer for the nodes asked about, in the order asked. */
struct snapshot_qmp_nodes {
    size_t n;
    struct snapshot_qmp_node *nodes;
};

/* l is the callee's to free with snapshot_qmp_nodes_free; NULL when e is set. */
typedef void (*snapshot_qmp_list_cb)(struct snapshot_qmp_nodes *l, const struct cerr *e, void *arg);

/* Lists the internal snapshots of the given top-level format nodes (copied)
 * with query-named-block-nodes {"flat": true}; every other node QEMU has
 * (protocol "-file" nodes, backing nodes) is ignored.  cb runs exactly once:
 * like qmp_command's, before this returns when the monitor is not
 * connected.  timeout_ms (0: none) must allow for a save or load that blocks
 * the monitor. */
void snapshot_qmp_list(struct qmp *q, const char *const *nodes, size_t nnodes, int timeout_ms,
                       snapshot_qmp_list_cb cb, void *arg);
/* Reads query-named-block-nodes' "return" member (borrowed) for the given
 * nodes.  Returns a list the caller frees with snapshot_qmp_nodes_free, or
 * NULL with e set (CE_QEMU_FAILED) when the reply is malformed: not an array,
 * an entry without a string node-name, or a wrong or missing member in an
 * asked-for node. */
struct snapshot_qmp_nodes *snapshot_qmp_parse_nodes(const cJSON *ret, const char *const *nodes,
                                                    size_t nnodes, struct cerr *e);
void snapshot_qmp_nodes_free(struct snapshot_qmp_nodes *l);
/* The entry for node, or NULL when node was not asked about. */
const struct snapshot_qmp_node *snapshot_qmp_find_node(const struct snapshot_qmp_nodes *l,
                                                       const char *node);
/* How many snapshots named tag node holds (0 when node is unknown). */
size_t snapshot_qmp_count(const struct snapshot_qmp_nodes *l, const char *node, const char *tag);
/* Fills out (room for l->n names, borrowed from l, in l's order) with the
 * nodes holding at least one snapshot named tag; returns how many. */
size_t snapshot_qmp_holders(const struct snapshot_qmp_nodes *l, const char *tag, const char **out);

/* ---- Reading replies (shared with snapshot_qmp_jobs.c) ----------------- */

/* The string member key of obj, or NULL when obj is no object or the member
 * is missing or not a string. */
const char *snapshot_qmp_member_str(const cJSON *obj, const char *key);
/* "a, b, c" for messages (new). */
char *snapshot_qmp_join_names(const char *const *names, size_t n);
/* QEMU's desc of an error reply, or NULL for a success. */
const char *snapshot_qmp_error_desc(const cJSON *reply);

#endif
