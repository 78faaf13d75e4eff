/* JSON-RPC message meaning: classification, parsing, serialization, error
 * objects, parameter readers and error names (proto/rpc.c, common/error.c). */
#include "proto/rpc.h"

#include <limits.h>
#include <math.h>
#include <regex.h>

#include "tests/unit/unit.h"

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        abort();
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

static cJSON *parse_str(const char *text)
{
    struct cerr e = {0};
    cJSON *j = json_parse(text, strlen(text), &e);

    if (j == NULL)
        printf("# cannot parse test input '%s': %s\n", text, e.msg);
    return j;
}

/* Classifies text; returns rpc_classify's result, with kind and e filled. */
static int classify_text(const char *text, struct rpc_msg *m, struct cerr *e)
{
    cJSON *j = parse_str(text);
    int rc;

    if (j == NULL)
        abort();
    rc = rpc_classify(j, m, e);
    /* The borrowed pointers die with j: keep only the kind. */
    m->method = NULL;
    m->params = m->id = m->result = m->error = NULL;
    cJSON_Delete(j);
    return rc;
}

static int accepted_as(const char *text, enum rpc_kind kind)
{
    struct rpc_msg m;
    struct cerr e = {0};

    if (classify_text(text, &m, &e) < 0) {
        printf("# refused '%s': %s\n", text, e.msg);
        return 0;
    }
    if (m.kind != kind) {
        printf("# '%s': kind %d, want %d\n", text, (int)m.kind, (int)kind);
        return 0;
    }
    return 1;
}

static int refused(const char *text)
{
    struct rpc_msg m;
    struct cerr e = {0};

    if (classify_text(text, &m, &e) == 0) {
        printf("# accepted '%s'\n", text);
        return 0;
    }
    if (e.code != CE_INVALID_REQUEST || e.msg[0] == '\0') {
        printf("# '%s': code %d '%s', want %d\n", text, e.code, e.msg, CE_INVALID_REQUEST);
        return 0;
    }
    return 1;
}

static void classify_requests(void)
{
    const char *text =
        "{\"jsonrpc\":\"2.0\",\"method\":\"vm.state\",\"params\":{\"name\":\"demo\"},"
        "\"id\":7}";
    cJSON *j = parse_str(text);
    struct rpc_msg m;
    struct cerr e = {0};
    int rc;

    EXPECT(j != NULL);
    rc = rpc_classify(j, &m, &e);
    if (rc == 0 && m.kind == RPC_KIND_REQUEST && m.method != NULL &&
        strcmp(m.method, "vm.state") == 0 && cJSON_IsObject(m.params) &&
        cJSON_IsString(cJSON_GetObjectItem(m.params, "name")) && cJSON_IsNumber(m.id) &&
        m.id->valuedouble == 7 && m.result == NULL && m.error == NULL)
        rc = 1;
    cJSON_Delete(j);
    EXPECT(rc == 1);

    EXPECT(accepted_as("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"abc\"}", RPC_KIND_REQUEST));
    EXPECT(accepted_as("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{},\"id\":0}",
                       RPC_KIND_REQUEST));
    EXPECT(accepted_as("{\"id\":-3,\"method\":\"m\",\"jsonrpc\":\"2.0\"}", RPC_KIND_REQUEST));
}

static void classify_notifications(void)
{
    cJSON *j = parse_str("{\"jsonrpc\":\"2.0\",\"method\":\"vm.event\",\"params\":{\"a\":1}}");
    struct rpc_msg m;
    struct cerr e = {0};
    int ok;

    EXPECT(j != NULL);
    ok = rpc_classify(j, &m, &e) == 0 && m.kind == RPC_KIND_NOTIFICATION && m.id == NULL &&
         m.method != NULL && strcmp(m.method, "vm.event") == 0 && cJSON_IsObject(m.params);
    cJSON_Delete(j);
    EXPECT(ok);
    EXPECT(accepted_as("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}", RPC_KIND_NOTIFICATION));
    EXPECT(accepted_as("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":null}",
                       RPC_KIND_NOTIFICATION));
}

