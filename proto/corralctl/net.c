/* domiflist and domifaddr: a VM's network interfaces and their addresses,
 * in virsh's tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "proto/corralctl/ctl.h"

/* One interface of a reply, borrowed from it; "-" for what it lacks. */
struct if_row {
    const char *interface, *type, *source, *model, *mac;
    const cJSON *addrs;
};

/* A string member, a null one ("-"), or -1 for anything else. */
static int str_or_dash(const cJSON *o, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (v == NULL || cJSON_IsNull(v)) {
        *out = "-";
        return 0;
    }
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring;
    return 0;
}

/* The rows of r's "interfaces" (malloc'd, *n of them), or NULL when the
 * reply is not one; with_addrs reads vm.ifaddr's shape, else vm.iflist's. */
static struct if_row *read_rows(const cJSON *r, bool with_addrs, size_t *n)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r, "interfaces"), *o;
    struct if_row *rows;

    if (!cJSON_IsArray(list))
        return NULL;
    rows = xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*rows));
    *n = 0;
    cJSON_ArrayForEach(o, list)
    {
        struct if_row *w = &rows[(*n)++];

        if (str_or_dash(o, "interface", &w->interface) < 0 || str_or_dash(o, "mac", &w->mac) < 0)
            goto bad;
        if (with_addrs) {
            w->addrs = cJSON_GetObjectItemCaseSensitive(o, "addrs");
            if (!cJSON_IsArray(w->addrs))
                goto bad;
        } else if (str_or_dash(o, "type", &w->type) < 0 ||
                   str_or_dash(o, "source", &w->source) < 0 ||
                   str_or_dash(o, "model", &w->model) < 0)
            goto bad;
    }
    return rows;
bad:
    free(rows);
    return NULL;
}

static int show_iflist(const struct ctl *ctl, const cJSON *r)
{
    int wi = 9, wt = 4, ws = 6, wm = 5;
    struct if_row *rows;
    size_t n;

    rows = read_rows(r, false, &n);
    if (rows == NULL)
        return ctl_unexpected();
    if (ctl->json) {
        free(rows);
        return ctl_print_json(r, true);
    }
    for (size_t i = 0; i < n; i++) {
        wi = ctl_width(rows[i].interface, wi);
        wt = ctl_width(rows[i].type, wt);
        ws = ctl_width(rows[i].source, ws);
        wm = ctl_width(rows[i].model, wm);
    }
    printf(" %-*s   %-*s   %-*s   %-*s   %s\n", wi, "Interface", wt, "Type", ws, "Source", wm,
           "Model", "MAC");
    ctl_print_rule(1 + wi + 3 + wt + 3 + ws + 3 + wm + 3 + 17);
    for (size_t i = 0; i < n; i++)
        printf(" %-*s   %-*s   %-*s   %-*s   %s\n", wi, rows[i].interface, wt, rows[i].type, ws,
               rows[i].source, wm, rows[i].model, rows[i].mac);
    free(rows);
    return CTL_EXIT_OK;
}

/* One line per address; an interface without any gets none, as in virsh. */
static int show_ifaddr(const struct ctl *ctl, const cJSON *r)
{
    struct if_row *rows;
    size_t n;
    int status = CTL_EXIT_OK;

    rows = read_rows(r, true, &n);
    if (rows == NULL)
        return ctl_unexpected();
    if (ctl->json) {
        free(rows);
        return ctl_print_json(r, true);
    }
    printf(" %-10s %-17s    %-12s %s\n", "Name", "MAC address", "Protocol", "Address");
    ctl_print_rule(79);
    for (size_t i = 0; i < n && status == CTL_EXIT_OK; i++) {
        const cJSON *a;

        cJSON_ArrayForEach(a, rows[i].addrs)
        {
            const char *type, *addr;
            long long prefix;

            if (ctl_reply_str(a, "type", true, &type) < 0 ||
                ctl_reply_str(a, "addr", true, &addr) < 0 ||
                ctl_reply_int(a, "prefix", true, &prefix) < 0) {
                status = ctl_unexpected();
                break;
            }
            printf(" %-10s %-17s    %-12s %s/%lld\n", rows[i].interface, rows[i].mac, type, addr,
                   prefix);
        }
    }
    free(rows);
    return status;
}

int ctl_run_domiflist(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *r = ctl_call(ctl, a->verb->method, ctl_name_params(a->argv[0]));
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_iflist(ctl, r);
    cJSON_Delete(r);
    return status;
}

int ctl_run_domifaddr(struct ctl *ctl, const struct ctl_args *a)
{
    const char *source = ctl_opt_str(a, "source");
    cJSON *p = ctl_name_params(a->argv[0]), *r;
    int status;

    if (source != NULL && strcmp(source, "lease") != 0 && strcmp(source, "arp") != 0 &&
        strcmp(source, "agent") != 0) {
        cJSON_Delete(p);
        return ctl_usage_error(a->verb, "--source must be lease, arp or agent, not %s", source);
    }
    if (source != NULL)
        json_add_str(p, "source", source);
    r = ctl_call(ctl, a->verb->method, p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_ifaddr(ctl, r);
    cJSON_Delete(r);
    return status;
}
