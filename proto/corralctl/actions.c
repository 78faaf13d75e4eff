/* Handlers of the verbs that change a VM, and of qemu-monitor-command. */
#include <stdlib.h>
#include <string.h>

#include "proto/corralctl/ctl.h"
#include "common/json.h"

/* How much longer than the guest's time to power off we wait for the
 * broker's reply. */
#define SHUTDOWN_MARGIN_S 30

/* Verbs whose whole job is one call on a VM and one line of output. */
int ctl_run_simple(struct ctl *ctl, const struct ctl_args *a)
{
    const char *name = a->argv[0];
    cJSON *r = ctl_call(ctl, a->verb->method, ctl_name_params(name));
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = ctl_done(ctl, r, name, a->verb->done);
    cJSON_Delete(r);
    return status;
}

/* One call on the VM named first, with params (consumed), and the verb's
 * line of output. */
static int call_done(struct ctl *ctl, const struct ctl_args *a, cJSON *p)
{
    cJSON *r = ctl_call(ctl, a->verb->method, p);
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = ctl_done(ctl, r, a->argv[0], a->verb->done);
    cJSON_Delete(r);
    return status;
}

int ctl_run_start(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *p = ctl_name_params(a->argv[0]);

    if (ctl_opt(a, "paused") != 0)
        json_add_bool(p, "paused", true);
    return call_done(ctl, a, p);
}

int ctl_run_reboot(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *p = ctl_name_params(a->argv[0]);
    const char *mode = ctl_opt_str(a, "mode");

    if (mode != NULL)
        json_add_str(p, "mode", mode);
    return call_done(ctl, a, p);
}

