#include "proto/rpc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "common/log.h"

int rpc_classify(const cJSON *msg, struct rpc_msg *out, struct cerr *e)
{
    const cJSON *ver, *method, *id, *params;

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(msg)) {
        cerr_set(e, CE_INVALID_REQUEST, "a message must be a JSON object");
        return -1;
    }
    ver = cJSON_GetObjectItemCaseSensitive(msg, "jsonrpc");
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0) {
        cerr_set(e, CE_INVALID_REQUEST, "member \"jsonrpc\" must be \"2.0\"");
        return -1;
    }
    id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    if (id != NULL && !cJSON_IsNumber(id) && !cJSON_IsString(id) && !cJSON_IsNull(id)) {
        cerr_set(e, CE_INVALID_REQUEST, "member \"id\" must be a number, a string or null");
        return -1;
    }
    out->id = id;
    method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    if (method != NULL) {
        if (!cJSON_IsString(method) || method->valuestring[0] == '\0') {
            cerr_set(e, CE_INVALID_REQUEST, "member \"method\" must be a non-empty string");
            return -1;
        }
        params = cJSON_GetObjectItemCaseSensitive(msg, "params");
        if (params != NULL && !cJSON_IsObject(params) && !cJSON_IsNull(params)) {
            cerr_set(e, CE_INVALID_REQUEST, "member \"params\" must be an object (by-name)");
            return -1;
        }
        out->method = method->valuestring;
        out->params = cJSON_IsObject(params) ? params : NULL;
        out->kind = id != NULL ? RPC_KIND_REQUEST : RPC_KIND_NOTIFICATION;
        return 0;
    }
    out->result = cJSON_GetObjectItemCaseSensitive(msg, "result");
    out->error = cJSON_GetObjectItemCaseSensitive(msg, "error");
    if (id == NULL || (out->result == NULL) == (out->error == NULL)) {
        cerr_set(e, CE_INVALID_REQUEST,
                 "a message needs \"method\", or \"id\" with exactly one of \"result\" and "
                 "\"error\"");
        return -1;
    }
    if (out->error != NULL && !cJSON_IsObject(out->error)) {
        cerr_set(e, CE_INVALID_REQUEST, "member \"error\" must be an object");
        return -1;
    }
    out->kind = RPC_KIND_RESPONSE;
    return 0;
}

static cJSON *rpc_base(void)
{
    cJSON *m = json_obj();

    json_add_str(m, "jsonrpc", "2.0");
    return m;
}

cJSON *rpc_request(const char *method, cJSON *params, long long id)
{
    cJSON *m = rpc_base();

    json_add_str(m, "method", method);
    json_add(m, "params", params ? params : json_obj());
    json_add_num(m, "id", (double)id);
    return m;
}

cJSON *rpc_notification(const char *method, cJSON *params)
{
    cJSON *m = rpc_base();

    json_add_str(m, "method", method);
    json_add(m, "params", params ? params : json_obj());
    return m;
}

static void add_id(cJSON *m, const cJSON *id)
{
    json_add(m, "id", id ? json_dup(id) : json_null());
}

cJSON *rpc_result(const cJSON *id, cJSON *result)
{
    cJSON *m = rpc_base();

    json_add(m, "result", result ? result : json_obj());
    add_id(m, id);
    return m;
}

cJSON *rpc_error(const cJSON *id, enum corral_err code, const char *msg)
{
    cJSON *m = rpc_base(), *err = json_obj(), *data = json_obj();

    json_add_num(err, "code", code);
    json_add_str(err, "message", msg);
    json_add_str(data, "name", cerr_name(code));
    json_add(err, "data", data);
    json_add(m, "error", err);
    add_id(m, id);
    return m;
}

cJSON *rpc_error_cerr(const cJSON *id, const struct cerr *e)
{
    return rpc_error(id, e->code == CE_OK ? CE_INTERNAL : e->code,
                     e->msg[0] ? e->msg : "unknown error");
}

