/* snapshot-edit: virsh's loop of editor and snapshot-create --redefine on a
 * copy of a snapshot's XML.  Unlike virsh, a changed name is refused before
 * anything is sent: an internal snapshot is known to its disks by its name
 * only. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "proto/corralctl/ctl.h"
#include "proto/corralctl/snapshot.h"

/* The text of /domainsnapshot/name in xml (malloc'd), or NULL when the
 * document has none or is not XML: then the server says what is wrong. */
static char *edited_name(const char *xml)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "snapshot.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    char *name = NULL;

    for (xmlNodePtr n = root != NULL ? root->children : NULL; n != NULL && name == NULL;
         n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)"name") == 0) {
            xmlChar *text = xmlNodeGetContent(n);
            if (text != NULL)
                name = xstrdup((const char *)text);
            xmlFree(text);
        }
    }
    xmlFreeDoc(doc);
    return name;
}

/* Redefines the edited text: 0 taken, 1 refused (the error printed), -1 a
 * failure of ours. */
static int redefine_edited(struct ctl *ctl, const char *vm, const char *snap, bool current,
                           const char *path)
{
    char *xml = ctl_read_xml(path, "domainsnapshot"), *name;
    cJSON *p, *r;

    if (xml == NULL)
        return -1;
    name = edited_name(xml);
    if (name != NULL && strcmp(name, snap) != 0) {
        ctl_error("snapshot %s cannot be renamed to %s: its disks know it by its name only", snap,
                  name);
        free(name);
        free(xml);
        return 1;
    }
    free(name);
    p = ctl_name_params(vm);
    json_add_str(p, "xml", xml);
    json_add_bool(p, "current", current);
    free(xml);
    r = ctl_call(ctl, "snapshot.redefine", p);
    if (r == NULL)
        return 1;
    if (ctl->json)
        ctl_print_json(r, true);
    else
        printf("Snapshot %s edited.\n", snap);
    cJSON_Delete(r);
    return 0;
}

struct snap_edit {
    struct ctl *ctl;
    const char *vm, *snap;
    bool current;
};

static bool snap_unchanged(void *arg)
{
    const struct snap_edit *d = arg;

    /* As virsh: with --current an unchanged snapshot still becomes
     * current. */
    if (d->current)
        return false;
    printf("Snapshot %s XML configuration not changed.\n", d->snap);
    return true;
}

static int snap_submit(void *arg, const char *path)
{
    const struct snap_edit *d = arg;

    return redefine_edited(d->ctl, d->vm, d->snap, d->current, path);
}

/* The snapshot's XML as snapshot-dumpxml prints it (malloc'd), or NULL. */
static char *fetch_xml(struct ctl *ctl, const char *vm, const char *snap)
{
    cJSON *p = ctl_name_params(vm), *r;
    const char *xml;
    char *copy = NULL;

    json_add_str(p, "snapshot", snap);
    r = ctl_call(ctl, "snapshot.dumpxml", p);
    if (r == NULL)
        return NULL;
    if (ctl_reply_str(r, "xml", true, &xml) < 0)
        ctl_unexpected();
    else
        copy = xstrdup(xml);
    cJSON_Delete(r);
    return copy;
}

int ctl_run_snapshot_edit(struct ctl *ctl, const struct ctl_args *a)
{
    bool current = ctl_opt(a, "current") != 0;
    /* --current with SNAP also makes it current; alone it only chose it. */
    struct snap_edit d = {ctl, a->argv[0], NULL, current && a->argc > 1};
    struct ctl_edit_ops ops = {snap_unchanged, snap_submit, &d};
    char *snap, *orig;
    int status;

    if (ctl_opt(a, "rename") || ctl_opt(a, "clone"))
        return ctl_error("snapshots cannot be renamed or cloned: the disks know an internal "
                         "snapshot by its name only");
    if (a->argc < 2 && !current)
        return ctl_usage_error(a->verb, "SNAP or --current is required");
    snap = a->argc > 1 ? xstrdup(a->argv[1]) : ctl_snap_current_name(ctl, d.vm);
    if (snap == NULL)
        return CTL_EXIT_ERROR;
    d.snap = snap;
    orig = fetch_xml(ctl, d.vm, snap);
    status = orig != NULL ? ctl_edit("snapshot", orig, &ops) : CTL_EXIT_ERROR;
    free(orig);
    free(snap);
    return status;
}
