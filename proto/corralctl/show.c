/* Handlers of the verbs that print what the server knows: list, domstate,
 * dominfo and hello.  Each reads the whole reply before printing anything,
 * so that a malformed one produces an error and no half-printed table. */
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "proto/corralctl/ctl.h"
#include "common/json.h"

struct vm_row {
    const char *name, *state, *uuid;
    long long pid; /* QEMU's, -1 when not running */
    bool autostart;
};

static int read_vm_row(const cJSON *vm, struct vm_row *row)
{
    row->state = "-";
    row->uuid = "-";
    row->pid = -1;
    row->autostart = false;
    if (!cJSON_IsObject(vm) || ctl_reply_str(vm, "name", true, &row->name) < 0 ||
        ctl_reply_str(vm, "state", false, &row->state) < 0 ||
        ctl_reply_str(vm, "uuid", false, &row->uuid) < 0 ||
        ctl_reply_int(vm, "qemu_pid", false, &row->pid) < 0 ||
        ctl_reply_bool(vm, "autostart", &row->autostart) < 0)
        return -1;
    return 0;
}

/* What list shows: the options that filter and the columns. */
struct list_opts {
    bool names, uuids;
    bool running, paused, shutoff, inactive; /* none: every state */
    bool autostart;
};

static bool listed(const struct vm_row *row, const struct list_opts *o)
{
    bool off = strcmp(row->state, "shut off") == 0;

    if (o->autostart && !row->autostart)
        return false;
    if (!o->running && !o->paused && !o->shutoff && !o->inactive)
        return true;
    return (o->running && strcmp(row->state, "running") == 0) ||
           (o->paused && strcmp(row->state, "paused") == 0) || (o->shutoff && off) ||
           (o->inactive && (off || strcmp(row->state, "crashed") == 0));
}

/* virsh's table: one space before each cell, columns two spaces apart
 * beyond the widest cell, a rule three dashes wider than each column, and
 * an empty line at the end. */
static void print_vm_table(const struct vm_row *rows, size_t n)
{
    int wi = 2, wn = 4, ws = 5;
    char(*ids)[24] = xcalloc(n + 1, sizeof(*ids));

    for (size_t i = 0; i < n; i++) {
        if (rows[i].pid > 0)
            snprintf(ids[i], sizeof(ids[i]), "%lld", rows[i].pid);
        else
            snprintf(ids[i], sizeof(ids[i]), "-");
        wi = ctl_width(ids[i], wi);
        wn = ctl_width(rows[i].name, wn);
        ws = ctl_width(rows[i].state, ws);
    }
    printf(" %-*s   %-*s   %s\n", wi, "Id", wn, "Name", "State");
    ctl_print_rule(wi + 3 + wn + 3 + ws + 3);
    for (size_t i = 0; i < n; i++)
        printf(" %-*s   %-*s   %s\n", wi, ids[i], wn, rows[i].name, rows[i].state);
    putchar('\n');
    free(ids);
}

static void print_vm_rows(const struct vm_row *rows, size_t n, const struct list_opts *o)
{
    if (!o->names && !o->uuids) {
        print_vm_table(rows, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (o->names && o->uuids)
            printf("%-36s %s\n", rows[i].uuid, rows[i].name);
        else
            puts(o->uuids ? rows[i].uuid : rows[i].name);
    }
    putchar('\n');
}

static int show_list(const struct ctl *ctl, const cJSON *r, const struct list_opts *o)
{
    const cJSON *vms = cJSON_GetObjectItemCaseSensitive(r, "vms"), *vm;
    struct vm_row *rows;
    size_t n = 0;

    if (!cJSON_IsArray(vms))
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    rows = xcalloc((size_t)cJSON_GetArraySize(vms) + 1, sizeof(*rows));
    cJSON_ArrayForEach(vm, vms)
    {
        if (read_vm_row(vm, &rows[n]) < 0) {
            free(rows);
            return ctl_unexpected();
        }
        if (listed(&rows[n], o))
            n++;
    }
    print_vm_rows(rows, n, o);
    free(rows);
    return CTL_EXIT_OK;
}

/* The next of a page: NULL on the last; -1 when it is neither. */
static int page_next(const cJSON *r, const char *key, const char **next)
{
    const cJSON *nx = cJSON_GetObjectItemCaseSensitive(r, "next");

    *next = NULL;
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, key)))
        return -1;
    if (cJSON_IsString(nx))
        *next = nx->valuestring;
    else if (nx != NULL && !cJSON_IsNull(nx))
        return -1;
    return 0;
}

