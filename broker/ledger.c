#include "broker/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/monotime.h"
#include "proto/rpc.h"

/* Longest string member, by member: names are the protocol's (a snapshot
 * name is at most 255 bytes, a disk target far less); the detail is the
 * supervisor's formatted message, which it cuts at 1 KiB. */
#define FIELD_NAME_MAX 255
#define FIELD_TEXT_MAX 4096
#define REPORT_DISKS_MAX 64

static int check_string(const cJSON *report, const char *key, bool required, bool nullable,
                        size_t max, struct cerr *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(report, key);

    if (v == NULL && !required)
        return 0;
    if (cJSON_IsNull(v) && nullable)
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > max) {
        cerr_set(e, CE_INVALID_PARAMS, "member \"%s\" must be a string of at most %zu bytes", key,
                 max);
        return -1;
    }
    return 0;
}

static int check_disks(const cJSON *report, struct cerr *e)
{
    const cJSON *disks = cJSON_GetObjectItemCaseSensitive(report, "disks"), *d;

    if (!cJSON_IsArray(disks) || cJSON_GetArraySize(disks) > REPORT_DISKS_MAX) {
        cerr_set(e, CE_INVALID_PARAMS, "member \"disks\" must be an array of at most %d names",
                 REPORT_DISKS_MAX);
        return -1;
    }
    cJSON_ArrayForEach(d, disks)
    {
        if (!cJSON_IsString(d) || strlen(d->valuestring) > FIELD_NAME_MAX) {
            cerr_set(e, CE_INVALID_PARAMS,
                     "member \"disks\" must hold disk names of at most %d bytes", FIELD_NAME_MAX);
            return -1;
        }
    }
    return 0;
}

static int check_members(const cJSON *report, struct cerr *e)
{
    static const char *const known[] = {"vm",  "snapshot", "kind", "disks",          "detail",
                                        "job", "time",     "seq",  "reported_before"};
    const cJSON *m;

    cJSON_ArrayForEach(m, report)
    {
        size_t i = 0;
        while (i < sizeof(known) / sizeof(known[0]) && strcmp(known[i], m->string) != 0)
            i++;
        if (i == sizeof(known) / sizeof(known[0])) {
            cerr_set(e, CE_INVALID_PARAMS, "unknown member \"%.64s\"", m->string);
            return -1;
        }
    }
    return 0;
}

static int check_seq(const cJSON *report, long long *seq, struct cerr *e)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(report, "seq");
    unsigned long long n;

    /* -1: the supervisor could not journal it, and says so. */
    if (cJSON_IsNumber(s) && s->valuedouble == -1.0) {
        *seq = -1;
        return 0;
    }
    if (json_get_uint(report, "seq", JSON_UINT_MAX, &n) < 0) {
        cerr_set(e, CE_INVALID_PARAMS,
                 "member \"seq\" must be -1 or a whole number from 0 to 2^53");
        return -1;
    }
    *seq = (long long)n;
    return 0;
}

int ledger_check_report(const cJSON *report, const char *vm_name, long long *seq, struct cerr *e)
{
    const cJSON *vm = cJSON_GetObjectItemCaseSensitive(report, "vm");
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(report, "reported_before");
    unsigned long long t;
    long long n;
    size_t len;
    char *text;

    if (!cJSON_IsObject(report)) {
        cerr_set(e, CE_INVALID_PARAMS, "a report must be an object");
        return -1;
    }
    text = cJSON_PrintUnformatted(report);
    if (text == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory measuring a report");
        return -1;
    }
    len = strlen(text);
    cJSON_free(text);
    if (len > LEDGER_REPORT_MAX) {
        cerr_set(e, CE_TOO_LARGE, "report of %zu bytes exceeds the limit of %d bytes", len,
                 LEDGER_REPORT_MAX);
        return -1;
    }
    if (check_members(report, e) < 0 || check_seq(report, &n, e) < 0 ||
        check_string(report, "snapshot", true, true, FIELD_NAME_MAX, e) < 0 ||
        check_string(report, "kind", true, false, FIELD_NAME_MAX, e) < 0 ||
        check_string(report, "job", false, false, FIELD_NAME_MAX, e) < 0 ||
        check_string(report, "detail", true, false, FIELD_TEXT_MAX, e) < 0 ||
        check_disks(report, e) < 0)
        return -1;
    if (!cJSON_IsString(vm) || strcmp(vm->valuestring, vm_name) != 0) {
        cerr_set(e, CE_INVALID_PARAMS, "member \"vm\" must name the VM, %s", vm_name);
        return -1;
    }
    if (json_get_uint(report, "time", JSON_UINT_MAX, &t) < 0) {
        cerr_set(e, CE_INVALID_PARAMS, "member \"time\" must be a whole number of seconds");
        return -1;
    }
    if (before != NULL && !cJSON_IsBool(before)) {
        cerr_set(e, CE_INVALID_PARAMS, "member \"reported_before\" must be true or false");
        return -1;
    }
    *seq = n;
    return 0;
}

