#include "supervisor/snapshot_core.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/names.h"
#include "proto/rpc.h"
#include "supervisor/qemu_cmdline.h"
#include "supervisor/vm.h"

/* Fails when a writable disk cannot hold internal snapshots (raw): as
 * libvirt, the whole snapshot is refused before QEMU is touched. */
int snapcore_disks(const struct snapops *so, struct disks *out, struct cerr *e)
{
    const struct domain_def *def = vm_def(so->vm);

    out->n = 0;
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct disk_def *d = &def->disks[i];
        if (d->readonly)
            continue;
        if (d->format != DISK_FORMAT_QCOW2) {
            cerr_set(e, CE_UNSUPPORTED,
                     "VM %s: disk %s is raw; internal snapshots need qcow2 (or mark it "
                     "<readonly/>)",
                     def->name, d->target);
            return -1;
        }
        out->d[out->n].target = d->target;
        qemu_node_name(d, out->d[out->n].node, sizeof(out->d[out->n].node));
        out->nodes[out->n] = out->d[out->n].node;
        out->n++;
    }
    if (out->n == 0) {
        cerr_set(e, CE_UNSUPPORTED, "VM %s has no writable qcow2 disk to hold a snapshot",
                 def->name);
        return -1;
    }
    return 0;
}

const char *snapcore_target_of(const struct disks *ds, const char *node)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (strcmp(ds->d[i].node, node) == 0)
            return ds->d[i].target;
    }
    return node;
}

cJSON *snapcore_targets(const struct disks *ds, const char *const *nodes, size_t n)
{
    cJSON *a = json_arr();

    for (size_t i = 0; i < n; i++)
        json_arr_add(a, json_str(snapcore_target_of(ds, nodes[i])));
    return a;
}

void snapcore_event(struct snapops *so, const char *method, const char *snap)
{
    cJSON *ev = json_obj();

    json_add_str(ev, "vm", so->name);
    json_add_str(ev, "snapshot", snap);
    so->notify(method, ev, so->notify_arg);
}

/* A reply describing thousands of snapshots is a tree of small blocks that
 * free() cannot give back while later ones sit above them in the heap: a
 * trim once the replies stop keeps a supervisor that listed 10,000
 * snapshots at the size of one that did not.  Not after each reply: a
 * listing is ten pages in a row, and a heap given back between them is
 * faulted in again by the next (a quarter of the listing's time).  The heap
 * is the process's, so are this count and timer. */
#define SNAPCORE_TRIM_AFTER 1000
#define SNAPCORE_TRIM_DELAY_MS 250
static size_t described;
static struct event *trim_ev;

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    described = 0;
    malloc_trim(0);
}

/* Runs trim_cb SNAPCORE_TRIM_DELAY_MS after the last of a run of large
 * replies: adding a pending timer again moves its deadline. */
static void trim_after_reply(const struct snapops *so)
{
    static const struct timeval delay = {0, SNAPCORE_TRIM_DELAY_MS * 1000};

    if (++described < SNAPCORE_TRIM_AFTER)
        return;
    if (trim_ev == NULL)
        trim_ev = evtimer_new(vm_event_base(so->vm), trim_cb, NULL);
    if (trim_ev == NULL || evtimer_add(trim_ev, &delay) < 0)
        log_debug("VM %s: cannot schedule giving back freed memory", so->name);
}

/* Aborts on out-of-memory, as the builders of common/json.h do. */
static cJSON *built(cJSON *item)
{
    if (item == NULL) {
        log_err("out of memory describing a snapshot");
        abort();
    }
    return item;
}

static cJSON *entry_build(const struct snapops *so, const struct snapshot_def *d,
                          const struct snapshot_def *const *kids, size_t nkids, size_t descendants)
{
    cJSON *o = json_obj(), *children = json_arr(), *disks = json_arr();

    trim_after_reply(so);
    json_add_str(o, "name", d->name);
    json_add_str(o, "description", d->description);
    json_add_str(o, "state", snapshot_state_name(d->state));
    json_add_str(o, "parent", d->parent);
    for (size_t i = 0; i < nkids; i++)
        json_arr_add(children, json_str(kids[i]->name));
    json_add(o, "children", children);
    json_add_num(o, "descendants", (double)descendants);
    /* A snapshot taken with no_metadata is answered once, then forgotten. */
    json_add_bool(o, "metadata", snapshot_tree_lookup(so->tree, d->name) == d);
    json_add_bool(o, "current", d->current);
    json_add_num(o, "creation_time", (double)d->creation_time);
    json_add_bool(o, "memory", d->memory_internal);
    for (size_t i = 0; i < d->ndisks; i++) {
        cJSON *dj = json_obj();
        json_add_str(dj, "target", d->disks[i].name);
        json_add_bool(dj, "internal", d->disks[i].internal);
        json_arr_add(disks, dj);
    }
    json_add(o, "disks", disks);
    return o;
}