int ctl_run_autostart(struct ctl *ctl, const struct ctl_args *a)
{
    bool disable = ctl_opt(a, "disable") != 0;
    cJSON *p = ctl_name_params(a->argv[0]), *r;
    int status;

    json_add_bool(p, "disable", disable);
    r = ctl_call(ctl, a->verb->method, p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    status =
        ctl_done(ctl, r, a->argv[0], disable ? "unmarked as autostarted" : "marked as autostarted");
    cJSON_Delete(r);
    return status;
}

/* virsh's lines for the images undefine --remove-all-storage removed,
 * and an error for each it kept. */
static int print_storage(const cJSON *r)
{
    const cJSON *removed = cJSON_GetObjectItemCaseSensitive(r, "removed");
    const cJSON *kept = cJSON_GetObjectItemCaseSensitive(r, "kept"), *o;
    int status = CTL_EXIT_OK;

    if ((removed != NULL && !cJSON_IsArray(removed)) || (kept != NULL && !cJSON_IsArray(kept)))
        return ctl_unexpected();
    cJSON_ArrayForEach(o, removed)
    {
        const char *target, *source;
        if (ctl_reply_str(o, "target", true, &target) < 0 ||
            ctl_reply_str(o, "source", true, &source) < 0)
            return ctl_unexpected();
        printf("Volume '%s'(%s) removed.\n", target, source);
    }
    cJSON_ArrayForEach(o, kept)
    {
        const char *target, *source, *why;
        if (ctl_reply_str(o, "target", true, &target) < 0 ||
            ctl_reply_str(o, "source", true, &source) < 0 ||
            ctl_reply_str(o, "why", true, &why) < 0)
            return ctl_unexpected();
        status = ctl_error("Failed to remove storage volume '%s'(%s): %s", target, source, why);
    }
    return status;
}

int ctl_run_undefine(struct ctl *ctl, const struct ctl_args *a)
{
    const char *name = a->argv[0];
    cJSON *p = ctl_name_params(name), *r;
    int status;

    if (ctl_opt(a, "nvram") != 0)
        json_add_bool(p, "nvram", true);
    if (ctl_opt(a, "keep-nvram") != 0)
        json_add_bool(p, "keep_nvram", true);
    if (ctl_opt(a, "snapshots-metadata") != 0)
        json_add_bool(p, "snapshots_metadata", true);
    if (ctl_opt(a, "remove-all-storage") != 0)
        json_add_bool(p, "remove_all_storage", true);
    r = ctl_call(ctl, a->verb->method, p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = ctl_done(ctl, r, name, a->verb->done);
    if (status == CTL_EXIT_OK && !ctl->json)
        status = print_storage(r);
    cJSON_Delete(r);
    return status;
}

static int print_defined(const struct ctl *ctl, const cJSON *r, const char *file)
{
    const cJSON *warnings, *w;
    const char *name;

    if (ctl_reply_str(r, "name", true, &name) < 0 ||
        ctl_reply_strings(r, "warnings", &warnings) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    printf("Domain '%s' defined from %s\n", name, file);
    cJSON_ArrayForEach(w, warnings)
    {
        fprintf(stderr, "warning: %s\n", w->valuestring);
    }
    return CTL_EXIT_OK;
}

int ctl_run_define(struct ctl *ctl, const struct ctl_args *a)
{
    const char *file = a->argv[0];
    char *xml = ctl_read_xml(file, "domain");
    cJSON *p, *r;
    int status;

    if (xml == NULL)
        return CTL_EXIT_ERROR;
    p = json_obj();
    json_add_str(p, "xml", xml);
    free(xml);
    r = ctl_call(ctl, a->verb->method, p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = print_defined(ctl, r, file);
    cJSON_Delete(r);
    return status;
}

int ctl_run_shutdown(struct ctl *ctl, const struct ctl_args *a)
{
    const char *name = a->argv[0];
    long long wait_s = ctl_opt(a, "timeout");
    int timeout_ms = ctl->timeout_ms;
    cJSON *p = ctl_name_params(name), *r;
    int status;

    /* The broker answers only once the guest is off or wait_s has passed,
     * so our own wait must be longer. */
    if (timeout_ms >= 0 && timeout_ms < (wait_s + SHUTDOWN_MARGIN_S) * 1000)
        timeout_ms = (int)(wait_s + SHUTDOWN_MARGIN_S) * 1000;
    json_add_num(p, "timeout", (double)wait_s);
    if (ctl_opt_str(a, "mode") != NULL)
        json_add_str(p, "mode", ctl_opt_str(a, "mode"));
    r = ctl_call_ms(ctl, a->verb->method, p, timeout_ms);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = ctl_done(ctl, r, name, wait_s == 0 ? "is being shutdown" : "is shut off");
    cJSON_Delete(r);
    return status;
}

/* Parses the user's QMP command; NULL after printing why. */
static cJSON *parse_qmp_command(const char *text)
{
    struct cerr e;
    cJSON *cmd;

    cerr_clear(&e);
    cmd = json_parse(text, strlen(text), &e);
    if (cmd == NULL) {
        ctl_error("the QMP command is not valid JSON (%s); expected an object such as "
                  "'{\"execute\":\"query-status\"}'",
                  e.msg);
        return NULL;
    }
    if (!cJSON_IsObject(cmd)) {
        cJSON_Delete(cmd);
        ctl_error("the QMP command must be a JSON object such as "
                  "'{\"execute\":\"query-status\"}'");
        return NULL;
    }
    return cmd;
}

static int print_qmp_reply(const struct ctl *ctl, const cJSON *r, bool pretty)
{
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(r, "reply");
    int status;

    if (!cJSON_IsObject(reply))
        return ctl_unexpected();
    status = ctl_print_json(ctl->json ? r : reply, ctl->json || pretty);
    /* QEMU's refusal still printed, but scripts see it in the status. */
    if (status == CTL_EXIT_OK && cJSON_HasObjectItem(reply, "error"))
        status = CTL_EXIT_ERROR;
    return status;
}

int ctl_run_qmp(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *cmd = parse_qmp_command(a->argv[1]), *p, *r;
    int status;

    if (cmd == NULL)
        return CTL_EXIT_ERROR;
    p = ctl_name_params(a->argv[0]);
    json_add(p, "command", cmd);
    r = ctl_call(ctl, a->verb->method, p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = print_qmp_reply(ctl, r, ctl_opt(a, "pretty") != 0);
    cJSON_Delete(r);
    return status;
}
