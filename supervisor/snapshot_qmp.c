#include "supervisor/snapshot_qmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/json.h"

/* JSON numbers reach us as doubles, exact only up to 2^53. */
#define JSON_EXACT_INT_MAX 9007199254740992.0

/* The string member key of obj, or NULL when obj is no object or the member
 * is missing or not a string. */
const char *snapshot_qmp_member_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

    return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring : NULL;
}

static int member_uint(const cJSON *obj, const char *key, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    double d;

    if (!cJSON_IsNumber(v))
        return -1;
    d = v->valuedouble;
    /* The negated test also rejects NaN. */
    if (!(d >= 0 && d <= JSON_EXACT_INT_MAX) || (double)(uint64_t)d != d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

/* "a, b, c" for messages; the caller frees it. */
char *snapshot_qmp_join_names(const char *const *names, size_t n)
{
    size_t len = 1;
    char *out, *p;

    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + 2;
    out = p = xcalloc(1, len);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i > 0 ? ", " : "", names[i]);
    return out;
}

/* QEMU's desc of an error reply, or NULL for a success. */
const char *snapshot_qmp_error_desc(const cJSON *reply)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
    const char *desc;

    if (err == NULL)
        return NULL;
    desc = snapshot_qmp_member_str(err, "desc");
    return desc != NULL ? desc : "(no description)";
}

/* ---- Listing ---------------------------------------------------------- */

void snapshot_qmp_nodes_free(struct snapshot_qmp_nodes *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        struct snapshot_qmp_node *node = &l->nodes[i];

        for (size_t k = 0; k < node->nsnaps; k++) {
            free(node->snaps[k].name);
            free(node->snaps[k].id);
        }
        free(node->snaps);
        free(node->node);
    }
    free(l->nodes);
    free(l);
}

static int parse_entry(const cJSON *s, const char *node, size_t idx, struct snapshot_qmp_entry *out,
                       struct cerr *e)
{
    static const char *const keys[] = {"vm-state-size", "date-sec", "date-nsec", "vm-clock-sec",
                                       "vm-clock-nsec"};
    uint64_t v[sizeof(keys) / sizeof(keys[0])];
    const char *name, *id;

    if (!cJSON_IsObject(s)) {
        cerr_set(e, CE_QEMU_FAILED, "node '%s', snapshot %zu: not an object", node, idx);
        return -1;
    }
    name = snapshot_qmp_member_str(s, "name");
    id = snapshot_qmp_member_str(s, "id");
    if (name == NULL || id == NULL) {
        cerr_set(e, CE_QEMU_FAILED, "node '%s', snapshot %zu: '%s' is missing or not a string",
                 node, idx, name == NULL ? "name" : "id");
        return -1;
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (member_uint(s, keys[i], &v[i]) < 0) {
            cerr_set(e, CE_QEMU_FAILED,
                     "node '%s', snapshot %zu ('%s'): '%s' is missing or not a non-negative "
                     "integer",
                     node, idx, name, keys[i]);
            return -1;
        }
    }
    out->name = xstrdup(name);
    out->id = xstrdup(id);
    out->vm_state_size = v[0];
    out->date_sec = (int64_t)v[1];
    out->date_nsec = (int64_t)v[2];
    out->vm_clock_sec = (int64_t)v[3];
    out->vm_clock_nsec = (int64_t)v[4];
    return 0;
}

static int parse_node(const cJSON *entry, struct snapshot_qmp_node *node, struct cerr *e)
{
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(entry, "image"), *snaps, *s;

    if (node->found) {
        cerr_set(e, CE_QEMU_FAILED, "node '%s' is listed twice", node->node);
        return -1;
    }
    node->found = true;
    if (!cJSON_IsObject(image)) {
        cerr_set(e, CE_QEMU_FAILED, "node '%s' has no 'image' object", node->node);
        return -1;
    }
    /* QEMU leaves the member out when the image holds no snapshot. */
    snaps = cJSON_GetObjectItemCaseSensitive(image, "snapshots");
    if (snaps == NULL)
        return 0;
    if (!cJSON_IsArray(snaps)) {
        cerr_set(e, CE_QEMU_FAILED, "node '%s': 'image.snapshots' is not an array", node->node);
        return -1;
    }
    node->snaps = xcalloc((size_t)cJSON_GetArraySize(snaps), sizeof(*node->snaps));
    cJSON_ArrayForEach(s, snaps)
    {
        if (parse_entry(s, node->node, node->nsnaps, &node->snaps[node->nsnaps], e) < 0)
            return -1;
        node->nsnaps++;
    }
    return 0;
}