static void classify_responses(void)
{
    cJSON *j = parse_str("{\"jsonrpc\":\"2.0\",\"result\":{\"x\":1},\"id\":3}");
    struct rpc_msg m;
    struct cerr e = {0};
    int ok;

    EXPECT(j != NULL);
    ok = rpc_classify(j, &m, &e) == 0 && m.kind == RPC_KIND_RESPONSE && m.method == NULL &&
         cJSON_IsObject(m.result) && m.error == NULL && cJSON_IsNumber(m.id) &&
         m.id->valuedouble == 3;
    cJSON_Delete(j);
    EXPECT(ok);

    j = parse_str("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1001,\"message\":\"x\"},\"id\":4}");
    EXPECT(j != NULL);
    ok = rpc_classify(j, &m, &e) == 0 && m.kind == RPC_KIND_RESPONSE && m.result == NULL &&
         cJSON_IsObject(m.error);
    cJSON_Delete(j);
    EXPECT(ok);

    /* An error to a line the peer could not parse carries a null id. */
    EXPECT(accepted_as("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"x\"},"
                       "\"id\":null}",
                       RPC_KIND_RESPONSE));
    EXPECT(accepted_as("{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":\"s\"}", RPC_KIND_RESPONSE));
}

static void classify_refuses_non_objects(void)
{
    EXPECT(refused("[]"));
    EXPECT(refused("[{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1}]"));
    EXPECT(refused("\"jsonrpc\""));
    EXPECT(refused("42"));
    EXPECT(refused("null"));
    EXPECT(refused("true"));
}

static void classify_refuses_bad_version(void)
{
    EXPECT(refused("{\"method\":\"m\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"1.0\",\"method\":\"m\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.00\",\"method\":\"m\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"\",\"method\":\"m\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":2.0,\"method\":\"m\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":null,\"method\":\"m\",\"id\":1}"));
    EXPECT(refused("{\"JSONRPC\":\"2.0\",\"method\":\"m\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"1.0\",\"result\":{},\"id\":1}"));
}

static void classify_refuses_bad_params(void)
{
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[1,2],\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[]}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":\"x\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":5,\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":true,\"id\":1}"));
}

static void classify_refuses_bad_method(void)
{
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":{},\"id\":1}"));
}

static void classify_refuses_bad_ids(void)
{
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":true}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":false}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":{}}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":[1]}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":[1]}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":{\"n\":1}}"));
}

static void classify_refuses_bad_responses(void)
{
    /* Both result and error. */
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"result\":{},\"error\":{\"code\":1,\"message\":\"x\"},"
                   "\"id\":1}"));
    /* Neither. */
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\"}"));
    EXPECT(refused("{}"));
    /* A response must say which request it answers. */
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"result\":{}}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"x\"}}"));
    /* error must be an object. */
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"error\":\"boom\",\"id\":1}"));
    EXPECT(refused("{\"jsonrpc\":\"2.0\",\"error\":1001,\"id\":1}"));
}

static int parse_refused(const char *buf, size_t len, enum corral_err code)
{
    struct cerr e = {0};
    cJSON *j = json_parse(buf, len, &e);

    if (j != NULL) {
        cJSON_Delete(j);
        printf("# accepted %zu bytes starting '%.40s'\n", len, buf);
        return 0;
    }
    if (e.code != code || e.msg[0] == '\0') {
        printf("# %zu bytes starting '%.40s': code %d '%s', want %d\n", len, buf, e.code, e.msg,
               code);
        return 0;
    }
    return 1;
}

static int parse_accepted(const char *buf, size_t len)
{
    struct cerr e = {0};
    cJSON *j = json_parse(buf, len, &e);

    if (j == NULL) {
        printf("# refused %zu bytes starting '%.40s': %s\n", len, buf, e.msg);
        return 0;
    }
    cJSON_Delete(j);
    return 1;
}

