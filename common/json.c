#include "common/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"

static void *oom(void *p)
{
    if (p == NULL) {
        log_err("out of memory building a JSON message");
        abort();
    }
    return p;
}

cJSON *json_obj(void)
{
    return oom(cJSON_CreateObject());
}

cJSON *json_arr(void)
{
    return oom(cJSON_CreateArray());
}

cJSON *json_str(const char *s)
{
    return oom(cJSON_CreateString(s));
}

cJSON *json_null(void)
{
    return oom(cJSON_CreateNull());
}

cJSON *json_dup(const cJSON *item)
{
    return oom(cJSON_Duplicate(item, 1));
}

void json_add(cJSON *obj, const char *key, cJSON *item)
{
    if (!cJSON_AddItemToObject(obj, key, item))
        oom(NULL);
}

void json_arr_add(cJSON *arr, cJSON *item)
{
    if (!cJSON_AddItemToArray(arr, item))
        oom(NULL);
}

void json_add_str(cJSON *obj, const char *key, const char *val)
{
    json_add(obj, key, val ? json_str(val) : oom(cJSON_CreateNull()));
}

void json_add_num(cJSON *obj, const char *key, double val)
{
    json_add(obj, key, oom(cJSON_CreateNumber(val)));
}

void json_add_bool(cJSON *obj, const char *key, bool val)
{
    json_add(obj, key, oom(cJSON_CreateBool(val)));
}

cJSON *json_parse(const char *buf, size_t len, struct cerr *e)
{
    const char *end = NULL;
    cJSON *j;

    if (len > JSON_MAX_TEXT) {
        cerr_set(e, CE_TOO_LARGE, "message of %zu bytes exceeds the limit of %d bytes", len,
                 JSON_MAX_TEXT);
        return NULL;
    }
    j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (j == NULL) {
        size_t off = end != NULL && end >= buf ? (size_t)(end - buf) : 0;
        cerr_set(e, CE_PARSE, "invalid JSON near byte %zu", off);
        return NULL;
    }
    /* cJSON stops at the end of the first value: anything but white space
     * after it is a second message glued on, which the framing forbids. */
    for (const char *p = end; p != NULL && p < buf + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cerr_set(e, CE_PARSE, "trailing data after the JSON value at byte %zu",
                     (size_t)(p - buf));
            cJSON_Delete(j);
            return NULL;
        }
    }
    return j;
}

cJSON *json_read_object_file(const char *path, size_t max)
{
    struct cerr e;
    size_t len;
    char *text = file_read_all(path, max, &len, &e);
    cJSON *j = text != NULL ? json_parse(text, len, &e) : NULL;

    free(text);
    if (j != NULL && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = NULL;
    }
    return j;
}

int json_get_uint(const cJSON *obj, const char *key, unsigned long long max,
                  unsigned long long *out)
{
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    double d;

    if (max > JSON_UINT_MAX)
        max = JSON_UINT_MAX;
    if (!cJSON_IsNumber(v))
        return -1;
    d = v->valuedouble;
    /* Every comparison with NaN is false: the first test rejects it. */
    if (!(d >= 0.0 && d <= (double)max) || d != floor(d))
        return -1;
    *out = (unsigned long long)d;
    return 0;
}

/* obj as one line of JSON through put (file_write_atomic or file_replace). */
static int write_json_line(const char *path, const cJSON *obj, mode_t mode,
                           int (*put)(const char *, const void *, size_t, mode_t, struct cerr *),
                           struct cerr *e)
{
    char *text = cJSON_PrintUnformatted(obj);
    size_t n = text != NULL ? strlen(text) : 0;
    char *line = text != NULL ? malloc(n + 1) : NULL;
    int rc = -1;

    if (line == NULL)
        cerr_set(e, CE_SYSTEM, "out of memory serializing %s", path);
    else {
        memcpy(line, text, n);
        line[n] = '\n';
        rc = put(path, line, n + 1, mode, e);
    }
    free(line);
    cJSON_free(text);
    return rc;
}

int json_write_file(const char *path, const cJSON *obj, mode_t mode, struct cerr *e)
{
    return write_json_line(path, obj, mode, file_write_atomic, e);
}

int json_replace_file(const char *path, const cJSON *obj, mode_t mode, struct cerr *e)
{
    return write_json_line(path, obj, mode, file_replace, e);
}