void rpc_error_to_cerr(const cJSON *error, struct cerr *e)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");

    cerr_set(e, cJSON_IsNumber(code) ? (enum corral_err)code->valueint : CE_INTERNAL, "%s",
             cJSON_IsString(msg) ? msg->valuestring : "error without a message");
}

char *rpc_serialize(const cJSON *msg, size_t *len, struct cerr *e)
{
    char *text = cJSON_PrintUnformatted(msg);
    size_t n;
    char *line;

    if (text == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory serializing a message");
        return NULL;
    }
    n = strlen(text);
    if (n + 1 > RPC_MAX_MESSAGE) {
        cerr_set(e, CE_TOO_LARGE, "a message of %zu bytes exceeds the limit of %d bytes", n,
                 RPC_MAX_MESSAGE);
        cJSON_free(text);
        return NULL;
    }
    line = malloc(n + 2);
    if (line == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory serializing a message");
        cJSON_free(text);
        return NULL;
    }
    memcpy(line, text, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    cJSON_free(text);
    *len = n + 1;
    return line;
}

char *rpc_result_line(const cJSON *id, const char *result, size_t len, size_t *n, struct cerr *e)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"result\":";
    char *id_text = id != NULL ? cJSON_PrintUnformatted(id) : NULL;
    const char *idt = id_text != NULL ? id_text : "null";
    size_t id_len = strlen(idt);
    size_t total = sizeof(head) - 1 + len + 6 + id_len + 2;
    char *line, *p;

    if (id != NULL && id_text == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory serializing a message");
        return NULL;
    }
    if (total > RPC_MAX_MESSAGE) {
        cerr_set(e, CE_TOO_LARGE, "reply of %zu bytes exceeds the message limit of %d bytes",
                 total - 1, RPC_MAX_MESSAGE);
        cJSON_free(id_text);
        return NULL;
    }
    line = malloc(total + 1);
    if (line == NULL) {
        cerr_set(e, CE_SYSTEM, "out of memory serializing a message");
        cJSON_free(id_text);
        return NULL;
    }
    p = line;
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    memcpy(p, result, len);
    p += len;
    memcpy(p, ",\"id\":", 6);
    p += 6;
    memcpy(p, idt, id_len);
    p += id_len;
    memcpy(p, "}\n", 3);
    cJSON_free(id_text);
    *n = total;
    return line;
}

static const cJSON *param(const cJSON *params, const char *key)
{
    return params ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;
}

int rpc_param_string(const cJSON *params, const char *key, bool required, const char **out,
                     struct cerr *e)
{
    const cJSON *v = param(params, key);

    if (v == NULL || cJSON_IsNull(v)) {
        if (!required)
            return 0;
        cerr_set(e, CE_INVALID_PARAMS, "parameter \"%s\" is required", key);
        return -1;
    }
    if (!cJSON_IsString(v)) {
        cerr_set(e, CE_INVALID_PARAMS, "parameter \"%s\" must be a string", key);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

int rpc_param_bool(const cJSON *params, const char *key, bool *out, struct cerr *e)
{
    const cJSON *v = param(params, key);

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v)) {
        cerr_set(e, CE_INVALID_PARAMS, "parameter \"%s\" must be true or false", key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

int rpc_param_int(const cJSON *params, const char *key, long long min, long long max,
                  long long *out, struct cerr *e)
{
    const cJSON *v = param(params, key);

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    /* (double)LLONG_MAX rounds up to 2^63, so compare in double against
     * bounds that cannot overflow the conversion below. */
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)min || v->valuedouble > (double)max ||
        v->valuedouble >= 9223372036854775808.0 || v->valuedouble < -9223372036854775808.0) {
        cerr_set(e, CE_INVALID_PARAMS, "parameter \"%s\" must be an integer from %lld to %lld", key,
                 min, max);
        return -1;
    }
    *out = (long long)v->valuedouble;
    return 0;
}