#define PARSE_REFUSED(s, code) parse_refused((s), strlen(s), (code))
#define PARSE_ACCEPTED(s) parse_accepted((s), strlen(s))

static void parse_refuses_trailing_data(void)
{
    EXPECT(PARSE_REFUSED("{}{}", CE_PARSE));
    EXPECT(PARSE_REFUSED("{} x", CE_PARSE));
    EXPECT(PARSE_REFUSED("{}\n{}", CE_PARSE));
    EXPECT(PARSE_REFUSED("1 2", CE_PARSE));
    EXPECT(PARSE_REFUSED("[] ]", CE_PARSE));
    /* A NUL inside the given length is data too. */
    EXPECT(parse_refused("{}\0x", 4, CE_PARSE));
    EXPECT(PARSE_REFUSED("", CE_PARSE));
    EXPECT(PARSE_REFUSED("{\"a\":", CE_PARSE));
    EXPECT(PARSE_REFUSED("{'a':1}", CE_PARSE));
}

static void parse_accepts_trailing_whitespace(void)
{
    EXPECT(PARSE_ACCEPTED("{}"));
    EXPECT(PARSE_ACCEPTED("{} "));
    EXPECT(PARSE_ACCEPTED("{}\r\n"));
    EXPECT(PARSE_ACCEPTED("  {\"a\": [1, 2]}\t \n"));
    /* Only len bytes count: what follows in memory is not trailing data. */
    EXPECT(parse_accepted("{}garbage", 2));
}

static void parse_refuses_too_large(void)
{
    size_t n = RPC_MAX_MESSAGE + 1;
    char *big = repeat(' ', n);
    int ok_over, ok_limit;

    /* A valid JSON string of RPC_MAX_MESSAGE + 1 bytes is refused for its
     * size, before any parsing; one of exactly the limit is accepted. */
    big[0] = '"';
    big[n - 1] = '"';
    ok_over = parse_refused(big, n, CE_TOO_LARGE);
    big[n - 2] = '"';
    ok_limit = parse_accepted(big, n - 1);
    free(big);
    EXPECT(ok_over);
    EXPECT(ok_limit);
}

static void parse_refuses_deep_nesting(void)
{
    size_t depth = 200000;
    char *deep = malloc(2 * depth + 1);
    char *open_only = repeat('[', RPC_MAX_MESSAGE);
    char *objs;
    int ok_deep, ok_open, ok_objs, ok_shallow;

    if (deep == NULL)
        abort();
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    ok_deep = parse_refused(deep, 2 * depth, CE_PARSE);
    ok_open = parse_refused(open_only, RPC_MAX_MESSAGE, CE_PARSE);
    /* {"a":{"a":...}} nesting. */
    objs = malloc(7 * 100000 + 1);
    if (objs == NULL)
        abort();
    for (size_t i = 0; i < 100000; i++)
        memcpy(objs + 5 * i, "{\"a\":", 5);
    memset(objs + 5 * 100000, '}', 100000);
    objs[6 * 100000] = '\0';
    ok_objs = parse_refused(objs, 6 * 100000, CE_PARSE);
    /* Ordinary nesting still parses. */
    ok_shallow = parse_accepted(deep + depth - 50, 100);
    free(objs);
    free(open_only);
    free(deep);
    EXPECT(ok_deep);
    EXPECT(ok_open);
    EXPECT(ok_objs);
    EXPECT(ok_shallow);
}