cJSON *ctl_call_pages(struct ctl *ctl, const char *method, cJSON *params, const char *key)
{
    cJSON *r = ctl_call(ctl, method, json_dup(params)), *page = NULL;
    const char *next;

    while (r != NULL) {
        cJSON *into = cJSON_GetObjectItemCaseSensitive(r, key), *p;

        if (page_next(page != NULL ? page : r, key, &next) < 0) {
            ctl_unexpected();
            break;
        }
        if (page != NULL) {
            cJSON *items = cJSON_GetObjectItemCaseSensitive(page, key);

            while (items->child != NULL)
                json_arr_add(into, cJSON_DetachItemViaPointer(items, items->child));
        }
        if (next == NULL) {
            cJSON_DeleteItemFromObjectCaseSensitive(r, "next");
            cJSON_Delete(page);
            cJSON_Delete(params);
            return r;
        }
        p = json_dup(params);
        json_add_str(p, "after", next);
        cJSON_Delete(page);
        if ((page = ctl_call(ctl, method, p)) == NULL)
            break;
    }
    cJSON_Delete(page);
    cJSON_Delete(r);
    cJSON_Delete(params);
    return NULL;
}

int ctl_run_list(struct ctl *ctl, const struct ctl_args *a)
{
    struct list_opts o = {
        .names = ctl_opt(a, "name") != 0,
        .uuids = ctl_opt(a, "uuid") != 0,
        .running = ctl_opt(a, "state-running") != 0,
        .paused = ctl_opt(a, "state-paused") != 0,
        .shutoff = ctl_opt(a, "state-shutoff") != 0,
        .inactive = ctl_opt(a, "inactive") != 0,
        .autostart = ctl_opt(a, "autostart") != 0,
    };
    cJSON *p = json_obj(), *r;
    int status;

    /* A filter on states names the states it wants, inactive ones too. */
    json_add_bool(p, "all",
                  ctl_opt(a, "all") != 0 || o.shutoff || o.inactive || o.running || o.paused);
    r = ctl_call_pages(ctl, a->verb->method, p, "vms");
    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_list(ctl, r, &o);
    cJSON_Delete(r);
    return status;
}

