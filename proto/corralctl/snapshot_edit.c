/* snapshot-edit: virsh's loop of editor and snapshot-create --redefine on a
 * copy of a snapshot's XML.  Unlike virsh, a changed name is refused before
 * anything is sent: an internal snapshot is known to its disks by its name
 * only. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "proto/corralctl/ctl.h"
#include "proto/corralctl/snapshot.h"
#include "proto/rpc.h"

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

static int edit_loop(struct ctl *ctl, const char *vm, const char *snap, bool current,
                     const char *orig, const char *path)
{
    for (;;) {
        size_t len;
        char *now;
        bool same;
        int rc;

        if (ctl_edit_run_editor(path) != CTL_EXIT_OK)
            return CTL_EXIT_ERROR;
        now = ctl_read_input(path, RPC_MAX_MESSAGE, &len);
        if (now == NULL)
            return CTL_EXIT_ERROR;
        same = strcmp(now, orig) == 0;
        free(now);
        /* As virsh: with --current an unchanged snapshot still becomes
         * current. */
        if (same && !current) {
            printf("Snapshot %s XML configuration not changed.\n", snap);
            return CTL_EXIT_OK;
        }
        rc = redefine_edited(ctl, vm, snap, current, path);
        if (rc <= 0)
            return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
        /* Without a terminal nobody can answer: no loop. */
        if (!isatty(STDIN_FILENO) || !ctl_edit_ask_again())
            return CTL_EXIT_ERROR;
    }
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
    const char *vm = a->argv[0], *tmp = getenv("TMPDIR");
    bool current = ctl_opt(a, "current") != 0;
    char *snap, *orig, *path;
    int status;

    if (ctl_opt(a, "rename") || ctl_opt(a, "clone"))
        return ctl_error("snapshots cannot be renamed or cloned: the disks know an internal "
                         "snapshot by its name only");
    if (a->argc < 2 && !current)
        return ctl_usage_error(a->verb, "SNAP or --current is required");
    snap = a->argc > 1 ? xstrdup(a->argv[1]) : ctl_snap_current_name(ctl, vm);
    if (snap == NULL)
        return CTL_EXIT_ERROR;
    orig = fetch_xml(ctl, vm, snap);
    if (orig == NULL) {
        free(snap);
        return CTL_EXIT_ERROR;
    }
    path =
        xasprintf("%s/corralctl-snapshot-XXXXXX.xml", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
    status = ctl_edit_write_copy(path, orig);
    if (status == CTL_EXIT_OK) {
        /* --current with SNAP also makes it current; alone it only chose it. */
        status = edit_loop(ctl, vm, snap, current && a->argc > 1, orig, path);
        unlink(path);
    }
    free(path);
    free(orig);
    free(snap);
    return status;
}