static void serialize_one_line(void)
{
    cJSON *params = json_obj();
    cJSON *req, *back;
    struct cerr e = {0};
    size_t len = 0;
    char *line;
    int ok;

    json_add_str(params, "text", "two\nlines\r\n");
    req = rpc_request("vm.define", params, 12);
    line = rpc_serialize(req, &len, &e);
    cJSON_Delete(req);
    EXPECT(line != NULL);
    ok = len == strlen(line) && len >= 2 && line[len - 1] == '\n' &&
         memchr(line, '\n', len - 1) == NULL && line[len - 2] != '\n' && line[len - 2] != '\r';
    back = ok ? json_parse(line, len, &e) : NULL;
    free(line);
    EXPECT(ok);
    EXPECT(back != NULL);
    ok = cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "params"), "text")) &&
         strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "params"), "text")->valuestring,
                "two\nlines\r\n") == 0 &&
         cJSON_GetObjectItem(back, "id")->valuedouble == 12;
    cJSON_Delete(back);
    EXPECT(ok);
}

/* {"s":"xxx"}: 8 bytes plus the string. */
static cJSON *msg_of_size(size_t serialized)
{
    char *s = repeat('x', serialized - 8);
    cJSON *m = json_obj();

    json_add_str(m, "s", s);
    free(s);
    return m;
}

static void serialize_refuses_too_large(void)
{
    struct cerr e = {0};
    size_t len = 0;
    cJSON *m = msg_of_size(RPC_MAX_MESSAGE);
    char *line = rpc_serialize(m, &len, &e);
    int refused_over = line == NULL && e.code == CE_TOO_LARGE;
    int accepted_limit;

    free(line);
    cJSON_Delete(m);
    /* One byte less: with its newline the line is exactly the limit. */
    m = msg_of_size(RPC_MAX_MESSAGE - 1);
    cerr_clear(&e);
    line = rpc_serialize(m, &len, &e);
    accepted_limit = line != NULL && len == RPC_MAX_MESSAGE && line[len - 1] == '\n';
    free(line);
    cJSON_Delete(m);
    EXPECT(refused_over);
    EXPECT(accepted_limit);
}

static void error_object_shape(void)
{
    cJSON *id = cJSON_CreateString("req-1");
    cJSON *m = rpc_error(id, CE_NO_DOMAIN, "no VM named 'x'");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(m, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(err, "data");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(data, "name");
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(m, "id");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(m, "jsonrpc");
    struct rpc_msg rm;
    struct cerr e = {0};
    int ok = cJSON_IsNumber(code) && code->valueint == CE_NO_DOMAIN && cJSON_IsString(msg) &&
             strcmp(msg->valuestring, "no VM named 'x'") == 0 && cJSON_IsString(name) &&
             strcmp(name->valuestring, "no-domain") == 0 &&
             strcmp(name->valuestring, cerr_name(CE_NO_DOMAIN)) == 0 && cJSON_IsString(mid) &&
             strcmp(mid->valuestring, "req-1") == 0 && cJSON_IsString(ver) &&
             strcmp(ver->valuestring, "2.0") == 0 && rpc_classify(m, &rm, &e) == 0 &&
             rm.kind == RPC_KIND_RESPONSE && rm.error == err;

    cJSON_Delete(m);
    cJSON_Delete(id);
    EXPECT(ok);

    /* Without an id (a line that could not be parsed): id null. */
    m = rpc_error(NULL, CE_PARSE, "bad");
    ok = cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(m, "id")) && rpc_classify(m, &rm, &e) == 0;
    cJSON_Delete(m);
    EXPECT(ok);
}

static void error_from_cerr(void)
{
    struct cerr e = {0};
    cJSON *m, *err;
    int ok;

    cerr_set(&e, CE_BUSY, "VM %s is busy", "demo");
    m = rpc_error_cerr(NULL, &e);
    err = cJSON_GetObjectItemCaseSensitive(m, "error");
    ok = cJSON_GetObjectItemCaseSensitive(err, "code")->valueint == CE_BUSY &&
         strcmp(cJSON_GetObjectItemCaseSensitive(err, "message")->valuestring, "VM demo is busy") ==
             0;
    cJSON_Delete(m);
    EXPECT(ok);

    /* A cerr that was never set must not go out as "success" code 0. */
    cerr_clear(&e);
    m = rpc_error_cerr(NULL, &e);
    err = cJSON_GetObjectItemCaseSensitive(m, "error");
    ok = cJSON_GetObjectItemCaseSensitive(err, "code")->valueint == CE_INTERNAL &&
         cJSON_GetObjectItemCaseSensitive(err, "message")->valuestring[0] != '\0';
    cJSON_Delete(m);
    EXPECT(ok);
}

