/* Checks JSON text without building a tree, and says where the members of
 * its top-level object lie: what a relay needs to pass a peer's value on as
 * the bytes it received (proto/conn.c, supervisor/qmp.c) while still
 * refusing anything that is not well-formed JSON. */
#ifndef CORRAL_JSON_SCAN_H
#define CORRAL_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting accepted, as cJSON's CJSON_NESTING_LIMIT. */
#define JSON_SCAN_MAX_DEPTH 1000
/* Top-level members recorded; an object with more is refused. */
#define JSON_SCAN_MAX_MEMBERS 8

/* A top-level member: key is the key's text with its quotes, value the
 * value's text, both pointing into the scanned text. */
struct json_scan_member {
    const char *key, *value;
    size_t key_len, value_len;
};

struct json_scan_object {
    size_t n;
    struct json_scan_member m[JSON_SCAN_MAX_MEMBERS];
};

/* Whether text (len bytes, no NUL needed) is exactly one JSON object
 * (RFC 8259: strings of valid UTF-8 without raw control characters, numbers
 * of the grammar, nesting at most JSON_SCAN_MAX_DEPTH), whitespace around
 * it allowed, with at most JSON_SCAN_MAX_MEMBERS members, no key holding an
 * escape and no key twice; its members are then in out, in order. */
bool json_scan_object(const char *text, size_t len, struct json_scan_object *out);
/* The member whose key is key (without quotes), or NULL. */
const struct json_scan_member *json_scan_find(const struct json_scan_object *o, const char *key);
/* Whether the member's value is exactly the text want. */
bool json_scan_value_is(const struct json_scan_member *m, const char *want);

#endif
