#include "supervisor/snapshot_tags.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"

struct tags_node {
    char *node;
    bool found; /* QEMU has a node of that name */
    size_t n;
    char **tags; /* QEMU's order, repetitions kept */
};

struct snapshot_tags {
    bool valid;
    uint64_t epoch;
    unsigned running; /* jobs started and not ended */
    size_t n;
    struct tags_node *nodes;
};

/* Shared by every instance, so that no two ever hand out the same token. */
static uint64_t last_epoch;

static void bump(struct snapshot_tags *t)
{
    t->epoch = ++last_epoch;
}

static void clear(struct snapshot_tags *t)
{
    for (size_t i = 0; i < t->n; i++) {
        for (size_t k = 0; k < t->nodes[i].n; k++)
            free(t->nodes[i].tags[k]);
        free(t->nodes[i].tags);
        free(t->nodes[i].node);
    }
    free(t->nodes);
    t->nodes = NULL;
    t->n = 0;
    t->valid = false;
}

struct snapshot_tags *snapshot_tags_new(void)
{
    struct snapshot_tags *t = xcalloc(1, sizeof(*t));

    bump(t);
    return t;
}

void snapshot_tags_free(struct snapshot_tags *t)
{
    if (t == NULL)
        return;
    clear(t);
    free(t);
}

void snapshot_tags_forget(struct snapshot_tags *t)
{
    if (t == NULL)
        return;
    clear(t);
    bump(t);
}

uint64_t snapshot_tags_epoch(const struct snapshot_tags *t)
{
    return t != NULL ? t->epoch : 0;
}

void snapshot_tags_learn(struct snapshot_tags *t, uint64_t epoch,
                         const struct snapshot_qmp_nodes *l)
{
    if (t == NULL || epoch != t->epoch || t->running > 0)
        return;
    clear(t);
    t->nodes = xcalloc(l->n, sizeof(*t->nodes));
    t->n = l->n;
    for (size_t i = 0; i < l->n; i++) {
        const struct snapshot_qmp_node *src = &l->nodes[i];
        struct tags_node *dst = &t->nodes[i];

        dst->node = xstrdup(src->node);
        dst->found = src->found;
        dst->tags = xcalloc(src->nsnaps, sizeof(*dst->tags));
        for (size_t k = 0; k < src->nsnaps; k++)
            dst->tags[dst->n++] = xstrdup(src->snaps[k].name);
    }
    t->valid = true;
}

struct snapshot_qmp_nodes *snapshot_tags_known(const struct snapshot_tags *t,
                                               const char *const *nodes, size_t nnodes)
{
    struct snapshot_qmp_nodes *l;

    if (t == NULL || !t->valid || t->running > 0 || t->n != nnodes)
        return NULL;
    for (size_t i = 0; i < nnodes; i++)
        if (strcmp(t->nodes[i].node, nodes[i]) != 0)
            return NULL;
    l = xcalloc(1, sizeof(*l));
    l->nodes = xcalloc(nnodes, sizeof(*l->nodes));
    l->n = nnodes;
    for (size_t i = 0; i < nnodes; i++) {
        const struct tags_node *src = &t->nodes[i];
        struct snapshot_qmp_node *dst = &l->nodes[i];

        dst->node = xstrdup(src->node);
        dst->found = src->found;
        dst->snaps = xcalloc(src->n, sizeof(*dst->snaps));
        dst->nsnaps = src->n;
        for (size_t k = 0; k < src->n; k++) {
            dst->snaps[k].name = xstrdup(src->tags[k]);
            dst->snaps[k].id = xstrdup("");
        }
    }
    return l;
}

void snapshot_tags_job_started(struct snapshot_tags *t)
{
    if (t == NULL)
        return;
    t->running++;
    bump(t);
}

static struct tags_node *find(struct snapshot_tags *t, const char *node)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->nodes[i].node, node) == 0)
            return &t->nodes[i];
    return NULL;
}

/* Applies a concluded save or delete to every device; false when a device
 * is not one known (or has no node in QEMU), so nothing can be said. */
static bool apply(struct snapshot_tags *t, bool saved, const char *tag, const char *const *devices,
                  size_t ndevices)
{
    for (size_t j = 0; j < ndevices; j++) {
        struct tags_node *node = find(t, devices[j]);
        size_t k;

        if (node == NULL || !node->found)
            return false;
        if (saved) {
            node->tags = xreallocarray(node->tags, node->n + 1, sizeof(*node->tags));
            node->tags[node->n++] = xstrdup(tag);
            continue;
        }
        for (k = 0; k < node->n && strcmp(node->tags[k], tag) != 0; k++)
            ;
        if (k == node->n)
            continue;
        free(node->tags[k]);
        memmove(&node->tags[k], &node->tags[k + 1], (node->n - k - 1) * sizeof(*node->tags));
        node->n--;
    }
    return true;
}

void snapshot_tags_job_ended(struct snapshot_tags *t, enum snapshot_tags_change change,
                             const char *tag, const char *const *devices, size_t ndevices)
{
    bool known;

    if (t == NULL)
        return;
    if (t->running > 0)
        t->running--;
    switch (change) {
    case SNAPSHOT_TAGS_SAVED:
    case SNAPSHOT_TAGS_DELETED:
        known = !t->valid || apply(t, change == SNAPSHOT_TAGS_SAVED, tag, devices, ndevices);
        break;
    case SNAPSHOT_TAGS_UNCHANGED:
        known = true;
        break;
    default:
        known = false;
        break;
    }
    if (!known)
        clear(t);
    bump(t);
}