static const enum corral_err all_codes[] = {
    CE_OK,          CE_PARSE,       CE_INVALID_REQUEST,   CE_NO_METHOD,     CE_INVALID_PARAMS,
    CE_INTERNAL,    CE_TOO_LARGE,   CE_NO_DOMAIN,         CE_DOMAIN_EXISTS, CE_INVALID_NAME,
    CE_INVALID_XML, CE_UNSUPPORTED, CE_OPERATION_INVALID, CE_QEMU_FAILED,   CE_PERMISSION,
    CE_TIMEOUT,     CE_SYSTEM,      CE_SUPERVISOR,        CE_NO_SNAPSHOT,   CE_SNAPSHOT_EXISTS,
    CE_BUSY,        CE_NO_KVM,      CE_VERSION,           CE_JOB_FAILED,
};
#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

/* Through the wire and back: what a client sees is what the server set. */
static void error_round_trip(void)
{
    for (size_t i = 0; i < NCODES; i++) {
        enum corral_err code = all_codes[i] == CE_OK ? CE_INTERNAL : all_codes[i];
        cJSON *id = cJSON_CreateNumber(40 + (double)i);
        cJSON *m = rpc_error(id, code, "message \"quoted\"\nwith a newline");
        struct cerr e = {0}, back = {0};
        size_t len;
        char *line = rpc_serialize(m, &len, &e);
        cJSON *parsed = line ? json_parse(line, len, &e) : NULL;
        struct rpc_msg rm;
        int ok = parsed != NULL && rpc_classify(parsed, &rm, &e) == 0 &&
                 rm.kind == RPC_KIND_RESPONSE && rm.error != NULL && rm.id->valuedouble == 40 + i;

        if (ok)
            rpc_error_to_cerr(rm.error, &back);
        cJSON_Delete(parsed);
        free(line);
        cJSON_Delete(m);
        cJSON_Delete(id);
        EXPECT(ok);
        if (back.code != code)
            printf("# code %d came back as %d\n", code, back.code);
        EXPECT(back.code == code);
        EXPECT_STR(back.msg, "message \"quoted\"\nwith a newline");
    }
}

static void error_to_cerr_malformed(void)
{
    struct cerr e = {0};
    cJSON *err = parse_str("{\"message\":\"no code\"}");

    EXPECT(err != NULL);
    rpc_error_to_cerr(err, &e);
    cJSON_Delete(err);
    EXPECT(e.code == CE_INTERNAL);
    EXPECT_STR(e.msg, "no code");

    err = parse_str("{\"code\":1001}");
    EXPECT(err != NULL);
    rpc_error_to_cerr(err, &e);
    cJSON_Delete(err);
    EXPECT(e.code == CE_NO_DOMAIN);
    EXPECT(e.msg[0] != '\0');

    err = parse_str("{\"code\":\"1001\",\"message\":5}");
    EXPECT(err != NULL);
    rpc_error_to_cerr(err, &e);
    cJSON_Delete(err);
    EXPECT(e.code == CE_INTERNAL);
    EXPECT(e.msg[0] != '\0');
}

static int param_error(int rc, const struct cerr *e, const char *needle)
{
    if (rc == 0) {
        printf("# accepted, want an error naming %s\n", needle);
        return 0;
    }
    if (e->code != CE_INVALID_PARAMS || strstr(e->msg, needle) == NULL) {
        printf("# code %d '%s', want %d naming %s\n", e->code, e->msg, CE_INVALID_PARAMS, needle);
        return 0;
    }
    return 1;
}