static int show_state(const struct ctl *ctl, const cJSON *r, bool with_reason)
{
    const char *state, *reason = NULL;

    if (ctl_reply_str(r, "state", true, &state) < 0 ||
        ctl_reply_str(r, "reason", false, &reason) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    if (with_reason && reason != NULL)
        printf("%s (%s)\n", state, reason);
    else
        puts(state);
    return CTL_EXIT_OK;
}

int ctl_run_domstate(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *r = ctl_call(ctl, a->verb->method, ctl_name_params(a->argv[0]));
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_state(ctl, r, ctl_opt(a, "reason") != 0);
    cJSON_Delete(r);
    return status;
}

/* dominfo's key/value lines, in order: virsh's first, in virsh's order,
 * then corral's own.  INFO_ID is virsh's Id (QEMU's pid, or "-");
 * INFO_CONST prints key itself. */
enum info_type {
    INFO_STR,
    INFO_INT,
    INFO_KIB,
    INFO_CPU,
    INFO_FW,
    INFO_PENDING,
    INFO_ENABLE,
    INFO_ID,
    INFO_CONST
};

static const struct info_field {
    const char *label, *key;
    enum info_type type;
} info_fields[] = {
    {"Id", "qemu_pid", INFO_ID},
    {"Name", "name", INFO_STR},
    {"UUID", "uuid", INFO_STR},
    {"OS Type", "hvm", INFO_CONST},
    {"State", "state", INFO_STR},
    {"CPU(s)", "vcpus", INFO_INT},
    {"Max memory", "memory_kib", INFO_KIB},
    {"Used memory", "current_memory_kib", INFO_KIB},
    /* corral keeps every VM's definition: none is transient. */
    {"Persistent", "yes", INFO_CONST},
    {"Autostart", "autostart", INFO_ENABLE},
    {"Reason", "reason", INFO_STR},
    {"Virt type", "virt", INFO_STR},
    {"CPU model", "cpu", INFO_CPU},
    {"Machine", "machine", INFO_STR},
    {"Emulator", "emulator", INFO_STR},
    {"Firmware", "firmware", INFO_FW},
    {"Supervisor PID", "supervisor_pid", INFO_INT},
    {"QEMU PID", "qemu_pid", INFO_INT},
    {"Control socket", "control_socket", INFO_STR},
    {"QMP socket", "qmp_socket", INFO_STR},
    {"Supervisor restarts", "supervisor_restarts", INFO_INT},
    {"Re-attached", "reattached", INFO_INT},
    {"Persistent changes", "pending_changes", INFO_PENDING},
};

#define NINFO (sizeof(info_fields) / sizeof(info_fields[0]))
#define INFO_VALUE_MAX 32

/* One field's text; value NULL when the reply lacks the field. */
struct info_value {
    const char *value;
    const char *detail; /* shown in parentheses after value, or NULL */
    char num[INFO_VALUE_MAX];
};

/* Room for a value with its detail: a path, at most 4096 bytes. */
#define INFO_LINE_MAX 4200

/* "efi (LOADER)" or "bios". */
static int read_firmware(const cJSON *r, const char *key, struct info_value *v)
{
    const cJSON *fw = cJSON_GetObjectItemCaseSensitive(r, key);
    const char *type = NULL, *loader = NULL;

    if (fw == NULL)
        return 0;
    if (!cJSON_IsObject(fw) || ctl_reply_str(fw, "type", true, &type) < 0 ||
        ctl_reply_str(fw, "loader", false, &loader) < 0)
        return -1;
    v->value = type;
    v->detail = loader;
    return 0;
}

static int read_info_field(const cJSON *r, const struct info_field *f, struct info_value *v)
{
    long long n = -1;

    v->value = NULL;
    v->detail = NULL;
    if (f->type == INFO_PENDING) {
        /* A definition given while the VM runs, used at its next start. */
        bool pending = false;
        if (ctl_reply_bool(r, f->key, &pending) < 0)
            return -1;
        v->value = pending ? "pending" : NULL;
        return 0;
    }
    if (f->type == INFO_ENABLE) {
        /* virsh's words; absent from a supervisor's own answer. */
        bool on = false;
        if (ctl_reply_bool(r, f->key, &on) < 0)
            return -1;
        if (cJSON_HasObjectItem(r, f->key))
            v->value = on ? "enable" : "disable";
        return 0;
    }
    if (f->type == INFO_STR)
        return ctl_reply_str(r, f->key, false, &v->value);
    if (f->type == INFO_CONST) {
        v->value = f->key;
        return 0;
    }
    if (f->type == INFO_ID) {
        if (ctl_reply_int(r, f->key, false, &n) < 0)
            return -1;
        if (n > 0)
            snprintf(v->num, sizeof(v->num), "%lld", n);
        v->value = n > 0 ? v->num : "-";
        return 0;
    }
    if (f->type == INFO_CPU) {
        /* A custom model by its name, anything else by its mode. */
        const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(r, f->key);
        if (cpu == NULL)
            return 0;
        if (!cJSON_IsObject(cpu) || ctl_reply_str(cpu, "model", false, &v->value) < 0)
            return -1;
        return v->value != NULL ? 0 : ctl_reply_str(cpu, "mode", true, &v->value);
    }
    if (f->type == INFO_FW)
        return read_firmware(r, f->key, v);
    if (ctl_reply_int(r, f->key, false, &n) < 0)
        return -1;
    if (n >= 0) {
        snprintf(v->num, sizeof(v->num), f->type == INFO_KIB ? "%lld KiB" : "%lld", n);
        v->value = v->num;
    }
    return 0;
}

#define LAST_RESTART_MAX 256

/* "TIME (why)" from the last_restart member into buf, or "" when the reply
 * has none. */
static int read_last_restart(const cJSON *r, char *buf, size_t size)
{
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(r, "last_restart");
    const char *why = NULL;
    long long t = -1;
    char when[64];

    buf[0] = '\0';
    if (last == NULL || cJSON_IsNull(last))
        return 0;
    if (!cJSON_IsObject(last) || ctl_reply_int(last, "time", true, &t) < 0 ||
        ctl_reply_str(last, "why", true, &why) < 0)
        return -1;
    if (ctl_format_time(t, true, when, sizeof(when)) < 0)
        snprintf(when, sizeof(when), "%lld", t);
    snprintf(buf, size, "%s (%s)", when, why);
    return 0;
}

struct disk_row {
    const char *target, *source, *format;
    bool readonly;
};

static int read_disk(const cJSON *d, struct disk_row *row)
{
    row->format = NULL;
    row->readonly = false;
    /* null: a cdrom with no medium, shown as virsh shows it */
    row->source = "-";
    if (!cJSON_IsObject(d) || ctl_reply_str(d, "target", true, &row->target) < 0 ||
        ctl_reply_str(d, "source", false, &row->source) < 0 ||
        ctl_reply_str(d, "format", false, &row->format) < 0 ||
        ctl_reply_bool(d, "readonly", &row->readonly) < 0)
        return -1;
    return 0;
}

/* Reads the disks member into *rows (caller frees) and *n; rows stays NULL
 * when the reply has no disks member. */
static int read_disks(const cJSON *r, struct disk_row **rows, size_t *n)
{
    const cJSON *disks = cJSON_GetObjectItemCaseSensitive(r, "disks"), *d;

    *rows = NULL;
    *n = 0;
    if (disks == NULL || cJSON_IsNull(disks))
        return 0;
    if (!cJSON_IsArray(disks))
        return -1;
    *rows = xcalloc((size_t)cJSON_GetArraySize(disks), sizeof(**rows));
    cJSON_ArrayForEach(d, disks)
    {
        if (read_disk(d, &(*rows)[(*n)++]) < 0)
            return -1;
    }
    return 0;
}

static void print_disks(const struct disk_row *rows, size_t n)
{
    int wt = 0;

    puts("Disks:");
    if (n == 0)
        puts("  none");
    for (size_t i = 0; i < n; i++)
        wt = ctl_width(rows[i].target, wt);
    for (size_t i = 0; i < n; i++) {
        printf("  %-*s  %s", wt, rows[i].target, rows[i].source);
        if (rows[i].format != NULL || rows[i].readonly)
            printf(" (%s%s%s)", rows[i].format != NULL ? rows[i].format : "",
                   rows[i].format != NULL && rows[i].readonly ? ", " : "",
                   rows[i].readonly ? "read-only" : "");
        putchar('\n');
    }
}

static int show_info(const struct ctl *ctl, const cJSON *r)
{
    struct info_value values[NINFO];
    char last_restart[LAST_RESTART_MAX];
    struct disk_row *disks;
    size_t ndisks;
    int status = CTL_EXIT_OK;

    for (size_t i = 0; i < NINFO; i++)
        if (read_info_field(r, &info_fields[i], &values[i]) < 0)
            return ctl_unexpected();
    if (read_last_restart(r, last_restart, sizeof(last_restart)) < 0)
        return ctl_unexpected();
    if (read_disks(r, &disks, &ndisks) < 0)
        status = ctl_unexpected();
    else if (ctl->json)
        status = ctl_print_json(r, true);
    else {
        for (size_t i = 0; i < NINFO; i++) {
            char line[INFO_LINE_MAX];

            if (values[i].value == NULL)
                continue;
            if (values[i].detail != NULL)
                snprintf(line, sizeof(line), "%s (%s)", values[i].value, values[i].detail);
            ctl_print_kv(info_fields[i].label, values[i].detail != NULL ? line : values[i].value);
        }
        if (last_restart[0] != '\0')
            ctl_print_kv("Last restart", last_restart);
        if (disks != NULL)
            print_disks(disks, ndisks);
    }
    free(disks);
    return status;
}

int ctl_run_dominfo(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *r = ctl_call(ctl, a->verb->method, ctl_name_params(a->argv[0]));
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_info(ctl, r);
    cJSON_Delete(r);
    return status;
}

/* How a viewer reaches the display: remote-viewer's URIs, as virsh prints
 * them. */
static int show_display(const cJSON *r, const char *name)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(r, "graphics");
    const char *sock = NULL, *listen = NULL;
    long long port = 0;

    if (g == NULL || cJSON_IsNull(g))
        return ctl_error("no graphical display found for VM %s", name);
    if (!cJSON_IsObject(g) || ctl_reply_str(g, "listen", false, &listen) < 0 ||
        ctl_reply_int(g, "port", false, &port) < 0 ||
        ctl_reply_str(r, "vnc_socket", false, &sock) < 0)
        return ctl_unexpected();
    if (listen != NULL)
        printf("vnc://%s:%lld\n", listen, port - 5900);
    else if (sock != NULL)
        printf("vnc+unix://%s\n", sock);
    else
        return ctl_error("VM %s is not running: its display exists only while it does", name);
    return CTL_EXIT_OK;
}