/* The members of an entry are borrowed: their keys are string literals
 * (cJSON_StringIsConst), their values point at the listed snapshot's
 * strings or at the entry's own number texts (cJSON_IsReference), so that
 * cJSON_Delete frees neither and a member is repointed by setting its type
 * and valuestring, as cJSON's own *Reference constructors do. */
#define BORROWED (cJSON_IsReference | cJSON_StringIsConst)

const char *const snapcore_member_names[SNAPCORE_MEMBERS] = {
    "name",     "description", "state",         "parent", "children", "descendants",
    "metadata", "current",     "creation_time", "memory", "disks",
};

struct snapcore_entry {
    cJSON *o;                        /* the tree printed */
    cJSON *member[SNAPCORE_MEMBERS]; /* its members, NULL for those left out */
    size_t ndisks;                   /* objects in disks, each {"target","internal"} */
    char descendants_text[24], creation_time_text[24];
};

/* A member of o under key, a string literal, to be pointed at values. */
static cJSON *member(cJSON *o, const char *key)
{
    cJSON *item = built(cJSON_CreateNull());

    if (!cJSON_AddItemToObjectCS(o, key, item))
        abort(); /* only for NULL arguments, which built rules out */
    return item;
}

static void point_str(cJSON *item, const char *s)
{
    item->type = (s != NULL ? cJSON_String : cJSON_NULL) | BORROWED;
    item->valuestring = (char *)s;
}

static void point_bool(cJSON *item, bool v)
{
    item->type = (v ? cJSON_True : cJSON_False) | cJSON_StringIsConst;
}

/* A whole number as raw text: cJSON prints a double through printf and
 * reads it back with sscanf to check it, which cost as much as the rest of
 * a listed entry, and even printf's "%lld" is a tenth of it; these are
 * the same digits. */
static void point_int(cJSON *item, char *text, size_t size, long long v)
{
    unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
    char *p = text + size;

    *--p = '\0';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        *--p = '-';
    item->type = cJSON_Raw | BORROWED;
    item->valuestring = p;
}

struct snapcore_entry *snapcore_entry_new(unsigned members)
{
    struct snapcore_entry *en = xcalloc(1, sizeof(*en));

    en->o = json_obj();
    for (int m = 0; m < SNAPCORE_MEMBERS; m++) {
        if (m != SNAPCORE_NAME && !(members & SNAPCORE_MEMBER(m)))
            continue;
        if (m == SNAPCORE_CHILDREN || m == SNAPCORE_DISKS) {
            en->member[m] = json_arr();
            if (!cJSON_AddItemToObjectCS(en->o, snapcore_member_names[m], en->member[m]))
                abort(); /* only for NULL arguments */
        } else
            en->member[m] = member(en->o, snapcore_member_names[m]);
    }
    return en;
}

/* Keeps n disk objects in disks: a tree's snapshots mostly have the same
 * disks, so these are made once. */
static void entry_disks(struct snapcore_entry *en, cJSON *disks, size_t n)
{
    for (; en->ndisks > n; en->ndisks--)
        cJSON_DeleteItemFromArray(disks, (int)en->ndisks - 1);
    for (; en->ndisks < n; en->ndisks++) {
        cJSON *dj = json_obj();
        member(dj, "target");
        member(dj, "internal");
        json_arr_add(disks, dj);
    }
}

/* Points the children member at kids: one node each, made anew (a tree has
 * one child link per snapshot, so one node per entry on the average). */
static void entry_children(cJSON *children, const struct snapshot_def *const *kids, size_t nkids)
{
    cJSON *kid;

    while ((kid = cJSON_DetachItemFromArray(children, 0)) != NULL)
        cJSON_Delete(kid);
    for (size_t k = 0; k < nkids; k++)
        json_arr_add(children, built(cJSON_CreateStringReference(kids[k]->name)));
}