static void param_string(void)
{
    cJSON *p = parse_str("{\"name\":\"demo\",\"num\":5,\"nul\":null,\"arr\":[\"a\"]}");
    struct cerr e = {0};
    const char *out = "unchanged";
    int ok[8];

    EXPECT(p != NULL);
    ok[0] = rpc_param_string(p, "name", true, &out, &e) == 0 && strcmp(out, "demo") == 0;
    out = "unchanged";
    ok[1] = rpc_param_string(p, "missing", false, &out, &e) == 0 && strcmp(out, "unchanged") == 0;
    ok[2] = rpc_param_string(p, "nul", false, &out, &e) == 0 && strcmp(out, "unchanged") == 0;
    ok[3] = param_error(rpc_param_string(p, "missing", true, &out, &e), &e, "\"missing\"");
    ok[4] = param_error(rpc_param_string(p, "num", false, &out, &e), &e, "\"num\"");
    ok[5] = param_error(rpc_param_string(p, "arr", true, &out, &e), &e, "\"arr\"");
    ok[6] = param_error(rpc_param_string(NULL, "name", true, &out, &e), &e, "\"name\"");
    /* Keys are case-sensitive. */
    ok[7] = param_error(rpc_param_string(p, "Name", true, &out, &e), &e, "\"Name\"");
    cJSON_Delete(p);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        EXPECT(ok[i]);
}

static void param_bool(void)
{
    cJSON *p = parse_str("{\"t\":true,\"f\":false,\"one\":1,\"s\":\"true\",\"nul\":null}");
    struct cerr e = {0};
    bool out = true;
    int ok[6];

    EXPECT(p != NULL);
    ok[0] = rpc_param_bool(p, "f", &out, &e) == 0 && out == false;
    ok[1] = rpc_param_bool(p, "t", &out, &e) == 0 && out == true;
    out = false;
    ok[2] = rpc_param_bool(p, "missing", &out, &e) == 0 && out == false;
    ok[3] = rpc_param_bool(p, "nul", &out, &e) == 0 && out == false;
    ok[4] = param_error(rpc_param_bool(p, "one", &out, &e), &e, "\"one\"");
    ok[5] = param_error(rpc_param_bool(p, "s", &out, &e), &e, "\"s\"");
    cJSON_Delete(p);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        EXPECT(ok[i]);
}

static void param_int(void)
{
    cJSON *p = parse_str("{\"n\":42,\"lo\":0,\"hi\":3600,\"neg\":-1,\"over\":3601,\"frac\":1.5,"
                         "\"str\":\"5\",\"bool\":true,\"exp\":1e3,\"huge\":1e300}");
    struct cerr e = {0};
    long long out = -7;
    int ok[12];

    EXPECT(p != NULL);
    ok[0] = rpc_param_int(p, "n", 0, 100, &out, &e) == 0 && out == 42;
    ok[1] = rpc_param_int(p, "lo", 0, 3600, &out, &e) == 0 && out == 0;
    ok[2] = rpc_param_int(p, "hi", 0, 3600, &out, &e) == 0 && out == 3600;
    ok[3] = rpc_param_int(p, "exp", 0, 3600, &out, &e) == 0 && out == 1000;
    out = -7;
    ok[4] = rpc_param_int(p, "missing", 0, 3600, &out, &e) == 0 && out == -7;
    ok[5] = param_error(rpc_param_int(p, "neg", 0, 3600, &out, &e), &e, "\"neg\"");
    ok[6] = param_error(rpc_param_int(p, "over", 0, 3600, &out, &e), &e, "\"over\"");
    ok[7] = param_error(rpc_param_int(p, "frac", 0, 3600, &out, &e), &e, "\"frac\"");
    ok[8] = param_error(rpc_param_int(p, "str", 0, 3600, &out, &e), &e, "\"str\"");
    ok[9] = param_error(rpc_param_int(p, "bool", 0, 3600, &out, &e), &e, "\"bool\"");
    ok[10] = param_error(rpc_param_int(p, "huge", 0, 3600, &out, &e), &e, "\"huge\"");
    /* The message gives the allowed range. */
    ok[11] = param_error(rpc_param_int(p, "over", 0, 3600, &out, &e), &e, "0 to 3600");
    cJSON_Delete(p);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        EXPECT(ok[i]);
    /* A refused value leaves the output alone. */
    EXPECT(out == -7);
}