int ctl_run_domdisplay(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *r = ctl_call(ctl, a->verb->method, ctl_name_params(a->argv[0]));
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = ctl->json ? ctl_print_json(cJSON_GetObjectItemCaseSensitive(r, "graphics"), false)
                       : show_display(r, a->argv[0]);
    cJSON_Delete(r);
    return status;
}

static void print_capabilities(const cJSON *caps)
{
    const cJSON *c;
    const char *sep = "";

    ctl_print_label("Capabilities");
    cJSON_ArrayForEach(c, caps)
    {
        printf("%s%s", sep, c->valuestring);
        sep = ", ";
    }
    putchar('\n');
}

int ctl_run_hello(struct ctl *ctl, const struct ctl_args *a)
{
    const cJSON *r = ctl->hello, *caps;
    const char *server = NULL;
    long long protocol = -1, uid = -1;
    char num[INFO_VALUE_MAX];

    if (ctl_reply_str(r, "server", false, &server) < 0 ||
        ctl_reply_int(r, "protocol", true, &protocol) < 0 ||
        ctl_reply_int(r, "uid", false, &uid) < 0 || ctl_reply_strings(r, "capabilities", &caps) < 0)
        return ctl_unexpected();
    if (ctl->json)
        return ctl_print_json(r, true);
    if (server != NULL)
        ctl_print_kv("Server", server);
    snprintf(num, sizeof(num), "%lld", protocol);
    ctl_print_kv("Protocol", num);
    if (caps != NULL)
        print_capabilities(caps);
    if (uid >= 0) {
        snprintf(num, sizeof(num), "%lld", uid);
        ctl_print_kv("UID", num);
    }
    return CTL_EXIT_OK;
}