const cJSON *snapcore_entry_set(struct snapcore_entry *en, const struct snapops *so,
                                const struct snapshot_def *d,
                                const struct snapshot_def *const *kids, size_t nkids,
                                size_t descendants)
{
    cJSON **m = en->member, *dj;
    size_t i = 0;

    trim_after_reply(so);
    point_str(m[SNAPCORE_NAME], d->name);
    if (m[SNAPCORE_DESCRIPTION] != NULL)
        point_str(m[SNAPCORE_DESCRIPTION], d->description);
    if (m[SNAPCORE_STATE] != NULL)
        point_str(m[SNAPCORE_STATE], snapshot_state_name(d->state));
    if (m[SNAPCORE_PARENT] != NULL)
        point_str(m[SNAPCORE_PARENT], d->parent);
    if (m[SNAPCORE_CHILDREN] != NULL)
        entry_children(m[SNAPCORE_CHILDREN], kids, nkids);
    if (m[SNAPCORE_DESCENDANTS] != NULL)
        point_int(m[SNAPCORE_DESCENDANTS], en->descendants_text, sizeof(en->descendants_text),
                  (long long)descendants);
    if (m[SNAPCORE_METADATA] != NULL)
        point_bool(m[SNAPCORE_METADATA], true);
    if (m[SNAPCORE_CURRENT] != NULL)
        point_bool(m[SNAPCORE_CURRENT], d->current);
    if (m[SNAPCORE_CREATION_TIME] != NULL)
        point_int(m[SNAPCORE_CREATION_TIME], en->creation_time_text, sizeof(en->creation_time_text),
                  d->creation_time);
    if (m[SNAPCORE_MEMORY] != NULL)
        point_bool(m[SNAPCORE_MEMORY], d->memory_internal);
    if (m[SNAPCORE_DISKS] == NULL)
        return en->o;
    entry_disks(en, m[SNAPCORE_DISKS], d->ndisks);
    cJSON_ArrayForEach(dj, m[SNAPCORE_DISKS])
    {
        point_str(cJSON_GetObjectItemCaseSensitive(dj, "target"), d->disks[i].name);
        point_bool(cJSON_GetObjectItemCaseSensitive(dj, "internal"), d->disks[i].internal);
        i++;
    }
    return en->o;
}

void snapcore_entry_free(struct snapcore_entry *en)
{
    if (en == NULL)
        return;
    cJSON_Delete(en->o);
    free(en);
}

cJSON *snapcore_snapshot_json(const struct snapops *so, const struct snapshot_def *d)
{
    const struct snapshot_def **kids, **desc;
    size_t n = 0, ndesc = 0;
    struct cerr e;
    cJSON *o;

    kids = snapshot_tree_children(so->tree, d->name, &n, &e);
    desc = snapshot_tree_descendants(so->tree, d->name, &ndesc, &e);
    o = entry_build(so, d, kids, kids != NULL ? n : 0, desc != NULL ? ndesc : 0);
    free(kids);
    free(desc);
    return o;
}

/* The snapshot named by params["snapshot"], validated and looked up. */
const struct snapshot_def *snapcore_param_snapshot(struct snapops *so, const cJSON *params,
                                                   const char **name, struct cerr *e)
{
    const struct snapshot_def *d;

    if (rpc_param_string(params, "snapshot", true, name, e) < 0 || !name_snapshot_valid(*name, e))
        return NULL;
    d = snapshot_tree_lookup(so->tree, *name);
    if (d == NULL)
        cerr_set(e, CE_NO_SNAPSHOT, "VM %s has no snapshot named '%s'", so->name, *name);
    return d;
}

int snapcore_require_ready(struct snapops *so, struct cerr *e)
{
    if (!vm_is_active(so->vm)) {
        cerr_set(e, CE_OPERATION_INVALID, "VM %s is not running", so->name);
        return -1;
    }
    if (so->busy || snapshot_qmp_jobs_busy(vm_snapjobs(so->vm))) {
        cerr_set(e, CE_BUSY, "VM %s: another snapshot operation is under way; try again", so->name);
        return -1;
    }
    return 0;
}

/* QEMU reports no progress within a job (always 1/1), only its state
 * changes: those become job.progress events, which is what a UI can show. */
void snapcore_job_progress(const char *job_id, const char *status, void *arg)
{
    /* arg is one of the operation records (create, del, revert), whose
     * first member is the snapops: C lets a struct pointer be read as a
     * pointer to its first member. */
    struct snapops *so = *(struct snapops **)arg;
    cJSON *ev = json_obj();

    json_add_str(ev, "vm", so->name);
    json_add_str(ev, "job", job_id);
    json_add_str(ev, "status", status);
    so->notify("job.progress", ev, so->notify_arg);
}

int snapcore_ram_timeout_ms(const struct snapops *so)
{
    /* The monitor is blocked while RAM is written: allow 20 MB/s, well
     * below the 300 MB/s measured, plus a margin. */
    return 30000 + (int)(vm_def(so->vm)->memory_kib / 1024 / 20 * 1000);
}
