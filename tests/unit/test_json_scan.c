/* The tree-less JSON check behind the relays (common/json_scan.c): what it
 * accepts cJSON parses, what it refuses is not one well-formed object, and
 * the members it reports are the bytes of the text. */
#include "common/json_scan.h"

#include <cjson/cJSON.h>

#include "tests/unit/unit.h"

static bool scan(const char *text, struct json_scan_object *o)
{
    return json_scan_object(text, strlen(text), o);
}

static void objects_accepted(void)
{
    static const char *const ok[] = {
        "{}",
        " \r\n\t{ } \n",
        "{\"a\":1}",
        "{\"a\":-0.5e+10,\"b\":[1,2.25,-3E-2,0],\"c\":{\"d\":[[],{}]}}",
        "{\"s\":\"tab\\t quote\\\" slash\\/ u\\u00e9 \\uD83D\\uDE00\"}",
        "{\"t\":true,\"f\":false,\"n\":null}",
        "{\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
    };
    struct json_scan_object o;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cJSON *j = cJSON_Parse(ok[i]);
        if (!scan(ok[i], &o))
            printf("# refused: %s\n", ok[i]);
        EXPECT(scan(ok[i], &o));
        EXPECT(j != NULL);
        cJSON_Delete(j);
    }
}

static void malformed_refused(void)
{
    static const char *const bad[] = {
        "",
        "[]",
        "\"x\"",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":1}{}",
        "{\"a\":1} x",
        "{a:1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":tru}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":\"unterminated}",
        "{\"a\":\"bad \\x escape\"}",
        "{\"a\":\"short \\u12\"}",
        "{\"a\":\"raw\ttab\"}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
    };
    struct json_scan_object o;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (scan(bad[i], &o))
            printf("# accepted: %s\n", bad[i]);
        EXPECT(!scan(bad[i], &o));
    }
    /* A NUL inside the text is not JSON either. */
    EXPECT(!json_scan_object("{\"a\":\"x\0y\"}", 11, &o));
    EXPECT(!json_scan_object("{\"a\":1}\0", 8, &o));
}

static void members_are_the_bytes(void)
{
    struct json_scan_object o;
    const struct json_scan_member *m;

    EXPECT(scan("{ \"jsonrpc\" : \"2.0\" , \"result\":{\"x\": [1, \"}\"]} ,\"id\":42 }", &o));
    EXPECT(o.n == 3);
    m = json_scan_find(&o, "result");
    EXPECT(m != NULL);
    EXPECT(m->value_len == strlen("{\"x\": [1, \"}\"]}"));
    EXPECT(memcmp(m->value, "{\"x\": [1, \"}\"]}", m->value_len) == 0);
    EXPECT(m->key_len == 8 && memcmp(m->key, "\"result\"", 8) == 0);
    EXPECT(json_scan_value_is(json_scan_find(&o, "jsonrpc"), "\"2.0\""));
    EXPECT(json_scan_value_is(json_scan_find(&o, "id"), "42"));
    EXPECT(!json_scan_value_is(json_scan_find(&o, "id"), "4"));
    EXPECT(!json_scan_value_is(json_scan_find(&o, "id"), "420"));
    EXPECT(json_scan_find(&o, "error") == NULL);
    EXPECT(json_scan_find(&o, "resul") == NULL);
    EXPECT(!json_scan_value_is(NULL, "42"));
}

/* A relay must never see two "result" members and pick another than the
 * parser would, nor a key that only matches once unescaped. */
static void duplicate_and_escaped_keys_refused(void)
{
    struct json_scan_object o;

    EXPECT(!scan("{\"result\":1,\"result\":2}", &o));
    EXPECT(!scan("{\"res\\u0075lt\":1}", &o));
    EXPECT(scan("{\"a\":{\"result\":1,\"result\":2}}", &o));
    EXPECT(scan("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8}", &o));
    EXPECT(o.n == JSON_SCAN_MAX_MEMBERS);
    EXPECT(!scan("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9}", &o));
}

static void nesting_bounded(void)
{
    size_t depth = JSON_SCAN_MAX_DEPTH + 5;
    char *text = malloc(2 * depth + 16);
    struct json_scan_object o;
    size_t n = 0, inner;

    if (text == NULL)
        abort();
    /* {"a": then depth-1 brackets, as deep as allowed, then one more. */
    for (inner = JSON_SCAN_MAX_DEPTH - 1; inner <= JSON_SCAN_MAX_DEPTH; inner++) {
        n = (size_t)sprintf(text, "{\"a\":");
        for (size_t i = 0; i < inner; i++)
            text[n++] = '[';
        for (size_t i = 0; i < inner; i++)
            text[n++] = ']';
        text[n++] = '}';
        if (inner < JSON_SCAN_MAX_DEPTH)
            EXPECT(json_scan_object(text, n, &o));
        else
            EXPECT(!json_scan_object(text, n, &o));
    }
    free(text);
}

int main(void)
{
    RUN(objects_accepted);
    RUN(malformed_refused);
    RUN(members_are_the_bytes);
    RUN(duplicate_and_escaped_keys_refused);
    RUN(nesting_bounded);
    return unit_done();
}
