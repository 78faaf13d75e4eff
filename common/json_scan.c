#include "common/json_scan.h"

#include <stdint.h>
#include <string.h>

struct scan {
    const unsigned char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool hex4(struct scan *s)
{
    if (s->end - s->p < 4)
        return false;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s->p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    s->p += 4;
    return true;
}

/* One UTF-8 sequence of two to four bytes starting at s->p: no overlong
 * form, no surrogate, nothing past U+10FFFF. */
static bool utf8_seq(struct scan *s)
{
    unsigned char c = *s->p;
    unsigned int len;
    uint32_t cp, min;

    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else
        return false;
    if ((size_t)(s->end - s->p) < len)
        return false;
    for (unsigned int i = 1; i < len; i++) {
        if ((s->p[i] & 0xc0) != 0x80)
            return false;
        cp = cp << 6 | (s->p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return false;
    s->p += len;
    return true;
}

/* A string from its opening quote; *escaped says whether it held one. */
static bool string(struct scan *s, bool *escaped)
{
    *escaped = false;
    s->p++;
    while (s->p < s->end) {
        unsigned char c = *s->p;

        if (c == '"') {
            s->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            *escaped = true;
            if (++s->p == s->end)
                return false;
            c = *s->p++;
            if (c == 'u') {
                if (!hex4(s))
                    return false;
            } else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
                return false;
        } else if (c >= 0x80) {
            if (!utf8_seq(s))
                return false;
        } else
            s->p++;
    }
    return false;
}

static bool digits(struct scan *s)
{
    const unsigned char *start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static bool number(struct scan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return false;
    }
    return true;
}

static bool value(struct scan *s, int depth);

/* The members or elements of an object or array from its opening bracket,
 * up to and with its closing one. */
static bool container(struct scan *s, int depth, bool object)
{
    char close = object ? '}' : ']';
    bool escaped;

    if (depth >= JSON_SCAN_MAX_DEPTH)
        return false;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    for (;;) {
        if (object) {
            if (s->p == s->end || *s->p != '"' || !string(s, &escaped))
                return false;
            skip_ws(s);
            if (s->p == s->end || *s->p++ != ':')
                return false;
            skip_ws(s);
        }
        if (!value(s, depth + 1))
            return false;
        skip_ws(s);
        if (s->p == s->end)
            return false;
        if (*s->p == close) {
            s->p++;
            return true;
        }
        if (*s->p++ != ',')
            return false;
        skip_ws(s);
    }
}

static bool value(struct scan *s, int depth)
{
    bool escaped;

    if (s->p == s->end)
        return false;
    switch (*s->p) {
    case '{':
        return container(s, depth, true);
    case '[':
        return container(s, depth, false);
    case '"':
        return string(s, &escaped);
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    default:
        return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && number(s);
    }
}

static bool key_is(const struct json_scan_member *m, const char *key, size_t len)
{
    return m->key_len == len + 2 && memcmp(m->key + 1, key, len) == 0;
}

bool json_scan_object(const char *text, size_t len, struct json_scan_object *out)
{
    struct scan s = {(const unsigned char *)text, (const unsigned char *)text + len};
    bool escaped;

    out->n = 0;
    skip_ws(&s);
    if (s.p == s.end || *s.p != '{')
        return false;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}')
        s.p++;
    else {
        for (;;) {
            struct json_scan_member *m;

            if (out->n == JSON_SCAN_MAX_MEMBERS || s.p == s.end || *s.p != '"')
                return false;
            m = &out->m[out->n];
            m->key = (const char *)s.p;
            if (!string(&s, &escaped) || escaped)
                return false;
            m->key_len = (size_t)((const char *)s.p - m->key);
            for (size_t i = 0; i < out->n; i++)
                if (key_is(&out->m[i], m->key + 1, m->key_len - 2))
                    return false;
            skip_ws(&s);
            if (s.p == s.end || *s.p++ != ':')
                return false;
            skip_ws(&s);
            m->value = (const char *)s.p;
            if (!value(&s, 1))
                return false;
            m->value_len = (size_t)((const char *)s.p - m->value);
            out->n++;
            skip_ws(&s);
            if (s.p == s.end)
                return false;
            if (*s.p == '}') {
                s.p++;
                break;
            }
            if (*s.p++ != ',')
                return false;
            skip_ws(&s);
        }
    }
    skip_ws(&s);
    return s.p == s.end;
}

const struct json_scan_member *json_scan_find(const struct json_scan_object *o, const char *key)
{
    size_t len = strlen(key);

    for (size_t i = 0; i < o->n; i++)
        if (key_is(&o->m[i], key, len))
            return &o->m[i];
    return NULL;
}

bool json_scan_value_is(const struct json_scan_member *m, const char *want)
{
    return m != NULL && m->value_len == strlen(want) && memcmp(m->value, want, m->value_len) == 0;
}