int ctl_run_sandbox_report(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *p = json_obj(), *r;
    const char *report = NULL, *verified = NULL;
    int rc;

    json_add_str(p, "name", a->argv[0]);
    r = ctl_call(ctl, "vm.sandbox", p);
    if (r == NULL)
        return CTL_EXIT_ERROR;
    if (ctl_reply_str(r, "report", true, &report) < 0 ||
        ctl_reply_str(r, "verified", false, &verified) < 0)
        rc = ctl_unexpected();
    else if (ctl->json)
        rc = ctl_print_json(r, true);
    else {
        /* The supervisor's own words are only as trustworthy as QEMU,
         * which shares its uid: say whose each part is. */
        printf("As the supervisor reports it:\n%s", report);
        if (verified != NULL)
            printf("\nAs the broker reads it from /proc:\n%s", verified);
        rc = CTL_EXIT_OK;
    }
    cJSON_Delete(r);
    return rc;
}

/* domstats' groups (virsh's --state, --cpu-total...): the key prefixes
 * each selects. */
static const struct {
    const char *opt, *prefix;
} stat_groups[] = {
    {"state", "state."}, {"cpu-total", "cpu."}, {"balloon", "balloon."},
    {"vcpu", "vcpu."},   {"block", "block."},
};

#define NSTAT_GROUPS (sizeof(stat_groups) / sizeof(stat_groups[0]))

static bool stat_wanted(const struct ctl_args *a, const char *key)
{
    bool any = false;

    for (size_t i = 0; i < NSTAT_GROUPS; i++) {
        if (ctl_opt(a, stat_groups[i].opt) == 0)
            continue;
        any = true;
        if (strncmp(key, stat_groups[i].prefix, strlen(stat_groups[i].prefix)) == 0)
            return true;
    }
    return !any;
}

/* virsh's layout: "Domain: 'NAME'", each statistic indented as KEY=VALUE,
 * an empty line. */
static int show_domstats(const struct ctl *ctl, const struct ctl_args *a, const cJSON *r)
{
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(r, "stats"), *s;
    const char *name;

    if (ctl_reply_str(r, "name", true, &name) < 0 || !cJSON_IsObject(stats))
        return ctl_unexpected();
    cJSON_ArrayForEach(s, stats)
    {
        long long n;
        if (!cJSON_IsString(s) && ctl_reply_int(stats, s->string, true, &n) < 0)
            return ctl_unexpected();
    }
    if (ctl->json)
        return ctl_print_json(r, true);
    printf("Domain: '%s'\n", name);
    cJSON_ArrayForEach(s, stats)
    {
        if (!stat_wanted(a, s->string))
            continue;
        if (cJSON_IsString(s))
            printf("  %s=%s\n", s->string, s->valuestring);
        else
            printf("  %s=%.0f\n", s->string, s->valuedouble);
    }
    putchar('\n');
    return CTL_EXIT_OK;
}

int ctl_run_domstats(struct ctl *ctl, const struct ctl_args *a)
{
    cJSON *r = ctl_call(ctl, a->verb->method, ctl_name_params(a->argv[0]));
    int status;

    if (r == NULL)
        return CTL_EXIT_ERROR;
    status = show_domstats(ctl, a, r);
    cJSON_Delete(r);
    return status;
}