struct snapshot_qmp_nodes *snapshot_qmp_parse_nodes(const cJSON *ret, const char *const *nodes,
                                                    size_t nnodes, struct cerr *e)
{
    struct snapshot_qmp_nodes *l;
    const cJSON *entry;
    size_t idx = 0;
    struct cerr why;

    if (!cJSON_IsArray(ret)) {
        cerr_set(e, CE_QEMU_FAILED, "QEMU's query-named-block-nodes reply is not an array");
        return NULL;
    }
    l = xcalloc(1, sizeof(*l));
    l->nodes = xcalloc(nnodes, sizeof(*l->nodes));
    l->n = nnodes;
    for (size_t i = 0; i < nnodes; i++)
        l->nodes[i].node = xstrdup(nodes[i]);
    cJSON_ArrayForEach(entry, ret)
    {
        const char *name = snapshot_qmp_member_str(entry, "node-name");

        if (name == NULL) {
            cerr_set(&why, CE_QEMU_FAILED, "entry %zu is not an object with a string 'node-name'",
                     idx);
            goto fail;
        }
        for (size_t i = 0; i < nnodes; i++)
            if (strcmp(l->nodes[i].node, name) == 0 && parse_node(entry, &l->nodes[i], &why) < 0)
                goto fail;
        idx++;
    }
    return l;

fail:
    cerr_set(e, why.code, "QEMU's query-named-block-nodes reply is malformed: %s", why.msg);
    snapshot_qmp_nodes_free(l);
    return NULL;
}

const struct snapshot_qmp_node *snapshot_qmp_find_node(const struct snapshot_qmp_nodes *l,
                                                       const char *node)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->nodes[i].node, node) == 0)
            return &l->nodes[i];
    return NULL;
}

static size_t node_count(const struct snapshot_qmp_node *node, const char *tag)
{
    size_t count = 0;

    for (size_t k = 0; k < node->nsnaps; k++)
        if (strcmp(node->snaps[k].name, tag) == 0)
            count++;
    return count;
}

size_t snapshot_qmp_count(const struct snapshot_qmp_nodes *l, const char *node, const char *tag)
{
    const struct snapshot_qmp_node *n = snapshot_qmp_find_node(l, node);

    return n != NULL ? node_count(n, tag) : 0;
}

size_t snapshot_qmp_holders(const struct snapshot_qmp_nodes *l, const char *tag, const char **out)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n; i++)
        if (node_count(&l->nodes[i], tag) > 0)
            out[n++] = l->nodes[i].node;
    return n;
}

struct list_req {
    char **nodes;
    size_t n;
    char *names; /* nodes joined, for messages */
    snapshot_qmp_list_cb cb;
    void *arg;
};

static void list_reply_cb(const cJSON *reply, const struct cerr *e, void *arg)
{
    struct list_req *req = arg;
    struct snapshot_qmp_nodes *l = NULL;
    struct cerr why, err;

    if (e != NULL)
        why = *e;
    else if (qmp_reply_check(reply, "query-named-block-nodes", &why) == 0)
        l = snapshot_qmp_parse_nodes(qmp_reply_return(reply), (const char *const *)req->nodes,
                                     req->n, &why);
    if (l != NULL) {
        req->cb(l, NULL, req->arg);
    } else {
        cerr_set(&err, why.code, "cannot list the internal snapshots of %s: %s", req->names,
                 why.msg);
        req->cb(NULL, &err, req->arg);
    }
    for (size_t i = 0; i < req->n; i++)
        free(req->nodes[i]);
    free(req->nodes);
    free(req->names);
    free(req);
}

void snapshot_qmp_list(struct qmp *q, const char *const *nodes, size_t nnodes, int timeout_ms,
                       snapshot_qmp_list_cb cb, void *arg)
{
    struct list_req *req = xcalloc(1, sizeof(*req));
    cJSON *args = json_obj();

    req->nodes = xcalloc(nnodes, sizeof(*req->nodes));
    for (size_t i = 0; i < nnodes; i++)
        req->nodes[i] = xstrdup(nodes[i]);
    req->n = nnodes;
    req->names = snapshot_qmp_join_names(nodes, nnodes);
    req->cb = cb;
    req->arg = arg;
    json_add_bool(args, "flat", true);
    qmp_command(q, "query-named-block-nodes", args, timeout_ms, list_reply_cb, req);
}
