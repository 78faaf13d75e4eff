#include "common/runrec.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"

/* Plausible pids and start times only; "not said" otherwise. */
static pid_t get_pid(const cJSON *j, const char *key)
{
    unsigned long long n;

    return json_get_uint(j, key, INT_MAX, &n) == 0 ? (pid_t)n : 0;
}

static unsigned long long get_ull(const cJSON *j, const char *key)
{
    unsigned long long n;

    return json_get_uint(j, key, JSON_UINT_MAX, &n) == 0 ? n : 0;
}

int runrec_run_write(const char *run_dir, const char *name, const struct runrec_run *r,
                     struct cerr *e)
{
    char *path = xasprintf("%s/" RUNREC_RUN_FILE, run_dir);
    char *control = xasprintf("%s/control.sock", run_dir);
    char *qmp = xasprintf("%s/qmp.sock", run_dir);
    cJSON *j = json_obj();
    int rc;

    json_add_str(j, "name", name);
    json_add_num(j, "protocol", r->protocol);
    json_add_num(j, "supervisor_pid", r->supervisor_pid);
    json_add_num(j, "supervisor_start", (double)r->supervisor_start);
    json_add_num(j, "qemu_pid", r->qemu_pid);
    json_add_num(j, "qemu_start", (double)r->qemu_start);
    json_add_bool(j, "maintenance", r->maintenance);
    json_add_bool(j, "adopted", r->adopted);
    json_add_num(j, "started", (double)r->started);
    json_add_str(j, "control_socket", control);
    json_add_str(j, "qmp_socket", qmp);
    /* The run directory does not outlive a reboot: whole after a crash is
     * all it needs, not synced. */
    rc = json_replace_file(path, j, 0640, e);
    cJSON_Delete(j);
    free(qmp);
    free(control);
    free(path);
    return rc;
}

int runrec_run_remove(const char *run_dir, struct cerr *e)
{
    char *path = xasprintf("%s/" RUNREC_RUN_FILE, run_dir);
    int rc = file_remove_unsynced(path, e);

    free(path);
    return rc;
}

void runrec_run_parse(const cJSON *j, struct runrec_run *r)
{
    unsigned long long proto;

    r->protocol = json_get_uint(j, "protocol", INT_MAX, &proto) == 0 ? (int)proto : -1;
    r->supervisor_pid = get_pid(j, "supervisor_pid");
    r->qemu_pid = get_pid(j, "qemu_pid");
    r->supervisor_start = get_ull(j, "supervisor_start");
    r->qemu_start = get_ull(j, "qemu_start");
    r->maintenance = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "maintenance"));
    r->adopted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "adopted"));
    r->started = (time_t)get_ull(j, "started");
}

int runrec_exit_write(const char *vm_dir, const struct runrec_exit *x, struct cerr *e)
{
    char *path = xasprintf("%s/" RUNREC_EXIT_FILE, vm_dir);
    cJSON *j = runrec_exit_to_json(x);
    int rc = json_write_file(path, j, 0640, e);

    cJSON_Delete(j);
    free(path);
    return rc;
}

static bool copy_str(const cJSON *j, const char *key, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

    if (!cJSON_IsString(v) || strlen(v->valuestring) >= len)
        return false;
    snprintf(buf, len, "%s", v->valuestring);
    return true;
}

bool runrec_exit_parse(const cJSON *j, struct runrec_exit *x)
{
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(j, "signaled");
    const char *code_key = cJSON_IsTrue(sig) ? "signal" : "status";
    unsigned long long n;

    memset(x, 0, sizeof(*x));
    if (!copy_str(j, "state", x->state, sizeof(x->state)) ||
        !copy_str(j, "reason", x->reason, sizeof(x->reason)) ||
        json_get_uint(j, "time", JSON_UINT_MAX, &n) < 0)
        return false;
    x->time = (time_t)n;
    if (cJSON_GetObjectItemCaseSensitive(j, "qemu_pid") != NULL) {
        x->qemu_pid = get_pid(j, "qemu_pid");
        if (x->qemu_pid == 0)
            return false;
    }
    if (sig != NULL) {
        if (!cJSON_IsBool(sig) || json_get_uint(j, code_key, 255, &n) < 0)
            return false;
        x->code_known = true;
        x->signaled = cJSON_IsTrue(sig);
        x->code = (int)n;
    }
    return true;
}

cJSON *runrec_exit_to_json(const struct runrec_exit *x)
{
    cJSON *j = json_obj();

    json_add_str(j, "state", x->state);
    json_add_str(j, "reason", x->reason);
    json_add_num(j, "time", (double)x->time);
    if (x->qemu_pid > 0)
        json_add_num(j, "qemu_pid", x->qemu_pid);
    if (x->code_known) {
        json_add_bool(j, "signaled", x->signaled);
        json_add_num(j, x->signaled ? "signal" : "status", x->code);
    }
    return j;
}

char *runrec_status_format(const cJSON *info, const struct cerr *failure, size_t *len)
{
    cJSON *m = json_obj();
    char *text, *line;
    size_t n;

    json_add_bool(m, "ok", failure == NULL);
    if (failure != NULL) {
        json_add_num(m, "code", failure->code);
        json_add_str(m, "message", failure->msg);
    } else if (info != NULL)
        json_add(m, "info", json_dup(info));
    text = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    if (text == NULL)
        return NULL;
    n = strlen(text);
    line = xcalloc(1, n + 2);
    memcpy(line, text, n);
    line[n] = '\n';
    cJSON_free(text);
    *len = n + 1;
    return line;
}

/* A failure's code as the supervisor says it, when it is one of the
 * protocol's error codes: anything else (0, a made-up number) would reach
 * the user as an undocumented code or as no error at all. */
static enum corral_err status_code(const cJSON *code)
{
    enum corral_err c;

    if (!cJSON_IsNumber(code))
        return CE_SUPERVISOR;
    c = (enum corral_err)code->valueint;
    return c == CE_OK || strcmp(cerr_name(c), "unknown") == 0 ? CE_SUPERVISOR : c;
}

int runrec_status_parse(const char *line, size_t len, cJSON **info, struct cerr *failure)
{
    cJSON *st = json_parse(line, len, failure);
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(st, "ok");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(st, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(st, "message");
    int rc = 0;

    *info = NULL;
    if (!cJSON_IsBool(ok)) {
        cerr_set(failure, CE_SUPERVISOR, "malformed start-up status");
        rc = -1;
    } else if (cJSON_IsTrue(ok)) {
        *info = cJSON_DetachItemFromObjectCaseSensitive(st, "info");
        rc = 1;
    } else
        cerr_set(failure, status_code(code), "%s",
                 cJSON_IsString(msg) && msg->valuestring[0] != '\0' ? msg->valuestring
                                                                    : "start-up failed");
    cJSON_Delete(st);
    return rc;
}

pid_t runrec_status_qemu_pid(const cJSON *info)
{
    return get_pid(info, "qemu_pid");
}
