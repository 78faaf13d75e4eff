/* snapshot-create-as: virsh's optional name and description, --print-xml,
 * --no-metadata and --halt, and the job's progress on a terminal. */
#include <libxml/xmlmemory.h>
#include <libxml/entities.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "proto/client.h"
#include "proto/corralctl/ctl.h"
#include "proto/rpc.h"

/* The name comes from the reply: the server names an unnamed snapshot.
 * With --halt the VM is destroyed afterwards, as virsh does on servers
 * that cannot halt by themselves; a snapshot of a shut-off VM needs no
 * halt. */
static int show_created(struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const char *name, *state;
    cJSON *d;

    if (ctl_reply_str(r, "name", true, &name) < 0 || ctl_reply_str(r, "state", true, &state) < 0)
        return ctl_unexpected();
    if (ctl_opt(a, "halt") && strcmp(state, "shutoff") != 0) {
        d = ctl_call(ctl, "vm.destroy", ctl_name_params(a->argv[0]));
        if (d == NULL)
            return ctl_error("snapshot %s was created but VM %s could not be halted", name,
                             a->argv[0]);
        cJSON_Delete(d);
    }
    if (ctl->json)
        return ctl_print_json(r, true);
    printf("Domain snapshot %s created\n", name);
    return CTL_EXIT_OK;
}

/* An XML element with text content, escaped, or nothing when text is NULL. */
static int print_element(const char *tag, const char *text)
{
    xmlChar *esc;

    if (text == NULL)
        return 0;
    esc = xmlEncodeSpecialChars(NULL, (const xmlChar *)text);
    if (esc == NULL)
        return ctl_error("cannot escape the snapshot's %s for XML", tag);
    printf("  <%s>%s</%s>\n", tag, (const char *)esc, tag);
    xmlFree(esc);
    return 0;
}

/* virsh's --print-xml: the document snapshot-create would be given. */
static int print_xml(const char *name, const char *description)
{
    puts("<domainsnapshot>");
    if (print_element("name", name) != 0 || print_element("description", description) != 0)
        return CTL_EXIT_ERROR;
    puts("</domainsnapshot>");
    return CTL_EXIT_OK;
}

/* QEMU reports a snapshot job's states only, so the "bar" is the list of
 * states reached so far, redrawn in place on the terminal. */
static void show_progress(const cJSON *msg, void *arg)
{
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(params, "status");
    int *shown = arg;

    if (!cJSON_IsString(method) || strcmp(method->valuestring, "job.progress") != 0 ||
        !cJSON_IsString(status))
        return;
    fprintf(stderr, "%s%s", *shown ? " > " : "\rsnapshot job: ", status->valuestring);
    fflush(stderr);
    *shown = 1;
}

/* virsh's [name] [description], the description also as --description. */
static int create_args(const struct ctl_args *a, const char **name, const char **description)
{
    const char *opt = ctl_opt_str(a, "description");

    *name = a->argc > 1 ? a->argv[1] : NULL;
    *description = a->argc > 2 ? a->argv[2] : opt;
    if (a->argc > 2 && opt != NULL)
        return ctl_usage_error(a->verb, "DESCRIPTION is given twice (also as --description)");
    return CTL_EXIT_OK;
}

static int call_create(struct ctl *ctl, const struct ctl_args *a, cJSON *p)
{
    cJSON *r = ctl_call(ctl, a->verb->method, p);
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_created(ctl, a, r);
    cJSON_Delete(r);
    return status;
}

int ctl_run_snapshot_create(struct ctl *ctl, const struct ctl_args *a)
{
    const char *name, *description;
    int shown = 0, rc = create_args(a, &name, &description);
    cJSON *p;

    if (rc != CTL_EXIT_OK)
        return rc;
    if (ctl_opt(a, "print-xml"))
        return print_xml(name, description);
    p = ctl_name_params(a->argv[0]);
    if (name != NULL)
        json_add_str(p, "snapshot", name);
    if (description != NULL)
        json_add_str(p, "description", description);
    if (ctl_opt(a, "no-metadata"))
        json_add_bool(p, "no_metadata", true);
    /* Progress only where a person watches; scripts get clean stderr. */
    if (!ctl->json && isatty(STDERR_FILENO)) {
        cJSON *sp = json_obj(), *r;
        json_add_str(sp, "name", a->argv[0]);
        r = ctl_call(ctl, "events.subscribe", sp);
        if (r != NULL)
            rpc_client_on_notify(ctl->client, show_progress, &shown);
        cJSON_Delete(r);
    }
    rc = call_create(ctl, a, p);
    rpc_client_on_notify(ctl->client, NULL, NULL);
    if (shown)
        fputc('\n', stderr);
    return rc;
}
