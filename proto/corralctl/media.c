/* Handlers of domblklist and change-media: a VM's disks as virsh lists
 * them, and a cdrom's medium changed as virsh changes it. */
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "proto/corralctl/ctl.h"

struct blk_row {
    const char *type, *device, *target, *source;
};

static int read_blk_row(const cJSON *d, struct blk_row *row)
{
    row->type = "file";
    row->device = "disk";
    row->source = "-"; /* null: an empty tray */
    if (!cJSON_IsObject(d) || ctl_reply_str(d, "target", true, &row->target) < 0 ||
        ctl_reply_str(d, "source", false, &row->source) < 0 ||
        ctl_reply_str(d, "type", false, &row->type) < 0 ||
        ctl_reply_str(d, "device", false, &row->device) < 0)
        return -1;
    return 0;
}

/* virsh's table: a leading space, columns three spaces apart, a rule. */
static void print_blk_table(const struct blk_row *rows, size_t n, bool details)
{
    int wty = 4, wd = 6, wt = 6, ws = 6;

    for (size_t i = 0; i < n; i++) {
        wty = ctl_width(rows[i].type, wty);
        wd = ctl_width(rows[i].device, wd);
        wt = ctl_width(rows[i].target, wt);
        ws = ctl_width(rows[i].source, ws);
    }
    if (details) {
        printf(" %-*s   %-*s   %-*s   %s\n", wty, "Type", wd, "Device", wt, "Target", "Source");
        ctl_print_rule(1 + wty + 3 + wd + 3 + wt + 3 + ws);
    } else {
        printf(" %-*s   %s\n", wt, "Target", "Source");
        ctl_print_rule(1 + wt + 3 + ws);
    }
    for (size_t i = 0; i < n; i++) {
        if (details)
            printf(" %-*s   %-*s   %-*s   %s\n", wty, rows[i].type, wd, rows[i].device, wt,
                   rows[i].target, rows[i].source);
        else
            printf(" %-*s   %s\n", wt, rows[i].target, rows[i].source);
    }
}

int ctl_run_domblklist(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *r = ctl_call(ctl, a->verb->method, ctl_name_params(a->argv[0]));
    const cJSON *disks, *d;
    struct blk_row *rows;
    size_t n = 0;
    int status = CTL_EXIT_OK;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    disks = cJSON_GetObjectItemCaseSensitive(r, "disks");
    if (!cJSON_IsArray(disks)) {
        cJSON_Delete(r);
        return ctl_unexpected();
    }
    if (ctl->json) {
        status = ctl_print_json(disks, true);
        cJSON_Delete(r);
        return status;
    }
    rows = xcalloc((size_t)cJSON_GetArraySize(disks) + 1, sizeof(*rows));
    cJSON_ArrayForEach(d, disks)
    {
        if (read_blk_row(d, &rows[n++]) < 0) {
            status = ctl_unexpected();
            break;
        }
    }
    if (status == CTL_EXIT_OK)
        print_blk_table(rows, n, ctl_opt(a, "details") != 0);
    free(rows);
    cJSON_Delete(r);
    return status;
}

int ctl_run_change_media(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const done[] = {"ejected", "inserted", "updated"};
    const char *mode = "update", *file = a->argc > 2 ? a->argv[2] : NULL;
    int m = 2;
    cJSON *p, *r;

    if (ctl_opt(a, "eject")) {
        mode = "eject";
        m = 0;
        if (file != NULL)
            return ctl_usage_error(a->verb, "--eject takes no source");
    } else if (ctl_opt(a, "insert")) {
        mode = "insert";
        m = 1;
        if (file == NULL)
            return ctl_usage_error(a->verb, "No source is given for inserting media");
    }
    /* virsh: --update without a source ejects. */
    p = ctl_name_params(a->argv[0]);
    json_add_str(p, "disk", a->argv[1]);
    if (file != NULL)
        json_add_str(p, "file", file);
    json_add_str(p, "mode", mode);
    json_add_bool(p, "force", ctl_opt(a, "force") != 0);
    json_add_bool(p, "live", ctl_opt(a, "live") != 0);
    json_add_bool(p, "config", ctl_opt(a, "config") != 0);
    r = ctl_call(ctl, a->verb->method, p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    if (ctl->json)
        ctl_print_json(r, true);
    else
        printf("Successfully %s media.\n", file == NULL && m == 2 ? "ejected" : done[m]);
    cJSON_Delete(r);
    return CTL_EXIT_OK;
}