/* Untrusted numbers (a supervisor's seq, a VM-written record): only whole
 * numbers in range convert; NaN, infinities and huge values never reach a
 * cast. */
static void get_uint_untrusted(void)
{
    cJSON *p = parse_str("{\"n\":42,\"zero\":0,\"top\":9007199254740992,"
                         "\"above\":9007199254740994,\"neg\":-1,\"huge\":1e300,"
                         "\"frac\":0.5,\"str\":\"7\",\"small\":10}");
    unsigned long long out = 7;
    int ok[13];

    EXPECT(p != NULL);
    /* cJSON never parses NaN or infinities from text; a peer's cJSON could
     * still hold them. */
    cJSON_AddItemToObject(p, "nan", cJSON_CreateNumber(NAN));
    cJSON_AddItemToObject(p, "inf", cJSON_CreateNumber(INFINITY));
    ok[0] = json_get_uint(p, "n", JSON_UINT_MAX, &out) == 0 && out == 42;
    ok[1] = json_get_uint(p, "zero", JSON_UINT_MAX, &out) == 0 && out == 0;
    ok[2] = json_get_uint(p, "top", JSON_UINT_MAX, &out) == 0 && out == JSON_UINT_MAX;
    out = 7;
    /* 2^53 + 1 is not a double: the text parses to 2^53 + 2. */
    ok[3] = json_get_uint(p, "above", JSON_UINT_MAX, &out) < 0;
    ok[4] = json_get_uint(p, "neg", JSON_UINT_MAX, &out) < 0;
    ok[5] = json_get_uint(p, "huge", JSON_UINT_MAX, &out) < 0;
    ok[6] = json_get_uint(p, "nan", JSON_UINT_MAX, &out) < 0;
    ok[7] = json_get_uint(p, "inf", JSON_UINT_MAX, &out) < 0;
    ok[8] = json_get_uint(p, "frac", JSON_UINT_MAX, &out) < 0;
    ok[9] = json_get_uint(p, "str", JSON_UINT_MAX, &out) < 0;
    ok[10] = json_get_uint(p, "missing", JSON_UINT_MAX, &out) < 0;
    ok[11] = json_get_uint(p, "small", 9, &out) < 0;
    /* A max above 2^53 is clamped to it. */
    ok[12] = json_get_uint(p, "above", ~0ULL, &out) < 0;
    cJSON_Delete(p);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!ok[i])
            printf("# case %zu\n", i);
        EXPECT(ok[i]);
    }
    EXPECT(out == 7);
    EXPECT(json_get_uint(NULL, "n", 10, &out) < 0);
}

/* Codes declared in common/error.h, read from the source when the test runs
 * from the top of the tree, so that a code added there without a name is
 * caught; the list above otherwise. */
static size_t codes_from_header(long *codes, size_t max)
{
    FILE *f = fopen("common/error.h", "r");
    regex_t re;
    regmatch_t mt[2];
    char line[256];
    size_t n = 0;

    if (f == NULL)
        return 0;
    if (regcomp(&re, "^[[:space:]]*CE_[A-Z_]+[[:space:]]*=[[:space:]]*(-?[0-9]+)", REG_EXTENDED)) {
        fclose(f);
        return 0;
    }
    while (n < max && fgets(line, sizeof(line), f) != NULL) {
        if (regexec(&re, line, 2, mt, 0) == 0)
            codes[n++] = strtol(line + mt[1].rm_so, NULL, 10);
    }
    regfree(&re);
    fclose(f);
    return n;
}