double ledger_now(void)
{
    long long ms = monotime_ms();

    /* Without a clock, reports wait rather than pass the rate. */
    return ms < 0 ? -1.0 : (double)ms / 1000.0;
}

bool ledger_take(struct ledger_bucket *bk, double now)
{
    if (now < 0.0)
        return false;
    if (bk->last == 0.0)
        bk->tokens = LEDGER_BURST;
    else if (now > bk->last)
        bk->tokens += (now - bk->last) * LEDGER_RATE;
    if (bk->tokens > LEDGER_BURST)
        bk->tokens = LEDGER_BURST;
    bk->last = now;
    if (bk->tokens < 1.0)
        return false;
    bk->tokens -= 1.0;
    return true;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The reports of the array, one line each, in one malloc'd buffer. */
static char *serialize_all(const cJSON *reports, size_t *len, struct cerr *e)
{
    char *buf = NULL;
    size_t cap = 0;
    const cJSON *r;

    *len = 0;
    cJSON_ArrayForEach(r, reports)
    {
        size_t n;
        char *line = rpc_serialize(r, &n, e);

        if (line == NULL) {
            free(buf);
            return NULL;
        }
        if (*len + n > cap) {
            cap = (*len + n) * 2;
            buf = xreallocarray(buf, cap, 1);
        }
        memcpy(buf + *len, line, n);
        *len += n;
        free(line);
    }
    if (buf == NULL)
        buf = xcalloc(1, 1);
    return buf;
}

int ledger_append(const char *path, const cJSON *report, struct cerr *e)
{
    cJSON *one = json_arr();
    int rc;

    json_arr_add(one, json_dup(report));
    rc = ledger_append_many(path, one, e);
    cJSON_Delete(one);
    return rc;
}

int ledger_append_many(const char *path, const cJSON *reports, struct cerr *e)
{
    int fd = -1, rc = -1;
    struct stat st;
    size_t len;
    char *line = serialize_all(reports, &len, e);

    if (line == NULL)
        return -1;
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
    if (fd < 0) {
        cerr_set(e, CE_SYSTEM, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    /* A hard link to another file, a FIFO, a device, or a ledger a VM uid
     * could have planted (an old-layout directory not migrated yet): never
     * written to.  The supervisor keeps a refused report and sends it again
     * once the VM is migrated. */
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid()) {
        cerr_set(e, CE_SYSTEM,
                 "%s is not a regular file with one link owned by uid %ld (mode %o, %ld links, "
                 "owner %ld): not written",
                 path, (long)geteuid(), (unsigned)st.st_mode, (long)st.st_nlink, (long)st.st_uid);
        goto out;
    }
    if ((unsigned long long)st.st_size + len > LEDGER_FILE_MAX) {
        cerr_set(e, CE_TOO_LARGE, "%s holds %lld bytes; %zu more would pass the limit of %d", path,
                 (long long)st.st_size, len, LEDGER_FILE_MAX);
        goto out;
    }
    if (write_all(fd, line, len) < 0 || fsync(fd) < 0) {
        cerr_set(e, CE_SYSTEM, "cannot append to %s: %s", path, strerror(errno));
        /* A torn line would swallow the next report with it. */
        if (ftruncate(fd, st.st_size) < 0)
            cerr_set(e, CE_SYSTEM, "cannot append to %s, nor cut off what was written: %s", path,
                     strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(line);
    return rc;
}