static void cerr_names_distinct(void)
{
    long header[128];
    size_t nheader = codes_from_header(header, 128);

    for (size_t i = 0; i < NCODES; i++) {
        const char *name = cerr_name(all_codes[i]);
        EXPECT(name != NULL && name[0] != '\0');
        if (strcmp(name, "unknown") == 0)
            printf("# code %d has no name\n", all_codes[i]);
        EXPECT(strcmp(name, "unknown") != 0);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(name, cerr_name(all_codes[j])) == 0)
                printf("# codes %d and %d share the name %s\n", all_codes[i], all_codes[j], name);
            EXPECT(strcmp(name, cerr_name(all_codes[j])) != 0);
        }
    }
    if (nheader == 0)
        printf("# common/error.h not readable from here: checked the built-in list only\n");
    for (size_t i = 0; i < nheader; i++) {
        int known = 0;
        for (size_t j = 0; j < NCODES; j++)
            known |= header[i] == (long)all_codes[j];
        if (!known)
            printf("# code %ld from common/error.h is missing from this test's list\n", header[i]);
        EXPECT(known);
    }
    EXPECT(nheader == 0 || nheader == NCODES);
    /* The protocol's documented names. */
    EXPECT_STR(cerr_name(CE_PARSE), "parse-error");
    EXPECT_STR(cerr_name(CE_NO_METHOD), "method-not-found");
    EXPECT_STR(cerr_name(CE_TOO_LARGE), "message-too-large");
    EXPECT_STR(cerr_name(CE_PERMISSION), "permission-denied");
    EXPECT_STR(cerr_name((enum corral_err)4242), "unknown");
}

/* A relayed result keeps its bytes, gets the caller's id and the same
 * limit as a printed reply. */
static void result_line_relays_bytes(void)
{
    cJSON *id = cJSON_CreateString("a\"b");
    struct cerr e = {0};
    size_t n = 0, big = RPC_MAX_MESSAGE;
    char *line = rpc_result_line(id, "{ \"x\" : 1 }", 11, &n, &e), *filler;
    int fits, over;

    cJSON_Delete(id);
    EXPECT(line != NULL);
    EXPECT_STR(line, "{\"jsonrpc\":\"2.0\",\"result\":{ \"x\" : 1 },\"id\":\"a\\\"b\"}\n");
    EXPECT(n == strlen(line));
    free(line);
    line = rpc_result_line(NULL, "[]", 2, &n, &e);
    EXPECT_STR(line, "{\"jsonrpc\":\"2.0\",\"result\":[],\"id\":null}\n");
    free(line);
    /* The envelope with a null id is 38 bytes, the newline included. */
    filler = repeat('1', big);
    line = rpc_result_line(NULL, filler, big - 38, &n, &e);
    fits = line != NULL && n == RPC_MAX_MESSAGE;
    free(line);
    line = rpc_result_line(NULL, filler, big - 37, &n, &e);
    over = line == NULL && e.code == CE_TOO_LARGE;
    free(line);
    free(filler);
    EXPECT(fits);
    EXPECT(over);
}

int main(void)
{
    RUN(result_line_relays_bytes);
    RUN(classify_requests);
    RUN(classify_notifications);
    RUN(classify_responses);
    RUN(classify_refuses_non_objects);
    RUN(classify_refuses_bad_version);
    RUN(classify_refuses_bad_params);
    RUN(classify_refuses_bad_method);
    RUN(classify_refuses_bad_ids);
    RUN(classify_refuses_bad_responses);
    RUN(parse_refuses_trailing_data);
    RUN(parse_accepts_trailing_whitespace);
    RUN(parse_refuses_too_large);
    RUN(parse_refuses_deep_nesting);
    RUN(serialize_one_line);
    RUN(serialize_refuses_too_large);
    RUN(error_object_shape);
    RUN(error_from_cerr);
    RUN(error_round_trip);
    RUN(error_to_cerr_malformed);
    RUN(param_string);
    RUN(param_bool);
    RUN(param_int);
    RUN(get_uint_untrusted);
    RUN(cerr_names_distinct);
    return unit_done();
}
